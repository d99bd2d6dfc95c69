"""Keras Applications backbones for transfer learning, with the backbone's own preprocessing."""

import logging
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path

import keras
from keras import layers

from fungiclf.errors import ConfigError
from fungiclf.layers import BackbonePreprocess
from fungiclf.models.blocks import classifier, dense_stack, model_input

log = logging.getLogger(__name__)

BACKBONE = "backbone"  # layer name of the nested base model (fine-tuning finds it by name)


@dataclass(frozen=True)
class Backbone:
    """A keras.applications constructor and its smallest input side (px); its preprocess_input is
    fungiclf.layers.BACKBONE_PREPROCESS[name]."""

    build: Callable[..., keras.Model]
    min_size: int


APPLICATIONS: dict[str, Backbone] = {
    "vgg16": Backbone(keras.applications.VGG16, 32),
    "resnet50": Backbone(keras.applications.ResNet50, 32),
    "inceptionv3": Backbone(keras.applications.InceptionV3, 75),
    "xception": Backbone(keras.applications.Xception, 71),
    "mobilenetv2": Backbone(keras.applications.MobileNetV2, 32),
    "densenet121": Backbone(keras.applications.DenseNet121, 32),
    "efficientnetb0": Backbone(keras.applications.EfficientNetB0, 32),
}


def _weights_argument(backbone: str, weights: str | None) -> str | None:
    if weights in (None, "imagenet"):
        return weights
    path = Path(str(weights)).expanduser()
    if not path.is_file():
        raise ConfigError(f"model.weights file {str(path)!r} does not exist (use imagenet, null or a weights file)")
    return str(path)


def load_base(backbone: str, input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
    """The headless backbone; a failed ImageNet download is a one-line ConfigError."""
    spec = APPLICATIONS[backbone]
    try:
        return spec.build(include_top=False, weights=_weights_argument(backbone, weights), input_shape=input_shape)
    except ConfigError:
        raise
    except Exception as exc:  # urllib, hash mismatch and h5py errors all mean "no usable weights"
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        if weights == "imagenet":
            raise ConfigError(
                f"model.weights=imagenet: could not get the ImageNet weights of {backbone} ({reason}). With internet, "
                f'run once: python -c "import keras; keras.applications.{spec.build.__name__}(include_top=False)" '
                f"(caches them under ~/.keras/models); offline, set model.weights=/path/to/file.weights.h5 "
                f"or model.weights=null for random initialisation"
            ) from None
        raise ConfigError(f"model.weights={weights}: cannot load it into {backbone}: {reason}") from None


def build_application(
    input_shape,
    num_classes: int,
    activation: str = "softmax",
    backbone: str = "vgg16",
    weights: str | None = None,
    dense: list[int] = (128,),
    dropout: float = 0.0,
) -> keras.Model:
    """Input (0-255) -> [gray to RGB] -> [upscale to the backbone minimum] -> preprocess_input
    -> backbone -> global average pooling -> Dense head -> classifier. A pretrained backbone
    (imagenet, a weights file) is frozen, BatchNorm in inference mode; with weights=null the
    backbone trains from random initialisation like any other layer.

    ``model.finetune`` (phase 2) is the trainer's business (training/fit.py).
    """
    if backbone not in APPLICATIONS:
        raise ConfigError(f"Unknown backbone {backbone!r}; valid names: {sorted(APPLICATIONS)}")
    spec = APPLICATIONS[backbone]
    height, width, channels = input_shape
    inputs = model_input(input_shape)
    x = inputs
    if channels == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    if min(height, width) < spec.min_size:
        height, width = max(height, spec.min_size), max(width, spec.min_size)
        log.info("Upscaling %dx%d input to %dx%d, the smallest %s accepts", *input_shape[:2], height, width, backbone)
        x = layers.Resizing(height, width, name="upscale")(x)
    x = BackbonePreprocess(backbone, name="preprocess_input")(x)
    loaded = load_base(backbone, (height, width, 3), weights)
    base = keras.Model(loaded.input, loaded.output, name=BACKBONE)
    if weights is None:  # random initialisation: the whole network trains from scratch
        x = base(x)
    else:  # pretrained: frozen, BatchNorm in inference mode, also when fine-tuning
        base.trainable = False
        x = base(x, training=False)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = dense_stack(x, list(dense), "relu", dropout, name="head")
    return keras.Model(inputs, classifier(x, num_classes, activation), name=backbone)


def find_backbone(model: keras.Model) -> keras.Model:
    """The nested backbone model, also when the network sits inside an augmentation wrapper."""
    for layer in model.layers:
        if layer.name == BACKBONE:
            return layer
        if isinstance(layer, keras.Model):
            try:
                return find_backbone(layer)
            except ConfigError:
                pass
    raise ConfigError(f"model.finetune needs a Keras Applications backbone; {model.name!r} has none")


def unfreeze_top(model: keras.Model, unfreeze: int | str) -> int:
    """Make the top ``unfreeze`` layers of the backbone (or "all") trainable; BatchNorm stays frozen.

    Returns the number of backbone layers made trainable.
    """
    base = find_backbone(model)
    base.trainable = True
    candidates = base.layers if unfreeze == "all" else base.layers[-int(unfreeze) :] if int(unfreeze) > 0 else []
    chosen = set(id(layer) for layer in candidates)
    count = 0
    for layer in base.layers:
        layer.trainable = id(layer) in chosen and not isinstance(layer, layers.BatchNormalization)
        count += layer.trainable
    return count
