"""A single-process sweep on one dataset: decoding happens once, what each later job costs
besides training, and whether memory grows from job to job.

    .venv/bin/python benchmarks/sweep_memory.py [PATH] [--jobs 10] [--epochs 1]

Runs `fungiclf-train -m seed=0..N-1` (the basic launcher: one process, jobs in turn) of the
report CNN on DeFungi at 80x80 gray (PATH defaults to ../shared/data/defungi) into a fresh
cache, then reads every job's metrics.json. Prints, per job: whether its pixels came from
the cache, its overhead besides training and evaluation (the gap since the previous job
ended, which is Hydra composing the next config, plus resolve, data load and writing the
run folder), the process's resident memory after the job and its peak. Then the median
per-job overhead after the first job, the peak RSS of the process, and the RSS growth
from job 2 to the last job. Run by hand; not part of the tests.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DEFUNGI = Path(__file__).resolve().parents[2] / "shared" / "data" / "defungi"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", default=str(DEFUNGI))
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        sweep = Path(scratch) / "sweep"
        seeds = ",".join(str(i) for i in range(args.jobs))
        command = [
            sys.executable,
            "-m",
            "fungiclf.cli.train",
            "-m",
            f"seed={seeds}",
            "dataset=defungi",
            f"dataset.path={args.path}",
            "preprocess.size=80",
            "preprocess.color=gray",
            "model=cnn",
            f"trainer.epochs={args.epochs}",
            "trainer.verbose=0",
            f"paths.cache_dir={scratch}/cache",
            f"hydra.sweep.dir={sweep}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
        jobs = [json.loads((sweep / str(i) / "metrics.json").read_text()) for i in range(args.jobs)]
        failed = [f"job {i + 1}: {job.get('error')}" for i, job in enumerate(jobs) if job["status"] != "completed"]
        if done.returncode or failed:
            sys.exit("sweep failed:\n" + "\n".join(failed or done.stderr.splitlines()[-20:]))
    print("job  from cache  overhead (s)  RSS after (MB)  peak RSS (MB)")
    overheads = []
    for i, job in enumerate(jobs):
        t = job["timings"]
        inside = t["job_seconds"] - t["train_seconds"] - t["eval_seconds"]
        gap = t["started_at"] - jobs[i - 1]["timings"]["finished_at"] if i else float("nan")
        overhead = inside + (gap if i else 0.0)
        if i:
            overheads.append(overhead)
        print(
            f"{i + 1:>3}  {str(t['data_from_cache']):>10}  {overhead:>12.2f}  {job['resources']['rss_mb']:>14.0f}  "
            f"{job['resources']['max_rss_mb']:>13.0f}"
        )
    second, last = jobs[1]["resources"]["rss_mb"], jobs[-1]["resources"]["rss_mb"]
    once = not jobs[0]["timings"]["data_from_cache"] and all(j["timings"]["data_from_cache"] for j in jobs[1:])
    print(
        f"decoded once: {once}; "
        f"per-job overhead after the first job: median {statistics.median(overheads):.2f} s; "
        f"peak RSS {max(j['resources']['max_rss_mb'] for j in jobs):,.0f} MB; "
        f"RSS growth job 2 -> job {args.jobs}: {(last - second) / second * 100:+.1f}%"
    )


if __name__ == "__main__":
    main()
