"""Every numeric config key, given any value: refused in one line before any data work, or
accepted (Hypothesis over the keys of the composed config)."""

import math

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from omegaconf import OmegaConf

from fungiclf.errors import ConfigError
from fungiclf.settings.resolve import check_task, resolve
from fungiclf.validation import check_number

NASTY = [math.nan, math.inf, -math.inf, 0, 0.0, -1, -0.5, 10**12, 1e300, "abc", True, [1]]


def numeric_keys(container: dict, prefix: str = "") -> list[str]:
    """Dotted keys of the int and float leaves of a config tree."""
    keys = []
    for key, value in container.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            keys += numeric_keys(value, f"{path}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            keys.append(path)
    return keys


@pytest.fixture(scope="module")
def base(cache_dir):
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="fungiclf.conf", version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.cache_dir={cache_dir}", "optimizer.schedule=reduce_on_plateau"])
    GlobalHydra.instance().clear()
    return cfg


def test_the_default_config_has_numeric_keys_to_try(base):
    keys = numeric_keys(OmegaConf.to_container(base, resolve=True))
    assert {"optimizer.lr", "trainer.mixup", "dataset.fraction", "model.threshold", "seed"} <= set(keys)


def one_line_or_accepted(base, data) -> None:
    keys = numeric_keys(OmegaConf.to_container(base, resolve=True))
    key, value = data.draw(st.sampled_from(keys)), data.draw(st.sampled_from(NASTY))
    cfg = base.copy()
    OmegaConf.update(cfg, key, value, force_add=True)
    try:
        resolved = resolve(cfg)
    except ConfigError as exc:
        assert "\n" not in str(exc), (key, value, str(exc))
        return
    assert not (isinstance(value, float) and not math.isfinite(value)), f"{key}={value} was accepted"
    assert resolved is not None


# resolve() builds the model to check its input size (up to a second for a huge kernel): a
# fixed sample of 40 cases in the fast suite, 500 fresh ones under `slow`.
@settings(max_examples=50, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_value_of_any_numeric_key_is_refused_in_one_line_or_accepted(base, data):
    one_line_or_accepted(base, data)


@pytest.mark.slow
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_many_values_of_numeric_keys_are_refused_in_one_line_or_accepted(base, data):
    one_line_or_accepted(base, data)


@pytest.mark.parametrize(
    "key", ["model.threshold", "dataset.fraction", "trainer.mixup", "optimizer.lr", "trainer.label_smoothing"]
)
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_nan_and_infinity_are_refused_naming_the_key(base, key, value):
    cfg = base.copy()
    OmegaConf.update(cfg, key, value, force_add=True)
    with pytest.raises(ConfigError, match=f"'{key.rsplit('.', 1)[-1]}' parameter of .*finite number"):
        resolve(cfg)


def test_check_number_refuses_nan_whatever_its_range():
    for value in (math.nan, math.inf, -math.inf):
        with pytest.raises(ConfigError):
            check_number(value, "x", "owner", 0, 1)
        with pytest.raises(ConfigError):
            check_number(value, "x", "owner")


def test_a_threshold_for_more_than_two_classes_is_refused(base):
    import numpy as np

    cfg = base.copy()
    OmegaConf.update(cfg, "model.threshold", 0.3)
    settings_ = resolve(cfg)
    labels = np.arange(30) % 3
    with pytest.raises(ConfigError, match="model.threshold=0.3 is a cut on p\\(class 1\\) of a two-class task"):
        check_task(settings_, ["a", "b", "c"], labels, np.arange(30).astype(str), np.array(["train"] * 30))
