"""Alpaca (US stocks and crypto) through alpaca-py: :class:`AlpacaVenue`, a
:class:`~riskguard.ports.Venue` and :class:`~riskguard.ports.OrderLookup` with its market
feed. Installed with the ``riskguard[alpaca]`` extra.

One file per job: :mod:`.venue` (the venue), :mod:`.rest` (alpaca-py's REST clients bounded,
paced and mapped), :mod:`.errors` (alpaca-py's failures onto :mod:`riskguard.errors`),
:mod:`.orders` (an order rounded and checked into an alpaca-py request), :mod:`.convert`
(Alpaca's records into riskguard's), :mod:`.stream` (the order and market data streams).
"""

from riskguard.venues.alpaca.venue import AlpacaVenue

__all__ = ["AlpacaVenue"]
