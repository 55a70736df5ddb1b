"""What every live venue shares, whatever its client library: the session's fills by fill id,
the order states that only move forward, a stream that reconnects with backoff, and the market
feed's health (stale after ``broker.stale_feed_s`` without data).

A helper of the venues room (not a venue): ccxt's and Alpaca's adapters both build on it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from riskguard.model.market import Bar, Tick
from riskguard.model.orders import Fill, Order, OrderStatus

__all__ = ["FeedHealth", "FillLog", "OrderStates", "Reconnecting", "TickQueue"]

log = logging.getLogger("riskguard.venues")

_RANK = {
    OrderStatus.NEW: 0,
    OrderStatus.FILLED: 1,
    OrderStatus.CANCELLED: 1,
    OrderStatus.REJECTED: 1,
}


class FillLog:
    """The fills of a session, each once by ``(symbol, fill_id)``, in the order first seen,
    whether they came from the user stream or from a REST read. :meth:`iterate` is
    ``Venue.fills``: the fills so far, then (with ``follow``) new ones as they come."""

    def __init__(self) -> None:
        self.fills: list[Fill] = []
        self.by_order: dict[str, float] = {}  # client order id -> signed quantity filled
        self._ids: set[tuple[str, str]] = set()
        self._changed = asyncio.Event()

    def add(self, fill: Fill) -> bool:
        """Records ``fill`` unless its id was seen; True when it is new."""
        key = (fill.symbol, fill.fill_id)
        if key in self._ids:
            return False
        self._ids.add(key)
        self.fills.append(fill)
        self.by_order[fill.client_order_id] = (
            self.by_order.get(fill.client_order_id, 0.0) + fill.qty
        )
        self._changed.set()
        return True

    def __len__(self) -> int:
        return len(self.fills)

    def has(self, symbol: str, fill_id: object) -> bool:
        """True when the fill ``fill_id`` of ``symbol`` was recorded."""
        return (symbol, str(fill_id)) in self._ids

    async def iterate(self, *, follow: bool = True) -> AsyncIterator[Fill]:
        i = 0
        while True:
            while i < len(self.fills):
                yield self.fills[i]
                i += 1
            if not follow:
                return
            self._changed.clear()
            if i < len(self.fills):
                continue
            await self._changed.wait()


class OrderStates:
    """The last known state of each order by client order id, moving forward only: a stream
    event older than what is known (a NEW after a FILLED, ccxt.pro's cache replaying an old
    update) never reopens an order, and the filled quantity never goes down."""

    def __init__(self) -> None:
        self.orders: dict[str, Order] = {}

    def update(self, order: Order) -> Order:
        """Merges ``order`` into what is known; returns the state now held."""
        cid = order.client_order_id or ""
        known = self.orders.get(cid)
        if known is not None:
            if _RANK[order.status] < _RANK[known.status]:
                return known
            if abs(order.filled_qty) < abs(known.filled_qty) and not (
                _RANK[order.status] > _RANK[known.status]
            ):
                return known
        self.orders[cid] = order
        return order

    def get(self, cid: str) -> Order | None:
        return self.orders.get(cid)


class FeedHealth:
    """Whether market data flows: ``stale`` once no tick or bar came for ``stale_s`` seconds
    (monotonic ``clock``); ``beat`` on each one. ``on_change(stale, seconds)`` is called once
    per transition."""

    def __init__(
        self,
        stale_s: float,
        on_change: Callable[[bool, float], None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stale_s = stale_s
        self._clock = clock
        self._on_change = on_change
        self.last = clock()
        self.stale = False

    def beat(self) -> None:
        self.last = self._clock()
        if self.stale:
            self.stale = False
            if self._on_change is not None:
                self._on_change(False, 0.0)

    def check(self) -> bool:
        """True while stale; reports the transition once."""
        quiet = self._clock() - self.last
        if not self.stale and quiet >= self.stale_s:
            self.stale = True
            if self._on_change is not None:
                self._on_change(True, quiet)
        return self.stale


class TickQueue:
    """The market data a venue's streams produced, for :class:`riskguard.ports.MarketFeed`:
    ticks and bars in arrival order, bounded by ``maxsize``. When full, an incoming tick is
    dropped (``dropped`` counts them: a Guard that falls behind marks at a newer price
    anyway), and an incoming bar makes room by dropping the oldest record queued."""

    def __init__(self, maxsize: int = 100_000) -> None:
        self._queue: asyncio.Queue[Tick | Bar | None] = asyncio.Queue(maxsize)
        self.dropped = 0

    def put(self, item: Tick | Bar | None) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1
            if isinstance(item, Tick):
                return
            self._queue.get_nowait()
            self._queue.put_nowait(item)

    def get_nowait(self) -> Tick | Bar | None:
        """The next record queued, or None once closed.

        Raises asyncio.QueueEmpty: nothing is queued."""
        return self._queue.get_nowait()

    def close(self) -> None:
        """Ends the iteration after what is queued."""
        self.put(None)

    def __aiter__(self) -> AsyncIterator[Tick | Bar]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Tick | Bar]:
        while True:
            item = await self._queue.get()
            if item is None:
                return
            yield item


class Reconnecting:
    """Runs ``stream`` (a coroutine that reads one socket until it fails) again and again: after
    a failure it waits with exponential backoff and jitter (``backoff`` to ``max_backoff``
    seconds), then runs ``resync`` (reconciliation by REST) before trusting the stream again.
    ``on_error(exception, attempt)`` hears each failure. Stops when cancelled."""

    def __init__(
        self,
        name: str,
        stream: Callable[[], Awaitable[None]],
        *,
        resync: Callable[[], Awaitable[None]] | None = None,
        on_error: Callable[[BaseException, int], None] | None = None,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
        seed: int | None = None,
    ) -> None:
        self.name = name
        self._stream = stream
        self._resync = resync
        self._on_error = on_error
        self._backoff = backoff
        self._max = max_backoff
        self._random = random.Random(seed)
        self.reconnects = 0
        self.task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        self.task = asyncio.create_task(self._run(), name=self.name)
        return self.task

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                if attempt and self._resync is not None:
                    await self._resync()
                await self._stream()
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as e:
                attempt += 1
                if self._on_error is not None:
                    self._on_error(e, attempt)
                else:
                    log.warning("%s failed (attempt %d): %s", self.name, attempt, e)
                delay = min(self._max, self._backoff * 2.0 ** min(attempt - 1, 30))
                await asyncio.sleep(delay * (0.5 + 0.5 * self._random.random()))
                self.reconnects += 1
