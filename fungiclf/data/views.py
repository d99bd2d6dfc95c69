"""The eight dihedral views of an image batch (flips and 90-degree rotations), for
test-time augmentation. Pixels are moved, never interpolated."""

import numpy as np

# Named sets of views: view v is a rotation by (v % 4) quarter turns, then a left-right
# flip when v >= 4. Odd rotations swap height and width, so non-square images get the
# even views only (identity, the two flips, a half turn).
TTA_VIEWS: dict[str, tuple[int, ...]] = {
    "none": (0,),
    "hflip": (0, 4),  # left-right mirror only (X-rays: anatomy has an up)
    "flips": (0, 2, 4, 6),  # both mirrors and the half turn
    "dihedral": tuple(range(8)),  # all eight: natural for micrographs
}


def dihedral(images: np.ndarray, view: int) -> np.ndarray:
    """View ``view`` (0-7) of a (N, H, W, C) batch; view 0 is the batch itself."""
    out = np.rot90(images, view % 4, axes=(1, 2)) if view % 4 else images
    return out[:, :, ::-1] if view >= 4 else out


def usable_views(name: str, height: int, width: int) -> tuple[int, ...]:
    """The views of TTA_VIEWS[name] that keep the image shape (all of them for square images)."""
    views = TTA_VIEWS[name]
    return views if height == width else tuple(v for v in views if v % 2 == 0)


def trained_views(flip: str | None, transpose: bool, height: int, width: int) -> set[int]:
    """The views (0-7, as dihedral()) that augment.flip (horizontal, vertical,
    horizontal_and_vertical or None) and augment.transpose (square images only) show the
    model in training: the random flip, then the random transpose, of each image."""
    probe = np.arange(9).reshape(1, 3, 3, 1)
    flips = {None: [], "horizontal": [(2,)], "vertical": [(1,)], "horizontal_and_vertical": [(2,), (1,), (1, 2)]}
    flipped = [probe] + [np.flip(probe, axes) for axes in flips.get(flip or None, [])]
    shown = flipped + ([np.swapaxes(f, 1, 2) for f in flipped] if transpose and height == width else [])
    return {view for view in range(8) if any(np.array_equal(dihedral(probe, view), s) for s in shown)}


def views_warning(settings, size: tuple[int, int]) -> dict | None:
    """unseen_views_warning() of a job's Settings at its input ``size`` (height, width)."""
    augment = settings.augment.values
    return unseen_views_warning(settings.trainer.tta, augment.get("flip"), bool(augment.get("transpose")), *size)


def unseen_views_warning(tta: str, flip: str | None, transpose: bool, height: int, width: int) -> dict | None:
    """A metrics.json "warnings" entry when trainer.tta averages over views that a geometric
    augmentation left out on purpose (a chest X-ray preset's horizontal-only flips with
    trainer.tta=dihedral: upside-down lungs at test time). None without flips or transpose:
    test-time views of an unaugmented model are the user's own choice."""
    if not flip and not transpose:
        return None
    views = usable_views(tta, height, width)
    unseen = [v for v in views if v not in trained_views(flip, transpose, height, width)]
    if not unseen:
        return None
    return {
        "kind": "tta",
        "message": f"trainer.tta={tta} averages over {len(unseen)} of its {len(views)} views that "
        f"augmentation never showed the model (augment.flip={flip}, augment.transpose={bool(transpose)}); for "
        f"images with an up and a left (X-rays) use trainer.tta=hflip or none, or augment those views too",
    }
