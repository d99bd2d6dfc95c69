"""The wall-time estimate a training phase logs after its first epoch (training/callbacks.py)."""

import logging

from fungiclf.training import callbacks
from fungiclf.training.callbacks import WallClock


def test_the_estimate_leaves_out_the_compiling_first_step_then_follows_the_epochs(monkeypatch, caplog):
    now = [0.0]
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: now[0])
    clock = WallClock(epochs=11, every=0.0)

    def epoch(number: int, first_step: float, step: float, steps: int = 10, validation: float = 1.0) -> None:
        clock.on_epoch_begin(number)
        for batch in range(steps):
            now[0] += first_step if batch == 0 else step
            clock.on_train_batch_end(batch)
        now[0] += validation
        clock.on_epoch_end(number)

    with caplog.at_level(logging.INFO, logger="fungiclf.training.fit"):
        epoch(0, first_step=20.0, step=2.0)  # 39 s, 18 of them compiling: a steady epoch is 21 s
        assert "up to 10 more epochs take about 3.5 min" in caplog.text
        epoch(1, first_step=4.0, step=4.0)  # the machine got slower: 41 s an epoch
        assert "Epoch 2/11: about 4.7 min left" in caplog.text  # 9 x mean(21, 41) = 279 s
