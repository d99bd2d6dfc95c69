"""How fast a model trains and predicts on this machine: a few timed steps on random images.

A plan (settings/autoplan.py) measures its candidates before it commits to a model, a size
and a number of epochs. Measurements are kept in ``<cache_dir>/speed.json`` by what was
measured (backend, model, input, batch, machine) for a day, so that the same command plans
the same run again (resume=true finds the config it started) instead of one that a busier
minute would choose. A step's time is the fastest of TIMED_STEPS: another process taking
the cores for a moment slows one step, not the plan.
"""

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from fungiclf.models import build_model
from fungiclf.runs import write_json
from fungiclf.training.fit import compile_model

SPEED_FILE = "speed.json"
TIMED_STEPS = 4
KEPT_SECONDS = 24 * 3600  # a measurement older than this is taken again


@dataclass(frozen=True)
class Speed:
    """Seconds on this machine.

    Attributes:
        compile_seconds: the first training step (building and compiling the step).
        step_seconds: one later training step of a batch (augmentation, forward, backward, update).
        predict_seconds: one image predicted (no augmentation), per image, batched.
        measured_at: when (Unix seconds).
    """

    compile_seconds: float
    step_seconds: float
    predict_seconds: float
    measured_at: float


def measure(
    model,
    augment,
    input_shape: tuple[int, int, int],
    num_classes: int,
    batch_size: int,
    jit_compile: str | bool,
    cache_dir: str,
) -> Speed:
    """The Speed of ModelSettings ``model`` with AugmentSettings ``augment`` at ``input_shape``
    (H, W, C) and ``batch_size``: from speed.json when this exact case was measured on this
    machine before, else timed now (about TIMED_STEPS + 2 steps) and recorded."""
    key = json.dumps(
        {
            "backend": keras.backend.backend(),
            "keras": keras.__version__,
            "model": model.name,
            "head": model.head,
            "params": model.params,
            "augment": augment.values,
            "input": list(input_shape),
            "classes": num_classes,
            "batch": batch_size,
            "jit": jit_compile,
            "host": platform.node(),
            "cpus": os.cpu_count(),
        },
        sort_keys=True,
        default=str,
    )
    file = Path(cache_dir) / SPEED_FILE
    known = read_speeds(file)
    if key in known and time.time() - known[key]["measured_at"] < KEPT_SECONDS:
        return Speed(**known[key])
    speed = time_steps(model, augment, input_shape, num_classes, batch_size, jit_compile)
    file.parent.mkdir(parents=True, exist_ok=True)
    write_json(file, {**read_speeds(file), key: asdict(speed)})
    return speed


def read_speeds(file: Path) -> dict:
    """speed.json's measurements (an unreadable file counts as none: they are measured again)."""
    try:
        content = json.loads(file.read_text())
        return {k: v for k, v in content.items() if isinstance(v, dict) and set(v) == set(Speed.__annotations__)}
    except (OSError, ValueError, AttributeError):
        return {}


def timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def time_steps(
    model, augment, input_shape: tuple[int, int, int], num_classes: int, batch_size: int, jit_compile: str | bool
) -> Speed:
    """Time training steps and a prediction of random uint8-valued images (the job's own
    model, loss and compilation; the optimizer's schedule does not change a step's cost)."""
    sigmoid = model.head == "sigmoid"
    network = build_model(model, augment, input_shape, num_classes, seed=0)
    compile_model(network, keras.optimizers.AdamW(1e-3), sigmoid, 0.0, jit_compile)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch_size, *input_shape)).astype("float32")
    labels = rng.integers(0, num_classes, batch_size)
    y = labels.astype("float32") if sigmoid else np.eye(num_classes, dtype="float32")[labels]
    started = time.perf_counter()
    network.train_on_batch(x, y)
    compile_seconds = time.perf_counter() - started
    step_seconds = min(timed(lambda: network.train_on_batch(x, y)) for _ in range(TIMED_STEPS))
    network.predict_on_batch(x)
    predict_seconds = min(timed(lambda: network.predict_on_batch(x)) for _ in range(2)) / batch_size
    network = None  # the model goes before the session is cleared
    keras.backend.clear_session()
    return Speed(compile_seconds, step_seconds, predict_seconds, time.time())
