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

**Failure.** Every broker call is bounded by ``guard.call_timeout_s``. A call that fails is
retried (``broker_retries`` times, exponential backoff with jitter); one that times out raises
:class:`~riskguard.errors.AmbiguousOutcome` and is not retried in place, since the order may be
working: a timeout is an ambiguous outcome, never a refusal.

An entry that still fails is given up, alerted and taken back in case only its answers were
lost. An entry whose submission timed out is journaled ``ambiguous`` and settled in the
background: asked for by its client order id (a broker implementing
:class:`~riskguard.brokers.OrderLookup`), else looked for among the working orders with the
positions reconciled; taken back if new risk was refused meanwhile; escalated (a critical
alert, new risk paused) while the broker stays silent. :meth:`Guard.submit` returns meanwhile,
and the entry holds neither the Guard's lock nor the action worker, so a kill goes out at once.

A risk-reducing order that still fails, or gets no answer, escalates: a critical alert, the
engine paused (no new risk; resume once resolved), and it is asked for again later while other
actions go on: looked up by its id and sent again under the same client order id when its
answers were lost (the broker deduplicates it), as a new order committed before it is sent
when the broker ended it unfilled. Actions go through a
bounded queue: a full queue is an alert and makes the tick path wait (backpressure); no action
is dropped. With a simulated broker the tick path also waits for its own actions, so that a
replay is deterministic. A journal that fails stops new risk (the engine is paused in memory)
while risk-reducing actions go on; what it could not write is written, with the pause, by the
next write that succeeds. A write failure is never sticky: the next write that succeeds lifts
it, and :attr:`GuardStatus.failure` says what failed and since when while it lasts. A control
action (kill, pause, resume, reset) is acted on in memory at once; when it cannot be committed
it is kept, reported in :attr:`GuardStatus.undurable_controls`, written alone (with the
engine's snapshot) when the rest of what is owed cannot be, and retried by the control poll
until it is committed.

**Fills.** Fills are identified by their ``fill_id`` (per symbol): one seen before, in this run
or in the journal, is ignored; two look-alike fills with different ids are both applied; a fill
without an id falls back to its order id, time, quantity and price. A fill that cannot be valid
(a NaN, infinite or non-positive price, a zero or non-finite quantity, a negative fee, no
symbol, or one the engine refuses) is quarantined: journaled as a zero fill marked
``quarantined`` with its raw values, alerted critical, and skipped, so it blocks nothing behind
it; the positions are then reconciled with the broker (its fill history, then its positions).
A fill whose order the Guard never sent is not invalid: it may be a manual trade.

**Time.** A live Guard refuses a tick, bar, batch or signal stamped more than
``guard.max_clock_skew_s`` ahead of the wall clock, as bad input, before the engine's clock
moves. A Guard driving a simulated broker (backtests, the demo) does not look at the wall
clock; the ``clock_check`` argument overrides either way.

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
import inspect
import json
import math
import os
import random
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from numbers import Integral, Real
from typing import Any, TypeVar

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
from riskguard.errors import (
    AmbiguousOutcome,
    GuardError,
    RateLimited,
    UnknownOrder,
    VenueError,
    VenueUnavailable,
)
from riskguard.journal import (
    Journal,
    JournalError,
    LeaseHeld,
    control_row,
    fill_row,
    order_row,
)
from riskguard.model import RiskStatus

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


# The Guard's status is the one status projection every face shows (riskguard.model).
GuardStatus = RiskStatus


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
class _Control:
    """A control action's journal write, owed until committed: ``row`` the control itself (one
    of the Guard's own), or ``mark`` the ``(control_id, ts)`` that marks one recorded by
    another process as handled. ``what`` describes it for the status."""

    what: str
    row: dict[str, Any] | None = None
    mark: tuple[int, int] | None = None


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


def _canonical(value: Any, kind: type) -> str:
    """``value`` as ``kind`` in a form that reads the same from a broker's record and from the
    journal (``3`` and ``3.0`` alike); its repr when it is not a number."""
    if isinstance(value, Real) and not isinstance(value, bool):
        try:
            return repr(kind(value))
        except (OverflowError, ValueError):
            pass
    return repr(value)


def _fill_key(fill: Any) -> str:
    """What identifies a fill: its broker's ``fill_id`` (unique per symbol), or for a fill
    without one its order id, time, quantity and price. Never raises, whatever ``fill`` holds."""
    fill_id = getattr(fill, "fill_id", "")
    if isinstance(fill_id, str) and fill_id:
        return f"id:{getattr(fill, 'symbol', None)!s}|{fill_id}"
    return _legacy_fill_key(fill)


def _legacy_fill_key(fill: Any) -> str:
    """A fill's key by its order id, time, quantity and price: what identified fills before
    they carried ids."""
    cid, ts, qty, price = (
        getattr(fill, name, None) for name in ("client_order_id", "ts", "qty", "price")
    )
    return _legacy_key(cid, ts, qty, price)


def _legacy_key(cid: Any, ts: Any, qty: Any, price: Any) -> str:
    return (
        f"order:{cid!s}|{_canonical(ts, int)}|{_canonical(qty, float)}|{_canonical(price, float)}"
    )


def _row_key(row: dict[str, Any]) -> str:
    """The key of a journaled fill (see :func:`_fill_key`): a quarantined fill keeps its own."""
    try:
        details = json.loads(row["details"] or "{}")
    except (TypeError, ValueError):
        details = {}
    if not isinstance(details, dict):
        details = {}
    if isinstance(details.get("key"), str):
        return details["key"]
    fill_id = details.get("fill_id")
    if isinstance(fill_id, str) and fill_id:
        return f"id:{row['symbol']}|{fill_id}"
    return _legacy_key(row["client_order_id"], row["ts"], row["qty"], row["price"])


def _fill_problem(fill: Any) -> str | None:
    """Why ``fill`` cannot be a valid execution, or None. A fill of an order the Guard never
    sent is valid: it may be a manual trade."""
    values = {}
    for name in ("client_order_id", "symbol", "qty", "price", "fee", "ts"):
        if not hasattr(fill, name):
            return f"not a fill: it has no {name}"
        values[name] = getattr(fill, name)
    if not isinstance(values["client_order_id"], str):
        return f"client_order_id must be a str, got {values['client_order_id']!r}"
    if not isinstance(values["symbol"], str) or not values["symbol"]:
        return f"symbol must be a non-empty str, got {values['symbol']!r}"
    for name in ("qty", "price", "fee"):
        x = values[name]
        if isinstance(x, bool) or not isinstance(x, Real):
            return f"{name} must be a real number, got {x!r}"
        if not math.isfinite(x):
            return f"{name} must be finite, got {x!r}"
    if values["qty"] == 0:
        return "qty must be non-zero, got 0"
    if values["price"] <= 0:
        return f"price must be > 0, got {values['price']!r}"
    if values["fee"] < 0:
        return f"fee must be >= 0, got {values['fee']!r}"
    ts = values["ts"]
    if isinstance(ts, bool) or not isinstance(ts, Integral) or ts < 0:
        return f"ts must be an integer >= 0 (ns since the epoch), got {ts!r}"
    fill_id = getattr(fill, "fill_id", "")
    if not isinstance(fill_id, str):
        return f"fill_id must be a str, got {fill_id!r}"
    return None


def _liquidity(value: Any) -> str:
    """The fill's liquidity as journaled; an unknown one is kept as text, not refused."""
    try:
        return Liquidity(value).value
    except ValueError:
        return str(value)


def _utc(ns: int) -> str:
    """Ns since the epoch as an ISO 8601 UTC time, to the second ("out of range" beyond what
    a datetime holds)."""
    try:
        return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):
        return "out of range"


