"""The fake venue's Alpaca dialect on its own: what alpaca-py's REST client parses from it, Alpaca's
error shapes and rules, the rate limit, and the two kinds of stream (``trade_updates`` in JSON,
market data in msgpack), read with plain websockets so that the wire format itself is checked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("alpaca")
pytest.importorskip("aiohttp")

import msgpack  # noqa: E402
import websockets  # noqa: E402
from alpaca.common.exceptions import APIError  # noqa: E402
from alpaca.trading.client import TradingClient  # noqa: E402
from alpaca.trading.enums import AssetClass, OrderSide, TimeInForce  # noqa: E402
from alpaca.trading.models import TradeActivity  # noqa: E402
from alpaca.trading.requests import (  # noqa: E402
    LimitOrderRequest,
    MarketOrderRequest,
    StopOrderRequest,
)
from riskguard.testing.fake import Exchange, FakeMarket, FakeVenue  # noqa: E402
from riskguard.testing.fake.dialects.alpaca import Alpaca  # noqa: E402

KEY, SECRET = "fake-key-1", "fake-secret-1"


@pytest.fixture
def fake() -> Iterator[tuple[FakeVenue, Alpaca, TradingClient]]:
    exchange = Exchange(
        [
            FakeMarket("AAPL", "AAPL", "USD", tick=0.01, lot=1e-9, min_qty=1e-9, min_notional=1.0),
            FakeMarket(
                "BTC/USD", "BTC", "USD", tick=1.0, lot=1e-9, min_qty=0.0001, min_notional=0.0
            ),
        ],
        prices={"AAPL": 100.0, "BTC/USD": 50_000.0},
        taker_fee=0.0,
        maker_fee=0.0,
    )
    dialect = Alpaca(exchange, api_key=KEY, secret=SECRET, rate_limit=None)
    with FakeVenue([dialect]) as venue:
        client = TradingClient(KEY, SECRET, url_override=venue.base_url("alpaca"))
        client._retry = 0  # see riskguard.venues.alpaca.rest: no blind 3 s retries here
        yield venue, dialect, client


def _refusal(call: Any) -> tuple[int | None, dict[str, Any]]:
    with pytest.raises(APIError) as e:
        call()
    return e.value.status_code, json.loads(str(e.value))


def _market(qty: float, symbol: str = "AAPL", tif: TimeInForce = TimeInForce.DAY, **kw: Any) -> Any:
    return MarketOrderRequest(symbol=symbol, qty=qty, side=OrderSide.BUY, time_in_force=tif, **kw)


def test_assets_say_what_alpaca_says(fake: Any) -> None:
    _, _, client = fake
    stock, coin = client.get_asset("AAPL"), client.get_asset("BTCUSD")
    assert stock.asset_class is AssetClass.US_EQUITY and stock.fractionable
    assert (stock.min_order_size, stock.min_trade_increment, stock.price_increment) == (None,) * 3
    assert coin.symbol == "BTC/USD" and coin.asset_class is AssetClass.CRYPTO
    assert (coin.min_order_size, coin.min_trade_increment, coin.price_increment) == (
        0.0001,
        1e-9,
        1.0,
    )
    assert not stock.shortable and not coin.shortable  # the exchange cannot go short
    assert {a.symbol for a in client.get_all_assets()} == {"AAPL", "BTC/USD"}
    status, body = _refusal(lambda: client.get_asset("NOPE"))
    assert (status, body) == (404, {"code": 40410000, "message": "asset not found"})


def test_orders_positions_and_fills_parse_in_alpaca_py(fake: Any) -> None:
    venue, dialect, client = fake
    order = client.submit_order(_market(1.5, client_order_id="o-1"))
    assert (order.status.value, order.filled_qty, order.filled_avg_price) == (
        "filled",
        "1.5",
        "100",
    )
    assert client.get_order_by_client_id("o-1").id == order.id
    coin = client.submit_order(_market(0.001, "BTC/USD", TimeInForce.GTC))
    assert coin.symbol == "BTC/USD" and coin.client_order_id  # one is given
    positions = {p.symbol: p for p in client.get_all_positions()}
    assert set(positions) == {"AAPL", "BTCUSD"}  # a crypto position's symbol is compressed
    assert (positions["AAPL"].qty, positions["AAPL"].avg_entry_price) == ("1.5", "100")
    fills = [
        TradeActivity(**a) for a in client.get("/account/activities/FILL", {"direction": "asc"})
    ]
    assert [f.symbol for f in fills] == ["AAPL", "BTC/USD"]
    assert fills[0].cum_qty == 1.5 and fills[0].leaves_qty == 0 and fills[0].type.value == "fill"
    stamp, execution = fills[0].id.split("::")
    assert len(stamp) == 17 and stamp.isdigit() and len(execution) == 36  # <time>::<uuid>
    assert dialect.fill_id(venue.exchange("alpaca").trades[0]) == f"{order.id}:1.5"
    assert float(client.get_account().cash) == pytest.approx(100_000 - 150 - 50)


def test_activities_page_newest_first_by_default(fake: Any) -> None:
    _, _, client = fake
    for i in range(3):
        client.submit_order(_market(1, client_order_id=f"a-{i}"))
    newest = client.get("/account/activities/FILL", {"page_size": 2})
    assert len(newest) == 2 and newest[0]["transaction_time"] >= newest[1]["transaction_time"]
    rest = client.get("/account/activities/FILL", {"page_size": 2, "page_token": newest[-1]["id"]})
    assert len(rest) == 1


def test_alpaca_error_shapes(fake: Any) -> None:
    venue, _, client = fake
    client.submit_order(_market(1, client_order_id="dup"))
    assert _refusal(lambda: client.submit_order(_market(1, client_order_id="dup"))) == (
        422,
        {"code": 40010001, "message": "client_order_id must be unique"},
    )
    status, body = _refusal(lambda: client.submit_order(_market(10_000)))
    assert (status, body) == (403, {"code": 40310000, "message": "insufficient buying power"})
    status, body = _refusal(
        lambda: client.submit_order(
            MarketOrderRequest(
                symbol="AAPL", qty=5, side=OrderSide.SELL, time_in_force=TimeInForce.DAY
            )
        )
    )
    assert status == 403 and body["message"].startswith("insufficient qty available")
    status, body = _refusal(lambda: client.submit_order(_market(0.5, tif=TimeInForce.GTC)))
    assert (status, body["code"]) == (422, 42210000) and "DAY" in body["message"]
    status, body = _refusal(lambda: client.submit_order(_market(0.005)))
    assert (status, body["code"]) == (403, 40310000) and "cost basis" in body["message"]
    status, body = _refusal(
        lambda: client.submit_order(
            LimitOrderRequest(
                symbol="AAPL",
                qty=1,
                side=OrderSide.BUY,
                limit_price=99.991,
                time_in_force=TimeInForce.GTC,
            )
        )
    )
    assert (status, body["code"]) == (422, 42210000) and "sub-penny" in body["message"]
    status, body = _refusal(lambda: client.submit_order(_market(0.001, "BTC/USD")))
    assert (status, body["message"]) == (422, "invalid crypto time_in_force")
    status, body = _refusal(
        lambda: client.submit_order(
            StopOrderRequest(
                symbol="BTC/USD",
                qty=0.001,
                side=OrderSide.BUY,
                stop_price=51_000,
                time_in_force=TimeInForce.GTC,
            )
        )
    )
    assert (status, body["message"]) == (422, "invalid order type for crypto order")
    status, body = _refusal(
        lambda: client.submit_order(_market(0.0001, "BTC/USD", TimeInForce.GTC))
    )  # 5 USD
    assert (status, body["message"]) == (403, "cost basis must be >= minimal amount of order 10")
    assert _refusal(lambda: client.get_order_by_client_id("nope"))[0] == 404
    limit = client.submit_order(
        LimitOrderRequest(
            symbol="AAPL", qty=1, side=OrderSide.BUY, limit_price=90, time_in_force=TimeInForce.DAY
        )
    )
    client.cancel_order_by_id(limit.id)  # 204
    status, body = _refusal(lambda: client.cancel_order_by_id(limit.id))
    assert (status, body) == (
        422,
        {"code": 42210000, "message": 'order is already in "canceled" state'},
    )
    wrong = TradingClient(KEY, "wrong", url_override=venue.base_url("alpaca"))
    assert _refusal(wrong.get_account) == (403, {"message": "forbidden."})
    venue.faults.fail("balance", 429)
    assert _refusal(client.get_account) == (
        429,
        {"code": 42910000, "message": "rate limit exceeded"},
    )


def test_rate_limit_counts_requests_per_minute() -> None:
    exchange = Exchange(
        [FakeMarket("AAPL", "AAPL", "USD", tick=0.01, lot=1.0, min_qty=1.0, min_notional=0.0)],
        prices={"AAPL": 100.0},
    )
    with FakeVenue([Alpaca(exchange, rate_limit=3)]) as venue:
        client = TradingClient("key", "secret", url_override=venue.base_url("alpaca"))
        client._retry = 0
        for _ in range(3):
            client.get_clock()
        status, body = _refusal(client.get_clock)
        assert (status, body["code"]) == (429, 42910000)
        response = client._session.get(
            f"{venue.base_url('alpaca')}/v2/clock", headers=client._get_auth_headers()
        )
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert response.headers["X-RateLimit-Remaining"] == "0"


def test_trade_updates_stream_in_json(fake: Any) -> None:
    venue, _, client = fake

    async def main() -> list[dict[str, Any]]:
        async with websockets.connect(venue.ws_url("alpaca") + "/stream") as ws:
            await ws.send(
                json.dumps(
                    {"action": "authenticate", "data": {"key_id": KEY, "secret_key": SECRET}}
                )
            )
            assert json.loads(await ws.recv())["data"]["status"] == "authorized"
            await ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
            assert json.loads(await ws.recv()) == {
                "stream": "listening",
                "data": {"streams": ["trade_updates"]},
            }
            await asyncio.to_thread(client.submit_order, _market(2, client_order_id="s-1"))
            return [json.loads(await ws.recv()) for _ in range(2)]

    new, fill = asyncio.run(asyncio.wait_for(main(), 10.0))
    assert new["stream"] == fill["stream"] == "trade_updates"
    assert new["data"]["event"] == "new" and new["data"]["order"]["client_order_id"] == "s-1"
    data = fill["data"]
    assert data["event"] == "fill" and (data["qty"], data["price"], data["position_qty"]) == (
        "2",
        "100",
        "2",
    )
    assert data["order"]["status"] == "filled" and data["order"]["filled_qty"] == "2"
    assert data["execution_id"]


def test_trade_updates_refuse_a_wrong_secret(fake: Any) -> None:
    venue, _, _ = fake

    async def main() -> dict[str, Any]:
        async with websockets.connect(venue.ws_url("alpaca") + "/stream") as ws:
            await ws.send(
                json.dumps({"action": "authenticate", "data": {"key_id": KEY, "secret_key": "no"}})
            )
            return json.loads(await ws.recv())

    answer = asyncio.run(asyncio.wait_for(main(), 10.0))
    assert answer == {
        "stream": "authorization",
        "data": {"status": "unauthorized", "action": "authenticate"},
    }


def test_market_data_stream_in_msgpack(fake: Any) -> None:
    venue, dialect, _ = fake
    exchange = venue.exchange("alpaca")

    async def main() -> list[Any]:
        async with websockets.connect(venue.ws_url("alpaca") + "/v2/iex") as ws:
            assert msgpack.unpackb(await ws.recv()) == [{"T": "success", "msg": "connected"}]
            await ws.send(msgpack.packb({"action": "auth", "key": KEY, "secret": SECRET}))
            assert msgpack.unpackb(await ws.recv()) == [{"T": "success", "msg": "authenticated"}]
            await ws.send(
                msgpack.packb({"action": "subscribe", "trades": ["AAPL"], "bars": ["AAPL"]})
            )
            ack = msgpack.unpackb(await ws.recv())[0]
            assert (ack["T"], ack["trades"], ack["bars"], ack["quotes"]) == (
                "subscription",
                ["AAPL"],
                ["AAPL"],
                [],
            )
            exchange.set_price("BTC/USD", 51_000.0)  # not subscribed: not sent
            exchange.set_price("AAPL", 101.5, ts=1_800_000_000_123_456_789)
            dialect.publish_bar("AAPL", 101, 102, 100, 101.5, 900, ts=1_800_000_000_000_000_000)
            return [msgpack.unpackb(await ws.recv())[0] for _ in range(2)]

    trade, bar = asyncio.run(asyncio.wait_for(main(), 10.0))
    assert (trade["T"], trade["S"], trade["p"]) == ("t", "AAPL", 101.5)
    assert trade["t"].to_unix_nano() == 1_800_000_000_123_456_789  # msgpack's timestamp
    assert (bar["T"], bar["o"], bar["h"], bar["l"], bar["c"], bar["v"]) == (
        "b",
        101,
        102,
        100,
        101.5,
        900,
    )


def test_market_data_refuses_a_wrong_secret(fake: Any) -> None:
    venue, _, _ = fake

    async def main() -> Any:
        async with websockets.connect(venue.ws_url("alpaca") + "/v1beta3/crypto/us") as ws:
            await ws.recv()
            await ws.send(msgpack.packb({"action": "auth", "key": KEY, "secret": "no"}))
            return msgpack.unpackb(await ws.recv())

    assert asyncio.run(asyncio.wait_for(main(), 10.0)) == [
        {"T": "error", "code": 402, "msg": "auth failed"}
    ]
