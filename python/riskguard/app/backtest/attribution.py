"""Attribution: what each rule group of the configuration contributes to the riskguard run.

The same signals run through (each row of :class:`Attribution`):

- ``naive``: the naïve run (the package's docstring);
- ``naive_vol_matched``: the naïve run scaled to the riskguard run's volatility, with no new
  run: its period returns times ``σ_full / σ_naive`` (standard deviations, ddof 1, of the two
  runs' period returns), its exposure likewise, so that holding less is not mistaken for a
  better strategy;
- ``full``: the riskguard run with the whole configuration;
- one row per rule group (:mod:`riskguard.app.backtest.groups`): the full configuration with
  that group switched off, each through a fresh Guard (on a journal in a temporary directory,
  deleted after); a group that is off in the configuration already is reported so and not
  run.

For each run, the figures of :mod:`riskguard.app.backtest.metrics` at one period (by default
days), and its **contribution**: the full configuration's figure minus the run's, that is what
the rules the run lacks add (for the naïve rows, what riskguard as a whole adds). A positive
contribution to return, CAGR, Sharpe, Sortino or Calmar is a gain; to max drawdown, CVaR or
exposure it is more loss, or more exposure.

Each contribution has a 95 % confidence interval from a **stationary bootstrap** of the two
runs' *paired* period returns (and exposures), resampled with the same indices
(:func:`riskguard.app.backtest.resample.paired_bootstrap`), so that it is the interval of the
difference: the percentile interval of ``figure(full*) - figure(run*)`` over the resamples.
The mean block length is Politis & White's automatic choice for the difference of the two
runs' returns (:func:`~riskguard.app.backtest.resample.optimal_block_length`); the vol-matched
scale stays the one of the whole sample. An interval that holds 0 is a difference the data
cannot tell from noise. Identical runs differ by exactly 0, interval included (and are not
resampled: every resample would be the same pair).
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from riskguard._core import RiskError
from riskguard.app.backtest.groups import RuleGroup, switched_off
from riskguard.app.backtest.metrics import METRICS, Periods, choose_period, figures, periods
from riskguard.app.backtest.resample import (
    DEFAULT_RESAMPLES,
    optimal_block_length,
    paired_bootstrap,
    paired_difference,
    percentile_interval,
)
from riskguard.app.backtest.result import Run, cell
from riskguard.app.backtest.runs import NAIVE_SHARE, run_guarded
from riskguard.app.config import Config

__all__ = [
    "CONFIDENCE",
    "FULL",
    "NAIVE",
    "VOL_MATCHED",
    "Attribution",
    "AttributionRow",
    "Interval",
    "attribute",
    "fmt_contribution",
    "fmt_figure",
    "fmt_interval",
    "scratch",
]

CONFIDENCE = 0.95
"""The confidence of the contributions' intervals."""
NAIVE, VOL_MATCHED, FULL = "naive", "naive_vol_matched", "full"
"""The names of the rows that are no rule group (:meth:`Attribution.row` takes them)."""
_LABELS = {
    NAIVE: "without riskguard",
    VOL_MATCHED: "without riskguard, vol-matched",
    FULL: "with riskguard (every rule)",
}
_KEYS = [key for key, _ in METRICS]
# Figures shown as percentages (their contributions in percentage points).
_PERCENT = {"total_return", "cagr", "max_drawdown", "cvar", "exposure"}
# The contributions the console shows (every one is in the result).
_SHOWN = ("total_return", "max_drawdown", "sharpe", "cvar", "exposure")


@dataclass(frozen=True)
class Interval:
    """A contribution: its ``estimate`` and the bounds of its confidence interval (NaN
    without a bootstrap)."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies wholly on one side of 0: a difference the data tells
        from noise."""
        return self.low > 0.0 or self.high < 0.0


@dataclass
class AttributionRow:
    """One run of an attribution (see the module's docstring): its ``name`` (``naive``,
    ``naive_vol_matched``, ``full`` or a rule group's), ``kind`` (``naive``, ``full``, or the
    group's kind), a one-line ``description``, a group's ``title`` in a sentence ("the time
    exit"; empty for the other rows), whether the group was ``off_already`` (then it
    has no figures and no run), its ``figures`` and ``contribution`` by metric key
    (:data:`~riskguard.app.backtest.metrics.METRICS`), the bootstrap's mean ``block_length``,
    its period ``returns`` and ``exposure``, and its ``run`` (None for the vol-matched row,
    which is no run of its own). ``unchanged``: its returns and exposure are the full
    configuration's, to the last bit (the group never acted): every contribution is 0."""

    name: str
    kind: str
    description: str
    title: str = ""
    off_already: bool = False
    figures: dict[str, float] = field(default_factory=dict)
    contribution: dict[str, Interval] = field(default_factory=dict)
    block_length: float = math.nan
    returns: np.ndarray = field(default_factory=lambda: np.zeros(0))
    exposure: np.ndarray = field(default_factory=lambda: np.zeros(0))
    run: Run | None = None
    unchanged: bool = False

    @property
    def label(self) -> str:
        """The row's name as a table shows it."""
        return _LABELS.get(self.name, f"without {self.name}")


