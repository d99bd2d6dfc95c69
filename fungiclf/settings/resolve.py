"""resolve(cfg): the composed config -> checked, typed Settings, before any data is read.

Every value is checked here, once, in one message template ("The 'lr' parameter of
optimizer must be a float in (0.0, inf). Got -1 instead."); the trainer=smoke caps and the
model's minimum input size are applied here too. What needs the data's classes (folds vs
the smallest class, a sigmoid head vs the class count) is checked by ``check_task`` after
the items are listed and split, still before any image is decoded.
"""

import dataclasses
import importlib.util
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from fungiclf.data.dataset import SOURCES as PATH_SOURCES
from fungiclf.data.decode import FITS
from fungiclf.data.modality import MODALITIES
from fungiclf.data.enhance import DENOISERS, PixelSettings
from fungiclf.data.filters import Filters
from fungiclf.data.mixing import Mixing
from fungiclf.data.remote import check_url, is_url
from fungiclf.data.samples import SPLITS
from fungiclf.data.synthetic import CLASSES as SYNTHETIC_CLASSES
from fungiclf.data.table import COLUMNS as CSV_COLUMNS
from fungiclf.data.views import TTA_VIEWS
from fungiclf import runs
from fungiclf.backend import backend_name
from fungiclf.errors import REQUEUED_ENV, ConfigError
from fungiclf.evaluation.metrics import THRESHOLD_RULES
from fungiclf.models import MODELS, RUNNER_KEYS, min_input_size
from fungiclf.models.augment import AUGMENTATIONS
from fungiclf.models.params import check_params, finetune as check_finetune
from fungiclf.settings import (
    CALIBRATIONS,
    AugmentSettings,
    CVSettings,
    DatasetSettings,
    EvaluationSettings,
    ExperimentSettings,
    LoggerSettings,
    ModelSettings,
    OptimizerSettings,
    PathsSettings,
    PreprocessSettings,
    Settings,
    TrainerSettings,
)
from fungiclf.settings import autoplan
from fungiclf.settings.assumptions import recipe_choices
from fungiclf.settings.data_defaults import AUTO, data_defaults
from fungiclf.settings.schema import (
    DatasetSchema,
    LoggerSchema,
    MlflowSchema,
    PreprocessSchema,
    SyntheticSchema,
    TensorboardSchema,
    TrainerSchema,
    TrainSchema,
)
from fungiclf.training.compute import JIT_MODES, PRECISIONS
from fungiclf.training.optimizers import OPTIMIZERS, SCHEDULES
from fungiclf.validation import (
    check_bool,
    check_choice,
    check_duration,
    check_finite,
    check_number,
    check_size,
    check_text,
    did_you_mean,
    invalid,
)

log = logging.getLogger(__name__)

SOURCES = [*PATH_SOURCES, "synthetic"]  # those that read dataset.path, and the generated set
MONITORS = ["val_loss", "val_accuracy", "val_f1_macro"]
BALANCE_MODES = ["none", "class_weight", "oversample"]
LOGGERS = {"none": None, "mlflow": "mlflow", "tensorboard": "tensorboardX"}  # name -> package it needs
LOGGER_SCHEMAS = {"none": LoggerSchema, "mlflow": MlflowSchema, "tensorboard": TensorboardSchema}
INSTALL_HINT = "pip install 'fungiclf[tracking]'"
SMOKE_EPOCHS, SMOKE_PER_CLASS, SMOKE_SIZE, SMOKE_FOLDS = 2, 16, 32, 2
TOP = "fungiclf-train"  # the owner named in messages about top-level keys


def _plain(node: Any) -> Any:
    """A config node as plain Python (lists, dicts), interpolations resolved."""
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _group(cfg: DictConfig, name: str) -> dict:
    node = cfg.get(name)
    return dict(_plain(node)) if node is not None else {}


