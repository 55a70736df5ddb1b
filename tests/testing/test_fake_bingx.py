"""The BingX dialect of the fake venue, driven by the real ccxt.pro ``bingx`` client (4.5.90):
markets, orders of every kind, lookups by client order id, cancels, scripted HTTP faults, the
GZIP WebSocket streams and their fault hooks. Where a test pins a surprise of the client or the
venue, its docstring says so: the adapter has to live with it."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import ccxt.pro as ccxtpro
import pytest
from ccxt.base import errors as cx
from riskguard.testing.fake.dialects.bingx import Bingx
from riskguard.testing.fake.exchange import Exchange, FakeMarket
from riskguard.testing.fake.server import FakeVenue
from riskguard.venues.ccxt.urls import rewrite

SYMBOL = "BTC/USDT:USDT"
MID = "BTC-USDT"
MARKET = FakeMarket(
    id=MID,
    base="BTC",
    quote="USDT",
    kind="swap",
    lot=0.0001,
    tick=0.1,
    min_qty=0.0001,
    min_notional=2,
)
PRICE = 50_000.0
TAKER, MAKER = 0.0004, 0.0002


@pytest.fixture
def venue():
    exchange = Exchange([MARKET], prices={MID: PRICE}, taker_fee=TAKER, maker_fee=MAKER)
    with FakeVenue([Bingx(exchange)]) as v:
        yield v


def dialect(venue: FakeVenue) -> Bingx:
    d = venue.dialects["bingx"]
    assert isinstance(d, Bingx)
    return d


def _loopback_only(urls: Any) -> None:
    if isinstance(urls, dict):
        for value in urls.values():
            _loopback_only(value)
    elif isinstance(urls, str):
        assert urls.startswith(("http://127.0.0.1:", "ws://127.0.0.1:")), urls


def client_for(venue: FakeVenue, *, sandbox: bool = True, **config: Any) -> Any:
    """A ccxt.pro bingx client pointed at the fake venue. Sandbox mode (BingX's VST testnet) is
    what limits load_markets to the swaps; it must be set before the rewrite, as it swaps the
    testnet urls in."""
    client = ccxtpro.bingx(
        {
            "apiKey": "key",
            "secret": "secret",
            "enableRateLimit": False,
            "options": {"defaultType": "swap"},
            **config,
        }
    )
    if sandbox:
        client.set_sandbox_mode(True)
    client.urls["api"] = rewrite(client.urls["api"], venue.base_url("bingx"), venue.ws_url("bingx"))
    _loopback_only(client.urls["api"])
    return client


def run(
    venue: FakeVenue,
    body: Callable[[Any], Awaitable[Any]],
    *,
    sandbox: bool = True,
    timeout: float = 15.0,
    **config: Any,
) -> Any:
    async def main() -> Any:
        client = client_for(venue, sandbox=sandbox, **config)
        try:
            return await asyncio.wait_for(body(client), timeout)
        finally:
            await client.close()

    return asyncio.run(main())


async def until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def subscribed(venue: FakeVenue, topic: str) -> Callable[[], bool]:
    return lambda: any(topic in s.topics for s in list(dialect(venue).socks))


def user_socket(venue: FakeVenue) -> Callable[[], bool]:
    return lambda: any(s.user for s in list(dialect(venue).socks))


def watching(client: Any, message_hash: str) -> Callable[[], bool]:
    """True once a ccxt.pro watch waits on ``message_hash`` (so no event is missed)."""
    return lambda: any(message_hash in ws.futures for ws in list(client.clients.values()))


# -- markets, time, auth ---------------------------------------------------------------------


def test_load_markets_gives_the_swap_with_its_precision_and_limits(venue):
    markets = run(venue, lambda c: c.load_markets())
    assert list(markets) == [SYMBOL]
    m = markets[SYMBOL]
    assert (m["id"], m["type"], m["linear"], m["settle"], m["active"]) == (
        MID,
        "swap",
        True,
        "USDT",
        True,
    )
    assert m["precision"] == {"amount": 0.0001, "price": 0.1}
    assert m["limits"]["amount"]["min"] == 0.0001
    assert m["limits"]["cost"]["min"] == 2.0
    assert m["contractSize"] == 1.0
    assert venue.faults.count("markets") == 1  # sandbox mode: the swap contracts only


def test_load_markets_outside_the_sandbox_also_asks_spot_coin_m_and_currencies(venue):
    async def body(c):
        await c.load_markets()
        return list(c.markets), sorted(c.currencies)

    symbols, currencies = run(venue, body, sandbox=False)
    assert symbols == [SYMBOL]
    assert currencies == ["BTC", "USDT"]
    assert venue.faults.count("markets") == 4  # contracts, coin-M, spot, currencies


def test_fetch_time_is_the_server_clock(venue):
    dialect(venue).clock_offset_ms = 3_600_000
    before = time.time() * 1000
    server = run(venue, lambda c: c.fetch_time())
    after = time.time() * 1000
    # The venue's clock, read between the two: an hour ahead of ours.
    assert before + 3_600_000 - 1 <= server <= after + 3_600_000 + 1


def test_a_wrong_secret_or_key_is_an_authentication_error(venue):
    with pytest.raises(cx.AuthenticationError, match="100001"):
        run(venue, lambda c: c.fetch_balance(), secret="wrong")
    with pytest.raises(cx.AuthenticationError, match="100413"):
        run(venue, lambda c: c.fetch_balance(), apiKey="wrong")


def test_a_skewed_clock_is_refused_and_ccxt_bingx_ignores_time_difference(venue):
    """ccxt's bingx nonce is the local clock: load_time_difference() changes nothing, so the
    adapter has to correct the nonce itself."""
    dialect(venue).clock_offset_ms = 60_000

    async def body(c):
        with pytest.raises(cx.BadRequest, match="timestamp is invalid"):
            await c.fetch_balance()
        await c.load_time_difference()
        with pytest.raises(cx.BadRequest, match="timestamp is invalid"):
            await c.fetch_balance()
        c.nonce = lambda: c.milliseconds() - c.options["timeDifference"]
        return await c.fetch_balance()

    balance = run(venue, body)
    assert balance["USDT"]["free"] == pytest.approx(100_000.0)


# -- orders ----------------------------------------------------------------------------------


def test_a_market_order_fills_at_once_but_its_answer_carries_no_fee(venue):
    async def body(c):
        created = await c.create_order(
            SYMBOL, "market", "buy", 0.002, None, {"clientOrderId": "RG-Mkt-1"}
        )
        looked = await c.fetch_order("", SYMBOL, {"clientOrderId": "RG-Mkt-1"})
        with pytest.raises(cx.BadRequest, match="orderId 'None'"):
            await c.fetch_order(None, SYMBOL, {"clientOrderId": "rg-mkt-1"})
        trades = await c.fetch_my_trades(SYMBOL)
        positions = await c.fetch_positions([SYMBOL])
        balance = await c.fetch_balance()
        return created, looked, trades, positions, balance

    created, looked, trades, positions, balance = run(venue, body)
    fee = 0.002 * PRICE * TAKER
    assert created["clientOrderId"] == "rg-mkt-1"  # BingX lowercases client order ids
    assert (created["status"], created["filled"], created["average"]) == ("closed", 0.002, PRICE)
    assert created["fee"]["cost"] is None
    assert looked["id"] == created["id"]
    assert (looked["status"], looked["filled"], looked["type"]) == ("closed", 0.002, "market")
    assert looked["fee"] == {"currency": "USDT", "cost": pytest.approx(fee)}
    [trade] = trades
    assert trade["id"] is None  # BingX fills have no id of their own
    assert (trade["order"], trade["amount"], trade["price"], trade["side"]) == (
        created["id"],
        0.002,
        PRICE,
        "buy",
    )
    assert trade["fee"]["cost"] == pytest.approx(fee)
    [pos] = positions
    assert (pos["side"], pos["contracts"], pos["entryPrice"]) == ("both", 0.002, PRICE)
    used = 0.002 * PRICE / MARKET.max_leverage
    assert balance["USDT"]["used"] == pytest.approx(used)
    assert balance["USDT"]["free"] == pytest.approx(100_000.0 - fee - used)


def test_a_one_way_short_is_both_with_negative_contracts(venue):
    async def body(c):
        await c.create_order(SYMBOL, "market", "sell", 0.003, None, {"clientOrderId": "s-1"})
        return await c.fetch_positions()

    [pos] = run(venue, body)
    assert (pos["side"], pos["contracts"]) == ("both", -0.003)


def test_a_limit_order_rests_then_fills_as_maker(venue):
    async def body(c):
        created = await c.create_order(
            SYMBOL, "limit", "buy", 0.001, 49_000.0, {"clientOrderId": "lim-1"}
        )
        open_ids = [o["id"] for o in await c.fetch_open_orders(SYMBOL)]
        venue.exchange("bingx").set_price(MID, 49_000.0)
        return created, open_ids, await c.fetch_order(created["id"], SYMBOL)

    created, open_ids, filled = run(venue, body)
    assert (created["status"], created["filled"], created["price"]) == ("open", 0.0, 49_000.0)
    assert open_ids == [created["id"]]
    assert (filled["status"], filled["filled"], filled["average"]) == ("closed", 0.001, 49_000.0)
    assert filled["fee"]["cost"] == pytest.approx(0.001 * 49_000.0 * MAKER)


def test_a_stop_loss_is_a_position_stop_that_drops_its_client_id(venue):
    """``stopLossPrice`` makes a STOP_MARKET: reduce-only, bound to the position, and (BingX:
    "clientOrderId only supports LIMIT/MARKET") without the client order id it was sent with."""
    ex = venue.exchange("bingx")

    async def body(c):
        with pytest.raises(cx.InvalidOrder, match="101205"):  # no position to protect yet
            await c.create_order(SYMBOL, "market", "sell", 0.002, None, {"stopLossPrice": 49_000})
        await c.create_order(SYMBOL, "market", "buy", 0.002, None, {"clientOrderId": "entry-1"})
        stop = await c.create_order(
            SYMBOL,
            "market",
            "sell",
            0.002,
            None,
            {"stopLossPrice": 49_000, "clientOrderId": "stop-1"},
        )
        open_orders = await c.fetch_open_orders(SYMBOL)
        with pytest.raises(cx.OrderNotFound):
            await c.fetch_order("", SYMBOL, {"clientOrderId": "stop-1"})
        ex.set_price(MID, 48_900.0)
        return stop, open_orders, await c.fetch_order(stop["id"], SYMBOL), await c.fetch_positions()

    stop, open_orders, after, positions = run(venue, body)
    assert stop["info"]["type"] == "STOP_MARKET"
    assert (stop["status"], stop["clientOrderId"], stop["reduceOnly"]) == ("open", None, True)
    assert stop["stopLossPrice"] == 49_000.0
    assert [(o["id"], o["type"], o["stopLossPrice"]) for o in open_orders] == [
        (stop["id"], "market", 49_000.0)
    ]
    assert (after["status"], after["filled"], after["average"]) == ("closed", 0.002, 48_900.0)
    assert positions == []


def test_a_stop_limit_entry_uses_trigger_price(venue):
    ex = venue.exchange("bingx")

    async def body(c):
        order = await c.create_order(
            SYMBOL,
            "limit",
            "buy",
            0.001,
            51_100.0,
            {"triggerPrice": 51_000.0, "clientOrderId": "sl-1"},
        )
        before = await c.fetch_order(order["id"], SYMBOL)
        ex.set_price(MID, 50_900.0)
        still = await c.fetch_order(order["id"], SYMBOL)
        ex.set_price(MID, 51_050.0)
        return order, before, still, await c.fetch_order(order["id"], SYMBOL)

    order, before, still, after = run(venue, body)
    assert order["info"]["type"] == "TRIGGER_LIMIT"
    assert (before["status"], before["triggerPrice"], before["price"]) == (
        "open",
        51_000.0,
        51_100.0,
    )
    assert still["status"] == "open"
    assert (after["status"], after["filled"], after["average"]) == ("closed", 0.001, 51_050.0)


def test_reduce_only_never_opens_a_position(venue):
    async def body(c):
        with pytest.raises(cx.InvalidOrder, match="No position to close"):
            await c.create_order(
                SYMBOL, "market", "sell", 0.001, None, {"reduceOnly": True, "clientOrderId": "ro-1"}
            )
        await c.create_order(SYMBOL, "market", "buy", 0.002, None, {"clientOrderId": "ro-2"})
        close = await c.create_order(
            SYMBOL, "market", "sell", 0.002, None, {"reduceOnly": True, "clientOrderId": "ro-3"}
        )
        return close, await c.fetch_positions()

    close, positions = run(venue, body)
    assert (close["status"], close["filled"], close["reduceOnly"]) == ("closed", 0.002, True)
    assert positions == []


def test_cancel_by_id_and_by_client_id(venue):
    async def body(c):
        a = await c.create_order(SYMBOL, "limit", "buy", 0.001, 45_000.0, {"clientOrderId": "c-1"})
        b = await c.create_order(SYMBOL, "limit", "buy", 0.001, 45_100.0, {"clientOrderId": "c-2"})
        by_id = await c.cancel_order(a["id"], SYMBOL)
        by_client = await c.cancel_order(None, SYMBOL, {"clientOrderId": "C-2"})
        with pytest.raises(cx.OrderNotFound):
            await c.cancel_order(a["id"], SYMBOL)
        with pytest.raises(cx.OrderNotFound):
            await c.cancel_order("999", SYMBOL)
        filled = await c.create_order(
            SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "c-3"}
        )
        with pytest.raises(cx.ExchangeError) as info:
            await c.cancel_order(filled["id"], SYMBOL)
        return a, b, by_id, by_client, info.value, await c.fetch_open_orders(SYMBOL)

    a, b, by_id, by_client, filled_error, still_open = run(venue, body)
    assert (by_id["id"], by_id["status"]) == (a["id"], "canceled")
    assert (by_client["id"], by_client["status"], by_client["clientOrderId"]) == (
        b["id"],
        "canceled",
        "c-2",
    )
    # A filled order's cancel is 80018, which ccxt leaves a plain ExchangeError.
    assert not isinstance(filled_error, cx.OrderNotFound)
    assert "80018" in str(filled_error)
    assert still_open == []


def test_cancel_all_orders(venue):
    async def body(c):
        ids = []
        for i in range(3):
            o = await c.create_order(
                SYMBOL, "limit", "sell", 0.001, 55_000.0 + i * 10, {"clientOrderId": f"all-{i}"}
            )
            ids.append(o["id"])
        done = await c.cancel_all_orders(SYMBOL)
        return ids, done, await c.fetch_open_orders(SYMBOL)

    ids, done, still_open = run(venue, body)
    assert sorted(o["id"] for o in done) == sorted(ids)
    assert {o["status"] for o in done} == {"canceled"}
    assert still_open == []


# -- errors ----------------------------------------------------------------------------------


def test_scripted_http_statuses_as_ccxt_raises_them(venue):
    """ccxt maps BingX's body code before the HTTP status: a 429 (code 100410) is
    OperationFailed, not RateLimitExceeded; a 500 (100500) OperationFailed; an HTML 503 (no
    code) ExchangeNotAvailable."""
    faults = venue.faults
    faults.fail("balance", 429)
    faults.fail("balance", 500)
    faults.fail("balance", 503, body="<html><body>503 Service Unavailable</body></html>")

    async def body(c):
        raised = []
        for _ in range(3):
            with pytest.raises(cx.BaseError) as info:
                await c.fetch_balance()
            raised.append(info.value)
        return raised, await c.fetch_balance()

    (too_many, internal, html), balance = run(venue, body)
    assert type(too_many) is cx.OperationFailed and "100410" in str(too_many)
    assert not isinstance(too_many, (cx.RateLimitExceeded, cx.DDoSProtection))
    assert type(internal) is cx.OperationFailed and "100500" in str(internal)
    assert isinstance(html, cx.ExchangeNotAvailable)
    assert balance["USDT"]["free"] == pytest.approx(100_000.0)


def test_an_accepted_order_answered_504_reads_as_bad_request(venue):
    """A 504 carries BingX's 100400 "Gateway timeout", which ccxt calls BadRequest: the order
    was executed all the same, and only a lookup tells."""
    venue.faults.fail("create", 504, execute=True)

    async def body(c):
        with pytest.raises(cx.BadRequest, match="100400"):
            await c.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "g-1"})
        return await c.fetch_order("", SYMBOL, {"clientOrderId": "g-1"})

    order = run(venue, body)
    assert (order["status"], order["filled"]) == ("closed", 0.001)


def test_refusals_come_with_http_200_and_a_code(venue):
    async def body(c):
        with pytest.raises(cx.InsufficientFunds, match="101204"):
            await c.create_order(SYMBOL, "market", "buy", 100.0, None, {"clientOrderId": "big"})
        await c.create_order(SYMBOL, "limit", "buy", 0.001, 40_000.0, {"clientOrderId": "dup"})
        with pytest.raises(cx.InvalidOrder, match="101400") as dup:
            await c.create_order(SYMBOL, "limit", "buy", 0.001, 40_000.0, {"clientOrderId": "dup"})
        with pytest.raises(cx.InvalidOrder, match="110425"):
            await c.create_order(
                SYMBOL, "limit", "buy", 0.0001, 10_000.0, {"clientOrderId": "tiny"}
            )
        return dup.value

    dup = run(venue, body)
    assert not isinstance(dup, cx.DuplicateOrderId)  # 101400, not ccxt's 101481/109201


def test_a_stalled_create_is_found_by_client_id_filled_exactly_once(venue):
    venue.faults.stall("create", 1.0)  # carried out, answered after the client gave up
    ex = venue.exchange("bingx")

    async def body(c):
        c.timeout = 300
        with pytest.raises(cx.RequestTimeout):
            await c.create_order(SYMBOL, "market", "buy", 0.002, None, {"clientOrderId": "stall-1"})
        c.timeout = 10_000
        return await c.fetch_order(
            "", SYMBOL, {"clientOrderId": "stall-1"}
        ), await c.fetch_my_trades(SYMBOL)

    order, trades = run(venue, body)
    assert (order["status"], order["filled"], order["clientOrderId"]) == (
        "closed",
        0.002,
        "stall-1",
    )
    assert len(ex.orders) == 1
    assert [t["amount"] for t in trades] == [0.002]


def test_partial_fills_are_separate_fills_without_ids_timed_to_the_second(venue):
    """Two fills of one order: both in allFillOrders, fees adding up to the order's; their
    times are whole seconds, so fetch_my_trades(since=the order's own ms) may miss them."""
    venue.exchange("bingx").script.partial.append(2)

    async def body(c):
        created = await c.create_order(
            SYMBOL, "market", "buy", 0.002, None, {"clientOrderId": "part-1"}
        )
        return created, await c.fetch_order(created["id"], SYMBOL), await c.fetch_my_trades(SYMBOL)

    created, order, trades = run(venue, body)
    assert (created["status"], created["filled"]) == ("closed", 0.002)
    assert [(t["order"], t["amount"], t["id"]) for t in trades] == [
        (created["id"], 0.001, None),
        (created["id"], 0.001, None),
    ]
    assert sum(t["fee"]["cost"] for t in trades) == pytest.approx(order["fee"]["cost"])
    assert order["fee"]["cost"] == pytest.approx(0.002 * PRICE * TAKER)
    assert all(t["timestamp"] % 1000 == 0 for t in trades)


def test_fill_history_gives_each_fill_the_exchange_trade_id(venue):
    """fetch_my_trades (allFillOrders) has no fill ids; BingX's ``trade/fillHistory``, called
    through ccxt's implicit API and parsed by ccxt, has them (``tradeId``), pages by
    ``lastFillId``, and returns nothing for a ``startTs`` without an ``endTs``."""
    ex = venue.exchange("bingx")
    ex.script.partial.append(2)

    async def body(c):
        await c.load_markets()
        created = await c.create_order(
            SYMBOL, "market", "sell", 0.002, None, {"clientOrderId": "fh-1"}
        )
        now = c.milliseconds()
        window = {"symbol": MID, "startTs": now - 60_000, "endTs": now + 1_000}
        raw = await c.swapV2PrivateGetTradeFillHistory({**window, "orderId": created["id"]})
        fills = c.parse_trades(raw["data"]["fill_orders"], c.market(SYMBOL))
        paged = await c.swapV2PrivateGetTradeFillHistory({**window, "lastFillId": fills[0]["id"]})
        only_start = await c.swapV2PrivateGetTradeFillHistory(
            {"symbol": MID, "startTs": now - 60_000}
        )
        return created, fills, paged["data"]["fill_orders"], only_start["data"]["fill_orders"]

    created, fills, paged, only_start = run(venue, body)
    ids = [str(t.trade_id) for t in ex.trades]
    assert len(ids) == 2 and [f["id"] for f in fills] == ids
    assert [(f["order"], f["amount"], f["side"], f["price"]) for f in fills] == [
        (created["id"], 0.001, "sell", PRICE)
    ] * 2
    assert [f["fee"]["cost"] for f in fills] == [pytest.approx(0.001 * PRICE * TAKER)] * 2
    assert [row["tradeId"] for row in paged] == ids[1:]
    assert only_start == []


# -- streams ---------------------------------------------------------------------------------


def test_market_streams_see_a_price_set_on_the_exchange(venue):
    ex = venue.exchange("bingx")

    async def body(c):
        await c.load_markets()
        trades = asyncio.ensure_future(c.watch_trades(SYMBOL))
        ticker = asyncio.ensure_future(c.watch_ticker(SYMBOL))
        candles = asyncio.ensure_future(c.watch_ohlcv(SYMBOL, "1m"))
        for topic in (f"{MID}@trade", f"{MID}@ticker", f"{MID}@kline_1m"):
            await until(subscribed(venue, topic), topic)
        ex.set_price(MID, 50_100.0)
        return await trades, await ticker, await candles, await c.fetch_ticker(SYMBOL)

    trades, ticker, candles, rest_ticker = run(venue, body)
    assert [(t["price"], t["amount"], t["side"]) for t in trades] == [(50_100.0, 0.0001, "buy")]
    assert (ticker["last"], ticker["bid"], ticker["ask"]) == (50_100.0, 50_100.0, 50_100.0)
    [candle] = candles
    assert candle[0] % 60_000 == 0 and candle[1:] == [50_100.0] * 4 + [0.0001]
    assert rest_ticker["last"] == 50_100.0


def test_user_stream_sees_the_fill_and_the_heartbeat_is_answered(venue):
    d = dialect(venue)
    d.ping_interval = 0.05

    async def body(c):
        await c.load_markets()
        orders = asyncio.ensure_future(c.watch_orders(SYMBOL))
        mine = asyncio.ensure_future(c.watch_my_trades(SYMBOL))
        await until(user_socket(venue), "the user socket")
        await until(watching(c, f"swap:mytrades:{SYMBOL}"), "watch_my_trades")
        created = await c.create_order(
            SYMBOL, "market", "buy", 0.002, None, {"clientOrderId": "ws-1"}
        )
        await orders
        await mine
        await until(lambda: any(o["status"] == "closed" for o in c.orders), "the fill")
        await until(lambda: d.pongs > 0, "a Pong")
        return created, list(c.orders), list(c.myTrades)

    created, orders, trades = run(venue, body)
    [order] = orders
    assert (order["id"], order["clientOrderId"], order["status"], order["filled"]) == (
        created["id"],
        "ws-1",
        "closed",
        0.002,
    )
    assert order["fee"]["cost"] == pytest.approx(0.002 * PRICE * TAKER)
    [trade] = trades
    assert (trade["order"], trade["amount"], trade["price"], trade["id"]) == (
        created["id"],
        0.002,
        PRICE,
        None,
    )
    assert trade["fee"]["cost"] == pytest.approx(0.002 * PRICE * TAKER)


def test_ccxt_keeps_one_fill_per_symbol_when_fills_have_no_id(venue):
    """Partial fills arrive as two ORDER_TRADE_UPDATEs, but with no fill id ccxt.pro's trade
    cache (by symbol and id) keeps only the last: count fills from the orders' ``filled``. The
    streamed order's fee is its last fill's ("n" is per event), not the order's total."""
    venue.exchange("bingx").script.partial.append(2)

    async def body(c):
        await c.load_markets()
        orders = asyncio.ensure_future(c.watch_orders(SYMBOL))
        asyncio.ensure_future(c.watch_my_trades(SYMBOL))
        await until(user_socket(venue), "the user socket")
        await c.create_order(SYMBOL, "market", "buy", 0.002, None, {"clientOrderId": "p-1"})
        await orders
        await until(lambda: any(o["filled"] == 0.002 for o in c.orders), "both fills")
        return list(c.orders), list(c.myTrades)

    [order], trades = run(venue, body)
    assert [(t["amount"], t["id"]) for t in trades] == [(0.001, None)]
    assert (order["status"], order["filled"]) == ("closed", 0.002)
    assert order["fee"]["cost"] == pytest.approx(0.001 * PRICE * TAKER)


def test_watch_balance_after_watch_orders_waits_forever_for_its_snapshot(venue):
    """ccxt.pro bingx: a second private watch on the user socket never fetches the balance
    snapshot that watch_balance then awaits; awaitBalanceSnapshot=False (or watching the
    balance first) avoids it."""

    async def body(c):
        await c.load_markets()
        asyncio.ensure_future(c.watch_orders(SYMBOL))
        await until(user_socket(venue), "the user socket")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(c.watch_balance(), 0.5)
        c.options["watchBalance"]["awaitBalanceSnapshot"] = False
        balance = asyncio.ensure_future(c.watch_balance())
        await until(watching(c, "swap:balance"), "watch_balance")
        await c.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "b-1"})
        return await balance

    balance = run(venue, body)
    # The stream's free is the wallet balance ("wb"), fee paid.
    assert balance["USDT"]["free"] == pytest.approx(100_000.0 - 0.001 * PRICE * TAKER)


