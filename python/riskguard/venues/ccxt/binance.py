"""Binance through ccxt.pro: ``binance`` (spot) and ``binanceusdm`` (USD-M perpetual futures).

Limits are Binance's documented ones: spot 6,000 request weight per minute and 100 orders per
10 s; USD-M 2,400 weight per minute, 300 orders per 10 s and 1,200 per minute. Binance reports
what is used in ``X-MBX-USED-WEIGHT-1M`` and ``X-MBX-ORDER-COUNT-*`` on every answer, which
keeps the budget honest when another process shares the key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from riskguard.errors import (
    AmbiguousOutcome,
    AuthFailed,
    OrderRejected,
    RateLimited,
    UnknownOrder,
    VenueError,
    VenueUnavailable,
)
from riskguard.model.orders import Order
from riskguard.venues.ccxt.errors import DuplicateOrder
from riskguard.venues.ccxt.venue import CcxtVenue
from riskguard.venues.ratelimit import Bucket

__all__ = ["Binance", "BinanceUsdm"]


def _spot_2010(message: str) -> type[VenueError]:
    # Spot answers a reused client order id with -2010 "Duplicate order sent." (while the first
    # order is open), the same code as a refusal for funds.
    return DuplicateOrder if "duplicate" in message.lower() else OrderRejected


# Binance's codes, read before ccxt's class: ccxt picks its table by the request's host, which
# is not Binance's behind broker.base_url.
_CODES: dict[str, type[VenueError] | Callable[[str], type[VenueError]]] = {
    "-1001": VenueUnavailable,  # internal error (ccxt: OperationFailed)
    "-1003": RateLimited,  # too many requests; with 418, banned
    "-1006": AmbiguousOutcome,  # unexpected answer from the matching engine: status unknown
    "-1007": AmbiguousOutcome,  # timeout waiting for the backend: execution status unknown
    "-1013": OrderRejected,  # a filter (LOT_SIZE, PRICE_FILTER, NOTIONAL)
    "-1021": VenueUnavailable,  # timestamp outside recvWindow: the clock, not the order
    "-1022": AuthFailed,  # bad signature
    "-1111": OrderRejected,  # precision beyond the step
    "-1121": OrderRejected,  # unknown symbol
    "-2010": _spot_2010,
    "-2011": UnknownOrder,  # cancel: unknown order
    "-2013": UnknownOrder,  # query: order does not exist
    "-2014": AuthFailed,  # bad API key format
    "-2015": AuthFailed,  # invalid key, IP or permissions
    "-2019": OrderRejected,  # margin is insufficient
    "-2022": OrderRejected,  # reduce-only order rejected
    "-4116": DuplicateOrder,  # USD-M: client order id is duplicated
    "-4164": OrderRejected,  # USD-M: notional below the minimum
}


class Binance(CcxtVenue):
    """Binance spot (``[broker] type = "binance"``): long-only, quantities in base units."""

    name = "binance"
    exchange_id = "binance"
    market_type = "spot"
    buckets = {
        "rest": (Bucket("weight_1m", 6000, 60.0),),
        "order": (Bucket("weight_1m", 6000, 60.0), Bucket("orders_10s", 100, 10.0)),
    }
    usage_headers = {"x-mbx-used-weight-1m": "weight_1m", "x-mbx-order-count-10s": "orders_10s"}
    codes = _CODES
    weights = {
        "load_markets": 20.0,
        "fetch_balance": 20.0,
        "fetch_my_trades": 20.0,
        "fetch_open_orders": 6.0,
        "fetch_order": 4.0,
        "fetch_ticker": 2.0,
    }

    def options(self) -> dict[str, Any]:
        # Only spot markets; no wallet currencies (sapi capital/config/getall), which a
        # trading key may not be allowed to read and riskguard does not use.
        return {
            "defaultType": "spot",
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
        }

    def order_params(self, order: Order, cid: str, reduce_only: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": cid}
        if order.stop_price is not None:
            # Spot has no reduce-only; a stop is STOP_LOSS (market) or STOP_LOSS_LIMIT.
            params["triggerPrice"] = order.stop_price
        return params


class BinanceUsdm(Binance):
    """Binance USD-M perpetual futures (``[broker] type = "binanceusdm"``): long and short,
    reduce-only closes, quantities in base units, the countdown cancel-all armed as a
    dead-man's switch while the venue runs."""

    name = "binanceusdm"
    exchange_id = "binanceusdm"
    market_type = "swap"
    # ccxt 4.5.90 sends USD-M stops as algo orders (/fapi/v1/algoOrder): another id, another
    # list, fills under actualOrderId. Market and limit orders only until those are tracked.
    stop_orders = False
    buckets = {
        "rest": (Bucket("weight_1m", 2400, 60.0),),
        "order": (
            Bucket("weight_1m", 2400, 60.0),
            Bucket("orders_10s", 300, 10.0),
            Bucket("orders_1m", 1200, 60.0),
        ),
    }
    usage_headers = {
        "x-mbx-used-weight-1m": "weight_1m",
        "x-mbx-order-count-10s": "orders_10s",
        "x-mbx-order-count-1m": "orders_1m",
    }
    weights = {
        "load_markets": 1.0,
        "fetch_balance": 5.0,
        "fetch_positions": 5.0,
        "fetch_my_trades": 5.0,
        "fetch_open_orders": 1.0,
        "fetch_order": 1.0,
        "fetch_ticker": 1.0,
    }

    def options(self) -> dict[str, Any]:
        return {
            "defaultType": "future",
            "fetchMarkets": {"types": ["linear"]},
            "fetchCurrencies": False,
        }

    def order_params(self, order: Order, cid: str, reduce_only: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": cid}
        if reduce_only:
            params["reduceOnly"] = True
        # USD-M answers a market order as NEW with 0 filled: it fills a moment later, and the
        # fill (with its fee, which the order answer never carries) arrives on the user stream
        # and in userTrades. The answer is kept as it is: a working order until told otherwise.
        return params

    async def dead_man(self, seconds: float) -> bool:
        # USD-M's countdown cancel-all, per symbol; 0 disarms it.
        for symbol in self.settings.symbols:
            await self._call(
                "order",
                self.client.fapiPrivatePostCountdownCancelAll,
                {"symbol": self._markets[symbol]["id"], "countdownTime": int(seconds * 1000)},
            )
        return True
