"""Order records: the plain, frozen records that cross a venue (orders, their types and states,
fills, execution records, positions, capabilities).

Conventions, the same for every venue:

- quantities are signed: ``+`` buys, ``-`` sells; a position is the signed sum of its fills;
- prices, fees and cash are in the instrument's quote currency;
- timestamps (``ts``) are integer nanoseconds since the Unix epoch, UTC;
- every order carries a client order id, and submitting an id that the venue has already seen
  returns the order first submitted under it, so a retried submission never trades twice;
- every fill carries the venue's own id for it (``fill_id``, the venue's trade id), unique per
  symbol, so that a fill delivered twice is recognised and two look-alike fills are not.

Invalid arguments (NaN, infinite, zero or negative where a positive value is needed, wrong types,
unknown order types) raise :class:`riskguard.RiskError` naming the argument. The scalar checks are
those of :mod:`riskguard.model.checks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from riskguard._core import RiskError
from riskguard.model.checks import positive, real, text

__all__ = [
    "Capabilities",
    "ExecutionRecord",
    "Fill",
    "Liquidity",
    "Order",
    "OrderStatus",
    "OrderType",
    "Position",
    "TimeInForce",
]


class OrderType(str, Enum):
    """How an order becomes executable.

    - ``market``: at the next available price;
    - ``limit``: at ``limit_price`` or better;
    - ``stop``: becomes a market order once the price trades at or through ``stop_price``
      (at or above it for a buy, at or below it for a sell);
    - ``stop_limit``: becomes a limit order at ``limit_price`` once ``stop_price`` is touched;
    - ``trailing_stop``: a stop whose price follows the best price seen since submission at a
      distance of ``trail_amount`` (quote currency) or ``trail_percent`` (percent, 5.0 is 5 %).
    """

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"
    TRAILING_STOP = "trailing_stop"


class TimeInForce(str, Enum):
    """How long an order stays working.

    - ``GTC``: until filled or cancelled;
    - ``IOC``: only at its arrival; whatever does not fill then is cancelled;
    - ``DAY``: until the end of the trading day in which it was submitted.
    """

    GTC = "GTC"
    IOC = "IOC"
    DAY = "DAY"


class OrderStatus(str, Enum):
    """The life-cycle state of an order: ``new`` (working), then exactly one of ``filled``,
    ``cancelled`` (by the caller, by IOC, by DAY expiry or by its OCO sibling) or ``rejected``
    (refused by the broker, with a reason)."""

    NEW = "new"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class Liquidity(str, Enum):
    """Whether a fill added liquidity (``maker``: a limit order that rested) or took it
    (``taker``: market and stop orders, and limit orders marketable on arrival)."""

    MAKER = "maker"
    TAKER = "taker"


def _enum(cls: type[Enum], value: Any, arg: str) -> Any:
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        for member in cls:
            if member.value.lower() == value.lower():
                return member
    allowed = ", ".join(repr(m.value) for m in cls)
    raise RiskError(f"{arg} must be one of {allowed}, got {value!r}")


_PRICES_USED = {
    OrderType.MARKET: set(),
    OrderType.LIMIT: {"limit_price"},
    OrderType.STOP: {"stop_price"},
    OrderType.STOP_LIMIT: {"limit_price", "stop_price"},
    OrderType.TRAILING_STOP: {"trail"},
}


@dataclass(frozen=True)
class Order:
    """An order and, once a broker has seen it, its state.

    ``qty`` is signed (``+`` buy, ``-`` sell), non-zero and finite. Prices are in quote
    currency and > 0; ``trail_amount`` is in quote currency, ``trail_percent`` in percent of the
    best price (5.0 is 5 %, below 100). Exactly the prices the ``type`` needs must be given:
    ``limit_price`` for limit, ``stop_price`` for stop, both for stop_limit, one of
    ``trail_amount``/``trail_percent`` for trailing_stop, none for market. IOC applies to market
    and limit orders only.

    ``client_order_id`` makes submission idempotent; a broker assigns one when it is ``None``.
    Orders sharing an ``oco_group`` cancel one another: when one fills, the broker cancels the
    rest (a protective stop and a profit target of one position, say).

    ``status``, ``filled_qty``, ``avg_fill_price``, ``reason`` and ``submitted_ts`` are set by
    the broker; the broker returns new snapshots and never mutates one it has handed out.
    Invalid fields raise :class:`riskguard.RiskError` naming the field.
    """

    symbol: str
    qty: float
    type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    trail_amount: float | None = None
    trail_percent: float | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    client_order_id: str | None = None
    oco_group: str | None = None
    status: OrderStatus = OrderStatus.NEW
    filled_qty: float = 0.0
    avg_fill_price: float | None = None
    reason: str = ""
    submitted_ts: int | None = field(default=None, compare=False)
    reduce_only: bool = False

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "symbol", text(self.symbol, "symbol"))
        qty = real(self.qty, "qty")
        if qty == 0.0:
            raise RiskError("qty must be non-zero (+ buy, - sell), got 0")
        put(self, "qty", qty)
        kind = _enum(OrderType, self.type, "type")
        put(self, "type", kind)
        tif = _enum(TimeInForce, self.time_in_force, "time_in_force")
        put(self, "time_in_force", tif)
        put(self, "status", _enum(OrderStatus, self.status, "status"))
        given = set()
        for name in ("limit_price", "stop_price", "trail_amount", "trail_percent"):
            value = getattr(self, name)
            if value is not None:
                put(self, name, positive(value, name))
                given.add("trail" if name.startswith("trail") else name)
        if self.trail_amount is not None and self.trail_percent is not None:
            raise RiskError("give one of trail_amount and trail_percent, not both")
        if self.trail_percent is not None and self.trail_percent >= 100.0:
            raise RiskError(f"trail_percent must be below 100, got {self.trail_percent}")
        needed = _PRICES_USED[kind]
        for name in sorted(needed - given):
            arg = "trail_amount or trail_percent" if name == "trail" else name
            raise RiskError(f"{arg} is required for a {kind.value} order")
        for name in sorted(given - needed):
            arg = "trail_amount/trail_percent" if name == "trail" else name
            raise RiskError(f"{arg} must be None for a {kind.value} order")
        if tif is TimeInForce.IOC and kind not in (OrderType.MARKET, OrderType.LIMIT):
            raise RiskError(
                f"time_in_force IOC applies to market and limit orders, not {kind.value}"
            )
        if self.client_order_id is not None:
            text(self.client_order_id, "client_order_id")
        if self.oco_group is not None:
            text(self.oco_group, "oco_group")
        if not isinstance(self.reduce_only, bool):
            raise RiskError(f"reduce_only must be a bool, got {self.reduce_only!r}")

    @property
    def side(self) -> str:
        """``"buy"`` for a positive ``qty``, ``"sell"`` for a negative one."""
        return "buy" if self.qty > 0 else "sell"

    @property
    def is_open(self) -> bool:
        """True while the order is working (status ``new``)."""
        return self.status is OrderStatus.NEW


@dataclass(frozen=True)
class Fill:
    """One execution: ``qty`` signed (``+`` bought, ``-`` sold) at ``price`` (quote currency),
    costing ``fee`` (quote currency, >= 0), at ``ts`` (integer ns since the epoch, UTC).

    ``fill_id`` is the broker's id of this execution (the venue's trade id; the paper broker
    makes its own), unique per symbol: a consumer applies a fill id once however often it is
    delivered, and applies two look-alike fills with different ids both. Every broker should
    set it; ``""`` (the default, kept so that records built positionally before it existed
    still build) means unknown, and consumers then fall back to matching the order id, time,
    quantity and price.

    The record is not checked when it is built: it carries what the broker said. A consumer
    (the Guard) checks it before use and quarantines a fill that cannot be valid.
    """

    client_order_id: str
    symbol: str
    qty: float
    price: float
    fee: float
    ts: int
    liquidity: Liquidity
    fill_id: str = ""


@dataclass(frozen=True)
class ExecutionRecord:
    """Execution quality of one fill.

    ``requested_price`` is the price the order asked for: the limit price of limit and
    stop-limit orders, the stop price of a stop, the trailing stop's level when it triggered,
    and for a market order the last price known when it was submitted (the fill's reference
    price if none was). ``slippage = (executed_price - requested_price) * sign(qty)`` in quote
    currency per unit: positive is a cost, negative an improvement. ``latency_ns`` is the fill's
    ``ts`` minus the submission time on the broker's clock; ``retries`` counts resubmissions.
    """

    client_order_id: str
    symbol: str
    qty: float
    ts: int
    requested_price: float
    executed_price: float
    slippage: float
    fee: float
    latency_ns: int
    retries: int
    liquidity: Liquidity


@dataclass(frozen=True)
class Position:
    """A signed position (``qty``: + long, - short) with its average entry price (quote
    currency, 0 when flat) and the realized P&L of the symbol so far (quote currency, before
    fees)."""

    qty: float
    avg_price: float
    realized_pnl: float


@dataclass(frozen=True)
class Capabilities:
    """What a broker accepts: its order types, whether it allows short positions, and whether
    quantities may be fractional (otherwise they must be whole numbers)."""

    order_types: frozenset[OrderType]
    shorting: bool
    fractional: bool
