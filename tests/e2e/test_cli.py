"""The console script as a user runs it: exit codes, one-line errors, multirun, other backends."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fungiclf.train import run_job
from tests.conftest import write_image_folder


def run_cli(args: list[str], cache_dir: Path, env_extra: dict | None = None, code: str | None = None):
    env = {**os.environ, "FUNGICLF_CACHE": str(cache_dir), **(env_extra or {})}
    env.pop("HYDRA_FULL_ERROR", None)
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "fungiclf.cli.train"]
    return subprocess.run(command + args, capture_output=True, text=True, env=env, timeout=600)


def bad_inputs(tmp_path) -> dict[str, Path]:
    npz = tmp_path / "empty.npz"
    np.savez(npz, other=np.zeros(3))
    write_image_folder(tmp_path / "one", classes=("only",), per_class=2)
    return {"npz": npz, "one_class": tmp_path / "one"}


@pytest.mark.parametrize(
    "args, needle",
    [
        (["dataset=image_folder", "dataset.path=/no/such/folder"], "/no/such/folder"),
        (["optimizer.lr=-1"], "'lr' parameter of optimizer"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(cache_dir, tmp_path, args, needle):
    out = run_cli([*args, "trainer=smoke", f"hydra.run.dir={tmp_path / 'run'}"], cache_dir)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr + out.stdout
    error_lines = [line for line in out.stderr.splitlines() if needle in line]
    assert error_lines, out.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "failed" and needle in metrics["error"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["preprocess.size=8", "trainer.smoke=false"], "preprocess.size"),  # smoke would raise the size
        (["dataset=medmnist", "dataset.path={npz}"], "train_images"),
        (["dataset=image_folder", "dataset.path={one_class}"], "at least two class folders"),
    ],
)
def test_more_bad_input_fails_the_job_in_one_line(make_cfg, tmp_path, args, needle):
    """The same path as above, in-process (the subprocess cost is paid once, above)."""
    paths = bad_inputs(tmp_path)
    assert run_job(make_cfg(*[a.format(**paths) for a in args], "trainer=smoke"), tmp_path / "run") is None
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "failed" and needle in metrics["error"] and "\n" not in metrics["error"]


def test_conflicting_hydra_flags_are_one_line(cache_dir, tmp_path):
    out = run_cli(["-m", "--cfg", "job", "seed=0,1"], cache_dir)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip()] and "drop -m" in out.stderr


# Both variants are `slow` (25-45 s each on 2 cores); joblib workers run in the default suite
# through test_html_report.py's sweep.
@pytest.mark.parametrize(
    "launch",
    [
        pytest.param(["hydra.run.dir={out}"], marks=pytest.mark.slow, id="single-run"),
        pytest.param(
            ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0", "hydra.sweep.dir={out}"],
            marks=pytest.mark.slow,
            id="joblib-worker",
        ),
    ],
)
def test_a_reader_of_stdout_that_goes_away_does_not_fail_the_training(cache_dir, tmp_path, launch):
    """`fungiclf-train ... | head -1`: the run goes on to a completed run folder, without a traceback."""
    env = {**os.environ, "FUNGICLF_CACHE": str(cache_dir)}
    args = [arg.format(out=tmp_path / "out") for arg in launch]
    with open(tmp_path / "stderr.txt", "w") as stderr:
        job = subprocess.Popen(
            [sys.executable, "-m", "fungiclf.cli.train", *args, "trainer=smoke"],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
        job.stdout.readline()
        job.stdout.close()  # the reader goes away after the first line
        assert job.wait(timeout=600) == 0
    errors = (tmp_path / "stderr.txt").read_text()
    assert "Traceback" not in errors and "Logging error" not in errors, errors
    (metrics,) = (tmp_path / "out").rglob("metrics.json")
    assert json.loads(metrics.read_text())["status"] == "completed"


def test_unknown_config_key_is_refused_in_one_line_naming_the_keys(cache_dir, tmp_path):
    out = run_cli(["trainer.epochz=3", f"hydra.run.dir={tmp_path / 'run'}"], cache_dir)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert "'trainer.epochz'" in line and "epochs" in line and "+trainer.epochz" not in line
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_a_run_folder_that_cannot_be_written_is_one_line(cache_dir, tmp_path):
    """Hydra creates the run folder before any job: a path under a file (or a read-only
    place) was a double traceback."""
    (tmp_path / "afile").write_text("")
    out = run_cli(["trainer=smoke", f"hydra.run.dir={tmp_path / 'afile' / 'run'}"], cache_dir)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("fungiclf-train: error: cannot write the run folder: [Errno 20] Not a directory:")
    assert "hydra.run.dir" in line


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_smoke_job_predict_and_explain_on_other_backends_never_import_tensorflow(cache_dir, tmp_path, backend):
    """Train, predict and explain (Grad-CAM through the backend's own autodiff) in one
    process of each installed backend other than TensorFlow."""
    pytest.importorskip(backend)
    run = tmp_path / "run"
    code = (
        "import sys, glob\n"
        "from fungiclf.cli.train import main\n"
        "from fungiclf.cli.predict import main as predict\n"
        "from fungiclf.cli.explain import main as explain\n"
        "def call(fn, argv):\n"
        "    sys.argv = argv\n"
        "    try:\n        fn()\n"
        "    except SystemExit as e:\n        assert not e.code, (argv[0], e.code)\n"
        "call(main, ['fungiclf-train'] + sys.argv[1:])\n"
        f"images = sorted(glob.glob({str(cache_dir)!r} + '/synthetic/*/debris/*.png'))[:3]\n"
        f"call(predict, ['fungiclf-predict', {str(run)!r}, *images, '--tta', '--out', {str(tmp_path / 'p.csv')!r}])\n"
        f"call(explain, ['fungiclf-explain', {str(run)!r}, *images, '--out', {str(tmp_path / 'cam')!r}])\n"
        f"import keras; assert keras.backend.backend() == {backend!r}\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\nprint('NO_TF')"
    )
    out = run_cli(
        ["trainer=smoke", "trainer.verbose=0", f"hydra.run.dir={run}"], cache_dir, {"KERAS_BACKEND": backend}, code=code
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "NO_TF" in out.stdout
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["provenance"]["backend"] == backend and metrics["status"] == "completed"
    # JAX compiles the CNN with XLA on this CPU, where it trains slower than TensorFlow: told so
    assert ("xla_cpu" in [w["kind"] for w in metrics["warnings"]]) == (backend == "jax")
    assert len(list((tmp_path / "cam").glob("*_gradcam.png"))) == 3 and (tmp_path / "p.csv").is_file()


def test_resume_reruns_only_missing_or_changed_jobs(cache_dir, tmp_path):
    import shutil

    sweep = tmp_path / "sweep"
    args = ["-m", "model=ann,cnn", "trainer=smoke", "trainer.verbose=0", f"hydra.sweep.dir={sweep}", "resume=true"]
    first = run_cli(args, cache_dir)
    assert first.returncode == 0
    assert "Sweep: the first of 2 jobs took" in first.stdout + first.stderr  # the rest's estimate, after job 0
    kept = (sweep / "1" / "metrics.json").stat().st_mtime_ns
    shutil.rmtree(sweep / "0")
    out = run_cli(args, cache_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads((sweep / "0" / "metrics.json").read_text())["status"] == "completed"  # ran again
    assert (sweep / "1" / "metrics.json").stat().st_mtime_ns == kept  # skipped
    assert out.stdout.count("Run folder:") == 1
    # the README's own sweep (model=ann,cnn) in the report: the model override is the model column
    from fungiclf.cli.report import main as report_main
    import pandas as pd

    report_main([str(sweep), "--metric", "test.recall_macro"])
    table = pd.read_csv(sweep / "summary.csv")
    assert sorted(table["model"]) == ["ann", "cnn"] and "model (override)" not in table
    assert table["test.recall_macro"].notna().all()


@pytest.mark.slow  # a JAX process with two simulated devices
def test_data_parallel_over_two_simulated_devices_on_jax(cache_dir, tmp_path):
    """trainer.devices=2 with Keras' distribution API over two XLA host devices; a test split
    of 75 images (not a multiple of the batch) is padded and trimmed, never dropped."""
    pytest.importorskip("jax")
    run = tmp_path / "run"
    out = run_cli(
        [
            "trainer=smoke",
            "trainer.devices=2",
            "trainer.batch_size=8",
            "trainer.max_per_class=15",
            "trainer.verbose=0",
            f"hydra.run.dir={run}",
        ],
        cache_dir,
        {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Data parallel over 2 devices" in out.stdout + out.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["compute"]["devices"] == 2 and metrics["n_test"] == 75
    assert sum(1 for _ in open(run / "predictions.csv")) == 76
