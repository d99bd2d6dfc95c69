"""How a refit after cross-validation is set up: its data and its epochs."""

import numpy as np
import pandas as pd
import pytest

from fungiclf.data.dataset import Dataset
from fungiclf.errors import ConfigError
from fungiclf.settings.resolve import resolve_cv
from fungiclf.training.cv import refit_dataset, refit_epochs
from fungiclf.training.fit import epochs_to_best_per_phase


def fold(*epochs_to_best: int) -> dict:
    return {"epochs_to_best": list(epochs_to_best)}


def test_refit_epochs_are_the_median_per_phase():
    assert refit_epochs({"per_fold": [fold(3), fold(8), fold(5)]}) == [5]
    # fine-tuning: a fold whose best epoch came in phase 1 ran no phase-2 epochs up to it
    assert refit_epochs({"per_fold": [fold(4, 2), fold(6), fold(5, 3)]}) == [5, 2]
    # phase 1 always runs: a fold can only reach phase 2 through it
    assert refit_epochs({"per_fold": [fold(0, 3), fold(0, 1), fold(2, 2)]}) == [1, 2]
    assert refit_epochs({"per_fold": [fold(), fold()]}) is None  # scikit-learn: no epochs


def test_refit_dataset_folds_val_into_train_and_keeps_test():
    split = np.array(["train", "val", "test", "val", "train", "test"])
    data = Dataset(
        images=np.zeros((6, 2, 2, 1), np.uint8),
        labels=np.array([0, 1, 0, 1, 0, 1]),
        ids=[f"f{i}" for i in range(6)],
        groups=np.arange(6).astype(str),
        split=split,
        class_names=["a", "b"],
        skipped=[],
        fingerprint="test",
        grouped=False,
    )
    refit = refit_dataset(data)
    assert list(refit.index("train")) == [0, 1, 3, 4] and list(refit.index("test")) == [2, 5]
    assert len(refit.index("val")) == 0 and list(data.split) == list(split)  # the original is untouched


@pytest.mark.parametrize(
    "cv, message",
    [
        ({"folds": 0, "refit": True}, "needs cv.folds"),
        ({"folds": 3, "refit": "yes"}, "'refit' parameter of cv must be true or false"),
        ({"folds": 1, "refit": False}, "must be 0 \\(off\\) or an int >= 2"),
        ({"folds": "three", "refit": False}, "'folds' parameter of cv"),
    ],
)
def test_bad_refit_settings_are_one_line_errors(cv, message):
    with pytest.raises(ConfigError, match=message):
        resolve_cv(cv)
    assert resolve_cv({"folds": 3, "refit": True}).refit


def testepochs_to_best_per_phase_retrace_the_path_to_the_best_checkpoint():
    # phase 1 peaks at its epoch 2 and stops at 4; fine-tuning starts from that checkpoint
    # and peaks at its epoch 3: a refit runs 2 + 3 epochs
    history = pd.DataFrame(
        {"val_accuracy": [0.5, 0.7, 0.6, 0.65, 0.72, 0.74, 0.8, 0.75], "phase": [1, 1, 1, 1, 2, 2, 2, 2]}
    )
    assert epochs_to_best_per_phase(history, "val_accuracy") == [2, 3]
    # fine-tuning never beats phase 1: the refit has nothing to fine-tune
    history["val_accuracy"] = [0.5, 0.9, 0.6, 0.65, 0.72, 0.74, 0.8, 0.75]
    assert epochs_to_best_per_phase(history, "val_accuracy") == [2, 0]
    assert epochs_to_best_per_phase(history.assign(val_loss=[3, 2, 1, 2, 2, 2, 2, 2]), "val_loss") == [3, 0]
