"""Risk analytics: VaR, CVaR, drawdown, ratios, correlation, contributions, stress and rolling.

Conventions shared by every function (see DESIGN.md):

- ``returns`` are simple returns, time on axis 0. A 1-D ``(T,)`` input gives a float; a 2-D
  ``(T, N)`` input gives one value per column: a float64 array, a pandas Series labelled by
  column for a pandas DataFrame, or a one-row polars DataFrame for a polars DataFrame. Any
  memory order and any float or int dtype is accepted.
- VaR, CVaR and drawdown are **positive losses**: 0.023 means a 2.3 % loss.
- NaN marks a missing observation and is omitted per column. A column with too few finite
  values gives NaN, never an exception. Infinite values are an error.
- Every error is a :class:`riskguard.RiskError` (a ``ValueError``) whose message names the
  argument and the value.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np

from riskguard import _core
from riskguard._core import RiskError
from riskguard._input import (
    Shape,
    as_matrix,
    as_square,
    as_vector,
    label,
    per_column,
    per_row,
    square,
)

__all__ = [
    "DrawdownPeriod",
    "RiskContributions",
    "StressWindow",
    "TailRisk",
    "annual_volatility",
    "cagr",
    "calmar_ratio",
    "correlation",
    "covariance",
    "cvar_historical",
    "cvar_parametric",
    "diversification_ratio",
    "drawdown_details",
    "effective_positions",
    "herfindahl",
    "information_ratio",
    "max_drawdown",
    "risk_contributions",
    "rolling_correlation",
    "rolling_cvar",
    "rolling_var",
    "sharpe_ratio",
    "sortino_ratio",
    "stress_test",
    "tail_risk",
    "var_historical",
    "var_monte_carlo",
    "var_parametric",
    "worst_periods",
]


_INT64 = 2**63


def _integer(value: Any, arg: str, lo: int = -_INT64, hi: int = _INT64) -> int:
    """An int argument in ``[lo, hi)``; bools and strings are refused."""
    if isinstance(value, (bool, np.bool_)):
        raise RiskError(f"{arg} must be an integer, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise RiskError(f"{arg} must be an integer, got {value!r}") from None
    if not lo <= v < hi:
        raise RiskError(f"{arg} must be in [{lo}, {hi}), got {v}")
    return v


def _real(value: Any, arg: str) -> float:
    """A real argument; bools and strings are refused (the core checks the range)."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or not isinstance(value, numbers.Real):
        raise RiskError(f"{arg} must be a real number, got {value!r}")
    return float(value)


def _choice(value: Any, arg: str) -> str:
    """A string option; the core says which spellings it accepts."""
    if not isinstance(value, str):
        raise RiskError(f"{arg} must be a string, got {value!r}")
    return value


# --- historical, parametric and Monte Carlo risk ---


def var_historical(
    returns: Any,
    confidence: float = 0.95,
    horizon: int = 1,
    interpolation: Literal["linear", "lower"] = "linear",
    scaling: Literal["sqrt", "overlapping"] = "sqrt",
) -> Any:
    """Historical Value at Risk: ``-quantile(r, 1 - confidence)``, a positive loss.

    ``interpolation="linear"`` is numpy's default quantile (R type 7, empyrical's
    ``value_at_risk`` with the sign flipped); ``"lower"`` takes the lower order statistic
    (Riskfolio, skfolio). For ``horizon > 1``, ``scaling="sqrt"`` multiplies the one-period VaR
    by ``sqrt(horizon)``; ``scaling="overlapping"`` first compounds overlapping
    ``horizon``-period returns of the finite values, then takes their quantile.
    ``1 - confidence`` is the decimal it stands for: at 0.9 and 11 returns the position is
    exactly 1 (numpy at ``q=0.1``), not the 0.9999999999999998 of floating point, which would
    take one order statistic too far into the tail. Every quantile of riskguard (rolling,
    Monte Carlo, batch, the polars plugin) places it so.

    Raises RiskError for a confidence outside (0, 1), a horizon below 1 (or above T with
    overlapping scaling), an unknown interpolation or scaling, or returns that are empty,
    3-D, non-numeric or infinite.
    """
    x, shape = as_matrix(returns)
    out = _core.var_historical(
        x,
        _real(confidence, "confidence"),
        _integer(horizon, "horizon"),
        _choice(interpolation, "interpolation"),
        _choice(scaling, "scaling"),
    )
    return per_column(out, shape)


