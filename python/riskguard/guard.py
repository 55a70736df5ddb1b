"""The Guard: the engine's decisions and events turned into broker actions, journal rows and
alerts.

A Guard owns one :class:`~riskguard.RiskEngine`, one broker, one :class:`~riskguard.journal.Journal`
and one :class:`~riskguard.alerts.Alerter`. It is asynchronous and single-threaded: use it from
one event loop.

**The signal path.** :meth:`Guard.submit` asks the engine; a refusal is group-committed to the
journal and returned once committed. An approval is committed durably together with its order
(status ``pending``) before the order is sent; the fill comes back later, on a tick (paper) or
through the broker's fill stream, and is applied to the engine, which opens the managed trade.

**The tick path.** :meth:`Guard.on_tick` feeds the engine (and a simulated broker). When events
come out, the Guard commits them, the engine's snapshot and the orders they call for in one
durable transaction, and only then queues the orders and sends the alerts:

- ``flatten_requested`` and an unmanaged ``stop_hit``: cancel the symbol's working orders, then
  close the position at market;
- ``kill_switch`` and a ``close_all_halt`` trip: cancel every working order;
- ``reduce_requested``: cut every position by the fraction;
- ``exit_signal``: the exit order.

Orders that reduce risk are reduce-only: at sending time each is clipped to what is held, net of
reducing orders already in flight, and dropped when nothing is left to reduce.

**Failure.** Broker calls are retried with exponential backoff and jitter. An order that still
fails is given up and alerted, except a flatten: it escalates (a critical alert, the engine
paused so no new risk is taken) and keeps being retried. A full action queue is an alert and
makes the tick path wait (backpressure); no action is ever dropped. A journal that fails stops
new risk (fail closed) while risk-reducing actions go on.

**Restart.** Every state change is committed with a snapshot, so the newest snapshot is the last
committed state. A Guard on an existing journal restores it, applies the control actions
recorded since (``riskguard kill`` from another process, say), reconciles positions with the
broker and sends again the risk-reducing orders that were committed but never acknowledged. A
journal that cannot be read or fails its checksum raises :class:`~riskguard.journal.JournalError`:
the Guard never starts afresh over it.

Timestamps are integer nanoseconds since the epoch, UTC, in the data's time: control actions take
the engine's clock (the last ``ts`` seen), so a replay of old data stays consistent.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from riskguard._core import Decision, Event, RiskEngine, RiskError, Signal
from riskguard.alerts import Alert, Alerter
from riskguard.brokers.base import (
    Broker,
    Fill,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    SimulatedBroker,
)
from riskguard.config import Config
from riskguard.journal import Journal, JournalError, control_row, fill_row, order_row

__all__ = ["Guard", "GuardError", "GuardStatus"]

# Alert severity of each event kind; anything else is "info".
_SEVERITY = {
    "kill_switch": "critical",
    "flatten_requested": "critical",
    "breaker_tripped": "warning",
    "reduce_requested": "warning",
    "stop_hit": "warning",
    "paused": "warning",
}
# Quantities within this relative tolerance of zero are flat: sums of fractional fills leave dust.
_EPS = 1e-9


class GuardError(RiskError):
    """The Guard cannot do what was asked: it is closed, or it has stopped taking new risk
    because its journal failed."""


@dataclass(frozen=True)
class GuardStatus:
    """What a person checking on a Guard wants to see.

    ``state`` is the engine's trading state (``ACTIVE``, ``REDUCING``, ``HALTED``); ``paused``
    and ``kill_switch`` are the manual controls. Money is in quote currency; ``drawdown`` and
    the session losses are fractions of equity (0.02 is 2 %), ``heat`` of equity at risk,
    ``leverage`` gross exposure over equity. ``breakers`` lists the tripped breakers (their
    ``BreakerStatus.to_dict()``), ``positions`` each open position (``PositionSnapshot.to_dict()``).
    ``pending_actions`` counts queued broker actions, ``escalations`` the flattens that keep
    failing, ``failure`` why new risk is refused (``None`` when the Guard is healthy). ``ts`` is
    the engine's clock.
    """

    ts: int
    state: str
    paused: bool
    kill_switch: bool
    equity: float
    peak_equity: float
    drawdown: float
    day_loss: float
    week_loss: float
    month_loss: float
    heat: float
    leverage: float
    gross_exposure: float
    breakers: list[dict[str, Any]]
    positions: dict[str, dict[str, Any]]
    pending_actions: int
    escalations: list[str]
    failure: str | None

    def to_dict(self) -> dict[str, Any]:
        """The status as a JSON-ready dict."""
        return asdict(self)


@dataclass
class _Action:
    """A broker action the tick path queued: ``purpose`` is ``cancel_all``, ``flatten``,
    ``reduce`` or ``exit``; ``qty`` the signed order quantity (clipped again when sent)."""

    purpose: str
    symbol: str | None
    qty: float
    client_order_id: str
    cause: str
    ts: int


@dataclass
class _Step:
    """What one engine step changed, committed in one transaction."""

    events: list[Event] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    symbols: set[str] = field(default_factory=set)
    actions: list[_Action] = field(default_factory=list)


def _new_id(purpose: str) -> str:
    # Unique across restarts without coordination; the same id is reused for every retry of
    # one order, which is what makes a retried submission idempotent at the broker.
    return f"rg-{purpose}-{uuid.uuid4().hex[:16]}"


def _fill_key(fill: Fill) -> tuple[str, int, float, float]:
    return (fill.client_order_id, fill.ts, fill.qty, fill.price)


def _column(values: Any, name: str, dtype: type) -> np.ndarray:
    """``values`` as a 1-D array of ``dtype``: an array must have it already, as
    ``RiskEngine.on_ticks`` requires; a list is converted."""
    if isinstance(values, np.ndarray):
        if values.dtype != dtype or values.ndim != 1:
            raise RiskError(
                f"{name} must be a 1-D {np.dtype(dtype).name} array, got {values.ndim}-D "
                f"{values.dtype}"
            )
        return values
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise RiskError(f"{name} must be a sequence or a 1-D array, got {values!r}")
    try:
        return np.asarray(values, dtype=dtype).reshape(len(values))
    except (TypeError, ValueError, OverflowError):
        raise RiskError(f"{name} must hold {np.dtype(dtype).name} values, got {values!r}") from None


def _checked_batch(
    engine: RiskEngine, ids: np.ndarray, prices: Any, ts: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The checks ``RiskEngine.on_ticks`` makes of a whole batch before applying any of it,
    for the tick-by-tick path."""
    prices = _column(prices, "prices", np.float64)
    ts = _column(ts, "ts", np.int64)
    if not (len(ids) == len(prices) == len(ts)):
        raise RiskError(
            f"symbols, prices and ts must have one length, got {len(ids)}, {len(prices)} "
            f"and {len(ts)}"
        )
    known = len(engine.symbols)
    for name, bad in (
        ("symbols", ids >= known),
        ("prices", ~(np.isfinite(prices) & (prices > 0.0))),
        ("ts", np.diff(ts, prepend=engine.ts) < 0),
    ):
        if bad.any():
            i = int(np.argmax(bad))
            value = {"symbols": ids, "prices": prices, "ts": ts}[name][i]
            reason = "goes backwards" if name == "ts" else "is not valid"
            raise RiskError(f"{name}[{i}] {reason}: {value!r}; nothing was applied")
    return prices, ts


