"""Every registered model builds; published parameter counts; augmentation only in training."""

import keras
import numpy as np
import pytest

from fungiclf.errors import ConfigError
from fungiclf.models import MODELS, build_model, build_network, min_input_size
from fungiclf.settings.resolve import resolve, resolve_augment, resolve_model
from tests.conftest import model_settings as model_cfg

CONF = __import__("pathlib").Path(__file__).resolve().parents[2] / "conf" / "model"


def test_every_registered_model_has_a_config_and_vice_versa():
    assert {p.stem for p in CONF.glob("*.yaml")} == set(MODELS)


HEAVY = {"densenet121", "efficientnetb0", "inceptionv3", "resnet50", "xception"}  # 5-15 s to build each
KERAS_MODELS = sorted(n for n, spec in MODELS.items() if spec.kind == "keras" and n not in HEAVY) + [
    pytest.param(n, marks=pytest.mark.slow) for n in sorted(HEAVY)
]


@pytest.mark.parametrize("name", KERAS_MODELS)
def test_every_model_builds_at_its_minimum_size_and_gives_probabilities(name):
    cfg = model_cfg(name)
    side = max(min_input_size(cfg, 3, 3), 8)
    model = build_network(cfg, (side, side, 3), 3)
    out = np.asarray(model(np.full((2, side, side, 3), 128, np.float32)))
    assert out.shape == (2, 3) and np.all(np.isfinite(out))
    assert np.allclose(out.sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "name, shape, classes, params",
    [
        ("ann", (80, 80, 1), 5, 3_343_621),  # DeFungi report, stated
        ("cnn", (80, 80, 1), 5, 1_142_021),  # DeFungi report, stated
        ("cnn_deep", (80, 80, 1), 5, 5_895_333 + 960),  # stated: trainable + BN moving stats
        ("vgg_mini", (28, 28, 3), 9, 91_561),  # PathMNIST report, printed summary
        ("cnn4", (150, 150, 3), 5, 499_237),  # homework 002, computed from its layers
        ("cnn_small", (640, 640, 1), 1, 258_831),  # chest X-ray 003, F=10 3x3, one logit
        ("linear", (640, 640, 1), 1, 4_096_021),  # chest X-ray 003, 2 layers x 10
        ("linear_relu", (640, 640, 1), 1, 4_096_021),
        ("ann_dense", (80, 80, 1), 5, 7_244_293),  # our layout (the report gives none); README states it
    ],
)
def test_published_parameter_counts(name, shape, classes, params):
    head = {"head": "sigmoid"} if classes == 1 else {}
    model = build_network(model_cfg(name, **head), shape, max(classes, 2))
    assert model.count_params() == params


def test_cnn_deep_trainable_split_matches_the_report():
    model = build_network(model_cfg("cnn_deep"), (80, 80, 1), 5)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 5_895_333 and model.count_params() - trainable == 960


@pytest.mark.parametrize("name, params", [("resnet18", 11_689_512), ("resnet34", 21_797_672)])
def test_resnet_trainable_params_match_torchvision(name, params):
    model = build_network(model_cfg(name), (224, 224, 3), 1000)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == params
    assert not any(layer.name == "stem_pool" for layer in build_network(model_cfg(name), (32, 32, 3), 5).layers)


def test_convmixer_depth_adds_blocks():
    shallow = build_network(model_cfg("convmixer", dim=32, depth=8), (32, 32, 3), 5)
    deep = build_network(model_cfg("convmixer", dim=32, depth=16), (32, 32, 3), 5)
    per_block = 32 * 5 * 5 + 32 + 32 * 32 + 32 + 4 * 32  # depthwise, pointwise, 2 BN (gamma, beta, mean, var)
    assert deep.count_params() - shallow.count_params() == 8 * (per_block + 4 * 32)


def test_cnn_small_filters_and_kernel_keys():
    model = build_network(model_cfg("cnn_small", filters=10, kernel=5, head="sigmoid"), (640, 640, 1), 2)
    assert model.count_params() == 263_791  # 5x5, 'same' (padding 2), PUBLISHED.md


def test_unknown_model_lists_valid_names():
    with pytest.raises(ConfigError, match=r"The 'name' parameter of model must be one of \[.*'cnn'"):
        resolve_model({"name": "nope"})


def test_too_small_input_names_the_minimum(make_cfg):
    with pytest.raises(ConfigError, match=r"minimum 22 px"):
        resolve(make_cfg("preprocess.size=16"))


def test_sigmoid_head_has_one_unit_and_needs_two_classes():
    assert build_network(model_cfg("ann", head="sigmoid"), (8, 8, 1), 2).output_shape == (None, 1)
    with pytest.raises(ConfigError, match="exactly 2 classes"):
        build_network(model_cfg("ann", head="sigmoid"), (8, 8, 1), 3)


def test_augmentation_changes_training_batches_only():
    aug = resolve_augment({"flip": "horizontal_and_vertical", "transpose": True, "contrast": 0.3, "brightness": 0.2})
    model = build_model(model_cfg("ann"), aug, (8, 8, 3), 2, seed=0)
    x = np.random.default_rng(0).integers(0, 255, (4, 8, 8, 3)).astype("float32")
    assert np.allclose(model(x, training=False), model(x, training=False))
    front = keras.Model(model.input, model.layers[-2].output)  # the augmentation stack
    assert not np.allclose(front(x, training=True), x)
    assert np.allclose(front(x, training=False), x)
