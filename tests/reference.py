"""Plain numpy reference implementations of riskguard.analytics, written from the documented
conventions (DESIGN.md "Numerical conventions" and the docstrings of riskguard/analytics.py).

These are deliberately slow and literal: loops over columns, windows and pairs, sequential sums.
They are the specification the Rust kernels are held to in ``test_reference.py``.

Every per-column function takes a float64 ``(T, N)`` array and returns a float64 ``(N,)`` array;
a 1-D ``(T,)`` input gives a Python float. NaN marks a missing observation and is dropped per
column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import stats

# --- helpers ------------------------------------------------------------------------------------


def _per_column(x, fn):
    """Applies ``fn`` to the finite values of every column of ``x``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        return float(fn(x[~np.isnan(x)]))
    return np.array([fn(x[~np.isnan(x[:, j]), j]) for j in range(x.shape[1])], dtype=np.float64)


def mean(a) -> float:
    """Sequential mean; NaN for an empty sample."""
    if len(a) == 0:
        return math.nan
    s = 0.0
    for v in a:
        s += float(v)
    return s / len(a)


def is_constant(a) -> bool:
    """True when every value of the (finite) sample is the same: no volatility at all."""
    return len(a) > 0 and bool(np.all(np.asarray(a) == a[0]))


def std(a, ddof: int = 1) -> float:
    """Standard deviation around the sample mean with ``ddof``; NaN when ``n <= ddof``.

    A constant sample has exactly zero volatility, whatever rounding the mean suffered.
    """
    n = len(a)
    if n <= ddof:
        return math.nan
    if is_constant(a):
        return 0.0
    m = mean(a)
    s2 = 0.0
    for v in a:
        s2 += (float(v) - m) ** 2
    return math.sqrt(s2 / (n - ddof))


def population_moments(a) -> tuple[float, float]:
    """Population skewness ``m3 / m2**1.5`` and excess kurtosis ``m4 / m2**2 - 3`` (scipy's
    ``skew(bias=True)`` and ``kurtosis(fisher=True, bias=True)``); zero for a constant sample."""
    n = len(a)
    if is_constant(a):
        return 0.0, 0.0
    m = mean(a)
    m2 = sum((float(v) - m) ** 2 for v in a) / n
    m3 = sum((float(v) - m) ** 3 for v in a) / n
    m4 = sum((float(v) - m) ** 4 for v in a) / n
    if m2 == 0.0:
        return 0.0, 0.0
    return m3 / m2**1.5, m4 / m2**2 - 3.0


def tail_probability(confidence: float) -> Fraction:
    """``1 - confidence`` in exact rational arithmetic of the decimal written (``repr``), so
    that ``1 - 0.9`` is 1/10, not 0.09999999999999998."""
    return 1 - Fraction(repr(float(confidence)))


def quantile(a, p: float | Fraction, interpolation: str = "linear") -> float:
    """numpy's ``quantile(a, p, method=...)`` for ``"linear"`` (R type 7) and ``"lower"``; a
    :class:`~fractions.Fraction` ``p`` puts the position ``(n - 1) * p`` exactly."""
    s = np.sort(np.asarray(a, dtype=np.float64))
    n = len(s)
    pos = (n - 1) * p
    k = min(int(math.floor(pos)), n - 1)
    gamma = float(pos - k)
    if interpolation == "lower" or k + 1 >= n or gamma == 0.0:
        return float(s[k])
    lo, hi = float(s[k]), float(s[k + 1])
    # numpy's lerp, evaluated from the nearer end
    if gamma >= 0.5:
        return hi - (hi - lo) * (1.0 - gamma)
    return lo + (hi - lo) * gamma


def compound(a) -> float:
    """Compounded return ``prod(1 + r) - 1``."""
    g = 1.0
    for v in a:
        g *= 1.0 + float(v)
    return g - 1.0


def overlapping(a, h: int) -> np.ndarray:
    """Overlapping ``h``-period compounded returns of the sequence ``a``."""
    return np.array([compound(a[i : i + h]) for i in range(len(a) - h + 1)], dtype=np.float64)


def normal_z(confidence: float) -> float:
    """``Φ⁻¹(1 - confidence)``."""
    return float(stats.norm.ppf(1.0 - confidence))


