"""Typed settings: what a run does, after every check (made by ``resolve``, settings/resolve.py).

Each stage takes only the part it needs (the data stage DatasetSettings and
PreprocessSettings, the model builder ModelSettings, the fit loop TrainerSettings and
OptimizerSettings, ...), never the composed config. ``to_config`` writes the settings back
as a config that resolves to the same settings: config_resolved.yaml in the run folder.
"""

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from fungiclf.data.enhance import PixelSettings
from fungiclf.data.filters import Filters
from fungiclf.data.mixing import Mixing


@dataclass(frozen=True)
class DatasetSettings:
    """Where the items come from and how they are split.

    Attributes:
        name: the dataset config's name (defungi, synthetic, image_folder, ...).
        source: "image_folder", "npz", "csv" or "synthetic".
        path: the folder or file (expanded), or None for the synthetic set.
        group_pattern: regex whose first group is the group key (a group_by preset resolved), or None.
        class_names: label names for an npz, or None (from folders, or "0", "1", ...).
        split: {train, val, test} fractions for items the source does not split itself.
        val_from_train: ignore the source's own val split; carve val out of train + val.
        fetch: the ``fungiclf-data fetch`` name of a preset, for hints; else None.
        synthetic: the generator's settings (n_per_class, patches_per_photo, size, seed), or None.
        max_per_class: at most this many items per class per split (trainer.max_per_class, smoke).
        columns: for a CSV source, the column of each role (image, label, group, split); else None.
        positive_class: the class name that is label 1 of a two-class task (sensitivity,
            thresholds, a sigmoid's output), or None (the second class in label order).
        modality: what the images are (data/modality.py MODALITIES: micrograph, xray, ...), which
            says whether they have an up and a left; None when unknown.
    """

    name: str
    source: str
    path: str | None
    group_pattern: str | None
    class_names: tuple[str, ...] | None
    split: dict[str, float]
    val_from_train: bool = False
    fetch: str | None = None
    synthetic: dict | None = None
    max_per_class: int | None = None
    columns: dict | None = None
    positive_class: str | None = None
    modality: str | None = None


@dataclass(frozen=True)
class PreprocessSettings:
    """Decoded pixels: ``pixels`` enter the cache key; ``cache`` keeps them on disk."""

    pixels: PixelSettings
    cache: bool = True


@dataclass(frozen=True)
class AugmentSettings:
    """Strength per augmentation transform, in the order of models/augment.py's registry
    (0, false or null: off)."""

    values: dict[str, Any]


@dataclass(frozen=True)
class ModelSettings:
    """The model to build.

    Attributes:
        name: a MODELS registry name.
        kind: "keras" or "sklearn".
        head: "softmax" or "sigmoid" (one output unit, two classes).
        threshold: decision threshold on p(class 1) for two classes, or a rule chosen on
            val (evaluation/metrics.py THRESHOLD_RULES).
        params: the builder's (or estimator's) keyword arguments, checked.
        finetune: {epochs, unfreeze, lr_factor} of a second phase (backbones), or None.
        init: a completed run folder of the same model whose weights start this one
            (``model.weights=RUN``), or None.
    """

    name: str
    kind: str
    head: str
    threshold: float | str
    params: dict
    finetune: dict | None = None
    init: str | None = None


