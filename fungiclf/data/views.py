"""The eight dihedral views of an image batch (flips and 90-degree rotations), for
test-time augmentation. Pixels are moved, never interpolated."""

import numpy as np

# Named sets of views: view v is a rotation by (v % 4) quarter turns, then a left-right
# flip when v >= 4. Odd rotations swap height and width, so non-square images get the
# even views only (identity, the two flips, a half turn).
TTA_VIEWS: dict[str, tuple[int, ...]] = {
    "none": (0,),
    "hflip": (0, 4),                 # left-right mirror only (X-rays: anatomy has an up)
    "flips": (0, 2, 4, 6),           # both mirrors and the half turn
    "dihedral": tuple(range(8)),     # all eight: natural for micrographs
}


def dihedral(images: np.ndarray, view: int) -> np.ndarray:
    """View ``view`` (0-7) of a (N, H, W, C) batch; view 0 is the batch itself."""
    out = np.rot90(images, view % 4, axes=(1, 2)) if view % 4 else images
    return out[:, :, ::-1] if view >= 4 else out


def usable_views(name: str, height: int, width: int) -> tuple[int, ...]:
    """The views of TTA_VIEWS[name] that keep the image shape (all of them for square images)."""
    views = TTA_VIEWS[name]
    return views if height == width else tuple(v for v in views if v % 2 == 0)
