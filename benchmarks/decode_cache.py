"""Decode once: cold decode of an image folder vs loading the cached arrays, side by side.

    .venv/bin/python benchmarks/decode_cache.py [PATH] [--sizes 80 128] [--color gray|rgb] [--repeats 3]

PATH defaults to ../shared/data/defungi. Each size is decoded into a fresh temporary cache
(cold: read, decode, resize, write the entry), then loaded from it ``repeats`` times
(memory-mapped open plus reading every pixel once, as a training epoch does). Prints the
seconds of each and the ratio cold / cached. Run by hand; not part of the tests.
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from fungiclf.data.enhance import PixelSettings
from fungiclf.data.prepare import prepare
from fungiclf.data.sources import load_image_folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", default=str(Path(__file__).resolve().parents[2] / "shared/data/defungi"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[80, 128])
    parser.add_argument("--color", default="rgb", choices=["gray", "rgb"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    samples = load_image_folder(args.path)
    print(f"{args.path}: {len(samples):,} files, {os.cpu_count()} cores, color={args.color}")
    print("| size | cold decode (s) | cached load (s) | cold / cached |")
    print("|---|---|---|---|")
    for size in args.sizes:
        settings = PixelSettings(args.color, (size, size))
        with tempfile.TemporaryDirectory() as cache:
            started = time.perf_counter()
            cold = prepare(samples, settings, cache)
            cold_seconds = time.perf_counter() - started
            assert not cold.from_cache
            del cold
            loads = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                entry = prepare(samples, settings, cache)
                checksum = int(np.asarray(entry.images).sum(dtype=np.uint64))  # touch every pixel
                loads.append(time.perf_counter() - started)
                assert entry.from_cache and checksum > 0
                del entry
            cached = statistics.median(loads)
            print(f"| {size} | {cold_seconds:.2f} | {cached:.3f} | {cold_seconds / cached:.0f}x |")


if __name__ == "__main__":
    main()
