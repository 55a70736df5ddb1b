"""The configuration's value checks, the base of its sections, and the paths of its problems.

Each check takes what a file, a variable (a string) or code gives and returns the checked value,
or raises ValueError with the message that ends up after the problem's dotted path. Every
number a configuration holds has an upper bound here, so that no setting, however extreme,
overflows where it is used (seconds turned into integer nanoseconds, a queue's size, an amount
the engine sums): each is refused with its path instead of failing later as a bare
OverflowError. Each bound is far beyond any sensible value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from contextvars import ContextVar
from functools import partial
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_settings import SettingsError

from riskguard.app.config.registry import REGISTRY
from riskguard.errors import ConfigError

OFF = "off"
_OFF_WORDS = (OFF, "none", "null")
# Keys of [limits] that belong to [sessions].
SESSION_KEYS = ("reset_time", "utc_offset")
# True while a Config or a section is being validated: nested sections leave the reporting to
# the outermost one.
_nested: ContextVar[bool] = ContextVar("riskguard_config_nested", default=False)

MAX_AMOUNT = 1e20  # money, quote currency: the engine's bound of equity and fees (docs/engine.md)
MAX_FEE = 1e9  # a per-unit fee or a per-fill minimum, quote currency
MAX_BPS = 10_000.0  # basis points: 100 % of the price
MAX_FRACTION = 1.0  # a fraction of the price or of the notional: 100 %
MAX_LEVERAGE = 1_000.0
MAX_ATR_MULTIPLE = 100.0
MAX_PERIOD = 100_000  # bars
MAX_QUEUE = 10_000_000  # items of a queue, decisions of a group commit
MAX_SNAPSHOTS = 1_000_000_000
MAX_RETRIES = 100
HOUR_S = 3_600.0
DAY_S = 86_400.0
YEAR_S = 365 * DAY_S
MAX_RATE = 1_000_000  # alerts per rate-limit period
MAX_COUNT = 1e9  # a count bound of [batch] (effective positions)


def plain(value: Any) -> Any:
    """A value from a file or a variable as ``Limits`` takes it: ``"off"`` is None, and a
    variable's JSON text is parsed."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if not isinstance(value, str):
        return value
    if value.strip().lower() in _OFF_WORDS:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    # JSON strings stay strings; only numbers, booleans, lists and objects are read.
    return plain(parsed) if not isinstance(parsed, str) else value


def is_off(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _OFF_WORDS)


def shown(value: Any) -> str:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return repr(value)
    return type(value).__name__


def number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"must be a number, got {shown(value)}")
    try:
        x = float(value)
    except OverflowError:  # an integer beyond any float (TOML and JSON allow 10**400)
        digits = len(str(abs(int(value))))
        raise ValueError(f"must be finite, got an integer of {digits} digits") from None
    except ValueError:
        raise ValueError(f"must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"must be finite, got {x}")
    return x


def real(
    value: Any, *, gt: float | None = None, ge: float | None = None, le: float | None = None
) -> float:
    x = number(value)
    if gt is not None and not x > gt:
        raise ValueError(f"must be > {gt:g}, got {x:g}")
    if ge is not None and not x >= ge:
        raise ValueError(f"must be >= {ge:g}, got {x:g}")
    if le is not None and not x <= le:
        raise ValueError(f"must be <= {_bound(le)}, got {x:g}")
    return x


def _bound(x: float) -> str:
    """An upper bound as people write it: 86,400 rather than 86400 or 8.64e+04."""
    return f"{int(x):,}" if x == int(x) and abs(x) < 1e9 else f"{x:g}"


def real_or_off(value: Any, **bounds: float) -> float | None:
    return None if is_off(value) else real(value, **bounds)


def integer(value: Any, *, ge: int, le: int) -> int:
    # Python reads at most 4,300 digits: longer text is not a number anyone meant.
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,4000}\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer >= {ge}, got {shown(value)}")
    if value < ge:
        raise ValueError(f"must be an integer >= {ge}, got {value}")
    if value > le:
        big = value if value < 10**30 else f"an integer of {len(str(value))} digits"
        raise ValueError(f"must be an integer <= {le:,}, got {big}")
    return value


def count_or_off(value: Any, *, le: int) -> int | None:
    return None if is_off(value) else integer(value, ge=1, le=le)


def flag(value: Any) -> bool:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {shown(value)}")
    return value


def checked(check: Callable[..., Any], **bounds: float) -> BeforeValidator:
    return BeforeValidator(partial(check, **bounds) if bounds else check)


