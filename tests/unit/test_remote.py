"""dataset.path as a URL (data/remote.py): read from a real local S3 server (moto) and a local
HTTP server, mirrored in the cache, never stale; a missing protocol package is one line."""

import functools
import importlib.util
import logging
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import yaml

from fungiclf.data.remote import mirror
from fungiclf.errors import ConfigError, DataError
from fungiclf.settings.resolve import resolve
from fungiclf.train import train
from tests.conftest import write_image_folder, write_npz


@pytest.fixture
def s3(monkeypatch):
    """A moto S3 server on 127.0.0.1 with bucket ``data``; a boto3 client to fill it."""
    boto3 = pytest.importorskip("boto3")
    server_module = pytest.importorskip("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for key, value in {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
        }.items():
            monkeypatch.setenv(key, value)
        pytest.importorskip("s3fs").S3FileSystem.clear_instance_cache()  # fsspec keeps one per process
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="data")
        yield client
    finally:
        server.stop()


class WithoutVersion(SimpleHTTPRequestHandler):
    """A server that says nothing of a file's version (no Last-Modified, no ETag)."""

    def send_header(self, keyword, value):
        if keyword != "Last-Modified":
            super().send_header(keyword, value)


@pytest.fixture(params=[SimpleHTTPRequestHandler, WithoutVersion], ids=["last-modified", "no-version"])
def http_dir(request, tmp_path):
    """A folder served on 127.0.0.1 (Python's server: Last-Modified, no ETag)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(request.param, directory=str(served))
    handler.func.log_message = lambda *args: None
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{httpd.server_address[1]}", request.param is WithoutVersion
    finally:
        httpd.shutdown()
        httpd.server_close()


def upload_folder(client, folder: Path, prefix: str) -> None:
    for file in sorted(folder.rglob("*.png")):
        client.upload_file(str(file), "data", f"{prefix}/{file.relative_to(folder).as_posix()}")


def test_an_image_folder_on_s3_trains_like_a_local_one_and_its_mirror_follows_the_store(s3, make_cfg, tmp_path, caplog):
    folder = write_image_folder(tmp_path / "local", per_class=8, size=16)
    upload_folder(s3, folder, "slides")
    cache = tmp_path / "cache"
    overrides = (
        "dataset=image_folder",
        "dataset.path=s3://data/slides",
        f"paths.cache_dir={cache}",
        "model=logreg",
        "preprocess.size=16",
    )
    metrics = train(make_cfg(*overrides), tmp_path / "run")
    assert metrics["status"] == "completed" and metrics["n_train"] + metrics["n_val"] + metrics["n_test"] == 24
    resolved = yaml.safe_load((tmp_path / "run" / "config_resolved.yaml").read_text())
    assert resolved["dataset"]["path"] == "s3://data/slides"  # the run says which data it read
    # unchanged: nothing downloaded again
    with caplog.at_level(logging.INFO, logger="fungiclf.data.remote"):
        copy = mirror("s3://data/slides", str(cache))
    assert "24 files, 0 downloaded" in caplog.text
    # a changed object is downloaded again; a deleted one leaves the mirror
    changed = sorted((folder / "a").glob("*.png"))[0]
    s3.put_object(
        Bucket="data", Key=f"slides/a/{changed.name}", Body=sorted((folder / "b").glob("*.png"))[0].read_bytes()
    )
    s3.delete_object(Bucket="data", Key="slides/c/" + sorted((folder / "c").glob("*.png"))[0].name)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fungiclf.data.remote"):
        copy = mirror("s3://data/slides", str(cache))
    assert "23 files, 1 downloaded" in caplog.text
    assert (copy / "a" / changed.name).read_bytes() == sorted((folder / "b").glob("*.png"))[0].read_bytes()
    assert len(list(copy.rglob("*.png"))) == 23


def test_an_npz_over_http_is_downloaded_again_only_when_the_server_cannot_say_it_is_unchanged(
    http_dir, make_cfg, tmp_path, caplog
):
    served, base, versionless = http_dir
    write_npz(served / "pneumonia.npz", n=(30, 10, 10), size=12)
    cfg = make_cfg(
        "dataset=medmnist",
        f"dataset.path={base}/pneumonia.npz",
        f"paths.cache_dir={tmp_path / 'c'}",
        "model=logreg",
        "preprocess.size=12",
    )
    metrics = train(cfg, tmp_path / "run")
    assert metrics["status"] == "completed" and metrics["n_test"] == 10
    with caplog.at_level(logging.INFO, logger="fungiclf.data.remote"):
        mirror(f"{base}/pneumonia.npz", str(tmp_path / "c"))
    assert f"1 files, {1 if versionless else 0} downloaded" in caplog.text
    write_npz(served / "pneumonia.npz", n=(30, 10, 14), size=12)  # replaced on the server
    local = mirror(f"{base}/pneumonia.npz", str(tmp_path / "c"))
    assert len(np.load(local)["test_images"]) == 14


def test_a_url_that_does_not_exist_is_one_line(s3, http_dir, tmp_path):
    served, base, _ = http_dir
    with pytest.raises(DataError, match=r"^dataset.path 's3://data/nothing' does not exist$"):
        mirror("s3://data/nothing", str(tmp_path))
    with pytest.raises(DataError, match=r"^dataset.path 'http://127.0.0.1:\d+/missing.npz' does not exist$"):
        mirror(f"{base}/missing.npz", str(tmp_path))


@pytest.mark.skipif(importlib.util.find_spec("gcsfs") is not None, reason="gcsfs is installed here")
def test_a_protocol_whose_package_is_missing_names_the_extra(make_cfg):
    with pytest.raises(
        ConfigError,
        match=r"^dataset.path=gs://b/x: reading gs:// needs an optional package: "
        r"pip install 'fungiclf\[gcs\]'$",
    ):
        resolve(make_cfg("dataset=image_folder", "dataset.path=gs://b/x"))
    with pytest.raises(ConfigError, match="nope:// is not a protocol fsspec knows"):
        resolve(make_cfg("dataset=image_folder", "dataset.path=nope://b/x"))
