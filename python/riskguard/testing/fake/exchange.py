"""The matching engine and accounts behind the fake venue: one venue-agnostic exchange that the
dialects (:mod:`riskguard.testing.fake.dialects`) render in each venue's own REST and WebSocket
shapes.

Conventions:

- a market is named by the venue's own id (``BTCUSDT``, ``XBTUSDTM``); quantities are in the
  venue's own units (base units on spot and Binance/BingX futures, contracts on KuCoin futures:
  ``contract_size`` base units each), unsigned, with a ``side``;
- prices are in quote currency; ``ts`` is integer ns since the epoch (the price path's time
  when it is replayed, else the wall clock);
- a market order fills at the current price when it is matched; a limit order rests until the
  price reaches it; a stop (or stop-limit) triggers when the price trades at or through it;
- a spot account holds assets (it cannot sell what it does not hold); a futures account holds a
  quote wallet and one net position per market (reduce-only orders never increase it).

Every method is thread-safe (one lock): the fake venue serves requests in its own thread while a
test moves prices from another. Listeners (the dialects' streams) are called under the lock,
with ``("order", FakeOrder)`` and ``("trade", FakeTrade)`` and ``("price", market id, price,
ts)``; they must not block.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Exchange", "FakeMarket", "FakeOrder", "FakeTrade", "Reject"]


class Reject(Exception):
    """The exchange refuses a request: ``code`` is a short stable name (``DUPLICATE_CLIENT_ID``,
    ``UNKNOWN_ORDER``, ``INSUFFICIENT_FUNDS``, ``MIN_NOTIONAL``, ``LOT_SIZE``, ``TICK_SIZE``,
    ``REDUCE_ONLY``, ``UNKNOWN_MARKET``, ``BAD_REQUEST``) that each dialect turns into its
    venue's error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class FakeMarket:
    """One market: the venue's ``id`` and the unified ``base``/``quote``/``settle`` assets,
    ``kind`` ``"spot"`` or ``"swap"``, the price step ``tick``, quantity step ``lot`` (venue
    units), minimum quantity and notional, and ``contract_size`` (base units per venue unit)."""

    id: str
    base: str
    quote: str
    kind: str = "spot"
    tick: float = 0.01
    lot: float = 0.001
    min_qty: float = 0.001
    min_notional: float = 5.0
    contract_size: float = 1.0
    max_leverage: float = 20.0

    @property
    def settle(self) -> str | None:
        return self.quote if self.kind == "swap" else None


@dataclass
class FakeOrder:
    """An order as the exchange holds it. ``status`` is ``new``, ``partially_filled``,
    ``filled``, ``cancelled``, ``expired`` or ``rejected``."""

    order_id: int
    client_id: str
    market: FakeMarket
    side: str
    type: str
    qty: float
    price: float | None = None
    stop_price: float | None = None
    reduce_only: bool = False
    tif: str = "GTC"
    status: str = "new"
    filled: float = 0.0
    cost: float = 0.0
    fee: float = 0.0
    triggered: bool = False
    rested: bool = False  # survived its first matching: a later fill adds liquidity
    created_ns: int = 0
    updated_ns: int = 0

    @property
    def average(self) -> float | None:
        return self.cost / (self.filled * self.market.contract_size) if self.filled else None

    @property
    def is_open(self) -> bool:
        return self.status in ("new", "partially_filled")

    @property
    def remaining(self) -> float:
        return self.qty - self.filled


@dataclass(frozen=True)
class FakeTrade:
    """One execution of an order: ``qty`` venue units at ``price``, ``fee`` in quote currency."""

    trade_id: int
    order: FakeOrder
    qty: float
    price: float
    fee: float
    maker: bool
    ts: int

    @property
    def quote_qty(self) -> float:
        return self.qty * self.order.market.contract_size * self.price


@dataclass
class _Position:
    qty: float = 0.0  # signed, venue units
    entry: float = 0.0
    realized: float = 0.0


@dataclass
class _Script:
    """Scripted matching: the next ``partial`` market orders fill in that many parts."""

    partial: list[int] = field(default_factory=list)


