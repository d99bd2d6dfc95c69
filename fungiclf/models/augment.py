"""Augmentation as Keras preprocessing layers at the front of the model (training only),
found by name in AUGMENTATIONS like models are.

Cheap on every backend: flips, a random transpose (with flips: all eight 90-degree views),
contrast, brightness, random erasing, sharpness jitter, Gaussian blur. Affine warps (rotation, zoom,
translation) are opt-in: on JAX a RandomRotation made a training step about 400x slower (DESIGN.md).
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from keras import layers

from fungiclf.layers import RandomBlur, RandomFlips, RandomTranspose
from fungiclf.validation import check_bool, check_choice, check_number

log = logging.getLogger(__name__)

FLIPS = [None, "horizontal", "vertical", "horizontal_and_vertical"]


@dataclass(frozen=True)
class Transform:
    """One augmentation: ``check(value, key)`` cleans its config value (0, false, null: off);
    ``build(value, input_shape, seed)`` makes its layer."""

    check: Callable[[Any, str], Any]
    build: Callable[[Any, tuple[int, int, int], int], layers.Layer | None]


def strength(value: Any, key: str) -> float:
    """A fraction in [0, 1]: of a full turn, of the side, of the 0-255 range, or of the images."""
    return float(check_number(value or 0.0, key, "augment", 0.0, 1.0))


def _erase(share: float, input_shape: tuple[int, int, int], seed: int) -> layers.Layer:
    # factor=(p, p): a single float would draw each batch's probability from U(0, p), so 1.0
    # erased about half the images. scale is the patch's share of the image area.
    return layers.RandomErasing(
        factor=(share, share), scale=(0.02, 0.33), fill_value=None, value_range=(0, 255), seed=seed, name="aug_erase"
    )


def _sharpness(spread: float, input_shape: tuple[int, int, int], seed: int) -> layers.Layer:
    # Keras' factor: 0 blurs (3x3 smoothing), 0.5 leaves the image as it is, 1 sharpens twice
    # as much; a tuple is drawn from image by image. spread s draws from 0.5 +- s/2.
    return layers.RandomSharpness(
        factor=(0.5 - spread / 2, 0.5 + spread / 2), value_range=(0, 255), seed=seed, name="aug_sharpness"
    )


def blur_sigma(value: Any, key: str) -> float:
    """The largest Gaussian sigma in pixels of the model's input, in [0, 16]."""
    return float(check_number(value or 0.0, key, "augment", 0.0, 16.0))


def _transpose(on: bool, input_shape: tuple[int, int, int], seed: int) -> layers.Layer | None:
    if input_shape[0] != input_shape[1]:
        log.warning("augment.transpose ignored: images are not square (%dx%d)", *input_shape[:2])
        return None
    return RandomTranspose(seed=seed, name="aug_transpose")


# In the order the layers are applied. A new transform goes last: each layer's seed comes
# from its place here, so earlier runs keep drawing the same numbers.
AUGMENTATIONS: dict[str, Transform] = {
    "flip": Transform(
        lambda v, k: check_choice(v, FLIPS, k, "augment"),
        lambda v, shape, seed: RandomFlips(v, seed=seed, name="aug_flip"),
    ),
    "transpose": Transform(lambda v, k: check_bool(bool(v) if v in (0, 1, None) else v, k, "augment"), _transpose),
    "rotation": Transform(
        strength, lambda v, shape, seed: layers.RandomRotation(v, fill_mode="reflect", seed=seed, name="aug_rotation")
    ),
    "zoom": Transform(
        strength, lambda v, shape, seed: layers.RandomZoom(v, fill_mode="reflect", seed=seed, name="aug_zoom")
    ),
    "translate": Transform(
        strength,
        lambda v, shape, seed: layers.RandomTranslation(v, v, fill_mode="reflect", seed=seed, name="aug_translate"),
    ),
    "contrast": Transform(
        strength, lambda v, shape, seed: layers.RandomContrast(v, value_range=(0, 255), seed=seed, name="aug_contrast")
    ),
    "brightness": Transform(
        strength,
        lambda v, shape, seed: layers.RandomBrightness(v, value_range=(0, 255), seed=seed, name="aug_brightness"),
    ),
    "erase": Transform(strength, _erase),
    "sharpness": Transform(strength, _sharpness),
    "blur": Transform(blur_sigma, lambda v, shape, seed: RandomBlur(v, seed=seed, name="aug_blur")),
}


def layer_seed(seed: int, index: int) -> int:
    """A seed in [0, 2**31) for augmentation layer ``index`` of a job with ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] % 2**31)


def augmentation_layers(values: dict[str, Any], input_shape: tuple[int, int, int], seed: int) -> list[layers.Layer]:
    """The layers of the transforms switched on in ``values`` (AugmentSettings.values), in
    registry order. Each layer has its own seed: layers seeded alike draw the same numbers,
    so a flip would always come with a transpose and a rotation with a zoom of the same size."""
    order = list(AUGMENTATIONS)
    built = [
        AUGMENTATIONS[name].build(value, input_shape, layer_seed(seed, order.index(name)))
        for name, value in values.items()
        if value
    ]
    return [layer for layer in built if layer is not None]
