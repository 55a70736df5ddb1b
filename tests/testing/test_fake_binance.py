"""The Binance dialects of the fake venue, driven by the real ccxt.pro clients (``binance`` spot
and ``binanceusdm``) pointed at it with ``riskguard.venues.ccxt.urls.rewrite``: markets and
time, orders, account reads, errors and their ccxt classes, usage headers, signatures, the
USD-M countdown cancel-all, user and market streams, and the fault hooks."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import ccxt.pro as ccxtpro
import pytest
from ccxt.base import errors
from riskguard.testing.fake.dialects.binance import ALGO_ID_OFFSET, BinanceSpot, BinanceUsdm
from riskguard.testing.fake.exchange import Exchange, FakeMarket
from riskguard.testing.fake.server import FakeVenue
from riskguard.venues.ccxt.urls import rewrite

SPOT = FakeMarket(
    "BTCUSDT", "BTC", "USDT", kind="spot", tick=0.01, lot=0.00001, min_qty=0.00001, min_notional=5.0
)
PERP = FakeMarket(
    "BTCUSDT",
    "BTC",
    "USDT",
    kind="swap",
    tick=0.1,
    lot=0.001,
    min_qty=0.001,
    min_notional=100.0,
    max_leverage=20.0,
)
SYMBOL = {"binance": "BTC/USDT", "binanceusdm": "BTC/USDT:USDT"}
PRICE = 30_000.0


def run(coro: Awaitable[Any]) -> Any:
    """Runs a test body with a hard bound, so no test can hang."""
    return asyncio.run(asyncio.wait_for(coro, 25))  # type: ignore[arg-type]


def make_client(venue: FakeVenue, kind: str, **options: Any) -> Any:
    """A real ccxt.pro client pointed at the fake venue, loading only its market type."""
    opts: dict[str, Any] = {"fetchCurrencies": False}  # a keyed client calls sapi otherwise
    if kind == "binance":
        # spot alone, and no margin pair lists (a keyed spot client fetches them by default)
        opts.update({"fetchMargins": False, "fetchMarkets": {"types": ["spot"]}})
    opts.update(options)
    cls = ccxtpro.binance if kind == "binance" else ccxtpro.binanceusdm
    client = cls({"apiKey": "key", "secret": "secret", "enableRateLimit": False, "options": opts})
    client.urls["api"] = rewrite(client.urls["api"], venue.base_url(kind), venue.ws_url(kind))
    return client


@dataclass
class Session:
    venue: FakeVenue
    dialect: Any
    exchange: Exchange
    client: Any
    symbol: str


@contextlib.asynccontextmanager
async def session(
    kind: str, *, cash: float = 100_000.0, load: bool = True, **options: Any
) -> AsyncIterator[Session]:
    market = SPOT if kind == "binance" else PERP
    exchange = Exchange([market], cash=cash, prices={"BTCUSDT": PRICE})
    dialect = BinanceSpot(exchange) if kind == "binance" else BinanceUsdm(exchange)
    with FakeVenue([dialect]) as venue:
        client = make_client(venue, kind, **options)
        try:
            if load:
                await client.load_markets()
            yield Session(venue, dialect, exchange, client, SYMBOL[kind])
        finally:
            await client.close()


async def eventually(check: Callable[[], bool], seconds: float = 3.0) -> None:
    """Waits (bounded) until ``check()`` holds."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def raises(coro: Awaitable[Any]) -> BaseException:
    """The exception ``coro`` raises (bounded), failing the test if it returns."""
    try:
        await asyncio.wait_for(coro, 5)
    except BaseException as e:  # noqa: BLE001 - the test inspects the class
        return e
    raise AssertionError("no exception")


# -- markets and time ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["binance", "binanceusdm"])
def test_markets_carry_the_fake_markets_steps_and_limits(kind: str) -> None:
    async def body() -> None:
        async with session(kind, load=False) as s:
            markets = await s.client.load_markets()
            assert list(markets) == [s.symbol]  # only the needed market type was loaded
            m = markets[s.symbol]
            fake = SPOT if kind == "binance" else PERP
            assert m["id"] == "BTCUSDT"
            assert m["precision"]["price"] == fake.tick
            assert m["precision"]["amount"] == fake.lot
            assert m["limits"]["amount"]["min"] == fake.min_qty
            assert m["limits"]["cost"]["min"] == fake.min_notional
            assert m["spot"] is (kind == "binance")
            if kind == "binanceusdm":
                assert m["swap"] and m["linear"] and m["settle"] == "USDT"
                assert m["contractSize"] == 1.0
                assert m["limits"]["market"]["min"] == fake.min_qty  # MARKET_LOT_SIZE
            ops = [op for op, _ in s.venue.faults.log]
            assert ops == ["markets"]

    run(body())


