"""Every config option composes; smoke caps win over overrides; validation messages."""

import re
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from fungiclf.errors import ConfigError
from fungiclf.settings.resolve import resolve
from fungiclf.training.optimizers import build_optimizer
from fungiclf.validation import check_size

# The generic presets read colour and size from the data (auto); without data, give them.
NO_SURVEY = ("preprocess.color=rgb", "preprocess.size=32")

CONF = Path(__file__).resolve().parents[2] / "conf"
GROUPS = ["dataset", "preprocess", "augment", "model", "optimizer", "trainer"]
MACHINE_LACKS = ("dataset.path", "model.weights")


@pytest.mark.parametrize("group, option", [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))])
def test_every_option_composes_and_resolves(make_cfg, group, option):
    """A shipped option's own values pass every check; only what this machine lacks (a
    dataset's files, downloadable weights) may stop it, and then in one line naming the key."""
    cfg = make_cfg(f"{group}={option}")
    assert cfg[group] is not None
    try:
        resolve(cfg)
    except ConfigError as exc:
        assert str(exc).startswith(MACHINE_LACKS) and "\n" not in str(exc), str(exc)


def test_contract_keys_exist(make_cfg):
    cfg = make_cfg()
    for key in (
        "seed",
        "dataset.path",
        "dataset.group_pattern",
        "dataset.split",
        "preprocess.color",
        "preprocess.size",
        "optimizer.lr",
        "trainer.epochs",
        "trainer.batch_size",
        "trainer.patience",
        "trainer.class_weight",
    ):
        assert OmegaConf.select(cfg, key, default="MISSING") != "MISSING", key


def test_cache_dir_env_var_and_explicit_value(make_cfg, monkeypatch, tmp_path):
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    monkeypatch.setenv("FUNGICLF_CACHE", str(tmp_path / "env"))
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        assert compose("train").paths.cache_dir == str(tmp_path / "env")
        assert compose("train", overrides=["paths.cache_dir=/x"]).paths.cache_dir == "/x"


def test_a_path_given_to_the_synthetic_dataset_is_refused_not_ignored(make_cfg):
    # The default dataset generates its images: training on them when a user named a folder would be a silent lie.
    with pytest.raises(
        ConfigError, match=r"^dataset.path='/data/mine' is not read by dataset 'synthetic'.*image_folder"
    ):
        resolve(make_cfg("dataset.path=/data/mine"))
    settings = resolve(make_cfg("dataset=image_folder", "dataset.path=/data/mine", *NO_SURVEY))
    assert settings.dataset.path == "/data/mine"


def test_the_synthetic_dataset_offers_two_to_five_classes(make_cfg):
    assert resolve(make_cfg("dataset.synthetic.classes=2")).dataset.synthetic["classes"] == 2
    assert resolve(make_cfg()).dataset.synthetic["classes"] == 5
    with pytest.raises(ConfigError, match=r"'synthetic.classes' parameter of dataset must be an int in \[2, 5\]"):
        resolve(make_cfg("dataset.synthetic.classes=6"))


def test_a_relative_dataset_path_is_made_absolute(make_cfg, tmp_path, monkeypatch):
    """config_resolved.yaml must say which data a run read, wherever the run folder is read
    (a sweep on other machines, model.weights' check of the source's split)."""
    monkeypatch.chdir(tmp_path)
    settings = resolve(make_cfg("dataset=image_folder", "dataset.path=data/mine", *NO_SURVEY))
    assert settings.dataset.path == str(tmp_path / "data" / "mine")


def test_smoke_wins_over_overrides(make_cfg):
    settings = resolve(
        make_cfg("trainer=smoke", "trainer.epochs=50", "preprocess.size=128", "trainer.max_per_class=500")
    )
    assert settings.trainer.epochs == 2 and settings.preprocess.pixels.size == (32, 32)
    assert settings.dataset.max_per_class == 16


def test_smoke_keeps_the_shape_of_a_non_square_size(make_cfg):
    assert resolve(make_cfg("trainer=smoke", "model=ann", "preprocess.size=[64,96]")).preprocess.pixels.size == (21, 32)
    assert resolve(make_cfg("trainer=smoke", "model=ann", "preprocess.size=[24,20]")).preprocess.pixels.size == (24, 20)


def test_smoke_keeps_the_models_minimum_size(make_cfg):
    settings = resolve(
        make_cfg("trainer=smoke", "model.blocks=[{filters: 8}, {filters: 8}, {filters: 8}, {filters: 8}]")
    )
    assert settings.preprocess.pixels.size == (46, 46)  # four valid 3x3 conv + 2x2 pool blocks need 46 px


