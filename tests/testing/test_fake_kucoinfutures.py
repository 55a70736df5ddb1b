"""The KuCoin Futures dialect of the fake venue, driven by the real ccxt.pro ``kucoinfutures``
client (4.5.90) pointed at it with ``riskguard.venues.ccxt.urls.rewrite``: markets and
quantities in contracts, orders answered with their ids only, lookups by ``clientOid``, both
cancels, KuCoin's error codes as ccxt classes them, the signature, and the streams (market data
through a bullet token, orders, fills and positions on the private channel, with the fault
script's duplicates, reorders and drops)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import ccxt
import ccxt.pro as ccxtpro
import pytest
from riskguard.testing.fake.dialects.kucoinfutures import KucoinFutures
from riskguard.testing.fake.exchange import Exchange, FakeMarket
from riskguard.testing.fake.server import FakeVenue
from riskguard.venues.ccxt.urls import rewrite

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
NAME = "kucoinfutures"


def _markets() -> list[FakeMarket]:
    return [
        FakeMarket(
            id="XBTUSDTM",
            base="BTC",
            quote="USDT",
            kind="swap",
            lot=1,
            min_qty=1,
            contract_size=0.001,
            tick=0.1,
            min_notional=0,
        ),
        FakeMarket(
            id="ETHUSDTM",
            base="ETH",
            quote="USDT",
            kind="swap",
            lot=1,
            min_qty=1,
            contract_size=0.01,
            tick=0.01,
            min_notional=0,
        ),
    ]


class Rig:
    """One fake venue with the KuCoin Futures dialect, and ccxt clients pointed at it."""

    def __init__(self, venue: FakeVenue, dialect: KucoinFutures) -> None:
        self.venue = venue
        self.dialect = dialect
        self.exchange = dialect.exchange
        self.faults = venue.faults

    def client(self, **config: Any) -> Any:
        # ccxt's own limiter spaces KuCoin calls by their weights (75 ms for an order lookup):
        # off here, the fake venue does not limit unless scripted to
        c = ccxtpro.kucoinfutures(
            {
                "apiKey": "key",
                "secret": "secret",
                "password": "pass",
                "timeout": 3000,
                "enableRateLimit": False,
                **config,
            }
        )
        c.urls["api"] = rewrite(c.urls["api"], self.venue.base_url(NAME), self.venue.ws_url(NAME))
        return c

    async def subscribed(
        self,
        topic: str,
        *,
        user: bool | None = None,
        besides: frozenset[Any] = frozenset(),
    ) -> None:
        """Waits (at most 5 s) until a socket of the venue (other than ``besides``) is
        subscribed to ``topic``."""
        for _ in range(500):
            if any(
                topic in s.topics and (user is None or s.user == user) and s not in besides
                for s in list(self.dialect.socks)
            ):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"nobody subscribed to {topic}")

    async def priced_until(self, watch: asyncio.Future[Any], market_id: str, price: float) -> Any:
        """Moves ``market_id`` one tick at a time from ``price`` until ``watch`` resolves (so a
        watch whose future is not registered yet cannot miss the only event); bounded."""
        tick = self.exchange.markets[market_id].tick
        for i in range(100):
            self.exchange.set_price(market_id, round(price + i * tick, 8))
            done, _ = await asyncio.wait({watch}, timeout=0.05)
            if done:
                return watch.result()
        raise AssertionError("the watch saw none of 100 prices")


@pytest.fixture
def rig() -> Iterator[Rig]:
    exchange = Exchange(_markets(), prices={"XBTUSDTM": 60_000.0, "ETHUSDTM": 3_000.0})
    dialect = KucoinFutures(exchange)
    with FakeVenue([dialect]) as venue:
        yield Rig(venue, dialect)


def run(rig: Rig, body: Callable[[Any], Awaitable[None]], **config: Any) -> None:
    """Runs ``body(client)`` on a fresh event loop, bounded to 20 s, and closes the client."""

    async def main() -> None:
        client = rig.client(**config)
        try:
            await asyncio.wait_for(body(client), 20)
        finally:
            await client.close()

    asyncio.run(main())


async def until(condition: Callable[[], Any], what: str) -> Any:
    """Polls ``condition`` (at most 5 s) until it gives a true value, and returns it.

    ccxt.pro resolves a pending watch_* with the first message of a burst; the rest land in
    the client's caches (``client.orders``, ``client.myTrades``) without resolving anything
    until another message comes, so the tests read what the stream delivered there."""
    for _ in range(500):
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"never saw {what}")


# -- loading ---------------------------------------------------------------------------------


def test_load_markets_gives_contract_markets_with_steps_and_limits(rig: Rig) -> None:
    async def body(c: Any) -> None:
        markets = await c.load_markets()
        btc, eth = markets[BTC], markets[ETH]
        assert (btc["id"], btc["base"], btc["baseId"], btc["settle"]) == (
            "XBTUSDTM",
            "BTC",
            "XBT",
            "USDT",
        )
        assert btc["swap"] and btc["contract"] and btc["linear"] and not btc["future"]
        assert btc["contractSize"] == 0.001 and eth["contractSize"] == 0.01
        assert btc["precision"] == {"amount": 1.0, "price": 0.1}
        assert eth["precision"]["price"] == 0.01
        assert btc["limits"]["amount"]["min"] == 1.0
        assert btc["limits"]["leverage"]["max"] == 20.0
        assert btc["taker"] == 0.0004 and btc["maker"] == 0.0002
        # with a key, ccxt's shared kucoin class also asks the spot API on the way
        assert rig.faults.count("markets") == 6
        server = await c.fetch_time()
        assert abs(server - rig.dialect._server_ms()) < 5_000

    run(rig, body)


def test_load_markets_without_a_key_asks_only_public_endpoints(rig: Rig) -> None:
    async def body(c: Any) -> None:
        markets = await c.load_markets()
        assert set(markets) == {BTC, ETH}
        assert rig.faults.count("markets") == 2  # currencies and contracts/active

    run(rig, body, apiKey=None, secret=None, password=None)


# -- orders ----------------------------------------------------------------------------------


def test_market_order_counts_contracts_and_is_answered_with_ids_only(rig: Rig) -> None:
    async def body(c: Any) -> None:
        await c.load_markets()
        placed = await c.create_order(BTC, "market", "buy", 3, None, {"clientOid": "m-1"})
        assert placed["info"] == {"orderId": placed["id"], "clientOid": "m-1"}
        assert placed["status"] is None and placed["filled"] is None

        order = await c.fetch_order(None, BTC, {"clientOid": "m-1"})
        assert order["id"] == placed["id"] and order["clientOrderId"] == "m-1"
        assert (order["status"], order["amount"], order["filled"]) == ("closed", 3.0, 3.0)
        assert order["cost"] == pytest.approx(180.0)  # 3 contracts x 0.001 BTC x 60,000
        assert order["average"] == pytest.approx(60_000.0)
        assert order["fee"] is None  # KuCoin gives fees on the fills only
        assert rig.exchange.position("XBTUSDTM").qty == 3

        (position,) = await c.fetch_positions()
        assert (position["symbol"], position["side"], position["contracts"]) == (BTC, "long", 3)
        assert position["contractSize"] == 0.001
        assert position["entryPrice"] == pytest.approx(60_000.0)
        assert position["notional"] == pytest.approx(180.0)

        (fill,) = await c.fetch_my_trades(BTC)
        assert (fill["order"], fill["amount"], fill["price"]) == (placed["id"], 3.0, 60_000.0)
        assert fill["cost"] == pytest.approx(180.0)
        assert fill["fee"]["currency"] == "USDT"
        assert fill["fee"]["cost"] == pytest.approx(180.0 * 0.0004)
        assert fill["takerOrMaker"] == "taker"

        balance = await c.fetch_balance()
        assert balance["USDT"]["total"] == pytest.approx(100_000.0 - 180.0 * 0.0004)
        assert balance["USDT"]["used"] == pytest.approx(180.0)  # margin at leverage 1

    run(rig, body)


def test_limit_order_is_found_and_cancelled_by_id_and_by_client_oid(rig: Rig) -> None:
    async def body(c: Any) -> None:
        await c.load_markets()
        first = await c.create_order(BTC, "limit", "buy", 2, 50_000, {"clientOid": "l-1"})
        await c.create_order(ETH, "limit", "sell", 5, 3_500, {"clientOrderId": "l-2"})

        open_orders = await c.fetch_open_orders()
        assert sorted(
            (o["clientOrderId"], o["symbol"], o["amount"], o["price"]) for o in open_orders
        ) == [
            ("l-1", BTC, 2.0, 50_000.0),
            ("l-2", ETH, 5.0, 3_500.0),
        ]
        assert [o["clientOrderId"] for o in await c.fetch_open_orders(ETH)] == ["l-2"]

        await c.cancel_order(first["id"], BTC)
        by_id = await c.fetch_order(first["id"], BTC)
        assert (by_id["status"], by_id["filled"]) == ("canceled", 0.0)

        cancelled = await c.cancel_order(None, ETH, {"clientOid": "l-2"})
        assert cancelled["info"]["data"] == {"clientOid": "l-2"}
        by_client = await c.fetch_order(None, ETH, {"clientOrderId": "l-2"})
        assert by_client["status"] == "canceled"
        assert await c.fetch_open_orders() == []

        # an order already final: KuCoin's 100004, which ccxt classes as BadRequest
        with pytest.raises(ccxt.BadRequest) as final:
            await c.cancel_order(first["id"], BTC)
        assert not isinstance(final.value, ccxt.OrderNotFound)
        with pytest.raises(ccxt.OrderNotFound):
            await c.cancel_order("424242", BTC)
        with pytest.raises(ccxt.OrderNotFound):
            await c.fetch_order("424242", BTC)
        # an unknown clientOid answers success with no data: an order without id
        unknown = await c.fetch_order(None, BTC, {"clientOid": "never-sent"})
        assert unknown["id"] is None and unknown["status"] is None

    run(rig, body)


def test_stop_orders_are_listed_and_cancelled_apart_and_trigger(rig: Rig) -> None:
    async def body(c: Any) -> None:
        await c.load_markets()
        await c.create_order(BTC, "market", "buy", 2, None, {"clientOid": "entry"})
        await c.create_order(
            BTC,
            "market",
            "sell",
            2,
            None,
            {"clientOid": "stop-1", "triggerPrice": 59_000, "reduceOnly": True},
        )
        await c.create_order(BTC, "limit", "buy", 1, 50_000, {"clientOid": "bid-1"})

        assert [o["clientOrderId"] for o in await c.fetch_open_orders(BTC)] == ["bid-1"]
        (stop,) = await c.fetch_open_orders(BTC, None, None, {"trigger": True})
        assert (stop["clientOrderId"], stop["triggerPrice"], stop["reduceOnly"]) == (
            "stop-1",
            59_000.0,
            True,
        )

        await c.cancel_all_orders(BTC)  # leaves the stop order alone, as KuCoin does
        assert (await c.fetch_order(None, BTC, {"clientOid": "bid-1"}))["status"] == "canceled"
        assert (await c.fetch_order(None, BTC, {"clientOid": "stop-1"}))["status"] == "open"
        await c.cancel_all_orders(BTC, {"trigger": True})
        assert (await c.fetch_order(None, BTC, {"clientOid": "stop-1"}))["status"] == "canceled"

        await c.create_order(
            BTC, "market", "sell", 2, None, {"clientOid": "stop-2", "stopLossPrice": 59_000}
        )
        rig.exchange.set_price("XBTUSDTM", 58_900.0)
        hit = await c.fetch_order(None, BTC, {"clientOid": "stop-2"})
        assert (hit["status"], hit["filled"], hit["average"]) == ("closed", 2.0, 58_900.0)
        assert rig.exchange.position("XBTUSDTM").qty == 0

    run(rig, body)


def test_reduce_only_and_leverage_reach_the_venue(rig: Rig) -> None:
    async def body(c: Any) -> None:
        await c.load_markets()
        await c.create_order(
            ETH,
            "market",
            "buy",
            4,
            None,
            {"clientOid": "lev", "leverage": 5, "marginMode": "isolated"},
        )
        order = await c.fetch_order(None, ETH, {"clientOid": "lev"})
        assert order["info"]["leverage"] == "5"
        (position,) = await c.fetch_positions()
        assert position["leverage"] == 5.0
        assert position["initialMargin"] == pytest.approx(4 * 0.01 * 3_000 / 5)

        with pytest.raises(ccxt.InvalidOrder):  # 300009: more than the position
            await c.create_order(
                ETH, "market", "sell", 5, None, {"clientOid": "too-much", "reduceOnly": True}
            )
        await c.create_order(
            ETH, "market", "sell", 4, None, {"clientOid": "flat", "reduceOnly": True}
        )
        assert (await c.fetch_order(None, ETH, {"clientOid": "flat"}))["reduceOnly"] is True
        assert await c.fetch_positions() == []

    run(rig, body)


def test_deferred_matching_shows_the_order_open_until_matched(rig: Rig) -> None:
    rig.dialect.match_delay = 3_600.0  # never within the test: it matches when told

    async def body(c: Any) -> None:
        await c.load_markets()
        await c.create_order(BTC, "market", "buy", 1, None, {"clientOid": "late"})
        pending = await c.fetch_order(None, BTC, {"clientOid": "late"})
        assert (pending["status"], pending["filled"]) == ("open", 0.0)
        rig.exchange.match("XBTUSDTM")
        done = await c.fetch_order(None, BTC, {"clientOid": "late"})
        assert (done["status"], done["filled"]) == ("closed", 1.0)

    run(rig, body)


# -- errors ----------------------------------------------------------------------------------


def test_scripted_statuses_and_rejects_map_to_ccxt_classes(rig: Rig) -> None:
    async def body(c: Any) -> None:
        await c.load_markets()
        rig.faults.fail("balance", 429)
        with pytest.raises(ccxt.RateLimitExceeded) as limited:
            await c.fetch_balance()
        assert '"429000"' in str(limited.value)
        assert not isinstance(limited.value, ccxt.DDoSProtection)  # unlike Binance's 429

        rig.faults.fail("positions", 500)
        with pytest.raises(ccxt.ExchangeNotAvailable, match="500000"):
            await c.fetch_positions()
        rig.faults.fail(
            "open_orders", 503, body="<html><body>503 Service Temporarily Unavailable</body></html>"
        )
        with pytest.raises(ccxt.ExchangeNotAvailable, match="503 Service"):
            await c.fetch_open_orders()
        rig.faults.fail("lookup", 504)
        with pytest.raises(ccxt.RequestTimeout):
            await c.fetch_order(None, BTC, {"clientOid": "x"})

        with pytest.raises(ccxt.InsufficientFunds, match="300003"):
            await c.create_order(BTC, "market", "buy", 100_000, None, {"clientOid": "huge"})
        await c.create_order(BTC, "market", "buy", 1, None, {"clientOid": "once"})
        with pytest.raises(ccxt.BadRequest, match="clientOidDuplicated"):
            await c.create_order(BTC, "market", "buy", 1, None, {"clientOid": "once"})
        assert rig.exchange.position("XBTUSDTM").qty == 1
        assert rig.faults.count("create") == 3

    run(rig, body)


def test_wrong_credentials_are_refused(rig: Rig) -> None:
    async def body(c: Any) -> None:
        with pytest.raises(ccxt.AuthenticationError, match="400003"):
            await c.fetch_balance()

    run(rig, body, apiKey="someone-else")

    async def wrong_passphrase(c: Any) -> None:
        with pytest.raises(ccxt.AuthenticationError, match="400004"):
            await c.load_markets()  # signed calls on the way (account mode)

    run(rig, wrong_passphrase, password="wrong")


def test_signature_covers_timestamp_method_path_query_and_body(rig: Rig) -> None:
    path = "/api/v1/account-overview?currency=USDT"

    def headers(sign_payload: str | None = None) -> dict[str, str]:
        stamp = str(int(time.time() * 1000))
        payload = sign_payload if sign_payload is not None else stamp + "GET" + path

        def b64(text: str) -> str:
            mac = hmac.new(b"secret", text.encode(), hashlib.sha256).digest()
            return base64.b64encode(mac).decode()

        return {
            "KC-API-KEY": "key",
            "KC-API-TIMESTAMP": stamp,
            "KC-API-KEY-VERSION": "2",
            "KC-API-PASSPHRASE": b64("pass"),
            "KC-API-SIGN": b64(payload),
        }

    async def main() -> None:
        url = rig.venue.base_url(NAME) + path
        async with aiohttp.ClientSession() as session:
            async with session.get(url, headers=headers()) as good:
                assert good.status == 200
                assert (await good.json())["data"]["currency"] == "USDT"
            async with session.get(url, headers=headers("0GET" + path)) as bad:
                assert bad.status == 401
                assert (await bad.json())["code"] == "400005"
            async with session.get(url) as unsigned:
                assert (await unsigned.json())["code"] == "400001"

    asyncio.run(asyncio.wait_for(main(), 20))


def test_clock_skew_fails_load_markets_until_the_time_difference_is_loaded(rig: Rig) -> None:
    rig.dialect.skew_ms = 60_000  # the venue's clock is a minute ahead

    async def body(c: Any) -> None:
        # adjustForTimeDifference runs after the signed calls of load_markets: too late
        with pytest.raises(ccxt.InvalidNonce, match="400002"):
            await c.load_markets()
        await c.load_time_difference()
        assert await c.load_markets()
        balance = await c.fetch_balance()
        assert balance["USDT"]["total"] == pytest.approx(100_000.0)

    run(rig, body, options={"adjustForTimeDifference": True})


def test_stalled_create_is_found_once_by_client_oid(rig: Rig) -> None:
    async def body(c: Any) -> None:
        await c.load_markets()
        rig.faults.stall("create", 1.5)  # carried out, answered after the client gave up
        with pytest.raises(ccxt.RequestTimeout):
            await c.create_order(BTC, "market", "buy", 2, None, {"clientOid": "slow"})
        found = await c.fetch_order(None, BTC, {"clientOid": "slow"})
        assert (found["status"], found["filled"]) == ("closed", 2.0)
        assert len(await c.fetch_my_trades(BTC)) == 1
        assert rig.exchange.position("XBTUSDTM").qty == 2
        assert rig.faults.count("create") == 1

    run(rig, body, timeout=500)


# -- streams ---------------------------------------------------------------------------------


def test_market_streams_carry_the_price_set_on_the_exchange(rig: Rig) -> None:
    async def body(c: Any) -> None:
        await c.load_markets()
        trades = asyncio.ensure_future(c.watch_trades(BTC))
        ticker = asyncio.ensure_future(c.watch_ticker(BTC))
        quotes = asyncio.ensure_future(c.watch_bids_asks([BTC]))
        bars = asyncio.ensure_future(c.watch_ohlcv(BTC, "1m"))
        for topic in ("execution", "ticker", "tickerV2"):
            await rig.subscribed(f"/contractMarket/{topic}:XBTUSDTM", user=False)
        await rig.subscribed("/contractMarket/limitCandle:XBTUSDTM_1min", user=False)

        ts = 1_699_999_990_000_000_000  # 10 s into the minute of 1_699_999_980 s
        rig.exchange.set_price("XBTUSDTM", 61_234.5, ts)
        (trade,) = await asyncio.wait_for(trades, 5)
        assert (trade["symbol"], trade["price"], trade["timestamp"]) == (
            BTC,
            61_234.5,
            1_699_999_990_000,
        )
        assert (await asyncio.wait_for(ticker, 5))["last"] == 61_234.5
        quote = (await asyncio.wait_for(quotes, 5))[BTC]
        assert (quote["bid"], quote["ask"]) == (61_234.5, 61_234.5)
        (bar,) = await asyncio.wait_for(bars, 5)
        assert bar[0] == 1_699_999_980_000 and bar[1:5] == [61_234.5] * 4

        rig.exchange.set_price("XBTUSDTM", 61_300.0, ts + 10**9)
        (bar,) = await asyncio.wait_for(c.watch_ohlcv(BTC, "1m"), 5)
        assert (bar[1], bar[2], bar[3], bar[4]) == (61_234.5, 61_300.0, 61_234.5, 61_300.0)

    run(rig, body)


def test_pings_are_answered_and_the_socket_stays_up(rig: Rig) -> None:
    rig.dialect.ping_interval_ms = 100

    async def body(c: Any) -> None:
        await c.load_markets()
        first = asyncio.ensure_future(c.watch_trades(ETH))
        await rig.subscribed("/contractMarket/execution:ETHUSDTM")
        rig.exchange.set_price("ETHUSDTM", 3_001.0)
        assert (await asyncio.wait_for(first, 5))[0]["price"] == 3_001.0
        for _ in range(500):
            if rig.dialect.pings >= 3:
                break
            await asyncio.sleep(0.01)
        assert rig.dialect.pings >= 3
        later = asyncio.ensure_future(c.watch_trades(ETH))
        trades = await rig.priced_until(later, "ETHUSDTM", 3_002.0)
        assert trades[-1]["price"] >= 3_002.0

    run(rig, body)


def test_order_and_fill_streams_see_partial_fills(rig: Rig) -> None:
    async def body(c: Any) -> None:
        await c.load_markets()
        orders = asyncio.ensure_future(c.watch_orders(BTC))
        fills = asyncio.ensure_future(c.watch_my_trades(BTC))
        await rig.subscribed("/contractMarket/tradeOrders", user=True)
        rig.exchange.script.partial.append(2)
        await c.create_order(BTC, "market", "buy", 4, None, {"clientOid": "parts"})

        first = await asyncio.wait_for(orders, 5)
        assert first[0]["clientOrderId"] == "parts"
        await asyncio.wait_for(fills, 5)

        def closed() -> list[dict[str, Any]]:
            return [
                o for o in c.orders if o["clientOrderId"] == "parts" and o["status"] == "closed"
            ]

        (final,) = await until(closed, "the order closed on the stream")
        assert (final["filled"], final["amount"]) == (4.0, 4.0)
        assert final["average"] == pytest.approx(60_000.0)
        # a ccxt.pro quirk: the streamed order's cost is price x contracts (the contract size
        # is left out), where REST gives 240 USDT
        assert final["cost"] == pytest.approx(4 * 60_000.0)
        assert (await c.fetch_order(final["id"], BTC))["cost"] == pytest.approx(240.0)

        fills_seen = await until(
            lambda: c.myTrades if len(c.myTrades) >= 2 else None, "two fills on the stream"
        )
        by_id = {t["id"]: t for t in fills_seen}
        assert sorted(t["amount"] for t in by_id.values()) == [2.0, 2.0]
        assert {t["order"] for t in by_id.values()} == {final["id"]}
        assert all(t["price"] == 60_000.0 and t["fee"]["cost"] is None for t in by_id.values())

        rest = await c.fetch_my_trades(BTC)
        assert {t["id"] for t in rest} == set(by_id)
        assert all(t["fee"]["cost"] == pytest.approx(120.0 * 0.0004) for t in rest)

    run(rig, body)


def test_position_stream_starts_from_a_snapshot_and_follows_fills(rig: Rig) -> None:
    async def body(c: Any) -> None:
        await c.load_markets()
        snapshot = await asyncio.wait_for(c.watch_position(BTC), 5)
        # the first answer is the REST snapshot, as a list of positions
        assert [p["contracts"] for p in snapshot] == [0.0]
        update = asyncio.ensure_future(c.watch_position(BTC))
        await rig.subscribed("/contract/position:XBTUSDTM", user=True)
        await c.create_order(BTC, "market", "sell", 3, None, {"clientOid": "short"})
        position = await asyncio.wait_for(update, 5)
        assert (position["side"], position["contracts"]) == ("short", 3.0)
        assert position["entryPrice"] == pytest.approx(60_000.0)

    run(rig, body)


def test_user_stream_faults_duplicate_reorder_and_drop(rig: Rig) -> None:
    async def body(c: Any) -> None:
        await c.load_markets()
        url = await c.negotiate(True, True)  # the private futures socket ccxt would open
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            assert (await asyncio.wait_for(ws.receive_json(), 5))["type"] == "welcome"
            await ws.send_json(
                {
                    "id": "7",
                    "type": "subscribe",
                    "response": True,
                    "topic": "/contractMarket/tradeOrders",
                    "privateChannel": True,
                }
            )
            assert await asyncio.wait_for(ws.receive_json(), 5) == {"id": "7", "type": "ack"}

            async def kinds(n: int) -> list[str]:
                return [
                    (await asyncio.wait_for(ws.receive_json(), 5))["data"]["type"] for _ in range(n)
                ]

            rig.exchange.place("XBTUSDTM", "buy", "market", 1, client_id="plain")
            assert await kinds(3) == ["open", "match", "filled"]
            rig.faults.duplicate_events = 1
            rig.exchange.place("XBTUSDTM", "buy", "market", 1, client_id="dup")
            assert await kinds(4) == ["open", "open", "match", "filled"]
            rig.faults.reorder_events = 1
            rig.exchange.place("XBTUSDTM", "buy", "market", 1, client_id="swap")
            assert await kinds(3) == ["match", "open", "filled"]

        # ccxt.pro: a dropped private socket fails the pending watch; the next one reconnects
        pending = asyncio.ensure_future(c.watch_orders(BTC))
        await rig.subscribed("/contractMarket/tradeOrders", user=True)
        old = frozenset(rig.dialect.socks)
        assert rig.dialect.drop_sockets(user=True) == 1
        with pytest.raises(ccxt.NetworkError):
            await asyncio.wait_for(pending, 5)
        again = asyncio.ensure_future(c.watch_orders(BTC))
        await rig.subscribed("/contractMarket/tradeOrders", user=True, besides=old)
        await c.create_order(BTC, "market", "buy", 1, None, {"clientOid": "after-drop"})
        first = await asyncio.wait_for(again, 5)
        assert first[-1]["clientOrderId"] == "after-drop"
        await until(
            lambda: any(
                o["clientOrderId"] == "after-drop" and o["status"] == "closed" for o in c.orders
            ),
            "the order after the reconnect close",
        )

    run(rig, body)
