"""BingX perpetual swaps (USDT-M, one-way mode) as ccxt.pro ``bingx`` speaks them, over a fake
:class:`~riskguard.testing.fake.exchange.Exchange`.

REST (``FakeVenue.base_url("bingx")`` + the client's own ``/openApi/...`` paths): server time,
swap contracts (plus the empty spot, coin-M and currency lists ccxt also loads outside the
sandbox), balance (v2 and v3), positions, order create/query/cancel/cancel-all/open orders,
fills (``allFillOrders``, and ``fillHistory`` with fill ids), the 24 h ticker,
cancel-all-after and the listen key. WebSocket (``FakeVenue.ws_url("bingx")`` +
``/swap-market``): ``<id>@trade``, ``<id>@ticker`` and ``<id>@kline_<interval>`` on the market
socket; ``ORDER_TRADE_UPDATE`` and ``ACCOUNT_UPDATE`` on ``/swap-market?listenKey=...``.

BingX's habits, mimicked on purpose (each one a trap for an adapter):

- every answer is ``{"code": 0, "msg": "", "data": ...}``; a refusal is HTTP 200 with a
  non-zero ``code`` (ccxt maps it by code, see :data:`ERRORS`);
- private requests carry ``X-BX-APIKEY`` and a ``signature`` (HMAC-SHA256 of the query string
  without it) and a ``timestamp`` within ``recvWindow`` (5 s) of the server's clock;
- a client order id is lowercased, 1 to 40 characters, and kept on LIMIT and MARKET orders only
  (the docs: "clientOrderId only supports LIMIT/MARKET order type"): a stop's is dropped;
- STOP_MARKET and STOP are position stop-losses (reduce-only, at most the position); the
  TRIGGER_MARKET and TRIGGER_LIMIT types are the plain stop and stop-limit orders;
- the create answer has no fee; fills have no id in ``allFillOrders`` (what ccxt's
  fetch_my_trades reads) nor in the user stream's ``ORDER_TRADE_UPDATE``: only
  ``trade/fillHistory`` gives a ``tradeId``; fill times are to the second;
- one-way positions are ``positionSide: BOTH`` with a signed amount;
- every WebSocket frame is GZIP-compressed binary, heartbeats included (``Ping``, answered by the
  client with a text ``Pong``).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import itertools
import json
import math
import secrets
import time
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web

from riskguard.testing.fake.exchange import Exchange, FakeMarket, FakeOrder, FakeTrade, Reject
from riskguard.testing.fake.faults import Rule
from riskguard.testing.fake.server import Dialect, Handler, Socket

__all__ = ["ERRORS", "Bingx"]

# The exchange's stable refusal codes as BingX numbers them (code, message), with the ccxt 4.5.90
# class each one becomes. Two are not what a reader expects: a reused client order id is 101400
# (ccxt: InvalidOrder, not DuplicateOrderId), and cancelling a filled order is 80018 (ccxt: a
# plain ExchangeError, not OrderNotFound).
ERRORS: dict[str, tuple[int, str]] = {
    "DUPLICATE_CLIENT_ID": (101400, "clientOrderID unique check failed"),  # InvalidOrder
    "UNKNOWN_ORDER": (80016, "order does not exist"),  # OrderNotFound
    "INSUFFICIENT_FUNDS": (101204, "Insufficient margin"),  # InsufficientFunds
    "MIN_NOTIONAL": (
        110425,
        "Please ensure that the minimum nominal value of the order placed must be greater than 2u",
    ),  # InvalidOrder
    "LOT_SIZE": (101400, "The minimum order amount is {min_qty} {base}."),  # InvalidOrder
    "TICK_SIZE": (109400, "Invalid parameters, price precision"),  # BadRequest
    "REDUCE_ONLY": (101205, "No position to close"),  # InvalidOrder
    "UNKNOWN_MARKET": (109425, "{symbol} not exist, please verify it"),  # BadSymbol
    "BAD_REQUEST": (109400, "Invalid parameters"),  # BadRequest
}
_FILLED = (80018, "order is already filled, The order doesn't exist")  # ccxt: ExchangeError

# Scripted HTTP statuses: BingX puts a code in the body even then, and ccxt maps the body's code
# before the HTTP status, so a 429 reaches the caller as OperationFailed (100410 "rate limited"),
# not as RateLimitExceeded, and a 504 as BadRequest (100400 "Gateway timeout").
_STATUS_CODES: dict[int, tuple[int, str]] = {
    401: (100413, "Incorrect apiKey"),
    403: (100004, "Permission denied"),
    418: (100410, "rate limited"),
    429: (100410, "rate limited"),
    500: (100500, "Internal system error"),
    503: (100503, "Server busy"),
    504: (100400, "Gateway timeout"),
}

# Order types as BingX names them -> (the exchange's type, position stop-loss).
_TYPES: dict[str, tuple[str, bool]] = {
    "MARKET": ("market", False),
    "LIMIT": ("limit", False),
    "TRIGGER_MARKET": ("stop", False),
    "TRIGGER_LIMIT": ("stop_limit", False),
    "STOP_MARKET": ("stop", True),
    "STOP": ("stop_limit", True),
}
_CLIENT_ID_TYPES = ("MARKET", "LIMIT")

_INTERVALS_MS = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}


def _decimals(step: float) -> int:
    """Digits after the point of a power-of-ten step (BingX gives precision only as digits, so a
    step like 0.5 cannot be told to the client: it reads 0.1)."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _num(value: float, places: int = 8) -> str:
    text = f"{value:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _ms(ns: int) -> int:
    return ns // 1_000_000


