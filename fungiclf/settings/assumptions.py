"""What a recipe assumes, said before any work: its augmentation, balancing and test-time
views (stated in its conf/experiment file, listed in the plan), and a warning where those
views are unnatural for the dataset's modality (a micrograph recipe's vertical flips on
X-rays) unless the user asked for them."""

from importlib.resources import files

from omegaconf import OmegaConf

from fungiclf.data.modality import unnatural_views
from fungiclf.models import RUNNER_KEYS
from fungiclf.settings import Choice, Settings

GROUPS_CHOSEN_WHOLE = ("augment", "optimizer")  # augment=none, optimizer=sgd: every key of the group is the user's
# model.<key> that are the runner's (and every model's weights), not the architecture's; model.name chooses it
MODEL_RUNNER_KEYS = {f"model.{key}" for key in (*RUNNER_KEYS, "weights") if key != "name"}


def set_by_user(key: str, user_keys: frozenset[str]) -> bool:
    """Whether the command line's ``user_keys`` (train.py user_keys) set ``key``: the key itself,
    a group chosen whole (augment=none), or, for ``model.name``, a model choice or any of the
    architecture's keys. Other group choices (trainer=smoke) leave the keys a recipe states."""
    group = key.split(".")[0]
    if key in user_keys or (group in GROUPS_CHOSEN_WHOLE and group in user_keys):
        return True
    return key == "model.name" and any(
        k == "model" or (k.startswith("model.") and k not in MODEL_RUNNER_KEYS) for k in user_keys
    )


STATED = {"augment": None, "trainer": ("balance", "class_weight", "tta", "label_smoothing", "mixup")}


def recipe_file(name: str | None) -> dict:
    """conf/experiment/<name>.yaml as plain dicts, or {} (no experiment, or not a packaged one)."""
    path = files("fungiclf.conf") / "experiment" / f"{name}.yaml"
    if not name or not path.is_file():
        return {}
    return OmegaConf.to_container(OmegaConf.load(str(path)), resolve=False)


def recipe_choices(settings: Settings, user_keys: frozenset[str]) -> tuple[Choice, ...]:
    """The recipe's stated augmentation and balancing, each with its source (the recipe, or
    the user where the command line replaced it), and the modality warning."""
    name = settings.experiment.name
    stated = recipe_file(name) if name != "auto" else {}
    values = {
        "augment": settings.augment.values,
        "trainer": {
            "balance": settings.trainer.balance,
            "class_weight": settings.trainer.class_weight,
            "tta": settings.trainer.tta,
            "label_smoothing": settings.trainer.label_smoothing,
            "mixup": settings.trainer.mixing.mixup,
        },
    }
    choices = []
    for group, keys in STATED.items():
        for key in stated.get(group) or {}:
            if keys is not None and key not in keys:
                continue
            full = f"{group}.{key}"
            by_user = set_by_user(full, user_keys)
            choices.append(
                Choice(
                    full,
                    values[group].get(key),
                    "the user" if by_user else f"the recipe {name}",
                    "set on the command line" if by_user else f"stated in conf/experiment/{name}.yaml",
                )
            )
    choices += modality_warning(settings, user_keys)
    return tuple(choices)


def modality_warning(settings: Settings, user_keys: frozenset[str]) -> list[Choice]:
    """A warning when training or test-time views flip an oriented modality upside down or
    transpose it, and nobody asked for that on the command line."""
    augment, modality = settings.augment.values, settings.dataset.modality
    asked = any(set_by_user(key, user_keys) for key in ("augment.flip", "augment.transpose", "trainer.tta"))
    wrong = unnatural_views(modality, augment.get("flip"), augment.get("transpose"))
    if settings.trainer.tta in ("flips", "dihedral"):  # views of an oriented modality only: unnatural_views
        wrong = wrong or unnatural_views(modality, "vertical", False) and "test-time vertical flips"
    if wrong is None or asked:
        return []
    source = f"the recipe {settings.experiment.name}" if settings.experiment.name else "the config"
    return [
        Choice(
            "augment.flip",
            augment.get("flip"),
            source,
            f"with augment.transpose={augment.get('transpose')} and trainer.tta={settings.trainer.tta}: {wrong} "
            f"make {modality} images no scanner takes (they have an up and a left); add augment.flip=horizontal "
            f"augment.transpose=false trainer.tta=hflip",
            warning=True,
        )
    ]
