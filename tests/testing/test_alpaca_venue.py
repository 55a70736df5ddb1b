"""AlpacaVenue (riskguard.venues.alpaca) driven through the real alpaca-py 0.44 against the fake
venue's Alpaca dialect on 127.0.0.1: instruments and capabilities, orders of every kind,
lookups and cancels, positions and cash, fills applied once whether they come from the
``trade_updates`` stream or from the REST activities, and the faults of issue 16's "client
pitfalls": an order accepted then answered 504, a stalled answer, a 429 storm, a dropped order
stream, rounding toward less risk, and secrets that never print.

Each test runs its own fake venue and venue inside ``asyncio.run`` bounded by ``wait_for``; every
wait for a condition is bounded too."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("alpaca")
pytest.importorskip("aiohttp")

import requests  # noqa: E402
from alpaca.common.exceptions import APIError  # noqa: E402
from riskguard.errors import (  # noqa: E402
    AmbiguousOutcome,
    AuthFailed,
    ConfigError,
    OrderRejected,
    RateLimited,
    UnknownOrder,
    VenueError,
    VenueUnavailable,
)
from riskguard.model.instruments import Instrument  # noqa: E402
from riskguard.model.market import Bar, Tick  # noqa: E402
from riskguard.model.orders import Order, OrderStatus, OrderType, TimeInForce  # noqa: E402
from riskguard.model.venue import VenueSettings  # noqa: E402
from riskguard.testing.fake import Exchange, FakeMarket, FakeVenue  # noqa: E402
from riskguard.testing.fake.dialects.alpaca import Alpaca  # noqa: E402
from riskguard.venues.alpaca import AlpacaVenue  # noqa: E402
from riskguard.venues.alpaca.convert import (  # noqa: E402
    CRYPTO_ORDER_TYPES,
    STOCK_ORDER_TYPES,
    Market,
)
from riskguard.venues.alpaca.errors import (  # noqa: E402
    DuplicateClientOrderId,
    ServerError,
    classify,
)
from riskguard.venues.alpaca.orders import prepare  # noqa: E402

KEY = "AKTEST5D1C0B9E77"
SECRET = "S3cr3t8e7f6a5b4c3d2e"
SYMBOLS = ("AAPL", "XYZ", "BTC/USD")
PRICES = {"AAPL": 100.0, "XYZ": 50.0, "BTC/USD": 50_000.0}


def _markets() -> list[FakeMarket]:
    # Alpaca's own steps: AAPL fractionable (9 decimals), XYZ whole shares, BTC/USD crypto.
    return [
        FakeMarket("AAPL", "AAPL", "USD", tick=0.01, lot=1e-9, min_qty=1e-9, min_notional=1.0),
        FakeMarket("XYZ", "XYZ", "USD", tick=0.01, lot=1.0, min_qty=1.0, min_notional=0.0),
        FakeMarket("BTC/USD", "BTC", "USD", tick=1.0, lot=1e-9, min_qty=0.0001, min_notional=0),
    ]


@dataclass
class Env:
    fake: FakeVenue
    dialect: Alpaca
    exchange: Exchange
    venue: Any = None
    alerts: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def faults(self) -> Any:
        return self.fake.faults

    async def until(self, what: Callable[[], Any], timeout: float = 5.0) -> None:
        """Waits until ``what()`` (or the awaitable it returns) is true, at most ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = what()
            if isinstance(value, Awaitable):
                value = await value
            if value:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout:g} s")
            await asyncio.sleep(0.02)

    async def fills(self) -> list[Any]:
        return [f async for f in self.venue.fills(follow=False)]

    async def priced(self, symbol: str = "AAPL") -> None:
        """Waits until the market stream delivers ``symbol``'s trades (it subscribes after
        ``start``)."""

        async def seen() -> bool:
            self.exchange.set_price(symbol, self.exchange.prices[symbol])
            await asyncio.sleep(0.02)
            return self.venue.last_price(symbol) is not None

        await self.until(seen)


