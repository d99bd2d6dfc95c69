"""Checks on config values, with one message template for every bad value.

"The 'lr' parameter of optimizer must be a float in (0, inf). Got -1 instead."
"""

from collections.abc import Iterable
from typing import Any

from fungiclf.errors import ConfigError


def invalid(name: str, owner: str, expected: str, got: Any) -> ConfigError:
    """The ConfigError for a bad value, in the one message template."""
    return ConfigError(f"The {name!r} parameter of {owner} must be {expected}. Got {got!r} instead.")


def check_choice(value: Any, choices: Iterable[Any], name: str, owner: str) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise ConfigError."""
    choices = list(choices)
    if value not in choices:
        raise invalid(name, owner, f"one of {choices}", value)
    return value


def check_number(
    value: Any,
    name: str,
    owner: str,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
    low_open: bool = False,
) -> float | int:
    """Return ``value`` if it is a number within [low, high] (or (low, high] when low_open)."""
    kind = "an int" if integer else "a float"
    lo = "-inf" if low is None else low
    hi = "inf" if high is None else high
    bracket = "(" if low_open or low is None else "["
    expected = f"{kind} in {bracket}{lo}, {hi}]" if high is not None else f"{kind} in {bracket}{lo}, inf)"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(name, owner, expected, value)
    if integer and not float(value).is_integer():
        raise invalid(name, owner, expected, value)
    if low is not None and (value < low or (low_open and value == low)):
        raise invalid(name, owner, expected, value)
    if high is not None and value > high:
        raise invalid(name, owner, expected, value)
    return int(value) if integer else value


def check_size(value: Any, name: str = "size", owner: str = "preprocess") -> tuple[int, int]:
    """Parse an image size given as one int (square) or [height, width]; pixels."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    try:
        pair = [int(v) for v in value]
        ok = len(pair) == 2 and all(p >= 1 and p == v for p, v in zip(pair, value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise invalid(name, owner, "a positive int or a [height, width] pair of positive ints", value)
    return pair[0], pair[1]