def test_watch_positions_turns_both_into_a_side(venue):
    async def body(c):
        await c.load_markets()
        positions = asyncio.ensure_future(c.watch_positions([SYMBOL]))
        await until(user_socket(venue), "the user socket")
        await until(watching(c, f"swap:positions::{SYMBOL}"), "watch_positions")
        await c.create_order(SYMBOL, "market", "sell", 0.002, None, {"clientOrderId": "wp-1"})
        return await positions

    [pos] = run(venue, body)
    assert (pos["symbol"], pos["side"], pos["contracts"], pos["hedged"]) == (
        SYMBOL,
        "short",
        0.002,
        False,
    )


async def _raw_user_frames(venue: FakeVenue, client: Any, act: Callable[[], None], n: int):
    """The first ``n`` non-heartbeat user-stream events after ``act``, read with a plain
    aiohttp socket (to see the frames as sent: binary, GZIP)."""
    key = (await client.userAuthPrivatePostUserDataStream())["listenKey"]
    url = f"{venue.ws_url('bingx')}/swap-market?listenKey={key}"
    events = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await until(user_socket(venue), "the raw user socket")
        act()
        while len(events) < n:
            msg = await ws.receive(timeout=5)
            assert msg.type == aiohttp.WSMsgType.BINARY
            text = gzip.decompress(msg.data).decode()
            if text != "Ping":
                events.append(json.loads(text))
    return events