def test_a_default_spot_client_loads_through_the_sapi_endpoints() -> None:
    async def body() -> None:
        # No options: ccxt also asks for currencies and margin pairs with a key.
        async with session("binance", load=False, fetchCurrencies=True, fetchMargins=True) as s:
            await s.client.load_markets()
            assert s.client.currencies["BTC"]["info"]["coin"] == "BTC"  # from capital/config
            assert s.client.currencies["USDT"]["active"] is True
            # exchangeInfo, capital/config/getall, margin/allPairs (twice: for the currencies
            # and for the markets) and margin/isolated/allPairs
            assert s.venue.faults.count("markets") == 5

    run(body())


@pytest.mark.parametrize("kind", ["binance", "binanceusdm"])
def test_time_and_clock_skew(kind: str) -> None:
    async def body() -> None:
        async with session(kind) as s:
            s.dialect.skew_ms = 120_000  # the venue's clock runs two minutes ahead
            before = time.time() * 1000
            server = await s.client.fetch_time()
            after = time.time() * 1000
            # The venue's clock, read between the two: two minutes ahead of ours.
            assert before + 120_000 - 1 <= server <= after + 120_000 + 1
            e = await raises(s.client.fetch_balance())
            assert isinstance(e, errors.InvalidNonce) and "-1021" in str(e)
            await s.client.load_time_difference()
            assert abs(s.client.options["timeDifference"] + 120_000) < 5_000
            balance = await s.client.fetch_balance()
            assert balance["total"]["USDT"] == pytest.approx(100_000.0)

    run(body())


# -- spot orders and account --------------------------------------------------------------------


def test_spot_orders_account_and_trades() -> None:
    async def body() -> None:
        async with session("binance") as s:
            c = s.client
            m = await c.create_order(
                s.symbol, "market", "buy", 0.01, None, {"clientOrderId": "rg-m1"}
            )
            # spot answers a market order FILLED, with its fills
            assert m["status"] == "closed" and m["filled"] == pytest.approx(0.01)
            assert m["clientOrderId"] == "rg-m1" and m["average"] == pytest.approx(PRICE)
            fills = m["info"]["fills"]
            assert len(fills) == 1 and float(fills[0]["commission"]) == pytest.approx(0.12)
            assert s.exchange.get(client_id="rg-m1").filled == pytest.approx(0.01)

            limit = await c.create_order(
                s.symbol, "limit", "buy", 0.001, 29_000.0, {"clientOrderId": "rg-l1"}
            )
            assert limit["status"] == "open" and limit["price"] == 29_000.0
            stop = await c.create_order(
                s.symbol,
                "limit",
                "sell",
                0.001,
                28_000.0,
                {"clientOrderId": "rg-s1", "triggerPrice": 28_500.0},
            )
            assert stop["info"]["type"] == "STOP_LOSS_LIMIT"
            assert stop["triggerPrice"] == 28_500.0
            stop_m = await c.create_order(
                s.symbol,
                "market",
                "sell",
                0.001,
                None,
                {"clientOrderId": "rg-s2", "triggerPrice": 28_400.0},
            )
            assert stop_m["info"]["type"] == "STOP_LOSS"

            found = await c.fetch_order(None, s.symbol, {"clientOrderId": "rg-l1"})
            assert found["id"] == limit["id"] and found["status"] == "open"
            assert found["amount"] == 0.001
            opened = await c.fetch_open_orders(s.symbol)
            assert {o["clientOrderId"] for o in opened} == {"rg-l1", "rg-s1", "rg-s2"}

            cancelled = await c.cancel_order(limit["id"], s.symbol)
            assert cancelled["status"] == "canceled"
            # Binance: the cancel answer's clientOrderId is the cancel's own id
            assert cancelled["clientOrderId"] != "rg-l1"
            assert cancelled["info"]["origClientOrderId"] == "rg-l1"
            by_cid = await c.cancel_order(None, s.symbol, {"clientOrderId": "rg-s1"})
            assert by_cid["info"]["origClientOrderId"] == "rg-s1"
            assert s.exchange.get(client_id="rg-s1").status == "cancelled"
            rest = await c.cancel_all_orders(s.symbol)
            assert [o["info"]["origClientOrderId"] for o in rest] == ["rg-s2"]
            assert await c.fetch_open_orders(s.symbol) == []
            # given a price, ccxt sizes a spot market order in quote (quoteOrderQty)
            by_cost = await c.create_order(
                s.symbol, "market", "sell", 0.005, PRICE, {"clientOrderId": "rg-q1"}
            )
            assert by_cost["filled"] == pytest.approx(0.005)

            balance = await c.fetch_balance()
            assert balance["BTC"]["total"] == pytest.approx(0.005)
            assert balance["USDT"]["total"] == pytest.approx(100_000 - 300 - 0.12 + 150 - 0.06)
            trades = await c.fetch_my_trades(s.symbol)
            assert len(trades) == 2
            t = trades[0]
            assert t["order"] == m["id"] and t["side"] == "buy" and t["amount"] == 0.01
            assert t["fee"] == {"cost": pytest.approx(0.12), "currency": "USDT"}

    run(body())