def resolve(cfg: DictConfig, user_keys: frozenset[str] = frozenset()) -> Settings:
    """Check the composed job config and turn it into Settings (smoke caps applied).

    ``user_keys``: the keys the command line set (train.py user_keys), which ``auto=true``
    leaves as they are.

    Raises:
        ConfigError: one line naming the key, the value and what is allowed.
    """
    try:
        content = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    except Exception as exc:  # an interpolation that cannot be resolved (${oc.env:...} and the like)
        key = getattr(exc, "full_key", None)
        unset = re.search(r"Environment variable '([^']+)' not found", str(exc))
        if key and unset:
            raise ConfigError(f"{key}: the environment variable {unset.group(1)} is not set") from None
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{key or 'the config'} cannot be resolved: {first[:300]}") from None
    check_finite(content, "")
    check_schema_keys(content, TrainSchema, "")
    for group, schema in (("dataset", DatasetSchema), ("preprocess", PreprocessSchema), ("trainer", TrainerSchema)):
        check_schema_keys(content.get(group) or {}, schema, group)
    seed = int(check_number(content.get("seed"), "seed", TOP, 0, 2**32 - 1, integer=True))
    trainer_cfg = content.get("trainer") or {}
    paths = resolve_paths(content.get("paths") or {})
    dataset, filters = resolve_dataset(content.get("dataset") or {}, trainer_cfg)
    model = resolve_model(content.get("model") or {})
    raw_preprocess = content.get("preprocess") or {}
    check_choice(raw_preprocess.get("color"), ["gray", "rgb", AUTO], "color", "preprocess")
    if raw_preprocess.get("size") != AUTO:
        check_size(raw_preprocess.get("size"))
    dataset, raw_preprocess, plan = data_defaults(dataset, raw_preprocess, model, paths.cache_dir)
    if check_bool(content.get("auto", False), "auto", TOP):
        time_budget = trainer_cfg.get("time_budget")
        check_duration(time_budget, "time_budget", "trainer", optional=True)
        content = {**content, "preprocess": raw_preprocess}
        content, planned = autoplan.plan(
            content, dataset, model, user_keys, paths.cache_dir, resolve_model, resolve_augment
        )
        plan = tuple(c for c in plan if c.key not in {p.key for p in planned}) + planned  # the plan's word is last
        trainer_cfg, raw_preprocess, model = content["trainer"], content["preprocess"], resolve_model(content["model"])
    preprocess, filters = resolve_preprocess(raw_preprocess, filters)
    trainer = resolve_trainer(trainer_cfg, model)
    cv = resolve_cv(content.get("cv") or {})
    calibration = (content.get("evaluation") or {}).get("calibration", "none")
    check_choice(calibration, CALIBRATIONS, "calibration", "evaluation")
    settings = Settings(
        seed=seed,
        dataset=dataset,
        preprocess=preprocess,
        filters=filters,
        augment=resolve_augment(content.get("augment") or {}),
        model=model,
        optimizer=resolve_optimizer(content.get("optimizer") or {}),
        trainer=trainer,
        cv=cv,
        logger=resolve_logger(content.get("logger") or {"name": "none"}),
        experiment=resolve_experiment(content),
        paths=paths,
        resume=check_bool(content.get("resume", False), "resume", TOP) or requeued(),
        optimized_metric=check_text(content.get("optimized_metric", "val.f1_macro"), "optimized_metric", TOP),
        evaluation=EvaluationSettings(calibration),
        plan=plan,
    )
    settings = apply_smoke(settings) if trainer.smoke else settings
    check_input_size(settings)
    return dataclasses.replace(settings, plan=settings.plan + recipe_choices(settings, user_keys))


def check_schema_keys(content: dict, schema: type, owner: str) -> None:
    """Refuse a key that ``schema`` (and the schemas of its nested groups) lacks. Hydra's struct
    check stops a misspelt key, but not one added with ``+key=value``, the spelling its own
    error message suggests; the models, optimizers and augmentations check their keys themselves.
    """
    fields = {f.name: f.type for f in dataclasses.fields(schema)}
    for key, value in content.items():
        where = f"{owner}.{key}" if owner else key
        if key not in fields:
            raise ConfigError(
                did_you_mean(
                    key,
                    sorted(fields),
                    f"{where} is not a config key; the keys of {owner or 'the top level'} are {sorted(fields)}",
                    f"{owner}." if owner else "",
                )
            )
        if dataclasses.is_dataclass(fields[key]) and isinstance(value, dict):
            check_schema_keys(value, fields[key], where)


