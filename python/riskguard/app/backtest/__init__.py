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

Text from the files (symbols, notes about them) is printed with its control characters and
rich markup escaped, and a journal URL with its password masked (:mod:`riskguard.redact`).
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from riskguard._core import RiskError, Signal
from riskguard.alerts import Alerter
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
from riskguard.app.backtest.result import SUMMARY_ROWS, BacktestResult, Run, cell
from riskguard.app.bootstrap import build_guard, open_journal
from riskguard.app.config import Config
from riskguard.brokers import Order
from riskguard.performance import summary
from riskguard.redact import safe_url

if TYPE_CHECKING:
    from riskguard.brokers import PaperBroker
    from riskguard.journal import Journal

__all__ = [
    "MAX_PRICE",
    "MAX_QTY",
    "MAX_VOLUME",
    "MIN_PRICE",
    "PRICE_FIELDS",
    "SIGNAL_NUMBERS",
    "SUMMARY_ROWS",
    "BacktestResult",
    "Columns",
    "DataError",
    "Run",
    "backtest_frames",
    "cell",
    "read_prices",
    "read_signals",
    "run_backtest",
]

# The naïve run's fixed size: this share of equity in notional (not all of it, so that the
# next bar's open, a little higher, does not make the order unaffordable).
NAIVE_SHARE = 0.95
# Each gate check that needs a signal field, and the settings that switch it off.
CHECK_INPUTS = {
    "spread_bps": {"max_spread_bps": None},
    "confidence": {"min_confidence": None, "high_vol_confidence": None},
    "consensus": {"allowed_consensus": None},
    "volume_24h": {"min_volume_24h": None},
}


def _signals_by_bar(bars: pl.DataFrame, signals: pl.DataFrame) -> dict[int, list[dict[str, Any]]]:
    """Each signal at the index of the first bar of its symbol at or after its time."""
    out: dict[int, list[dict[str, Any]]] = {}
    index = bars.with_row_index("i").select("i", "ts", "symbol")
    for (symbol,), group in signals.group_by(["symbol"], maintain_order=True):
        rows = index.filter(pl.col("symbol") == symbol)
        if rows.height == 0:
            continue
        bar_ts = rows["ts"].to_numpy()
        at = np.searchsorted(bar_ts, group["ts"].to_numpy(), side="left")
        bar_i = rows["i"].to_numpy()
        for k, row in zip(at, group.iter_rows(named=True), strict=True):
            if k < len(bar_i):
                out.setdefault(int(bar_i[k]), []).append(row)
    return out


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


def _round_trips(fills: list[Any]) -> list[dict[str, Any]]:
    """Trades from a fill log: a trade runs from a symbol leaving flat to its return to flat
    (or a flip, which closes one and opens the next); pnl is net of fees."""
    trades: list[dict[str, Any]] = []
    open_: dict[str, dict[str, Any]] = {}
    for f in fills:
        t = open_.get(f.symbol)
        qty, price, fee = f.qty, f.price, f.fee
        while qty != 0.0:
            if t is None:
                t = open_[f.symbol] = {"symbol": f.symbol, "qty": 0.0, "cost": 0.0, "pnl": 0.0}
            held = t["qty"]
            if held == 0.0 or held * qty > 0:  # opening or adding
                t["qty"] += qty
                t["cost"] += qty * price
                t["pnl"] -= fee
                break
            closing = math.copysign(min(abs(qty), abs(held)), qty)
            avg = t["cost"] / held
            t["pnl"] += -closing * (price - avg) - fee * abs(closing / qty)
            fee -= fee * abs(closing / qty)
            t["cost"] += closing * avg
            t["qty"] += closing
            qty -= closing
            if abs(t["qty"]) <= 1e-12 * max(1.0, abs(held)):
                trades.append({"symbol": f.symbol, "pnl": t["pnl"], "r_multiple": math.nan})
                t = None
                del open_[f.symbol]
    return trades