def test_spot_reuses_a_client_id_once_its_order_is_final() -> None:
    async def body() -> None:
        async with session("binance") as s:
            await s.client.create_order(
                s.symbol, "market", "buy", 0.01, None, {"clientOrderId": "again"}
            )
            # Binance refuses a client id only while its order is open: a resent filled
            # market order executes a second time.
            await s.client.create_order(
                s.symbol, "market", "buy", 0.01, None, {"clientOrderId": "again"}
            )
            assert len(s.exchange.trades) == 2
            latest = await s.client.fetch_order(None, s.symbol, {"clientOrderId": "again"})
            assert latest["clientOrderId"] == "again"
            assert int(latest["id"]) == max(s.exchange.orders)

    run(body())


def test_spot_partial_fills() -> None:
    async def body() -> None:
        async with session("binance") as s:
            s.exchange.script.partial.append(3)
            o = await s.client.create_order(
                s.symbol, "market", "buy", 0.03, None, {"clientOrderId": "parts"}
            )
            assert [float(f["qty"]) for f in o["info"]["fills"]] == pytest.approx([0.01] * 3)
            trades = await s.client.fetch_my_trades(s.symbol)
            assert len({t["id"] for t in trades}) == 3

    run(body())


# -- USD-M orders and account -------------------------------------------------------------------


def test_usdm_orders_positions_and_trades() -> None:
    async def body() -> None:
        async with session("binanceusdm") as s:
            c = s.client
            m = await c.create_order(
                s.symbol, "market", "buy", 0.01, None, {"clientOrderId": "u-m1"}
            )
            # USD-M answers a market order NEW with nothing filled; it fills right after.
            assert m["status"] == "open" and m["filled"] == 0.0
            assert m["info"]["executedQty"] == "0.000"
            await eventually(lambda: s.exchange.get(client_id="u-m1").status == "filled")
            done = await c.fetch_order(None, s.symbol, {"clientOrderId": "u-m1"})
            assert done["status"] == "closed" and done["filled"] == 0.01
            assert done["average"] == pytest.approx(PRICE)

            limit = await c.create_order(
                s.symbol, "limit", "buy", 0.01, 29_000.0, {"clientOrderId": "u-l1"}
            )
            assert limit["status"] == "open" and limit["info"]["type"] == "LIMIT"
            # conditional orders go to the algo endpoints (clientAlgoId on the wire)
            stop = await c.create_order(
                s.symbol,
                "market",
                "sell",
                0.01,
                None,
                {"clientOrderId": "u-s1", "triggerPrice": 29_500.0, "reduceOnly": True},
            )
            assert stop["clientOrderId"] == "u-s1" and stop["reduceOnly"] is True
            assert int(stop["id"]) == s.exchange.get(client_id="u-s1").order_id + ALGO_ID_OFFSET
            stop_l = await c.create_order(
                s.symbol,
                "limit",
                "sell",
                0.01,
                29_400.0,
                {"clientOrderId": "u-s2", "triggerPrice": 29_500.0},
            )
            assert stop_l["info"]["orderType"] == "STOP"
            regular = await c.fetch_open_orders(s.symbol)
            assert [o["clientOrderId"] for o in regular] == ["u-l1"]
            algo = await c.fetch_open_orders(s.symbol, None, None, {"trigger": True})
            assert {o["clientOrderId"] for o in algo} == {"u-s1", "u-s2"}
            q = await c.fetch_order(None, s.symbol, {"clientOrderId": "u-s1", "trigger": True})
            assert q["status"] == "open" and q["triggerPrice"] == 29_500.0

            gone = await c.cancel_order(None, s.symbol, {"clientOrderId": "u-s2", "trigger": True})
            assert gone["clientOrderId"] == "u-s2"
            assert s.exchange.get(client_id="u-s2").status == "cancelled"
            cancelled = await c.cancel_order(limit["id"], s.symbol)
            # unlike spot, a USD-M cancel answer carries the order's own client id
            assert cancelled["status"] == "canceled" and cancelled["clientOrderId"] == "u-l1"

            s.exchange.set_price("BTCUSDT", 29_450.0)  # the stop triggers and fills
            await eventually(lambda: s.exchange.get(client_id="u-s1").status == "filled")
            q = await c.fetch_order(None, s.symbol, {"clientOrderId": "u-s1", "trigger": True})
            assert q["info"]["algoStatus"] == "FINISHED"
            actual = await c.fetch_order(q["info"]["actualOrderId"], s.symbol)
            assert actual["status"] == "closed" and actual["average"] == pytest.approx(29_450.0)
            assert await c.fetch_positions() == []

            await c.create_order(s.symbol, "market", "buy", 0.02, None, {"clientOrderId": "u-m2"})
            await eventually(lambda: s.exchange.get(client_id="u-m2").status == "filled")
            close = await c.create_order(
                s.symbol,
                "market",
                "sell",
                0.01,
                None,
                {"clientOrderId": "u-r1", "reduceOnly": True},
            )
            assert close["reduceOnly"] is True
            await eventually(lambda: s.exchange.get(client_id="u-r1").status == "filled")
            positions = await c.fetch_positions()
            assert len(positions) == 1
            p = positions[0]
            assert p["symbol"] == s.symbol and p["side"] == "long"
            assert p["contracts"] == pytest.approx(0.01) and p["entryPrice"] == 29_450.0
            assert p["marginMode"] == "cross"

            trades = await c.fetch_my_trades(s.symbol)
            assert len(trades) == 4
            assert trades[1]["order"] == q["info"]["actualOrderId"]
            assert float(trades[1]["info"]["realizedPnl"]) == pytest.approx(-5.5)
            assert trades[0]["fee"] == {"cost": pytest.approx(0.12), "currency": "USDT"}
            wallet = s.exchange.cash
            balance = await c.fetch_balance()
            assert balance["USDT"]["total"] == pytest.approx(wallet, abs=1e-6)
            assert balance["USDT"]["used"] == pytest.approx(0.01 * 29_450.0 / 20)

    run(body())


