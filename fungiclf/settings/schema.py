"""Structured config schemas: the keys of every config group and their defaults, stored in
Hydra's ConfigStore as ``base_<name>`` and named first in each YAML file's defaults list
(``defaults: [base_trainer, _self_]``).

A schema fixes which keys a group has: a misspelt key in a YAML file, an experiment or on
the command line is refused when the config is composed (one added with ``+key=value`` gets
past that check, and resolve() refuses it against these schemas). The values are typed
``Any`` on purpose: resolve() (settings/resolve.py) checks every value itself, so that a
wrong type (``trainer.epochs=ten``) is refused like any other bad value, in one line in the
job's own run folder, and a sweep goes on with its other jobs, instead of stopping the whole
sweep with OmegaConf's multi-line composition error. The types resolve() expects are in the
comments.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class PathsSchema:
    cache_dir: Any = MISSING  # str: decoded arrays and the synthetic set
    data_dir: Any = MISSING  # str: where fungiclf-data fetch puts datasets
    output_dir: Any = "outputs"  # str: run folders


@dataclass
class CVSchema:
    folds: Any = 0  # int: 0 (off) or K >= 2
    refit: Any = False  # bool


@dataclass
class EvaluationSchema:
    calibration: Any = "none"  # none | temperature


@dataclass
class TrainSchema:
    """The top level of conf/train.yaml; the groups are filled by their own schemas."""

    seed: Any = 0  # int in [0, 2**32 - 1]
    optimized_metric: Any = "val.f1_macro"  # str: a metrics.json key path
    resume: Any = False  # bool
    dry_run: Any = False  # bool: print what each job would do, train nothing
    auto: Any = False  # bool: choose model, size, epochs, augmentation, balancing from the data and trainer.time_budget
    experiment_name: Any = None  # str or null
    published_source: Any = None  # str or null
    row: Any = None  # str or null: a key of rows
    rows: Any = field(default_factory=dict)  # name -> {overrides: [...], published: {key: value}}
    paths: PathsSchema = field(default_factory=PathsSchema)
    cv: CVSchema = field(default_factory=CVSchema)
    evaluation: EvaluationSchema = field(default_factory=EvaluationSchema)
    dataset: Any = MISSING
    preprocess: Any = MISSING
    augment: Any = MISSING
    model: Any = MISSING
    optimizer: Any = MISSING
    trainer: Any = MISSING
    logger: Any = MISSING


@dataclass
class DatasetSchema:
    name: Any = MISSING  # str
    source: Any = "image_folder"  # image_folder | npz | csv | synthetic
    path: Any = None  # str (required unless synthetic)
    fetch: Any = None  # str: fungiclf-data fetch name (presets)
    group_pattern: Any = (
        None  # str regex with one capturing group (searched in the path inside the class folder), or null
    )
    group_by: Any = None  # str: a key of group_presets, or null
    group_presets: Any = None  # {name: regex or null} (defungi, image_folder)
    columns: Any = None  # {image, label, group, split}: column names of a csv source
    class_names: Any = None  # list of str, or null
    modality: Any = (
        None  # micrograph | histology | dermatoscopy | xray | ultrasound | fundus | ct | oct | mri | photo | null
    )
    positive_class: Any = None  # str: the class sensitivity, thresholds and p(positive) are about (two classes)
    split: Any = field(default_factory=lambda: {"train": 0.6, "val": 0.2, "test": 0.2})  # fractions summing to 1
    fraction: Any = 1.0  # float in (0, 1]
    drop_cross_split_duplicates: Any = False  # bool
    val_from_train: Any = False  # bool
    synthetic: Any = None  # {n_per_class, patches_per_photo, size, seed} (dataset=synthetic)
    color: Any = "rgb"  # the preset's preprocess.color (gray | rgb | auto: from the data)
    image_size: Any = 48  # the preset's preprocess.size (pixels, or auto: from the data)
    augment_flip: Any = "horizontal_and_vertical"  # the preset's augment.flip for augment=basic
    augment_transpose: Any = True  # the preset's augment.transpose (false: images have an up and a left)


@dataclass
class SyntheticSchema:
    """dataset.synthetic (dataset=synthetic); not a typed field of DatasetSchema, so that the
    other datasets carry no generator keys."""

    n_per_class: Any = 400  # int >= 2: images per class
    patches_per_photo: Any = 5  # int >= 1: images sharing stain and optics (one group)
    size: Any = 64  # int >= 16: generated side, pixels
    seed: Any = 0  # int >= 0: generator seed
    classes: Any = 5  # int in [2, 5]: the first N classes (2: a two-class task)


@dataclass
class LowVarianceSchema:
    threshold: Any = None  # float >= 0 (squared 0-255 units) or null
    percentile: Any = None  # float in [0, 100] or null
    splits: Any = field(default_factory=lambda: ["train"])  # list of train | val | test


@dataclass
class PreprocessSchema:
    color: Any = "rgb"  # gray | rgb | auto (the data's: an npz's channels, sampled files' colour)
    size: Any = 48  # int or [height, width], pixels; auto: the data's, at most 64, never upscaled
    fit: Any = "stretch"  # stretch | crop | pad: other aspect ratios
    cache: Any = True  # bool
    bit_depth: Any = 16  # int in [8, 16]: significant bits of 16-bit files
    max_megapixels: Any = 100  # float > 0: larger images (by their header) are skipped before decoding
    max_file_mb: Any = 1024  # float > 0: larger files are skipped before they are read
    denoise: Any = "none"  # none | median | gaussian | nlmeans
    denoise_kernel: Any = 3  # odd int in [1, 31]
    denoise_h: Any = 10.0  # float > 0
    clahe: Any = False  # bool
    clahe_clip: Any = 2.0  # float > 0
    clahe_tiles: Any = 8  # int in [1, 64]
    low_variance: LowVarianceSchema = field(default_factory=LowVarianceSchema)


@dataclass
class AugmentSchema:
    flip: Any = None  # horizontal | vertical | horizontal_and_vertical | null
    transpose: Any = False  # bool
    rotation: Any = 0.0  # float in [0, 1]: fraction of a full turn
    zoom: Any = 0.0  # float in [0, 1]
    translate: Any = 0.0  # float in [0, 1]
    contrast: Any = 0.0  # float in [0, 1]
    brightness: Any = 0.0  # float in [0, 1]
    erase: Any = 0.0  # float in [0, 1]: share of images with one patch replaced by noise
    sharpness: Any = 0.0  # float in [0, 1]: spread of the blur (below 0.5) / sharpen (above) factor
    blur: Any = 0.0  # float in [0, 16]: largest Gaussian sigma, pixels of the model's input


@dataclass
class OptimizerSchema:
    """Keys every optimizer has; each optimizer's own arguments are in its subclass."""

    name: Any = MISSING  # adam | adamw | sgd | rmsprop
    lr: Any = 0.001  # float > 0
    weight_decay: Any = None  # float >= 0 or null
    schedule: Any = "none"  # none | cosine | reduce_on_plateau
    warmup_epochs: Any = 0  # float >= 0 (cosine only)
    ema: Any = None  # float in (0, 1] or null
    plateau_factor: Any = 0.5  # float in (0, 1]
    plateau_patience: Any = 2  # int >= 0
    min_lr: Any = 1.0e-6  # float >= 0


