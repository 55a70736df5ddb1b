"""asv benchmarks for a live venue against the fake venue on 127.0.0.1 (``riskguard.testing.fake``):
an order's round trip through riskguard's Binance USD-M venue and through the bare ccxt.pro
client, and public trades from the WebSocket market stream into a Guard and into the bare
client's ``watch_trades`` loop.

Each side talks to a fake venue of its own (same build: one ``binanceusdm`` dialect over a fresh
exchange), so that one side's order events and trades never reach the other side's streams;
both sides and both servers live across all runs, the clients on one long-lived event loop
(``loop.run_until_complete`` per run), each server in its own thread of this process. That
thread shares the GIL: every figure includes the fake venue's own Python (encoding, matching,
sending), alike for both sides.

- Orders: resting limit buys far below the market (nothing fills); before each run every resting
  order is cancelled on the exchange and the venue's user stream has reported the cancels
  (see :meth:`OrderRun.fresh`), so that no run handles another's events. riskguard's venue keeps
  its rate limiter, with room enough that no run waits for it (see :func:`roomy`), and its
  reconciliation timer pushed out of the runs.
- Trades: bursts of :data:`BURST` trades, each sent by one task of the fake venue's loop (see
  :func:`send_burst`), the next when the last one's trades have all been seen. A burst is at
  most ccxt.pro's trade cache (``tradesLimit``, 1,000): more trades arriving between two wake-ups
  of a ``watch_trades`` loop lose the oldest, in the bare client as in riskguard. The same
  trades, as ticks put straight on the venue's feed queue, time the Guard's share alone.

``benches/compare.py`` prints the same work side by side (``venue-*`` rows). Needs ccxt and
aiohttp (``riskguard[testing]``); without them every benchmark here is skipped.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

KEY, SECRET = "bench-key-3c1f", "bench-secret-8e07"
SYMBOL = "BTC/USDT:USDT"  # ccxt's unified symbol of the market
MARKET = "BTCUSDT"  # the venue's own id
TOPIC = "btcusdt@trade"  # the market stream ccxt.pro's watch_trades subscribes to
PRICE = 50_000.0
TICK, LOT = 0.1, 0.001
ORDERS = 200  # orders per run
ORDER_QTY = 0.01  # BTC: 400 USDT at the limit, above the 100 USDT minimum
ORDER_PRICE = 40_000.0  # 20 % below the market: the buy rests and never fills
BURST = 1_000  # trades per burst: ccxt.pro's default tradesLimit (see the module docstring)
BURSTS = 20
TICKS = BURST * BURSTS  # trades per run
WAIT_S = 30.0  # the longest any step may take (bounded waits everywhere)


def unavailable() -> str | None:
    """Why these benchmarks cannot run (a missing client library), or None."""
    for module in ("ccxt", "aiohttp"):
        if importlib.util.find_spec(module) is None:
            return f"{module} not installed"
    return None


def fake_venue() -> tuple[Any, Any, Any]:
    """A started fake venue speaking Binance USD-M over a fresh exchange with one market (BTCUSDT
    at 50,000, steps as the conformance suite's) and a large wallet: (exchange, dialect, venue).
    """
    from riskguard.testing.fake import FakeVenue, dialect, exchange_for

    exchange = exchange_for(
        MARKET, "swap", tick=TICK, lot=LOT, min_notional=100.0, price=PRICE, cash=1e9
    )
    speaker = dialect("binanceusdm", exchange, api_key=KEY, secret=SECRET)
    return exchange, speaker, FakeVenue([speaker]).start()


def bare_client(fake: Any) -> Any:
    """The bare ``ccxt.pro.binanceusdm`` client pointed at ``fake`` as a ccxt user would point
    it: URLs rewritten, ccxt's own rate limiter off, the USD-M markets only."""
    import ccxt.pro
    from riskguard.venues.ccxt.urls import rewrite

    client = ccxt.pro.binanceusdm(
        {
            "apiKey": KEY,
            "secret": SECRET,
            "enableRateLimit": False,
            "options": {
                "defaultType": "future",
                "fetchMarkets": {"types": ["linear"]},
                "fetchCurrencies": False,
            },
        }
    )
    name = "binanceusdm"
    client.urls["api"] = rewrite(client.urls["api"], fake.base_url(name), fake.ws_url(name))
    return client


def roomy(buckets: Mapping[str, Sequence[Any]], factor: float = 1e6) -> dict[str, tuple]:
    """``buckets`` with ``factor`` times the capacity. Every call still takes its tokens and
    reads the venue's usage headers, but no run waits: USD-M's documented 300 orders per 10 s
    would pace 200 orders a run (both sides' runs, back to back), which would time the limit,
    not riskguard's overhead."""
    from riskguard.venues.ratelimit import Bucket

    return {
        kind: tuple(Bucket(b.name, b.capacity * factor, b.window_s, b.headroom) for b in specs)
        for kind, specs in buckets.items()
    }


def settings(fake: Any, **extra: Any) -> Any:
    """The venue settings of riskguard's Binance USD-M venue on ``fake``: no dead-man's switch
    (a countdown call every few seconds), no bars, a feed that is not stale for ten minutes."""
    from riskguard.model.venue import VenueSettings

    name = "binanceusdm"
    values: dict[str, Any] = {
        "api_key": KEY,
        "secret": SECRET,
        "symbols": (SYMBOL,),
        "base_url": fake.base_url(name),
        "ws_url": fake.ws_url(name),
        "call_timeout_s": 5.0,
        "stale_feed_s": 600.0,
        "bar_timeframe": None,
        "dead_man_s": None,
        **extra,
    }
    return VenueSettings(name, **values)


async def until(what: Any, timeout: float = WAIT_S, step: float = 0.005) -> None:
    """Waits until ``what()`` is true. Raises TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true within {timeout:g} s: {what}")
        await asyncio.sleep(step)


# --- orders --------------------------------------------------------------------------------------


class OrderRun:
    """riskguard's started ``BinanceUsdm`` venue and the bare ccxt.pro client, each on its own
    fake venue, on one long-lived event loop. :meth:`fresh` clears both books between runs;
    :meth:`ours` and :meth:`peer` place ``orders`` resting limit buys each."""

    def __init__(self, orders: int = ORDERS) -> None:
        from riskguard.venues.ccxt import BinanceUsdm

        self.orders = orders
        self.loop = asyncio.new_event_loop()
        self.exchange, self.speaker, self.fake = fake_venue()
        self.peer_exchange, self.peer_speaker, self.peer_fake = fake_venue()
        self.venue = BinanceUsdm(settings(self.fake))
        self.venue.limiter = type(self.venue.limiter)(self.venue.name, roomy(self.venue.buckets))
        # The venue looks up each working order it sent every reconcile_orders_s (5 s): with
        # 200 resting orders that is 200 lookups in the middle of a run. Pushed out of the runs.
        self.venue.reconcile_orders_s = 3_600.0
        self.client = bare_client(self.peer_fake)
        self._ids = itertools.count()
        self.placed: dict[str, list[str]] = {"ours": [], "peer": []}  # the last run's ids
        self.loop.run_until_complete(self._start())

    async def _start(self) -> None:
        await asyncio.wait_for(self.venue.start(), WAIT_S)
        await asyncio.wait_for(self.client.load_markets(), WAIT_S)

    def fresh(self) -> OrderRun:
        """Cancels every resting order on both exchanges (outside the timer) and waits until
        the venue's user stream has reported the cancels, so that a run handles no other run's
        events. ccxt.pro resolves a watch only on a message that finds one waiting: the last
        update of a burst can stay in its cache until the next message, so the wait ends when
        every order is closed or the count of open ones has not moved for 50 ms."""
        self.exchange.cancel_all()
        self.peer_exchange.cancel_all()
        states = self.venue.states.orders

        async def quiet() -> None:
            deadline = time.monotonic() + WAIT_S
            last, since = -1, time.monotonic()
            while True:
                n = sum(1 for o in states.values() if o.is_open)
                now = time.monotonic()
                if n == 0 or (n == last and now - since > 0.05):
                    return
                if n != last:
                    last, since = n, now
                if now > deadline:
                    raise TimeoutError(f"{n} orders still open after {WAIT_S:g} s")
                await asyncio.sleep(0.005)

        self.loop.run_until_complete(quiet())
        return self

    def booked(self, side: str) -> list[tuple[str, str, str, float, float | None, float]]:
        """The last run's orders of ``side`` as its fake exchange holds them, in the order
        placed: (client id sent, side, type, quantity, limit price, filled)."""
        exchange, speaker = (
            (self.exchange, self.speaker)
            if side == "ours"
            else (self.peer_exchange, self.peer_speaker)
        )
        wanted = set(self.placed[side])
        rows = []
        for o in list(exchange.orders.values()):
            cid = speaker.public_cid(o)
            if cid in wanted:
                rows.append((cid, o.side, o.type, o.qty, o.price, o.filled))
        return rows

    def ids(self, side: str) -> list[str]:
        """Fresh client order ids for one run of ``side``."""
        ids = [f"bench-{side}-{next(self._ids)}" for _ in range(self.orders)]
        self.placed[side] = ids
        return ids

    def ours(self) -> list[Any]:
        """``orders`` limit buys through riskguard's venue, one after the other."""
        from riskguard.model.orders import Order

        ids = self.ids("ours")
        submit = self.venue.submit

        async def run() -> list[Any]:
            out = []
            for cid in ids:
                order = Order(
                    SYMBOL, ORDER_QTY, "limit", limit_price=ORDER_PRICE, client_order_id=cid
                )
                out.append(await submit(order))
            return out

        return self.loop.run_until_complete(asyncio.wait_for(run(), WAIT_S))

    def peer(self) -> list[Any]:
        """The same orders through the bare client's ``create_order``."""
        ids = self.ids("peer")
        create = self.client.create_order

        async def run() -> list[Any]:
            out = []
            for cid in ids:
                params = {"clientOrderId": cid}
                out.append(await create(SYMBOL, "limit", "buy", ORDER_QTY, ORDER_PRICE, params))
            return out

        return self.loop.run_until_complete(asyncio.wait_for(run(), WAIT_S))

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.run_until_complete(self.venue.aclose())
        self.loop.run_until_complete(self.client.close())
        self.loop.close()
        self.fake.stop()
        self.peer_fake.stop()


# --- market stream -------------------------------------------------------------------------------


class Recorder:
    """Keeps the price of every trade it is given; ``done`` is set when it holds ``target``.
    The strategy of the Guard's feed (``on_tick``, no signal) and the bare client's counter:
    both sides do the same per trade."""

    def __init__(self) -> None:
        self.prices: list[float] = []
        self.target = 0
        self.done = asyncio.Event()

    def expect(self, more: int) -> None:
        self.target = len(self.prices) + more
        self.done.clear()

    def add(self, price: float) -> None:
        self.prices.append(price)
        if len(self.prices) >= self.target:
            self.done.set()

    def on_tick(self, tick: Any) -> None:
        self.add(tick.price)


def trade_texts(n: int, first_id: int) -> tuple[list[str], list[float]]:
    """``n`` public USD-M trades as the venue sends them (``<symbol>@trade``), JSON-encoded,
    stamped now, with prices that step through 20 ticks; and their prices."""
    ms = int(time.time() * 1000)
    prices = [round(PRICE + TICK * (i % 20), 1) for i in range(n)]
    texts = [
        json.dumps(
            {
                "e": "trade",
                "E": ms,
                "T": ms,
                "s": MARKET,
                "t": first_id + i,
                "p": f"{p:.8f}",
                "q": f"{LOT:.8f}",
                "X": "MARKET",
                "m": False,
            }
        )
        for i, p in enumerate(prices)
    ]
    return texts, prices


def send_burst(speaker: Any, topic: str, texts: list[str]) -> None:
    """Sends the encoded ``texts`` to ``speaker``'s sockets subscribed to ``topic``, in order,
    from one task of the fake venue's loop. ``Dialect.publish`` encodes each payload and
    schedules one task per message from the calling thread, which in a burst costs the loop
    under test more than the client does; this keeps the sender's share small."""
    loop = speaker.venue.loop
    socks = [s for s in list(speaker.socks) if topic in s.topics and not s.user]

    async def send() -> None:
        for sock in socks:
            for text in texts:
                await sock.ws.send_str(text)

    loop.call_soon_threadsafe(lambda: asyncio.ensure_future(send()))


class StreamRun:
    """A started Guard on riskguard's Binance USD-M venue (composed from ``Config`` as
    ``riskguard run`` composes it), ``guard.run(venue.feed())`` in a task; and the bare ccxt.pro
    client in a ``watch_trades`` loop. Each side has its own fake venue; each run sends
    :data:`BURSTS` bursts of :data:`BURST` trades to one side."""

    def __init__(self, bursts: int = BURSTS, burst: int = BURST) -> None:
        import riskguard as rg

        self.bursts, self.burst = bursts, burst
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="rg-bench-venues-"))
        self.exchange, self.speaker, self.fake = fake_venue()
        self.peer_exchange, self.peer_speaker, self.peer_fake = fake_venue()
        name = "binanceusdm"
        config = rg.Config.load(
            None,
            broker={
                "type": name,
                "symbols": [SYMBOL],
                "base_url": self.fake.base_url(name),
                "ws_url": self.fake.ws_url(name),
                "api_key": KEY,
                "secret": SECRET,
                "dead_man_s": "off",
                "stale_feed_s": 600.0,
            },
            journal={"url": f"sqlite:///{self.dir / 'journal.db'}"},
            alerts={"sinks": [{"type": "log", "path": str(self.dir / "alerts.log")}]},
            guard={"equity": 100_000.0},
        )
        self.guard = rg.Guard(config)
        self.client = bare_client(self.peer_fake)
        self.ours_seen = Recorder()
        self.peer_seen = Recorder()
        self._ids = itertools.count(1_000_000_000, BURST * BURSTS * 2)
        self.sent: list[float] = []  # the prices of the last run's trades
        self._texts: list[str] = []
        self._ticks: list[Any] = []
        self.tasks = self.loop.run_until_complete(self._start())

    @property
    def venue(self) -> Any:
        return self.guard.broker

    async def _start(self) -> list[asyncio.Task[Any]]:
        await asyncio.wait_for(self.guard.start(), WAIT_S)
        await asyncio.wait_for(self.venue.start(), WAIT_S)
        await asyncio.wait_for(self.client.load_markets(), WAIT_S)
        runner = asyncio.create_task(self.guard.run(self.venue.feed(), strategy=self.ours_seen))
        watcher = asyncio.create_task(self._watch())
        # A first trade on each side, once each is subscribed.
        for exchange, seen in (
            (self.exchange, self.ours_seen),
            (self.peer_exchange, self.peer_seen),
        ):
            seen.expect(1)

            def primed(exchange: Any = exchange, seen: Recorder = seen) -> bool:
                exchange.set_price(MARKET, PRICE)
                return seen.done.is_set()

            await until(primed, step=0.05)
        await asyncio.sleep(0.2)  # the priming trades sent more than once are in by now
        return [runner, watcher]

    async def _watch(self) -> None:
        while True:
            for trade in await self.client.watch_trades(SYMBOL):
                self.peer_seen.add(trade["price"])

    def fresh(self) -> StreamRun:
        """Encodes the next run's trades, and makes its ticks for :meth:`guard_only` (outside
        the timer)."""
        from riskguard.model.market import Tick

        self._texts, self.sent = trade_texts(self.bursts * self.burst, next(self._ids))
        now = time.time_ns()
        self._ticks = [Tick(SYMBOL, p, now) for p in self.sent]
        return self

    def _send(self, speaker: Any, seen: Recorder) -> int:
        texts, n = self._texts, self.burst
        start = len(seen.prices)

        async def run() -> None:
            for k in range(0, len(texts), n):
                seen.expect(n)
                send_burst(speaker, TOPIC, texts[k : k + n])
                await asyncio.wait_for(seen.done.wait(), WAIT_S)

        self.loop.run_until_complete(run())
        return len(seen.prices) - start

    def ours(self) -> int:
        """Every burst through the venue's market stream into the Guard; the trades it saw."""
        return self._send(self.speaker, self.ours_seen)

    def peer(self) -> int:
        """Every burst into the bare client's ``watch_trades`` loop; the trades it saw."""
        return self._send(self.peer_speaker, self.peer_seen)

    def guard_only(self) -> int:
        """The run's trades as ticks put on the venue's feed (the queue its trade stream
        fills, as the stream fills it) and taken by ``Guard.run``: the Guard's share of the
        path alone, without WebSocket or ccxt."""
        ticks, feed, seen = self._ticks, self.venue.feed(), self.ours_seen
        start = len(seen.prices)

        async def run() -> None:
            seen.expect(len(ticks))
            for tick in ticks:
                feed.put(tick)
            await asyncio.wait_for(seen.done.wait(), WAIT_S)

        self.loop.run_until_complete(run())
        return len(seen.prices) - start

    def close(self) -> None:
        if self.loop.is_closed():
            return
        for task in self.tasks:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*self.tasks, return_exceptions=True))
        self.loop.run_until_complete(self.guard.aclose())
        self.loop.run_until_complete(self.client.close())
        self.loop.close()
        self.fake.stop()
        self.peer_fake.stop()


