"""Composition: what the configuration names, built. The only module that names concrete venues
and stores (DESIGN.md, "Layout"): the paper broker, the SQL journal, the alert sinks by way of
the registry (:mod:`riskguard.app.config.registry`).

- :func:`build_broker`: the broker of ``[broker]``, by its registered ``type``;
- :func:`paper_broker`: the ``paper`` broker's factory;
- :func:`open_journal`, :func:`open_journal_readonly`: the journal at a URL, or of
  ``[journal]``, with its retention policy;
- :func:`build_sink`, :func:`build_alerter`: the alert sinks of ``[alerts]``, by their
  registered ``type``, and the alerter over them;
- :func:`build_guard`: a Guard on a configuration, with these parts.

The sections' own builders (``config.broker.build()``, ``config.journal.open()``,
``config.alerts.build()``) are these functions.
"""

from __future__ import annotations

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

__all__ = [
    "build_alerter",
    "build_broker",
    "build_guard",
    "build_sink",
    "open_journal",
    "open_journal_readonly",
    "paper_broker",
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
