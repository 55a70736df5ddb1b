"""Brokers: the asynchronous :class:`Broker` protocol, its records, and :class:`PaperBroker`,
the deterministic simulator used by default.

Quantities are signed (``+`` buy, ``-`` sell), prices, fees and cash in quote currency, ``ts``
integer nanoseconds since the epoch, UTC.
"""

from riskguard.brokers.base import (
    Broker,
    Capabilities,
    ExecutionRecord,
    Fill,
    Liquidity,
    Order,
    OrderLookup,
    OrderStatus,
    OrderType,
    Position,
    SimulatedBroker,
    TimeInForce,
)
from riskguard.venues.paper import (
    CommissionModel,
    FixedBps,
    MakerTaker,
    NoCommission,
    NoSlippage,
    PaperBroker,
    PercentOfNotional,
    PerShare,
    SlippageModel,
    VolatilityATR,
    VolumeLinear,
)

__all__ = [
    "Broker",
    "Capabilities",
    "CommissionModel",
    "ExecutionRecord",
    "Fill",
    "FixedBps",
    "Liquidity",
    "MakerTaker",
    "NoCommission",
    "NoSlippage",
    "Order",
    "OrderLookup",
    "OrderStatus",
    "OrderType",
    "PaperBroker",
    "PerShare",
    "PercentOfNotional",
    "Position",
    "SimulatedBroker",
    "SlippageModel",
    "TimeInForce",
    "VolatilityATR",
    "VolumeLinear",
]