def test_usdm_cancel_all_leaves_conditional_orders_to_their_own_endpoint() -> None:
    async def body() -> None:
        async with session("binanceusdm") as s:
            c = s.client
            await c.create_order(s.symbol, "limit", "buy", 0.01, 29_000.0, {"clientOrderId": "a"})
            await c.create_order(
                s.symbol,
                "market",
                "buy",
                0.01,
                None,
                {"clientOrderId": "b", "triggerPrice": 31_000.0},
            )
            answer = await c.cancel_all_orders(s.symbol)
            assert answer[0]["info"]["code"] == 200
            assert s.exchange.get(client_id="a").status == "cancelled"
            assert s.exchange.get(client_id="b").status == "new"
            await c.cancel_all_orders(s.symbol, {"trigger": True})
            assert s.exchange.get(client_id="b").status == "cancelled"

    run(body())


def test_usdm_partial_fills() -> None:
    async def body() -> None:
        async with session("binanceusdm") as s:
            s.exchange.script.partial.append(3)
            await s.client.create_order(
                s.symbol, "market", "buy", 0.03, None, {"clientOrderId": "parts"}
            )
            await eventually(lambda: s.exchange.get(client_id="parts").status == "filled")
            trades = await s.client.fetch_my_trades(s.symbol)
            assert [t["amount"] for t in trades] == pytest.approx([0.01] * 3)
            assert len({t["id"] for t in trades}) == 3

    run(body())


@pytest.mark.parametrize("kind", ["binance", "binanceusdm"])
def test_a_stalled_create_is_found_by_client_id_filled_once(kind: str) -> None:
    async def body() -> None:
        async with session(kind) as s:
            s.venue.faults.stall("create", 1.0)  # carried out, answered after the timeout
            s.client.timeout = 300
            e = await raises(
                s.client.create_order(
                    s.symbol, "market", "buy", 0.01, None, {"clientOrderId": "stalled"}
                )
            )
            assert isinstance(e, errors.RequestTimeout)
            s.client.timeout = 10_000
            await eventually(lambda: s.exchange.get(client_id="stalled").status == "filled")
            found = await s.client.fetch_order(None, s.symbol, {"clientOrderId": "stalled"})
            assert found["status"] == "closed" and found["filled"] == 0.01
            assert len(s.exchange.trades) == 1

    run(body())


# -- errors --------------------------------------------------------------------------------------


