"""Ctrl-C is not lost when it arrives where Python drops exceptions (a gc callback)."""

import gc
import os
import signal
import threading
import time

import pytest

from fungiclf.cli import ctrl_c_that_lands


def test_ctrl_c_inside_a_gc_callback_lands_after_it():
    """Python drops an exception raised inside a gc callback ("Exception ignored in ...") and
    goes on, so a plain KeyboardInterrupt there would leave training running."""

    def slow_callback(phase: str, info: dict) -> None:
        if phase == "start":
            time.sleep(0.3)  # the signal arrives here: its KeyboardInterrupt is dropped

    gc.callbacks.append(slow_callback)
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        with ctrl_c_that_lands():
            threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
            started = time.monotonic()
            with pytest.raises(KeyboardInterrupt):
                gc.collect()
                time.sleep(5)  # the signal sent again lands here
            assert time.monotonic() - started < 3
    finally:
        gc.callbacks.remove(slow_callback)
        signal.signal(signal.SIGINT, outer)


def test_a_schedulers_sigterm_stops_like_ctrl_c_and_says_which_signal_came():
    """SLURM's time limit sends SIGTERM (then SIGKILL 30 s later): the job should stop as an
    interrupt, naming its run folder and resume=true, not die silently."""
    outer = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with pytest.raises(KeyboardInterrupt):
            with ctrl_c_that_lands() as stop:
                threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGTERM)).start()
                time.sleep(5)
        assert stop.signum == signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored on the way out
        with ctrl_c_that_lands() as quiet:
            pass
        assert quiet.signum is None
    finally:
        signal.signal(signal.SIGTERM, outer)


def test_ctrl_c_inside_a_tf_py_function_is_an_interrupt_not_a_failed_job(make_cfg, tmp_path, monkeypatch):
    """TensorFlow turns a KeyboardInterrupt raised inside a tf.py_function into UnknownError;
    the job must stop the sweep as an interrupt, not be recorded as failed."""
    import tensorflow as tf
    from fungiclf import train as train_module

    def interrupted_in_py_function(settings, run_dir):
        raise tf.errors.UnknownError(
            None,
            None,
            "Error in user-defined function passed to MapDataset: "
            "KeyboardInterrupt: Traceback (most recent call last): ...",
        )

    monkeypatch.setattr(train_module, "run", interrupted_in_py_function)
    with pytest.raises(KeyboardInterrupt):
        train_module.run_job(make_cfg("trainer=smoke"), tmp_path / "run")
    assert not (tmp_path / "run" / "metrics.json").exists()  # no "failed" record