def _steps(value: float, step: float) -> bool:
    return abs(round(value / step) * step - value) <= 1e-9 * max(1.0, abs(value))


class Exchange:
    """The fake exchange: ``markets`` (a list of :class:`FakeMarket`), a quote ``cash`` balance
    (spot: the free quote asset; futures: the wallet), taker and maker fee rates, and the
    starting ``prices`` by market id. ``clock`` gives ns (the wall clock by default); a
    price path moves it with :meth:`set_price`'s ``ts``."""

    def __init__(
        self,
        markets: list[FakeMarket],
        *,
        cash: float = 100_000.0,
        prices: dict[str, float] | None = None,
        taker_fee: float = 0.0004,
        maker_fee: float = 0.0002,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.markets = {m.id: m for m in markets}
        self.lock = threading.RLock()
        self.cash = float(cash)
        self.assets: dict[str, float] = {}
        self.taker_fee = taker_fee
        self.maker_fee = maker_fee
        self.prices: dict[str, float] = dict(prices or {})
        self._clock = clock
        self._ts: int | None = None
        self.orders: dict[int, FakeOrder] = {}
        self.by_client: dict[str, FakeOrder] = {}
        self.trades: list[FakeTrade] = []
        self.positions: dict[str, _Position] = {}
        self.listeners: list[Callable[..., None]] = []
        self.script = _Script()
        self._ids = itertools.count(1_000_001)
        self._trade_ids = itertools.count(5_000_001)

    # -- time and prices -----------------------------------------------------------------------

    def now(self) -> int:
        """ns: the last price's time when a path is replayed, else the clock's."""
        return self._ts if self._ts is not None else self._clock()

    def market(self, market_id: str) -> FakeMarket:
        try:
            return self.markets[market_id]
        except KeyError:
            raise Reject("UNKNOWN_MARKET", f"unknown symbol {market_id!r}") from None

    def set_price(self, market_id: str, price: float, ts: int | None = None) -> None:
        """The market trades at ``price`` (at ``ts`` ns, or now): resting orders it reaches
        fill, stops it crosses trigger, and the price streams to the listeners."""
        with self.lock:
            self.market(market_id)
            if ts is not None:
                self._ts = ts
            self.prices[market_id] = float(price)
            self._emit("price", market_id, float(price), self.now())
            self._match(market_id)

    # -- orders --------------------------------------------------------------------------------

    def place(
        self,
        market_id: str,
        side: str,
        type: str,
        qty: float,
        *,
        client_id: str,
        price: float | None = None,
        stop_price: float | None = None,
        reduce_only: bool = False,
        tif: str = "GTC",
        match: bool = True,
    ) -> FakeOrder:
        """A new order, checked against the market's filters and the account; with ``match``
        it is matched at once (a market order fills now), else at the next :meth:`match`.

        Raises Reject: a client id already used, a filter, funds, reduce-only.
        """
        with self.lock:
            m = self.market(market_id)
            if client_id in self.by_client:
                raise Reject("DUPLICATE_CLIENT_ID", f"client order id {client_id!r} already used")
            if side not in ("buy", "sell"):
                raise Reject("BAD_REQUEST", f"side {side!r}")
            if type not in ("market", "limit", "stop", "stop_limit"):
                raise Reject("BAD_REQUEST", f"order type {type!r}")
            if not (qty > 0 and math.isfinite(qty)):
                raise Reject("BAD_REQUEST", f"quantity {qty!r}")
            if not _steps(qty, m.lot) or qty < m.min_qty:
                raise Reject("LOT_SIZE", f"quantity {qty} is not a multiple of {m.lot}")
            for p in (price, stop_price):
                if p is not None and not _steps(p, m.tick):
                    raise Reject("TICK_SIZE", f"price {p} is not a multiple of {m.tick}")
            ref = price or stop_price or self.prices.get(market_id)
            if ref is None:
                raise Reject("BAD_REQUEST", f"no price for {market_id}")
            if qty * m.contract_size * ref < m.min_notional and not reduce_only:
                raise Reject("MIN_NOTIONAL", f"notional {qty * ref:g} below {m.min_notional}")
            if reduce_only:
                self._check_reduce(m, side, qty)
            self._check_funds(m, side, qty, ref)
            now = self.now()
            order = FakeOrder(
                next(self._ids),
                client_id,
                m,
                side,
                type,
                float(qty),
                price,
                stop_price,
                reduce_only,
                tif,
                created_ns=now,
                updated_ns=now,
            )
            self.orders[order.order_id] = order
            self.by_client[client_id] = order
            self._emit("order", replace(order))
            if match:
                self._match(market_id, only=order)
            return order

    def match(self, market_id: str | None = None) -> None:
        """Matches the working orders (of ``market_id``, or all) at the current prices."""
        with self.lock:
            for mid in [market_id] if market_id else list(self.markets):
                self._match(mid)

    def get(self, *, client_id: str | None = None, order_id: int | None = None) -> FakeOrder:
        """An order by its client id or the exchange's id. Raises Reject UNKNOWN_ORDER."""
        with self.lock:
            order = (
                self.by_client.get(client_id)
                if client_id is not None
                else self.orders.get(order_id)  # type: ignore[arg-type]
            )
            if order is None:
                raise Reject("UNKNOWN_ORDER", "order does not exist")
            return order

    def cancel(self, *, client_id: str | None = None, order_id: int | None = None) -> FakeOrder:
        """Cancels a working order. Raises Reject UNKNOWN_ORDER: unknown, or already final."""
        with self.lock:
            order = self.get(client_id=client_id, order_id=order_id)
            if not order.is_open:
                raise Reject("UNKNOWN_ORDER", f"order {order.client_id} is {order.status}")
            self._end(order, "cancelled")
            return order

    def cancel_all(self, market_id: str | None = None) -> list[FakeOrder]:
        with self.lock:
            done = []
            for order in self.open_orders(market_id):
                self._end(order, "cancelled")
                done.append(order)
            return done

    def open_orders(self, market_id: str | None = None) -> list[FakeOrder]:
        with self.lock:
            return [
                o
                for o in self.orders.values()
                if o.is_open and (market_id is None or o.market.id == market_id)
            ]

    def my_trades(self, market_id: str | None = None, since_ns: int = 0) -> list[FakeTrade]:
        with self.lock:
            return [
                t
                for t in self.trades
                if t.ts >= since_ns and (market_id is None or t.order.market.id == market_id)
            ]

    # -- accounts ------------------------------------------------------------------------------

    def position(self, market_id: str) -> _Position:
        return self.positions.setdefault(market_id, _Position())

    def equity(self) -> float:
        """The quote wallet plus unrealised P&L (futures) or plus the assets at their prices."""
        with self.lock:
            value = self.cash
            for mid, p in self.positions.items():
                m = self.markets[mid]
                mark = self.prices.get(mid, p.entry)
                value += p.qty * m.contract_size * (mark - p.entry)
            for mid, m in self.markets.items():
                if m.kind == "spot":
                    value += self.assets.get(m.base, 0.0) * self.prices.get(mid, 0.0)
            return value

    def fund(self, asset: str, amount: float) -> None:
        """Deposits ``amount`` of ``asset`` (a spot base asset) into the account."""
        with self.lock:
            self.assets[asset] = self.assets.get(asset, 0.0) + amount

    def _check_reduce(self, m: FakeMarket, side: str, qty: float) -> None:
        held = self.position(m.id).qty
        pending = sum(
            o.remaining * (1 if o.side == "buy" else -1)
            for o in self.open_orders(m.id)
            if o.reduce_only
        )
        if held == 0 or (held > 0) == (side == "buy") or qty > abs(held + pending) + 1e-12:
            raise Reject("REDUCE_ONLY", "reduce-only order would increase the position")

    def _check_funds(self, m: FakeMarket, side: str, qty: float, price: float) -> None:
        notional = qty * m.contract_size * price
        if m.kind == "spot":
            if side == "buy" and notional * (1 + self.taker_fee) > self.cash + 1e-9:
                raise Reject("INSUFFICIENT_FUNDS", "account has insufficient balance")
            if side == "sell" and qty > self.assets.get(m.base, 0.0) + 1e-12:
                raise Reject("INSUFFICIENT_FUNDS", f"account has insufficient {m.base}")
            return
        held = self.position(m.id).qty * m.contract_size
        after = abs(held + (qty if side == "buy" else -qty) * m.contract_size)
        if after > abs(held) and after * price > m.max_leverage * max(self.equity(), 0.0):
            raise Reject("INSUFFICIENT_FUNDS", "margin is insufficient")

    # -- matching ------------------------------------------------------------------------------

    def _match(self, market_id: str, only: FakeOrder | None = None) -> None:
        price = self.prices.get(market_id)
        if price is None:
            return
        working = [only] if only is not None else self.open_orders(market_id)
        for order in working:
            if not order.is_open:
                continue
            if order.type in ("stop", "stop_limit") and not order.triggered:
                assert order.stop_price is not None
                stop = order.stop_price
                if not (price >= stop if order.side == "buy" else price <= stop):
                    continue
                order.triggered = True
            limit = order.price if order.type in ("limit", "stop_limit") else None
            if limit is not None and (price > limit if order.side == "buy" else price < limit):
                continue
            self._fill(order, price, order.type == "limit" and order.rested)
        for order in working:
            order.rested = True

    def _fill(self, order: FakeOrder, price: float, maker: bool) -> None:
        m = order.market
        qty = order.remaining
        if order.reduce_only:
            held = self.position(m.id).qty
            qty = min(qty, abs(held)) if held and (held > 0) != (order.side == "buy") else 0.0
            if qty <= 0:
                self._end(order, "expired")
                return
        parts = self.script.partial.pop(0) if order.type == "market" and self.script.partial else 1
        chunk = round(qty / parts / m.lot) * m.lot if parts > 1 else qty
        for i in range(parts):
            part = qty - chunk * (parts - 1) if i == parts - 1 else chunk
            if part <= 0:
                continue
            self._execute(order, part, price, maker)
        order.status = "filled" if order.remaining <= 1e-12 else "partially_filled"
        if order.reduce_only and order.status == "partially_filled":
            order.status = "expired"
        order.updated_ns = self.now() + 1
        self._emit("order", replace(order))

    def _execute(self, order: FakeOrder, qty: float, price: float, maker: bool) -> None:
        m = order.market
        notional = qty * m.contract_size * price
        fee = notional * (self.maker_fee if maker else self.taker_fee)
        sign = 1.0 if order.side == "buy" else -1.0
        if m.kind == "spot":
            self.cash -= sign * notional + fee
            self.assets[m.base] = self.assets.get(m.base, 0.0) + sign * qty
        else:
            p = self.position(m.id)
            new = p.qty + sign * qty
            if p.qty == 0 or (p.qty > 0) == (sign > 0):
                p.entry = (p.entry * abs(p.qty) + price * qty) / abs(new)
            else:
                closed = min(qty, abs(p.qty))
                pnl = closed * m.contract_size * (price - p.entry) * (1 if p.qty > 0 else -1)
                p.realized += pnl
                self.cash += pnl
                if abs(new) > 1e-12 and (new > 0) != (p.qty > 0):
                    p.entry = price
            p.qty = 0.0 if abs(new) <= 1e-12 else new
            if p.qty == 0.0:
                p.entry = 0.0
            self.cash -= fee
        order.filled += qty
        order.cost += notional
        order.fee += fee
        trade = FakeTrade(next(self._trade_ids), order, qty, price, fee, maker, self.now())
        self.trades.append(trade)
        self._emit("trade", trade)

    def _end(self, order: FakeOrder, status: str) -> None:
        order.status = status
        order.updated_ns = self.now() + 1
        self._emit("order", replace(order))

    def _emit(self, kind: str, *args: Any) -> None:
        for listener in list(self.listeners):
            listener(kind, *args)
