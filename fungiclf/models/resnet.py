"""ResNet-18/34 with basic blocks (He et al. 2015, arXiv 1512.03385); Keras has no ResNet-34."""

import keras
from keras import layers

from fungiclf.models.blocks import classifier, dense_stack, model_input, rescale

STAGES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
SMALL_IMAGE = 64  # below this side (pixels), "auto" uses the small-image stem


def conv_bn(x, filters: int, kernel: int, stride: int, name: str, relu: bool = True):
    """Bias-free conv (as torchvision), batch norm, optional ReLU."""
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=1e-5, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def basic_block(x, filters: int, stride: int, name: str):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = conv_bn(x, filters, 1, stride, f"{name}_proj", relu=False)
    x = conv_bn(x, filters, 3, stride, f"{name}_a")
    x = conv_bn(x, filters, 3, 1, f"{name}_b", relu=False)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([x, shortcut]))


def build_resnet(
    input_shape,
    num_classes: int,
    activation: str = "softmax",
    depth: int = 18,
    small_stem: bool | str = "auto",
    width: int = 64,
    dense: list[int] = (),
    dropout: float = 0.0,
    name: str | None = None,
) -> keras.Model:
    """ResNet-``depth`` (18 or 34). 11,689,512 / 21,797,672 params at 224 px, 1000 classes.

    ``small_stem``: True = 3x3 stride-1 stem without max pooling (inputs under 64 px),
    False = the 7x7 stride-2 stem with max pooling, "auto" = by input size.
    """
    if small_stem == "auto":
        small_stem = min(input_shape[:2]) < SMALL_IMAGE
    inputs = model_input(input_shape)
    x = rescale(inputs)
    if small_stem:
        x = conv_bn(x, width, 3, 1, "stem")
    else:
        x = conv_bn(x, width, 7, 2, "stem")
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, blocks in enumerate(STAGES[depth]):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            x = basic_block(x, width * 2**stage, stride, name=f"stage{stage + 1}_block{block + 1}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = dense_stack(x, list(dense), "relu", dropout, name="head")
    return keras.Model(inputs, classifier(x, num_classes, activation), name=name or f"resnet{depth}")


def build_resnet18(input_shape, num_classes: int, activation: str = "softmax", **kw) -> keras.Model:
    """ResNet-18."""
    return build_resnet(input_shape, num_classes, activation, depth=18, **kw)


def build_resnet34(input_shape, num_classes: int, activation: str = "softmax", **kw) -> keras.Model:
    """ResNet-34."""
    return build_resnet(input_shape, num_classes, activation, depth=34, **kw)
