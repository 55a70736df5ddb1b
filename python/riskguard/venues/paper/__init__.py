"""The paper venue: :class:`PaperBroker`, a deterministic simulator fed by ticks and bars
(:mod:`.broker`), and its slippage and commission models (:mod:`.costs`)."""

from riskguard.venues.paper.broker import PaperBroker
from riskguard.venues.paper.costs import (
    CommissionModel,
    FixedBps,
    MakerTaker,
    NoCommission,
    NoSlippage,
    PercentOfNotional,
    PerShare,
    SlippageModel,
    VolatilityATR,
    VolumeLinear,
)

__all__ = [
    "CommissionModel",
    "FixedBps",
    "MakerTaker",
    "NoCommission",
    "NoSlippage",
    "PaperBroker",
    "PerShare",
    "PercentOfNotional",
    "SlippageModel",
    "VolatilityATR",
    "VolumeLinear",
]
