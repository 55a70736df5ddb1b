"""The sections of riskguard's configuration beyond ``[limits]``
(:mod:`riskguard.app.config.limits`), each a frozen model that refuses unknown keys:

- ``[sessions]``: the daily session clock (``reset_time``, ``utc_offset``), merged into
  :meth:`Config.to_limits`;
- ``[broker]``: :class:`BrokerConfig`, built with :meth:`BrokerConfig.build`, with its
  slippage and commission models;
- ``[journal]``: :class:`JournalConfig`, opened with :meth:`JournalConfig.open`;
- ``[alerts]``: :class:`AlertsConfig`, built with :meth:`AlertsConfig.build`;
- ``[guard]``: :class:`GuardConfig`, plain data for a Guard;
- ``[batch]``: :class:`BatchLimits`, the limits of :func:`riskguard.batch.portfolio_risk`.

The built-in implementations a section names (the ``paper`` broker, the ``log``, ``webhook``
and ``telegram`` sinks, each slippage and commission model) are registered here, beside the
schema of their settings, in the one registry (:mod:`riskguard.app.config.registry`); what
they build is built by :mod:`riskguard.app.bootstrap`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from riskguard._core import Limits, RiskError
from riskguard.app.config.checks import (
    DAY_S,
    HOUR_S,
    MAX_ATR_MULTIPLE,
    MAX_BPS,
    MAX_COUNT,
    MAX_LEVERAGE,
    MAX_PERIOD,
    MAX_RATE,
    MAX_SNAPSHOTS,
    YEAR_S,
    Amount,
    AmountOrOff,
    Count,
    Fee,
    Flag,
    Fraction,
    Retries,
    Section,
    checked,
    count_or_off,
    integer,
    is_off,
    nanoseconds,
    real,
    real_or_off,
    shown,
    sink_problem,
)
from riskguard.app.config.registry import REGISTRY
from riskguard.redact import redact, safe_url, url_secrets

if TYPE_CHECKING:
    from riskguard.alerts import Alerter, LogSink
    from riskguard.brokers import CommissionModel, PaperBroker, SlippageModel
    from riskguard.journal import Journal

__all__ = [
    "BROKER_TYPES",
    "AlertsConfig",
    "BatchLimits",
    "BrokerConfig",
    "FixedBpsConfig",
    "GuardConfig",
    "JournalConfig",
    "MakerTakerConfig",
    "NoCommissionConfig",
    "NoSlippageConfig",
    "PerShareConfig",
    "PercentOfNotionalConfig",
    "SessionsConfig",
    "VolatilityATRConfig",
    "VolumeLinearConfig",
]


# ---------------------------------------------------------------------------------------------
# [broker]: slippage and commission models, one registered implementation each


class _CostModel(Section):
    """The settings of a slippage or commission model: ``model`` names it in the registry,
    the other fields are its factory's keyword arguments."""

    _kind: ClassVar[str]
    model: str

    def _build(self) -> Any:
        settings = self.model_dump(exclude={"model"})
        return REGISTRY.build(self._kind, self.model, **settings)


class _Slippage(_CostModel):
    _kind = "slippage"
    _path = "broker.slippage"

    def build(self) -> SlippageModel:
        """The broker's slippage model."""
        return self._build()  # type: ignore[no-any-return]


class _Commission(_CostModel):
    _kind = "commission"
    _path = "broker.commission"

    def build(self) -> CommissionModel:
        """The broker's commission model."""
        return self._build()  # type: ignore[no-any-return]


@REGISTRY.implementation("slippage", "none", "riskguard.brokers:NoSlippage")
class NoSlippageConfig(_Slippage):
    """``{ model = "none" }``: fills at the reference price (``riskguard.brokers.NoSlippage``).
    The default."""

    model: Literal["none"] = "none"


