"""Alpaca's records (alpaca-py's models) turned into riskguard's: an asset into a
:class:`Market` (an :class:`~riskguard.model.instruments.Instrument` and Alpaca's rules for it),
an order into an :class:`~riskguard.model.orders.Order`, a trade update or a FILL activity into
a :class:`~riskguard.model.orders.Fill`, a position into a
:class:`~riskguard.model.orders.Position`.

Fill ids: a fill reaches riskguard twice, from the ``trade_updates`` stream (an
``execution_id``) and from the FILL activities read after a reconnect (an activity ``id`` of
the form ``<time>::<uuid>``). Alpaca does not document that the two name an execution alike, so
a fill is named by what both carry for certain: its order's id and the order's cumulative
filled quantity after it (``<order id>:<cum qty>``). That is unique per execution (each one
raises the cumulative quantity) and identical from either source, so a fill seen on both is
applied once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from alpaca.trading.enums import AssetClass
from alpaca.trading.models import Asset, TradeActivity, TradeUpdate
from alpaca.trading.models import Order as AlpacaOrder
from alpaca.trading.models import Position as AlpacaPosition

from riskguard._core import RiskError
from riskguard.model.instruments import Instrument
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

__all__ = [
    "STOCK_ORDER_TYPES",
    "CRYPTO_ORDER_TYPES",
    "Market",
    "fill_from_activity",
    "fill_from_update",
    "fill_id",
    "market_from",
    "ns",
    "order_from",
    "position_from",
    "value",
]

STOCK_ORDER_TYPES = frozenset(
    {
        OrderType.MARKET,
        OrderType.LIMIT,
        OrderType.STOP,
        OrderType.STOP_LIMIT,
        OrderType.TRAILING_STOP,
    }
)
# Alpaca's crypto orders are market, limit and stop-limit only (a plain stop is refused with
# "invalid order type for crypto order").
CRYPTO_ORDER_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT})

# Alpaca takes fractional share quantities to 9 decimals; a USD-quoted crypto buy must be worth
# 10 USD (sells are not floored); a fractional stock order must be worth 1 USD.
FRACTIONAL_STEP = 1e-9
CRYPTO_MIN_BUY_USD = 10.0
FRACTIONAL_MIN_USD = 1.0

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FINAL = {
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
    "replaced": OrderStatus.CANCELLED,  # ended; its replacement is an order of its own
    "rejected": OrderStatus.REJECTED,
}
_TYPES = {t.value: t for t in OrderType}
_TIF = {
    "day": TimeInForce.DAY,
    "gtc": TimeInForce.GTC,
    "ioc": TimeInForce.IOC,
    "fok": TimeInForce.IOC,  # fill at once or never: IOC is the nearest riskguard knows
    "opg": TimeInForce.DAY,
    "cls": TimeInForce.DAY,
}


@dataclass(frozen=True)
class Market:
    """What riskguard knows of one Alpaca asset: its :class:`Instrument` (steps and minimums),
    whether it is ``crypto``, the order types Alpaca takes on it, and the smallest buy it takes
    in quote currency (``min_buy_notional``: USD-quoted crypto only; sells are not floored)."""

    instrument: Instrument
    crypto: bool
    order_types: frozenset[OrderType]
    min_buy_notional: float = 0.0

    @property
    def capabilities(self) -> Capabilities:
        inst = self.instrument
        return Capabilities(self.order_types, inst.shortable, inst.fractional)


def value(x: Any) -> float | None:
    """Alpaca's decimal strings (or numbers) as floats; None for a missing value."""
    if x is None or x == "":
        return None
    return float(x)


def ns(when: datetime | None) -> int | None:
    """A datetime as integer ns since the epoch (UTC), or None."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - _EPOCH) // timedelta(microseconds=1) * 1_000


def _canon(qty: Any) -> str:
    return format(Decimal(repr(float(qty))).normalize(), "f")


def fill_id(order_id: Any, cum_qty: Any) -> str:
    """A fill's id: its order's Alpaca id and the order's cumulative filled quantity after it."""
    return f"{order_id}:{_canon(cum_qty)}"


def market_from(asset: Asset, *, shorting_enabled: bool) -> Market:
    """The :class:`Market` of an Alpaca asset. Alpaca gives a crypto asset its steps
    (``min_order_size``, ``min_trade_increment``, ``price_increment``); a stock has none, and
    takes whole shares, or 9 decimals when fractionable, at a penny tick."""
    crypto = asset.asset_class == AssetClass.CRYPTO
    fractional = bool(asset.fractionable) or crypto
    lot = asset.min_trade_increment or (FRACTIONAL_STEP if fractional else 1.0)
    if crypto:
        quote = asset.symbol.split("/")[1] if "/" in asset.symbol else "USD"
        instrument = Instrument(
            asset.symbol,
            tick_size=asset.price_increment or None,
            lot_size=lot,
            min_qty=asset.min_order_size or lot,
            min_notional=0.0,  # the floor is on buys only: Market.min_buy_notional
            shortable=False,  # Alpaca does not short crypto
            fractional=True,
        )
        floor = CRYPTO_MIN_BUY_USD if quote == "USD" else 0.0
        return Market(instrument, True, CRYPTO_ORDER_TYPES, floor)
    instrument = Instrument(
        asset.symbol,
        # Alpaca's grid is a penny at or above 1 USD (4 decimals below): a penny is valid for
        # every price, only coarser than needed for sub-dollar stocks.
        tick_size=asset.price_increment or 0.01,
        lot_size=lot,
        min_qty=asset.min_order_size or lot,
        min_notional=FRACTIONAL_MIN_USD if fractional else 0.0,
        shortable=bool(asset.shortable) and shorting_enabled,
        fractional=fractional,
    )
    return Market(instrument, False, STOCK_ORDER_TYPES)


