"""The paper venue: :class:`PaperBroker`, a deterministic simulator fed by ticks and bars
(:mod:`.broker`), its slippage and commission models (:mod:`.costs`), and the simulation driver
that feeds it the Guard's data (:mod:`.simulation`)."""

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
from riskguard.venues.paper.simulation import Simulation

__all__ = [
    "CommissionModel",
    "FixedBps",
    "MakerTaker",
    "NoCommission",
    "NoSlippage",
    "PaperBroker",
    "PerShare",
    "PercentOfNotional",
    "Simulation",
    "SlippageModel",
    "VolatilityATR",
    "VolumeLinear",
]
