"""The scalar checks every record and entry point shares: one place that says what a valid
number, count or name is, and how a bad one is reported (a :class:`~riskguard.RiskError` naming
the argument and the value)."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

from riskguard._core import RiskError

__all__ = ["count", "finite_or_none", "non_negative", "positive", "real", "text"]


def real(value: Any, arg: str) -> float:
    """``value`` as a finite float. Python and numpy ints and floats are numbers; bools and
    strings are not.

    Raises RiskError: naming ``arg`` for a bool, a non-number, NaN or infinity.
    """
    if type(value) is float:  # the common case, without the slower ABC check below
        if not math.isfinite(value):
            raise RiskError(f"{arg} must be finite, got {value}")
        return value
    if isinstance(value, bool) or not isinstance(value, Real):
        raise RiskError(f"{arg} must be a real number, got {type(value).__name__}")
    x = float(value)
    if not math.isfinite(x):
        raise RiskError(f"{arg} must be finite, got {x}")
    return x


def positive(value: Any, arg: str) -> float:
    """``value`` as a finite float > 0.

    Raises RiskError: naming ``arg`` otherwise.
    """
    x = real(value, arg)
    if x <= 0.0:
        raise RiskError(f"{arg} must be > 0, got {x}")
    return x


def non_negative(value: Any, arg: str) -> float:
    """``value`` as a finite float >= 0.

    Raises RiskError: naming ``arg`` otherwise.
    """
    x = real(value, arg)
    if x < 0.0:
        raise RiskError(f"{arg} must be >= 0, got {x}")
    return x


def count(value: Any, arg: str, *, ge: int = 0) -> int:
    """``value`` as an int >= ``ge``: a Python or numpy integer, never a bool.

    Raises RiskError: naming ``arg`` otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or value < ge:
        raise RiskError(f"{arg} must be a whole number >= {ge}, got {value!r}")
    return int(value)


def text(value: Any, arg: str) -> str:
    """``value`` as a non-empty string without NUL characters (which SQL databases refuse).

    Raises RiskError: naming ``arg`` otherwise.
    """
    if not isinstance(value, str) or not value:
        raise RiskError(f"{arg} must be a non-empty string, got {value!r}")
    if "\x00" in value:
        raise RiskError(f"{arg} must not hold a NUL character, got {value!r}")
    return value


def finite_or_none(x: float | None) -> float | None:
    """``x`` as a float, or None for None and NaN (SQL has no NaN everywhere: SQLite stores
    NULL)."""
    return None if x is None or math.isnan(x) else float(x)
