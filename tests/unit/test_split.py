import numpy as np
import pytest

from fungiclf.data.dataset import train_subset
from fungiclf.data.split import assign_splits, check_no_group_leak, kfold_indices
from tests.conftest import SHARED_DATA

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
    for cls, photos in enumerate((120, 60, 25, 25, 22)):  # DeFungi-like imbalance
        for p in range(photos):
            k = int(rng.integers(1, 12))  # patches per photograph vary
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


def defungi_like_folder(root, seed: int = 0):
    """Empty files named like DeFungi: H<k>_<slide><field>_<patch>.jpg, DeFungi's class imbalance."""
    rng = np.random.default_rng(seed)
    for cls, photos in (("H1", 180), ("H2", 95), ("H3", 34), ("H5", 33), ("H6", 30)):
        (root / cls).mkdir(parents=True)
        for p in range(photos):
            slide, field = 100 + p // 2, "ab"[p % 2]  # two fields per slide
            for patch in range(int(rng.integers(1, 20))):
                (root / cls / f"{cls}_{slide}{field}_{patch + 1}.jpg").touch()
    return root


def split_of(make_cfg, root, *overrides):
    from fungiclf.data.dataset import load_samples
    from fungiclf.settings.resolve import resolve

    settings = resolve(make_cfg("dataset=defungi", f"dataset.path={root}", *overrides))
    samples = load_samples(settings.dataset, settings.paths.cache_dir)
    return samples, assign_splits(samples.labels, samples.groups, settings.dataset.split, settings.seed)


def assert_grouped_and_stratified(labels, groups, split, tolerance=0.05):
    per_group = {}
    for g, s in zip(groups, split):
        assert per_group.setdefault(g, s) == s, f"group {g} crosses splits"
    for name in FRACTIONS:
        share = np.bincount(labels[split == name], minlength=labels.max() + 1) / (split == name).sum()
        assert np.abs(share - np.bincount(labels) / len(labels)).max() <= tolerance, name


@pytest.mark.parametrize("group_by, n_groups", [("photograph", 372), ("slide", 187)])
def test_defungi_presets_group_by_photograph_or_slide(make_cfg, tmp_path, group_by, n_groups):
    root = defungi_like_folder(tmp_path / "defungi")
    samples, split = split_of(make_cfg, root, f"dataset.group_by={group_by}")
    assert len(set(samples.groups)) == n_groups
    assert (
        samples.groups[list(samples.ids).index("H1/H1_100a_1.jpg")]
        == {"photograph": "H1_100a", "slide": "H1_100"}[group_by]
    )
    assert_grouped_and_stratified(samples.labels, samples.groups, split)


@pytest.mark.skipif(not (SHARED_DATA / "defungi").is_dir(), reason="real DeFungi not present")
@pytest.mark.parametrize("group_by, n_groups", [("photograph", 877), ("slide", 447)])
def test_real_defungi_split_keeps_photographs_together(make_cfg, group_by, n_groups):
    samples, split = split_of(make_cfg, SHARED_DATA / "defungi", f"dataset.group_by={group_by}")
    assert len(samples) == 9114 and len(set(samples.groups)) == n_groups
    assert_grouped_and_stratified(samples.labels, samples.groups, split)


def test_train_subset_is_grouped_stratified_and_keeps_every_class():
    labels = np.repeat([0, 1, 2], [300, 100, 4])
    groups = np.array([f"{c}_{i // 4}" for c, i in zip(labels, range(len(labels)))])
    rows = np.arange(len(labels))
    keep = train_subset(labels, groups, rows, 0.2, seed=0)
    assert abs(keep[labels == 0].mean() - 0.2) < 0.03 and abs(keep[labels == 1].mean() - 0.2) < 0.05
    assert keep[labels == 2].any()  # one group of 4: kept, not dropped
    for g in np.unique(groups):
        assert len(set(keep[groups == g])) == 1
