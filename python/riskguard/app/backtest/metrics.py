"""The figures an attribution compares (:data:`METRICS`), computed at one period for every
run, so that two runs' figures and their bootstrap are of the same returns.

**The period.** Runs are compared on the returns of their equity at the end of each UTC day
(the last point of the day; the first return runs from the curve's first point). Data spanning
fewer than :data:`MIN_RETURNS` days is compared by the hour instead, and data spanning fewer
than that many hours bar by bar (:func:`choose_period`). Ratios are annualised at that period
(365.25 days a year, 8,766 hours; bar by bar, at the median spacing as
:func:`riskguard.performance.summary` does).

**The figures**, over the period returns ``r`` (simple returns) of ``T`` periods spanning
``years`` of calendar time:

- ``total_return``: ``prod(1 + r) - 1``; ``cagr``: ``(1 + total_return) ** (1 / years) - 1``;
- ``max_drawdown``, ``sharpe``, ``sortino``: :mod:`riskguard.analytics`' (a positive loss;
  ddof 1; downside deviation over all periods);
- ``calmar``: ``cagr / max_drawdown`` (NaN without a drawdown);
- ``cvar``: the 95 % historical CVaR of one period, a positive loss;
- ``exposure``: the mean gross exposure over equity. The gross exposure (every position's
  absolute value at its last price) over equity is taken after every bar, averaged within
  each period, then over the periods: 1.0 is fully invested, long or short, on average.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from riskguard.analytics import cvar_historical, max_drawdown, sharpe_ratio, sortino_ratio
from riskguard.app.backtest.result import Run
from riskguard.performance import NS_PER_YEAR, infer_periods_per_year

__all__ = ["METRICS", "MIN_RETURNS", "PERIODS", "Periods", "choose_period", "figures", "periods"]

METRICS = (
    ("total_return", "return"),
    ("cagr", "CAGR"),
    ("max_drawdown", "max drawdown"),
    ("sharpe", "Sharpe"),
    ("sortino", "Sortino"),
    ("calmar", "Calmar"),
    ("cvar", "CVaR 95 %"),
    ("exposure", "exposure"),
)
"""``(key, label)`` of each figure, in display order; :func:`figures` returns them so."""

MIN_RETURNS = 20
"""Returns a period needs for a run to be compared at it (:func:`choose_period`)."""

PERIODS = (("day", 86_400 * 10**9), ("hour", 3_600 * 10**9))
"""The periods tried, coarsest first, with their length in ns."""

_CVAR_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Periods:
    """A run at a period: ``returns`` and ``exposure`` (one per period), the period's
    ``name`` (``day``, ``hour`` or ``bar``), ``periods_per_year`` and the calendar ``years``
    the returns span."""

    name: str
    returns: np.ndarray
    exposure: np.ndarray
    periods_per_year: float
    years: float


def choose_period(ts: np.ndarray) -> tuple[str, int | None]:
    """The period of the module's docstring for a curve at ``ts`` (int ns): its name and
    length in ns (None: bar by bar)."""
    span = int(ts[-1] - ts[0])
    for name, length in PERIODS:
        if span >= MIN_RETURNS * length:
            return name, length
    return "bar", None


def periods(run: Run, period: tuple[str, int | None]) -> Periods:
    """``run`` at ``period`` (:func:`choose_period` of its times)."""
    name, length = period
    ts, equity, exposure = run.ts, run.equity, run.exposure
    years = (int(ts[-1]) - int(ts[0])) / NS_PER_YEAR
    if length is None:
        r = equity[1:] / equity[:-1] - 1.0
        return Periods(name, r, exposure[1:], infer_periods_per_year(ts), years)
    key = ts // length
    ends = np.append(key[1:] != key[:-1], True)
    level = np.concatenate([equity[:1], equity[ends]])
    # Each point's period, numbered from 0, for the exposure's mean within it.
    number = np.cumsum(np.concatenate([[0], ends[:-1]]))
    mean_exposure = np.bincount(number, weights=exposure) / np.bincount(number)
    return Periods(
        name,
        level[1:] / level[:-1] - 1.0,
        mean_exposure,
        NS_PER_YEAR / length,
        years,
    )


def figures(
    returns: np.ndarray, exposure: np.ndarray, periods_per_year: float, years: float
) -> np.ndarray:
    """The :data:`METRICS` of each column of ``returns`` and ``exposure`` (``(T, r)``: ``r``
    runs or resamples of ``T`` periods), as ``(r, len(METRICS))``."""
    r = np.asarray(returns, dtype=np.float64)
    total = np.prod(1.0 + r, axis=0) - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        cagr = np.where(total > -1.0, np.maximum(1.0 + total, 0.0) ** (1.0 / years) - 1.0, -1.0)
        drawdown = max_drawdown(r)
        calmar = np.where(drawdown > 0.0, cagr / drawdown, math.nan)
    return np.column_stack(
        [
            total,
            cagr,
            drawdown,
            sharpe_ratio(r, periods_per_year=periods_per_year),
            sortino_ratio(r, periods_per_year=periods_per_year),
            calmar,
            cvar_historical(r, _CVAR_CONFIDENCE),
            np.asarray(exposure, dtype=np.float64).mean(axis=0),
        ]
    )
