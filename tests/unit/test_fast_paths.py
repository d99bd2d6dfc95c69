"""The commands that only read run folders answer without importing Keras or TensorFlow
(seconds of start-up on 2 cores): checked on Python's own import list, not on a clock."""

import json
import subprocess
import sys

FRAMEWORKS = ("keras", "tensorflow", "jax", "torch")


def imported(code: str, *args: str) -> set[str]:
    """The top-level packages a fresh interpreter imports running ``code`` (python -X importtime)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in result.stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


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