# --- historical VaR / CVaR ------------------------------------------------------------------------


def _tail(a, confidence, horizon, interpolation, scaling):
    scale = 1.0
    if horizon > 1:
        if scaling == "sqrt":
            scale = math.sqrt(horizon)
        else:
            a = overlapping(a, horizon)
    if len(a) == 0:
        return math.nan, math.nan
    q = quantile(a, tail_probability(confidence), interpolation)
    tail = [float(v) for v in a if v <= q]
    return -q * scale, -mean(tail) * scale


def var_historical(x, confidence=0.95, horizon=1, interpolation="linear", scaling="sqrt"):
    """``-quantile(r, 1 - confidence)``; ``sqrt`` or ``overlapping`` horizon scaling."""
    return _per_column(x, lambda a: _tail(a, confidence, horizon, interpolation, scaling)[0])


def cvar_historical(x, confidence=0.95, horizon=1, interpolation="linear", scaling="sqrt"):
    """``-mean(r[r <= q])`` with q the VaR quantile."""
    return _per_column(x, lambda a: _tail(a, confidence, horizon, interpolation, scaling)[1])


# --- parametric ----------------------------------------------------------------------------------


def cornish_fisher(z: float, s: float, k: float) -> float:
    """Cornish-Fisher expansion of the normal quantile ``z`` for skew ``s`` and excess kurtosis
    ``k``."""
    return (
        z
        + (z**2 - 1.0) * s / 6.0
        + (z**3 - 3.0 * z) * k / 24.0
        - (2.0 * z**3 - 5.0 * z) * s**2 / 36.0
    )


def var_parametric(x, confidence=0.95, horizon=1, method="normal"):
    """``-(mu*h + z*sigma*sqrt(h))``; NaN below two finite values."""
    z0 = normal_z(confidence)

    def one(a):
        if len(a) < 2:
            return math.nan
        mu, sigma = mean(a), std(a, 1)
        z = z0
        if method == "cornish_fisher":
            s, k = population_moments(a)
            z = cornish_fisher(z0, s, k)
        return -(mu * horizon + z * sigma * math.sqrt(horizon))

    return _per_column(x, one)


def cvar_parametric(x, confidence=0.95, horizon=1):
    """``-mu*h + sigma*sqrt(h) * φ(z) / (1 - confidence)``; NaN below two finite values."""
    tail = float(stats.norm.pdf(normal_z(confidence))) / (1.0 - confidence)

    def one(a):
        if len(a) < 2:
            return math.nan
        return -mean(a) * horizon + std(a, 1) * math.sqrt(horizon) * tail

    return _per_column(x, one)