def run(
    body: Callable[[Env], Awaitable[None]],
    *,
    secret: str = SECRET,
    call_timeout_s: float = 1.0,
    stale_feed_s: float = 30.0,
    start: bool = True,
) -> None:
    exchange = Exchange(_markets(), prices=dict(PRICES), taker_fee=0.0, maker_fee=0.0)
    dialect = Alpaca(exchange, api_key=KEY, secret=SECRET)
    with FakeVenue([dialect]) as fake:
        settings = VenueSettings(
            "alpaca",
            api_key=KEY,
            secret=secret,
            symbols=SYMBOLS,
            base_url=fake.base_url("alpaca"),
            ws_url=fake.ws_url("alpaca"),
            call_timeout_s=call_timeout_s,
            stale_feed_s=stale_feed_s,
        )

        async def main() -> None:
            env = Env(fake, dialect, exchange)
            env.venue = AlpacaVenue(settings, alerts=lambda *a: env.alerts.append(a))
            try:
                if start:
                    await env.venue.start()
                await body(env)
            finally:
                await env.venue.aclose()

        asyncio.run(asyncio.wait_for(main(), 25.0))


def _held(env: Env) -> dict[str, float]:
    """What the fake exchange holds, by symbol."""
    return {
        m.id: env.exchange.assets.get(m.base, 0.0)
        for m in env.exchange.markets.values()
        if abs(env.exchange.assets.get(m.base, 0.0)) > 1e-12
    }


# -- start, instruments, capabilities ---------------------------------------------------------


def test_start_loads_instruments_and_capabilities() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        aapl, xyz, btc = (v.instruments[s] for s in SYMBOLS)
        assert (aapl.lot_size, aapl.min_qty, aapl.tick_size, aapl.min_notional) == (
            1e-9,
            1e-9,
            0.01,
            1.0,
        )
        assert aapl.fractional and not aapl.shortable
        assert (xyz.lot_size, xyz.min_qty, xyz.fractional) == (1.0, 1.0, False)
        assert (btc.lot_size, btc.min_qty, btc.tick_size) == (1e-9, 0.0001, 1.0)
        assert v.capabilities_for("AAPL").order_types == STOCK_ORDER_TYPES
        assert v.capabilities_for("BTC/USD").order_types == CRYPTO_ORDER_TYPES
        # one answer for the venue: what every symbol allows
        caps = v.capabilities
        assert caps.order_types == CRYPTO_ORDER_TYPES and OrderType.STOP not in caps.order_types
        assert caps.shorting is False and caps.fractional is False  # XYZ: whole shares
        assert v.order_stream_live
        assert env.faults.count("markets") == 3

    run(body)


def test_unknown_symbol_fails_start_with_a_config_error() -> None:
    async def body(env: Env) -> None:
        s = env.venue.settings
        settings = VenueSettings(
            "alpaca",
            api_key=s.api_key,
            secret=s.secret,
            symbols=("AAPL", "NOPE"),
            base_url=s.base_url,
            ws_url=s.ws_url,
            call_timeout_s=s.call_timeout_s,
        )
        venue = AlpacaVenue(settings)
        try:
            with pytest.raises(ConfigError, match="NOPE: Alpaca has no such asset"):
                await venue.start()
        finally:
            await venue.aclose()

    run(body, start=False)


# -- orders -----------------------------------------------------------------------------------


def test_market_order_fills_once_from_stream_and_rest() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        order = await v.submit(Order("AAPL", 2.5, client_order_id="mkt-1"))
        assert order.status is OrderStatus.FILLED and order.filled_qty == 2.5
        assert order.avg_fill_price == 100.0 and order.client_order_id == "mkt-1"
        await env.until(lambda: _count(env, 1))
        await v.resync()  # the same fill read by REST: still one
        fills = await env.fills()
        assert len(fills) == 1
        fill = fills[0]
        assert (fill.client_order_id, fill.symbol, fill.qty, fill.price) == (
            "mkt-1",
            "AAPL",
            2.5,
            100.0,
        )
        assert fill.fill_id == env.dialect.fill_id(env.exchange.trades[0])
        held = await v.positions()
        assert set(held) == {"AAPL"} and held["AAPL"].qty == 2.5
        assert held["AAPL"].avg_price == 100.0
        assert await v.balance() == pytest.approx(100_000.0 - 250.0)
        assert len(env.exchange.trades) == 1

    run(body)