def cvar_historical(
    returns: Any,
    confidence: float = 0.95,
    horizon: int = 1,
    interpolation: Literal["linear", "lower"] = "linear",
    scaling: Literal["sqrt", "overlapping"] = "sqrt",
) -> Any:
    """Historical Conditional VaR (expected shortfall): ``-mean(r[r <= q])`` where ``q`` is the
    VaR quantile of :func:`var_historical` with the same arguments (empyrical's
    ``conditional_value_at_risk``, quantstats' historical CVaR). A positive loss, never below
    the VaR. Raises RiskError as :func:`var_historical` does.
    """
    x, shape = as_matrix(returns)
    out = _core.cvar_historical(
        x,
        _real(confidence, "confidence"),
        _integer(horizon, "horizon"),
        _choice(interpolation, "interpolation"),
        _choice(scaling, "scaling"),
    )
    return per_column(out, shape)


class TailRisk(NamedTuple):
    """Historical VaR and CVaR of the same returns, as :func:`tail_risk` gives them; a pair,
    so ``var, cvar = rg.tail_risk(r)`` unpacks it.

    Each field is what :func:`var_historical` and :func:`cvar_historical` return for those
    returns: a float for a 1-D series, else one positive loss per column (a float64 array, a
    pandas Series labelled by column, or a one-row polars DataFrame).
    """

    var: Any
    cvar: Any


def tail_risk(
    returns: Any,
    confidence: float = 0.95,
    horizon: int = 1,
    interpolation: Literal["linear", "lower"] = "linear",
    scaling: Literal["sqrt", "overlapping"] = "sqrt",
) -> TailRisk:
    """Historical VaR and CVaR together: the values of :func:`var_historical` and
    :func:`cvar_historical` with the same arguments, from one pass over each column instead
    of two (one gather of its finite values, one selection, and the tail mean from the
    selected part), as a :class:`TailRisk` pair. Where a column has NaN its CVaR may differ
    from :func:`cvar_historical`'s in the last bits: the same tail, summed in another order.

    Same conventions and NaN rule; raises RiskError as :func:`var_historical` does.
    """
    x, shape = as_matrix(returns)
    var, cvar = _core.tail_risk(
        x,
        _real(confidence, "confidence"),
        _integer(horizon, "horizon"),
        _choice(interpolation, "interpolation"),
        _choice(scaling, "scaling"),
    )
    return TailRisk(per_column(var, shape), per_column(cvar, shape))


def var_parametric(
    returns: Any,
    confidence: float = 0.95,
    horizon: int = 1,
    method: Literal["normal", "cornish_fisher"] = "normal",
) -> Any:
    """Parametric VaR: ``-(mu*h + z*sigma*sqrt(h))`` with the sample mean ``mu``, the ddof-1
    standard deviation ``sigma`` and ``z = Φ⁻¹(1 - confidence)``.

    ``method="cornish_fisher"`` replaces ``z`` by its Cornish-Fisher expansion with the
    population skewness and excess kurtosis of the sample (scipy's ``bias=True`` moments).
    Columns with fewer than two finite values give NaN. Raises RiskError for a confidence
    outside (0, 1), a horizon below 1, an unknown method or bad returns.
    """
    x, shape = as_matrix(returns)
    out = _core.var_parametric(
        x, _real(confidence, "confidence"), _integer(horizon, "horizon"), _choice(method, "method")
    )
    return per_column(out, shape)


def cvar_parametric(returns: Any, confidence: float = 0.95, horizon: int = 1) -> Any:
    """Normal expected shortfall: ``-mu*h + sigma*sqrt(h) * φ(z) / (1 - confidence)``.

    Same inputs, NaN rule and errors as :func:`var_parametric`.
    """
    x, shape = as_matrix(returns)
    out = _core.cvar_parametric(x, _real(confidence, "confidence"), _integer(horizon, "horizon"))
    return per_column(out, shape)


