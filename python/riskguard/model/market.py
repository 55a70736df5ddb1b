"""Market data records: a :class:`Tick` (one price) and a :class:`Bar` (one OHLCV interval).

Prices are in the instrument's quote currency, ``ts`` integer nanoseconds since the Unix epoch,
UTC. A bar's ``ts`` is its close: the moment its values are all known.
"""

from __future__ import annotations

from dataclasses import dataclass

from riskguard._core import RiskError
from riskguard.model.checks import count, non_negative, positive, text

__all__ = ["Bar", "Tick"]


@dataclass(frozen=True, slots=True)
class Tick:
    """One price of ``symbol`` at ``ts``: a trade, or a quote's mid.

    Raises RiskError: an empty symbol, a price that is not finite and > 0, a negative ``ts``.
    """

    symbol: str
    price: float
    ts: int

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "symbol", text(self.symbol, "symbol"))
        put(self, "price", positive(self.price, "price"))
        put(self, "ts", count(self.ts, "ts"))


@dataclass(frozen=True, slots=True)
class Bar:
    """One OHLCV bar of ``symbol`` that closed at ``ts``: ``low <= open, close <= high``, every
    price finite and > 0, ``volume`` finite and >= 0 (in units of the instrument; 0 when the
    source has none).

    Raises RiskError: naming the field that breaks one of those rules.
    """

    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    ts: int

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "symbol", text(self.symbol, "symbol"))
        for name in ("open", "high", "low", "close"):
            put(self, name, positive(getattr(self, name), name))
        put(self, "volume", non_negative(self.volume, "volume"))
        put(self, "ts", count(self.ts, "ts"))
        if self.high < self.low:
            raise RiskError(f"high must be >= low, got high {self.high} and low {self.low}")
        for name in ("open", "close"):
            value = getattr(self, name)
            if not self.low <= value <= self.high:
                raise RiskError(
                    f"{name} must lie in [low, high] = [{self.low}, {self.high}], got {value}"
                )
