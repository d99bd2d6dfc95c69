"""ConvMixer (Trockman & Kolter 2022, arXiv 2201.09792), after the keras-io example."""

import keras
from keras import layers

from fungiclf.models.blocks import classifier, model_input, rescale


def gelu_bn(x, name: str):
    x = layers.Activation("gelu", name=f"{name}_gelu")(x)
    return layers.BatchNormalization(name=f"{name}_bn")(x)


def mixer_block(x, dim: int, kernel: int, name: str):
    """Depthwise k x k conv (spatial mixing) with a residual, then a pointwise conv (channel mixing)."""
    residual = x
    x = gelu_bn(layers.DepthwiseConv2D(kernel, padding="same", name=f"{name}_depthwise")(x), f"{name}_dw")
    x = layers.Add(name=f"{name}_add")([x, residual])
    return gelu_bn(layers.Conv2D(dim, 1, name=f"{name}_pointwise")(x), f"{name}_pw")


def build_convmixer(
    input_shape,
    num_classes: int,
    activation: str = "softmax",
    dim: int = 256,
    depth: int = 8,
    kernel: int = 5,
    patch: int = 2,
    name: str = "convmixer",
) -> keras.Model:
    """Patch embedding (patch x patch conv, stride patch), ``depth`` mixer blocks, GAP, classifier."""
    inputs = model_input(input_shape)
    x = layers.Conv2D(dim, patch, strides=patch, name="patch_embed")(rescale(inputs))
    x = gelu_bn(x, "patch_embed")
    for i in range(depth):
        x = mixer_block(x, dim, kernel, name=f"mixer{i + 1}")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, classifier(x, num_classes, activation), name=name)
