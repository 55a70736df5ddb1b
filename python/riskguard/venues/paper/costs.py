"""The paper venue's cost models: slippage (applied to taker fills, adversely, as a fraction of
the reference price) and commission (on every fill), each a small frozen class behind a
protocol so that a user can bring their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from riskguard._core import RiskError
from riskguard.model.checks import non_negative, text
from riskguard.model.orders import Liquidity

__all__ = [
    "CommissionModel",
    "FixedBps",
    "MakerTaker",
    "NoCommission",
    "NoSlippage",
    "PerShare",
    "PercentOfNotional",
    "SlippageModel",
    "VolatilityATR",
    "VolumeLinear",
]


# ---------------------------------------------------------------------------------------------
# Slippage and commission models


class SlippageModel(Protocol):
    """Adverse slippage of a taker fill, as a fraction of the reference price (0.001 is 10 bp).

    ``qty`` is the signed order quantity, ``price`` the reference price (quote currency),
    ``volume`` the bar's (or tick's) volume in units or ``None`` when unknown, ``atr`` the
    broker's average true range of the symbol in quote currency or ``None`` without bars.
    """

    def fraction(
        self, symbol: str, qty: float, price: float, volume: float | None, atr: float | None
    ) -> float: ...


@dataclass(frozen=True)
class NoSlippage:
    """Fills at the reference price."""

    def fraction(
        self, symbol: str, qty: float, price: float, volume: float | None, atr: float | None
    ) -> float:
        """Always 0."""
        return 0.0


@dataclass(frozen=True)
class FixedBps:
    """A fixed adverse slippage of ``bps`` basis points (1 bp = 0.0001) of the reference price."""

    bps: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "bps", non_negative(self.bps, "bps"))

    def fraction(
        self, symbol: str, qty: float, price: float, volume: float | None, atr: float | None
    ) -> float:
        """``bps / 10_000``."""
        return self.bps / 10_000.0


@dataclass(frozen=True)
class VolumeLinear:
    """Slippage linear in participation: ``k * min(1, |qty| / volume)`` of the reference price.

    The participation is capped at 1 (the whole bar), and taken as 1 when the volume is unknown
    (a tick fed without volume) or zero, so that missing data costs the most, not nothing.
    """

    k: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", non_negative(self.k, "k"))

    def fraction(
        self, symbol: str, qty: float, price: float, volume: float | None, atr: float | None
    ) -> float:
        """``k * min(1, |qty| / volume)``, with participation 1 when volume is None or 0."""
        if volume is None or volume <= 0.0:
            return self.k
        return self.k * min(1.0, abs(qty) / volume)


@dataclass(frozen=True)
class VolatilityATR:
    """Slippage of ``k`` average true ranges: ``k * ATR / price`` of the reference price.

    ``atr`` optionally gives the ATR per symbol in quote currency; otherwise the broker's ATR is
    used: the mean true range of the last ``atr_period`` bars of the symbol, the current bar
    included (0 before any bar, e.g. with ticks only).
    """

    k: float
    atr: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "k", non_negative(self.k, "k"))
        if self.atr is not None:
            if not isinstance(self.atr, Mapping):
                raise RiskError(f"atr must be a mapping of symbol to ATR, got {self.atr!r}")
            checked = {
                text(s, "atr symbol"): non_negative(a, f"atr[{s!r}]") for s, a in self.atr.items()
            }
            object.__setattr__(self, "atr", checked)

    def fraction(
        self, symbol: str, qty: float, price: float, volume: float | None, atr: float | None
    ) -> float:
        """``k * ATR / price``, the configured ATR of ``symbol`` taking precedence."""
        if self.atr is not None and symbol in self.atr:
            atr = self.atr[symbol]
        return self.k * (atr or 0.0) / price


class CommissionModel(Protocol):
    """Fee of one fill in quote currency (>= 0), given its signed ``qty``, its executed
    ``price`` (quote currency) and whether it was a maker or taker fill."""

    def fee(self, qty: float, price: float, liquidity: Liquidity) -> float: ...


@dataclass(frozen=True)
class NoCommission:
    """Free trading."""

    def fee(self, qty: float, price: float, liquidity: Liquidity) -> float:
        """Always 0."""
        return 0.0


@dataclass(frozen=True)
class PerShare:
    """``max(minimum, rate * |qty|)``: ``rate`` in quote currency per unit, ``minimum`` in quote
    currency per fill."""

    rate: float
    minimum: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", non_negative(self.rate, "rate"))
        object.__setattr__(self, "minimum", non_negative(self.minimum, "minimum"))

    def fee(self, qty: float, price: float, liquidity: Liquidity) -> float:
        """``max(minimum, rate * |qty|)``."""
        return max(self.minimum, self.rate * abs(qty))


@dataclass(frozen=True)
class PercentOfNotional:
    """``rate * |qty| * price``, ``rate`` a fraction of notional (0.001 is 0.1 %)."""

    rate: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", non_negative(self.rate, "rate"))

    def fee(self, qty: float, price: float, liquidity: Liquidity) -> float:
        """``rate * |qty| * price``."""
        return self.rate * abs(qty) * price


@dataclass(frozen=True)
class MakerTaker:
    """``maker`` or ``taker`` (fractions of notional, 0.001 is 0.1 %) times ``|qty| * price``,
    by the fill's liquidity. Rebates (negative rates) are not modelled."""

    maker: float
    taker: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "maker", non_negative(self.maker, "maker"))
        object.__setattr__(self, "taker", non_negative(self.taker, "taker"))

    def fee(self, qty: float, price: float, liquidity: Liquidity) -> float:
        """The maker or taker rate times the notional."""
        rate = self.maker if liquidity is Liquidity.MAKER else self.taker
        return rate * abs(qty) * price