@dataclass
class Attribution:
    """Every row of an attribution (the module's docstring), in order: ``naive``,
    ``naive_vol_matched``, ``full``, then the rule groups. ``period`` (``day``, ``hour`` or
    ``bar``) and ``periods_per_year`` are those of the returns compared; ``resamples`` (0: no
    bootstrap, so no intervals), ``seed`` and ``confidence`` those of the bootstrap;
    ``volatility_scale`` is ``σ_full / σ_naive``."""

    rows: list[AttributionRow]
    period: str
    periods_per_year: float
    resamples: int
    seed: int
    confidence: float
    volatility_scale: float

    def row(self, name: str) -> AttributionRow:
        """The row called ``name``.

        Raises KeyError: no such row."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def groups(self) -> list[AttributionRow]:
        """The rule groups' rows."""
        return [r for r in self.rows if r.name not in _LABELS]

    def render(self, console: Any) -> None:
        """Prints the figures of every run, the contributions with their intervals, and what
        each group does. Text is escaped as :func:`~riskguard.app.backtest.result.cell` does."""
        from rich.table import Table

        runs = Table(title=f"attribution: each run's figures ({self.returns_label})")
        runs.add_column("run")
        for _, label in METRICS:
            runs.add_column(label, justify="right")
        for r in self.rows:
            if r.off_already:
                runs.add_row(cell(r.label), "off already", *[""] * (len(METRICS) - 1))
            else:
                runs.add_row(cell(r.label), *(fmt_figure(k, r.figures[k]) for k in _KEYS))
        console.print(runs)

        ci = f"{self.confidence:.0%} CI" if self.resamples else "no CI"
        contributions = Table(
            title=f"contribution: the full configuration minus the run, [{ci}]",
            caption=self._caption(),
        )
        contributions.add_column("run")
        labels = dict(METRICS)
        for key in _SHOWN:
            contributions.add_column(labels[key], justify="right")
        for r in self.rows:
            if r.off_already or r.name == FULL:
                continue
            if r.unchanged:
                contributions.add_row(cell(r.label), "no effect", *[""] * 4)
                continue
            contributions.add_row(
                cell(r.label), *(fmt_interval(k, r.contribution[k]) for k in _SHOWN)
            )
        console.print(contributions)
        console.print(f"vol-matched: {self.row(VOL_MATCHED).description}", highlight=False)
        if any(r.unchanged for r in self.groups):
            console.print("no effect: the run is the full configuration's, to the last bit")
        for r in self.groups:
            # Plain lines: the words hold no markup, and none is read in them.
            console.print(f"  {r.name}: {r.description}", markup=False, highlight=False)

    @property
    def returns_label(self) -> str:
        """The returns compared, in words: ``daily returns``, ``hourly returns`` or
        ``per-bar returns``."""
        return {"day": "daily", "hour": "hourly"}.get(self.period, "per-bar") + " returns"

    def _caption(self) -> str:
        if not self.resamples:
            return f"{self.returns_label}; no bootstrap"
        return (
            f"* the interval excludes 0. Stationary bootstrap of the paired {self.returns_label}, "
            f"{self.resamples:,} resamples, seed {self.seed}, Politis-White block length. "
            "For max drawdown, CVaR and exposure, a positive contribution is more loss or "
            "more exposure; pp: percentage points."
        )


def fmt_figure(key: str, value: float) -> str:
    """A figure for a table: percentages with two decimals, ratios with two; NaN as —."""
    if not math.isfinite(value):
        return "—" if math.isnan(value) else ("∞" if value > 0 else "−∞")
    return f"{100 * value:.2f} %" if key in _PERCENT else f"{value:.2f}"


def fmt_contribution(key: str, value: float, *, signed: bool = True, unit: bool = True) -> str:
    """A contribution (or a spread of them, ``signed=False``) for a table: percentage points
    for percentages (`` pp`` unless ``unit`` is false), two decimals; NaN as —."""
    if not math.isfinite(value):
        return "—"
    scale, name = (100.0, " pp") if key in _PERCENT else (1.0, "")
    return f"{scale * value:{'+' if signed else ''}.2f}{name if unit else ''}"


def fmt_interval(key: str, c: Interval) -> str:
    """A contribution with its interval on a second line (in the contribution's unit),
    marked ``*`` when the interval excludes 0; the estimate alone without an interval."""
    text = fmt_contribution(key, c.estimate)
    if math.isnan(c.low):
        return text
    scale = 100.0 if key in _PERCENT else 1.0
    mark = " *" if c.excludes_zero else ""
    return f"{text}{mark}\n[{scale * c.low:+.2f}, {scale * c.high:+.2f}]"