@dataclass(frozen=True)
class OptimizerSettings:
    """Optimizer, learning rate (per step schedule) and weight averaging.

    Attributes:
        name: adam, adamw, sgd or rmsprop.
        lr: learning rate.
        schedule: none, cosine or reduce_on_plateau.
        warmup_epochs: linear warm-up before the cosine decay (epochs, may be fractional).
        ema: momentum of the exponential moving average of the weights, or None.
        plateau_factor, plateau_patience, min_lr: reduce_on_plateau's settings.
        kwargs: the optimizer class's own arguments (beta_1, momentum, weight_decay, ...).
    """

    name: str
    lr: float
    schedule: str = "none"
    warmup_epochs: float = 0.0
    ema: float | None = None
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    min_lr: float = 1e-6
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TrainerSettings:
    """The fit loop.

    Attributes:
        epochs: upper bound of phase 1 (early stopping may end it sooner).
        batch_size: images per step.
        patience: epochs without improvement of ``monitor`` before stopping.
        monitor: val_loss, val_accuracy or val_f1_macro (checkpoint, early stopping, plateau).
        balance: none, class_weight or oversample.
        class_weight: "balanced", a {class name: weight} mapping, or None.
        pos_weight: extra loss weight of the positive class (sigmoid head), or None.
        label_smoothing: cross-entropy label smoothing.
        mixing: mixup / CutMix of training batches.
        tta: test-time views for val and test (data/views.py TTA_VIEWS).
        verbose: Keras fit verbosity.
        smoke: the trainer=smoke caps were applied.
        precision: float32, mixed_float16 or mixed_bfloat16 (Keras dtype policy).
        jit_compile: "auto" (Keras' rule: XLA on a GPU, not on CPU with TensorFlow, always
            compiled on JAX), true or false.
        devices: "auto" (every accelerator of the machine) or a number of data-parallel replicas.
        time_budget: seconds the job's training and evaluation may take (each fit stops in
            time to evaluate; with cv.folds, each fit gets an equal share), or None.
    """

    epochs: int
    batch_size: int
    patience: int
    monitor: str = "val_loss"
    balance: str = "none"
    class_weight: str | dict | None = None
    pos_weight: float | None = None
    label_smoothing: float = 0.0
    mixing: Mixing = field(default_factory=Mixing)
    tta: str = "none"
    verbose: int = 2
    smoke: bool = False
    precision: str = "float32"
    jit_compile: str | bool = "auto"
    devices: str | int = "auto"
    time_budget: float | None = None


@dataclass(frozen=True)
class CVSettings:
    """K-fold cross-validation over train+val (folds 0: off) and the refit on train+val."""

    folds: int = 0
    refit: bool = False


CALIBRATIONS = ["none", "temperature"]


@dataclass(frozen=True)
class EvaluationSettings:
    """How the outputs are turned into the run's probabilities: calibration "temperature"
    fits one temperature on val (evaluation/calibration.py) and applies it to val, test and
    fungiclf-predict; "none" keeps the model's own."""

    calibration: str = "none"


@dataclass(frozen=True)
class LoggerSettings:
    """Experiment tracker: none, mlflow or tensorboard, with its own options."""

    name: str = "none"
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentSettings:
    """The published table a run belongs to (all None / empty outside experiments)."""

    name: str | None = None
    row: str | None = None
    published: dict = field(default_factory=dict)
    source: str | None = None


@dataclass(frozen=True)
class PathsSettings:
    """Folders: the decode cache, fetched datasets, run folders."""

    cache_dir: str
    data_dir: str
    output_dir: str


@dataclass(frozen=True)
class Choice:
    """A value resolve decided rather than the config: printed before any work and kept in
    metrics.json ("plan").

    Attributes:
        key: the config key (preprocess.color).
        value: what it became.
        source: where it came from: "the data", "the MedMNIST set", "the config".
        why: the evidence, one phrase.
        warning: the config's own value, kept, but worth a warning (colour dropped).
    """

    key: str
    value: Any
    source: str
    why: str
    warning: bool = False

    def line(self) -> str:
        return f"{self.key}={self.value} ({self.source}: {self.why})"


@dataclass(frozen=True)
class Settings:
    """Everything one job does, checked. ``plan`` (not part of what the job does: the values
    it explains are in the other fields) says which values were decided from the data."""

    seed: int
    dataset: DatasetSettings
    preprocess: PreprocessSettings
    filters: Filters
    augment: AugmentSettings
    model: ModelSettings
    optimizer: OptimizerSettings
    trainer: TrainerSettings
    cv: CVSettings
    logger: LoggerSettings
    experiment: ExperimentSettings
    paths: PathsSettings
    resume: bool = False
    optimized_metric: str = "val.f1_macro"
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    plan: tuple[Choice, ...] = field(default=(), compare=False)


