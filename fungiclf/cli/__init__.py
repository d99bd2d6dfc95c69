"""Other console scripts (report, data, predict, explain), and what every console script does
when the reader of its stdout goes away."""

import argparse
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import NoReturn, TextIO

from fungiclf.errors import FungiclfError

SOME_SKIPPED = 3   # exit status of predict / explain when some images could not be read


def stop_on_closed_pipe() -> NoReturn:
    """The reader of stdout went away (``fungiclf-report SWEEP | head``): stop as Unix tools
    do, without a traceback. Every command writes its files before it prints, so nothing is
    lost; stdout goes to /dev/null first so that the flush at exit cannot fail again."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(141)   # 128 + SIGPIPE: what a shell reports for a tool stopped by a closed pipe


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


def _in_gc_callback(frame: FrameType | None) -> bool:
    codes = {getattr(callback, "__code__", None) for callback in gc.callbacks}
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def ctrl_c_that_lands() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt, but never inside a garbage-collector callback, where
    Python prints "Exception ignored in: <function _xla_gc_callback>" and goes on (JAX's
    callback, imported with TensorFlow, runs often while a model trains): there the signal is
    sent again 0.2 s later. A SIGINT that the shell set to be ignored (a background job) stays
    ignored."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if _in_gc_callback(frame):
            retry = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
            retry.daemon = True
            retry.start()
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


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
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(status)
