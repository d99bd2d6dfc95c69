"""``auto=true`` (experiment=auto): a recipe for any dataset within ``trainer.time_budget``.

Decided in resolve, before any work: it looks at the data (images per split, their side and
channels, the classes and their imbalance, the modality), measures candidate models on this
machine with a few timed steps (training/probe.py) and writes its choices into the config
before the config is checked: the model, image size, epochs, batch, augmentation for the
modality, balancing, test-time views, optimizer and decision threshold. A key the user set
on the command line is never changed. Each choice is a Choice naming its source, printed
before training and kept in metrics.json ("plan").

The ladders are the tuned recipes (docs/recipes.md), each chosen on val: ConvMixer-8 at 32 px
for orientation-free colour images (defungi_best_cpu), when its 20 epochs fit, else the
report CNN at 32 px; the report CNN with same-padding for
oriented images, at 128 px with CLAHE for large gray X-rays (chest_xray_best) and at the
file's side for small images (pneumoniamnist_best). A rung is taken when at least its
``min_epochs`` fit the budget; the last rung takes what fits.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.resources import files

import numpy as np
from omegaconf import OmegaConf

from fungiclf.data.dataset import list_items
from fungiclf.data.modality import flips_for, orientation_free
from fungiclf.data.views import TTA_VIEWS
from fungiclf.errors import ConfigError
from fungiclf.settings import AugmentSettings, Choice, DatasetSettings, ModelSettings
from fungiclf.settings.assumptions import set_by_user
from fungiclf.settings.data_defaults import quiet_data_log, survey
from fungiclf.training.callbacks import duration
from fungiclf.training.probe import Speed, measure
from fungiclf.validation import check_duration

MIN_EPOCHS = 10  # fewer fit: the next, cheaper rung (unless the rung asks more)
SAFETY = 0.85  # plan to this share of the budget: the estimate is a lower bound (docs/speed.md)
# An epoch inside fit() took 1.25-1.45x its probed steps (ConvMixer-8 on DeFungi, 2 cores: data
# batches, callbacks, the val passes' overhead); the Deadline catches the rest.
FIT_OVERHEAD = 1.3
BATCH = 64
SMALL_SIDE = 32  # images this small train at their own side
IMBALANCE = 1.5  # largest / smallest class in train at or above which classes are weighted
NO_BUDGET = 30 * 60.0  # seconds planned for when auto runs without trainer.time_budget
RECIPE = "auto"


@dataclass(frozen=True)
class Rung:
    """One candidate: ``model`` (a conf/model config) with ``params`` over it, trained at
    ``size`` px for at most ``max_epochs`` and taken when at least ``min_epochs`` fit;
    ``clahe`` for gray X-ray-like images."""

    model: str
    size: int
    max_epochs: int
    params: dict = field(default_factory=dict)
    clahe: bool = False
    min_epochs: int = MIN_EPOCHS


SAME_CNN = {"padding": "same"}
# ConvMixer-8 only with its recipe's whole schedule: cut to 10 epochs on DeFungi it scored below
# the CNN (test 0.603 against 0.651). The CNN on DeFungi val: 32 px over 64 px (accuracy 0.679
# against 0.666 in 30 epochs), 60 epochs over 30 (0.689 / macro-F1 0.669 against 0.679 / 0.645).
LADDERS = {
    "orientation_free": (Rung("convmixer", 32, 20, min_epochs=20), Rung("cnn", 32, 60, SAME_CNN)),
    "oriented": tuple(Rung("cnn", side, 30, SAME_CNN, clahe=True) for side in (128, 96, 64, 48))
    + (Rung("cnn", 32, 30, SAME_CNN),),
    "small": (Rung("cnn", 0, 30, SAME_CNN),),  # 0: the images' own side
}


@dataclass(frozen=True)
class DataLook:
    """What the plan knows of the data: items per split, class counts in train, the images'
    smaller side (px) and colour, the modality."""

    counts: dict[str, int]
    train_classes: np.ndarray
    side: int | None
    colour: bool
    modality: str | None

    @property
    def imbalance(self) -> float:
        present = self.train_classes[self.train_classes > 0]
        return float(present.max() / present.min())


class Planner:
    """Writes the plan into ``content`` (the job's config as plain dicts), leaving every key the
    user set; collects the Choices."""

    def __init__(self, content: dict, user_keys: frozenset[str]) -> None:
        self.content, self.user_keys, self.choices = content, user_keys, []

    def user_set(self, key: str) -> bool:
        return set_by_user(key, self.user_keys)

    def set(self, key: str, value, source: str, why: str) -> None:
        """Set ``key`` unless the user did; either way the plan lists it."""
        group, _, name = key.partition(".")
        if self.user_set(key):
            self.choices.append(Choice(key, self.content[group].get(name), "the user", f"auto would choose {value}"))
            return
        self.content[group][name] = value
        self.choices.append(Choice(key, value, source, why))


@dataclass(frozen=True)
class Fit:
    """The rung taken: its model settings and Speed, the epochs that fit, seconds an epoch and
    for the whole run, and why each larger rung was passed over."""

    rung: Rung
    speed: Speed
    epochs: int
    epoch_seconds: float
    run_seconds: float
    passed: tuple[str, ...]


def plan(
    content: dict,
    dataset: DatasetSettings,
    model: ModelSettings,
    user_keys: frozenset[str],
    cache_dir: str,
    resolve_model: Callable[[dict], ModelSettings],
    resolve_augment: Callable[[dict], AugmentSettings],
) -> tuple[dict, tuple[Choice, ...]]:
    """The config with auto's choices written in, and the choices.

    Args:
        content: the composed job config (plain dicts); not changed.
        dataset, model: the settings resolved before planning (the model is the user's when
            they chose one).
        user_keys: the keys the command line set (``model``, ``trainer.epochs``, ...).
        resolve_model, resolve_augment: a group's config -> its checked settings (resolve's).

    Raises:
        ConfigError: the budget is too short for one epoch of the cheapest rung.
    """
    content = {key: dict(value) if isinstance(value, dict) else value for key, value in content.items()}
    planner = Planner(content, user_keys)
    look = look_at(dataset, content, cache_dir)
    seconds = parse_budget(content["trainer"].get("time_budget"))
    family = "orientation_free" if orientation_free(look.modality) else "oriented"
    kind = "small" if look.side is not None and look.side <= SMALL_SIDE else family
    why_kind = (
        f"{look.side} px images train at their own side"
        if kind == "small"
        else f"{look.modality or 'unknown'} images: {family.replace('_', '-')}"
    )
    gray = content["preprocess"]["color"] == "gray" if planner.user_set("preprocess.color") else not look.colour
    plan_views(planner, look.modality)
    rungs = ladder(kind, look.side, planner, model)
    candidates = [
        (rung, model if planner.user_set("model.name") else resolve_model({**model_config(rung.model), **rung.params}))
        for rung in rungs
    ]
    fit = fit_rungs(candidates, look, gray, resolve_augment(content["augment"]), content, seconds, planner, cache_dir)
    budget = f"the budget ({duration(seconds)})"
    if planner.user_set("model.name"):
        planner.choices.append(
            Choice("model.name", model.name, "the user", f"auto sizes and times it: {rung_why(fit)}")
        )
    else:
        content["model"] = {**model_config(fit.rung.model), **fit.rung.params}
        planner.choices.append(Choice("model.name", fit.rung.model, f"{RECIPE} ({why_kind})", rung_why(fit)))
    if content["preprocess"].get("color") != ("gray" if gray else "rgb"):  # else: data_defaults said it, with evidence
        planner.set(
            "preprocess.color",
            "gray" if gray else "rgb",
            "the data",
            "the images carry no colour" if gray else "the images carry colour",
        )
    planner.set(
        "preprocess.size",
        fit.rung.size,
        *(
            (budget, f"the largest size at which >= {fit.rung.min_epochs} epochs fit")
            if len(rungs) > 1
            else ("the data", "the images' own side")
            if kind == "small"
            else (f"{RECIPE} ({why_kind})", "the tuned recipe's size")
        ),
    )
    if fit.rung.clahe and gray:
        planner.set(
            "preprocess.clahe",
            True,
            f"{RECIPE} (gray oriented images)",
            "the chest X-ray recipe's contrast-limited equalisation (higher val accuracy over three seeds)",
        )
    planner.set(
        "trainer.epochs",
        fit.epochs,
        budget,
        f"about {duration(fit.epoch_seconds)} an epoch on this "
        f"machine; training and evaluation about {duration(fit.run_seconds)}",
    )
    plan_training(planner, look, fit)
    return content, tuple(planner.choices)


def plan_views(planner: Planner, modality: str | None) -> None:
    """Training and test-time views natural for the modality (the X-ray recipes' mild affine
    jitter for oriented images); test-time views only of what the model trains on."""
    flip, transpose = flips_for(modality)
    views = "all 8 right-angle views" if transpose else "horizontal flips only (images have an up and a left)"
    source = f"the modality ({modality or 'unknown: set dataset.modality'})"
    planner.set("augment.flip", flip, source, views)
    planner.set("augment.transpose", transpose, source, views)
    if not orientation_free(modality):
        for key, value in (("rotation", 0.03), ("zoom", 0.1), ("translate", 0.05)):
            planner.set(f"augment.{key}", value, RECIPE, "the X-ray recipes' mild affine jitter")
    trained = planner.content["augment"]
    tta = (
        "dihedral"
        if trained.get("transpose") and trained.get("flip") == "horizontal_and_vertical"
        else "hflip"
        if trained.get("flip") in ("horizontal", "horizontal_and_vertical")
        else "none"
    )
    planner.set("trainer.tta", tta, "the augmentation", "test-time views: those the model trained on")


def plan_training(planner: Planner, look: DataLook, fit: Fit) -> None:
    """Patience, batch, balancing, smoothing, the monitor, a two-class threshold chosen on val,
    and the tuned recipes' optimizer."""
    planner.set(
        "trainer.patience", fit.epochs, RECIPE, "the schedule runs to its end; the checkpoint keeps the best val epoch"
    )
    planner.set("trainer.batch_size", BATCH, RECIPE, "the tuned recipes' batch")
    weighted = look.imbalance >= IMBALANCE
    planner.set(
        "trainer.balance",
        "class_weight" if weighted else "none",
        "the data",
        f"the largest class in train is {look.imbalance:.2f}x the smallest"
        + (" (not the published protocol: unweighted loss)" if weighted else ""),
    )
    planner.set("trainer.label_smoothing", 0.1, RECIPE, "every tuned recipe's")
    binary = len(look.train_classes) == 2
    planner.set(
        "trainer.monitor",
        "val_loss" if binary else "val_f1_macro",
        RECIPE,
        "the two-class recipes'" if binary else "macro-F1 weighs every class (defungi_best_cpu)",
    )
    if binary:
        planner.set(
            "model.threshold",
            "val_youden",
            RECIPE,
            "two classes: the threshold is chosen on val (Youden's J), never on test",
        )
    warmup = min(3 if fit.rung.model == "convmixer" else 2, max(fit.epochs - 1, 0))
    if not planner.user_set("optimizer"):
        planner.content["optimizer"] = {
            **planner.content["optimizer"],
            "name": "adamw",
            "lr": 0.002,
            "weight_decay": 0.05,
            "schedule": "cosine",
            "warmup_epochs": warmup,
        }
        planner.choices.append(
            Choice(
                "optimizer",
                f"adamw lr 0.002, weight decay 0.05, cosine with {warmup} warm-up epochs",
                RECIPE,
                "every tuned recipe's",
            )
        )


