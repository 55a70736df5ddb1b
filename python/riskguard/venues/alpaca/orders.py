"""A riskguard :class:`~riskguard.model.orders.Order` turned into the alpaca-py request that
sends it, rounded to the asset's steps toward less risk, or the reason it is refused before it
leaves (a stable code with its figures): below the minimum quantity or notional, an order type
or time in force Alpaca does not take on that asset.

Alpaca's rules kept here (each refused by the venue otherwise):

- quantities to the lot (whole shares, 9 decimals for fractionable stocks, crypto's
  ``min_trade_increment``), toward zero; prices to the tick, a limit toward the better side for
  the account and a stop toward the market (a sell stop up, a buy stop down); a trailing
  distance down to the tick (a tighter trail, never a looser one);
- a fractional share order must be DAY: one asked GTC is sent as DAY (Alpaca takes nothing
  else; the answer says ``time_in_force`` DAY, and a resting order expires at the close, so a
  protective order must be placed again the next session); a fractional IOC limit is refused
  (``FRACTIONAL_NEEDS_DAY``: as DAY it would rest all day);
- crypto takes GTC and IOC only, and market, limit and stop-limit orders;
- a fractional stock order must be worth 1 USD and a USD-quoted crypto buy 10 USD; whole-share
  orders and crypto sells have no floor.
"""

from __future__ import annotations

import math

from alpaca.trading.enums import OrderSide
from alpaca.trading.enums import TimeInForce as AlpacaTif
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    OrderRequest,
    StopLimitOrderRequest,
    StopOrderRequest,
    TrailingStopOrderRequest,
)

from riskguard.model.orders import Order, OrderType, TimeInForce
from riskguard.venues.alpaca.convert import Market

__all__ = ["prepare", "refusal"]

_TIF = {
    TimeInForce.GTC: AlpacaTif.GTC,
    TimeInForce.IOC: AlpacaTif.IOC,
    TimeInForce.DAY: AlpacaTif.DAY,
}


def refusal(
    market: Market, qty: float, price: float | None, *, reduce_only: bool = False
) -> str | None:
    """Why Alpaca would refuse ``qty`` (signed, already rounded) of ``market`` near ``price``
    (None when no price is known: then only the quantity is checked), or None. A reduce-only
    order is checked for its quantity only: closing a remnant below a notional floor is left to
    Alpaca to refuse, never refused here."""
    inst = market.instrument
    known = price if price is not None and price > 0 else math.inf
    if reduce_only:
        known = math.inf
    if market.crypto:
        reason = inst.refusal(qty, math.inf)  # no floor on sells: checked below for buys
        if reason is None and qty > 0 and qty * known < market.min_buy_notional:
            reason = (
                f"BELOW_MIN_NOTIONAL: {qty * known:.8g} < {market.min_buy_notional} for "
                f"{inst.symbol} (Alpaca's floor on USD-quoted crypto buys)"
            )
        return reason
    whole = abs(qty - round(qty)) <= 1e-9
    # Alpaca's 1 USD floor applies to fractional share orders only.
    return inst.refusal(qty, math.inf if whole else known)


def _tif(order: Order, market: Market, qty: float) -> AlpacaTif | str:
    tif = order.time_in_force
    if market.crypto:
        if tif is TimeInForce.DAY:
            return f"BAD_TIME_IN_FORCE: Alpaca takes GTC or IOC on crypto, not DAY ({order.symbol})"
        return _TIF[tif]
    if abs(qty - round(qty)) > 1e-9 and tif is not TimeInForce.DAY:
        if tif is TimeInForce.IOC and order.type is not OrderType.MARKET:
            return (
                f"FRACTIONAL_NEEDS_DAY: Alpaca takes fractional share orders as DAY only; an "
                f"IOC limit of {abs(qty)} {order.symbol} would rest all day"
            )
        return AlpacaTif.DAY  # Alpaca's only time in force for fractional share orders
    return _TIF[tif]


def prepare(order: Order, market: Market, reference: float | None) -> OrderRequest | str:
    """The request that sends ``order`` (its ``client_order_id`` set) on ``market``, rounded
    toward less risk, or the reason code it is refused before it leaves. ``reference`` is the
    last price known for a market order (None when none is)."""
    inst = market.instrument
    symbol = order.symbol
    if order.type not in market.order_types:
        return f"UNSUPPORTED_ORDER_TYPE: Alpaca takes no {order.type.value} orders on {symbol}"
    qty = inst.round_qty(order.qty)
    side = order.side
    limit = stop = trail = None
    if order.limit_price is not None:
        limit = inst.round_price(order.limit_price, side=side)
    if order.stop_price is not None:
        # toward the market: a sell stop up, a buy stop down
        stop = inst.round_price(order.stop_price, side=side, stop=True)
    if order.trail_amount is not None:
        # rounded down like a buy limit: the distance shrinks, the stop comes closer
        trail = inst.round_price(order.trail_amount, side="buy")
    for name, price in (("limit", limit), ("stop", stop), ("trail", trail)):
        if price is not None and not price > 0:
            return (
                f"BAD_PRICE: the {name} price of {symbol} rounds to {price} on a tick of "
                f"{inst.tick_size}"
            )
    reason = refusal(market, qty, limit or stop or reference, reduce_only=order.reduce_only)
    if reason is not None:
        return reason
    tif = _tif(order, market, qty)
    if not isinstance(tif, AlpacaTif):  # a reason (AlpacaTif is a str too: test it first)
        return tif
    fields = {
        "symbol": symbol,
        "qty": abs(qty),
        "side": OrderSide.BUY if qty > 0 else OrderSide.SELL,
        "time_in_force": tif,
        "client_order_id": order.client_order_id,
    }
    if order.type is OrderType.MARKET:
        return MarketOrderRequest(**fields)
    if order.type is OrderType.LIMIT:
        return LimitOrderRequest(limit_price=limit, **fields)
    if order.type is OrderType.STOP:
        return StopOrderRequest(stop_price=stop, **fields)
    if order.type is OrderType.STOP_LIMIT:
        return StopLimitOrderRequest(stop_price=stop, limit_price=limit, **fields)
    if trail is not None:
        return TrailingStopOrderRequest(trail_price=trail, **fields)
    return TrailingStopOrderRequest(trail_percent=order.trail_percent, **fields)
