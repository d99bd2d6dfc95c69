"""Grad-CAM heat maps laid over the images a run got wrong, for the report's gallery
(``fungiclf-report --html --gradcam``): where in each image the model saw the class it
wrongly predicted."""

from pathlib import Path

import cv2
import numpy as np

from fungiclf.errors import FungiclfError
from fungiclf.inference.gradcam import cam_model, grad_cam
from fungiclf.inference.images import load_inputs
from fungiclf.inference.run import load_run

HEAT_WEIGHT = 0.45  # the heat map's share of each blended pixel


def overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """``heat`` ((h, w) in [0, 1]) in the jet colour map blended over ``image`` ((H, W) or
    (H, W, 3) uint8 RGB); (H, W, 3) uint8 RGB."""
    rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 or image.shape[2] == 1 else image
    heat = cv2.resize(heat.astype(np.float32), (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    colours = cv2.cvtColor(cv2.applyColorMap(np.uint8(np.clip(heat, 0, 1) * 255), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(rgb.reshape(colours.shape), 1 - HEAT_WEIGHT, colours, HEAT_WEIGHT, 0)


def error_overlays(run: Path, files: list[Path | None], predicted: list[str]) -> list[np.ndarray | None]:
    """Grad-CAM of each file's ``predicted`` class over the file's pixels as the run saw them
    (its own preprocessing, cropped to the input's aspect); None where there is no file.

    Raises FungiclfError for a run whose model has no convolutions (or no Keras model).
    """
    loaded = load_run(run)
    if loaded.model is None:
        raise FungiclfError(f"{run} holds a scikit-learn model: Grad-CAM needs a Keras network with convolutions")
    cam = cam_model(loaded.model)
    present = [(i, file) for i, file in enumerate(files) if file is not None]
    result: list[np.ndarray | None] = [None] * len(files)
    if not present:
        return result
    images, _ = load_inputs([str(file) for _, file in present], loaded.pixels, keep_originals=True)
    read = {path.resolve(): k for k, path in enumerate(images.paths)}
    classes = np.array([loaded.classes.index(predicted[i]) for i, _ in present])
    order = [read.get(file.resolve()) for _, file in present]
    kept = [(slot, k) for slot, k in enumerate(order) if k is not None]
    if not kept:
        return result
    heat = grad_cam(cam, images.pixels[[k for _, k in kept]], classes[[slot for slot, _ in kept]])
    for (slot, k), heat_map in zip(kept, heat):
        result[present[slot][0]] = overlay(images.originals[k], heat_map)
    return result
