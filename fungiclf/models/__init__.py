"""The model zoo: a registry from name to builder (with the checks of its parameters), and
build_model(settings) for the runner."""

from fungiclf import keras_backend  # noqa: F401  (Keras, quietly, before the package's modules import it)

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import keras

from fungiclf.errors import ConfigError
from fungiclf.models import params as checks
from fungiclf.models.applications import APPLICATIONS, build_application
from fungiclf.models.augment import augmentation_layers
from fungiclf.models.blocks import CLASSIFIER
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
        params: the checks of the builder's keyword arguments (models/params.py); for
            scikit-learn models the estimator validates its own.
    """

    builder: Callable[..., object]
    min_size: int | None = None
    kind: str = "keras"
    params: dict = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {
    "ann": ModelSpec(build_ann, params=checks.DENSE),
    "ann_dense": ModelSpec(build_ann, params=checks.DENSE),
    "linear": ModelSpec(build_linear, params=checks.LINEAR),
    "linear_relu": ModelSpec(build_linear, params=checks.LINEAR),
    "cnn": ModelSpec(build_cnn, params=checks.CNN),
    "cnn_deep": ModelSpec(build_cnn, params=checks.CNN),
    "cnn4": ModelSpec(build_cnn, params=checks.CNN),
    "vgg_mini": ModelSpec(build_cnn, params=checks.CNN),
    "cnn_small": ModelSpec(build_cnn, params=checks.CNN),
    "resnet18": ModelSpec(build_resnet18, min_size=1, params=checks.RESNET),
    "resnet34": ModelSpec(build_resnet34, min_size=1, params=checks.RESNET),
    "convmixer": ModelSpec(build_convmixer, params=checks.CONVMIXER),
    **{
        name: ModelSpec(build_application, min_size=1, params=checks.application(sorted(APPLICATIONS)))
        for name in APPLICATIONS
    },  # upscaled as needed
    "logreg": ModelSpec(build_logreg, min_size=1, kind="sklearn"),
    "linear_svm": ModelSpec(build_linear_svm, min_size=1, kind="sklearn"),
    "random_forest": ModelSpec(build_random_forest, min_size=1, kind="sklearn"),
}

AUGMENTED = "_augmented"  # name suffix of a network wrapped with augmentation layers

# Keys of the model config that are the runner's, not the builder's.
RUNNER_KEYS = {"name", "head", "threshold", "finetune"}


def get_spec(name: str) -> ModelSpec:
    if name not in MODELS:
        raise ConfigError(f"Unknown model {name!r}; valid names: {sorted(MODELS)}")
    return MODELS[name]


def build_estimator(model):
    """An unfitted scikit-learn estimator for ModelSettings ``model`` of kind "sklearn"."""
    return get_spec(model.name).builder(**model.params)


def estimator_types() -> list[type]:
    """The scikit-learn estimator classes the registry builds: what a saved model.skops may hold."""
    return [type(spec.builder()) for spec in MODELS.values() if spec.kind == "sklearn"]


def output_units(head: str, num_classes: int) -> tuple[int, str]:
    """(units, activation) of the classifier: softmax over classes, or 1 sigmoid unit."""
    if head == "sigmoid":
        if num_classes != 2:
            raise ConfigError(f"model.head=sigmoid needs exactly 2 classes; the dataset has {num_classes}")
        return 1, "sigmoid"
    return num_classes, "softmax"


def build_network(model, input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """The architecture of ModelSettings ``model`` alone (no augmentation)."""
    spec = get_spec(model.name)
    units, activation = output_units(model.head, num_classes)
    try:
        return spec.builder(tuple(input_shape), units, activation, **model.params)
    except ConfigError:  # already one line about its own key (model.weights)
        raise
    except ValueError as exc:  # settings were checked: a builder's ValueError is a size the net cannot take
        raise ConfigError(
            f"model {model.name!r} cannot be built at {list(input_shape)}: {str(exc).splitlines()[0]}"
        ) from None


def min_input_size(model, channels: int = 3, num_classes: int = 2) -> int:
    """Smallest square input side (pixels) ModelSettings ``model`` builds at: fixed, or
    found by bisection (plain CNNs: every valid conv and pool shrinks the map). Remembered
    per architecture for the process: each job of a sweep resolves its config again, and a
    bisection builds the network up to nine times."""
    spec = get_spec(model.name)
    if spec.min_size is not None:
        return spec.min_size
    units, activation = output_units(model.head, max(num_classes, 2))
    key = (model.name, json.dumps(model.params, sort_keys=True, default=str), channels, units, activation)
    if key not in _MIN_SIZES:
        _MIN_SIZES[key] = _bisect_min_size(spec, model.params, channels, units, activation)
    return _MIN_SIZES[key]


_MIN_SIZES: dict[tuple, int] = {}


def _bisect_min_size(spec: ModelSpec, params: dict, channels: int, units: int, activation: str) -> int:
    """The smallest side in 1..512 at which ``spec``'s builder accepts the input."""

    def builds(side: int) -> bool:
        try:
            spec.builder((side, side, channels), units, activation, **params)
            return True
        except ValueError:
            return False

    low, high = 1, 512
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if builds(mid) else (mid + 1, high)
    return low


def build_model(model, augment, input_shape: tuple[int, int, int], num_classes: int, seed: int) -> keras.Model:
    """Augmentation layers (training only; AugmentSettings ``augment``) followed by the
    network of ModelSettings ``model``.

    Input: uint8-valued (batch, H, W, C) images; output: class probabilities (batch, K) or
    (batch, 1) for a sigmoid head.
    """
    network = build_network(model, input_shape, num_classes)
    augment_layers = augmentation_layers(augment.values, input_shape, seed)
    if not augment_layers:
        return network
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for layer in augment_layers:
        x = layer(x)
    return keras.Model(inputs, network(x), name=f"{network.name}{AUGMENTED}")


def network_of(model: keras.Model) -> keras.Model:
    """The architecture itself: the model, or the network inside build_model's augmentation wrapper."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if model.name.endswith(AUGMENTED) and nested:
        return nested[-1]
    return model


def feature_extractor(model: keras.Model) -> keras.Model:
    """The network of a build_model model up to its classifier's input: images (batch, H, W, C)
    to features (batch, D), the representation the classifier reads (embeddings, or the trunk
    a fine-tuned or self-supervised model shares)."""
    network = network_of(model)
    return keras.Model(network.inputs, network.get_layer(CLASSIFIER).input, name=f"{network.name}_features")
