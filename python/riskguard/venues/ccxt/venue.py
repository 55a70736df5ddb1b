"""One :class:`riskguard.ports.Venue` over any ccxt.pro client: orders idempotent by client
order id, instruments rounded toward less risk, errors mapped by class, a weighted rate budget,
user and market streams that reconnect and reconcile, and the venue's fills by fill id.

Each venue is a thin subclass (:mod:`riskguard.venues.ccxt.binance` and its siblings) that names
its ccxt class, its documented rate limits and its quirks, each with its reason. Conventions are
the ports': quantities signed in base units (a venue that counts contracts is converted here),
prices in quote currency, ``ts`` ns since the epoch, UTC.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, ClassVar

import ccxt
import ccxt.pro

from riskguard.errors import (
    AmbiguousOutcome,
    AuthFailed,
    OrderRejected,
    RateLimited,
    UnknownOrder,
    VenueError,
    VenueUnavailable,
)
from riskguard.model.instruments import Instrument
from riskguard.model.market import Bar, Tick
from riskguard.model.orders import (
    Capabilities,
    Fill,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Position,
    TimeInForce,
)
from riskguard.model.venue import VenueSettings
from riskguard.redact import redact
from riskguard.venues.ccxt.errors import DuplicateOrder, venue_error
from riskguard.venues.ccxt.urls import rewrite
from riskguard.venues.live import FeedHealth, FillLog, OrderStates, Reconnecting, TickQueue
from riskguard.venues.ratelimit import Bucket, RateLimiter

__all__ = ["AlertHook", "CcxtVenue"]

log = logging.getLogger("riskguard.venues.ccxt")

AlertHook = Callable[[str, str, str, str], None]
"""``(kind, severity, title, detail)``: how a venue raises an alert (a ban, a stale feed)."""

_STATUS = {
    "open": OrderStatus.NEW,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "cancelled": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
    "rejected": OrderStatus.REJECTED,
}
_TYPES = {
    OrderType.MARKET: "market",
    OrderType.LIMIT: "limit",
    OrderType.STOP: "market",
    OrderType.STOP_LIMIT: "limit",
}
_NS = 1_000_000
_PAGE = 500  # fills per REST page
_MAX_PAGES = 200  # pages per symbol and resync: 100,000 fills
_MAX_ASKED = 200  # orders asked for their client order id per symbol and resync


def _ms_to_ns(ms: Any) -> int:
    return int(ms) * _NS if ms is not None else time.time_ns()


class CcxtVenue:
    """A live venue through ccxt.pro. Subclasses set:

    - ``name``: the ``[broker] type``; ``exchange_id``: the ccxt.pro class;
    - ``buckets``: the documented rate limits per endpoint class (``"rest"``, ``"order"``);
      ``usage_headers``: response header -> bucket it reports (Binance's used weight);
    - ``codes``: the venue's own error codes -> riskguard error (read before ccxt's class);
    - ``weights``: the weight of each call by method name (1 when absent).

    and override the hooks for their quirks (:meth:`options`, :meth:`order_params`,
    :meth:`lookup_params`, :meth:`order_answer`, :meth:`fill_fee`).

    ``alerts`` hears what an operator must know (a 418 ban, a stale feed, a reconnect).
    ``client`` replaces the ccxt client (tests); the venue closes whichever it uses.

    Every public call waits for :meth:`start` (markets loaded, streams running) first.
    Raises riskguard errors only (:mod:`riskguard.errors`): a refusal of a well-formed order is
    an order with status ``rejected`` and a reason code, never an exception.
    """

    name: ClassVar[str] = ""
    exchange_id: ClassVar[str] = ""
    buckets: ClassVar[Mapping[str, tuple[Bucket, ...]]] = {}
    usage_headers: ClassVar[Mapping[str, str]] = {}
    codes: ClassVar[Mapping[str, type[VenueError] | Callable[[str], type[VenueError]]]] = {}
    weights: ClassVar[Mapping[str, float]] = {}
    market_type: ClassVar[str] = "swap"
    fills_lookback_s: ClassVar[float] = 86_400.0
    lookup_id: ClassVar[str | None] = None  # the order id fetch_order gets with a client id
    stop_orders: ClassVar[bool] = True  # native stops that are looked up like other orders
    # Fills from the user stream; False where the stream's fills lack their fee or id (they
    # are then read by REST as soon as an order update shows them).
    stream_fills: ClassVar[bool] = True
    reconcile_orders_s: ClassVar[float] = 5.0

    def __init__(
        self,
        settings: VenueSettings,
        *,
        alerts: AlertHook | None = None,
        client: Any = None,
    ) -> None:
        self.settings = settings
        self._alerts = alerts
        self._secrets = tuple(
            s for s in (settings.api_key, settings.secret, settings.password) if s
        )
        self.limiter = RateLimiter(self.name, self.buckets, on_ban=self._banned)
        self.client = client if client is not None else self._client()
        self.instruments: dict[str, Instrument] = {}
        self._markets: dict[str, dict[str, Any]] = {}
        self._capabilities = Capabilities(frozenset(), False, True)
        self._fill_log = FillLog()
        self.states = OrderStates()
        self._sent: set[str] = set()
        self._ids: dict[str, tuple[str, str]] = {}  # client order id -> (venue id, symbol)
        self._last: dict[str, float] = {}
        self._ticks = TickQueue()
        self.health = FeedHealth(settings.stale_feed_s, self._feed_changed)
        self._streams: list[Reconnecting] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._started: asyncio.Future[None] | None = None
        self._since_ms = 0
        self._since: dict[str, int] = {}  # per symbol: where the next fill read starts (ms)
        self._gap = asyncio.Event()
        self.stats = {"calls": 0, "reconnects": 0, "resyncs": 0}
        self.on_resync: Callable[[], None] | None = None  # ports.Resyncing

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.name} testnet={self.settings.testnet} "
            f"symbols={list(self.settings.symbols)}>"
        )

    # -- subclass hooks ------------------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        """ccxt ``options`` for this venue (the market type it loads, ...)."""
        return {"defaultType": self.market_type}

    def order_params(self, order: Order, cid: str, reduce_only: bool) -> dict[str, Any]:
        """The venue's own parameters of an order: its client order id field, reduce-only,
        the stop price."""
        params: dict[str, Any] = {"clientOrderId": cid}
        if reduce_only and self.market_type != "spot":
            params["reduceOnly"] = True
        if order.stop_price is not None:
            params["triggerPrice"] = order.stop_price
        return params

    def lookup_params(self, cid: str) -> dict[str, Any]:
        """The parameters of ``fetch_order``/``cancel_order`` that name an order by its client
        order id."""
        return {"clientOrderId": cid}

    async def order_answer(self, raw: dict[str, Any], cid: str, symbol: str) -> dict[str, Any]:
        """The order as the venue holds it after ``create_order`` answered ``raw``."""
        return raw

    def fill_fee(self, trade: dict[str, Any]) -> float:
        """A trade's fee in quote currency (0 when the venue did not say)."""
        fee = trade.get("fee") or {}
        cost = fee.get("cost")
        if cost is None:
            return 0.0
        currency = fee.get("currency")
        market = self._markets.get(trade.get("symbol") or "", {})
        if currency and market and currency == market.get("base"):
            return abs(float(cost)) * float(trade.get("price") or 0.0)
        return abs(float(cost))

    async def fetch_fills(self, symbol: str, since_ms: int, limit: int) -> list[dict[str, Any]]:
        """At most ``limit`` of the account's trades of ``symbol`` from ``since_ms`` on, oldest
        first, as ccxt trades with ids."""
        trades = await self._call("rest", self.client.fetch_my_trades, symbol, since_ms, limit)
        return list(trades)

    async def dead_man(self, seconds: float) -> bool:
        """Arms the venue's dead-man's switch: every order cancelled unless re-armed within
        ``seconds`` (0 disarms). False for a venue without one."""
        return False

    # -- life ----------------------------------------------------------------------------------

    def _client(self) -> Any:
        s = self.settings
        cls = getattr(ccxt.pro, self.exchange_id)
        config: dict[str, Any] = {
            "apiKey": s.api_key,
            "secret": s.secret,
            "timeout": int(s.call_timeout_s * 1000),
            # riskguard keeps its own budget (self.limiter), fed by the venue's headers.
            "enableRateLimit": False,
            # Off: ccxt's retry re-sends an order POST after a 504, and Binance refuses a
            # reused client order id only while the first is open, so a filled market order
            # would execute twice. Reads are retried by riskguard's gateway instead.
            "options": {"maxRetriesOnFailure": 0, **self.options()},
            # ccxt.pro keeps at most tradesLimit trades between two watch_trades answers and
            # drops the oldest: a burst larger than that (1,000 by default) loses ticks.
            "tradesLimit": 100_000,
        }
        if s.password:
            config["password"] = s.password
        client = cls(config)
        if s.testnet:
            if client.urls.get("test"):
                client.set_sandbox_mode(True)
            elif s.base_url is None:
                # No sandbox (KuCoin futures): refuse rather than trade real money unasked.
                raise AuthFailed(
                    f"{self.name} has no sandbox: set broker.testnet = false to trade real "
                    "money, or broker.base_url to a gateway",
                    venue=self.name,
                )
        if s.base_url is not None or s.ws_url is not None:
            client.urls["api"] = rewrite(client.urls["api"], s.base_url, s.ws_url)
        return client

    async def start(self) -> None:
        """Loads the markets of ``settings.symbols`` (once), then starts the user and market
        streams and the timers. Concurrent callers wait for the first.

        Raises AuthFailed, VenueUnavailable: the venue cannot be reached or refused the keys;
        VenueError naming a configured symbol the venue does not list."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            try:
                await self._open()
            except BaseException as e:
                self._started.set_exception(e)
                self._started.exception()  # retrieved: raised to this caller below
                started, self._started = self._started, None
                del started
                raise
            self._started.set_result(None)
        await asyncio.shield(self._started)

    async def _ready(self) -> None:
        if self._started is None or not self._started.done():
            await self.start()

    async def _open(self) -> None:
        # Under clock skew, adjustForTimeDifference does not help load_markets when a key is
        # set: ask the venue's time first.
        with contextlib.suppress(Exception):
            if self.client.has.get("fetchTime"):
                await self._call("rest", self.client.load_time_difference)
        markets = await self._call("rest", self.client.load_markets)
        missing = [s for s in self.settings.symbols if s not in markets]
        if missing:
            raise VenueError(
                f"{self.name} does not list {', '.join(missing)} (broker.symbols)",
                venue=self.name,
            )
        for symbol in self.settings.symbols:
            self._markets[symbol] = markets[symbol]
            self.instruments[symbol] = self._instrument(markets[symbol])
        self._capabilities = self._capabilities_of()
        self._since_ms = int((time.time() - self.fills_lookback_s) * 1000)
        await self._resync()
        self._streams = [
            Reconnecting(
                f"{self.name}:orders",
                self._watch_orders,
                resync=self._resynced,
                on_error=self._stream_error("orders"),
            ),
        ]
        if self.stream_fills:
            self._streams.append(
                Reconnecting(
                    f"{self.name}:fills",
                    self._watch_fills,
                    resync=self._resynced,
                    on_error=self._stream_error("fills"),
                )
            )
        for symbol in self.settings.symbols:
            self._streams.append(
                Reconnecting(
                    f"{self.name}:trades:{symbol}",
                    lambda s=symbol: self._watch_trades(s),
                    on_error=self._stream_error(f"trades {symbol}"),
                )
            )
            if self.settings.bar_timeframe and self.client.has.get("watchOHLCV"):
                self._streams.append(
                    Reconnecting(
                        f"{self.name}:bars:{symbol}",
                        lambda s=symbol: self._watch_bars(s),
                        on_error=self._stream_error(f"bars {symbol}"),
                    )
                )
        for stream in self._streams:
            stream.start()
        self._tasks.append(asyncio.create_task(self._timers(), name=f"{self.name}:timers"))
        self._tasks.append(asyncio.create_task(self._fill_gaps(), name=f"{self.name}:gaps"))

    async def aclose(self) -> None:
        """Stops the streams and timers, disarms the dead-man's switch (so that the orders
        left working, protective stops among them, stay) and closes the client's
        connections."""
        if self.settings.dead_man_s and self._started is not None and self._started.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.dead_man(0.0), self.settings.call_timeout_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for stream in self._streams:
            await stream.stop()
        self._streams.clear()
        self._ticks.close()
        with contextlib.suppress(Exception):
            await self.client.close()

    # -- the Venue port ------------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def instrument(self, symbol: str) -> Instrument:
        """The instrument of ``symbol``. Raises VenueError: not a configured symbol."""
        try:
            return self.instruments[symbol]
        except KeyError:
            raise VenueError(
                f"{symbol!r} is not one of broker.symbols {list(self.settings.symbols)}",
                venue=self.name,
            ) from None

    async def submit(self, order: Order) -> Order:
        """Sends ``order`` under its client order id (one is made when it has none), rounded
        to the venue's steps toward less risk. Idempotent: an id already sent is looked up
        first, and an id the venue reports as a duplicate is answered with the order it holds.

        A refusal comes back as an order with status ``rejected`` and a reason code
        (``BELOW_MIN_QTY``, ``BELOW_MIN_NOTIONAL``, ``UNSUPPORTED_ORDER_TYPE``, ``UNKNOWN_SYMBOL``,
        ``VENUE_REJECTED``). Raises AmbiguousOutcome: no certain answer (a timeout, a dropped
        connection, a 5xx): the order may be working. RateLimited, AuthFailed,
        VenueUnavailable: it was not taken.
        """
        await self._ready()
        cid = order.client_order_id or f"rg{uuid.uuid4().hex[:24]}"
        if cid in self._sent:
            known = await self._lookup(cid, order.symbol)
            if known is not None:
                return known
        if order.symbol not in self.instruments:
            return self._refused(order, cid, f"UNKNOWN_SYMBOL: {order.symbol} is not traded here")
        if order.type not in self._capabilities.order_types:
            return self._refused(
                order,
                cid,
                f"UNSUPPORTED_ORDER_TYPE: {self.name} takes no {order.type.value} orders",
            )
        inst = self.instruments[order.symbol]
        reduce_only = order.reduce_only
        qty = inst.round_qty(order.qty)
        limit = stop = None
        if order.limit_price is not None:
            limit = inst.round_price(order.limit_price, side=order.side)
        if order.stop_price is not None:
            stop = inst.round_price(order.stop_price, side=order.side, stop=True)
        reference = limit or stop or self._last.get(order.symbol) or await self._price(order.symbol)
        problem = inst.refusal(qty, reference)
        # A futures close below the minimums is taken (reduce-only); spot has no reduce-only
        # and Binance applies its NOTIONAL filter to every order.
        exempt = reduce_only and qty != 0.0 and self.market_type != "spot"
        if problem is not None and not exempt:
            return self._refused(order, cid, problem)
        sent = Order(
            order.symbol,
            qty,
            order.type,
            limit,
            stop,
            time_in_force=order.time_in_force,
            client_order_id=cid,
            oco_group=order.oco_group,
            reduce_only=reduce_only,
        )
        params = self.order_params(sent, cid, reduce_only)
        if order.time_in_force is not TimeInForce.GTC:
            params["timeInForce"] = order.time_in_force.value  # IOC, DAY: the venue's own
        amount = inst.contracts(qty)
        self._sent.add(cid)  # from here on, a resend looks the order up first
        try:
            raw = await self._call(
                "order",
                self.client.create_order,
                order.symbol,
                _TYPES[order.type],
                sent.side,
                amount,
                limit,
                params,
                creating=True,
            )
        except DuplicateOrder:
            known = await self._lookup(cid, order.symbol)
            if known is None:
                raise AmbiguousOutcome(
                    f"{self.name}: {cid} is a duplicate the venue cannot find", venue=self.name
                ) from None
            return known
        except (OrderRejected, UnknownOrder) as e:
            self._sent.discard(cid)
            return self._refused(sent, cid, f"VENUE_REJECTED: {e}")
        raw = await self.order_answer(raw, cid, order.symbol)
        self._take_trades(raw)
        return self._order(raw, sent)

    async def order(self, client_order_id: str) -> Order:
        """The order's state as the venue holds it (:class:`riskguard.ports.OrderLookup`).

        Raises UnknownOrder: the venue never received it. AmbiguousOutcome,
        VenueUnavailable, RateLimited: no answer (says nothing about the order)."""
        await self._ready()
        symbol = self._symbol_of(client_order_id)
        candidates = [symbol] if symbol else list(self.settings.symbols)
        for s in candidates:
            found = await self._lookup(client_order_id, s)
            if found is not None:
                return found
        raise UnknownOrder(f"{self.name} does not know {client_order_id}", venue=self.name)

    async def cancel(self, client_order_id: str) -> Order:
        """Cancels a working order; returns its final state (unchanged when it had ended).

        Raises UnknownOrder: the venue does not know it."""
        await self._ready()
        state = await self.order(client_order_id)
        if not state.is_open:
            return state
        try:
            await self._call(
                "order",
                self.client.cancel_order,
                self._venue_id(client_order_id),
                state.symbol,
                self._cancel_params(client_order_id),
                creating=True,  # a cancel that timed out may have been carried out
            )
        except (UnknownOrder, OrderRejected):
            # aiohttp re-sends a DELETE once when a kept-alive connection drops: a cancel that
            # succeeded comes back as unknown; an order that ended meanwhile is refused
            # (KuCoin, BingX). The venue's answer to a lookup settles both.
            pass
        final = await self._lookup(client_order_id, state.symbol)
        if final is None:
            raise UnknownOrder(f"{self.name} does not know {client_order_id}", venue=self.name)
        return final

    async def cancel_all(self, symbol: str | None = None) -> list[Order]:
        """Cancels every working order (of ``symbol``); returns their final states."""
        await self._ready()
        cancelled = []
        for order in await self.open_orders():
            if symbol is None or order.symbol == symbol:
                with contextlib.suppress(UnknownOrder):
                    cancelled.append(await self.cancel(order.client_order_id or ""))
        return cancelled

    async def open_orders(self) -> list[Order]:
        await self._ready()
        out = []
        for symbol in self.settings.symbols:
            for raw in await self._call("rest", self.client.fetch_open_orders, symbol):
                out.append(self._order(raw, None))
        return out

    async def positions(self) -> dict[str, Position]:
        """Open positions by symbol, in base units: futures from the venue's positions, spot
        from the base asset's total balance."""
        await self._ready()
        held: dict[str, Position] = {}
        if self.market_type == "spot":
            balance = await self._call("rest", self.client.fetch_balance)
            for symbol in self.settings.symbols:
                qty = float((balance.get("total") or {}).get(self._markets[symbol]["base"]) or 0.0)
                if qty == 0.0:
                    continue
                price = self._last.get(symbol) or await self._price(symbol)
                # A balance the venue would not let be sold (below its minimum quantity or
                # notional) is dust, not a position: no close could ever make it flat.
                if self.instruments[symbol].refusal(self.instruments[symbol].round_qty(qty), price):
                    continue
                held[symbol] = Position(qty, price, 0.0)
            return held
        for raw in await self._call(
            "rest", self.client.fetch_positions, list(self.settings.symbols)
        ):
            symbol = raw.get("symbol")
            contracts = float(raw.get("contracts") or 0.0)
            if symbol not in self.instruments or contracts == 0.0:
                continue
            size = float(raw.get("contractSize") or self.instruments[symbol].contract_size)
            sign = -1.0 if raw.get("side") == "short" else 1.0
            held[symbol] = Position(
                sign * contracts * size,
                float(raw.get("entryPrice") or 0.0),
                float(raw.get("realizedPnl") or 0.0),
            )
        return held

    async def balance(self) -> float:
        """Cash in the settle (futures) or quote (spot) currency of the first symbol."""
        await self._ready()
        raw = await self._call("rest", self.client.fetch_balance)
        market = self._markets[self.settings.symbols[0]]
        currency = market.get("settle") or market.get("quote")
        return float((raw.get("total") or {}).get(currency) or 0.0)

    async def fills(self, *, follow: bool = True) -> AsyncIterator[Fill]:
        """The fills since ``fills_lookback_s`` before the venue started, each once by its
        venue trade id, then (with ``follow``) new fills from the user stream."""
        await self._ready()
        async for fill in self._fill_log.iterate(follow=follow):
            yield fill

    def last_price(self, symbol: str) -> float | None:
        """The last trade price of ``symbol`` the market stream (or a ticker read) gave, or
        None before the first."""
        return self._last.get(symbol)

    def feed(self) -> TickQueue:
        """The market data of ``settings.symbols`` (a :class:`riskguard.ports.MarketFeed`):
        trades as ticks, closed bars as bars."""
        return self._ticks

    async def flatten(self) -> dict[str, Position]:
        """The emergency stop's last step: cancels every working order and closes every
        position with reduce-only market orders, again until the venue's own positions say
        flat (at most ``call_timeout_s`` × 3 per round, five rounds). Returns what is still
        held (empty when flat).

        Raises whatever the venue raises when it cannot even be read."""
        await self._ready()
        for _ in range(5):
            with contextlib.suppress(VenueError):
                await self.cancel_all()
            held = await self.positions()
            if not held:
                return {}
            for symbol, p in held.items():
                with contextlib.suppress(AmbiguousOutcome, RateLimited, VenueUnavailable):
                    await self.submit(Order(symbol, -p.qty, reduce_only=True))
            await asyncio.sleep(0.2)
        return await self.positions()

    # -- calls ---------------------------------------------------------------------------------

    async def _call(self, kind: str, fn: Any, *args: Any, creating: bool = False) -> Any:
        """``fn(*args)`` within the rate budget, its errors mapped (:func:`venue_error`), the
        venue's usage headers and ``Retry-After`` fed back to the budget."""
        name = getattr(fn, "__name__", "call")
        await self.limiter.acquire(kind, self.weights.get(name, 1.0))
        self.stats["calls"] += 1
        try:
            result = await fn(*args)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            headers = self._headers()
            retry = _retry_after(headers)
            error = venue_error(
                e,
                self.name,
                codes=self.codes,
                creating=creating,
                secrets=self._secrets,
                retry_after=retry,
            )
            if isinstance(error, RateLimited):
                # ccxt's message is "<venue> <METHOD> <url> <status> <reason> <body>": the
                # status stands alone (a 418 inside the URL's timestamp is not one).
                text = str(e)
                banned = re.search(r"\s418\s", text) is not None or "banned" in text.lower()
                self.limiter.penalize(418 if banned else 429, retry)
            raise error from None
        self._observe(self._headers())
        return result

    def _headers(self) -> Mapping[str, str]:
        headers = getattr(self.client, "last_response_headers", None) or {}
        return {str(k).lower(): str(v) for k, v in dict(headers).items()}

    def _observe(self, headers: Mapping[str, str]) -> None:
        for header, bucket in self.usage_headers.items():
            value = headers.get(header.lower())
            if value is not None:
                with contextlib.suppress(ValueError):
                    self.limiter.observe(bucket, float(value))

    async def _lookup(self, cid: str, symbol: str) -> Order | None:
        """The venue's state of order ``cid`` (None when it does not know it)."""
        raw: dict[str, Any] | None
        try:
            raw = await self._call(
                "rest", self.client.fetch_order, self.lookup_id, symbol, self.lookup_params(cid)
            )
        except UnknownOrder:
            raw = None
        if not raw or raw.get("id") is None:
            raw = None  # KuCoin answers an unknown client order id with empty data
        if raw is None:
            venue_id = self._venue_id(cid)
            if venue_id is None or venue_id != cid:
                return None
            # An order placed without a client order id (by hand, in the venue's app) goes by
            # its venue id: a kill must still find it to cancel it.
            try:
                raw = await self._call("rest", self.client.fetch_order, venue_id, symbol)
            except UnknownOrder:
                return None
            if not raw or raw.get("id") is None:
                return None
        self._take_trades(raw)
        state = self._order(raw, None, cid=cid)
        self._check_gap(state)
        return state

    async def _price(self, symbol: str) -> float:
        ticker = await self._call("rest", self.client.fetch_ticker, symbol)
        price = ticker.get("last") or ticker.get("close") or ticker.get("bid")
        if not price:
            raise VenueUnavailable(f"{self.name}: no price for {symbol}", venue=self.name)
        self._last[symbol] = float(price)
        return float(price)

    def _symbol_of(self, cid: str) -> str | None:
        known = self._ids.get(cid)
        if known is not None:
            return known[1]
        state = self.states.get(cid)
        return state.symbol if state is not None else None

    def _venue_id(self, cid: str) -> str | None:
        known = self._ids.get(cid)
        return known[0] if known is not None else None

    def _cancel_params(self, cid: str) -> dict[str, Any]:
        return {} if self._venue_id(cid) is not None else self.lookup_params(cid)

    # -- records -------------------------------------------------------------------------------

    def _instrument(self, market: dict[str, Any]) -> Instrument:
        precision = market.get("precision") or {}
        decimals = self.client.precisionMode != ccxt.TICK_SIZE
        limits = market.get("limits") or {}
        size = float(market.get("contractSize") or 1.0) if market.get("contract") else 1.0
        min_amount = (limits.get("amount") or {}).get("min") or 0.0
        return Instrument(
            market["symbol"],
            tick_size=_step(precision.get("price"), decimals),
            lot_size=_step(precision.get("amount"), decimals),
            min_qty=float(min_amount) * size,
            min_notional=float((limits.get("cost") or {}).get("min") or 0.0),
            contract_size=size,
            shortable=bool(market.get("contract")),
            fractional=True,
        )

    def _capabilities_of(self) -> Capabilities:
        has = self.client.has
        kinds = {OrderType.MARKET, OrderType.LIMIT}
        if not self.stop_orders:
            return Capabilities(frozenset(kinds), self.market_type != "spot", True)
        if has.get("createStopMarketOrder") or has.get("createStopOrder"):
            kinds.add(OrderType.STOP)
        if has.get("createStopLimitOrder") or has.get("createStopOrder"):
            kinds.add(OrderType.STOP_LIMIT)
        return Capabilities(frozenset(kinds), self.market_type != "spot", True)

    def _order(self, raw: dict[str, Any], sent: Order | None, *, cid: str | None = None) -> Order:
        """A ccxt order as a riskguard :class:`Order` (signed base units), merged into what is
        known of it (states only move forward)."""
        cid = raw.get("clientOrderId") if cid is None else cid
        cid = cid or (sent.client_order_id if sent is not None else None) or str(raw.get("id"))
        symbol = raw.get("symbol") or (sent.symbol if sent is not None else "")
        if raw.get("id") is not None:
            self._ids[cid] = (str(raw["id"]), symbol)
        size = self.instruments[symbol].contract_size if symbol in self.instruments else 1.0
        sign = 1.0 if (raw.get("side") or (sent.side if sent else "buy")) == "buy" else -1.0
        amount = raw.get("amount")
        qty = sign * float(amount) * size if amount else (sent.qty if sent is not None else 0.0)
        filled = sign * float(raw.get("filled") or 0.0) * size
        status = _STATUS.get(str(raw.get("status") or "open").lower(), OrderStatus.NEW)
        if status is OrderStatus.FILLED and amount and abs(filled) < abs(qty) * (1 - 1e-9):
            status = OrderStatus.CANCELLED  # closed unfilled in part: what is left will not fill
        kind, limit, stop = OrderType.MARKET, None, None
        price = raw.get("price")
        trigger = raw.get("triggerPrice") or raw.get("stopPrice")
        ordered = str(raw.get("type") or "market").lower()
        if sent is not None:
            kind, limit, stop = sent.type, sent.limit_price, sent.stop_price
        elif trigger:
            kind = OrderType.STOP_LIMIT if ordered.endswith("limit") and price else OrderType.STOP
            stop = float(trigger)
            limit = float(price) if kind is OrderType.STOP_LIMIT else None
        elif ordered == "limit" and price:
            kind, limit = OrderType.LIMIT, float(price)
        if qty == 0.0:
            qty = filled or sign * size
        known = self.states.get(cid)
        reduce_only = bool(
            raw.get("reduceOnly")
            or (sent is not None and sent.reduce_only)
            or (known is not None and known.reduce_only)
        )
        order = Order(
            symbol,
            qty,
            kind,
            limit,
            stop,
            client_order_id=cid,
            status=status,
            filled_qty=filled,
            avg_fill_price=raw.get("average") or None,
            reason="" if status is not OrderStatus.REJECTED else str(raw.get("info", ""))[:200],
            submitted_ts=_ms_to_ns(raw.get("timestamp")) if raw.get("timestamp") else None,
            reduce_only=reduce_only,
        )
        return self.states.update(order)

    def _refused(self, order: Order, cid: str, reason: str) -> Order:
        return Order(
            order.symbol,
            order.qty,
            order.type,
            order.limit_price,
            order.stop_price,
            order.trail_amount,
            order.trail_percent,
            order.time_in_force,
            cid,
            order.oco_group,
            status=OrderStatus.REJECTED,
            reason=redact(reason, *self._secrets),
            reduce_only=order.reduce_only,
        )

    def _fill(self, trade: dict[str, Any]) -> Fill | None:
        symbol = trade.get("symbol")
        if symbol not in self.instruments or trade.get("id") is None:
            return None
        size = self.instruments[symbol].contract_size
        sign = 1.0 if trade.get("side") == "buy" else -1.0
        cid = trade.get("clientOrderId") or (trade.get("info") or {}).get("clientOrderId")
        order_id = str(trade.get("order") or "")
        if not cid:
            cid = next((c for c, (i, _) in self._ids.items() if i == order_id), order_id)
        liquidity = Liquidity.MAKER if trade.get("takerOrMaker") == "maker" else Liquidity.TAKER
        qty = sign * float(trade.get("amount") or 0.0) * size
        fee = trade.get("fee") or {}
        market = self._markets.get(symbol, {})
        if (
            self.market_type == "spot"
            and fee.get("cost")
            and fee.get("currency") == market.get("base")
        ):
            # A spot fee taken in the asset bought (Binance without BNB): the account holds
            # that much less of it; the fee is counted in quote currency (fill_fee).
            qty -= abs(float(fee["cost"]))
        return Fill(
            cid,
            symbol,
            qty,
            float(trade.get("price") or 0.0),
            self.fill_fee(trade),
            _ms_to_ns(trade.get("timestamp")),
            liquidity,
            str(trade["id"]),
        )

    def _take_trades(self, raw: dict[str, Any]) -> None:
        """The fills an order answer carries (Binance spot's ``fills``), into the fill log."""
        for part in raw.get("trades") or ():
            # ccxt parses an order's fills without their side or order: the order's own.
            trade = {
                "symbol": raw.get("symbol"),
                "side": raw.get("side"),
                "order": raw.get("id"),
                "clientOrderId": raw.get("clientOrderId"),
                **{k: v for k, v in part.items() if v is not None},
            }
            fill = self._fill(trade)
            if fill is not None and fill.qty and fill.price:
                self._fill_log.add(fill)

    # -- streams and timers --------------------------------------------------------------------

    async def _resynced(self) -> None:
        """After a reconnect: the REST resync, then whoever holds positions against this
        venue (the Guard, through ``on_resync``) reconciles them before the stream is trusted
        again."""
        await self._resync()
        if self.on_resync is not None:
            self.on_resync()

    async def _resync(self) -> None:
        """Reconciliation by REST before a stream is trusted again: the fills since the last
        one known (or the lookback), and the working orders."""
        self.stats["resyncs"] += 1
        await self._resync_fills()
        for symbol in self.settings.symbols:
            for raw in await self._call("rest", self.client.fetch_open_orders, symbol):
                self._order(raw, None)

    async def _resync_fills(self) -> None:
        """The fills of each symbol since a minute before the last one known (or the lookback),
        page after page, each named by its order's client order id (learnt from the venue
        when a trade carries only the venue's order id: a fill made while no riskguard was
        running belongs to an order of the last run)."""
        for symbol in self.settings.symbols:
            since = self._since.get(symbol, self._since_ms)
            asked = 0
            for _ in range(_MAX_PAGES):
                page = await self.fetch_fills(symbol, since, _PAGE)
                page.sort(key=lambda t: (t.get("timestamp") or 0, str(t.get("id"))))
                for trade in page:
                    named = trade.get("clientOrderId") or (trade.get("info") or {}).get(
                        "clientOrderId"
                    )
                    if not named and self._fill_log.has(symbol, trade.get("id")):
                        continue  # seen already, named then
                    if not named and asked < _MAX_ASKED:
                        asked += 1  # one lookup per order, bounded per resync
                        trade["clientOrderId"] = await self._client_id_of(trade, symbol)
                    fill = self._fill(trade)
                    if fill is not None:
                        self._fill_log.add(fill)
                last = max((t.get("timestamp") or 0 for t in page), default=0)
                if len(page) < _PAGE or last <= since:
                    break
                since = last  # the next page; the fills of that millisecond come again, once
            known = [f.ts for f in self._fill_log.fills if f.symbol == symbol]
            if known:
                self._since[symbol] = max(self._since_ms, max(known) // _NS - 60_000)

    async def _client_id_of(self, trade: dict[str, Any], symbol: str) -> str | None:
        """The client order id of the order a trade belongs to, asked of the venue once per
        order (None when the venue does not say)."""
        order_id = str(trade.get("order") or "")
        if not order_id:
            return None
        for cid, (venue_id, _) in self._ids.items():
            if venue_id == order_id:
                return cid
        try:
            raw = await self._call("rest", self.client.fetch_order, order_id, symbol)
        except UnknownOrder:
            return None
        cid = (raw or {}).get("clientOrderId") or None
        self._ids[cid or order_id] = (order_id, symbol)
        return cid

    async def _watch_fills(self) -> None:
        # Ends (and runs again) when a watch outlives its time box: see _watched.
        async for trades in self._watched(self.client.watch_my_trades):
            for trade in trades or ():
                fill = self._fill(trade)
                if fill is not None:
                    self._fill_log.add(fill)

    async def _watch_orders(self) -> None:
        async for raws in self._watched(self.client.watch_orders):
            for raw in raws or ():
                if raw.get("symbol") in self.instruments:
                    # ccxt.pro's cache keeps the last event per order: a NEW arriving after a
                    # FILLED would reopen it; OrderStates only moves forward.
                    state = self._order(raw, None)
                    self._check_gap(state)

    async def _watched(self, watch: Callable[[], Any]) -> AsyncIterator[Any]:
        """Each answer of ccxt.pro's ``watch`` in turn. A watch with no answer for the time
        box raises TimeoutError, so that the stream reconnects and resyncs by REST: a rejected
        user-stream subscription can leave later watches waiting until the socket reconnects.
        The watch is never awaited once abandoned (cancelling one does not always end it)."""
        box = max(30.0, 3 * self.settings.stale_feed_s)
        pending: asyncio.Future[Any] | None = None
        try:
            while True:
                pending = asyncio.ensure_future(watch())
                done, _ = await asyncio.wait({pending}, timeout=box)
                if not done:
                    # Quiet (an idle account) or stuck: what it would have said is read by
                    # REST, and the watch starts afresh. Not a failure: no alert, no backoff.
                    await self._resync()
                    return
                answer, pending = pending.result(), None
                yield answer
        finally:
            if pending is not None:
                pending.cancel()
                pending.add_done_callback(_retrieve)

    def _check_gap(self, state: Order) -> None:
        """An order the venue says filled further than its fills known here: the missing
        fills are read by REST soon. ccxt.pro resolves a watch only on the next message, so
        trades that arrive while no watch is pending wait for another event that may never
        come; the order's own update says they exist."""
        cid = state.client_order_id or ""
        known = self._fill_log.by_order.get(cid, 0.0)
        if abs(state.filled_qty) > abs(known) + 1e-12 * max(1.0, abs(state.qty)):
            self._gap.set()

    async def _fill_gaps(self) -> None:
        """Reads the fills by REST when an order's update showed some missing (debounced)."""
        while True:
            await self._gap.wait()
            await asyncio.sleep(0.25)  # the stream may still bring them
            self._gap.clear()
            try:
                await self._resync_fills()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # tried again; the task never ends on a failure
                self._gap.set()
                log.warning(
                    "%s: reading missing fills failed: %s", self.name, redact(e, *self._secrets)
                )
                await asyncio.sleep(1.0)

    async def _watch_trades(self, symbol: str) -> None:
        while True:
            trades = await self.client.watch_trades(symbol)
            for trade in trades:
                price = trade.get("price")
                if not price or not math.isfinite(float(price)):
                    continue
                self._last[symbol] = float(price)
                self.health.beat()
                self._ticks.put(Tick(symbol, float(price), _ms_to_ns(trade.get("timestamp"))))

    async def _watch_bars(self, symbol: str) -> None:
        timeframe = self.settings.bar_timeframe or "1m"
        span = self.client.parse_timeframe(timeframe) * 1000
        pending: list[Any] | None = None
        while True:
            candles = await self.client.watch_ohlcv(symbol, timeframe)
            for candle in candles:
                if pending is not None and candle[0] > pending[0]:
                    o, h, lo, c, v = (float(x or 0.0) for x in pending[1:6])
                    if min(o, h, lo, c) > 0:
                        self._ticks.put(Bar(symbol, o, h, lo, c, v, (pending[0] + span) * _NS))
                if pending is None or candle[0] >= pending[0]:
                    pending = candle

    async def _timers(self) -> None:
        """Reconciliation of the orders in flight every ``reconcile_orders_s``, the dead-man's
        switch re-armed, the feed's staleness checked."""
        dead_man = self.settings.dead_man_s
        next_resync = time.monotonic() + 60.0
        while True:
            if dead_man:
                try:
                    await self.dead_man(dead_man)
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    self._alert(
                        "dead_man",
                        "warning",
                        f"{self.name}: re-arming the dead-man's switch failed",
                        str(e),
                    )
            try:
                for state in list(self.states.orders.values()):
                    if state.is_open and state.client_order_id in self._sent:
                        await self._lookup(state.client_order_id or "", state.symbol)
                if time.monotonic() >= next_resync:
                    next_resync = time.monotonic() + 60.0
                    await self._resync()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the timers outlive any failure: the switch must re-arm
                log.warning("%s timers: %s", self.name, redact(e, *self._secrets))
            self.health.check()
            await asyncio.sleep(min(self.reconcile_orders_s, self.settings.stale_feed_s / 3))

    def _stream_error(self, what: str) -> Callable[[BaseException, int], None]:
        def report(e: BaseException, attempt: int) -> None:
            self.stats["reconnects"] += 1
            detail = redact(f"{type(e).__name__}: {e}", *self._secrets)
            log.warning("%s %s stream dropped (attempt %d): %s", self.name, what, attempt, detail)
            if attempt == 3:
                self._alert("venue_stream", "warning", f"{self.name} {what} stream down", detail)

        return report

    def _feed_changed(self, stale: bool, seconds: float) -> None:
        if stale:
            self._alert(
                "stale_feed",
                "warning",
                f"{self.name} market data stale",
                f"no data for {seconds:.0f} s (broker.stale_feed_s)",
            )

    def _banned(self, seconds: float, reason: str) -> None:
        self._alert("venue_ban", "critical", reason, f"every call waits {seconds:.0f} s")

    def _alert(self, kind: str, severity: str, title: str, detail: str) -> None:
        if self._alerts is not None:
            self._alerts(kind, severity, title, redact(detail, *self._secrets))


def _step(value: Any, decimals: bool) -> float | None:
    """ccxt's precision as a step, or None: a step already in TICK_SIZE mode, else a count of
    decimal places (``4`` is 0.0001)."""
    if value is None:
        return None
    step = 10.0 ** -float(value) if decimals else float(value)
    return step if step > 0 and math.isfinite(step) else None


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Marks an abandoned watch's outcome as seen (no "exception never retrieved")."""
    if not future.cancelled():
        future.exception()


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
