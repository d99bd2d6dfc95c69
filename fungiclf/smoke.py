"""trainer=smoke, applied after composition so that no experiment or override can undo it."""

import logging

from omegaconf import DictConfig, open_dict

from fungiclf.models import get_spec, min_input_size
from fungiclf.validation import check_size

log = logging.getLogger(__name__)

SMOKE_EPOCHS = 2
SMOKE_PER_CLASS = 16
SMOKE_SIZE = 32
SMOKE_FOLDS = 2


def apply_smoke(cfg: DictConfig) -> None:
    """Cap epochs, images per class per split, image size, CV folds; force model.weights=null."""
    if not cfg.trainer.get("smoke"):
        return
    with open_dict(cfg):
        cfg.trainer.epochs = min(int(cfg.trainer.epochs), SMOKE_EPOCHS)
        cfg.trainer.max_per_class = min(int(cfg.trainer.get("max_per_class") or SMOKE_PER_CLASS), SMOKE_PER_CLASS)
        if "finetune" in cfg.model and cfg.model.finetune is not None:
            cfg.model.finetune.epochs = min(int(cfg.model.finetune.get("epochs") or 0), 1)
        if "weights" in cfg.model:
            cfg.model.weights = None
        if cfg.get("cv") and int(cfg.cv.get("folds") or 0) > SMOKE_FOLDS:
            cfg.cv.folds = SMOKE_FOLDS
        height, width = check_size(cfg.preprocess.size)
        channels = 1 if cfg.preprocess.color == "gray" else 3
        floor = min_input_size(cfg.model, channels) if get_spec(cfg.model.name).kind == "keras" else 1
        side = max(min(height, width, SMOKE_SIZE), floor)
        cfg.preprocess.size = side
    log.info("trainer=smoke: %d epochs, <= %d images per class per split, %d px",
             cfg.trainer.epochs, SMOKE_PER_CLASS, side)
