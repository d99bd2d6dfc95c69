"""Training knobs any model can use: dihedral views, random erasing, sharpness and blur, mixup / CutMix,
thresholds chosen on val, warm-up, weight averaging."""

import keras
import numpy as np
import pytest

from fungiclf.data.mixing import Mixing, mix_batch
from fungiclf.data.views import TTA_VIEWS, dihedral, trained_views, unseen_views_warning, usable_views
from fungiclf.evaluation.metrics import choose_threshold, predict_labels
from fungiclf.models import build_model
from fungiclf.models.augment import augmentation_layers
from fungiclf.errors import ConfigError
from fungiclf.settings.resolve import resolve, resolve_augment
from fungiclf.training.optimizers import build_optimizer
from tests.conftest import model_settings


@pytest.mark.parametrize("flip", [None, "horizontal", "vertical", "horizontal_and_vertical"])
@pytest.mark.parametrize("transpose", [False, True])
def test_the_views_augmentation_shows_are_the_ones_the_tta_warning_counts(flip, transpose):
    """trained_views() against the real augmentation layers, applied to 64 copies of an
    asymmetric image: the distinct outputs are exactly those views."""
    probe = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    batch = np.repeat(probe, 64, axis=0)
    for layer in augmentation_layers({"flip": flip, "transpose": transpose}, (3, 3, 1), seed=0):
        batch = np.asarray(layer(batch, training=True))
    shown = {view for view in range(8) for image in batch if np.array_equal(dihedral(probe, view)[0], image)}
    assert shown == trained_views(flip, transpose, 3, 3)
    warning = unseen_views_warning("dihedral", flip, transpose, 3, 3)
    assert (warning is None) == (shown == set(range(8)) or not (flip or transpose))


def test_the_eight_dihedral_views_are_distinct_and_invert():
    image = np.arange(2 * 3 * 3 * 1).reshape(2, 3, 3, 1)
    views = [dihedral(image, v) for v in range(8)]
    assert len({v.tobytes() for v in views}) == 8
    assert np.array_equal(dihedral(image, 4), image[:, :, ::-1])  # a left-right mirror
    assert np.array_equal(dihedral(dihedral(image, 1), 3), image)  # quarter turn back and forth
    assert usable_views("dihedral", 4, 6) == (0, 2, 4, 6)  # odd turns would swap the sides
    assert set(TTA_VIEWS) == {"none", "hflip", "flips", "dihedral"}


@pytest.mark.parametrize("share", [0.25, 1.0])
def test_erase_replaces_one_patch_in_that_share_of_the_training_images_only(share):
    """augment.erase=p: each image independently, with probability p, gets one rectangle of
    2-33% of its area replaced by noise (Keras' own factor=p would draw p from U(0, p))."""
    batch = np.full((600, 32, 32, 1), 128, np.float32)
    (layer,) = augmentation_layers({"erase": share}, (32, 32, 1), seed=0)
    changed = (np.asarray(layer(batch, training=True)) != 128).reshape(600, -1).mean(1)  # per image
    touched = changed > 0
    assert touched.mean() == pytest.approx(share, abs=0.06)
    assert 0.01 < changed[touched].min() and changed[touched].max() <= 0.34
    assert np.array_equal(np.asarray(layer(batch, training=False)), batch)


