"""fungiclf's own training path against a plain Keras script, side by side in one process.

    .venv/bin/python benchmarks/overhead.py [PATH] [--epochs 3] [--pairs 3] [--size 80] [--color gray]
    KERAS_BACKEND=jax .venv/bin/python benchmarks/overhead.py ...

The report CNN (model=cnn, no augmentation) on cached DeFungi arrays (PATH defaults to
../shared/data/defungi; decoded once, through the decode cache), trained for --epochs
epochs with the same batch size, optimizer, loss, validation set, checkpointing and early
stopping:

  A  fungiclf: training/fit.py's fit_keras, with its batches (ArrayBatches), callbacks
     (checkpoint, early stopping, history log, epoch backup) and validation every epoch;
  B  plain Keras: model.fit on the same arrays held in memory, with ModelCheckpoint and
     EarlyStopping.

Runs A B A B ... (--pairs pairs), after one warm-up epoch of each, and prints the training
images per second of each (training images x epochs / fit wall time, validation included)
and the ratio A / B (median over pairs). Run by hand; not part of the tests.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import fungiclf  # noqa: F401  (first: it quiets TensorFlow's start-up before Keras is imported)
import keras
import numpy as np
from hydra import compose, initialize_config_module

from fungiclf.data.dataset import list_items, load_pixels
from fungiclf.models import build_model
from fungiclf.settings.resolve import resolve
from fungiclf.training.fit import compile_model, fit_keras, plan_fit, training_targets
from fungiclf.training.optimizers import build_optimizer
from fungiclf.training.resume import prepare_state

DEFUNGI = Path(__file__).resolve().parents[2] / "shared" / "data" / "defungi"


def settings_for(path: str, size: int, color: str, epochs: int, batch_size: int, cache: str):
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "dataset=defungi",
                f"dataset.path={path}",
                f"preprocess.size={size}",
                f"preprocess.color={color}",
                "model=cnn",
                "augment=none",
                f"trainer.epochs={epochs}",
                f"trainer.patience={epochs}",
                f"trainer.batch_size={batch_size}",
                "trainer.verbose=0",
                f"paths.cache_dir={cache}",
            ],
        )
    return resolve(cfg)


def run_fungiclf(settings, data, folder: Path, epochs: int) -> float:
    """Seconds of fit_keras (fresh model, fresh run folder)."""
    keras.backend.clear_session()
    folder.mkdir(parents=True, exist_ok=True)
    prepare_state(folder, "benchmark", resume=False)
    model = build_model(settings.model, settings.augment, data.images.shape[1:], len(data.class_names), settings.seed)
    started = time.perf_counter()
    fit_keras(model, data, plan_fit(settings.model, settings.trainer), settings, folder)
    return time.perf_counter() - started


def run_plain(settings, data, folder: Path, epochs: int) -> float:
    """Seconds of a hand-written model.fit on in-memory arrays with the same callbacks."""
    keras.backend.clear_session()
    folder.mkdir(parents=True, exist_ok=True)
    train, val = data.index("train"), data.index("val")
    y = training_targets(data.labels, len(data.class_names), sigmoid=False)
    x_train, y_train = np.asarray(data.images[train]), y[train]
    x_val, y_val = np.asarray(data.images[val]), y[val]
    model = build_model(settings.model, settings.augment, data.images.shape[1:], len(data.class_names), settings.seed)
    steps = int(np.ceil(len(train) / settings.trainer.batch_size))
    compile_model(model, build_optimizer(settings.optimizer, steps, epochs), sigmoid=False)
    callbacks = [
        keras.callbacks.ModelCheckpoint(str(folder / "model.keras"), monitor="val_loss", save_best_only=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=epochs, restore_best_weights=True),
    ]
    started = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        batch_size=settings.trainer.batch_size,
        epochs=epochs,
        validation_data=(x_val, y_val),
        callbacks=callbacks,
        verbose=0,
        shuffle=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", default=str(DEFUNGI))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--size", type=int, default=80)
    parser.add_argument("--color", default="gray", choices=["gray", "rgb"])
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        settings = settings_for(args.path, args.size, args.color, args.epochs, args.batch_size, f"{scratch}/cache")
        listing = list_items(settings.dataset, settings.seed, settings.paths.cache_dir)
        data = load_pixels(listing, settings.preprocess, settings.filters, settings.seed, settings.paths.cache_dir)
        images = len(data.index("train")) * args.epochs
        warm = settings_for(args.path, args.size, args.color, 1, args.batch_size, f"{scratch}/cache")
        run_fungiclf(warm, data, Path(scratch) / "warm_a", 1)
        run_plain(warm, data, Path(scratch) / "warm_b", 1)
        ratios, a_rates, b_rates = [], [], []
        for pair in range(args.pairs):
            a = images / run_fungiclf(settings, data, Path(scratch) / f"a{pair}", args.epochs)
            b = images / run_plain(settings, data, Path(scratch) / f"b{pair}", args.epochs)
            a_rates.append(a)
            b_rates.append(b)
            ratios.append(a / b)
            print(
                f"pair {pair + 1}: fungiclf {a:,.0f} img/s, plain Keras {b:,.0f} img/s, ratio {a / b:.3f}", flush=True
            )
    print(
        f"{keras.backend.backend()}, {args.size}x{args.size} {args.color}, batch {args.batch_size}, "
        f"{len(data.index('train'))} training images x {args.epochs} epochs: fungiclf "
        f"{statistics.median(a_rates):,.0f} img/s, plain Keras {statistics.median(b_rates):,.0f} img/s, "
        f"ratio fungiclf / plain {statistics.median(ratios):.3f} (median of {args.pairs} pairs)"
    )


if __name__ == "__main__":
    main()
