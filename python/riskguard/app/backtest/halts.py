"""Latched halts in a backtest: when the guarded run stopped trading, and the auto-reset that
lets a research run go on.

A **latched halt** is a trip of a latched breaker whose action stops new risk
(``close_all_halt``, ``halt`` or ``reduce``; by default ``max_drawdown``), or the kill switch:
only an explicit reset lifts it, so without one a backtest trades no more from then on.
:func:`latched_halts` finds them in a journal's events (the backtest and the report both read
them there), each with the equity of the curve then and the reset that lifted it, if any.

:class:`AutoReset` resets each latched halt ``after`` a span of data time
(``guard.reset(name, confirm=True, actor="backtest")``): the reset is journaled as a control
action and shows as the breaker's ``breaker_recovered`` event.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from riskguard._core import RiskError

__all__ = [
    "HALTING_ACTIONS",
    "AutoReset",
    "Halt",
    "check_auto_reset",
    "halting_breakers",
    "latched_halts",
    "utc",
]

DAY_NS = 86_400 * 10**9
HALTING_ACTIONS = frozenset({"close_all_halt", "halt", "reduce"})
"""The breaker actions that stop new risk (HALTED, or REDUCING: reduce-only)."""


def utc(ts: int) -> str:
    """``ts`` (ns since the epoch) as ``2022-01-21 14:02 UTC``."""
    when = dt.datetime.fromtimestamp(ts // 10**9, tz=dt.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class Halt:
    """One latched halt: the ``breaker`` (or ``kill_switch``), when it tripped (``ts``, ns),
    the run's ``equity`` then (the curve's first point at or after ``ts``), the engine's
    ``message``, and the reset that lifted it (``reset_ts`` and ``reset_equity``), None while
    it held to the end of the data."""

    breaker: str
    ts: int
    equity: float
    message: str
    reset_ts: int | None = None
    reset_equity: float | None = None

    def describe(self) -> str:
        """One line: which breaker, when, the equity then, and the reset."""
        text = f"{self.breaker} at {utc(self.ts)}, equity {self.equity:,.2f}"
        if self.reset_ts is None:
            return text + ": no trading after it"
        return text + f"; reset at {utc(self.reset_ts)}, equity {self.reset_equity:,.2f}"


def halting_breakers(breakers: Iterable[Any]) -> frozenset[str]:
    """The names of the latched breakers whose action stops new risk, from an engine's
    ``breakers()`` (the kill switch among them)."""
    return frozenset(b.name for b in breakers if b.latched and b.action in HALTING_ACTIONS)


def latched_halts(
    events: Sequence[dict[str, Any]], halting: frozenset[str], ts: np.ndarray, equity: np.ndarray
) -> list[Halt]:
    """The latched halts among a journal's ``events`` (dicts with ``kind``, ``breaker``,
    ``ts``, ``message``), in order, for the breakers in ``halting`` (:func:`halting_breakers`);
    equity from the curve ``ts``, ``equity`` (not empty). A halt ends at the breaker's next
    ``breaker_recovered``: for a latched breaker, a reset."""

    def equity_at(t: int) -> float:
        return float(equity[min(int(np.searchsorted(ts, t, side="left")), len(ts) - 1)])

    halts: list[Halt] = []
    open_: dict[str, int] = {}  # breaker -> index of its halt in force
    for e in events:
        name = e["breaker"]
        if name not in halting:
            continue
        if e["kind"] in ("breaker_tripped", "kill_switch") and name not in open_:
            open_[name] = len(halts)
            halts.append(Halt(name, int(e["ts"]), equity_at(e["ts"]), str(e["message"])))
        elif e["kind"] == "breaker_recovered" and name in open_:
            i = open_.pop(name)
            halts[i] = replace(halts[i], reset_ts=int(e["ts"]), reset_equity=equity_at(e["ts"]))
    return halts


def check_auto_reset(days: Any) -> float:
    """``days`` (``auto_reset_after``) as a float.

    Raises RiskError: not a finite number > 0."""
    if isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days < math.inf:
        raise RiskError(f"auto_reset_after must be a number of days > 0, got {days!r}")
    return float(days)


class AutoReset:
    """Which latched halts are due for a reset: each ``after_days`` of data time after it
    tripped (:meth:`seen` takes a step's events, :meth:`due` the time of the next bar).

    Raises RiskError: ``after_days`` not finite and > 0.
    """

    def __init__(self, halting: frozenset[str], after_days: float) -> None:
        self._halting = halting
        self._after_ns = int(check_auto_reset(after_days) * DAY_NS)
        self._due: dict[str, int] = {}

    def seen(self, events: Iterable[Any]) -> None:
        """Notes the latched halts among ``events`` (the engine's ``Event`` objects)."""
        for e in events:
            if e.kind in ("breaker_tripped", "kill_switch") and e.breaker in self._halting:
                self._due.setdefault(e.breaker, e.ts + self._after_ns)

    def due(self, ts: int) -> list[str]:
        """The breakers to reset at ``ts``, each once per halt."""
        names = [name for name, at in self._due.items() if at <= ts]
        for name in names:
            del self._due[name]
        return names