def test_spot_rejects() -> None:
    async def body() -> None:
        async with session("binance", cash=1_000.0) as s:
            c, sym = s.client, s.symbol
            e = await raises(
                c.create_order(sym, "market", "buy", 1.0, None, {"clientOrderId": "f1"})
            )
            # matched by its message (ccxt leaves the code out of this one's text)
            assert isinstance(e, errors.InsufficientFunds) and "insufficient balance" in str(e)
            e = await raises(
                c.privatePostOrder(
                    {
                        "symbol": "BTCUSDT",
                        "side": "BUY",
                        "type": "MARKET",
                        "quantity": "0.000015",
                        "newClientOrderId": "f2",
                    }
                )
            )
            assert isinstance(e, errors.InvalidOrder) and "Filter failure: LOT_SIZE" in str(e)
            e = await raises(
                c.privatePostOrder(
                    {
                        "symbol": "BTCUSDT",
                        "side": "BUY",
                        "type": "LIMIT",
                        "timeInForce": "GTC",
                        "quantity": "0.001",
                        "price": "29000.005",
                        "newClientOrderId": "f3",
                    }
                )
            )
            assert isinstance(e, errors.InvalidOrder) and "PRICE_FILTER" in str(e)
            e = await raises(
                c.create_order(sym, "market", "buy", 0.0001, None, {"clientOrderId": "f4"})
            )
            assert isinstance(e, errors.BadRequest) and "Filter failure: NOTIONAL" in str(e)
            await c.create_order(sym, "limit", "buy", 0.001, 29_000.0, {"clientOrderId": "d"})
            e = await raises(
                c.create_order(sym, "limit", "buy", 0.001, 29_000.0, {"clientOrderId": "d"})
            )
            assert isinstance(e, errors.InvalidOrder) and "Duplicate order sent." in str(e)
            e = await raises(c.fetch_order(None, sym, {"clientOrderId": "nope"}))
            assert isinstance(e, errors.OrderNotFound) and "-2013" in str(e)
            e = await raises(c.cancel_order("424242", sym))
            assert isinstance(e, errors.OrderNotFound) and "-2011" in str(e)
            e = await raises(c.privateGetOrder({"symbol": "ETHUSDT", "orderId": 1}))
            assert isinstance(e, errors.BadSymbol) and "-1121" in str(e)

    run(body())


def test_usdm_rejects_are_plain_exchange_errors_off_binance_hosts() -> None:
    async def body() -> None:
        async with session("binanceusdm", cash=1_000.0) as s:
            c, sym = s.client, s.symbol

            async def code(coro: Awaitable[Any]) -> tuple[type, int]:
                e = await raises(coro)
                assert isinstance(e, errors.ExchangeError), e
                return type(e), json.loads(str(e).split(" ", 1)[1])["code"]

            # ccxt maps these USD-M codes only for fapi.binance.com URLs: here they come back
            # as plain ExchangeError, and only the code tells them apart.
            assert await code(
                c.create_order(sym, "market", "buy", 1.0, None, {"clientOrderId": "m"})
            ) == (errors.ExchangeError, -2019)
            assert await code(
                c.create_order(sym, "market", "buy", 0.001, None, {"clientOrderId": "n"})
            ) == (errors.ExchangeError, -4164)
            await c.create_order(sym, "limit", "buy", 0.01, 29_000.0, {"clientOrderId": "d"})
            assert await code(
                c.create_order(sym, "limit", "buy", 0.01, 29_000.0, {"clientOrderId": "d"})
            ) == (errors.ExchangeError, -4116)
            assert await code(
                c.create_order(
                    sym, "market", "sell", 0.01, None, {"clientOrderId": "r", "reduceOnly": True}
                )
            ) == (errors.ExchangeError, -2022)
            assert await code(
                c.fapiPrivatePostOrder(
                    {
                        "symbol": "BTCUSDT",
                        "side": "BUY",
                        "type": "MARKET",
                        "quantity": "0.0015",
                        "newClientOrderId": "p",
                    }
                )
            ) == (errors.BadRequest, -1111)
            assert await code(c.fetch_order(None, sym, {"clientOrderId": "x"})) == (
                errors.OrderNotFound,
                -2013,
            )
            assert await code(c.cancel_order("424242", sym)) == (errors.OrderNotFound, -2011)

    run(body())


@pytest.mark.parametrize("kind", ["binance", "binanceusdm"])
def test_scripted_statuses_and_their_ccxt_classes(kind: str) -> None:
    async def body() -> None:
        async with session(kind) as s:
            faults, c = s.venue.faults, s.client
            faults.fail("balance", 429, headers={"Retry-After": "7"})
            e = await raises(c.fetch_balance())
            assert type(e) is errors.DDoSProtection and '"code": -1003' in str(e)
            assert c.last_response_headers.get("Retry-After") == "7"
            faults.fail("balance", 418, headers={"Retry-After": "120"})
            e = await raises(c.fetch_balance())
            assert type(e) is errors.DDoSProtection and "banned until" in str(e)
            faults.fail("balance", 500)
            e = await raises(c.fetch_balance())
            assert type(e) is errors.OperationFailed and '"code": -1001' in str(e)
            assert not isinstance(e, (errors.ExchangeError, errors.NetworkError))
            faults.fail("balance", 503)
            e = await raises(c.fetch_balance())
            assert isinstance(e, errors.ExchangeNotAvailable) and "<html>" in str(e)
            faults.fail("create", 504, execute=True)  # accepted, then a gateway timeout
            e = await raises(
                c.create_order(s.symbol, "market", "buy", 0.01, None, {"clientOrderId": "gw"})
            )
            assert isinstance(e, errors.RequestTimeout)
            await eventually(lambda: s.exchange.get(client_id="gw").status == "filled")
            assert faults.count("balance") == 4

    run(body())