async def run_naive(bars: pl.DataFrame, signals: pl.DataFrame, config: Config) -> tuple[Run, int]:
    """The naïve run (the module's docstring), and how many of its orders the broker refused
    (insufficient funds, say)."""
    broker = config.broker.build()
    n_symbols = max(1, bars["symbol"].n_unique())
    by_bar = _signals_by_bar(bars, signals)
    ts_out = bars["ts"].to_numpy()
    equity = np.empty(bars.height)
    shorting = broker.capabilities.shorting
    sent: list[str] = []
    cols = [bars[c].to_numpy() for c in ("symbol", "open", "high", "low", "close", "volume")]
    for i, (symbol, o, h, lo, c, v) in enumerate(zip(*cols, strict=True)):
        t = int(ts_out[i])
        broker.on_bar(symbol, float(o), float(h), float(lo), float(c), _volume(v), t)
        # The last signal of a symbol on a bar wins: it sets the position to take.
        last = {row["symbol"]: row for row in by_bar.get(i, ())}
        for row in last.values():
            quantity = _value(row, "quantity")
            size = quantity or NAIVE_SHARE * broker.equity() / n_symbols / c
            target = size if row["side"] == "long" else (-size if shorting else 0.0)
            working = sum(w.qty for w in await broker.open_orders() if w.symbol == symbol)
            delta = target - broker.position(symbol).qty - working
            if not broker.capabilities.fractional:
                delta = float(math.trunc(delta))
            if abs(delta) > 1e-12 * size:
                placed = await broker.submit(Order(symbol, delta))
                sent.append(placed.client_order_id or "")
        equity[i] = broker.equity()
    refused = sum(broker.order(cid).status.value == "rejected" for cid in sent)
    ts_out, equity = _per_time(ts_out, equity)
    run = Run("without riskguard", ts_out, equity, _round_trips(broker.fill_log))
    run.summary = summary(ts_out, equity, run.trades)
    return run, refused


def _volume(v: float) -> float:
    """A bar's volume for the broker and the engine: 0 (unknown) when the file had none."""
    return 0.0 if math.isnan(v) else float(v)


