"""riskguard's configuration: one schema, three sources.

Values come from, in increasing precedence:

1. the defaults, which are those of the code that uses them (``Limits()``, ``PaperBroker``,
   ``Journal``, ``Alerter``): there is one source of truth, and a test holds them equal;
2. a TOML file, ``riskguard.toml`` in the working directory unless :meth:`Config.load` is given
   another;
3. ``RG_*`` environment variables, ``__`` separating levels: ``RG_LIMITS__DAILY_LOSS=0.03``,
   ``RG_BROKER__CASH=5000``, ``RG_BROKER__SLIPPAGE__BPS=3``;

and arguments given in code override all three. Tables merge key by key across sources, except
that a slippage or commission table naming another ``model`` replaces the lower one whole.

The sections, each a frozen model that refuses unknown keys:

- ``[limits]``: the engine's breakers and gate, sizing and exit settings (``riskguard.Limits``);
- ``[sessions]``: the daily session clock (``reset_time``, ``utc_offset``), merged into
  :meth:`Config.to_limits`;
- ``[broker]``: :class:`BrokerConfig`, built with :meth:`BrokerConfig.build`;
- ``[journal]``: :class:`JournalConfig`, opened with :meth:`JournalConfig.open`;
- ``[alerts]``: :class:`AlertsConfig`, built with :meth:`AlertsConfig.build`;
- ``[guard]``: :class:`GuardConfig`, plain data for a Guard.

In a file or a variable, a setting that can be switched off takes ``"off"`` (TOML has no null);
a variable's value is read as JSON when it parses (``0.03``, ``false``, ``["STRONG"]``), else as a
string (``17:00``). Times are in seconds (``_s``), money in quote currency. Every problem is
reported at once, each with its dotted path::

    ConfigError: invalid configuration:
      limits.daily_loss: daily_loss.threshold: must be in (0, 1], got 1.5
      limits.sizng: unknown limit "sizng"; known: ...
      broker.cash: must be > 0, got -5
      alerts.sinks.1.url: must be an http(s) URL with a host, got 'ftp://x'
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, NamedTuple
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from riskguard._core import Limits, RiskError

if TYPE_CHECKING:
    from riskguard.alerts import Alerter, LogSink
    from riskguard.brokers import CommissionModel, PaperBroker, SlippageModel
    from riskguard.journal import Journal

__all__ = [
    "BROKER_TYPES",
    "AlertsConfig",
    "BrokerConfig",
    "Config",
    "ConfigError",
    "FixedBpsConfig",
    "GuardConfig",
    "JournalConfig",
    "MakerTakerConfig",
    "NoCommissionConfig",
    "NoSlippageConfig",
    "PerShareConfig",
    "PercentOfNotionalConfig",
    "SessionsConfig",
    "Setting",
    "VolatilityATRConfig",
    "VolumeLinearConfig",
]

DEFAULT_FILE = Path("riskguard.toml")
# The file the next Config reads; Config.load sets it for the duration of one construction.
_toml_file: ContextVar[Path] = ContextVar("riskguard_toml_file", default=DEFAULT_FILE)
# True while a Config or a section is being validated: nested sections leave the reporting to
# the outermost one.
_nested: ContextVar[bool] = ContextVar("riskguard_config_nested", default=False)
OFF = "off"
_OFF_WORDS = (OFF, "none", "null")
# The brokers a configuration can build.
BROKER_TYPES = ("paper",)
# Keys of [limits] that belong to [sessions].
_SESSION_KEYS = ("reset_time", "utc_offset")


class ConfigError(RiskError):
    """A configuration that fails validation; the message lists every problem with its path.
    ``problems`` holds them as ``(path, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {path}: {message}" for path, message in problems)
        super().__init__(f"invalid configuration:\n{lines}")


def _plain(value: Any) -> Any:
    """A value from a file or a variable as ``Limits`` takes it: ``"off"`` is None, and a
    variable's JSON text is parsed."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if not isinstance(value, str):
        return value
    if value.strip().lower() in _OFF_WORDS:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    # JSON strings stay strings; only numbers, booleans, lists and objects are read.
    return _plain(parsed) if not isinstance(parsed, str) else value


# ---------------------------------------------------------------------------------------------
# Value checks. Each takes what a file, a variable (a string) or code gives and returns the
# checked value, or raises ValueError with the message that ends up after the problem's path.


def _is_off(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _OFF_WORDS)


def _shown(value: Any) -> str:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return repr(value)
    return type(value).__name__


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"must be a number, got {_shown(value)}")
    try:
        x = float(value)
    except ValueError:
        raise ValueError(f"must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"must be finite, got {x}")
    return x


def _real(
    value: Any, *, gt: float | None = None, ge: float | None = None, le: float | None = None
) -> float:
    x = _number(value)
    if gt is not None and not x > gt:
        raise ValueError(f"must be > {gt:g}, got {x:g}")
    if ge is not None and not x >= ge:
        raise ValueError(f"must be >= {ge:g}, got {x:g}")
    if le is not None and not x <= le:
        raise ValueError(f"must be <= {le:g}, got {x:g}")
    return x


def _real_or_off(value: Any, **bounds: float) -> float | None:
    return None if _is_off(value) else _real(value, **bounds)


def _integer(value: Any, *, ge: int) -> int:
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer >= {ge}, got {_shown(value)}")
    if value < ge:
        raise ValueError(f"must be an integer >= {ge}, got {value}")
    return value


def _flag(value: Any) -> bool:
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {_shown(value)}")
    return value


def _checked(check: Callable[..., Any], **bounds: float) -> BeforeValidator:
    return BeforeValidator(partial(check, **bounds) if bounds else check)


Positive = Annotated[float, _checked(_real, gt=0.0)]
NonNegative = Annotated[float, _checked(_real, ge=0.0)]
PositiveOrOff = Annotated[float | None, _checked(_real_or_off, gt=0.0)]
Count = Annotated[int, _checked(_integer, ge=1)]
NonNegativeCount = Annotated[int, _checked(_integer, ge=0)]
Flag = Annotated[bool, _checked(_flag)]


class _Section(BaseModel):
    """A frozen section of the configuration that refuses unknown keys. Built directly (not
    through :class:`Config`), it raises :class:`ConfigError` with paths under ``_path``."""

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
            raise ConfigError(_problems(e, self._path)) from None
        finally:
            _nested.reset(token)


# ---------------------------------------------------------------------------------------------
# [broker]: slippage and commission models


class NoSlippageConfig(_Section):
    """``{ model = "none" }``: fills at the reference price (``riskguard.brokers.NoSlippage``).
    The default."""

    _path = "broker.slippage"
    model: Literal["none"] = "none"

    def build(self) -> SlippageModel:
        """The broker's slippage model."""
        from riskguard.brokers import NoSlippage

        return NoSlippage()


class FixedBpsConfig(_Section):
    """``{ model = "fixed_bps", bps = 2.0 }``: a fixed adverse slippage of ``bps`` basis points
    (>= 0; 1 bp = 0.01 %) of the reference price (``riskguard.brokers.FixedBps``)."""

    _path = "broker.slippage"
    model: Literal["fixed_bps"]
    bps: NonNegative

    def build(self) -> SlippageModel:
        """The broker's slippage model."""
        from riskguard.brokers import FixedBps

        return FixedBps(self.bps)


class VolumeLinearConfig(_Section):
    """``{ model = "volume_linear", k = 0.001 }``: ``k * min(1, |qty| / volume)`` of the
    reference price, ``k`` >= 0 (``riskguard.brokers.VolumeLinear``)."""

    _path = "broker.slippage"
    model: Literal["volume_linear"]
    k: NonNegative

    def build(self) -> SlippageModel:
        """The broker's slippage model."""
        from riskguard.brokers import VolumeLinear

        return VolumeLinear(self.k)


class VolatilityATRConfig(_Section):
    """``{ model = "volatility_atr", k = 0.1 }``: ``k`` average true ranges (over the broker's
    ``atr_period`` bars) of slippage, ``k`` >= 0 (``riskguard.brokers.VolatilityATR``)."""

    _path = "broker.slippage"
    model: Literal["volatility_atr"]
    k: NonNegative

    def build(self) -> SlippageModel:
        """The broker's slippage model."""
        from riskguard.brokers import VolatilityATR

        return VolatilityATR(self.k)


class NoCommissionConfig(_Section):
    """``{ model = "none" }``: free trading (``riskguard.brokers.NoCommission``). The default."""

    _path = "broker.commission"
    model: Literal["none"] = "none"

    def build(self) -> CommissionModel:
        """The broker's commission model."""
        from riskguard.brokers import NoCommission

        return NoCommission()


class PerShareConfig(_Section):
    """``{ model = "per_share", rate = 0.005, minimum = 1.0 }``: ``max(minimum, rate * |qty|)``,
    ``rate`` (>= 0) in quote currency per unit, ``minimum`` (>= 0, default 0) per fill
    (``riskguard.brokers.PerShare``)."""

    _path = "broker.commission"
    model: Literal["per_share"]
    rate: NonNegative
    minimum: NonNegative = 0.0

    def build(self) -> CommissionModel:
        """The broker's commission model."""
        from riskguard.brokers import PerShare

        return PerShare(self.rate, self.minimum)


class PercentOfNotionalConfig(_Section):
    """``{ model = "percent_of_notional", rate = 0.001 }``: ``rate * |qty| * price``, ``rate``
    (>= 0) a fraction of notional, 0.001 being 0.1 % (``riskguard.brokers.PercentOfNotional``)."""

    _path = "broker.commission"
    model: Literal["percent_of_notional"]
    rate: NonNegative

    def build(self) -> CommissionModel:
        """The broker's commission model."""
        from riskguard.brokers import PercentOfNotional

        return PercentOfNotional(self.rate)


class MakerTakerConfig(_Section):
    """``{ model = "maker_taker", maker = 0.0002, taker = 0.0005 }``: the maker or taker rate
    (fractions of notional, >= 0) by the fill's liquidity (``riskguard.brokers.MakerTaker``)."""

    _path = "broker.commission"
    model: Literal["maker_taker"]
    maker: NonNegative
    taker: NonNegative

    def build(self) -> CommissionModel:
        """The broker's commission model."""
        from riskguard.brokers import MakerTaker

        return MakerTaker(self.maker, self.taker)


SlippageConfig = Annotated[
    NoSlippageConfig | FixedBpsConfig | VolumeLinearConfig | VolatilityATRConfig,
    Field(discriminator="model"),
]
CommissionConfig = Annotated[
    NoCommissionConfig | PerShareConfig | PercentOfNotionalConfig | MakerTakerConfig,
    Field(discriminator="model"),
]
# The models of each tagged table, by the table's name.
_MODELS: dict[str, tuple[str, ...]] = {
    "slippage": ("none", "fixed_bps", "volume_linear", "volatility_atr"),
    "commission": ("none", "per_share", "percent_of_notional", "maker_taker"),
}


def _model_table(value: Any) -> Any:
    """A table as given, or a bare model name (``"none"``, ``"off"``) as its table."""
    if _is_off(value):
        return {"model": "none"}
    if isinstance(value, str):
        return {"model": value}
    return value


def _symbol(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {_shown(value)}")
    return value


class BrokerConfig(_Section):
    """``[broker]``: the broker the Guard trades through. Defaults are ``PaperBroker``'s.

    - ``type``: ``"paper"``, the only broker that ships (:data:`BROKER_TYPES`);
    - ``cash``: starting cash in quote currency, finite and > 0 (100 000);
    - ``allow_short`` (false), ``fractional`` (true): short positions, non-whole quantities;
    - ``max_leverage``: bound of gross exposure over equity, >= 1 (1);
    - ``symbols``: the only symbols accepted, or ``"off"``/absent for any symbol (the default);
    - ``atr_period``: bars of the ATR the slippage model sees, an integer >= 1 (14);
    - ``slippage``: a table with ``model`` = ``"none"`` (default), ``"fixed_bps"`` (``bps``),
      ``"volume_linear"`` or ``"volatility_atr"`` (``k``); see :class:`FixedBpsConfig` etc.;
    - ``commission``: ``model`` = ``"none"`` (default), ``"per_share"`` (``rate``,
      ``minimum``), ``"percent_of_notional"`` (``rate``) or ``"maker_taker"`` (``maker``,
      ``taker``).

    A bare model name stands for its table (``slippage = "none"``). Raises :class:`ConfigError`.
    """

    _path = "broker"
    type: str = "paper"
    cash: Positive = 100_000.0
    allow_short: Flag = False
    fractional: Flag = True
    max_leverage: Annotated[float, _checked(_real, ge=1.0)] = 1.0
    symbols: tuple[Annotated[str, BeforeValidator(_symbol)], ...] | None = None
    atr_period: Count = 14
    slippage: SlippageConfig = Field(default_factory=NoSlippageConfig)
    commission: CommissionConfig = Field(default_factory=NoCommissionConfig)

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> str:
        if value not in BROKER_TYPES:
            raise ValueError(
                f"unknown broker type {_shown(value)}; known: {', '.join(BROKER_TYPES)}"
            )
        return str(value)

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbol_list(cls, value: Any) -> Any:
        if _is_off(value):
            return None
        if not isinstance(value, (list, tuple)):
            raise ValueError(f'must be a list of symbols such as ["BTCUSDT"], got {_shown(value)}')
        if not value:
            raise ValueError("must name at least one symbol; leave it out to accept any symbol")
        return value

    @field_validator("slippage", "commission", mode="before")
    @classmethod
    def _model_name(cls, value: Any) -> Any:
        return _model_table(value)

    def build(self) -> PaperBroker:
        """A fresh :class:`riskguard.brokers.PaperBroker` with these settings and the slippage
        and commission model objects (``FixedBps(bps)``, ``PercentOfNotional(rate)``, ...).

        Raises ConfigError (path ``broker``) if the broker refuses a setting.
        """
        from riskguard.brokers import PaperBroker

        try:
            return PaperBroker(
                self.cash,
                slippage=self.slippage.build(),
                commission=self.commission.build(),
                allow_short=self.allow_short,
                fractional=self.fractional,
                max_leverage=self.max_leverage,
                symbols=self.symbols,
                atr_period=self.atr_period,
            )
        except ConfigError:
            raise
        except RiskError as e:
            raise ConfigError([(self._path, str(e))]) from None


# ---------------------------------------------------------------------------------------------
# [journal]


def _journal_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty SQLAlchemy URL string, got {_shown(value)}")
    from sqlalchemy.engine import make_url

    try:
        make_url(value)
    except Exception:
        # The value is not repeated: a URL may hold a password.
        raise ValueError(
            "not a SQLAlchemy URL such as sqlite:///riskguard.db or "
            "postgresql+psycopg://user@host/db"
        ) from None
    return value


class JournalConfig(_Section):
    """``[journal]``: where decisions, events and snapshots are stored. Defaults are
    ``Journal``'s.

    - ``url``: any SQLAlchemy URL (``sqlite:///riskguard.db``; ``postgresql+psycopg://...``);
      its password never appears in this model's repr or in an error;
    - ``batch``: the most decisions per group commit, an integer >= 1 (256);
    - ``snapshot_interval_s``: seconds of data time between engine checkpoints, > 0, or
      ``"off"`` (None) for none (60).

    Raises :class:`ConfigError`.
    """

    _path = "journal"
    url: Annotated[str, BeforeValidator(_journal_url)] = "sqlite:///riskguard.db"
    batch: Count = 256
    snapshot_interval_s: PositiveOrOff = 60.0

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name == "url":
                from sqlalchemy.engine import make_url

                value = make_url(value).render_as_string(hide_password=True)
            yield name, value

    def open(self) -> Journal:
        """``riskguard.journal.Journal(url, batch=batch)``, created and migrated; close it
        (or use it as a context manager).

        Raises JournalError (a RiskError): the database cannot be opened or fails its checks.
        """
        from riskguard.journal import Journal

        return Journal(self.url, batch=self.batch)


# ---------------------------------------------------------------------------------------------
# [alerts]


def _sink(value: Any) -> dict[str, Any]:
    """A sink table checked by ``riskguard.alerts.sink_from_dict``'s own rules; its messages
    start with the field they are about (``url: ...``)."""
    from riskguard.alerts import sink_from_dict

    try:
        sink_from_dict(value)
    except RiskError as e:
        raise ValueError(_sink_message(e)) from None
    return dict(value)


def _sink_message(error: RiskError) -> str:
    message = str(error)
    if message.startswith("token_env: environment variable"):
        message += " (a telegram sink reads its bot token from it when the config is loaded)"
    return message


def _masked_sink(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A sink table for a repr: a webhook URL often embeds a key, headers a token."""
    out = dict(spec)
    if isinstance(out.get("url"), str):
        parts = urlsplit(out["url"])
        out["url"] = f"{parts.scheme}://{parts.hostname}/..."
    if isinstance(out.get("headers"), Mapping):
        out["headers"] = sorted(out["headers"])
    return out


def _rate_limit(value: Any) -> tuple[int, float] | None:
    if _is_off(value):
        return None
    shape = 'must be [n, per_seconds] (n alerts per kind per period) or "off"'
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{shape}, got {_shown(value)}")
    try:
        n = _integer(value[0], ge=1)
    except ValueError as e:
        raise ValueError(f"n {e}") from None
    try:
        per = _real(value[1], gt=0.0)
    except ValueError as e:
        raise ValueError(f"per_seconds {e}") from None
    return (n, per)


def _default_sinks() -> tuple[dict[str, Any], ...]:
    return ({"type": "log"},)


class AlertsConfig(_Section):
    """``[alerts]``: who hears about breaker trips and control actions. Defaults are
    ``Alerter``'s.

    - ``sinks``: a list of sink tables, each checked when the configuration is loaded by
      ``riskguard.alerts.sink_from_dict``: ``{type = "log", path = ...}``, ``{type =
      "webhook", url = ..., timeout = ..., headers = {...}}`` or ``{type = "telegram",
      chat_id = ...}``; a telegram sink reads its bot token from ``RG_TELEGRAM_TOKEN`` (or its
      ``token_env``), which must then be set. At least one; default one log sink (stderr);
    - ``rate_limit``: ``[n, per_seconds]`` (n >= 1, per_seconds > 0) per alert kind, or
      ``"off"`` (None) ([10, 60]);
    - ``dedup_s``: seconds a repeated alert is dropped, >= 0, 0 for never (60);
    - ``retries``: extra delivery attempts, an integer >= 0 (3);
    - ``backoff_s``, ``max_backoff_s``: the first retry's delay and the cap, >= 0 (0.5, 30);
    - ``timeout_s``: the most one delivery attempt may take, > 0 (10);
    - ``queue_size``: bound of each sink's queue, an integer >= 1 (1000).

    Raises :class:`ConfigError`, a sink's problem at ``alerts.sinks.<i>.<field>``.
    """

    _path = "alerts"
    sinks: tuple[Annotated[dict[str, Any], BeforeValidator(_sink)], ...] = Field(
        default_factory=_default_sinks
    )
    rate_limit: Annotated[tuple[int, float] | None, BeforeValidator(_rate_limit)] = (10, 60.0)
    dedup_s: NonNegative = 60.0
    retries: NonNegativeCount = 3
    backoff_s: NonNegative = 0.5
    max_backoff_s: NonNegative = 30.0
    timeout_s: Positive = 10.0
    queue_size: Count = 1000

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name == "sinks":
                value = tuple(_masked_sink(spec) for spec in value)
            yield name, value

    @field_validator("sinks", mode="before")
    @classmethod
    def _sink_list(cls, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise ValueError(
                f'must be a list of sink tables such as [{{ type = "log" }}], got {_shown(value)}'
            )
        if not value:
            raise ValueError('must list at least one sink, such as [{ type = "log" }]')
        return value

    def build(
        self,
        *,
        clock: Callable[[], float] | str | None = None,
        seed: int | None = None,
        log: LogSink | None = None,
    ) -> Alerter:
        """A :class:`riskguard.alerts.Alerter` over fresh sinks from ``sinks`` (in order), with
        ``rate_limit_per_kind``, ``dedup_seconds``, ``retries``, ``backoff``, ``max_backoff``,
        ``timeout`` and ``queue_size`` from this section. ``clock``, ``seed`` and ``log`` are
        passed through (see ``Alerter``). Start it in an event loop (``async with``).

        Raises ConfigError at ``alerts.sinks.<i>.<field>`` if a sink can no longer be built
        (a telegram token unset since loading, say).
        """
        from riskguard.alerts import Alerter, sink_from_dict

        sinks, problems = [], []
        for i, spec in enumerate(self.sinks):
            try:
                sinks.append(sink_from_dict(spec))
            except RiskError as e:
                problems.append(_sink_problem(f"alerts.sinks.{i}", _sink_message(e)))
        if problems:
            raise ConfigError(problems)
        return Alerter(
            sinks,
            rate_limit_per_kind=self.rate_limit,
            dedup_seconds=self.dedup_s,
            retries=self.retries,
            backoff=self.backoff_s,
            max_backoff=self.max_backoff_s,
            timeout=self.timeout_s,
            queue_size=self.queue_size,
            clock=clock,
            seed=seed,
            log=log,
        )


# ---------------------------------------------------------------------------------------------
# [sessions]


def _session_value(name: str, value: Any) -> Any:
    """``value`` checked by the engine (``Limits.problems``); a TOML local time is read as
    ``HH:MM:SS``."""
    if isinstance(value, dt.time) and value.tzinfo is None and not value.microsecond:
        value = value.isoformat()
    problems = Limits.problems({name: value})
    if problems:
        raise ValueError("\n".join(p.removeprefix(f"{name}: ") for p in problems))
    return value


class SessionsConfig(_Section):
    """``[sessions]``: the engine's daily session clock, merged into :meth:`Config.to_limits`.
    Defaults are ``Limits()``'s.

    - ``reset_time``: the daily session's start, local time ``"HH:MM"`` or ``"HH:MM:SS"``
      (``"00:00"``); daily loss and the daily counters reset then;
    - ``utc_offset``: the session clock's offset from UTC, ``"+HH:MM"`` or ``"-HH:MM"``
      (``"+00:00"``).

    The engine validates both. Raises :class:`ConfigError`.
    """

    _path = "sessions"
    reset_time: Annotated[str, BeforeValidator(partial(_session_value, "reset_time"))] = "00:00"
    utc_offset: Annotated[str, BeforeValidator(partial(_session_value, "utc_offset"))] = "+00:00"


# ---------------------------------------------------------------------------------------------
# [guard]


class GuardConfig(_Section):
    """``[guard]``: how a Guard runs; plain data that a Guard reads.

    - ``equity``: starting equity of a fresh engine in quote currency, > 0, or ``"off"`` (None,
      the default) to take the broker's balance;
    - ``action_queue``: bound of the queue of broker actions, an integer >= 1 (1024);
    - ``broker_retries``: extra attempts of a failed broker call, an integer >= 0 (5);
    - ``retry_backoff_s``: the first retry's delay, > 0 (0.1);
    - ``retry_max_backoff_s``: the cap of the delay, >= ``retry_backoff_s`` (5);
    - ``control_poll_s``: seconds between polls for control actions (kill switch, reset), in
      (0, 1], so that a control action is seen within a second (0.5).

    Raises :class:`ConfigError`.
    """

    _path = "guard"
    equity: PositiveOrOff = None
    action_queue: Count = 1024
    broker_retries: NonNegativeCount = 5
    retry_backoff_s: Positive = 0.1
    retry_max_backoff_s: NonNegative = 5.0
    control_poll_s: Annotated[float, _checked(_real, gt=0.0, le=1.0)] = 0.5

    @field_validator("retry_max_backoff_s")
    @classmethod
    def _not_below_backoff(cls, value: float, info: ValidationInfo) -> float:
        backoff = info.data.get("retry_backoff_s")
        if backoff is not None and value < backoff:
            raise ValueError(f"must be >= retry_backoff_s ({backoff:g}), got {value:g}")
        return value


# ---------------------------------------------------------------------------------------------
# [batch]


def _weight_or_off(value: Any) -> float | None:
    return None if _is_off(value) else _real(value, gt=0.0, le=1.0)


def _count_or_off(value: Any) -> float | None:
    return None if _is_off(value) else _real(value, ge=1.0)


class BatchLimits(_Section):
    """``[batch]``: the limits :func:`riskguard.batch.portfolio_risk` checks every portfolio
    against; plain data, so that it crosses process boundaries as a dict. Each is ``"off"``
    (None, the default) or:

    - ``gross_exposure``: the most gross exposure (sum of absolute exposures), currency, > 0;
    - ``net_exposure``: the most absolute net exposure, currency, > 0;
    - ``concentration``: the largest weight of one symbol in gross exposure, in (0, 1];
    - ``effective_positions``: the fewest effective positions (``1 / sum(w**2)``) a portfolio
      with positions may have, >= 1;
    - ``var``, ``cvar``: the VaR and CVaR budgets, positive losses in currency, > 0.

    A limit is breached when the figure is beyond it (strictly); a breach is reported by the
    limit's name. Raises :class:`ConfigError`.
    """

    _path = "batch"
    gross_exposure: PositiveOrOff = None
    net_exposure: PositiveOrOff = None
    concentration: Annotated[float | None, BeforeValidator(_weight_or_off)] = None
    effective_positions: Annotated[float | None, BeforeValidator(_count_or_off)] = None
    var: PositiveOrOff = None
    cvar: PositiveOrOff = None


# ---------------------------------------------------------------------------------------------
# The whole configuration and its sources


def _yield_to(lower: dict[str, Any], higher: Mapping[str, Any]) -> dict[str, Any]:
    """``lower`` without the slippage and commission tables that ``higher`` replaces: one that
    names a different ``model``, or gives the whole value otherwise (a string, a model)."""
    broker = lower.get("broker")
    above = higher.get("broker")
    if not isinstance(broker, dict) or not isinstance(above, Mapping):
        return lower
    kept = dict(broker)
    for table in _MODELS:
        if table not in kept or table not in above:
            continue
        new, old = above[table], kept[table]
        if not isinstance(new, Mapping) or not isinstance(old, Mapping):
            del kept[table]
        elif "model" in new and new.get("model") != old.get("model"):
            del kept[table]
    return {**lower, "broker": kept}


class _TomlSource(TomlConfigSettingsSource):
    def __call__(self) -> dict[str, Any]:
        return _yield_to(super().__call__(), self.current_state)


class _EnvSource(EnvSettingsSource):
    def __call__(self) -> dict[str, Any]:
        return _yield_to(super().__call__(), self.current_state)


class Config(BaseSettings):
    """riskguard's configuration (see the module's docstring for its sources). Frozen.

    ``limits``: every breaker and every gate, sizing and exit setting, by the names
    ``riskguard.Limits`` takes (docs/engine.md, docs/gate.md). Anything not given keeps the
    engine's default. A breaker takes a threshold, ``"off"``, or a table of ``BreakerSpec``
    fields (``threshold``, ``action``, ``cooldown_s``, ``latched``, ``fraction``).
    ``reset_time`` and ``utc_offset`` belong under ``sessions``, not here.

    ``sessions`` (:class:`SessionsConfig`), ``broker`` (:class:`BrokerConfig`), ``journal``
    (:class:`JournalConfig`), ``alerts`` (:class:`AlertsConfig`), ``guard``
    (:class:`GuardConfig`) and ``batch`` (:class:`BatchLimits`): the other sections, each
    with its defaults; in code, each takes a dict or the section's model.

    Raises :class:`ConfigError`, listing every problem with its path.
    """

    model_config = SettingsConfigDict(
        env_prefix="RG_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    limits: dict[str, Any] = {}
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    journal: JournalConfig = Field(default_factory=JournalConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    guard: GuardConfig = Field(default_factory=GuardConfig)
    batch: BatchLimits = Field(default_factory=BatchLimits)

    def __init__(self, **values: Any) -> None:
        token = _nested.set(True)
        try:
            super().__init__(**values)
        except ValidationError as e:
            raise ConfigError(_problems(e)) from None
        except SettingsError as e:
            raise ConfigError([_settings_problem(e)]) from None
        finally:
            _nested.reset(token)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> Config:
        """The configuration from ``path`` (default ``riskguard.toml``, if it exists), the
        environment and ``overrides`` (keyword arguments by section: ``broker={"cash": 5e4}``,
        merged key by key over the other sources).

        Raises ConfigError: a file that is named but missing, or not valid TOML; any invalid
        value.
        """
        file = DEFAULT_FILE if path is None else Path(path)
        if path is not None and not file.is_file():
            raise ConfigError([(str(file), "no such file")])
        token = _toml_file.set(file)
        try:
            return cls(**overrides)
        finally:
            _toml_file.reset(token)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file = _toml_file.get()
        try:
            toml = _TomlSource(settings_cls, toml_file=file)
        except ValueError as e:  # tomllib.TOMLDecodeError
            raise ConfigError([(str(file), f"not valid TOML: {e}")]) from None
        return (init_settings, _EnvSource(settings_cls), toml)

    @field_validator("limits", mode="before")
    @classmethod
    def _check_limits(cls, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValueError(f"must be a table of limits, got {type(value).__name__}")
        value = _plain(value)
        moved = [f"{key}: set it under [sessions]" for key in _SESSION_KEYS if key in value]
        rest = {k: v for k, v in value.items() if k not in _SESSION_KEYS}
        problems = moved + Limits.problems(rest)
        if problems:
            raise ValueError("\n".join(problems))
        return value

    def to_limits(self) -> Limits:
        """The engine's ``Limits``: the defaults overridden by ``limits``, with the session
        clock of ``sessions``."""
        return Limits.from_dict(
            {
                **self.limits,
                "reset_time": self.sessions.reset_time,
                "utc_offset": self.sessions.utc_offset,
            }
        )

    @classmethod
    def sources(cls, path: str | Path | None = None) -> dict[str, Setting]:
        """Every effective setting of ``Config.load(path)`` by dotted path, with its source.

        The paths go down through tables to single values: ``limits.daily_loss.threshold``,
        ``broker.slippage.bps``, ``guard.control_poll_s``; a list (``alerts.sinks``) is one
        setting, and so is a switched-off one (``limits.portfolio_heat``: None). ``[limits]``
        lists every engine setting, the defaults included; a breaker given as a number sets
        its ``threshold``. A setting comes from the highest source that gives it, a table
        holding it or a key inside it: an ``RG_*`` variable (``source="env"``, ``origin`` its
        name), the file (``"file"``, its path), else the defaults (``"default"``, ``""``).
        Secrets are masked as in the reprs (a journal URL's password, a webhook's URL and
        header values).

        Raises ConfigError: as :meth:`load`.
        """
        config = cls.load(path)
        file = DEFAULT_FILE if path is None else Path(path)
        env = _EnvSource(cls)()
        toml = _yield_to(_TomlSource(cls, toml_file=file)(), env)
        limits = config.to_limits().to_dict()
        for key in _SESSION_KEYS:
            del limits[key]
        effective: dict[str, Any] = {"limits": limits}
        for name in ("sessions", "broker", "journal", "alerts", "guard", "batch"):
            effective[name] = getattr(config, name).model_dump()
        from sqlalchemy.engine import make_url

        journal = effective["journal"]
        journal["url"] = make_url(journal["url"]).render_as_string(hide_password=True)
        effective["alerts"]["sinks"] = [_masked_sink(s) for s in config.alerts.sinks]
        # A breaker given as a number is its threshold: its other fields keep their defaults.
        for raw in (env, toml):
            given = raw.get("limits")
            if isinstance(given, dict):
                raw["limits"] = {
                    k: {"threshold": v}
                    if isinstance(limits.get(k), dict) and not isinstance(v, Mapping)
                    else v
                    for k, v in given.items()
                }
        from_env, from_file = list(_leaves(env)), list(_leaves(toml))
        names = {name.upper(): name for name in os.environ}
        out = {}
        for leaf, value in _leaves(effective).items():
            # A source gives this leaf if it sets it, a table above it, or a key inside it.
            env_hits = [p for p in from_env if p[: len(leaf)] == leaf[: len(p)]]
            if env_hits:
                variables = dict.fromkeys(_variable(p, names) for p in env_hits)
                setting = Setting(value, "env", ", ".join(variables))
            elif any(p[: len(leaf)] == leaf[: len(p)] for p in from_file):
                setting = Setting(value, "file", str(file))
            else:
                setting = Setting(value, "default", "")
            out[".".join(leaf)] = setting
        return out


class Setting(NamedTuple):
    """One effective setting from :meth:`Config.sources`: its ``value``; its ``source``,
    ``"default"``, ``"file"`` or ``"env"``; and its ``origin``, the file's path or the
    variable's name (``""`` for a default)."""

    value: Any
    source: Literal["default", "file", "env"]
    origin: str


def _leaves(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """The single values of nested tables by path; lists and empty tables are single values,
    tuples become lists."""
    out: dict[tuple[str, ...], Any] = {}
    for key, value in tree.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            out.update(_leaves(value, path))
        else:
            out[path] = list(value) if isinstance(value, tuple) else value
    return out


def _variable(path: tuple[str, ...], names: Mapping[str, str]) -> str:
    """The ``RG_*`` variable that gave ``path``: its own, or a table's above it (JSON)."""
    for n in range(len(path), 0, -1):
        name = "RG_" + "__".join(path[:n]).upper()
        if name in names:
            return names[name]
    return "RG_" + "__".join(path).upper()


# ---------------------------------------------------------------------------------------------
# Problems and their paths


def _problems(error: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """Each problem of a pydantic error with its dotted path (under ``prefix``); a limits
    problem gets the name it starts with (``daily_loss.threshold: ...`` is at
    ``limits.daily_loss``), a sink's problem the field it starts with."""
    out = []
    for e in error.errors(include_url=False):
        loc = [str(part) for part in e["loc"]]
        if prefix:
            loc = [*prefix.split("."), *loc]
        # A tagged table's loc holds the tag (broker.slippage.fixed_bps.bps): drop it.
        loc = [p for i, p in enumerate(loc) if not (i and p in _MODELS.get(loc[i - 1], ()))]
        path = ".".join(loc) or "config"
        message = str(e["msg"]).removeprefix("Value error, ")
        kind = e["type"]
        if kind == "extra_forbidden":
            message = "unknown setting"
        elif kind == "missing":
            message = "required"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            known = ", ".join(_MODELS.get(loc[-1], ()))
            got = e.get("ctx", {}).get("tag")
            message = (
                f"unknown model {got!r}; known: {known}" if got else f"required, one of: {known}"
            )
            path += ".model"
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            message = f"must be a table, got {_shown(e['input'])}"
        for line in message.split("\n"):
            out.append(_located(path, line))
    return out


def _located(path: str, line: str) -> tuple[str, str]:
    """The path and message of one problem line, made more precise where the line names the
    setting it is about."""
    if path == "limits":
        if line.startswith('unknown limit "'):
            name = line.split('"', 2)[1]
        else:
            name = line.split(":", 1)[0].split(".", 1)[0]
        if not name.isidentifier():
            return path, line
        if name in _SESSION_KEYS and line == f"{name}: set it under [sessions]":
            line = line.removeprefix(f"{name}: ")
        return f"limits.{name}", line
    if re.fullmatch(r"alerts\.sinks\.\d+", path):
        return _sink_problem(path, line)
    return path, line


def _sink_problem(path: str, line: str) -> tuple[str, str]:
    """``url: must be ...`` at ``alerts.sinks.1`` is ``must be ...`` at ``alerts.sinks.1.url``."""
    name, sep, rest = line.partition(": ")
    if sep and name.isidentifier() and name != "sink":
        return f"{path}.{name}", rest
    return path, line.removeprefix("sink: ")


def _settings_problem(error: SettingsError) -> tuple[str, str]:
    """A variable pydantic-settings could not parse (JSON for a list or a table)."""
    match = re.search(r'field "([^"]+)"', str(error))
    field = match.group(1) if match else "config"
    cause = error.__cause__
    detail = f" ({cause})" if cause is not None else ""
    return field, (
        f"cannot read the RG_{field.upper()}* variables: a list or a table must be JSON{detail}"
    )
