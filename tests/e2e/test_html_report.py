"""fungiclf-report --html: one offline page of a real sweep, opened in headless Chromium."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fungiclf.cli.report import main as report_main
from fungiclf.evaluation.html_page import worst_errors
from fungiclf.runs import METRICS, read_run
from tests.conftest import REPO, write_image_folder

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Without the background-networking flags Chromium calls Google's hosts at every start.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1800",
]
SCREENSHOT = os.environ.get("FUNGICLF_REPORT_SCREENSHOT")  # where to keep the page's picture (docs/img/)


def installed_chromium() -> str | None:
    """Debian's chromium and chromium-driver, installed here when missing (as root, with
    apt); None with the reason the test is skipped when they cannot be."""
    if Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file():
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "headless Chromium is not installed and cannot be here (needs root and apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in ([], ["apt-get", "update", "-q"]):
        if attempt:
            subprocess.run(attempt, env=env, capture_output=True, timeout=600, check=False)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"],
            env=env,
            capture_output=True,
            timeout=900,
            check=False,
        )
        if Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file():
            return None
    return "apt-get could not install chromium and chromium-driver"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A Selenium-driven headless Chromium with an empty profile, quit at the end."""
    reason = installed_chromium()
    if reason:
        pytest.skip(reason)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('profile')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, cache_dir) -> Path:
    """A real sweep: two scikit-learn models x two seeds through fungiclf-train -m on two joblib
    workers, plus a job folder whose run never finished (no metrics.json)."""
    root = tmp_path_factory.mktemp("html")
    data = write_image_folder(root / "images", per_class=16, size=20)
    mislabelled = write_image_folder(root / "other", classes=("a",), per_class=6, size=20, seed=1)
    for i, file in enumerate(sorted((mislabelled / "a").iterdir())):  # class a's bars filed under b: errors
        file.rename(data / "b" / f"b_mislabelled_{i}.png")
    folder = root / "sweep"
    command = [
        sys.executable,
        "-m",
        "fungiclf.cli.train",
        "-m",
        "model=logreg,random_forest",
        "seed=0,1",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "dataset=image_folder",
        f"dataset.path={data}",
        "preprocess.size=20",
        f"paths.cache_dir={cache_dir}",
        f"hydra.sweep.dir={folder}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    shutil.copytree(folder / "0", folder / "4")
    (folder / "4" / METRICS).unlink()
    return folder


def test_the_page_shows_every_run_sorts_and_asks_for_nothing(sweep, browser, capsys):
    report_main([str(sweep), "--html", "--metric", "test.accuracy"])
    page = sweep / "report.html"
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and 'src="data:' in text  # everything inlined
    browser.get(page.as_uri())
    runs = [cell.text for cell in browser.find_elements("css selector", "#runs tbody tr td:first-child")]
    assert sorted(runs) == ["0", "1", "2", "3", "4"]  # every job, the unfinished one too
    unfinished = browser.find_element("xpath", "//h2[text()='Runs that did not complete']/following-sibling::ul[1]")
    assert "4" in unfinished.text and "incomplete" in unfinished.text
    headers = [cell.text for cell in browser.find_elements("css selector", "#runs thead th")]
    column = headers.index("test.accuracy") + 1

    def accuracies() -> list[float | None]:
        cells = browser.find_elements("css selector", f"#runs tbody tr td:nth-child({column})")
        return [float(cell.text.split()[0]) if cell.text.strip() else None for cell in cells]

    header = browser.find_element("css selector", f"#runs thead th:nth-child({column})")
    header.click()
    ascending = accuracies()
    header.click()
    descending = accuracies()
    assert ascending[:4] == sorted(ascending[:4]) and descending[:4] == sorted(descending[:4], reverse=True)
    assert ascending[4] is None and descending[4] is None  # the run without metrics stays last
    assert sorted(ascending[:4]) == sorted(read_run(sweep / str(i))["test"]["accuracy"] for i in range(4))
    requested = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert requested == []  # the page asks the network nothing
    blocks = browser.find_elements("css selector", "details")
    assert len(blocks) == 4 and not any(block.get_attribute("open") for block in blocks)  # collapsed
    screenshot = Path(SCREENSHOT) if SCREENSHOT else sweep / "report.png"
    browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000


def test_the_gallery_holds_the_most_confident_errors_with_their_images(sweep, tmp_path):
    run = sweep / "0"
    gallery = worst_errors(run, 3)
    assert gallery, "the tiny sweep's run 0 made no test error"
    confidences = [item.confidence for item in gallery]
    assert confidences == sorted(confidences, reverse=True)
    assert all(item.true != item.predicted and item.image is not None and item.image.ndim == 3 for item in gallery)
    assert all(item.file is not None and item.file.is_file() for item in gallery)  # what --gradcam explains
    damaged = tmp_path / "damaged"
    shutil.copytree(run, damaged)
    (damaged / "config_resolved.yaml").write_text("::: not yaml [")
    listed = worst_errors(damaged, 3)  # the errors without their pictures, not a failed report
    assert [i.item_id for i in listed] == [i.item_id for i in gallery] and all(
        i.image is None and i.file is None for i in listed
    )


def test_a_sweep_page_of_100_runs_stays_small_and_fast(sweep, tmp_path):
    import time

    big = tmp_path / "big"
    for i in range(100):
        shutil.copytree(sweep / str(i % 4), big / str(i))
    started = time.perf_counter()
    report_main([str(big), "--html"])
    seconds = time.perf_counter() - started
    size = (big / "report.html").stat().st_size
    assert size < 8e6, f"{size / 1e6:.1f} MB"
    print(f"100 runs: {seconds:.1f} s, {size / 1e6:.2f} MB")
