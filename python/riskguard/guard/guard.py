"""The Guard's facade: construction, start and close, the signal and market-data paths, manual
control actions and the status. Its parts are the mixins of this package and of :mod:`riskguard.oms`
(see :mod:`riskguard.guard`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np

from riskguard._core import Decision, Event, RiskEngine, RiskError, Signal
from riskguard.errors import GuardError, JournalError
from riskguard.guard.actions import ActionsMixin
from riskguard.guard.alerting import AlertingMixin, _utc
from riskguard.guard.controls import ControlsMixin
from riskguard.guard.feed import FeedMixin
from riskguard.guard.intake import IntakeMixin, _check_parts
from riskguard.guard.planner import PlannerMixin, _new_id
from riskguard.guard.recovery import RecoveryMixin
from riskguard.guard.writeahead import WriteAheadMixin
from riskguard.model import RiskStatus
from riskguard.model.orders import Order
from riskguard.model.rows import order_row
from riskguard.oms.book import Book, BookMixin, _Step
from riskguard.oms.gateway import Gateway, GatewayMixin
from riskguard.oms.tca import Executions
from riskguard.ports import AlertSink, GuardParts, Store, Venue

__all__ = ["Guard", "GuardError", "GuardStatus"]

# The Guard's status is the one status projection every face shows (riskguard.model).
GuardStatus = RiskStatus


class Guard(
    FeedMixin,
    IntakeMixin,
    PlannerMixin,
    ActionsMixin,
    WriteAheadMixin,
    RecoveryMixin,
    ControlsMixin,
    AlertingMixin,
    BookMixin,
    GatewayMixin,
):
    """Orchestrates one engine, broker, journal and alerter (see the module's docstring).

    ``config`` is a :class:`riskguard.Config` (``rg.Config.load()`` reads ``riskguard.toml``
    and ``RG_*`` variables): the Guard asks it for its parts (:meth:`riskguard.Config.compose`).
    ``broker`` defaults to the configured one (the paper broker by default), ``journal`` to one
    at the configured URL (SQLite by default), ``alerter`` to the configured sinks. A journal or
    alerter the Guard creates, it closes; those passed in are flushed but left open. ``seed``
    makes the retry jitter reproducible. ``clock_check`` says whether ticks, bars and signals
    stamped more than ``guard.max_clock_skew_s`` ahead of the wall clock are refused: ``None``
    (the default) checks unless the venue is simulated (its driver replays data that is in the
    past); the check is off whenever ``max_clock_skew_s`` is off.

    Use ``async with Guard(...) as guard`` or :meth:`start` / :meth:`aclose`; a Guard also
    starts on first use. A fresh engine starts with the configured ``guard.equity``, or the
    broker's equity (cash plus positions at their average price).

    Raises JournalError: the journal cannot be opened or fails its checks (fail closed).
    ConfigError: an invalid configuration. RiskError: an argument of the wrong type.
    """

    def __init__(
        self,
        config: Any,
        broker: Venue | None = None,
        journal: Store | None = None,
        *,
        alerter: AlertSink | None = None,
        seed: int | None = None,
        clock_check: bool | None = None,
    ) -> None:
        compose = getattr(config, "compose", None)
        if isinstance(config, type) or not callable(compose):
            raise RiskError(
                f"config must be a riskguard.Config (riskguard.Config.load() reads "
                f"riskguard.toml), got {type(config).__name__}"
            )
        _check_parts(broker, journal, alerter, clock_check)
        parts: GuardParts = compose(broker=broker, journal=journal, alerter=alerter)
        self.config = config
        self.settings = settings = parts.settings
        self.broker: Venue = parts.venue
        self.journal = parts.store
        self.alerter = parts.alerts
        self._driver = parts.driver
        self._replay = parts.driver.replay
        self._owns_journal = parts.owns_store
        self._owns_alerter = parts.owns_alerts
        self._owns_venue = parts.owns_venue
        try:
            # The journal was checked on open; restoring here makes a snapshot the engine
            # refuses fail now, before anything trades.
            self._engine: RiskEngine | None = self.journal.restore()
        except BaseException:
            if self._owns_journal:
                self.journal.close()
            raise
        self._snapshot_ns = settings.snapshot_interval_ns
        self._next_snapshot = 0
        self.gateway = Gateway(
            self.broker,
            timeout=settings.call_timeout_s,
            retries=settings.broker_retries,
            backoff=settings.retry_backoff_s,
            max_backoff=settings.retry_max_backoff_s,
            seed=seed,
        )
        self._poll_s = settings.control_poll_s
        skew = settings.max_clock_skew_s
        check = not self._replay if clock_check is None else clock_check
        self._max_skew_ns = None if skew is None or not check else int(skew * 1e9)
        # A ts at most this is within the skew of a wall clock already read (every ts, when
        # the check is off).
        self._clock_ok_below = -1 if self._max_skew_ns is not None else 2**63
        self._lock = asyncio.Lock()
        self._init_actions(settings)
        self._ready = False
        self._closed = False
        self._init_writeahead()
        self.book = Book()
        self._init_recovery()
        self._symbols: set[str] = set()
        self._escalations: dict[str, str] = {}
        self._init_feed()
        # What each order asked for and cost (riskguard.oms.tca), journaled with it.
        self.executions = Executions(str(getattr(self.broker, "name", "") or "venue"))

    def __repr__(self) -> str:
        if self._engine is None:
            return f"Guard(not started, journal={self.journal.dialect})"
        snap = self._engine.snapshot()
        return (
            f"Guard(state={snap.state.name}, paused={self._engine.paused}, "
            f"equity={snap.equity:.2f}, positions={len(snap.positions)}, "
            f"journal={self.journal.dialect}{', closed' if self._closed else ''})"
        )

    @property
    def engine(self) -> RiskEngine:
        """The engine the Guard drives (read it; change it only through the Guard).

        Raises GuardError: not started and no engine restored.
        """
        if self._engine is None:
            raise GuardError("the guard has not started: await guard.start() first")
        return self._engine

    async def start(self) -> Guard:
        """Creates or restores the engine, catches up with the broker (its fills, then its
        positions), applies pending control actions, sends again the unanswered risk-reducing
        orders and starts the background tasks. Idempotent. A start that fails closes the
        Guard: build a new one to try again.

        Raises GuardError: the guard is closed. JournalError: the journal cannot be written.
        Whatever the broker raises after its retries.
        """
        if self._closed:
            raise GuardError("the guard is closed")
        if self._ready:
            return self
        async with self._lock:
            if self._ready:
                return self
            try:
                await self._boot()
            except BaseException:
                await self.aclose()
                raise
            self._ready = True
        return self

    async def aclose(self, timeout: float = 10.0) -> None:
        """Waits up to ``timeout`` seconds for queued actions, stops the background tasks,
        commits a final snapshot and flushes the journal. Risk-reducing orders not yet
        answered stay in the journal and are sent again on the next start. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._stop_actions(timeout)
        await self._close_journal()
        close = getattr(self.broker, "aclose", None)
        if self._owns_venue and close is not None:
            await close()  # a live venue it composed: its streams and connections

    async def __aenter__(self) -> Guard:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def submit(self, signal: Signal, ts: int | None = None) -> Decision:
        """Asks the engine about ``signal`` at ``ts`` (default: the engine's clock; a later
        ``ts`` moves the clock on, so it must be in the data's time) and acts on the answer.
        Returns the decision once it is committed to the journal.

        An approved signal's order (market, the decision's quantity) is committed as
        ``pending`` with the decision, then sent with retries; the broker's answer is journaled,
        and a refusal or a failure is alerted. The fill arrives later (with a later tick
        when the venue is simulated) and opens the managed trade. Returns within about
        ``guard.call_timeout_s`` even when the broker never answers: the order is then
        ``ambiguous`` and settled in the background (see the module's docstring).

        Raises RiskError: ``signal`` not a Signal; ``ts`` going backwards, or (a live Guard)
        more than ``guard.max_clock_skew_s`` ahead of the wall clock. GuardError: the guard is
        closed or has stopped taking new risk. JournalError: the decision could not be
        committed (new risk then stops until the journal takes a write again, as
        ``status().failure`` says).
        """
        engine = await self._ready_engine()
        self._check_open()
        if self._failure is not None:
            raise GuardError(f"the guard takes no new risk: {self._failure}")
        if ts is not None:
            self._check_clock(ts, "ts")
        async with self._lock:
            ts = engine.ts if ts is None else ts
            decision = engine.evaluate_signal(signal, ts)
            if not decision.approved:
                try:
                    committed = self.journal.record_decision(decision, ts, signal)
                except JournalError as e:
                    self._fail(f"a decision could not be committed: {e}")
                    raise
            else:
                qty = decision.quantity if decision.side == "long" else -decision.quantity
                cid = _new_id("entry")
                intent = order_row(
                    ts, cid, decision.symbol, qty, "market", "pending", purpose="entry", intent=cid
                )
                # Not owed when it fails: it was never acted on (nor acknowledged), and a row
                # the journal refuses (a symbol PostgreSQL cannot store) must not block the
                # writes behind it.
                self._commit(_Step(orders=[intent]), decisions=[(decision, ts, signal)], owe=False)
        if not decision.approved:
            try:
                await asyncio.wrap_future(committed)
            except JournalError as e:
                # The group commit failed: new risk stops, and status() says why, until the
                # journal takes a write again.
                self._fail(f"a decision could not be committed: {e}")
                raise
        else:
            await self._send_entry(
                Order(decision.symbol, qty, client_order_id=cid), requested=decision.entry
            )
        return decision

    async def on_tick(self, symbol: str, price: float, ts: int) -> list[Event]:
        """Marks ``symbol`` at ``price`` at ``ts`` (a simulated venue is fed the tick by its
        driver, and its fills are applied in the same step) and acts on the events, which it
        returns.

        A symbol is known from its first tick on, unless ``broker.symbols`` is configured: then
        only those are.

        Raises RiskError: what ``RiskEngine.on_tick`` raises (bad price, ``ts`` going
        backwards), an unknown symbol, and (a live Guard) a ``ts`` more than
        ``guard.max_clock_skew_s`` ahead of the wall clock, before anything changes. GuardError:
        the guard is closed. JournalError: the journal failed (the actions went ahead).
        """
        if not self._ready:
            await self.start()
        # The hot path: a stamp under the bound already checked needs no call at all.
        if not (type(ts) is int and ts <= self._clock_ok_below):
            self._check_clock(ts, "ts")
        async with self._lock:
            self._check_open()
            engine = self._engine
            assert engine is not None
            if symbol not in self._symbols:
                self._intern(symbol)
            events = engine.on_tick(symbol, price, ts)
            # A live venue's fills come through its stream; a replayed one's with the data.
            fills = self._driver.on_tick(symbol, price, ts) if self._replay else ()
            if fills:
                step = _Step(events=events)
                for fill in fills:
                    self._apply_fill(fill, step)
                await self._finish(step, ts)
                events = step.events
            elif events:
                await self._finish(_Step(events=events), ts)
            if self._replay and self.book.sent:
                await self._sweep()
            if not events and self._snapshot_ns is not None and ts >= self._next_snapshot:
                self._checkpoint()
            return events

    async def on_bar(
        self,
        symbol: str,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        ts: int,
    ) -> list[Event]:
        """One OHLC bar of ``symbol`` at ``ts`` (its time in the data, ns): the engine's ATR,
        EMA and return window take it; a simulated venue (through its driver) fills its working
        orders along the bar's path; then the engine is marked: with a position in ``symbol``,
        along the path, the adverse extreme first (open, low, high, close for a long; open,
        high, low, close for a short), so that its stops, exits and breakers see the bar's
        whole range (and the volatility estimate its moves); flat, at the close only. Returns
        the events, which are acted on as :meth:`on_tick`'s are.

        Raises RiskError: what ``RiskEngine.on_bar`` raises (prices out of bounds, high below
        low, open or close outside [low, high], bad volume, ``ts`` going backwards), an
        unknown symbol, and (a live Guard) a ``ts`` more than ``guard.max_clock_skew_s`` ahead
        of the wall clock, before any mark, fill or order (a new symbol's name stays known,
        except after a refused ``ts``). GuardError: the guard is closed.
        """
        if not self._ready:
            await self.start()
        self._check_clock(ts, "ts")
        async with self._lock:
            self._check_open()
            engine = self._engine
            assert engine is not None
            if symbol not in self._symbols:
                self._intern(symbol)
            engine.on_bar(symbol, open, high, low, close, volume, ts)
            step = _Step()
            for fill in self._driver.on_bar(symbol, open, high, low, close, volume, ts):
                self._apply_fill(fill, step)
            path = self._bar_path(symbol, open, high, low, close)
            for price in path:
                step.events.extend(engine.on_tick(symbol, price, ts))
            if step.events or step.fills:
                await self._finish(step, ts)
            elif self._snapshot_ns is not None and ts >= self._next_snapshot:
                self._checkpoint()
            if self._replay and self.book.sent:
                await self._sweep()
            return step.events

    async def on_ticks(
        self, symbols: Sequence[str] | np.ndarray, prices: Any, ts: Any
    ) -> list[Event]:
        """:meth:`on_tick` over a batch, in order: ``symbols`` a sequence of names or a uint32
        array of engine symbol ids, ``prices`` float64 and ``ts`` int64 (arrays or lists), all
        of one length. The whole batch is checked first: nothing is applied when any tick is
        bad. A live venue's batch goes to ``RiskEngine.on_ticks`` at once and its events are
        acted on after it; a simulated venue's, tick by tick, so that fills land between ticks.

        Raises RiskError: unequal lengths, wrong dtypes or shapes, a bad tick (named by its
        index), and (a live Guard) a tick more than ``guard.max_clock_skew_s`` ahead of the
        wall clock (the latest is named). GuardError: the guard is closed.
        """
        engine = await self._ready_engine()
        ids, prices, ts = self._batch(engine, symbols, prices, ts)
        if self._replay:  # tick by tick, so that the venue's fills land between ticks
            out: list[Event] = []
            names = engine.symbols
            for i in range(len(ids)):
                out.extend(await self.on_tick(names[int(ids[i])], float(prices[i]), int(ts[i])))
            return out
        async with self._lock:
            self._check_open()
            events = engine.on_ticks(ids, prices, ts)
            if events:
                await self._finish(_Step(events=events), int(engine.ts))
            elif self._snapshot_ns is not None and engine.ts >= self._next_snapshot:
                self._checkpoint()
            return events

    async def kill(self, reason: str, *, actor: str = "api") -> list[Event]:
        """Engages the latched kill switch: HALTED, every working order cancelled, every
        position closed at market. Committed before any order goes out; survives restarts
        until ``reset("kill_switch", confirm=True)``. Returns the events.

        A kill the journal cannot commit is in force at once all the same (HALTED, the orders
        go out, new risk refused), listed in ``status().undurable_controls``, and committed by
        the control poll as soon as the journal takes a write again.

        Raises RiskError: ``reason`` or ``actor`` not a str. GuardError: the guard is closed.
        JournalError: the journal failed (the kill is in force and the orders went out all the
        same; it is committed later).
        """
        return await self._manual("kill", None, reason, actor)

    async def pause(self, reason: str = "", *, actor: str = "api") -> list[Event]:
        """Stops new risk (the gate answers ``TRADING_PAUSED``, and entries on their way are
        taken back) and keeps managing open positions. Survives restarts until
        :meth:`resume`. Returns the events.

        Raises RiskError: ``reason`` or ``actor`` not a str. GuardError: the guard is closed.
        """
        return await self._manual("pause", None, reason, actor)

    async def resume(self, reason: str = "", *, actor: str = "api") -> list[Event]:
        """Lifts a pause. Returns the events (none when not paused).

        Raises RiskError: ``reason`` or ``actor`` not a str. GuardError: the guard is closed.
        """
        return await self._manual("resume", None, reason, actor)

    async def reset(
        self, name: str, *, confirm: bool = False, reason: str = "", actor: str = "api"
    ) -> list[Event]:
        """Re-arms breaker ``name`` (or ``"kill_switch"``) as ``RiskEngine.reset`` does;
        refused without ``confirm=True``. Returns the events.

        Raises RiskError: no confirmation; an unknown name. GuardError: the guard is closed.
        """
        if confirm is not True:
            raise RiskError(f"reset of {name!r} refused: pass confirm=True to re-arm it")
        return await self._manual("reset", name, reason, actor)

    def status(self) -> GuardStatus:
        """The Guard's state now.

        Raises GuardError: not started and no engine restored.
        """
        return RiskStatus.of(
            self.engine,
            pending_actions=self._busy
            + len(self._later)
            + (0 if self._actions is None else self._actions.qsize()),
            escalations=self._escalations.values(),
            failure=None
            if self._failure is None
            else f"{self._failure} (since {_utc(self._failure_since or 0)})",
            failure_since=self._failure_since if self._failure is not None else None,
            undurable_controls=[c.what for c in self._undurable if c.row is not None],
            lease=self._lease_info(),
        )
