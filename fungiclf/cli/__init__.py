"""Other console scripts (report, data, predict, explain)."""

import argparse
import logging
import sys
from collections.abc import Callable

from fungiclf.errors import FungiclfError

SOME_SKIPPED = 3   # exit status of predict / explain when some images could not be read


def run_image_command(prog: str, parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int],
                      argv: list[str] | None) -> None:
    """Run a console script over images: one-line errors, exit status 0 / 3 (some images
    skipped) / 1 (an error; nothing written)."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    args = parser.parse_args(argv)
    try:
        status = run(args)
    except FungiclfError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(status)
