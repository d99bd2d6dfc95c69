"""Fully connected models on flattened pixels: the DeFungi ANNs and the chest X-ray linear models."""

import keras
from keras import layers

from fungiclf.errors import ConfigError
from fungiclf.models.blocks import classifier, dense_stack, model_input, rescale


def build_ann(
    input_shape,
    num_classes: int,
    activation: str = "softmax",
    units: list[int] = (512, 128),
    hidden_activation: str | None = "relu",
    dropout: float = 0.0,
    name: str = "ann",
) -> keras.Model:
    """Flatten -> Dense(units...) -> classifier. 3,343,621 params at 80x80x1, 5 classes (DeFungi report)."""
    inputs = model_input(input_shape)
    x = layers.Flatten(name="flatten")(rescale(inputs))
    x = dense_stack(x, list(units), hidden_activation, dropout, name="hidden")
    return keras.Model(inputs, classifier(x, num_classes, activation), name=name)


def build_linear(
    input_shape,
    num_classes: int,
    activation: str = "softmax",
    layers: int = 2,
    units: int = 10,
    hidden_activation: str | None = None,
    name: str = "linear",
) -> keras.Model:
    """``layers`` Dense layers in all (``layers - 1`` hidden of width ``units``), chest X-ray report.

    The report's Linear+ReLU also put a ReLU on the output logit, which caps the loss on
    negatives at log 2; that is a defect, not reproduced: the output is the classifier.
    """
    if layers < 1:
        raise ConfigError(f"The 'layers' parameter of model must be an int in [1, inf). Got {layers!r} instead.")
    return build_ann(input_shape, num_classes, activation, [units] * (layers - 1), hidden_activation, 0.0, name)
