"""Keras Applications: weights from a file, and the one-line error when ImageNet weights can't be had.

The download path is exercised for real against an HTTP server on 127.0.0.1 that the test
starts (one that refuses connections, one that serves a corrupt file); nothing is mocked.
"""

import http.server
import socket
import threading

import keras
import numpy as np
import pytest

from fungiclf.errors import ConfigError
from fungiclf.models import build_network
from fungiclf.models.applications import find_backbone
from tests.conftest import model_settings


def vgg_cfg(weights):
    return model_settings("vgg16", weights=weights)


@pytest.fixture
def empty_keras_home(tmp_path, monkeypatch):
    """Keras caches downloads under KERAS_HOME/models: point it at an empty folder."""
    from keras.src.backend import config

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path / "keras_home"))
    return tmp_path / "keras_home"


@pytest.fixture
def corrupt_weights_server(tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "notop.h5").write_bytes(b"this is not an HDF5 file" * 100)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path / "www"), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/notop.h5"
    server.shutdown()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/notop.h5"  # nothing listens there now: connection refused


@pytest.mark.parametrize("server", ["refused", "corrupt"])
def test_imagenet_without_usable_download_is_a_one_line_error(server, empty_keras_home, monkeypatch, request):
    url = closed_port_url() if server == "refused" else request.getfixturevalue("corrupt_weights_server")
    monkeypatch.setattr(keras.src.applications.vgg16, "WEIGHTS_PATH_NO_TOP", url)
    with pytest.raises(
        ConfigError, match=r"model.weights=imagenet: could not get the ImageNet weights of vgg16"
    ) as info:
        build_network(vgg_cfg("imagenet"), (32, 32, 3), 5)
    message = str(info.value)
    assert "\n" not in message and "model.weights=/path/to/file.weights.h5" in message
    assert message.startswith("model.weights=imagenet"), "a missing download is not an input-size problem"
    assert not list(empty_keras_home.rglob("*.h5")), "a failed download must not leave a cached file"


def test_weights_from_a_local_file(tmp_path):
    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "vgg16_random.weights.h5"
    source.save_weights(path)
    model = build_network(vgg_cfg(str(path)), (32, 32, 3), 5)
    loaded = find_backbone(model).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(loaded, source.get_weights()))
    assert not find_backbone(model).trainable  # pretrained weights: frozen until fine-tuning
    with pytest.raises(ConfigError, match="path of an existing .weights.h5 file"):  # refused before any work
        vgg_cfg(str(tmp_path / "missing.weights.h5"))


def test_gray_input_is_repeated_and_small_input_upscaled():
    model = build_network(model_settings("xception"), (28, 28, 1), 3)
    assert model.get_layer("gray_to_rgb") is not None
    assert model.get_layer("upscale").output.shape[1:3] == (71, 71)
    assert find_backbone(model).trainable  # weights=null: trained from random initialisation
