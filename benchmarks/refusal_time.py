"""How long a refused config takes, against composing and printing the config alone.

    .venv/bin/python benchmarks/refusal_time.py [--repeats 3]

Runs `fungiclf-train --cfg job` (Hydra composes and prints the config; nothing else) and
`fungiclf-train optimizer.lr=-1` (resolve() refuses it) alternately, each in a fresh
process as a user would, and prints the median seconds of each and the difference. The
refusal should cost at most a couple of seconds more than composing. Run by hand; not
part of the tests.
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def seconds(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fungiclf.train", *args], capture_output=True, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    compose, refuse = [], []
    with tempfile.TemporaryDirectory() as folder:
        for i in range(args.repeats):
            compose.append(seconds(["--cfg", "job"]))
            refuse.append(seconds(["optimizer.lr=-1", f"hydra.run.dir={folder}/run{i}"]))
    a, b = statistics.median(compose), statistics.median(refuse)
    print(f"--cfg job: {a:.2f} s   refused config: {b:.2f} s   difference: {b - a:+.2f} s "
          f"(median of {args.repeats}, fresh processes)")


if __name__ == "__main__":
    main()