def var_monte_carlo(
    returns: Any,
    weights: Any,
    confidence: float = 0.95,
    horizon: int = 1,
    n_paths: int = 100_000,
    seed: int = 0,
    method: Literal["normal", "bootstrap"] = "normal",
    *,
    cov: Any = None,
    repair: bool = False,
) -> tuple[float, float]:
    """Monte Carlo ``(VaR, CVaR)`` of the portfolio ``weights · r``, as positive losses.

    Each path compounds ``horizon`` simulated periods. ``method="normal"`` draws asset returns
    from the sample mean and covariance of the complete rows (rows with any NaN are left out)
    through a factor of the covariance; ``method="bootstrap"`` draws historical rows with
    replacement. ``cov`` replaces the sample covariance. A covariance that is not positive
    semi-definite is an error unless ``repair=True``, which clips its negative eigenvalues to
    zero. The result depends only on ``seed``, never on the number of threads. Fewer than two
    complete rows give ``(nan, nan)``.

    Raises RiskError for mismatched weights, a bad confidence, horizon, n_paths or seed, an
    unknown method, an indefinite covariance, or bad returns.
    """
    x, _ = as_matrix(returns)
    w = as_vector(weights, "weights")
    seed = _integer(seed, "seed", 0, 2**64)
    c = None if cov is None else as_square(cov, "cov")
    return _core.var_monte_carlo(
        x,
        w,
        _real(confidence, "confidence"),
        _integer(horizon, "horizon"),
        _integer(n_paths, "n_paths"),
        seed,
        _choice(method, "method"),
        c,
        bool(repair),
    )


# --- performance statistics ---


def max_drawdown(returns: Any) -> Any:
    """Largest peak-to-trough loss of compounded wealth, a positive fraction.

    Wealth starts at 1.0 before the first return, so a first-period loss counts (empyrical's
    ``max_drawdown`` with the sign flipped). Raises RiskError for bad returns.
    """
    x, shape = as_matrix(returns)
    return per_column(_core.max_drawdown(x), shape)


@dataclass(frozen=True)
class DrawdownPeriod:
    """One episode under water.

    ``peak``, ``trough`` and ``recovery`` are positions in the series (index labels for pandas
    input). ``peak`` is None when the high-water mark is the starting capital, before the first
    return; ``recovery`` is None while still under water. ``duration`` counts the periods from
    the first one under water up to the recovery, or to the end of the series.
    """

    depth: float
    peak: Any
    trough: Any
    recovery: Any
    duration: int


def drawdown_details(returns: Any) -> Any:
    """Every drawdown episode, in time order, as :class:`DrawdownPeriod` records.

    A 1-D input gives a list; a 2-D input a list per column (a dict keyed by column for a
    labelled DataFrame). Raises RiskError for bad returns.
    """
    x, shape = as_matrix(returns)
    columns = [
        [
            DrawdownPeriod(depth, label(p, shape), label(t, shape), label(r, shape), d)
            for depth, p, t, r, d in col
        ]
        for col in _core.drawdown_details(x)
    ]
    if shape.one_d:
        return columns[0]
    if shape.columns is not None:
        return dict(zip(shape.columns, columns, strict=True))
    return columns


def sharpe_ratio(returns: Any, risk_free: float = 0.0, periods_per_year: float = 252) -> Any:
    """``mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year)``; ``risk_free`` is per
    period. NaN when there are fewer than two finite values or no volatility. Raises RiskError
    for a non-finite risk_free, a periods_per_year that is not positive, or bad returns.
    """
    x, shape = as_matrix(returns)
    out = _core.sharpe_ratio(
        x, _real(risk_free, "risk_free"), _real(periods_per_year, "periods_per_year")
    )
    return per_column(out, shape)


def sortino_ratio(returns: Any, required_return: float = 0.0, periods_per_year: float = 252) -> Any:
    """Annualised ``mean(r - mar)`` over the annualised downside deviation
    ``sqrt(mean(min(r - mar, 0)**2)) * sqrt(ppy)``, averaged over **all** observations
    (empyrical). NaN when there are fewer than two finite values (as :func:`sharpe_ratio`: the
    ratios that need a dispersion need two observations) or no downside. Raises RiskError as
    :func:`sharpe_ratio`.
    """
    x, shape = as_matrix(returns)
    out = _core.sortino_ratio(
        x,
        _real(required_return, "required_return"),
        _real(periods_per_year, "periods_per_year"),
    )
    return per_column(out, shape)


