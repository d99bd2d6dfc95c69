"""What kind of images a dataset holds, and what that says about their orientation.

A micrograph or a histology patch looks the same turned or mirrored: all eight right-angle
views (flips and transposes) are fair augmentations and test-time views. An X-ray, an
ultrasound scan or a fundus photograph has an up and a left: a vertical flip or a transpose
makes an image no scanner takes, so only horizontal flips are fair.
"""

ORIENTATION_FREE = ("micrograph", "histology", "cytology", "dermatoscopy")
ORIENTED = ("xray", "ultrasound", "fundus", "ct", "mri", "oct", "photo")
MODALITIES = (*ORIENTATION_FREE, *ORIENTED)

# The 2D MedMNIST sets' modalities (MedMNIST v2, Yang et al. 2023, Table 1).
MEDMNIST_MODALITY = {
    "pathmnist": "histology",
    "chestmnist": "xray",
    "dermamnist": "dermatoscopy",
    "octmnist": "oct",
    "pneumoniamnist": "xray",
    "retinamnist": "fundus",
    "breastmnist": "ultrasound",
    "bloodmnist": "cytology",
    "tissuemnist": "micrograph",
    "organamnist": "ct",
    "organcmnist": "ct",
    "organsmnist": "ct",
}


def orientation_free(modality: str | None) -> bool:
    """True when every flip and transpose of an image is an image of the same kind; False for
    oriented modalities and for an unknown one (the safe side: horizontal flips only)."""
    return modality in ORIENTATION_FREE


def flips_for(modality: str | None) -> tuple[str, bool]:
    """(augment.flip, augment.transpose) that keep images plausible for ``modality``."""
    return ("horizontal_and_vertical", True) if orientation_free(modality) else ("horizontal", False)


def unnatural_views(modality: str | None, flip: str | None, transpose: bool) -> str | None:
    """What an augmentation does that images of an oriented ``modality`` never show, or None."""
    if modality is None or orientation_free(modality):
        return None
    wrong = [
        what
        for what, on in (
            ("vertical flips", flip in ("vertical", "horizontal_and_vertical")),
            ("transposes", bool(transpose)),
        )
        if on
    ]
    return " and ".join(wrong) or None
