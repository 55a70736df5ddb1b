"""The simulation driver: the :class:`~riskguard.ports.Driver` of a simulated venue, whose
market is the data fed to the Guard (backtests, the demo)."""

from __future__ import annotations

from riskguard.model.orders import Fill
from riskguard.ports import SimulatedVenue

__all__ = ["Simulation"]


class Simulation:
    """Feeds every tick and bar a Guard sees to ``venue`` (the paper venue, or any
    :class:`~riskguard.ports.SimulatedVenue`) and hands back the fills it made, in order, so
    that the Guard applies them in the same step as the mark. ``replay`` is true: the Guard
    waits for the orders each market event called for before the next one (a replay is
    deterministic), takes its fills from here rather than from the venue's stream, and does not
    check the data's time against the wall clock.

    Composition (``riskguard.Config.compose``) gives a Guard this driver when its venue is
    simulated. Raises what the venue raises for a bad tick or bar (a RiskError); the Guard has
    checked the data before.
    """

    replay = True

    def __init__(self, venue: SimulatedVenue) -> None:
        self.venue = venue
        self._seen = 0

    def __repr__(self) -> str:
        return f"Simulation({type(self.venue).__name__}, {self._seen} fills seen)"

    def start(self, seen: int) -> None:
        """The venue's first ``seen`` fills were applied when the Guard started."""
        self._seen = seen

    def on_tick(self, symbol: str, price: float, ts: int) -> list[Fill]:
        """The venue's new fills once it has seen a trade at ``price`` at ``ts``."""
        self.venue.on_tick(symbol, price, ts)
        return self._new_fills()

    def on_bar(
        self,
        symbol: str,
        open: float,
        high: float,
        low: float,
        close: float,
        volume: float,
        ts: int,
    ) -> list[Fill]:
        """The venue's new fills once it has seen the bar opening at ``ts``."""
        self.venue.on_bar(symbol, open, high, low, close, volume, ts)
        return self._new_fills()

    def _new_fills(self) -> list[Fill]:
        fills = self.venue.fills_after(self._seen)
        self._seen += len(fills)
        return fills
