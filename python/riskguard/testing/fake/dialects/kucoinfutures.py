"""The KuCoin Futures dialect of the fake venue: the REST and WebSocket subset that ccxt.pro
``kucoinfutures`` 4.5 uses, over one fake :class:`~riskguard.testing.fake.exchange.Exchange`
whose markets are counted in contracts (``XBTUSDTM``: ``contract_size`` 0.001 BTC each).

REST answers KuCoin's envelope ``{"code": "200000", "data": ...}``; errors are
``{"code": "<kucoin code>", "msg": "..."}`` with the codes ccxt's exception table maps. Private
requests are checked like KuCoin does: ``KC-API-KEY``, ``KC-API-SIGN`` (base64 HMAC-SHA256 of
timestamp + method + endpoint + body), ``KC-API-TIMESTAMP`` (within 5 s), ``KC-API-PASSPHRASE``
(HMAC of the passphrase for ``KC-API-KEY-VERSION`` 2).

Streams: the client first asks ``POST /api/v1/bullet-public`` (or ``bullet-private``) for a
token and a server; the answer names ``<ws_url>/endpoint`` of this venue, where the socket says
``welcome``, acks subscriptions, answers ``ping`` and pushes ``/contractMarket/execution``,
``ticker``, ``tickerV2`` and ``limitCandle`` (market), ``/contractMarket/tradeOrders``,
``/contractMarket/advancedOrders`` and ``/contract/position`` (private, through
:meth:`Dialect.publish` with ``user=True``, so the fault script duplicates and reorders them).

What is faithful to KuCoin and matters to an adapter (each commented where it is done):
create answers only ``{orderId, clientOid}``; untriggered stop orders are listed and cancelled
apart from the other orders; cancelling an order that is already final answers ``100004``
(ccxt: ``BadRequest``, not ``OrderNotFound``); a duplicate ``clientOid`` answers ``400100``
(``BadRequest``); an unknown ``clientOid`` is answered ``data: null``; fills carry their fee on
``/api/v1/fills`` only, never on the order nor on the order stream.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from riskguard.testing.fake.exchange import Exchange, FakeMarket, FakeOrder, FakeTrade, Reject
from riskguard.testing.fake.faults import Rule
from riskguard.testing.fake.server import Dialect, Handler, Socket

__all__ = ["KucoinFutures"]

OK = "200000"

# Reject code of the exchange -> (HTTP status, KuCoin code, message). The messages are the ones
# KuCoin sends where ccxt's table maps the message before the code ("Order size increment
# invalid." is an InvalidOrder although 400100 alone is a BadRequest).
_REJECTS: dict[str, tuple[int, str, str]] = {
    # KuCoin answers a reused clientOid as a validation error: ccxt raises BadRequest, so an
    # adapter must treat it as "look the order up", not as a refusal.
    "DUPLICATE_CLIENT_ID": (400, "400100", "validation.createOrder.clientOidDuplicated"),
    "UNKNOWN_ORDER": (404, "100001", "error.getOrder.orderNotExist"),
    "INSUFFICIENT_FUNDS": (
        400,
        "300003",
        "Balance not enough, please first deposit at least 2 USDT before you start the battle",
    ),
    "MIN_NOTIONAL": (400, "400100", "Order size below the minimum requirement."),
    "LOT_SIZE": (400, "400100", "Order size increment invalid."),
    "TICK_SIZE": (400, "300000", "Price parameter invalid: not a multiple of the tick size"),
    "REDUCE_ONLY": (400, "300009", "No open positions to close."),
    "UNKNOWN_MARKET": (400, "400100", "Unsupported trading pair."),
    "BAD_REQUEST": (400, "400100", "Parameter error"),
}

# KuCoin's candle periods (ccxt's timeframe names) in seconds.
_PERIODS = {
    "1min": 60,
    "3min": 180,
    "5min": 300,
    "15min": 900,
    "30min": 1800,
    "1hour": 3600,
    "2hour": 7200,
    "4hour": 14400,
    "8hour": 28800,
    "12hour": 43200,
    "1day": 86400,
    "1week": 604800,
}

_CANDLE = "/contractMarket/limitCandle:"

_PRIVATE_TOPICS = (
    "/contractMarket/tradeOrders",
    "/contractMarket/advancedOrders",
    "/contract/position",
    "/contractAccount/wallet",
)


def _dec(x: float | None) -> str | None:
    """A number as KuCoin writes it in strings: fixed notation, no float noise."""
    if x is None:
        return None
    return format(Decimal(f"{float(x):.15g}").normalize(), "f")


def _qty(x: float) -> int | float:
    """A contract count: KuCoin futures sizes are integers."""
    return int(round(x)) if abs(x - round(x)) < 1e-9 else x


def _ms(ns: int) -> int:
    return ns // 1_000_000


@dataclass
class _Candle:
    start: int  # seconds
    open: float
    close: float
    high: float
    low: float
    volume: float = 0.0


class KucoinFutures(Dialect):
    """KuCoin Futures (``api-futures.kucoin.com``) as ccxt.pro ``kucoinfutures`` sees it.

    ``api_key``/``secret``/``password`` are the credentials it accepts. ``match_delay`` (seconds)
    matches new orders that long after answering, as KuCoin's asynchronous matching does (0:
    at once). ``skew_ms`` moves the server clock; ``ping_interval_ms`` is the ``pingInterval``
    the bullet answer gives the client. ``pings`` counts the pings the sockets answered.
    """

    name = "kucoinfutures"

    def __init__(
        self,
        exchange: Exchange,
        *,
        api_key: str = "key",
        secret: str = "secret",
        password: str = "pass",
        match_delay: float = 0.0,
    ) -> None:
        super().__init__(exchange)
        self.api_key = api_key
        self.secret = secret
        self.password = password
        self.match_delay = match_delay
        self.skew_ms = 0
        self.ping_interval_ms = 18_000
        self.pings = 0
        self._tokens: dict[str, bool] = {}  # token -> private
        self._token_ids = itertools.count(1)
        self._seq = itertools.count(1)
        self._public_ids = itertools.count(9_000_001)
        self._leverage: dict[str, float] = {}  # market id -> leverage of its last order
        self._order_leverage: dict[int, float] = {}
        self._close_orders: set[int] = set()
        self._stop_state: dict[int, str] = {}  # stop order id -> last advancedOrders event
        self._candle_topics: set[str] = set()
        self._candles: dict[str, _Candle] = {}
        self.attach(self._on_event)

    # -- routes --------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, str, Handler]]:
        s = self._signed
        return [
            ("GET", "/api/v1/timestamp", "time", self._time),
            # load_markets: the contracts, plus what ccxt's shared kucoin class asks on the way
            # (the spot currencies, and with a key: account mode, margin symbols, HF status).
            ("GET", "/api/v1/contracts/active", "markets", self._contracts),
            ("GET", "/api/v3/currencies", "markets", self._currencies),
            ("GET", "/api/ua/v1/account/mode", "markets", s(self._account_mode)),
            ("GET", "/api/v3/margin/symbols", "markets", s(self._margin_symbols)),
            ("GET", "/api/v1/isolated/symbols", "markets", s(self._isolated_symbols)),
            ("GET", "/api/v1/hf/accounts/opened", "markets", s(self._hf_opened)),
            ("GET", "/api/v1/ticker", "ticker", self._ticker),
            ("POST", "/api/v1/bullet-public", "listen_key", self._bullet_public),
            ("POST", "/api/v1/bullet-private", "listen_key", s(self._bullet_private)),
            ("GET", "/api/v1/account-overview", "balance", s(self._account_overview)),
            ("GET", "/api/v1/positions", "positions", s(self._positions)),
            ("GET", "/api/v1/position", "positions", s(self._position)),
            ("POST", "/api/v1/orders", "create", s(self._create)),
            ("GET", "/api/v1/orders", "open_orders", s(self._orders)),
            ("GET", "/api/v1/stopOrders", "open_orders", s(self._stop_orders)),
            # registered before /orders/{orderId}, which would take "byClientOid" as an id
            ("GET", "/api/v1/orders/byClientOid", "lookup", s(self._order_by_client)),
            ("GET", "/api/v1/orders/{orderId}", "lookup", s(self._order_by_id)),
            (
                "DELETE",
                "/api/v1/orders/client-order/{clientOid}",
                "cancel",
                s(self._cancel_by_client),
            ),
            ("DELETE", "/api/v1/orders/{orderId}", "cancel", s(self._cancel_by_id)),
            ("DELETE", "/api/v1/orders", "cancel_all", s(self._cancel_all)),
            ("DELETE", "/api/v1/stopOrders", "cancel_all", s(self._cancel_all_stops)),
            ("GET", "/api/v1/fills", "trades", s(self._fills)),
        ]

    def sockets(self) -> list[tuple[str, Handler]]:
        return [("/endpoint", self._socket)]

    def error(self, status: int, rule: Rule) -> web.Response:
        """KuCoin's error body for a scripted ``status``, with the code ccxt maps."""
        if status == 429:
            return _fail(429, "429000", "Too many requests. System-level rate limit exceeded.")
        if status == 401:
            return _fail(401, "400003", "KC-API-KEY not exists")
        if status == 403:
            return _fail(403, "400007", "Access denied, require more permission.")
        if status == 404:
            return _fail(404, "404000", "Url Not Found")
        if status in (502, 504):
            # A gateway status comes from the load balancer, not from KuCoin's API: no JSON,
            # so ccxt classes it by HTTP status (502 ExchangeNotAvailable, 504 RequestTimeout).
            return web.Response(
                status=status,
                content_type="text/html",
                text=f"<html><body><h1>{status} Gateway error</h1></body></html>",
            )
        if status >= 500:
            # Any other 5xx with KuCoin's JSON: its generic system error, ExchangeNotAvailable.
            # (An unknown code would become a plain ExchangeError in ccxt.)
            return _fail(status, "500000", "Internal Server Error")
        return _fail(status, "400100", f"scripted {status}")

    # -- authentication ------------------------------------------------------------------------

    def _signed(self, handler: Handler) -> Handler:
        async def check(request: web.Request) -> web.StreamResponse:
            refused = await self._authenticate(request)
            return refused if refused is not None else await handler(request)

        return check

    async def _authenticate(self, request: web.Request) -> web.Response | None:
        h = request.headers
        key, sign = h.get("KC-API-KEY"), h.get("KC-API-SIGN")
        stamp, phrase = h.get("KC-API-TIMESTAMP"), h.get("KC-API-PASSPHRASE")
        if not (key and sign and stamp and phrase):
            return _fail(
                401,
                "400001",
                "Please check the header of your request for KC-API-KEY, KC-API-SIGN, "
                "KC-API-TIMESTAMP, KC-API-PASSPHRASE",
            )
        if key != self.api_key:
            return _fail(401, "400003", "KC-API-KEY not exists")
        try:
            skew = abs(int(stamp) - self._server_ms())
        except ValueError:
            skew = 10**12
        if skew > 5000:
            return _fail(
                401,
                "400002",
                "KC-API-TIMESTAMP Invalid -- Time differs from server time by more than 5 seconds",
            )
        expected_phrase = (
            _b64hmac(self.secret, self.password)
            if h.get("KC-API-KEY-VERSION") == "2"
            else self.password
        )
        if not hmac.compare_digest(phrase, expected_phrase):
            return _fail(401, "400004", "Invalid KC-API-PASSPHRASE")
        # The signed endpoint is the client's own path and query (ccxt signs the query
        # unencoded), without the fake venue's /<dialect> prefix.
        prefix = f"/{self.name}"
        endpoint = unquote(request.raw_path)
        if endpoint.startswith(prefix):
            endpoint = endpoint[len(prefix) :]
        body = await request.text()
        payload = stamp + request.method + endpoint + body
        if not hmac.compare_digest(sign, _b64hmac(self.secret, payload)):
            return _fail(401, "400005", "Invalid KC-API-SIGN")
        return None

    def _server_ms(self) -> int:
        return int(time.time() * 1000) + self.skew_ms

    # -- public REST ---------------------------------------------------------------------------

    async def _time(self, request: web.Request) -> web.Response:
        return _ok(self._server_ms())

    async def _contracts(self, request: web.Request) -> web.Response:
        with self.exchange.lock:
            data = [self._contract(m) for m in self.exchange.markets.values() if m.kind == "swap"]
        return _ok(data)

    def _contract(self, m: FakeMarket) -> dict[str, Any]:
        price = self.exchange.prices.get(m.id, 0.0)
        return {
            "symbol": m.id,
            "rootSymbol": m.quote,
            "type": "FFWCSX",
            "firstOpenDate": 1_585_555_200_000,
            "expireDate": None,
            "settleDate": None,
            # KuCoin names bitcoin XBT on futures; ccxt's commonCurrencies maps it to BTC.
            "baseCurrency": _venue_asset(m.base),
            "quoteCurrency": m.quote,
            "settleCurrency": m.quote,
            "maxOrderQty": 1_000_000,
            "maxPrice": 1_000_000.0,
            "lotSize": _qty(m.lot),
            "tickSize": m.tick,
            "indexPriceTickSize": m.tick,
            "multiplier": m.contract_size,
            "initialMargin": 1.0 / m.max_leverage,
            "maintainMargin": 0.5 / m.max_leverage,
            "maxRiskLimit": 1_000_000,
            "minRiskLimit": 1_000_000,
            "riskStep": 500_000,
            "makerFeeRate": self.exchange.maker_fee,
            "takerFeeRate": self.exchange.taker_fee,
            "takerFixFee": 0.0,
            "makerFixFee": 0.0,
            "settlementFee": None,
            "isDeleverage": True,
            "isQuanto": False,
            "isInverse": False,
            "markMethod": "FairPrice",
            "fairMethod": "FundingRate",
            "status": "Open",
            "fundingFeeRate": 0.0001,
            "predictedFundingFeeRate": 0.0001,
            "openInterest": "0",
            "turnoverOf24h": 0.0,
            "volumeOf24h": 0.0,
            "markPrice": price,
            "indexPrice": price,
            "lastTradePrice": price,
            # ccxt tells a perpetual from a dated future by this field being present.
            "nextFundingRateTime": 28_800_000,
            "maxLeverage": int(m.max_leverage),
            "lowPrice": price,
            "highPrice": price,
            "priceChgPct": 0.0,
            "priceChg": 0.0,
        }

    async def _currencies(self, request: web.Request) -> web.Response:
        with self.exchange.lock:
            codes = sorted({a for m in self.exchange.markets.values() for a in (m.base, m.quote)})
        return _ok(
            [
                {
                    "currency": c,
                    "name": c,
                    "fullName": c,
                    "precision": 8,
                    "confirms": None,
                    "contractAddress": None,
                    "isMarginEnabled": False,
                    "isDebitEnabled": False,
                    "chains": [],
                }
                for c in codes
            ]
        )

    async def _ticker(self, request: web.Request) -> web.Response:
        mid = request.query.get("symbol", "")
        with self.exchange.lock:
            if mid not in self.exchange.markets:
                return _reject(Reject("UNKNOWN_MARKET", mid))
            price = self.exchange.prices.get(mid)
            now = self.exchange.now()
        if price is None:
            return _fail(400, "400100", f"no price for {mid}")
        return _ok(self._ticker_data(mid, price, now, with_trade=True))

    async def _bullet_public(self, request: web.Request) -> web.Response:
        return _ok(self._bullet(private=False))

    # -- private REST: loading -----------------------------------------------------------------

    async def _account_mode(self, request: web.Request) -> web.Response:
        # A classic (not unified) account: ccxt then uses the futures endpoints below.
        return _ok({"selfAccountMode": "CLASSIC"})

    async def _margin_symbols(self, request: web.Request) -> web.Response:
        return _ok({"timestamp": self._server_ms(), "items": []})

    async def _isolated_symbols(self, request: web.Request) -> web.Response:
        return _ok([])

    async def _hf_opened(self, request: web.Request) -> web.Response:
        return _ok(False)

    async def _bullet_private(self, request: web.Request) -> web.Response:
        return _ok(self._bullet(private=True))

    def _bullet(self, *, private: bool) -> dict[str, Any]:
        assert self.venue is not None
        token = f"{'private' if private else 'public'}-{next(self._token_ids)}"
        self._tokens[token] = private
        return {
            "token": token,
            "instanceServers": [
                {
                    # The client connects to whatever endpoint this names (no rewrite applies):
                    # it must be this venue's own WebSocket address.
                    "endpoint": self.venue.ws_url(self.name) + "/endpoint",
                    "encrypt": True,
                    "protocol": "websocket",
                    "pingInterval": self.ping_interval_ms,
                    "pingTimeout": 10_000,
                }
            ],
        }

    # -- private REST: account -----------------------------------------------------------------

    async def _account_overview(self, request: web.Request) -> web.Response:
        currency = request.query.get("currency", "XBT")
        with self.exchange.lock:
            settles = {m.quote for m in self.exchange.markets.values() if m.kind == "swap"}
            if currency not in settles:
                zero = 0.0
                return _ok(
                    {
                        "accountEquity": zero,
                        "unrealisedPNL": zero,
                        "marginBalance": zero,
                        "positionMargin": zero,
                        "orderMargin": zero,
                        "frozenFunds": zero,
                        "availableBalance": zero,
                        "currency": currency,
                        "riskRatio": zero,
                        "maxWithdrawAmount": zero,
                    }
                )
            equity = self.exchange.equity()
            upnl = pos_margin = 0.0
            for mid, p in self.exchange.positions.items():
                m = self.exchange.markets[mid]
                mark = self.exchange.prices.get(mid, p.entry)
                upnl += p.qty * m.contract_size * (mark - p.entry)
                pos_margin += abs(p.qty) * m.contract_size * p.entry / self._leverage.get(mid, 1.0)
            order_margin = sum(
                o.remaining
                * o.market.contract_size
                * (o.price or o.stop_price or self.exchange.prices.get(o.market.id, 0.0))
                / self._order_leverage.get(o.order_id, 1.0)
                for o in self.exchange.open_orders()
                if not o.reduce_only
            )
            available = max(0.0, equity - pos_margin - order_margin)
        return _ok(
            {
                "accountEquity": equity,
                "unrealisedPNL": upnl,
                "marginBalance": equity,
                "positionMargin": pos_margin,
                "orderMargin": order_margin,
                "frozenFunds": 0.0,
                "availableBalance": available,
                "currency": currency,
                "riskRatio": 0.0,
                "maxWithdrawAmount": available,
            }
        )

    async def _positions(self, request: web.Request) -> web.Response:
        with self.exchange.lock:
            data = [self._position_data(mid) for mid, p in self.exchange.positions.items() if p.qty]
        return _ok(data)

    async def _position(self, request: web.Request) -> web.Response:
        mid = request.query.get("symbol", "")
        with self.exchange.lock:
            if mid not in self.exchange.markets:
                return _reject(Reject("UNKNOWN_MARKET", mid))
            return _ok(self._position_data(mid))

    def _position_data(self, mid: str) -> dict[str, Any]:
        m = self.exchange.markets[mid]
        p = self.exchange.position(mid)
        cs = m.contract_size
        mark = self.exchange.prices.get(mid, p.entry)
        lev = self._leverage.get(mid, 1.0)
        cost = p.qty * cs * p.entry  # signed, as KuCoin's posCost
        upnl = p.qty * cs * (mark - p.entry)
        init = abs(cost) / lev
        now = _ms(self.exchange.now())
        return {
            "id": f"{mid}-position",
            "symbol": mid,
            "autoDeposit": False,
            "crossMode": False,
            "marginMode": "ISOLATED",
            "maintMarginReq": 0.005,
            "riskLimit": 1_000_000,
            "realLeverage": lev,
            "delevPercentage": 0.0,
            "openingTimestamp": now,
            "currentTimestamp": now,
            "currentQty": _qty(p.qty),
            "currentCost": cost,
            "currentComm": 0.0,
            "unrealisedCost": cost,
            "realisedGrossCost": 0.0,
            "realisedCost": 0.0,
            "isOpen": p.qty != 0,
            "markPrice": mark,
            "markValue": p.qty * cs * mark,
            "posCost": cost,
            "posCross": 0.0,
            "posInit": init,
            "posComm": 0.0,
            "posLoss": 0.0,
            "posMargin": init,
            "posMaint": abs(cost) * 0.005,
            "maintMargin": init + upnl,
            "realisedGrossPnl": p.realized,
            "realisedPnl": p.realized,
            "unrealisedPnl": upnl,
            "unrealisedPnlPcnt": upnl / abs(cost) if cost else 0.0,
            "unrealisedRoePcnt": upnl / init if init else 0.0,
            "avgEntryPrice": p.entry,
            "liquidationPrice": 0.0,
            "bankruptPrice": 0.0,
            "settleCurrency": m.quote,
            "isInverse": False,
        }

    # -- private REST: orders ------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError:
            return _fail(400, "400100", "Parameter error: body is not JSON")
        client_id = body.get("clientOid")
        if not client_id:
            # ccxt always sends one (a uuid when the caller gives none)
            return _fail(400, "400100", "validation.createOrder.clientOidIsRequired")
        mid = str(body.get("symbol", ""))
        side = body.get("side")
        kind = body.get("type", "limit")
        stop = body.get("stop")
        try:
            leverage = float(body.get("leverage", 1))
            price = float(body["price"]) if body.get("price") is not None else None
            stop_price = float(body["stopPrice"]) if body.get("stopPrice") is not None else None
        except (TypeError, ValueError):
            return _fail(400, "400100", "Parameter error: leverage, price or stopPrice")
        if body.get("valueQty") is not None:
            return _fail(400, "400100", "valueQty is not supported by the fake venue")
        if kind not in ("limit", "market"):
            return _fail(400, "400100", f"Parameter error: type {kind!r}")
        if kind == "limit" and price is None:
            return _fail(400, "400100", "Parameter error: price is required for limit orders")
        reduce_only = bool(body.get("reduceOnly", False))
        close = bool(body.get("closeOrder", False))
        try:
            m = self.exchange.market(mid)
        except Reject as e:
            return _reject(e)
        if not 1 <= leverage <= m.max_leverage:
            return _fail(400, "400100", f"Leverage {leverage:g} is out of range")
        if stop is not None or stop_price is not None:
            if stop_price is None or stop not in ("up", "down"):
                return _fail(400, "400100", "Parameter error: stop and stopPrice go together")
            # The exchange triggers a buy stop rising through its price and a sell stop falling
            # through it, which is what ccxt sends for triggerPrice and stopLossPrice; the other
            # two directions (take-profit stops) it cannot model.
            if (stop == "up") != (side == "buy"):
                return _fail(
                    400,
                    "400100",
                    "the fake venue supports stop up for buys and stop down for sells only",
                )
            order_type = "stop_limit" if kind == "limit" else "stop"
        else:
            order_type = kind
        with self.exchange.lock:
            if close:
                # closeOrder: KuCoin sizes and sides the order from the position itself.
                held = self.exchange.position(mid).qty
                if held == 0:
                    return _reject(Reject("REDUCE_ONLY", "no position"))
                side, size, reduce_only = ("sell" if held > 0 else "buy"), abs(held), True
            else:
                try:
                    size = float(body.get("size"))
                except (TypeError, ValueError):
                    return _fail(400, "400100", "Parameter error: size")
            defer = self.match_delay > 0
            try:
                order = self.exchange.place(
                    mid,
                    str(side),
                    order_type,
                    size,
                    client_id=str(client_id),
                    price=price,
                    stop_price=stop_price,
                    reduce_only=reduce_only,
                    tif=str(body.get("timeInForce", "GTC")),
                    match=not defer,
                )
            except Reject as e:
                return _reject(e)
            self._order_leverage[order.order_id] = leverage
            if not reduce_only:
                self._leverage[mid] = leverage
            if close:
                self._close_orders.add(order.order_id)
        if defer:
            loop = asyncio.get_running_loop()
            loop.call_later(self.match_delay, self.exchange.match, mid)
        # KuCoin answers a new order with its ids only: its state must be asked for.
        return _ok({"orderId": str(order.order_id), "clientOid": order.client_id})

    async def _orders(self, request: web.Request) -> web.Response:
        status = request.query.get("status", "active")
        mid = request.query.get("symbol")
        with self.exchange.lock:
            if status == "active":
                # Untriggered stop orders are not "active" orders on KuCoin: they are listed by
                # /api/v1/stopOrders only (ccxt: fetch_open_orders(params={'trigger': True})).
                items = [o for o in self.exchange.open_orders(mid) if not _waiting_stop(o)]
            elif status == "done":
                items = [
                    o
                    for o in self.exchange.orders.values()
                    if not o.is_open and (mid is None or o.market.id == mid)
                ]
            else:
                return _fail(400, "400100", f"Parameter error: status {status!r}")
            items = self._since(items, request)
            data = _page([self._order_data(o) for o in reversed(items)])
        return _ok(data)

    async def _stop_orders(self, request: web.Request) -> web.Response:
        mid = request.query.get("symbol")
        with self.exchange.lock:
            items = [o for o in self.exchange.open_orders(mid) if _waiting_stop(o)]
            data = _page([self._order_data(o) for o in reversed(self._since(items, request))])
        return _ok(data)

    def _since(self, orders: list[FakeOrder], request: web.Request) -> list[FakeOrder]:
        start = _int(request.query.get("startAt", "0")) or 0
        end = _int(request.query.get("endAt", "")) or 2**62
        return [o for o in orders if start <= _ms(o.created_ns) <= end]

    async def _order_by_client(self, request: web.Request) -> web.Response:
        client_id = request.query.get("clientOid", "")
        with self.exchange.lock:
            try:
                order = self.exchange.get(client_id=client_id)
            except Reject:
                # KuCoin futures answers an unknown clientOid with success and no data; ccxt
                # then returns an order whose id is None (no OrderNotFound).
                return _ok(None)
            return _ok(self._order_data(order))

    async def _order_by_id(self, request: web.Request) -> web.Response:
        order_id = _int(request.match_info["orderId"])
        with self.exchange.lock:
            try:
                order = self.exchange.get(order_id=order_id)
            except Reject as e:
                return _reject(e)
            return _ok(self._order_data(order))

    async def _cancel_by_id(self, request: web.Request) -> web.Response:
        order_id = _int(request.match_info["orderId"])
        refused = self._cancel(order_id=order_id)
        if refused is not None:
            return refused
        return _ok({"cancelledOrderIds": [str(order_id)]})

    async def _cancel_by_client(self, request: web.Request) -> web.Response:
        client_id = request.match_info["clientOid"]
        refused = self._cancel(client_id=client_id, symbol=request.query.get("symbol"))
        if refused is not None:
            return refused
        return _ok({"clientOid": client_id})

    def _cancel(
        self,
        *,
        order_id: int | None = None,
        client_id: str | None = None,
        symbol: str | None = None,
    ) -> web.Response | None:
        with self.exchange.lock:
            try:
                order = self.exchange.get(order_id=order_id, client_id=client_id)
            except Reject as e:
                return _reject(e)
            if symbol is not None and order.market.id != symbol:
                return _reject(Reject("UNKNOWN_ORDER", "order does not exist"))
            if not order.is_open:
                # KuCoin's answer for an order that already filled or was cancelled: ccxt maps
                # it to BadRequest, not OrderNotFound.
                return _fail(400, "100004", "Order is in not cancelable state")
            self.exchange.cancel(order_id=order.order_id)
        return None

    async def _cancel_all(self, request: web.Request) -> web.Response:
        # DELETE /api/v1/orders leaves untriggered stop orders alone, as KuCoin does: they are
        # cancelled by DELETE /api/v1/stopOrders (ccxt: cancel_all_orders(params={'trigger':
        # True})).
        return self._cancel_where(request.query.get("symbol"), stops=False)

    async def _cancel_all_stops(self, request: web.Request) -> web.Response:
        return self._cancel_where(request.query.get("symbol"), stops=True)

    def _cancel_where(self, mid: str | None, *, stops: bool) -> web.Response:
        with self.exchange.lock:
            if mid is not None and mid not in self.exchange.markets:
                return _reject(Reject("UNKNOWN_MARKET", mid))
            done = []
            for order in self.exchange.open_orders(mid):
                if _waiting_stop(order) == stops:
                    self.exchange.cancel(order_id=order.order_id)
                    done.append(str(order.order_id))
        return _ok({"cancelledOrderIds": done})

    async def _fills(self, request: web.Request) -> web.Response:
        q = request.query
        mid = q.get("symbol")
        start = (_int(q.get("startAt", "0")) or 0) * 1_000_000
        end = (_int(q.get("endAt", "")) or 2**42) * 1_000_000
        order_id = q.get("orderId")
        size = _int(q.get("pageSize", "50")) or 50
        with self.exchange.lock:
            trades = [
                t
                for t in self.exchange.my_trades(mid, start)
                if t.ts <= end and (order_id is None or str(t.order.order_id) == order_id)
            ]
            items = [self._fill_data(t) for t in reversed(trades)][:size]
        return _ok(_page(items, size))

    # -- renderings ----------------------------------------------------------------------------

    def _order_data(self, o: FakeOrder) -> dict[str, Any]:
        m = o.market
        stop = ""
        if o.stop_price is not None:
            stop = "up" if o.side == "buy" else "down"
        ref = o.average or o.price or o.stop_price or self.exchange.prices.get(m.id, 0.0)
        active = o.is_open
        data: dict[str, Any] = {
            "id": str(o.order_id),
            "symbol": m.id,
            "type": "limit" if o.type in ("limit", "stop_limit") else "market",
            "side": o.side,
            "price": _dec(o.price),
            "size": _qty(o.qty),
            "value": _dec(o.qty * m.contract_size * ref),
            "dealValue": _dec(o.cost),
            "dealSize": _qty(o.filled),
            "stp": "",
            "stop": stop,
            "stopPriceType": "TP" if stop else "",
            "stopTriggered": o.triggered,
            "stopPrice": _dec(o.stop_price),
            "timeInForce": o.tif,
            "postOnly": False,
            "hidden": False,
            "iceberg": False,
            "leverage": _dec(self._order_leverage.get(o.order_id, 1.0)),
            "forceHold": False,
            "closeOrder": o.order_id in self._close_orders,
            "visibleSize": None,
            "clientOid": o.client_id,
            "remark": None,
            "tags": "",
            "isActive": active,
            # cancelled or expired (a reduce-only remainder): ccxt reads this as "canceled"
            "cancelExist": o.status in ("cancelled", "expired"),
            "createdAt": _ms(o.created_ns),
            "updatedAt": _ms(o.updated_ns),
            "endAt": None if active else _ms(o.updated_ns),
            "orderTime": o.created_ns,
            "settleCurrency": m.quote,
            "marginMode": "ISOLATED",
            "status": "open" if active else "done",
            "filledSize": _qty(o.filled),
            "filledValue": _dec(o.cost),
            "reduceOnly": o.reduce_only,
            # no fee here: KuCoin gives a futures order's fees on its fills only
        }
        if o.filled:
            data["avgDealPrice"] = _dec(o.average)
        return data

    def _fill_data(self, t: FakeTrade) -> dict[str, Any]:
        o = t.order
        rate = t.fee / t.quote_qty if t.quote_qty else 0.0
        return {
            "symbol": o.market.id,
            "tradeId": str(t.trade_id),
            "orderId": str(o.order_id),
            "side": o.side,
            "liquidity": "maker" if t.maker else "taker",
            "forceTaker": False,
            "price": _dec(t.price),
            "size": _qty(t.qty),
            "value": _dec(t.quote_qty),
            "openFeePay": _dec(t.fee),
            "closeFeePay": "0",
            "stop": "",
            "feeRate": _dec(rate),
            "fixFee": "0",
            "feeCurrency": o.market.quote,
            "tradeTime": t.ts,
            "subTradeType": None,
            "marginMode": "ISOLATED",
            "settleCurrency": o.market.quote,
            "displayType": "limit" if o.type in ("limit", "stop_limit") else "market",
            "fee": _dec(t.fee),
            "orderType": "limit" if o.type in ("limit", "stop_limit") else "market",
            "tradeType": "trade",
            "createdAt": _ms(t.ts),
        }

    def _ticker_data(
        self,
        mid: str,
        price: float,
        ts: int,
        *,
        with_trade: bool,
    ) -> dict[str, Any]:
        # The fake exchange has no book: the best bid and ask are the last price.
        data: dict[str, Any] = {
            "symbol": mid,
            "sequence": next(self._seq),
            "bestBidSize": 1,
            "bestBidPrice": _dec(price),
            "bestAskPrice": _dec(price),
            "bestAskSize": 1,
            "ts": ts,
        }
        if with_trade:
            data.update(side="buy", price=_dec(price), size=1, tradeId=str(next(self._public_ids)))
        return data

    # -- streams -------------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        token = request.query.get("token", "")
        private = self._tokens.get(token)

        async def on_open(sock: Socket) -> None:
            if private is None:
                await sock.ws.send_json(
                    {"id": token, "type": "error", "code": 401, "data": "token is invalid"}
                )
                await sock.ws.close()
                return
            await sock.ws.send_json(
                {"id": request.query.get("connectId", token), "type": "welcome"}
            )

        return await self.serve_socket(
            request,
            self._on_message,
            user=bool(private),
            on_open=on_open,
        )

    async def _on_message(self, sock: Socket, data: Any) -> None:
        if not isinstance(data, dict):
            return
        kind, mid = data.get("type"), data.get("id")
        if kind == "ping":
            self.pings += 1
            await sock.ws.send_json({"id": mid, "type": "pong", "timestamp": self._server_ms()})
            return
        if kind not in ("subscribe", "unsubscribe"):
            await sock.ws.send_json(
                {"id": mid, "type": "error", "code": 415, "data": "type is not supported"}
            )
            return
        topics = _expand(str(data.get("topic", "")))
        if any(t.startswith(_PRIVATE_TOPICS) for t in topics) and not sock.user:
            await sock.ws.send_json(
                {
                    "id": mid,
                    "type": "error",
                    "code": 401,
                    "data": "topic requires a private channel",
                }
            )
            return
        if kind == "subscribe":
            sock.topics.update(topics)
            with self.exchange.lock:  # read by the price listener, from the test's thread
                self._candle_topics.update(t for t in topics if t.startswith(_CANDLE))
        else:
            sock.topics.difference_update(topics)
        if data.get("response"):
            await sock.ws.send_json({"id": mid, "type": "ack"})

    def _on_event(self, kind: str, *args: Any) -> None:
        """The exchange's listener (called under its lock, from any thread)."""
        if kind == "price":
            self._on_price(*args)
        elif kind == "trade":
            self._on_trade(args[0])
        elif kind == "order":
            self._on_order(args[0])

    def _on_price(self, mid: str, price: float, ts: int) -> None:
        trade_id = str(next(self._public_ids))
        self._market(
            f"/contractMarket/execution:{mid}",
            "match",
            {
                "symbol": mid,
                "sequence": next(self._seq),
                "side": "buy",
                "size": 1,
                "price": _dec(price),
                "takerOrderId": trade_id,
                "makerOrderId": trade_id,
                "tradeId": trade_id,
                "ts": ts,
            },
        )
        self._market(
            f"/contractMarket/ticker:{mid}",
            "ticker",
            self._ticker_data(mid, price, ts, with_trade=True),
        )
        self._market(
            f"/contractMarket/tickerV2:{mid}",
            "tickerV2",
            self._ticker_data(mid, price, ts, with_trade=False),
        )
        for topic in [t for t in self._candle_topics if t.startswith(f"{_CANDLE}{mid}_")]:
            seconds = _PERIODS.get(topic.rsplit("_", 1)[1])
            if seconds is None:
                continue
            now_s = ts // 1_000_000_000
            start = now_s - now_s % seconds
            candle = self._candles.get(topic)
            if candle is None or candle.start != start:
                candle = self._candles[topic] = _Candle(start, price, price, price, price)
            else:
                candle.close = price
                candle.high = max(candle.high, price)
                candle.low = min(candle.low, price)
            volume = _dec(candle.volume)
            self._market(
                topic,
                "candle.stick",
                {
                    "symbol": mid,
                    # [time s, open, close, high, low, volume, volume]: ccxt reads the volume
                    # at index 6 for futures (KuCoin's index 5 was once wrong), so both carry it.
                    "candles": [
                        str(candle.start),
                        _dec(candle.open),
                        _dec(candle.close),
                        _dec(candle.high),
                        _dec(candle.low),
                        volume,
                        volume,
                    ],
                    "time": _ms(ts),
                },
            )

    def _market(self, topic: str, subject: str, data: dict[str, Any]) -> None:
        self.publish(
            {"topic": topic, "type": "message", "subject": subject, "data": data}, topic=topic
        )

    def _on_trade(self, t: FakeTrade) -> None:
        o = t.order
        mid = o.market.id
        for topic, candle in self._candles.items():
            if topic.startswith(f"{_CANDLE}{mid}_"):
                candle.volume += t.qty
        self._stop_event(o)
        self._user_order(
            o,
            {
                "type": "match",
                # KuCoin: status "match" on a taker's fill, "open" on a resting maker's
                "status": "open" if t.maker and o.remaining > 1e-12 else "match",
                "liquidity": "maker" if t.maker else "taker",
                "feeType": "makerFee" if t.maker else "takerFee",
                "matchPrice": _dec(t.price),
                "matchSize": _dec(t.qty),
                "tradeId": str(t.trade_id),
                "ts": t.ts,
                # no fee: KuCoin's order stream gives none (the fills endpoint does)
            },
        )
        self._user(
            f"/contract/position:{mid}",
            "position.change",
            dict(self._position_data(mid), changeReason="positionChange"),
        )

    def _on_order(self, o: FakeOrder) -> None:
        if o.status == "new" and o.filled == 0:
            if _waiting_stop(o):
                self._stop_event(o)
                return
            self._user_order(o, {"type": "open", "status": "open", "ts": o.updated_ns})
        elif o.status == "filled":
            self._user_order(o, {"type": "filled", "status": "done", "ts": o.updated_ns})
        elif o.status in ("cancelled", "expired"):
            if o.stop_price is not None and not o.triggered:
                self._stop_event(o)
                return
            self._user_order(
                o,
                {
                    "type": "canceled",
                    "status": "done",
                    "ts": o.updated_ns,
                    "canceledSize": _dec(o.remaining),
                },
            )

    def _user_order(self, o: FakeOrder, fields: dict[str, Any]) -> None:
        m = o.market
        data = {
            "symbol": m.id,
            "orderType": "limit" if o.type in ("limit", "stop_limit") else "market",
            "side": o.side,
            "canceledSize": "0",
            "orderId": str(o.order_id),
            "positionSide": "BOTH",
            "marginMode": "ISOLATED",
            "orderTime": o.created_ns,
            "size": _dec(o.qty),
            "filledSize": _dec(o.filled),
            "price": _dec(o.price) if o.price is not None else "0",
            "remainSize": _dec(o.remaining),
            "clientOid": o.client_id,
            "tradeType": "trade",
        }
        data.update(fields)
        self._user("/contractMarket/tradeOrders", "orderChange", data)
        self._user(f"/contractMarket/tradeOrders:{m.id}", "symbolOrderChange", data)

    def _stop_event(self, o: FakeOrder) -> None:
        """An untriggered stop order's life on /contractMarket/advancedOrders: open, then
        triggered or cancel, each once."""
        if o.stop_price is None:
            return
        if o.triggered:
            event = "triggered"
        elif o.status in ("cancelled", "expired"):
            event = "cancel"
        else:
            event = "open"
        if self._stop_state.get(o.order_id) == event or (
            event == "open" and o.order_id in self._stop_state
        ):
            return
        self._stop_state[o.order_id] = event
        data: dict[str, Any] = {
            "orderId": str(o.order_id),
            "symbol": o.market.id,
            "type": event,
            "orderType": "stop",
            "side": o.side,
            "size": _dec(o.qty),
            "orderPrice": _dec(o.price),
            "stop": "up" if o.side == "buy" else "down",
            "stopPrice": _dec(o.stop_price),
            "stopPriceType": "TP",
            "createdAt": _ms(o.created_ns),
            "ts": self.exchange.now(),
        }
        if event == "triggered":
            data["triggerSuccess"] = True
        self._user("/contractMarket/advancedOrders", "stopOrder", data)

    def _user(self, topic: str, subject: str, data: dict[str, Any]) -> None:
        self.publish(
            {
                "type": "message",
                "topic": topic,
                "subject": subject,
                "channelType": "private",
                "data": data,
            },
            topic=topic,
            user=True,
        )


def _waiting_stop(o: FakeOrder) -> bool:
    return o.stop_price is not None and not o.triggered and o.is_open


def _expand(topic: str) -> list[str]:
    """``/contractMarket/execution:A,B`` -> one topic per symbol."""
    head, sep, tail = topic.partition(":")
    if not sep:
        return [topic]
    return [f"{head}:{part}" for part in tail.split(",") if part]


def _venue_asset(code: str) -> str:
    return "XBT" if code == "BTC" else code


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _page(items: list[dict[str, Any]], size: int = 50) -> dict[str, Any]:
    return {
        "currentPage": 1,
        "pageSize": size,
        "totalNum": len(items),
        "totalPage": 1,
        "items": items,
    }


def _b64hmac(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _ok(data: Any) -> web.Response:
    return web.json_response({"code": OK, "data": data})


def _fail(status: int, code: str, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


def _reject(e: Reject) -> web.Response:
    status, code, msg = _REJECTS.get(e.code, _REJECTS["BAD_REQUEST"])
    if e.code == "BAD_REQUEST":
        msg = f"Parameter error: {e.message}"
    return _fail(status, code, msg)
