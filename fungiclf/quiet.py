"""Keep TensorFlow's native start-up chatter off the terminal, and nothing else.

TensorFlow's C++ libraries print, before its logging is set up, lines that no setting
silences (``TF_CPP_MIN_LOG_LEVEL`` comes too late for them): the absl notice, the oneDNN
note and the CUDA probe, each once per native library, plus "failed call to cuInit" on a
machine without a GPU. ``quiet_native_startup`` sends file descriptor 2 to a temporary
file while Keras (and with it TensorFlow) is imported and its devices are listed, then
writes back every line that is not one of those notices: real errors stay visible.
"""

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on|Could not find cuda drivers"
    r"|failed call to cuInit|cpu_feature_guard|To enable the following instructions|rebuild TensorFlow with"
    r"|Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered|TF-TRT Warning"
    r"|This TensorFlow binary is optimized|cuda_executor.*NUMA node"
)


@contextmanager
def quiet_native_startup() -> Iterator[None]:
    """Filter what native code writes to stderr inside the block (see the module docstring)."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr descriptor (some embedded interpreters): nothing to filter
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [
                line
                for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                if not STARTUP_NOISE.search(line)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def import_keras_quietly() -> None:
    """Import Keras (and on the TensorFlow backend, TensorFlow and its device list) quietly;
    called first by each part of the package that needs Keras. Once is enough."""
    if "keras" in sys.modules:
        return
    with quiet_native_startup():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf  # already loaded by Keras: the device probe prints once, here

            tf.config.list_physical_devices("GPU")
