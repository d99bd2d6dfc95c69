"""The model zoo: a registry from name to builder, and build_model(cfg) for the runner."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

import keras
from omegaconf import DictConfig, OmegaConf

from fungiclf.errors import ConfigError
from fungiclf.models.applications import APPLICATIONS, build_application
from fungiclf.models.augment import augmentation_layers
from fungiclf.models.classical import build_linear_svm, build_logreg, build_random_forest
from fungiclf.models.conv import build_cnn
from fungiclf.models.convmixer import build_convmixer
from fungiclf.models.dense import build_ann, build_linear
from fungiclf.models.resnet import build_resnet18, build_resnet34

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """How to build one named model.

    Attributes:
        builder: ``build_<arch>(input_shape, num_classes, activation, **kw) -> keras.Model``,
            or for kind "sklearn" ``build_<name>(**kw)`` -> an unfitted estimator.
        min_size: smallest input side in pixels, when fixed (else found by trying).
        kind: "keras" or "sklearn" (fitted on flattened pixels in [0, 1]).
    """

    builder: Callable[..., object]
    min_size: int | None = None
    kind: str = "keras"


MODELS: dict[str, ModelSpec] = {
    "ann": ModelSpec(build_ann),
    "ann_dense": ModelSpec(build_ann),
    "linear": ModelSpec(build_linear),
    "linear_relu": ModelSpec(build_linear),
    "cnn": ModelSpec(build_cnn),
    "cnn_deep": ModelSpec(build_cnn),
    "cnn4": ModelSpec(build_cnn),
    "vgg_mini": ModelSpec(build_cnn),
    "cnn_small": ModelSpec(build_cnn),
    "resnet18": ModelSpec(build_resnet18, min_size=1),
    "resnet34": ModelSpec(build_resnet34, min_size=1),
    "convmixer": ModelSpec(build_convmixer),
    **{name: ModelSpec(build_application, min_size=1) for name in APPLICATIONS},  # upscaled as needed
    "logreg": ModelSpec(build_logreg, min_size=1, kind="sklearn"),
    "linear_svm": ModelSpec(build_linear_svm, min_size=1, kind="sklearn"),
    "random_forest": ModelSpec(build_random_forest, min_size=1, kind="sklearn"),
}

# Keys of the model config that are the runner's, not the builder's.
RUNNER_KEYS = {"name", "head", "threshold", "finetune"}


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ConfigError(f"Unknown model {name!r}; valid names: {sorted(MODELS)}")
    return MODELS[name]


def builder_kwargs(model_cfg: DictConfig) -> dict:
    """The model config minus runner keys. Nulls are passed on: null means "none" (no weights,
    no activation, no pooling), never "the builder's default"."""
    kw = OmegaConf.to_container(model_cfg, resolve=True)
    return {k: v for k, v in kw.items() if k not in RUNNER_KEYS}


def build_estimator(model_cfg: DictConfig):
    """An unfitted scikit-learn estimator for a model of kind "sklearn"."""
    spec = get_spec(model_cfg.name)
    try:
        return spec.builder(**builder_kwargs(model_cfg))
    except TypeError as exc:
        raise ConfigError(f"model {model_cfg.name!r}: {exc}") from None


def output_units(model_cfg: DictConfig, num_classes: int) -> tuple[int, str]:
    """(units, activation) of the classifier: softmax over classes, or 1 sigmoid unit."""
    head = model_cfg.get("head", "softmax")
    if head == "softmax":
        return num_classes, "softmax"
    if head == "sigmoid":
        if num_classes != 2:
            raise ConfigError(f"model.head=sigmoid needs exactly 2 classes; the dataset has {num_classes}")
        return 1, "sigmoid"
    raise ConfigError(f"The 'head' parameter of model must be one of ['softmax', 'sigmoid']. Got {head!r} instead.")


def build_network(model_cfg: DictConfig, input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """The named architecture alone (no augmentation); a too-small input is a ConfigError."""
    spec = get_spec(model_cfg.name)
    units, activation = output_units(model_cfg, num_classes)
    try:
        return spec.builder(tuple(input_shape), units, activation, **builder_kwargs(model_cfg))
    except ConfigError:
        raise
    except ValueError as exc:
        if input_shape[0] < 512 and min_input_size(model_cfg, input_shape[2], num_classes) > min(input_shape[:2]):
            raise ConfigError(f"preprocess.size={list(input_shape[:2])} is smaller than model {model_cfg.name!r} accepts "
                              f"(minimum {min_input_size(model_cfg, input_shape[2], num_classes)} px)") from None
        raise ConfigError(f"model {model_cfg.name!r} cannot be built with these settings: {str(exc).splitlines()[0]}") from None
    except TypeError as exc:
        raise ConfigError(f"model {model_cfg.name!r}: {exc}") from None


def min_input_size(model_cfg: DictConfig, channels: int = 3, num_classes: int = 2) -> int:
    """Smallest square input side (pixels) the model builds at: fixed, or found by bisection."""
    spec = get_spec(model_cfg.name)
    if spec.min_size is not None:
        return spec.min_size
    units, activation = output_units(model_cfg, max(num_classes, 2))
    kw = builder_kwargs(model_cfg)

    def builds(side: int) -> bool:
        try:
            spec.builder((side, side, channels), units, activation, **kw)
            return True
        except ValueError:
            return False

    low, high = 1, 512
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if builds(mid) else (mid + 1, high)
    return low


def build_model(model_cfg: DictConfig, augment_cfg: DictConfig, input_shape: tuple[int, int, int],
                num_classes: int, seed: int) -> keras.Model:
    """Augmentation layers (training only) followed by the named network.

    Input: uint8-valued (batch, H, W, C) images; output: class probabilities (batch, K) or
    (batch, 1) for a sigmoid head.
    """
    network = build_network(model_cfg, input_shape, num_classes)
    augment = augmentation_layers(OmegaConf.to_container(augment_cfg, resolve=True) or {}, input_shape, seed)
    if not augment:
        return network
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for layer in augment:
        x = layer(x)
    return keras.Model(inputs, network(x), name=f"{network.name}_augmented")