@pytest.mark.parametrize("key, value, too_much", [("erase", 0.5, 1.5), ("sharpness", 1.0, 1.5), ("blur", 2.0, 17)])
def test_erase_sharpness_and_blur_are_checked_train_inside_a_model_and_reload(make_cfg, tmp_path, key, value, too_much):
    with pytest.raises(ConfigError, match=f"'{key}' parameter of augment"):
        resolve(make_cfg(f"augment.{key}={too_much}"))
    model = build_model(model_settings("cnn"), resolve_augment({key: value}), (32, 32, 3), 2, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype("float32")
    history = model.fit(images, np.arange(8) % 2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    assert np.allclose(reloaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)


def test_sharpness_blurs_some_training_images_and_sharpens_others_one_by_one():
    """augment.sharpness=s: each image's edges are softened or strengthened by its own draw
    (a shortcut on sharpness, as chest X-ray classes have, stops paying); none at inference."""
    edge = np.full((1, 16, 16, 1), 50.0, np.float32)
    edge[:, :, 8:] = 150.0  # one vertical step of 100
    batch = np.repeat(edge, 400, axis=0)
    (layer,) = augmentation_layers({"sharpness": 1.0}, (16, 16, 1), seed=0)
    row = np.asarray(layer(batch, training=True))[:, 8, :, 0]  # one row across the step
    rise = row[:, 8] - row[:, 7]  # the step, image by image
    assert (rise < 99).mean() == pytest.approx(0.5, abs=0.1)  # blurred
    assert (rise > 101).mean() == pytest.approx(0.5, abs=0.1)  # sharpened
    assert rise.min() > 40 and rise.max() < 160  # at most one 3x3 blur / twice sharper
    assert np.array_equal(np.asarray(layer(batch, training=False)), batch)
    (half,) = augmentation_layers({"sharpness": 0.2}, (16, 16, 1), seed=0)
    rise = np.diff(np.asarray(half(batch, training=True))[:, 8, 7:9, 0], axis=1)
    assert np.abs(rise - 100).max() < 0.1 * 100  # s=0.2: factors 0.4-0.6


def test_blur_spreads_each_training_image_by_its_own_sigma_up_to_the_maximum():
    """augment.blur=m: a point of light spreads into a Gaussian whose sd, image by image,
    is drawn from U(0, m) pixels; brightness is kept; none at inference."""
    point = np.zeros((400, 33, 33, 1), np.float32)
    point[:, 16, 16] = 1000.0
    (layer,) = augmentation_layers({"blur": 2.0}, (33, 33, 1), seed=0)
    spread = np.asarray(layer(point, training=True))[..., 0]
    offset = np.arange(33) - 16
    sd_rows = np.sqrt((spread.sum(2) * offset**2).sum(1) / 1000.0)
    sd_cols = np.sqrt((spread.sum(1) * offset**2).sum(1) / 1000.0)
    assert np.allclose(spread.sum((1, 2)), 1000.0, rtol=1e-4)
    assert np.allclose(sd_rows, sd_cols, atol=1e-3)  # round, not one axis
    assert sd_rows.max() <= 2.0 and sd_rows.mean() == pytest.approx(1.0, abs=0.1)
    assert (sd_rows < 0.5).mean() == pytest.approx(0.25, abs=0.07)  # uniform over [0, 2]
    assert np.array_equal(np.asarray(layer(point, training=False)), point)


def test_mixup_mixes_pixels_and_labels_by_the_same_amount():
    rng = np.random.default_rng(0)
    x = np.stack([np.zeros((4, 4, 1)), np.full((4, 4, 1), 200.0)]).astype(np.uint8)
    y = np.eye(2, dtype=np.float32)
    mixed_x, mixed_y, _ = mix_batch(x, y, None, Mixing(mixup=1.0), rng)
    assert np.allclose(mixed_y.sum(1), 1.0)
    share_of_white = mixed_x.reshape(2, -1).mean(1) / 200.0  # per image: the weight of image 1
    assert np.allclose(share_of_white, mixed_y[:, 1], atol=1e-5)


def test_cutmix_label_weights_equal_the_pasted_area():
    rng = np.random.default_rng(3)
    x = np.stack([np.zeros((10, 10, 1)), np.full((10, 10, 1), 255.0)]).astype(np.uint8)
    y = np.eye(2, dtype=np.float32)
    for _ in range(10):
        mixed_x, mixed_y, weight = mix_batch(x, y, np.array([1.0, 3.0]), Mixing(cutmix=1.0), rng)
        white = (mixed_x.reshape(2, -1) == 255).mean(1)
        assert np.allclose(white, mixed_y[:, 1], atol=1e-6)
        assert np.allclose(weight, mixed_y[:, 0] * 1.0 + mixed_y[:, 1] * 3.0)


def test_mixing_off_leaves_the_batch_alone():
    x, y = np.zeros((3, 2, 2, 1), np.uint8), np.eye(3, dtype=np.float32)
    assert mix_batch(x, y, None, Mixing(), np.random.default_rng(0))[0] is x


def test_threshold_rules_pick_the_best_cut_on_the_given_rows():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 0])
    p = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.8])
    # accuracy: cut between 0.35 and 0.4 calls 0.4, 0.6, 0.7, 0.8 positive: 7 of 8 right
    t = choose_threshold(y, p, "val_accuracy")
    assert t == pytest.approx(0.375) and (predict_labels(p[:, None], t) == y).mean() == 7 / 8
    # a threshold above every score calls everything negative when that is best
    assert choose_threshold(np.zeros(4, int), np.array([0.2, 0.4, 0.6, 0.9]), "val_accuracy") > 0.9
    youden = choose_threshold(y, p, "val_youden")
    assert 0.35 < youden < 0.4
    with pytest.raises(ValueError):
        choose_threshold(y, p, "val_magic")


def test_two_softmax_columns_honour_the_threshold():
    proba = np.array([[0.7, 0.3], [0.4, 0.6]])
    assert predict_labels(proba, 0.25).tolist() == [1, 1] and predict_labels(proba, 0.5).tolist() == [0, 1]


def test_warmup_then_cosine_and_ema(make_cfg):
    settings = resolve(
        make_cfg(
            "optimizer=adamw",
            "optimizer.schedule=cosine",
            "optimizer.warmup_epochs=2",
            "optimizer.ema=0.99",
            "optimizer.lr=0.01",
        )
    )
    optimizer = build_optimizer(settings.optimizer, steps_per_epoch=10, epochs=6)
    schedule = optimizer.learning_rate if callable(optimizer.learning_rate) else optimizer._learning_rate
    rates = [float(schedule(step)) for step in (0, 10, 20, 40, 60)]
    assert rates[0] == pytest.approx(0.0) and rates[1] == pytest.approx(0.005) and rates[2] == pytest.approx(0.01)
    assert rates[2] > rates[3] > rates[4] >= 0.0
    assert optimizer.use_ema and optimizer.ema_momentum == pytest.approx(0.99)
    with pytest.raises(ConfigError, match="needs optimizer.schedule=cosine"):
        resolve(make_cfg("optimizer.warmup_epochs=1"))


@pytest.mark.parametrize("setting, expected", [(False, False), (True, True), ("auto", None)])
def test_jit_compile_reaches_the_compiled_model(make_cfg, setting, expected):
    """trainer.jit_compile is what Keras compiles with; auto is Keras' own rule for the backend
    and device (off for TensorFlow on a CPU, on for JAX)."""
    import keras

    from fungiclf.training.fit import compile_model

    trainer = resolve(make_cfg(f"trainer.jit_compile={str(setting).lower()}")).trainer
    assert trainer.jit_compile == setting
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    compile_model(model, keras.optimizers.Adam(), sigmoid=False, jit_compile=trainer.jit_compile)
    if expected is None:  # auto on the CPU machines tests run on: JAX compiles, TensorFlow and torch do not
        expected = keras.backend.backend() == "jax"
    assert model.jit_compile == expected
    with pytest.raises(ConfigError, match="jit_compile"):
        resolve(make_cfg("trainer.jit_compile=maybe"))