def resolve_paths(paths: dict) -> PathsSettings:
    values = {}
    for key in ("cache_dir", "data_dir", "output_dir"):
        values[key] = str(Path(check_text(paths.get(key), key, "paths")).expanduser())
    return PathsSettings(**values)


def csv_columns(columns: Any, source: str) -> dict | None:
    """dataset.columns: {image, label, group, split} column names, for a csv source only."""
    if source != "csv":
        if columns is not None:
            raise ConfigError(f"dataset.columns names the columns of a CSV table; dataset source {source!r} has none")
        return None
    if not isinstance(columns, Mapping) or set(columns) - set(CSV_COLUMNS):
        raise invalid("columns", "dataset", f"a mapping of {list(CSV_COLUMNS)} to column names", columns)
    resolved = {**CSV_COLUMNS, **columns}
    for role, column in resolved.items():
        if column is None and role in ("image", "label"):
            raise invalid(f"columns.{role}", "dataset", "a column name", column)
        if column is not None:
            check_text(column, f"columns.{role}", "dataset")
    return {role: None if column is None else str(column) for role, column in resolved.items()}


def group_pattern(dataset: dict) -> str | None:
    """The grouping regex: ``dataset.group_pattern``, or the preset named by ``dataset.group_by``."""
    by, explicit = dataset.get("group_by"), dataset.get("group_pattern")
    if by is not None:
        presets = dataset.get("group_presets")
        if not presets:
            raise ConfigError(
                f"dataset.group_by={by!r} needs a dataset with group presets (dataset=defungi or "
                f"image_folder); set dataset.group_pattern to a regex instead"
            )
        check_choice(by, list(presets), "group_by", "dataset")
        explicit = explicit or presets[by]
    if explicit is None:
        return None
    try:
        regex = re.compile(check_text(explicit, "group_pattern", "dataset"))
    except re.error as exc:
        raise ConfigError(f"dataset.group_pattern {explicit!r} is not a valid regular expression: {exc}") from None
    if regex.groups < 1:
        raise ConfigError(f"dataset.group_pattern {explicit!r} has no capturing group (the group key)")
    return explicit


# dataset.synthetic's keys and their (lowest, highest) values; the defaults are SyntheticSchema's.
SYNTHETIC_RANGES = {
    "n_per_class": (2, None),
    "patches_per_photo": (1, None),
    "size": (16, None),
    "seed": (0, None),
    "classes": (2, len(SYNTHETIC_CLASSES)),
}


def requeued() -> bool:
    """Whether this job was started again after preemption or a time limit: SLURM counts the
    restarts in SLURM_RESTART_COUNT, and fungiclf's Submitit launchers mark the job they
    resubmit (REQUEUED_ENV; submitit_local has no SLURM). The job continues its run as with
    resume=true."""
    restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
    if restarts.isdigit() and int(restarts) > 0:
        log.info("SLURM requeued this job (SLURM_RESTART_COUNT=%s): continuing its run as with resume=true", restarts)
        return True
    if os.environ.get(REQUEUED_ENV) == "1":
        log.info("Submitit requeued this job: continuing its run as with resume=true")
        return True
    return False


