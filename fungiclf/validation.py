"""Checks on config values, with one message template for every bad value.

"The 'lr' parameter of optimizer must be a float in (0, inf). Got -1 instead."
"""

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from fungiclf.errors import ConfigError


def invalid(name: str, owner: str, expected: str, got: Any) -> ConfigError:
    """The ConfigError for a bad value, in the one message template."""
    return ConfigError(f"The {name!r} parameter of {owner} must be {expected}. Got {got!r} instead.")


def check_choice(value: Any, choices: Iterable[Any], name: str, owner: str) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise ConfigError."""
    choices = list(choices)
    if value not in choices:
        error = invalid(name, owner, f"one of {choices}", value)
        words = [str(c) for c in choices if isinstance(c, str)]
        raise ConfigError(did_you_mean(value, words, str(error))) if isinstance(value, str) else error
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
    if not math.isfinite(value) or integer and not float(value).is_integer():
        raise invalid(name, owner, expected, value)
    if low is not None and (value < low or (low_open and value == low)):
        raise invalid(name, owner, expected, value)
    if high is not None and value > high:
        raise invalid(name, owner, expected, value)
    return int(value) if integer else value


DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?:in)?)?(?:(\d+(?:\.\d+)?)s)?$")


def check_duration(value: Any, name: str, owner: str, optional: bool = False) -> float | None:
    """Seconds of a duration: a number of seconds, or text like 30m, 1h30m, 90s, 2h."""
    if value is None and optional:
        return None
    expected = "a duration such as 30m, 1h30m or 90s (or a number of seconds) greater than 0"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or value <= 0:
            raise invalid(name, owner, expected, value)
        return float(value)
    found = DURATION.match(value.strip().lower()) if isinstance(value, str) else None
    if not found or not any(found.groups()):
        raise invalid(name, owner, expected, value)
    hours, minutes, seconds = (float(part or 0) for part in found.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise invalid(name, owner, expected, value)
    return total


def check_finite(content: Any, where: str) -> None:
    """Refuse NaN and infinity anywhere in a config tree, naming the key: no setting of
    fungiclf means "not a number", and a range check (``value < low``) lets NaN through."""
    if isinstance(content, float) and not math.isfinite(content):
        owner, _, name = where.rpartition(".")
        raise invalid(name or where, owner or "the config", "a finite number", content)
    items = (
        content.items()
        if isinstance(content, Mapping)
        else enumerate(content)
        if isinstance(content, (list, tuple))
        else ()
    )
    for key, value in items:
        check_finite(value, f"{where}.{key}" if where else str(key))


def check_size(value: Any, name: str = "size", owner: str = "preprocess") -> tuple[int, int]:
    """Parse an image size given as one int (square) or [height, width]; pixels."""
    given = value
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    try:
        pair = [int(v) for v in value]
        ok = len(pair) == 2 and all(p >= 1 and p == v and not isinstance(v, bool) for p, v in zip(pair, value))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise invalid(name, owner, "a positive int or a [height, width] pair of positive ints", given)
    return pair[0], pair[1]


def check_bool(value: Any, name: str, owner: str) -> bool:
    """Return ``value`` if it is true or false (not 0/1 or a string)."""
    if not isinstance(value, bool):
        raise invalid(name, owner, "true or false", value)
    return value


def check_text(value: Any, name: str, owner: str, optional: bool = False) -> str | None:
    """Return ``value`` if it is a non-empty string (or None when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise invalid(name, owner, "a non-empty string" + (" or null" if optional else ""), value)
    return value


def check_int_list(value: Any, name: str, owner: str, low: int = 1) -> tuple[int, ...]:
    """A list of ints, each >= low (an empty list is allowed)."""
    expected = f"a list of ints >= {low}"
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise invalid(name, owner, expected, value)
    items = list(value)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= low for v in items):
        raise invalid(name, owner, expected, items)
    return tuple(items)


def check_fraction(value: Any, name: str, owner: str) -> float:
    """A float in [0, 1): dropout-like rates."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise invalid(name, owner, "a float in [0, 1)", value)
    return float(value)


def did_you_mean(wrong: str, right: list[str], message: str, prefix: str = "") -> str:
    """``message`` led by the closest of ``right`` to the mistyped ``wrong``, when one is close."""
    close = difflib.get_close_matches(wrong, right, n=1, cutoff=0.6)
    return f"did you mean {prefix}{close[0]}? {message}" if close else message
