"""The protocols the core rooms (``guard``, ``oms``) depend on, so that they never name a
concrete venue, store or sink: :class:`Venue`, :class:`MarketFeed`, :class:`Store`,
:class:`ControlChannel`, :class:`AlertSink` and :class:`Metrics`; the :class:`Driver` between a
Guard's market data and its venue; and :class:`GuardParts`, what composition hands a Guard.

Conventions, the same for every port:

- quantities are signed (``+`` buys, ``-`` sells) and in base units; prices, fees and cash are
  in the instrument's quote currency;
- ``ts`` is integer nanoseconds since the Unix epoch, UTC;
- the records that cross a port are those of :mod:`riskguard.model` (:class:`Order`,
  :class:`Fill`, :class:`Position`, :class:`Tick`, :class:`Bar`, :class:`Control`...);
- a port reports a failure with an exception of :mod:`riskguard.errors` (``VenueError`` and its
  subclasses for a venue, ``JournalError`` for a store); a refusal of a well-formed order is not
  an error but an order with status ``rejected`` and a reason.

Implementations live in their own rooms (``brokers``/``venues``, ``journal``, ``alerts``) and
are composed by ``app``; the protocols are ``runtime_checkable`` so that a wrong object is
refused with a clear message where it is passed in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from riskguard.model.controls import Control
from riskguard.model.market import Bar, Tick
from riskguard.model.orders import Capabilities, Fill, Order, Position
from riskguard.model.settings import GuardSettings

if TYPE_CHECKING:
    from riskguard._core import Decision, Event, RiskEngine, Signal, Trade

__all__ = [
    "LIVE",
    "AlertSink",
    "ControlChannel",
    "Driver",
    "GuardParts",
    "LiveDriver",
    "LiveVenue",
    "MarketFeed",
    "Metrics",
    "NoMetrics",
    "OrderLookup",
    "SimulatedVenue",
    "Store",
    "Venue",
]


@runtime_checkable
class Venue(Protocol):
    """An asynchronous venue (broker or exchange) connection.

    ``submit`` is idempotent by ``client_order_id`` and never raises for a refusal: a refused
    order comes back with status ``rejected`` and a reason. ``fills()`` iterates over every fill
    of the session in order, then follows new ones as they happen; each fill carries its
    ``fill_id``.

    Every call is a network round trip that may never answer: callers bound each with a
    timeout, and treat a submit or cancel that timed out as an ambiguous outcome (the order may
    or may not be working), never as a refusal. A venue that can say what became of an order
    also implements :class:`OrderLookup` (``order(client_order_id)``); callers use it to settle
    an ambiguous outcome, and fall back to ``open_orders``, ``positions`` and the fill history
    (reconciliation) for a venue without it.
    """

    async def submit(self, order: Order) -> Order:
        """Send ``order``; return its state as the venue knows it after submission."""
        ...

    async def cancel(self, client_order_id: str) -> Order:
        """Cancel a working order; return its final state (unchanged if already final)."""
        ...

    async def cancel_all(self, symbol: str | None = None) -> list[Order]:
        """Cancel every working order, or those of ``symbol``; return the cancelled orders."""
        ...

    async def positions(self) -> dict[str, Position]:
        """Every open (non-zero) position by symbol."""
        ...

    async def balance(self) -> float:
        """Cash, in quote currency."""
        ...

    async def open_orders(self) -> list[Order]:
        """Working orders, in submission order."""
        ...

    def fills(self, *, follow: bool = True) -> AsyncIterator[Fill]:
        """Every fill of the session, in order, then (with ``follow``) new fills as they
        happen; ``follow=False`` ends after the fills so far."""
        ...

    @property
    def capabilities(self) -> Capabilities:
        """The order types, shorting and fractional-quantity support of this venue."""
        ...


@runtime_checkable
class OrderLookup(Protocol):
    """The optional part of :class:`Venue`: what became of an order, asked by its client order
    id. A live venue answers asynchronously (``order`` returns an awaitable, a network round
    trip); the paper venue answers at once (``order`` returns the :class:`Order`). Callers
    accept both.

    Raises :class:`riskguard.RiskError` (or returns an awaitable that raises it) for an id the
    venue has never seen: the order never reached it. Any other exception, or no answer, says
    nothing about the order.
    """

    def order(self, client_order_id: str) -> Order | Awaitable[Order]:
        """The order's current state as the venue knows it."""
        ...


