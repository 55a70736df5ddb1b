"""The Binance dialects of the fake venue: spot (``binance``, REST ``/api/v3``, market streams on
``/ws/<n>``, user data on the WebSocket API ``/ws-api/v3``) and USD-M perpetual futures
(``binanceusdm``, REST ``/fapi``, market streams on ``/public/ws/<n>`` and ``/market/ws/<n>``,
user data on ``/private/ws?listenKey=...``), as ccxt 4.5.90 (``ccxt.pro.binance`` and
``ccxt.pro.binanceusdm``) calls and parses them.

Both check the HMAC-SHA256 signature of every signed request against the dialect's ``api_key``
and ``secret``, answer errors in Binance's ``{"code": -2010, "msg": "..."}`` shape with the
venue's HTTP status, and count request weight (``X-MBX-USED-WEIGHT-1M``) and orders
(``X-MBX-ORDER-COUNT-10S``) per window, so a client's rate limiter can be fed from the headers.

What the fake simplifies, on purpose: one clock for the venue (the wall clock plus ``skew_ms``);
spot commissions are charged in the quote asset (the real venue takes them from the asset
received unless BNB pays); USD-M conditional (algo) orders keep their client id when they
trigger, and the order they place has the exchange's order id while the algo order is shown
with ``algoId = order id + ALGO_ID_OFFSET``; take-profit order types are refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import secrets
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from riskguard.testing.fake.exchange import Exchange, FakeMarket, FakeOrder, FakeTrade, Reject
from riskguard.testing.fake.faults import Rule
from riskguard.testing.fake.server import Dialect, Handler, Socket

__all__ = ["ALGO_ID_OFFSET", "BinanceSpot", "BinanceUsdm"]

Params = dict[str, str]

#: USD-M algo (conditional) orders are shown with this added to the exchange's order id: the
#: real venue numbers algo orders apart from the orders they place when they trigger.
ALGO_ID_OFFSET = 9_000_000_000

_STATUS = {
    "new": "NEW",
    "partially_filled": "PARTIALLY_FILLED",
    "filled": "FILLED",
    "cancelled": "CANCELED",
    "expired": "EXPIRED",
    "rejected": "REJECTED",
}
_EXEC_TYPE = {"new": "NEW", "cancelled": "CANCELED", "expired": "EXPIRED", "rejected": "REJECTED"}
_TIMESTAMP_TOLERANCE_MS = 60_000


class _Error(Exception):
    """A Binance error answer: HTTP ``status``, Binance ``code`` and ``msg``."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg


def _places(step: float) -> int:
    """Decimal places of a step (0.001 -> 3, 1 -> 0)."""
    exponent = Decimal(repr(step)).normalize().as_tuple().exponent
    return max(0, -int(exponent))


def _fmt(value: float | None, places: int = 8) -> str:
    return f"{(value or 0.0):.{places}f}"


def _flag(value: str | None) -> bool:
    return (value or "").lower() == "true"


def _ms(ns: int) -> int:
    return ns // 1_000_000