@REGISTRY.implementation("slippage", "fixed_bps", "riskguard.brokers:FixedBps")
class FixedBpsConfig(_Slippage):
    """``{ model = "fixed_bps", bps = 2.0 }``: a fixed adverse slippage of ``bps`` basis points
    (in [0, 10 000]; 1 bp = 0.01 %) of the reference price (``riskguard.brokers.FixedBps``)."""

    model: Literal["fixed_bps"]
    bps: Annotated[float, checked(real, ge=0.0, le=MAX_BPS)]


@REGISTRY.implementation("slippage", "volume_linear", "riskguard.brokers:VolumeLinear")
class VolumeLinearConfig(_Slippage):
    """``{ model = "volume_linear", k = 0.001 }``: ``k * min(1, |qty| / volume)`` of the
    reference price, ``k`` in [0, 1] (1 being the whole price at full participation)
    (``riskguard.brokers.VolumeLinear``)."""

    model: Literal["volume_linear"]
    k: Fraction


@REGISTRY.implementation("slippage", "volatility_atr", "riskguard.brokers:VolatilityATR")
class VolatilityATRConfig(_Slippage):
    """``{ model = "volatility_atr", k = 0.1 }``: ``k`` average true ranges (over the broker's
    ``atr_period`` bars) of slippage, ``k`` in [0, 100] (``riskguard.brokers.VolatilityATR``)."""

    model: Literal["volatility_atr"]
    k: Annotated[float, checked(real, ge=0.0, le=MAX_ATR_MULTIPLE)]


@REGISTRY.implementation("commission", "none", "riskguard.brokers:NoCommission")
class NoCommissionConfig(_Commission):
    """``{ model = "none" }``: free trading (``riskguard.brokers.NoCommission``). The default."""

    model: Literal["none"] = "none"


@REGISTRY.implementation("commission", "per_share", "riskguard.brokers:PerShare")
class PerShareConfig(_Commission):
    """``{ model = "per_share", rate = 0.005, minimum = 1.0 }``: ``max(minimum, rate * |qty|)``,
    ``rate`` in quote currency per unit, ``minimum`` (default 0) per fill, each in [0, 1e9]
    (``riskguard.brokers.PerShare``)."""

    model: Literal["per_share"]
    rate: Fee
    minimum: Fee = 0.0


@REGISTRY.implementation("commission", "percent_of_notional", "riskguard.brokers:PercentOfNotional")
class PercentOfNotionalConfig(_Commission):
    """``{ model = "percent_of_notional", rate = 0.001 }``: ``rate * |qty| * price``, ``rate``
    in [0, 1] a fraction of notional, 0.001 being 0.1 %
    (``riskguard.brokers.PercentOfNotional``)."""

    model: Literal["percent_of_notional"]
    rate: Fraction


@REGISTRY.implementation("commission", "maker_taker", "riskguard.brokers:MakerTaker")
class MakerTakerConfig(_Commission):
    """``{ model = "maker_taker", maker = 0.0002, taker = 0.0005 }``: the maker or taker rate
    (fractions of notional, in [0, 1]) by the fill's liquidity
    (``riskguard.brokers.MakerTaker``)."""

    model: Literal["maker_taker"]
    maker: Fraction
    taker: Fraction


# A tagged table validates against the schema its ``model`` names: the union of the
# registered models of its kind (to a type checker, their base).
if TYPE_CHECKING:
    SlippageConfig = _Slippage
    CommissionConfig = _Commission
else:
    SlippageConfig = Annotated[
        Union[REGISTRY.schemas("slippage")],  # noqa: UP007
        Field(discriminator="model"),
    ]
    CommissionConfig = Annotated[
        Union[REGISTRY.schemas("commission")],  # noqa: UP007
        Field(discriminator="model"),
    ]


def _model_table(value: Any) -> Any:
    """A table as given, or a bare model name (``"none"``, ``"off"``) as its table."""
    if is_off(value):
        return {"model": "none"}
    if isinstance(value, str):
        return {"model": value}
    return value


def _endpoint(value: Any) -> str | None:
    if is_off(value):
        return None
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https", "ws", "wss"):
        raise ValueError(f"must be an http(s):// or ws(s):// URL, got {shown(value)}")
    return value.rstrip("/")