async def _count(env: Env, n: int) -> bool:
    return len(await env.fills()) >= n


def test_crypto_position_is_named_as_traded() -> None:
    async def body(env: Env) -> None:
        await env.venue.submit(Order("BTC/USD", 0.002, client_order_id="btc-1"))
        held = await env.venue.positions()
        # Alpaca names the position BTCUSD; riskguard keeps its own symbol
        assert set(held) == {"BTC/USD"} and held["BTC/USD"].qty == pytest.approx(0.002)

    run(body)


def test_limit_stop_and_stop_limit_orders_rest_then_fill() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        ex = env.exchange
        limit = await v.submit(Order("XYZ", 2, "limit", limit_price=49.005, client_order_id="l1"))
        assert limit.status is OrderStatus.NEW and limit.limit_price == 49.0
        assert ex.by_client["l1"].price == 49.0
        assert "l1" in {o.client_order_id for o in await v.open_orders()}
        ex.set_price("XYZ", 48.5)
        await env.until(lambda: _count(env, 1))
        assert (await v.order("l1")).status is OrderStatus.FILLED
        stop = await v.submit(Order("XYZ", -2, "stop", stop_price=45.004, client_order_id="s1"))
        assert stop.status is OrderStatus.NEW and stop.stop_price == 45.01  # toward the market
        ex.set_price("XYZ", 46.0)
        assert (await v.order("s1")).status is OrderStatus.NEW
        ex.set_price("XYZ", 45.0)
        await env.until(lambda: _count(env, 2))
        done = await v.order("s1")
        assert done.status is OrderStatus.FILLED and done.filled_qty == -2
        sl = await v.submit(
            Order(
                "BTC/USD",
                0.001,
                "stop_limit",
                stop_price=51_000.4,
                limit_price=51_500.7,
                client_order_id="sl1",
            )
        )
        assert sl.status is OrderStatus.NEW
        assert (ex.by_client["sl1"].stop_price, ex.by_client["sl1"].price) == (51_000.0, 51_500.0)
        ex.set_price("BTC/USD", 51_200.0)
        await env.until(lambda: _count(env, 3))
        assert (await v.order("sl1")).status is OrderStatus.FILLED
        assert await v.positions() == {"BTC/USD": (await v.positions())["BTC/USD"]}

    run(body)


def test_lookup_cancel_and_cancel_all() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        for cid, symbol, qty, price in (
            ("c1", "XYZ", 1, 40.0),
            ("c2", "XYZ", 1, 41.0),
            ("c3", "BTC/USD", 0.001, 40_000.0),
        ):
            await v.submit(Order(symbol, qty, "limit", limit_price=price, client_order_id=cid))
        assert (await v.order("c1")).status is OrderStatus.NEW
        cancelled = await v.cancel("c1")
        assert cancelled.status is OrderStatus.CANCELLED and cancelled.client_order_id == "c1"
        again = await v.cancel("c1")  # already final: Alpaca answers 422, its state is kept
        assert again.status is OrderStatus.CANCELLED
        with pytest.raises(UnknownOrder):
            await v.cancel("never-sent")
        with pytest.raises(UnknownOrder):
            await v.order("never-sent")
        done = await v.cancel_all("BTC/USD")
        assert [o.client_order_id for o in done] == ["c3"]
        assert [o.client_order_id for o in await v.open_orders()] == ["c2"]
        done = await v.cancel_all()
        assert [(o.client_order_id, o.status) for o in done] == [("c2", OrderStatus.CANCELLED)]
        assert await v.open_orders() == [] and env.exchange.open_orders() == []

    run(body)