# --- asv -----------------------------------------------------------------------------------------


class _Venue:
    """asv's setup and teardown of a venue row: a fresh ``runner`` per benchmark."""

    number = 1
    repeat = 5
    warmup_time = 0.0
    runner: type = object

    def setup(self) -> None:
        if unavailable():
            raise NotImplementedError(unavailable())
        self.run = self.runner()
        self.run.fresh()

    def teardown(self) -> None:
        self.run.close()


class TimeOrderRoundtrip(_Venue):
    """200 resting limit orders through riskguard's Binance USD-M venue, and through the bare
    ccxt.pro client, against the fake venue."""

    runner = OrderRun

    def time_riskguard(self) -> None:
        self.run.ours()

    def time_bare_ccxt(self) -> None:
        self.run.peer()


class TimeStreamToEngine(_Venue):
    """20 bursts of 1,000 trades from the fake venue's market stream into a Guard, into the bare
    ccxt.pro client's ``watch_trades`` loop, and (``guard_only``) straight into the Guard's
    feed."""

    runner = StreamRun

    def time_websocket_to_guard(self) -> None:
        self.run.ours()

    def time_websocket_to_bare_ccxt(self) -> None:
        self.run.peer()

    def time_feed_to_guard(self) -> None:
        self.run.guard_only()
