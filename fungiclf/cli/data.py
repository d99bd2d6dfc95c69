"""fungiclf-data: fetch datasets, describe one, clear the decode cache.

    fungiclf-data fetch defungi [--dest DIR] [--url URL] [--sha256 HEX | --md5 HEX]
    fungiclf-data fetch pneumoniamnist_224
    fungiclf-data info PATH [--dataset defungi] [--group-by slide] [--group-pattern REGEX] [--json FILE]
    fungiclf-data cache clear [--cache-dir DIR]

Default folders come from the same config as fungiclf-train (paths.data_dir,
paths.cache_dir; FUNGICLF_DATA and FUNGICLF_CACHE set them).
"""

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

import pandas as pd
from hydra import compose, initialize_config_module
from omegaconf import DictConfig, OmegaConf

from fungiclf.cli import stop_on_closed_pipe
from fungiclf.data.dataset import load_samples
from fungiclf.data.fetch import MAX_EXPANDED_GB, MAX_RATIO, Limits, fetch
from fungiclf.data.inventory import take_inventory
from fungiclf.data.prepare import LOCKS, clear_locks, is_entry
from fungiclf.errors import ConfigError, FungiclfError
from fungiclf.runs import write_output
from fungiclf.settings.resolve import resolve_dataset

log = logging.getLogger("fungiclf.data")


def compose_config(*overrides: str) -> DictConfig:
    """The fungiclf-train config, for its paths and dataset presets."""
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        return compose("train", overrides=list(overrides))


def cmd_fetch(args: argparse.Namespace) -> None:
    dest = Path(args.dest or compose_config().paths.data_dir).expanduser()
    checksum = ("sha256", args.sha256) if args.sha256 else ("md5", args.md5) if args.md5 else None
    limits = Limits(int(args.max_expanded_gb * 1e9), args.max_ratio)
    print(fetch(args.name, dest, args.url, checksum, limits=limits))


def cmd_info(args: argparse.Namespace) -> None:
    path = Path(args.path).expanduser()
    dataset = args.dataset or {".npz": "medmnist", ".csv": "csv"}.get(path.suffix.lower(), "image_folder")
    cfg = compose_config(f"dataset={dataset}")
    group = OmegaConf.to_container(cfg.dataset, resolve=True)
    group["path"] = str(path)
    if args.group_by:
        group["group_by"] = args.group_by
    if args.group_pattern:
        group["group_pattern"] = args.group_pattern
    if args.columns:
        pairs = [item.partition("=") for item in args.columns]
        if any(not sep for _, sep, _ in pairs):
            raise ConfigError(f"--columns takes ROLE=NAME pairs, e.g. image=path label=dx; got {args.columns}")
        group["columns"] = {**(group.get("columns") or {}), **{role: name for role, _, name in pairs}}
    settings, _ = resolve_dataset(group, {})
    samples = load_samples(settings, str(Path(cfg.paths.cache_dir).expanduser()))
    inventory = take_inventory(samples)
    items = inventory.items
    exact, pixel = inventory.duplicate_sets("exact"), inventory.duplicate_sets("pixel")
    unreadable = inventory.unreadable()
    grouped = samples.groups is not None and len(set(samples.groups)) < len(samples)
    lines = [
        f"{path}: {len(items):,} images, {len(samples.class_names)} classes"
        + (f", {items['group'].nunique():,} groups" if grouped else "")
    ]
    lines.append(inventory.per_class().to_string(index=False))
    if deep := inventory.sixteen_bit():
        advice = (
            "the default preprocess.bit_depth=16 fits them"
            if deep["bits"] == 16
            else f"train with preprocess.bit_depth={deep['bits']} to keep their contrast (the default, 16, "
            f"decodes them to 0-{round(deep['peak'] / 257)} of 0-255)"
        )
        lines.append(
            f"16-bit images: {deep['images']:,}, largest value {deep['peak']} ({deep['bits']} bits used): " + advice
        )
    if (items["split"] != "").any():
        lines.append(pd.crosstab(items["label"], items["split"].replace("", "train (val carved out)")).to_string())
    lines.append(f"unreadable files: {len(unreadable)}")
    lines += [f"  {row.id}: {row.error}" for row in unreadable.head(20).itertuples()]
    for name, sets in (
        ("exact duplicates (same bytes)", exact),
        ("pixel duplicates (same decoded pixels, other bytes)", pixel),
    ):
        lines.append(f"{name}: {sum(len(s) for s in sets)} files in {len(sets)} sets")
        lines += [f"  {' = '.join(s)}" for s in sets[:10]]
    if args.json:
        report = {
            "path": str(path),
            "images": len(items),
            "classes": samples.class_names,
            "groups": int(items["group"].nunique()) if grouped else None,
            "per_class": inventory.per_class().to_dict("records"),
            "sixteen_bit": deep,
            "unreadable": unreadable.to_dict("records"),
            "exact_duplicates": exact,
            "pixel_duplicates": pixel,
        }
        write_output(Path(args.json), lambda tmp: Path(tmp).write_text(json.dumps(report, indent=1)))
    print("\n".join(lines))


