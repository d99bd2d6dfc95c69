"""Defaults that read the data: ``auto`` colour and size, a known MedMNIST set's names and
positive class. Decided in resolve, before any work, each as a Choice with its evidence.
"""

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fungiclf.data.dataset import check_exists, load_samples
from fungiclf.data.medmnist_info import POSITIVE_CLASS, medmnist_info
from fungiclf.data.modality import MEDMNIST_MODALITY
from fungiclf.data.survey import Survey, survey_files, survey_npz
from fungiclf.errors import DataError
from fungiclf.settings import Choice, DatasetSettings, ModelSettings
from fungiclf.models import min_input_size

AUTO = "auto"
AUTO_MAX_SIZE = 64  # pixels: auto never upscales, and stays small enough for 2 CPU cores
GENERIC_NPZ = "medmnist"  # the preset for any MedMNIST-style npz: its name says nothing of the data


@contextmanager
def quiet_data_log() -> Iterator[None]:
    """Errors only from fungiclf.data: a listing's warnings print once, when the job lists the items."""
    data_log = logging.getLogger("fungiclf.data")
    level = data_log.level
    data_log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        data_log.setLevel(level)


def survey(dataset: DatasetSettings, cache_dir: str) -> Survey:
    """What the data's headers say (DataError when the data cannot be listed)."""
    if dataset.source == "npz":
        return survey_npz(check_exists(dataset, cache_dir))
    with quiet_data_log():
        return survey_files(load_samples(dataset, cache_dir).paths or [])


def data_defaults(
    dataset: DatasetSettings, preprocess: dict, model: ModelSettings, cache_dir: str
) -> tuple[DatasetSettings, dict, tuple[Choice, ...]]:
    """Replace ``auto`` in preprocess.color / size by the data's, and, for an npz that is a
    known MedMNIST set, fill in its class names, positive class and name.

    Returns the dataset settings, the preprocess group with concrete values, and the
    choices made (a kept gray setting over colour data among them, as a warning).
    """
    color, size = preprocess.get("color"), preprocess.get("size")
    wanted = (
        AUTO in (color, size)
        or color == "gray"
        or (dataset.source == "npz" and dataset.name == GENERIC_NPZ)
        or (dataset.source == "npz" and None in (dataset.class_names, dataset.positive_class, dataset.modality))
    )
    if dataset.source == "synthetic" or not wanted:
        return dataset, preprocess, ()
    try:
        found = survey(dataset, cache_dir)
    except DataError:
        if AUTO in (color, size):
            raise
        return dataset, preprocess, ()  # listing the items says what is wrong, with its own message
    choices: list[Choice] = []
    preprocess = dict(preprocess)
    if color == AUTO:
        preprocess["color"] = "rgb" if found.colour in (True, None) else "gray"
        choices.append(
            Choice(
                "preprocess.color",
                preprocess["color"],
                "the data",
                found.colour_why or "no sampled file could be read; rgb keeps whatever colour there is",
            )
        )
    elif color == "gray" and found.colour:
        choices.append(
            Choice(
                "preprocess.color",
                "gray",
                "the config",
                f"drops the colour of the images ({found.colour_why}); preprocess.color=auto keeps it",
                warning=True,
            )
        )
    if size == AUTO:
        preprocess["size"], why = auto_size(found, model, preprocess["color"])
        choices.append(Choice("preprocess.size", preprocess["size"], "the data", why))
    if dataset.source == "npz":
        dataset, known = known_set_defaults(dataset, found)
        choices += known
    return dataset, preprocess, tuple(choices)


def auto_size(found: Survey, model: ModelSettings, color: str) -> tuple[int, str]:
    """A square side: the images' smaller side, at most AUTO_MAX_SIZE, at least what the
    model accepts (the only case that upscales); with the reason."""
    if found.size is None:
        return AUTO_MAX_SIZE, f"no image size could be read; {AUTO_MAX_SIZE} px"
    side = min(min(found.size), AUTO_MAX_SIZE)
    why = f"{found.size_why}; auto takes the smaller side, at most {AUTO_MAX_SIZE} px (set preprocess.size for more)"
    floor = min_input_size(model, 1 if color == "gray" else 3) if model.kind == "keras" else 1
    if side < floor:
        return floor, f"{found.size_why}; upscaled to {floor} px, the smallest input model {model.name!r} accepts"
    return side, why


def known_set_defaults(dataset: DatasetSettings, found: Survey) -> tuple[DatasetSettings, list[Choice]]:
    """An npz's name (the MedMNIST set, else the file's stem, for the generic preset), and a
    known set's label names, positive class and modality where the config leaves them unset."""
    choices, changes = [], {}
    if dataset.name == GENERIC_NPZ:
        changes["name"] = found.known_set or Path(dataset.path).stem
        choices.append(
            Choice(
                "dataset.name",
                changes["name"],
                "the data",
                f"the MedMNIST set, recognised by {found.known_why}" if found.known_set else "the file's name",
            )
        )
    if found.known_set is not None:
        source = f"the MedMNIST set {found.known_set}"
        labels = medmnist_info()[found.known_set]["label"]
        if dataset.class_names is None:
            changes["class_names"] = tuple(labels[str(i)] for i in range(len(labels)))
            choices.append(
                Choice("dataset.class_names", list(changes["class_names"]), source, f"recognised by {found.known_why}")
            )
        names = changes.get("class_names", dataset.class_names)
        positive = POSITIVE_CLASS.get(found.known_set)
        if dataset.positive_class is None and positive is not None and positive in (names or ()):
            changes["positive_class"] = positive
            choices.append(Choice("dataset.positive_class", positive, source, "the finding the set screens for"))
        if dataset.modality is None and found.known_set in MEDMNIST_MODALITY:
            changes["modality"] = MEDMNIST_MODALITY[found.known_set]
            choices.append(Choice("dataset.modality", changes["modality"], source, "MedMNIST v2's table of modalities"))
    return dataclasses.replace(dataset, **changes), choices