def _summary(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (e["e"], e["o"]["x"] if e["e"] == "ORDER_TRADE_UPDATE" else e["a"]["m"]) for e in events
    ]


def test_user_stream_events_are_duplicated_and_reordered_as_scripted(venue):
    ex = venue.exchange("bingx")

    def buy(cid: str) -> Callable[[], None]:
        return lambda: ex.place(MID, "buy", "market", 0.001, client_id=cid)

    async def body(c):
        venue.faults.duplicate_events = 1
        dup = await _raw_user_frames(venue, c, buy("raw-1"), 4)
        venue.faults.reorder_events = 1
        reordered = await _raw_user_frames(venue, c, buy("raw-2"), 3)
        return dup, reordered

    dup, reordered = run(venue, body)
    assert _summary(dup) == [
        ("ORDER_TRADE_UPDATE", "NEW"),
        ("ORDER_TRADE_UPDATE", "NEW"),
        ("ORDER_TRADE_UPDATE", "TRADE"),
        ("ACCOUNT_UPDATE", "ORDER"),
    ]
    trade = dup[2]["o"]
    assert (trade["c"], trade["X"], trade["z"], trade["l"], trade["L"]) == (
        "raw-1",
        "FILLED",
        "0.0010",
        "0.0010",
        "50000.0",
    )
    assert dup[3]["a"]["P"][0]["pa"] == "0.0010"
    assert _summary(reordered) == [
        ("ORDER_TRADE_UPDATE", "TRADE"),
        ("ORDER_TRADE_UPDATE", "NEW"),
        ("ACCOUNT_UPDATE", "ORDER"),
    ]


