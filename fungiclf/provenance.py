"""Where a result came from: versions, device, git commit."""

import os
import platform
import subprocess
from pathlib import Path

from fungiclf import keras_backend  # noqa: F401  (Keras, quietly, before the package's modules import it)
import keras

import fungiclf


def device_name() -> str:
    """'CPU' or the first accelerator's name, asked of the active Keras backend only."""
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            return "CPU" if device.platform == "cpu" else f"{device.platform.upper()}: {device.device_kind}"
        if backend == "torch":
            import torch

            return f"GPU: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "CPU"
        if backend == "tensorflow":
            import tensorflow as tf  # already imported by Keras on this backend

            gpus = tf.config.list_physical_devices("GPU")
            return f"GPU: {gpus[0].name}" if gpus else "CPU"
    except Exception:  # device queries are informational only
        pass
    return "unknown"


def git_commit() -> str | None:
    """The commit of the fungiclf checkout, when it is one."""
    root = Path(fungiclf.__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance() -> dict:
    return {
        "fungiclf_version": fungiclf.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "device": device_name(),
        "host_cpus": os.cpu_count(),
    }


def resources() -> dict:
    """Memory of this process, in MB: the peak resident set so far and the current one
    (None where /proc is missing)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    current = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    except OSError:
        pass
    return {"max_rss_mb": round(peak, 1), "rss_mb": None if current is None else round(current, 1)}