@runtime_checkable
class LiveVenue(Venue, Protocol):
    """The optional part of a :class:`Venue` with a market of its own (riskguard's live
    venues): ``start`` connects it (markets, streams; idempotent), ``aclose`` disconnects it,
    and ``on_resync``, when set, is called after each reconnection's REST resync, so that the
    positions are reconciled before the stream is trusted again. A Guard starts such a venue
    before it reads it, sets ``on_resync`` once started, and closes a venue it composed."""

    on_resync: Callable[[], None] | None

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class SimulatedVenue(Venue, Protocol):
    """A venue whose market is the data fed to it (the paper venue). A Guard forwards every
    tick and bar to it and applies its fills before the next one, so a replay is
    deterministic."""

    def on_tick(self, symbol: str, price: float, ts: int, volume: float | None = None) -> None:
        """A trade at ``price`` at ``ts`` (ns, never decreasing)."""
        ...

    def on_bar(
        self,
        symbol: str,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        ts: int,
    ) -> None:
        """One OHLC bar opening at ``ts``."""
        ...

    def fills_after(self, n: int) -> list[Fill]:
        """The fills after the first ``n``, in order (empty when there are none)."""
        ...


@runtime_checkable
class Driver(Protocol):
    """How a Guard's market data and its venue's fills meet: chosen when the Guard is composed,
    so that the Guard never asks what kind of venue it has.

    A live venue has a market of its own (:data:`LIVE`): ``replay`` is false, ``on_tick`` and
    ``on_bar`` return no fills (the venue streams them through ``Venue.fills``), and the data's
    time is the wall clock's. A simulated venue's market is the data fed to the Guard (a
    backtest, the demo: the simulation driver of :mod:`riskguard.venues.paper`): ``replay`` is
    true; each tick and bar is forwarded to the venue and the fills it makes are returned, to be
    applied in the same step; each market event waits for the orders it called for, so that a
    replay is deterministic; and the wall clock says nothing about the data's time.
    """

    @property
    def replay(self) -> bool:
        """True when the venue's market is the data fed to the Guard."""
        ...

    def start(self, seen: int) -> None:
        """The venue's first ``seen`` fills were applied when the Guard started."""
        ...

    def on_tick(self, symbol: str, price: float, ts: int) -> Sequence[Fill]:
        """The venue's new fills once it has seen this trade (none for a live venue)."""
        ...

    def on_bar(
        self,
        symbol: str,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        ts: int,
    ) -> Sequence[Fill]:
        """The venue's new fills once it has seen this bar (none for a live venue)."""
        ...


class LiveDriver:
    """The :class:`Driver` of a venue with a market of its own: it forwards nothing, and the
    fills come through the venue's stream."""

    replay = False

    def start(self, seen: int) -> None:
        return None

    def on_tick(self, symbol: str, price: float, ts: int) -> Sequence[Fill]:
        return ()

    def on_bar(
        self,
        symbol: str,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        ts: int,
    ) -> Sequence[Fill]:
        return ()


LIVE = LiveDriver()
"""The driver of every live venue (it holds no state)."""


@runtime_checkable
class MarketFeed(Protocol):
    """Market data: an asynchronous iterator of :class:`Tick` and :class:`Bar` records, in
    non-decreasing ``ts`` order per symbol. It ends when the data does (a replay) and otherwise
    follows the market until closed."""

    def __aiter__(self) -> AsyncIterator[Tick | Bar]:
        """Iterate over the ticks and bars."""
        ...


@runtime_checkable
class ControlChannel(Protocol):
    """Control actions (kill, pause, resume, reset) sent from outside the process (the CLI,
    the API). A control is pending until a ``Store.write(handled=...)`` records it as applied;
    ``wait_for_control`` blocks (in a thread) until one may be pending or ``timeout`` seconds
    pass. Raises JournalError when the channel cannot be read."""

    def pending_controls(self) -> list[Control]:
        """The control actions not yet applied, oldest first."""
        ...

    def wait_for_control(self, timeout: float) -> bool:
        """True as soon as a control may be pending, False at the timeout."""
        ...