def resolve_dataset(d: dict, trainer: dict) -> tuple[DatasetSettings, Filters]:
    """dataset.* (and trainer.max_per_class) -> DatasetSettings; fraction and duplicates -> Filters."""
    name = check_text(d.get("name"), "name", "dataset")
    source = check_choice(d.get("source"), SOURCES, "source", "dataset")
    synthetic, path = None, None
    if source == "synthetic":
        if d.get("path") not in (None, "???"):
            raise ConfigError(
                f"dataset.path={d['path']!r} is not read by dataset {name!r}, which generates its own "
                f"images; choose a dataset that reads it: dataset=image_folder (class folders), "
                f"defungi, chest_xray, pneumoniamnist or csv"
            )
        s = d.get("synthetic") or {}
        check_schema_keys(s, SyntheticSchema, "dataset.synthetic")
        defaults = SyntheticSchema()
        synthetic = {
            key: int(
                check_number(s.get(key, getattr(defaults, key)), f"synthetic.{key}", "dataset", low, high, integer=True)
            )
            for key, (low, high) in SYNTHETIC_RANGES.items()
        }
    else:
        raw = d.get("path")
        if raw is None or raw == "???":
            raise ConfigError(f"dataset.path is required for dataset {name!r} (e.g. dataset.path=/data/{name})")
        raw = check_text(raw, "path", "dataset")
        # absolute, so that the run folder says which data it read wherever it is read from
        path = check_url(raw) if is_url(raw) else os.path.abspath(Path(raw).expanduser())
    class_names = d.get("class_names")
    if class_names is not None:
        if (
            isinstance(class_names, str)
            or not all(isinstance(c, (str, int)) for c in class_names)
            or len(set(map(str, class_names))) != len(class_names)
            or len(class_names) < 2
        ):
            raise invalid("class_names", "dataset", "null or a list of at least two distinct names", class_names)
        class_names = tuple(str(c) for c in class_names)
    raw_split = d.get("split") or {}
    if not isinstance(raw_split, Mapping) or set(raw_split) - set(SPLITS):
        raise invalid("split", "dataset", "a mapping {train, val, test} of fractions", raw_split)
    split = {s: float(check_number(raw_split.get(s, 0.0), f"split.{s}", "dataset", 0.0, 1.0)) for s in SPLITS}
    if split["train"] <= 0 or abs(sum(split.values()) - 1.0) > 1e-6:
        raise ConfigError(
            f"The 'split' parameter of dataset must be fractions with train > 0 that sum to 1. Got {split} instead."
        )
    limit = trainer.get("max_per_class")
    settings = DatasetSettings(
        name=name,
        source=source,
        path=path,
        group_pattern=group_pattern(d),
        class_names=class_names,
        split=split,
        val_from_train=check_bool(d.get("val_from_train", False), "val_from_train", "dataset"),
        fetch=d.get("fetch"),
        synthetic=synthetic,
        columns=csv_columns(d.get("columns"), source),
        positive_class=positive_class(d.get("positive_class")),
        modality=check_choice(d.get("modality"), [None, *MODALITIES], "modality", "dataset"),
        max_per_class=None if limit is None else int(check_number(limit, "max_per_class", "trainer", 1, integer=True)),
    )
    filters = Filters(
        drop_duplicates=check_bool(
            d.get("drop_cross_split_duplicates", False), "drop_cross_split_duplicates", "dataset"
        ),
        fraction=float(check_number(d.get("fraction", 1.0), "fraction", "dataset", 0.0, 1.0, low_open=True)),
    )
    return settings, filters