def parse_budget(budget) -> float:
    return NO_BUDGET if budget is None else float(check_duration(budget, "time_budget", "trainer"))


def look_at(dataset: DatasetSettings, content: dict, cache_dir: str) -> DataLook:
    """Counts from the job's own listing and split; side and colour from the headers."""
    seed = int(content.get("seed") or 0)
    with quiet_data_log():
        listing = list_items(dataset, seed, cache_dir)
    labels, split = listing.samples.labels, listing.split
    classes = len(listing.samples.class_names)
    found = survey(dataset, cache_dir) if dataset.source != "synthetic" else None
    if found is not None and found.size is not None:
        side, colour = min(found.size), found.colour in (True, None)
    else:  # the generated set: its configured side, in colour
        side, colour = int((dataset.synthetic or {}).get("size", 64)), True
    return DataLook(
        {s: int((split == s).sum()) for s in ("train", "val", "test")},
        np.bincount(labels[split == "train"], minlength=classes),
        side,
        colour,
        dataset.modality,
    )


def ladder(kind: str, side: int | None, planner: Planner, model: ModelSettings) -> list[Rung]:
    """The rungs to try, largest first: never above the images' side; with the user's model
    when they chose one (then only the sizes are planned)."""
    rungs = [replace(r, size=r.size or (side or SMALL_SIDE)) for r in LADDERS[kind]]
    fitting = [r for r in rungs if side is None or r.size <= side] or rungs[-1:]
    if planner.user_set("preprocess.size"):  # the user's size on every rung: only the model is planned
        size = int(planner.content["preprocess"]["size"])
        sized = {(r.model, tuple(sorted(r.params.items()))): replace(r, size=size) for r in reversed(rungs)}
        fitting = list(reversed(sized.values()))  # one rung per model, the ladder's order
    if planner.user_set("model.name"):
        if model.kind != "keras":
            raise ConfigError(
                f"auto plans the epochs and sizes of Keras models; model={model.name} is a "
                f"scikit-learn model: drop experiment=auto (or auto=true)"
            )
        sizes = dict.fromkeys(r.size for r in fitting)
        return [Rung(model.name, size, 30, {}) for size in sizes]
    return fitting


