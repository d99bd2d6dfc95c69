"""Writing the run folder's files (contract in DESIGN.md), each written atomically."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd


def _clean(value):
    """JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(_clean(payload), indent=2) + "\n")
    os.replace(tmp, path)


def write_csv(path: Path, table: pd.DataFrame) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)


def read_metrics(run_dir: Path) -> dict | None:
    """metrics.json of a run folder, or None when missing or unreadable (half-written)."""
    try:
        return json.loads((Path(run_dir) / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
