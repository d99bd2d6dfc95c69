"""Small layer blocks shared by the builders (Keras functional style)."""

import keras
from keras import layers


def rescale(x, name: str = "rescale"):
    """uint8 0-255 pixels -> floats in [0, 1]: the one place our nets scale pixels."""
    return layers.Rescaling(1.0 / 255, name=name)(x)


CLASSIFIER = "predictions"  # the output layer's name in every builder
CONVOLUTIONS = (layers.Conv2D, layers.DepthwiseConv2D, layers.SeparableConv2D)


def has_convolutions(model: keras.Model) -> bool:
    """Whether ``model`` or a model nested in it (a backbone) has a 2-D convolution."""
    return any(
        has_convolutions(layer) if isinstance(layer, keras.Model) else isinstance(layer, CONVOLUTIONS)
        for layer in model.layers
    )


def classifier(x, num_classes: int, activation: str):
    """The output layer: probabilities over ``num_classes`` (1 unit for a sigmoid head),
    computed in float32 also under a mixed-precision policy (a float16 softmax loses mass)."""
    return layers.Dense(num_classes, activation=activation, name=CLASSIFIER, dtype="float32")(x)


def dense_stack(x, units: list[int], activation: str | None, dropout: float, name: str):
    """Dense layers of the given widths, each followed by Dropout when ``dropout`` > 0."""
    for i, width in enumerate(units):
        x = layers.Dense(width, activation=activation, name=f"{name}_dense{i + 1}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{name}_dropout{i + 1}")(x)
    return x


def conv_block(
    x,
    filters: int,
    kernel: int,
    convs: int,
    padding: str,
    batch_norm: bool,
    pool: int | None,
    dropout: float,
    name: str,
):
    """``convs`` Conv2D+ReLU, optional BatchNorm after them, optional max pooling and dropout."""
    for i in range(convs):
        x = layers.Conv2D(filters, kernel, padding=padding, activation="relu", name=f"{name}_conv{i + 1}")(x)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    if pool:
        x = layers.MaxPooling2D(pool, name=f"{name}_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def model_input(input_shape: tuple[int, int, int]) -> keras.KerasTensor:
    return keras.Input(shape=input_shape, name="image")
