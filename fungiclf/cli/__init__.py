"""Other console scripts (report, data, predict, explain), and what every console script does
when the reader of its stdout goes away."""

import argparse
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import NoReturn, TextIO

from fungiclf.errors import FungiclfError

SOME_SKIPPED = 3  # exit status of predict / explain when some images could not be read


def stop_on_closed_pipe() -> NoReturn:
    """The reader of stdout went away (``fungiclf-report SWEEP | head``): stop as Unix tools
    do, without a traceback. Every command writes its files before it prints, so nothing is
    lost; stdout goes to /dev/null first so that the flush at exit cannot fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(141)  # 128 + SIGPIPE: what a shell reports for a tool stopped by a closed pipe


class OutliveClosedPipe:
    """sys.stdout for fungiclf-train: when its reader goes away (``fungiclf-train | head``),
    later output goes to /dev/null instead of failing a job that may be hours into training.
    Everything else is the wrapped stream's."""

    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        # The text still buffered for the closed pipe is flushed into /dev/null with the rest.
        os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def outlive_closed_stdout() -> None:
    """Wrap sys.stdout in OutliveClosedPipe (once per process), and point the log handlers
    that write to the raw stream at the wrapper: a launcher's worker process
    (hydra/launcher=joblib) has its own stdout, and Hydra sets up its logging before the job."""
    if isinstance(sys.stdout, OutliveClosedPipe):
        return
    raw, sys.stdout = sys.stdout, OutliveClosedPipe(sys.stdout)
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.StreamHandler) and handler.stream is raw:
                handler.setStream(sys.stdout)


@dataclasses.dataclass
class Stop:
    """The signal that stopped a ctrl_c_that_lands() block (SIGINT or SIGTERM), None if none did."""

    signum: int | None = None


@contextlib.contextmanager
def ctrl_c_that_lands() -> Iterator[Stop]:
    """Ctrl-C, or a scheduler's SIGTERM (a SLURM time limit), raises KeyboardInterrupt, and
    again every 0.5 s until it leaves this block: Python drops one raised where it cannot
    propagate ("Exception ignored in: ..." from a garbage-collector callback such as JAX's,
    imported with TensorFlow, a weakref callback or a __del__), and other code may swallow
    it, so one press could leave training running. A signal the shell set to be ignored (a
    background job's SIGINT) stays ignored. Yields the Stop that says which signal came."""
    stop = Stop()
    handled = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not signal.SIG_IGN]
    left = threading.Event()
    senders: list[threading.Thread] = []

    def send_until_it_lands() -> None:
        while not left.wait(0.5):
            os.kill(os.getpid(), stop.signum)

    def interrupt(signum: int, frame: object) -> None:
        if not senders:
            stop.signum = signum
            senders.append(threading.Thread(target=send_until_it_lands, daemon=True))
            senders[0].start()
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, interrupt) for s in handled}
    previous_hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: (
        None
        if unraisable.exc_type is KeyboardInterrupt  # sent again
        else previous_hook(unraisable)
    )
    try:
        yield stop
    finally:
        left.set()
        for sender in senders:  # no signal sent after the handlers below are gone
            sender.join()
        sys.unraisablehook = previous_hook
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_image_command(
    prog: str, parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int], argv: list[str] | None
) -> None:
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
    except OSError as exc:  # an output that cannot be written (--out under a file, a read-only folder)
        print(f"{prog}: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(status)
