"""The attribution chart (``attribution.png``): each run's contribution
(:mod:`riskguard.app.backtest.attribution`) to Sharpe, max drawdown, return and CVaR, as
horizontal bars with their confidence intervals as whiskers.

Two rows of panels, each on its own scale: riskguard as a whole (the full configuration
against the naïve run, and against the naïve run at riskguard's volatility), then each rule
group. A bar is green when the rules the run lacks improve the figure (more Sharpe or return,
less drawdown or CVaR), red when they worsen it, and pale when its interval holds 0 (noise).
A group that was off already, or that never acted (the same run), is named with no bar. Drawn
as the rest of the report is (:mod:`riskguard.app.report.figures`): the same attribution
always gives the same bytes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes

from riskguard.app.backtest.attribution import Attribution, AttributionRow
from riskguard.app.backtest.metrics import METRICS
from riskguard.app.report.figures import HEIGHT, canvas, literal, png

__all__ = ["ATTRIBUTION_CHART", "attribution_png", "write_attribution_chart"]

ATTRIBUTION_CHART = "attribution.png"
"""The chart's file name in the report's directory."""

# Each figure drawn, and whether a positive contribution to it is an improvement.
_PANELS = (("sharpe", True), ("max_drawdown", False), ("total_return", True), ("cvar", False))
_PERCENT = {"max_drawdown", "total_return", "cvar"}
_GOOD, _BAD, _NOTE = "#2ca02c", "#d62728", "#7f7f7f"
_ROW_PX = 26


def _bars(ax: Axes, rows: list[AttributionRow], key: str, higher_is_better: bool) -> None:
    scale = 100.0 if key in _PERCENT else 1.0
    for y, r in zip(np.arange(len(rows))[::-1], rows, strict=True):
        if r.off_already or r.unchanged:
            note = " off already" if r.off_already else " same run"
            ax.text(0.0, y, note, va="center", fontsize=8, color=_NOTE)
            continue
        c = r.contribution[key]
        if not math.isfinite(c.estimate):
            continue
        good = (c.estimate > 0) == higher_is_better
        ax.barh(
            y,
            scale * c.estimate,
            color=_GOOD if good else _BAD,
            alpha=0.9 if c.excludes_zero else 0.35,
            height=0.6,
        )
        if math.isfinite(c.low):
            ax.errorbar(
                scale * c.estimate,
                y,
                xerr=[[scale * (c.estimate - c.low)], [scale * (c.high - c.estimate)]],
                fmt="none",
                ecolor="black",
                capsize=3,
                linewidth=1.0,
            )
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.grid(True, axis="x", alpha=0.3)


def attribution_png(attribution: Attribution) -> bytes:
    """The chart of the module's docstring, as PNG bytes: 1200 pixels wide, taller than 600
    pixels when the rows need it."""
    whole = [attribution.row(name) for name in ("naive", "naive_vol_matched")]
    groups = attribution.groups
    sections = [s for s in (whole, groups) if s]
    fig = canvas(max(HEIGHT, 160 + _ROW_PX * (len(whole) + len(groups) + 2)))
    grid = fig.add_gridspec(
        len(sections), len(_PANELS), height_ratios=[len(s) + 1 for s in sections]
    )
    labels = dict(METRICS)
    for i, rows in enumerate(sections):
        first = fig.add_subplot(grid[i, 0])
        for j, (key, higher_is_better) in enumerate(_PANELS):
            ax = first if j == 0 else fig.add_subplot(grid[i, j], sharey=first)
            _bars(ax, rows, key, higher_is_better)
            ax.set_title(f"{labels[key]}{' (pp)' if key in _PERCENT else ''}", fontsize=10)
            if j:
                ax.tick_params(labelleft=False)
        first.set_yticks(np.arange(len(rows))[::-1], [literal(r.label) for r in rows], fontsize=9)
    ci = f"{attribution.confidence:.0%} CI" if attribution.resamples else "no interval"
    fig.suptitle(
        f"Contribution: the full configuration minus each run ({ci}, "
        f"{attribution.returns_label})\nGreen: the rules the run lacks help; red: they hurt; "
        "pale: the interval holds 0. Top: riskguard as a whole; below: each rule group."
    )
    return png(fig)


def write_attribution_chart(attribution: Attribution, out: str | Path) -> Path:
    """Writes :data:`ATTRIBUTION_CHART` into the directory ``out`` (which must exist) and
    returns its path."""
    path = Path(out) / ATTRIBUTION_CHART
    path.write_bytes(attribution_png(attribution))
    return path