def calmar_ratio(returns: Any, periods_per_year: float = 252) -> Any:
    """CAGR (years = finite count / ppy) divided by max drawdown; NaN without a drawdown.
    Raises RiskError for a periods_per_year that is not positive, or bad returns.
    """
    x, shape = as_matrix(returns)
    return per_column(_core.calmar_ratio(x, _real(periods_per_year, "periods_per_year")), shape)


def annual_volatility(returns: Any, periods_per_year: float = 252) -> Any:
    """``std(r, ddof=1) * sqrt(periods_per_year)``; NaN below two finite values."""
    x, shape = as_matrix(returns)
    out = _core.annual_volatility(x, _real(periods_per_year, "periods_per_year"))
    return per_column(out, shape)


def cagr(returns: Any, periods_per_year: float = 252) -> Any:
    """Compound annual growth rate ``prod(1 + r) ** (ppy / n) - 1``, n the finite count
    (empyrical's ``annual_return``). NaN for an empty column or a negative final wealth."""
    x, shape = as_matrix(returns)
    return per_column(_core.cagr(x, _real(periods_per_year, "periods_per_year")), shape)


def information_ratio(
    returns: Any, benchmark: Any, annualize: bool = False, periods_per_year: float = 252
) -> Any:
    """``mean(r - b) / std(r - b, ddof=1)`` (empyrical's ``excess_sharpe``), times
    ``sqrt(periods_per_year)`` when ``annualize``.

    ``benchmark`` is a ``(T,)`` series shared by every column or a ``(T, N)`` matrix. Rows where
    either is NaN are omitted. Raises RiskError for mismatched shapes or bad input.
    """
    x, shape = as_matrix(returns)
    b, _ = as_matrix(benchmark, "benchmark")
    out = _core.information_ratio(
        x, b, bool(annualize), _real(periods_per_year, "periods_per_year")
    )
    return per_column(out, shape)


# --- correlation and concentration ---


def _halflife(halflife: Any) -> float | None:
    return None if halflife is None else _real(halflife, "halflife")


def covariance(
    returns: Any,
    method: Literal["sample", "ewma"] = "sample",
    halflife: float | None = None,
) -> Any:
    """The ``(N, N)`` covariance matrix of the columns of ``returns``.

    ``"sample"``: ddof 1; with NaN present, pairwise-complete (each pair over the rows where
    both are finite), as pandas' ``DataFrame.cov``. ``"ewma"``: weights ``lambda**age`` on the
    complete rows, normalised, around the weighted mean, with ``lambda = 0.5**(1/halflife)``
    or RiskMetrics' 0.94 when ``halflife`` is None (pandas' ``ewm(halflife).cov(bias=True)``
    at the last row). A pandas or polars DataFrame gives a labelled frame.
    """
    x, shape = as_matrix(returns)
    return square(_core.covariance(x, _choice(method, "method"), _halflife(halflife)), shape)


def correlation(
    returns: Any,
    method: Literal["pearson", "ewma"] = "pearson",
    halflife: float | None = None,
) -> Any:
    """The ``(N, N)`` correlation matrix, from :func:`covariance` with the same method.

    With missing data each pair is normalised by its own standard deviations over the shared
    rows (pandas' ``DataFrame.corr``). Constant columns give NaN; values are clipped to
    [-1, 1].
    """
    x, shape = as_matrix(returns)
    return square(_core.correlation(x, _choice(method, "method"), _halflife(halflife)), shape)


def diversification_ratio(weights: Any, cov: Any) -> float:
    """``sum(|w_i| * sigma_i) / sigma_p``: 1 for a single asset, higher when diversified.
    Raises RiskError for non-finite weights, a mismatched, asymmetric or non-finite cov."""
    return _core.diversification_ratio(as_vector(weights, "weights"), as_square(cov, "cov"))


def effective_positions(weights: Any) -> float:
    """``1 / sum(p_i**2)`` with ``p_i = |w_i| / sum|w|``: the number of equal positions with
    the same concentration. Raises RiskError for empty, all-zero or non-finite weights."""
    return _core.effective_positions(as_vector(weights, "weights"))