def cmd_cache_clear(args: argparse.Namespace) -> None:
    root = Path(args.cache_dir or compose_config().paths.cache_dir).expanduser() / "prepared"
    found = sorted(p for p in root.iterdir() if p.name != LOCKS) if root.is_dir() else []
    ours = [p for p in found if p.is_dir() and not p.is_symlink() and is_entry(p)]
    size = sum(f.stat().st_size for p in ours for f in p.rglob("*") if f.is_file())
    for entry in ours:
        shutil.rmtree(entry)
    clear_locks(root)
    if root.is_dir() and not any(root.iterdir()):
        root.rmdir()
    print(f"Removed {len(ours)} prepared-array entries ({size / 1e6:.1f} MB) from {root}")
    if left := [p.name for p in found if p not in ours]:
        print(
            f"Left {len(left)} entries that fungiclf did not make (no manifest naming them): "
            f"{', '.join(left[:5])}{', ...' if len(left) > 5 else ''}"
        )


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="fungiclf-data", description=__doc__.split("\n\n")[0])
    sub = top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fetch", help="download a dataset (checksum-verified)")
    p.add_argument("name", help="defungi, chest_xray, or a MedMNIST set such as pneumoniamnist or pathmnist_128")
    p.add_argument("--dest", help="folder to put it in (default: paths.data_dir)")
    p.add_argument("--url", help="fetch from this address or local file instead (a mirror, a new release)")
    sums = p.add_mutually_exclusive_group()
    sums.add_argument("--sha256", help="expected sha256 of the download")
    sums.add_argument("--md5", help="expected md5 of the download")
    p.add_argument(
        "--max-expanded-gb",
        type=float,
        default=MAX_EXPANDED_GB,
        help="refuse an archive that would unpack to more than this (default %(default)g GB)",
    )
    p.add_argument(
        "--max-ratio",
        type=float,
        default=MAX_RATIO,
        help="refuse an archive that would unpack to more than this many times its size (default %(default)g)",
    )
    p.set_defaults(run=cmd_fetch)
    p = sub.add_parser("info", help="per-class counts, sizes, modes, groups, unreadable files and duplicates")
    p.add_argument("path", help="an image folder, a MedMNIST-style .npz or a CSV table of images")
    p.add_argument("--dataset", help="a dataset config whose options apply (e.g. defungi: grouped by photograph)")
    p.add_argument("--group-by", help="a preset of the dataset config (defungi: photograph, slide, none)")
    p.add_argument("--group-pattern", help="regex on file names; first group = group key")
    p.add_argument(
        "--columns",
        nargs="+",
        metavar="ROLE=NAME",
        help="a CSV's columns: image=..., label=..., group=..., split=... (default image, label)",
    )
    p.add_argument("--json", help="also write the full report to this file")
    p.set_defaults(run=cmd_info)
    p = sub.add_parser("cache", help="manage the decode cache")
    cache = p.add_subparsers(dest="action", required=True)
    p = cache.add_parser("clear", help="remove prepared arrays (never fetched datasets)")
    p.add_argument("--cache-dir", help="cache root (default: paths.cache_dir)")
    p.set_defaults(run=cmd_cache_clear)
    return top


def main(argv: list[str] | None = None) -> None:
    """Console script: one-line errors and exit 1 for anything a user can cause."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except FungiclfError as exc:
        print(f"fungiclf-data: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("fungiclf-data: interrupted; nothing partial was kept", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:
        stop_on_closed_pipe()
    except OSError as exc:  # a --json or --dest that cannot be written
        print(f"fungiclf-data: error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