@runtime_checkable
class Store(ControlChannel, Protocol):
    """What the Guard needs of its journal: one durable, write-ahead store with one writer.

    ``write`` commits everything given in ONE transaction (all or none survives a crash) and
    returns the snapshot's id when one is given. Rows are those of :mod:`riskguard.model.rows`.
    The writer holds an exclusive lease (``acquire_lease``/``release_lease``), checked on
    every commit (fencing). ``failure`` is ``(what failed, wall-clock ns)`` while a write
    fault lasts, else None. ``batched`` means writes are batched rather than committed one by
    one (a backtest); ``dialect`` names the database (``"sqlite"``, ``"postgresql"``) for
    display only: the Guard never branches on it. Raises JournalError on any failure,
    and LeaseHeld (:mod:`riskguard.errors`) when another writer holds the lease.
    """

    @property
    def batched(self) -> bool: ...

    @property
    def dialect(self) -> str: ...

    @property
    def failure(self) -> tuple[str, int] | None: ...

    def restore(self) -> RiskEngine | None:
        """The engine of the latest snapshot, or None for a fresh journal."""
        ...

    def write(
        self,
        *,
        snapshot: RiskEngine | None = None,
        events: Iterable[Event] = (),
        orders: Sequence[dict[str, Any]] = (),
        fills: Sequence[dict[str, Any]] = (),
        trades: Sequence[Trade] = (),
        decisions: Sequence[tuple[Decision, int, Signal | None]] = (),
        controls: Sequence[dict[str, Any]] = (),
        handled: Sequence[tuple[int, int]] = (),
    ) -> int | None:
        """Commit all of it in one transaction."""
        ...

    def record_decision(
        self, decision: Decision, ts: int, signal: Signal | None = None, *, durable: bool = False
    ) -> Any:
        """Queue (or with ``durable``, commit) one decision; returns a future."""
        ...

    def record_trades(self, items: Sequence[Trade]) -> None: ...

    def save_snapshot(self, engine: RiskEngine) -> int: ...

    def orders(self, after_id: int = 0) -> list[dict[str, Any]]:
        """The order rows after ``after_id``, in order."""
        ...

    def fills(self, after_id: int = 0) -> list[dict[str, Any]]:
        """The fill rows after ``after_id``, in order."""
        ...

    def acquire_lease(self, holder: str) -> int:
        """Take the writer's lease for ``holder``; returns its epoch."""
        ...

    def release_lease(self) -> None: ...

    def lease_state(self) -> str:
        """``"held"``, ``"lost"`` or ``"none"``."""
        ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class AlertSink(Protocol):
    """Where the Guard's alerts go (the dispatcher of :mod:`riskguard.alerts`). ``notify``
    queues an alert (:class:`riskguard.model.Alert`) and returns at once, never raising for a
    delivery failure; ``start`` starts delivery in the running loop; ``aclose`` delivers what
    is queued (waiting at most ``timeout`` seconds) and stops."""

    def notify(self, alert: Any) -> bool: ...

    async def start(self) -> Any: ...

    async def aclose(self, timeout: float | None = 10.0) -> None: ...

    def sink_names(self) -> list[str]: ...


@runtime_checkable
class Metrics(Protocol):
    """Counters and gauges the Guard may report (names are dotted, lower case, e.g.
    ``guard.orders_sent``; labels are short strings). Implementations must never raise nor
    block: a metric is never worth a missed tick. :class:`NoMetrics` does nothing."""

    def count(self, name: str, value: float = 1.0, **labels: str) -> None: ...

    def gauge(self, name: str, value: float, **labels: str) -> None: ...


class NoMetrics:
    """The :class:`Metrics` that records nothing."""

    def count(self, name: str, value: float = 1.0, **labels: str) -> None:
        return None

    def gauge(self, name: str, value: float, **labels: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class GuardParts:
    """What a Guard is composed of (``riskguard.Config.compose`` builds it): its settings, its
    venue, store and alert sink, the :class:`Driver` between its data and its venue, and whether
    it closes the store, the alert sink and the venue it was given (those it was not given, it
    created; a venue is closed when it has ``aclose``)."""

    settings: GuardSettings
    venue: Venue
    store: Store
    alerts: AlertSink
    driver: Driver
    owns_store: bool
    owns_alerts: bool
    owns_venue: bool = False
