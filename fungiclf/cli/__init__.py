"""Other console scripts (report, data, predict, explain)."""

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from fungiclf.errors import FungiclfError

SOME_SKIPPED = 3   # exit status of predict / explain when some images could not be read


def stop_on_closed_pipe() -> NoReturn:
    """The reader of stdout went away (``fungiclf-report SWEEP | head``): stop as Unix tools
    do, without a traceback. Every command writes its files before it prints, so nothing is
    lost; stdout goes to /dev/null first so that the flush at exit cannot fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(141)   # 128 + SIGPIPE: what a shell reports for a tool stopped by a closed pipe


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
    except BrokenPipeError:
        stop_on_closed_pipe()
    sys.exit(status)
