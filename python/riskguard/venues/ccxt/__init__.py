"""Live venues through ccxt.pro (``pip install riskguard[ccxt]``): one client,
:class:`CcxtVenue`, and a thin subclass per venue for its limits and quirks."""

from riskguard.venues.ccxt.binance import Binance, BinanceUsdm
from riskguard.venues.ccxt.bingx import Bingx
from riskguard.venues.ccxt.kucoinfutures import KucoinFutures
from riskguard.venues.ccxt.venue import CcxtVenue

__all__ = ["Binance", "BinanceUsdm", "Bingx", "CcxtVenue", "KucoinFutures"]
