"""The wheel (what `pip install .` and the GPU machine's offline install get) holds the whole package.

An editable install reads the source tree, so a module or config folder missing from
pyproject.toml's package list goes unnoticed until someone installs the wheel. setuptools
still ships such folders today, with a page of warnings on every install, and says it
will stop.
"""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def build_wheel(out_dir: Path) -> tuple[Path, str]:
    """Build the wheel into out_dir; returns its path and the build's stderr."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out_dir), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
        cwd=out_dir,
    )
    (wheel,) = out_dir.glob("fungiclf-*.whl")
    return wheel, built.stderr


def test_wheel_holds_every_module_and_config_and_composes_from_them(tmp_path):
    wheel, build_log = build_wheel(tmp_path)
    assert "absent from the `packages` configuration" not in build_log
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {
        p.relative_to(ROOT).as_posix() for top in ("fungiclf", "hydra_plugins") for p in (ROOT / top).rglob("*.py")
    }
    configs = {"fungiclf/" + p.relative_to(ROOT).as_posix() for p in (ROOT / "conf").rglob("*.yaml")}
    assert modules - names == set()
    assert configs - names == set()

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}  # ahead of the editable install's finder
    composed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import fungiclf, sys; print(fungiclf.__file__); "
            "sys.argv = ['fungiclf-train', '--cfg', 'job', 'experiment=chest_xray_best']; "
            "from fungiclf.cli.train import main; main()",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert composed.returncode == 0, composed.stderr[-2000:]
    assert composed.stdout.splitlines()[0].startswith(str(site))
    assert "experiment_name: chest_xray_best" in composed.stdout
    sweepers = subprocess.run(  # the installed wheel's sweeper is found by Hydra's own plugin scan
        [
            sys.executable,
            "-c",
            "from hydra.core.plugins import Plugins; from hydra.plugins.sweeper import Sweeper; "
            "print(*(c.__module__ + '.' + c.__name__ for c in Plugins.instance().discover(Sweeper)))",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert "hydra_plugins.fungiclf_study_sweeper.StudySweeper" in sweepers.stdout.split(), sweepers.stderr[-2000:]
