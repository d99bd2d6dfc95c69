"""Plain convolutional nets: a list of conv blocks, then a flatten or pooled head.

One builder covers the report CNNs (cnn, cnn_deep, cnn4, vgg_mini, cnn_small); their
YAML files hold the layouts.
"""

import keras
from keras import layers

from fungiclf.models.blocks import classifier, conv_block, dense_stack, model_input, rescale

DEFAULT_BLOCKS = [{"filters": 32}, {"filters": 64}, {"filters": 128}]


def build_cnn(
    input_shape,
    num_classes: int,
    activation: str = "softmax",
    blocks: list[dict] = DEFAULT_BLOCKS,
    filters: int = 32,
    kernel: int = 3,
    convs: int = 1,
    padding: str = "valid",
    batch_norm: bool = False,
    pool: int | None = 2,
    block_dropout: float = 0.0,
    pooling: str = "flatten",
    dense: list[int] = (128,),
    dropout: float = 0.0,
    name: str = "cnn",
) -> keras.Model:
    """Conv blocks -> flatten or global average pooling -> Dense(dense...) -> classifier.

    Each block dict may override ``filters``, ``kernel``, ``convs``, ``batch_norm``,
    ``pool`` (None: no pooling) and ``dropout`` (the model-wide defaults otherwise).
    Defaults: the DeFungi report CNN, 1,142,021 params at 80x80x1 with 5 classes.
    """
    inputs = model_input(input_shape)
    x = rescale(inputs)
    for i, block in enumerate(blocks):
        x = conv_block(
            x,
            int(block.get("filters", filters)),
            int(block.get("kernel", kernel)),
            int(block.get("convs", convs)),
            padding,
            bool(block.get("batch_norm", batch_norm)),
            block.get("pool", pool),
            float(block.get("dropout", block_dropout)),
            name=f"block{i + 1}",
        )
    x = layers.Flatten(name="flatten")(x) if pooling == "flatten" else layers.GlobalAveragePooling2D(name="gap")(x)
    x = dense_stack(x, list(dense), "relu", dropout, name="head")
    return keras.Model(inputs, classifier(x, num_classes, activation), name=name)
