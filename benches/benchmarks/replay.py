"""asv benchmarks for the replay path (``riskguard._core.replay``, docs/engine.md "Replay"):
one replay of minute bars through the engine and the paper fill model on one core, and a
sweep of many settings over many instruments of daily bars in parallel.

The data are seeded random walks with the built-in ema-cross strategy's signals; the sweep's
settings are the ``swing`` profile with its stop, trail, risk per trade and drawdown breaker
varied. ``benches/compare.py`` times the full-size versions (1,000,000 minute bars; 1,000
settings × 20 instruments × 8,000 daily bars) and checks them against the Guard's backtest
and against single replays first.
"""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import polars as pl
import riskguard as rg
from riskguard._core import ReplayInstrument, replay, replay_sweep
from riskguard.app.backtest.replay import instruments
from riskguard.app.config.profiles import profile_limits
from riskguard.strategies import ema_cross

NS = 1_000_000_000
T0 = 1_641_168_000 * NS  # Monday 3 January 2022, 00:00 UTC
MINUTE = 60 * NS
DAY = 86_400 * NS
SEED = 20240611

# The sweep's axes: 5 × 4 × 5 × 10 = 1,000 settings of the swing profile.
SL_ATR = (1.5, 2.0, 2.5, 3.0, 4.0)
TRAIL_ATR = (2.0, 3.0, 4.0, 5.0)
RISK = (0.005, 0.01, 0.015, 0.02, 0.03)
DRAWDOWN = (0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8)


def walk(seed: int, n: int, step: int, vol: float) -> pl.DataFrame:
    """``n`` bars ``step`` ns apart of a seeded random walk (symbol ``S<seed>``), each
    opening at the last close and reaching a little beyond it."""
    rng = np.random.default_rng([SEED, seed])
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, vol, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    reach = np.abs(rng.normal(0.0, vol / 2, (2, n)))
    return pl.DataFrame(
        {
            "ts": T0 + np.arange(n, dtype=np.int64) * step,
            "symbol": [f"S{seed}"] * n,
            "open": open_,
            "high": np.maximum(open_, close) * (1 + reach[0]),
            "low": np.minimum(open_, close) * (1 - reach[1]),
            "close": close,
            "volume": np.full(n, 1e7),
        }
    )


@cache
def minute_bars(n: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n`` minute bars and their ema-cross signals."""
    bars = walk(0, n, MINUTE, 0.001)
    return bars, ema_cross(bars)


@cache
def daily_instruments(n_instruments: int, n_bars: int) -> list[ReplayInstrument]:
    """``n_instruments`` instruments of ``n_bars`` daily bars, with ema-cross signals."""
    out = []
    for k in range(n_instruments):
        bars = walk(k + 1, n_bars, DAY, 0.015)
        out += instruments(bars, ema_cross(bars))
    return out


def sweep_limits(n: int) -> list[rg.Limits]:
    """The first ``n`` settings of the sweep's grid (the last axis varying fastest)."""
    base = profile_limits("swing")
    grid = itertools.islice(itertools.product(SL_ATR, TRAIL_ATR, RISK, DRAWDOWN), n)
    return [
        rg.Limits.from_dict(
            {
                **base,
                "sl_atr": sl,
                "trail_atr": trail,
                "risk_per_trade": risk,
                "max_risk_per_trade": risk,
                "max_drawdown": {**base["max_drawdown"], "threshold": dd},
            }
        )
        for sl, trail, risk, dd in grid
    ]


class Replay:
    """One instrument of minute bars, the default limits, one core."""

    params = [100_000]
    param_names = ["bars"]

    def setup(self, n):
        bars, signals = minute_bars(n)
        (self.instrument,) = instruments(bars, signals)
        self.limits = rg.Limits(max_spread_bps=None)

    def time_replay(self, n):
        replay(self.instrument, self.limits)


class Sweep:
    """Settings × instruments of 8,000 daily bars, scored, on every core."""

    params = ([20], [4])
    param_names = ["settings", "instruments"]
    timeout = 300

    def setup(self, n_settings, n_instruments):
        self.instruments = daily_instruments(n_instruments, 8_000)
        self.limits = sweep_limits(n_settings)

    def time_sweep(self, n_settings, n_instruments):
        replay_sweep(self.instruments, self.limits)