@pytest.mark.parametrize("kind", ["binance", "binanceusdm"])
def test_usage_headers_count_weight_and_orders(kind: str) -> None:
    async def body() -> None:
        async with session(kind) as s:
            c = s.client
            frozen = s.dialect.server_ms()
            s.dialect.server_ms = lambda: frozen  # no window boundary inside the test
            info_weight = 20 if kind == "binance" else 1
            await c.fetch_time()
            assert int(c.last_response_headers["X-MBX-USED-WEIGHT-1M"]) == info_weight + 1
            await c.create_order(s.symbol, "limit", "buy", 0.01, 29_000.0, {"clientOrderId": "a"})
            await c.create_order(s.symbol, "limit", "buy", 0.01, 29_000.0, {"clientOrderId": "b"})
            headers = c.last_response_headers
            assert headers["X-MBX-ORDER-COUNT-10S"] == "2"
            order_weight = 1 if kind == "binance" else 0
            assert int(headers["X-MBX-USED-WEIGHT-1M"]) == info_weight + 1 + 2 * order_weight
            await c.fetch_balance()
            assert "X-MBX-ORDER-COUNT-10S" not in c.last_response_headers

    run(body())


# -- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["binance", "binanceusdm"])
def test_signature_and_key_are_checked(kind: str) -> None:
    async def body() -> None:
        async with session(kind) as s:
            c = s.client
            await c.fetch_balance()
            # a signature over percent-encoded characters checks out too
            odd = "rg:1/2 x+y"
            await c.create_order(s.symbol, "limit", "buy", 0.01, 29_000.0, {"clientOrderId": odd})
            assert (await c.fetch_order(None, s.symbol, {"clientOrderId": odd}))["amount"] == 0.01
            c.secret = "not-the-secret"
            e = await raises(c.fetch_balance())
            assert isinstance(e, errors.AuthenticationError) and "-1022" in str(e)
            c.secret, c.apiKey = "secret", "someone-else"
            e = await raises(c.fetch_balance())
            assert "-2015" in str(e)
            if kind == "binance":
                # after one successful spot private call ccxt reads -2015 as a temporary ban
                assert isinstance(e, errors.DDoSProtection)
            else:
                assert isinstance(e, errors.AuthenticationError)
            async with aiohttp.ClientSession() as http:
                path = "/api/v3/account" if kind == "binance" else "/fapi/v3/account"
                async with http.get(s.venue.base_url(kind) + path) as r:
                    assert r.status == 401 and (await r.json())["code"] == -2015

    run(body())


# -- USD-M countdown cancel-all -----------------------------------------------------------------


def test_usdm_countdown_cancels_the_symbols_orders_when_it_lapses() -> None:
    async def body() -> None:
        async with session("binanceusdm") as s:
            c = s.client
            await c.create_order(s.symbol, "limit", "buy", 0.01, 29_000.0, {"clientOrderId": "a"})
            await c.create_order(
                s.symbol,
                "market",
                "buy",
                0.01,
                None,
                {"clientOrderId": "b", "triggerPrice": 31_000.0},
            )
            answer = await c.fapiPrivatePostCountdownCancelAll(
                {"symbol": "BTCUSDT", "countdownTime": 5_000}
            )
            assert answer == {"symbol": "BTCUSDT", "countdownTime": "5000"}
            await c.fapiPrivatePostCountdownCancelAll({"symbol": "BTCUSDT", "countdownTime": 0})
            await c.fapiPrivatePostCountdownCancelAll({"symbol": "BTCUSDT", "countdownTime": 50})
            await eventually(lambda: s.exchange.open_orders() == [])
            assert s.exchange.get(client_id="a").status == "cancelled"
            assert s.exchange.get(client_id="b").status == "cancelled"
            assert s.venue.faults.count("countdown") == 3

    run(body())


def test_usdm_a_disarmed_countdown_cancels_nothing() -> None:
    async def body() -> None:
        async with session("binanceusdm") as s:
            c = s.client
            await c.create_order(s.symbol, "limit", "buy", 0.01, 29_000.0, {"clientOrderId": "a"})
            await c.fapiPrivatePostCountdownCancelAll({"symbol": "BTCUSDT", "countdownTime": 100})
            await c.fapiPrivatePostCountdownCancelAll({"symbol": "BTCUSDT", "countdownTime": 0})
            # A sleep started on the venue's loop after the disarm ends after the disarmed
            # timer's moment: had that timer still been armed, it would have fired first.
            assert s.venue.loop is not None
            later = asyncio.run_coroutine_threadsafe(asyncio.sleep(0.15), s.venue.loop)
            await asyncio.wait_for(asyncio.wrap_future(later), 5)
            assert s.exchange.get(client_id="a").status == "new"

    run(body())