class _GzipSocket:
    """A server WebSocket that compresses every text it sends, as BingX does: the base
    :class:`Dialect` (``publish``, ``drop_sockets``) then works unchanged over it."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send_str(self, text: str) -> None:
        await self.ws.send_bytes(gzip.compress(text.encode()))

    async def close(self) -> None:
        await self.ws.close()


class Bingx(Dialect):
    """BingX USDT-M perpetual swaps (one-way mode) over ``exchange``, whose swap markets it lists.

    Knobs a test may turn: ``recv_window_ms`` (the default window when a request sends none),
    ``clock_offset_ms`` (the server clock ahead of the wall clock: a client's timestamps then
    fall outside the window), ``ping_interval`` (seconds between ``Ping`` frames),
    ``stop_client_ids`` (keep client ids on stop orders, which BingX does not),
    ``countdown_min_s`` (BingX accepts cancel-all-after timers of 10 to 120 s). ``pongs`` counts
    the ``Pong`` answers received."""

    name = "bingx"

    def __init__(self, exchange: Exchange, *, api_key: str = "key", secret: str = "secret") -> None:
        super().__init__(exchange)
        self.api_key = api_key
        self.secret = secret
        self.recv_window_ms = 5_000
        self.clock_offset_ms = 0
        self.ping_interval = 5.0
        self.stop_client_ids = False
        self.countdown_min_s = 10
        self.pongs = 0
        self.listen_keys: set[str] = set()
        self._wire_types: dict[str, str] = {}  # exchange client id -> BingX type as placed
        self._anonymous: set[str] = set()  # exchange client ids standing for "none given"
        self._anon_ids = itertools.count(1)
        self._cash = exchange.cash  # the wallet as last pushed (ACCOUNT_UPDATE's "bc")
        self._stats: dict[str, dict[str, float]] = {}  # market id -> 24 h ticker figures
        self._candles: dict[tuple[str, str], list[float]] = {}  # (id, interval) -> candle
        self._countdown: asyncio.TimerHandle | None = None
        self.attach(self._on_event)

    # -- wiring --------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, str, Handler]]:
        swap = "/openApi/swap"
        return [
            ("GET", f"{swap}/v2/server/time", "time", self._time),
            ("GET", f"{swap}/v2/quote/contracts", "markets", self._contracts),
            # ccxt loads coin-M and spot markets and (with a key) currencies too, unless the
            # client is in sandbox mode: empty lists keep load_markets to the swaps.
            ("GET", "/openApi/cswap/v1/market/contracts", "markets", self._empty_list),
            ("GET", "/openApi/spot/v1/common/symbols", "markets", self._spot_symbols),
            ("GET", "/openApi/wallets/v1/capital/config/getall", "markets", self._currencies),
            ("GET", f"{swap}/v2/quote/ticker", "ticker", self._ticker),
            ("GET", f"{swap}/v3/user/balance", "balance", self._balance_v3),
            ("GET", f"{swap}/v2/user/balance", "balance", self._balance_v2),
            ("GET", f"{swap}/v2/user/positions", "positions", self._positions),
            ("POST", f"{swap}/v2/trade/order", "create", self._create),
            ("GET", f"{swap}/v2/trade/order", "lookup", self._lookup),
            ("DELETE", f"{swap}/v2/trade/order", "cancel", self._cancel),
            ("DELETE", f"{swap}/v2/trade/allOpenOrders", "cancel_all", self._cancel_all),
            ("GET", f"{swap}/v2/trade/openOrders", "open_orders", self._open_orders),
            ("GET", f"{swap}/v2/trade/allFillOrders", "trades", self._fills),
            # The fills with their ids: documented under v1, listed by ccxt under v2
            # (``swapV2PrivateGetTradeFillHistory``); served at both.
            ("GET", f"{swap}/v1/trade/fillHistory", "trades", self._fill_history),
            ("GET", f"{swap}/v2/trade/fillHistory", "trades", self._fill_history),
            ("POST", f"{swap}/v2/trade/cancelAllAfter", "countdown", self._cancel_all_after),
            ("POST", "/openApi/user/auth/userDataStream", "listen_key", self._listen_key_new),
            ("PUT", "/openApi/user/auth/userDataStream", "listen_key", self._listen_key_keep),
            ("DELETE", "/openApi/user/auth/userDataStream", "listen_key", self._listen_key_end),
        ]

    def sockets(self) -> list[tuple[str, Handler]]:
        return [("/swap-market", self._socket)]

    def error(self, status: int, rule: Rule) -> web.Response:
        code, msg = _STATUS_CODES.get(
            status, (100500, "Internal system error") if status >= 500 else (109400, "Invalid")
        )
        return web.json_response(
            {"code": code, "msg": msg, "timestamp": self._now_ms()}, status=status
        )

    # -- envelope, auth ------------------------------------------------------------------------

    def _now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self.clock_offset_ms

    def _ok(self, data: Any) -> web.Response:
        return web.json_response({"code": 0, "msg": "", "timestamp": self._now_ms(), "data": data})

    def _fail(self, code: int, msg: str) -> web.Response:
        # BingX refuses with HTTP 200 and the code in the body.
        return web.json_response(
            {"code": code, "msg": msg, "timestamp": self._now_ms(), "data": {}}
        )

    def _reject(
        self, e: Reject, market: FakeMarket | None = None, symbol: str = ""
    ) -> web.Response:
        code, msg = ERRORS.get(e.code, ERRORS["BAD_REQUEST"])
        msg = msg.format(
            min_qty=_num(market.min_qty) if market else "",
            base=market.base if market else "",
            symbol=symbol,
        )
        if e.code in ("BAD_REQUEST", "TICK_SIZE"):
            msg = f"{msg}, err: {e.message}"
        return self._fail(code, msg)

    def _auth(self, request: web.Request) -> dict[str, str] | web.Response:
        """The request's parameters once its key, signature and timestamp check out, else the
        refusal to answer."""
        if request.headers.get("X-BX-APIKEY") != self.api_key:
            return self._fail(100413, "Incorrect apiKey")
        raw = request.rel_url.raw_query_string
        parts = raw.split("&") if raw else []
        given = [p[len("signature=") :] for p in parts if p.startswith("signature=")]
        # ccxt signs the unquoted parameter string and sends it quoted: compare the unquoted.
        payload = unquote("&".join(p for p in parts if not p.startswith("signature=")))
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if len(given) != 1 or not hmac.compare_digest(given[0], expected):
            return self._fail(100001, "Signature verification failed")
        params = {k: v for k, v in request.query.items() if k != "signature"}
        try:
            ts = int(params.get("timestamp", ""))
            window = int(params.get("recvWindow") or self.recv_window_ms)
        except ValueError:
            return self._fail(109400, "timestamp is invalid")
        now = self._now_ms()
        if ts > now + 1_000 or now - ts > window:
            return self._fail(109400, "timestamp is invalid")
        return params

    def _market(self, params: dict[str, str], *, required: bool = True) -> FakeMarket | None:
        symbol = params.get("symbol", "")
        if not symbol and not required:
            return None
        m = self.exchange.markets.get(symbol)
        if m is None or m.kind != "swap":
            raise Reject("UNKNOWN_MARKET", f"unknown symbol {symbol!r}")
        return m

    def _swaps(self) -> list[FakeMarket]:
        return [m for m in self.exchange.markets.values() if m.kind == "swap"]

    def _settle(self) -> str:
        swaps = self._swaps()
        return swaps[0].quote if swaps else "USDT"

    # -- public REST ---------------------------------------------------------------------------

    async def _time(self, request: web.Request) -> web.Response:
        return self._ok({"serverTime": self._now_ms()})

    async def _contracts(self, request: web.Request) -> web.Response:
        ex = self.exchange
        out = []
        for i, m in enumerate(self._swaps()):
            out.append(
                {
                    "contractId": str(100 + i),
                    "symbol": m.id,
                    "size": "0",
                    "quantityPrecision": _decimals(m.lot),
                    "pricePrecision": _decimals(m.tick),
                    "feeRate": _num(ex.taker_fee),
                    "makerFeeRate": _num(ex.maker_fee),
                    "takerFeeRate": _num(ex.taker_fee),
                    "tradeMinLimit": 0,
                    "tradeMinQuantity": float(m.min_qty),
                    "tradeMinUSDT": float(m.min_notional),
                    "maxLongLeverage": int(m.max_leverage),
                    "maxShortLeverage": int(m.max_leverage),
                    "currency": m.quote,
                    "asset": m.base,
                    "status": 1,
                    "apiStateOpen": "true",
                    "apiStateClose": "true",
                    "ensureTrigger": True,
                    "triggerFeeRate": "0.00020000",
                    "brokerState": True,
                    "launchTime": 0,
                    "maintainTime": 0,
                    "offTime": 0,
                }
            )
        return self._ok(out)

    async def _empty_list(self, request: web.Request) -> web.Response:
        return self._ok([])

    async def _spot_symbols(self, request: web.Request) -> web.Response:
        return self._ok({"symbols": []})

    async def _currencies(self, request: web.Request) -> web.Response:
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        coins = sorted({m.quote for m in self._swaps()} | {m.base for m in self._swaps()})
        return self._ok(
            [
                {
                    "coin": coin,
                    "name": coin,
                    "networkList": [
                        {
                            "name": coin,
                            "network": coin,
                            "isDefault": True,
                            "minConfirm": "1",
                            "withdrawEnable": True,
                            "depositEnable": True,
                            "withdrawFee": "0",
                            "withdrawMax": "1000000",
                            "withdrawMin": "0.0001",
                            "depositMin": "0.0001",
                            "withdrawPrecision": "8",
                            "depositPrecision": "8",
                            "contractAddress": "",
                            "needTagOrMemo": "false",
                            "displayName": coin,
                        }
                    ],
                }
                for coin in coins
            ]
        )

    async def _ticker(self, request: web.Request) -> web.Response:
        try:
            m = self._market(dict(request.query), required=False)
        except Reject as e:
            return self._reject(e, symbol=request.query.get("symbol", ""))
        rows = [self._ticker_row(x) for x in ([m] if m else self._swaps())]
        return self._ok(rows[0] if m else rows)

    def _ticker_row(self, m: FakeMarket) -> dict[str, Any]:
        with self.exchange.lock:
            price = self.exchange.prices.get(m.id, 0.0)
            s = self._stats.get(m.id, {"open": price, "high": price, "low": price, "vol": 0.0})
        p = _decimals(m.tick)
        now = self._now_ms()
        return {
            "symbol": m.id,
            "priceChange": _num(price - s["open"], p),
            "priceChangePercent": f"{(price / s['open'] - 1) * 100 if s['open'] else 0:.2f}%",
            "lastPrice": f"{price:.{p}f}",
            "lastQty": _num(m.min_qty),
            "highPrice": f"{s['high']:.{p}f}",
            "lowPrice": f"{s['low']:.{p}f}",
            "volume": _num(s["vol"]),
            "quoteVolume": _num(s["vol"] * price, 2),
            "openPrice": f"{s['open']:.{p}f}",
            "openTime": now - 86_400_000,
            "closeTime": now,
            "bidPrice": f"{price:.{p}f}",
            "bidQty": _num(m.min_qty),
            "askPrice": f"{price:.{p}f}",
            "askQty": _num(m.min_qty),
        }

    # -- account -------------------------------------------------------------------------------

    def _account(self) -> dict[str, str]:
        ex = self.exchange
        with ex.lock:
            used = frozen = realized = 0.0
            for mid, pos in ex.positions.items():
                m = ex.markets[mid]
                used += abs(pos.qty) * m.contract_size * pos.entry / m.max_leverage
                realized += pos.realized
            for o in ex.open_orders():
                if not o.reduce_only:
                    ref = o.price or o.stop_price or ex.prices.get(o.market.id, 0.0)
                    frozen += o.remaining * o.market.contract_size * ref / o.market.max_leverage
            equity = ex.equity()
            return {
                "userId": "1000001",
                "asset": self._settle(),
                "balance": _num(ex.cash, 4),
                "equity": _num(equity, 4),
                "unrealizedProfit": _num(equity - ex.cash, 4),
                "realisedProfit": _num(realized, 4),
                "availableMargin": _num(equity - used - frozen, 4),
                "usedMargin": _num(used, 4),
                "freezedMargin": _num(frozen, 4),
                "shortUid": "1000001",
            }

    async def _balance_v3(self, request: web.Request) -> web.Response:
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        return self._ok([self._account()])

    async def _balance_v2(self, request: web.Request) -> web.Response:
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        return self._ok({"balance": self._account()})

    async def _positions(self, request: web.Request) -> web.Response:
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        try:
            only = self._market(params, required=False)
        except Reject as e:
            return self._reject(e, symbol=params.get("symbol", ""))
        ex = self.exchange
        rows = []
        with ex.lock:
            for i, (mid, pos) in enumerate(sorted(ex.positions.items())):
                m = ex.markets[mid]
                if pos.qty == 0 or (only is not None and only.id != mid):
                    continue
                mark = ex.prices.get(mid, pos.entry)
                size = abs(pos.qty) * m.contract_size
                margin = size * pos.entry / m.max_leverage
                upnl = pos.qty * m.contract_size * (mark - pos.entry)
                pending = sum(o.remaining for o in ex.open_orders(mid) if o.reduce_only)
                q, p = _decimals(m.lot), _decimals(m.tick)
                rows.append(
                    {
                        "positionId": str(2_000_001 + i),
                        "symbol": mid,
                        "currency": m.quote,
                        # One-way mode: BingX says BOTH and signs the amount (ccxt's fetch_positions
                        # passes both through: side "both", contracts negative when short).
                        "positionAmt": f"{pos.qty:.{q}f}",
                        "availableAmt": f"{max(abs(pos.qty) - pending, 0.0):.{q}f}",
                        "positionSide": "BOTH",
                        "isolated": False,
                        "avgPrice": _num(pos.entry, p + 4),
                        "initialMargin": _num(margin, 4),
                        "margin": _num(margin, 4),
                        "leverage": int(m.max_leverage),
                        "unrealizedProfit": _num(upnl, 4),
                        "realisedProfit": _num(pos.realized, 4),
                        "liquidationPrice": 0,
                        "pnlRatio": _num(upnl / margin if margin else 0, 4),
                        "maxMarginReduction": "0.0000",
                        "riskRate": "0.0000",
                        "markPrice": f"{mark:.{p}f}",
                        "positionValue": _num(size * mark, 4),
                        "onlyOnePosition": True,
                        "updateTime": _ms(ex.now()),
                    }
                )
        return self._ok(rows)

    # -- orders --------------------------------------------------------------------------------

    def _wire_client_id(self, order: FakeOrder) -> str:
        return "" if order.client_id in self._anonymous else order.client_id

    def _wire_type(self, order: FakeOrder) -> str:
        default = {
            "market": "MARKET",
            "limit": "LIMIT",
            "stop": "TRIGGER_MARKET",
            "stop_limit": "TRIGGER_LIMIT",
        }[order.type]
        return self._wire_types.get(order.client_id, default)

    def _status(self, order: FakeOrder) -> str:
        if order.status == "new":
            # A resting order is PENDING; a stop not yet triggered is NEW (as BingX lists them).
            return (
                "NEW" if order.type in ("stop", "stop_limit") and not order.triggered else "PENDING"
            )
        return {
            "partially_filled": "PARTIALLY_FILLED",
            "filled": "FILLED",
            "cancelled": "CANCELLED",
            "expired": "EXPIRED",
            "rejected": "FAILED",
        }[order.status]

    def _order_json(self, order: FakeOrder) -> dict[str, Any]:
        m = order.market
        q, p = _decimals(m.lot), _decimals(m.tick)
        avg = order.average
        empty = {"type": "", "quantity": 0, "stopPrice": 0, "price": 0, "workingType": ""}
        return {
            "symbol": m.id,
            "orderId": order.order_id,
            "side": order.side.upper(),
            "positionSide": "BOTH",
            "type": self._wire_type(order),
            "origQty": f"{order.qty:.{q}f}",
            # A market order's price is 0 (ccxt's order.price is then 0.0: read "average").
            "price": f"{order.price or 0.0:.{p}f}",
            "executedQty": f"{order.filled:.{q}f}",
            "avgPrice": _num(avg, p + 4) if avg else f"{0.0:.{p}f}",
            "cumQuote": _num(order.cost, 4),
            "stopPrice": f"{order.stop_price:.{p}f}" if order.stop_price else "",
            "profit": "0.0000",
            "commission": _num(-order.fee, 6) if order.fee else "0.000000",
            "status": self._status(order),
            "time": _ms(order.created_ns),
            "updateTime": _ms(order.updated_ns),
            "clientOrderId": self._wire_client_id(order),
            "leverage": f"{int(m.max_leverage)}X",
            "takeProfit": dict(empty),
            "stopLoss": dict(empty),
            "advanceAttr": 0,
            "positionID": 0,
            "takeProfitEntrustPrice": 0,
            "stopLossEntrustPrice": 0,
            "orderType": "",
            "workingType": "MARK_PRICE",
            "reduceOnly": order.reduce_only,
            "timeInForce": order.tif,
            "onlyOnePosition": True,
        }

    def _find(self, params: dict[str, str], m: FakeMarket) -> FakeOrder:
        """The order ``params`` name by ``orderId`` or client id (either spelling). BingX's Go
        binding reads an empty ``orderId`` as 0 (not given) and refuses one that is no number:
        ccxt sends ``orderId=None`` for ``fetch_order(None, ...)``, so look up by client id with
        ``fetch_order("", symbol, {"clientOrderId": ...})``."""
        raw_id = params.get("orderId", "")
        try:
            order_id = int(raw_id) if raw_id else 0
        except ValueError:
            raise Reject("BAD_REQUEST", f"orderId {raw_id!r}: invalid syntax") from None
        client_id = (params.get("clientOrderId") or params.get("clientOrderID") or "").lower()
        if order_id:
            order = self.exchange.get(order_id=order_id)
        elif client_id and client_id not in self._anonymous:
            order = self.exchange.get(client_id=client_id)
        else:
            raise Reject("BAD_REQUEST", "orderId and clientOrderId are both empty")
        if order.market.id != m.id:
            raise Reject("UNKNOWN_ORDER", "order does not exist")
        return order

    async def _create(self, request: web.Request) -> web.Response:
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        m: FakeMarket | None = None
        try:
            m = self._market(params)
            assert m is not None
            order = self._place(params, m)
        except Reject as e:
            return self._reject(e, m, params.get("symbol", ""))
        q, p = _decimals(m.lot), _decimals(m.tick)
        # BingX's answer to a new order: no fee ("commission"), even for a market order that
        # filled at once; status, executed quantity and average price are there.
        return self._ok(
            {
                "order": {
                    "symbol": m.id,
                    "orderId": order.order_id,
                    "side": order.side.upper(),
                    "positionSide": "BOTH",
                    "type": self._wire_type(order),
                    "clientOrderId": self._wire_client_id(order),
                    "workingType": "MARK_PRICE",
                    "price": order.price or 0,
                    "quantity": order.qty,
                    "stopPrice": order.stop_price or 0,
                    "timeInForce": order.tif,
                    "reduceOnly": order.reduce_only,
                    "status": "NEW" if order.status == "new" else self._status(order),
                    "executedQty": f"{order.filled:.{q}f}",
                    "avgPrice": _num(order.average, p + 4) if order.average else f"{0.0:.{p}f}",
                    "priceRate": 0,
                    "stopLoss": "",
                    "takeProfit": "",
                    "activationPrice": 0,
                    "closePosition": "",
                    "stopGuaranteed": "false",
                }
            }
        )

    def _place(self, params: dict[str, str], m: FakeMarket) -> FakeOrder:
        wire_type = params.get("type", "").upper()
        if wire_type not in _TYPES:
            raise Reject("BAD_REQUEST", f"order type {wire_type!r} is not served by the fake")
        kind, position_stop = _TYPES[wire_type]
        side = params.get("side", "").upper()
        if side not in ("BUY", "SELL"):
            raise Reject("BAD_REQUEST", f"side {side!r}")
        if params.get("positionSide", "BOTH").upper() != "BOTH":
            # The account is in one-way mode, where BingX wants BOTH.
            raise Reject("BAD_REQUEST", "positionSide must be BOTH in one-way mode")
        try:
            qty = float(params.get("quantity", ""))
            price = float(params["price"]) if params.get("price") else None
            stop = float(params["stopPrice"]) if params.get("stopPrice") else None
        except ValueError:
            raise Reject("BAD_REQUEST", "quantity, price or stopPrice is no number") from None
        if kind in ("limit", "stop_limit") and not price:
            raise Reject("BAD_REQUEST", "price is required")
        if kind in ("stop", "stop_limit") and not stop:
            raise Reject("BAD_REQUEST", "stopPrice is required")
        tif = (params.get("timeInForce") or "GTC").upper()
        if tif not in ("GTC", "IOC", "FOK", "POSTONLY"):
            raise Reject("BAD_REQUEST", f"timeInForce {tif!r}")
        client_id = (params.get("clientOrderID") or params.get("clientOrderId") or "").lower()
        if len(client_id) > 40:
            raise Reject("BAD_REQUEST", "clientOrderID is longer than 40 characters")
        if client_id and wire_type not in _CLIENT_ID_TYPES and not self.stop_client_ids:
            client_id = ""  # "clientOrderId only supports LIMIT/MARKET order type"
        if not client_id:
            client_id = f"~anonymous-{next(self._anon_ids)}"
            self._anonymous.add(client_id)
        reduce_only = params.get("reduceOnly", "false").lower() == "true" or position_stop
        ex = self.exchange
        with ex.lock:
            if tif == "POSTONLY" and kind == "limit" and price is not None:
                last = ex.prices.get(m.id)
                if last is not None and (price >= last if side == "BUY" else price <= last):
                    raise Reject("BAD_REQUEST", "PostOnly order would take liquidity")
            # Known before placing: the order's first stream events already name its type.
            fresh = client_id not in ex.by_client
            if fresh:
                self._wire_types[client_id] = wire_type
            try:
                order = ex.place(
                    m.id,
                    side.lower(),
                    kind,
                    qty,
                    client_id=client_id,
                    price=price,
                    stop_price=stop,
                    reduce_only=reduce_only,
                    tif=tif,
                )
            except Reject:
                if fresh:
                    del self._wire_types[client_id]
                raise
            if tif in ("IOC", "FOK") and order.is_open:
                ex.cancel(order_id=order.order_id)
        return order

    async def _lookup(self, request: web.Request) -> web.Response:
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        try:
            m = self._market(params)
            assert m is not None
            order = self._find(params, m)
        except Reject as e:
            return self._reject(e, symbol=params.get("symbol", ""))
        with self.exchange.lock:
            return self._ok({"order": self._order_json(order)})

    async def _cancel(self, request: web.Request) -> web.Response:
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        try:
            m = self._market(params)
            assert m is not None
            ex = self.exchange
            with ex.lock:
                order = self._find(params, m)
                if order.status == "filled":
                    return self._fail(*_FILLED)
                ex.cancel(order_id=order.order_id)
                return self._ok({"order": self._order_json(order)})
        except Reject as e:
            return self._reject(e, symbol=params.get("symbol", ""))

    async def _cancel_all(self, request: web.Request) -> web.Response:
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        try:
            m = self._market(params, required=False)
        except Reject as e:
            return self._reject(e, symbol=params.get("symbol", ""))
        ex = self.exchange
        with ex.lock:
            done = ex.cancel_all(m.id if m else None)
            return self._ok({"success": [self._order_json(o) for o in done], "failed": None})

    async def _open_orders(self, request: web.Request) -> web.Response:
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        try:
            m = self._market(params, required=False)
        except Reject as e:
            return self._reject(e, symbol=params.get("symbol", ""))
        ex = self.exchange
        with ex.lock:
            orders = [self._order_json(o) for o in ex.open_orders(m.id if m else None)]
        return self._ok({"orders": orders})

    async def _fills(self, request: web.Request) -> web.Response:
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        try:
            m = self._market(params)
            assert m is not None
            start = int(params.get("startTs") or 0)
            end = int(params.get("endTs") or 2**62)
            only = int(params["orderId"]) if params.get("orderId") else None
        except ValueError:
            return self._fail(109400, "Invalid parameters, startTs, endTs or orderId")
        except Reject as e:
            return self._reject(e, symbol=params.get("symbol", ""))
        ex = self.exchange
        rows = []
        with ex.lock:
            for t in ex.my_trades(m.id):
                # BingX's range is startTs < time <= endTs.
                if not start < _ms(t.ts) <= end or (only and t.order.order_id != only):
                    continue
                rows.append(self._fill_json(t))
        return self._ok({"fill_orders": rows})

    async def _fill_history(self, request: web.Request) -> web.Response:
        """``trade/fillHistory``: the fills with their ``tradeId`` (the exchange's trade id),
        after ``lastFillId``, at most ``pageSize`` (50 by default). As documented, startTs
        without endTs returns nothing, and without either the last 7 days are searched."""
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        now = self._now_ms()
        try:
            m = self._market(params)
            assert m is not None
            start_given, end_given = params.get("startTs"), params.get("endTs")
            end = int(end_given) if end_given else now
            start = int(start_given) if start_given and end_given else now - 7 * 86_400_000
            only = int(params["orderId"]) if params.get("orderId") else None
            after = int(params.get("lastFillId") or 0)
            size = int(params.get("pageSize") or 50)
        except ValueError:
            return self._fail(109400, "Invalid parameters")
        except Reject as e:
            return self._reject(e, symbol=params.get("symbol", ""))
        if not 0 < size <= 1000:
            return self._fail(109400, "Invalid parameters, pageSize")
        ex = self.exchange
        rows = []
        with ex.lock:
            if start_given and not end_given:
                trades: list[FakeTrade] = []
            else:
                trades = ex.my_trades(m.id)
            for t in trades:
                if not start < _ms(t.ts) <= end or t.trade_id <= after:
                    continue
                if only and t.order.order_id != only:
                    continue
                row = self._fill_json(t)
                row.update(
                    qty=row["volume"],
                    quoteQty=row.pop("amount"),
                    commissionAsset=row.pop("currency"),
                    tradeId=str(t.trade_id),
                    role="maker" if t.maker else "taker",
                    side=t.order.side,
                    positionSide="both",
                )
                for gone in ("liquidatedPrice", "liquidatedMarginRatio", "clientOrderID"):
                    row.pop(gone)
                rows.append(row)
                if len(rows) == size:
                    break
        return self._ok({"fill_orders": rows})

    def _fill_json(self, t: FakeTrade) -> dict[str, Any]:
        m = t.order.market
        when = datetime.fromtimestamp(t.ts // 1_000_000_000, tz=timezone.utc)
        # No fill id, and the time to the second only: ccxt's trade "id" is None and its
        # timestamp truncated, so fetch_my_trades(since=t) drops fills of t's own second.
        return {
            "filledTm": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "volume": f"{t.qty:.{_decimals(m.lot)}f}",
            "price": f"{t.price:.{_decimals(m.tick)}f}",
            "amount": _num(t.quote_qty, 4),
            "commission": _num(-t.fee, 8),
            "currency": m.quote,
            "orderId": str(t.order.order_id),
            "liquidatedPrice": "",
            "liquidatedMarginRatio": "",
            "filledTime": when.astimezone().strftime("%Y-%m-%dT%H:%M:%S.000%z"),
            "clientOrderID": self._wire_client_id(t.order),
            "symbol": m.id,
            "side": t.order.side.upper(),
            "positionSide": "BOTH",
        }

    async def _cancel_all_after(self, request: web.Request) -> web.Response:
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        kind = params.get("type", "").upper()
        try:
            seconds = int(params.get("timeOut") or 0)
        except ValueError:
            return self._fail(109400, "Invalid parameters, timeOut")
        if self._countdown is not None:
            self._countdown.cancel()
            self._countdown = None
        if kind == "CLOSE":
            return self._ok({"triggerTime": 0, "status": "CLOSED", "note": "timer closed"})
        if kind != "ACTIVATE" or not self.countdown_min_s <= seconds <= 120:
            return self._fail(109400, "Invalid parameters, timeOut must be 10 to 120 s")
        loop = asyncio.get_running_loop()
        self._countdown = loop.call_later(seconds, self.exchange.cancel_all)
        trigger = self._now_ms() // 1000 + seconds
        return self._ok(
            {
                "triggerTime": str(trigger),
                "status": "ACTIVATED",
                "note": "All your perpetual pending orders will be closed automatically",
            }
        )

    # -- listen key ----------------------------------------------------------------------------

    async def _listen_key_new(self, request: web.Request) -> web.Response:
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        key = secrets.token_hex(32)
        self.listen_keys.add(key)
        return web.json_response({"listenKey": key})  # no envelope, as BingX answers it

    async def _listen_key_keep(self, request: web.Request) -> web.Response:
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        if params.get("listenKey") not in self.listen_keys:
            return web.json_response(
                {"code": 100400, "msg": "listenKey does not exist"}, status=404
            )
        return web.json_response({})

    async def _listen_key_end(self, request: web.Request) -> web.Response:
        params = self._auth(request)
        if isinstance(params, web.Response):
            return params
        self.listen_keys.discard(params.get("listenKey", ""))
        return web.json_response({})

    # -- WebSocket -----------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """One ``/swap-market`` client: a market socket (``sub``/``unsub`` by ``dataType``), or a
        user socket when it comes with a ``listenKey`` (every account event, no subscription).
        The base ``serve_socket`` reads text and sends text; BingX sends GZIP binary, so the
        loop lives here."""
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        out = _GzipSocket(ws)
        key = request.query.get("listenKey")
        if key is not None and key not in self.listen_keys:
            await out.send_str(json.dumps({"code": 100413, "msg": "listenKey does not exist"}))
            await ws.close()
            return ws
        sock = Socket(out, user=key is not None)  # type: ignore[arg-type]
        self.socks.add(sock)
        pinger = asyncio.ensure_future(self._ping(out))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if msg.data == "Pong":
                    self.pongs += 1
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(data, dict) and not sock.user:
                    await self._subscribe(sock, out, data)
        finally:
            pinger.cancel()
            self.socks.discard(sock)
        return ws

    async def _ping(self, out: _GzipSocket) -> None:
        try:
            while not out.closed:
                await asyncio.sleep(self.ping_interval)
                await out.send_str("Ping")
        except Exception:
            pass  # the socket went away

    async def _subscribe(self, sock: Socket, out: _GzipSocket, data: dict[str, Any]) -> None:
        rid = data.get("id", "")
        topic = str(data.get("dataType", ""))
        req = str(data.get("reqType", "sub"))
        mid, _, channel = topic.partition("@")
        known = mid in self.exchange.markets and (
            channel in ("trade", "ticker")
            or (channel.startswith("kline_") and channel[len("kline_") :] in _INTERVALS_MS)
        )
        if not known:
            await out.send_str(
                json.dumps(
                    {
                        "id": rid,
                        "code": 80015,
                        "msg": f"dataType not supported: {topic}",
                        "dataType": "",
                        "data": None,
                    }
                )
            )
            return
        if req == "unsub":
            sock.topics.discard(topic)
        else:
            sock.topics.add(topic)
        await out.send_str(
            json.dumps({"id": rid, "code": 0, "msg": "", "dataType": "", "data": None})
        )

    # -- exchange events -> streams --------------------------------------------------------------

    def _on_event(self, kind: str, *args: Any) -> None:
        if kind == "price":
            self._on_price(*args)
        elif kind == "order":
            self._on_order(args[0])
        elif kind == "trade":
            self._on_trade(args[0])

    def _on_price(self, mid: str, price: float, ts: int) -> None:
        m = self.exchange.markets[mid]
        ms = _ms(ts)
        qty = m.min_qty
        s = self._stats.get(mid)
        if s is None:
            s = self._stats[mid] = {
                "open": price,
                "high": price,
                "low": price,
                "vol": 0.0,
                "last": price,
            }
        up = price >= s["last"]
        s.update(
            high=max(s["high"], price), low=min(s["low"], price), vol=s["vol"] + qty, last=price
        )
        p = _decimals(m.tick)
        self.publish(
            {
                "code": 0,
                "dataType": f"{mid}@trade",
                "data": [{"q": _num(qty), "p": f"{price:.{p}f}", "T": ms, "m": not up, "s": mid}],
            },
            topic=f"{mid}@trade",
        )
        self.publish(
            {
                "code": 0,
                "dataType": f"{mid}@ticker",
                "data": {
                    "e": "24hTicker",
                    "E": ms,
                    "s": mid,
                    "p": _num(price - s["open"], p),
                    "P": f"{(price / s['open'] - 1) * 100 if s['open'] else 0:.2f}",
                    "c": f"{price:.{p}f}",
                    "L": _num(qty),
                    "h": f"{s['high']:.{p}f}",
                    "l": f"{s['low']:.{p}f}",
                    "v": _num(s["vol"]),
                    "q": _num(s["vol"] * price, 2),
                    "o": f"{s['open']:.{p}f}",
                    "O": ms - 86_400_000,
                    "C": ms,
                    "A": f"{price:.{p}f}",
                    "a": _num(qty),
                    "B": f"{price:.{p}f}",
                    "b": _num(qty),
                },
            },
            topic=f"{mid}@ticker",
        )
        for interval, length in _INTERVALS_MS.items():
            topic = f"{mid}@kline_{interval}"
            if not any(topic in sock.topics for sock in list(self.socks)):
                continue
            start = ms - ms % length
            c = self._candles.get((mid, interval))
            if c is None or c[0] != start:
                c = self._candles[(mid, interval)] = [start, price, price, price, price, 0.0]
            c[2], c[3], c[4], c[5] = max(c[2], price), min(c[3], price), price, c[5] + qty
            self.publish(
                {
                    "code": 0,
                    "dataType": topic,
                    "s": mid,
                    # Swap candles are stamped with their opening time in "T".
                    "data": [
                        {
                            "c": f"{c[4]:.{p}f}",
                            "o": f"{c[1]:.{p}f}",
                            "h": f"{c[2]:.{p}f}",
                            "l": f"{c[3]:.{p}f}",
                            "v": _num(c[5]),
                            "T": int(c[0]),
                        }
                    ],
                },
                topic=topic,
            )

    def _order_event(
        self, order: FakeOrder, x: str, status: str, trade: FakeTrade | None = None
    ) -> dict[str, Any]:
        m = order.market
        q, p = _decimals(m.lot), _decimals(m.tick)
        avg = order.average
        body: dict[str, Any] = {
            "s": m.id,
            "c": self._wire_client_id(order),
            "i": order.order_id,
            "S": order.side.upper(),
            "o": self._wire_type(order),
            "q": f"{order.qty:.{q}f}",
            "p": f"{order.price or 0.0:.{p}f}",
            "sp": f"{order.stop_price or 0.0:.{p}f}",
            "ap": _num(avg, p + 4) if avg else f"{0.0:.{p}f}",
            "x": x,
            "X": status,
            "N": m.quote,
            "n": _num(-trade.fee, 8) if trade else "0",
            "T": _ms(trade.ts) if trade else 0,
            "wt": "MARK_PRICE",
            "ps": "BOTH",
            "rp": "0",
            "z": f"{order.filled:.{q}f}",
            "ro": order.reduce_only,
        }
        if trade is not None:
            # The last fill's own quantity and price (BingX sends no fill id).
            body["l"] = f"{trade.qty:.{q}f}"
            body["L"] = f"{trade.price:.{p}f}"
        now = time.time_ns() // 1_000_000
        # The envelope's "T" is the order's update time: ccxt.pro drops an update older than the
        # one it holds (a NEW delivered late after a FILL of a later millisecond).
        updated = _ms(trade.ts) if trade else _ms(order.updated_ns)
        return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": updated, "o": body}

    def _on_order(self, order: FakeOrder) -> None:
        # Fills are pushed by their trades; the order's own events are the other transitions.
        x = {
            "new": ("NEW", "NEW"),
            "cancelled": ("CANCELED", "CANCELED"),
            "expired": ("EXPIRED", "EXPIRED"),
        }.get(order.status)
        if x is not None:
            self.publish(self._order_event(order, *x), user=True)

    def _on_trade(self, trade: FakeTrade) -> None:
        order = trade.order  # the live order: its filled quantity includes this trade
        status = "FILLED" if order.remaining <= 1e-12 else "PARTIALLY_FILLED"
        self.publish(self._order_event(order, "TRADE", status, trade), user=True)
        ex = self.exchange
        m = order.market
        pos = ex.position(m.id)
        mark = ex.prices.get(m.id, pos.entry)
        change, self._cash = ex.cash - self._cash, ex.cash
        self.publish(
            {
                "e": "ACCOUNT_UPDATE",
                "E": time.time_ns() // 1_000_000,
                "T": _ms(trade.ts),
                "a": {
                    "m": "ORDER",
                    "B": [
                        {"a": m.quote, "wb": _num(ex.cash), "cw": _num(ex.cash), "bc": _num(change)}
                    ],
                    "P": [
                        {
                            "s": m.id,
                            "pa": f"{pos.qty:.{_decimals(m.lot)}f}",
                            "ep": _num(pos.entry),
                            "up": _num(pos.qty * (mark - pos.entry), 8),
                            "mt": "cross",
                            "iw": "0",
                            "ps": "BOTH",
                        }
                    ],
                },
            },
            user=True,
        )