def positive_class(value) -> str | None:
    """dataset.positive_class: a class name (a number names an npz's label "1"), or null."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return check_text(value, "positive_class", "dataset", optional=True)


def resolve_preprocess(p: dict, filters: Filters) -> tuple[PreprocessSettings, Filters]:
    """preprocess.* -> PixelSettings (the cache key) and the low-variance filter."""
    kernel = int(check_number(p.get("denoise_kernel", 3), "denoise_kernel", "preprocess", 1, 31, integer=True))
    if kernel % 2 == 0:
        raise invalid("denoise_kernel", "preprocess", "an odd int in [1, 31]", kernel)
    pixels = PixelSettings(
        color=check_choice(p.get("color"), ["gray", "rgb"], "color", "preprocess"),
        size=check_size(p.get("size")),
        fit=check_choice(p.get("fit", "stretch"), FITS, "fit", "preprocess"),
        bit_depth=int(check_number(p.get("bit_depth", 16), "bit_depth", "preprocess", 8, 16, integer=True)),
        max_megapixels=float(
            check_number(p.get("max_megapixels", 100), "max_megapixels", "preprocess", 0, low_open=True)
        ),
        max_file_mb=float(check_number(p.get("max_file_mb", 1024), "max_file_mb", "preprocess", 0, low_open=True)),
        denoise=check_choice(p.get("denoise", "none") or "none", DENOISERS, "denoise", "preprocess"),
        denoise_kernel=kernel,
        denoise_h=float(check_number(p.get("denoise_h", 10.0), "denoise_h", "preprocess", 0, low_open=True)),
        clahe=check_bool(p.get("clahe", False), "clahe", "preprocess"),
        clahe_clip=float(check_number(p.get("clahe_clip", 2.0), "clahe_clip", "preprocess", 0, low_open=True)),
        clahe_tiles=int(check_number(p.get("clahe_tiles", 8), "clahe_tiles", "preprocess", 1, 64, integer=True)),
    )
    low = p.get("low_variance") or {}
    threshold, percentile = low.get("threshold"), low.get("percentile")
    if threshold is not None and percentile is not None:
        raise ConfigError("preprocess.low_variance: set threshold or percentile, not both")
    if threshold is not None:
        threshold = float(check_number(threshold, "threshold", "preprocess.low_variance", 0))
    if percentile is not None:
        percentile = float(check_number(percentile, "percentile", "preprocess.low_variance", 0, 100))
    splits = tuple(
        check_choice(s, list(SPLITS), "splits", "preprocess.low_variance") for s in low.get("splits") or ["train"]
    )
    filters = Filters(threshold, percentile, splits, filters.drop_duplicates, filters.fraction)
    return PreprocessSettings(pixels, check_bool(p.get("cache", True), "cache", "preprocess")), filters


def resolve_augment(a: dict) -> AugmentSettings:
    """augment.* -> the strength of every registered transform (unknown keys are refused)."""
    unknown = sorted(set(a) - set(AUGMENTATIONS))
    if unknown:
        raise ConfigError(f"augment.{unknown[0]} is not an augmentation; they are {list(AUGMENTATIONS)}")
    return AugmentSettings({name: transform.check(a.get(name), name) for name, transform in AUGMENTATIONS.items()})


def resolve_model(m: dict) -> ModelSettings:
    """model.* -> ModelSettings: the name, head, threshold and the family's parameters."""
    name = check_choice(m.get("name"), sorted(MODELS), "name", "model")
    spec = MODELS[name]
    head = check_choice(m.get("head", "softmax"), ["softmax", "sigmoid"], "head", "model")
    threshold = m.get("threshold", 0.5)
    if isinstance(threshold, str):
        check_choice(threshold, THRESHOLD_RULES, "threshold", "model")
    else:
        threshold = float(check_number(threshold, "threshold", "model", 0.0, 1.0))
    params = {k: v for k, v in m.items() if k not in RUNNER_KEYS}
    if spec.kind == "sklearn":
        if head != "softmax":
            raise ConfigError(f"model.head=sigmoid is for Keras models; {name} gives class probabilities itself")
        # model.weights is every model's key, so that ++model.weights=null can sweep over all of them
        weights = params.pop("weights", None)
        if weights is not None:
            raise ConfigError(
                f"model.weights={weights}: {name} is a scikit-learn model and learns from its data "
                f"alone; only null is allowed"
            )
        params = check_estimator_params(spec, params, name)
        return ModelSettings(name, "sklearn", head, threshold, params)
    finetune = check_finetune(m.get("finetune"), "finetune") if "finetune" in m else None
    weights, init = params.pop("weights", None), None
    if isinstance(weights, str) and Path(weights).expanduser().is_dir():
        init, weights = check_init_run(Path(weights).expanduser(), name), None
    if "weights" in spec.params and "weights" in m:  # a backbone's own: imagenet, null or a weights file
        params["weights"] = weights
    elif weights is not None:
        raise invalid("weights", "model", "null or a completed run folder of the same model", weights)
    return ModelSettings(name, "keras", head, threshold, check_params(spec.params, params, name), finetune, init)


def check_init_run(folder: Path, name: str) -> str:
    """model.weights=RUN: a completed run folder of model ``name`` with its model.keras."""
    try:
        metrics = runs.read_metrics(folder)
    except runs.RunFolderError as exc:
        raise ConfigError(
            f"model.weights={folder}: {exc}; give a run folder of fungiclf-train (in a sweep: one job's folder)"
        ) from None
    needed = (runs.KERAS_MODEL, runs.CONFIG, runs.SPLIT)
    missing = [file for file in needed if not (folder / file).is_file()]
    if metrics["status"] != "completed" or missing:
        raise ConfigError(
            f"model.weights={folder}: not a completed run with its {', '.join(needed)} "
            f"(status {metrics['status']!r}, missing {missing or 'nothing'})"
        )
    if metrics.get("model") != name:
        raise ConfigError(
            f"model.weights={folder} is a run of model {metrics.get('model')!r}; this job builds "
            f"{name!r}: its weights start only the same model"
        )
    return str(folder.resolve())


