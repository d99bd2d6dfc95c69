"""A finished run folder as something that predicts: its classes, the exact preprocessing it
trained with, its decision threshold and test-time views, and its model, loaded safely."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import keras
import numpy as np

from fungiclf.data.enhance import PixelSettings
from fungiclf.data.filters import Filters
from fungiclf.data.views import dihedral
from fungiclf import runs
from fungiclf.errors import ConfigError, FungiclfError
from fungiclf.evaluation.calibration import apply_temperature
from fungiclf.models import estimator_types, feature_extractor
from fungiclf.models.classical import predict_proba
from fungiclf.settings.resolve import resolve_preprocess

log = logging.getLogger(__name__)


@dataclass
class LoadedRun:
    """What prediction needs from a run folder.

    Attributes:
        folder: the run folder.
        classes: class names in output order.
        pixels: the run's own preprocessing (colour, size, denoise, CLAHE).
        threshold: decision threshold on p(class 1) for two classes (the run's, chosen on
            val when it was a rule).
        tta: the run's test-time views setting (TTA_VIEWS name).
        name: the run's model config name (cnn, resnet18, logreg, ...).
        model: the keras.Model, or None for scikit-learn runs.
        estimator: the fitted scikit-learn estimator, or None for Keras runs.
        temperature: the run's temperature (evaluation.calibration=temperature), or None.
    """

    folder: Path
    classes: list[str]
    pixels: PixelSettings
    threshold: float
    tta: str
    name: str = ""
    model: keras.Model | None = None
    estimator: object | None = None
    temperature: float | None = None
    _features: keras.Model | None = field(default=None, init=False, repr=False)

    def features(self, images: np.ndarray) -> np.ndarray:
        """(N, D) what the classifier reads (models.feature_extractor) for uint8 (N, H, W, C) images."""
        if self.model is None:
            raise FungiclfError(f"{self.folder} is a scikit-learn run ({self.name}): it has no learned features")
        if self._features is None:
            self._features = feature_extractor(self.model)
        return np.asarray(self._features.predict_on_batch(images.astype(np.float32)), dtype=np.float32)

    def calibrated(self, raw: np.ndarray) -> np.ndarray:
        """The run's probabilities from outputs(): with its temperature applied, as its
        predictions.csv has them; unchanged for a run without calibration."""
        return raw if self.temperature is None else apply_temperature(raw, self.temperature)

    def outputs(self, images: np.ndarray) -> np.ndarray:
        """(N, K) probabilities, or (N, 1) p(class 1) for a sigmoid head, of uint8 (N, H, W, C) images."""
        if self.model is not None:
            return np.asarray(self.model.predict_on_batch(images.astype(np.float32)), dtype=np.float64)
        flat = images.reshape(len(images), -1).astype(np.float32) / 255.0
        return np.asarray(predict_proba(self.estimator, flat), dtype=np.float64)


def pick_run(path: Path, best: str | None = None) -> Path:
    """``path`` itself when it is a run folder; with ``best``, the completed run under a
    sweep folder whose metrics.json value ``best`` (a val metric) is highest."""
    path = Path(path)
    if (path / runs.METRICS).is_file() and best is None:
        return path
    if best is None:
        raise FungiclfError(f"{path} holds no metrics.json; give a run folder, or a sweep folder with --best METRIC")
    found = [(runs.completed_metrics(run), run) for run in runs.find_runs([str(path)])]
    scored = [(runs.dig(record, best), run) for record, run in found if record is not None]
    scored = [(value, run) for value, run in scored if value is not None]
    if not scored:
        raise FungiclfError(f"no completed run under {path} has the numeric metric {best!r}")
    value, run = max(scored, key=lambda item: item[0])
    log.info("Best run by %s: %s (%.4f)", best, run, value)
    return run


def load_run(folder: Path, trust_pickle: bool = False) -> LoadedRun:
    """Read a completed run folder: metrics.json, config_resolved.yaml and its model file,
    each validated; a model.joblib (pickle: it runs code as it loads) only with ``trust_pickle``.

    Raises:
        RunFolderError: a file is missing or malformed, or the model does not fit the classes.
    """
    folder = Path(folder)
    metrics = runs.read_metrics(folder)
    if metrics["status"] != "completed":
        raise FungiclfError(
            f"{folder} is not a completed run (metrics.json status: {metrics['status']!r}); "
            f"only a completed run's model is loaded"
        )
    cfg = runs.read_config(folder)
    threshold = (metrics.get("threshold") or {}).get("value")
    if threshold is None:
        setting = (cfg.get("model") or {}).get("threshold", 0.5)
        threshold = setting if isinstance(setting, (int, float)) and 0 < setting < 1 else 0.5
    try:
        pixels = resolve_preprocess(cfg.get("preprocess") or {}, Filters())[0].pixels
    except (ConfigError, AttributeError, TypeError) as exc:
        raise runs.RunFolderError(f"{folder / runs.CONFIG}: preprocess: {exc}") from None
    classes = [str(c) for c in metrics["classes"]]
    run = LoadedRun(
        folder,
        classes,
        pixels,
        float(threshold),
        str((cfg.get("trainer") or {}).get("tta") or "none"),
        str(metrics.get("model") or ""),
        temperature=(metrics.get("calibration") or {}).get("temperature"),  # validated by read_metrics
    )
    if (folder / runs.KERAS_MODEL).is_file():
        run.model = runs.load_keras_model(folder / runs.KERAS_MODEL)
        width = run.model.outputs[0].shape[-1]
        if width != len(classes) and not (width == 1 and len(classes) == 2):
            raise runs.RunFolderError(
                f"{folder / runs.KERAS_MODEL} outputs {width} values; metrics.json names "
                f"{len(classes)} classes: the model is not this run's"
            )
    elif (folder / runs.SKOPS_MODEL).is_file():
        run.estimator = runs.load_estimator(folder / runs.SKOPS_MODEL, estimator_types())
        run.estimator = _fits_classes(run.estimator, classes, folder / runs.SKOPS_MODEL)
    elif (folder / runs.PICKLE_MODEL).is_file():
        if not trust_pickle:
            raise FungiclfError(
                f"{folder / runs.PICKLE_MODEL} is a pickle, which runs code as it loads; load it "
                f"only if you trust who made the folder, with --trust-pickle"
            )
        run.estimator = _fits_classes(joblib.load(folder / runs.PICKLE_MODEL), classes, folder / runs.PICKLE_MODEL)
    else:
        raise runs.RunFolderError(f"{folder} has no {runs.KERAS_MODEL} or {runs.SKOPS_MODEL}")
    return run


def _fits_classes(estimator: object, classes: list[str], file: Path) -> object:
    """``estimator`` when it predicts as many classes as the run names."""
    known = getattr(estimator, "classes_", None)
    if known is None or len(known) != len(classes):
        raise runs.RunFolderError(f"{file} is not a fitted estimator of the run's {len(classes)} classes")
    return estimator


def predict_views(
    outputs: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    views: tuple[int, ...],
    batch_size: int,
    progress: Callable | None = None,
) -> np.ndarray:
    """Model outputs of ``images`` averaged over dihedral ``views``, batch by batch.

    ``progress`` (e.g. a tqdm bar's update) is called with the number of images done.
    """
    per_view = []
    for view in views:
        parts = []
        for start in range(0, len(images), batch_size):
            parts.append(outputs(dihedral(images[start : start + batch_size], view)))
            if progress is not None:
                progress(min(batch_size, len(images) - start))
        per_view.append(np.concatenate(parts))
    return np.mean(per_view, axis=0)
