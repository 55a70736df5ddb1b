"""asv benchmarks for every family of ``riskguard.analytics``.

Data are seeded (numpy ``default_rng``), float64 and C-ordered, as a user would have them:
daily simple returns from a one-factor model with fat-tailed market shocks. Sizes are chosen so
that ``asv run --quick`` stays fast; the peer comparison at the large sizes lives in
``benches/compare.py``.
"""

from __future__ import annotations

import numpy as np
import riskguard as rg

T = 2520  # ten years of daily returns


def make_returns(t: int, n: int, seed: int = 0, nan_fraction: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng([seed, t, n])
    market = rng.standard_t(4, size=(t, 1)) * (0.01 / np.sqrt(2.0))
    beta = rng.uniform(0.5, 1.5, size=(1, n))
    vol = rng.uniform(0.005, 0.02, size=(1, n))
    x = 0.0003 + market * beta + rng.standard_normal((t, n)) * vol
    if nan_fraction:
        x[rng.random((t, n)) < nan_fraction] = np.nan
    return np.ascontiguousarray(x)


def make_weights(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng([seed, n]).dirichlet(np.ones(n))


# --- historical, parametric and Monte Carlo risk -------------------------------------------------


class HistoricalVaR:
    """``var_historical`` / ``cvar_historical`` per column."""

    params = ([100, 2000, 10000], ["linear", "lower"])
    param_names = ["n_assets", "interpolation"]

    def setup(self, n, interpolation):
        self.x = make_returns(T, n)

    def time_var_historical(self, n, interpolation):
        rg.var_historical(self.x, 0.95, interpolation=interpolation)

    def time_cvar_historical(self, n, interpolation):
        rg.cvar_historical(self.x, 0.95, interpolation=interpolation)


class TailRisk:
    """``tail_risk``: VaR and CVaR per column from one pass, the pair ``HistoricalVaR`` times
    as two calls; row-major (numpy's default) and column-major (pandas' usual) input."""

    params = ([100, 2000, 10000], ["C", "F"])
    param_names = ["n_assets", "order"]

    def setup(self, n, order):
        self.x = np.asarray(make_returns(T, n), order=order)

    def time_tail_risk(self, n, order):
        rg.tail_risk(self.x, 0.95)


class HistoricalVaRHorizon:
    """Multi-period historical VaR: sqrt scaling vs overlapping compounded windows."""

    params = (["sqrt", "overlapping"],)
    param_names = ["scaling"]

    def setup(self, scaling):
        self.x = make_returns(T, 500)

    def time_var_historical_h10(self, scaling):
        rg.var_historical(self.x, 0.99, horizon=10, scaling=scaling)

    def time_cvar_historical_h10(self, scaling):
        rg.cvar_historical(self.x, 0.99, horizon=10, scaling=scaling)


class HistoricalVaRMissing:
    """Per-column quantiles with 5 % missing observations (NaN omitted per column)."""

    def setup(self):
        self.x = make_returns(T, 2000, nan_fraction=0.05)

    def time_var_historical_nan(self):
        rg.var_historical(self.x)

    def time_cvar_historical_nan(self):
        rg.cvar_historical(self.x)

    def time_tail_risk_nan(self):
        rg.tail_risk(self.x)


class ParametricVaR:
    """``var_parametric`` (normal, Cornish-Fisher) and ``cvar_parametric``."""

    params = ([100, 10000],)
    param_names = ["n_assets"]

    def setup(self, n):
        self.x = make_returns(T, n)

    def time_var_parametric_normal(self, n):
        rg.var_parametric(self.x, 0.99)

    def time_var_parametric_cornish_fisher(self, n):
        rg.var_parametric(self.x, 0.99, method="cornish_fisher")

    def time_cvar_parametric(self, n):
        rg.cvar_parametric(self.x, 0.99, horizon=10)


class MonteCarloVaR:
    """``var_monte_carlo`` of a 50-asset portfolio."""

    params = ([10_000, 100_000], ["normal", "bootstrap"])
    param_names = ["n_paths", "method"]

    def setup(self, n_paths, method):
        self.x = make_returns(T, 50)
        self.w = make_weights(50)

    def time_var_monte_carlo(self, n_paths, method):
        rg.var_monte_carlo(self.x, self.w, n_paths=n_paths, method=method, seed=7)

    def time_var_monte_carlo_h10(self, n_paths, method):
        rg.var_monte_carlo(self.x, self.w, horizon=10, n_paths=n_paths, method=method, seed=7)


class MonteCarloVaRCov:
    """``var_monte_carlo`` with a given (and a repaired indefinite) covariance, 500 assets."""

    def setup(self):
        self.x = make_returns(T, 500)
        self.w = make_weights(500)
        self.cov = np.cov(self.x, rowvar=False)
        bad = self.cov.copy()
        bad[0, 1] = bad[1, 0] = 2 * np.sqrt(bad[0, 0] * bad[1, 1])  # |corr| > 1
        self.bad = bad

    def time_var_monte_carlo_cov(self):
        rg.var_monte_carlo(self.x, self.w, n_paths=20_000, cov=self.cov)

    def time_var_monte_carlo_repair(self):
        rg.var_monte_carlo(self.x, self.w, n_paths=20_000, cov=self.bad, repair=True)


# --- drawdown ------------------------------------------------------------------------------------


class Drawdown:
    """``max_drawdown`` and ``drawdown_details`` per column."""

    params = ([100, 10000],)
    param_names = ["n_assets"]

    def setup(self, n):
        self.x = make_returns(T, n)
        self.few = np.ascontiguousarray(self.x[:, :20])

    def time_max_drawdown(self, n):
        rg.max_drawdown(self.x)

    def time_drawdown_details_20_columns(self, n):
        rg.drawdown_details(self.few)


class WorstPeriods:
    """``worst_periods`` on a long single series."""

    params = ([1, 21, 252],)
    param_names = ["horizon"]

    def setup(self, horizon):
        self.r = make_returns(100_000, 1)[:, 0].copy()

    def time_worst_periods(self, horizon):
        rg.worst_periods(self.r, horizon, n=10)


# --- ratios --------------------------------------------------------------------------------------


class Ratios:
    """Sharpe, Sortino, Calmar, volatility, CAGR and information ratio per column."""

    params = ([100, 10000],)
    param_names = ["n_assets"]

    def setup(self, n):
        self.x = make_returns(T, n)
        self.bench = make_returns(T, 1, seed=3)[:, 0].copy()

    def time_sharpe_ratio(self, n):
        rg.sharpe_ratio(self.x, risk_free=0.0001)

    def time_sortino_ratio(self, n):
        rg.sortino_ratio(self.x)

    def time_calmar_ratio(self, n):
        rg.calmar_ratio(self.x)

    def time_annual_volatility(self, n):
        rg.annual_volatility(self.x)

    def time_cagr(self, n):
        rg.cagr(self.x)

    def time_information_ratio(self, n):
        rg.information_ratio(self.x, self.bench, annualize=True)


# --- correlation, covariance and concentration ---------------------------------------------------


class Correlation:
    """Full ``correlation`` / ``covariance`` matrices."""

    params = ([100, 1000], ["pearson", "ewma"])
    param_names = ["n_assets", "method"]

    def setup(self, n, method):
        self.x = make_returns(T, n)

    def time_correlation(self, n, method):
        rg.correlation(self.x, method=method)

    def time_covariance(self, n, method):
        rg.covariance(self.x, method="sample" if method == "pearson" else "ewma")


class CorrelationMissing:
    """Pairwise-complete correlation with 5 % missing observations."""

    def setup(self):
        self.x = make_returns(T, 300, nan_fraction=0.05)

    def time_correlation_pairwise(self):
        rg.correlation(self.x)

    def time_covariance_pairwise(self):
        rg.covariance(self.x)


class Concentration:
    """``diversification_ratio``, ``effective_positions`` and ``herfindahl``."""

    params = ([50, 1000],)
    param_names = ["n_assets"]

    def setup(self, n):
        self.w = make_weights(n)
        self.cov = np.cov(make_returns(T, n), rowvar=False)

    def time_diversification_ratio(self, n):
        rg.diversification_ratio(self.w, self.cov)

    def time_effective_positions(self, n):
        rg.effective_positions(self.w)

    def time_herfindahl(self, n):
        rg.herfindahl(self.w)


# --- contributions and stress --------------------------------------------------------------------


class RiskContributions:
    """Euler component VaR, ``risk_contributions``."""

    params = ([50, 1000],)
    param_names = ["n_assets"]

    def setup(self, n):
        self.w = make_weights(n)
        self.cov = np.cov(make_returns(T, n), rowvar=False)

    def time_risk_contributions(self, n):
        rg.risk_contributions(self.w, self.cov, 0.99)


class StressTest:
    """``stress_test`` with symbol-keyed mappings and with plain arrays."""

    params = ([50, 1000],)
    param_names = ["n_assets"]

    def setup(self, n):
        rng = np.random.default_rng([5, n])
        symbols = [f"SYM{i:04d}" for i in range(n)]
        notionals = rng.normal(0.0, 1e6, n)
        shocks = rng.normal(-0.05, 0.1, (20, n))
        self.exposures = dict(zip(symbols, notionals.tolist(), strict=True))
        self.scenarios = {
            f"scenario {k}": dict(zip(symbols, row.tolist(), strict=True))
            for k, row in enumerate(shocks)
        }
        self.arr_exposures = notionals
        self.arr_scenarios = {f"scenario {k}": row for k, row in enumerate(shocks)}

    def time_stress_test_mapping(self, n):
        rg.stress_test(self.exposures, self.scenarios)

    def time_stress_test_arrays(self, n):
        rg.stress_test(self.arr_exposures, self.arr_scenarios)


# --- rolling -------------------------------------------------------------------------------------


class RollingVaR:
    """``rolling_var`` / ``rolling_cvar`` over a trailing window."""

    params = ([21, 252],)
    param_names = ["window"]

    def setup(self, window):
        self.x = make_returns(100_000, 10)

    def time_rolling_var(self, window):
        rg.rolling_var(self.x, window)

    def time_rolling_cvar(self, window):
        rg.rolling_cvar(self.x, window)


class RollingCorrelation:
    """``rolling_correlation`` of every pair of columns."""

    params = ([10, 50],)
    param_names = ["n_assets"]

    def setup(self, n):
        self.x = make_returns(1000, n)

    def time_rolling_correlation(self, n):
        rg.rolling_correlation(self.x, 60)