@pytest.mark.parametrize(
    "value, ok", [(64, (64, 64)), ([32, 48], (32, 48)), (0, None), ("big", None), ([1, 2, 3], None)]
)
def test_size_parsing(value, ok):
    if ok:
        assert check_size(value) == ok
    else:
        with pytest.raises(ConfigError, match="'size' parameter of preprocess"):
            check_size(value)


def test_optimizer_errors_use_the_template(make_cfg):
    with pytest.raises(ConfigError, match=r"The 'lr' parameter of optimizer must be a float in \(0.0, inf\). Got -1"):
        resolve(make_cfg("optimizer.lr=-1"))
    settings = resolve(make_cfg("optimizer=sgd", "optimizer.schedule=cosine"))
    assert build_optimizer(settings.optimizer, 10, 2).__class__.__name__ == "SGD"


def test_conflicting_balance_settings_are_an_error(make_cfg):
    assert resolve(make_cfg("trainer.class_weight=balanced")).trainer.balance == "class_weight"
    with pytest.raises(ConfigError, match="conflicts"):
        resolve(make_cfg("trainer.class_weight=balanced", "trainer.balance=oversample"))


ROUND_TRIP = [
    [f"{group}={option}"]
    for group, option in [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]
    if not (group == "dataset" and option in ("image_folder", "medmnist", "csv"))
] + [
    ["dataset=image_folder", "dataset.path=/data/x", *NO_SURVEY],
    ["dataset=medmnist", "dataset.path=/data/x.npz", *NO_SURVEY],
    [
        "dataset=csv",
        "dataset.path=/data/x.csv",
        "dataset.columns.group=patient",
        "preprocess.fit=pad",
        "preprocess.bit_depth=12",
        *NO_SURVEY,
    ],
    ["trainer=smoke", "model=resnet18", "cv.folds=5"],
    ["experiment=chest_xray_grid", "row=m25b"],
    ["dataset=defungi", "dataset.group_by=slide", "preprocess.size=[40,60]", "trainer.class_weight={H1: 2.0}"],
    ["model=vgg16", "model.finetune.epochs=3", "model.finetune.unfreeze=all", "logger=tensorboard"],
    ["model.threshold=val_youden", "optimizer=adamw", "optimizer.schedule=cosine", "optimizer.warmup_epochs=2"],
]


@pytest.mark.parametrize("overrides", ROUND_TRIP, ids=[" ".join(o) for o in ROUND_TRIP])
def test_resolved_settings_round_trip_through_yaml(make_cfg, overrides, tmp_path):
    """config_resolved.yaml (settings.to_config) resolves to the very same settings."""
    import yaml
    from fungiclf.experiments import expand_row
    from fungiclf.settings import to_config
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    cfg = make_cfg(*overrides)
    if "row" in " ".join(overrides):
        GlobalHydra.instance().clear()
        with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
            cfg = expand_row(cfg, [f"paths.cache_dir={tmp_path}", *overrides])
    settings = resolve(cfg)
    (tmp_path / "config_resolved.yaml").write_text(yaml.safe_dump(to_config(settings)))
    again = resolve(OmegaConf.load(tmp_path / "config_resolved.yaml"))
    assert again == settings