class _Usage:
    """Request weight per minute and orders per 10 s (and per minute and day) as the venue counts
    them: fixed windows that reset on the boundary, like Binance's."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}

    def add(self, name: str, span_ms: int, amount: int, now_ms: int) -> int:
        window = now_ms // span_ms
        start, used = self._windows.get(name, (window, 0))
        if start != window:
            used = 0
        used += amount
        self._windows[name] = (window, used)
        return used


class _Binance(Dialect):
    """What both Binance dialects share: authentication, errors, usage headers, the market
    streams, and the order and trade shapes they have in common."""

    futures = False
    order_count_headers: tuple[tuple[str, int], ...] = ()

    def __init__(self, exchange: Exchange, *, api_key: str = "key", secret: str = "secret") -> None:
        super().__init__(exchange)
        self.api_key = api_key
        self.secret = secret
        self.skew_ms = 0  # the venue's clock minus the wall clock: a test skews it to check sync
        self.usage = _Usage()
        self._public: dict[str, str] = {}  # internal client id -> the id the client sent
        self._latest: dict[str, str] = {}  # client id -> internal id of its latest order
        self._reuse = itertools.count(2)
        self._cancel_ids: dict[int, str] = {}  # order id -> the client id of its cancel
        self._ticker: dict[str, dict[str, float]] = {}
        self._stream_ids = itertools.count(1)
        self.attach(self._on_event)

    # -- clock, usage, answers -----------------------------------------------------------------

    def server_ms(self) -> int:
        """The venue's clock in ms: the wall clock plus ``skew_ms``. Not the exchange's replay
        time, which would make every signed request of a replayed session look stale."""
        return int(time.time() * 1000) + self.skew_ms

    def _headers(self, weight: int, orders: int) -> dict[str, str]:
        now = self.server_ms()
        headers = {"X-MBX-USED-WEIGHT-1M": str(self.usage.add("weight", 60_000, weight, now))}
        if orders:
            headers["X-MBX-ORDER-COUNT-10S"] = str(self.usage.add("orders10s", 10_000, orders, now))
            for name, span in self.order_count_headers:
                headers[name] = str(self.usage.add(name, span, orders, now))
        return headers

    def _answer(
        self, body: Any, *, weight: int, orders: int = 0, status: int = 200
    ) -> web.Response:
        return web.json_response(body, status=status, headers=self._headers(weight, orders))

    def _fail(self, e: _Error, *, weight: int = 1, orders: int = 0) -> web.Response:
        return self._answer(
            {"code": e.code, "msg": e.msg}, weight=weight, orders=orders, status=e.status
        )

    def error(self, status: int, rule: Rule) -> web.Response:
        """A scripted ``status`` in Binance's shape: 429 and 418 are -1003 (the client reads the
        ban from the text and ``Retry-After``), 500 is -1001, 502/503/504 come from the gateway
        in front of the API as HTML."""
        headers = self._headers(1, 0)
        if status == 429:
            body: dict[str, Any] = {
                "code": -1003,
                "msg": (
                    "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per "
                    "minute. "
                    "Please use the websocket for live updates to avoid polling the API."
                ),
            }
        elif status == 418:
            until = self.server_ms() + 120_000
            body = {
                "code": -1003,
                "msg": (
                    f"Way too many requests; IP(127.0.0.1) banned until {until}. "
                    "Please use the websocket for live updates to avoid bans."
                ),
            }
        elif status == 500:
            body = {
                "code": -1001,
                "msg": ("Internal error; unable to process your request. Please try again."),
            }
        elif status in (502, 503, 504):
            return web.Response(
                text=f"<html><head><title>{status}</title></head><body><center><h1>{status}"
                "</h1></center><hr><center>nginx</center></body></html>",
                status=status,
                content_type="text/html",
                headers=headers,
            )
        elif status == 401:
            body = {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
        else:
            body = {"code": -1000, "msg": "An unknown error occurred while processing the request."}
        return web.json_response(body, status=status, headers=headers)

    def _reject(self, e: Reject, context: str, m: FakeMarket | None = None) -> _Error:
        """The venue's code and message for an exchange refusal; ``context`` is ``query`` or
        ``cancel`` (Binance answers an unknown order differently to each)."""
        if e.code == "UNKNOWN_ORDER":
            if context == "cancel":
                return _Error(400, -2011, "Unknown order sent.")
            return _Error(400, -2013, "Order does not exist.")
        if e.code == "UNKNOWN_MARKET":
            return _Error(400, -1121, "Invalid symbol.")
        if e.code == "BAD_REQUEST":
            return _Error(400, -1100, f"Illegal characters found in a parameter: {e.message}")
        return self._order_reject(e, m)

    def _order_reject(self, e: Reject, m: FakeMarket | None = None) -> _Error:
        raise NotImplementedError

    # -- authentication ------------------------------------------------------------------------

    async def _read(self, request: web.Request) -> tuple[str, str]:
        body = await request.text() if request.can_read_body else ""
        return request.rel_url.raw_query_string, body

    def _check_key(self, request: web.Request) -> None:
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            raise _Error(401, -2015, "Invalid API-key, IP, or permissions for action.")

    def _check_signature(self, request: web.Request, query: str, body: str) -> None:
        """HMAC-SHA256 of the query string followed by the body (Binance's ``totalParams``),
        without the ``signature`` parameter, and a timestamp close to the venue's clock."""
        self._check_key(request)
        signature = None
        parts = []
        for raw in (query, body):
            kept = []
            for pair in raw.split("&") if raw else []:
                if pair.startswith("signature="):
                    signature = pair[len("signature=") :]
                else:
                    kept.append(pair)
            parts.append("&".join(kept))
        if not signature:
            raise _Error(
                400,
                -1102,
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
            )
        expected = hmac.new(self.secret.encode(), "".join(parts).encode(), hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), signature.lower()):
            raise _Error(400, -1022, "Signature for this request is not valid.")
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        self._check_timestamp(params.get("timestamp"))

    def _check_timestamp(self, value: str | int | None) -> None:
        try:
            stamp = int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _Error(
                400,
                -1102,
                "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
            ) from None
        # The venue refuses requests stamped too far from its clock: this is what a client with
        # a skewed clock meets, and why it calls load_time_difference() first.
        if abs(stamp - self.server_ms()) > _TIMESTAMP_TOLERANCE_MS:
            raise _Error(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    def _endpoint(
        self,
        fn: Callable[[Params], Any],
        *,
        weight: int | Callable[[Params], int] = 1,
        auth: str = "signed",
        orders: int = 0,
    ) -> Handler:
        """A route handler: reads the parameters, authenticates (``signed``, ``key`` or
        ``none``), runs ``fn`` (which returns the JSON body, may be a coroutine), and answers
        with the usage headers or the Binance error."""

        async def handle(request: web.Request) -> web.StreamResponse:
            query, body = await self._read(request)
            params: Params = dict(parse_qsl(query, keep_blank_values=True))
            params.update(parse_qsl(body, keep_blank_values=True))
            cost = weight(params) if callable(weight) else weight
            try:
                if auth == "signed":
                    self._check_signature(request, query, body)
                elif auth == "key":
                    self._check_key(request)
                result = fn(params)
                if asyncio.iscoroutine(result):
                    result = await result
            except _Error as e:
                return self._fail(e, weight=cost, orders=orders)
            return self._answer(result, weight=cost, orders=orders)

        return handle

    # -- parameters ----------------------------------------------------------------------------

    def _market(self, params: Params, kind: str) -> FakeMarket:
        symbol = params.get("symbol")
        if not symbol:
            raise _Error(
                400,
                -1102,
                "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
            )
        m = self.exchange.markets.get(symbol)
        if m is None or m.kind != kind:
            raise _Error(400, -1121, "Invalid symbol.")
        return m

    def _markets(self, kind: str) -> list[FakeMarket]:
        return [m for m in self.exchange.markets.values() if m.kind == kind]

    def _float(self, params: Params, name: str, *, required: bool = True) -> float | None:
        raw = params.get(name)
        if raw in (None, ""):
            if required:
                raise _Error(
                    400,
                    -1102,
                    f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
                )
            return None
        try:
            return float(raw)  # type: ignore[arg-type]
        except ValueError:
            raise _Error(
                400,
                -1100,
                f"Illegal characters found in parameter '{name}'; legal "
                "range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
            ) from None

    # -- client ids ----------------------------------------------------------------------------

    def public_cid(self, order: FakeOrder) -> str:
        """The client id the client sent for ``order``."""
        return self._public.get(order.client_id, order.client_id)

    def _claim_cid(self, cid: str) -> str:
        """The exchange-side id for a new order with client id ``cid``. Binance refuses a
        client id only while an order with it is open: once that order is final the id can be
        used again (which is why a blindly retried filled market order executes twice)."""
        existing = self.exchange.by_client.get(self._latest.get(cid, cid))
        if existing is None:
            return cid
        if existing.is_open:
            raise Reject("DUPLICATE_CLIENT_ID", f"client order id {cid!r} is in use")
        internal = f"{cid}#{next(self._reuse)}"
        self._public[internal] = cid
        return internal

    def _place(self, m: FakeMarket, cid: str, **kwargs: Any) -> FakeOrder:
        with self.exchange.lock:
            internal = self._claim_cid(cid)
            try:
                order = self.exchange.place(m.id, client_id=internal, **kwargs)
            except Reject:
                self._public.pop(internal, None)
                raise
            self._latest[cid] = internal
            return order

    def _find(self, params: Params, m: FakeMarket, context: str) -> FakeOrder:
        order_id = params.get("orderId")
        cid = params.get("origClientOrderId")
        if not order_id and not cid:
            raise _Error(
                400,
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        try:
            if order_id:
                order = self.exchange.get(order_id=int(order_id))
            else:
                order = self.exchange.get(client_id=self._latest.get(cid, cid))  # type: ignore[arg-type]
        except (Reject, ValueError):
            raise self._reject(Reject("UNKNOWN_ORDER", "order does not exist"), context) from None
        if order.market.id != m.id:
            raise self._reject(Reject("UNKNOWN_ORDER", "order does not exist"), context)
        return order

    def _cancel(self, order: FakeOrder) -> FakeOrder:
        try:
            return self.exchange.cancel(order_id=order.order_id)
        except Reject as e:
            raise self._reject(e, "cancel") from None

    # -- market streams ------------------------------------------------------------------------

    def _on_event(self, kind: str, *args: Any) -> None:
        """Exchange listener (called under the exchange's lock): prices become public trades,
        book tickers and tickers; orders and trades become user-stream events."""
        if kind == "price":
            market_id, price, ts = args
            m = self.exchange.markets.get(market_id)
            if m is not None and m.kind == ("swap" if self.futures else "spot"):
                self._publish_price(m, price, _ms(ts))
        elif kind == "order":
            order: FakeOrder = args[0]
            if self._mine(order.market):
                self._user_order(order)
        elif kind == "trade":
            trade: FakeTrade = args[0]
            if self._mine(trade.order.market):
                self._user_trade(trade)

    def _mine(self, m: FakeMarket) -> bool:
        return m.kind == ("swap" if self.futures else "spot")

    def _publish_price(self, m: FakeMarket, price: float, ms: int) -> None:
        low = m.id.lower()
        trade_id = next(self._stream_ids)
        qty = m.lot
        trade = {
            "e": "trade",
            "E": ms,
            "T": ms,
            "s": m.id,
            "t": trade_id,
            "p": _fmt(price),
            "q": _fmt(qty),
            "m": False,
        }
        if self.futures:
            trade["X"] = "MARKET"
        else:
            trade["M"] = True
        self.publish(trade, topic=f"{low}@trade")
        self.publish(
            {
                "e": "aggTrade",
                "E": ms,
                "T": ms,
                "s": m.id,
                "a": trade_id,
                "p": _fmt(price),
                "q": _fmt(qty),
                "f": trade_id,
                "l": trade_id,
                "m": False,
                **({} if self.futures else {"M": True}),
            },
            topic=f"{low}@aggTrade",
        )
        # The fake quotes one tick either side of the last trade: the mid is the trade price.
        book = {
            "u": trade_id,
            "s": m.id,
            "b": _fmt(price - m.tick),
            "B": _fmt(qty),
            "a": _fmt(price + m.tick),
            "A": _fmt(qty),
        }
        if self.futures:
            book = {"e": "bookTicker", "E": ms, "T": ms, **book}
        self.publish(book, topic=f"{low}@bookTicker")
        t = self._ticker.setdefault(
            m.id, {"o": price, "h": price, "l": price, "v": 0.0, "q": 0.0, "n": 0}
        )
        t["h"], t["l"] = max(t["h"], price), min(t["l"], price)
        t["v"] += qty
        t["q"] += qty * price
        t["n"] += 1
        self.publish(
            {
                "e": "24hrTicker",
                "E": ms,
                "s": m.id,
                "p": _fmt(price - t["o"]),
                "P": _fmt((price / t["o"] - 1) * 100 if t["o"] else 0.0, 3),
                "w": _fmt(t["q"] / t["v"] if t["v"] else price),
                "c": _fmt(price),
                "Q": _fmt(qty),
                "b": _fmt(price - m.tick),
                "B": _fmt(qty),
                "a": _fmt(price + m.tick),
                "A": _fmt(qty),
                "o": _fmt(t["o"]),
                "h": _fmt(t["h"]),
                "l": _fmt(t["l"]),
                "v": _fmt(t["v"]),
                "q": _fmt(t["q"]),
                "O": ms - 86_400_000,
                "C": ms,
                "F": 1,
                "L": trade_id,
                "n": int(t["n"]),
            },
            topic=f"{low}@ticker",
        )
        # ccxt 4.5.90's watch_ticker subscribes to the mini ticker (no bid/ask in it).
        self.publish(
            {
                "e": "24hrMiniTicker",
                "E": ms,
                "s": m.id,
                "c": _fmt(price),
                "o": _fmt(t["o"]),
                "h": _fmt(t["h"]),
                "l": _fmt(t["l"]),
                "v": _fmt(t["v"]),
                "q": _fmt(t["q"]),
            },
            topic=f"{low}@miniTicker",
        )

    def _ticker_24hr(self, params: Params) -> dict[str, Any]:
        """``ticker/24hr`` of one symbol: the last price and the day's range so far."""
        m = self._market(params, "spot" if not self.futures else "swap")
        price = self.exchange.prices.get(m.id)
        if price is None:
            raise _Error(400, -1121, "Invalid symbol.")
        t = self._ticker.get(m.id, {"o": price, "h": price, "l": price, "v": 0.0, "q": 0.0})
        return {
            "symbol": m.id,
            "lastPrice": _fmt(price),
            "openPrice": _fmt(t["o"]),
            "highPrice": _fmt(t["h"]),
            "lowPrice": _fmt(t["l"]),
            "volume": _fmt(t["v"]),
            "quoteVolume": _fmt(t["q"]),
            "closeTime": self.server_ms(),
        }

    def publish_bar(
        self,
        market_id: str,
        o: float,
        h: float,
        l: float,  # noqa: E741 - the kline's own field names
        c: float,
        v: float,
        start_ms: int,
        closed: bool = True,
        interval: str = "1m",
    ) -> None:
        """Publishes a kline of ``market_id`` to the ``<symbol>@kline_<interval>`` subscribers
        (``closed`` is the kline's ``x``: a final bar or an update of the current one)."""
        span = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}.get(interval, 60_000)
        now = self.server_ms()
        self.publish(
            {
                "e": "kline",
                "E": now,
                "s": market_id,
                "k": {
                    "t": start_ms,
                    "T": start_ms + span - 1,
                    "s": market_id,
                    "i": interval,
                    "f": 1,
                    "L": 1,
                    "o": _fmt(o),
                    "c": _fmt(c),
                    "h": _fmt(h),
                    "l": _fmt(l),
                    "v": _fmt(v),
                    "n": 1,
                    "x": closed,
                    "q": _fmt(v * c),
                    "V": "0",
                    "Q": "0",
                    "B": "0",
                },
            },
            topic=f"{market_id.lower()}@kline_{interval}",
        )

    async def _market_message(self, sock: Socket, data: Any) -> None:
        """SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS on a market stream socket."""
        if not isinstance(data, dict):
            return
        method, req_id = data.get("method"), data.get("id")
        streams = [str(s) for s in data.get("params") or []]
        if method == "SUBSCRIBE":
            sock.topics.update(streams)
            await sock.ws.send_json({"result": None, "id": req_id})
        elif method == "UNSUBSCRIBE":
            sock.topics.difference_update(streams)
            await sock.ws.send_json({"result": None, "id": req_id})
        elif method == "LIST_SUBSCRIPTIONS":
            await sock.ws.send_json({"result": sorted(sock.topics), "id": req_id})
        else:
            await sock.ws.send_json(
                {"error": {"code": 2, "msg": "Invalid request: unknown method"}, "id": req_id}
            )

    async def _market_socket(self, request: web.Request) -> web.StreamResponse:
        stream = request.match_info.get("stream", "")

        async def on_open(sock: Socket) -> None:
            # /ws/<streamName> is Binance's raw stream: subscribed from the start. ccxt opens
            # /ws/<n> (a number) and subscribes with SUBSCRIBE messages instead.
            if "@" in stream:
                sock.topics.add(stream)

        return await self.serve_socket(request, self._market_message, on_open=on_open)

    # -- user events (per dialect) -------------------------------------------------------------

    def _user_order(self, order: FakeOrder) -> None:
        raise NotImplementedError

    def _user_trade(self, trade: FakeTrade) -> None:
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# spot


_SPOT_TYPES = {
    "MARKET": "market",
    "LIMIT": "limit",
    "STOP_LOSS": "stop",
    "STOP_LOSS_LIMIT": "stop_limit",
}
_SPOT_NAMES = {v: k for k, v in _SPOT_TYPES.items()}


class BinanceSpot(_Binance):
    """Binance spot as ``ccxt.pro.binance`` 4.5.90 uses it: ``/api/v3`` REST, the market
    streams, and user data through the WebSocket API's ``userDataStream.subscribe.signature``
    (ccxt 4.5 no longer uses a spot listenKey)."""

    name = "binance"
    futures = False
    order_count_headers = (("X-MBX-ORDER-COUNT-1D", 86_400_000),)

    def routes(self) -> list[tuple[str, str, str, Handler]]:
        e = self._endpoint
        return [
            ("GET", "/api/v3/ping", "time", e(lambda p: {}, auth="none")),
            ("GET", "/api/v3/ticker/24hr", "ticker", e(self._ticker_24hr, weight=2, auth="none")),
            (
                "GET",
                "/api/v3/time",
                "time",
                e(lambda p: {"serverTime": self.server_ms()}, auth="none"),
            ),
            (
                "GET",
                "/api/v3/exchangeInfo",
                "markets",
                e(self._exchange_info, weight=20, auth="none"),
            ),
            # ccxt's load_markets calls these three with a key unless options say otherwise
            # (fetchCurrencies, fetchMargins): served so a default client loads too.
            ("GET", "/sapi/v1/capital/config/getall", "markets", e(self._currencies, weight=10)),
            ("GET", "/sapi/v1/margin/allPairs", "markets", e(lambda p: [], auth="key")),
            ("GET", "/sapi/v1/margin/isolated/allPairs", "markets", e(lambda p: [], weight=10)),
            ("POST", "/api/v3/order", "create", e(self._create, orders=1)),
            ("GET", "/api/v3/order", "lookup", e(self._query, weight=4)),
            ("DELETE", "/api/v3/order", "cancel", e(self._cancel_one)),
            ("DELETE", "/api/v3/openOrders", "cancel_all", e(self._cancel_all)),
            (
                "GET",
                "/api/v3/openOrders",
                "open_orders",
                e(self._open_orders, weight=lambda p: 6 if p.get("symbol") else 80),
            ),
            ("GET", "/api/v3/account", "balance", e(self._account, weight=20)),
            ("GET", "/api/v3/myTrades", "trades", e(self._my_trades, weight=20)),
        ]

    def sockets(self) -> list[tuple[str, Handler]]:
        return [("/ws/{stream}", self._market_socket), ("/ws-api/v3", self._ws_api_socket)]

    # -- errors --------------------------------------------------------------------------------

    def _order_reject(self, e: Reject, m: FakeMarket | None = None) -> _Error:
        if e.code == "INSUFFICIENT_FUNDS":
            return _Error(400, -2010, "Account has insufficient balance for requested action.")
        if e.code == "DUPLICATE_CLIENT_ID":
            return _Error(400, -2010, "Duplicate order sent.")
        if e.code == "LOT_SIZE":
            return _Error(400, -1013, "Filter failure: LOT_SIZE")
        if e.code == "TICK_SIZE":
            return _Error(400, -1013, "Filter failure: PRICE_FILTER")
        if e.code == "MIN_NOTIONAL":
            return _Error(400, -1013, "Filter failure: NOTIONAL")
        if e.code == "REDUCE_ONLY":
            return _Error(400, -2010, "ReduceOnly Order is rejected.")
        return _Error(400, -1000, e.message)

    # -- markets -------------------------------------------------------------------------------

    def _exchange_info(self, params: Params) -> dict[str, Any]:
        symbols = []
        for m in self._markets("spot"):
            tick, lot = _places(m.tick), _places(m.lot)
            symbols.append(
                {
                    "symbol": m.id,
                    "status": "TRADING",
                    "baseAsset": m.base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": m.quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "baseCommissionPrecision": 8,
                    "quoteCommissionPrecision": 8,
                    # Only what the fake matches: ccxt refuses other types before sending.
                    "orderTypes": list(_SPOT_TYPES),
                    "icebergAllowed": False,
                    "ocoAllowed": False,
                    "otoAllowed": False,
                    "quoteOrderQtyMarketAllowed": True,
                    "allowTrailingStop": False,
                    "cancelReplaceAllowed": False,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": _fmt(m.tick, tick),
                            "maxPrice": "1000000.00000000",
                            "tickSize": _fmt(m.tick, tick),
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": _fmt(m.min_qty, lot),
                            "maxQty": "9000.00000000",
                            "stepSize": _fmt(m.lot, lot),
                        },
                        {
                            "filterType": "MARKET_LOT_SIZE",
                            "minQty": "0.00000000",
                            "maxQty": "9000.00000000",
                            "stepSize": "0.00000000",
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": _fmt(m.min_notional),
                            "applyMinToMarket": True,
                            "maxNotional": "9000000.00000000",
                            "applyMaxToMarket": False,
                            "avgPriceMins": 5,
                        },
                    ],
                    "permissions": [],
                    "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                    "allowedSelfTradePreventionModes": [
                        "EXPIRE_TAKER",
                        "EXPIRE_MAKER",
                        "EXPIRE_BOTH",
                    ],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": self.server_ms(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {
                    "rateLimitType": "RAW_REQUESTS",
                    "interval": "MINUTE",
                    "intervalNum": 5,
                    "limit": 61000,
                },
            ],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def _currencies(self, params: Params) -> list[dict[str, Any]]:
        coins = sorted(
            {m.base for m in self._markets("spot")} | {m.quote for m in self._markets("spot")}
        )
        return [
            {
                "coin": c,
                "name": c,
                "depositAllEnable": True,
                "withdrawAllEnable": True,
                "free": "0",
                "locked": "0",
                "freeze": "0",
                "withdrawing": "0",
                "ipoing": "0",
                "ipoable": "0",
                "storage": "0",
                "isLegalMoney": False,
                "trading": True,
                "networkList": [
                    {
                        "network": c,
                        "coin": c,
                        "withdrawIntegerMultiple": "0.00000001",
                        "isDefault": True,
                        "depositEnable": True,
                        "withdrawEnable": True,
                        "depositDesc": "",
                        "withdrawDesc": "",
                        "name": c,
                        "resetAddressStatus": False,
                        "withdrawFee": "0",
                        "withdrawMin": "0",
                        "withdrawMax": "9999999999",
                        "minConfirm": 1,
                        "unLockConfirm": 0,
                        "sameAddress": False,
                    }
                ],
            }
            for c in coins
        ]

    # -- orders --------------------------------------------------------------------------------

    def _create(self, params: Params) -> dict[str, Any]:
        m = self._market(params, "spot")
        side = (params.get("side") or "").lower()
        raw_type = (params.get("type") or "").upper()
        kind = _SPOT_TYPES.get(raw_type)
        if kind is None:
            raise _Error(400, -1116, "Invalid orderType.")
        cid = params.get("newClientOrderId") or f"web_{secrets.token_hex(10)}"
        qty = self._float(params, "quantity", required=False)
        if qty is None and kind == "market" and params.get("quoteOrderQty"):
            # A market order sized in quote (ccxt sends this when given a price): bought at the
            # current price, rounded down to the lot.
            quote = self._float(params, "quoteOrderQty")
            last = self.exchange.prices.get(m.id)
            if not last:
                raise _Error(400, -1013, "Filter failure: NOTIONAL")
            qty = int(quote / last / m.lot + 1e-9) * m.lot  # type: ignore[operator]
        if qty is None:
            raise _Error(
                400,
                -1102,
                "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
            )
        price = self._float(params, "price", required=kind in ("limit", "stop_limit"))
        stop = self._float(params, "stopPrice", required=kind in ("stop", "stop_limit"))
        with self.exchange.lock:
            try:
                order = self._place(
                    m,
                    cid,
                    side=side,
                    type=kind,
                    qty=qty,
                    price=price,
                    stop_price=stop,
                    tif=params.get("timeInForce") or "GTC",
                )
            except Reject as e:
                raise self._reject(e, "create", m) from None
            return self._create_answer(order, cid, kind, params)

    def _create_answer(
        self, order: FakeOrder, cid: str, kind: str, params: Params
    ) -> dict[str, Any]:
        m = order.market
        base = {
            "symbol": m.id,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": cid,
            "transactTime": _ms(order.created_ns),
        }
        resp_type = (
            params.get("newOrderRespType") or ("FULL" if kind == "market" else "ACK")
        ).upper()
        if resp_type == "ACK":
            return base
        body = {
            **base,
            **self._order_fields(order),
            "workingTime": _ms(order.created_ns),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        if resp_type == "FULL":
            body["fills"] = [
                {
                    "price": _fmt(t.price),
                    "qty": _fmt(t.qty),
                    "commission": _fmt(t.fee),
                    "commissionAsset": m.quote,
                    "tradeId": t.trade_id,
                }
                for t in self.exchange.trades
                if t.order.order_id == order.order_id
            ]
        return body

    def _order_fields(self, o: FakeOrder) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "price": _fmt(o.price),
            "origQty": _fmt(o.qty),
            "executedQty": _fmt(o.filled),
            "origQuoteOrderQty": _fmt(0.0),
            "cummulativeQuoteQty": _fmt(o.cost),
            "status": _STATUS[o.status],
            "timeInForce": o.tif,
            "type": _SPOT_NAMES[o.type],
            "side": o.side.upper(),
        }
        if o.stop_price is not None:
            fields["stopPrice"] = _fmt(o.stop_price)
        return fields

    def render(self, o: FakeOrder) -> dict[str, Any]:
        """An order as ``GET /api/v3/order`` shows it."""
        return {
            "symbol": o.market.id,
            "orderId": o.order_id,
            "orderListId": -1,
            "clientOrderId": self.public_cid(o),
            **self._order_fields(o),
            "stopPrice": _fmt(o.stop_price),
            "icebergQty": _fmt(0.0),
            "time": _ms(o.created_ns),
            "updateTime": _ms(o.updated_ns),
            "isWorking": True,
            "workingTime": _ms(o.created_ns),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def _query(self, params: Params) -> dict[str, Any]:
        m = self._market(params, "spot")
        return self.render(self._find(params, m, "query"))

    def _cancel_answer(self, o: FakeOrder) -> dict[str, Any]:
        # Binance quirk: a cancel answer's clientOrderId is the id of the cancel request
        # itself (newClientOrderId of the DELETE, generated when absent); the order's own id
        # is in origClientOrderId.
        return {
            "symbol": o.market.id,
            "origClientOrderId": self.public_cid(o),
            "orderId": o.order_id,
            "orderListId": -1,
            "clientOrderId": self._cancel_ids.get(o.order_id, ""),
            "transactTime": _ms(o.updated_ns),
            **self._order_fields(o),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def _cancel_one(self, params: Params) -> dict[str, Any]:
        m = self._market(params, "spot")
        with self.exchange.lock:
            order = self._find(params, m, "cancel")
            self._cancel_ids[order.order_id] = (
                params.get("newClientOrderId") or secrets.token_urlsafe(16)[:22]
            )
            return self._cancel_answer(self._cancel(order))

    def _cancel_all(self, params: Params) -> list[dict[str, Any]]:
        m = self._market(params, "spot")
        with self.exchange.lock:
            done = self.exchange.cancel_all(m.id)
            return [self._cancel_answer(o) for o in done]

    def _open_orders(self, params: Params) -> list[dict[str, Any]]:
        mid = self._market(params, "spot").id if params.get("symbol") else None
        return [self.render(o) for o in self.exchange.open_orders(mid) if o.market.kind == "spot"]

    # -- account -------------------------------------------------------------------------------

    def _account(self, params: Params) -> dict[str, Any]:
        ex = self.exchange
        with ex.lock:
            quote = self._markets("spot")[0].quote if self._markets("spot") else "USDT"
            held = {quote: ex.cash, **{a: q for a, q in ex.assets.items() if a != quote}}
            locked: dict[str, float] = {}
            for o in ex.open_orders():
                if o.market.kind != "spot":
                    continue
                if o.side == "buy":
                    ref = o.price or o.stop_price or ex.prices.get(o.market.id, 0.0)
                    locked[o.market.quote] = locked.get(o.market.quote, 0.0) + o.remaining * ref
                else:
                    locked[o.market.base] = locked.get(o.market.base, 0.0) + o.remaining
            balances = []
            for asset in sorted(set(held) | {m.base for m in self._markets("spot")}):
                total = held.get(asset, 0.0)
                lock = min(locked.get(asset, 0.0), max(total, 0.0))
                balances.append({"asset": asset, "free": _fmt(total - lock), "locked": _fmt(lock)})
        return {
            "makerCommission": int(ex.maker_fee * 10_000),
            "takerCommission": int(ex.taker_fee * 10_000),
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": _fmt(ex.maker_fee),
                "taker": _fmt(ex.taker_fee),
                "buyer": _fmt(0.0),
                "seller": _fmt(0.0),
            },
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.server_ms(),
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": 1,
        }

    def _my_trades(self, params: Params) -> list[dict[str, Any]]:
        m = self._market(params, "spot")
        rows = _select_trades(self.exchange, m, params)
        return [
            {
                "symbol": m.id,
                "id": t.trade_id,
                "orderId": t.order.order_id,
                "orderListId": -1,
                "price": _fmt(t.price),
                "qty": _fmt(t.qty),
                "quoteQty": _fmt(t.quote_qty),
                "commission": _fmt(t.fee),
                "commissionAsset": m.quote,
                "time": _ms(t.ts),
                "isBuyer": t.order.side == "buy",
                "isMaker": t.maker,
                "isBestMatch": True,
            }
            for t in rows
        ]

    # -- user data: the WebSocket API ----------------------------------------------------------

    async def _ws_api_socket(self, request: web.Request) -> web.StreamResponse:
        return await self.serve_socket(request, self._ws_api_message)

    async def _ws_api_message(self, sock: Socket, data: Any) -> None:
        if not isinstance(data, dict):
            return
        req_id, method = data.get("id"), data.get("method")
        params = data.get("params") or {}
        try:
            if method == "userDataStream.subscribe.signature":
                self._check_ws_signature(params)
                # From now on this socket carries the account's events (and the fault script's
                # duplicates and reorderings of them).
                sock.user = True
                result: Any = {"subscriptionId": 0}
            elif method == "userDataStream.unsubscribe":
                sock.user = False
                result = {}
            elif method == "ping":
                result = {}
            elif method == "time":
                result = {"serverTime": self.server_ms()}
            else:
                raise _Error(400, -1020, "This operation is not supported.")
        except _Error as e:
            await sock.ws.send_json(
                {"id": req_id, "status": e.status, "error": {"code": e.code, "msg": e.msg}}
            )
            return
        await sock.ws.send_json(
            {
                "id": req_id,
                "status": 200,
                "result": result,
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 6000,
                        "count": self.usage.add("weight", 60_000, 2, self.server_ms()),
                    }
                ],
            }
        )

    def _check_ws_signature(self, params: dict[str, Any]) -> None:
        """The WebSocket API signs the request's parameters sorted by name (``apiKey`` and
        ``timestamp`` among them), joined as ``k=v`` with ``&``, without ``signature``."""
        if params.get("apiKey") != self.api_key:
            raise _Error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        signature = str(params.get("signature") or "")
        payload = "&".join(
            f"{k}={_ws_value(params[k])}" for k in sorted(params) if k != "signature"
        )
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise _Error(400, -1022, "Signature for this request is not valid.")
        self._check_timestamp(params.get("timestamp"))

    def _report(
        self,
        o: FakeOrder,
        x: str,
        ms: int,
        trade: FakeTrade | None = None,
        cancel_id: str | None = None,
    ) -> dict[str, Any]:
        """An ``executionReport`` event, wrapped as the WebSocket API delivers it."""
        cid = self.public_cid(o)
        event = {
            "e": "executionReport",
            "E": ms,
            "s": o.market.id,
            # On a cancel, c is the cancel request's id and C the order's (Binance's quirk).
            "c": cancel_id if cancel_id is not None else cid,
            "S": o.side.upper(),
            "o": _SPOT_NAMES[o.type],
            "f": o.tif,
            "q": _fmt(o.qty),
            "p": _fmt(o.price),
            "P": _fmt(o.stop_price),
            "F": _fmt(0.0),
            "g": -1,
            "C": cid if cancel_id is not None else "",
            "x": x,
            "X": _STATUS[o.status],
            "r": "NONE",
            "i": o.order_id,
            "l": _fmt(trade.qty if trade else 0.0),
            "z": _fmt(o.filled),
            "L": _fmt(trade.price if trade else 0.0),
            "n": _fmt(trade.fee if trade else 0.0),
            "N": o.market.quote if trade else None,
            "T": ms,
            "t": trade.trade_id if trade else -1,
            "v": 0,
            "I": 0,
            "w": o.is_open and o.type != "market",
            "m": bool(trade and trade.maker),
            "M": False,
            "O": _ms(o.created_ns),
            "Z": _fmt(o.cost),
            "Y": _fmt(trade.quote_qty if trade else 0.0),
            "Q": _fmt(0.0),
            "W": _ms(o.created_ns),
            "V": "EXPIRE_MAKER",
        }
        return {"subscriptionId": 0, "event": event}

    def _user_order(self, order: FakeOrder) -> None:
        x = _EXEC_TYPE.get(order.status)
        if x is None:
            return  # fills are reported by their TRADE events
        ms = _ms(order.updated_ns)
        cancel_id = None
        if order.status == "cancelled":
            cancel_id = self._cancel_ids.setdefault(order.order_id, secrets.token_urlsafe(16)[:22])
        self.publish(self._report(order, x, ms, cancel_id=cancel_id), user=True)

    def _user_trade(self, trade: FakeTrade) -> None:
        o = trade.order
        ms = _ms(trade.ts)
        # The trade event shows the order as of this execution (the exchange settles the
        # order's status after all of its parts).
        status = o.status
        o.status = "filled" if o.remaining <= 1e-12 else "partially_filled"
        try:
            report = self._report(o, "TRADE", ms, trade=trade)
        finally:
            o.status = status
        self.publish(report, user=True)
        ex = self.exchange
        self.publish(
            {
                "subscriptionId": 0,
                "event": {
                    "e": "outboundAccountPosition",
                    "E": ms,
                    "u": ms,
                    "B": [
                        {
                            "a": o.market.base,
                            "f": _fmt(ex.assets.get(o.market.base, 0.0)),
                            "l": _fmt(0),
                        },
                        {"a": o.market.quote, "f": _fmt(ex.cash), "l": _fmt(0)},
                    ],
                },
            },
            user=True,
        )


