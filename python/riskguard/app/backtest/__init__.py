"""Backtests: the same signals traded twice through the same paper broker, once naïvely and once
through riskguard, side by side.

- **Naïve**: every signal takes the position to a fixed share of equity (95 % of the
  equity at the signal, split evenly across the file's symbols, in notional; or the signal's
  ``quantity``; long or short, flat for a short when the broker does not short), held until the
  next signal of that symbol. No gate, no sizing, no stops, no breakers. Orders the broker
  refuses (insufficient funds) are counted and reported.
- **riskguard**: every signal goes through a :class:`~riskguard.Guard` with the configuration:
  the gate, sizing, the exit policy and every breaker.

Both runs trade the bars through the configured paper broker (its slippage and commissions): a
signal issued at a bar's close is filled at the next bar's open, and equity is the broker's
(cash plus positions at their last price) after every bar.

Prices are bars (``timestamp``, optional ``symbol``, ``open``, ``high``, ``low``, ``close``,
optional ``volume``) or ticks (``timestamp``, optional ``symbol``, ``price``), CSV or Parquet,
read with polars. Signals are ``timestamp``, ``symbol``, ``side`` and optionally ``stop``,
``target``, ``confidence``, ``consensus``, ``quantity``, ``atr``, ``ema``, ``volume_24h``,
``spread_bps``. A signal is acted on at the first bar at or after its timestamp, entering at
that bar's close. Timestamps are parsed as UTC (a naive time is UTC).

A gate check whose input the signals never carry (a spread, say, which bars do not have) is
switched off for the run, and the result says so: the alternative is refusing every signal.

Bad files raise :class:`DataError`, one line naming the file, the line and the column
(:mod:`riskguard.app.backtest.data`, which reads them).

**Latched halts.** A latched breaker that halts (by default ``max_drawdown``) stops the
riskguard run for good: the result reports when, which breaker, and the equity then
(:mod:`riskguard.app.backtest.halts`), and the report marks it on the equity chart. With
``auto_reset_after`` (days of data time), each such halt is reset that long after it tripped
(``guard.reset(name, confirm=True, actor="backtest")``), so that a research run goes on; each
reset is listed too.

**Attribution.** With ``attribution``, the same signals also run with each rule group
switched off in turn, and each run's contribution is reported with a bootstrap confidence
interval (:mod:`riskguard.app.backtest.attribution`); with ``walk_forward=N``, that is
repeated on ``N`` consecutive windows of the bars (:mod:`riskguard.app.backtest.walkforward`).

Text from the files (symbols, notes about them) is printed with its control characters and
rich markup escaped, and a journal URL with its password masked (:mod:`riskguard.redact`).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from riskguard._core import RiskError
from riskguard.app.backtest.attribution import Attribution, attribute
from riskguard.app.backtest.data import (
    DEFAULT_COLUMNS,
    MAX_PRICE,
    MAX_QTY,
    MAX_VOLUME,
    MIN_PRICE,
    PRICE_FIELDS,
    SIGNAL_NUMBERS,
    Columns,
    DataError,
    read_prices,
    read_signals,
)
from riskguard.app.backtest.groups import GROUP_NAMES, RULE_GROUPS, group, switched_off
from riskguard.app.backtest.halts import Halt, check_auto_reset
from riskguard.app.backtest.resample import DEFAULT_RESAMPLES
from riskguard.app.backtest.result import SUMMARY_ROWS, BacktestResult, Run, cell
from riskguard.app.backtest.runs import NAIVE_SHARE, run_guarded, run_naive
from riskguard.app.backtest.walkforward import WalkForward, walk, windows
from riskguard.app.bootstrap import open_journal
from riskguard.app.config import Config

__all__ = [
    "GROUP_NAMES",
    "MAX_PRICE",
    "MAX_QTY",
    "MAX_VOLUME",
    "MIN_PRICE",
    "NAIVE_SHARE",
    "PRICE_FIELDS",
    "RULE_GROUPS",
    "SIGNAL_NUMBERS",
    "SUMMARY_ROWS",
    "Attribution",
    "BacktestResult",
    "Columns",
    "DataError",
    "Halt",
    "Run",
    "WalkForward",
    "backtest_frames",
    "cell",
    "read_prices",
    "read_signals",
    "run_backtest",
    "run_guarded",
    "run_naive",
]

# Each gate check that needs a signal field, and the settings that switch it off.
CHECK_INPUTS = {
    "spread_bps": {"max_spread_bps": None},
    "confidence": {"min_confidence": None, "high_vol_confidence": None},
    "consensus": {"allowed_consensus": None},
    "volume_24h": {"min_volume_24h": None},
}


def _unmatched(bars: pl.DataFrame, signals: pl.DataFrame) -> list[str]:
    """Notes on the signals no bar can take: unknown symbols, or later than the last bar."""
    notes = []
    known = set(bars["symbol"].unique())
    unknown = signals.filter(~pl.col("symbol").is_in(list(known)))
    if unknown.height:
        names = ", ".join(sorted(set(unknown["symbol"]))[:5])
        notes.append(f"{unknown.height} signals are for symbols the prices do not have ({names})")
    last = bars.group_by("symbol").agg(pl.col("ts").max().alias("last"))
    late = signals.join(last, on="symbol").filter(pl.col("ts") > pl.col("last")).height
    if late:
        notes.append(f"{late} signals come after the last bar of their symbol")
    return notes


def _switch_off_missing(config: Config, signals: pl.DataFrame) -> tuple[Config, list[str]]:
    """The config with the gate checks switched off whose input no signal carries."""
    changes: dict[str, Any] = {}
    defaults = config.to_limits().to_dict()
    notes = []
    for column, settings in CHECK_INPUTS.items():
        values = signals[column].drop_nulls() if column in signals.columns else None
        if values is not None and values.dtype.is_float():
            values = values.drop_nans()
        carried = values is not None and values.len() > 0
        active = [k for k in settings if defaults.get(k) is not None]
        if not carried and active and signals.height:
            changes.update(settings)
            notes.append(
                f"the signals carry no {column}: {', '.join(active)} switched off for this run"
            )
    limits = config.limits.replace(**changes) if changes else config.limits
    return config.model_copy(update={"limits": limits}), notes


def run_backtest(
    prices: str | Path,
    *,
    signals: str | Path | None = None,
    strategy: str | None = None,
    config: Config | None = None,
    journal: str | None = None,
    out: str | Path | None = None,
    symbol: str | None = None,
    timestamp_format: str | None = None,
    columns: Columns = DEFAULT_COLUMNS,
    console: Any = None,
    attribution: bool = False,
    walk_forward: int | None = None,
    auto_reset_after: float | None = None,
    groups: Sequence[str] | None = None,
) -> BacktestResult:
    """Runs the backtest the module's docstring describes and returns both runs. With
    ``console`` (a rich Console) it shows a progress bar for runs over 10,000 bars and prints
    the result. The riskguard run's journal is ``journal`` (a SQLAlchemy URL that must hold no
    run yet), by default ``journal.db`` in ``out`` (replaced) or a temporary directory; both
    equity curves are stored in it (series ``equity`` and ``baseline_equity``). With ``out``,
    the report (``riskguard report``) is written there too. ``attribution``,
    ``walk_forward``, ``auto_reset_after`` and ``groups`` are :func:`backtest_frames`'.

    Raises DataError: a bad prices or signals file. RiskError: neither or both of ``signals``
    and ``strategy``; an unknown strategy; a journal that already holds a run; as
    :func:`backtest_frames`.
    """
    from riskguard.strategies import strategy as builtin

    if (signals is None) == (strategy is None):
        raise RiskError("give one of signals (a file) and strategy (a built-in)")
    config = config if config is not None else Config.load()
    bars = read_prices(prices, columns=columns, symbol=symbol, timestamp_format=timestamp_format)
    if signals is not None:
        sig = read_signals(signals, timestamp_format=timestamp_format)
    else:
        sig = builtin(strategy or "")(bars)
    result = backtest_frames(
        bars,
        sig,
        config=config,
        journal=journal,
        out=out,
        console=console,
        attribution=attribution,
        walk_forward=walk_forward,
        auto_reset_after=auto_reset_after,
        groups=groups,
    )
    if console is not None:
        result.render(console)
    return result


def backtest_frames(
    bars: pl.DataFrame,
    signals: pl.DataFrame,
    *,
    config: Config,
    journal: str | None = None,
    out: str | Path | None = None,
    console: Any = None,
    progress: bool | None = None,
    attribution: bool = False,
    walk_forward: int | None = None,
    auto_reset_after: float | None = None,
    groups: Sequence[str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> BacktestResult:
    """:func:`run_backtest` on bars and signals already read (the frames
    :func:`read_prices` and :func:`read_signals`, or a strategy, give). ``progress`` shows a
    progress bar on ``console`` (default: for runs over 10,000 bars; the attribution's runs
    always show theirs).

    - ``attribution``: also the attribution (``result.attribution``): every rule group of
      ``groups`` (names of :data:`GROUP_NAMES`; default all of them) switched off in turn,
      with a stationary bootstrap of ``resamples`` resamples from ``seed``. With ``out``, its
      chart ``attribution.png`` is written too.
    - ``walk_forward``: ``N`` in [2, 50]: the attribution repeated on ``N`` consecutive
      windows (``result.walk_forward``); implies ``attribution``.
    - ``auto_reset_after``: days of data time after which a latched halt is reset, in every
      riskguard run (default: never). Latched halts are reported either way
      (``result.guarded.halts``).

    Raises RiskError: a journal that already holds a run; an unknown group; ``walk_forward``
    outside [2, 50] or too few bar times a window; ``auto_reset_after`` not > 0; data too
    short for an attribution.
    """
    if auto_reset_after is not None:
        auto_reset_after = check_auto_reset(auto_reset_after)
    if walk_forward is not None:
        windows(bars, walk_forward)  # checked before anything runs
    selected = RULE_GROUPS if groups is None else tuple(group(name) for name in groups)
    config, notes = _switch_off_missing(config, signals)
    notes += _unmatched(bars, signals)
    out_dir = Path(out) if out is not None else None
    folder = out_dir if out_dir is not None else Path(tempfile.mkdtemp(prefix="riskguard-"))
    folder.mkdir(parents=True, exist_ok=True)
    if journal is None:
        db = folder / "journal.db"
        if db.exists():
            # Replaced only if it is an earlier backtest's: never a live Guard's journal.
            with open_journal(f"sqlite:///{db}") as old:
                if "baseline_equity" not in old.series_names():
                    raise RiskError(
                        f"{db} is not a backtest's journal: it is kept; choose another --out"
                    )
        for stale in (db, db.with_name("journal.db-wal"), db.with_name("journal.db-shm")):
            stale.unlink(missing_ok=True)
        journal = f"sqlite:///{db}"
    # The attribution's runs vary this configuration, each on a journal of its own.
    base = config
    config = config.model_copy(
        update={
            # Checkpoints between steps are for crashes of a live run: a backtest reruns.
            "journal": config.journal.model_copy(
                update={"url": journal, "snapshot_interval_s": None}
            ),
        }
    )
    naive, refused = asyncio.run(run_naive(bars, signals, config))
    if refused:
        notes.append(f"the broker refused {refused} of the naive run's orders")
    if progress is None:
        progress = bars.height > 10_000
    guarded = _with_progress(bars, signals, config, console if progress else None, auto_reset_after)
    with open_journal(journal, durable=False) as j:
        j.write_series("baseline_equity", naive.ts.tolist(), naive.equity.tolist())
    result = BacktestResult(
        naive,
        guarded,
        guarded.decisions,
        guarded.trips,
        journal,
        bars.height,
        signals.height,
        notes,
    )
    if attribution or walk_forward is not None:
        runs = [g for g in selected if switched_off(base, g) is not None]
        total = len(runs) + (walk_forward or 0) * (2 + len(runs))
        with _steps(console, total) as step:
            result.attribution = attribute(
                bars,
                signals,
                base,
                naive=naive,
                full=guarded,
                groups=selected,
                auto_reset_after=auto_reset_after,
                resamples=resamples,
                seed=seed,
                progress=step,
            )
            if walk_forward is not None:
                result.walk_forward = walk(
                    bars,
                    signals,
                    base,
                    walk_forward,
                    groups=selected,
                    auto_reset_after=auto_reset_after,
                    progress=step,
                )
    if out_dir is not None:
        from riskguard.app.report import write_report

        result.files = write_report(journal, out_dir)
        if result.attribution is not None:
            from riskguard.app.report.attribution import write_attribution_chart

            result.files.append(write_attribution_chart(result.attribution, out_dir))
    return result


def _with_progress(
    bars: pl.DataFrame,
    signals: pl.DataFrame,
    config: Config,
    console: Any,
    auto_reset_after: float | None,
) -> Run:
    if console is None:
        return asyncio.run(run_guarded(bars, signals, config, auto_reset_after=auto_reset_after))
    from rich.progress import Progress

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("backtest", total=bars.height)
        result = asyncio.run(
            run_guarded(
                bars,
                signals,
                config,
                lambda i: progress.update(task, completed=i),
                auto_reset_after=auto_reset_after,
            )
        )
        progress.update(task, completed=bars.height)
    return result


@contextmanager
def _steps(console: Any, total: int) -> Iterator[Callable[[str], None]]:
    """A callable that counts a run started per call, showing its label, on a transient
    progress bar of ``total`` runs on ``console``; one that does nothing without one."""
    if console is None:
        yield lambda label: None
        return
    from rich.progress import Progress

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("attribution", total=total)
        yield lambda label: progress.update(task, advance=1, description=label)
