"""Figures of a run: confusion matrices and training curves (matplotlib, Agg backend)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402


def plot_confusion(cm: np.ndarray, class_names: list[str], path: Path, title: str = "test") -> None:
    """Counts and row-normalised (recall per true class) side by side."""
    cm = np.asarray(cm)
    rows = cm.sum(1, keepdims=True)
    normalised = np.divide(cm, rows, out=np.zeros(cm.shape, float), where=rows > 0)
    side = 3 + 0.6 * len(class_names)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 1, side))
    for ax, values, fmt, name in ((axes[0], cm, "d", "counts"), (axes[1], normalised, ".2f", "row-normalised")):
        ConfusionMatrixDisplay(values, display_labels=class_names).plot(
            ax=ax, values_format=fmt, colorbar=False, xticks_rotation=45, cmap="Blues"
        )
        ax.set_title(f"{title}: {name}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(history: pd.DataFrame, path: Path) -> None:
    """Loss and accuracy per epoch, train and validation."""
    metrics = [m for m in ("loss", "accuracy") if m in history]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        ax.plot(history["epoch"], history[metric], marker="o", label="train")
        if f"val_{metric}" in history:
            ax.plot(history["epoch"], history[f"val_{metric}"], marker="o", label="val")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(splits: dict[str, dict], path: Path) -> None:
    """The reliability diagram of a run ({"test": metrics block, "val": ...}, each with
    ``reliability`` bins and ``ece``): per confidence bin of the first split, bars of its
    accuracy and of the gap to its mean confidence (the diagonal is perfect calibration), with
    the share of its images in the bin (narrow gray bars, a quarter scale); the other splits as
    points.
    One axes, no layout pass: every run draws it, so it stays cheap."""
    (first, block), *others = splits.items()
    bins = block["reliability"]
    lower, upper = np.array(bins["lower"]), np.array(bins["upper"])
    centers, width = (lower + upper) / 2, upper - lower
    count = np.array(bins["count"])
    filled = count > 0
    accuracy = np.array([a if a is not None else 0.0 for a in bins["accuracy"]])
    confidence = np.array([c if c is not None else 0.0 for c in bins["confidence"]])
    fig, ax = plt.subplots(figsize=(5, 4.4))
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.12, top=0.92)
    ax.bar(centers[filled], accuracy[filled], width[filled], edgecolor="black", alpha=0.8, label=f"{first} accuracy")
    gap = (confidence - accuracy)[filled]
    ax.bar(centers[filled], gap, width[filled], bottom=accuracy[filled], color="tab:red", alpha=0.3, label="gap")
    share = 0.25 * count / max(count.sum(), 1)
    ax.bar(centers, share, 0.4 * width, color="dimgray", zorder=3, label=f"{first} images (share / 4)")
    for name, other in others:
        points = [(c, a) for c, a in zip(other["reliability"]["confidence"], other["reliability"]["accuracy"]) if c]
        if points:
            ax.plot(*zip(*points), "o", color="tab:orange", label=f"{name} (ECE {other['ece']:.3f})")
    ax.plot([0, 1], [0, 1], "k--", linewidth=1)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence (probability of the predicted class)", ylabel="accuracy")
    ax.set_title(f"{first}: ECE {block['ece']:.3f}")
    ax.legend(loc="upper left", fontsize=8)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_gradcam(image: np.ndarray, heat: np.ndarray, title: str, path: Path) -> None:
    """The image and its Grad-CAM overlay side by side.

    Args:
        image: (H, W) gray or (H, W, 3) RGB uint8, at any size.
        heat: (h, w) map in [0, 1]; resized to the image.
    """
    import cv2

    heat = cv2.resize(heat.astype(np.float32), (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    gray = image.ndim == 2 or image.shape[2] == 1
    shown = image.reshape(image.shape[:2]) if gray else image
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.3))
    for ax, overlay in zip(axes, (False, True)):
        ax.imshow(shown, cmap="gray" if gray else None, vmin=0, vmax=255)
        if overlay:
            ax.imshow(heat, cmap="jet", alpha=0.45, vmin=0, vmax=1)
        ax.set_title("Grad-CAM" if overlay else "input")
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=100)
    plt.close(fig)
