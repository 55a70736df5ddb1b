"""The two runs of a backtest (see :mod:`riskguard.app.backtest`): :func:`run_naive` and
:func:`run_guarded`, each a :class:`~riskguard.app.backtest.result.Run`.

Both record, after every bar, the broker's equity and its gross exposure over equity (every
position's absolute value at its last price, over equity), and keep the value after the last
bar of each time (bars of several symbols share times).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from riskguard._core import RiskError, Signal
from riskguard.alerts import Alerter
from riskguard.app.backtest.halts import AutoReset, halting_breakers, latched_halts
from riskguard.app.backtest.result import Run
from riskguard.app.bootstrap import build_guard, open_journal
from riskguard.app.config import Config
from riskguard.brokers import Order
from riskguard.performance import summary
from riskguard.redact import safe_url

if TYPE_CHECKING:
    from riskguard.brokers import PaperBroker
    from riskguard.journal import Journal

__all__ = ["NAIVE_SHARE", "run_guarded", "run_naive"]

# The naïve run's fixed size: this share of equity in notional (not all of it, so that the
# next bar's open, a little higher, does not make the order unaffordable).
NAIVE_SHARE = 0.95


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
    """The naïve run (the package's docstring), and how many of its orders the broker refused
    (insufficient funds, say)."""
    broker = config.broker.build()
    n_symbols = max(1, bars["symbol"].n_unique())
    by_bar = _signals_by_bar(bars, signals)
    ts_out = bars["ts"].to_numpy()
    equity = np.empty(bars.height)
    exposure = np.empty(bars.height)
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
        exposure[i] = broker.gross_exposure() / equity[i]
    refused = sum(broker.order(cid).status.value == "rejected" for cid in sent)
    ts_out, equity, exposure = _per_time(ts_out, equity, exposure)
    run = Run("without riskguard", ts_out, equity, _round_trips(broker.fill_log), exposure=exposure)
    run.summary = summary(ts_out, equity, run.trades)
    return run, refused


def _volume(v: float) -> float:
    """A bar's volume for the broker and the engine: 0 (unknown) when the file had none."""
    return 0.0 if math.isnan(v) else float(v)


def _value(row: dict[str, Any], name: str) -> Any:
    """A signal's optional field, None when absent or NaN."""
    value = row.get(name)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _per_time(ts: np.ndarray, *series: np.ndarray) -> tuple[np.ndarray, ...]:
    """The times, and each series after the last bar of each time (bars of several symbols
    share times)."""
    last = np.append(ts[1:] != ts[:-1], True)
    return ts[last], *(s[last] for s in series)


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
    bars: pl.DataFrame,
    signals: pl.DataFrame,
    config: Config,
    progress: Any = None,
    *,
    auto_reset_after: float | None = None,
) -> Run:
    """The riskguard run (the package's docstring) through a Guard on ``config``'s journal,
    which must be new. The run carries the decisions by reason code, the breaker trips, the
    exits by reason and the latched halts (:mod:`riskguard.app.backtest.halts`). With
    ``auto_reset_after`` (days of data time), each latched halt is reset that long after it
    tripped. ``progress``, when given, is called with the bar's index every 1,000 bars.

    Raises RiskError: the journal already holds a run; ``auto_reset_after`` not > 0.
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
        return await _guarded(bars, signals, config, broker, journal, progress, auto_reset_after)
    finally:
        journal.close()


async def _guarded(
    bars: pl.DataFrame,
    signals: pl.DataFrame,
    config: Config,
    broker: PaperBroker,
    journal: Journal,
    progress: Any,
    auto_reset_after: float | None,
) -> Run:
    # A backtest's events are history, not news: they are in the journal, and no alert goes
    # to a person.
    guard = build_guard(
        config, broker=broker, journal=journal, alerter=Alerter([], rate_limit_per_kind=None)
    )
    by_bar = _signals_by_bar(bars, signals)
    ts_out = bars["ts"].to_numpy()
    equity = np.empty(bars.height)
    exposure = np.empty(bars.height)
    cols = [bars[c].to_numpy() for c in ("symbol", "open", "high", "low", "close", "volume")]
    invalid = 0
    async with guard:
        halting = halting_breakers(guard.engine.breakers())
        resets = None if auto_reset_after is None else AutoReset(halting, auto_reset_after)
        on_bar, submit = guard.on_bar, guard.submit
        for i, (symbol, o, h, lo, c, v) in enumerate(zip(*cols, strict=True)):
            t = int(ts_out[i])
            events = await on_bar(symbol, float(o), float(h), float(lo), float(c), _volume(v), t)
            if resets is not None:
                resets.seen(events)
                # After the bar, so that the reset is stamped with its time (the engine's
                # clock), and before its signals, which it lets through.
                for name in resets.due(t):
                    await guard.reset(
                        name,
                        confirm=True,
                        actor="backtest",
                        reason=f"auto reset after {auto_reset_after:g} days",
                    )
            for row in by_bar.get(i, ()):
                try:
                    signal = _signal(row, float(c))
                except RiskError:  # a stop on the wrong side of the entry, say
                    invalid += 1
                    continue
                await submit(signal)
            equity[i] = broker.equity()
            exposure[i] = broker.gross_exposure() / equity[i]
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
        stored = journal.events()
        ts_out, equity, exposure = _per_time(ts_out, equity, exposure)
        journal.write_series("equity", ts_out.tolist(), equity.tolist())
    run = Run(
        "with riskguard",
        ts_out,
        equity,
        trades,
        exposure=exposure,
        decisions=dict(decisions),
        trips=[
            {"ts": e["ts"], "breaker": e["breaker"], "message": e["message"]}
            for e in stored
            if e["kind"] in ("breaker_tripped", "kill_switch")
        ],
        exits=dict(Counter(e["reason"] for e in stored if e["kind"] == "exit_signal")),
        halts=latched_halts(stored, halting, ts_out, equity),
    )
    run.summary = summary(ts_out, equity, trades)
    return run
