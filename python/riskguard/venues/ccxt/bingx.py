"""BingX perpetual swaps through ccxt.pro (``[broker] type = "bingx"``).

Quantities are in base units. BingX answers most refusals with HTTP 200 and a code in the
body, and ccxt reads that code before the HTTP status (its 429 arrives as ``OperationFailed``,
an accepted order answered 504 as ``BadRequest``), so errors are mapped by BingX's code.
Its fills carry no trade id on ``allFillOrders`` nor on the user stream: fills are read from
``fillHistory``, whose ``tradeId`` is the venue's. Limits: 10 orders per second, and BingX's
100 requests per 10 s per endpoint group kept as one bucket for every call (stricter).
"""

from __future__ import annotations

import time
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

__all__ = ["Bingx"]


def _101400(message: str) -> type[VenueError]:
    # One code for a reused client order id and for an amount below the minimum.
    lowered = message.lower()
    return DuplicateOrder if "clientorderid" in lowered or "duplicate" in lowered else OrderRejected


_CODES: dict[str, type[VenueError] | Callable[[str], type[VenueError]]] = {
    "100410": RateLimited,  # ccxt: OperationFailed
    "100500": VenueUnavailable,  # internal error
    "100400": AmbiguousOutcome,  # "Gateway timeout": the order may have been executed
    "101400": _101400,
    "80016": UnknownOrder,  # order does not exist
    "80018": OrderRejected,  # the order is final already (a cancel that came late)
    "109400": OrderRejected,  # bad parameter
    "101204": OrderRejected,  # insufficient margin
    "101205": OrderRejected,  # no position to reduce
    "100001": AuthFailed,  # signature
    "100413": AuthFailed,  # API key
    "100421": VenueUnavailable,  # timestamp outside the window: the clock
}


class Bingx(CcxtVenue):
    """BingX swaps (one-way mode): long and short, reduce-only closes, its cancel-all-after
    armed as a dead-man's switch (``broker.dead_man_s``, held within BingX's 10 to 120 s).
    Market and limit orders only: BingX keeps no client order id on stop orders, so a stop
    could not be looked up."""

    name = "bingx"
    exchange_id = "bingx"
    market_type = "swap"
    buckets = {
        "rest": (Bucket("requests_10s", 100, 10.0),),
        "order": (Bucket("requests_10s", 100, 10.0), Bucket("orders_1s", 10, 1.0)),
    }
    codes = _CODES
    lookup_id = ""  # ccxt sends orderId=None for None, which BingX refuses
    stop_orders = False
    stream_fills = False  # no trade id on the stream: fills come from fillHistory

    def options(self) -> dict[str, Any]:
        return {"defaultType": "swap"}

    def order_params(self, order: Order, cid: str, reduce_only: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": cid}
        if reduce_only:
            params["reduceOnly"] = True
        return params

    async def fetch_fills(self, symbol: str, since_ms: int, limit: int) -> list[dict[str, Any]]:
        # allFillOrders has no trade ids and second-resolution times; fillHistory has both
        # the tradeId and needs an end time as well as a start.
        market = self.client.market(symbol)
        answer = await self._call(
            "rest",
            self.client.swapV2PrivateGetTradeFillHistory,
            {
                "symbol": market["id"],
                "startTs": since_ms,
                "endTs": int(time.time() * 1000) + 60_000,
                "pageSize": limit,
            },
        )
        rows = ((answer or {}).get("data") or {}).get("fill_orders") or []
        return self.client.parse_trades(rows, market)  # type: ignore[no-any-return]

    async def dead_man(self, seconds: float) -> bool:
        # BingX's cancel-all-after takes 10 to 120 s; 0 closes the timer.
        ms = 0 if seconds <= 0 else int(min(max(seconds, 10.0), 120.0) * 1000)
        await self._call("order", self.client.cancel_all_orders_after, ms)
        return True
