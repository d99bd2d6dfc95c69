"""Which Keras backend a run will use, known without importing Keras (which costs seconds):
the config checks answer before any framework loads."""

import json
import os
import sys
from pathlib import Path


def backend_name() -> str:
    """The backend Keras will load: Keras' own answer once it is imported; before that, as
    Keras decides it: ``KERAS_BACKEND``, else ``backend`` in ``$KERAS_HOME/keras.json``
    (default ``~/.keras``), else tensorflow."""
    if "keras" in sys.modules:
        return sys.modules["keras"].backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = Path(os.environ.get("KERAS_HOME") or Path("~").expanduser() / ".keras")
    try:
        return str(json.loads((home / "keras.json").read_text()).get("backend") or "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"
