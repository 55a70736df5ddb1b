"""What a venue trades: an :class:`Instrument` with its steps and minimums, and the rounding
that turns a wanted quantity or price into one the venue accepts.

Rounding always goes toward less risk: a quantity toward zero (never more than was wanted); a
price to the side that is worse for the order's own fill chance but never worse for the account
(a buy limit down, a sell limit up; a protective stop toward the market: a sell stop up, a buy
stop down). Arithmetic is decimal, so ``0.3`` on a ``0.1`` step stays ``0.3``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from riskguard._core import RiskError
from riskguard.model.checks import non_negative, positive, text

__all__ = ["Instrument"]


def _step(value: float, step: float | None, *, up: bool) -> float:
    if step is None:
        return value
    units = (Decimal(repr(value)) / Decimal(repr(step))).to_integral_value(
        ROUND_CEILING if up else ROUND_FLOOR
    )
    return float(units * Decimal(repr(step)))


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable instrument of a venue.

    - ``symbol``: the venue-independent name riskguard uses (``BTC/USDT``, ``AAPL``);
    - ``tick_size``: the price step in quote currency, or None for any price;
    - ``lot_size``: the quantity step in ``contract_size`` units (1 for whole shares or
      contracts), or None for any quantity;
    - ``min_qty`` and ``min_notional``: the smallest order the venue takes, in units and in
      quote currency (0 for no minimum);
    - ``contract_size``: the base units one contract holds (1 for spot and shares; KuCoin's
      XBTUSDTM is 0.001 BTC). Quantities in riskguard are always in base units;
    - ``shortable``, ``fractional``: what the venue allows on it.

    Raises RiskError: a step, size or minimum that is not finite and positive (minimums >= 0).
    """

    symbol: str
    tick_size: float | None = None
    lot_size: float | None = None
    min_qty: float = 0.0
    min_notional: float = 0.0
    contract_size: float = 1.0
    shortable: bool = True
    fractional: bool = True

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "symbol", text(self.symbol, "symbol"))
        for name in ("tick_size", "lot_size"):
            value = getattr(self, name)
            if value is not None:
                put(self, name, positive(value, name))
        put(self, "min_qty", non_negative(self.min_qty, "min_qty"))
        put(self, "min_notional", non_negative(self.min_notional, "min_notional"))
        put(self, "contract_size", positive(self.contract_size, "contract_size"))

    def round_qty(self, qty: float) -> float:
        """``qty`` (signed, base units) rounded toward zero to whole lots of contracts, and to
        whole units when the instrument is not fractional. 0.0 when less than one step."""
        step = self.lot_size
        if step is None and not self.fractional:
            step = 1.0
        if step is None and self.contract_size == 1.0:
            return float(qty)
        # In decimal: 0.29 / 0.01 is 28.999... in binary, which would drop a contract.
        size = Decimal(repr(self.contract_size))
        units = Decimal(repr(abs(float(qty)))) / size
        if step is not None:
            lot = Decimal(repr(step))
            units = (units / lot).to_integral_value(ROUND_FLOOR) * lot
        rounded = float(units * size)
        return math.copysign(rounded, qty) if rounded else 0.0

    def contracts(self, qty: float) -> float:
        """``qty`` (base units) as a count of contracts, unsigned, divided in decimal (a
        rounded quantity gives a whole number of lots exactly)."""
        return float(Decimal(repr(abs(float(qty)))) / Decimal(repr(self.contract_size)))

    def round_price(self, price: float, *, side: str, stop: bool = False) -> float:
        """``price`` on the tick grid, toward less risk for an order of ``side`` (``"buy"`` or
        ``"sell"``): a limit buys lower and sells higher; a stop (``stop=True``) sits closer to
        the market (a sell stop higher, a buy stop lower).

        Raises RiskError: a side other than buy or sell.
        """
        if side not in ("buy", "sell"):
            raise RiskError(f"side must be 'buy' or 'sell', got {side!r}")
        # A limit buys lower and sells higher; a stop sits nearer the market, which is the
        # same direction: a sell stop (below the market) higher, a buy stop lower. ``stop``
        # names the order's kind for the reader; both round alike.
        del stop
        return _step(price, self.tick_size, up=side == "sell")

    def refusal(self, qty: float, price: float) -> str | None:
        """Why the venue would refuse an order of ``qty`` (signed, after rounding) near
        ``price``, as a stable reason code with its figures, or None when it meets the
        minimums."""
        if qty == 0.0 or abs(qty) < self.min_qty:
            return f"BELOW_MIN_QTY: {abs(qty)} < {self.min_qty} for {self.symbol}"
        notional = abs(qty) * price
        if notional < self.min_notional:
            return f"BELOW_MIN_NOTIONAL: {notional:.8g} < {self.min_notional} for {self.symbol}"
        return None