@dataclass
class AdamSchema(OptimizerSchema):
    beta_1: Any = 0.9  # float in [0, 1]
    beta_2: Any = 0.999  # float in [0, 1]


@dataclass
class SGDSchema(OptimizerSchema):
    momentum: Any = 0.9  # float in [0, 1]
    nesterov: Any = False  # bool


@dataclass
class RMSpropSchema(OptimizerSchema):
    rho: Any = 0.9  # float in [0, 1]
    momentum: Any = 0.0  # float in [0, 1]


@dataclass
class TrainerSchema:
    epochs: Any = 25  # int >= 1
    batch_size: Any = 32  # int >= 1
    patience: Any = 6  # int >= 0
    monitor: Any = "val_loss"  # val_loss | val_accuracy | val_f1_macro
    balance: Any = "none"  # none | class_weight | oversample
    class_weight: Any = None  # balanced | {class: weight > 0} | null
    pos_weight: Any = None  # float > 0 or null (sigmoid head)
    max_per_class: Any = None  # int >= 1 or null
    verbose: Any = 2  # 0 | 1 | 2
    smoke: Any = False  # bool
    label_smoothing: Any = 0.0  # float in [0, 0.5]
    mixup: Any = 0.0  # float >= 0
    cutmix: Any = 0.0  # float >= 0
    mix_prob: Any = 1.0  # float in [0, 1]
    tta: Any = "none"  # none | hflip | flips | dihedral
    precision: Any = "float32"  # float32 | mixed_float16 | mixed_bfloat16
    jit_compile: Any = "auto"  # auto | true | false
    devices: Any = "auto"  # auto | int >= 1
    time_budget: Any = None  # a duration (30m, 1h30m, 90s, or seconds) or null: stop training in time to evaluate


@dataclass
class LoggerSchema:
    name: Any = "none"  # none | mlflow | tensorboard


@dataclass
class MlflowSchema(LoggerSchema):
    tracking_uri: Any = "sqlite:///mlflow.db"  # str
    experiment: Any = None  # str or null
    log_artifacts: Any = True  # bool


@dataclass
class TensorboardSchema(LoggerSchema):
    log_dir: Any = "tensorboard"  # str: relative to the run folder, or absolute


@dataclass
class ModelSchema:
    """Keys every model has."""

    name: Any = MISSING  # a MODELS registry name
    head: Any = "softmax"  # softmax | sigmoid
    threshold: Any = 0.5  # float in [0, 1] or val_youden | val_accuracy | val_f1_macro