def check_estimator_params(spec, params: dict, name: str) -> dict:
    """scikit-learn's own parameter validation, before any data is read."""
    try:
        estimator = spec.builder(**params)
        estimator._validate_params()  # the estimator's declared constraints, the same message template
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"model.{str(exc).splitlines()[0]}".replace("model.The ", "The model ")) from None
    return params


def resolve_optimizer(o: dict) -> OptimizerSettings:
    """optimizer.* -> OptimizerSettings; the class's own arguments are checked by building it."""
    name = check_choice(o.get("name"), sorted(OPTIMIZERS), "name", "optimizer")
    schedule = check_choice(o.get("schedule", "none"), SCHEDULES, "schedule", "optimizer")
    warmup = float(check_number(o.get("warmup_epochs") or 0, "warmup_epochs", "optimizer", 0.0))
    if warmup and schedule != "cosine":
        raise ConfigError(f"optimizer.warmup_epochs={warmup:g} needs optimizer.schedule=cosine")
    ema = o.get("ema")
    settings = OptimizerSettings(
        name=name,
        lr=float(check_number(o.get("lr"), "lr", "optimizer", 0.0, low_open=True)),
        schedule=schedule,
        warmup_epochs=warmup,
        ema=None if ema is None else float(check_number(ema, "ema", "optimizer", 0.0, 1.0, low_open=True)),
        plateau_factor=float(
            check_number(o.get("plateau_factor", 0.5), "plateau_factor", "optimizer", 0.0, 1.0, low_open=True)
        ),
        plateau_patience=int(
            check_number(o.get("plateau_patience", 2), "plateau_patience", "optimizer", 0, integer=True)
        ),
        min_lr=float(check_number(o.get("min_lr", 1e-6), "min_lr", "optimizer", 0.0)),
        kwargs=OPTIMIZERS[name].check_kwargs(o),
    )
    return settings


def resolve_trainer(t: dict, model: ModelSettings) -> TrainerSettings:
    """trainer.* -> TrainerSettings (balancing reconciled with the older class_weight spelling)."""
    mode = check_choice(t.get("balance", "none"), BALANCE_MODES, "balance", "trainer")
    class_weight = t.get("class_weight")
    if class_weight is not None:
        if mode not in ("none", "class_weight"):
            raise ConfigError(
                f"trainer.class_weight={class_weight!r} conflicts with trainer.balance={mode!r}; set one of them"
            )
        mode = "class_weight"
        if isinstance(class_weight, str):
            check_choice(class_weight, ["balanced"], "class_weight", "trainer")
        elif isinstance(class_weight, Mapping):
            class_weight = {
                str(k): float(check_number(v, f"class_weight.{k}", "trainer", 0.0, low_open=True))
                for k, v in class_weight.items()
            }
        else:
            raise invalid("class_weight", "trainer", "'balanced' or a mapping of class name to weight", class_weight)
    if model.kind == "sklearn" and isinstance(class_weight, dict):
        raise ConfigError("scikit-learn models take trainer.class_weight=balanced or model.class_weight=balanced only")
    devices = t.get("devices", "auto")
    if devices != "auto":
        devices = int(check_number(devices, "devices", "trainer", 1, integer=True))
        if devices > 1 and backend_name() != "jax":
            raise ConfigError(
                f"trainer.devices={devices} needs KERAS_BACKEND=jax: Keras' distribution API runs on "
                f"JAX (this run uses {backend_name()})"
            )
    pos_weight = t.get("pos_weight")
    if pos_weight is not None:
        pos_weight = float(check_number(pos_weight, "pos_weight", "trainer", 0.0, low_open=True))
        if model.head != "sigmoid":
            raise ConfigError("trainer.pos_weight needs model.head=sigmoid (a binary task with one output unit)")
    return TrainerSettings(
        epochs=int(check_number(t.get("epochs"), "epochs", "trainer", 1, integer=True)),
        batch_size=int(check_number(t.get("batch_size"), "batch_size", "trainer", 1, integer=True)),
        patience=int(check_number(t.get("patience"), "patience", "trainer", 0, integer=True)),
        monitor=check_choice(t.get("monitor", "val_loss"), MONITORS, "monitor", "trainer"),
        balance=mode,
        class_weight=class_weight,
        pos_weight=pos_weight,
        label_smoothing=float(check_number(t.get("label_smoothing") or 0.0, "label_smoothing", "trainer", 0.0, 0.5)),
        mixing=Mixing(
            mixup=float(check_number(t.get("mixup") or 0.0, "mixup", "trainer", 0.0)),
            cutmix=float(check_number(t.get("cutmix") or 0.0, "cutmix", "trainer", 0.0)),
            prob=float(check_number(t.get("mix_prob", 1.0), "mix_prob", "trainer", 0.0, 1.0)),
        ),
        tta=check_choice(t.get("tta") or "none", list(TTA_VIEWS), "tta", "trainer"),
        verbose=int(check_choice(t.get("verbose", 2), [0, 1, 2], "verbose", "trainer")),
        smoke=check_bool(t.get("smoke", False), "smoke", "trainer"),
        precision=check_choice(t.get("precision", "float32"), PRECISIONS, "precision", "trainer"),
        jit_compile=check_choice(t.get("jit_compile", "auto"), JIT_MODES, "jit_compile", "trainer"),
        devices=devices,
        time_budget=check_duration(t.get("time_budget"), "time_budget", "trainer", optional=True),
    )


