"""`riskguard demo`: a strategy trading a seeded synthetic market through a crash, once without
risk management and once through a full :class:`~riskguard.Guard` (paper broker, SQLite journal,
every breaker armed at its default), printed side by side with the breaker timeline, the
decisions by reason code, the trades and the final risk figures, and written as a report.

The market is :func:`riskguard.synthetic.synthetic_market`'s: daily bars of four instruments
with a common factor, volatility clustering and a crash 70 % of the way through. The strategy
is the built-in ``ema-cross`` (:mod:`riskguard.strategies`), whose signals carry ATR, trend
EMA, confidence, consensus and volume. The same seed always gives the same output.

Then the attribution (:mod:`riskguard.app.backtest.attribution`) says, in sentences made from
its numbers, where riskguard saved the account (the naïve run's worst stretch, and the crash),
what holding less explains, and what each rule cost or earned. To keep the demo quick it
attributes :data:`DEMO_GROUPS` only, the rules that act most on this market, and says so;
``riskguard backtest --attribution`` attributes every group.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from riskguard.analytics import max_drawdown, sharpe_ratio
from riskguard.app.backtest import SUMMARY_ROWS, BacktestResult, Run, backtest_frames, cell
from riskguard.app.backtest.attribution import FULL, NAIVE, VOL_MATCHED, Attribution, Interval
from riskguard.app.config import Config
from riskguard.redact import printable
from riskguard.strategies import ema_cross
from riskguard.synthetic import synthetic_market

__all__ = ["DEMO_GROUPS", "demo_bars", "run_demo"]

DAY_NS = 86_400 * 10**9
START_NS = 1_578_268_800 * 10**9  # Monday 6 January 2020, 00:00 UTC
SYMBOLS = ["BTC", "ETH", "SPX", "GOLD"]
N_DAYS = 1_000
CRASH_DAYS = 5  # synthetic_market's default
DEMO_GROUPS = ("sizing", "time_exit", "position_loss", "volatility_spike")
"""The rule groups the demo attributes: each of the others costs the demo a rerun."""


def demo_bars(seed: int = 7, n_days: int = N_DAYS) -> pl.DataFrame:
    """Daily OHLC bars of the synthetic market (``ts``, ``symbol``, ``open``, ``high``,
    ``low``, ``close``, ``volume``), time-ordered: each close follows the market's return, each
    open is the previous close, and the range reaches past both by a seeded fraction of the
    day's move."""
    market = synthetic_market(seed, n_days=n_days, symbols=SYMBOLS)
    rng = np.random.default_rng(seed + 1)
    closes = 100.0 * np.cumprod(1.0 + market.returns, axis=0)
    opens = np.vstack([np.full(len(SYMBOLS), 100.0), closes[:-1]])
    reach = np.abs(market.returns) * rng.uniform(0.1, 0.6, size=closes.shape) + 0.002
    highs = np.maximum(opens, closes) * (1.0 + reach)
    lows = np.minimum(opens, closes) * (1.0 - reach)
    volume = 5e7 * rng.uniform(0.5, 1.5, size=closes.shape)
    ts = START_NS + DAY_NS * np.arange(n_days, dtype=np.int64)
    return pl.DataFrame(
        {
            "ts": np.repeat(ts, len(SYMBOLS)),
            "symbol": np.tile(SYMBOLS, n_days),
            "open": opens.ravel(),
            "high": highs.ravel(),
            "low": lows.ravel(),
            "close": closes.ravel(),
            "volume": volume.ravel(),
        }
    )


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1e9, tz=timezone.utc).strftime("%Y-%m-%d")


def run_demo(
    seed: int = 7, out: str | Path | None = None, console: Console | None = None
) -> BacktestResult:
    """Runs the demo and prints it on ``console`` (default: the terminal); writes the report
    and the journal to ``out`` (default: a new temporary directory). Returns the result.

    Raises RiskError: an unusable ``out`` directory.
    """
    console = console or Console()
    folder = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="riskguard-demo-"))
    bars = demo_bars(seed)
    signals = ema_cross(bars, trend=100)
    # The defaults, with no spread check (bars carry none); the time exit counts bars.
    config = Config(broker={"allow_short": True}, limits={"max_spread_bps": None})
    crash = synthetic_market(seed, n_days=N_DAYS).crash_start
    console.print(
        f"riskguard demo: {len(SYMBOLS)} instruments ({', '.join(SYMBOLS)}), {N_DAYS} daily "
        f"bars each, a crash on day {crash}; the ema-cross strategy, seed {seed}",
        highlight=False,
    )
    result = backtest_frames(
        bars,
        signals,
        config=config,
        out=folder,
        console=console,
        progress=True,
        attribution=True,
        groups=DEMO_GROUPS,
    )
    _print(console, result)
    attribution = result.attribution
    assert attribution is not None  # asked for above
    console.print(
        f"what each rule did: the {len(DEMO_GROUPS)} rule groups that act most here "
        f"({', '.join(DEMO_GROUPS)}), each switched off in turn; `riskguard backtest "
        "--attribution` attributes all of them",
        markup=False,
        highlight=False,
    )
    attribution.render(console)
    for sentence in _in_words(result.naive, attribution, START_NS + DAY_NS * crash):
        console.print(sentence, highlight=False)
    _profiles(console, bars, signals, result.naive)
    # The folder is the user's: printed as it is, never read as markup.
    console.print(
        f"report and journal written to {printable(folder)}", markup=False, highlight=False
    )
    return result


