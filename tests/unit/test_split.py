import numpy as np
import pytest

from fungiclf.data.split import assign_splits, check_no_group_leak, kfold_indices

FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


def test_stratified_proportions_per_class():
    labels = np.repeat([0, 1, 2], [500, 300, 200])
    split = assign_splits(labels, np.arange(len(labels)).astype(str), FRACTIONS, seed=1)
    for cls, count in zip(range(3), (500, 300, 200)):
        for name, frac in FRACTIONS.items():
            share = np.sum((labels == cls) & (split == name)) / count
            assert abs(share - frac) <= 0.01


def test_groups_never_cross_splits_and_classes_stay_balanced():
    rng = np.random.default_rng(0)
    labels, groups = [], []
    for cls, photos in enumerate((120, 60, 25, 25, 22)):   # DeFungi-like imbalance
        for p in range(photos):
            k = int(rng.integers(1, 12))                      # patches per photograph vary
            labels += [cls] * k
            groups += [f"H{cls}_{p}"] * k
    labels, groups = np.array(labels), np.array(groups)
    split = assign_splits(labels, groups, FRACTIONS, seed=3)
    check_no_group_leak(split, groups)
    for g in np.unique(groups):
        assert len(set(split[groups == g])) == 1
    for name, frac in FRACTIONS.items():
        whole = np.bincount(labels) / len(labels)
        part = np.bincount(labels[split == name], minlength=5) / np.sum(split == name)
        assert np.all(np.abs(part - whole) <= 0.05)


def test_split_is_seeded():
    labels = np.repeat([0, 1], 50)
    ids = np.arange(100).astype(str)
    assert (assign_splits(labels, ids, FRACTIONS, 7) == assign_splits(labels, ids, FRACTIONS, 7)).all()
    assert (assign_splits(labels, ids, FRACTIONS, 7) != assign_splits(labels, ids, FRACTIONS, 8)).any()


def test_given_split_is_kept_and_val_is_carved_from_train_only():
    labels = np.repeat([0, 1], 50)
    given = np.array([""] * 80 + ["test"] * 20, dtype=object)
    split = assign_splits(labels, np.arange(100).astype(str), FRACTIONS, 0, given)
    assert (split[80:] == "test").all()
    assert set(split[:80]) == {"train", "val"}
    # val : train = 0.2 : 0.6 within each class (50 and 30 items: 12.5 and 7.5, rounded)
    assert abs(np.sum(split[:80] == "val") - 20) <= 1


def test_leak_guard_detects_a_crossing_group():
    with pytest.raises(ValueError, match="g1"):
        check_no_group_leak(np.array(["train", "test"]), np.array(["g1", "g1"]))


def test_kfold_is_grouped_and_covers_everything():
    labels = np.repeat([0, 1], 30)
    groups = np.array([f"g{i // 3}" for i in range(60)])
    folds = kfold_indices(labels, groups, 3, seed=0)
    held = np.concatenate([h for _, h in folds])
    assert sorted(held) == list(range(60))
    for fit, hold in folds:
        assert not set(groups[fit]) & set(groups[hold])