def fit_rungs(
    candidates: list[tuple[Rung, ModelSettings]],
    look: DataLook,
    gray: bool,
    augment: AugmentSettings,
    content: dict,
    seconds: float,
    planner: Planner,
    cache_dir: str,
) -> Fit:
    """The first rung where its min_epochs fit (else the last one), measured lazily: a rung
    that fits ends the search."""
    trainer, classes = content["trainer"], len(look.train_classes)
    folds = int((content.get("cv") or {}).get("folds") or 0)
    fits = folds + 1 if folds else 1
    batch = trainer["batch_size"] if planner.user_set("trainer.batch_size") else BATCH
    views = len(TTA_VIEWS[trainer["tta"]])
    passed: list[str] = []
    for i, (rung, settings) in enumerate(candidates):
        shape = (rung.size, rung.size, 1 if gray else 3)
        speed = measure(settings, augment, shape, classes, batch, trainer.get("jit_compile", "auto"), cache_dir)
        val_passes = 1 if classes == 2 else 2  # macro-F1 on val predicts once more per epoch
        epoch = FIT_OVERHEAD * (
            math.ceil(look.counts["train"] / batch) * speed.step_seconds
            + look.counts["val"] * speed.predict_seconds * val_passes
        )
        evaluation = (look.counts["val"] + look.counts["test"]) * views * speed.predict_seconds
        room = seconds * SAFETY / fits - evaluation - speed.compile_seconds
        fit = int(room // epoch) if room > 0 else 0
        epochs = int(trainer["epochs"]) if planner.user_set("trainer.epochs") else min(rung.max_epochs, fit)
        if epochs >= rung.min_epochs or i == len(candidates) - 1:
            if epochs < 1:
                need = (epoch + evaluation + speed.compile_seconds) * fits / SAFETY
                raise ConfigError(
                    f"trainer.time_budget={trainer.get('time_budget')} is too short: one epoch of the "
                    f"cheapest plan ({rung.model} at {rung.size} px, {look.counts['train']} training "
                    f"images) and its evaluation take about {duration(need)} on this machine"
                )
            run = fits * (epochs * epoch + evaluation + speed.compile_seconds)
            return Fit(rung, speed, epochs, epoch, run, tuple(passed))
        passed.append(f"{rung_name(rung)} at {rung.size} px fits {max(fit, 0)} epochs (< {rung.min_epochs})")
    raise AssertionError("unreachable: the last rung returns")


def rung_name(rung: Rung) -> str:
    extra = ", ".join(f"{k}={v}" for k, v in rung.params.items())
    return f"{rung.model}{f' ({extra})' if extra else ''}"


def rung_why(fit: Fit) -> str:
    """The chosen rung's measured step, after the rungs passed over."""
    over = f"{'; '.join(fit.passed)}; " if fit.passed else ""
    return (
        f"{over}{rung_name(fit.rung)} at {fit.rung.size} px: {fit.speed.step_seconds:.2f} s a training step on "
        f"this machine"
    )


def model_config(name: str) -> dict:
    """conf/model/<name>.yaml as a plain dict (its keys are all spelled out there)."""
    node = OmegaConf.load(str(files("fungiclf.conf") / "model" / f"{name}.yaml"))
    content = OmegaConf.to_container(node, resolve=True)
    content.pop("defaults", None)
    return content
