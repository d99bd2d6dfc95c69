"""A built-in, deterministic dataset of microscopy-like images in five classes.

Each "photograph" shares one stain colour, background and focus; it is cut into a few
patches (files ``<class>_<photo>_<patch>.png``), as DeFungi is, so grouped splits matter.
Stain colour, ink amount, blur, noise, brightness and position are drawn independently of
the class, so colour statistics alone do not separate the classes; shape does.
"""

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from fungiclf.errors import DataError
from fungiclf.scratch import scratch_path

log = logging.getLogger(__name__)

GENERATOR_VERSION = 3
SCALE = 2  # draw at twice the size, then downsample: anti-aliased strokes


def _point(rng: np.random.Generator, size: int, margin: float = 0.25) -> np.ndarray:
    return rng.uniform(margin * size, (1 - margin) * size, 2)


def _polyline(rng: np.random.Generator, start: np.ndarray, steps: int, step: float, wiggle: float) -> np.ndarray:
    """A random walk with smoothly turning heading; (steps + 1, 2) float points."""
    angle = rng.uniform(0, 2 * np.pi)
    points = [start]
    for _ in range(steps):
        angle += rng.normal(0, wiggle)
        points.append(points[-1] + step * np.array([np.cos(angle), np.sin(angle)]))
    return np.array(points)


def _stroke(canvas: np.ndarray, pts: np.ndarray, width: int) -> None:
    cv2.polylines(canvas, [np.round(pts * 16).astype(np.int32)], False, 255, width, cv2.LINE_AA, shift=4)