def _status(o: AlpacaOrder) -> OrderStatus:
    status = getattr(o.status, "value", o.status)
    final = _FINAL.get(status)
    if final is not None:
        return final
    filled, qty = value(o.filled_qty) or 0.0, value(o.qty)
    if status == "calculated" and qty is not None and filled >= qty:
        return OrderStatus.FILLED
    # new, accepted, pending_new, partially_filled, pending_cancel (it may still fill),
    # done_for_day, held, stopped, suspended, calculated...: still working
    return OrderStatus.NEW


def order_from(o: AlpacaOrder, symbol: str) -> Order:
    """The riskguard :class:`Order` of an Alpaca order (``symbol`` as riskguard names it).

    An order riskguard cannot represent exactly (one placed by hand with a time in force its
    type does not allow here, say) keeps its quantity, fills and status as a market order,
    with ``reason`` saying so."""
    sign = 1.0 if getattr(o.side, "value", o.side) == "buy" else -1.0
    filled = value(o.filled_qty) or 0.0
    qty = value(o.qty) or filled  # a notional order has no quantity until it fills
    status = _status(o)
    avg = value(o.filled_avg_price) if filled else None
    kind = _TYPES.get(getattr(o.type, "value", o.type) or "market", OrderType.MARKET)
    tif = _TIF.get(getattr(o.time_in_force, "value", o.time_in_force), TimeInForce.GTC)
    if tif is TimeInForce.IOC and kind not in (OrderType.MARKET, OrderType.LIMIT):
        tif = TimeInForce.GTC
    reason = "VENUE_REJECTED: Alpaca rejected the order" if status is OrderStatus.REJECTED else ""
    prices: dict[str, Any] = {}
    if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        prices["limit_price"] = value(o.limit_price)
    if kind in (OrderType.STOP, OrderType.STOP_LIMIT):
        prices["stop_price"] = value(o.stop_price)
    if kind is OrderType.TRAILING_STOP:
        if o.trail_price is not None:
            prices["trail_amount"] = value(o.trail_price)
        else:
            prices["trail_percent"] = value(o.trail_percent)
    common: dict[str, Any] = {
        "client_order_id": o.client_order_id,
        "status": status,
        "filled_qty": sign * filled,
        "avg_fill_price": avg,
        "submitted_ts": ns(o.submitted_at),
    }
    try:
        return Order(symbol, sign * qty, kind, time_in_force=tif, reason=reason, **prices, **common)
    except RiskError as e:
        note = f"UNREPRESENTABLE: Alpaca's {kind.value} order shown as market ({e})"
        return Order(symbol, sign * (qty or 1.0), reason=reason or note, **common)


def fill_from_update(u: TradeUpdate, symbol: str) -> Fill | None:
    """The fill a ``fill``/``partial_fill`` trade update reports (None for other events)."""
    event = getattr(u.event, "value", u.event)
    if event not in ("fill", "partial_fill") or u.qty is None or u.price is None:
        return None
    o = u.order
    sign = 1.0 if getattr(o.side, "value", o.side) == "buy" else -1.0
    return Fill(
        o.client_order_id,
        symbol,
        sign * float(u.qty),
        float(u.price),
        0.0,  # Alpaca charges stocks nothing; crypto fees are booked apart (CFEE activities)
        ns(u.timestamp) or 0,
        # Alpaca does not say which side of the book a fill was on
        Liquidity.TAKER,
        fill_id(o.id, o.filled_qty if o.filled_qty is not None else u.qty),
    )


def fill_from_activity(a: TradeActivity, symbol: str, client_order_id: str) -> Fill:
    """The fill a FILL activity reports (its order's ``client_order_id`` looked up apart: the
    activity carries only the order's Alpaca id)."""
    sign = 1.0 if getattr(a.side, "value", a.side) == "buy" else -1.0
    return Fill(
        client_order_id,
        symbol,
        sign * float(a.qty),
        float(a.price),
        0.0,
        ns(a.transaction_time) or 0,
        Liquidity.TAKER,
        fill_id(a.order_id, a.cum_qty),
    )


def position_from(p: AlpacaPosition) -> Position:
    """A riskguard :class:`Position`. Alpaca reports no realized P&L per position (0.0)."""
    qty = abs(float(p.qty))
    if getattr(p.side, "value", p.side) == "short":
        qty = -qty
    return Position(qty, float(p.avg_entry_price or 0.0), 0.0)