def herfindahl(weights: Any) -> float:
    """Herfindahl index ``sum(p_i**2)`` of the absolute weights normalised to sum to one."""
    return _core.herfindahl(as_vector(weights, "weights"))


# --- contributions, stress and rolling ---


@dataclass(frozen=True)
class RiskContributions:
    """Parametric (zero-mean normal) VaR of a portfolio and its Euler allocation.

    ``component`` sums to ``var``; ``marginal`` is ``∂VaR/∂w``; ``percent`` is
    ``component / var``. Per-position fields are Series for pandas weights.
    """

    var: float
    volatility: float
    marginal: Any
    component: Any
    percent: Any


def risk_contributions(weights: Any, cov: Any, confidence: float = 0.95) -> RiskContributions:
    """Component VaR per position: ``w_i * z * (Σw)_i / sqrt(wᵀΣw)``, z the normal quantile.

    The components sum to the portfolio's parametric VaR ``z * sqrt(wᵀΣw)``, in the units of
    the weights (fractions for weights, money for exposures). Raises RiskError for a bad
    confidence, non-finite weights, or a mismatched, asymmetric or non-finite cov.
    """
    w = as_vector(weights, "weights")
    var, vol, marginal, component = _core.risk_contributions(
        w, as_square(cov, "cov"), _real(confidence, "confidence")
    )
    percent = component / var if var > 0 else np.full_like(component, np.nan)
    if type(weights).__module__.startswith("pandas"):
        import pandas as pd

        marginal, component, percent = (
            pd.Series(v, index=weights.index) for v in (marginal, component, percent)
        )
    return RiskContributions(var, vol, marginal, component, percent)


def _shock_row(
    name: str, shocks: Any, symbols: list[Any] | None, n: int, missing: str
) -> np.ndarray:
    if isinstance(shocks, Mapping):
        if symbols is None:
            raise RiskError(
                f"scenarios[{name!r}] gives shocks by symbol, so exposures must be a mapping "
                "or a labelled Series"
            )
        held = set(symbols)
        unknown = [s for s in shocks if s not in held]
        if unknown:
            raise RiskError(f"scenarios[{name!r}] names unknown symbols {unknown}")
        absent = [s for s in symbols if s not in shocks]
        if absent and missing == "error":
            raise RiskError(
                f"scenarios[{name!r}] has no shock for {absent}; pass missing='zero' to "
                "treat them as unshocked"
            )
        return np.array([_real(shocks.get(s, 0.0), f"scenarios[{name!r}]") for s in symbols])
    row = as_vector(shocks, f"scenarios[{name!r}]")
    if row.size != n:
        raise RiskError(f"scenarios[{name!r}] must have {n} shocks, got {row.size}")
    return row


def stress_test(
    exposures: Any, scenarios: Any, missing: Literal["error", "zero"] = "error"
) -> dict[str, float]:
    """P&L of ``exposures`` under each named scenario: ``sum(exposure_i * shock_i)``.

    ``exposures`` is a mapping ``{symbol: signed notional}``, a labelled pandas Series, or an
    array. ``scenarios`` is a mapping ``{name: {symbol: shock}}`` or ``{name: array}``, a
    pandas DataFrame (one row per scenario, one column per symbol), or a polars DataFrame with
    a ``scenario`` column. Shocks are simple returns. Returns ``{name: pnl}`` in scenario order.

    A scenario naming a symbol that is not held is an error. A held symbol the scenario does
    not mention is an error too, unless ``missing="zero"``. Non-finite values are errors.
    """
    if missing not in ("error", "zero"):
        raise RiskError(f"missing must be 'error' or 'zero', got {missing!r}")
    if isinstance(exposures, Mapping):
        symbols: list[Any] | None = list(exposures)
        e = as_vector([_real(v, f"exposures[{k!r}]") for k, v in exposures.items()], "exposures")
    elif type(exposures).__module__.startswith("pandas"):
        symbols = list(exposures.index)
        e = as_vector(exposures, "exposures")
    else:
        symbols = None
        e = as_vector(exposures, "exposures")
    library = type(scenarios).__module__.split(".")[0]
    if library == "pandas":
        scenarios = {str(k): row.to_dict() for k, row in scenarios.iterrows()}
    elif library == "polars":
        if "scenario" not in scenarios.columns:
            raise RiskError("scenarios as a polars DataFrame needs a 'scenario' column")
        scenarios = {str(row.pop("scenario")): row for row in scenarios.iter_rows(named=True)}
    if not isinstance(scenarios, Mapping) or not scenarios:
        raise RiskError(
            f"scenarios must be a non-empty mapping or DataFrame, got {type(scenarios).__name__}"
        )
    names = [str(k) for k in scenarios]
    rows = [
        _shock_row(k, v, symbols, e.size, missing)
        for k, v in zip(names, scenarios.values(), strict=True)
    ]
    pnl = _core.stress_pnl(e, np.vstack(rows))
    return dict(zip(names, pnl.tolist(), strict=True))


