"""model.weights=RUN: a Keras model starts from the weights of a completed run of the same
model (fine-tuning it on new data or new classes), never from one that saw this run's test images."""

import logging
import os
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from fungiclf.data.dataset import Dataset
from fungiclf.data.remote import is_url
from fungiclf.errors import ConfigError, DataError
from fungiclf.models import network_of
from fungiclf.models.blocks import CLASSIFIER
from fungiclf.runs import KERAS_MODEL, SPLIT, load_keras_model, read_config

log = logging.getLogger(__name__)


def weighted_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of ``model`` that hold weights, nested models (a backbone) opened, in build order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += weighted_layers(layer)
        elif layer.weights:
            found.append(layer)
    return found


def warm_start(model: keras.Model, run: str) -> str:
    """Copy the weights of ``run``'s model.keras into ``model`` (build_model's, for the same
    model name), layer by layer in build order; augmentation layers are not compared.

    Every layer must match in kind and weight shapes, except the classifier, which starts
    fresh when the number of classes differs (a new task). Returns the log line.

    Raises:
        ConfigError: another layer does not fit (another width, depth, colour, or an input
            size that a Dense layer depends on).
    """
    source = load_keras_model(Path(run) / KERAS_MODEL)
    targets, origins = weighted_layers(network_of(model)), weighted_layers(network_of(source))
    if len(targets) != len(origins):
        raise ConfigError(
            f"model.weights={run}: its model has {len(origins)} layers with weights, this one "
            f"{len(targets)}: another depth or architecture"
        )
    fresh = []
    for target, origin in zip(targets, origins):
        shapes = [tuple(w.shape) for w in target.weights], [tuple(w.shape) for w in origin.weights]
        if type(target) is type(origin) and shapes[0] == shapes[1]:
            target.set_weights(origin.get_weights())
        elif target.name == CLASSIFIER and origin.name == CLASSIFIER:
            fresh.append(target.name)
        else:
            raise ConfigError(
                f"model.weights={run}: layer {target.name!r} does not fit: weights {shapes[0]} here, "
                f"{shapes[1]} in the run (another width, colour or input size?)"
            )
    kept = "" if not fresh else "; the classifier starts fresh (another number of classes)"
    return f"Started from {run}: {len(targets) - len(fresh)} of {len(targets)} layers with weights{kept}"


def data_source(path: str | None, synthetic: dict | None) -> tuple:
    """What a dataset reads: its path with symbolic links resolved (the same folder reached
    through a link is the same data), or the synthetic generator's settings."""
    if not path:
        return ("synthetic", synthetic)
    return ("path", path if is_url(path) else os.path.realpath(Path(path).expanduser()))


def check_unseen_test(run: str, dataset, data: Dataset) -> None:
    """Refuse a start from a run of the same data whose train or val split held images (or
    groups: patches of one photograph) that are in this run's test split, as a run with
    another seed or split has: its test metrics would be inflated.

    ``dataset`` is this job's DatasetSettings. On the same data (the same path, or the same
    synthetic set, as in the run's config_resolved.yaml, whatever the dataset preset) ids and
    groups are compared; on any data, the file bytes (split.csv's file_digest), so that a
    copy of the images under another path is recognised too. A test image whose bytes this
    run's own train or val split also holds is not counted: the run sees it anyway.
    """
    folder = Path(run)
    theirs = read_config(folder).get("dataset") or {}
    same_source = data_source(theirs.get("path"), theirs.get("synthetic")) == data_source(
        dataset.path, dict(dataset.synthetic) if dataset.synthetic else None
    )
    try:
        seen = pd.read_csv(folder / SPLIT, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise DataError(
            f"model.weights={run}: its split.csv cannot be read ({type(exc).__name__}), so whether "
            f"it trained on this run's test images is unknown"
        ) from None
    learned = seen[seen["split"].isin(["train", "val"]) & (seen["excluded"] == "")]
    test = data.split == "test"
    seen_before = np.zeros(int(test.sum()), bool)
    if same_source:
        seen_before |= pd.Series(data.ids)[test].isin(set(learned["id"])).to_numpy()
        if data.grouped:
            seen_before |= pd.Series(data.groups[test].astype(str)).isin(set(learned["group"])).to_numpy()
    if "file_digest" in learned and data.file_digests is not None:
        own = set(data.file_digests[np.isin(data.split, ["train", "val"])])
        seen_before |= pd.Series(data.file_digests[test]).isin(set(learned["file_digest"]) - own).to_numpy()
    if seen_before.any():
        example = pd.Series(data.ids)[test][seen_before].iloc[0]
        raise DataError(
            f"model.weights={run} trained or selected on {int(seen_before.sum())} of this run's "
            f"{int(test.sum())} test images, or on their groups' other images (e.g. {example}): it is "
            f"a run with another seed or split of the same images; start from one with this run's seed "
            f"and split"
        )
