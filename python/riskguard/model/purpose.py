"""Why the Guard sends an order. The purpose decides how the order is treated: only an entry
adds risk; the others reduce it, are reduce-only (clipped to what is held, net of the reducing
orders in flight) and go out even while HALTED."""

from __future__ import annotations

from enum import Enum

__all__ = ["Purpose"]


class Purpose(str, Enum):
    """``entry``: opens or adds to a position (an approved signal); ``exit``: an exit policy's
    order (stop, target, trailing, time); ``flatten``: closes a position whole (kill switch,
    close-all breaker, position loss, a stop without a managed trade); ``reduce``: cuts every
    position by a fraction (volatility, leverage); ``reconcile``: a journal-only fill that
    makes the engine hold what the venue holds (never sent)."""

    ENTRY = "entry"
    EXIT = "exit"
    FLATTEN = "flatten"
    REDUCE = "reduce"
    RECONCILE = "reconcile"

    @property
    def reduces_risk(self) -> bool:
        """True for every purpose but ``entry``."""
        return self is not Purpose.ENTRY
