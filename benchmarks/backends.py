"""Training speed per installed Keras backend, and what the default augmentation costs on each.

    .venv/bin/python benchmarks/backends.py [PATH] [--epochs 2] [--size 80] [--color gray]

For each backend that imports here (tensorflow, jax, torch), in its own process: the report
CNN on cached DeFungi arrays (PATH defaults to ../shared/data/defungi) through fungiclf's
fit path with augment=none, augment=basic (flips, transpose, contrast, brightness) and
basic with augment.erase=0.5 (random erasing in half the images) or augment.blur=2 (a
Gaussian blur of sigma up to 2 px), each after a warm-up epoch of its own. Prints training
images per second and the step-time ratios against none per backend. Run by hand; not part
of the tests.
"""

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

DEFUNGI = Path(__file__).resolve().parents[2] / "shared" / "data" / "defungi"
PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}

CHILD = """
import sys, tempfile, time
from pathlib import Path
import fungiclf, keras
sys.path.insert(0, {bench!r})
from overhead import settings_for, run_fungiclf
from fungiclf.data.dataset import list_items, load_pixels
from fungiclf.settings.resolve import resolve_augment
import dataclasses
rates = {{}}
with tempfile.TemporaryDirectory() as scratch:
    base = settings_for({path!r}, {size}, {color!r}, {epochs}, 32, {cache!r})
    listing = list_items(base.dataset, base.seed, base.paths.cache_dir)
    data = load_pixels(listing, base.preprocess, base.filters, base.seed, base.paths.cache_dir)
    basic = {{"flip": "horizontal_and_vertical", "transpose": True, "contrast": 0.2, "brightness": 0.1}}
    for name, augment in (("none", {{}}), ("basic", basic), ("erase", {{**basic, "erase": 0.5}}),
                          ("blur", {{**basic, "blur": 2.0}})):
        settings = dataclasses.replace(base, augment=resolve_augment(augment))
        run_fungiclf(dataclasses.replace(settings, trainer=dataclasses.replace(settings.trainer, epochs=1)), data,
                     Path(scratch) / f"warm_{{name}}", 1)
        seconds = run_fungiclf(settings, data, Path(scratch) / name, {epochs})
        rates[name] = len(data.index("train")) * {epochs} / seconds
print(f"RESULT {{keras.backend.backend()}} " + " ".join(f"{{name}}={{rate:.0f}}" for name, rate in rates.items()))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", nargs="?", default=str(DEFUNGI))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--size", type=int, default=80)
    parser.add_argument("--color", default="gray", choices=["gray", "rgb"])
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/fungiclf"))
    args = parser.parse_args()
    bench = str(Path(__file__).resolve().parent)
    print(
        f"backend     augment=none   augment=basic   +erase 0.5   +blur 2    step time basic/none  +erase/none  "
        f"+blur/none  "
        f"({args.size}x{args.size} {args.color}, report CNN, fungiclf's fit path, {args.epochs} epochs)"
    )
    for backend, package in PACKAGES.items():
        if importlib.util.find_spec(package) is None:
            print(f"{backend:<11} not installed")
            continue
        code = CHILD.format(
            bench=bench,
            path=os.path.abspath(args.path),
            size=args.size,
            color=args.color,
            epochs=args.epochs,
            cache=os.path.abspath(args.cache),
        )
        # run from benchmarks/: from the project root, `python -c` would import the source tree's
        # fungiclf/ (which lacks conf/) ahead of an installed, non-editable fungiclf
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=bench,
            env={**os.environ, "KERAS_BACKEND": backend},
        )
        line = next((line for line in out.stdout.splitlines() if line.startswith("RESULT")), None)
        if line is None:
            print(
                f"{backend:<11} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}"
            )
            continue
        rates = dict(item.split("=") for item in line.split()[2:])
        none, basic, erase, blur = (float(rates[name]) for name in ("none", "basic", "erase", "blur"))
        print(
            f"{backend:<11} {none:>9,.0f} img/s {basic:>10,.0f} img/s {erase:>7,.0f} img/s {blur:>7,.0f} img/s "
            f"{none / basic:>15.2f}x {none / erase:>12.2f}x {none / blur:>10.2f}x"
        )


if __name__ == "__main__":
    main()
