"""A seeded synthetic market for demos, examples and tests: daily returns of several instruments
with a common factor, volatility clustering (GARCH(1,1)) and a crash."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskguard._core import RiskError


@dataclass(frozen=True)
class Market:
    """Simple daily returns ``(T, N)`` with their symbols and the crash's first day."""

    returns: np.ndarray
    symbols: list[str]
    crash_start: int


DEFAULT_SYMBOLS = ["BTC", "ETH", "SPX", "NDX", "GOLD", "EURUSD"]

# Per instrument: annual drift, long-run annual volatility, loading on the common factor, and
# how hard the crash hits it (fraction lost over the crash days).
_PROFILE = {
    "BTC": (0.40, 0.70, 0.55, 0.35),
    "ETH": (0.45, 0.85, 0.60, 0.45),
    "SPX": (0.08, 0.17, 0.80, 0.20),
    "NDX": (0.11, 0.22, 0.85, 0.27),
    "GOLD": (0.04, 0.15, -0.10, -0.05),
    "EURUSD": (0.00, 0.08, 0.20, 0.03),
}


def synthetic_market(
    seed: int = 7, n_days: int = 2520, symbols: list[str] | None = None, crash_days: int = 5
) -> Market:
    """Simulates ``n_days`` of daily returns with GARCH(1,1) variance (persistence 0.97), a
    common factor, Student-t shocks and a crash spread over ``crash_days`` days at 70 % of the
    way through. The same seed always gives the same market.

    Raises RiskError for fewer than 60 days, unknown symbols or a crash longer than 20 days.
    """
    symbols = list(symbols or DEFAULT_SYMBOLS)
    unknown = [s for s in symbols if s not in _PROFILE]
    if unknown:
        raise RiskError(f"symbols must be among {sorted(_PROFILE)}, got unknown {unknown}")
    if n_days < 60:
        raise RiskError(f"n_days must be >= 60, got {n_days}")
    if not 1 <= crash_days <= 20:
        raise RiskError(f"crash_days must be in [1, 20], got {crash_days}")
    rng = np.random.default_rng(seed)
    drift, vol, beta, crash = (np.array([_PROFILE[s][k] for s in symbols]) for k in range(4))
    daily_var = (vol / np.sqrt(252)) ** 2
    alpha, persistence = 0.08, 0.97
    omega = daily_var * (1 - persistence)
    factor = rng.standard_t(5, size=n_days) / np.sqrt(5 / 3)
    idio = rng.standard_t(5, size=(n_days, len(symbols))) / np.sqrt(5 / 3)
    shocks = beta * factor[:, None] + np.sqrt(np.clip(1 - beta**2, 0.0, None)) * idio
    h = daily_var.copy()
    out = np.empty((n_days, len(symbols)))
    for t in range(n_days):
        eps = np.sqrt(h) * shocks[t]
        out[t] = drift / 252 + eps
        h = omega + alpha * eps**2 + (persistence - alpha) * h
    start = int(n_days * 0.7)
    per_day = 1 - (1 - crash) ** (1 / crash_days)
    out[start : start + crash_days] -= per_day
    return Market(out, symbols, start)