@dataclass(frozen=True)
class StressWindow:
    """A historical stress window: ``loss`` is the compounded loss (positive) from ``start`` to
    ``end`` inclusive, positions or index labels for pandas input."""

    loss: float
    start: Any
    end: Any


def _series(returns: Any, arg: str = "returns") -> tuple[np.ndarray, Shape]:
    x, shape = as_matrix(returns, arg)
    if x.shape[1] != 1:
        raise RiskError(f"{arg} must be a single series (T,), got shape {x.shape}")
    return np.ascontiguousarray(x[:, 0]), shape


def worst_periods(returns: Any, horizon: int, n: int = 5) -> list[StressWindow]:
    """The ``n`` worst non-overlapping ``horizon``-period compounded losses, worst first.

    NaN periods contribute no return. Only windows that lost are reported. Raises RiskError
    for a horizon below 1 or longer than the series, n below 1, or bad returns.
    """
    r, shape = _series(returns)
    found = _core.worst_periods(r, _integer(horizon, "horizon"), _integer(n, "n"))
    return [StressWindow(loss, label(s, shape), label(e, shape)) for loss, s, e in found]


def _min_periods(min_periods: Any) -> int | None:
    return None if min_periods is None else _integer(min_periods, "min_periods")


def rolling_var(
    returns: Any,
    window: int,
    confidence: float = 0.95,
    min_periods: int | None = None,
    interpolation: Literal["linear", "lower"] = "linear",
) -> Any:
    """Historical VaR over each trailing ``window``, one value per step (pandas'
    ``-rolling(window).quantile(1 - confidence)``).

    NaN until the window is full, and while it holds fewer than ``min_periods`` finite values
    (default: the whole window). Raises RiskError for a window below 1 or longer than the
    series, a bad confidence or min_periods, or bad returns.
    """
    x, shape = as_matrix(returns)
    out = _core.rolling_var(
        x,
        _integer(window, "window"),
        _real(confidence, "confidence"),
        _min_periods(min_periods),
        _choice(interpolation, "interpolation"),
    )
    return per_row(out, shape)


def rolling_cvar(
    returns: Any,
    window: int,
    confidence: float = 0.95,
    min_periods: int | None = None,
    interpolation: Literal["linear", "lower"] = "linear",
) -> Any:
    """Historical CVaR over each trailing ``window``; same rules as :func:`rolling_var`."""
    x, shape = as_matrix(returns)
    out = _core.rolling_cvar(
        x,
        _integer(window, "window"),
        _real(confidence, "confidence"),
        _min_periods(min_periods),
        _choice(interpolation, "interpolation"),
    )
    return per_row(out, shape)


def rolling_correlation(returns: Any, window: int, min_periods: int | None = None) -> np.ndarray:
    """Pearson correlation of every pair of columns over each trailing ``window``, shape
    ``(T, N, N)``.

    Updated incrementally in O(N²) per step. Rows before the first full window are NaN. Each
    pair uses the rows of the window where both are finite and is NaN below ``min_periods`` of
    them (default: the whole window, as pandas'
    ``rolling(window).corr()``) or without variance. Raises RiskError as :func:`rolling_var`.
    """
    x, _ = as_matrix(returns)
    return _core.rolling_correlation(x, _integer(window, "window"), _min_periods(min_periods))
