"""Composition: what the configuration names, built. The only module that names concrete venues
and stores (DESIGN.md, "Layout"): the paper broker, the SQL journal, the alert sinks by way of
the registry (:mod:`riskguard.app.config.registry`).

- :func:`build_broker`: the broker of ``[broker]``, by its registered ``type``;
- :func:`paper_broker`: the ``paper`` broker's factory;
- :func:`open_journal`, :func:`open_journal_readonly`: the journal at a URL, or of
  ``[journal]``, with its retention policy;
- :func:`build_sink`, :func:`build_alerter`: the alert sinks of ``[alerts]``, by their
  registered ``type``, and the alerter over them;
- :func:`guard_settings`, :func:`compose_guard`: the settings and the parts of a Guard on a
  configuration (the simulation driver for a simulated venue);
- :func:`build_guard`: a Guard on a configuration, with these parts.

The sections' own builders (``config.broker.build()``, ``config.journal.open()``,
``config.alerts.build()``) are these functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from riskguard._core import RiskError
from riskguard.app.config.registry import REGISTRY
from riskguard.errors import ConfigError

if TYPE_CHECKING:
    from riskguard.alerts import Alerter, LogSink, Sink
    from riskguard.app.config import AlertsConfig, BrokerConfig, Config, JournalConfig
    from riskguard.brokers import Broker, PaperBroker
    from riskguard.guard import Guard
    from riskguard.journal import Journal
    from riskguard.model import GuardSettings
    from riskguard.model.venue import VenueSettings
    from riskguard.ports import GuardParts

__all__ = [
    "build_alerter",
    "build_broker",
    "build_guard",
    "build_sink",
    "compose_guard",
    "guard_settings",
    "live_venue",
    "open_journal",
    "open_journal_readonly",
    "paper_broker",
    "venue_settings",
]


# ---------------------------------------------------------------------------------------------
# Venues


def build_broker(section: BrokerConfig) -> Broker:
    """A fresh broker of ``section.type`` (a registered broker) with its settings.

    Raises ConfigError (path ``broker``) if the broker refuses a setting.
    """
    try:
        return REGISTRY.build("broker", section.type, section)  # type: ignore[no-any-return]
    except ConfigError:
        raise
    except KeyError as e:  # a broker unregistered since the section was checked
        raise ConfigError([("broker.type", str(e.args[0]))]) from None
    except RiskError as e:
        raise ConfigError([(section._path, str(e))]) from None


def paper_broker(section: BrokerConfig) -> PaperBroker:
    """The ``paper`` broker: a :class:`riskguard.brokers.PaperBroker` with the settings of
    ``[broker]`` and its slippage and commission models (by their registered ``model``).

    Raises RiskError: a setting the broker refuses.
    """
    from riskguard.brokers import PaperBroker

    return PaperBroker(
        section.cash,
        slippage=section.slippage.build(),
        commission=section.commission.build(),
        allow_short=section.allow_short,
        fractional=section.fractional,
        max_leverage=section.max_leverage,
        symbols=section.symbols,
        atr_period=section.atr_period,
    )


def venue_settings(section: BrokerConfig, *, call_timeout_s: float = 10.0) -> VenueSettings:
    """The connection settings of a live ``[broker]``: its credentials from the section (the
    environment, or the file with ``secrets_in_config``), else from ``secrets_file`` (a TOML
    file with ``api_key``, ``secret``, ``password``).

    Raises ConfigError: a secrets file that cannot be read, or that holds other keys.
    """
    from riskguard.model.venue import VenueSettings

    secrets = {
        name: value.get_secret_value()
        for name in ("api_key", "secret", "password")
        if (value := getattr(section, name)) is not None
    }
    if section.secrets_file is not None:
        path = os.path.expanduser(section.secrets_file)
        secrets = {**_secrets_file(path), **secrets}
    return VenueSettings(
        type=section.type,
        testnet=section.testnet,
        symbols=tuple(section.symbols or ()),
        base_url=section.base_url,
        ws_url=section.ws_url,
        call_timeout_s=call_timeout_s,
        stale_feed_s=section.stale_feed_s,
        bar_timeframe=section.bar_timeframe,
        dead_man_s=section.dead_man_s,
        **secrets,
    )


def _secrets_file(path: str) -> dict[str, str]:
    from riskguard.app.config.sources import read_toml

    try:
        data = read_toml(path)
    except (OSError, ValueError) as e:
        # The reason names the file and the problem, never its content.
        raise ConfigError(
            [("broker.secrets_file", f"cannot read {path}: {type(e).__name__}")]
        ) from None
    unknown = sorted(set(data) - {"api_key", "secret", "password"})
    if unknown or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError(
            [("broker.secrets_file", f"{path} may hold api_key, secret and password strings only")]
        )
    return data


def live_venue(section: BrokerConfig, *, call_timeout_s: float = 10.0, alerts: Any = None) -> Any:
    """The live venue of ``[broker]`` (``binance``, ``binanceusdm``, ``kucoinfutures``,
    ``bingx``, ``alpaca``), not yet connected: it loads its markets and starts its streams on
    first use (or ``await venue.start()``). ``alerts`` hears its alerts (``(kind, severity,
    title, detail)``).

    Raises ConfigError: the venue's client library is not installed (``riskguard[ccxt]``,
    ``riskguard[alpaca]``), or a credential file that cannot be read.
    """
    import importlib

    from riskguard.app.config.schema import LIVE_VENUES

    module, _, name = LIVE_VENUES[section.type].partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except ImportError as e:
        extra = "alpaca" if section.type == "alpaca" else "ccxt"
        raise ConfigError(
            [("broker.type", f"{section.type} needs riskguard[{extra}] installed ({e.name})")]
        ) from None
    return cls(venue_settings(section, call_timeout_s=call_timeout_s), alerts=alerts)


# ---------------------------------------------------------------------------------------------
# Stores


def open_journal(
    where: JournalConfig | str,
    *,
    durable: bool = True,
    create: bool = True,
    batch: int | None = None,
    keep_snapshots: int | None = None,
) -> Journal:
    """The journal of ``[journal]`` (its ``url``, ``batch`` and ``keep_snapshots``), or at a
    URL (a batch of 256 and every snapshot kept unless given); created and migrated unless
    ``create`` is false (then it must exist: a control action never creates a journal).
    ``durable=False`` trades crash safety for speed (a backtest's journal).

    Raises JournalError (a RiskError): the database cannot be opened or fails its checks; no
    journal there when ``create`` is false.
    """
    from riskguard.journal import Journal

    if isinstance(where, str):
        url, default_batch, keep = where, 256, keep_snapshots
    else:
        url, default_batch, keep = where.url, where.batch, where.keep_snapshots
    return Journal(
        url,
        batch=default_batch if batch is None else batch,
        durable=durable,
        create=create,
        keep_snapshots=keep,
    )


def open_journal_readonly(url: str) -> Journal:
    """The journal at ``url``, read-only: no DDL, no migration, a quick check only; it works
    beside a writing Guard.

    Raises JournalError: no journal there; one that cannot be read.
    """
    from riskguard.journal import Journal

    return Journal.open_readonly(url)


# ---------------------------------------------------------------------------------------------
# Alerts


def build_sink(spec: Mapping[str, Any]) -> Sink:
    """The sink of one table of ``[alerts] sinks``, by its registered ``type``.

    Raises RiskError naming the field: not a table, an unknown type (with the known ones), an
    unknown or missing field, a bad value.
    """
    if not isinstance(spec, Mapping):
        raise RiskError(f"sink: must be a table/dict, got {type(spec).__name__}")
    kind = spec.get("type")
    known = REGISTRY.names("sink")
    if not isinstance(kind, str) or kind not in known:
        raise RiskError(f"type: unknown sink type {kind!r}; known: {', '.join(sorted(known))}")
    return REGISTRY.build("sink", kind, spec)  # type: ignore[no-any-return]


def build_alerter(
    section: AlertsConfig,
    *,
    clock: Callable[[], float] | str | None = None,
    seed: int | None = None,
    log: LogSink | None = None,
) -> Alerter:
    """:meth:`AlertsConfig.build`: an :class:`riskguard.alerts.Alerter` over fresh sinks.

    Raises ConfigError at ``alerts.sinks.<i>.<field>``: a sink that cannot be built.
    """
    from riskguard.alerts import Alerter
    from riskguard.app.config.schema import sink_problems

    sinks, problems = [], []
    for i, spec in enumerate(section.sinks):
        try:
            sinks.append(build_sink(spec))
        except RiskError as e:
            problems.append(sink_problems(e, i))
    if problems:
        raise ConfigError(problems)
    return Alerter(
        sinks,
        rate_limit_per_kind=section.rate_limit,
        dedup_seconds=section.dedup_s,
        retries=section.retries,
        backoff=section.backoff_s,
        max_backoff=section.max_backoff_s,
        timeout=section.timeout_s,
        queue_size=section.queue_size,
        clock=clock,
        seed=seed,
        log=log,
    )


# ---------------------------------------------------------------------------------------------
# The Guard


def guard_settings(config: Config) -> GuardSettings:
    """The plain settings a Guard reads, from ``[guard]``, the engine's limits (``[limits]``
    with the session clock of ``[sessions]``), ``journal.snapshot_interval_s`` and
    ``broker.symbols``.

    Raises ConfigError: a value out of bounds (``config`` unchecked, after ``model_copy``).
    """
    from riskguard.model import GuardSettings

    g = config.guard
    symbols = config.broker.symbols
    return GuardSettings(
        limits=config.to_limits(),
        equity=g.equity,
        action_queue=g.action_queue,
        broker_retries=g.broker_retries,
        retry_backoff_s=g.retry_backoff_s,
        retry_max_backoff_s=g.retry_max_backoff_s,
        call_timeout_s=g.call_timeout_s,
        control_poll_s=g.control_poll_s,
        max_clock_skew_s=g.max_clock_skew_s,
        snapshot_interval_ns=config.journal.snapshot_interval_ns,
        symbols=None if symbols is None else frozenset(symbols),
        stale_feed_s=config.broker.stale_feed_s if config.broker.live else None,
    )


def compose_guard(
    config: Config,
    *,
    broker: Broker | None = None,
    journal: Journal | None = None,
    alerter: Alerter | None = None,
) -> GuardParts:
    """The parts of a Guard on ``config`` (checked first: :meth:`Config.check`): its settings,
    the broker, journal and alerter given or else built from ``config``, and the driver between
    its data and its broker: the simulation driver (:class:`riskguard.venues.paper.Simulation`)
    for a simulated broker, else the live one. A journal opened here is closed again when the
    alerter cannot be built.

    Raises ConfigError, JournalError: as ``riskguard.Guard``.
    """
    from riskguard.ports import LIVE, GuardParts, SimulatedVenue
    from riskguard.venues.paper import Simulation

    config = config.check()
    settings = guard_settings(config)
    store = journal if journal is not None else config.journal.open()
    try:
        alerts = alerter if alerter is not None else config.alerts.build()
    except BaseException:
        if journal is None:
            store.close()
        raise
    if broker is not None:
        venue = broker
    elif config.broker.live:
        venue = live_venue(
            config.broker, call_timeout_s=settings.call_timeout_s, alerts=_alert_hook(alerts)
        )
    else:
        venue = config.broker.build()
    driver = Simulation(venue) if isinstance(venue, SimulatedVenue) else LIVE
    return GuardParts(
        settings=settings,
        venue=venue,
        store=store,
        alerts=alerts,
        driver=driver,
        owns_store=journal is None,
        owns_alerts=alerter is None,
        owns_venue=broker is None,
    )


def _alert_hook(alerts: Any) -> Any:
    """A venue's alerts (``(kind, severity, title, detail)``) into the Guard's alert sink."""
    from riskguard.model.alerts import Alert

    def notify(kind: str, severity: str, title: str, detail: str) -> None:
        alerts.notify(Alert(kind=kind, severity=severity, title=title, message=detail))

    return notify


def build_guard(
    config: Config,
    *,
    broker: Broker | None = None,
    journal: Journal | None = None,
    alerter: Alerter | None = None,
    **options: Any,
) -> Guard:
    """A Guard on ``config``, its broker, journal and alerter those given or else built from
    ``config`` (as above); ``options`` are the Guard's other keyword arguments (``seed``,
    ``clock_check``). Start it with ``async with``.

    Raises ConfigError, JournalError, GuardError: as ``riskguard.Guard``.
    """
    from riskguard.guard import Guard

    return Guard(config, broker, journal, alerter=alerter, **options)