def draw_branching_hyphae(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """Thin curving filaments that fork."""
    size = canvas.shape[0]
    for _ in range(rng.integers(1, 3)):
        trunk = _polyline(rng, _point(rng, size), int(rng.integers(8, 14)), size / 14, 0.25)
        _stroke(canvas, trunk, 3)
        for _ in range(rng.integers(3, 5)):
            start = trunk[rng.integers(2, len(trunk) - 1)]
            _stroke(canvas, _polyline(rng, start, int(rng.integers(3, 7)), size / 14, 0.35), 2)


def draw_septate_hyphae(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """Thicker, straighter filaments crossed by regular walls (septa)."""
    size = canvas.shape[0]
    for _ in range(rng.integers(1, 3)):
        pts = _polyline(rng, _point(rng, size), int(rng.integers(4, 7)), size / 8, 0.08)
        width = int(rng.integers(9, 12))
        _stroke(canvas, pts, width)
        for a, b in zip(pts[:-1], pts[1:]):
            d = b - a
            normal = np.array([-d[1], d[0]]) / (np.linalg.norm(d) + 1e-6)
            mid = (a + b) / 2
            wall = np.array([mid - normal * width * 0.9, mid + normal * width * 0.9])
            cv2.polylines(canvas, [np.round(wall * 16).astype(np.int32)], False, 60, 3, cv2.LINE_AA, shift=4)


def draw_budding_yeast(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """Oval cells, several with a smaller bud attached."""
    size = canvas.shape[0]
    for _ in range(rng.integers(2, 6)):
        c = _point(rng, size, 0.1)
        axes = (int(rng.uniform(0.06, 0.10) * size), int(rng.uniform(0.045, 0.075) * size))
        angle = rng.uniform(0, 180)
        cv2.ellipse(canvas, tuple(int(v) for v in c), axes, angle, 0, 360, 255, 2, cv2.LINE_AA)
        if rng.random() < 0.7:
            t = np.deg2rad(angle)
            bud = c + 1.35 * axes[0] * np.array([np.cos(t), np.sin(t)])
            cv2.circle(canvas, tuple(int(v) for v in bud), max(2, axes[1] // 2), 255, 2, cv2.LINE_AA)


def draw_spore_chain(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """Chains of small round filled spores touching end to end."""
    size = canvas.shape[0]
    for _ in range(rng.integers(1, 4)):
        r = rng.uniform(0.035, 0.05) * size
        pts = _polyline(rng, _point(rng, size), int(rng.integers(4, 8)), 2.6 * r, 0.2)
        for p in pts:
            cv2.circle(canvas, tuple(int(v) for v in p), int(round(r)), 255, -1, cv2.LINE_AA)


def draw_debris(canvas: np.ndarray, rng: np.random.Generator, count: tuple[int, int] = (6, 16)) -> None:
    """Irregular specks and blobs; present in every image, alone in class 'debris'."""
    size = canvas.shape[0]
    for _ in range(rng.integers(*count)):
        c = rng.uniform(0, size, 2)
        r = rng.uniform(0.008, 0.04) * size
        n = int(rng.integers(3, 7))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        poly = c + (r * rng.uniform(0.5, 1.4, n))[:, None] * np.stack([np.cos(ang), np.sin(ang)], 1)
        cv2.fillPoly(canvas, [np.round(poly).astype(np.int32)], int(rng.integers(120, 256)), cv2.LINE_AA)


def draw_debris_only(canvas: np.ndarray, rng: np.random.Generator) -> None:
    draw_debris(canvas, rng, (8, 22))


CLASSES: dict[str, Callable[[np.ndarray, np.random.Generator], None]] = {
    "branching_hyphae": draw_branching_hyphae,
    "budding_yeast": draw_budding_yeast,
    "debris": draw_debris_only,
    "septate_hyphae": draw_septate_hyphae,
    "spore_chain": draw_spore_chain,
}


def render_patch(draw: Callable, photo: dict, size: int, rng: np.random.Generator) -> np.ndarray:
    """One (size, size, 3) uint8 RGB patch of a photograph with the given stain settings."""
    big = size * SCALE
    mask = np.zeros((big, big), np.uint8)
    draw(mask, rng)
    draw_debris(mask, rng, (2, 8))
    ink = cv2.GaussianBlur(mask, (0, 0), photo["blur"] * SCALE).astype(np.float32) / 255.0
    ink *= photo["ink"]
    background = photo["background"] * rng.uniform(0.95, 1.05)
    image = background[None, None, :] * (1 - ink[..., None]) + photo["stain"][None, None, :] * ink[..., None]
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    image += rng.normal(0, photo["noise"], image.shape)
    image *= photo["brightness"]
    return np.clip(image, 0, 255).astype(np.uint8)


def random_photo(rng: np.random.Generator) -> dict:
    """Stain, background and optics shared by every patch of one photograph."""
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(80, 230), rng.integers(30, 120)]]])
    stain = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
    tint = rng.uniform(-25, 25, 3)
    return {
        "stain": stain,
        "background": np.clip(rng.uniform(175, 245) + tint, 0, 255).astype(np.float32),
        "ink": rng.uniform(0.7, 1.0),
        "blur": rng.uniform(0.4, 1.3),
        "noise": rng.uniform(2, 10),
        "brightness": rng.uniform(0.8, 1.15),
    }


def chosen_classes(classes: int) -> dict[str, Callable[[np.ndarray, np.random.Generator], None]]:
    """The first ``classes`` entries of CLASSES (2: branching hyphae against budding yeast)."""
    return dict(list(CLASSES.items())[:classes])


def synthetic_root(
    cache_dir: str, n_per_class: int, patches_per_photo: int, size: int, seed: int, classes: int = len(CLASSES)
) -> Path:
    """Where the dataset for these settings lives; the name is a hash of the settings."""
    key = json.dumps([GENERATOR_VERSION, n_per_class, patches_per_photo, size, seed, sorted(chosen_classes(classes))])
    return Path(cache_dir).expanduser() / "synthetic" / hashlib.sha256(key.encode()).hexdigest()[:16]


def ensure_synthetic(
    cache_dir: str,
    n_per_class: int = 400,
    patches_per_photo: int = 5,
    size: int = 64,
    seed: int = 0,
    classes: int = len(CLASSES),
) -> Path:
    """Write the image folder once (atomically) and return its path.

    Args:
        cache_dir: cache root; the folder goes to ``<cache_dir>/synthetic/<hash>``.
        n_per_class: images per class.
        patches_per_photo: patches cut from one "photograph" (one group).
        size: image side in pixels.
        seed: generator seed; the same settings give the same bytes.
        classes: how many of the classes, in CLASSES' order; each class draws the same
            images whatever the others are.
    """
    root = synthetic_root(cache_dir, n_per_class, patches_per_photo, size, seed, classes)
    if (root / "DONE").exists():
        return root
    chosen = chosen_classes(classes)
    log.info("Generating the synthetic dataset (%d images) in %s", n_per_class * len(chosen), root)
    tmp = scratch_path(root, "tmp")
    try:
        tmp.mkdir(parents=True)
    except OSError as exc:
        raise DataError(
            f"paths.cache_dir={cache_dir}: cannot write the synthetic dataset there ({exc.strerror}: {exc.filename})"
        ) from None
    for class_index, (name, draw) in enumerate(chosen.items()):
        rng = np.random.default_rng([seed, class_index])
        (tmp / name).mkdir(parents=True)
        for i in range(n_per_class):
            if i % patches_per_photo == 0:
                photo = random_photo(rng)
            patch = render_patch(draw, photo, size, rng)
            file = tmp / name / f"{name}_{i // patches_per_photo:04d}_{i % patches_per_photo}.png"
            cv2.imwrite(str(file), cv2.cvtColor(patch, cv2.COLOR_RGB2BGR))
    (tmp / "DONE").write_text("ok\n")
    try:
        os.replace(tmp, root)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return root