def test_refusals_come_back_as_rejected_orders() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        cases = [
            (Order("XYZ", 5_000), "INSUFFICIENT_FUNDS"),  # 250,000 USD on 100,000
            (Order("XYZ", -1), "INSUFFICIENT_QTY"),  # a short sale: the fake refuses them
            (Order("MSFT", 1), "UNKNOWN_SYMBOL"),
            (Order("BTC/USD", 0.001, "stop", stop_price=45_000.0), "UNSUPPORTED_ORDER_TYPE"),
            (Order("BTC/USD", 0.001, time_in_force="DAY"), "BAD_TIME_IN_FORCE"),
            (Order("XYZ", -1, reduce_only=True), "REDUCE_ONLY"),
        ]
        for order, code in cases:
            answer = await v.submit(order)
            assert answer.status is OrderStatus.REJECTED, answer
            assert answer.reason.startswith(code), answer.reason
            assert answer.client_order_id  # one was made
        # only the first two reached Alpaca (refused there); the others never left
        assert env.faults.count("create") == 2
        assert env.exchange.orders == {}

    run(body)


def test_reduce_only_is_clipped_to_the_position() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        await v.submit(Order("XYZ", 3, client_order_id="r0"))
        answer = await v.submit(Order("XYZ", -10, reduce_only=True, client_order_id="r1"))
        assert answer.status is OrderStatus.FILLED and answer.qty == -3
        assert await v.positions() == {}

    run(body)


def test_resubmitted_client_order_id_is_looked_up_not_sent() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        first = await v.submit(Order("AAPL", 1, client_order_id="dup-1"))
        again = await v.submit(Order("AAPL", 1, client_order_id="dup-1"))
        assert again.status is OrderStatus.FILLED and again.client_order_id == "dup-1"
        assert first.status is OrderStatus.FILLED
        assert env.faults.count("create") == 1 and len(env.exchange.trades) == 1
        # an id Alpaca knows from elsewhere (another process): its 422 "client_order_id must
        # be unique" is answered with the order it holds, not a rejection
        env.exchange.place("AAPL", "buy", "market", 2.0, client_id="elsewhere")
        other = await v.submit(Order("AAPL", 2, client_order_id="elsewhere"))
        assert other.status is OrderStatus.FILLED and other.filled_qty == 2.0
        assert env.faults.count("create") == 2 and len(env.exchange.trades) == 2

    run(body)


def test_partial_fills_are_distinct_fills() -> None:
    async def body(env: Env) -> None:
        env.exchange.script.partial.append(3)
        await env.venue.submit(Order("XYZ", 3, client_order_id="p1"))
        await env.until(lambda: _count(env, 3))
        await env.venue.resync()
        fills = await env.fills()
        assert [f.qty for f in fills] == [1.0, 1.0, 1.0]
        assert len({f.fill_id for f in fills}) == 3

    run(body)


# -- faults -----------------------------------------------------------------------------------


def test_accepted_then_504_yields_the_order_once() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        env.faults.fail("create", 504, execute=True, body="<html>504 Gateway Time-out</html>")
        answer = await v.submit(Order("AAPL", 1.5, client_order_id="g504"))
        # found by its client order id: the order, never a rejection, never sent again
        assert answer.status is OrderStatus.FILLED and answer.filled_qty == 1.5
        assert env.faults.count("create") == 1 and env.faults.count("lookup") >= 1
        again = await v.submit(Order("AAPL", 1.5, client_order_id="g504"))
        assert again.status is OrderStatus.FILLED and env.faults.count("create") == 1
        await env.until(lambda: _count(env, 1))
        await v.resync()
        assert len(await env.fills()) == 1 and len(env.exchange.trades) == 1

    run(body)


