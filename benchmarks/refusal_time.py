"""How long the commands that should answer at once take, each in a fresh process as a
user runs them, against importing Keras alone (what every one of them paid before).

    .venv/bin/python benchmarks/refusal_time.py [--repeats 3]

Prints the median seconds of: `python -c "import keras"` (the baseline), `fungiclf-report`
on a one-run folder (tables and --html), `fungiclf-train --cfg job` (Hydra composes and
prints the config) and a refused config (`optimizer.lr=-1`, refused by resolve()), each
with its ratio to the baseline. Run by hand; not part of the tests.
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def seconds(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], capture_output=True, check=False)
    return time.perf_counter() - started


def one_run(folder: Path) -> Path:
    """A run folder the report can read (a failed run: nothing to train first)."""
    run = folder / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("[]\n")
    (run / "metrics.json").write_text(json.dumps({"status": "failed", "error": "example", "model": "cnn"}))
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run = one_run(Path(folder))
        commands = {
            "import keras (baseline)": ["-c", "import keras"],
            "fungiclf-report RUN --html": ["-m", "fungiclf.cli.report", str(run), "--html"],
            "fungiclf-train --cfg job": ["-m", "fungiclf.cli.train", "--cfg", "job"],
            "fungiclf-train optimizer.lr=-1 (refused)": [
                "-m",
                "fungiclf.cli.train",
                "optimizer.lr=-1",
                f"hydra.run.dir={folder}/refused",
            ],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeats):  # interleaved: a machine that slows down slows all alike
            for name, command in commands.items():
                times[name].append(seconds(command))
    baseline = statistics.median(times["import keras (baseline)"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:45s} {median:6.2f} s   {median / baseline:5.2f} x the baseline")
    print(f"(median of {args.repeats} fresh processes each)")


if __name__ == "__main__":
    main()