def scratch(config: Config, folder: str | Path, name: str) -> Config:
    """``config`` with a new SQLite journal ``name.db`` in ``folder``, a temporary directory:
    a run of an attribution keeps nothing. (Not an in-memory one: the Guard writes from a
    worker thread, and an in-memory SQLite database is one per thread.)"""
    url = f"sqlite:///{Path(folder) / name}.db"
    journal = config.journal.model_copy(update={"url": url, "snapshot_interval_s": None})
    return config.model_copy(update={"journal": journal})


def attribute(
    bars: pl.DataFrame,
    signals: pl.DataFrame,
    config: Config,
    *,
    naive: Run,
    full: Run,
    groups: Sequence[RuleGroup],
    auto_reset_after: float | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Attribution:
    """The attribution of the module's docstring: ``naive`` and ``full`` are the two runs
    already made on ``bars`` and ``signals`` with ``config`` (its checks without data
    switched off already); each group of ``groups`` is run with ``config`` and that group
    switched off (and ``auto_reset_after``, as the full run). ``resamples`` 0 skips the
    bootstrap. ``progress`` is called with a label before each group's run.

    Raises RiskError: fewer than 2 returns at the period compared; ``resamples`` negative.
    """
    if resamples < 0:
        raise RiskError(f"resamples must be >= 0, got {resamples}")
    period = choose_period(full.ts)
    base, plain = periods(full, period), periods(naive, period)
    if base.returns.size < 2:
        raise RiskError(
            f"an attribution needs at least 2 returns; the data spans {full.ts.size} bar times"
        )
    scale = _volatility_scale(base.returns, plain.returns)
    matched = Periods(
        plain.name,
        plain.returns * scale,
        plain.exposure * scale,
        plain.periods_per_year,
        plain.years,
    )
    limits = config.limits.to_dict()
    rows = [
        AttributionRow(
            NAIVE,
            "naive",
            f"the same signals at a fixed {NAIVE_SHARE:.0%} of equity, split across the "
            "symbols, with no rule",
        ),
        AttributionRow(
            VOL_MATCHED,
            "naive",
            f"the naïve returns × {scale:.3f}, the riskguard run's volatility",
        ),
        AttributionRow(FULL, "full", "every rule of the configuration"),
    ]
    series: list[tuple[Periods, Run | None]] = [(plain, naive), (matched, None), (base, full)]
    with tempfile.TemporaryDirectory(prefix="riskguard-attribution-") as folder:
        for g in groups:
            row = AttributionRow(g.name, g.kind, g.describe(limits), g.title)
            rows.append(row)
            changed = switched_off(config, g)
            if changed is None:
                row.off_already = True
                continue
            if progress is not None:
                progress(f"without {g.name}")
            done = asyncio.run(
                run_guarded(
                    bars,
                    signals,
                    scratch(changed, folder, g.name),
                    auto_reset_after=auto_reset_after,
                )
            )
            series.append((periods(done, period), done))
    measured = [r for r in rows if not r.off_already]
    for row, (p, run) in zip(measured, series, strict=True):
        row.run, row.returns, row.exposure = run, p.returns, p.exposure
        row.unchanged = np.array_equal(p.returns, base.returns) and np.array_equal(
            p.exposure, base.exposure
        )
        row.figures = dict(
            zip(
                _KEYS,
                figures(p.returns[:, None], p.exposure[:, None], p.periods_per_year, p.years)[0],
                strict=True,
            )
        )
        row.block_length, row.contribution = _contribution(base, p, resamples, seed)
    return Attribution(rows, period[0], base.periods_per_year, resamples, seed, CONFIDENCE, scale)


def _volatility_scale(target: np.ndarray, source: np.ndarray) -> float:
    """``σ(target) / σ(source)``; 1 when ``source`` does not move (scaling it changes
    nothing then)."""
    sigma = float(np.std(source, ddof=1))
    return float(np.std(target, ddof=1)) / sigma if sigma > 0.0 else 1.0


def _contribution(
    full: Periods, other: Periods, resamples: int, seed: int
) -> tuple[float, dict[str, Interval]]:
    """The bootstrap's mean block length and each figure's contribution ``full - other``."""
    a = np.column_stack([full.returns, full.exposure])
    b = np.column_stack([other.returns, other.exposure])

    def statistic(sample: np.ndarray) -> np.ndarray:  # (T, r, 2) -> (r, len(METRICS))
        return figures(sample[..., 0], sample[..., 1], full.periods_per_year, full.years)

    point = paired_difference(a, b, statistic)
    if resamples == 0:
        return math.nan, {
            k: Interval(float(v), math.nan, math.nan) for k, v in zip(_KEYS, point, strict=True)
        }
    if np.array_equal(a, b):  # every resample is the same pair: every difference is 0
        return math.nan, {k: Interval(0.0, 0.0, 0.0) for k in _KEYS}
    block = optimal_block_length(full.returns - other.returns)
    diffs = paired_bootstrap(a, b, statistic, block_length=block, resamples=resamples, seed=seed)
    out = {}
    for j, key in enumerate(_KEYS):
        low, high = percentile_interval(diffs[:, j], CONFIDENCE)
        out[key] = Interval(float(point[j]), low, high)
    return block, out
