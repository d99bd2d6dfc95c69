"""Progress bars reach a terminal and stay out of log files (CI logs, Slurm .out, `| tee`)."""

import io
import sys

import pytest

from fungiclf.progress import progress_bar
from tests.conftest import dataset_of, write_image_folder


class Stderr(io.StringIO):
    def __init__(self, terminal: bool):
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


@pytest.mark.parametrize(
    "terminal, steps, enabled, drawn",
    [
        (True, 600, True, True),
        (False, 600, True, False),  # a file: no bar at all
        (True, 10, True, False),  # too few steps to be worth a bar
        (True, 600, False, False),  # the caller turned it off (fetch(progress=False))
    ],
)
def test_a_bar_is_drawn_only_on_a_terminal_for_enough_steps(monkeypatch, terminal, steps, enabled, drawn):
    stderr = Stderr(terminal)
    monkeypatch.setattr(sys, "stderr", stderr)
    assert sum(progress_bar(range(steps), at_least=500, enabled=enabled, desc="decode")) == sum(range(steps))
    with progress_bar(total=None, enabled=enabled) as bar:  # unknown size (a download without Content-Length)
        bar.update(3)
    assert ("decode" in stderr.getvalue()) is drawn


def test_decoding_a_dataset_into_a_log_file_writes_no_bar(make_cfg, tmp_path, capfd):
    root = write_image_folder(tmp_path / "imgs", per_class=170)  # 510 files: above the bar's 500
    data = dataset_of(make_cfg("dataset=image_folder", f"dataset.path={root}"))
    assert len(data.labels) == 510
    assert "\r" not in capfd.readouterr().err