def test_server_error_before_execution_is_unavailable_and_safe_to_resend() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        env.faults.fail("create", 503)  # refused untouched
        with pytest.raises(VenueUnavailable):
            await v.submit(Order("AAPL", 1, client_order_id="u503"))
        assert env.exchange.orders == {}
        answer = await v.submit(Order("AAPL", 1, client_order_id="u503"))
        assert answer.status is OrderStatus.FILLED and len(env.exchange.trades) == 1

    run(body)


def test_stalled_create_is_ambiguous_and_the_lookup_settles_it() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        env.faults.stall("create", 2.0, execute=True)
        with pytest.raises(AmbiguousOutcome):
            await v.submit(Order("AAPL", 3, client_order_id="slow-1"))
        settled = await v.order("slow-1")
        assert settled.status is OrderStatus.FILLED and settled.filled_qty == 3
        retried = await v.submit(Order("AAPL", 3, client_order_id="slow-1"))
        assert retried.status is OrderStatus.FILLED
        assert env.faults.count("create") == 1 and len(env.exchange.trades) == 1
        await env.until(lambda: _count(env, 1))
        assert (await v.positions())["AAPL"].qty == 3

    run(body)


def test_stalled_read_is_unavailable_not_ambiguous() -> None:
    async def body(env: Env) -> None:
        env.faults.stall("positions", 2.0)
        with pytest.raises(VenueUnavailable):
            await env.venue.positions()

    run(body)


def test_429_storm_is_waited_out_without_losing_or_doubling_an_order() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        env.faults.fail("create", 429, times=2, headers={"Retry-After": "0.2"})
        answer = await v.submit(Order("AAPL", 1, client_order_id="rl-1"))
        assert answer.status is OrderStatus.FILLED  # waited out within the call
        assert env.faults.count("create") == 3 and v.rest.limiter.waited_s > 0
        # a longer storm: RateLimited (never a rejection), then the same id goes through once
        env.faults.fail("create", 429, times=6, headers={"Retry-After": "0.2"})
        refused = 0
        answer = None
        for _ in range(10):
            try:
                answer = await v.submit(Order("AAPL", 1, client_order_id="rl-2"))
                break
            except RateLimited as e:
                refused += 1
                assert e.retry_after == pytest.approx(0.2)
        assert refused >= 1 and answer is not None and answer.status is OrderStatus.FILLED
        assert [t.order.client_id for t in env.exchange.trades] == ["rl-1", "rl-2"]

    run(body)


def test_dropped_order_stream_reconciles_fills_and_positions() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        ex = env.exchange
        await v.submit(Order("AAPL", 1, client_order_id="d1"))
        await v.submit(Order("XYZ", 4, "limit", limit_price=49.0, client_order_id="d2"))
        await env.until(lambda: _count(env, 1))
        reads = env.faults.count("trades")
        env.faults.duplicate_events = 3
        assert env.dialect.drop_sockets(user=True) == 1
        await env.until(lambda: not v.order_stream_live)
        # fills while the stream is down: these events reach nobody
        await v.submit(Order("AAPL", 2, client_order_id="d3"))
        ex.set_price("XYZ", 48.0)
        await env.until(lambda: v.order_stream_live, timeout=10.0)
        expected = {env.dialect.fill_id(t) for t in ex.trades}
        await env.until(lambda: _ids(env, expected), timeout=10.0)
        assert env.faults.count("trades") > reads  # read again by REST after the reconnect
        fills = await env.fills()
        assert sorted(f.fill_id for f in fills) == sorted(expected)  # each once
        held = await v.positions()
        assert {s: p.qty for s, p in held.items()} == pytest.approx(_held(env))
        assert (await v.order("d2")).status is OrderStatus.FILLED
        kinds = [a[0] for a in env.alerts]
        assert "stream_down" in kinds and "stream_restored" in kinds

    run(body)


async def _ids(env: Env, expected: set[str]) -> bool:
    return {f.fill_id for f in await env.fills()} >= expected


