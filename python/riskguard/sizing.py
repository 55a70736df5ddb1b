"""Position sizing: plain functions of their inputs (docs/gate.md, "Sizing").

``RiskEngine.evaluate_signal`` uses them by the ``sizing`` method of its ``Limits``, then
applies :func:`adjust_size` and the caps. Quantities are in units of the instrument, amounts
and equity in account currency, risks and volatilities as fractions (0.01 is 1 %).

Every function raises :class:`riskguard.RiskError` for a NaN, infinite, zero or negative input
where a positive one is needed, and for a wrong type.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from riskguard._core import RiskError, _sizing
from riskguard._input import as_count, as_real, as_square, as_vector

__all__ = [
    "adjust_size",
    "atr",
    "consensus",
    "fixed_amount",
    "fixed_fractional",
    "inverse_volatility",
    "kelly",
    "regime_based",
    "risk_parity",
    "volatility_target",
]


def fixed_fractional(equity: float, risk: float, entry: float, stop: float) -> float:
    """The quantity that loses ``equity * risk`` if price moves from ``entry`` to ``stop``:
    ``equity * risk / |entry - stop|``.

    ``risk`` is in (0, 1]; equity, entry and stop are finite and > 0, with ``entry != stop``.
    """
    return _sizing.fixed_fractional(
        as_real(equity, "equity"),
        as_real(risk, "risk"),
        as_real(entry, "entry"),
        as_real(stop, "stop"),
    )


def fixed_amount(amount: float, price: float) -> float:
    """The quantity worth ``amount`` at ``price``: ``amount / price`` (both > 0)."""
    return _sizing.fixed_amount(as_real(amount, "amount"), as_real(price, "price"))


def kelly(
    win_rate: float, win_loss_ratio: float, fraction: float = 0.5, cap: float = 0.25
) -> float:
    """The Kelly equity fraction ``min(cap, fraction * max(0, (p*b - q) / b))`` with ``p`` the
    win rate, ``q = 1 - p`` and ``b`` the mean win over the mean loss.

    0 when there is no edge. ``win_rate`` in [0, 1]; ``win_loss_ratio`` > 0 (``inf``: no
    losses); ``fraction`` (0.5: half Kelly) and ``cap`` in (0, 1].
    """
    return _sizing.kelly(
        as_real(win_rate, "win_rate"),
        as_real(win_loss_ratio, "win_loss_ratio"),
        as_real(fraction, "fraction"),
        as_real(cap, "cap"),
    )


def volatility_target(
    equity: float, target_volatility: float, volatility: float, price: float
) -> float:
    """The quantity whose volatility is ``target_volatility`` of ``equity`` for an asset with
    fractional ``volatility`` (per period, e.g. ATR / price) at ``price``:
    ``equity * target_volatility / (volatility * price)``. Every input finite and > 0.
    """
    return _sizing.volatility_target(
        as_real(equity, "equity"),
        as_real(target_volatility, "target_volatility"),
        as_real(volatility, "volatility"),
        as_real(price, "price"),
    )


def atr(equity: float, risk: float, atr: float, k: float = 1.5) -> float:
    """The quantity that loses ``equity * risk`` over ``k`` ATRs: ``equity * risk / (k * atr)``.

    ``risk`` in (0, 1]; equity, ``atr`` (price units) and ``k`` finite and > 0.
    """
    return _sizing.atr(
        as_real(equity, "equity"), as_real(risk, "risk"), as_real(atr, "atr"), as_real(k, "k")
    )


def inverse_volatility(volatilities: Any) -> np.ndarray:
    """Weights proportional to ``1 / sigma_i``, summing to 1: the simple risk-parity
    allocation. ``volatilities``: a non-empty 1-D array-like of finite values > 0.
    """
    return _sizing.inverse_volatility(as_vector(volatilities, "volatilities"))


def risk_parity(covariance: Any) -> np.ndarray:
    """Equal-risk-contribution weights of ``covariance``: each asset's ``w_i * (Σw)_i`` is the
    same, and the weights sum to 1. Solved by cyclical coordinate descent to 1e-13.

    ``covariance``: a symmetric ``(N, N)`` matrix with a positive diagonal, finite.
    """
    return _sizing.risk_parity(np.ascontiguousarray(as_square(covariance, "covariance")))


def consensus(
    sizes: Sequence[float] | np.ndarray,
    how: Literal["min", "median", "mean"] = "min",
    weights: Sequence[float] | np.ndarray | None = None,
) -> float:
    """Combines the sizes several methods give: their minimum (the most cautious), median, or
    mean weighted by ``weights`` (equal by default). Sizes are finite and ≥ 0.
    """
    if not isinstance(how, str):
        raise RiskError(f"how must be a str, got {type(how).__name__}")
    w = None if weights is None else as_vector(weights, "weights").tolist()
    return _sizing.consensus(as_vector(sizes, "sizes").tolist(), how, w)


def regime_based(
    quantity: float,
    regime: float = 1.0,
    trend_aligned: bool = False,
    volatility: Literal["low", "normal", "high"] = "normal",
    performance: float = 1.0,
) -> float:
    """``quantity`` scaled for the market regime: × ``regime`` (a multiplier > 0), × 1.2 when
    the trade is with the trend, × 1.3 in low and × 0.7 in high volatility, × ``performance``
    (the strategy's recent-performance multiplier > 0).
    """
    if not isinstance(trend_aligned, bool | np.bool_):
        raise RiskError(f"trend_aligned must be True or False, got {type(trend_aligned).__name__}")
    if not isinstance(volatility, str):
        raise RiskError(f"volatility must be a str, got {type(volatility).__name__}")
    return _sizing.regime_based(
        as_real(quantity, "quantity"),
        as_real(regime, "regime"),
        bool(trend_aligned),
        volatility,
        as_real(performance, "performance"),
    )


def adjust_size(
    quantity: float,
    confidence: float | None = None,
    consecutive_losses: int = 0,
    drawdown: float = 0.0,
) -> float:
    """The adjusters ``evaluate_signal`` applies to every method's size: × 1.5 at confidence ≥
    0.85 and × 0.5 below 0.60; × 0.5 after 3 or more consecutive losses; × 0.5 in recovery
    (drawdown ≥ 2 %). ``confidence`` in [0, 1] or None; ``drawdown`` in [0, 1].
    """
    c = None if confidence is None else as_real(confidence, "confidence")
    return _sizing.adjust_size(
        as_real(quantity, "quantity"),
        c,
        as_count(consecutive_losses, "consecutive_losses"),
        as_real(drawdown, "drawdown"),
    )
