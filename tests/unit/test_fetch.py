"""fungiclf-data fetch against a real HTTP server on 127.0.0.1 serving files the tests make."""

import hashlib
import io
import os
import socket
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from fungiclf.cli.data import main as data_main
from fungiclf.data.fetch import Limits, fetch, remotes
from fungiclf.errors import DataError
from tests.conftest import write_npz


class Files(BaseHTTPRequestHandler):
    """Serves ``self.server.files``: path -> bytes; paths starting /cut/ stop halfway.
    Every requested path is recorded in ``self.server.requests``."""

    def do_GET(self):
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if self.path.startswith("/cut/") else body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    httpd.files, httpd.requests = {}, []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def leftovers(folder):
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_medmnist_names_and_checksums_come_from_the_medmnist_table():
    known = remotes()
    assert known["pneumoniamnist"].checksum == ("md5", "28209eda62fecd6e6a2d98b1501bb15f")
    assert known["pathmnist_224"].target == "pathmnist_224.npz" and "zenodo.org" in known["pathmnist_224"].url
    assert known["defungi"].archive and known["defungi"].checksum is None


def test_npz_download_is_verified_and_lands_whole(server, tmp_path):
    httpd, base = server
    body = write_npz(tmp_path / "src.npz").read_bytes()
    httpd.files["/p.npz"] = body
    md5 = hashlib.md5(body).hexdigest()
    path = fetch("pneumoniamnist", tmp_path / "data", url=f"{base}/p.npz", checksum=("md5", md5), progress=False)
    assert path == tmp_path / "data" / "pneumoniamnist.npz" and path.read_bytes() == body
    assert leftovers(tmp_path / "data") == ["pneumoniamnist.npz"]
    assert np.load(path)["train_images"].shape == (40, 28, 28)


def test_a_mirror_is_checked_against_the_pinned_checksum(server, tmp_path):
    httpd, base = server
    httpd.files["/p.npz"] = b"not the published file"
    with pytest.raises(DataError, match="md5 .* does not match the expected 28209eda62fecd6e6a2d98b1501bb15f"):
        fetch("pneumoniamnist", tmp_path / "data", url=f"{base}/p.npz", progress=False)
    assert leftovers(tmp_path / "data") == []


def test_a_download_cut_off_halfway_leaves_nothing(server, tmp_path):
    httpd, base = server
    httpd.files["/cut/p.npz"] = bytes(range(256)) * 4096
    with pytest.raises(DataError, match="cut off|failed"):
        fetch(
            "pneumoniamnist", tmp_path / "data", url=f"{base}/cut/p.npz", checksum=("sha256", "0" * 64), progress=False
        )
    assert leftovers(tmp_path / "data") == []


def test_zip_is_extracted_and_unwrapped_and_its_sha256_reported(server, tmp_path, caplog):
    httpd, base = server
    body = zip_bytes({"DeFungi/H1/H1_1a_1.jpg": b"x", "DeFungi/H2/H2_1a_1.jpg": b"y"})
    httpd.files["/defungi.zip"] = body
    with caplog.at_level("WARNING"):
        path = fetch("defungi", tmp_path / "data", url=f"{base}/defungi.zip", progress=False)
    assert path == tmp_path / "data" / "defungi"
    assert sorted(p.name for p in path.iterdir()) == ["H1", "H2"]
    assert hashlib.sha256(body).hexdigest() in caplog.text  # no published checksum: print the computed one
    assert leftovers(tmp_path / "data") == ["H1", "H1_1a_1.jpg", "H2", "H2_1a_1.jpg", "defungi"]


@pytest.mark.parametrize("member", ["../evil.txt", "a/../../evil.txt", "/tmp/evil-fungiclf.txt"])
def test_zip_members_outside_the_destination_are_refused(server, tmp_path, member):
    httpd, base = server
    httpd.files["/defungi.zip"] = zip_bytes({"H1/ok.jpg": b"x", member: b"evil"})
    with pytest.raises(DataError, match="outside"):
        fetch("defungi", tmp_path / "data", url=f"{base}/defungi.zip", progress=False)
    assert leftovers(tmp_path / "data") == [] and not (tmp_path / "evil.txt").exists()