def _timeframe(value: Any) -> str | None:
    if is_off(value):
        return None
    if not isinstance(value, str) or not value[:-1].isdigit() or value[-1] not in "mhd":
        raise ValueError(
            f'must be a bar length such as "1m", "5m", "1h" or "off", got {shown(value)}'
        )
    return value


LIVE_VENUES = {
    "binance": "riskguard.venues.ccxt:Binance",
    "binanceusdm": "riskguard.venues.ccxt:BinanceUsdm",
    "kucoinfutures": "riskguard.venues.ccxt:KucoinFutures",
    "bingx": "riskguard.venues.ccxt:Bingx",
    "alpaca": "riskguard.venues.alpaca:AlpacaVenue",
}
"""The live venues by ``[broker] type``, each the import path of its class."""


def _symbol(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty string, got {shown(value)}")
    return value


class BrokerConfig(Section):
    """``[broker]``: the broker the Guard trades through. Defaults are ``PaperBroker``'s.

    - ``type``: a registered broker (:data:`BROKER_TYPES`): ``"paper"`` (the default), or a
      live venue (below);
    - ``cash``: starting cash in quote currency, in (0, 1e20], the engine's largest equity
      (100 000);
    - ``allow_short`` (false), ``fractional`` (true): short positions, non-whole quantities;
    - ``max_leverage``: bound of gross exposure over equity, in [1, 1000] (1);
    - ``symbols``: the only symbols accepted, or ``"off"``/absent for any symbol (the default);
    - ``atr_period``: bars of the ATR the slippage model sees, an integer in [1, 100 000] (14);
    - ``slippage``: a table with ``model`` = ``"none"`` (default), ``"fixed_bps"`` (``bps``),
      ``"volume_linear"`` or ``"volatility_atr"`` (``k``); see :class:`FixedBpsConfig` etc.;
    - ``commission``: ``model`` = ``"none"`` (default), ``"per_share"`` (``rate``,
      ``minimum``), ``"percent_of_notional"`` (``rate``) or ``"maker_taker"`` (``maker``,
      ``taker``).

    A bare model name stands for its table (``slippage = "none"``).

    A live venue (``type`` = ``"binance"``, ``"binanceusdm"``, ``"kucoinfutures"``, ``"bingx"``,
    ``"alpaca"``; ``riskguard[ccxt]`` or ``riskguard[alpaca]`` installed) reads:

    - ``symbols``: what the Guard trades and subscribes to (required), in ccxt's unified form
      (``"BTC/USDT:USDT"``) or Alpaca's (``"AAPL"``);
    - ``testnet``: the venue's sandbox (true, the default); ``false`` trades real money;
    - ``api_key``, ``secret``, ``password`` (KuCoin's passphrase): from the environment
      (``RG_BROKER__API_KEY``, ``RG_BROKER__SECRET``, ``RG_BROKER__PASSWORD``) or from the
      TOML file named by ``secrets_file`` (keys ``api_key``, ``secret``, ``password``); in
      the configuration file itself only with ``secrets_in_config = true``. Never printed;
    - ``base_url``, ``ws_url``: replace the scheme and host of every REST and WebSocket
      endpoint the client calls, keeping their paths (tests, private gateways);
    - ``stale_feed_s``: seconds without market data before new risk pauses, in (0, 3600] (30);
    - ``bar_timeframe``: the bars the market stream follows (``"1m"``), or ``"off"``;
    - ``dead_man_s``: the venue-side countdown that cancels every order when the Guard stops
      re-arming it (Binance USD-M's countdown; BingX's cancel-all-after, held within its 10 to
      120 s), in [10, 3600] seconds, or ``"off"`` (60); disarmed at a clean stop.

    Raises :class:`ConfigError`.
    """

    _path = "broker"
    type: str = "paper"
    cash: Amount = 100_000.0
    allow_short: Flag = False
    fractional: Flag = True
    max_leverage: Annotated[float, checked(real, ge=1.0, le=MAX_LEVERAGE)] = 1.0
    symbols: tuple[Annotated[str, BeforeValidator(_symbol)], ...] | None = None
    atr_period: Annotated[int, checked(integer, ge=1, le=MAX_PERIOD)] = 14
    slippage: SlippageConfig = Field(default_factory=NoSlippageConfig)
    commission: CommissionConfig = Field(default_factory=NoCommissionConfig)
    testnet: Flag = True
    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    password: SecretStr | None = None
    secrets_file: str | None = None
    secrets_in_config: Flag = False
    base_url: Annotated[str | None, BeforeValidator(_endpoint)] = None
    ws_url: Annotated[str | None, BeforeValidator(_endpoint)] = None
    stale_feed_s: Annotated[float, checked(real, gt=0.0, le=HOUR_S)] = 30.0
    bar_timeframe: Annotated[str | None, BeforeValidator(_timeframe)] = "1m"
    dead_man_s: Annotated[float | None, checked(real_or_off, ge=10.0, le=HOUR_S)] = 60.0

    @property
    def live(self) -> bool:
        """True for a venue with a market of its own (not the paper broker)."""
        return self.type in LIVE_VENUES

    @field_validator("type", mode="before")
    @classmethod
    def _known_type(cls, value: Any) -> str:
        known = REGISTRY.names("broker")
        if not isinstance(value, str) or value not in known:
            raise ValueError(f"unknown broker type {shown(value)}; known: {', '.join(known)}")
        return value

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbol_list(cls, value: Any) -> Any:
        if is_off(value):
            return None
        if not isinstance(value, (list, tuple)):
            raise ValueError(f'must be a list of symbols such as ["BTCUSDT"], got {shown(value)}')
        if not value:
            raise ValueError("must name at least one symbol; leave it out to accept any symbol")
        return value

    @field_validator("slippage", "commission", mode="before")
    @classmethod
    def _model_name(cls, value: Any) -> Any:
        return _model_table(value)

    @model_validator(mode="after")
    def _live_needs_symbols(self) -> BrokerConfig:
        if self.type in LIVE_VENUES and not self.symbols:
            raise ValueError(
                f"a live venue ({self.type}) needs broker.symbols, the symbols it trades: "
                'symbols = ["BTC/USDT:USDT"]'
            )
        return self

    def build(self) -> PaperBroker:
        """A fresh broker of ``type`` with these settings (:func:`riskguard.app.bootstrap.
        build_broker`): a :class:`riskguard.brokers.PaperBroker` with the slippage and
        commission model objects (``FixedBps(bps)``, ``PercentOfNotional(rate)``, ...).

        Raises ConfigError (path ``broker``) if the broker refuses a setting.
        """
        from riskguard.app.bootstrap import build_broker

        return build_broker(self)  # type: ignore[return-value]


REGISTRY.register(
    "broker",
    "paper",
    "riskguard.app.bootstrap:paper_broker",
    schema=BrokerConfig,
    summary="the deterministic paper broker (riskguard.brokers.PaperBroker)",
)
for _name, _target in LIVE_VENUES.items():
    REGISTRY.register(
        "broker",
        _name,
        "riskguard.app.bootstrap:live_venue",
        schema=BrokerConfig,
        summary=f"{_name} through {'alpaca-py' if _name == 'alpaca' else 'ccxt'} ({_target})",
    )
BROKER_TYPES = REGISTRY.names("broker")
"""The brokers a configuration can build, as registered when it was imported."""


# ---------------------------------------------------------------------------------------------
# [journal]


def _journal_url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty SQLAlchemy URL string, got {shown(value)}")
    from sqlalchemy.engine import make_url

    try:
        make_url(value)
    except Exception as e:
        # The value is shown masked, and SQLAlchemy's reason redacted: a URL may hold a
        # password.
        raise ValueError(
            f"not a SQLAlchemy URL such as sqlite:///riskguard.db or "
            f"postgresql+psycopg://user@host/db, got {safe_url(value)!r} "
            f"({redact(e, *url_secrets(value))})"
        ) from None
    return value


def journal_driver(url: str) -> str | None:
    """Why a Guard could not open a journal at ``url`` without even connecting: an unknown
    database, or its driver not installed (what ``sqlalchemy.create_engine`` imports); None
    when both load. Redacted: a driver's message may repeat the URL."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        parsed.get_dialect().import_dbapi()
    except Exception as e:
        return redact(
            f"cannot load the database driver of {safe_url(url)}: {type(e).__name__}: {e}",
            *url_secrets(url),
        )
    return None


class JournalConfig(Section):
    """``[journal]``: where decisions, events and snapshots are stored. Defaults are
    ``Journal``'s.

    - ``url``: any SQLAlchemy URL (``sqlite:///riskguard.db``; ``postgresql+psycopg://...``)
      whose database driver is installed; its password never appears in this model's repr or
      in an error (:func:`riskguard.redact.safe_url`);
    - ``batch``: the most decisions per group commit, an integer in [1, 10 000 000] (256);
    - ``snapshot_interval_s``: seconds of data time between engine checkpoints, in
      (0, 31 536 000] (a year), or ``"off"`` (None) for none (60);
    - ``keep_snapshots``: the retention policy, an integer in [1, 1e9]: the newest this many
      snapshots are kept, and the newest of each UTC day before them (1000). ``"off"`` (None)
      keeps every snapshot.

    Raises :class:`ConfigError`.
    """

    _path = "journal"
    url: Annotated[str, BeforeValidator(_journal_url)] = "sqlite:///riskguard.db"
    batch: Count = 256
    snapshot_interval_s: Annotated[float | None, checked(real_or_off, gt=0.0, le=YEAR_S)] = 60.0
    keep_snapshots: Annotated[
        int | None, BeforeValidator(partial(count_or_off, le=MAX_SNAPSHOTS))
    ] = 1000

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name == "url":
                value = safe_url(value)
            yield name, value

    @property
    def snapshot_interval_ns(self) -> int | None:
        """``snapshot_interval_s`` in integer nanoseconds (:func:`nanoseconds`), None when
        off: the interval a Guard checkpoints at, in the engine's unit."""
        if self.snapshot_interval_s is None:
            return None
        return nanoseconds(self.snapshot_interval_s, f"{self._path}.snapshot_interval_s")

    def open(self) -> Journal:
        """``riskguard.journal.Journal(url, batch=batch, keep_snapshots=keep_snapshots)``,
        created and migrated (:func:`riskguard.app.bootstrap.open_journal`); close it (or use
        it as a context manager).

        Raises JournalError (a RiskError): the database cannot be opened or fails its checks.
        """
        from riskguard.app.bootstrap import open_journal

        return open_journal(self)


# ---------------------------------------------------------------------------------------------
# [alerts]

for _name, _cls in (("log", "LogSink"), ("webhook", "WebhookSink"), ("telegram", "TelegramSink")):
    # The built-in sinks are built from their tables by the alerts module's own factory, which
    # checks each field of each (riskguard.alerts.sink_from_dict).
    REGISTRY.register(
        "sink",
        _name,
        "riskguard.alerts:sink_from_dict",
        summary=f"riskguard.alerts.{_cls}",
    )
del _name, _cls


def sink_message(error: RiskError) -> str:
    message = str(error)
    if message.startswith("token_env: environment variable"):
        message += " (a telegram sink reads its bot token from it when the config is loaded)"
    return message


def _sink(value: Any) -> dict[str, Any]:
    """A sink table checked by building it (:func:`riskguard.app.bootstrap.build_sink`, by
    the registry); its messages start with the field they are about (``url: ...``)."""
    from riskguard.app.bootstrap import build_sink

    try:
        build_sink(value)
    except RiskError as e:
        raise ValueError(sink_message(e)) from None
    return dict(value)


def masked_sink(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A sink table for a repr: a webhook URL often embeds a key, headers a token."""
    out = {k: redact(v) if isinstance(v, str) else v for k, v in spec.items()}
    if isinstance(spec.get("url"), str):
        parts = urlsplit(spec["url"])
        out["url"] = f"{parts.scheme}://{parts.hostname}/..."
    if isinstance(spec.get("api_base"), str):
        out["api_base"] = safe_url(spec["api_base"])
    if isinstance(out.get("headers"), Mapping):
        out["headers"] = sorted(out["headers"])
    return out


def _rate_limit(value: Any) -> tuple[int, float] | None:
    if is_off(value):
        return None
    shape = 'must be [n, per_seconds] (n alerts per kind per period) or "off"'
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"{shape}, got {shown(value)}")
    try:
        n = integer(value[0], ge=1, le=MAX_RATE)
    except ValueError as e:
        raise ValueError(f"n {e}") from None
    try:
        per = real(value[1], gt=0.0, le=DAY_S)
    except ValueError as e:
        raise ValueError(f"per_seconds {e}") from None
    return (n, per)


def _default_sinks() -> tuple[dict[str, Any], ...]:
    return ({"type": "log"},)


class AlertsConfig(Section):
    """``[alerts]``: who hears about breaker trips and control actions. Defaults are
    ``Alerter``'s.

    - ``sinks``: a list of sink tables, each of a registered sink ``type`` and checked when
      the configuration is loaded: ``{type = "log", path = ...}``, ``{type = "webhook", url =
      ..., timeout = ..., headers = {...}}`` or ``{type = "telegram", chat_id = ...}``
      (``riskguard.alerts.sink_from_dict``); a telegram sink reads its bot token from
      ``RG_TELEGRAM_TOKEN`` (or its ``token_env``), which must then be set. At least one;
      default one log sink (stderr);
    - ``rate_limit``: ``[n, per_seconds]`` (n an integer in [1, 1 000 000], per_seconds in
      (0, 86 400]) per alert kind, or ``"off"`` (None) ([10, 60]);
    - ``dedup_s``: seconds a repeated alert is dropped, in [0, 86 400], 0 for never (60);
    - ``retries``: extra delivery attempts, an integer in [0, 100] (3);
    - ``backoff_s``, ``max_backoff_s``: the first retry's delay and the cap, in [0, 3600]
      (0.5, 30);
    - ``timeout_s``: the most one delivery attempt may take, in (0, 3600] (10);
    - ``queue_size``: bound of each sink's queue, an integer in [1, 10 000 000] (1000).

    Raises :class:`ConfigError`, a sink's problem at ``alerts.sinks.<i>.<field>``.
    """

    _path = "alerts"
    sinks: tuple[Annotated[dict[str, Any], BeforeValidator(_sink)], ...] = Field(
        default_factory=_default_sinks
    )
    rate_limit: Annotated[tuple[int, float] | None, BeforeValidator(_rate_limit)] = (10, 60.0)
    dedup_s: Annotated[float, checked(real, ge=0.0, le=DAY_S)] = 60.0
    retries: Retries = 3
    backoff_s: Annotated[float, checked(real, ge=0.0, le=HOUR_S)] = 0.5
    max_backoff_s: Annotated[float, checked(real, ge=0.0, le=HOUR_S)] = 30.0
    timeout_s: Annotated[float, checked(real, gt=0.0, le=HOUR_S)] = 10.0
    queue_size: Count = 1000

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            if name == "sinks":
                value = tuple(masked_sink(spec) for spec in value)
            yield name, value

    @field_validator("sinks", mode="before")
    @classmethod
    def _sink_list(cls, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise ValueError(
                f'must be a list of sink tables such as [{{ type = "log" }}], got {shown(value)}'
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
        ``timeout`` and ``queue_size`` from this section
        (:func:`riskguard.app.bootstrap.build_alerter`). ``clock``, ``seed`` and ``log`` are
        passed through (see ``Alerter``). Start it in an event loop (``async with``).

        Raises ConfigError at ``alerts.sinks.<i>.<field>`` if a sink can no longer be built
        (a telegram token unset since loading, say).
        """
        from riskguard.app.bootstrap import build_alerter

        return build_alerter(self, clock=clock, seed=seed, log=log)


def sink_problems(error: RiskError, index: int) -> tuple[str, str]:
    """The path and message of a sink that cannot be built, the ``index``-th of ``sinks``."""
    return sink_problem(f"alerts.sinks.{index}", sink_message(error))


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


class SessionsConfig(Section):
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


class GuardConfig(Section):
    """``[guard]``: how a Guard runs; plain data that a Guard reads.

    - ``equity``: starting equity of a fresh engine in quote currency, in (0, 1e20] (the
      engine's bound), or ``"off"`` (None, the default) to take the broker's balance;
    - ``action_queue``: bound of the queue of broker actions, an integer in [1, 10 000 000]
      (1024);
    - ``broker_retries``: extra attempts of a failed broker call, an integer in [0, 100] (5);
    - ``retry_backoff_s``: the first retry's delay, in (0, 3600] (0.1);
    - ``retry_max_backoff_s``: the cap of the delay, in [``retry_backoff_s``, 3600] (5);
    - ``control_poll_s``: seconds between polls for control actions (kill switch, reset), in
      (0, 1], so that a control action is seen within a second (0.5);
    - ``call_timeout_s``: the longest a venue call may take, in (0, 3600] seconds (10). A call
      that times out is an ambiguous outcome, never a refusal;
    - ``max_clock_skew_s``: how far ahead of the wall clock a live tick may be stamped, in
      (0, 86400] seconds, or ``"off"`` (None) for no check (300). Backtests never check it;
    - ``flatten_on_exit``: ``riskguard run`` closes every position when it stops (false: the
      positions and their protective orders stay).

    Raises :class:`ConfigError`.
    """

    _path = "guard"
    equity: AmountOrOff = None
    action_queue: Count = 1024
    broker_retries: Retries = 5
    retry_backoff_s: Annotated[float, checked(real, gt=0.0, le=HOUR_S)] = 0.1
    retry_max_backoff_s: Annotated[float, checked(real, ge=0.0, le=HOUR_S)] = 5.0
    control_poll_s: Annotated[float, checked(real, gt=0.0, le=1.0)] = 0.5
    call_timeout_s: Annotated[float, checked(real, gt=0.0, le=HOUR_S)] = 10.0
    max_clock_skew_s: Annotated[float | None, checked(real_or_off, gt=0.0, le=DAY_S)] = 300.0
    flatten_on_exit: Flag = False

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
    return None if is_off(value) else real(value, gt=0.0, le=1.0)


def _count_or_off(value: Any) -> float | None:
    return None if is_off(value) else real(value, ge=1.0, le=MAX_COUNT)


class BatchLimits(Section):
    """``[batch]``: the limits :func:`riskguard.batch.portfolio_risk` checks every portfolio
    against; plain data, so that it crosses process boundaries as a dict. Each is ``"off"``
    (None, the default) or:

    - ``gross_exposure``: the most gross exposure (sum of absolute exposures), currency, in
      (0, 1e20];
    - ``net_exposure``: the most absolute net exposure, currency, in (0, 1e20];
    - ``concentration``: the largest weight of one symbol in gross exposure, in (0, 1];
    - ``effective_positions``: the fewest effective positions (``1 / sum(w**2)``) a portfolio
      with positions may have, in [1, 1e9];
    - ``var``, ``cvar``: the VaR and CVaR budgets, positive losses in currency, in (0, 1e20].

    A limit is breached when the figure is beyond it (strictly); a breach is reported by the
    limit's name. Raises :class:`ConfigError`.
    """

    _path = "batch"
    gross_exposure: AmountOrOff = None
    net_exposure: AmountOrOff = None
    concentration: Annotated[float | None, BeforeValidator(_weight_or_off)] = None
    effective_positions: Annotated[float | None, BeforeValidator(_count_or_off)] = None
    var: AmountOrOff = None
    cvar: AmountOrOff = None