def test_flatten_cancels_and_closes_everything() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        await v.submit(Order("AAPL", 0.75, client_order_id="f1"))
        await v.submit(Order("BTC/USD", 0.003, client_order_id="f2"))
        await v.submit(Order("XYZ", 1, "limit", limit_price=30.0, client_order_id="f3"))
        left = await asyncio.wait_for(v.flatten(), 5.0)
        assert left == {} and _held(env) == {} and env.exchange.open_orders() == []

    run(body)


# -- rounding and minimums --------------------------------------------------------------------


def test_rounding_toward_less_risk_and_minimums_refused_before_sending() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        ex = env.exchange
        a = await v.submit(Order("AAPL", 0.1234567891234, client_order_id="q1"))
        assert ex.by_client["q1"].qty == pytest.approx(0.123456789, abs=1e-15)
        assert a.qty <= 0.1234567891234 and a.status is OrderStatus.FILLED
        b = await v.submit(Order("XYZ", 2.7, client_order_id="q2"))
        assert ex.by_client["q2"].qty == 2.0 and b.filled_qty == 2.0
        s = await v.submit(Order("XYZ", -1.9, client_order_id="q3"))
        assert ex.by_client["q3"].qty == 1.0 and s.qty == -1.0  # toward zero, never more
        lb = await v.submit(Order("XYZ", 1, "limit", limit_price=45.678, client_order_id="q4"))
        ls = await v.submit(Order("XYZ", -1, "limit", limit_price=55.001, client_order_id="q5"))
        ss = await v.submit(Order("XYZ", -1, "stop", stop_price=44.994, client_order_id="q6"))
        bs = await v.submit(Order("XYZ", 1, "stop", stop_price=55.009, client_order_id="q7"))
        assert (lb.limit_price, ls.limit_price) == (45.67, 55.01)  # buy lower, sell higher
        assert (ss.stop_price, bs.stop_price) == (45.0, 55.0)  # stops nearer the market
        sent = env.faults.count("create")
        refused = {
            "BELOW_MIN_QTY": [Order("XYZ", 0.6), Order("BTC/USD", 0.00005)],
            "BELOW_MIN_NOTIONAL": [Order("AAPL", 0.005), Order("BTC/USD", 0.0001)],
        }
        for code, orders in refused.items():
            for order in orders:
                answer = await v.submit(order)
                assert answer.status is OrderStatus.REJECTED and answer.reason.startswith(code)
        assert env.faults.count("create") == sent  # none of them left
        # Alpaca floors crypto buys at 10 USD, not sells
        await v.submit(Order("BTC/USD", 0.001, client_order_id="q8"))
        small = await v.submit(Order("BTC/USD", -0.0001, client_order_id="q9"))
        assert small.status is OrderStatus.FILLED

    run(body)


def test_fractional_share_orders_go_as_day() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        resting = await v.submit(
            Order("AAPL", 0.5, "limit", limit_price=90.0, client_order_id="fr1")
        )
        # Alpaca takes fractional share orders as DAY only: sent so, and the answer says so
        assert resting.status is OrderStatus.NEW and resting.time_in_force is TimeInForce.DAY
        assert env.exchange.by_client["fr1"].tif == "DAY"
        whole = await v.submit(Order("AAPL", 2, "limit", limit_price=90.0, client_order_id="fr2"))
        assert whole.time_in_force is TimeInForce.GTC
        ioc = await v.submit(Order("AAPL", 0.5, "limit", limit_price=90.0, time_in_force="IOC"))
        assert ioc.status is OrderStatus.REJECTED and ioc.reason.startswith("FRACTIONAL_NEEDS_DAY")

    run(body)


def _stock(lot: float, fractional: bool) -> Market:
    inst = Instrument(
        "S",
        tick_size=0.01,
        lot_size=lot,
        min_qty=lot,
        min_notional=1.0 if fractional else 0.0,
        shortable=False,
        fractional=fractional,
    )
    return Market(inst, False, STOCK_ORDER_TYPES)