Amount = Annotated[float, checked(real, gt=0.0, le=MAX_AMOUNT)]
AmountOrOff = Annotated[float | None, checked(real_or_off, gt=0.0, le=MAX_AMOUNT)]
Fee = Annotated[float, checked(real, ge=0.0, le=MAX_FEE)]
Fraction = Annotated[float, checked(real, ge=0.0, le=MAX_FRACTION)]
Count = Annotated[int, checked(integer, ge=1, le=MAX_QUEUE)]
Retries = Annotated[int, checked(integer, ge=0, le=MAX_RETRIES)]
Flag = Annotated[bool, checked(flag)]


def nanoseconds(seconds: float, path: str = "seconds") -> int:
    """``seconds`` as integer nanoseconds, the engine's unit of time (``ts``): how a Guard
    turns an interval of the configuration into one (``journal.snapshot_interval_s``).

    Raises ConfigError at ``path``: ``seconds`` not a finite number >= 0, or beyond the
    engine's int64 nanoseconds (about 292 years).
    """
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not math.isfinite(seconds)
        or seconds < 0
    ):
        raise ConfigError([(path, f"must be a finite number of seconds >= 0, got {seconds!r}")])
    ns = seconds * 1e9  # a float: 1e300 s is inf ns here, not an OverflowError
    if ns >= 2**63:
        raise ConfigError([(path, f"must be below 2**63 ns (292 years), got {seconds:g} s")])
    return round(ns)


class Section(BaseModel):
    """A frozen section of the configuration that refuses unknown keys. Built directly (not
    through :class:`~riskguard.app.config.Config`), it raises :class:`ConfigError` with paths
    under ``_path``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    _path: ClassVar[str] = ""

    def __init__(self, **values: Any) -> None:
        if _nested.get():
            # Inside a larger validation, which reports the problem with its whole path.
            super().__init__(**values)
            return
        token = _nested.set(True)
        try:
            super().__init__(**values)
        except ValidationError as e:
            raise ConfigError(problems_of(e, self._path)) from None
        finally:
            _nested.reset(token)


# ---------------------------------------------------------------------------------------------
# Problems and their paths


def tags(table: str) -> tuple[str, ...]:
    """The names a tagged table (``slippage``, ``commission``) may take as its ``model``: the
    registry's implementations of that kind; none for any other table."""
    return REGISTRY.names(table) if table in REGISTRY.tagged else ()


def problems_of(error: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """Each problem of a pydantic error with its dotted path (under ``prefix``); a limits
    problem gets the name it starts with (``daily_loss.threshold: ...`` is at
    ``limits.daily_loss``), a sink's problem the field it starts with."""
    out = []
    for e in error.errors(include_url=False):
        loc = [str(part) for part in e["loc"]]
        if prefix:
            loc = [*prefix.split("."), *loc]
        # A tagged table's loc holds the tag (broker.slippage.fixed_bps.bps): drop it.
        loc = [p for i, p in enumerate(loc) if not (i and p in tags(loc[i - 1]))]
        path = ".".join(loc) or "config"
        message = str(e["msg"]).removeprefix("Value error, ")
        kind = e["type"]
        if kind == "extra_forbidden":
            message = "unknown setting"
        elif kind == "missing":
            message = "required"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            known = ", ".join(tags(loc[-1]))
            got = e.get("ctx", {}).get("tag")
            message = (
                f"unknown model {got!r}; known: {known}" if got else f"required, one of: {known}"
            )
            path += ".model"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            message = f"must be a table, got {shown(e['input'])}"
        for line in message.split("\n"):
            out.append(located(path, line))
    return out


def located(path: str, line: str) -> tuple[str, str]:
    """The path and message of one problem line, made more precise where the line names the
    setting it is about."""
    if path == "limits":
        if line.startswith('unknown limit "'):
            name = line.split('"', 2)[1]
        else:
            name = line.split(":", 1)[0].split(".", 1)[0]
        if not name.isidentifier():
            return path, line
        if name in SESSION_KEYS and line == f"{name}: set it under [sessions]":
            line = line.removeprefix(f"{name}: ")
        return f"limits.{name}", line
    if re.fullmatch(r"alerts\.sinks\.\d+", path):
        return sink_problem(path, line)
    return path, line


def sink_problem(path: str, line: str) -> tuple[str, str]:
    """``url: must be ...`` at ``alerts.sinks.1`` is ``must be ...`` at ``alerts.sinks.1.url``."""
    name, sep, rest = line.partition(": ")
    if sep and name.isidentifier() and name != "sink":
        return f"{path}.{name}", rest
    return path, line.removeprefix("sink: ")


def settings_problem(error: SettingsError) -> tuple[str, str]:
    """A variable pydantic-settings could not parse (JSON for a list or a table)."""
    match = re.search(r'field "([^"]+)"', str(error))
    field = match.group(1) if match else "config"
    cause = error.__cause__
    detail = f" ({cause})" if cause is not None else ""
    return field, (
        f"cannot read the RG_{field.upper()}* variables: a list or a table must be JSON{detail}"
    )
