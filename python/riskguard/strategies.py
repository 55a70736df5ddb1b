"""Built-in signal generators for backtests and the demo: plain, documented strategies that give
the gate the market context it checks (ATR, trend EMA, confidence, consensus, 24 h volume).

A strategy takes bars (a polars DataFrame with ``ts`` (int ns), ``symbol``, ``open``, ``high``,
``low``, ``close``, ``volume``, sorted by time) and returns signals: a polars DataFrame with
``ts``, ``symbol``, ``side`` (``long``/``short``), ``stop``, ``target``, ``confidence``,
``consensus``, ``atr``, ``ema``, ``volume_24h``, one row per signal, issued at the close of the
bar at ``ts``. Nothing looks ahead: every figure uses bars up to and including that one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from riskguard._core import RiskError

__all__ = ["STRATEGIES", "ema_cross", "strategy"]

DAY_NS = 86_400 * 10**9


def _ema(x: np.ndarray, span: int) -> np.ndarray:
    """The exponential moving average with ``alpha = 2 / (span + 1)``, seeded by the first
    value (the usual charting convention)."""
    out = np.empty_like(x)
    alpha = 2.0 / (span + 1.0)
    acc = x[0]
    for i, v in enumerate(x):
        acc += alpha * (v - acc)
        out[i] = acc
    return out


def _atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's average true range (the engine's ``atr_period`` convention), NaN until
    ``period`` bars are in."""
    prev = np.concatenate(([close[0]], close[:-1]))
    tr = np.maximum(high - low, np.maximum(np.abs(high - prev), np.abs(low - prev)))
    out = np.full_like(close, np.nan)
    if len(tr) >= period:
        acc = tr[:period].mean()
        out[period - 1] = acc
        for i in range(period, len(tr)):
            acc += (tr[i] - acc) / period
            out[i] = acc
    return out


def ema_cross(
    bars: pl.DataFrame,
    *,
    fast: int = 12,
    slow: int = 26,
    trend: int = 200,
    atr_period: int = 14,
    stop_atr: float = 2.0,
    target_atr: float = 4.0,
) -> pl.DataFrame:
    """Trend following on an EMA crossover, per symbol: long when the ``fast`` EMA of closes
    crosses above the ``slow`` one, short when it crosses below.

    Each signal carries a stop ``stop_atr`` ATRs away and a target ``target_atr`` ATRs away (a
    2:1 reward:risk by default), the ATR (Wilder, ``atr_period``), the ``trend`` EMA, the
    volume of the last 24 hours of bars, and a consensus of three votes: the cross itself, the
    close against the trend EMA, and the last ``slow`` bars' momentum (``UNANIMOUS`` 3 of 3,
    ``STRONG`` 2, ``WEAK`` 1), whose confidence is 0.9, 0.75 and 0.55. No signal before
    ``max(slow, atr_period)`` bars.

    Raises RiskError: periods below 2, or non-positive ATR multiples.
    """
    if min(fast, slow, trend, atr_period) < 2 or fast >= slow:
        raise RiskError(
            f"periods must be >= 2 with fast < slow, got fast={fast}, slow={slow}, "
            f"trend={trend}, atr_period={atr_period}"
        )
    if not (stop_atr > 0 and target_atr > 0):
        raise RiskError(f"stop_atr and target_atr must be > 0, got {stop_atr} and {target_atr}")
    frames = []
    for (symbol,), group in bars.group_by(["symbol"], maintain_order=True):
        ts = group["ts"].to_numpy()
        close = group["close"].to_numpy().astype(np.float64)
        high = group["high"].to_numpy().astype(np.float64)
        low = group["low"].to_numpy().astype(np.float64)
        volume = group["volume"].to_numpy().astype(np.float64)  # NaN: the file had none
        gap = _ema(close, fast) - _ema(close, slow)
        atr = _atr(high, low, close, atr_period)
        ema_trend = _ema(close, trend)
        start = np.searchsorted(ts, ts - DAY_NS, side="right")
        cum = np.concatenate(([0.0], np.cumsum(volume)))
        volume_24h = cum[1:] - cum[start]  # NaN throughout without volumes
        side = np.sign(gap)
        crossed = np.zeros(len(close), dtype=bool)
        crossed[1:] = (side[1:] != side[:-1]) & (side[1:] != 0)
        crossed[: max(slow, atr_period)] = False
        crossed &= np.isfinite(atr) & (atr > 0)
        idx = np.flatnonzero(crossed)
        if len(idx) == 0:
            continue
        s = side[idx]
        momentum = np.sign(close[idx] - close[np.maximum(idx - slow, 0)])
        votes = 1 + (np.sign(close[idx] - ema_trend[idx]) == s) + (momentum == s)
        consensus = np.array(["WEAK", "STRONG", "UNANIMOUS"])[votes - 1]
        a = atr[idx]
        frames.append(
            pl.DataFrame(
                {
                    "ts": ts[idx],
                    "symbol": [symbol] * len(idx),
                    "side": np.where(s > 0, "long", "short"),
                    "stop": close[idx] - s * stop_atr * a,
                    "target": close[idx] + s * target_atr * a,
                    "confidence": np.array([0.55, 0.75, 0.9])[votes - 1],
                    "consensus": consensus,
                    "atr": a,
                    "ema": ema_trend[idx],
                    "volume_24h": volume_24h[idx],
                }
            )
        )
    if not frames:
        return _empty()
    return pl.concat(frames).sort("ts", maintain_order=True)


def _empty() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "ts": pl.Int64,
            "symbol": pl.String,
            "side": pl.String,
            "stop": pl.Float64,
            "target": pl.Float64,
            "confidence": pl.Float64,
            "consensus": pl.String,
            "atr": pl.Float64,
            "ema": pl.Float64,
            "volume_24h": pl.Float64,
        }
    )


STRATEGIES: dict[str, Callable[[pl.DataFrame], pl.DataFrame]] = {"ema-cross": ema_cross}


def strategy(name: str) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """The built-in strategy called ``name``.

    Raises RiskError: an unknown name (the message lists the known ones).
    """
    if name not in STRATEGIES:
        raise RiskError(f"unknown strategy {name!r}; built in: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name]
