"""KuCoin perpetual futures through ccxt.pro (``[broker] type = "kucoinfutures"``).

Quantities on the wire are contracts (XBTUSDTM: 0.001 BTC each); riskguard converts to and
from base units with the market's contract size, and ccxt converts nothing. KuCoin has no
sandbox that ccxt knows: ``testnet = true`` needs ``base_url`` (a gateway), else set
``testnet = false``. Limits: KuCoin's futures pool of 2,000 request weight per 30 s (an order
weighs 2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from riskguard.errors import (
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

__all__ = ["KucoinFutures"]


def _400100(message: str) -> type[VenueError]:
    # One code for every parameter error, a reused clientOid among them (ccxt: BadRequest).
    return DuplicateOrder if "clientoidduplicated" in message.lower() else OrderRejected


_CODES: dict[str, type[VenueError] | Callable[[str], type[VenueError]]] = {
    "400100": _400100,
    "100001": UnknownOrder,  # order does not exist
    "100004": OrderRejected,  # the order is final already (a cancel that came late)
    "300003": OrderRejected,  # insufficient balance
    "300009": OrderRejected,  # reduce-only refused
    "429000": RateLimited,  # ccxt: RateLimitExceeded, a NetworkError, not DDoSProtection
    "400001": AuthFailed,
    "400003": AuthFailed,
    "400004": AuthFailed,  # passphrase
    "400005": AuthFailed,  # signature
    "400007": AuthFailed,
    "400002": VenueUnavailable,  # timestamp outside the window: the clock, not the request
    "500000": VenueUnavailable,
}


class KucoinFutures(CcxtVenue):
    """KuCoin futures: long and short, reduce-only closes, contracts converted. Market and
    limit orders only: KuCoin keeps stop orders on a list of their own, which the Guard's own
    stop monitoring makes unnecessary."""

    name = "kucoinfutures"
    exchange_id = "kucoinfutures"
    market_type = "swap"
    buckets = {
        "rest": (Bucket("futures_30s", 2000, 30.0),),
        "order": (Bucket("futures_30s", 2000, 30.0),),
    }
    codes = _CODES
    weights = {"create_order": 2.0, "fetch_my_trades": 5.0, "load_markets": 3.0}
    stop_orders = False
    # The order stream's fills carry no fee: fills come from REST (/fills), read as soon as an
    # order update shows more filled than the fills known.
    stream_fills = False

    def options(self) -> dict[str, Any]:
        return {"defaultType": "swap"}

    def order_params(self, order: Order, cid: str, reduce_only: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOid": cid}
        if reduce_only:
            params["reduceOnly"] = True
        return params

    def lookup_params(self, cid: str) -> dict[str, Any]:
        return {"clientOid": cid}

    async def order_answer(self, raw: dict[str, Any], cid: str, symbol: str) -> dict[str, Any]:
        # KuCoin's create answers only {orderId, clientOid}: the order is read back for its
        # state (ccxt leaves status and amount None).
        if raw.get("status") is not None and raw.get("amount") is not None:
            return raw
        try:
            state = await self._call("rest", self.client.fetch_order, raw.get("id"), symbol)
        except VenueError:
            return raw  # created all the same: answered as working, settled by lookups
        return state or raw
