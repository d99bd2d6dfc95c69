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
        ConfusionMatrixDisplay(values, display_labels=class_names).plot(ax=ax, values_format=fmt, colorbar=False,
                                                                        xticks_rotation=45, cmap="Blues")
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
