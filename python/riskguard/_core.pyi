"""Typed stubs of the Rust extension. Inputs are float64 arrays already shaped by
``riskguard._input``; the public, documented API is ``riskguard.analytics``."""

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "RiskError",
    "__version__",
    "var_historical",
    "cvar_historical",
    "var_parametric",
    "cvar_parametric",
    "var_monte_carlo",
    "max_drawdown",
    "drawdown_details",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "annual_volatility",
    "cagr",
    "information_ratio",
    "covariance",
    "correlation",
    "risk_contributions",
    "diversification_ratio",
    "herfindahl",
    "effective_positions",
    "stress_pnl",
    "worst_periods",
    "rolling_var",
    "rolling_cvar",
    "rolling_correlation",
]

__version__: str

_Arr: TypeAlias = npt.NDArray[np.float64]
_Arr1: TypeAlias = _Arr
_Arr2: TypeAlias = _Arr
_Arr3: TypeAlias = _Arr

class RiskError(ValueError):
    """Base class of every error riskguard raises for bad input or state. A ValueError."""

def var_historical(
    returns: _Arr2, confidence: float, horizon: int, interpolation: str, scaling: str
) -> _Arr1: ...
def cvar_historical(
    returns: _Arr2, confidence: float, horizon: int, interpolation: str, scaling: str
) -> _Arr1: ...
def var_parametric(returns: _Arr2, confidence: float, horizon: int, method: str) -> _Arr1: ...
def cvar_parametric(returns: _Arr2, confidence: float, horizon: int) -> _Arr1: ...
def var_monte_carlo(
    returns: _Arr2,
    weights: _Arr1,
    confidence: float,
    horizon: int,
    n_paths: int,
    seed: int,
    method: str,
    cov: _Arr2 | None,
    repair: bool,
) -> tuple[float, float]: ...
def max_drawdown(returns: _Arr2) -> _Arr1: ...
def drawdown_details(
    returns: _Arr2,
) -> list[list[tuple[float, int | None, int, int | None, int]]]: ...
def sharpe_ratio(returns: _Arr2, risk_free: float, periods_per_year: float) -> _Arr1: ...
def sortino_ratio(returns: _Arr2, required_return: float, periods_per_year: float) -> _Arr1: ...
def calmar_ratio(returns: _Arr2, periods_per_year: float) -> _Arr1: ...
def annual_volatility(returns: _Arr2, periods_per_year: float) -> _Arr1: ...
def cagr(returns: _Arr2, periods_per_year: float) -> _Arr1: ...
def information_ratio(
    returns: _Arr2, benchmark: _Arr2, annualize: bool, periods_per_year: float
) -> _Arr1: ...
def covariance(returns: _Arr2, method: str, halflife: float | None) -> _Arr2: ...
def correlation(returns: _Arr2, method: str, halflife: float | None) -> _Arr2: ...
def risk_contributions(
    weights: _Arr1, cov: _Arr2, confidence: float
) -> tuple[float, float, _Arr1, _Arr1]: ...
def diversification_ratio(weights: _Arr1, cov: _Arr2) -> float: ...
def herfindahl(weights: _Arr1) -> float: ...
def effective_positions(weights: _Arr1) -> float: ...
def stress_pnl(exposures: _Arr1, shocks: _Arr2) -> _Arr1: ...
def worst_periods(returns: _Arr1, horizon: int, n: int) -> list[tuple[float, int, int]]: ...
def rolling_var(
    returns: _Arr2, window: int, confidence: float, min_periods: int | None, interpolation: str
) -> _Arr2: ...
def rolling_cvar(
    returns: _Arr2, window: int, confidence: float, min_periods: int | None, interpolation: str
) -> _Arr2: ...
def rolling_correlation(returns: _Arr2, window: int, min_periods: int | None) -> _Arr3: ...
