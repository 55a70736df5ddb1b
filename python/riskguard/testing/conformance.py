"""The conformance suite every :class:`riskguard.ports.Venue` must pass, run through each venue's
real client library against the fake venue (:mod:`riskguard.testing.fake`), and against the
paper venue for the cases that need no fault.

``async with harness("binanceusdm") as h:`` gives a started venue on a fresh fake exchange; each
case of :data:`CASES` is an ``async def case(h)`` that raises ``AssertionError`` when the venue
breaks the contract. ``await check(venue, case)`` runs one case in its own harness. A venue of
one's own is checked by building a :class:`Harness` around it.

The cases (DESIGN.md: "faults are tested, not only inputs"):

- ``orders``: a market order fills once; resubmitting its client order id sends nothing and
  answers the first order; a resting limit cancels; positions equal the fills;
- ``late_answer``: an order accepted but answered after the timeout is an ambiguous outcome,
  found by its client order id, filled once;
- ``accepted_then_504``: the same, answered with a 504;
- ``rate_limit_storm``: 429s with ``Retry-After`` are waited out, the venue's pace honoured,
  no order lost or doubled;
- ``dropped_user_stream``: fills made while the user stream was down are all there after it
  reconnects, and positions equal the venue's;
- ``duplicated_events``: user-stream events delivered twice and out of order apply once;
- ``partial_fills``: the parts of an order are distinct fills that add up to it;
- ``kill_flattens``: working orders cancelled and positions closed, flat on the venue, within
  5 s;
- ``stale_feed``: a silent market stream is reported stale, and recovers by itself;
- ``rounding``: quantities and prices are rounded toward less risk; an order below the
  minimum is refused before it leaves;
- ``secrets``: no key or secret in any error, log line or repr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from riskguard.errors import AmbiguousOutcome, AuthFailed, RateLimited, VenueError
from riskguard.model.orders import Order, OrderStatus

__all__ = ["CASES", "FAULTED", "MARKETS", "VENUES", "Harness", "Market", "check", "harness"]

VENUES = ("paper", "binance", "binanceusdm", "kucoinfutures", "bingx", "alpaca")
"""Every venue riskguard ships, by ``[broker] type``."""

KEY, SECRET, PASSWORD = "rg-test-key-7f3a", "rg-test-secret-c91d0e", "rg-test-pass-55b2"


@dataclass(frozen=True)
class Market:
    """One venue's fake market: its venue id, riskguard symbol, kind, steps and price."""

    market_id: str
    symbol: str
    kind: str
    tick: float
    lot: float
    min_notional: float
    price: float
    contract_size: float = 1.0


MARKETS = {  # each live venue's market in the fake venue
    "binance": Market("BTCUSDT", "BTC/USDT", "spot", 0.01, 0.00001, 5.0, 50_000.0),
    "binanceusdm": Market("BTCUSDT", "BTC/USDT:USDT", "swap", 0.1, 0.001, 100.0, 50_000.0),
    "kucoinfutures": Market(
        "XBTUSDTM", "BTC/USDT:USDT", "swap", 0.1, 1.0, 0.0, 50_000.0, contract_size=0.001
    ),
    "bingx": Market("BTC-USDT", "BTC/USDT:USDT", "swap", 0.1, 0.0001, 2.0, 50_000.0),
    "alpaca": Market("AAPL", "AAPL", "spot", 0.01, 0.0001, 1.0, 200.0),
}


