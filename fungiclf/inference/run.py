"""A finished run folder as something that predicts: its classes, the exact preprocessing it
trained with, its decision threshold and test-time views, and its model, loaded safely."""

import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import keras
import numpy as np
from omegaconf import OmegaConf

from fungiclf.data.enhance import PixelSettings
from fungiclf.data.filters import Filters
from fungiclf.data.views import dihedral
from fungiclf.errors import FungiclfError
from fungiclf.evaluation.report import dig, find_runs, read_run
from fungiclf.models import feature_extractor
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
    """

    folder: Path
    classes: list[str]
    pixels: PixelSettings
    threshold: float
    tta: str
    name: str = ""
    model: keras.Model | None = None
    estimator: object | None = None
    _features: keras.Model | None = field(default=None, init=False, repr=False)

    def features(self, images: np.ndarray) -> np.ndarray:
        """(N, D) what the classifier reads (models.feature_extractor) for uint8 (N, H, W, C) images."""
        if self.model is None:
            raise FungiclfError(f"{self.folder} is a scikit-learn run ({self.name}): it has no learned features")
        if self._features is None:
            self._features = feature_extractor(self.model)
        return np.asarray(self._features.predict_on_batch(images.astype(np.float32)), dtype=np.float32)

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
    if (path / "metrics.json").is_file() and best is None:
        return path
    if best is None:
        raise FungiclfError(f"{path} holds no metrics.json; give a run folder, or a sweep folder with --best METRIC")
    scored = [(dig(read_run(run), best), run) for run in find_runs([str(path)])
              if read_run(run).get("status") == "completed"]
    scored = [(value, run) for value, run in scored if value is not None]
    if not scored:
        raise FungiclfError(f"no completed run under {path} has the metric {best!r}")
    value, run = max(scored, key=lambda item: item[0])
    log.info("Best run by %s: %s (%.4f)", best, run, value)
    return run


def load_keras_model(file: Path) -> keras.Model:
    """A model.keras loaded with safe_mode on; a file that needs unsafe deserialisation
    (a Lambda layer with code) or is not a Keras model is a one-line FungiclfError."""
    try:
        return keras.models.load_model(file, compile=False, safe_mode=True)
    except ValueError as exc:
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise FungiclfError(f"{file} needs unsafe deserialisation (a Lambda layer with Python code); "
                                f"fungiclf never writes one, so it is refused") from None
        raise FungiclfError(f"{file} is not a Keras model this version can load: {str(exc).splitlines()[0][:200]}") \
            from None
    except (OSError, zipfile.BadZipFile, KeyError, TypeError) as exc:
        raise FungiclfError(f"{file} is not a Keras model file ({type(exc).__name__})") from None


def load_run(folder: Path) -> LoadedRun:
    """Read a completed run folder: metrics.json, config_resolved.yaml and its model file."""
    folder = Path(folder)
    metrics = read_run(folder)
    if metrics.get("status") != "completed":
        raise FungiclfError(f"{folder} is not a completed run (metrics.json status: {metrics.get('status')!r}); "
                            f"only a completed run's model is loaded")
    config_file = folder / "config_resolved.yaml"
    if not config_file.is_file():
        raise FungiclfError(f"{folder} has no config_resolved.yaml: the preprocessing it trained with is unknown")
    cfg = OmegaConf.to_container(OmegaConf.load(config_file), resolve=True)
    threshold = (metrics.get("threshold") or {}).get("value")
    if threshold is None:
        setting = (cfg.get("model") or {}).get("threshold", 0.5)
        threshold = setting if isinstance(setting, (int, float)) else 0.5
    pixels = resolve_preprocess(cfg.get("preprocess") or {}, Filters())[0].pixels
    run = LoadedRun(folder, [str(c) for c in metrics["classes"]], pixels, float(threshold),
                    str((cfg.get("trainer") or {}).get("tta") or "none"), str(metrics.get("model", "")))
    if (folder / "model.keras").is_file():
        run.model = load_keras_model(folder / "model.keras")
    elif (folder / "model.joblib").is_file():
        run.estimator = joblib.load(folder / "model.joblib")   # a completed run of ours: see the check above
    else:
        raise FungiclfError(f"{folder} has no model.keras or model.joblib")
    return run


def predict_views(outputs: Callable[[np.ndarray], np.ndarray], images: np.ndarray, views: tuple[int, ...],
                  batch_size: int, progress: Callable | None = None) -> np.ndarray:
    """Model outputs of ``images`` averaged over dihedral ``views``, batch by batch.

    ``progress`` (e.g. a tqdm bar's update) is called with the number of images done.
    """
    per_view = []
    for view in views:
        parts = []
        for start in range(0, len(images), batch_size):
            parts.append(outputs(dihedral(images[start:start + batch_size], view)))
            if progress is not None:
                progress(min(batch_size, len(images) - start))
        per_view.append(np.concatenate(parts))
    return np.mean(per_view, axis=0)