def _is_unknown_order(e: BaseException) -> bool:
    """The broker says it does not know the order: :class:`UnknownOrder`, or the plain
    RiskError the paper broker raises. Other venue errors say nothing about the order."""
    return isinstance(e, UnknownOrder) or (
        isinstance(e, RiskError) and not isinstance(e, VenueError)
    )


_T = TypeVar("_T")


class _Expired(Exception):
    """A call outlived its time (not a ``TimeoutError`` the call raised itself)."""


async def _within(call: Awaitable[_T], seconds: float) -> _T:
    """``await call``, cancelled after ``seconds``, then raising :class:`_Expired`."""
    if sys.version_info >= (3, 11):
        # In the caller's task, as a plain await: no other task runs when the call answers
        # at once.
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                return await call
        except TimeoutError:
            if deadline.expired():
                raise _Expired from None
            raise
    task = asyncio.ensure_future(call)  # Python 3.10: no asyncio.timeout
    try:
        done, _ = await asyncio.wait((task,), timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        raise _Expired
    return task.result()


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
    ``seed`` makes the retry jitter reproducible. ``clock_check`` says whether ticks, bars and
    signals stamped more than ``guard.max_clock_skew_s`` ahead of the wall clock are refused:
    ``None`` (the default) checks unless the broker is simulated (a backtest's data is in the
    past); the check is off whenever ``max_clock_skew_s`` is off.

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
        clock_check: bool | None = None,
    ) -> None:
        if config is not None and not isinstance(config, Config):
            raise RiskError(f"config must be a riskguard.Config, got {type(config).__name__}")
        if broker is not None and not isinstance(broker, Broker):
            raise RiskError(f"broker must implement riskguard.brokers.Broker, got {broker!r}")
        if journal is not None and not isinstance(journal, Journal):
            raise RiskError(f"journal must be a riskguard.journal.Journal, got {journal!r}")
        if alerter is not None and not isinstance(alerter, Alerter):
            raise RiskError(f"alerter must be a riskguard.alerts.Alerter, got {alerter!r}")
        if clock_check is not None and not isinstance(clock_check, bool):
            raise RiskError(f"clock_check must be a bool or None, got {clock_check!r}")
        # The one validation (Config.problems): a Config changed with model_copy skipped it.
        self.config = (config if config is not None else Config.load()).check()
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
        self._snapshot_ns = self.config.journal.snapshot_interval_ns
        self._next_snapshot = 0
        self._retries = settings.broker_retries
        self._backoff = settings.retry_backoff_s
        self._max_backoff = settings.retry_max_backoff_s
        self._poll_s = settings.control_poll_s
        self._timeout = settings.call_timeout_s
        skew = settings.max_clock_skew_s
        check = self._sim is None if clock_check is None else clock_check
        self._max_skew_ns = None if skew is None or not check else int(skew * 1e9)
        self._clock_ok_below = -1  # a ts at most this is within the skew of a past wall clock
        lookup = getattr(self.broker, "order", None)
        self._lookup_order = lookup if callable(lookup) else None
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
        self._failure_since: int | None = None  # wall clock, ns
        self._undurable: list[_Control] = []  # control writes acted on, not yet committed
        self._seen: set[str] = set()  # keys of the fills applied or quarantined (_fill_key)
        self._seen_legacy: set[str] = set()  # keys of journaled fills that carry no fill id
        self._watch: list[tuple[str, str, float]] | None = None  # fills applied mid-reconcile
        self._reconcile_lock = asyncio.Lock()
        self._reconcile_task: asyncio.Task[None] | None = None
        self._reconcile_again = False
        self._symbols: set[str] = set()
        self._sim_cursor = 0
        self._sent: dict[str, _Sent] = {}
        self._applied: dict[str, float] = {}  # filled quantity applied, by client order id
        self._qty: dict[str, float] = {}  # the engine's positions, kept by the fills applied
        self._escalations: dict[str, str] = {}
        self._backlog: list[dict[str, Any]] = []  # rows a failed journal write still owes
        self._held: list[_Action] | None = None  # actions planned while starting
        # Names this Guard in the journal's lease (and in a second Guard's refusal).
        self._holder = f"guard {socket.gethostname()}:{os.getpid()}"
        # Set when another writer took the journal while this Guard's lease was lost: its
        # state is no longer the journal's, so it writes nothing more (fencing).
        self._fenced: str | None = None
        self._leased = False  # the lease was taken at start: keep it for the Guard's life
        self._lease_epoch: int | None = None

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

    def _take_lease(self) -> None:
        """One writer per journal: takes the journal's lease for the Guard's whole life, then
        restores the engine again (the one restored on construction may predate the last
        writer's final commit).

        Raises GuardError: another Guard holds the lease (named: holder, host, pid, since).
        """
        try:
            self._lease_epoch = self.journal.acquire_lease(self._holder)
        except LeaseHeld as e:
            raise GuardError(f"another Guard writes to this journal: {e}") from None
        self._leased = True
        self._engine = self.journal.restore()

    async def _keep_lease(self) -> None:
        """Checks the lease on every poll. A lost lease (the database dropped the connection
        that held it) stops new risk until it is taken back; taken back by this Guard alone
        (the epoch moved by one: nobody wrote in between), trading resumes once an operator
        lifts the pause. Taken by another writer in between, the Guard stays stopped: its
        state is no longer the journal's."""
        journal = self.journal
        if not self._leased or self._fenced is not None:
            return
        if journal.lease_state == "held":
            if await asyncio.to_thread(journal.check_lease):
                return
        lost_epoch = self._lease_epoch
        async with self._lock:
            self._fail("the journal's lease was lost: another writer may take the journal")
        try:
            epoch = await asyncio.to_thread(journal.acquire_lease, self._holder)
        except JournalError:
            return  # held by another, or the database still down: try at the next poll
        self._lease_epoch = epoch
        if lost_epoch is not None and epoch != lost_epoch + 1:
            self._fenced = f"another writer took the journal (lease epoch {lost_epoch} -> {epoch})"
            await asyncio.to_thread(journal.release_lease)  # free for a restarted Guard
            self._alert(
                "lease",
                "critical",
                "another writer took the journal while the lease was lost",
                f"{self._fenced}: this Guard writes nothing more and takes no new risk; restart it",
            )
            async with self._lock:
                self._fail(f"{self._fenced}: restart this Guard")

    async def _boot(self) -> None:
        self._take_lease()
        await self.alerter.start()
        self._actions = asyncio.Queue(self._queue_size)
        # Orders go out only once the engine agrees with the broker: what starting plans is
        # held until reconciliation is done.
        self._held = []
        for r in self.journal.fills():
            # Fills carry their broker's id in their details: one seen in an earlier run is
            # not applied again (a quarantined one is not quarantined again).
            key = _row_key(r)
            self._seen.add(key)
            if not key.startswith("id:"):
                self._seen_legacy.add(key)
            self._applied[r["client_order_id"]] = (
                self._applied.get(r["client_order_id"], 0.0) + r["qty"]
            )
        history = await self._history()
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
        adopted = []
        for f in history:
            key = _fill_key(f)
            if self._seen_before(f, key):
                continue
            self._seen.add(key)
            problem = _fill_problem(f)
            if problem is not None:
                adopted.append(self._quarantine_row(f, key, problem))
                continue
            adopted.append(
                fill_row(
                    f.ts,
                    f.client_order_id,
                    f.symbol,
                    f.qty,
                    f.price,
                    f.fee,
                    adopted=True,
                    fill_id=f.fill_id,
                )
            )
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
            if self._ready and self._engine is not None:
                if self._failure is not None or self._undurable:
                    self._checkpoint()  # a last try at what is owed, a kill first of all
                if self._undurable:
                    self._alert(
                        "journal_failed",
                        "critical",
                        "closing with control actions not committed",
                        "; ".join(c.what for c in self._undurable),
                    )
                if self._failure is None:
                    if not self.journal.durable:
                        self.journal.record_trades(self._engine.trades())
                    self.journal.save_snapshot(self._engine)
        finally:
            try:
                if self._owns_journal:
                    self.journal.close()  # gives the lease back too
                else:
                    try:
                        self.journal.flush()
                    finally:
                        self.journal.release_lease()
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
        simulated broker) and opens the managed trade. Returns within about
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
        takes it back if that happens while it is on its way, or if its answers were lost. A
        submission that times out is not sent again: it is settled in the background."""
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
                answer = await self._timed(self.broker.submit(order), "submit")
                break
            except AmbiguousOutcome as e:
                self._in_doubt(order, details, str(e))
                return
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
        left alone, one it does not answer about is settled in the background."""
        try:
            state = await self._call(self.broker.cancel, order.client_order_id)
        except AmbiguousOutcome as e:
            self._in_doubt(order, details, str(e))
            return
        except Exception as e:
            if _is_unknown_order(e):
                return  # unknown at the broker: it never arrived
            self._alert(
                "order_failed", "critical", f"entry of {order.symbol} not taken back", str(e)
            )
            return
        self._record_order(order, state.status.value, reason="taken back", **details)

    # --- ambiguous outcomes: orders the broker did not answer about -------------------------

    def _in_doubt(self, order: Order, details: dict[str, Any], error: str) -> None:
        """An entry whose submission (or cancel) got no answer: it may or may not be working.
        Journaled ``ambiguous`` (in flight, never "rejected") and settled in the background,
        so that neither the caller nor the Guard's lock waits for the broker."""
        self._record_order(order, "ambiguous", reason=error, **details)
        self._alert(
            "order_ambiguous",
            "warning",
            f"entry of {order.symbol} not answered",
            f"{error}; asking the broker for {order.client_order_id} by its id",
        )
        name = f"guard:settle:{order.client_order_id}"
        self._background(self._settle_entry(order, details), name)

    async def _settle_entry(self, order: Order, details: dict[str, Any]) -> None:
        """Asks the broker what became of an ambiguous entry until it says, with backoff; takes
        it back if it is working while new risk is refused. While the broker stays silent
        (``broker_retries`` + 1 tries), escalates: a critical alert and new risk paused."""
        cid = order.client_order_id or ""
        key = f"entry:{cid}"
        attempt = 0
        while True:
            await asyncio.sleep(self._delay(attempt))
            try:
                state, how = await self._ask(order)
                if state is not None and state.is_open and self._new_risk_refused() is not None:
                    state = await self._call(self.broker.cancel, cid)
                    how = "taken back: new risk was refused while it was in doubt"
                break
            except asyncio.CancelledError:
                raise
            except Exception as e:
                attempt += 1
                if attempt > self._retries:
                    self._raise_escalation(
                        key,
                        f"entry of {order.symbol} ({cid}) not answered: {e}",
                        f"entry of {order.symbol} not answered",
                        f"asked {attempt} times",
                    )
        if self._escalations.pop(key, None) is not None:
            self._alert("escalation", "warning", f"entry of {order.symbol} settled", how)
        if state is None:
            self._record_order(order, "abandoned", reason=how, **details)
        else:
            self._record_order(order, state.status.value, reason=state.reason or how, **details)

    async def _ask(self, order: Order) -> tuple[Order | None, str]:
        """What became of ``order``: its state by its client order id (``None`` when the broker
        never received it), or, from a broker that cannot be asked, its state among the working
        orders, else ``None`` once the positions are reconciled (it filled, or never came).
        Returns the state and how it was learnt.

        Raises AmbiguousOutcome: no answer in time. Whatever else the broker raises.
        """
        cid = order.client_order_id or ""
        if self._lookup_order is not None:
            state = await self._lookup(cid)
            return state, "asked by its client order id" if state else "unknown to the broker"
        for working in await self._call(self.broker.open_orders):
            if working.client_order_id == cid:
                return working, "working at the broker"
        await self._reconcile_live()
        return None, "not working at the broker; the positions were reconciled"

    async def _lookup(self, cid: str) -> Order | None:
        """The broker's :class:`~riskguard.brokers.OrderLookup` answer for ``cid`` (sync or
        async), or None when the broker says it does not know the order.

        Raises AmbiguousOutcome: no answer in time. Whatever else the broker raises.
        """
        assert self._lookup_order is not None
        try:
            state = self._lookup_order(cid)
            if inspect.isawaitable(state):
                state = await self._timed(state, "order lookup")
        except AmbiguousOutcome:
            raise
        except Exception as e:
            if _is_unknown_order(e):
                return None
            raise
        if not isinstance(state, Order):
            raise GuardError(f"the broker's order lookup answered {state!r}, not an Order")
        return state

    def _background(self, work: Awaitable[None], name: str) -> None:
        """Runs ``work`` beside the Guard's other tasks; closing the Guard cancels it."""
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    # --- the tick path ---------------------------------------------------------------------

    async def on_tick(self, symbol: str, price: float, ts: int) -> list[Event]:
        """Marks ``symbol`` at ``price`` at ``ts`` (forwarding the tick to a simulated broker
        and applying its fills) and acts on the events, which it returns.

        A symbol is known from its first tick on, unless ``broker.symbols`` is configured: then
        only those are.

        Raises RiskError: what ``RiskEngine.on_tick`` raises (bad price, ``ts`` going
        backwards), an unknown symbol, and (a live Guard) a ``ts`` more than
        ``guard.max_clock_skew_s`` ahead of the wall clock, before anything changes. GuardError:
        the guard is closed. JournalError: the journal failed (the actions went ahead).
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
        index), and (a live Guard) a tick more than ``guard.max_clock_skew_s`` ahead of the
        wall clock (the latest is named). GuardError: the guard is closed.
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
        if self._max_skew_ns is not None and len(ts):
            i = int(np.argmax(ts))
            self._check_clock(int(ts[i]), f"ts[{i}]")
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

    def _check_clock(self, ts: Any, arg: str) -> None:
        """Refuses a ``ts`` more than ``guard.max_clock_skew_s`` ahead of the wall clock (a
        live Guard only), before the engine's clock moves: one bad stamp must not make every
        later, correct tick "go backwards". A ``ts`` that is not an integer is left for the
        engine to refuse."""
        limit = self._max_skew_ns
        if limit is None:
            return
        if type(ts) is not int:  # the exact type first: the ABC check costs more than a tick
            if isinstance(ts, bool) or not isinstance(ts, Integral):
                return
            ts = int(ts)
        if ts <= self._clock_ok_below:
            return  # under a bound already checked: the wall clock only moves on
        now = time.time_ns()
        self._clock_ok_below = now + limit
        if ts > now + limit:
            raise RiskError(
                f"{arg} {int(ts)} ({_utc(int(ts))}) is {(int(ts) - now) / 1e9:.0f} s ahead of the "
                f"wall clock {now} ({_utc(now)}), more than guard.max_clock_skew_s = "
                f"{limit / 1e9:g} s: refused as bad input, nothing was applied"
            )

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
        refuses it (an unknown breaker name) marked handled with the error alerted. The
        control's own write is owed until committed (see :meth:`_journal`)."""
        engine = self._engine
        assert engine is not None
        ts = engine.ts
        now = time.time_ns()
        if control_id is not None:
            mark = _Control(f"handled mark of control #{control_id}", mark=(control_id, now))
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
            self._commit(_Step(), controls=[mark])
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
            what = f"{action}{f' {name}' if name else ''} by {actor or '?'} at {_utc(now)}"
            await self._finish(step, ts, controls=[_Control(what + f": {reason!r}", row=row)])
        else:
            await self._finish(step, ts, controls=[mark])
        return events

    async def _poll(self) -> None:
        """Acts on control actions other processes record (``riskguard kill``): on PostgreSQL
        as soon as they are notified, else within ``control_poll_s``; also on orders that
        ended at a broker with its own feed without filling, and tries a failed journal (what
        it owes, a control action first of all) again. Each of these goes on when another
        fails: a listener that failed falls back to polling."""
        while True:
            try:
                # Returns as soon as a control is recorded (NOTIFY on PostgreSQL, the control
                # database's change on SQLite), else after the poll interval.
                await asyncio.to_thread(self.journal.wait_for_control, self._poll_s)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._alert("control_poll", "warning", "listening for controls failed", str(e))
                await asyncio.sleep(self._poll_s)
            try:
                await self._keep_lease()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the poll outlives an unreachable database
                self._alert("lease", "warning", "checking the journal's lease failed", str(e))
            if self._failure is not None or self._undurable:
                async with self._lock:  # is the journal back? (the commit lifts the failure)
                    self._checkpoint()
            try:
                pending = await asyncio.to_thread(self.journal.pending_controls)
                # Applied already, only the handled mark is owed: not applied twice.
                owed = {c.mark[0] for c in self._undurable if c.mark is not None}
                for control in pending:
                    if control.id in owed:
                        continue
                    async with self._lock:
                        await self._control(
                            control.action, control.name, control.reason, control.id
                        )
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the poll outlives a locked or unreachable database
                self._alert("control_poll", "warning", "the control poll failed", str(e))
            if self._sim is None and self._sent:
                # Without the lock: the sweep only asks the broker and records what it says,
                # and a broker slow to answer must not hold up the tick path or a kill.
                await self._sweep()

    # --- status ----------------------------------------------------------------------------

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

    def _lease_info(self) -> dict[str, Any] | None:
        """This Guard's hold on the journal, for its status."""
        if not self._leased:
            return None
        state = "fenced" if self._fenced is not None else self.journal.lease_state
        return {"holder": self._holder, "state": state, "epoch": self._lease_epoch}

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
        run ahead of the market feed; the journal keeps the fill's own time, and its
        ``fill_id``). A fill seen before (by :func:`_fill_key`) is skipped; one that cannot be
        valid, or that the engine refuses, is quarantined."""
        key = _fill_key(fill)
        if self._seen_before(fill, key):
            return
        engine = self._engine
        assert engine is not None
        problem = _fill_problem(fill)
        if problem is None:
            try:
                events = engine.on_fill(fill.symbol, fill.qty, fill.price, engine.ts, fill.fee)
            except RiskError as e:  # out of the engine's bounds: it changed nothing
                problem = f"refused by the engine: {e}"
        if problem is not None:
            self._quarantine(fill, key, problem, step)
            return
        step.events.extend(events)
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
                liquidity=_liquidity(fill.liquidity),
                fill_id=fill.fill_id,
                **details,
            )
        )
        self._qty[fill.symbol] = self._qty.get(fill.symbol, 0.0) + fill.qty
        cid = fill.client_order_id
        self._applied[cid] = self._applied.get(cid, 0.0) + fill.qty
        self._settle(cid)
        if self._watch is not None:  # a reconciliation is under way: it must know
            self._watch.append((key, fill.symbol, fill.qty))

    def _seen_before(self, fill: Any, key: str) -> bool:
        """``fill`` (of key ``key``) was applied or quarantined before: by its id, or, for a
        journal written before fills carried ids, by its order id, time, quantity and price."""
        if key in self._seen:
            return True
        return bool(self._seen_legacy) and _legacy_fill_key(fill) in self._seen_legacy

    def _quarantine(self, fill: Any, key: str, problem: str, step: _Step) -> None:
        """Sets aside a fill that cannot be valid: journaled (a zero fill marked
        ``quarantined``, its raw values as text), alerted critical, never applied, and never
        looked at again (its key is seen); the positions are then reconciled with the broker.
        A reducing order it belongs to stops being netted: the reconciliation says what is
        held."""
        self._seen.add(key)
        step.fills.append(self._quarantine_row(fill, key, problem))
        cid = getattr(fill, "client_order_id", None)
        sent = self._sent.get(cid) if isinstance(cid, str) else None
        if sent is not None and isinstance(cid, str):
            sent.cap = self._applied.get(cid, 0.0)
            self._settle(cid)
        self._alert(
            "fill_quarantined",
            "critical",
            "a fill that cannot be valid was quarantined",
            f"{problem}: {fill!r}; later fills go on, and the positions are reconciled with "
            "the broker",
        )
        self._schedule_reconcile()

    def _quarantine_row(self, fill: Any, key: str, problem: str) -> dict[str, Any]:
        """The journal row of a quarantined fill: quantity, price and fee zero (the journal
        takes finite numbers only), its raw fields as text in the details."""
        engine = self._engine
        assert engine is not None
        raw = {
            name: repr(getattr(fill, name, None))
            for name in (
                "client_order_id",
                "symbol",
                "qty",
                "price",
                "fee",
                "ts",
                "liquidity",
                "fill_id",
            )
        }
        cid = getattr(fill, "client_order_id", None)
        symbol = getattr(fill, "symbol", None)
        fill_id = getattr(fill, "fill_id", "")
        return fill_row(
            engine.ts,
            cid if isinstance(cid, str) else raw["client_order_id"],
            symbol if isinstance(symbol, str) and symbol else raw["symbol"],
            0.0,
            0.0,
            0.0,
            quarantined=True,
            reason=problem,
            key=key,
            fill_id=fill_id if isinstance(fill_id, str) else raw["fill_id"],
            raw=raw,
        )

    async def _finish(
        self,
        step: _Step,
        ts: int,
        *,
        controls: Sequence[_Control] = (),
    ) -> None:
        """Plans the actions the step calls for, alerts, commits everything, then queues the
        actions. When the journal fails, the actions still go (they reduce risk) and the
        failure is raised after."""
        self._plan(step, ts)
        self._notify(step.events)
        try:
            self._commit(step, controls=controls)
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
        controls: Sequence[_Control] = (),
        owe: bool = True,
    ) -> None:
        """One durable transaction: the engine's snapshot with the step's events, orders,
        fills and changed trades, and the control writes, after whatever an earlier failed
        write still owes. A failure keeps the rows owed (unless ``owe`` is False: a step that
        was not acted on), stops new risk and is raised; the next success writes them and lifts
        the failure (the pause it set stays, now committed). The control writes are owed apart,
        and tried alone at once (see :meth:`_journal`)."""
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
        }
        self._undurable.extend(controls)
        self._journal(rows, snapshot=True, owe=owe)
        if self._snapshot_ns is not None:
            self._next_snapshot = engine.ts + self._snapshot_ns

    def _journal(self, rows: dict[str, Any], *, snapshot: bool, owe: bool = True) -> None:
        """Writes ``rows`` after the backlog, with the control writes owed, in one transaction,
        with the engine's snapshot when asked (always when something is owed: a control's
        effect is in the snapshot). Success writes everything owed and lifts the failure:
        a failure is never sticky. A failure keeps ``rows`` owed (when ``owe``), stops new risk,
        tries the control writes alone (a kill must not wait behind rows the journal refuses),
        and is raised."""
        owed = [*self._backlog, rows]
        controls = self._undurable
        batches = owed
        if controls:
            pending = {
                "controls": [c.row for c in controls if c.row is not None],
                "handled": [c.mark for c in controls if c.mark is not None],
            }
            batches = [*owed, pending]
        snap = snapshot or bool(self._backlog) or bool(controls)
        try:
            if self._fenced is not None:
                raise JournalError(self._fenced)
            self.journal.write(snapshot=self._engine if snap else None, **_merge(batches))
        except JournalError as e:
            if owe:
                self._backlog = owed
            self._fail(str(e))
            self._commit_controls()
            raise
        self._backlog = []
        self._undurable = []
        self._failure = None
        self._failure_since = None

    def _commit_controls(self) -> None:
        """The control actions' own durable path: their writes alone, with the engine's
        snapshot (which holds their effect), so that a restart finds them in force. Still
        owed on failure: the control poll tries again."""
        controls = self._undurable
        if not controls or self._fenced is not None:
            return
        try:
            self.journal.write(
                snapshot=self._engine,
                controls=[c.row for c in controls if c.row is not None],
                handled=[c.mark for c in controls if c.mark is not None],
            )
        except JournalError:
            return
        self._undurable = []

    def _checkpoint(self) -> None:
        """The periodic snapshot, so that marks and indicators survive a crash too."""
        try:
            self._commit(_Step())
        except JournalError:
            pass  # _commit has stopped new risk and alerted; ticks go on

    def _fail(self, reason: str) -> None:
        """Stops new risk: the journal can no longer record what the Guard does. ``reason``
        says what failed; the first failure's wall-clock time is kept until a write succeeds."""
        if self._failure is None:
            self._failure_since = time.time_ns()
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
            answer = None
            if action.attempt > 0 and not sent.acked and self._lookup_order is not None:
                # Asked again after no answer: the broker may hold it already; ask first.
                answer = await self._lookup(cid)
            if answer is None:
                answer = await self._call(self.broker.submit, order)
        except AmbiguousOutcome as e:
            # No answer in time: in flight, never refused. Asked for again later (looked up
            # by its id first, then sent under the same id, which the broker deduplicates).
            action.attempt += 1
            self._record(action, qty, "ambiguous", reason=str(e))
            self._escalate(action, str(e))
            self._retry_later(action)
            return
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
            except Exception as e:
                if not _is_unknown_order(e):
                    raise
                # it finished in the meantime

    async def _sweep(self) -> None:
        """Reducing orders the broker ended without filling (refused when they came to fill,
        say, or lost in a restart) are asked for again for what they left open. Best effort:
        a failure is alerted, and the next sweep tries again."""
        try:
            # Only orders acknowledged before the broker listed its working orders: one placed
            # meanwhile is missing from the list without having ended.
            acked = [c for c, s in self._sent.items() if s.acked]
            working = {o.client_order_id for o in await self._call(self.broker.open_orders)}
            for cid in [c for c in acked if c not in working]:
                sent = self._sent.get(cid)
                if sent is None:
                    continue
                state = await self._final_state(cid)
                if state is None:  # unknown: lost with a broker restart, never filled
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

    async def _final_state(self, cid: str) -> Order | None:
        """The state of an order that is no longer working: by its id when the broker can be
        asked, else through ``cancel``, which returns a final order unchanged. None when the
        broker does not know it.

        Raises AmbiguousOutcome: no answer in time (which says nothing about the order).
        Whatever else the broker raises.
        """
        if self._lookup_order is not None:
            return await self._lookup(cid)
        try:
            return await self._call(self.broker.cancel, cid)
        except AmbiguousOutcome:
            raise
        except Exception as e:
            if _is_unknown_order(e):
                return None
            raise

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
        what = f"{action.purpose} of {action.symbol or 'every order'}"
        if action.fresh_id and action.attempt <= self._retries:
            # Refused by the broker a few times: say so, and try again before escalating.
            self._alert("order_failed", "warning", f"{what} refused", error)
            return
        self._raise_escalation(
            action.symbol or "*",
            f"{what} failing: {error}",
            f"{what} still failing",
            f"attempt {action.attempt}",
        )

    def _raise_escalation(self, key: str, reason: str, title: str, detail: str) -> None:
        """Something that must happen keeps failing (a risk-reducing order, the broker's answer
        about an order in doubt): new risk stops (paused, committed when the journal can), a
        critical alert, and ``status().escalations`` says why until it is resolved. The
        caller keeps trying."""
        engine = self._engine
        assert engine is not None
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
            title,
            f"{detail}: {reason}; new risk is refused (paused) and it is tried again",
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
        """``await fn(*args)`` within ``guard.call_timeout_s``, retried ``broker_retries``
        times after a failure that may go away (a dropped connection, a venue unavailable or
        rate-limited). A refusal (an unknown order, a bad argument) is raised at once, and so
        is :class:`AmbiguousOutcome` (no answer in time): sending again is the caller's call,
        after asking what became of the first."""
        attempt = 0
        while True:
            try:
                return await self._timed(fn(*args), getattr(fn, "__name__", "call"))
            except asyncio.CancelledError:
                raise
            except (VenueUnavailable, RateLimited):
                if attempt >= self._retries:
                    raise
            except RiskError:
                raise  # a refusal does not go away; an ambiguous outcome is settled, not resent
            except Exception:
                if attempt >= self._retries:
                    raise
            await asyncio.sleep(self._delay(attempt))
            attempt += 1

    async def _timed(self, call: Awaitable[_T], what: str) -> _T:
        """``await call`` within ``guard.call_timeout_s``. On time out the call is cancelled
        and :class:`AmbiguousOutcome` raised: whatever it asked may or may not have been done.
        An exception the call raises itself (a ``TimeoutError`` of its own, say) is raised as
        it is. The call runs in the caller's task, as an undecorated ``await`` would: a call
        that answers at once (the paper broker) lets no other task run meanwhile."""
        try:
            return await _within(call, self._timeout)
        except _Expired:
            raise AmbiguousOutcome(
                f"{what}: no answer from the broker within {self._timeout:g} s "
                "(guard.call_timeout_s)"
            ) from None

    # --- fills from a live broker, reconciliation, restart ----------------------------------

    async def _pump(self) -> None:
        """Applies the fills a broker streams (brokers that are not simulated)."""
        while True:
            try:
                async for fill in self.broker.fills():
                    if self._seen_before(fill, _fill_key(fill)):
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

    async def _history(self) -> list[Fill]:
        """The broker's fills of the session so far, within ``guard.call_timeout_s``.

        Raises AmbiguousOutcome: no answer in time. Whatever the broker raises.
        """

        async def collect() -> list[Fill]:
            return [f async for f in self.broker.fills(follow=False)]

        return await self._timed(collect(), "fills")

    async def _reconcile(self) -> None:
        """On start: makes the engine hold what the broker holds (see :meth:`_align`)."""
        engine = self._engine
        assert engine is not None
        held = await self._call(self.broker.positions)
        step = _Step()
        self._align(step, held, {})
        if step.fills or step.events:
            await self._finish(step, engine.ts)

    async def _reconcile_live(self) -> None:
        """While running (after a quarantined fill, or to settle an order the broker cannot be
        asked about): applies the broker's fills the Guard has not seen, then makes the engine
        hold what the broker holds. The broker is read without the Guard's lock, ticks and
        fills going on: its fill history, its positions, its history again (until both reads
        agree, so that the positions are those of that history), and the fills the Guard
        applied meanwhile that the history does not hold yet are left out of the comparison.

        Raises AmbiguousOutcome: the broker did not answer in time. GuardError: its fills
        kept changing. Whatever else the broker raises.
        """
        engine = self._engine
        assert engine is not None
        async with self._reconcile_lock:
            self._watch = []
            try:
                for _ in range(1 + self._retries):
                    before = await self._history()
                    held = await self._call(self.broker.positions)
                    history = await self._history()
                    if len(history) == len(before):
                        break
                else:
                    raise GuardError("the broker's fills kept changing while reconciling")
                async with self._lock:
                    watched, self._watch = self._watch, None
                    step = _Step()
                    for fill in history:
                        self._apply_fill(fill, step)
                    known = {_fill_key(f) for f in history}
                    late: dict[str, float] = {}
                    for key, symbol, qty in watched:
                        if key not in known:
                            late[symbol] = late.get(symbol, 0.0) + qty
                    self._align(step, held, late)
                    if step.fills or step.events:
                        await self._finish(step, engine.ts)
            finally:
                self._watch = None

    def _schedule_reconcile(self) -> None:
        """Reconciles with the broker in the background, until it succeeds (escalating while
        it fails); a request made while one runs makes it run once more after."""
        self._reconcile_again = True
        if self._reconcile_task is not None and not self._reconcile_task.done():
            return

        async def run() -> None:
            attempt = 0
            while self._reconcile_again:
                self._reconcile_again = False
                while True:
                    try:
                        await self._reconcile_live()
                        break
                    except asyncio.CancelledError:
                        raise
                    except Exception as e:
                        attempt += 1
                        self._alert(
                            "reconciliation",
                            "warning",
                            "reconciling with the broker failed",
                            str(e),
                        )
                        if attempt > self._retries:
                            self._raise_escalation(
                                "reconcile",
                                f"reconciliation with the broker failing: {e}",
                                "reconciliation still failing",
                                f"attempt {attempt}",
                            )
                        await asyncio.sleep(self._delay(attempt))
            self._escalations.pop("reconcile", None)

        task = asyncio.ensure_future(run())
        task.set_name("guard:reconcile")
        self._reconcile_task = task
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    def _align(self, step: _Step, held: dict[str, Any], late: dict[str, float]) -> None:
        """Makes the engine hold what the broker holds (``held``, its positions, net of the
        ``late`` quantities applied since they were read): each difference is applied as a
        journaled reconciliation fill, at the engine's mark (or the broker's average price for
        a position the engine has never seen), and alerted."""
        engine = self._engine
        assert engine is not None
        mine = engine.snapshot().positions
        for symbol in sorted(set(held) | set(mine) | set(late)):
            theirs = held[symbol].qty if symbol in held else 0.0
            ours = (mine[symbol].qty if symbol in mine else 0.0) - late.get(symbol, 0.0)
            diff = theirs - ours
            if abs(diff) <= _EPS * max(1.0, abs(theirs), abs(ours)):
                continue
            price = mine[symbol].mark if symbol in mine else held[symbol].avg_price
            if not (price > 0.0 and math.isfinite(price)):
                reason = f"cannot reconcile {symbol}: no price for the broker's position"
                step.events.extend(engine.pause(reason, engine.ts))
                self._alert("reconciliation", "critical", reason, "new risk is refused (paused)")
                continue
            cid = _new_id("reconcile")
            fill = Fill(cid, symbol, diff, price, 0.0, engine.ts, Liquidity.TAKER, cid)
            self._apply_fill(fill, step, purpose="reconcile", broker_qty=theirs, engine_qty=ours)
            self._alert(
                "reconciliation",
                "warning",
                f"{symbol}: the broker holds {theirs}, the journal said {ours}",
                f"applied a fill of {diff} at {price}",
            )

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
                if status in ("pending", "failed", "ambiguous", "new"):
                    self._sent[cid] = _Sent(action, qty, acked=status == "new")
                    self._settle(cid)
                    if status != "new" and cid in self._sent:
                        await self._enqueue([action])
                elif status in ("rejected", "cancelled"):
                    action.attempt, action.fresh_id = 1, True
                    await self._enqueue([action])
            elif purpose == "entry" and status in ("pending", "failed", "ambiguous"):
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
