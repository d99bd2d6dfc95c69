"""How a job computes: the dtype policy, XLA compilation, and data parallelism over the
devices of one machine (Keras' own distribution API). Keras keeps the first and the last
as global state, so ``compute_context`` sets them for one job and restores them after."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import keras

from fungiclf.errors import ConfigError
from fungiclf.models.blocks import has_convolutions

log = logging.getLogger(__name__)

PRECISIONS = ["float32", "mixed_float16", "mixed_bfloat16"]
JIT_MODES = ["auto", True, False]


@dataclass(frozen=True)
class Compute:
    """What a job ran with, for metrics.json: ``precision`` (a Keras dtype policy name),
    ``jit_compile`` (as given: auto, true, false), ``devices`` (data-parallel replicas) and
    ``accelerators`` (GPUs or TPUs the machine had)."""

    precision: str = "float32"
    jit_compile: str | bool = "auto"
    devices: int = 1
    accelerators: int = 0


def precision_warning(compute: Compute) -> dict | None:
    """A metrics.json "warnings" entry when 16-bit compute ran without a GPU, where it is
    emulated and slower than float32 (a GPU recipe started on a laptop)."""
    if compute.precision == "float32" or compute.accelerators:
        return None
    return {
        "kind": "precision",
        "message": f"trainer.precision={compute.precision} on a machine without a GPU: "
        f"on a CPU 16-bit compute is emulated and slower than float32; set trainer.precision=float32",
    }


def xla_compiles_on_cpu(jit_compile: str | bool) -> bool:
    """Whether Keras compiles the training step with XLA on a machine without a GPU: JAX
    unless jit_compile is false; TensorFlow only when it is true ("auto" is off on a CPU, Keras'
    own rule); never torch (its jit_compile=true is torch.compile)."""
    backend = keras.backend.backend()
    return (backend == "jax" and jit_compile is not False) or (backend == "tensorflow" and jit_compile is True)


def xla_cpu_warning(model: keras.Model, jit_compile: str | bool) -> dict | None:
    """A metrics.json "warnings" entry when XLA compiles a convolutional network on a machine
    without a GPU: there it trained 2-8x slower than TensorFlow without XLA (benchmarks/xla_cpu.py:
    ResNet-18 2.1x, the report CNN 3.0x, ConvMixer's depthwise convolutions 7.9x on JAX)."""
    if not has_convolutions(model) or accelerators() or not xla_compiles_on_cpu(jit_compile):
        return None
    how = f"KERAS_BACKEND={keras.backend.backend()}" + (", trainer.jit_compile=true" if jit_compile is True else "")
    return {
        "kind": "xla_cpu",
        "message": f"XLA compiles this network's convolutions on a CPU ({how}), where they "
        f"trained 2-8x slower than TensorFlow's without XLA (docs/gpu.md); on a machine without a "
        f"GPU, KERAS_BACKEND=tensorflow with trainer.jit_compile=auto trains faster",
    }


def accelerators() -> list[str]:
    """The GPU/TPU devices the backend sees (empty on a CPU-only machine). Keras'
    distribution API lists them on JAX and TensorFlow; on torch it has no backend part."""
    if keras.backend.backend() == "torch":
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [d for d in keras.distribution.list_devices() if not d.lower().startswith("cpu")]


def replica_count(setting: str | int) -> int:
    """trainer.devices: "auto" uses every accelerator of the machine (1 on CPU); N uses N
    devices of the default kind (on CPU: the host devices XLA was told to simulate)."""
    if setting == "auto":
        return max(1, len(accelerators())) if keras.backend.backend() == "jax" else 1
    # resolve() has refused N > 1 on other backends (the distribution API is JAX's)
    available = keras.distribution.list_devices() if keras.backend.backend() == "jax" else []
    if setting > max(1, len(available)):
        raise ConfigError(f"trainer.devices={setting}, but Keras sees {len(available)} device(s): {available}")
    return int(setting)


@contextmanager
def compute_context(trainer) -> Iterator[Compute]:
    """Set the dtype policy and the data-parallel distribution of TrainerSettings ``trainer``
    for the block; restores float32 and no distribution afterwards."""
    devices = replica_count(trainer.devices)
    if devices > 1 and trainer.batch_size % devices:
        raise ConfigError(
            f"trainer.batch_size={trainer.batch_size} must be a multiple of trainer.devices={devices} "
            f"(each device takes an equal share of a batch)"
        )
    keras.mixed_precision.set_dtype_policy(trainer.precision)
    if devices > 1:
        chosen = keras.distribution.list_devices()[:devices]
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=chosen))
        log.info("Data parallel over %d devices <trainer.devices=%s>: %s", devices, trainer.devices, chosen)
    compute = Compute(trainer.precision, trainer.jit_compile, devices, len(accelerators()))
    if warning := precision_warning(compute):
        log.warning("%s", warning["message"])
    try:
        yield compute
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
        if devices > 1:
            keras.distribution.set_distribution(None)
