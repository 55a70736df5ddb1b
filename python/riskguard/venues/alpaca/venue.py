"""Alpaca (US stocks and crypto) as a riskguard :class:`~riskguard.ports.Venue` and
:class:`~riskguard.ports.OrderLookup`, through alpaca-py 0.44.

- **Orders** carry a client order id (one is made when the order has none); quantities and
  prices are rounded to the asset's steps toward less risk and an order below the minimum is
  refused before it leaves (:mod:`.orders`). A refusal is an order with status ``rejected`` and
  a reason code, never an exception.
- **Idempotent submission.** Alpaca refuses a reused client order id ("client_order_id must be
  unique") whatever became of the first order, so that answer is "look it up": the first
  order's state is returned. A 5xx after sending (Alpaca's gateway answers 504 for orders it
  accepted) is looked up too; no answer within ``call_timeout_s`` is
  :class:`~riskguard.errors.AmbiguousOutcome`, settled by :meth:`AlpacaVenue.order`.
- **Fills** come from the ``trade_updates`` stream and from the FILL activities read by REST at
  start, after each reconnect and every ``resync_s``; each is applied once (:mod:`.convert`
  names a fill by its order and cumulative quantity, the same from both paths).
- **Market data**: trades and one-minute bars of ``broker.symbols`` from Alpaca's data streams
  (IEX for stocks), through :meth:`AlpacaVenue.feed`; a feed quiet for ``stale_feed_s`` is
  reported once (``alerts("stale_feed", ...)``, :attr:`AlpacaVenue.health`).
- **Errors** are mapped by :mod:`.errors`; every REST call is paced by Alpaca's 200 requests a
  minute and bounded by ``call_timeout_s`` (:mod:`.rest`).

Secrets (the API key and secret) appear in no message, log line or repr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from alpaca.common.enums import Sort
from alpaca.data.enums import DataFeed
from alpaca.data.live import CryptoDataStream, StockDataStream
from alpaca.data.requests import CryptoLatestTradeRequest, StockLatestTradeRequest
from alpaca.trading.enums import AssetStatus, QueryOrderStatus
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.models import TradeActivity, TradeUpdate
from alpaca.trading.requests import GetOrdersRequest

from riskguard._core import RiskError
from riskguard.errors import (
    AmbiguousOutcome,
    AuthFailed,
    ConfigError,
    OrderRejected,
    RateLimited,
    UnknownOrder,
    VenueError,
    VenueUnavailable,
)
from riskguard.model.ids import new_client_order_id
from riskguard.model.instruments import Instrument
from riskguard.model.market import Bar, Tick
from riskguard.model.orders import Capabilities, Fill, Order, OrderStatus, Position
from riskguard.model.venue import VenueSettings
from riskguard.redact import redact
from riskguard.venues.alpaca.convert import (
    Market,
    fill_from_activity,
    fill_from_update,
    market_from,
    order_from,
    position_from,
)
from riskguard.venues.alpaca.errors import VENUE, DuplicateClientOrderId, ServerError
from riskguard.venues.alpaca.orders import prepare
from riskguard.venues.alpaca.rest import AlpacaRest
from riskguard.venues.alpaca.stream import MarketData, TradeUpdates, socket_params
from riskguard.venues.live import FeedHealth, FillLog, OrderStates, Reconnecting, TickQueue

__all__ = ["AlpacaVenue"]

log = logging.getLogger("riskguard.venues.alpaca")

Alerts = Callable[[str, str, str, str], None]

_BAR_NS = 60 * 1_000_000_000  # Alpaca streams one-minute bars only
_PAGE = 100  # FILL activities per page (Alpaca's most)
_OVERLAP = timedelta(seconds=2)  # fills reread before the last one seen (same-ms fills, skew)


class AlpacaVenue:
    """Alpaca through alpaca-py, for ``settings`` (``type = "alpaca"``; ``symbols`` in Alpaca's
    form: ``AAPL``, ``BTC/USD``). ``alerts(kind, severity, title, text)`` hears what a person
    should: a stale feed, a stream down or back, a rate-limit ban. ``resync_s``: how often the
    fills and working orders are read by REST besides the stream (a stream that is connected
    but silent loses nothing for longer than that).

    Call :meth:`start` first (it loads the instruments, opens the streams) and :meth:`aclose`
    last. Raises AuthFailed when the key or secret is missing, ConfigError for a bar timeframe
    Alpaca does not stream."""

    name = VENUE

    def __init__(
        self,
        settings: VenueSettings,
        *,
        alerts: Alerts | None = None,
        resync_s: float = 60.0,
    ) -> None:
        if settings.bar_timeframe not in (None, "1m"):
            raise ConfigError(
                [
                    (
                        "broker.bar_timeframe",
                        f"Alpaca streams 1-minute bars only, not "
                        f'{settings.bar_timeframe!r} (use "1m" or none)',
                    )
                ]
            )
        self.settings = settings
        self._alerts = alerts
        self._secrets = tuple(s for s in (settings.api_key, settings.secret) if s)
        self.rest = AlpacaRest(settings, on_ban=self._on_ban)
        self.resync_s = resync_s
        self.markets: dict[str, Market] = {}
        self.instruments: dict[str, Instrument] = {}
        self._aliases: dict[str, str] = {}  # Alpaca's spellings -> riskguard's (BTCUSD -> BTC/USD)
        self._capabilities = Capabilities(frozenset(), False, False)
        self._fills = FillLog()
        self._states = OrderStates()
        self._ids: dict[str, str] = {}  # client order id -> Alpaca order id
        self._cids: dict[str, str] = {}  # Alpaca order id -> client order id
        self._sent: set[str] = set()  # client order ids that may have reached Alpaca
        self._session_start: datetime | None = None  # the venue's clock at start()
        self._fills_after: datetime | None = None  # the last FILL activity read
        self._last_price: dict[str, float] = {}
        self._last_ts: dict[str, int] = {}
        self._ticks = TickQueue()
        self.health = FeedHealth(settings.stale_feed_s, self._on_stale)
        self._streams: list[Reconnecting] = []
        self._updates: TradeUpdates | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._resync_lock = asyncio.Lock()
        self._down: set[str] = set()  # streams that failed and have not come back
        self._started = False
        self.on_resync: Callable[[], None] | None = None  # riskguard.ports.LiveVenue

    def __repr__(self) -> str:
        return redact(
            f"AlpacaVenue(paper={self.settings.testnet}, symbols={list(self.settings.symbols)}, "
            f"base_url={self.settings.base_url!r}, started={self._started})",
            *self._secrets,
        )

    # -- life ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Checks the credentials, loads the instruments of ``settings.symbols`` (steps,
        minimums, capabilities from the asset flags), opens the order stream (waiting up to
        twice ``call_timeout_s`` for it to listen and to read the working orders and the fills
        so far by REST) and the market data streams. Alpaca has no dead-man's switch:
        ``dead_man_s`` is not used.

        Raises ConfigError: a symbol Alpaca does not have or does not trade. AuthFailed,
        VenueUnavailable, RateLimited: the account could not be read."""
        if self._started:
            return
        rest = self.rest
        account = await rest.call("account", rest.trading.get_account)
        clock = await rest.call("clock", rest.trading.get_clock)
        # The session's fills are those after the venue's own clock at start (not ours: skew).
        self._session_start = clock.timestamp
        await self._load_markets(bool(account.shorting_enabled))
        self._started = True
        self.health.beat()
        updates = TradeUpdates(
            self.settings.api_key,
            self.settings.secret,
            paper=self.settings.testnet,
            url=self._ws("/stream"),
            timeout=self.settings.call_timeout_s,
            on_update=self._on_update,
            resync=self._resynced,
            on_listening=lambda: self._stream_up("trade_updates"),
        )
        self._updates = updates
        self._run("trade_updates", updates.session)
        for stream in self._market_streams():
            self._run(stream[0], stream[1].session)
        self._tasks.append(asyncio.create_task(self._watch(), name="alpaca:watch"))
        try:
            await asyncio.wait_for(updates.listening.wait(), self.settings.call_timeout_s * 2)
        except asyncio.TimeoutError:
            # Not fatal: orders still work by REST and fills are read every resync_s.
            self._down.add("trade_updates")  # its coming up is then reported
            self._alert(
                "stream_down",
                "warning",
                "Alpaca order stream not connected",
                "trade_updates did not come up at start; fills are read by REST until it does",
            )

    async def _load_markets(self, shorting: bool) -> None:
        rest = self.rest
        problems: list[tuple[str, str]] = []
        for symbol in self.settings.symbols:
            try:
                # Asked compressed (BTCUSD): Alpaca's asset path takes that form for crypto,
                # and a "/" would split the path.
                asset = await rest.call(
                    f"asset {symbol}", rest.trading.get_asset, symbol.replace("/", "")
                )
            except UnknownOrder:  # a 404: no such asset
                problems.append(("broker.symbols", f"{symbol}: Alpaca has no such asset"))
                continue
            if not asset.tradable or asset.status != AssetStatus.ACTIVE:
                problems.append(("broker.symbols", f"{symbol}: not tradable on Alpaca"))
                continue
            market = market_from(asset, shorting_enabled=shorting)
            market = replace(market, instrument=replace(market.instrument, symbol=symbol))
            self.markets[symbol] = market
            for alias in (asset.symbol, asset.symbol.replace("/", ""), symbol.replace("/", "")):
                self._aliases[alias] = symbol
        if problems:
            raise ConfigError(problems)
        self.instruments = {s: m.instrument for s, m in self.markets.items()}
        caps = [m.capabilities for m in self.markets.values()]
        if caps:
            # One answer for the venue: what every symbol allows (a stop sent for BTC/USD would
            # be refused); capabilities_for() has each symbol's own.
            types = frozenset.intersection(*(c.order_types for c in caps))
            self._capabilities = Capabilities(
                types, all(c.shorting for c in caps), all(c.fractional for c in caps)
            )

    def _ws(self, path: str) -> str | None:
        ws = self.settings.ws_url
        return ws.rstrip("/") + path if ws else None

    def _market_streams(self) -> list[tuple[str, MarketData]]:
        settings = self.settings
        key, secret = settings.api_key, settings.secret
        params = socket_params(settings.call_timeout_s, self._secrets)
        out = []
        stocks = [s for s, m in self.markets.items() if not m.crypto]
        crypto = [s for s, m in self.markets.items() if m.crypto]
        kinds = (
            (
                "stocks",
                stocks,
                lambda: StockDataStream(
                    key,
                    secret,
                    raw_data=True,
                    feed=DataFeed.IEX,
                    websocket_params=params,
                    url_override=self._ws("/v2/iex"),
                ),
            ),
            (
                "crypto",
                crypto,
                lambda: CryptoDataStream(
                    key,
                    secret,
                    raw_data=True,
                    websocket_params=params,
                    url_override=self._ws("/v1beta3/crypto/us"),
                ),
            ),
        )
        for name, symbols, make in kinds:
            if symbols:
                data = MarketData(
                    make(),
                    symbols,
                    bars=settings.bar_timeframe == "1m",
                    timeout=settings.call_timeout_s,
                    secrets=self._secrets,
                    on_trade=self._on_trade,
                    on_bar=self._on_bar,
                )
                out.append((f"market:{name}", data))
        return out

    def _run(self, name: str, session: Callable[[], Any]) -> None:
        runner = Reconnecting(
            f"alpaca:{name}",
            session,
            on_error=lambda e, attempt: self._stream_failed(name, e, attempt),
            max_backoff=min(30.0, max(1.0, self.settings.call_timeout_s * 3)),
        )
        runner.start()
        self._streams.append(runner)

    async def aclose(self) -> None:
        """Closes the streams, ends the feed and the REST clients."""
        for runner in self._streams:
            await runner.stop()
        self._streams.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._ticks.close()
        self.rest.close()

    # -- Venue ---------------------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        """What every traded symbol allows (the order types all of them take; shorting and
        fractional quantities only if all of them do)."""
        return self._capabilities

    def capabilities_for(self, symbol: str) -> Capabilities:
        """One symbol's own capabilities. Raises KeyError for a symbol not traded."""
        return self.markets[symbol].capabilities

    async def submit(self, order: Order) -> Order:
        """Sends ``order`` and returns its state at the venue, or a ``rejected`` order with a
        reason code (refused before sending: ``UNKNOWN_SYMBOL``, ``UNSUPPORTED_ORDER_TYPE``,
        ``BELOW_MIN_QTY``, ``BELOW_MIN_NOTIONAL``, ``BAD_TIME_IN_FORCE``, ``REDUCE_ONLY``...;
        or by Alpaca: ``INSUFFICIENT_FUNDS``, ``INSUFFICIENT_QTY``...).

        Idempotent by client order id: an id already sent is looked up first and its state
        returned, never sent again; an id Alpaca reports as used is answered the same way.
        Alpaca has no reduce-only flag: a ``reduce_only`` order is clipped to the position the
        venue holds (one more read) and refused when there is none to reduce.

        Raises AmbiguousOutcome: no answer in time, or a 5xx and the lookup failed too.
        VenueUnavailable: not sent, or a 5xx for an order the venue then did not know (safe to
        send again under the same id). RateLimited, AuthFailed."""
        cid = order.client_order_id or new_client_order_id("order")
        order = replace(order, client_order_id=cid)
        if cid in self._sent:
            try:
                return await self.order(cid)
            except UnknownOrder:
                pass  # the earlier attempt never arrived: send it
        market = self.markets.get(order.symbol)
        if market is None:
            return self._refused(
                order,
                f"UNKNOWN_SYMBOL: {order.symbol} is not among "
                f"broker.symbols {list(self.settings.symbols)}",
            )
        if order.reduce_only:
            clipped = await self._reducing(order)
            if isinstance(clipped, str):
                return self._refused(order, clipped)
            order = clipped
        reference = None
        if order.limit_price is None and order.stop_price is None:
            reference = await self._reference_price(order.symbol, market)
        request = prepare(order, market, reference)
        if isinstance(request, str):
            return self._refused(order, request)
        what = f"submit {order.symbol} {cid}"
        self._sent.add(cid)  # from here on, a resubmission looks the order up first
        try:
            answer = await self.rest.call(what, self.rest.trading.submit_order, request, write=True)
        except DuplicateClientOrderId:
            # Sent before (by an earlier process, or alpaca-py's own resend after a 504): the
            # first order's state, whatever became of it.
            return await self.order(cid)
        except OrderRejected as e:
            self._sent.discard(cid)
            return self._refused(order, str(e))
        except ServerError as e:
            return await self._after_server_error(cid, e)
        except (RateLimited, AuthFailed):
            self._sent.discard(cid)  # refused before anything was done
            raise
        return self._learn(answer)

    async def _reducing(self, order: Order) -> Order | str:
        """``order`` clipped to the position Alpaca holds (its opposite side), or why there is
        nothing to reduce."""
        venue_symbol = order.symbol.replace("/", "")  # the positions path takes BTCUSD
        try:
            row = await self.rest.call(
                f"position {order.symbol}", self.rest.trading.get_open_position, venue_symbol
            )
            held = position_from(row).qty
        except UnknownOrder:  # 404 "position does not exist"
            held = 0.0
        if held == 0.0 or (held > 0) == (order.qty > 0):
            return (
                f"REDUCE_ONLY: {order.qty:+g} {order.symbol} would not reduce the position "
                f"of {held:g}"
            )
        if abs(order.qty) > abs(held):
            order = replace(order, qty=-held)
        return order

    async def _after_server_error(self, cid: str, error: ServerError) -> Order:
        """A 5xx to a submission: Alpaca may have taken the order (its gateway answers 504 for
        orders it accepted). Its state when it did; the error when it did not (sending again
        under the same id is then safe)."""
        try:
            return await self.order(cid)
        except UnknownOrder:
            raise error from None
        except VenueError as e:
            raise AmbiguousOutcome(
                f"{error}; asking for {cid} failed too: {e}", venue=VENUE
            ) from None

    def _refused(self, order: Order, reason: str) -> Order:
        reason = redact(reason, *self._secrets)
        log.info("alpaca: %s %s refused: %s", order.symbol, order.client_order_id, reason)
        return replace(order, status=OrderStatus.REJECTED, reason=reason)

    async def _reference_price(self, symbol: str, market: Market) -> float | None:
        """The last trade of ``symbol`` (streamed, else asked for), to check a market order's
        notional; None when it cannot be had (then only its quantity is checked, and Alpaca
        checks the rest)."""
        price = self._last_price.get(symbol)
        if price is not None:
            return price
        rest = self.rest
        try:
            if market.crypto:
                coin = CryptoLatestTradeRequest(symbol_or_symbols=symbol)
                trades = await rest.call(
                    f"latest {symbol}", rest.crypto.get_crypto_latest_trade, coin
                )
            else:
                stock = StockLatestTradeRequest(symbol_or_symbols=symbol, feed=DataFeed.IEX)
                trades = await rest.call(
                    f"latest {symbol}", rest.stocks.get_stock_latest_trade, stock
                )
        except VenueError as e:
            log.info("alpaca: no latest trade for %s: %s", symbol, e)
            return None
        trade = trades.get(symbol) if isinstance(trades, dict) else None
        return float(trade.price) if trade is not None else None

    async def order(self, client_order_id: str) -> Order:
        """The order's state at the venue, by its client order id (:class:`OrderLookup`).

        Raises UnknownOrder: Alpaca has no order with that id (it never arrived).
        VenueUnavailable (no answer in time: says nothing of the order), RateLimited,
        AuthFailed."""
        answer = await self.rest.call(
            f"lookup {client_order_id}",
            self.rest.trading.get_order_by_client_id,
            client_order_id,
        )
        return self._learn(answer)

    async def cancel(self, client_order_id: str) -> Order:
        """Cancels a working order; returns its state after (unchanged if already final; an
        order Alpaca has yet to confirm cancelled, ``pending_cancel``, is still ``new``).

        Raises UnknownOrder: Alpaca does not know it. AmbiguousOutcome: no answer in time."""
        if client_order_id not in self._ids:
            await self.order(client_order_id)  # learns its Alpaca id, or raises UnknownOrder
        oid = self._ids[client_order_id]
        try:
            await self.rest.call(
                f"cancel {client_order_id}", self.rest.trading.cancel_order_by_id, oid, write=True
            )
        except OrderRejected:
            pass  # 422 "order is already in "filled" state": final; its state is asked below
        return await self.order(client_order_id)

    async def cancel_all(self, symbol: str | None = None) -> list[Order]:
        """Cancels every working order (or those of ``symbol``); returns those cancelled.

        Raises AmbiguousOutcome: no answer in time (some may be cancelled)."""
        if symbol is not None:
            working = [o for o in await self.open_orders() if o.symbol == symbol]
            results = await asyncio.gather(
                *(self.cancel(o.client_order_id or "") for o in working), return_exceptions=True
            )
            for r in results:
                if isinstance(r, BaseException) and not isinstance(r, UnknownOrder):
                    raise r
            return [
                r for r in results if isinstance(r, Order) and r.status is OrderStatus.CANCELLED
            ]
        answers = await self.rest.call("cancel all", self.rest.trading.cancel_orders, write=True)
        done = []
        for a in answers:
            if a.status // 100 != 2 or not a.body:
                continue
            try:
                state = self._learn(AlpacaOrder(**a.body))
            except Exception as e:  # an answer we cannot read: the order is asked for later
                log.warning(
                    "alpaca cancel all: unreadable answer for %s: %s",
                    a.id,
                    redact(e, *self._secrets),
                )
                continue
            if state.is_open:
                # Alpaca accepted the cancel (200); its final word comes on the stream.
                state = self._states.update(replace(state, status=OrderStatus.CANCELLED))
            done.append(state)
        return done

    async def positions(self) -> dict[str, Position]:
        """Every open position by symbol, as Alpaca holds it (crypto's ``BTCUSD`` named
        ``BTC/USD``)."""
        rows = await self.rest.call("positions", self.rest.trading.get_all_positions)
        out = {}
        for p in rows:
            position = position_from(p)
            if position.qty != 0.0:
                out[self._symbol(p.symbol)] = position
        return out

    async def balance(self) -> float:
        """The account's cash (USD)."""
        account = await self.rest.call("account", self.rest.trading.get_account)
        return float(account.cash or 0.0)

    async def open_orders(self) -> list[Order]:
        """The working orders, oldest first."""
        return [self._learn(o) for o in await self._working()]

    async def _working(self) -> list[AlpacaOrder]:
        # Alpaca lists 50 orders unless asked, 500 at most, newest first unless asked.
        request = GetOrdersRequest(
            status=QueryOrderStatus.OPEN, limit=500, direction=Sort.ASC, nested=False
        )
        orders = await self.rest.call("open orders", self.rest.trading.get_orders, request)
        if len(orders) >= 500:
            log.warning("alpaca: 500 working orders or more; only the oldest 500 are listed")
        return list(orders)

    async def flatten(self) -> dict[str, Position]:
        """The emergency stop's last step: cancels every working order and closes every
        position with reduce-only market orders, again until Alpaca's own positions say flat
        (five rounds at most). Returns what is still held (empty when flat; a stock order sent
        while the market is closed waits for the open).

        Raises what the venue raises when its positions cannot even be read."""
        for _ in range(5):
            with contextlib.suppress(VenueError):
                await self.cancel_all()
            held = await self.positions()
            if not held:
                return {}
            for symbol, p in held.items():
                cid = new_client_order_id("flatten")
                with contextlib.suppress(AmbiguousOutcome, RateLimited, VenueUnavailable):
                    await self.submit(Order(symbol, -p.qty, client_order_id=cid, reduce_only=True))
            await asyncio.sleep(0.2)
        return await self.positions()

    def last_price(self, symbol: str) -> float | None:
        """The last trade price of ``symbol`` the market stream gave, or None before the
        first."""
        return self._last_price.get(symbol)

    def fills(self, *, follow: bool = True) -> AsyncIterator[Fill]:
        """The session's fills (since :meth:`start`), in the order seen, then new ones."""
        return self._fills.iterate(follow=follow)

    def feed(self) -> TickQueue:
        """The market data of ``broker.symbols`` (a :class:`~riskguard.ports.MarketFeed`):
        trades as ticks, one-minute bars (stamped at their close). One consumer."""
        return self._ticks

    @property
    def order_stream_live(self) -> bool:
        """True while the ``trade_updates`` stream is connected, listening and reconciled."""
        return self._updates is not None and self._updates.listening.is_set()

    @property
    def feed_stale(self) -> bool:
        """True while the market data has been quiet for ``stale_feed_s``."""
        return self.health.stale

    # -- reconciliation ------------------------------------------------------------------------

    async def _resynced(self) -> None:
        """The order stream (re)listens: the REST resync, then whoever holds positions against
        this venue (the Guard, through ``on_resync``) reconciles them."""
        await self.resync()
        if self.on_resync is not None:
            self.on_resync()

    async def resync(self) -> None:
        """Reads the fills since the last one seen and the working orders by REST, so that what
        the stream missed (while it was down, or silent) is known. Run after each ``listen``
        of the order stream and every ``resync_s``.

        Raises what the REST calls raise (VenueUnavailable, RateLimited, AuthFailed...)."""
        async with self._resync_lock:
            await self._read_fills()
            for o in await self._working():
                self._learn(o)

    async def _read_fills(self) -> None:
        start = self._session_start
        # Reread a little before the last fill seen (fills of one millisecond are listed in no
        # set order), never before the session's start.
        after = self._fills_after - _OVERLAP if self._fills_after is not None else start
        if start is not None and after is not None:
            after = max(after, start)
        params: dict[str, Any] = {"direction": "asc", "page_size": _PAGE}
        if after is not None:
            params["after"] = after.isoformat()
        latest = self._fills_after
        while True:
            page = await self.rest.call(
                "fills", self.rest.trading.get, "/account/activities/FILL", dict(params)
            )
            if not isinstance(page, list):
                raise VenueError(
                    f"alpaca fills: unexpected answer {type(page).__name__}", venue=VENUE
                )
            for item in page:
                activity = self._activity(item)
                if activity is None:
                    continue
                if start is not None and activity.transaction_time <= start:
                    continue  # a fill of an earlier session
                cid = await self._client_id(str(activity.order_id))
                self._fills.add(fill_from_activity(activity, self._symbol(activity.symbol), cid))
                if latest is None or activity.transaction_time > latest:
                    latest = activity.transaction_time
            if len(page) < _PAGE:
                break
            params["page_token"] = page[-1].get("id")
        self._fills_after = latest

    def _activity(self, item: Any) -> TradeActivity | None:
        try:
            return TradeActivity(**item)
        except Exception as e:  # quarantined: one unreadable activity blocks nothing behind it
            text = redact(f"unreadable FILL activity {item!r:.200}: {e}", *self._secrets)
            log.warning("alpaca: %s", text)
            self._alert("fill_quarantined", "warning", "Alpaca fill unreadable", text)
            return None

    async def _client_id(self, order_id: str) -> str:
        """The client order id of an Alpaca order id (a FILL activity has only the latter)."""
        cid = self._cids.get(order_id)
        if cid is None:
            answer = await self.rest.call(
                f"order {order_id}", self.rest.trading.get_order_by_id, order_id
            )
            cid = self._learn(answer).client_order_id or ""
        return cid

    def _learn(self, o: AlpacaOrder) -> Order:
        """Records an Alpaca order's ids and state; returns the state now held (order states
        only move forward: an old answer never reopens an order)."""
        oid = str(o.id)
        self._ids[o.client_order_id] = oid
        self._cids[oid] = o.client_order_id
        return self._states.update(order_from(o, self._symbol(o.symbol or "")))

    def _symbol(self, venue_symbol: str) -> str:
        return self._aliases.get(venue_symbol, venue_symbol)

    # -- streams -------------------------------------------------------------------------------

    async def _on_update(self, update: TradeUpdate) -> None:
        state = self._learn(update.order)
        fill = fill_from_update(update, state.symbol)
        if fill is not None:
            self._fills.add(fill)

    def _on_trade(self, symbol: str, price: float, ts: int) -> None:
        symbol = self._symbol(symbol)
        # Trades from several exchanges may arrive slightly out of order: the feed's time never
        # goes back (the Guard requires it per symbol).
        ts = max(ts, self._last_ts.get(symbol, 0))
        try:
            tick = Tick(symbol, price, ts)
        except RiskError as e:
            log.warning("alpaca: tick of %s skipped: %s", symbol, e)
            return
        self._last_ts[symbol] = ts
        self._last_price[symbol] = price
        self._ticks.put(tick)
        self.health.beat()

    def _on_bar(
        self, symbol: str, o: float, h: float, lo: float, c: float, v: float, ts: int
    ) -> None:
        symbol = self._symbol(symbol)
        close_ts = max(ts + _BAR_NS, self._last_ts.get(symbol, 0))
        try:
            bar = Bar(symbol, o, h, lo, c, v, close_ts)
        except RiskError as e:
            log.warning("alpaca: bar of %s skipped: %s", symbol, e)
            return
        self._last_ts[symbol] = close_ts
        self._ticks.put(bar)
        self.health.beat()

    def _stream_failed(self, name: str, e: BaseException, attempt: int) -> None:
        text = redact(f"{type(e).__name__}: {e}", *self._secrets)
        log.warning("alpaca %s stream failed (attempt %d): %s", name, attempt, text)
        if name not in self._down:
            self._down.add(name)
            severity = "critical" if "Auth" in type(e).__name__ else "warning"
            self._alert(
                "stream_down",
                severity,
                f"Alpaca {name} stream down",
                f"{text}; reconnecting with backoff, then reconciling by REST",
            )

    def _stream_up(self, name: str) -> None:
        if name in self._down:
            self._down.discard(name)
            self._alert(
                "stream_restored",
                "info",
                f"Alpaca {name} stream back",
                "reconnected; fills and orders reconciled by REST",
            )

    async def _watch(self) -> None:
        """The feed's staleness, and the REST resync every ``resync_s``."""
        period = max(0.05, min(1.0, self.settings.stale_feed_s / 4.0))
        due = time.monotonic() + self.resync_s
        while True:
            await asyncio.sleep(period)
            if self.markets and self._streams:
                self.health.check()
            if time.monotonic() >= due:
                due = time.monotonic() + self.resync_s
                try:
                    await self.resync()
                except VenueError as e:
                    log.warning("alpaca: periodic resync failed: %s", e)

    # -- alerts --------------------------------------------------------------------------------

    def _on_stale(self, stale: bool, seconds: float) -> None:
        if stale:
            self._alert(
                "stale_feed",
                "warning",
                "Alpaca market data stale",
                f"no trade or bar for {seconds:.1f} s (broker.stale_feed_s = "
                f"{self.settings.stale_feed_s:g})",
            )
        else:
            self._alert("feed_resumed", "info", "Alpaca market data flows again", "")

    def _on_ban(self, seconds: float, reason: str) -> None:
        self._alert(
            "rate_limit_ban",
            "critical",
            "Alpaca refuses this client",
            f"{reason}; every call waits {seconds:g} s",
        )

    def _alert(self, kind: str, severity: str, title: str, text: str) -> None:
        if self._alerts is None:
            return
        try:
            self._alerts(
                kind, severity, redact(title, *self._secrets), redact(text, *self._secrets)
            )
        except Exception as e:  # an alert sink never breaks trading
            log.warning("alpaca: alert %s not delivered: %s", kind, redact(e, *self._secrets))
