"""Fuzzing bad input: 50 seeded, randomly corrupted image files and npz arrays, each handled
by the bad-input rules (converted, skipped and counted, or refused in one line), with no
traceback and no partial artifacts. A failure names its seed and variant, so it reproduces."""

import json
import logging

import numpy as np
import pytest

from fungiclf.train import run_job
from tests.conftest import write_image_folder, write_npz

SEED = 20261124
VARIANTS = 50
IMAGE_DAMAGE = ["truncate", "random_bytes", "header_flip", "zero_fill", "empty"]
NPZ_DAMAGE = [
    "float_range",
    "int16_negative",
    "bool",
    "nan",
    "shape_2d",
    "channels_5",
    "empty_train",
    "label_range",
    "label_float",
    "length_mismatch",
    "truncate_file",
    "random_file",
    "floats_0_1",
]


def damage_image(data: bytes, kind: str, rng: np.random.Generator) -> bytes:
    if kind == "truncate":
        return data[: int(rng.integers(1, len(data)))]
    if kind == "random_bytes":
        start = int(rng.integers(0, len(data) - 8))
        span = int(rng.integers(1, min(64, len(data) - start)))
        return data[:start] + rng.integers(0, 256, span, dtype=np.uint8).tobytes() + data[start + span :]
    if kind == "header_flip":
        head = bytearray(data[:16])
        head[int(rng.integers(0, 16))] ^= 1 << int(rng.integers(0, 8))
        return bytes(head) + data[16:]
    if kind == "zero_fill":
        return bytes(len(data))
    return b""


def damage_npz(path, kind: str, rng: np.random.Generator) -> None:
    arrays = dict(np.load(path))
    x, y = arrays["train_images"], arrays["train_labels"]
    if kind == "float_range":
        arrays["train_images"] = x.astype(np.float64) * rng.uniform(2, 10) - rng.uniform(1, 50)
    elif kind == "int16_negative":
        arrays["train_images"] = x.astype(np.int16) - int(rng.integers(1, 300))
    elif kind == "bool":
        arrays["train_images"] = x > 100
    elif kind == "nan":
        values = x.astype(np.float32) / 255
        values.flat[int(rng.integers(0, values.size))] = np.nan
        arrays["train_images"] = values
    elif kind == "shape_2d":
        arrays["train_images"] = x.reshape(len(x), -1)
    elif kind == "channels_5":
        arrays["train_images"] = np.repeat(x[..., None], 5, axis=-1)
    elif kind == "empty_train":
        arrays["train_images"], arrays["train_labels"] = x[:0], y[:0]
    elif kind == "label_range":
        labels = y.astype(np.int64)
        labels[int(rng.integers(0, len(labels)))] = int(rng.choice([7, 255, -1]))
        arrays["train_labels"] = labels
    elif kind == "label_float":
        arrays["train_labels"] = y.astype(np.float32) + 0.5
    elif kind == "length_mismatch":
        arrays["train_labels"] = y[: int(rng.integers(0, len(y)))]
    elif kind == "floats_0_1":
        for split in ("train", "val", "test"):
            arrays[f"{split}_images"] = arrays[f"{split}_images"].astype(np.float32) / 255
    if kind in ("truncate_file", "random_file"):
        data = path.read_bytes()
        path.write_bytes(
            data[: int(rng.integers(1, len(data)))]
            if kind == "truncate_file"
            else rng.integers(0, 256, len(data), dtype=np.uint8).tobytes()
        )
        return
    np.savez(path, **arrays)


def plan(seed: int) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    return [
        ("image", str(rng.choice(IMAGE_DAMAGE))) if rng.random() < 0.5 else ("npz", str(rng.choice(NPZ_DAMAGE)))
        for _ in range(VARIANTS)
    ]


@pytest.mark.slow  # fifty trainings; the single-fault cases run in test_train_contract.py
def test_fifty_corrupted_inputs_are_converted_skipped_or_refused(make_cfg, tmp_path, caplog):
    rng = np.random.default_rng(SEED)
    outcomes = {"completed": 0, "refused": 0, "skipped": 0}
    for i, (source, kind) in enumerate(plan(SEED)):
        where = tmp_path / f"v{i}"
        cache, run = where / "cache", where / "run"
        where.mkdir()
        if source == "image":
            root = write_image_folder(
                where / "data", classes=("a", "b"), per_class=8, size=16, ext=str(rng.choice([".png", ".jpg"])), seed=i
            )
            victim = sorted((root / "a").iterdir())[int(rng.integers(0, 8))]
            victim.write_bytes(damage_image(victim.read_bytes(), kind, rng))
            overrides = ["dataset=image_folder", f"dataset.path={root}"]
        else:
            path = write_npz(where / "data.npz", n=(30, 10, 10), size=12, seed=i)
            damage_npz(path, kind, rng)
            overrides = ["dataset=medmnist", f"dataset.path={path}", "preprocess.color=gray"]
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            run_job(make_cfg(*overrides, f"paths.cache_dir={cache}", "model=logreg", "preprocess.size=12"), run)
        case = f"variant {i} ({source}: {kind}, seed {SEED})"
        assert not any(record.exc_info for record in caplog.records), f"{case}: a traceback was logged"
        metrics = json.loads((run / "metrics.json").read_text())
        leftovers = [p for p in where.rglob(".*tmp*")] + [p for p in where.rglob("*.tmp-*")]
        assert not leftovers, f"{case}: partial files {leftovers}"
        if metrics["status"] == "failed":
            assert "\n" not in metrics["error"] and not metrics["error"].split(":")[0].endswith("Error"), (
                f"{case}: not a one-line refusal: {metrics['error']}"
            )
            entries = [p for p in (cache / "prepared").glob("*") if p.name != ".locks"]  # a lock file may stay
            assert not entries, f"{case}: a refused run left a cache entry"
            assert {p.name for p in run.iterdir()} == {"metrics.json", ".hydra", ".lock"}, f"{case}: partial run files"
            outcomes["refused"] += 1
        else:
            assert (run / "predictions.csv").is_file() and (run / "model.skops").is_file(), case
            used = metrics["n_train"] + metrics["n_val"] + metrics["n_test"]
            if source == "image":
                assert used + metrics["skipped_files"] == 16, f"{case}: a file neither used nor counted"
                outcomes["skipped"] += metrics["skipped_files"]
            outcomes["completed"] += 1
    assert outcomes["refused"] and outcomes["completed"]  # the plan exercises both paths
