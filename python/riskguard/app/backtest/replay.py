"""Backtests at engine speed: the riskguard run of :mod:`riskguard.app.backtest` for one symbol,
replayed by the Rust core (``riskguard._core.replay``) instead of a Guard, a paper broker and a
journal. docs/engine.md ("Replay") states the rules; the result is the Guard run's, equity
after every bar and trades, to rounding.

What the replay takes from the configuration: ``[limits]`` and ``[sessions]`` (with the checks
whose input the signals never carry switched off, as the backtest does), ``guard.equity``, and
of ``[broker]`` the paper broker's ``cash``, ``allow_short``, ``fractional``, ``max_leverage``,
a ``none`` or ``fixed_bps`` slippage and any commission but a custom one. A configuration the
replay cannot reproduce (another slippage model, another broker) is refused, never
approximated.

Each symbol of the bars is an instrument of its own: replayed alone, with its own account, which
is what a backtest of that symbol's prices does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from riskguard._core import Limits, ReplayInstrument, RiskError, replay
from riskguard.app.backtest.result import Run
from riskguard.app.config import Config
from riskguard.performance import summary

__all__ = [
    "broker_settings",
    "instruments",
    "replay_frames",
    "replay_limits",
]

# The signal columns a ReplayInstrument takes (floats, NaN where a signal has none).
_NUMBERS = ("stop", "target", "confidence", "atr", "ema", "volume_24h", "spread_bps", "quantity")


def broker_settings(config: Config) -> dict[str, Any]:
    """The keyword arguments of ``riskguard._core.replay`` for ``config``'s ``[broker]`` and
    ``guard.equity``.

    Raises RiskError: a broker, a slippage or a commission model the replay does not
    reproduce.
    """
    broker = config.broker
    if broker.type != "paper":
        raise RiskError(f"the replay reproduces the paper broker only, got broker {broker.type!r}")
    slippage = broker.slippage
    if slippage.model not in ("none", "fixed_bps"):
        raise RiskError(
            f"the replay reproduces the slippage models none and fixed_bps, got {slippage.model!r}"
        )
    commission = broker.commission.model_dump()
    model = commission.pop("model")
    if model not in ("none", "percent_of_notional", "per_share", "maker_taker"):
        raise RiskError(f"the replay does not reproduce the commission model {model!r}")
    # The models' fields are the replay's keywords, but for the per-unit or notional rate.
    if "rate" in commission:
        commission["commission_rate"] = commission.pop("rate")
    return {
        "cash": broker.cash,
        "equity": config.guard.equity,
        "slippage_bps": slippage.model_dump().get("bps", 0.0),
        "commission": model,
        "allow_short": broker.allow_short,
        "fractional": broker.fractional,
        "max_leverage": broker.max_leverage,
        **commission,
    }


def replay_limits(config: Config, signals: pl.DataFrame) -> tuple[Limits, list[str]]:
    """The engine's limits a backtest of ``signals`` runs with, and its notes: ``config``'s,
    with the gate checks whose input no signal carries switched off."""
    from riskguard.app.backtest import _switch_off_missing

    config, notes = _switch_off_missing(config, signals)
    return config.to_limits(), notes


def instruments(bars: pl.DataFrame, signals: pl.DataFrame) -> list[ReplayInstrument]:
    """One instrument per symbol of ``bars`` (in order of first appearance), each with the
    signals of its symbol at the first of its bars at or after their time (a backtest's rule;
    later signals are dropped), in the signals' order.

    Raises RiskError: a bad bar or signal, named by its column and index.
    """
    out = []
    for (symbol,), rows in bars.group_by(["symbol"], maintain_order=True):
        sig = signals.filter(pl.col("symbol") == symbol) if signals.height else signals
        bar_ts = rows["ts"].to_numpy()
        at = np.searchsorted(bar_ts, sig["ts"].to_numpy(), side="left")
        keep = at < len(bar_ts)
        sig = sig.filter(pl.Series(keep))
        volume = rows["volume"].to_numpy().astype(np.float64)
        columns = {
            name: sig[name].cast(pl.Float64).fill_null(math.nan).to_numpy()
            for name in _NUMBERS
            if name in sig.columns
        }
        consensus = sig["consensus"].to_list() if "consensus" in sig.columns else None
        prices = {
            c: rows[c].to_numpy().astype(np.float64) for c in ("open", "high", "low", "close")
        }
        out.append(
            ReplayInstrument(
                str(symbol),
                rows["ts"].to_numpy().astype(np.int64),
                prices["open"],
                prices["high"],
                prices["low"],
                prices["close"],
                np.where(np.isnan(volume), 0.0, volume),
                at[keep].astype(np.int64),
                np.where(sig["side"].to_numpy() == "long", 1, -1).astype(np.int8),
                consensus=consensus,
                **columns,
            )
        )
    return out


def replay_frames(
    bars: pl.DataFrame, signals: pl.DataFrame, *, config: Config
) -> tuple[Run, dict[str, int], list[dict[str, Any]]]:
    """The riskguard run of :func:`~riskguard.app.backtest.backtest_frames` for one symbol,
    replayed: the run (equity after the last bar of each time, closed trades as dicts), the
    decisions by reason code and the breaker trips, as ``run_guarded`` returns them.

    Raises RiskError: bars of more than one symbol; a configuration the replay does not
    reproduce; bad bars or signals.
    """
    if bars["symbol"].n_unique() != 1:
        raise RiskError(
            f"the replay takes the bars of one symbol, got {bars['symbol'].n_unique()}: replay "
            "each symbol on its own"
        )
    symbol = bars["symbol"][0]
    allowed = config.broker.symbols
    if allowed is not None and symbol not in allowed:
        # As a Guard refuses it.
        raise RiskError(f"symbol {symbol!r} is unknown: the configured symbols are {allowed}")
    limits, _ = replay_limits(config, signals)
    (instrument,) = instruments(bars, signals)
    out = replay(instrument, limits, **broker_settings(config))
    ts = bars["ts"].to_numpy()
    last = np.append(ts[1:] != ts[:-1], True)
    trades = [t.to_dict() for t in out["trades"] if t.exit_ts is not None]
    run = Run("with riskguard", ts[last], out["equity"][last], trades)
    run.summary = summary(run.ts, run.equity, trades)
    return run, dict(out["decisions"]), list(out["trips"])