@dataclass
class KerasModelSchema(ModelSchema):
    """Keys every Keras model has."""

    weights: Any = None  # null, or a completed run folder of the same model whose weights start this one


@dataclass
class CnnSchema(KerasModelSchema):
    blocks: Any = field(default_factory=lambda: [{"filters": 32}, {"filters": 64}, {"filters": 128}])
    filters: Any = 32  # int >= 1: default filters of a block
    kernel: Any = 3  # int >= 1
    convs: Any = 1  # int >= 1: convolutions per block
    padding: Any = "valid"  # valid | same
    batch_norm: Any = False  # bool
    pool: Any = 2  # int >= 1 or null
    block_dropout: Any = 0.0  # float in [0, 1)
    pooling: Any = "flatten"  # flatten | gap
    dense: Any = field(default_factory=lambda: [128])  # list of int >= 1
    dropout: Any = 0.0  # float in [0, 1)


@dataclass
class DenseSchema(KerasModelSchema):
    units: Any = field(default_factory=lambda: [512, 128])  # list of int >= 1
    hidden_activation: Any = "relu"  # a Keras activation or null
    dropout: Any = 0.0  # float in [0, 1)


@dataclass
class LinearSchema(KerasModelSchema):
    layers: Any = 2  # int >= 1: Dense layers including the classifier
    units: Any = 10  # int >= 1
    hidden_activation: Any = None  # a Keras activation or null


@dataclass
class ResNetSchema(KerasModelSchema):
    small_stem: Any = "auto"  # auto | true | false
    width: Any = 64  # int >= 1
    dense: Any = field(default_factory=list)  # list of int >= 1
    dropout: Any = 0.0  # float in [0, 1)


@dataclass
class ConvMixerSchema(KerasModelSchema):
    dim: Any = 256  # int >= 1
    depth: Any = 8  # int >= 1
    kernel: Any = 5  # int >= 1
    patch: Any = 2  # int >= 1


@dataclass
class FinetuneSchema:
    epochs: Any = 0  # int >= 0: phase 2 epochs; 0 = no phase 2
    unfreeze: Any = 20  # int >= 0 or all
    lr_factor: Any = 0.1  # float > 0


@dataclass
class ApplicationSchema(KerasModelSchema):
    backbone: Any = MISSING  # a keras.applications name (vgg16, resnet50, ...)
    weights: Any = "imagenet"  # imagenet | null | path of a .weights.h5 file | a completed run folder
    dense: Any = field(default_factory=lambda: [128])  # list of int >= 1
    dropout: Any = 0.0  # float in [0, 1)
    finetune: FinetuneSchema = field(default_factory=FinetuneSchema)


@dataclass
class LogRegSchema(ModelSchema):
    C: Any = 1.0
    solver: Any = "lbfgs"
    max_iter: Any = 500
    tol: Any = 0.0001
    class_weight: Any = None


@dataclass
class LinearSVMSchema(ModelSchema):
    penalty: Any = "l2"
    loss: Any = "squared_hinge"
    dual: Any = False
    C: Any = 1.0
    tol: Any = 0.0001
    max_iter: Any = 1000
    class_weight: Any = None


@dataclass
class RandomForestSchema(ModelSchema):
    n_estimators: Any = 100
    criterion: Any = "entropy"
    max_depth: Any = None
    n_jobs: Any = -1
    class_weight: Any = None


SCHEMAS: dict[tuple[str | None, str], type] = {
    (None, "base_train"): TrainSchema,
    ("dataset", "base_dataset"): DatasetSchema,
    ("preprocess", "base_preprocess"): PreprocessSchema,
    ("augment", "base_augment"): AugmentSchema,
    ("optimizer", "base_adam"): AdamSchema,
    ("optimizer", "base_sgd"): SGDSchema,
    ("optimizer", "base_rmsprop"): RMSpropSchema,
    ("trainer", "base_trainer"): TrainerSchema,
    ("logger", "base_logger"): LoggerSchema,
    ("logger", "base_mlflow"): MlflowSchema,
    ("logger", "base_tensorboard"): TensorboardSchema,
    ("model", "base_cnn"): CnnSchema,
    ("model", "base_dense"): DenseSchema,
    ("model", "base_linear"): LinearSchema,
    ("model", "base_resnet"): ResNetSchema,
    ("model", "base_convmixer"): ConvMixerSchema,
    ("model", "base_application"): ApplicationSchema,
    ("model", "base_logreg"): LogRegSchema,
    ("model", "base_linear_svm"): LinearSVMSchema,
    ("model", "base_random_forest"): RandomForestSchema,
}


def register() -> None:
    """Store every schema in Hydra's ConfigStore (idempotent)."""
    store = ConfigStore.instance()
    for (group, name), node in SCHEMAS.items():
        store.store(group=group, name=name, node=node)


register()