class Guard:
    """Orchestrates one engine, broker, journal and alerter (see the module's docstring).

    ``config`` defaults to :meth:`Config.load` (``riskguard.toml`` and ``RG_*`` variables).
    ``broker`` defaults to the configured :class:`~riskguard.brokers.PaperBroker`, ``journal``
    to one at the configured URL (SQLite by default), ``alerter`` to the configured sinks. A
    journal or alerter the Guard creates, it closes; those passed in are flushed but left open.

    Use ``async with Guard(...) as guard`` or :meth:`start` / :meth:`aclose`; a Guard also
    starts on first use.

    Raises JournalError: the journal cannot be opened or fails its checks (fail closed).
    ConfigError: an invalid configuration.
    """

    def __init__(
        self,
        config: Config | None = None,
        broker: Broker | None = None,
        journal: Journal | None = None,
        *,
        alerter: Alerter | None = None,
        seed: int | None = None,
    ) -> None:
        if config is not None and not isinstance(config, Config):
            raise RiskError(f"config must be a riskguard.Config, got {type(config).__name__}")
        if broker is not None and not isinstance(broker, Broker):
            raise RiskError(f"broker must implement riskguard.brokers.Broker, got {broker!r}")
        if journal is not None and not isinstance(journal, Journal):
            raise RiskError(f"journal must be a riskguard.journal.Journal, got {journal!r}")
        if alerter is not None and not isinstance(alerter, Alerter):
            raise RiskError(f"alerter must be a riskguard.alerts.Alerter, got {alerter!r}")
        self.config = config if config is not None else Config.load()
        settings = self.config.guard
        self.broker: Broker = broker if broker is not None else self.config.broker.build()
        self._sim = self.broker if isinstance(self.broker, SimulatedBroker) else None
        self._owns_journal = journal is None
        self.journal = journal if journal is not None else self.config.journal.open()
        self._owns_alerter = alerter is None
        try:
            self.alerter = alerter if alerter is not None else self.config.alerts.build()
            # The journal was checked on open; restoring here makes a snapshot the engine
            # refuses fail now, before anything trades.
            self._engine: RiskEngine | None = self.journal.restore()
        except BaseException:
            if self._owns_journal:
                self.journal.close()
            raise
        self._restored = self._engine is not None
        interval = self.config.journal.snapshot_interval_s
        self._snapshot_ns = None if interval is None else int(interval * 1e9)
        self._next_snapshot = 0
        self._retries = settings.broker_retries
        self._backoff = settings.retry_backoff_s
        self._max_backoff = settings.retry_max_backoff_s
        self._poll_s = settings.control_poll_s
        self._queue_size = settings.action_queue
        self._random = random.Random(seed)
        self._lock = asyncio.Lock()
        self._actions: asyncio.Queue[_Action] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = False
        self._closed = False
        self._failure: str | None = None
        self._seen: set[tuple[str, int, float, float]] = set()
        self._symbols: set[str] = set()
        self._sim_cursor = 0
        # Reducing orders sent but not yet filled or finished, by symbol: the clip of the next
        # reducing order nets them out, so two exits of one position never flip it.
        self._inflight: dict[str, float] = {}
        self._inflight_orders: dict[str, tuple[str, float]] = {}
        self._escalations: dict[str, str] = {}

    def __repr__(self) -> str:
        if self._engine is None:
            return f"Guard(not started, journal={self.journal.dialect})"
        snap = self._engine.snapshot()
        return (
            f"Guard(state={snap.state.name}, paused={self._engine.paused}, "
            f"equity={snap.equity:.2f}, positions={len(snap.positions)}, "
            f"journal={self.journal.dialect}{', closed' if self._closed else ''})"
        )

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def engine(self) -> RiskEngine:
        """The engine the Guard drives (read it; change it only through the Guard).

        Raises GuardError: not started and no engine restored yet.
        """
        if self._engine is None:
            raise GuardError("the guard has not started: await guard.start() first")
        return self._engine

    async def start(self) -> Guard:
        """Creates or restores the engine, applies pending control actions, reconciles
        positions with the broker, sends again the unacknowledged risk-reducing orders and
        starts the background tasks. Idempotent.

        Raises GuardError: the guard is closed. JournalError: the journal cannot be written.
        """
        if self._closed:
            raise GuardError("the guard is closed")
        if self._ready:
            return self
        async with self._lock:
            if self._ready:
                return self
            await self.alerter.start()
            self._actions = asyncio.Queue(self._queue_size)
            self._seen = {
                (r["client_order_id"], r["ts"], r["qty"], r["price"]) for r in self.journal.fills()
            }
            if self._engine is None:
                equity = self.config.guard.equity
                if equity is None:
                    equity = await self._call(self.broker.balance)
                self._engine = RiskEngine(self.config.to_limits(), equity)
                self.journal.save_snapshot(self._engine)
            elif self._engine.limits != self.config.to_limits():
                self._alert(
                    "config",
                    "warning",
                    "limits differ from the configuration",
                    "the journal's limits stay in force; start a new journal to apply the "
                    "configured ones",
                )
            self._symbols = set(self._engine.symbols)
            self._tasks.append(asyncio.create_task(self._work(), name="guard:actions"))
            for control in self.journal.pending_controls():
                step = self._control(control.action, control.name, control.reason, control.id)
                await self._enqueue(step.actions)
            await self._reconcile()
            await self._redrive()
            await self._reflatten()
            self._tasks.append(asyncio.create_task(self._poll(), name="guard:controls"))
            if self._sim is None:
                self._tasks.append(asyncio.create_task(self._pump(), name="guard:fills"))
            self._ready = True
        return self

    async def aclose(self, timeout: float = 10.0) -> None:
        """Waits up to ``timeout`` seconds for queued actions, stops the background tasks,
        commits a final snapshot and flushes the journal. Actions still queued stay
        ``pending`` in the journal and are sent again on the next start. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._ready and self._actions is not None:
            try:
                await asyncio.wait_for(self._actions.join(), timeout)
            except asyncio.TimeoutError:
                pass
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        try:
            if self._ready and self._engine is not None and self._failure is None:
                self.journal.save_snapshot(self._engine)
        finally:
            try:
                if self._owns_journal:
                    self.journal.close()
                else:
                    self.journal.flush()
            finally:
                if self._owns_alerter:
                    await self.alerter.aclose()

    async def __aenter__(self) -> Guard:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _ready_engine(self) -> RiskEngine:
        if not self._ready:
            await self.start()
        assert self._engine is not None
        return self._engine

    # --- the signal path -------------------------------------------------------------------

    async def submit(self, signal: Signal, ts: int | None = None) -> Decision:
        """Asks the engine about ``signal`` at ``ts`` (default: the engine's clock) and acts on
        the answer. Returns the decision once it is committed to the journal.

        An approved signal's order (market, the decision's quantity) is committed as
        ``pending`` with the decision before it is sent, then sent with retries; the broker's
        answer is journaled, and a refusal is alerted. The fill arrives later (on a tick with a
        simulated broker) and opens the managed trade.

        Raises RiskError: ``signal`` not a Signal; ``ts`` going backwards. GuardError: the
        guard is closed or has stopped taking new risk. JournalError: the decision could not
        be committed.
        """
        engine = await self._ready_engine()
        self._check_open()
        if self._failure is not None:
            raise GuardError(f"the guard takes no new risk: {self._failure}")
        async with self._lock:
            ts = engine.ts if ts is None else ts
            decision = engine.evaluate_signal(signal, ts)
            if not decision.approved:
                committed = self.journal.record_decision(decision, ts, signal)
            else:
                qty = decision.quantity if decision.side == "long" else -decision.quantity
                cid = _new_id("entry")
                intent = order_row(
                    ts, cid, decision.symbol, qty, "market", "pending", purpose="entry"
                )
                self._commit(_Step(orders=[intent]), decisions=[(decision, ts, signal)])
        if not decision.approved:
            await asyncio.wrap_future(committed)
            return decision
        units = self._tradable(qty)
        if units == 0.0:
            self._record_order(
                Order(decision.symbol, qty, client_order_id=cid),
                "rejected",
                purpose="entry",
                reason="below one unit: the broker takes whole units only",
            )
            return decision
        order = Order(decision.symbol, units, client_order_id=cid)
        try:
            sent = await self._call(self.broker.submit, order)
        except Exception as e:
            self._record_order(order, "failed", purpose="entry", reason=str(e))
            self._alert("order_failed", "warning", f"entry {cid} not sent", str(e), ts=ts)
            return decision
        self._record_order(sent, sent.status.value, purpose="entry", reason=sent.reason)
        if sent.status is OrderStatus.REJECTED:
            self._alert(
                "order_rejected", "warning", f"entry {cid} refused by the broker", sent.reason
            )
        return decision

    # --- the tick path ---------------------------------------------------------------------

    async def on_tick(self, symbol: str, price: float, ts: int) -> list[Event]:
        """Marks ``symbol`` at ``price`` at ``ts`` (forwarding the tick to a simulated broker
        and applying its fills) and acts on the events, which it returns.

        Raises RiskError: what ``RiskEngine.on_tick`` raises (bad price, ``ts`` going
        backwards), before anything changes. GuardError: the guard is closed.
        """
        if not self._ready:
            await self.start()
        async with self._lock:
            self._check_open()
            engine = self._engine
            assert engine is not None
            if symbol not in self._symbols:
                self._intern(symbol)
            events = engine.on_tick(symbol, price, ts)
            sim = self._sim
            if sim is not None:
                sim.on_tick(symbol, price, ts)
                fills = sim.fills_after(self._sim_cursor)
                if fills:
                    self._sim_cursor += len(fills)
                    step = _Step(events=events)
                    for fill in fills:
                        self._apply_fill(fill, step)
                    await self._finish(step, ts)
                    return step.events
            if events:
                await self._finish(_Step(events=events), ts)
            elif self._snapshot_ns is not None and ts >= self._next_snapshot:
                self._checkpoint()
            return events

    async def on_ticks(
        self, symbols: Sequence[str] | np.ndarray, prices: Any, ts: Any
    ) -> list[Event]:
        """:meth:`on_tick` over a batch, in order: ``symbols`` a sequence of names or a uint32
        array of engine symbol ids, ``prices`` float64 and ``ts`` int64, all of one length.
        Without a simulated broker the batch goes to ``RiskEngine.on_ticks`` at once (checked
        whole first: nothing is applied when any tick is bad) and its events are acted on after
        it; with one, tick by tick, so that fills land between ticks.

        Raises RiskError: unequal lengths, wrong dtypes, a bad tick (named by its index).
        """
        engine = await self._ready_engine()
        if isinstance(symbols, np.ndarray) and symbols.dtype == np.uint32:
            ids = symbols
        else:
            if isinstance(symbols, str) or not isinstance(symbols, Sequence | np.ndarray):
                raise RiskError(
                    f"symbols must be a sequence of str or a uint32 array, got {symbols!r}"
                )
            for s in set(symbols) - self._symbols:
                self._intern(s)
            ids = np.fromiter((engine.symbol_id(s) for s in symbols), np.uint32, len(symbols))
        if self._sim is None:
            async with self._lock:
                self._check_open()
                events = engine.on_ticks(ids, prices, ts)
                last = int(engine.ts)
                if events:
                    await self._finish(_Step(events=events), last)
                elif self._snapshot_ns is not None and last >= self._next_snapshot:
                    self._checkpoint()
                return events
        prices, ts = _checked_batch(engine, ids, prices, ts)
        names = engine.symbols
        out: list[Event] = []
        for i in range(len(ids)):
            out.extend(await self.on_tick(names[int(ids[i])], float(prices[i]), int(ts[i])))
        return out

    def _intern(self, symbol: Any) -> None:
        """Makes ``symbol`` known to the engine: any name, or only the configured
        ``broker.symbols`` when there are some."""
        allowed = self.config.broker.symbols
        if allowed is not None and symbol not in allowed:
            raise RiskError(
                f"symbol {symbol!r} is unknown: the configured symbols are {sorted(allowed)}"
            )
        assert self._engine is not None
        self._engine.symbol_id(symbol)
        self._symbols.add(symbol)

    # --- control ---------------------------------------------------------------------------

    async def kill(self, reason: str, *, actor: str = "api") -> list[Event]:
        """Engages the latched kill switch: HALTED, every working order cancelled, every
        position closed at market. Committed before any order goes out; survives restarts
        until ``reset("kill_switch", confirm=True)``. Returns the events.

        Raises RiskError: ``reason`` or ``actor`` not a str. GuardError: the guard is closed.
        """
        return await self._manual("kill", None, reason, actor)

    async def pause(self, reason: str = "", *, actor: str = "api") -> list[Event]:
        """Stops new risk (the gate answers ``TRADING_PAUSED``) and keeps managing open
        positions. Survives restarts until :meth:`resume`. Returns the events.

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

    async def _manual(self, action: str, name: str | None, reason: str, actor: str) -> list[Event]:
        for arg, value in (("reason", reason), ("actor", actor)):
            if not isinstance(value, str):
                raise RiskError(f"{arg} must be a str, got {value!r}")
        await self._ready_engine()
        async with self._lock:
            self._check_open()
            step = self._control(action, name, reason, None, actor=actor)
            await self._enqueue(step.actions)
            return step.events

    def _control(
        self,
        action: str,
        name: str | None,
        reason: str,
        control_id: int | None,
        *,
        actor: str = "",
    ) -> _Step:
        """Applies one control action to the engine and commits it with its effects; a
        recorded one (``control_id``) is marked handled in the same transaction."""
        engine = self._engine
        assert engine is not None
        ts = engine.ts
        if action == "kill":
            events = engine.kill(reason, ts)
        elif action == "pause":
            events = engine.pause(reason, ts)
        elif action == "resume":
            events = engine.resume(ts)
        else:
            events = engine.reset(name, ts, confirm=True)
        step = _Step(events=events)
        self._plan(step, ts)
        now = time.time_ns()
        if control_id is None:
            row = control_row(action, now, name=name, reason=reason, actor=actor, handled_ts=now)
            self._commit(step, controls=[row])
        else:
            self._commit(step, handled=[(control_id, now)])
        self._alert(
            "control",
            "critical" if action == "kill" else "warning",
            f"{action}{f' {name}' if name else ''}",
            reason,
            actor=actor,
            ts=ts,
        )
        self._notify(step.events)
        return step

    async def _poll(self) -> None:
        """Acts on control actions other processes record (``riskguard kill``)."""
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                pending = await asyncio.to_thread(self.journal.pending_controls)
            except JournalError as e:
                self._fail(f"the journal cannot be read: {e}")
                continue
            for control in pending:
                async with self._lock:
                    try:
                        step = self._control(
                            control.action, control.name, control.reason, control.id
                        )
                    except RiskError as e:
                        self._alert("control", "warning", f"{control.action} refused", str(e))
                        continue
                    await self._enqueue(step.actions)

    # --- status ----------------------------------------------------------------------------

    def status(self) -> GuardStatus:
        """The Guard's state now.

        Raises GuardError: not started and no engine restored.
        """
        engine = self.engine
        snap = engine.snapshot()
        return GuardStatus(
            ts=snap.ts,
            state=snap.state.name,
            paused=engine.paused,
            kill_switch=any(
                b.name == "kill_switch" and b.status == "tripped" for b in engine.breakers()
            ),
            equity=snap.equity,
            peak_equity=snap.peak_equity,
            drawdown=snap.drawdown,
            day_loss=snap.day_loss,
            week_loss=snap.week_loss,
            month_loss=snap.month_loss,
            heat=snap.heat,
            leverage=snap.leverage,
            gross_exposure=snap.gross_exposure,
            breakers=[b.to_dict() for b in engine.breakers() if b.status == "tripped"],
            positions={s: p.to_dict() for s, p in snap.positions.items()},
            pending_actions=0 if self._actions is None else self._actions.qsize(),
            escalations=sorted(self._escalations.values()),
            failure=self._failure,
        )

    # --- steps: engine changes, committed, then acted on -----------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise GuardError("the guard is closed")

    def _apply_fill(self, fill: Fill, step: _Step, **details: Any) -> None:
        """Applies one broker fill to the engine (once: a fill seen before is skipped)."""
        key = _fill_key(fill)
        if key in self._seen:
            return
        self._seen.add(key)
        engine = self._engine
        assert engine is not None
        # A broker's fill may be stamped before the last tick the engine saw; the engine's clock
        # never goes back, the journal keeps the broker's time.
        ts = max(fill.ts, engine.ts)
        step.events.extend(engine.on_fill(fill.symbol, fill.qty, fill.price, ts, fill.fee))
        step.symbols.add(fill.symbol)
        step.fills.append(
            fill_row(
                fill.ts,
                fill.client_order_id,
                fill.symbol,
                fill.qty,
                fill.price,
                fill.fee,
                liquidity=Liquidity(fill.liquidity).value,
                **details,
            )
        )
        inflight = self._inflight_orders.get(fill.client_order_id)
        if inflight is not None:
            symbol, qty = inflight
            left = qty - fill.qty
            self._settle(fill.client_order_id)
            if abs(left) > _EPS * max(1.0, abs(qty)):
                self._inflight_orders[fill.client_order_id] = (symbol, left)
                self._inflight[symbol] = self._inflight.get(symbol, 0.0) + left

    def _settle(self, client_order_id: str) -> None:
        """Forgets an in-flight reducing order."""
        done = self._inflight_orders.pop(client_order_id, None)
        if done is not None:
            symbol, qty = done
            self._inflight[symbol] = self._inflight.get(symbol, 0.0) - qty

    async def _finish(self, step: _Step, ts: int) -> None:
        """Plans the actions the step's events call for, commits everything, then queues the
        actions and sends the alerts."""
        self._plan(step, ts)
        self._commit(step)
        await self._enqueue(step.actions)
        self._notify(step.events)

    def _plan(self, step: _Step, ts: int) -> None:
        """The broker actions the step's events call for, each with its ``pending`` order row
        (committed with the events: write-ahead)."""
        engine = self._engine
        assert engine is not None
        positions = None
        for e in step.events:
            kind = e.kind
            if kind == "kill_switch" or (
                kind == "breaker_tripped" and e.action == "close_all_halt"
            ):
                step.actions.append(_Action("cancel_all", None, 0.0, "", e.breaker or kind, ts))
            elif kind == "flatten_requested" or kind == "stop_hit":
                if positions is None:
                    positions = engine.snapshot().positions
                held = positions[e.symbol].qty if e.symbol in positions else 0.0
                self._intend(step, "flatten", e.symbol, -held, e.breaker or kind, ts)
            elif kind == "exit_signal":
                if positions is None:
                    positions = engine.snapshot().positions
                held = positions[e.symbol].qty if e.symbol in positions else 0.0
                qty = -math.copysign(e.value, held)
                self._intend(step, "exit", e.symbol, qty, e.reason or kind, ts)
            elif kind == "reduce_requested":
                if positions is None:
                    positions = engine.snapshot().positions
                for symbol, p in positions.items():
                    self._intend(step, "reduce", symbol, -p.qty * e.value, e.breaker or kind, ts)

    def _intend(
        self, step: _Step, purpose: str, symbol: str | None, qty: float, cause: str, ts: int
    ) -> None:
        if symbol is None or qty == 0.0 or not math.isfinite(qty):
            return
        cid = _new_id(purpose)
        step.actions.append(_Action(purpose, symbol, qty, cid, cause, ts))
        step.orders.append(
            order_row(ts, cid, symbol, qty, "market", "pending", purpose=purpose, cause=cause)
        )

    def _commit(
        self,
        step: _Step,
        *,
        decisions: Sequence[tuple[Decision, int, Signal | None]] = (),
        controls: Sequence[dict[str, Any]] = (),
        handled: Sequence[tuple[int, int]] = (),
    ) -> None:
        """One durable transaction: the engine's snapshot with the step's events, orders,
        fills and changed trades. A failure stops new risk and is raised."""
        engine = self._engine
        assert engine is not None
        trades = []
        if step.symbols:
            trades = [
                t
                for t in engine.trades()
                if t.symbol in step.symbols and (t.exit_ts is None or t.exit_ts >= engine.ts)
            ]
        try:
            self.journal.write(
                snapshot=engine,
                events=step.events,
                orders=step.orders,
                fills=step.fills,
                trades=trades,
                decisions=decisions,
                controls=controls,
                handled=handled,
            )
        except JournalError as e:
            self._fail(str(e))
            raise
        if self._snapshot_ns is not None:
            self._next_snapshot = engine.ts + self._snapshot_ns

    def _checkpoint(self) -> None:
        """The periodic snapshot, so that marks and indicators survive a crash too."""
        self._commit(_Step())

    def _fail(self, reason: str) -> None:
        """Stops new risk: the journal can no longer record what the Guard does."""
        if self._failure is None:
            self._failure = reason
            engine = self._engine
            if engine is not None and not engine.paused:
                # In memory only: the journal that would record it is what failed.
                engine.pause(f"journal failure: {reason}", engine.ts)
            self._alert("journal_failed", "critical", "the journal failed: no new risk", reason)

    # --- actions ---------------------------------------------------------------------------

    async def _enqueue(self, actions: list[_Action]) -> None:
        queue = self._actions
        assert queue is not None
        for action in actions:
            try:
                queue.put_nowait(action)
            except asyncio.QueueFull:
                self._alert(
                    "action_queue_full",
                    "warning",
                    "the broker is falling behind",
                    f"{queue.maxsize} actions queued; the tick path waits for room",
                )
                await queue.put(action)
        if self._sim is not None and actions:
            # A simulated market moves only when fed: the orders go out before the next tick,
            # so that a replay is deterministic.
            await queue.join()

    async def _work(self) -> None:
        queue = self._actions
        assert queue is not None
        while True:
            action = await queue.get()
            try:
                await self._execute(action)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the worker outlives any one action
                self._alert(
                    "action_failed",
                    "critical",
                    f"{action.purpose} {action.symbol or ''} failed",
                    f"{type(e).__name__}: {e}",
                )
            finally:
                queue.task_done()

    async def _execute(self, action: _Action) -> None:
        if action.purpose == "cancel_all":
            await self._call(self.broker.cancel_all, forever=True, what="cancel all orders")
            return
        symbol = action.symbol
        assert symbol is not None
        forever = action.purpose == "flatten"
        if forever:
            cancelled = await self._call(
                self.broker.cancel_all, symbol, forever=True, what=f"cancel {symbol}"
            )
            for order in cancelled:
                self._settle(order.client_order_id or "")
        attempt = 0
        while True:
            qty = self._clip(symbol, action.qty)
            if qty == 0.0:
                self._record(action, action.qty, "cancelled", reason="nothing left to reduce")
                return
            order = Order(symbol, qty, OrderType.MARKET, client_order_id=action.client_order_id)
            self._inflight_orders[action.client_order_id] = (symbol, qty)
            self._inflight[symbol] = self._inflight.get(symbol, 0.0) + qty
            try:
                sent = await self._call(self.broker.submit, order)
                refused = sent.reason if sent.status is OrderStatus.REJECTED else None
            except Exception as e:
                sent, refused = None, f"{type(e).__name__}: {e}"
            if refused is None and sent is not None:
                if not sent.is_open:
                    self._settle(action.client_order_id)
                self._record(action, qty, sent.status.value, reason=sent.reason)
                self._escalations.pop(symbol, None)
                return
            self._settle(action.client_order_id)
            self._record(action, qty, "failed", reason=refused)
            if not forever:
                self._alert(
                    "order_failed",
                    "warning",
                    f"{action.purpose} of {symbol} not placed",
                    refused or "",
                    ts=action.ts,
                )
                return
            attempt += 1
            self._escalate(symbol, refused or "", attempt)
            # A rejected order reuses its id at brokers that allow it; a fresh id makes the next
            # attempt a new order everywhere.
            action.client_order_id = _new_id(action.purpose)
            await asyncio.sleep(self._delay(self._retries + attempt))

    def _clip(self, symbol: str, qty: float) -> float:
        """``qty`` reduce-only: no bigger than the position net of reducing orders in flight,
        and zero when it would add to it."""
        engine = self._engine
        assert engine is not None
        positions = engine.snapshot().positions
        held = positions[symbol].qty if symbol in positions else 0.0
        held += self._inflight.get(symbol, 0.0)
        if abs(held) <= _EPS * max(1.0, abs(qty)) or qty * held > 0:
            return 0.0
        qty = math.copysign(min(abs(qty), abs(held)), qty)
        return self._tradable(qty)

    def _tradable(self, qty: float) -> float:
        """``qty`` in units the broker accepts: whole units (toward zero) unless it takes
        fractions."""
        if self.broker.capabilities.fractional:
            return qty
        return float(math.trunc(qty))

    def _escalate(self, symbol: str, error: str, attempt: int) -> None:
        """A flatten that keeps failing: stop new risk and say so, then keep trying."""
        engine = self._engine
        assert engine is not None
        reason = f"flatten of {symbol} failing: {error}"
        if symbol not in self._escalations:
            self._escalations[symbol] = reason
            if not engine.paused and self._failure is None:
                step = _Step(events=engine.pause(reason, engine.ts))
                try:
                    self._commit(step)
                except JournalError:
                    pass  # _commit has already stopped new risk and alerted
                self._notify(step.events)
        self._alert(
            "escalation",
            "critical",
            f"flatten of {symbol} still failing",
            f"attempt {attempt}: {error}; trading stays halted for new risk and the flatten "
            "is retried",
        )

    def _record(self, action: _Action, qty: float, status: str, **details: Any) -> None:
        row = order_row(
            action.ts,
            action.client_order_id,
            action.symbol or "",
            qty,
            "market",
            status,
            purpose=action.purpose,
            cause=action.cause,
            **details,
        )
        try:
            self.journal.write(orders=[row])
        except JournalError as e:
            self._fail(str(e))

    def _record_order(self, order: Order, status: str, **details: Any) -> None:
        engine = self._engine
        assert engine is not None
        row = order_row(
            engine.ts,
            order.client_order_id or "",
            order.symbol,
            order.qty,
            order.type.value,
            status,
            **details,
        )
        try:
            self.journal.write(orders=[row])
        except JournalError as e:
            self._fail(str(e))

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: ``backoff * 2**attempt``, capped, scaled by a
        random factor in [0.5, 1] so that many Guards do not retry in step."""
        base = min(self._max_backoff, self._backoff * 2.0 ** min(attempt, 62))
        return base * (0.5 + 0.5 * self._random.random())

    async def _call(self, fn: Any, *args: Any, forever: bool = False, what: str = "") -> Any:
        """``await fn(*args)`` with bounded retries; ``forever`` keeps retrying at the capped
        delay, alerting each time the bound is passed."""
        attempt = 0
        while True:
            try:
                return await fn(*args)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if attempt >= self._retries:
                    if not forever:
                        raise
                    self._alert(
                        "escalation",
                        "critical",
                        f"{what or 'broker call'} still failing",
                        f"attempt {attempt + 1}: {type(e).__name__}: {e}",
                    )
                await asyncio.sleep(self._delay(attempt))
                attempt += 1

    # --- fills from a live broker, reconciliation, restart ----------------------------------

    async def _pump(self) -> None:
        """Applies the fills a broker streams (brokers that are not simulated)."""
        while True:
            try:
                async for fill in self.broker.fills():
                    async with self._lock:
                        if _fill_key(fill) in self._seen:
                            continue
                        step = _Step()
                        self._apply_fill(fill, step)
                        await self._finish(step, self.engine.ts)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a dropped stream: say so, then subscribe again
                self._alert("fill_stream", "warning", "the broker's fill stream failed", str(e))
                await asyncio.sleep(self._delay(0))

    async def _reconcile(self) -> None:
        """Makes the engine hold what the broker holds: each difference is applied as a
        journaled reconciliation fill, at the engine's mark (or the broker's average price
        for a position the engine has never seen), and alerted."""
        engine = self._engine
        assert engine is not None
        held = await self._call(self.broker.positions)
        mine = engine.snapshot().positions
        step = _Step()
        for symbol in sorted(set(held) | set(mine)):
            theirs = held[symbol].qty if symbol in held else 0.0
            ours = mine[symbol].qty if symbol in mine else 0.0
            diff = theirs - ours
            if abs(diff) <= _EPS * max(1.0, abs(theirs), abs(ours)):
                continue
            price = mine[symbol].mark if symbol in mine else held[symbol].avg_price
            if not (price > 0.0 and math.isfinite(price)):
                self._fail(f"cannot reconcile {symbol}: no price for the broker's position")
                continue
            fill = Fill(_new_id("reconcile"), symbol, diff, price, 0.0, engine.ts, Liquidity.TAKER)
            self._apply_fill(fill, step, purpose="reconcile", broker_qty=theirs, engine_qty=ours)
            self._alert(
                "reconciliation",
                "warning",
                f"{symbol}: the broker holds {theirs}, the journal said {ours}",
                f"applied a fill of {diff} at {price}",
            )
        if step.fills:
            await self._finish(step, engine.ts)

    async def _redrive(self) -> None:
        """Sends again the risk-reducing orders committed as ``pending`` and never answered
        (a crash between the commit and the broker); entries that old are abandoned."""
        latest: dict[str, dict[str, Any]] = {}
        for row in self.journal.orders():
            latest[row["client_order_id"]] = row
        actions = []
        abandoned = []
        for cid, row in latest.items():
            if row["status"] != "pending":
                continue
            details = json.loads(row["details"])
            purpose = details.get("purpose", "")
            if purpose in ("flatten", "exit", "reduce"):
                actions.append(
                    _Action(
                        purpose, row["symbol"], row["qty"], cid, details.get("cause", ""), row["ts"]
                    )
                )
            else:
                abandoned.append(
                    order_row(
                        row["ts"],
                        cid,
                        row["symbol"],
                        row["qty"],
                        row["order_type"],
                        "abandoned",
                        purpose=purpose,
                        reason="never sent before a restart",
                    )
                )
        if abandoned:
            self.journal.write(orders=abandoned)
            self._alert(
                "restart",
                "warning",
                f"{len(abandoned)} entry order(s) abandoned",
                "their signals are stale after a restart",
            )
        await self._enqueue(actions)

    async def _reflatten(self) -> None:
        """Positions still open while the kill switch or a close-all breaker holds: their
        flatten orders did not survive the restart (a broker that dropped them), so they are
        asked for again."""
        engine = self._engine
        assert engine is not None
        flat = any(
            b.status == "tripped" and b.action == "close_all_halt" for b in engine.breakers()
        )
        positions = engine.snapshot().positions
        if not flat or not positions:
            return
        step = _Step()
        for symbol, p in positions.items():
            if abs(self._inflight.get(symbol, 0.0)) < abs(p.qty):
                self._intend(step, "flatten", symbol, -p.qty, "restart", engine.ts)
        if step.actions:
            self._commit(step)
            await self._enqueue(step.actions)

    # --- alerts ----------------------------------------------------------------------------

    def _notify(self, events: list[Event]) -> None:
        for e in events:
            severity = _SEVERITY.get(e.kind, "info")
            if e.kind == "breaker_tripped" and e.action == "close_all_halt":
                severity = "critical"
            fields = {
                k: None if isinstance(v, float) and not math.isfinite(v) else v
                for k, v in e.to_dict().items()
            }
            self.alerter.notify(
                Alert(e.kind, severity, e.kind.replace("_", " "), e.message, fields, e.ts)
            )

    def _alert(
        self,
        kind: str,
        severity: str,
        title: str,
        message: str,
        ts: int | None = None,
        **fields: Any,
    ) -> None:
        self.alerter.notify(
            Alert(kind, severity, title, message, fields, time.time_ns() if ts is None else ts)
        )