def _ws_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _select_trades(ex: Exchange, m: FakeMarket, params: Params) -> list[FakeTrade]:
    """``myTrades``/``userTrades`` filtering: orderId, startTime/endTime (ms), fromId, limit
    (the most recent ones unless a start is given)."""
    rows = ex.my_trades(m.id)
    if params.get("orderId"):
        rows = [t for t in rows if str(t.order.order_id) == params["orderId"]]
    if params.get("startTime"):
        rows = [t for t in rows if _ms(t.ts) >= int(params["startTime"])]
    if params.get("endTime"):
        rows = [t for t in rows if _ms(t.ts) <= int(params["endTime"])]
    if params.get("fromId"):
        rows = [t for t in rows if t.trade_id >= int(params["fromId"])]
    limit = int(params.get("limit") or 500)
    if params.get("startTime") or params.get("fromId"):
        return rows[:limit]
    return rows[-limit:]


# ---------------------------------------------------------------------------------------------
# USD-M futures


_USDM_TYPES = {"MARKET": "market", "LIMIT": "limit", "STOP_MARKET": "stop", "STOP": "stop_limit"}
_USDM_NAMES = {v: k for k, v in _USDM_TYPES.items()}
_MAINT_MARGIN_RATE = 0.004


class BinanceUsdm(_Binance):
    """Binance USD-M perpetual futures as ``ccxt.pro.binanceusdm`` 4.5.90 uses it: ``/fapi``
    REST (conditional orders through the algo order endpoints, as ccxt sends them since the
    venue moved them there), listenKey user data on ``/private/ws?listenKey=``, the market
    streams on ``/public/ws`` and ``/market/ws``, and ``countdownCancelAll``, the venue's
    dead-man's switch."""

    name = "binanceusdm"
    futures = True
    order_count_headers = (("X-MBX-ORDER-COUNT-1M", 60_000),)

    def __init__(self, exchange: Exchange, *, api_key: str = "key", secret: str = "secret") -> None:
        super().__init__(exchange, api_key=api_key, secret=secret)
        self.listen_keys: set[str] = set()
        self.leverage: dict[str, int] = {}
        self._algo: set[int] = set()  # order ids placed as algo (conditional) orders
        self._algo_placing = False
        self._triggered_seen: set[int] = set()
        self._realized_seen: dict[str, float] = {}
        self._trade_pnl: dict[int, float] = {}
        self._countdowns: dict[str, asyncio.TimerHandle] = {}

    def routes(self) -> list[tuple[str, str, str, Handler]]:
        e = self._endpoint
        open_weight = lambda p: 1 if p.get("symbol") else 40  # noqa: E731
        return [
            ("GET", "/fapi/v1/ping", "time", e(lambda p: {}, auth="none")),
            ("GET", "/fapi/v1/ticker/24hr", "ticker", e(self._ticker_24hr, auth="none")),
            (
                "GET",
                "/fapi/v1/time",
                "time",
                e(lambda p: {"serverTime": self.server_ms()}, auth="none"),
            ),
            ("GET", "/fapi/v1/exchangeInfo", "markets", e(self._exchange_info, auth="none")),
            ("POST", "/fapi/v1/order", "create", e(self._create, weight=0, orders=1)),
            ("GET", "/fapi/v1/order", "lookup", e(self._query)),
            ("DELETE", "/fapi/v1/order", "cancel", e(self._cancel_one)),
            ("DELETE", "/fapi/v1/allOpenOrders", "cancel_all", e(self._cancel_all)),
            ("GET", "/fapi/v1/openOrders", "open_orders", e(self._open_orders, weight=open_weight)),
            ("POST", "/fapi/v1/algoOrder", "create", e(self._create_algo, weight=0, orders=1)),
            ("GET", "/fapi/v1/algoOrder", "lookup", e(self._query_algo)),
            ("DELETE", "/fapi/v1/algoOrder", "cancel", e(self._cancel_algo)),
            (
                "GET",
                "/fapi/v1/openAlgoOrders",
                "open_orders",
                e(self._open_algo_orders, weight=open_weight),
            ),
            ("DELETE", "/fapi/v1/algoOpenOrders", "cancel_all", e(self._cancel_all_algo)),
            ("GET", "/fapi/v3/account", "balance", e(self._account, weight=5)),
            ("GET", "/fapi/v2/account", "balance", e(self._account, weight=5)),
            ("GET", "/fapi/v3/positionRisk", "positions", e(self._position_risk, weight=5)),
            ("GET", "/fapi/v2/positionRisk", "positions", e(self._position_risk, weight=5)),
            ("GET", "/fapi/v1/leverageBracket", "positions", e(self._brackets)),
            ("POST", "/fapi/v1/leverage", "leverage", e(self._set_leverage)),
            ("GET", "/fapi/v1/userTrades", "trades", e(self._user_trades, weight=5)),
            # listenKey requests carry the API key but no signature (ccxt's sign() special case).
            ("POST", "/fapi/v1/listenKey", "listen_key", e(self._new_listen_key, auth="key")),
            ("PUT", "/fapi/v1/listenKey", "listen_key", e(self._keep_listen_key, auth="key")),
            ("DELETE", "/fapi/v1/listenKey", "listen_key", e(self._close_listen_key, auth="key")),
            ("POST", "/fapi/v1/countdownCancelAll", "countdown", e(self._countdown, weight=10)),
        ]

    def sockets(self) -> list[tuple[str, Handler]]:
        return [
            ("/public/ws/{stream}", self._market_socket),
            ("/market/ws/{stream}", self._market_socket),
            ("/private/ws", self._user_socket),
            ("/ws/{stream}", self._legacy_socket),
        ]

    # -- errors --------------------------------------------------------------------------------

    def _order_reject(self, e: Reject, m: FakeMarket | None = None) -> _Error:
        if e.code == "INSUFFICIENT_FUNDS":
            return _Error(400, -2019, "Margin is insufficient.")
        if e.code == "DUPLICATE_CLIENT_ID":
            return _Error(400, -4116, "ClientOrderId is duplicated.")
        if e.code in ("LOT_SIZE", "TICK_SIZE"):
            return _Error(400, -1111, "Precision is over the maximum defined for this asset.")
        if e.code == "MIN_NOTIONAL":
            floor = f"{m.min_notional:g}" if m is not None else "5"
            return _Error(
                400,
                -4164,
                f"Order's notional must be no smaller than {floor} (unless "
                "you choose reduce only).",
            )
        if e.code == "REDUCE_ONLY":
            return _Error(400, -2022, "ReduceOnly Order is rejected.")
        return _Error(400, -1000, e.message)

    # -- markets -------------------------------------------------------------------------------

    def _exchange_info(self, params: Params) -> dict[str, Any]:
        symbols = []
        for m in self._markets("swap"):
            tick, lot = _places(m.tick), _places(m.lot)
            symbols.append(
                {
                    "symbol": m.id,
                    "pair": m.id,
                    "contractType": "PERPETUAL",
                    "deliveryDate": 4133404800000,
                    "onboardDate": 1569398400000,
                    "status": "TRADING",
                    "maintMarginPercent": "2.5000",
                    "requiredMarginPercent": "5.0000",
                    "baseAsset": m.base,
                    "quoteAsset": m.quote,
                    "marginAsset": m.quote,
                    "pricePrecision": tick,
                    "quantityPrecision": lot,
                    "baseAssetPrecision": 8,
                    "quotePrecision": 8,
                    "underlyingType": "COIN",
                    "underlyingSubType": [],
                    "settlePlan": 0,
                    "triggerProtect": "0.0500",
                    "liquidationFee": "0.012500",
                    "marketTakeBound": "0.05",
                    "maxMoveOrderLimit": 10000,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": _fmt(m.tick, tick),
                            "maxPrice": "4529764",
                            "tickSize": _fmt(m.tick, tick),
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": _fmt(m.min_qty, lot),
                            "maxQty": "1000",
                            "stepSize": _fmt(m.lot, lot),
                        },
                        {
                            "filterType": "MARKET_LOT_SIZE",
                            "minQty": _fmt(m.min_qty, lot),
                            "maxQty": "120",
                            "stepSize": _fmt(m.lot, lot),
                        },
                        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                        {"filterType": "MIN_NOTIONAL", "notional": _fmt(m.min_notional, 2)},
                        {
                            "filterType": "PERCENT_PRICE",
                            "multiplierUp": "1.0500",
                            "multiplierDown": "0.9500",
                            "multiplierDecimal": "4",
                        },
                    ],
                    # Only what the fake matches: ccxt refuses other types before sending.
                    "orderTypes": list(_USDM_TYPES),
                    "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": self.server_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 2400,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [],
            "assets": [
                {"asset": q, "marginAvailable": True, "autoAssetExchange": "-10000"}
                for q in sorted({m.quote for m in self._markets("swap")})
            ],
            "symbols": symbols,
        }

    # -- orders --------------------------------------------------------------------------------

    def _order_args(
        self, params: Params, m: FakeMarket, kind: str, stop_key: str
    ) -> dict[str, Any]:
        return {
            "side": (params.get("side") or "").lower(),
            "type": kind,
            "qty": self._float(params, "quantity"),
            "price": self._float(params, "price", required=kind in ("limit", "stop_limit")),
            "stop_price": self._float(params, stop_key, required=kind in ("stop", "stop_limit")),
            "reduce_only": _flag(params.get("reduceOnly")),
            "tif": params.get("timeInForce") or "GTC",
        }

    def _match_soon(self, market_id: str) -> None:
        """USD-M answers an order before its matching engine sees it (a market order comes back
        NEW with executedQty 0): the order is matched just after the answer."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.exchange.match(market_id)
            return
        loop.call_later(0.01, self.exchange.match, market_id)

    def _create(self, params: Params) -> dict[str, Any]:
        m = self._market(params, "swap")
        kind = _USDM_TYPES.get((params.get("type") or "").upper())
        if kind is None:
            raise _Error(400, -1116, "Invalid orderType.")
        cid = params.get("newClientOrderId") or f"web_{secrets.token_hex(10)}"
        try:
            order = self._place(
                m, cid, match=False, **self._order_args(params, m, kind, "stopPrice")
            )
        except Reject as e:
            raise self._reject(e, "create", m) from None
        self._match_soon(m.id)
        return self.render(order)

    def render(self, o: FakeOrder) -> dict[str, Any]:
        """An order as ``/fapi/v1/order`` shows it."""
        m = o.market
        tick, lot = _places(m.tick), _places(m.lot)
        return {
            "orderId": o.order_id,
            "symbol": m.id,
            "status": _STATUS[o.status],
            "clientOrderId": self.public_cid(o),
            "price": _fmt(o.price, tick),
            "avgPrice": _fmt(o.average, max(tick, 2)),
            "origQty": _fmt(o.qty, lot),
            "executedQty": _fmt(o.filled, lot),
            "cumQty": _fmt(o.filled, lot),
            "cumQuote": _fmt(o.cost, 5),
            "timeInForce": o.tif,
            "type": _USDM_NAMES[o.type],
            "reduceOnly": o.reduce_only,
            "closePosition": False,
            "side": o.side.upper(),
            "positionSide": "BOTH",
            "stopPrice": _fmt(o.stop_price, tick),
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": _USDM_NAMES[o.type],
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
            "time": _ms(o.created_ns),
            "updateTime": _ms(o.updated_ns),
        }

    def _regular(self, order: FakeOrder) -> bool:
        """In the matching engine: a plain order, or an algo order that has triggered."""
        return order.order_id not in self._algo or order.triggered

    def _query(self, params: Params) -> dict[str, Any]:
        m = self._market(params, "swap")
        order = self._find(params, m, "query")
        if not self._regular(order):
            raise self._reject(Reject("UNKNOWN_ORDER", "not triggered"), "query")
        return self.render(order)

    def _cancel_one(self, params: Params) -> dict[str, Any]:
        m = self._market(params, "swap")
        with self.exchange.lock:
            order = self._find(params, m, "cancel")
            if not self._regular(order):
                raise self._reject(Reject("UNKNOWN_ORDER", "not triggered"), "cancel")
            # Unlike spot, a USD-M cancel answer carries the order's own clientOrderId.
            return self.render(self._cancel(order))

    def _cancel_all(self, params: Params) -> dict[str, Any]:
        m = self._market(params, "swap")
        with self.exchange.lock:
            for o in self.exchange.open_orders(m.id):
                if self._regular(o):
                    self.exchange.cancel(order_id=o.order_id)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _open_orders(self, params: Params) -> list[dict[str, Any]]:
        mid = self._market(params, "swap").id if params.get("symbol") else None
        return [
            self.render(o)
            for o in self.exchange.open_orders(mid)
            if o.market.kind == "swap" and self._regular(o)
        ]

    # -- algo (conditional) orders -------------------------------------------------------------

    def _create_algo(self, params: Params) -> dict[str, Any]:
        m = self._market(params, "swap")
        if (params.get("algoType") or "").upper() != "CONDITIONAL":
            raise _Error(400, -1116, "Invalid algoType.")
        kind = _USDM_TYPES.get((params.get("type") or "").upper())
        if kind not in ("stop", "stop_limit"):
            raise _Error(400, -1116, "Invalid orderType.")
        cid = params.get("clientAlgoId") or secrets.token_urlsafe(16)[:22]
        with self.exchange.lock:
            self._algo_placing = True
            try:
                order = self._place(
                    m, cid, match=False, **self._order_args(params, m, kind, "triggerPrice")
                )
            except Reject as e:
                raise self._reject(e, "create", m) from None
            finally:
                self._algo_placing = False
        self._match_soon(m.id)
        return self.render_algo(order)

    def _algo_status(self, o: FakeOrder) -> str:
        if o.status == "cancelled" and not o.triggered:
            return "CANCELED"
        if o.status in ("expired", "rejected") and not o.triggered:
            return _STATUS[o.status]
        if not o.triggered:
            return "NEW"
        return "TRIGGERED" if o.is_open else "FINISHED"

    def render_algo(self, o: FakeOrder) -> dict[str, Any]:
        """An algo order as ``/fapi/v1/algoOrder`` shows it."""
        m = o.market
        tick, lot = _places(m.tick), _places(m.lot)
        return {
            "algoId": o.order_id + ALGO_ID_OFFSET,
            "clientAlgoId": self.public_cid(o),
            "algoType": "CONDITIONAL",
            "orderType": _USDM_NAMES[o.type],
            "symbol": m.id,
            "side": o.side.upper(),
            "positionSide": "BOTH",
            "timeInForce": o.tif,
            "quantity": _fmt(o.qty, lot),
            "algoStatus": self._algo_status(o),
            "actualOrderId": str(o.order_id) if o.triggered else "",
            "actualPrice": _fmt(o.average, tick) if o.filled else "0",
            "triggerPrice": _fmt(o.stop_price, tick),
            "price": _fmt(o.price, tick),
            "icebergQuantity": None,
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": "CONTRACT_PRICE",
            "priceMatch": "NONE",
            "closePosition": False,
            "priceProtect": False,
            "reduceOnly": o.reduce_only,
            "createTime": _ms(o.created_ns),
            "updateTime": _ms(o.updated_ns),
            "triggerTime": _ms(o.updated_ns) if o.triggered else 0,
            "goodTillDate": 0,
        }

    def _find_algo(self, params: Params, m: FakeMarket, context: str) -> FakeOrder:
        algo_id, cid = params.get("algoId"), params.get("clientAlgoId")
        if not algo_id and not cid:
            raise _Error(
                400,
                -1102,
                "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!",
            )
        try:
            if algo_id:
                order = self.exchange.get(order_id=int(algo_id) - ALGO_ID_OFFSET)
            else:
                order = self.exchange.get(client_id=self._latest.get(cid, cid))  # type: ignore[arg-type]
        except (Reject, ValueError):
            order = None
        if order is None or order.order_id not in self._algo or order.market.id != m.id:
            raise self._reject(Reject("UNKNOWN_ORDER", "no such algo order"), context)
        return order

    def _query_algo(self, params: Params) -> dict[str, Any]:
        m = self._market(params, "swap")
        return self.render_algo(self._find_algo(params, m, "query"))

    def _cancel_algo(self, params: Params) -> dict[str, Any]:
        m = self._market(params, "swap")
        with self.exchange.lock:
            order = self._find_algo(params, m, "cancel")
            if order.triggered or not order.is_open:
                raise self._reject(Reject("UNKNOWN_ORDER", "algo order is final"), "cancel")
            self._cancel(order)
        return {
            "algoId": order.order_id + ALGO_ID_OFFSET,
            "clientAlgoId": self.public_cid(order),
            "code": "200",
            "msg": "success",
        }

    def _open_algo_orders(self, params: Params) -> list[dict[str, Any]]:
        mid = self._market(params, "swap").id if params.get("symbol") else None
        return [
            self.render_algo(o)
            for o in self.exchange.open_orders(mid)
            if o.market.kind == "swap" and not self._regular(o)
        ]

    def _cancel_all_algo(self, params: Params) -> dict[str, Any]:
        m = self._market(params, "swap")
        with self.exchange.lock:
            for o in self.exchange.open_orders(m.id):
                if not self._regular(o):
                    self.exchange.cancel(order_id=o.order_id)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    # -- countdown cancel-all (dead-man's switch) ----------------------------------------------

    def _countdown(self, params: Params) -> dict[str, Any]:
        m = self._market(params, "swap")
        countdown = int(self._float(params, "countdownTime") or 0)
        loop = asyncio.get_running_loop()
        previous = self._countdowns.pop(m.id, None)
        if previous is not None:
            previous.cancel()
        if countdown > 0:
            # Every heartbeat re-arms the timer; when it lapses, every order of the symbol is
            # cancelled (conditional ones too).
            self._countdowns[m.id] = loop.call_later(countdown / 1000, self._countdown_fire, m.id)
        return {"symbol": m.id, "countdownTime": str(countdown)}

    def _countdown_fire(self, market_id: str) -> None:
        self._countdowns.pop(market_id, None)
        self.exchange.cancel_all(market_id)

    # -- account -------------------------------------------------------------------------------

    def _lev(self, m: FakeMarket) -> int:
        return self.leverage.get(m.id, int(min(20, m.max_leverage)))

    def _position_rows(self) -> list[tuple[FakeMarket, Any, float, float]]:
        """(market, position, mark, unrealised P&L) of each open position."""
        rows = []
        for mid, p in self.exchange.positions.items():
            m = self.exchange.markets[mid]
            if m.kind != "swap" or p.qty == 0:
                continue
            mark = self.exchange.prices.get(mid, p.entry)
            rows.append((m, p, mark, p.qty * m.contract_size * (mark - p.entry)))
        return rows

    def _account(self, params: Params) -> dict[str, Any]:
        ex = self.exchange
        with ex.lock:
            rows = self._position_rows()
            quote = self._markets("swap")[0].quote if self._markets("swap") else "USDT"
            upnl = sum(r[3] for r in rows)
            initial = sum(
                abs(p.qty * m.contract_size * mark) / self._lev(m) for m, p, mark, _ in rows
            )
            maint = sum(
                abs(p.qty * m.contract_size * mark) * _MAINT_MARGIN_RATE for m, p, mark, _ in rows
            )
            wallet = ex.cash
            margin_balance = wallet + upnl
            available = max(margin_balance - initial, 0.0)
            now = self.server_ms()
            positions = [
                {
                    "symbol": m.id,
                    "positionSide": "BOTH",
                    "positionAmt": _fmt(p.qty, _places(m.lot)),
                    "unrealizedProfit": _fmt(up),
                    "isolatedMargin": "0",
                    "notional": _fmt(p.qty * m.contract_size * mark),
                    "isolatedWallet": "0",
                    "initialMargin": _fmt(abs(p.qty * mark) / self._lev(m)),
                    "maintMargin": _fmt(abs(p.qty * mark) * _MAINT_MARGIN_RATE),
                    "updateTime": now,
                }
                for m, p, mark, up in rows
            ]
        return {
            "totalInitialMargin": _fmt(initial),
            "totalMaintMargin": _fmt(maint),
            "totalWalletBalance": _fmt(wallet),
            "totalUnrealizedProfit": _fmt(upnl),
            "totalMarginBalance": _fmt(margin_balance),
            "totalPositionInitialMargin": _fmt(initial),
            "totalOpenOrderInitialMargin": "0",
            "totalCrossWalletBalance": _fmt(wallet),
            "totalCrossUnPnl": _fmt(upnl),
            "availableBalance": _fmt(available),
            "maxWithdrawAmount": _fmt(available),
            # ccxt skips an asset whose updateTime is 0: the real venue stamps used assets.
            "assets": [
                {
                    "asset": quote,
                    "walletBalance": _fmt(wallet),
                    "unrealizedProfit": _fmt(upnl),
                    "marginBalance": _fmt(margin_balance),
                    "maintMargin": _fmt(maint),
                    "initialMargin": _fmt(initial),
                    "positionInitialMargin": _fmt(initial),
                    "openOrderInitialMargin": "0",
                    "crossWalletBalance": _fmt(wallet),
                    "crossUnPnl": _fmt(upnl),
                    "availableBalance": _fmt(available),
                    "maxWithdrawAmount": _fmt(available),
                    "updateTime": now,
                }
            ],
            "positions": positions,
        }

    def _position_risk(self, params: Params) -> list[dict[str, Any]]:
        with self.exchange.lock:
            rows = self._position_rows()
            symbol = params.get("symbol")
            return [
                {
                    "symbol": m.id,
                    "positionSide": "BOTH",
                    "positionAmt": _fmt(p.qty, _places(m.lot)),
                    "entryPrice": _fmt(p.entry),
                    "breakEvenPrice": _fmt(p.entry),
                    "markPrice": _fmt(mark),
                    "unRealizedProfit": _fmt(up),
                    "liquidationPrice": "0",
                    "isolatedMargin": "0",
                    "notional": _fmt(p.qty * m.contract_size * mark),
                    "marginAsset": m.quote,
                    "isolatedWallet": "0",
                    "initialMargin": _fmt(abs(p.qty * mark) / self._lev(m)),
                    "maintMargin": _fmt(abs(p.qty * mark) * _MAINT_MARGIN_RATE),
                    "positionInitialMargin": _fmt(abs(p.qty * mark) / self._lev(m)),
                    "openOrderInitialMargin": "0",
                    "adl": 0,
                    "bidNotional": "0",
                    "askNotional": "0",
                    "updateTime": self.server_ms(),
                }
                for m, p, mark, up in rows
                if symbol in (None, "", m.id)
            ]

    def _brackets(self, params: Params) -> list[dict[str, Any]]:
        return [
            {
                "symbol": m.id,
                "notionalCoef": 1.0,
                "brackets": [
                    {
                        "bracket": 1,
                        "initialLeverage": int(m.max_leverage),
                        "notionalCap": 9_000_000_000,
                        "notionalFloor": 0,
                        "maintMarginRatio": _MAINT_MARGIN_RATE,
                        "cum": 0.0,
                    }
                ],
            }
            for m in self._markets("swap")
        ]

    def _set_leverage(self, params: Params) -> dict[str, Any]:
        m = self._market(params, "swap")
        lev = int(self._float(params, "leverage") or 0)
        if not 1 <= lev <= m.max_leverage:
            raise _Error(400, -4028, f"Leverage {lev} is not valid")
        self.leverage[m.id] = lev
        return {"leverage": lev, "maxNotionalValue": "9000000000", "symbol": m.id}

    def _user_trades(self, params: Params) -> list[dict[str, Any]]:
        m = self._market(params, "swap")
        lot, tick = _places(m.lot), _places(m.tick)
        return [
            {
                "buyer": t.order.side == "buy",
                "commission": _fmt(t.fee),
                "commissionAsset": m.quote,
                "id": t.trade_id,
                "maker": t.maker,
                "orderId": t.order.order_id,
                "price": _fmt(t.price, tick),
                "qty": _fmt(t.qty, lot),
                "quoteQty": _fmt(t.quote_qty),
                "realizedPnl": _fmt(self._trade_pnl.get(t.trade_id)),
                "side": t.order.side.upper(),
                "positionSide": "BOTH",
                "symbol": m.id,
                "time": _ms(t.ts),
            }
            for t in _select_trades(self.exchange, m, params)
        ]

    # -- user data: listenKey ------------------------------------------------------------------

    def _new_listen_key(self, params: Params) -> dict[str, str]:
        # The venue hands back the active key while there is one.
        if not self.listen_keys:
            self.listen_keys.add(secrets.token_hex(32))
        return {"listenKey": next(iter(self.listen_keys))}

    def _keep_listen_key(self, params: Params) -> dict[str, Any]:
        if not self.listen_keys:
            raise _Error(400, -1125, "This listenKey does not exist.")
        return {"listenKey": next(iter(self.listen_keys))}

    def _close_listen_key(self, params: Params) -> dict[str, Any]:
        self.listen_keys.clear()
        self.drop_sockets(user=True)
        return {}

    async def _user_socket(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("listenKey") not in self.listen_keys:
            raise web.HTTPBadRequest(text="invalid listenKey")
        return await self.serve_socket(request, _ignore, user=True)

    async def _legacy_socket(self, request: web.Request) -> web.StreamResponse:
        """``/ws/<listenKey>`` (the older user-stream address) or ``/ws/<stream>``."""
        if request.match_info["stream"] in self.listen_keys:
            return await self.serve_socket(request, _ignore, user=True)
        return await self._market_socket(request)

    def _order_update(
        self, o: FakeOrder, x: str, ms: int, trade: FakeTrade | None = None
    ) -> dict[str, Any]:
        m = o.market
        tick, lot = _places(m.tick), _places(m.lot)
        body: dict[str, Any] = {
            "s": m.id,
            "c": self.public_cid(o),
            "S": o.side.upper(),
            "o": _USDM_NAMES[o.type],
            "f": o.tif,
            "q": _fmt(o.qty, lot),
            "p": _fmt(o.price, tick),
            "ap": _fmt(o.average, max(tick, 2)),
            "sp": _fmt(o.stop_price, tick),
            "x": x,
            "X": _STATUS[o.status],
            "i": o.order_id,
            "l": _fmt(trade.qty if trade else 0, lot),
            "z": _fmt(o.filled, lot),
            "L": _fmt(trade.price if trade else 0, tick),
            "T": ms,
            "t": trade.trade_id if trade else 0,
            "b": "0",
            "a": "0",
            "m": bool(trade and trade.maker),
            "R": o.reduce_only,
            "wt": "CONTRACT_PRICE",
            "ot": _USDM_NAMES[o.type],
            "ps": "BOTH",
            "cp": False,
            "rp": _fmt(self._trade_pnl.get(trade.trade_id) if trade else 0.0),
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": "EXPIRE_MAKER",
            "pm": "NONE",
            "gtd": 0,
        }
        if trade is not None:
            # Commission fields are only pushed with a commission.
            body["N"] = m.quote
            body["n"] = _fmt(trade.fee)
        return {"e": "ORDER_TRADE_UPDATE", "E": ms, "T": ms, "o": body}

    def _algo_update(self, o: FakeOrder, ms: int) -> dict[str, Any]:
        a = self.render_algo(o)
        return {
            "e": "ALGO_UPDATE",
            "T": ms,
            "E": ms,
            "o": {
                "caid": a["clientAlgoId"],
                "aid": a["algoId"],
                "at": "CONDITIONAL",
                "o": a["orderType"],
                "s": a["symbol"],
                "S": a["side"],
                "ps": "BOTH",
                "f": a["timeInForce"],
                "q": a["quantity"],
                "X": a["algoStatus"],
                "ai": a["actualOrderId"],
                "ap": a["actualPrice"],
                "aq": _fmt(o.filled),
                "act": a["orderType"] if o.triggered else "0",
                "tp": a["triggerPrice"],
                "p": a["price"],
                "V": "EXPIRE_MAKER",
                "wt": "CONTRACT_PRICE",
                "pm": "NONE",
                "cp": False,
                "pP": False,
                "R": o.reduce_only,
                "tt": a["triggerTime"],
                "gtd": 0,
            },
        }

    def _user_order(self, order: FakeOrder) -> None:
        if order.status == "new" and self._algo_placing:
            self._algo.add(order.order_id)
        x = _EXEC_TYPE.get(order.status)
        if x is None:
            return  # fills are reported by their TRADE events
        ms = _ms(order.updated_ns)
        if order.order_id in self._algo and not order.triggered:
            self.publish(self._algo_update(order, ms), user=True)
        else:
            self.publish(self._order_update(order, x, ms), user=True)

    def _user_trade(self, trade: FakeTrade) -> None:
        o, m = trade.order, trade.order.market
        ms = _ms(trade.ts)
        p = self.exchange.position(m.id)
        rp = p.realized - self._realized_seen.get(m.id, 0.0)
        self._realized_seen[m.id] = p.realized
        self._trade_pnl[trade.trade_id] = rp
        status = o.status
        if o.order_id in self._algo and o.order_id not in self._triggered_seen:
            # A conditional order that triggers is reported as such, then the order it placed
            # appears in the matching engine (NEW) before its trades.
            self._triggered_seen.add(o.order_id)
            o.status = "new"
            try:
                self.publish(self._algo_update(o, ms), user=True)
                self.publish(self._order_update(o, "NEW", ms), user=True)
            finally:
                o.status = status
        o.status = "filled" if o.remaining <= 1e-12 else "partially_filled"
        try:
            update = self._order_update(o, "TRADE", ms, trade)
        finally:
            o.status = status
        self.publish(update, user=True)
        wallet = self.exchange.cash
        mark = self.exchange.prices.get(m.id, p.entry)
        self.publish(
            {
                "e": "ACCOUNT_UPDATE",
                "E": ms,
                "T": ms,
                "a": {
                    "m": "ORDER",
                    "B": [{"a": m.quote, "wb": _fmt(wallet), "cw": _fmt(wallet), "bc": "0"}],
                    "P": [
                        {
                            "s": m.id,
                            "pa": _fmt(p.qty, _places(m.lot)),
                            "ep": _fmt(p.entry),
                            "bep": _fmt(p.entry),
                            "cr": _fmt(p.realized),
                            "up": _fmt(p.qty * m.contract_size * (mark - p.entry)),
                            "mt": "cross",
                            "iw": "0",
                            "ps": "BOTH",
                        }
                    ],
                },
            },
            user=True,
        )


async def _ignore(sock: Socket, data: Any) -> None:
    """User-stream sockets take no requests (the client only pings them)."""