def _print(console: Console, r: BacktestResult) -> None:
    table = Table(title="what risk management changed")
    table.add_column("")
    table.add_column("without riskguard", justify="right")
    table.add_column("with riskguard", justify="right")
    for key, label, fmt in SUMMARY_ROWS:
        table.add_row(label, fmt(r.naive.summary[key]), fmt(r.guarded.summary[key]))
    console.print(table)

    # Volatility spikes trip often on daily data: counted, while every other trip is listed.
    spikes = [t for t in r.trips if t["breaker"] == "volatility_spike"]
    trips = Table(title="breaker trips")
    for column in ("day", "breaker", "what happened"):
        trips.add_column(column)
    for t in r.trips:
        if t["breaker"] != "volatility_spike":
            trips.add_row(_day(t["ts"]), cell(t["breaker"]), cell(t["message"]))
    if spikes:
        first, last = _day(spikes[0]["ts"]), _day(spikes[-1]["ts"])
        trips.add_row(f"{first} … {last}", "volatility_spike", f"tripped {len(spikes)} times")
    console.print(trips if r.trips else "breaker trips: none")

    reasons = Table(title="decisions by reason code")
    reasons.add_column("code")
    reasons.add_column("decisions", justify="right")
    for code, count in sorted(r.decisions.items(), key=lambda kv: (-kv[1], kv[0])):
        reasons.add_row(cell(code), f"{count:,}")
    console.print(reasons)

    trades = Table(title="trades through riskguard")
    for column in ("symbol", "side", "entry", "exit", "state", "P&L", "R"):
        trades.add_column(column, justify="right" if column in ("P&L", "R") else "left")
    for t in r.guarded.trades:
        trades.add_row(
            cell(t["symbol"]),
            cell(t["side"]),
            _day(t["entry_ts"]),
            _day(t["exit_ts"]) if t.get("exit_ts") else "open",
            cell(t["state"]),
            f"{t['pnl']:,.2f}",
            _r(t.get("r_multiple")),
        )
    console.print(trades)

    g, n = r.guarded.summary, r.naive.summary
    figures = Table(title="final risk figures (daily)")
    for column in ("", "VaR 95 %", "CVaR 95 %", "max drawdown", "Sharpe"):
        figures.add_column(column, justify="right" if column else "left")
    for name, s in (("without riskguard", n), ("with riskguard", g)):
        figures.add_row(
            name,
            f"{100 * s['var']:.2f} %",
            f"{100 * s['cvar']:.2f} %",
            f"{100 * s['max_drawdown']:.2f} %",
            f"{s['sharpe']:.2f}",
        )
    console.print(figures)
    console.print(
        f"riskguard took the max drawdown from {100 * n['max_drawdown']:.1f} % to "
        f"{100 * g['max_drawdown']:.1f} %",
        highlight=False,
    )
    for note in r.notes:
        console.print(f"note: {printable(note)}", markup=False, highlight=False)


def _profiles(console: Console, bars: pl.DataFrame, signals: pl.DataFrame, naive: Run) -> None:
    """The same signals through each profile (docs/gate.md, "Profiles"), against the naive
    run: which keeps the strategy's edge, and at what drawdown."""
    from riskguard.app.config.profiles import PROFILES

    def figures(run: Run) -> tuple[float, float]:
        r = np.diff(run.equity) / run.equity[:-1]
        return float(sharpe_ratio(r)), float(max_drawdown(r))

    naive_sharpe, naive_dd = figures(naive)
    table = Table(title="the same signals through each profile")
    for column in ("profile", "Sharpe", "kept of the naive", "max drawdown", "of the naive"):
        table.add_column(column, justify="right")
    table.add_row("without riskguard", f"{naive_sharpe:.2f}", "", f"{naive_dd:.1%}", "")
    kept = {}
    for name in PROFILES:
        config = Config(profile=name, broker={"allow_short": True})
        run = backtest_frames(bars, signals, config=config, progress=False).guarded
        sharpe, dd = figures(run)
        kept[name] = (sharpe / naive_sharpe if naive_sharpe > 0 else float("nan"), dd / naive_dd)
        table.add_row(
            name, f"{sharpe:.2f}", f"{kept[name][0]:.0%}", f"{dd:.1%}", f"{kept[name][1]:.0%}"
        )
    console.print(table)
    best = max(kept, key=lambda n: kept[n][0] if np.isfinite(kept[n][0]) else -np.inf)
    console.print(
        f"On this market the {best} profile keeps the most of the strategy's Sharpe "
        f"({kept[best][0]:.0%}) at {kept[best][1]:.0%} of its max drawdown; "
        f"`riskguard backtest --profile {best} --attribution` shows what each of its rules does.",
        highlight=False,
    )


