"""The Guard: the engine's decisions and events turned into broker actions, journal rows and
alerts.

A Guard owns one :class:`~riskguard.RiskEngine`, one broker, one
:class:`~riskguard.journal.Journal` and one :class:`~riskguard.alerts.Alerter`. It is
asynchronous and single-threaded: use it from one event loop.

**The signal path.** :meth:`Guard.submit` asks the engine; a refusal is group-committed to the
journal and returned once committed. An approval is committed durably together with its order
(status ``pending``) before the order is sent; the fill comes back later, on a tick (paper) or
through the broker's fill stream, and is applied to the engine, which opens the managed trade.
An entry still on its way when the kill switch or a close-all breaker trips, or when trading is
paused, is taken back.

**The tick path.** :meth:`Guard.on_tick` feeds the engine (and a simulated broker). When events
come out, the Guard alerts, commits them, the engine's snapshot and the orders they call for in
one durable transaction, and only then queues the orders:

- ``flatten_requested`` and an unmanaged ``stop_hit``: cancel the symbol's working orders, then
  close the position at market;
- ``kill_switch`` and a ``close_all_halt`` trip: cancel every working order;
- ``reduce_requested``: cut every position by the fraction;
- ``exit_signal``: the exit order;
- a fill that leaves a position open while the kill switch or a close-all breaker holds (an
  entry that was already on the wire): close it.

Orders that reduce risk are reduce-only: at sending time each is clipped to what is held, net of
the reducing orders in flight (sent, neither filled nor ended), and dropped when nothing is left.

**Failure.** Broker calls are retried (``broker_retries`` times, exponential backoff with
jitter). An entry that still fails is given up, alerted and taken back in case only its answers
were lost. A risk-reducing order that still fails escalates: a critical alert, the engine paused
(no new risk; resume once resolved), and it is asked for again later while other actions go on:
under the same client order id when its answers were lost (the broker deduplicates it), as a
new order committed before it is sent when the broker ended it unfilled. Actions go through a
bounded queue: a full queue is an alert and makes the tick path wait (backpressure); no action
is dropped. With a simulated broker the tick path also waits for its own actions, so that a
replay is deterministic. A journal that fails stops new risk (the engine is paused in memory)
while risk-reducing actions go on; what it could not write is written, with the pause, by the
next write that succeeds.

**Restart.** Every step that changes the engine (events, fills, control actions, approvals) is
committed with the engine's snapshot, and marks in between are checkpointed every
``journal.snapshot_interval_s`` of data time. A Guard on an existing journal restores the
newest snapshot, then, before any order goes out: applies the broker's fills it has not
journaled, picks up the orders of the last run (reducing orders still in flight are tracked
again, those never answered are asked for again under their id, entries never answered are
taken back), applies the control actions recorded since (``riskguard kill`` from another
process, say) and reconciles what is left with the broker's positions. With the kill switch or
a close-all breaker tripped, it cancels working orders and closes what is open again. A fresh
journal starts at the broker's equity and adopts its positions. A journal that cannot be read
or fails its checksum raises :class:`~riskguard.journal.JournalError`: the Guard never starts
afresh over it.

Timestamps are integer nanoseconds since the epoch, UTC, in the data's time. Control actions and
broker fills take the engine's clock (the last ``ts`` it saw), so a replay of old data and a
broker whose clock runs ahead of the market feed both stay consistent; the journal keeps each
fill's own time.
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
# Orders that ended at the broker without (fully) filling.
_ENDED = (OrderStatus.CANCELLED, OrderStatus.REJECTED)
_REDUCING = ("flatten", "exit", "reduce")
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
    ``pending_actions`` counts broker actions queued or under way, ``escalations`` the
    risk-reducing orders that keep failing, ``failure`` why new risk is refused (``None`` when
    the journal is healthy). ``ts`` is the engine's clock.
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
    """A broker action: ``purpose`` is ``cancel_orders`` (working orders other than the
    Guard's reducing ones, of ``symbol`` or all), ``flatten``, ``reduce`` or ``exit``; ``qty``
    the signed order quantity (clipped again when sent). ``intent`` is the first client order
    id: a retry after a lost answer reuses the id (the broker deduplicates it), one after the
    broker ended the order unfilled (``fresh_id``) is a new order of the same intent."""

    purpose: str
    symbol: str | None
    qty: float
    client_order_id: str
    cause: str
    ts: int
    intent: str = ""
    attempt: int = 0
    fresh_id: bool = False

    def __post_init__(self) -> None:
        self.intent = self.intent or self.client_order_id


@dataclass
class _Sent:
    """A reducing order at the broker (or on its way there). ``cap`` is how much of it can
    still fill in all: its quantity, or what had filled when the broker ended it."""

    action: _Action
    qty: float
    acked: bool = False
    cap: float | None = None


@dataclass
class _Step:
    """What one engine step changed, committed in one transaction."""

    events: list[Event] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    symbols: set[str] = field(default_factory=set)
    actions: list[_Action] = field(default_factory=list)


def _new_id(purpose: str) -> str:
    # Unique across restarts without coordination; the same id is reused for every retry of one
    # submission, which is what makes a retried submission idempotent at the broker.
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


def _merge(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows of several journal writes as one (a trade's latest record wins)."""
    out: dict[str, Any] = {}
    for batch in batches:
        for key, rows in batch.items():
            out.setdefault(key, []).extend(rows)
    if "trades" in out:
        out["trades"] = list({t.id: t for t in out["trades"]}.values())
    return out


class Guard:
    """Orchestrates one engine, broker, journal and alerter (see the module's docstring).

    ``config`` defaults to :meth:`Config.load` (``riskguard.toml`` and ``RG_*`` variables).
    ``broker`` defaults to the configured :class:`~riskguard.brokers.PaperBroker`, ``journal``
    to one at the configured URL (SQLite by default), ``alerter`` to the configured sinks. A
    journal or alerter the Guard creates, it closes; those passed in are flushed but left open.
    ``seed`` makes the retry jitter reproducible.

    Use ``async with Guard(...) as guard`` or :meth:`start` / :meth:`aclose`; a Guard also
    starts on first use. A fresh engine starts with the configured ``guard.equity``, or the
    broker's equity (cash plus positions at their average price).

    Raises JournalError: the journal cannot be opened or fails its checks (fail closed).
    ConfigError: an invalid configuration. RiskError: an argument of the wrong type.
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
        self._later: set[asyncio.Task[None]] = set()
        self._busy = 0
        self._ready = False
        self._closed = False
        self._failure: str | None = None
        self._seen: set[tuple[str, int, float, float]] = set()
        self._symbols: set[str] = set()
        self._sim_cursor = 0
        self._sent: dict[str, _Sent] = {}
        self._applied: dict[str, float] = {}  # filled quantity applied, by client order id
        self._qty: dict[str, float] = {}  # the engine's positions, kept by the fills applied
        self._escalations: dict[str, str] = {}
        self._backlog: list[dict[str, Any]] = []  # rows a failed journal write still owes
        self._held: list[_Action] | None = None  # actions planned while starting

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

    async def _boot(self) -> None:
        await self.alerter.start()
        self._actions = asyncio.Queue(self._queue_size)
        # Orders go out only once the engine agrees with the broker: what starting plans is
        # held until reconciliation is done.
        self._held = []
        for r in self.journal.fills():
            self._seen.add((r["client_order_id"], r["ts"], r["qty"], r["price"]))
            self._applied[r["client_order_id"]] = (
                self._applied.get(r["client_order_id"], 0.0) + r["qty"]
            )
        history = [f async for f in self.broker.fills(follow=False)]
        if self._engine is None:
            await self._adopt(history)
        elif self._engine.limits != self.config.to_limits():
            self._alert(
                "config",
                "warning",
                "limits differ from the configuration",
                "the journal's limits stay in force; start a new journal to apply the "
                "configured ones",
            )
        engine = self.engine
        self._symbols = set(engine.symbols)
        self._qty = {s: p.qty for s, p in engine.snapshot().positions.items()}
        self._sim_cursor = len(history)
        # Fills the broker made while no Guard was listening, then what they do not explain.
        step = _Step()
        for fill in history:
            self._apply_fill(fill, step)
        if step.fills:
            await self._finish(step, engine.ts)
        await self._resume_orders()
        for control in self.journal.pending_controls():
            await self._control(control.action, control.name, control.reason, control.id)
        await self._reconcile()
        await self._reflatten()
        self._tasks.append(asyncio.create_task(self._work(), name="guard:actions"))
        held, self._held = self._held, None
        await self._enqueue(held)
        self._tasks.append(asyncio.create_task(self._poll(), name="guard:controls"))
        if self._sim is None:
            self._tasks.append(asyncio.create_task(self._pump(), name="guard:fills"))

    async def _adopt(self, history: list[Fill]) -> None:
        """A fresh engine: it starts at the broker's equity (or the configured one), and the
        broker's past fills are journaled as adopted, not applied: the positions they made are
        adopted by reconciliation at their average price, and a later start must not count
        them again."""
        equity = self.config.guard.equity
        if equity is None:
            held = await self._call(self.broker.positions)
            cash = await self._call(self.broker.balance)
            equity = cash + sum(p.qty * p.avg_price for p in held.values())
        self._engine = RiskEngine(self.config.to_limits(), equity)
        adopted = [
            fill_row(f.ts, f.client_order_id, f.symbol, f.qty, f.price, f.fee, adopted=True)
            for f in history
        ]
        self._seen.update(_fill_key(f) for f in history)
        self.journal.write(snapshot=self._engine, fills=adopted)

    async def aclose(self, timeout: float = 10.0) -> None:
        """Waits up to ``timeout`` seconds for queued actions, stops the background tasks,
        commits a final snapshot and flushes the journal. Risk-reducing orders not yet
        answered stay in the journal and are sent again on the next start. Idempotent."""
        if self._closed:
            return
        self._closed = True
        queue = self._actions
        if self._ready and queue is not None:
            try:
                await asyncio.wait_for(queue.join(), timeout)
            except asyncio.TimeoutError:
                pass
        for task in [*self._later, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._later, *self._tasks, return_exceptions=True)
        self._tasks.clear()
        if queue is not None:
            # Wakes whoever waits for the queue (the tick path with a simulated broker).
            while not queue.empty():
                queue.get_nowait()
                queue.task_done()
        try:
            if self._ready and self._engine is not None and self._failure is None:
                if not self.journal.durable:
                    self.journal.record_trades(self._engine.trades())
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

    def _check_open(self) -> None:
        if self._closed:
            raise GuardError("the guard is closed")

    # --- the signal path -------------------------------------------------------------------

    async def submit(self, signal: Signal, ts: int | None = None) -> Decision:
        """Asks the engine about ``signal`` at ``ts`` (default: the engine's clock; a later
        ``ts`` moves the clock on, so it must be in the data's time) and acts on the answer.
        Returns the decision once it is committed to the journal.

        An approved signal's order (market, the decision's quantity) is committed as
        ``pending`` with the decision, then sent with retries; the broker's answer is journaled,
        and a refusal or a failure is alerted. The fill arrives later (on a tick with a
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
                    ts, cid, decision.symbol, qty, "market", "pending", purpose="entry", intent=cid
                )
                self._commit(_Step(orders=[intent]), decisions=[(decision, ts, signal)])
        if not decision.approved:
            await asyncio.wrap_future(committed)
        else:
            await self._send_entry(Order(decision.symbol, qty, client_order_id=cid))
        return decision

    def _new_risk_refused(self) -> str | None:
        """Why an entry must not reach the market now, if it must not."""
        engine = self._engine
        assert engine is not None
        if self._closed:
            return "the guard closed"
        if self._must_be_flat():
            return "the kill switch or a close-all breaker tripped"
        if engine.paused:
            return "trading was paused"
        return None

    async def _send_entry(self, order: Order) -> None:
        """Sends an approved entry with bounded retries, unless new risk was refused since;
        takes it back if that happens while it is on its way, or if its answers were lost."""
        details = {"purpose": "entry", "intent": order.client_order_id}
        units = self._tradable(order.qty)
        if units == 0.0:
            reason = "below one unit: the broker takes whole units only"
            self._record_order(order, "rejected", reason=reason, **details)
            return
        order = Order(order.symbol, units, client_order_id=order.client_order_id)
        attempt = 0
        while True:
            refused = self._new_risk_refused()
            if refused is not None:
                self._record_order(order, "cancelled", reason=f"not sent: {refused}", **details)
                await self._take_back(order, details)
                return
            try:
                answer = await self.broker.submit(order)
                break
            except Exception as e:
                if attempt >= self._retries:
                    self._record_order(order, "failed", reason=str(e), **details)
                    self._alert(
                        "order_failed", "warning", f"entry of {order.symbol} not sent", str(e)
                    )
                    # Only the answers may have been lost: make sure it is not working.
                    await self._take_back(order, details)
                    return
                await asyncio.sleep(self._delay(attempt))
                attempt += 1
        self._record_order(order, answer.status.value, reason=answer.reason, **details)
        if answer.status is OrderStatus.REJECTED:
            self._alert(
                "order_rejected", "warning", f"entry of {order.symbol} refused", answer.reason
            )
        elif answer.is_open and self._new_risk_refused() is not None:
            # Refused while it was on its way: take it back. Had it filled already, the tick
            # path closes the position again.
            await self._take_back(order, details)

    async def _take_back(self, order: Order, details: dict[str, Any]) -> None:
        """Cancels an entry that may be working at the broker; one it never heard of is
        left alone."""
        try:
            state = await self._call(self.broker.cancel, order.client_order_id)
        except RiskError:
            return  # unknown at the broker: it never arrived
        except Exception as e:
            self._alert(
                "order_failed", "critical", f"entry of {order.symbol} not taken back", str(e)
            )
            return
        self._record_order(order, state.status.value, reason="taken back", **details)

    # --- the tick path ---------------------------------------------------------------------

    async def on_tick(self, symbol: str, price: float, ts: int) -> list[Event]:
        """Marks ``symbol`` at ``price`` at ``ts`` (forwarding the tick to a simulated broker
        and applying its fills) and acts on the events, which it returns.

        A symbol is known from its first tick on, unless ``broker.symbols`` is configured: then
        only those are.

        Raises RiskError: what ``RiskEngine.on_tick`` raises (bad price, ``ts`` going
        backwards) and an unknown symbol, before anything changes. GuardError: the guard is
        closed. JournalError: the journal failed (the actions went ahead).
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
                    events = step.events
                elif events:
                    await self._finish(_Step(events=events), ts)
                if self._sent:
                    await self._sweep()
            elif events:
                await self._finish(_Step(events=events), ts)
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
        EMA and return window take it; a simulated broker fills its working orders along the
        bar's path; then the engine is marked: with a position in ``symbol``, along the path,
        the adverse extreme first (open, low, high, close for a long; open, high, low, close
        for a short), so that its stops, exits and breakers see the bar's whole range (and the
        volatility estimate its moves); flat, at the close only. Returns the events, which are
        acted on as :meth:`on_tick`'s are.

        Raises RiskError: what ``RiskEngine.on_bar`` raises (prices out of bounds, high below
        low, open or close outside [low, high], bad volume, ``ts`` going backwards) and an
        unknown symbol, before any mark, fill or order (a new symbol's name stays known).
        GuardError: the guard is closed.
        """
        if not self._ready:
            await self.start()
        async with self._lock:
            self._check_open()
            engine = self._engine
            assert engine is not None
            if symbol not in self._symbols:
                self._intern(symbol)
            engine.on_bar(symbol, open, high, low, close, volume, ts)
            step = _Step()
            sim = self._sim
            if sim is not None:
                sim.on_bar(symbol, open, high, low, close, volume, ts)
                fills = sim.fills_after(self._sim_cursor)
                self._sim_cursor += len(fills)
                for fill in fills:
                    self._apply_fill(fill, step)
            held = self._qty.get(symbol, 0.0)
            if held == 0.0:
                # Flat: nothing for the range to stop out, and the volatility estimate takes
                # one return a bar, close to close.
                path: tuple[float, ...] = (close,)
            elif held > 0:
                path = (open, low, high, close)
            else:
                path = (open, high, low, close)
            for price in path:
                step.events.extend(engine.on_tick(symbol, price, ts))
            if step.events or step.fills:
                await self._finish(step, ts)
            elif self._snapshot_ns is not None and ts >= self._next_snapshot:
                self._checkpoint()
            if sim is not None and self._sent:
                await self._sweep()
            return step.events

    async def on_ticks(
        self, symbols: Sequence[str] | np.ndarray, prices: Any, ts: Any
    ) -> list[Event]:
        """:meth:`on_tick` over a batch, in order: ``symbols`` a sequence of names or a uint32
        array of engine symbol ids, ``prices`` float64 and ``ts`` int64 (arrays or lists), all
        of one length. The whole batch is checked first: nothing is applied when any tick is
        bad. Without a simulated broker it goes to ``RiskEngine.on_ticks`` at once and its
        events are acted on after it; with one, tick by tick, so that fills land between ticks.

        Raises RiskError: unequal lengths, wrong dtypes or shapes, a bad tick (named by its
        index). GuardError: the guard is closed.
        """
        engine = await self._ready_engine()
        names = engine.symbols
        new: list[str] = []
        if isinstance(symbols, np.ndarray) and symbols.dtype == np.uint32:
            ids = symbols
        else:
            if isinstance(symbols, str | bytes) or not isinstance(symbols, Sequence | np.ndarray):
                raise RiskError(
                    f"symbols must be a sequence of str or a uint32 array, got {symbols!r}"
                )
            index = {s: i for i, s in enumerate(names)}
            ids = np.empty(len(symbols), np.uint32)
            for i, s in enumerate(symbols):
                if s not in index:
                    self._check_symbol(s)
                    index[s] = len(names) + len(new)
                    new.append(s)
                ids[i] = index[s]
        if ids.ndim != 1:
            raise RiskError(f"symbols must be 1-D, got {ids.ndim}-D")
        prices = _column(prices, "prices", np.float64)
        ts = _column(ts, "ts", np.int64)
        if not (len(ids) == len(prices) == len(ts)):
            raise RiskError(
                f"symbols, prices and ts must have one length, got {len(ids)}, {len(prices)} "
                f"and {len(ts)}"
            )
        for name, bad in (
            ("symbols", ids >= len(names) + len(new)),
            ("prices", ~(np.isfinite(prices) & (prices > 0.0))),
            ("ts", np.diff(ts, prepend=engine.ts) < 0),
        ):
            if bad.any():
                i = int(np.argmax(bad))
                value = {"symbols": ids, "prices": prices, "ts": ts}[name][i]
                reason = "goes backwards" if name == "ts" else "is not valid"
                raise RiskError(f"{name}[{i}] {reason}: {value!r}; nothing was applied")
        for s in new:
            self._intern(s)
        if self._sim is not None:
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

    def _check_symbol(self, symbol: Any) -> None:
        allowed = self.config.broker.symbols
        if not isinstance(symbol, str) or not symbol:
            raise RiskError(f"symbol must be a non-empty str, got {symbol!r}")
        if allowed is not None and symbol not in allowed:
            raise RiskError(
                f"symbol {symbol!r} is unknown: the configured symbols are {sorted(allowed)}"
            )

    def _intern(self, symbol: Any) -> None:
        """Makes ``symbol`` known to the engine: any name, or only the configured
        ``broker.symbols`` when there are some."""
        self._check_symbol(symbol)
        assert self._engine is not None
        self._engine.symbol_id(symbol)
        self._symbols.add(symbol)

    # --- control ---------------------------------------------------------------------------

    async def kill(self, reason: str, *, actor: str = "api") -> list[Event]:
        """Engages the latched kill switch: HALTED, every working order cancelled, every
        position closed at market. Committed before any order goes out; survives restarts
        until ``reset("kill_switch", confirm=True)``. Returns the events.

        Raises RiskError: ``reason`` or ``actor`` not a str. GuardError: the guard is closed.
        JournalError: the journal failed (the orders went out all the same).
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

    async def _manual(self, action: str, name: str | None, reason: str, actor: str) -> list[Event]:
        for arg, value in (("reason", reason), ("actor", actor)):
            if not isinstance(value, str):
                raise RiskError(f"{arg} must be a str, got {value!r}")
        await self._ready_engine()
        async with self._lock:
            self._check_open()
            return await self._control(action, name, reason, None, actor=actor)

    async def _control(
        self,
        action: str,
        name: str | None,
        reason: str,
        control_id: int | None,
        *,
        actor: str = "",
    ) -> list[Event]:
        """Applies one control action and commits it with its effects; one recorded in the
        journal (``control_id``) is marked handled in the same transaction, and when the engine
        refuses it (an unknown breaker name) marked handled with the error alerted."""
        engine = self._engine
        assert engine is not None
        ts = engine.ts
        now = time.time_ns()
        try:
            if action == "kill":
                events = engine.kill(reason, ts)
            elif action == "pause":
                events = engine.pause(reason, ts)
            elif action == "resume":
                events = engine.resume(ts)
            else:
                events = engine.reset(name, ts, confirm=True)
        except RiskError as e:
            if control_id is None:
                raise
            self._alert("control", "warning", f"{action} refused", str(e), ts=ts)
            self._commit(_Step(), handled=[(control_id, now)])
            return []
        self._alert(
            "control",
            "critical" if action == "kill" else "warning",
            f"{action}{f' {name}' if name else ''}",
            reason,
            actor=actor,
            ts=ts,
        )
        step = _Step(events=events)
        if control_id is None:
            row = control_row(action, now, name=name, reason=reason, actor=actor, handled_ts=now)
            await self._finish(step, ts, controls=[row])
        else:
            await self._finish(step, ts, handled=[(control_id, now)])
        return events

    async def _poll(self) -> None:
        """Acts on control actions other processes record (``riskguard kill``): on PostgreSQL
        as soon as they are notified, else within ``control_poll_s``; also on orders that
        ended at a broker with its own feed without filling, and tries a failed journal
        again."""
        while True:
            try:
                if self.journal.dialect == "postgresql":  # LISTEN/NOTIFY: at once
                    await asyncio.to_thread(self.journal.wait_for_control, self._poll_s)
                else:
                    await asyncio.sleep(self._poll_s)
                pending = await asyncio.to_thread(self.journal.pending_controls)
                for control in pending:
                    async with self._lock:
                        await self._control(
                            control.action, control.name, control.reason, control.id
                        )
                if self._sim is None and self._sent:
                    async with self._lock:
                        await self._sweep()
                if self._failure is not None:
                    async with self._lock:  # is the journal back? (the commit lifts the failure)
                        self._checkpoint()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the poll outlives a locked or unreachable database
                self._alert("control_poll", "warning", "the control poll failed", str(e))
                await asyncio.sleep(self._poll_s)

    # --- status ----------------------------------------------------------------------------

    def status(self) -> GuardStatus:
        """The Guard's state now.

        Raises GuardError: not started and no engine restored.
        """
        engine = self.engine
        snap = engine.snapshot()
        breakers = engine.breakers()
        return GuardStatus(
            ts=snap.ts,
            state=snap.state.name,
            paused=engine.paused,
            kill_switch=any(b.name == "kill_switch" and b.status == "tripped" for b in breakers),
            equity=snap.equity,
            peak_equity=snap.peak_equity,
            drawdown=snap.drawdown,
            day_loss=snap.day_loss,
            week_loss=snap.week_loss,
            month_loss=snap.month_loss,
            heat=snap.heat,
            leverage=snap.leverage,
            gross_exposure=snap.gross_exposure,
            breakers=[b.to_dict() for b in breakers if b.status == "tripped"],
            positions={s: p.to_dict() for s, p in snap.positions.items()},
            pending_actions=self._busy
            + len(self._later)
            + (0 if self._actions is None else self._actions.qsize()),
            escalations=sorted(self._escalations.values()),
            failure=self._failure,
        )

    # --- steps: engine changes, committed, then acted on -----------------------------------

    def _must_be_flat(self) -> bool:
        """The kill switch or a close-all breaker is tripped."""
        assert self._engine is not None
        return any(
            b.status == "tripped" and b.action == "close_all_halt" for b in self._engine.breakers()
        )

    def _position(self, symbol: str) -> float:
        positions = self.engine.snapshot().positions
        return positions[symbol].qty if symbol in positions else 0.0

    def _remaining(self, cid: str, sent: _Sent) -> float:
        """What of a reducing order can still fill: its quantity (or what had filled when the
        broker ended it) less the fills applied."""
        cap = sent.qty if sent.cap is None else sent.cap
        return cap - self._applied.get(cid, 0.0)

    def _inflight(self, symbol: str, but: str | None = None) -> float:
        """What the reducing orders of ``symbol`` (but ``but``) can still fill."""
        return sum(
            self._remaining(cid, s)
            for cid, s in self._sent.items()
            if s.action.symbol == symbol and cid != but
        )

    def _settle(self, cid: str) -> None:
        """Forgets a reducing order once nothing of it can fill any more."""
        sent = self._sent.get(cid)
        if sent is not None and abs(self._remaining(cid, sent)) <= _EPS * max(1.0, abs(sent.qty)):
            del self._sent[cid]

    def _apply_fill(self, fill: Fill, step: _Step, **details: Any) -> None:
        """Applies one broker fill to the engine, at the engine's clock (a broker's clock may
        run ahead of the market feed; the journal keeps the fill's own time). A fill seen
        before is skipped."""
        key = _fill_key(fill)
        if key in self._seen:
            return
        engine = self._engine
        assert engine is not None
        step.events.extend(engine.on_fill(fill.symbol, fill.qty, fill.price, engine.ts, fill.fee))
        self._seen.add(key)
        step.symbols.add(fill.symbol)
        self._symbols.add(fill.symbol)
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
        self._qty[fill.symbol] = self._qty.get(fill.symbol, 0.0) + fill.qty
        cid = fill.client_order_id
        self._applied[cid] = self._applied.get(cid, 0.0) + fill.qty
        self._settle(cid)

    async def _finish(
        self,
        step: _Step,
        ts: int,
        *,
        controls: Sequence[dict[str, Any]] = (),
        handled: Sequence[tuple[int, int]] = (),
    ) -> None:
        """Plans the actions the step calls for, alerts, commits everything, then queues the
        actions. When the journal fails, the actions still go (they reduce risk) and the
        failure is raised after."""
        self._plan(step, ts)
        self._notify(step.events)
        try:
            self._commit(step, controls=controls, handled=handled)
        except JournalError:
            await self._enqueue(step.actions)
            raise
        await self._enqueue(step.actions)

    def _plan(self, step: _Step, ts: int) -> None:
        """The broker actions the step's events call for, each with its ``pending`` order row
        (committed with the events: write-ahead)."""
        engine = self._engine
        assert engine is not None
        positions = None
        flattened: set[str] = set()
        cancelled = False
        for e in step.events:
            kind = e.kind
            if kind in ("kill_switch", "paused") or (
                kind == "state_changed" and e.state.name == "HALTED"
            ):
                # New risk is refused from now on: working entries are taken back.
                if not cancelled:
                    cause = e.breaker or kind
                    step.actions.append(_Action("cancel_orders", None, 0.0, "", cause, ts))
                    cancelled = True
                continue
            if kind not in ("flatten_requested", "stop_hit", "exit_signal", "reduce_requested"):
                continue
            if positions is None:
                positions = engine.snapshot().positions
            if kind == "reduce_requested":
                for symbol, p in positions.items():
                    self._intend(step, "reduce", symbol, -p.qty * e.value, e.breaker or kind, ts)
                continue
            held = positions[e.symbol].qty if e.symbol in positions else 0.0
            if kind == "exit_signal":
                qty = -math.copysign(e.value, held)
                self._intend(step, "exit", e.symbol, qty, e.reason or kind, ts)
            else:
                self._intend(step, "flatten", e.symbol, -held, e.breaker or kind, ts)
                flattened.add(e.symbol)
        if step.symbols - flattened and self._must_be_flat():
            # A fill that leaves a position open while trading must be flat: an entry that was
            # on the wire when the kill came. The engine asks nothing for it; close it.
            for symbol in sorted(step.symbols - flattened):
                rest = self._position(symbol) + self._inflight(symbol)
                if abs(rest) > _EPS * max(1.0, abs(rest)):
                    self._intend(step, "flatten", symbol, -rest, "must_be_flat", ts)

    def _intend(
        self, step: _Step, purpose: str, symbol: str | None, qty: float, cause: str, ts: int
    ) -> None:
        if symbol is None or qty == 0.0 or not math.isfinite(qty):
            return
        cid = _new_id(purpose)
        step.actions.append(_Action(purpose, symbol, qty, cid, cause, ts))
        step.orders.append(
            order_row(
                ts, cid, symbol, qty, "market", "pending", purpose=purpose, cause=cause, intent=cid
            )
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
        fills and changed trades, after whatever an earlier failed write still owes. A failure
        keeps the rows owed, stops new risk and is raised; the next success writes them and
        lifts the failure (the pause it set stays, now committed)."""
        engine = self._engine
        assert engine is not None
        trades = []
        # The engine keeps every trade, so listing them costs more as a run goes on: a batched
        # (backtest) journal gets them all once, when the Guard closes.
        if step.symbols and self.journal.durable:
            trades = [
                t
                for t in engine.trades()
                if t.symbol in step.symbols and (t.exit_ts is None or t.exit_ts >= engine.ts)
            ]
        rows = {
            "events": list(step.events),
            "orders": list(step.orders),
            "fills": list(step.fills),
            "trades": trades,
            "decisions": list(decisions),
            "controls": list(controls),
            "handled": list(handled),
        }
        self._journal(rows, snapshot=True)
        if self._snapshot_ns is not None:
            self._next_snapshot = engine.ts + self._snapshot_ns

    def _journal(self, rows: dict[str, Any], *, snapshot: bool) -> None:
        """Writes ``rows`` (and the engine's snapshot) after the backlog, in one transaction."""
        owed = [*self._backlog, rows]
        try:
            self.journal.write(snapshot=self._engine if snapshot else None, **_merge(owed))
        except JournalError as e:
            self._backlog = owed
            self._fail(str(e))
            raise
        self._backlog = []
        self._failure = None

    def _checkpoint(self) -> None:
        """The periodic snapshot, so that marks and indicators survive a crash too."""
        try:
            self._commit(_Step())
        except JournalError:
            pass  # _commit has stopped new risk and alerted; ticks go on

    def _fail(self, reason: str) -> None:
        """Stops new risk: the journal can no longer record what the Guard does."""
        if self._failure is None:
            self._alert("journal_failed", "critical", "the journal failed: no new risk", reason)
        self._failure = reason
        engine = self._engine
        if engine is not None and not engine.paused:
            # In memory until a commit succeeds again, which then makes it durable.
            self._notify(engine.pause(f"journal failure: {reason}", engine.ts))

    # --- actions ---------------------------------------------------------------------------

    async def _enqueue(self, actions: list[_Action]) -> None:
        if self._held is not None:  # starting: sent once the engine agrees with the broker
            self._held.extend(actions)
            return
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
            self._busy = 1
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
                self._busy = 0
                queue.task_done()

    async def _execute(self, action: _Action) -> None:
        if action.purpose == "cancel_orders":
            try:
                await self._cancel_orders(action.symbol)
                self._escalations.pop("*", None)
            except Exception as e:
                action.attempt += 1
                self._escalate(action, f"{type(e).__name__}: {e}")
                self._retry_later(action)
            return
        symbol = action.symbol
        assert symbol is not None
        if action.purpose == "flatten":
            try:
                await self._cancel_orders(symbol)
            except Exception as e:  # the close matters more than the cancels: go on
                self._alert(
                    "action_failed", "warning", f"cancel of {symbol}'s orders failed", str(e)
                )
        cid = action.client_order_id
        sent = self._sent.get(cid)
        if sent is not None and not action.fresh_id:
            # Asked again after its answers were lost: the same order, which the broker
            # recognises by its id.
            qty = sent.qty
        else:
            if action.fresh_id:
                # The broker ended the last order unfilled: a new order of the same intent,
                # committed as pending before it is sent, as the first was.
                action.fresh_id = False
                action.client_order_id = cid = _new_id(action.purpose)
                qty = self._clip(symbol, action.qty)
                if qty != 0.0:
                    self._record(action, qty, "pending")
            else:
                qty = self._clip(symbol, action.qty)
            if qty == 0.0:
                self._record(action, action.qty, "skipped", reason="nothing left to reduce")
                self._escalations.pop(symbol, None)
                return
            sent = self._sent[cid] = _Sent(action, qty)
        order = Order(symbol, qty, client_order_id=cid)
        try:
            answer = await self._call(self.broker.submit, order)
        except Exception as e:
            # The answers were lost, maybe not the order: it stays in flight, and is asked
            # for again later under the same id.
            action.attempt += 1
            self._record(action, qty, "failed", reason=f"{type(e).__name__}: {e}")
            self._escalate(action, f"{type(e).__name__}: {e}")
            self._retry_later(action)
            return
        sent.acked = True
        self._record(action, qty, answer.status.value, reason=answer.reason)
        if answer.status in _ENDED:
            self._ended(action, sent, answer)
        else:
            self._escalations.pop(symbol, None)
            self._settle(cid)

    def _ended(self, action: _Action, sent: _Sent, state: Order) -> None:
        """The broker ended a reducing order without filling it all: what it did fill may
        still be on its way; the rest is asked for again, as a new order."""
        sent.cap = state.filled_qty
        self._settle(action.client_order_id)
        action.attempt += 1
        action.fresh_id = True
        self._escalate(action, state.reason or state.status.value)
        self._retry_later(action)

    def _retry_later(self, action: _Action) -> None:
        """Queues ``action`` again after the backoff, leaving the worker free meanwhile."""

        async def later() -> None:
            await asyncio.sleep(self._delay(action.attempt))
            await self._enqueue([action])

        task = asyncio.create_task(later(), name=f"guard:retry:{action.intent}")
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _cancel_orders(self, symbol: str | None) -> None:
        """Cancels the working orders (of ``symbol``, or all) but the Guard's own reducing
        orders, which closes are netted against instead."""
        for order in await self._call(self.broker.open_orders):
            cid = order.client_order_id or ""
            if cid in self._sent or (symbol is not None and order.symbol != symbol):
                continue
            try:
                await self._call(self.broker.cancel, cid)
            except RiskError:
                pass  # it finished in the meantime

    async def _sweep(self) -> None:
        """Reducing orders the broker ended without filling (refused when they came to fill,
        say, or lost in a restart) are asked for again for what they left open. Best effort:
        a failure is alerted, and the next sweep tries again."""
        try:
            working = {o.client_order_id for o in await self._call(self.broker.open_orders)}
            for cid in [c for c, s in self._sent.items() if s.acked and c not in working]:
                sent = self._sent.get(cid)
                if sent is None:
                    continue
                try:
                    state = await self._call(self.broker.cancel, cid)  # final: unchanged
                except RiskError:  # unknown: lost with a broker restart, never filled
                    assert sent.action.symbol is not None
                    state = Order(
                        sent.action.symbol,
                        sent.qty,
                        client_order_id=cid,
                        status=OrderStatus.CANCELLED,
                        reason="unknown to the broker",
                    )
                if state.status is OrderStatus.FILLED:
                    sent.cap = state.filled_qty  # its fills are on their way
                    self._settle(cid)
                elif state.status in _ENDED and cid in self._sent:
                    self._record(sent.action, sent.qty, state.status.value, reason=state.reason)
                    self._ended(sent.action, sent, state)
        except Exception as e:
            self._alert("sweep", "warning", "checking the orders in flight failed", str(e))

    def _clip(self, symbol: str, qty: float) -> float:
        """``qty`` reduce-only: no bigger than the position net of reducing orders in flight,
        and zero when it would add to it."""
        held = self._position(symbol) + self._inflight(symbol)
        if abs(held) <= _EPS * max(1.0, abs(qty)) or qty * held > 0:
            return 0.0
        return self._tradable(math.copysign(min(abs(qty), abs(held)), qty))

    def _tradable(self, qty: float) -> float:
        """``qty`` in units the broker accepts: whole units (toward zero) unless it takes
        fractions."""
        if self.broker.capabilities.fractional:
            return qty
        return float(math.trunc(qty))

    def _escalate(self, action: _Action, error: str) -> None:
        """A risk-reducing action that keeps failing: stop new risk and say so; the caller
        tries again."""
        engine = self._engine
        assert engine is not None
        what = f"{action.purpose} of {action.symbol or 'every order'}"
        reason = f"{what} failing: {error}"
        key = action.symbol or "*"
        if action.fresh_id and action.attempt <= self._retries:
            # Refused by the broker a few times: say so, and try again before escalating.
            self._alert("order_failed", "warning", f"{what} refused", error)
            return
        if key not in self._escalations and not engine.paused:
            events = engine.pause(reason, engine.ts)
            self._notify(events)
            try:
                self._commit(_Step(events=events))
            except JournalError:
                pass  # _commit has stopped new risk and alerted
        self._escalations[key] = reason
        self._alert(
            "escalation",
            "critical",
            f"{what} still failing",
            f"attempt {action.attempt}: {error}; new risk is refused (paused) and the order is "
            "retried",
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
            intent=action.intent,
            **details,
        )
        self._write_orders([row])

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
        self._write_orders([row])

    def _write_orders(self, rows: list[dict[str, Any]]) -> None:
        try:
            self._journal({"orders": rows}, snapshot=False)
        except JournalError:
            pass  # owed to the journal, and new risk stopped, by _journal

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: ``backoff * 2**attempt``, capped, scaled by a
        random factor in [0.5, 1] so that many Guards do not retry in step."""
        base = min(self._max_backoff, self._backoff * 2.0 ** min(attempt, 62))
        return base * (0.5 + 0.5 * self._random.random())

    async def _call(self, fn: Any, *args: Any) -> Any:
        """``await fn(*args)``, retried ``broker_retries`` times after a failure."""
        attempt = 0
        while True:
            try:
                return await fn(*args)
            except asyncio.CancelledError:
                raise
            except RiskError:
                raise  # a refusal (an unknown order, a bad argument) does not go away
            except Exception:
                if attempt >= self._retries:
                    raise
                await asyncio.sleep(self._delay(attempt))
                attempt += 1

    # --- fills from a live broker, reconciliation, restart ----------------------------------

    async def _pump(self) -> None:
        """Applies the fills a broker streams (brokers that are not simulated)."""
        while True:
            try:
                async for fill in self.broker.fills():
                    if _fill_key(fill) in self._seen:
                        continue
                    async with self._lock:
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
        journaled reconciliation fill, at the engine's mark (or the broker's average price for
        a position the engine has never seen), and alerted."""
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
                reason = f"cannot reconcile {symbol}: no price for the broker's position"
                step.events.extend(engine.pause(reason, engine.ts))
                self._alert("reconciliation", "critical", reason, "new risk is refused (paused)")
                continue
            fill = Fill(_new_id("reconcile"), symbol, diff, price, 0.0, engine.ts, Liquidity.TAKER)
            self._apply_fill(fill, step, purpose="reconcile", broker_qty=theirs, engine_qty=ours)
            self._alert(
                "reconciliation",
                "warning",
                f"{symbol}: the broker holds {theirs}, the journal said {ours}",
                f"applied a fill of {diff} at {price}",
            )
        if step.fills or step.events:
            await self._finish(step, engine.ts)

    async def _resume_orders(self) -> None:
        """Picks up the orders of the last run from the journal: risk-reducing ones that may
        still be in flight are tracked again, and asked for again when never answered (under
        the same id: the broker deduplicates it) or when the broker had ended them; entries
        never answered are taken back (their signals are stale) and marked abandoned."""
        latest: dict[str, dict[str, Any]] = {}
        for row in self.journal.orders():
            details = json.loads(row["details"])
            latest[details.get("intent") or row["client_order_id"]] = row | {"details": details}
        for intent, row in latest.items():
            purpose, status = row["details"].get("purpose", ""), row["status"]
            cid, symbol, qty = row["client_order_id"], row["symbol"], row["qty"]
            if purpose in _REDUCING:
                cause = row["details"].get("cause", "")
                action = _Action(purpose, symbol, qty, cid, cause, row["ts"], intent)
                if status in ("pending", "failed", "new"):
                    self._sent[cid] = _Sent(action, qty, acked=status == "new")
                    self._settle(cid)
                    if status != "new" and cid in self._sent:
                        await self._enqueue([action])
                elif status in ("rejected", "cancelled"):
                    action.attempt, action.fresh_id = 1, True
                    await self._enqueue([action])
            elif purpose == "entry" and status in ("pending", "failed"):
                order = Order(symbol, qty, client_order_id=cid)
                details = {"purpose": purpose, "intent": intent}
                await self._take_back(order, details)
                self._record_order(
                    order, "abandoned", reason="not answered before a restart", **details
                )
                self._alert(
                    "restart",
                    "warning",
                    f"entry of {symbol} abandoned",
                    "not answered before a restart; its signal is stale",
                )
        await self._sweep()

    async def _reflatten(self) -> None:
        """With the kill switch or a close-all breaker tripped, cancels working orders and
        closes what is open again: orders sent before a restart may not have survived it."""
        engine = self._engine
        assert engine is not None
        if not self._must_be_flat():
            return
        step = _Step(actions=[_Action("cancel_orders", None, 0.0, "", "restart", engine.ts)])
        for symbol, p in engine.snapshot().positions.items():
            self._intend(step, "flatten", symbol, -p.qty, "restart", engine.ts)
        self._commit(step)
        await self._enqueue(step.actions)

    # --- alerts ----------------------------------------------------------------------------

    def _notify(self, events: list[Event]) -> None:
        if not self.alerter.sink_names:  # nobody to tell (a backtest)
            return
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
