"""The stationary bootstrap (Politis & Romano 1994) in numpy, for confidence intervals of the
difference between two backtest runs.

- :func:`stationary_indices`: resampled positions of a series of ``n`` observations. Each
  resample is a chain of blocks: a block starts at a uniformly drawn position, and after every
  observation a new block starts with probability ``1 / block_length`` (so block lengths are
  geometric with mean ``block_length``); a block wraps around from the last observation to the
  first. With ``block_length=1`` every observation starts a block: the i.i.d. bootstrap.
- :func:`optimal_block_length`: the mean block length of Politis & White (2004), with the
  correction of Patton, Politis & White (2009), for the stationary bootstrap, at least 1.
- :func:`paired_bootstrap`: the bootstrap distribution of ``statistic(first) -
  statistic(second)`` for two series observed at the same times, both resampled with the
  *same* indices, so that it is the distribution of their difference, not of two independent
  figures; :func:`paired_difference` is that difference on the data as observed.
- :func:`percentile_interval`: the percentile interval of such a distribution.

Everything is deterministic given ``seed`` (numpy's ``default_rng``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from riskguard._core import RiskError

__all__ = [
    "DEFAULT_RESAMPLES",
    "optimal_block_length",
    "paired_bootstrap",
    "paired_difference",
    "percentile_interval",
    "stationary_indices",
]

DEFAULT_RESAMPLES = 1_000
"""Resamples of :func:`paired_bootstrap` unless told."""

# Resampled values held at once: resamples are drawn and reduced in chunks of about this many
# values (observations × channels × resamples), so that a long series does not need gigabytes.
_CHUNK_VALUES = 2_000_000


def stationary_indices(
    n: int, block_length: float, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """``(resamples, n)`` int64 positions into a series of ``n`` observations, each row one
    stationary-bootstrap resample with mean block length ``block_length`` (see the module's
    docstring).

    Raises RiskError: ``n`` or ``resamples`` below 1; ``block_length`` not finite or below 1.
    """
    if n < 1 or resamples < 1:
        raise RiskError(f"n and resamples must be >= 1, got n={n}, resamples={resamples}")
    if not (math.isfinite(block_length) and block_length >= 1.0):
        raise RiskError(f"block_length must be finite and >= 1, got {block_length}")
    # Both draws come from one stream of uniforms, filled row by row: resamples drawn in
    # chunks are those drawn at once.
    u = rng.random((resamples, n, 2))
    starts = (u[..., 0] * n).astype(np.int64)
    new_block = u[..., 1] < 1.0 / block_length
    new_block[:, 0] = True
    t = np.arange(n)
    # The position at which the block holding each observation began, and so how far into
    # its block each observation is.
    began = np.maximum.accumulate(np.where(new_block, t, 0), axis=1)
    first = np.take_along_axis(starts, began, axis=1)
    return (first + (t - began)) % n


def optimal_block_length(x: np.ndarray) -> float:
    """The stationary bootstrap's mean block length for the series ``x`` by Politis & White
    (2004), corrected by Patton, Politis & White (2009): ``(2 G² / D)^(1/3) n^(1/3)`` with
    ``G = Σ λ(k/M) |k| γ(k)``, ``D = 2 (Σ λ(k/M) γ(k))²`` over ``|k| ≤ M``, the flat-top
    window ``λ(t) = min(1, 2 (1 - |t|))`` and the sample autocovariances ``γ``. ``M`` is twice
    the first lag ``m`` after which ``K = max(5, ⌊log10 n⌋)`` autocorrelations in a row lie
    within ``±2 √(log10(n) / n)`` (at least 2, at most ``⌈√n⌉ + K``). The result is capped at
    ``⌈min(3 √n, n / 3)⌉`` and floored at 1; a constant series, or one of fewer than 4
    observations, gives 1.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    eps = x - x.mean()
    if n < 4 or not np.any(eps):
        return 1.0
    k_n = max(5, int(math.log10(n)))
    m_max = math.ceil(math.sqrt(n)) + k_n
    lags = np.arange(min(m_max + k_n, n - 1) + 1)
    acv = np.array([eps[k:] @ eps[: n - k] for k in lags]) / n
    small = np.abs(acv / acv[0]) < 2.0 * math.sqrt(math.log10(n) / n)
    m = next(
        (j for j in range(len(lags) - k_n) if small[j + 1 : j + 1 + k_n].all()),
        m_max,
    )
    big_m = min(2 * max(m, 1), m_max, len(lags) - 1)
    k = np.arange(1, big_m + 1)
    window = np.minimum(1.0, 2.0 * (1.0 - k / big_m))
    g = 2.0 * np.sum(window * k * acv[k])
    long_run = acv[0] + 2.0 * np.sum(window * acv[k])
    if long_run <= 0.0 or g == 0.0:
        return 1.0
    b = (2.0 * g**2 / (2.0 * long_run**2)) ** (1 / 3) * n ** (1 / 3)
    return float(min(max(b, 1.0), math.ceil(min(3.0 * math.sqrt(n), n / 3.0))))


def paired_bootstrap(
    first: np.ndarray,
    second: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    block_length: float,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> np.ndarray:
    """The bootstrap distribution of ``statistic(first) - statistic(second)``.

    ``first`` and ``second`` have the same shape, observations on axis 0 (``(n,)`` or ``(n,
    c)``: several channels of one run, such as returns and exposure). Both are resampled with
    the same :func:`stationary_indices`. ``statistic`` takes resamples stacked on axis 1
    (``(n, r)`` or ``(n, r, c)``) and returns ``(r,)`` or ``(r, k)`` values (``k`` figures).
    Where a figure is the same in both resamples (both infinite or both NaN included), the
    difference is exactly 0, so that a run compared with itself gives a distribution of zeros.

    Returns ``(resamples,)`` or ``(resamples, k)`` differences.

    Raises RiskError: shapes that differ or no observation; bad ``block_length`` or
    ``resamples`` (as :func:`stationary_indices`).
    """
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if first.shape != second.shape or first.ndim not in (1, 2) or first.shape[0] < 1:
        raise RiskError(
            f"first and second must have one shape, (n,) or (n, c) with n >= 1, got "
            f"{first.shape} and {second.shape}"
        )
    n = first.shape[0]
    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK_VALUES // first.size)
    out = []
    for lo in range(0, resamples, step):
        # (n, r): the chunk's resamples on axis 1.
        chunk = stationary_indices(n, block_length, min(step, resamples - lo), rng).T
        out.append(_difference(statistic(first[chunk]), statistic(second[chunk])))
    return np.concatenate(out, axis=0)


def paired_difference(
    first: np.ndarray, second: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """``statistic(first) - statistic(second)`` on the data as observed (one "resample": the
    observations in order), 0 where the two are the same, as :func:`paired_bootstrap` takes
    its differences. Returns ``()`` or ``(k,)``."""
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    return _difference(statistic(first[:, None]), statistic(second[:, None]))[0]


def _difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return np.where(same, 0.0, a - b)


def percentile_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The ``confidence`` percentile interval of bootstrap ``values`` (1-D): their
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles, NaN values left out (numpy's
    linear interpolation). NaN bounds when every value is NaN.

    Raises RiskError: ``confidence`` not in (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise RiskError(f"confidence must be in (0, 1), got {confidence}")
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return math.nan, math.nan
    # The decimal the tail stands for (0.05 for 0.9, not 0.04999...), as riskguard's
    # quantiles take 1 - confidence.
    tail = round((1.0 - confidence) / 2.0, 12)
    low, high = np.quantile(v, [tail, 1.0 - tail])
    return float(low), float(high)
