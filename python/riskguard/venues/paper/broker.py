"""A deterministic paper broker: the embedded default :class:`~riskguard.brokers.Broker`.

Time advances only through the data fed to it (:meth:`PaperBroker.on_tick`,
:meth:`PaperBroker.on_bar`), never by the wall clock, so a replay gives the same fills every
time. Quantities are signed (``+`` buy, ``-`` sell), prices, fees and cash in quote currency,
``ts`` integer ns since the epoch, UTC.

Execution rules
---------------
- Nothing fills inside ``submit``: an order is first considered at the next tick or bar of its
  symbol. A market order fills at that tick's price or that bar's open.
- A tick is a single price point. A bar is walked as a path of four points, moving in a
  straight line between them:

  * with a long position in the symbol at the start of the bar: open → low → high → close;
  * with a short position: open → high → low → close;
  * flat: open → low → high → close if close >= open, else open → high → low → close.

  The adverse extreme of an open position is visited first, so when a protective stop and a
  profit target of one position are both inside one bar, the stop fills first (and, with a
  shared ``oco_group``, cancels the target).
- At the first point of a tick or bar (a gap), a marketable order fills at that point's price,
  which may be better than a limit or worse than a stop. Between points, a limit fills at its
  limit price, a stop or trailing stop at its stop level, a stop-limit triggers at its stop and
  fills there if its limit allows, else rests as a limit. Between points, orders are filled in
  the order the price meets them, stops first at equal levels, then in submission order; at
  the first point, in submission order.
- A trailing stop's level follows the best price seen since submission (starting from the last
  known price, or the first price after submission): for a sell, ``best - trail_amount`` or
  ``best * (1 - trail_percent / 100)``; for a buy, ``best + amount`` or
  ``best * (1 + percent / 100)``.
- IOC orders are considered at the first point after submission only, then cancelled. DAY orders
  are cancelled by the first tick or bar (of any symbol) whose ``ts`` reaches the session end
  after their submission: UTC midnight plus ``day_end_offset_ns``.
- Fills are all or nothing; a bar's fills carry the bar's ``ts`` (the time of its open). Each
  fill's ``fill_id`` is ``"<client order id>-<n>"``, ``n`` counting this broker's fills from 1.

Slippage applies to taker fills only, adversely, as a fraction of the reference price, and never
beyond an order's limit price. Commissions apply to every fill. Maker fills are limit orders that
rested past their first price point; everything else is a taker fill.

Accounting
----------
Cash moves by ``-qty * price - fee`` on every fill (a short sale credits its proceeds). Equity is
cash plus every position marked at its last price. A fill that increases gross exposure is
refused unless ``gross exposure <= max_leverage * equity`` after it (with ``max_leverage = 1``
that means cash cannot go negative: "insufficient funds"), and a fill that would leave a
position short is refused unless ``allow_short``. These checks run at submission against the
order's reference price and again at fill time; open orders do not reserve buying power. A
refusal at submission returns the order with status ``rejected``; one at fill time rejects it
then. Realized P&L is from prices only; fees are accounted for separately.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, replace
from numbers import Integral
from typing import Any

from riskguard._core import RiskError
from riskguard.model.checks import non_negative, positive, text
from riskguard.model.orders import (
    Capabilities,
    ExecutionRecord,
    Fill,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Position,
    TimeInForce,
)
from riskguard.venues.paper.costs import (
    CommissionModel,
    NoCommission,
    NoSlippage,
    SlippageModel,
)

__all__ = ["PaperBroker"]

DAY_NS = 86_400 * 1_000_000_000
# Relative tolerance for float comparisons of quantities and money: sums of fractional
# quantities leave dust that must not read as an open position or a breached limit.
_EPS = 1e-9


# ---------------------------------------------------------------------------------------------
# The broker


@dataclass
class _Working:
    order: Order
    seq: int
    ref_price: float | None
    triggered: bool = False
    rested: bool = False
    best: float | None = None
    expires_at: int | None = None


def _timestamp(value: Any, arg: str = "ts") -> int:
    if type(value) is int and value >= 0:  # the common case, without the slower ABC check
        return value
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise RiskError(f"{arg} must be an integer (ns since the epoch, UTC), got {value!r}")
    ts = int(value)
    if ts < 0:
        raise RiskError(f"{arg} must be >= 0, got {ts}")
    return ts


def _sign(x: float) -> float:
    return 1.0 if x > 0 else -1.0


def _is_stop_like(w: _Working) -> bool:
    kind = w.order.type
    return kind in (OrderType.STOP, OrderType.TRAILING_STOP) or (
        kind is OrderType.STOP_LIMIT and not w.triggered
    )


class PaperBroker:
    """A deterministic simulated broker implementing :class:`~riskguard.brokers.Broker`; the
    execution and accounting rules are in this module's docstring.

    ``cash`` is the starting cash (quote currency, > 0). ``slippage`` and ``commission`` are the
    models (default none). ``allow_short`` permits short positions; ``fractional`` permits
    non-whole quantities; ``max_leverage`` (>= 1) bounds gross exposure over equity. ``symbols``,
    when given, is the only set of symbols accepted; others raise RiskError. ``day_end_offset_ns``
    in [0, 1 day) moves the DAY-order session end from UTC midnight. ``atr_period`` is the
    number of bars of the ATR passed to the slippage model.

    Feed data with :meth:`on_tick` and :meth:`on_bar`; ``ts`` must never decrease across calls.
    The broker is single-threaded: use it from one thread and one event loop.
    """

    name = "paper"

    def __init__(
        self,
        cash: float = 100_000.0,
        *,
        slippage: SlippageModel | None = None,
        commission: CommissionModel | None = None,
        allow_short: bool = False,
        fractional: bool = True,
        max_leverage: float = 1.0,
        symbols: Iterable[str] | None = None,
        day_end_offset_ns: int = 0,
        atr_period: int = 14,
    ) -> None:
        self._cash = positive(cash, "cash")
        self._slippage: SlippageModel = slippage if slippage is not None else NoSlippage()
        self._commission: CommissionModel = commission if commission is not None else NoCommission()
        if not callable(getattr(self._slippage, "fraction", None)):
            raise RiskError(f"slippage must be a slippage model, got {slippage!r}")
        if not callable(getattr(self._commission, "fee", None)):
            raise RiskError(f"commission must be a commission model, got {commission!r}")
        if not isinstance(allow_short, bool):
            raise RiskError(f"allow_short must be a bool, got {allow_short!r}")
        if not isinstance(fractional, bool):
            raise RiskError(f"fractional must be a bool, got {fractional!r}")
        self._max_leverage = positive(max_leverage, "max_leverage")
        if self._max_leverage < 1.0:
            raise RiskError(f"max_leverage must be >= 1, got {self._max_leverage}")
        self._symbols = None if symbols is None else {text(s, "symbols") for s in symbols}
        offset = _timestamp(day_end_offset_ns, "day_end_offset_ns")
        if offset >= DAY_NS:
            raise RiskError(f"day_end_offset_ns must be below one day ({DAY_NS}), got {offset}")
        self._day_offset = offset
        if isinstance(atr_period, bool) or not isinstance(atr_period, Integral) or atr_period < 1:
            raise RiskError(f"atr_period must be an integer >= 1, got {atr_period!r}")
        caps = Capabilities(frozenset(OrderType), allow_short, fractional)
        self._capabilities: Capabilities = caps
        self._now: int | None = None
        self._last: dict[str, float] = {}
        self._tr: dict[str, deque[float]] = {}
        self._prev_close: dict[str, float] = {}
        self._atr_period: int = int(atr_period)
        self._qty: dict[str, float] = {}
        self._avg: dict[str, float] = {}
        self._realized: dict[str, float] = {}
        self._fees: float = 0.0
        self._orders: dict[str, Order] = {}
        self._working: dict[str, _Working] = {}
        self._seq: int = 0
        self._fills: list[Fill] = []
        self._log: list[ExecutionRecord] = []
        self._waiters: set[asyncio.Event] = set()

    # -- protocol ------------------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        """Every order type; shorting and fractional quantities as configured."""
        return self._capabilities

    async def submit(self, order: Order) -> Order:
        """Accept ``order`` (status ``new``) or refuse it (status ``rejected`` with a reason).

        A ``client_order_id`` seen before returns that first order's current state and does
        nothing else. A missing id is assigned (``paper-<n>``). Raises RiskError for a non-Order
        and, when ``symbols`` was configured, for an unknown symbol.
        """
        if not isinstance(order, Order):
            raise RiskError(f"order must be an Order, got {type(order).__name__}")
        if order.client_order_id is not None and order.client_order_id in self._orders:
            return self._orders[order.client_order_id]
        symbol = self._known(order.symbol)
        self._seq += 1
        cid = order.client_order_id
        if cid is None:
            n = self._seq
            while f"paper-{n}" in self._orders:
                n += 1
            cid = f"paper-{n}"
        snap = replace(
            order,
            client_order_id=cid,
            status=OrderStatus.NEW,
            filled_qty=0.0,
            avg_fill_price=None,
            reason="",
            submitted_ts=self._now,
        )
        reason = self._refusal_at_submit(snap)
        if reason is not None:
            snap = replace(snap, status=OrderStatus.REJECTED, reason=reason)
            self._orders[cid] = snap
            return snap
        self._orders[cid] = snap
        w = _Working(snap, self._seq, ref_price=self._last.get(symbol))
        if snap.type is OrderType.TRAILING_STOP:
            w.best = self._last.get(symbol)
        if snap.time_in_force is TimeInForce.DAY and self._now is not None:
            w.expires_at = self._session_end_after(self._now)
        self._working[cid] = w
        return snap

    async def cancel(self, client_order_id: str) -> Order:
        """Cancel a working order and return it (status ``cancelled``); an order already final
        is returned unchanged. Raises RiskError for an id never submitted."""
        cid = text(client_order_id, "client_order_id")
        if cid not in self._orders:
            raise RiskError(f"client_order_id {cid!r} is unknown to this broker")
        if cid in self._working:
            self._finish(self._working[cid], OrderStatus.CANCELLED, "cancelled by caller")
        return self._orders[cid]

    async def cancel_all(self, symbol: str | None = None) -> list[Order]:
        """Cancel every working order, or only those of ``symbol``; return them cancelled."""
        if symbol is not None:
            symbol = text(symbol, "symbol")
        out = []
        for w in list(self._working.values()):
            if symbol is None or w.order.symbol == symbol:
                self._finish(w, OrderStatus.CANCELLED, "cancelled by caller")
                out.append(self._orders[w.order.client_order_id or ""])
        return out

    async def positions(self) -> dict[str, Position]:
        """Every open position by symbol."""
        return {symbol: self.position(symbol) for symbol in self._qty}

    async def balance(self) -> float:
        """Cash in quote currency."""
        return self._cash

    async def open_orders(self) -> list[Order]:
        """Working orders, in submission order."""
        return [w.order for w in self._working.values()]

    async def fills(self, *, follow: bool = True) -> AsyncIterator[Fill]:
        """Every fill so far, in order; then, with ``follow``, each new fill as data produces
        it (waiting forever for the next one). ``follow=False`` ends after the fills so far."""
        i = 0
        while True:
            while i < len(self._fills):
                yield self._fills[i]
                i += 1
            if not follow:
                return
            event = asyncio.Event()
            self._waiters.add(event)
            try:
                await event.wait()
            finally:
                self._waiters.discard(event)

    # -- synchronous views ---------------------------------------------------------------------

    @property
    def cash(self) -> float:
        """Cash in quote currency."""
        return self._cash

    @property
    def now(self) -> int | None:
        """The broker's clock: the ``ts`` of the last data fed (ns since the epoch, UTC)."""
        return self._now

    @property
    def fees_paid(self) -> float:
        """Total fees, quote currency."""
        return self._fees

    @property
    def realized_pnl(self) -> float:
        """Realized P&L over every symbol, quote currency, before fees."""
        return sum(self._realized.values())

    @property
    def execution_log(self) -> list[ExecutionRecord]:
        """One record per fill, in order."""
        return list(self._log)

    @property
    def fill_log(self) -> list[Fill]:
        """Every fill, in order."""
        return list(self._fills)

    def fills_after(self, n: int) -> list[Fill]:
        """The fills after the first ``n``, in order (empty when there are none)."""
        return self._fills[n:] if n < len(self._fills) else []

    def position(self, symbol: str) -> Position:
        """Quantity, average price and realized P&L of ``symbol`` (zeros if never traded)."""
        symbol = text(symbol, "symbol")
        return Position(
            self._qty.get(symbol, 0.0),
            self._avg.get(symbol, 0.0),
            self._realized.get(symbol, 0.0),
        )

    def order(self, client_order_id: str) -> Order:
        """The current state of an order, at once (the :class:`~riskguard.brokers.OrderLookup`
        a caller settles an unanswered submission with). Raises RiskError for an id never
        submitted."""
        cid = text(client_order_id, "client_order_id")
        if cid not in self._orders:
            raise RiskError(f"client_order_id {cid!r} is unknown to this broker")
        return self._orders[cid]

    def equity(self) -> float:
        """Cash plus every position at its last price (its average price before any data)."""
        return self._cash + sum(q * self._mark(s) for s, q in self._qty.items())

    def gross_exposure(self) -> float:
        """Every position's absolute value at its last price (its average price before any
        data), summed: longs and shorts alike, in quote currency."""
        return sum(abs(q) * self._mark(s) for s, q in self._qty.items())

    # -- data ----------------------------------------------------------------------------------

    def on_tick(self, symbol: str, price: float, ts: int, volume: float | None = None) -> None:
        """A trade at ``price`` (quote currency, > 0) at ``ts`` (ns, never decreasing), with an
        optional ``volume`` (units, >= 0) for volume-based slippage."""
        symbol = self._known(symbol)
        price = positive(price, "price")
        vol = None if volume is None else non_negative(volume, "volume")
        ts = self._check_ts(ts)
        self._now = ts
        if self._working:
            self._expire(ts)
            self._run(symbol, [price], ts, vol, self._atr(symbol))
        self._last[symbol] = price

    def on_bar(
        self,
        symbol: str,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        ts: int,
    ) -> None:
        """An OHLC bar (prices in quote currency, > 0, ``low <= open, close <= high``), its
        ``volume`` in units (>= 0), ``ts`` the time of its open (ns, never decreasing). Orders
        fill along the path in this module's docstring."""
        symbol = self._known(symbol)
        if type(open) is type(high) is type(low) is type(close) is float and (
            0.0 < low <= min(open, close) and max(open, close) <= high < math.inf
        ):  # the common case, checked at once
            o, h, lo, c = open, high, low, close
        else:
            o = positive(open, "open")
            h = positive(high, "high")
            lo = positive(low, "low")
            c = positive(close, "close")
        if not (lo <= min(o, c) and h >= max(o, c)):
            raise RiskError(
                f"bar must satisfy low <= open, close <= high, got open={o} high={h} low={lo} "
                f"close={c}"
            )
        vol = non_negative(volume, "volume")
        ts = self._check_ts(ts)
        self._now = ts
        prev = self._prev_close.get(symbol)
        tr = h - lo if prev is None else max(h - lo, abs(h - prev), abs(lo - prev))
        self._tr.setdefault(symbol, deque(maxlen=self._atr_period)).append(tr)
        self._prev_close[symbol] = c
        if self._working:
            self._expire(ts)
            pos = self._qty.get(symbol, 0.0)
            low_first = pos > 0 or (pos == 0 and c >= o)
            path = [o, lo, h, c] if low_first else [o, h, lo, c]
            self._run(symbol, path, ts, vol, self._atr(symbol))
        self._last[symbol] = c

    # -- internals -----------------------------------------------------------------------------

    def _known(self, symbol: Any) -> str:
        symbol = text(symbol, "symbol")
        if self._symbols is not None and symbol not in self._symbols:
            raise RiskError(f"symbol {symbol!r} is not one of {sorted(self._symbols)}")
        return symbol

    def _check_ts(self, value: Any) -> int:
        ts = _timestamp(value)
        if self._now is not None and ts < self._now:
            raise RiskError(f"ts must not go backwards: got {ts} after {self._now}")
        return ts

    def _atr(self, symbol: str) -> float | None:
        trs = self._tr.get(symbol)
        return sum(trs) / len(trs) if trs else None

    def _mark(self, symbol: str) -> float:
        return self._last.get(symbol, self._avg.get(symbol, 0.0))

    def _session_end_after(self, ts: int) -> int:
        return ((ts - self._day_offset) // DAY_NS + 1) * DAY_NS + self._day_offset

    def _expire(self, ts: int) -> None:
        for w in list(self._working.values()):
            if w.order.time_in_force is not TimeInForce.DAY:
                continue
            if w.expires_at is None:
                # Submitted before any data: its day is the one of the first data it sees.
                w.expires_at = self._session_end_after(ts)
            elif ts >= w.expires_at:
                self._finish(w, OrderStatus.CANCELLED, f"DAY order expired at {w.expires_at}")

    def _finish(self, w: _Working, status: OrderStatus, reason: str, **state: Any) -> None:
        cid = w.order.client_order_id or ""
        self._working.pop(cid, None)
        w.order = replace(w.order, status=status, reason=reason, **state)
        self._orders[cid] = w.order

    def _reference_price(self, order: Order) -> float | None:
        if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            return order.limit_price
        if order.type is OrderType.STOP:
            return order.stop_price
        return self._last.get(order.symbol)

    def _refusal_at_submit(self, order: Order) -> str | None:
        if not self._capabilities.fractional and not float(order.qty).is_integer():
            return f"fractional quantities are not supported, got qty {order.qty}"
        price = self._reference_price(order)
        if price is None:
            # No price known yet: only the short-selling rule can be checked now.
            new_qty = self._qty.get(order.symbol, 0.0) + order.qty
            if not self._capabilities.shorting and new_qty < -_EPS * abs(order.qty):
                return self._short_reason(order.symbol, order.qty)
            return None
        fee = self._commission.fee(order.qty, price, Liquidity.TAKER)
        return self._refusal(order.symbol, order.qty, price, fee)

    def _short_reason(self, symbol: str, qty: float) -> str:
        have = self._qty.get(symbol, 0.0)
        return f"short selling is disabled: selling {-qty} of {symbol} with a position of {have}"

    def _refusal(self, symbol: str, qty: float, price: float, fee: float) -> str | None:
        """Why a fill of ``qty`` at ``price`` costing ``fee`` is refused, or None."""
        pos = self._qty.get(symbol, 0.0)
        new = pos + qty
        tol = _EPS * max(abs(pos), abs(qty))
        if not self._capabilities.shorting and new < -tol:
            return self._short_reason(symbol, qty)
        if abs(new) <= abs(pos) + tol and pos * new >= 0:
            # Reducing or closing is always allowed, or a breached limit would trap a position.
            return None
        cash = self._cash - qty * price - fee
        marks = {s: self._mark(s) for s in self._qty}
        marks[symbol] = price
        qtys = dict(self._qty)
        qtys[symbol] = new
        gross = sum(abs(q) * marks[s] for s, q in qtys.items())
        equity = cash + sum(q * marks[s] for s, q in qtys.items())
        limit = self._max_leverage * equity
        if gross <= limit + _EPS * max(gross, 1.0):
            return None
        if cash < 0 and self._max_leverage <= 1.0:
            return (
                f"insufficient funds: {qty} {symbol} at {price} plus fee {fee} needs "
                f"{qty * price + fee}, cash is {self._cash}"
            )
        return (
            f"margin limit: gross exposure {gross} would exceed max_leverage "
            f"{self._max_leverage} x equity {equity}"
        )

    def _trail_level(self, w: _Working) -> float:
        o = w.order
        best = w.best if w.best is not None else 0.0
        if o.trail_amount is not None:
            return best - o.trail_amount if o.qty < 0 else best + o.trail_amount
        pct = (o.trail_percent or 0.0) / 100.0
        return best * (1.0 - pct) if o.qty < 0 else best * (1.0 + pct)

    def _run(
        self, symbol: str, path: list[float], ts: int, volume: float | None, atr: float | None
    ) -> None:
        orders = [w for w in self._working.values() if w.order.symbol == symbol]
        if not orders:
            return
        ctx = (ts, volume, atr)
        p0 = path[0]
        for w in orders:
            if self._live(w):
                self._at_point(w, p0, ctx)
        for w in orders:
            if not self._live(w):
                continue
            if w.order.time_in_force is TimeInForce.IOC:
                self._finish(w, OrderStatus.CANCELLED, "IOC: not filled on arrival")
                continue
            self._after_point(w, p0)
        for a, b in zip(path[:-1], path[1:], strict=True):
            self._segment(orders, a, b, ctx)
            for w in orders:
                if self._live(w):
                    self._after_point(w, b)

    def _live(self, w: _Working) -> bool:
        return (w.order.client_order_id or "") in self._working

    def _after_point(self, w: _Working, p: float) -> None:
        if w.order.type is OrderType.LIMIT or w.triggered:
            w.rested = True
        if w.order.type is OrderType.TRAILING_STOP:
            if w.best is None:
                w.best = p
            else:
                w.best = max(w.best, p) if w.order.qty < 0 else min(w.best, p)

    def _at_point(self, w: _Working, p: float, ctx: tuple[int, float | None, float | None]) -> None:
        o = w.order
        buy = o.qty > 0
        kind = o.type
        if kind is OrderType.MARKET:
            self._fill(w, p, Liquidity.TAKER, w.ref_price if w.ref_price is not None else p, ctx)
        elif kind is OrderType.STOP:
            assert o.stop_price is not None
            if (p >= o.stop_price) if buy else (p <= o.stop_price):
                self._fill(w, p, Liquidity.TAKER, o.stop_price, ctx)
        elif kind is OrderType.TRAILING_STOP:
            if w.best is None:
                w.best = p
            level = self._trail_level(w)
            if (p >= level) if buy else (p <= level):
                self._fill(w, p, Liquidity.TAKER, level, ctx)
        else:
            assert o.limit_price is not None
            if kind is OrderType.STOP_LIMIT and not w.triggered:
                assert o.stop_price is not None
                if not ((p >= o.stop_price) if buy else (p <= o.stop_price)):
                    return
                w.triggered = True
            if (p <= o.limit_price) if buy else (p >= o.limit_price):
                liquidity = Liquidity.MAKER if w.rested else Liquidity.TAKER
                self._fill(w, p, liquidity, o.limit_price, ctx)

    def _segment(
        self,
        orders: list[_Working],
        a: float,
        b: float,
        ctx: tuple[int, float | None, float | None],
    ) -> None:
        if a == b:
            return
        up = b > a
        hits = []
        for w in orders:
            if not self._live(w):
                continue
            o = w.order
            buy = o.qty > 0
            if _is_stop_like(w):
                if o.type is OrderType.TRAILING_STOP:
                    level = self._trail_level(w)
                else:
                    assert o.stop_price is not None
                    level = o.stop_price
                # A buy stop is met by a rising price, a sell stop by a falling one.
                if buy == up and (b >= level if up else b <= level):
                    level = max(level, a) if up else min(level, a)
                    hits.append((abs(level - a), 0, w.seq, level, w))
            else:
                assert o.limit_price is not None
                level = o.limit_price
                # A buy limit is met by a falling price, a sell limit by a rising one.
                if buy != up and (b >= level if up else b <= level):
                    level = max(level, a) if up else min(level, a)
                    hits.append((abs(level - a), 1, w.seq, level, w))
        hits.sort(key=lambda h: h[:3])
        for _, _, _, level, w in hits:
            if not self._live(w):
                continue
            o = w.order
            if o.type is OrderType.STOP:
                assert o.stop_price is not None
                self._fill(w, level, Liquidity.TAKER, o.stop_price, ctx)
            elif o.type is OrderType.TRAILING_STOP:
                self._fill(w, level, Liquidity.TAKER, level, ctx)
            elif o.type is OrderType.STOP_LIMIT and not w.triggered:
                assert o.limit_price is not None
                w.triggered = True
                if (level <= o.limit_price) if o.qty > 0 else (level >= o.limit_price):
                    self._fill(w, level, Liquidity.TAKER, o.limit_price, ctx)
                else:
                    w.rested = True
            else:
                assert o.limit_price is not None
                self._fill(w, level, Liquidity.MAKER, o.limit_price, ctx)

    def _fill(
        self,
        w: _Working,
        ref: float,
        liquidity: Liquidity,
        requested: float,
        ctx: tuple[int, float | None, float | None],
    ) -> None:
        ts, volume, atr = ctx
        o = w.order
        side = _sign(o.qty)
        price = ref
        if liquidity is Liquidity.TAKER:
            frac = float(self._slippage.fraction(o.symbol, o.qty, ref, volume, atr))
            price = ref * (1.0 + side * frac)
            if o.limit_price is not None:
                price = min(price, o.limit_price) if side > 0 else max(price, o.limit_price)
        fee = float(self._commission.fee(o.qty, price, liquidity))
        reason = self._refusal(o.symbol, o.qty, price, fee)
        if reason is not None:
            self._finish(w, OrderStatus.REJECTED, reason)
            return
        self._book(o.symbol, o.qty, price, fee)
        cid = o.client_order_id or ""
        # The broker's own trade id: unique within this broker (its fill count), and across
        # brokers as far as client order ids are (the Guard's are random).
        fill_id = f"{cid}-{len(self._fills) + 1}"
        fill = Fill(cid, o.symbol, o.qty, price, fee, ts, liquidity, fill_id)
        self._fills.append(fill)
        submitted = o.submitted_ts if o.submitted_ts is not None else ts
        self._log.append(
            ExecutionRecord(
                client_order_id=cid,
                symbol=o.symbol,
                qty=o.qty,
                ts=ts,
                requested_price=requested,
                executed_price=price,
                slippage=(price - requested) * side,
                fee=fee,
                latency_ns=ts - submitted,
                retries=0,
                liquidity=liquidity,
            )
        )
        self._finish(w, OrderStatus.FILLED, "", filled_qty=o.qty, avg_fill_price=price)
        if o.oco_group is not None:
            for other in list(self._working.values()):
                if other.order.oco_group == o.oco_group:
                    self._finish(other, OrderStatus.CANCELLED, f"OCO: {cid} filled")
        for event in self._waiters:
            event.set()

    def _book(self, symbol: str, qty: float, price: float, fee: float) -> None:
        self._cash -= qty * price + fee
        self._fees += fee
        pos = self._qty.get(symbol, 0.0)
        avg = self._avg.get(symbol, 0.0)
        new = pos + qty
        if abs(new) <= _EPS * max(abs(pos), abs(qty)):
            new = 0.0
        if pos == 0.0 or pos * qty > 0:
            avg = (pos * avg + qty * price) / new
        else:
            closed = min(abs(qty), abs(pos))
            self._realized[symbol] = self._realized.get(symbol, 0.0) + closed * (
                price - avg
            ) * _sign(pos)
            if new != 0.0 and new * pos < 0:
                avg = price
        if new == 0.0:
            self._qty.pop(symbol, None)
            self._avg.pop(symbol, None)
        else:
            self._qty[symbol] = new
            self._avg[symbol] = avg
        self._realized.setdefault(symbol, 0.0)
        # Bars before the first fill leave no mark; the fill price is the best one known.
        self._last.setdefault(symbol, price)