def portfolio_parametric_var(x, weights, confidence=0.95):
    """Normal VaR and ES of ``weights · r`` from the mean and sample covariance of the complete
    rows (rows with any NaN dropped), for one period."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    rows = x[~np.isnan(x).any(axis=1)]
    mu = float(rows.mean(axis=0) @ w)
    cov = np.cov(rows, rowvar=False, ddof=1).reshape(len(w), len(w))
    sigma = math.sqrt(max(float(w @ cov @ w), 0.0))
    z = normal_z(confidence)
    var = -(mu + z * sigma)
    es = -mu + sigma * float(stats.norm.pdf(z)) / (1.0 - confidence)
    return var, es, sigma


# --- drawdowns and performance ratios ------------------------------------------------------------


def max_drawdown_of(a) -> float:
    """Largest ``(peak - wealth) / peak`` of wealth compounded from 1.0; NaN when empty."""
    if len(a) == 0:
        return math.nan
    wealth = peak = 1.0
    worst = 0.0
    for v in a:
        wealth *= 1.0 + float(v)
        peak = max(peak, wealth)
        worst = max(worst, (peak - wealth) / peak)
    return worst


def max_drawdown(x):
    return _per_column(x, max_drawdown_of)


@dataclass(frozen=True)
class Episode:
    depth: float
    peak: int | None
    trough: int
    recovery: int | None
    duration: int


def drawdown_episodes(r) -> list[Episode]:
    """Every drawdown episode of the 1-D series ``r`` (positions include NaN positions).

    An episode starts at the first position whose wealth is below the high-water mark and ends
    at the first position whose wealth is back at or above it (the recovery, which is also the
    new peak). ``peak`` is the position that set the mark (None for the starting capital),
    ``trough`` the first position of the lowest wealth, and ``duration`` the number of positions
    from the first one under water up to the recovery (excluded) or the end of the series.
    """
    r = np.asarray(r, dtype=np.float64)
    out: list[Episode] = []
    wealth = peak_w = 1.0
    peak: int | None = None
    start = trough = None
    trough_w = math.inf
    for i, v in enumerate(r):
        if math.isnan(v):
            continue
        wealth *= 1.0 + float(v)
        if wealth >= peak_w:
            if start is not None:
                out.append(Episode((peak_w - trough_w) / peak_w, peak, trough, i, i - start))
                start = trough = None
                trough_w = math.inf
            peak_w, peak = wealth, i
        else:
            if start is None:
                start = i
            if wealth < trough_w:
                trough_w, trough = wealth, i
    if start is not None:
        out.append(Episode((peak_w - trough_w) / peak_w, peak, trough, None, len(r) - start))
    return out


def sharpe_ratio(x, risk_free=0.0, periods_per_year=252.0):
    """``mean(r - rf) / std(r - rf, ddof=1) * sqrt(ppy)``; NaN below two values or without
    volatility."""

    def one(a):
        e = [float(v) - risk_free for v in a]
        sd = std(e, 1)
        if not sd > 0:
            return math.nan
        return mean(e) / sd * math.sqrt(periods_per_year)

    return _per_column(x, one)


def sortino_ratio(x, required_return=0.0, periods_per_year=252.0):
    """``mean(r - mar) * ppy / (sqrt(mean(min(r - mar, 0)**2)) * sqrt(ppy))`` over all
    observations; NaN below two observations (as Sharpe, and empyrical) or without downside."""

    def one(a):
        if len(a) < 2:
            return math.nan
        e = [float(v) - required_return for v in a]
        downside = math.sqrt(mean([min(v, 0.0) ** 2 for v in e]))
        if downside == 0.0:
            return math.nan
        return mean(e) * periods_per_year / (downside * math.sqrt(periods_per_year))

    return _per_column(x, one)


def cagr_of(a, periods_per_year) -> float:
    """``prod(1 + r) ** (ppy / n) - 1``; NaN when empty or the final wealth is negative."""
    if len(a) == 0:
        return math.nan
    ending = compound(a) + 1.0
    if ending < 0:
        return math.nan
    try:
        return ending ** (periods_per_year / len(a)) - 1.0
    except OverflowError:
        return math.inf


def cagr(x, periods_per_year=252.0):
    return _per_column(x, lambda a: cagr_of(a, periods_per_year))


def calmar_ratio(x, periods_per_year=252.0):
    """CAGR over max drawdown; NaN without a drawdown."""

    def one(a):
        dd = max_drawdown_of(a)
        if not dd > 0:
            return math.nan
        return cagr_of(a, periods_per_year) / dd

    return _per_column(x, one)


def annual_volatility(x, periods_per_year=252.0):
    return _per_column(x, lambda a: std(a, 1) * math.sqrt(periods_per_year))


def information_ratio(x, benchmark, annualize=False, periods_per_year=252.0):
    """``mean(r - b) / std(r - b, ddof=1)`` over rows where both are finite."""
    x = np.asarray(x, dtype=np.float64)
    b = np.asarray(benchmark, dtype=np.float64)
    scale = math.sqrt(periods_per_year) if annualize else 1.0

    def one(r, bb):
        ok = ~np.isnan(r) & ~np.isnan(bb)
        d = [float(u) - float(v) for u, v in zip(r[ok], bb[ok], strict=True)]
        sd = std(d, 1)
        if not sd > 0:
            return math.nan
        return mean(d) / sd * scale

    if x.ndim == 1:
        return float(one(x, b))
    cols = []
    for j in range(x.shape[1]):
        bj = b if b.ndim == 1 else b[:, j]
        cols.append(one(x[:, j], bj))
    return np.array(cols, dtype=np.float64)


# --- covariance and correlation ------------------------------------------------------------------


def _as_2d(x):
    x = np.asarray(x, dtype=np.float64)
    return x[:, None] if x.ndim == 1 else x


def _pairwise(x, stat) -> np.ndarray:
    """``stat(a, b, same)`` for every pair of columns, over the rows where both are finite."""
    x = _as_2d(x)
    n = x.shape[1]
    out = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(n):
            ok = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
            out[i, j] = stat(x[ok, i], x[ok, j], i == j)
    return out


def _pair_cov(a, b, _same) -> float:
    k = len(a)
    if k < 2:
        return np.nan
    ma, mb = mean(a), mean(b)
    return sum((u - ma) * (v - mb) for u, v in zip(a, b, strict=True)) / (k - 1)


def covariance_sample(x) -> np.ndarray:
    """ddof-1 covariance, each pair over the rows where both columns are finite (pandas)."""
    return _pairwise(x, _pair_cov)


def correlation_pearson(x) -> np.ndarray:
    """Pearson correlation, each pair normalised by its own standard deviations over the shared
    rows (pandas' ``DataFrame.corr``). NaN without variance; diagonal 1; clipped to [-1, 1]."""
    return _pairwise(x, _pair_corr)


def _pair_corr(a, b, diagonal: bool) -> float:
    if len(a) < 2 or is_constant(a) or is_constant(b):
        return math.nan
    if diagonal:
        return 1.0
    ma, mb = mean(a), mean(b)
    sab = sum((u - ma) * (v - mb) for u, v in zip(a, b, strict=True))
    saa = sum((u - ma) ** 2 for u in a)
    sbb = sum((v - mb) ** 2 for v in b)
    return float(np.clip(sab / math.sqrt(saa * sbb), -1.0, 1.0))


def ewma_lambda(halflife) -> float:
    return 0.94 if halflife is None else 0.5 ** (1.0 / halflife)


def covariance_ewma(x, halflife=None) -> np.ndarray:
    """EWMA covariance: on the complete rows (any NaN drops the row), the k-th of m complete rows
    gets weight ``lambda**(m - 1 - k)``; weights normalised to one; centred on the weighted mean
    (``bias=True``). All NaN without a complete row."""
    x = _as_2d(x)
    lam = ewma_lambda(halflife)
    rows = x[~np.isnan(x).any(axis=1)]
    m, n = rows.shape
    if m == 0:
        return np.full((n, n), np.nan)
    w = np.array([lam ** (m - 1 - k) for k in range(m)])
    w = w / w.sum()
    mu = [sum(w[k] * rows[k, j] for k in range(m)) for j in range(n)]
    out = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            out[i, j] = sum(w[k] * (rows[k, i] - mu[i]) * (rows[k, j] - mu[j]) for k in range(m))
    return out


def correlation_ewma(x, halflife=None) -> np.ndarray:
    """EWMA covariance over the product of the EWMA standard deviations; NaN without variance."""
    c = covariance_ewma(x, halflife)
    x = _as_2d(x)
    rows = x[~np.isnan(x).any(axis=1)]
    n = c.shape[0]
    out = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(n):
            if len(rows) == 0 or is_constant(rows[:, i]) or is_constant(rows[:, j]):
                continue
            out[i, j] = 1.0 if i == j else np.clip(c[i, j] / math.sqrt(c[i, i] * c[j, j]), -1, 1)
    return out


# --- concentration and contributions -------------------------------------------------------------


def herfindahl(weights) -> float:
    a = np.abs(np.asarray(weights, dtype=np.float64))
    p = a / a.sum()
    return float(sum(v * v for v in p))


def effective_positions(weights) -> float:
    return 1.0 / herfindahl(weights)


def diversification_ratio(weights, cov) -> float:
    """``sum(|w_i| * sigma_i) / sqrt(w' Σ w)``; NaN without portfolio variance."""
    w = np.asarray(weights, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    n = len(w)
    sw = [sum(cov[i, j] * w[j] for j in range(n)) for i in range(n)]
    sigma = math.sqrt(max(sum(sw[i] * w[i] for i in range(n)), 0.0))
    if not sigma > 0:
        return math.nan
    return sum(abs(w[i]) * math.sqrt(cov[i, i]) for i in range(n)) / sigma


@dataclass(frozen=True)
class Contributions:
    var: float
    volatility: float
    marginal: np.ndarray
    component: np.ndarray
    percent: np.ndarray


def risk_contributions(weights, cov, confidence=0.95) -> Contributions:
    """Zero-mean normal VaR ``z * sqrt(w'Σw)`` and its Euler allocation
    ``component_i = w_i * z * (Σw)_i / sqrt(w'Σw)``."""
    w = np.asarray(weights, dtype=np.float64)
    cov = np.asarray(cov, dtype=np.float64)
    n = len(w)
    z = -normal_z(confidence)
    sw = np.array([sum(cov[i, j] * w[j] for j in range(n)) for i in range(n)])
    sigma = math.sqrt(max(sum(sw[i] * w[i] for i in range(n)), 0.0))
    if sigma > 0:
        marginal = z * sw / sigma
    else:
        marginal = np.full(n, np.nan)
    component = w * marginal
    var = z * sigma
    percent = component / var if var > 0 else np.full(n, np.nan)
    return Contributions(var, sigma, marginal, component, percent)


# --- stress --------------------------------------------------------------------------------------


def stress_pnl(exposures, shocks) -> list[float]:
    """``sum(exposure_i * shock_i)`` for every scenario row of ``shocks``."""
    e = np.asarray(exposures, dtype=np.float64)
    s = np.atleast_2d(np.asarray(shocks, dtype=np.float64))
    return [float(sum(float(a) * float(b) for a, b in zip(e, row, strict=True))) for row in s]


@dataclass(frozen=True)
class Window:
    loss: float
    start: int
    end: int


def worst_periods(r, horizon: int, n: int = 5) -> list[Window]:
    """The ``n`` worst non-overlapping ``horizon``-period compounded losses (NaN periods add no
    return), worst first, greedily: the worst window, then the worst one not overlapping any
    chosen, and so on (ties go to the earlier start). Only losing windows count."""
    r = np.asarray(r, dtype=np.float64)
    windows = []
    for s in range(len(r) - horizon + 1):
        seg = r[s : s + horizon]
        loss = -compound(seg[~np.isnan(seg)])
        if loss > 0:
            windows.append(Window(loss, s, s + horizon - 1))
    windows.sort(key=lambda w: (-w.loss, w.start))
    chosen: list[Window] = []
    for w in windows:
        if len(chosen) == n:
            break
        if all(w.end < c.start or w.start > c.end for c in chosen):
            chosen.append(w)
    return chosen


# --- rolling -------------------------------------------------------------------------------------


def _rolling(x, window, min_periods, fn):
    x = np.asarray(x, dtype=np.float64)
    one_d = x.ndim == 1
    x2 = _as_2d(x)
    t, n = x2.shape
    minp = window if min_periods is None else min_periods
    out = np.full((t, n), np.nan)
    for j in range(n):
        for i in range(window - 1, t):
            seg = x2[i - window + 1 : i + 1, j]
            seg = seg[~np.isnan(seg)]
            if len(seg) >= minp and len(seg) > 0:
                out[i, j] = fn(seg)
    return out[:, 0] if one_d else out


def rolling_var(x, window, confidence=0.95, min_periods=None, interpolation="linear"):
    """Historical VaR of each trailing window; NaN until full or below ``min_periods``."""
    return _rolling(
        x, window, min_periods, lambda a: _tail(a, confidence, 1, interpolation, "sqrt")[0]
    )


def rolling_cvar(x, window, confidence=0.95, min_periods=None, interpolation="linear"):
    return _rolling(
        x, window, min_periods, lambda a: _tail(a, confidence, 1, interpolation, "sqrt")[1]
    )


def rolling_correlation(x, window, min_periods=None) -> np.ndarray:
    """``(T, N, N)`` Pearson correlation of each trailing window, pairwise-complete; NaN below
    ``min_periods`` shared rows (default: the window) or without variance."""
    x = _as_2d(x)
    t, n = x.shape
    minp = window if min_periods is None else min_periods
    out = np.full((t, n, n), np.nan)
    for s in range(window - 1, t):
        seg = x[s - window + 1 : s + 1]
        for i in range(n):
            for j in range(i, n):
                ok = ~np.isnan(seg[:, i]) & ~np.isnan(seg[:, j])
                if ok.sum() < max(minp, 1):
                    continue
                c = _pair_corr(seg[ok, i], seg[ok, j], i == j)
                out[s, i, j] = out[s, j, i] = c
    return out