def test_prepared_orders_never_round_toward_more_risk() -> None:
    rng = random.Random(16)
    markets = [
        _stock(1e-9, True),
        _stock(1.0, False),
        Market(
            Instrument(
                "C", tick_size=1.0, lot_size=1e-9, min_qty=0.0001, fractional=True, shortable=False
            ),
            True,
            CRYPTO_ORDER_TYPES,
            10.0,
        ),
    ]
    checked = 0
    for _ in range(600):
        market = rng.choice(markets)
        qty = rng.uniform(0.0001, 500.0) * rng.choice((1, -1))
        price = rng.uniform(0.5, 60_000.0)
        kind = rng.choice(("market", "limit", "stop_limit"))
        prices = {}
        if kind != "market":
            prices["limit_price"] = price
        if kind == "stop_limit":
            prices["stop_price"] = price * rng.uniform(0.9, 1.1)
        order = Order(market.instrument.symbol, qty, kind, client_order_id=f"p{_}", **prices)
        request = prepare(order, market, price)
        if isinstance(request, str):
            assert request.split(":")[0] in ("BELOW_MIN_QTY", "BELOW_MIN_NOTIONAL"), request
            continue
        checked += 1
        lot = market.instrument.lot_size or 1.0
        assert request.qty <= abs(qty) + 1e-12
        assert Decimal(repr(request.qty)) % Decimal(repr(lot)) == 0  # on the lot grid
        assert (request.side.value == "buy") == (qty > 0)
        tick = market.instrument.tick_size or 1.0
        if kind != "market":
            limit = prices["limit_price"]
            if qty > 0:
                assert limit - tick - 1e-9 < request.limit_price <= limit + 1e-9
            else:
                assert limit - 1e-9 <= request.limit_price < limit + tick + 1e-9
        if kind == "stop_limit":
            stop = prices["stop_price"]
            if qty > 0:  # a buy stop comes down toward the market, a sell stop up
                assert request.stop_price <= stop + 1e-9
            else:
                assert request.stop_price >= stop - 1e-9
    assert checked > 300


# -- market data ------------------------------------------------------------------------------


def test_feed_streams_ticks_and_bars_and_reports_a_stale_feed() -> None:
    async def body(env: Env) -> None:
        v = env.venue
        await env.priced("AAPL")
        feed = v.feed().__aiter__()

        async def next_of(kind: type, symbol: str) -> Any:
            while True:
                item = await asyncio.wait_for(feed.__anext__(), 5.0)
                if isinstance(item, kind) and item.symbol == symbol:
                    return item

        env.exchange.set_price("AAPL", 101.25)
        tick = await next_of(Tick, "AAPL")
        while tick.price != 101.25:
            tick = await next_of(Tick, "AAPL")
        start = 1_800_000_000_000_000_000
        env.dialect.publish_bar("AAPL", 101.0, 102.0, 100.5, 101.5, 1_200.0, ts=start)
        bar = await next_of(Bar, "AAPL")
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
            101.0,
            102.0,
            100.5,
            101.5,
            1_200.0,
        )
        assert bar.ts == start + 60 * 1_000_000_000  # stamped at its close
        env.faults.silent = True
        await env.until(lambda: v.feed_stale, timeout=5.0)
        assert [a[0] for a in env.alerts].count("stale_feed") == 1
        env.faults.silent = False
        env.exchange.set_price("AAPL", 101.5)
        await env.until(lambda: not v.feed_stale, timeout=5.0)
        assert "feed_resumed" in [a[0] for a in env.alerts]

    run(body, stale_feed_s=0.4)


# -- errors and secrets -----------------------------------------------------------------------


def _api_error(status: int, body: str, headers: dict[str, str] | None = None) -> APIError:
    response = requests.Response()
    response.status_code = status
    response._content = body.encode()
    response.headers.update(headers or {})
    return APIError(body, requests.HTTPError(response=response))