def resolve_cv(c: dict) -> CVSettings:
    folds = int(check_number(c.get("folds") or 0, "folds", "cv", 0, integer=True))
    if folds == 1:
        raise ConfigError("The 'folds' parameter of cv must be 0 (off) or an int >= 2. Got 1 instead.")
    refit = check_bool(c.get("refit") or False, "refit", "cv")
    if refit and not folds:
        raise ConfigError("cv.refit=true needs cv.folds=K (K >= 2): the folds choose how long the refit trains")
    return CVSettings(folds, refit)


def resolve_logger(logger: dict) -> LoggerSettings:
    """logger.* -> LoggerSettings, after checking that the tracker's package is installed."""
    name = check_choice(logger.get("name", "none"), list(LOGGERS), "name", "logger")
    check_schema_keys(logger, LOGGER_SCHEMAS[name], "logger")
    package = LOGGERS[name]
    if package is not None and importlib.util.find_spec(package) is None:
        raise ConfigError(f"logger={name} needs the {package} package: {INSTALL_HINT}")
    return LoggerSettings(name, {k: v for k, v in logger.items() if k != "name"})


def resolve_experiment(content: dict) -> ExperimentSettings:
    """The experiment row's name and published numbers (expand_row has checked the row)."""
    row = content.get("row")
    rows = content.get("rows") or {}
    published = (rows.get(str(row)) or {}).get("published") if row is not None else None
    return ExperimentSettings(
        content.get("experiment_name"),
        None if row is None else str(row),
        dict(published or {}),
        content.get("published_source"),
    )


def apply_smoke(settings: Settings) -> Settings:
    """trainer=smoke: <= 2 epochs (1 per fine-tune phase), <= 16 items per class per split,
    the longer side <= 32 px (in proportion; the model's minimum wins), no weight downloads,
    <= 2 CV folds. Applied after composition, so no experiment or override can undo it."""
    import dataclasses as dc

    model = settings.model
    params = {**model.params, **({"weights": None} if "weights" in model.params else {})}
    finetune = None if model.finetune is None else {**model.finetune, "epochs": min(model.finetune["epochs"], 1)}
    model = dc.replace(model, params=params, finetune=finetune)
    pixels = settings.preprocess.pixels
    channels = 1 if pixels.color == "gray" else 3
    floor = min_input_size(model, channels) if model.kind == "keras" else 1
    scale = min(1.0, SMOKE_SIZE / max(pixels.size))  # the longer side to 32 px; a non-square shape stays one
    size = tuple(max(round(side * scale), floor) for side in pixels.size)
    return dc.replace(
        settings,
        model=model,
        trainer=dc.replace(settings.trainer, epochs=min(settings.trainer.epochs, SMOKE_EPOCHS)),
        dataset=dc.replace(
            settings.dataset, max_per_class=min(settings.dataset.max_per_class or SMOKE_PER_CLASS, SMOKE_PER_CLASS)
        ),
        preprocess=dc.replace(settings.preprocess, pixels=dc.replace(pixels, size=size)),
        cv=dc.replace(settings.cv, folds=min(settings.cv.folds, SMOKE_FOLDS)),
    )


