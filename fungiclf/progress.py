"""Progress bars, drawn on a terminal only.

tqdm redraws its bar in place with carriage returns. In a file (a CI log, a Slurm .out,
`| tee run.log`) every redraw stays: one decode of DeFungi left a single line of about
fifty frames. Off a terminal the bar is left out; the run's own log lines (how many
images were decoded, skipped, cached) say the same thing once.
"""

import sys
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    at_least: int = 0,
    enabled: bool = True,
    **options: Any,
) -> tqdm:
    """A tqdm bar over iterable (or one updated by hand, of total steps; None: unknown).

    Drawn only when enabled, stderr is a terminal, and there are at least at_least steps
    (a bar over a few dozen images flashes by). options go to tqdm (desc, unit, leave, ...).
    """
    steps = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
    few = steps is not None and steps < at_least
    return tqdm(iterable, total=total, disable=not enabled or few or not sys.stderr.isatty(), **options)