def test_errors_are_mapped_by_status_and_code() -> None:
    secrets = (KEY, SECRET)

    def mapped(e: BaseException, write: bool = True) -> VenueError:
        return classify(e, what="submit AAPL", write=write, secrets=secrets)

    limited = mapped(
        _api_error(
            429, '{"code": 42910000, "message": "rate limit exceeded"}', {"Retry-After": "3"}
        )
    )
    assert isinstance(limited, RateLimited) and limited.retry_after == 3.0
    assert isinstance(mapped(_api_error(418, "banned")), RateLimited)
    assert isinstance(mapped(_api_error(401, '{"code": 40110000, "message": "no"}')), AuthFailed)
    assert isinstance(mapped(_api_error(403, '{"message": "forbidden."}')), AuthFailed)
    funds = mapped(_api_error(403, '{"code": 40310000, "message": "insufficient buying power"}'))
    assert isinstance(funds, OrderRejected) and str(funds).startswith("INSUFFICIENT_FUNDS")
    dup = mapped(_api_error(422, '{"code": 40010001, "message": "client_order_id must be unique"}'))
    assert isinstance(dup, DuplicateClientOrderId)
    bad = mapped(
        _api_error(422, '{"code": 40010001, "message": "invalid order type for crypto order"}')
    )
    assert type(bad) is OrderRejected and str(bad).startswith("BAD_ORDER_TYPE")
    assert isinstance(
        mapped(_api_error(404, '{"code": 40410000, "message": "order not found"}')), UnknownOrder
    )
    gateway = mapped(_api_error(504, "<html>504 Gateway Time-out</html>"))
    assert isinstance(gateway, ServerError) and isinstance(gateway, VenueUnavailable)
    assert isinstance(mapped(requests.exceptions.ReadTimeout("read timed out")), AmbiguousOutcome)
    assert isinstance(mapped(requests.exceptions.ReadTimeout("x"), write=False), VenueUnavailable)
    assert isinstance(mapped(ValueError("bad json")), AmbiguousOutcome)
    leaky = mapped(_api_error(500, f'{{"message": "boom {SECRET} {KEY}"}}'))
    assert SECRET not in str(leaky) and KEY not in str(leaky)


def _leaks(text: str, secret: str) -> bool:
    """True when ``text`` holds ``secret`` or any 8 characters of it in a row (a log line that
    elides the middle of a message still shows a piece of it)."""
    return any(secret[i : i + 8] in text for i in range(len(secret) - 7))


def test_secrets_never_appear(caplog: pytest.LogCaptureFixture) -> None:
    wrong = "Wr0ng5ecret0a9b8c7d6e"
    caplog.set_level(logging.DEBUG)

    async def body(env: Env) -> None:
        with pytest.raises(AuthFailed) as refused:
            await env.venue.start()
        shown = [
            str(refused.value),
            repr(refused.value),
            repr(env.venue),
            repr(env.venue.settings),
            repr(env.venue.rest),
        ]
        await env.venue.aclose()
        shown += [r.getMessage() for r in caplog.records] + [" ".join(a) for a in env.alerts]
        for text in shown:
            for secret in (wrong, KEY, SECRET):
                assert not _leaks(text, secret), text[:200]

    run(body, secret=wrong, start=False)


def test_secrets_stay_out_of_venue_errors_and_stream_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    async def body(env: Env) -> None:
        v = env.venue
        refused = await v.submit(Order("XYZ", 5_000))
        env.faults.fail("positions", 500, body=f"oops {SECRET}")
        with pytest.raises(VenueUnavailable) as failed:
            await v.positions()
        env.dialect.drop_sockets()  # the streams authenticate again, logging at DEBUG
        await env.until(lambda: not v.order_stream_live)
        await env.until(lambda: v.order_stream_live, timeout=10.0)
        shown = [refused.reason, str(failed.value), repr(v)]
        shown += [r.getMessage() for r in caplog.records] + [" ".join(a) for a in env.alerts]
        assert len(caplog.records) > 10  # DEBUG logging was on, through the reconnect
        for text in shown:
            assert not _leaks(text, SECRET) and not _leaks(text, KEY), text[:200]

    run(body)