def test_a_dropped_user_socket_fails_the_watch_and_the_next_watch_reconnects(venue):
    d = dialect(venue)

    async def body(c):
        await c.load_markets()
        pending = asyncio.ensure_future(c.watch_orders(SYMBOL))
        await until(user_socket(venue), "the user socket")
        first = {s for s in list(d.socks) if s.user}
        dropped = d.drop_sockets(user=True)
        with pytest.raises(cx.NetworkError):
            await pending
        again = asyncio.ensure_future(c.watch_orders(SYMBOL))
        await until(
            lambda: any(s.user and s not in first for s in list(d.socks)), "a new user socket"
        )
        created = await c.create_order(
            SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "re-1"}
        )
        seen = await again
        return dropped, created, seen

    dropped, created, seen = run(venue, body)
    assert dropped == 1
    assert created["id"] in [o["id"] for o in seen]


def test_listen_keys_are_extended_and_unknown_ones_refused(venue):
    async def body(c):
        key = (await c.userAuthPrivatePostUserDataStream())["listenKey"]
        kept = await c.userAuthPrivatePutUserDataStream({"listenKey": key})
        with pytest.raises(cx.BadRequest):
            await c.userAuthPrivatePutUserDataStream({"listenKey": "nope"})
        return key, kept

    key, kept = run(venue, body)
    assert key in dialect(venue).listen_keys and kept == {}
    assert venue.faults.count("listen_key") == 3


def test_cancel_all_after_cancels_when_the_timer_runs_out(venue):
    d = dialect(venue)
    ex = venue.exchange("bingx")

    async def body(c):
        with pytest.raises(cx.BadRequest):  # BingX wants 10 to 120 s
            await c.cancel_all_orders_after(1_000)
        d.countdown_min_s = 1
        await c.create_order(SYMBOL, "limit", "buy", 0.001, 45_000.0, {"clientOrderId": "dm-1"})
        armed = await c.cancel_all_orders_after(1_000)
        await until(lambda: not ex.open_orders(MID), "the countdown", timeout=5)
        return armed

    armed = run(venue, body)
    assert armed["data"]["status"] == "ACTIVATED"
    assert [o.status for o in ex.orders.values()] == ["cancelled"]