def _r(x: Any) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:+.2f}"


def _change(run: Run, start: int, end: int) -> float:
    """The run's equity change from ``start`` to ``end`` (times of its curve; the first
    point at or after each), a fraction."""
    first, last = np.searchsorted(run.ts, [start, end])
    return float(run.equity[min(last, len(run.ts) - 1)] / run.equity[first]) - 1.0


def _worst_stretch(run: Run) -> tuple[int, int]:
    """The times of the peak and the trough of the run's largest drawdown."""
    trough = int(np.argmax(1.0 - run.equity / np.maximum.accumulate(run.equity)))
    peak = int(np.argmax(run.equity[: trough + 1]))
    return int(run.ts[peak]), int(run.ts[trough])


def _moved(change: float) -> str:
    return f"lost {-100 * change:.1f} %" if change < 0 else f"gained {100 * change:.1f} %"


def _ci(c: Interval, scale: float = 1.0, flip: bool = False) -> str:
    """``(95 % CI a to b)`` of ``c`` times ``scale``, negated with ``flip``, and whether the
    data can tell it from noise."""
    low, high = (-c.high, -c.low) if flip else (c.low, c.high)
    noise = "" if c.excludes_zero else ", within noise"
    return f"(95 % CI {scale * low:.2f} to {scale * high:.2f}{noise})"


def _sharpe_words(c: Interval) -> str:
    if c.estimate < 0:
        return f"cost {-c.estimate:.2f} Sharpe {_ci(c, flip=True)}"
    return f"added {c.estimate:.2f} Sharpe {_ci(c)}"


def _drawdown_words(c: Interval) -> str:
    if c.estimate <= 0:
        return f"cut the max drawdown by {-100 * c.estimate:.2f} points {_ci(c, 100, True)}"
    return f"deepened the max drawdown by {100 * c.estimate:.2f} points {_ci(c, 100)}"


def _in_words(naive: Run, a: Attribution, crash: int) -> list[str]:
    """Short sentences from the numbers: where riskguard saved the account (the naïve run's
    worst stretch, and the crash), what holding less explains, then what each rule group cost
    or earned."""
    full = a.row(FULL).run
    assert full is not None  # the full row is the riskguard run
    peak, trough = _worst_stretch(naive)
    crash_end = crash + CRASH_DAYS * DAY_NS
    lines = [
        f"From {_day(peak)} to {_day(trough)}, the naive run's worst stretch, the account "
        f"{_moved(_change(naive, peak, trough))} without riskguard and "
        f"{_moved(_change(full, peak, trough))} with it. In the crash ({CRASH_DAYS} days from "
        f"{_day(crash)}) it {_moved(_change(naive, crash, crash_end))} without riskguard and "
        f"{_moved(_change(full, crash, crash_end))} with it."
    ]
    # The rule whose removal would have cost the most in that stretch, if any would have.
    acted = [(_change(g.run, peak, trough), g.title) for g in a.groups if g.run is not None]
    worst = min(acted, default=None)
    if worst is not None and worst[0] < _change(full, peak, trough):
        lines.append(
            f"Without {worst[1]}, riskguard would have {_moved(worst[0])} in that stretch: "
            "of the rules attributed, the one that mattered most there."
        )
    whole, matched = a.row(NAIVE), a.row(VOL_MATCHED)
    lines.append(
        f"Over the whole run riskguard {_drawdown_words(whole.contribution['max_drawdown'])} "
        f"and {_sharpe_words(whole.contribution['sharpe'])}."
    )
    vs = matched.contribution["sharpe"]
    lines.append(
        "Scaled down to riskguard's volatility, the naive strategy keeps its Sharpe "
        f"({matched.figures['sharpe']:.2f}): against it riskguard {_sharpe_words(vs)}"
        + (
            ", so its lower risk comes from holding less, not from better trades."
            if vs.estimate < 0
            else ", so it did more than hold less."
        )
    )
    for g in a.groups:
        title = g.title[0].upper() + g.title[1:]
        if g.off_already:
            lines.append(f"{title} is off in this configuration.")
        elif g.unchanged:
            lines.append(f"{title} never acted in this run.")
        else:
            c = g.contribution
            lines.append(
                f"{title} {_sharpe_words(c['sharpe'])} and {_drawdown_words(c['max_drawdown'])}."
            )
    return lines
