"""The wall-time estimate a training phase logs after its first epoch, against the time the
rest of the phase took, over a spread of data sizes and models.

    .venv/bin/python benchmarks/estimate.py [--epochs 6] [--out NEW_FOLDER]

Each case is one fungiclf-train job on the synthetic set (no early stopping: patience =
epochs), run as a user runs it. The estimate is parsed from its log ("up to N more epochs
take about ..."); the actual time is the phase's training time (metrics.json
timings.train_seconds) minus its first epoch. Prints estimate / actual per case (goal:
0.7-1.4 on 2 CPU cores). Run by hand; not part of the tests.
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

CASES = [  # (name, overrides)
    ("cnn_small 48px 200/class", ["model=cnn_small", "dataset.synthetic.n_per_class=200"]),
    ("cnn 48px 400/class", ["model=cnn"]),
    ("cnn 64px 400/class", ["model=cnn", "preprocess.size=64"]),
    ("vgg_mini 48px 800/class", ["model=vgg_mini", "dataset.synthetic.n_per_class=800"]),
    ("convmixer 32px 400/class", ["model=convmixer", "preprocess.size=32"]),
]
FIRST = re.compile(r"Epoch 1 took ([\d.]+) s .*?take about ([\d.]+) (s|min|h)")
UNIT = {"s": 1.0, "min": 60.0, "h": 3600.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", help="a new folder for the run folders (default: a fresh temporary one)")
    args = parser.parse_args()
    args.out = args.out or tempfile.mkdtemp(prefix="fungiclf-estimate-")
    train = Path(sys.executable).with_name("fungiclf-train")
    print("| case | first epoch s | estimate s | actual s | estimate / actual |\n|---|---|---|---|---|")
    for i, (name, overrides) in enumerate(CASES):
        run = Path(args.out) / str(i)
        command = [
            str(train),
            *overrides,
            f"trainer.epochs={args.epochs}",
            f"trainer.patience={args.epochs}",
            "trainer.verbose=0",
            f"hydra.run.dir={run}",
        ]
        log = subprocess.run(command, capture_output=True, text=True).stdout
        found = FIRST.search(log)
        metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
        if not found or metrics.get("status") != "completed":
            print(f"| {name} | failed: see {run} | | | |")
            continue
        first, estimate = float(found.group(1)), float(found.group(2)) * UNIT[found.group(3)]
        actual = metrics["timings"]["train_seconds"] - first
        print(f"| {name} | {first:.1f} | {estimate:.0f} | {actual:.0f} | {estimate / actual:.2f} |", flush=True)


if __name__ == "__main__":
    main()
