"""The fake venue: a venue-agnostic exchange (:mod:`.exchange`), scripted faults (:mod:`.faults`)
and an aiohttp server on 127.0.0.1 (:mod:`.server`) that speaks each venue's REST and WebSocket
subset through its dialect (:mod:`.dialects`), so that the venues' real client libraries (ccxt,
alpaca-py) are tested without the network. Needs ``riskguard[testing]`` (aiohttp).

- :func:`exchange_for`: a fresh exchange with one market;
- :func:`dialect`: the dialect of a venue by ``[broker] type``, over an exchange;
- :class:`FakeVenue`: the server (a context manager), with its ``faults``.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from riskguard.testing.fake.exchange import Exchange, FakeMarket, FakeOrder, FakeTrade, Reject
from riskguard.testing.fake.faults import Faults, Rule
from riskguard.testing.fake.server import Dialect, FakeVenue

__all__ = [
    "DIALECTS",
    "Dialect",
    "Exchange",
    "FakeMarket",
    "FakeOrder",
    "FakeTrade",
    "FakeVenue",
    "Faults",
    "Reject",
    "Rule",
    "dialect",
    "exchange_for",
]

DIALECTS = {
    "binance": "riskguard.testing.fake.dialects.binance:BinanceSpot",
    "binanceusdm": "riskguard.testing.fake.dialects.binance:BinanceUsdm",
    "kucoinfutures": "riskguard.testing.fake.dialects.kucoinfutures:KucoinFutures",
    "bingx": "riskguard.testing.fake.dialects.bingx:Bingx",
    "alpaca": "riskguard.testing.fake.dialects.alpaca:Alpaca",
}
"""The dialect of each venue, by ``[broker] type``."""


def exchange_for(
    market_id: str,
    kind: str,
    *,
    tick: float,
    lot: float,
    min_notional: float,
    price: float,
    contract_size: float = 1.0,
    cash: float = 100_000.0,
    base: str | None = None,
    quote: str | None = None,
) -> Exchange:
    """A fresh exchange with one market ``market_id`` (``kind`` ``"spot"`` or ``"swap"``) at
    ``price``, its steps and minimums as given, and ``cash`` of its quote currency."""
    if base is None or quote is None:
        if market_id.endswith("USDTM"):
            pair = ("BTC" if market_id.startswith("XBT") else market_id[:-5], "USDT")
        elif "-" in market_id:
            pair = tuple(market_id.split("-", 1))  # type: ignore[assignment]
        elif "/" in market_id:
            pair = tuple(market_id.split("/", 1))  # type: ignore[assignment]
        elif market_id.endswith("USDT"):
            pair = (market_id[:-4], "USDT")
        else:
            pair = (market_id, "USD")
        base, quote = base or pair[0], quote or pair[1]
    market = FakeMarket(
        market_id,
        base,
        quote,
        kind=kind,
        tick=tick,
        lot=lot,
        min_qty=lot,
        min_notional=min_notional,
        contract_size=contract_size,
    )
    return Exchange([market], cash=cash, prices={market_id: price})


def dialect(name: str, exchange: Exchange, **credentials: Any) -> Dialect:
    """The dialect of venue ``name`` over ``exchange``; ``credentials`` (``api_key``,
    ``secret``, ``password``) are those it accepts (a dialect takes the ones its venue has)."""
    module, _, attribute = DIALECTS[name].partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    accepted = inspect.signature(cls).parameters
    return cls(exchange, **{k: v for k, v in credentials.items() if k in accepted})
