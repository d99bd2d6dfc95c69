"""Shared fixtures: compose the real config (shrunk), tiny datasets written by the tests."""

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One cache for the session, so the synthetic set is generated once."""
    path = tmp_path_factory.mktemp("cache")
    os.environ["FUNGICLF_CACHE"] = str(path)
    return path


@pytest.fixture
def make_cfg(cache_dir):
    """compose(train.yaml, overrides) with the test cache; quiet Keras output."""

    def _make(*overrides: str):
        GlobalHydra.instance().clear()
        with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
            return compose("train", overrides=[f"paths.cache_dir={cache_dir}", "trainer.verbose=0", *overrides])

    yield _make
    GlobalHydra.instance().clear()


def write_image_folder(
    root: Path,
    classes=("a", "b", "c"),
    per_class: int = 12,
    size: int = 24,
    ext: str = ".png",
    seed: int = 0,
    photos: int = 0,
) -> Path:
    """Class folders of simple, learnable images: class k draws k+1 bright bars.

    With ``photos`` > 0 files are named <class>_<photo>_<patch><ext> (groupable).
    """
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            for bar in range(k + 1):
                x = 2 + bar * (size // (len(classes) + 1))
                img[:, x : x + 2] = 255
            stem = f"{name}_{i // photos:03d}_{i % photos}" if photos else f"{name}_{i:03d}"
            cv2.imwrite(str(root / name / f"{stem}{ext}"), img)
    return root


def write_chest_xrays(root: Path, per_class: dict[str, int], ext: str = ".jpeg") -> Path:
    """root/{train,test}/{NORMAL,PNEUMONIA}/ with Kermany's file names (IM-0001-0001,
    person1_bacteria_1), which dataset=chest_xray groups by patient: one image a patient."""
    for part, n in per_class.items():
        write_image_folder(root / part, classes=("NORMAL", "PNEUMONIA"), per_class=n, ext=ext)
    for i, file in enumerate(sorted(root.rglob(f"*{ext}"))):
        file.rename(
            file.with_name(f"IM-{i:04d}-0001{ext}" if file.parent.name == "NORMAL" else f"person{i}_bacteria_{i}{ext}")
        )
    return root


def write_npz(
    path: Path,
    n: tuple[int, int, int] = (40, 12, 12),
    size: int = 28,
    rgb: bool = False,
    classes: int = 2,
    seed: int = 0,
) -> Path:
    """A MedMNIST-style npz with learnable classes (class k: brighter by 90*k)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n):
        labels = np.arange(count) % classes
        shape = (count, size, size, 3) if rgb else (count, size, size)
        images = rng.integers(0, 80, shape).astype(np.int64)
        images += (90 * labels).reshape((-1,) + (1,) * (len(shape) - 1))
        arrays[f"{split}_images"] = np.clip(images, 0, 255).astype(np.uint8)
        arrays[f"{split}_labels"] = labels.reshape(-1, 1).astype(np.uint8)
    np.savez(path, **arrays)
    return path


@pytest.fixture
def image_folder(tmp_path) -> Path:
    return write_image_folder(tmp_path / "images")


def dataset_of(cfg):
    """The decoded Dataset a run of ``cfg`` trains on (resolve, list, decode)."""
    from fungiclf.data.dataset import list_items, load_pixels
    from fungiclf.settings.resolve import resolve

    settings = resolve(cfg)
    listing = list_items(settings.dataset, settings.seed, settings.paths.cache_dir)
    return load_pixels(listing, settings.preprocess, settings.filters, settings.seed, settings.paths.cache_dir)


def model_settings(name: str, **overrides):
    """ModelSettings of conf/model/<name>.yaml (weights=null: no downloads), with overrides."""
    from fungiclf.settings.resolve import resolve_model

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        group = compose("train", overrides=[f"model={name}"]).model
    GlobalHydra.instance().clear()
    from omegaconf import OmegaConf

    content = OmegaConf.to_container(group, resolve=True)
    if "weights" in content:
        content["weights"] = None
    content.update(overrides)
    return resolve_model(content)