def _value(row: dict[str, Any], name: str) -> Any:
    """A signal's optional field, None when absent or NaN."""
    value = row.get(name)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _per_time(ts: np.ndarray, equity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equity after the last bar of each time (bars of several symbols share times)."""
    last = np.append(ts[1:] != ts[:-1], True)
    return ts[last], equity[last]


def _signal(row: dict[str, Any], entry: float) -> Signal:
    def get(name: str) -> Any:
        return _value(row, name)

    return Signal(
        row["symbol"],
        row["side"],
        entry,
        stop=get("stop"),
        target=get("target"),
        confidence=get("confidence"),
        consensus=get("consensus"),
        atr=get("atr"),
        ema=get("ema"),
        volume_24h=get("volume_24h"),
        spread_bps=get("spread_bps"),
        quantity=get("quantity"),
    )


async def run_guarded(
    bars: pl.DataFrame, signals: pl.DataFrame, config: Config, progress: Any = None
) -> tuple[Run, dict[str, int], list[dict[str, Any]]]:
    """The riskguard run (the module's docstring) through a Guard on ``config``'s journal,
    which must be new. Returns the run, the decisions by reason code and the breaker trips.

    Raises RiskError: the journal already holds a run.
    """
    broker = config.broker.build()
    # Every snapshot kept: a backtest takes few (no checkpoints between steps).
    journal = open_journal(config.journal.url, batch=config.journal.batch, durable=False)
    if journal.latest_snapshot() is not None:
        journal.close()
        raise RiskError(
            f"the journal {safe_url(journal.url)} already holds a run: give a new --journal"
        )
    try:
        return await _guarded(bars, signals, config, broker, journal, progress)
    finally:
        journal.close()


async def _guarded(
    bars: pl.DataFrame,
    signals: pl.DataFrame,
    config: Config,
    broker: PaperBroker,
    journal: Journal,
    progress: Any,
) -> tuple[Run, dict[str, int], list[dict[str, Any]]]:
    # A backtest's events are history, not news: they are in the journal, and no alert goes
    # to a person.
    guard = build_guard(
        config, broker=broker, journal=journal, alerter=Alerter([], rate_limit_per_kind=None)
    )
    by_bar = _signals_by_bar(bars, signals)
    ts_out = bars["ts"].to_numpy()
    equity = np.empty(bars.height)
    cols = [bars[c].to_numpy() for c in ("symbol", "open", "high", "low", "close", "volume")]
    invalid = 0
    async with guard:
        on_bar, submit = guard.on_bar, guard.submit
        for i, (symbol, o, h, lo, c, v) in enumerate(zip(*cols, strict=True)):
            await on_bar(
                symbol, float(o), float(h), float(lo), float(c), _volume(v), int(ts_out[i])
            )
            for row in by_bar.get(i, ()):
                try:
                    signal = _signal(row, float(c))
                except RiskError:  # a stop on the wrong side of the entry, say
                    invalid += 1
                    continue
                await submit(signal)
            equity[i] = broker.equity()
            if progress is not None and i % 1000 == 0:
                progress(i)
        journal.record_trades(guard.engine.trades())
        # Closed trades, as the naïve run counts them: an open one has no result yet.
        trades = [t for t in journal.trades() if t.get("exit_ts") is not None]
        decisions: Counter[str] = Counter()
        if invalid:
            decisions["INVALID_SIGNAL"] = invalid
        for d in journal.decisions():
            if d["approved"]:
                decisions["APPROVED"] += 1
            for code in dict.fromkeys(d["codes"]):
                decisions[code] += 1
        trips = [
            {"ts": e["ts"], "breaker": e["breaker"], "message": e["message"]}
            for e in journal.events()
            if e["kind"] in ("breaker_tripped", "kill_switch")
        ]
        ts_out, equity = _per_time(ts_out, equity)
        journal.write_series("equity", ts_out.tolist(), equity.tolist())
    run = Run("with riskguard", ts_out, equity, trades)
    run.summary = summary(ts_out, equity, trades)
    return run, dict(decisions), trips


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
) -> BacktestResult:
    """Runs the backtest the module's docstring describes and returns both runs. With
    ``console`` (a rich Console) it shows a progress bar for runs over 10,000 bars and prints
    the result. The riskguard run's journal is ``journal`` (a SQLAlchemy URL that must hold no
    run yet), by default ``journal.db`` in ``out`` (replaced) or a temporary directory; both
    equity curves are stored in it (series ``equity`` and ``baseline_equity``). With ``out``,
    the report (``riskguard report``) is written there too.

    Raises DataError: a bad prices or signals file. RiskError: neither or both of ``signals``
    and ``strategy``; an unknown strategy; a journal that already holds a run.
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
    result = backtest_frames(bars, sig, config=config, journal=journal, out=out, console=console)
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
) -> BacktestResult:
    """:func:`run_backtest` on bars and signals already read (the frames
    :func:`read_prices` and :func:`read_signals`, or a strategy, give). ``progress`` shows a
    progress bar on ``console`` (default: for runs over 10,000 bars).

    Raises RiskError: a journal that already holds a run.
    """
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
    guarded, decisions, trips = _with_progress(bars, signals, config, console if progress else None)
    with open_journal(journal, durable=False) as j:
        j.write_series("baseline_equity", naive.ts.tolist(), naive.equity.tolist())
    result = BacktestResult(
        naive, guarded, decisions, trips, journal, bars.height, signals.height, notes
    )
    if out_dir is not None:
        from riskguard.app.report import write_report

        result.files = write_report(journal, out_dir)
    return result


def _with_progress(
    bars: pl.DataFrame, signals: pl.DataFrame, config: Config, console: Any
) -> tuple[Run, dict[str, int], list[dict[str, Any]]]:
    if console is None:
        return asyncio.run(run_guarded(bars, signals, config))
    from rich.progress import Progress

    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("backtest", total=bars.height)
        result = asyncio.run(
            run_guarded(bars, signals, config, lambda i: progress.update(task, completed=i))
        )
        progress.update(task, completed=bars.height)
    return result
