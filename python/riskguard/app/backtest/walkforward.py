"""Walk-forward attribution: the attribution (:mod:`riskguard.app.backtest.attribution`)
repeated on ``N`` consecutive windows of the bars, so that a rule's contribution can be seen to
hold, or not, from one stretch of history to the next.

The bar times are split into ``N`` consecutive windows of equal counts (all the bars of one
time in one window). Each window gets the signals from its first bar time up to the next
window's (the last, to the end), its own naïve run, and a fresh Guard for its riskguard run
and for each group's run. Windows have no bootstrap: the interval of each window would be
wide, and the spread over the windows is the measure of stability here.

Per group and figure (:meth:`WalkForward.stability`): the contribution in every window, its
mean, its spread (the standard deviation over the windows, ddof 1) and the share of windows
whose contribution has the sign of the mean (1.0: every window agrees; near 0.5: a coin toss).
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from riskguard._core import RiskError
from riskguard.app.backtest.attribution import (
    FULL,
    Attribution,
    attribute,
    fmt_contribution,
    scratch,
)
from riskguard.app.backtest.groups import RuleGroup
from riskguard.app.backtest.halts import utc
from riskguard.app.backtest.metrics import METRICS
from riskguard.app.backtest.result import cell
from riskguard.app.backtest.runs import run_guarded, run_naive
from riskguard.app.config import Config

__all__ = [
    "MAX_WINDOWS",
    "MIN_WINDOWS",
    "MIN_WINDOW_TIMES",
    "Stability",
    "WalkForward",
    "walk",
    "windows",
]

MIN_WINDOWS, MAX_WINDOWS = 2, 50
"""The number of windows a walk-forward takes, at least and at most."""
MIN_WINDOW_TIMES = 50
"""Bar times a window needs at least."""

# The figures the console shows per window (every one is in the result).
_SHOWN = ("sharpe", "max_drawdown")


@dataclass(frozen=True)
class Stability:
    """One group's contribution to one figure over the windows: ``values`` (one per window),
    their ``mean``, ``spread`` (standard deviation, ddof 1) and ``same_sign`` (the share of
    windows whose contribution has the mean's sign; windows with a NaN figure left out)."""

    values: np.ndarray
    mean: float
    spread: float
    same_sign: float


@dataclass
class WalkForward:
    """The attribution of each window, in time order (``windows``, without intervals), and
    each window's first and last bar time (``bounds``, ns)."""

    windows: list[Attribution]
    bounds: list[tuple[int, int]]

    def stability(self, name: str, metric: str) -> Stability:
        """The contribution of the row ``name`` (a group, or ``naive``) to ``metric`` (a key
        of :data:`~riskguard.app.backtest.metrics.METRICS`) over the windows.

        Raises KeyError: no such row, or a group that was off already."""
        rows = [w.row(name) for w in self.windows]
        if rows[0].off_already:
            raise KeyError(f"{name} was off already: it has no contribution")
        values = np.array([r.contribution[metric].estimate for r in rows])
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return Stability(values, math.nan, math.nan, math.nan)
        mean = float(finite.mean())
        spread = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
        same = float(np.mean(np.sign(finite) == np.sign(mean)))
        return Stability(values, mean, spread, same)

    def render(self, console: Any) -> None:
        """Prints, per figure shown (Sharpe, max drawdown), each group's contribution in every
        window, its mean, its spread and the share of windows of the mean's sign."""
        from rich.table import Table

        labels = dict(METRICS)
        first = self.windows[0]
        names = [r.name for r in first.rows if r.name != FULL and not r.off_already]
        span = f"{utc(self.bounds[0][0])} to {utc(self.bounds[-1][1])}"
        for key in _SHOWN:
            table = Table(
                title=f"walk-forward: contribution to {labels[key]} in {len(self.windows)} "
                f"windows, {span}",
                caption="full configuration minus the run, per window; same sign: the share "
                "of windows whose contribution has the mean's sign",
            )
            table.add_column("run")
            table.add_column("per window")
            for column in ("mean", "spread", "same sign"):
                table.add_column(column, justify="right")
            for name in names:
                s = self.stability(name, key)
                table.add_row(
                    cell(first.row(name).label),
                    " ".join(fmt_contribution(key, v, unit=False) for v in s.values),
                    fmt_contribution(key, s.mean),
                    fmt_contribution(key, s.spread, signed=False),
                    "—" if math.isnan(s.same_sign) else f"{s.same_sign:.0%}",
                )
            console.print(table)


def windows(bars: pl.DataFrame, n: int) -> list[tuple[int, int]]:
    """The first bar time of each of ``n`` windows and the first time after it (the last
    window's: one past its last time).

    Raises RiskError: ``n`` outside [2, 50]; fewer than :data:`MIN_WINDOW_TIMES` bar times a
    window."""
    if isinstance(n, bool) or not isinstance(n, int) or not MIN_WINDOWS <= n <= MAX_WINDOWS:
        raise RiskError(f"walk_forward must be a whole number in [2, 50], got {n!r}")
    times = bars["ts"].unique(maintain_order=True).to_numpy()
    if times.size < n * MIN_WINDOW_TIMES:
        most = times.size // MIN_WINDOW_TIMES
        raise RiskError(
            f"walk_forward={n} needs at least {MIN_WINDOW_TIMES} bar times a window; the "
            f"prices have {times.size:,} ({times.size // n:,} a window): "
            + (f"use at most {most} windows" if most >= MIN_WINDOWS else "give more data")
        )
    parts = np.array_split(times, n)
    starts = [int(p[0]) for p in parts]
    return list(zip(starts, [*starts[1:], int(times[-1]) + 1], strict=True))


def walk(
    bars: pl.DataFrame,
    signals: pl.DataFrame,
    config: Config,
    n: int,
    *,
    groups: Sequence[RuleGroup],
    auto_reset_after: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> WalkForward:
    """The walk-forward attribution of the module's docstring on ``n`` windows, with
    ``config`` (its checks without data switched off already). ``progress`` is called with a
    label before each run.

    Raises RiskError: as :func:`windows`; a window too short for an attribution.
    """
    out, bounds = [], []
    for k, (start, stop) in enumerate(windows(bars, n), 1):
        part = bars.filter((pl.col("ts") >= start) & (pl.col("ts") < stop))
        # A signal before the first bar is acted on at the first bar, as in the whole run.
        after = pl.col("ts") >= start if k > 1 else pl.lit(True)
        sig = signals.filter(after & (pl.col("ts") < stop))

        def tell(label: str, k: int = k) -> None:
            if progress is not None:
                progress(f"window {k}/{n}: {label}")

        tell("without riskguard")
        naive, _ = asyncio.run(run_naive(part, sig, config))
        tell("with riskguard")
        with tempfile.TemporaryDirectory(prefix="riskguard-walk-forward-") as folder:
            full = asyncio.run(
                run_guarded(
                    part, sig, scratch(config, folder, "full"), auto_reset_after=auto_reset_after
                )
            )
        out.append(
            attribute(
                part,
                sig,
                config,
                naive=naive,
                full=full,
                groups=groups,
                auto_reset_after=auto_reset_after,
                resamples=0,
                progress=tell,
            )
        )
        bounds.append((int(part["ts"][0]), int(part["ts"][-1])))
    return WalkForward(out, bounds)