def to_config(settings: Settings) -> dict:
    """The settings as a config (the composed config's layout) that resolves to them again."""
    dataset = settings.dataset
    pixels = dataclasses.asdict(settings.preprocess.pixels)
    pixels["size"] = list(pixels["size"])
    filters = settings.filters
    model = settings.model
    optimizer = settings.optimizer
    trainer = settings.trainer
    experiment = settings.experiment
    return {
        "seed": settings.seed,
        "optimized_metric": settings.optimized_metric,
        "resume": settings.resume,
        "experiment_name": experiment.name,
        "published_source": experiment.source,
        "row": experiment.row,
        "rows": {experiment.row: {"overrides": [], "published": dict(experiment.published)}} if experiment.row else {},
        "paths": dataclasses.asdict(settings.paths),
        "cv": dataclasses.asdict(settings.cv),
        "evaluation": dataclasses.asdict(settings.evaluation),
        "dataset": {
            "name": dataset.name,
            "source": dataset.source,
            "path": dataset.path,
            "group_pattern": dataset.group_pattern,
            "group_by": None,
            "group_presets": None,
            "class_names": list(dataset.class_names) if dataset.class_names else None,
            "split": dict(dataset.split),
            "fraction": filters.fraction,
            "drop_cross_split_duplicates": filters.drop_duplicates,
            "val_from_train": dataset.val_from_train,
            "fetch": dataset.fetch,
            "synthetic": dict(dataset.synthetic) if dataset.synthetic else None,
            "columns": dict(dataset.columns) if dataset.columns else None,
            "positive_class": dataset.positive_class,
            "modality": dataset.modality,
        },
        "preprocess": {
            **pixels,
            "cache": settings.preprocess.cache,
            "low_variance": {
                "threshold": filters.threshold,
                "percentile": filters.percentile,
                "splits": list(filters.splits),
            },
        },
        "augment": dict(settings.augment.values),
        "model": {
            "name": model.name,
            "head": model.head,
            "threshold": model.threshold,
            **model.params,
            **({"finetune": dict(model.finetune)} if model.finetune is not None else {}),
            **({"weights": model.init} if model.init is not None else {}),
        },
        "optimizer": {
            "name": optimizer.name,
            "lr": optimizer.lr,
            "schedule": optimizer.schedule,
            "warmup_epochs": optimizer.warmup_epochs,
            "ema": optimizer.ema,
            "plateau_factor": optimizer.plateau_factor,
            "plateau_patience": optimizer.plateau_patience,
            "min_lr": optimizer.min_lr,
            **optimizer.kwargs,
        },
        "trainer": {
            "epochs": trainer.epochs,
            "batch_size": trainer.batch_size,
            "patience": trainer.patience,
            "monitor": trainer.monitor,
            "balance": trainer.balance,
            "class_weight": dict(trainer.class_weight)
            if isinstance(trainer.class_weight, dict)
            else trainer.class_weight,
            "pos_weight": trainer.pos_weight,
            "max_per_class": dataset.max_per_class,
            "verbose": trainer.verbose,
            "smoke": trainer.smoke,
            "label_smoothing": trainer.label_smoothing,
            "mixup": trainer.mixing.mixup,
            "cutmix": trainer.mixing.cutmix,
            "mix_prob": trainer.mixing.prob,
            "tta": trainer.tta,
            "precision": trainer.precision,
            "jit_compile": trainer.jit_compile,
            "devices": trainer.devices,
            "time_budget": trainer.time_budget,
        },
        "logger": {"name": settings.logger.name, **settings.logger.options},
    }


def fingerprint(settings: Settings) -> str:
    """Hash of what a job does (``resume`` left out): equal settings, equal fingerprint."""
    content = to_config(settings)
    content.pop("resume")
    if settings.evaluation == EvaluationSettings():  # a key added later hashes only when set, so that
        content.pop("evaluation")  # a run made before it existed keeps its fingerprint (and resume skips it)
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:20]
