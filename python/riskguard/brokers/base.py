"""The broker protocol and the plain records that cross it.

Conventions, the same for every broker:

- quantities are signed: ``+`` buys, ``-`` sells; a position is the signed sum of its fills;
- prices, fees and cash are in the instrument's quote currency;
- timestamps (``ts``) are integer nanoseconds since the Unix epoch, UTC;
- every order carries a client order id, and submitting an id that the broker has already seen
  returns the order first submitted under it, so a retried submission never trades twice;
- every fill carries the broker's own id for it (``fill_id``, the venue's trade id), unique per
  symbol, so that a fill delivered twice is recognised and two look-alike fills are not.

Invalid arguments (NaN, infinite, zero or negative where a positive value is needed, wrong types,
unknown order types) raise :class:`riskguard.RiskError` naming the argument. A broker's refusal
of a well-formed order is not an error: ``submit`` returns the order with status ``"rejected"``
and a ``reason``.
"""

from __future__ import annotations

from riskguard.model.checks import non_negative, positive, real, text
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
from riskguard.ports import OrderLookup as PortsOrderLookup
from riskguard.ports import SimulatedVenue, Venue

__all__ = [
    "Broker",
    "Capabilities",
    "ExecutionRecord",
    "Fill",
    "Liquidity",
    "Order",
    "OrderLookup",
    "OrderStatus",
    "OrderType",
    "Position",
    "SimulatedBroker",
    "TimeInForce",
    "Venue",
    "non_negative",
    "positive",
    "real",
    "text",
]


# The venue protocols live in riskguard.ports; these names stay as their aliases.
Broker = Venue
OrderLookup = PortsOrderLookup
SimulatedBroker = SimulatedVenue
