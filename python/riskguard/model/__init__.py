"""The shared vocabulary: plain frozen records that every room of riskguard speaks (the Guard,
order management, the venues, the journal, the faces). It depends on nothing of riskguard but
the core.

Conventions: quantities are signed (``+`` buys, ``-`` sells) and in base units; prices, fees and
cash in the instrument's quote currency; ``ts`` integer nanoseconds since the Unix epoch, UTC.
Invalid fields raise :class:`~riskguard.RiskError` naming the field.
"""

from riskguard.model.checks import count, finite_or_none, non_negative, positive, real, text
from riskguard.model.controls import Control, ControlAction
from riskguard.model.ids import new_client_order_id
from riskguard.model.instruments import Instrument
from riskguard.model.market import Bar, Tick
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
from riskguard.model.purpose import Purpose
from riskguard.model.settings import GuardSettings
from riskguard.model.status import RiskStatus

__all__ = [
    "Bar",
    "Capabilities",
    "Control",
    "ControlAction",
    "ExecutionRecord",
    "Fill",
    "GuardSettings",
    "Instrument",
    "Liquidity",
    "Order",
    "OrderStatus",
    "OrderType",
    "Position",
    "Purpose",
    "RiskStatus",
    "Tick",
    "TimeInForce",
    "count",
    "finite_or_none",
    "new_client_order_id",
    "non_negative",
    "positive",
    "real",
    "text",
]