# -- user streams --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["binance", "binanceusdm"])
def test_user_stream_reports_fills_to_watch_orders_and_watch_my_trades(kind: str) -> None:
    async def body() -> None:
        async with session(kind) as s:
            c, sym = s.client, s.symbol
            orders = asyncio.ensure_future(c.watch_orders(sym))
            trades = asyncio.ensure_future(c.watch_my_trades(sym))
            await eventually(lambda: any(k.user for k in s.dialect.socks))
            placed = await c.create_order(sym, "market", "buy", 0.01, None, {"clientOrderId": "w1"})
            first = await asyncio.wait_for(orders, 5)
            assert first[0]["clientOrderId"] == "w1"
            got = await asyncio.wait_for(trades, 5)
            fill = s.exchange.trades[0]
            assert [t["id"] for t in got] == [str(fill.trade_id)]
            assert got[0]["amount"] == 0.01 and got[0]["price"] == PRICE
            assert got[0]["fee"] == {"cost": pytest.approx(0.12), "currency": "USDT"}
            assert got[0]["order"] == placed["id"]
            # ccxt keeps the last event of each order: the fill's
            cache = c.orders.hashmap[sym]
            await eventually(lambda: cache[placed["id"]]["status"] == "closed")
            last = cache[placed["id"]]
            assert last["clientOrderId"] == "w1" and last["filled"] == 0.01
            assert last["fee"]["cost"] == pytest.approx(0.12)

            # a cancel event names the order by its own client id
            resting = await c.create_order(
                sym, "limit", "buy", 0.01, 29_000.0, {"clientOrderId": "w2"}
            )
            await c.cancel_order(None, sym, {"clientOrderId": "w2"})
            await eventually(lambda: cache.get(resting["id"], {}).get("status") == "canceled")
            assert cache[resting["id"]]["clientOrderId"] == "w2"


def test_usdm_user_stream_reports_a_triggered_stop_and_the_account() -> None:
    async def body() -> None:
        async with session("binanceusdm") as s:
            c = s.client
            await c.create_order(s.symbol, "market", "buy", 0.01, None, {"clientOrderId": "p"})
            await eventually(lambda: s.exchange.get(client_id="p").status == "filled")
            await c.create_order(
                s.symbol,
                "market",
                "sell",
                0.01,
                None,
                {"clientOrderId": "sl", "triggerPrice": 29_500.0, "reduceOnly": True},
            )
            trades = asyncio.ensure_future(c.watch_my_trades(s.symbol))
            await eventually(lambda: any(k.user for k in s.dialect.socks))
            s.exchange.set_price("BTCUSDT", 29_400.0)
            got = await asyncio.wait_for(trades, 5)
            stop_fill = [t for t in got if t["side"] == "sell"]
            assert len(stop_fill) == 1 and stop_fill[0]["price"] == 29_400.0
            order = s.exchange.get(client_id="sl")
            cached = c.orders.hashmap[s.symbol]
            algo = cached[str(order.order_id + ALGO_ID_OFFSET)]
            assert algo["clientOrderId"] == "sl" and algo["info"]["X"] == "TRIGGERED"
            placed = cached[str(order.order_id)]
            assert placed["clientOrderId"] == "sl" and placed["status"] == "closed"
            # the ACCOUNT_UPDATE that follows the fill carries the wallet
            await eventually(lambda: "USDT" in c.balance["linear"])
            assert c.balance["linear"]["USDT"]["total"] == pytest.approx(s.exchange.cash)

    run(body())


async def _user_socket(s: Session) -> aiohttp.ClientWebSocketResponse:
    key = (await s.client.fapiPrivatePostListenKey())["listenKey"]
    http = aiohttp.ClientSession()
    ws = await http.ws_connect(s.venue.ws_url("binanceusdm") + f"/private/ws?listenKey={key}")
    ws._test_http = http  # type: ignore[attr-defined]  # closed with the socket
    await eventually(lambda: any(k.user for k in s.dialect.socks))
    return ws


