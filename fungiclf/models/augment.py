"""Augmentation as Keras preprocessing layers at the front of the model (training only).

Cheap on every backend: flips, a random transpose (with flips: all eight 90-degree views),
contrast, brightness. Affine warps (rotation, zoom, translation) are opt-in: on JAX a
RandomRotation made a training step about 400x slower (DESIGN.md).
"""

import logging

from keras import layers

from fungiclf.layers import RandomTranspose

log = logging.getLogger(__name__)


def augmentation_layers(cfg: dict, input_shape: tuple[int, int, int], seed: int) -> list[layers.Layer]:
    """The layers a config asks for, in a fixed order. Strengths are fractions (Keras' factors).

    Keys: flip ("horizontal", "vertical", "horizontal_and_vertical" or null), transpose
    (bool), contrast, brightness, rotation (fraction of a full turn), zoom, translate
    (fraction of the side); 0 or null disables one.
    """
    out: list[layers.Layer] = []
    if cfg.get("flip"):
        out.append(layers.RandomFlip(cfg["flip"], seed=seed, name="aug_flip"))
    if cfg.get("transpose"):
        if input_shape[0] == input_shape[1]:
            out.append(RandomTranspose(seed=seed, name="aug_transpose"))
        else:
            log.warning("augment.transpose ignored: images are not square (%dx%d)", *input_shape[:2])
    if cfg.get("rotation"):
        out.append(layers.RandomRotation(cfg["rotation"], fill_mode="reflect", seed=seed, name="aug_rotation"))
    if cfg.get("zoom"):
        out.append(layers.RandomZoom(cfg["zoom"], fill_mode="reflect", seed=seed, name="aug_zoom"))
    if cfg.get("translate"):
        t = cfg["translate"]
        out.append(layers.RandomTranslation(t, t, fill_mode="reflect", seed=seed, name="aug_translate"))
    if cfg.get("contrast"):
        out.append(layers.RandomContrast(cfg["contrast"], value_range=(0, 255), seed=seed, name="aug_contrast"))
    if cfg.get("brightness"):
        out.append(layers.RandomBrightness(cfg["brightness"], value_range=(0, 255), seed=seed, name="aug_brightness"))
    return out