@dataclass
class Harness:
    """A started venue and what drives its market: ``move(price)`` trades the market there
    (the fake exchange, or a tick fed to the paper venue); ``exchange``, ``fake`` and
    ``dialect`` are the fake venue's parts (None for the paper venue); ``alerts`` collects the
    venue's alerts; ``unit`` is a quantity comfortably above the minimums."""

    name: str
    venue: Any
    symbol: str
    price: float
    unit: float
    exchange: Any = None
    fake: Any = None
    dialect: Any = None
    market_id: str = ""
    alerts: list[tuple[str, str, str, str]] = field(default_factory=list)
    ts: int = 1_700_000_000_000_000_000

    @property
    def faults(self) -> Any:
        return self.fake.faults

    async def move(self, price: float) -> None:
        """The market trades at ``price``."""
        self.price = price
        if self.exchange is not None:
            self.exchange.set_price(self.market_id, price)
            await asyncio.sleep(0.05)
        else:
            self.ts += 1_000_000_000
            self.venue.on_tick(self.symbol, price, self.ts)

    async def until(self, what: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
        """Waits until ``what()`` is true. Raises AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not await what():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: not true within {timeout:g} s: {what}")
            await asyncio.sleep(0.05)

    async def fills(self) -> list[Any]:
        return [f async for f in self.venue.fills(follow=False)]

    def trades(self) -> list[Any]:
        """The fake exchange's executions of this market."""
        return self.exchange.my_trades(self.market_id)

    def fill_ids(self) -> set[str]:
        """The fill ids the venue reports for the fake exchange's executions (its trade ids,
        or what the dialect says the venue calls them)."""
        name = getattr(self.dialect, "fill_id", None) or (lambda t: str(t.trade_id))
        return {name(t) for t in self.trades()}


@contextlib.asynccontextmanager
async def harness(
    name: str,
    *,
    api_key: str = KEY,
    secret: str = SECRET,
    call_timeout_s: float = 2.0,
    stale_feed_s: float = 30.0,
) -> AsyncIterator[Harness]:
    """A started venue ``name`` (one of :data:`VENUES`) on a fresh fake exchange with 100,000
    of quote cash, or a fresh paper venue. Its credentials are ``api_key``/``secret`` (the
    fake venue knows :data:`KEY`/:data:`SECRET` only)."""
    if name == "paper":
        from riskguard.venues.paper import PaperBroker

        venue = PaperBroker(100_000.0, allow_short=True)
        h = Harness(name, venue, "BTC/USDT", 50_000.0, 0.01)
        venue.on_tick(h.symbol, h.price, h.ts)
        yield h
        return
    from riskguard.model.venue import VenueSettings
    from riskguard.testing.fake import FakeVenue, dialect, exchange_for

    setup = MARKETS[name]
    exchange = exchange_for(
        setup.market_id,
        setup.kind,
        tick=setup.tick,
        lot=setup.lot,
        min_notional=setup.min_notional,
        price=setup.price,
        contract_size=setup.contract_size,
    )
    fake_dialect = dialect(name, exchange, api_key=KEY, secret=SECRET, password=PASSWORD)
    with FakeVenue([fake_dialect]) as fake:
        settings = VenueSettings(
            name,
            api_key=api_key,
            secret=secret,
            password=PASSWORD,
            symbols=(setup.symbol,),
            base_url=fake.base_url(name),
            ws_url=fake.ws_url(name),
            call_timeout_s=call_timeout_s,
            stale_feed_s=stale_feed_s,
            dead_man_s=None,
        )
        h = Harness(
            name,
            None,
            setup.symbol,
            setup.price,
            max(setup.lot * setup.contract_size * 20, 3 * setup.min_notional / setup.price),
            exchange,
            fake,
            fake_dialect,
            setup.market_id,
        )
        h.venue = _live_venue(settings, lambda *a: h.alerts.append(a))
        try:
            yield h
        finally:
            await h.venue.aclose()


def _live_venue(settings: Any, alerts: Callable[..., None]) -> Any:
    if settings.type == "alpaca":
        from riskguard.venues.alpaca import AlpacaVenue

        return AlpacaVenue(settings, alerts=alerts)
    from riskguard.venues import ccxt

    cls = {
        "binance": ccxt.Binance,
        "binanceusdm": ccxt.BinanceUsdm,
        "kucoinfutures": ccxt.KucoinFutures,
        "bingx": ccxt.Bingx,
    }[settings.type]
    return cls(settings, alerts=alerts)


async def _start(h: Harness) -> None:
    if h.exchange is not None:
        await h.venue.start()

        async def priced() -> bool:
            # A first trade on the market stream, once it is subscribed.
            await h.move(h.price)
            last = getattr(h.venue, "last_price", None)
            return last is None or last(h.symbol) is not None

        await h.until(priced)


def _lots(h: Harness, n: float) -> float:
    inst = getattr(h.venue, "instruments", {}).get(h.symbol)
    return inst.round_qty(h.unit * n) if inst is not None else h.unit * n


def _filled(trades: list[Any], h: Harness) -> float:
    """Base units the fake exchange executed, signed."""
    size = h.exchange.markets[h.market_id].contract_size
    return sum(t.qty * size * (1 if t.order.side == "buy" else -1) for t in trades)


# -- the cases ------------------------------------------------------------------------------------


async def orders(h: Harness) -> None:
    await _start(h)
    qty = _lots(h, 1)
    first = await h.venue.submit(Order(h.symbol, qty, client_order_id="conf-mkt-1"))
    assert first.status in (OrderStatus.NEW, OrderStatus.FILLED), first
    await h.move(h.price)
    await h.until(lambda: _has_fills(h, 1))
    sent = h.faults.count("create") if h.fake else None
    again = await h.venue.submit(Order(h.symbol, qty, client_order_id="conf-mkt-1"))
    assert again.client_order_id == "conf-mkt-1" and again.status is OrderStatus.FILLED, again
    if h.fake:
        assert h.faults.count("create") == sent, "a resubmitted client order id was sent again"
        assert math.isclose(_filled(h.trades(), h), qty, rel_tol=1e-9), h.trades()
    fills = await h.fills()
    assert len(fills) == 1 and math.isclose(fills[0].qty, qty, rel_tol=1e-9), fills
    assert len({f.fill_id for f in fills}) == len(fills)
    resting = await h.venue.submit(
        Order(h.symbol, qty, "limit", limit_price=h.price * 0.8, client_order_id="conf-lmt-1")
    )
    assert resting.is_open, resting
    assert "conf-lmt-1" in {o.client_order_id for o in await h.venue.open_orders()}
    cancelled = await h.venue.cancel("conf-lmt-1")
    assert cancelled.status is OrderStatus.CANCELLED, cancelled
    assert "conf-lmt-1" not in {o.client_order_id for o in await h.venue.open_orders()}
    held = await h.venue.positions()
    assert math.isclose(held[h.symbol].qty, qty, rel_tol=1e-6), held


async def _has_fills(h: Harness, n: int) -> bool:
    return len(await h.fills()) >= n


async def late_answer(h: Harness) -> None:
    await _start(h)
    qty = _lots(h, 1)
    h.faults.stall("create", h.venue.settings.call_timeout_s + 1.0, execute=True)
    order = Order(h.symbol, qty, client_order_id="conf-late-1")
    try:
        await h.venue.submit(order)
    except AmbiguousOutcome:
        pass
    else:
        raise AssertionError("an answer after the timeout must be an ambiguous outcome")
    await h.until(lambda: _state_is(h, "conf-late-1", OrderStatus.FILLED))
    again = await h.venue.submit(order)  # a caller retrying: looked up, never sent twice
    assert again.status is OrderStatus.FILLED, again
    await h.until(lambda: _has_fills(h, 1))
    assert math.isclose(_filled(h.trades(), h), qty, rel_tol=1e-9), "filled more than once"
    assert h.faults.count("create") == 1


async def _state_is(h: Harness, cid: str, status: OrderStatus) -> bool:
    with contextlib.suppress(VenueError):
        return (await h.venue.order(cid)).status is status
    return False


async def accepted_then_504(h: Harness) -> None:
    await _start(h)
    qty = _lots(h, 1)
    h.faults.fail("create", 504, execute=True, body="<html>504 Gateway Time-out</html>")
    order = Order(h.symbol, qty, client_order_id="conf-504-1")
    with contextlib.suppress(AmbiguousOutcome):
        answer = await h.venue.submit(order)
        assert answer.status is not OrderStatus.REJECTED, f"accepted, then a 504: {answer}"
    again = await h.venue.submit(order)  # a caller retrying: looked up, never sent twice
    assert again.status is not OrderStatus.REJECTED, again
    await h.until(lambda: _state_is(h, "conf-504-1", OrderStatus.FILLED))
    await h.until(lambda: _has_fills(h, 1))
    assert h.faults.count("create") == 1
    assert math.isclose(_filled(h.trades(), h), qty, rel_tol=1e-9), "filled more than once"


async def rate_limit_storm(h: Harness) -> None:
    await _start(h)
    qty = _lots(h, 1)
    h.faults.fail("balance", 429, times=2, headers={"Retry-After": "1"})
    h.faults.fail("create", 429, times=2, headers={"Retry-After": "1"})
    refused = 0
    for _ in range(10):
        try:
            await h.venue.balance()
            break
        except RateLimited:
            refused += 1
    assert refused <= 2
    answer = None
    for _ in range(10):
        try:
            answer = await h.venue.submit(Order(h.symbol, qty, client_order_id="conf-429-1"))
            break
        except RateLimited as e:
            assert e.retry_after is None or e.retry_after >= 0
    assert answer is not None and answer.status is not OrderStatus.REJECTED, answer
    await h.until(lambda: _has_fills(h, 1))
    assert math.isclose(_filled(h.trades(), h), qty, rel_tol=1e-9), "an order lost or doubled"
    # After each 429 the venue's Retry-After was honoured before the next call.
    log = h.faults.log
    storms = [t for op, t in log if op in ("balance", "create")]
    assert len(storms) >= 4
    gaps = [b - a for a, b in zip(storms, storms[1:], strict=False)]
    assert max(gaps) >= 0.9, f"Retry-After not honoured: gaps {gaps}"


async def dropped_user_stream(h: Harness) -> None:
    await _start(h)
    qty = _lots(h, 1)
    await h.venue.submit(Order(h.symbol, qty, client_order_id="conf-drop-1"))
    await h.until(lambda: _has_fills(h, 1))
    h.dialect.drop_sockets(user=True)
    for i in (2, 3):
        await h.venue.submit(Order(h.symbol, qty, client_order_id=f"conf-drop-{i}"))
    await h.until(_executed(h, 3 * qty))
    ids = h.fill_ids()
    await h.until(lambda: _fill_ids(h, ids), timeout=20.0)
    held = await h.venue.positions()
    assert math.isclose(held[h.symbol].qty, _filled(h.trades(), h), rel_tol=1e-6), held


def _executed(h: Harness, qty: float) -> Callable[[], Awaitable[bool]]:
    """True once the fake exchange executed ``qty`` (base units, signed) in all."""

    async def check() -> bool:
        return math.isclose(_filled(h.trades(), h), qty, rel_tol=1e-9)

    return check


async def _fill_ids(h: Harness, ids: set[str]) -> bool:
    fills = await h.fills()
    seen = [f.fill_id for f in fills]
    assert len(seen) == len(set(seen)), f"a fill applied twice: {seen}"
    return ids <= set(seen)


async def duplicated_events(h: Harness) -> None:
    await _start(h)
    qty = _lots(h, 1)
    h.faults.duplicate_events = 4
    h.faults.reorder_events = 1
    for i in (1, 2):
        await h.venue.submit(Order(h.symbol, qty, client_order_id=f"conf-dup-{i}"))
    await h.until(_executed(h, 2 * qty))
    ids = h.fill_ids()
    await h.until(lambda: _fill_ids(h, ids), timeout=10.0)
    assert len(await h.fills()) == len(ids)
    for i in (1, 2):
        assert (await h.venue.order(f"conf-dup-{i}")).status is OrderStatus.FILLED


async def partial_fills(h: Harness) -> None:
    await _start(h)
    qty = _lots(h, 3)
    h.exchange.script.partial.append(3)
    await h.venue.submit(Order(h.symbol, qty, client_order_id="conf-part-1"))
    await h.until(lambda: _has_fills(h, 3))
    fills = [f for f in await h.fills() if f.client_order_id == "conf-part-1"]
    assert len(fills) == 3 and len({f.fill_id for f in fills}) == 3, fills
    assert math.isclose(sum(f.qty for f in fills), qty, rel_tol=1e-9), fills


async def kill_flattens(h: Harness) -> None:
    await _start(h)
    qty = _lots(h, 2)
    await h.venue.submit(Order(h.symbol, qty, client_order_id="conf-kill-1"))
    await h.venue.submit(
        Order(
            h.symbol, _lots(h, 1), "limit", limit_price=h.price * 0.8, client_order_id="conf-kill-2"
        )
    )
    await h.until(lambda: _has_fills(h, 1))
    left = await asyncio.wait_for(h.venue.flatten(), 5.0)
    assert left == {}, f"still held after the kill: {left}"
    assert not h.exchange.open_orders(h.market_id), h.exchange.open_orders(h.market_id)
    assert abs(_filled(h.trades(), h)) < _lots(h, 1) / 10, "not flat on the venue"


async def stale_feed(h: Harness) -> None:
    await _start(h)
    h.faults.silent = True
    await h.until(_stale(h, True), timeout=10.0)
    assert any(a[0] == "stale_feed" for a in h.alerts), h.alerts
    h.faults.silent = False
    await h.move(h.price * 1.001)
    await h.until(_stale(h, False), timeout=10.0)


def _stale(h: Harness, want: bool) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(h.venue.health.check()) is want

    return check


async def rounding(h: Harness) -> None:
    await _start(h)
    inst = h.venue.instruments[h.symbol]
    lot = (inst.lot_size or 1.0) * inst.contract_size
    wanted = _lots(h, 1) + lot * 0.7
    order = await h.venue.submit(Order(h.symbol, wanted, client_order_id="conf-rnd-1"))
    assert order.qty <= wanted and math.isclose(order.qty, wanted - lot * 0.7, rel_tol=1e-9)
    short = await h.venue.submit(Order(h.symbol, -wanted * 0.5, client_order_id="conf-rnd-s"))
    assert abs(short.qty) <= wanted * 0.5 + 1e-12, short
    tick = inst.tick_size or 0.01
    buy = await h.venue.submit(
        Order(
            h.symbol,
            _lots(h, 1),
            "limit",
            limit_price=h.price * 0.9 + tick * 0.5,
            client_order_id="conf-rnd-2",
        )
    )
    assert buy.limit_price is not None and buy.limit_price <= h.price * 0.9 + tick * 0.5
    sell = await h.venue.submit(
        Order(
            h.symbol,
            -_lots(h, 1) * 0.5,
            "limit",
            limit_price=h.price * 1.1 + tick * 0.5,
            client_order_id="conf-rnd-3",
        )
    )
    assert sell.limit_price is not None and sell.limit_price >= h.price * 1.1 + tick * 0.5
    sent = h.faults.count("create")
    tiny = await h.venue.submit(Order(h.symbol, lot * 0.4, client_order_id="conf-rnd-4"))
    assert tiny.status is OrderStatus.REJECTED and tiny.reason.startswith("BELOW_MIN"), tiny
    assert h.faults.count("create") == sent, "an order below the minimum left"


async def secrets(h: Harness) -> None:
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Collect(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.DEBUG)
    try:
        wrong = "rg-wrong-secret-0a9b8c"
        settings = type(h.venue.settings)(
            h.name,
            api_key=KEY,
            secret=wrong,
            password=PASSWORD,
            symbols=(h.symbol,),
            base_url=h.fake.base_url(h.name),
            ws_url=h.fake.ws_url(h.name),
            call_timeout_s=2.0,
            dead_man_s=None,
        )
        venue = _live_venue(settings, lambda *a: records.append(" ".join(a)))
        error: BaseException | None = None
        try:
            await venue.start()
            await venue.balance()
        except VenueError as e:
            error = e
        finally:
            await venue.aclose()
        assert isinstance(error, AuthFailed), f"a refused key must raise AuthFailed: {error!r}"
        shown = [str(error), repr(error), repr(venue), repr(settings), *records]
        for text in shown:
            for secret in (wrong, PASSWORD, SECRET):
                assert secret not in text, f"a secret printed: {text[:200]}"
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


CASES: dict[str, Callable[[Harness], Awaitable[None]]] = {
    "orders": orders,
    "late_answer": late_answer,
    "accepted_then_504": accepted_then_504,
    "rate_limit_storm": rate_limit_storm,
    "dropped_user_stream": dropped_user_stream,
    "duplicated_events": duplicated_events,
    "partial_fills": partial_fills,
    "kill_flattens": kill_flattens,
    "stale_feed": stale_feed,
    "rounding": rounding,
    "secrets": secrets,
}
"""Every case, by name."""

FAULTED = frozenset(CASES) - {"orders"}
"""The cases that need the fake venue (its faults, its exchange): not run on the paper venue."""


async def check(venue: str, case: str, **options: Any) -> None:
    """Runs ``case`` on a fresh harness of ``venue``. Raises AssertionError: the venue fails."""
    async with harness(venue, stale_feed_s=1.0 if case == "stale_feed" else 30.0, **options) as h:
        await CASES[case](h)