async def _events(ws: aiohttp.ClientWebSocketResponse, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        msg = await asyncio.wait_for(ws.receive(), 5)
        out.append(json.loads(msg.data))
    return out


def test_usdm_listen_key_stream_honours_duplicate_and_reorder_faults() -> None:
    async def body() -> None:
        async with session("binanceusdm") as s:
            ws = await _user_socket(s)
            try:
                s.venue.faults.duplicate_events = 1
                await s.client.create_order(
                    s.symbol, "limit", "buy", 0.01, 29_000.0, {"clientOrderId": "dup"}
                )
                first = await _events(ws, 2)
                assert [e["o"]["x"] for e in first] == ["NEW", "NEW"]
                assert first[0] == first[1] and first[0]["o"]["c"] == "dup"

                s.venue.faults.reorder_events = 1
                await s.client.create_order(
                    s.symbol, "limit", "buy", 0.01, 29_000.0, {"clientOrderId": "ro"}
                )
                await s.client.cancel_order(None, s.symbol, {"clientOrderId": "ro"})
                late = await _events(ws, 2)
                assert [(e["o"]["c"], e["o"]["x"]) for e in late] == [
                    ("ro", "CANCELED"),
                    ("ro", "NEW"),
                ]
                # a listenKey's PUT keeps it; DELETE ends its stream
                await s.client.fapiPrivatePutListenKey()
                await s.client.fapiPrivateDeleteListenKey()
                msg = await asyncio.wait_for(ws.receive(), 5)
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            finally:
                await ws.close()
                await ws._test_http.close()  # type: ignore[attr-defined]
            assert s.venue.faults.count("listen_key") == 3

    run(body())


@pytest.mark.parametrize("kind", ["binance", "binanceusdm"])
def test_dropped_user_socket_fails_the_watch(kind: str) -> None:
    async def body() -> None:
        async with session(kind) as s:
            pending = asyncio.ensure_future(s.client.watch_orders(s.symbol))
            await eventually(lambda: any(k.user for k in s.dialect.socks))
            assert s.dialect.drop_sockets(user=True) == 1
            e = await raises(pending)
            assert isinstance(e, errors.NetworkError)

    run(body())


def test_spot_ws_api_subscription_checks_the_signature() -> None:
    async def body() -> None:
        async with session("binance") as s:
            url = s.venue.ws_url("binance") + "/ws-api/v3"
            params = {"apiKey": "key", "recvWindow": 10000, "timestamp": int(time.time() * 1000)}
            payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
            good = hmac.new(b"secret", payload.encode(), hashlib.sha256).hexdigest()
            async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
                await ws.send_json(
                    {
                        "id": "a",
                        "method": "userDataStream.subscribe.signature",
                        "params": {**params, "signature": "0" * 64},
                    }
                )
                bad = await asyncio.wait_for(ws.receive_json(), 5)
                assert bad["status"] == 400 and bad["error"]["code"] == -1022
                await ws.send_json(
                    {
                        "id": "b",
                        "method": "userDataStream.subscribe.signature",
                        "params": {**params, "signature": good},
                    }
                )
                ok = await asyncio.wait_for(ws.receive_json(), 5)
                assert ok["status"] == 200 and ok["result"] == {"subscriptionId": 0}
                await s.client.create_order(
                    s.symbol, "limit", "buy", 0.001, 29_000.0, {"clientOrderId": "evt"}
                )
                event = await asyncio.wait_for(ws.receive_json(), 5)
                assert event["subscriptionId"] == 0
                assert event["event"]["e"] == "executionReport"
                assert event["event"]["c"] == "evt" and event["event"]["x"] == "NEW"
            # ccxt 4.5.90 turns a refused subscription into KeyError('spot')
            s.dialect.secret = "rotated"
            e = await raises(s.client.watch_orders(s.symbol))
            assert isinstance(e, (KeyError, errors.BaseError))

    run(body())


# -- market streams -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["binance", "binanceusdm"])
def test_market_streams_trades_book_ticker_and_bars(kind: str) -> None:
    async def body() -> None:
        async with session(kind) as s:
            c, sym = s.client, s.symbol
            fake = SPOT if kind == "binance" else PERP
            trades = asyncio.ensure_future(c.watch_trades(sym))
            book = asyncio.ensure_future(c.watch_bids_asks([sym]))
            ticker = asyncio.ensure_future(c.watch_ticker(sym))
            bars = asyncio.ensure_future(c.watch_ohlcv(sym, "1m"))
            wanted = {
                "btcusdt@trade",
                "btcusdt@bookTicker",
                "btcusdt@miniTicker",
                "btcusdt@kline_1m",
            }
            await eventually(lambda: wanted <= set().union(*(k.topics for k in s.dialect.socks)))
            s.exchange.set_price("BTCUSDT", 30_100.0)
            s.dialect.publish_bar(
                "BTCUSDT", 30_000.0, 30_200.0, 29_900.0, 30_100.0, 12.5, 1_700_000_040_000
            )
            got = await asyncio.wait_for(trades, 5)
            assert [(t["symbol"], t["price"], t["amount"]) for t in got] == [
                (sym, 30_100.0, fake.lot)
            ]
            quotes = await asyncio.wait_for(book, 5)
            assert quotes[sym]["bid"] == pytest.approx(30_100.0 - fake.tick)
            assert quotes[sym]["ask"] == pytest.approx(30_100.0 + fake.tick)
            assert (await asyncio.wait_for(ticker, 5))["last"] == 30_100.0
            assert await asyncio.wait_for(bars, 5) == [
                [1_700_000_040_000, 30_000.0, 30_200.0, 29_900.0, 30_100.0, 12.5]
            ]
            s.venue.faults.silent = True  # the market stream goes quiet
            s.exchange.set_price("BTCUSDT", 30_200.0)
            quiet = asyncio.ensure_future(c.watch_trades(sym))
            await asyncio.sleep(0.2)
            assert not quiet.done()
            quiet.cancel()

    run(body())