def test_a_misspelt_key_in_a_yaml_file_is_refused_by_the_schema(tmp_path):
    """An experiment file (found through hydra.searchpath) with a key the trainer schema does
    not have fails when the config is composed, naming the key."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf.errors import ConfigKeyError

    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "typo.yaml").write_text("# @package _global_\ntrainer: {patince: 3}\n")
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        with pytest.raises(Exception, match="patince") as info:
            compose("train", overrides=[f"hydra.searchpath=[file://{tmp_path}]", "experiment=typo"])
    assert isinstance(info.value, ConfigKeyError) or "patince" in str(info.value)
    GlobalHydra.instance().clear()


@pytest.mark.parametrize(
    "override, key, meant",
    [
        ("+trainer.epochz=3", "trainer.epochz", "trainer.epochs"),
        ("+dataset.foo=1", "dataset.foo", None),
        ("+foo=1", "foo", None),
        (
            "+preprocess.low_variance.percentil=2",
            "preprocess.low_variance.percentil",
            "preprocess.low_variance.percentile",
        ),
        ("+logger.uri=x", "logger.uri", None),
        ("+dataset.synthetic.n_per_clas=3", "dataset.synthetic.n_per_clas", "dataset.synthetic.n_per_class"),
    ],
)
def test_a_key_added_with_plus_is_refused_naming_it(make_cfg, override, key, meant):
    """Hydra's own message for a misspelt key advises '+key=value', which gets past its check:
    the run must then refuse the key, not train while ignoring it, and name the key meant."""
    lead = rf"did you mean {re.escape(meant)}\? " if meant else ""
    with pytest.raises(ConfigError, match=rf"^{lead}{re.escape(key)} is not a config key; the keys of "):
        resolve(make_cfg(override))


@pytest.mark.parametrize(
    "overrides, needles, absent",
    [
        (
            ["model=convmixer", "model.width=32"],
            ["'model.width'", "the keys of ConvMixerSchema are depth, dim,"],
            "+model",
        ),
        (["model=nosuch"], ["'model/nosuch'", "the model options are ann, ann_dense, cnn,"], "base_cnn"),
        (["model=["], ["cannot parse the override 'model=['"], "HYDRA_FULL_ERROR"),
        (
            ["dataset.path=~/data/(1)"],
            ["""quote the value for Hydra and the shell: 'dataset.path="~/data/(1)"'"""],
            "HYDRA",
        ),
        # an unclosed list or sweep: quoting would make it a string, so no quoting advice
        (["model=cnn", "model.filters=[8,16"], ["cannot parse the override 'model.filters=[8,16'"], "quote"),
        (["seed=choice(0,1"], ["cannot parse the override 'seed=choice(0,1'"], "quote"),
        (
            ["cv.fold=5"],
            ["did you mean cv.folds?", "the keys of CVSchema are folds, refit"],
            "reference_type",
        ),  # a schema nested in another
        (["model=cnn", "model.dropuot=0.3"], ["did you mean model.dropout? Could not override 'model.dropuot'"], "+"),
        (["model=resnt18"], ["did you mean resnet18? ", "the model options are"], "base_"),
        (
            ["dataset=csv", "dataset.columns.patient=id"],
            ["the keys of dataset.columns are image, label, group, split"],
            "+",
        ),
        (
            ["dataset.split.tset=0.2"],
            ["did you mean dataset.split.test?", "the keys of dataset.split are train, val, test"],
            "+",
        ),
        (["model=cnn4", "model.blocks.0.filter=8"], ["the keys of model.blocks are filters, kernel,"], "+"),
    ],
)
def test_composition_errors_are_one_line_saying_what_is_accepted(overrides, needles, absent):
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from fungiclf.settings.compose_errors import composition_error_line

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        with pytest.raises(HydraException) as info:
            compose("train", overrides=overrides)
    GlobalHydra.instance().clear()
    line = composition_error_line(info.value)
    assert "\n" not in line and absent not in line
    for needle in needles:
        assert needle in line


def test_the_quoting_a_parse_error_advises_gives_the_path_the_user_meant(make_cfg):
    """'dataset.path=~/x' is refused by Hydra's grammar; the quoted form it advises must work."""
    settings = resolve(make_cfg("dataset=defungi", 'dataset.path="~/data/(1)"'))
    assert settings.dataset.path == str(Path.home() / "data" / "(1)")


@pytest.mark.parametrize(
    "dataset, color, size, flip, transpose",
    [
        ("chest_xray", "gray", (128, 128), "horizontal", False),
        ("pneumoniamnist", "gray", (28, 28), "horizontal", False),
        ("defungi", "rgb", (96, 96), "horizontal_and_vertical", True),
        ("synthetic", "rgb", (48, 48), "horizontal_and_vertical", True),
    ],
)
def test_dataset_presets_carry_their_own_defaults(make_cfg, dataset, color, size, flip, transpose):
    """X-rays have an up and a left: no vertical flips or transposes; each preset an image size that fits."""
    path = [] if dataset == "synthetic" else ["dataset.path=/data/x"]
    settings = resolve(make_cfg(f"dataset={dataset}", *path))
    assert (settings.preprocess.pixels.color, settings.preprocess.pixels.size) == (color, size)
    assert (settings.augment.values["flip"], settings.augment.values["transpose"]) == (flip, transpose)
    explicit = resolve(make_cfg(f"dataset={dataset}", *path, "augment.flip=vertical", "preprocess.size=40"))
    assert explicit.augment.values["flip"] == "vertical" and explicit.preprocess.pixels.size == (40, 40)
