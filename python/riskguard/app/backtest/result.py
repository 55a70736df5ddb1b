"""A backtest's result: both runs, side by side (with the riskguard run's latched halts), its
attribution when asked for, and how it is printed."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.markup import escape

from riskguard.app.backtest.halts import Halt, utc
from riskguard.redact import printable, safe_url

if TYPE_CHECKING:
    from riskguard.app.backtest.attribution import Attribution
    from riskguard.app.backtest.walkforward import WalkForward

__all__ = ["SUMMARY_ROWS", "BacktestResult", "Run", "cell"]


@dataclass
class Run:
    """One run's equity after every bar (``ts`` int ns, ``equity`` in quote currency), its
    trades (dicts with at least ``pnl``, and ``r_multiple`` when known) and their summary
    (:func:`riskguard.performance.summary`).

    ``exposure`` is the gross exposure over equity at each ``ts`` (every position's absolute
    value at its last price, over equity). A riskguard run also has its ``decisions`` by
    reason code, its breaker ``trips`` (``ts``, ``breaker``, ``message``), its ``exits`` by
    reason (``time``, ``stop_loss``, ``partial_take_profit``, ...: the engine's
    ``exit_signal`` events) and its latched ``halts``; the naïve run has none.
    """

    name: str
    ts: np.ndarray
    equity: np.ndarray
    trades: list[dict[str, Any]]
    summary: dict[str, float] = field(default_factory=dict)
    exposure: np.ndarray = field(default_factory=lambda: np.zeros(0))
    decisions: dict[str, int] = field(default_factory=dict)
    trips: list[dict[str, Any]] = field(default_factory=list)
    exits: dict[str, int] = field(default_factory=dict)
    halts: list[Halt] = field(default_factory=list)


@dataclass
class BacktestResult:
    """Both runs, the riskguard run's decisions by reason code (``APPROVED`` for the
    approved), its breaker trips (``ts``, ``breaker``, ``message``), the journal it wrote, and
    the notes (checks switched off for want of data). Its latched halts are
    ``guarded.halts``. ``attribution`` and ``walk_forward`` are there when asked for
    (:class:`~riskguard.app.backtest.attribution.Attribution`,
    :class:`~riskguard.app.backtest.walkforward.WalkForward`); ``files`` are the report's."""

    naive: Run
    guarded: Run
    decisions: dict[str, int]
    trips: list[dict[str, Any]]
    journal: str
    bars: int
    signals: int
    notes: list[str]
    files: list[Path] = field(default_factory=list)
    attribution: Attribution | None = None
    walk_forward: WalkForward | None = None

    def render(self, console: Any) -> None:
        """Prints the side-by-side table (with the first latched halt: when the riskguard run
        stopped trading), every latched halt and its reset, the rejections by reason, the
        breaker trips, and the attribution when there is one. Text from the files (symbols in
        the notes) is printed as it is, its control characters and markup escaped, and the
        journal's URL with its password masked."""
        from rich.table import Table

        table = Table(title=f"{self.bars:,} bars, {self.signals:,} signals")
        table.add_column("")
        table.add_column("without riskguard", justify="right")
        table.add_column("with riskguard", justify="right")
        for key, label, fmt in SUMMARY_ROWS:
            table.add_row(label, fmt(self.naive.summary[key]), fmt(self.guarded.summary[key]))
        halts = self.guarded.halts
        table.add_row(
            "stopped trading (latched halt)",
            "—",
            cell(f"{halts[0].breaker}, {utc(halts[0].ts)}") if halts else "never",
        )
        console.print(table)
        for halt in halts:
            console.print(f"latched halt: {halt.describe()}", markup=False, highlight=False)
        reasons = Table(title="decisions by reason code")
        reasons.add_column("code")
        reasons.add_column("decisions", justify="right")
        for code, n in sorted(self.decisions.items(), key=lambda kv: (-kv[1], kv[0])):
            reasons.add_row(cell(code), f"{n:,}")
        console.print(reasons)
        trips = Counter(t["breaker"] for t in self.trips)
        if trips:
            console.print(
                "breaker trips: " + ", ".join(f"{b} × {n}" for b, n in sorted(trips.items())),
                markup=False,
            )
        else:
            console.print("breaker trips: none")
        # Plain lines: no markup is read in them, so a symbol such as "[/]" prints as it is.
        for note in self.notes:
            console.print(f"note: {printable(note)}", markup=False, highlight=False)
        if self.attribution is not None:
            self.attribution.render(console)
        if self.walk_forward is not None:
            self.walk_forward.render(console)
        console.print(f"journal: {printable(safe_url(self.journal))}", markup=False)
        for path in self.files:
            console.print(f"report: {printable(path)}", markup=False, highlight=False)


def cell(value: Any) -> str:
    """``value`` for a rich table cell: control characters shown escaped (``\\x1b``), then
    markup escaped, so that a symbol holding ``[bold]`` or ``[/]`` prints as it is."""
    return escape(printable(value))


def _pct(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{100 * x:.2f} %"


def _pct_fine(x: float) -> str:
    """Per-bar figures of minute bars are small: four decimals below 1 %."""
    return "—" if not math.isfinite(x) else f"{100 * x:.{4 if abs(x) < 0.01 else 2}f} %"


def _num(x: float) -> str:
    return "—" if not math.isfinite(x) else f"{x:.2f}"


def _count(x: float) -> str:
    return f"{int(x):,}"


SUMMARY_ROWS = [
    ("total_return", "total return", _pct),
    ("cagr", "CAGR", _pct),
    ("max_drawdown", "max drawdown", _pct),
    ("sharpe", "Sharpe", _num),
    ("sortino", "Sortino", _num),
    ("calmar", "Calmar", _num),
    ("var", "VaR 95 % (per bar)", _pct_fine),
    ("cvar", "CVaR 95 % (per bar)", _pct_fine),
    ("trades", "trades", _count),
    ("win_rate", "win rate", _pct),
    ("profit_factor", "profit factor", _num),
    ("avg_r", "average R", _num),
]