def test_cli_gives_one_line_errors_and_accepts_a_local_file(server, tmp_path, capsys):
    _, base = server
    with pytest.raises(SystemExit) as exit_info:
        data_main(["fetch", "nosuchset", "--dest", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 1 and "\n" not in err and "unknown dataset 'nosuchset'" in err
    with pytest.raises(SystemExit):
        data_main(["fetch", "pathmnist", "--dest", str(tmp_path), "--url", f"{base}/missing.npz"])
    assert "404" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        data_main(["fetch", "chest_xray", "--dest", str(tmp_path)])
    assert "--url" in capsys.readouterr().err
    archive = tmp_path / "ChestXRay2017.zip"
    archive.write_bytes(
        zip_bytes({"chest_xray/train/NORMAL/a.jpeg": b"1", "chest_xray/test/NORMAL/b.jpeg": b"2", "__MACOSX/._x": b""})
    )
    data_main(
        [
            "fetch",
            "chest_xray",
            "--dest",
            str(tmp_path / "data"),
            "--url",
            str(archive),
            "--sha256",
            hashlib.sha256(archive.read_bytes()).hexdigest(),
        ]
    )
    assert capsys.readouterr().out.strip() == str(tmp_path / "data" / "chest_xray")
    assert sorted(p.name for p in (tmp_path / "data" / "chest_xray").iterdir()) == ["test", "train"]


def test_an_archive_that_expands_past_the_limits_is_refused_and_cleaned_up(server, tmp_path, capsys):
    """A zip of zeros (a few KB packed, 20 MB unpacked) passes neither the ratio nor the
    absolute cap; nothing of it stays behind, and the caps are command-line options."""
    httpd, base = server
    httpd.files["/defungi.zip"] = body = zip_bytes({"H1/zeros.bin": bytes(20_000_000), "H2/a.jpg": b"x"})
    assert len(body) < 100_000
    with pytest.raises(DataError, match="would expand to more than"):
        fetch("defungi", tmp_path / "data", url=f"{base}/defungi.zip", progress=False)
    assert leftovers(tmp_path / "data") == []
    with pytest.raises(DataError, match="past the limit of 0.01 GB"):
        fetch(
            "defungi",
            tmp_path / "data",
            url=f"{base}/defungi.zip",
            progress=False,
            limits=Limits(max_bytes=10_000_000, max_ratio=1e9),
        )
    path = fetch(
        "defungi",
        tmp_path / "data",
        url=f"{base}/defungi.zip",
        progress=False,
        limits=Limits(max_bytes=10**9, max_ratio=1e6),
    )  # genuine: raise the caps
    assert (path / "H1" / "zeros.bin").stat().st_size == 20_000_000
    with pytest.raises(SystemExit):
        data_main(["fetch", "defungi", "--dest", str(tmp_path / "cli"), "--url", f"{base}/defungi.zip"])
    assert "--max-ratio" in capsys.readouterr().err


def test_a_checksum_that_is_not_hex_is_refused_before_downloading(server, tmp_path, capsys):
    httpd, base = server
    httpd.files["/p.npz"] = b"x" * 10
    for flag, value in (("--sha256", "xyz"), ("--md5", "abc123")):
        with pytest.raises(SystemExit):
            data_main(["fetch", "pathmnist", "--dest", str(tmp_path), "--url", f"{base}/p.npz", flag, value])
        assert "hex digits" in capsys.readouterr().err
    assert httpd.requests == []


def test_leftovers_of_a_killed_fetch_are_removed_by_the_next(server, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    host = socket.gethostname().replace("-", "_")
    data = tmp_path / "data"
    (data / f".defungi.extracting-{host}-{dead.pid}-ab12cd34" / "H1").mkdir(parents=True)
    (data / f".defungi.extracting-{host}-{dead.pid}-ab12cd34" / "H1" / "big.bin").write_bytes(b"0" * 1000)
    (data / f".pathmnist.npz.part-{host}-{dead.pid}-0f0f0f0f").write_bytes(b"partial")
    kept = [
        f".other.part-{host}-{os.getpid()}-12345678",  # a live fetch's
        f".other.part-another_node-{dead.pid}-12345678",
    ]  # another host's, whose pids this one cannot see
    for name in kept:
        (data / name).write_bytes(b"kept")
    httpd, base = server
    httpd.files["/defungi.zip"] = zip_bytes({"H1/a.jpg": b"x", "H2/b.jpg": b"y"})
    fetch("defungi", data, url=f"{base}/defungi.zip", progress=False)
    assert sorted(p.name for p in data.iterdir()) == sorted(kept) + ["defungi"]
