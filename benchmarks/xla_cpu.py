"""What XLA compilation costs on a CPU, per model: depthwise convolutions against plain ones.

    .venv/bin/python benchmarks/xla_cpu_depthwise.py [--steps 3] [--size 32] [--batch 64]

Times a training step (train_on_batch after a warm-up step, mean of ``--steps``) of
fungiclf's own ConvMixer (depthwise k x k convolutions; the model of experiment=defungi_best_cpu)
and of the report CNN (plain convolutions) on random RGB images, in its own process per
setting: TensorFlow without XLA (trainer.jit_compile=auto on a CPU), TensorFlow with XLA
(trainer.jit_compile=true) and JAX (which always compiles with XLA). Prints seconds a step
and the ratio against TensorFlow without XLA. Run by hand; not part of the tests.
"""

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

SETTINGS = [("tensorflow", "auto"), ("tensorflow", "true"), ("jax", "auto")]

CHILD = """
import time
import numpy as np
import keras
from hydra import compose, initialize_config_module
from fungiclf.models import build_model
from fungiclf.settings.resolve import resolve
from fungiclf.training.fit import compile_model
with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
    cfg = compose("train", overrides=["model={model}", "augment=none", "preprocess.color=rgb",
                                      "preprocess.size={size}"])
settings = resolve(cfg)
rng = np.random.default_rng(0)
x = rng.integers(0, 256, ({batch}, {size}, {size}, 3)).astype("uint8")
y = keras.utils.to_categorical(rng.integers(0, 5, {batch}), 5)
model = build_model(settings.model, settings.augment, x.shape[1:], 5, 0)
compile_model(model, keras.optimizers.AdamW(1e-3), sigmoid=False, jit_compile={jit})
model.train_on_batch(x, y)   # compilation, not timed
started = time.perf_counter()
for _ in range({steps}):
    model.train_on_batch(x, y)
print(f"RESULT {{(time.perf_counter() - started) / {steps}:.4f}}")
"""


def seconds_a_step(backend: str, jit: str, model: str, args: argparse.Namespace) -> float | str:
    """Seconds of one training step in a fresh process on ``backend``, or why none came back."""
    code = CHILD.format(
        model=model, size=args.size, batch=args.batch, steps=args.steps, jit={"auto": '"auto"', "true": "True"}[jit]
    )
    # run from benchmarks/: from the project root, `python -c` would import the source tree's
    # fungiclf/ (which lacks conf/) ahead of an installed, non-editable fungiclf
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent,
        env={**os.environ, "KERAS_BACKEND": backend},
    )
    line = next((line for line in out.stdout.splitlines() if line.startswith("RESULT")), None)
    if line is None:
        return out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"
    return float(line.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--models", nargs="+", default=["convmixer", "cnn", "ann"])
    args = parser.parse_args()
    print(
        f"model      backend     jit_compile   s/step   against TensorFlow without XLA   "
        f"({args.size}x{args.size} RGB, batch {args.batch}, mean of {args.steps} steps)"
    )
    for model in args.models:
        baseline = None
        for backend, jit in SETTINGS:
            if importlib.util.find_spec(backend) is None:
                print(f"{model:<10} {backend:<11} not installed")
                continue
            result = seconds_a_step(backend, jit, model, args)
            if isinstance(result, str):
                print(f"{model:<10} {backend:<11} {jit:<11} failed: {result}")
                continue
            baseline = baseline or (result if (backend, jit) == SETTINGS[0] else None)
            ratio = f"{result / baseline:.1f}x" if baseline else "-"
            print(f"{model:<10} {backend:<11} {jit:<11} {result:>8.3f}   {ratio}")


if __name__ == "__main__":
    main()
