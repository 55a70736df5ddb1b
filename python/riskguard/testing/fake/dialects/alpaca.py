"""Alpaca's dialect of the fake venue: the REST and WebSocket subset that alpaca-py 0.44's
``TradingClient``, ``TradingStream``, ``StockDataStream``/``CryptoDataStream`` and the
historical data clients' latest-trade calls use, in Alpaca's own shapes.

REST (at ``FakeVenue.base_url("alpaca")``, alpaca-py's ``url_override``; each route's fault
operation in brackets):

- ``GET /v2/account`` [balance], ``GET /v2/clock`` [time];
- ``GET /v2/assets``, ``GET /v2/assets/{symbol}`` [markets];
- ``POST /v2/orders`` [create], ``GET /v2/orders`` [open_orders], ``DELETE /v2/orders``
  [cancel_all], ``GET /v2/orders:by_client_order_id`` and ``GET /v2/orders/{id}`` [lookup],
  ``DELETE /v2/orders/{id}`` [cancel];
- ``GET /v2/positions``, ``GET /v2/positions/{symbol}`` [positions], ``DELETE
  /v2/positions/{symbol}`` [create: closing a position sends a market order];
- ``GET /v2/account/activities/FILL`` and ``GET /v2/account/activities?activity_types=FILL``
  [trades];
- ``GET /v2/stocks/trades/latest``, ``GET /v1beta3/crypto/us/latest/trades`` [ticker].

WebSockets (at ``FakeVenue.ws_url("alpaca")``): ``/stream``, the account's ``trade_updates``
(JSON text frames: ``authenticate``, then ``listen``); ``/v2/iex`` (and ``/v2/sip``,
``/v2/test``) for stocks and ``/v1beta3/crypto/us`` for crypto, market data in msgpack binary
frames (``connected``, ``auth``, then ``subscribe`` to trades, quotes, bars). Each trade of the
exchange's price path (``Exchange.set_price``) is streamed as a market trade;
:meth:`Alpaca.publish_bar` and :meth:`Alpaca.publish_quote` stream the others.

Alpaca's ways that the fake keeps (each is what alpaca-py parses or a client must cope with):

- errors are ``{"code": <int>, "message": "..."}``: 403 ``40310000`` for buying power,
  quantity available and the minimum order size; 422 ``40010001`` for a malformed order and
  for a reused client order id (``client_order_id must be unique``, whatever became of the
  first order, so the code alone does not tell a duplicate from a bad order); 422
  ``42210000`` for a sub-penny price, a fractional order that is not DAY, a crypto order that
  is not GTC or IOC, and a cancel of a final order; 404 ``40410000`` for an unknown order;
  401 ``40110000`` without credentials and 403 ``{"message": "forbidden."}`` with wrong ones;
  429 ``42910000`` past ``rate_limit`` requests a minute (``X-RateLimit-*`` headers on every
  answer);
- ids are UUIDs (the exchange's integer ids as ``UUID(int=...)``); an order without a client
  order id is given one;
- a crypto position's symbol is compressed (``BTCUSD``), while its orders, assets and fills
  say ``BTC/USD``; the ``/v2/assets`` and ``/v2/positions`` paths take either form;
- stock assets carry no ``min_order_size``/``min_trade_increment``/``price_increment`` (crypto
  assets do) when the market has Alpaca's own steps (lot ``1e-9``, fractionable: Alpaca takes
  9 decimals; or lot 1, whole shares; a penny tick); a fake stock market with other steps
  advertises them in those fields; a stock market whose lot is below 1 is fractionable;
  USD-quoted crypto buys below 10 USD are refused; a fractional share order must be DAY;
- ``DELETE /v2/orders/{id}`` answers 204 with no body; ``DELETE /v2/orders`` answers 207 with
  one ``{"id", "status", "body"}`` per order; the activities are newest first unless
  ``direction=asc``, 100 a page (``page_token`` is the last id seen); an activity id is
  ``<yyyymmddhhmmssmmm>::<execution id>``.

What it does not do: short sales (the exchange's spot accounts cannot sell what they do not
hold: a sell beyond the position is refused as ``insufficient qty available``, and every asset
says ``shortable: false``), trailing stops (422), notional orders (422), DAY expiry, market
hours (the clock says open), fees (Alpaca charges stocks none; configure the exchange's fees
to 0 for fidelity).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgpack  # type: ignore[import-untyped]
from aiohttp import WSMsgType, web

from riskguard.testing.fake.exchange import Exchange, FakeMarket, FakeOrder, FakeTrade, Reject
from riskguard.testing.fake.faults import Rule
from riskguard.testing.fake.server import Dialect, Handler, Socket

__all__ = ["Alpaca"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ACCOUNT_ID = uuid.UUID("a1fa0ca0-0000-4000-8000-000000000001")

_STATUS = {
    "new": "new",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "cancelled": "canceled",  # Alpaca spells it with one "l"
    "expired": "expired",
    "rejected": "rejected",
}
_EVENTS = {"new": "new", "cancelled": "canceled", "expired": "expired", "rejected": "rejected"}
_STOCK_TIF = {"day", "gtc", "opg", "cls", "ioc", "fok"}
_CRYPTO_TIF = {"gtc", "ioc"}
_ERRORS = {
    400: (40010000, "request body format is invalid"),
    401: (40110000, "request is not authorized"),
    404: (40410000, "not found"),
    422: (40010001, "invalid request"),
    429: (42910000, "rate limit exceeded"),
    500: (50010000, "internal server error"),
    502: (50210000, "bad gateway"),
    503: (50310000, "service unavailable"),
    504: (50410000, "gateway timeout"),
}
_CRYPTO_MIN_BUY_USD = 10.0


def _iso(ns: int) -> str:
    """RFC 3339 in UTC, to the microsecond (what pydantic keeps of Alpaca's nanoseconds)."""
    return (_EPOCH + timedelta(microseconds=ns // 1_000)).isoformat().replace("+00:00", "Z")


def _num(x: float) -> str:
    """A quantity or price as Alpaca writes it: a decimal string, at most 9 decimals."""
    return format(Decimal(repr(round(float(x), 9))).normalize(), "f")


def _asset_id(symbol: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"alpaca-fake:{symbol}"))


def _crypto(m: FakeMarket) -> bool:
    return "/" in m.id


def _error(status: int, code: int | None, message: str, **extra: Any) -> web.Response:
    body: dict[str, Any] = (
        {"message": message} if code is None else {"code": code, "message": message}
    )
    body.update(extra)
    return web.json_response(body, status=status)


class Alpaca(Dialect):
    """Alpaca over ``exchange`` (spot markets named as Alpaca names them: ``AAPL``,
    ``BTC/USD``), answering only to ``api_key``/``secret`` (the ``APCA-API-KEY-ID`` and
    ``APCA-API-SECRET-KEY`` headers, and the streams' auth messages), at most ``rate_limit``
    requests a minute (None: no limit)."""

    name = "alpaca"

    def __init__(
        self,
        exchange: Exchange,
        *,
        api_key: str = "key",
        secret: str = "secret",
        rate_limit: int | None = 200,
    ) -> None:
        super().__init__(exchange)
        self.api_key = api_key
        self.secret = secret
        self.rate_limit = rate_limit
        self._window = (0.0, 0)  # (minute start, requests in it)
        self._window_lock = threading.Lock()
        self._authed: set[int] = set()  # id() of the trade-update sockets that authenticated
        self._trade_seq = 0
        self.attach(self._on_exchange)

    # -- routes --------------------------------------------------------------------------------

    def routes(self) -> list[tuple[str, str, str, Handler]]:
        table: list[tuple[str, str, str, Handler]] = [
            ("GET", "/v2/account", "balance", self._account),
            ("GET", "/v2/clock", "time", self._clock),
            ("GET", "/v2/assets", "markets", self._assets),
            ("GET", "/v2/assets/{symbol:.+}", "markets", self._asset),
            ("POST", "/v2/orders", "create", self._create),
            ("GET", "/v2/orders", "open_orders", self._orders),
            ("DELETE", "/v2/orders", "cancel_all", self._cancel_all),
            ("GET", "/v2/orders:by_client_order_id", "lookup", self._by_client_id),
            ("GET", "/v2/orders/{order_id}", "lookup", self._order),
            ("DELETE", "/v2/orders/{order_id}", "cancel", self._cancel),
            ("GET", "/v2/positions", "positions", self._positions),
            ("GET", "/v2/positions/{symbol:.+}", "positions", self._position),
            ("DELETE", "/v2/positions/{symbol:.+}", "create", self._close_position),
            ("GET", "/v2/account/activities/FILL", "trades", self._fills),
            ("GET", "/v2/account/activities", "trades", self._fills),
            ("GET", "/v2/stocks/trades/latest", "ticker", self._latest_trades),
            ("GET", "/v1beta3/crypto/us/latest/trades", "ticker", self._latest_trades),
        ]
        return [(method, path, op, self._guarded(h)) for method, path, op, h in table]

    def sockets(self) -> list[tuple[str, Handler]]:
        return [
            ("/stream", self._trade_updates),
            ("/v2/{feed}", self._market_data),
            ("/v1beta3/crypto/us", self._market_data),
        ]

    def error(self, status: int, rule: Rule) -> web.Response:
        """A scripted error in Alpaca's shape (403 is the credentials' ``forbidden.``)."""
        if status == 403:
            return _error(403, None, "forbidden.")
        code, message = _ERRORS.get(status, (status * 100_000, f"scripted {status}"))
        return _error(status, code, message)

    # -- credentials and the rate limit ----------------------------------------------------------

    def _guarded(self, handler: Handler) -> Handler:
        async def serve(request: web.Request) -> web.StreamResponse:
            key = request.headers.get("APCA-API-KEY-ID")
            secret = request.headers.get("APCA-API-SECRET-KEY")
            if not key or not secret:
                return _error(401, 40110000, "request is not authorized")
            if key != self.api_key or secret != self.secret:
                return _error(403, None, "forbidden.")
            headers, refused = self._count()
            if refused:
                response: web.StreamResponse = _error(429, 42910000, "rate limit exceeded")
            else:
                response = await handler(request)
            response.headers.update(headers)
            return response

        return serve

    def _count(self) -> tuple[dict[str, str], bool]:
        if self.rate_limit is None:
            return {}, False
        now = time.time()
        with self._window_lock:
            start, n = self._window
            if now - start >= 60.0:
                start, n = now, 0
            n += 1
            self._window = (start, n)
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - n)),
            "X-RateLimit-Reset": str(int(start + 60.0)),
        }
        return headers, n > self.rate_limit

    # -- rendering -----------------------------------------------------------------------------

    def _market(self, symbol: str) -> FakeMarket | None:
        markets = self.exchange.markets
        if symbol in markets:
            return markets[symbol]
        for m in markets.values():
            if m.id.replace("/", "") == symbol:
                return m
        return None

    def _asset_json(self, m: FakeMarket) -> dict[str, Any]:
        crypto = _crypto(m)
        asset: dict[str, Any] = {
            "id": _asset_id(m.id),
            "class": "crypto" if crypto else "us_equity",
            "exchange": "CRYPTO" if crypto else "NASDAQ",
            "symbol": m.id,
            "name": f"{m.base} / {m.quote}" if crypto else f"{m.id} (fake)",
            "status": "active",
            "tradable": True,
            "marginable": not crypto,
            "maintenance_margin_requirement": 100 if crypto else 30,
            "shortable": False,  # the exchange's spot accounts cannot go short
            "easy_to_borrow": False,
            "fractionable": crypto or m.lot < 1.0,
            "attributes": [],
        }
        # Alpaca gives the steps of crypto assets only; a stock takes whole shares, or 9
        # decimals when fractionable, at a penny. A fake stock market with other steps says
        # so, in crypto's fields, so that a client can still follow it.
        usual = m.lot in (1.0, 1e-9) and m.min_qty == m.lot and m.tick == 0.01
        if crypto or not usual:
            asset["min_order_size"] = _num(m.min_qty)
            asset["min_trade_increment"] = _num(m.lot)
            asset["price_increment"] = _num(m.tick)
        return asset

    def fill_id(self, trade: FakeTrade) -> str:
        """The fill id riskguard's Alpaca venue gives ``trade``: its order's Alpaca id and the
        order's cumulative filled quantity after it (see ``riskguard.venues.alpaca.convert``;
        Alpaca has no numeric trade id)."""
        done = 0.0
        for t in self.exchange.my_trades(trade.order.market.id):
            if t.order.order_id == trade.order.order_id:
                done += t.qty
            if t.trade_id == trade.trade_id:
                break
        return f"{uuid.UUID(int=trade.order.order_id)}:{_num(done)}"

    def _order_json(self, o: FakeOrder, status: str | None = None) -> dict[str, Any]:
        status = status or _STATUS[o.status]
        crypto = _crypto(o.market)
        updated = _iso(o.updated_ns)
        return {
            "id": str(uuid.UUID(int=o.order_id)),
            "client_order_id": o.client_id,
            "created_at": _iso(o.created_ns),
            "updated_at": updated,
            "submitted_at": _iso(o.created_ns),
            "filled_at": updated if status == "filled" else None,
            "expired_at": updated if status == "expired" else None,
            "canceled_at": updated if status == "canceled" else None,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": _asset_id(o.market.id),
            "symbol": o.market.id,
            "asset_class": "crypto" if crypto else "us_equity",
            "notional": None,
            "qty": _num(o.qty),
            "filled_qty": _num(o.filled),
            "filled_avg_price": _num(o.average) if o.average is not None else None,
            "order_class": "",
            "order_type": o.type,
            "type": o.type,
            "side": o.side,
            "position_intent": "buy_to_open" if o.side == "buy" else "sell_to_close",
            "time_in_force": o.tif.lower(),
            "limit_price": _num(o.price) if o.price is not None else None,
            "stop_price": _num(o.stop_price) if o.stop_price is not None else None,
            "status": status,
            "extended_hours": False,
            "legs": None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "commission": _num(o.fee),
            "source": None,
        }

    def _position_json(self, m: FakeMarket, qty: float) -> dict[str, Any]:
        ex = self.exchange
        price = ex.prices.get(m.id, 0.0)
        entry = self._entry_price(m, qty) or price
        held = sum(o.remaining for o in ex.open_orders(m.id) if o.side == "sell")
        crypto = _crypto(m)
        value, cost = qty * price, qty * entry
        pl = value - cost
        plpc = _num(pl / cost) if cost else "0"
        return {
            "asset_id": _asset_id(m.id),
            # Alpaca compresses crypto position symbols (BTCUSD), unlike orders and assets
            "symbol": m.id.replace("/", "") if crypto else m.id,
            "exchange": "CRYPTO" if crypto else "NASDAQ",
            "asset_class": "crypto" if crypto else "us_equity",
            "asset_marginable": not crypto,
            "avg_entry_price": _num(entry),
            "qty": _num(qty),
            "side": "long" if qty > 0 else "short",
            "market_value": _num(value),
            "cost_basis": _num(cost),
            "unrealized_pl": _num(pl),
            "unrealized_plpc": plpc,
            "unrealized_intraday_pl": _num(pl),
            "unrealized_intraday_plpc": plpc,
            "current_price": _num(price),
            "lastday_price": _num(price),
            "change_today": "0",
            "qty_available": _num(max(0.0, qty - held)),
        }

    def _entry_price(self, m: FakeMarket, held: float) -> float | None:
        """The average cost of what is held, from the trades (None when deposits, not trades,
        made the position)."""
        qty = cost = 0.0
        for t in self.exchange.my_trades(m.id):
            if t.order.side == "buy":
                qty += t.qty
                cost += t.qty * t.price
            elif qty > 0:
                cost -= cost * min(1.0, t.qty / qty)
                qty -= t.qty
            if qty <= 1e-12:
                qty = cost = 0.0
        if abs(qty - held) > 1e-9 or qty <= 0:
            return None
        return cost / qty

    def _positions_held(self) -> list[tuple[FakeMarket, float]]:
        ex = self.exchange
        with ex.lock:
            return [
                (m, ex.assets.get(m.base, 0.0))
                for m in ex.markets.values()
                if abs(ex.assets.get(m.base, 0.0)) > 1e-12
            ]

    def _activities(self) -> list[dict[str, Any]]:
        """Every fill as a FILL activity, oldest first, with the order's cumulative quantity
        after it."""
        out = []
        cum: dict[int, float] = {}
        for t in self.exchange.my_trades():
            o = t.order
            done = cum.get(o.order_id, 0.0) + t.qty
            cum[o.order_id] = done
            left = max(0.0, o.qty - done)
            ts = _EPOCH + timedelta(microseconds=t.ts // 1_000)
            stamp = ts.strftime("%Y%m%d%H%M%S") + f"{ts.microsecond // 1000:03d}"
            out.append(
                {
                    "id": f"{stamp}::{uuid.UUID(int=t.trade_id)}",
                    "account_id": str(ACCOUNT_ID),
                    "activity_type": "FILL",
                    "transaction_time": _iso(t.ts),
                    "type": "fill" if left <= 1e-12 else "partial_fill",
                    "price": _num(t.price),
                    "qty": _num(t.qty),
                    "side": o.side,
                    "symbol": o.market.id,
                    "leaves_qty": _num(left),
                    "order_id": str(uuid.UUID(int=o.order_id)),
                    "cum_qty": _num(done),
                    "order_status": "filled" if left <= 1e-12 else "partially_filled",
                }
            )
        return out

    # -- refusals ------------------------------------------------------------------------------

    def _refused(self, r: Reject, m: FakeMarket, side: str, qty: float, ref: float) -> web.Response:
        ex = self.exchange
        if r.code == "DUPLICATE_CLIENT_ID":
            return _error(422, 40010001, "client_order_id must be unique")
        if r.code == "INSUFFICIENT_FUNDS":
            if side == "sell":
                held = ex.assets.get(m.base, 0.0)
                return _error(
                    403,
                    40310000,
                    f"insufficient qty available for order (requested: {_num(qty)}, "
                    f"available: {_num(held)})",
                    available=_num(held),
                    existing_qty=_num(held),
                    held_for_orders="0",
                    symbol=m.id,
                )
            if _crypto(m):
                return _error(
                    403,
                    40310000,
                    f"insufficient balance for {m.quote} (requested: {_num(qty * ref)}, "
                    f"available: {_num(ex.cash)})",
                    balance=_num(ex.cash),
                    symbol=m.quote,
                )
            return _error(403, 40310000, "insufficient buying power")
        if r.code == "MIN_NOTIONAL":
            return _error(
                403,
                40310000,
                f"cost basis must be >= minimal amount of order {_num(m.min_notional)}",
            )
        if r.code == "LOT_SIZE":
            if m.lot >= 1.0 and not _crypto(m):
                return _error(422, 40010001, "fractional orders are not supported for this asset")
            return _error(
                422, 40010001, f"qty must be a multiple of {_num(m.lot)} and >= {_num(m.min_qty)}"
            )
        if r.code == "TICK_SIZE":
            return _error(
                422,
                42210000,
                f"invalid price: {r.message}. sub-penny increment "
                "does not fulfill minimum pricing criteria",
            )
        if r.code == "UNKNOWN_MARKET":
            return _error(422, 40010001, f'asset "{m.id}" not found')
        return _error(422, 40010001, r.message)

    # -- REST handlers -------------------------------------------------------------------------

    async def _account(self, request: web.Request) -> web.Response:
        ex = self.exchange
        with ex.lock:
            cash = ex.cash
            equity = ex.equity()
        long_value = equity - cash
        return web.json_response(
            {
                "id": str(ACCOUNT_ID),
                "account_number": "PA0FAKE00001",
                "status": "ACTIVE",
                "crypto_status": "ACTIVE",
                "currency": "USD",
                "cash": _num(cash),
                "buying_power": _num(cash),
                "regt_buying_power": _num(cash),
                "daytrading_buying_power": "0",
                "non_marginable_buying_power": _num(cash),
                "options_buying_power": _num(cash),
                "portfolio_value": _num(equity),
                "equity": _num(equity),
                "last_equity": _num(equity),
                "long_market_value": _num(long_value),
                "short_market_value": "0",
                "initial_margin": "0",
                "maintenance_margin": "0",
                "last_maintenance_margin": "0",
                "sma": "0",
                "daytrade_count": 0,
                "multiplier": "1",
                "shorting_enabled": False,  # the exchange's spot accounts cannot go short
                "pattern_day_trader": False,
                "trading_blocked": False,
                "transfers_blocked": False,
                "account_blocked": False,
                "trade_suspended_by_user": False,
                "created_at": _iso(0),
                "accrued_fees": "0",
                "pending_transfer_in": "0",
                "pending_transfer_out": "0",
            }
        )

    async def _clock(self, request: web.Request) -> web.Response:
        now = self.exchange.now()
        return web.json_response(
            {
                "timestamp": _iso(now),
                "is_open": True,  # the fake market never closes
                "next_open": _iso(now + 86_400 * 10**9),
                "next_close": _iso(now + 6 * 3_600 * 10**9),
            }
        )

    async def _assets(self, request: web.Request) -> web.Response:
        wanted = request.query.get("asset_class")
        assets = [self._asset_json(m) for m in self.exchange.markets.values()]
        if wanted:
            assets = [a for a in assets if a["class"] == wanted]
        return web.json_response(assets)

    async def _asset(self, request: web.Request) -> web.Response:
        m = self._market(request.match_info["symbol"])
        if m is None:
            return _error(404, 40410000, "asset not found")
        return web.json_response(self._asset_json(m))

    async def _create(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, 40010000, "request body format is invalid")
        if not isinstance(body, dict):
            return _error(400, 40010000, "request body format is invalid")
        m = self._market(str(body.get("symbol", "")))
        if m is None:
            return _error(422, 40010001, f'asset "{body.get("symbol")}" not found')
        if body.get("notional") is not None:
            return _error(422, 40010001, "notional orders are not supported by the fake venue")
        try:
            qty = float(body.get("qty"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return _error(422, 40010001, "qty is required")
        if not (math.isfinite(qty) and qty > 0):
            return _error(422, 40010001, "qty must be > 0")
        side = body.get("side")
        kind = body.get("type")
        tif = str(body.get("time_in_force", "")).lower()
        if side not in ("buy", "sell"):
            return _error(422, 40010001, "invalid side")
        if kind not in ("market", "limit", "stop", "stop_limit", "trailing_stop"):
            return _error(422, 40010001, "invalid order type")
        crypto = _crypto(m)
        if crypto and kind in ("stop", "trailing_stop"):
            return _error(422, 40010001, "invalid order type for crypto order")
        if kind == "trailing_stop":
            return _error(422, 40010001, "trailing_stop orders are not supported by the fake venue")
        if tif not in (_CRYPTO_TIF if crypto else _STOCK_TIF):
            return _error(
                422, 42210000, "invalid crypto time_in_force" if crypto else "invalid time_in_force"
            )
        fractional = abs(qty - round(qty)) > 1e-9
        if not crypto and fractional and m.lot < 1.0 and tif != "day":
            return _error(422, 42210000, "fractional orders must be DAY orders")
        limit = body.get("limit_price")
        stop = body.get("stop_price")
        limit = float(limit) if limit is not None else None
        stop = float(stop) if stop is not None else None
        if kind in ("limit", "stop_limit") and limit is None:
            return _error(422, 40010001, "limit_price is required")
        if kind in ("stop", "stop_limit") and stop is None:
            return _error(422, 40010001, "stop_price is required")
        cid = body.get("client_order_id") or str(uuid.uuid4())
        if len(str(cid)) > 128:
            return _error(422, 40010001, "client_order_id must be no more than 128 characters")
        ref = limit or stop or self.exchange.prices.get(m.id) or 0.0
        if crypto and side == "buy" and m.quote == "USD" and qty * ref < _CRYPTO_MIN_BUY_USD:
            # Alpaca's floor on USD-quoted crypto buys (sells are not floored)
            return _error(403, 40310000, "cost basis must be >= minimal amount of order 10")
        try:
            order = self.exchange.place(
                m.id,
                side,
                kind,
                qty,
                client_id=str(cid),
                price=limit,
                stop_price=stop,
                tif=tif.upper(),
            )
            if tif == "ioc" and order.is_open:  # IOC: what did not fill at once is cancelled
                self.exchange.cancel(order_id=order.order_id)
        except Reject as r:
            return self._refused(r, m, side, qty, ref)
        return web.json_response(self._order_json(order))

    async def _orders(self, request: web.Request) -> web.Response:
        q = request.query
        status = q.get("status", "open")
        try:
            limit = min(500, int(q.get("limit", "50")))  # Alpaca: 50 unless asked, 500 at most
        except ValueError:
            return _error(422, 40010001, "invalid limit")
        symbols = {s for s in q.get("symbols", "").split(",") if s}
        with self.exchange.lock:
            orders = list(self.exchange.orders.values())
        if status == "open":
            orders = [o for o in orders if o.is_open]
        elif status == "closed":
            orders = [o for o in orders if not o.is_open]
        if symbols:
            orders = [o for o in orders if o.market.id in symbols]
        orders.sort(key=lambda o: o.order_id, reverse=q.get("direction", "desc") == "desc")
        return web.json_response([self._order_json(o) for o in orders[:limit]])

    async def _cancel_all(self, request: web.Request) -> web.Response:
        done = self.exchange.cancel_all()
        answer = [
            {"id": str(uuid.UUID(int=o.order_id)), "status": 200, "body": self._order_json(o)}
            for o in done
        ]
        return web.json_response(answer, status=207)

    def _find(self, order_id: str) -> FakeOrder | None:
        try:
            number = uuid.UUID(order_id).int
        except ValueError:
            return None
        try:
            return self.exchange.get(order_id=number)
        except Reject:
            return None

    async def _by_client_id(self, request: web.Request) -> web.Response:
        cid = request.query.get("client_order_id", "")
        try:
            order = self.exchange.get(client_id=cid)
        except Reject:
            return _error(404, 40410000, "order not found")
        return web.json_response(self._order_json(order))

    async def _order(self, request: web.Request) -> web.Response:
        order = self._find(request.match_info["order_id"])
        if order is None:
            return _error(404, 40410000, "order not found")
        return web.json_response(self._order_json(order))

    async def _cancel(self, request: web.Request) -> web.Response:
        order = self._find(request.match_info["order_id"])
        if order is None:
            return _error(404, 40410000, "order not found")
        try:
            self.exchange.cancel(order_id=order.order_id)
        except Reject:
            state = _STATUS[order.status]
            return _error(422, 42210000, f'order is already in "{state}" state')
        return web.Response(status=204)

    async def _positions(self, request: web.Request) -> web.Response:
        return web.json_response([self._position_json(m, q) for m, q in self._positions_held()])

    async def _position(self, request: web.Request) -> web.Response:
        m = self._market(request.match_info["symbol"])
        held = dict((mk.id, q) for mk, q in self._positions_held())
        if m is None or m.id not in held:
            return _error(404, 40410000, "position does not exist")
        return web.json_response(self._position_json(m, held[m.id]))

    async def _close_position(self, request: web.Request) -> web.Response:
        m = self._market(request.match_info["symbol"])
        held = dict((mk.id, q) for mk, q in self._positions_held())
        if m is None or m.id not in held:
            return _error(404, 40410000, "position does not exist")
        qty = held[m.id]
        if "qty" in request.query:
            qty = min(qty, float(request.query["qty"]))
        elif "percentage" in request.query:
            qty = qty * float(request.query["percentage"]) / 100.0
        qty = math.floor(qty / m.lot + 1e-9) * m.lot
        try:
            order = self.exchange.place(
                m.id,
                "sell",
                "market",
                qty,
                client_id=str(uuid.uuid4()),
                tif="GTC" if _crypto(m) else "DAY",
            )
        except Reject as r:
            return self._refused(r, m, "sell", qty, self.exchange.prices.get(m.id, 0.0))
        return web.json_response(self._order_json(order))

    async def _fills(self, request: web.Request) -> web.Response:
        q = request.query
        if request.path.endswith("/activities") and "FILL" not in q.get("activity_types", "FILL"):
            return web.json_response([])
        fills = self._activities()
        after, until = q.get("after"), q.get("until")
        if after:
            fills = [f for f in fills if _parse(f["transaction_time"]) > _parse(after)]
        if until:
            fills = [f for f in fills if _parse(f["transaction_time"]) < _parse(until)]
        if q.get("direction", "desc") == "desc":
            fills.reverse()
        token = q.get("page_token")
        if token:
            ids = [f["id"] for f in fills]
            fills = fills[ids.index(token) + 1 :] if token in ids else []
        try:
            size = max(1, min(100, int(q.get("page_size", "100"))))
        except ValueError:
            return _error(422, 40010001, "invalid page_size")
        return web.json_response(fills[:size])

    async def _latest_trades(self, request: web.Request) -> web.Response:
        now = _iso(self.exchange.now())
        trades = {}
        for symbol in request.query.get("symbols", "").split(","):
            m = self._market(symbol)
            price = self.exchange.prices.get(m.id) if m is not None else None
            if m is not None and price is not None:
                trades[symbol] = {
                    "t": now,
                    "x": "V",
                    "p": price,
                    "s": 1,
                    "c": ["@"],
                    "i": 1,
                    "z": "C",
                }
        return web.json_response({"trades": trades})

    # -- the trade_updates stream (JSON) ------------------------------------------------------

    async def _trade_updates(self, request: web.Request) -> web.StreamResponse:
        return await self.serve_socket(request, self._on_trade_message, user=True)

    async def _on_trade_message(self, sock: Socket, data: Any) -> None:
        if not isinstance(data, dict):
            return
        action = data.get("action")
        payload = data.get("data") or {}
        if action in ("authenticate", "auth"):
            ok = payload.get("key_id") == self.api_key and payload.get("secret_key") == self.secret
            status = "authorized" if ok else "unauthorized"
            await sock.ws.send_str(
                json.dumps(
                    {
                        "stream": "authorization",
                        "data": {"status": status, "action": "authenticate"},
                    }
                )
            )
            if ok:
                self._authed.add(id(sock))
            else:
                await sock.ws.close()
        elif action == "listen":
            if id(sock) not in self._authed:
                await sock.ws.send_str(
                    json.dumps(
                        {
                            "stream": "authorization",
                            "data": {"status": "unauthorized", "action": "listen"},
                        }
                    )
                )
                await sock.ws.close()
                return
            streams = [s for s in payload.get("streams", []) if s == "trade_updates"]
            sock.topics = set(streams)
            await sock.ws.send_str(
                json.dumps({"stream": "listening", "data": {"streams": streams}})
            )

    def _on_exchange(self, kind: str, *args: Any) -> None:
        if kind == "order":
            order: FakeOrder = args[0]
            event = _EVENTS.get(order.status)
            if event is not None:
                self._update(event, order, _STATUS[order.status], order.updated_ns)
        elif kind == "trade":
            self._on_trade(args[0])
        elif kind == "price":
            market_id, price, ts = args
            self._on_price(market_id, price, ts)

    def _on_trade(self, t: FakeTrade) -> None:
        o = t.order  # live: its filled quantity already counts this trade, its status not yet
        done = o.remaining <= 1e-12
        status = "filled" if done else "partially_filled"
        self._update(
            "fill" if done else "partial_fill",
            o,
            status,
            t.ts,
            execution_id=str(uuid.UUID(int=t.trade_id)),
            price=_num(t.price),
            qty=_num(t.qty),
            position_qty=_num(self.exchange.assets.get(o.market.base, 0.0)),
        )

    def _update(self, event: str, o: FakeOrder, status: str, ts: int, **extra: Any) -> None:
        data: dict[str, Any] = {
            "event": event,
            "timestamp": _iso(ts),
            "order": self._order_json(o, status),
        }
        data.update(extra)
        self.publish({"stream": "trade_updates", "data": data}, topic="trade_updates", user=True)

    # -- market data streams (msgpack) --------------------------------------------------------

    async def _market_data(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        sock = Socket(ws, user=False)
        self.socks.add(sock)
        authed = False
        try:
            await ws.send_bytes(msgpack.packb([{"T": "success", "msg": "connected"}]))
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    data = msgpack.unpackb(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    data = json.loads(msg.data)
                else:
                    continue
                action = data.get("action") if isinstance(data, dict) else None
                if action == "auth":
                    authed = data.get("key") == self.api_key and data.get("secret") == self.secret
                    reply = (
                        {"T": "success", "msg": "authenticated"}
                        if authed
                        else {"T": "error", "code": 402, "msg": "auth failed"}
                    )
                    await ws.send_bytes(msgpack.packb([reply]))
                    if not authed:
                        await ws.close()
                elif action in ("subscribe", "unsubscribe"):
                    if not authed:
                        await ws.send_bytes(
                            msgpack.packb([{"T": "error", "code": 401, "msg": "not authenticated"}])
                        )
                        continue
                    for channel in ("trades", "quotes", "bars"):
                        topics = {f"{channel}:{s}" for s in data.get(channel, []) or []}
                        if action == "subscribe":
                            sock.topics |= topics
                        else:
                            sock.topics -= topics
                    ack: dict[str, Any] = {"T": "subscription"}
                    for channel in ("trades", "quotes", "bars"):
                        ack[channel] = sorted(
                            t.split(":", 1)[1] for t in sock.topics if t.startswith(channel + ":")
                        )
                    await ws.send_bytes(msgpack.packb([ack]))
        finally:
            self.socks.discard(sock)
        return ws

    def _broadcast(self, message: dict[str, Any], topic: str) -> None:
        venue = self.venue
        if venue is None or venue.loop is None or venue.faults.silent:
            return
        frame = msgpack.packb([message])
        for sock in list(self.socks):
            if not sock.user and topic in sock.topics:
                venue.loop.call_soon_threadsafe(_send_bytes, sock.ws, frame)

    def _on_price(self, market_id: str, price: float, ts: int) -> None:
        self._trade_seq += 1
        message: dict[str, Any] = {
            "T": "t",
            "S": market_id,
            "i": self._trade_seq,
            "p": price,
            "s": 1,
            "t": msgpack.Timestamp.from_unix_nano(ts),
        }
        if "/" in market_id:
            message["tks"] = "B"
        else:
            message.update({"x": "V", "c": ["@"], "z": "C"})
        self._broadcast(message, f"trades:{market_id}")

    def publish_bar(
        self,
        symbol: str,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        ts: int | None = None,
    ) -> None:
        """Streams a one-minute bar of ``symbol`` that opened at ``ts`` (ns; the exchange's
        time when None), as Alpaca stamps bars: by their start."""
        start = self.exchange.now() if ts is None else ts
        self._broadcast(
            {
                "T": "b",
                "S": symbol,
                "o": open,
                "h": high,
                "l": low,
                "c": close,
                "v": volume,
                "t": msgpack.Timestamp.from_unix_nano(start),
                "n": 1,
                "vw": close,
            },
            f"bars:{symbol}",
        )

    def publish_quote(self, symbol: str, bid: float, ask: float, ts: int | None = None) -> None:
        """Streams a best bid and ask of ``symbol`` at ``ts`` (ns; the exchange's time when
        None)."""
        stamp = msgpack.Timestamp.from_unix_nano(self.exchange.now() if ts is None else ts)
        message: dict[str, Any] = {
            "T": "q",
            "S": symbol,
            "bp": bid,
            "bs": 1,
            "ap": ask,
            "as": 1,
            "t": stamp,
        }
        if "/" not in symbol:
            message.update({"bx": "V", "ax": "V", "c": ["R"], "z": "C"})
        self._broadcast(message, f"quotes:{symbol}")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _send_bytes(ws: web.WebSocketResponse, frame: bytes) -> None:
    if not ws.closed:
        asyncio.ensure_future(_send_quietly(ws, frame))


async def _send_quietly(ws: web.WebSocketResponse, frame: bytes) -> None:
    try:
        await ws.send_bytes(frame)
    except Exception:
        pass  # the client went away: nothing to deliver to
