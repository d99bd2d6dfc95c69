"""The commands that only read run folders answer without importing Keras or TensorFlow
(seconds of start-up on 2 cores): checked on Python's own import list, not on a clock."""

import json
import subprocess
import sys

FRAMEWORKS = ("keras", "tensorflow", "jax", "torch")


def imported(code: str, *args: str, status: int = 0, says: str = "") -> set[str]:
    """The top-level packages a fresh interpreter imports running ``code`` (python -X
    importtime), which must exit with ``status`` and write ``says`` to stderr."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == status and says in result.stderr, result.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_importing_the_package_imports_no_framework():
    assert not set(FRAMEWORKS) & imported("import fungiclf")


def test_the_report_and_its_html_page_import_no_framework(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("[]\n")
    (run / "metrics.json").write_text(json.dumps({"status": "failed", "error": "out of memory", "model": "cnn"}))
    code = "import sys; from fungiclf.cli.report import main; main(sys.argv[1:])"
    loaded = imported(code, str(run), "--html")
    assert (run / "report.html").is_file() and not set(FRAMEWORKS) & loaded


def test_help_and_a_composition_refusal_import_no_framework():
    entry = "import sys; from fungiclf.cli.train import main; sys.argv[0] = 'fungiclf-train'; main()"
    assert not set(FRAMEWORKS) & imported(entry, "--help")
    assert not set(FRAMEWORKS) & imported(entry, "model=resnt18", status=1, says="did you mean resnet18?")


def test_help_lists_the_options_a_user_can_pick():
    result = subprocess.run(
        [sys.executable, "-m", "fungiclf.cli.train", "--help"], capture_output=True, text=True, timeout=300
    )
    listing = result.stdout.split("== Config ==")[0]
    groups = dict(line.split(": ", 1) for line in listing.splitlines() if ": " in line and "=" not in line)
    assert "base_" not in result.stdout
    assert {"cnn", "resnet18", "logreg"} <= set(groups["model"].split(", ")) and "smoke" in groups["trainer"]