def check_input_size(settings: Settings) -> None:
    """A Keras model must build at preprocess.size (found by trying, once, for plain CNNs)."""
    if settings.model.kind != "keras":
        return
    pixels = settings.preprocess.pixels
    floor = min_input_size(settings.model, 1 if pixels.color == "gray" else 3)
    if min(pixels.size) < floor:
        raise ConfigError(
            f"preprocess.size={list(pixels.size)} is smaller than model {settings.model.name!r} accepts "
            f"(minimum {floor} px)"
        )


def check_task(
    settings: Settings, class_names: list[str], labels: np.ndarray, groups: np.ndarray, split: np.ndarray
) -> None:
    """Checks that need the listed items (before any decoding): the class count against the
    head and threshold rule, a training split with every class, CV folds against the
    smallest class and the groups of train+val, class weights naming real classes, a val
    split that temperature scaling can fit on.

    Args:
        class_names: the dataset's classes; labels, groups, split: (N,) per listed item.
    """
    model, classes = settings.model, len(class_names)
    if model.head == "sigmoid" and classes != 2:
        raise ConfigError(
            f"model.head=sigmoid needs exactly 2 classes; the dataset has {classes}: add model.head=softmax"
        )
    if isinstance(model.threshold, str) and classes != 2:
        raise ConfigError(
            f"model.threshold={model.threshold} needs a two-class task; the dataset has {classes}: add "
            f"model.threshold=0.5"
        )
    if model.threshold != 0.5 and classes != 2:
        raise ConfigError(
            f"model.threshold={model.threshold} is a cut on p(class 1) of a two-class task; the "
            f"dataset has {classes} classes, where the most likely class wins: leave it at 0.5"
        )
    if settings.evaluation.calibration == "temperature" and not settings.cv.refit:
        counts = np.bincount(labels[split == "val"], minlength=classes)
        if counts.min() < 5:  # scikit-learn's temperature scaling passes val through a 5-fold splitter
            raise ConfigError(
                f"evaluation.calibration=temperature fits on val, which holds {counts.min()} images of "
                f"{class_names[int(counts.argmin())]} (5 of each class at least): enlarge val in "
                f"dataset.split, or use evaluation.calibration=none"
            )
    in_train = np.unique(labels[split == "train"])
    if len(in_train) < 2:
        raise ConfigError(
            f"the train split holds {len(in_train)} class ({[class_names[i] for i in in_train]}): "
            f"a classifier needs at least two"
        )
    missing = sorted(set(range(classes)) - set(in_train.tolist()))
    if missing:
        raise ConfigError(
            f"class {class_names[missing[0]]!r} has no image in the train split: the model cannot "
            f"learn it (too few images of it, or dataset.split sends them elsewhere)"
        )
    weights = settings.trainer.class_weight
    if isinstance(weights, dict) and set(weights) - set(class_names):
        raise ConfigError(
            f"trainer.class_weight names unknown classes {sorted(set(weights) - set(class_names))}; "
            f"classes are {class_names}: name them, or add trainer.class_weight=balanced"
        )
    folds = settings.cv.folds
    if folds:
        pool = np.isin(split, ["train", "val"])
        counts = np.bincount(labels[pool], minlength=classes)
        smallest = int(counts[counts > 0].min()) if (counts > 0).any() else 0
        if folds > smallest:
            raise ConfigError(
                f"The 'folds' parameter of cv must be an int in [2, {smallest}] (the smallest class in "
                f"train+val has {smallest} images). Got {folds} instead."
            )
        n_groups = len(np.unique(groups[pool]))
        if folds > n_groups:
            raise ConfigError(
                f"The 'folds' parameter of cv must be an int in [2, {n_groups}] (the groups in "
                f"train+val). Got {folds} instead."
            )
