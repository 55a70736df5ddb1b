"""Every public function of riskguard.analytics held to the plain numpy reference in
``reference.py`` on random inputs: shapes, NaN patterns, memory orders, dtypes and arguments.

Deterministic kernels must agree to ``rtol=1e-9, atol=1e-12`` (looser only where a kernel sums
in a different order by design: GEMM covariances and incrementally updated rolling windows).
Monte Carlo results are checked for determinism and against closed forms within a few standard
errors.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import riskguard as rg
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from riskguard import RiskError
from scipy import stats

try:
    from . import reference as ref
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    import reference as ref

RTOL = 1e-9
ATOL = 1e-12


def fast(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- inputs --------------------------------------------------------------------------------------


@dataclass
class Case:
    """``x`` is what riskguard gets; ``values`` is a float64 C-ordered copy of the same values."""

    x: Any
    values: np.ndarray

    @property
    def one_d(self) -> bool:
        return self.values.ndim == 1

    @property
    def n(self) -> int:
        return 1 if self.one_d else self.values.shape[1]

    @property
    def t(self) -> int:
        return self.values.shape[0]


def lay_out(values: np.ndarray, layout: str, dtype: str) -> np.ndarray:
    """``values`` as ``dtype`` in C order, F order, or as a strided view ``base[::2, ::-1]``."""
    arr = values.astype(dtype)
    if layout == "C":
        return np.ascontiguousarray(arr)
    if layout == "F":
        return np.asfortranarray(arr)
    if arr.ndim == 1:
        base = np.zeros(2 * arr.shape[0], dtype=dtype)
        view = base[::-2]
    else:
        base = np.zeros((2 * arr.shape[0], arr.shape[1]), dtype=dtype)
        view = base[::2, ::-1]
    view[...] = arr
    return view


NAN_MODES = ("none", "sparse", "dense", "all_nan_column", "nan_rows")


@st.composite
def returns(
    draw,
    min_t: int = 1,
    max_t: int = 300,
    max_n: int = 6,
    one_d: bool | None = None,
    ties: bool = False,
    nan: bool = True,
    dtypes: tuple[str, ...] = ("float64", "float64", "float32", "int64"),
    layouts: tuple[str, ...] = ("C", "F", "strided"),
) -> Case:
    """Random simple returns (time on axis 0) in a random dtype, memory order and NaN pattern.

    Float returns are Student-t(4) with a random scale, clipped to [-0.9, 1]; ``ties`` rounds
    them to a coarse grid half of the time so that quantiles land on repeated values. int64
    returns are in [-1, 2] (no NaN). Without ``ties``, float columns of two or more
    values are never constant.
    """
    is_1d = draw(st.booleans()) if one_d is None else one_d
    t = draw(st.integers(min_t, max_t))
    n = 1 if is_1d else draw(st.integers(1, max_n))
    dtype = draw(st.sampled_from(dtypes))
    layout = draw(st.sampled_from(layouts))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype == "int64":
        v = rng.integers(-1, 3, size=(t, n)).astype(np.float64)
    else:
        scale = draw(st.sampled_from([0.002, 0.01, 0.05]))
        v = np.clip(rng.standard_t(4, size=(t, n)) * scale, -0.9, 1.0)
        if ties and draw(st.booleans()):
            v = np.round(v / scale * 2.0) * (scale / 2.0)
        mode = draw(st.sampled_from(NAN_MODES)) if nan else "none"
        if mode == "sparse":
            v[rng.random((t, n)) < 0.05] = np.nan
        elif mode == "dense":
            v[rng.random((t, n)) < 0.6] = np.nan
        elif mode == "all_nan_column":
            v[rng.random((t, n)) < 0.05] = np.nan
            v[:, rng.integers(n)] = np.nan
        elif mode == "nan_rows":
            v[rng.random(t) < 0.2, :] = np.nan
    if is_1d:
        v = v[:, 0]
    x = lay_out(v, layout, dtype)
    return Case(x, np.array(x, dtype=np.float64, order="C"))


confidences = st.one_of(st.sampled_from([0.9, 0.95, 0.975, 0.99]), st.floats(0.01, 0.999))
periods = st.one_of(st.sampled_from([1, 12, 52, 252, 365]), st.floats(0.5, 1000.0))
small_rates = st.one_of(st.just(0.0), st.floats(-0.002, 0.002))


def assert_close(got, want, rtol=RTOL, atol=ATOL, err_msg=""):
    np.testing.assert_allclose(
        np.asarray(got, dtype=np.float64),
        np.asarray(want, dtype=np.float64),
        rtol=rtol,
        atol=atol,
        equal_nan=True,
        err_msg=err_msg,
    )


def check_per_column(case: Case, got, want, rtol=RTOL, atol=ATOL):
    """A 1-D input gives a Python float, a 2-D one a float64 array with a value per column."""
    if case.one_d:
        assert type(got) is float, type(got)
    else:
        assert isinstance(got, np.ndarray), type(got)
        assert got.dtype == np.float64 and got.shape == (case.n,), (got.dtype, got.shape)
    assert_close(got, want, rtol, atol)


# --- historical VaR / CVaR -----------------------------------------------------------------------


@fast(200)
@given(
    case=returns(ties=True),
    confidence=confidences,
    horizon=st.one_of(st.just(1), st.integers(1, 12)),
    interpolation=st.sampled_from(["linear", "lower"]),
    scaling=st.sampled_from(["sqrt", "overlapping"]),
)
def test_var_and_cvar_historical(case, confidence, horizon, interpolation, scaling):
    kw = dict(confidence=confidence, horizon=horizon, interpolation=interpolation, scaling=scaling)
    if scaling == "overlapping" and horizon > case.t:
        for fn in (rg.var_historical, rg.cvar_historical):
            with pytest.raises(RiskError, match="horizon"):
                fn(case.x, **kw)
        return
    var = rg.var_historical(case.x, **kw)
    cvar = rg.cvar_historical(case.x, **kw)
    check_per_column(case, var, ref.var_historical(case.values, **kw))
    check_per_column(case, cvar, ref.cvar_historical(case.values, **kw))
    v, c = np.atleast_1d(var), np.atleast_1d(cvar)
    ok = ~np.isnan(v)
    assert np.array_equal(ok, ~np.isnan(c))
    assert np.all(c[ok] >= v[ok] - 1e-12), "CVaR below VaR"


@fast(60)
@given(case=returns(ties=True, nan=True, dtypes=("float64",)), confidence=confidences)
def test_var_historical_linear_is_numpy_quantile(case, confidence):
    """The reference's quantile is numpy's at the decimal ``1 - confidence``: cross-check both
    against np.nanquantile given that decimal. The lower order statistic is held to the
    reference's exact position only: numpy's own position, ``(n - 1) * q`` in floating point,
    can fall just short of a whole number and take the statistic below."""
    q = float(ref.tail_probability(confidence))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        want = -np.nanquantile(case.values, q, axis=0)
    assert_close(ref.var_historical(case.values, confidence), want)
    got = rg.var_historical(case.x, confidence=confidence)
    assert_close(got, want)
    lower = ref.var_historical(case.values, confidence, interpolation="lower")
    assert_close(rg.var_historical(case.x, confidence=confidence, interpolation="lower"), lower)


# --- parametric ----------------------------------------------------------------------------------


@fast(200)
@given(
    case=returns(),
    confidence=confidences,
    horizon=st.integers(1, 30),
    method=st.sampled_from(["normal", "cornish_fisher"]),
)
def test_var_parametric(case, confidence, horizon, method):
    got = rg.var_parametric(case.x, confidence=confidence, horizon=horizon, method=method)
    check_per_column(case, got, ref.var_parametric(case.values, confidence, horizon, method))


@fast(150)
@given(case=returns(), confidence=confidences, horizon=st.integers(1, 30))
def test_cvar_parametric(case, confidence, horizon):
    got = rg.cvar_parametric(case.x, confidence=confidence, horizon=horizon)
    check_per_column(case, got, ref.cvar_parametric(case.values, confidence, horizon))


@fast(40)
@given(case=returns(min_t=3, dtypes=("float64",), nan=False))
def test_reference_moments_are_scipys_biased_moments(case):
    """The reference's population skew and excess kurtosis are scipy's ``bias=True`` ones."""
    cols = case.values.reshape(case.t, -1).T
    for a in cols:
        s, k = ref.population_moments(a)
        assert math.isclose(s, stats.skew(a, bias=True), rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(k, stats.kurtosis(a, bias=True), rel_tol=1e-9, abs_tol=1e-12)


# --- drawdowns and performance ratios ------------------------------------------------------------


@fast(200)
@given(case=returns(ties=True))
def test_max_drawdown(case):
    check_per_column(case, rg.max_drawdown(case.x), ref.max_drawdown(case.values))


def check_episodes(got, want):
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        assert isinstance(g, rg.DrawdownPeriod)
        assert (g.peak, g.trough, g.recovery, g.duration) == (
            w.peak,
            w.trough,
            w.recovery,
            w.duration,
        ), (g, w)
        assert math.isclose(g.depth, w.depth, rel_tol=RTOL, abs_tol=ATOL), (g, w)


@fast(200)
@given(case=returns(ties=True, max_t=200))
def test_drawdown_details(case):
    got = rg.drawdown_details(case.x)
    if case.one_d:
        assert isinstance(got, list)
        check_episodes(got, ref.drawdown_episodes(case.values))
        deepest = max((p.depth for p in got), default=0.0)
        want_mdd = ref.max_drawdown(case.values)
        if not math.isnan(want_mdd):
            assert math.isclose(deepest, want_mdd, rel_tol=RTOL, abs_tol=ATOL)
    else:
        assert isinstance(got, list) and len(got) == case.n
        for j in range(case.n):
            check_episodes(got[j], ref.drawdown_episodes(case.values[:, j]))


@fast(200)
@given(case=returns(), risk_free=small_rates, ppy=periods)
def test_sharpe_ratio(case, risk_free, ppy):
    got = rg.sharpe_ratio(case.x, risk_free=risk_free, periods_per_year=ppy)
    check_per_column(case, got, ref.sharpe_ratio(case.values, risk_free, ppy))


@fast(200)
@given(case=returns(), mar=small_rates, ppy=periods)
def test_sortino_ratio(case, mar, ppy):
    got = rg.sortino_ratio(case.x, required_return=mar, periods_per_year=ppy)
    check_per_column(case, got, ref.sortino_ratio(case.values, mar, ppy))


@fast(200)
@given(case=returns(), ppy=periods)
def test_cagr_and_calmar_ratio(case, ppy):
    check_per_column(case, rg.cagr(case.x, periods_per_year=ppy), ref.cagr(case.values, ppy))
    got = rg.calmar_ratio(case.x, periods_per_year=ppy)
    check_per_column(case, got, ref.calmar_ratio(case.values, ppy))


@fast(150)
@given(case=returns(), ppy=periods)
def test_annual_volatility(case, ppy):
    got = rg.annual_volatility(case.x, periods_per_year=ppy)
    check_per_column(case, got, ref.annual_volatility(case.values, ppy))


@st.composite
def returns_and_benchmark(draw):
    case = draw(returns())
    shared = case.one_d or draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (case.t,) if shared else (case.t, case.n)
    b = rng.normal(0.0, 0.01, size=shape)
    b[rng.random(shape) < draw(st.sampled_from([0.0, 0.1]))] = np.nan
    layout = draw(st.sampled_from(["C", "F", "strided"]))
    bx = lay_out(b, layout, draw(st.sampled_from(["float64", "float32"])))
    return case, Case(bx, np.array(bx, dtype=np.float64))


@fast(200)
@given(pair=returns_and_benchmark(), annualize=st.booleans(), ppy=periods)
def test_information_ratio(pair, annualize, ppy):
    case, bench = pair
    got = rg.information_ratio(case.x, bench.x, annualize=annualize, periods_per_year=ppy)
    want = ref.information_ratio(case.values, bench.values, annualize, ppy)
    check_per_column(case, got, want)


# --- covariance and correlation ------------------------------------------------------------------


def cov_atol(values) -> float:
    """Covariances are of order scale**2; GEMM sums in its own order."""
    scale = np.nanmax(np.abs(values)) if np.isfinite(values).any() else 1.0
    return 1e-13 * max(scale, 1e-3) ** 2


@fast(150)
@given(case=returns(max_n=6, max_t=200))
def test_covariance_and_correlation_sample(case):
    cov = rg.covariance(case.x)
    cor = rg.correlation(case.x)
    want_cov = ref.covariance_sample(case.values)
    want_cor = ref.correlation_pearson(case.values)
    for got in (cov, cor):
        assert isinstance(got, np.ndarray) and got.shape == (case.n, case.n)
    assert_close(cov, want_cov, atol=cov_atol(case.values))
    assert_close(cor, want_cor, rtol=1e-9, atol=1e-10)
    # the reference is pandas' pairwise-complete DataFrame.cov / corr
    df = pd.DataFrame(case.values.reshape(case.t, -1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pandas on a single row
        pandas_cov = df.cov().to_numpy()
    assert_close(pandas_cov, want_cov, atol=cov_atol(case.values))
    if case.values.dtype == np.float64 and not (case.values == np.round(case.values)).all():
        assert_close(df.corr().to_numpy(), want_cor, rtol=1e-9, atol=1e-10)


@fast(120)
@given(
    case=returns(max_n=6, max_t=200),
    halflife=st.one_of(st.none(), st.floats(0.5, 60.0)),
)
def test_covariance_and_correlation_ewma(case, halflife):
    cov = rg.covariance(case.x, method="ewma", halflife=halflife)
    cor = rg.correlation(case.x, method="ewma", halflife=halflife)
    assert_close(cov, ref.covariance_ewma(case.values, halflife), atol=cov_atol(case.values))
    assert_close(cor, ref.correlation_ewma(case.values, halflife), rtol=1e-9, atol=1e-10)


@fast(50)
@given(
    case=returns(max_n=5, max_t=150, nan=False, dtypes=("float64",)),
    halflife=st.one_of(st.none(), st.floats(0.5, 60.0)),
)
def test_ewma_covariance_is_pandas_ewm_at_the_last_row(case, halflife):
    """Without missing data the documented pandas equivalent holds exactly."""
    df = pd.DataFrame(case.values.reshape(case.t, -1))
    n = df.shape[1]
    ewm = df.ewm(alpha=0.06) if halflife is None else df.ewm(halflife=halflife)
    want = ewm.cov(bias=True).to_numpy()[-n:]
    got = rg.covariance(case.x, method="ewma", halflife=halflife)
    assert_close(got, want, rtol=1e-8, atol=cov_atol(case.values))
    assert_close(ref.covariance_ewma(case.values, halflife), want, rtol=1e-8)


# --- concentration and contributions -------------------------------------------------------------


@st.composite
def weights_and_cov(draw, max_n=6):
    n = draw(st.integers(1, max_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rank = draw(st.integers(1, n + 4))  # below n: a singular covariance
    a = rng.normal(0.0, draw(st.sampled_from([0.01, 0.2, 3.0])), size=(rank, n))
    c = a.T @ a / rank
    cov = (c + c.T) / 2.0
    w = rng.normal(size=n) * draw(st.sampled_from([1.0, 1e6]))
    w[rng.random(n) < 0.2] = 0.0
    if not np.any(w):
        w[0] = 1.0
    return w, cov


@fast(200)
@given(wc=weights_and_cov(), confidence=confidences)
def test_risk_contributions(wc, confidence):
    w, cov = wc
    got = rg.risk_contributions(w, cov, confidence=confidence)
    want = ref.risk_contributions(w, cov, confidence)
    assert isinstance(got, rg.RiskContributions)
    assert math.isclose(got.var, want.var, rel_tol=RTOL, abs_tol=ATOL)
    assert math.isclose(got.volatility, want.volatility, rel_tol=RTOL, abs_tol=ATOL)
    assert_close(got.marginal, want.marginal)
    assert_close(got.component, want.component, atol=ATOL * max(1.0, abs(want.var)))
    assert_close(got.percent, want.percent, atol=1e-10)
    if want.volatility > 0:
        assert math.isclose(sum(got.component), got.var, rel_tol=1e-9, abs_tol=1e-12)
    # pandas weights give Series labelled like the weights
    names = [f"s{i}" for i in range(len(w))]
    labelled = rg.risk_contributions(pd.Series(w, index=names), cov, confidence=confidence)
    for field in ("marginal", "component", "percent"):
        series = getattr(labelled, field)
        assert isinstance(series, pd.Series) and list(series.index) == names
        assert_close(series.to_numpy(), getattr(got, field))


@fast(200)
@given(wc=weights_and_cov())
def test_diversification_ratio(wc):
    w, cov = wc
    got = rg.diversification_ratio(w, cov)
    want = ref.diversification_ratio(w, cov)
    assert type(got) is float
    assert_close(got, want, rtol=1e-9, atol=1e-12)
    if not math.isnan(want):
        assert got >= 1.0 - 1e-9


@fast(200)
@given(
    w=st.lists(
        st.one_of(st.just(0.0), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)),
        min_size=1,
        max_size=12,
    ).filter(lambda v: sum(abs(x) for x in v) > 1e-300)
)
def test_herfindahl_and_effective_positions(w):
    h = rg.herfindahl(np.array(w))
    e = rg.effective_positions(w)
    assert type(h) is float and type(e) is float
    assert math.isclose(h, ref.herfindahl(w), rel_tol=RTOL)
    assert math.isclose(e, ref.effective_positions(w), rel_tol=RTOL)
    assert 1.0 - 1e-12 <= e <= len(w) + 1e-9


def test_concentration_of_zero_weights_is_an_error():
    for fn in (rg.herfindahl, rg.effective_positions):
        with pytest.raises(RiskError, match="weights"):
            fn([0.0, 0.0])


# --- stress --------------------------------------------------------------------------------------


@st.composite
def stress_inputs(draw):
    n = draw(st.integers(1, 6))
    k = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    exposures = np.round(rng.normal(0, 1e5, size=n), 2)
    shocks = np.round(rng.normal(0, 0.1, size=(k, n)), 4)
    return exposures, shocks


@fast(120)
@given(inputs=stress_inputs())
def test_stress_test_every_input_form(inputs):
    e, s = inputs
    symbols = [f"S{i}" for i in range(len(e))]
    names = [f"scenario {i}" for i in range(len(s))]
    want = ref.stress_pnl(e, s)

    def check(got):
        assert list(got) == names
        assert_close(list(got.values()), want, atol=1e-9)

    check(rg.stress_test(e, {k: row for k, row in zip(names, s, strict=True)}))
    held = dict(zip(symbols, e.tolist(), strict=True))
    by_symbol = {
        k: dict(zip(symbols, row.tolist(), strict=True)) for k, row in zip(names, s, strict=True)
    }
    check(rg.stress_test(held, by_symbol))
    check(
        rg.stress_test(pd.Series(e, index=symbols), pd.DataFrame(s, index=names, columns=symbols))
    )
    frame = pl.DataFrame({"scenario": names, **{c: s[:, j] for j, c in enumerate(symbols)}})
    check(rg.stress_test(held, frame))
    # a held symbol the scenario leaves out is unshocked with missing="zero", an error otherwise
    partial = {
        k: {c: v for c, v in shocks.items() if c != symbols[0]} for k, shocks in by_symbol.items()
    }
    zeroed = s.copy()
    zeroed[:, 0] = 0.0
    got = rg.stress_test(held, partial, missing="zero")
    assert_close(list(got.values()), ref.stress_pnl(e, zeroed), atol=1e-9)
    with pytest.raises(RiskError, match=symbols[0]):
        rg.stress_test(held, partial)
    with pytest.raises(RiskError, match="unknown"):
        rg.stress_test(held, {"x": {"NOT HELD": 0.1}}, missing="zero")


@fast(200)
@given(
    case=returns(one_d=True, ties=True, max_t=200, dtypes=("float64", "float32", "int64")),
    data=st.data(),
)
def test_worst_periods(case, data):
    horizon = data.draw(st.integers(1, case.t), label="horizon")
    n = data.draw(st.integers(1, 8), label="n")
    got = rg.worst_periods(case.x, horizon=horizon, n=n)
    want = ref.worst_periods(case.values, horizon, n)
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        assert isinstance(g, rg.StressWindow)
        assert (g.start, g.end) == (w.start, w.end), (got, want)
        assert math.isclose(g.loss, w.loss, rel_tol=RTOL, abs_tol=ATOL)
        assert g.loss > 0


# --- rolling -------------------------------------------------------------------------------------


@fast(100)
@given(
    case=returns(max_t=120, max_n=4, ties=True),
    confidence=confidences,
    interpolation=st.sampled_from(["linear", "lower"]),
    data=st.data(),
)
def test_rolling_var_and_cvar(case, confidence, interpolation, data):
    window = data.draw(st.integers(1, case.t), label="window")
    min_periods = data.draw(st.one_of(st.none(), st.integers(1, window)), label="min_periods")
    kw = dict(confidence=confidence, min_periods=min_periods, interpolation=interpolation)
    var = rg.rolling_var(case.x, window, **kw)
    cvar = rg.rolling_cvar(case.x, window, **kw)
    assert isinstance(var, np.ndarray) and var.shape == case.values.shape
    assert isinstance(cvar, np.ndarray) and cvar.shape == case.values.shape
    assert_close(var, ref.rolling_var(case.values, window, **kw))
    assert_close(cvar, ref.rolling_cvar(case.values, window, **kw))


@fast(40)
@given(case=returns(max_t=120, max_n=3, nan=False, dtypes=("float64",)), data=st.data())
def test_rolling_var_is_pandas_rolling_quantile(case, data):
    window = data.draw(st.integers(1, case.t), label="window")
    confidence = data.draw(confidences, label="confidence")
    want = -pd.DataFrame(case.values.reshape(case.t, -1)).rolling(window).quantile(1 - confidence)
    got = rg.rolling_var(case.values.reshape(case.t, -1), window, confidence=confidence)
    assert_close(got, want.to_numpy(), rtol=1e-9, atol=1e-12)


@fast(60)
@given(case=returns(max_t=80, max_n=4, dtypes=("float64", "float32")), data=st.data())
def test_rolling_correlation(case, data):
    """Continuous data: windows without variance are the subject of
    test_rolling_correlation_of_a_constant_window_is_nan."""
    window = data.draw(st.integers(1, case.t), label="window")
    min_periods = data.draw(st.one_of(st.none(), st.integers(1, window)), label="min_periods")
    got = rg.rolling_correlation(case.x, window, min_periods=min_periods)
    assert isinstance(got, np.ndarray) and got.shape == (case.t, case.n, case.n)
    # updated incrementally (Welford), so allow rounding beyond a fresh two-pass sum
    assert_close(got, ref.rolling_correlation(case.values, window, min_periods), atol=1e-9)


# --- Monte Carlo ---------------------------------------------------------------------------------


@st.composite
def portfolios(draw, min_t=30, max_t=300, max_n=6, nan=True):
    case = draw(
        returns(min_t=min_t, max_t=max_t, max_n=max_n, one_d=False, nan=nan, dtypes=("float64",))
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w = rng.normal(size=case.n)
    return case, w


def normal_tail_errors(sigma: float, confidence: float, n_paths: int) -> tuple[float, float]:
    """Asymptotic standard errors of the sample quantile and expected shortfall of
    ``n_paths`` normal draws with standard deviation ``sigma``."""
    p = 1.0 - confidence
    z = stats.norm.ppf(p)
    lam = stats.norm.pdf(z) / p
    se_q = math.sqrt(p * (1 - p) / n_paths) / stats.norm.pdf(z) * sigma
    tail_var = 1.0 - z * lam - lam**2
    se_es = sigma * math.sqrt((tail_var + (1 - p) * (lam + z) ** 2) / (n_paths * p))
    return se_q, se_es


@fast(8)
@given(pf=portfolios(), confidence=st.floats(0.9, 0.99), seed=st.integers(0, 2**64 - 1))
def test_var_monte_carlo_normal_approaches_parametric(pf, confidence, seed):
    case, w = pf
    complete = ~np.isnan(case.values).any(axis=1)
    assume(complete.sum() >= 10)
    var_ref, es_ref, sigma = ref.portfolio_parametric_var(case.values, w, confidence)
    n_paths = 200_000
    var, cvar = rg.var_monte_carlo(case.x, w, confidence=confidence, n_paths=n_paths, seed=seed)
    se_q, se_es = normal_tail_errors(sigma, confidence, n_paths)
    assert abs(var - var_ref) <= 6 * se_q + 1e-12, (var, var_ref, se_q)
    assert abs(cvar - es_ref) <= 6 * se_es + 1e-12, (cvar, es_ref, se_es)
    assert cvar >= var
    # a given cov replaces the sample covariance: four times the covariance, twice the sigma
    rows = case.values[complete]
    cov4 = 4.0 * np.cov(rows, rowvar=False).reshape(case.n, case.n)
    var4, _ = rg.var_monte_carlo(
        case.x, w, confidence=confidence, n_paths=n_paths, seed=seed, cov=cov4
    )
    mu = float(rows.mean(axis=0) @ w)
    want4 = -(mu + stats.norm.ppf(1 - confidence) * 2 * sigma)
    assert abs(var4 - want4) <= 12 * se_q + 1e-12, (var4, want4)


@fast(30)
@given(
    pf=portfolios(max_t=120),
    method=st.sampled_from(["normal", "bootstrap"]),
    horizon=st.integers(1, 5),
    seed=st.integers(0, 2**64 - 2),
)
def test_var_monte_carlo_is_deterministic_for_a_seed(pf, method, horizon, seed):
    case, w = pf
    kw = dict(confidence=0.95, horizon=horizon, n_paths=5_000, method=method)
    a = rg.var_monte_carlo(case.x, w, seed=seed, **kw)
    b = rg.var_monte_carlo(np.array(case.values), w, seed=seed, **kw)
    assert isinstance(a, tuple) and len(a) == 2
    assert np.array_equal(np.array(a), np.array(b), equal_nan=True)
    if method == "normal" and not math.isnan(a[0]):
        _, _, sigma = ref.portfolio_parametric_var(case.values, w)
        assume(sigma > 0)
        other = rg.var_monte_carlo(case.x, w, seed=seed + 1, **kw)
        assert other != a


def test_var_monte_carlo_bootstrap_seeds_differ():
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.01, size=(250, 3))
    w = np.array([0.5, 0.3, 0.2])
    a = rg.var_monte_carlo(x, w, n_paths=20_000, seed=1, method="bootstrap")
    b = rg.var_monte_carlo(x, w, n_paths=20_000, seed=2, method="bootstrap")
    assert a != b
    assert a == rg.var_monte_carlo(x, w, n_paths=20_000, seed=1, method="bootstrap")


@fast(20)
@given(
    m=st.integers(10, 40),
    n=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_var_monte_carlo_bootstrap_is_historical(m, n, seed, data):
    """With ``p*m`` half-way between two atoms, the bootstrapped quantile is that atom, and the
    historical VaR of the portfolio returns lies within one atom of it."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(0.0, 0.01, size=(m, n))
    w = rng.normal(size=n)
    portfolio = np.array([sum(float(r[i]) * float(w[i]) for i in range(n)) for r in rows])
    a = np.sort(portfolio)
    assume(np.min(np.diff(a)) > 1e-9)
    j = data.draw(st.integers(1, max(1, int(0.2 * m))), label="j")
    confidence = 1.0 - (j + 0.5) / m
    # NaN rows are left out of the bootstrap
    x = np.vstack([rows, np.full((3, n), np.nan)])
    if n > 1:
        x[-1, 0] = 0.5  # an incomplete row
    x = x[rng.permutation(len(x))]
    n_paths = 100_000
    var, cvar = rg.var_monte_carlo(
        x, w, confidence=confidence, n_paths=n_paths, seed=seed, method="bootstrap"
    )
    assert math.isclose(var, -a[j], rel_tol=1e-12, abs_tol=1e-15), (var, -a[j])
    hist = ref.var_historical(portfolio, confidence)
    assert -a[j + 1] <= hist <= -a[j - 1]
    assert abs(var - hist) <= a[j + 1] - a[j - 1]
    tail = a[: j + 1]
    se = (np.std(tail) + 1e-12) / math.sqrt(n_paths * (j + 1) / m)
    assert abs(cvar - -tail.mean()) <= 6 * se + 1e-12, (cvar, -tail.mean())


@fast(8)
@given(
    n=st.integers(2, 5),
    seed=st.integers(0, 2**32 - 1),
    confidence=st.sampled_from([0.9, 0.95, 0.99]),
)
def test_var_monte_carlo_indefinite_cov_needs_repair(n, seed, confidence):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 0.01, size=(200, n))
    w = rng.normal(size=n)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    eig = rng.uniform(1e-5, 4e-4, size=n)
    eig[0] = -rng.uniform(5e-5, 4e-4)  # one clearly negative eigenvalue
    c = q @ np.diag(eig) @ q.T
    cov = (c + c.T) / 2.0
    with pytest.raises(RiskError, match="semi-definite"):
        rg.var_monte_carlo(x, w, confidence=confidence, n_paths=1000, cov=cov)
    n_paths = 200_000
    var, _ = rg.var_monte_carlo(
        x, w, confidence=confidence, n_paths=n_paths, seed=seed, cov=cov, repair=True
    )
    vals, vecs = np.linalg.eigh(cov)
    clipped = vecs @ np.diag(np.clip(vals, 0, None)) @ vecs.T
    sigma = math.sqrt(max(w @ clipped @ w, 0.0))
    mu = float(x.mean(axis=0) @ w)
    want = -(mu + stats.norm.ppf(1 - confidence) * sigma)
    se_q, _ = normal_tail_errors(sigma, confidence, n_paths)
    assert abs(var - want) <= 6 * se_q + 1e-12, (var, want)


def test_var_monte_carlo_needs_two_complete_rows():
    x = np.array([[0.01, np.nan], [0.02, 0.01], [np.nan, 0.03]])
    for method in ("normal", "bootstrap"):
        var, cvar = rg.var_monte_carlo(x, [0.5, 0.5], n_paths=100, method=method)
        assert math.isnan(var) and math.isnan(cvar)
    with pytest.raises(RiskError, match="weights"):
        rg.var_monte_carlo(x, [1.0], n_paths=100)


# --- labelled inputs and outputs -----------------------------------------------------------------

PER_COLUMN = [
    (
        "var_historical",
        dict(confidence=0.9, horizon=3, interpolation="lower", scaling="overlapping"),
    ),
    ("cvar_historical", dict(confidence=0.95, horizon=2)),
    ("var_parametric", dict(confidence=0.99, method="cornish_fisher")),
    ("cvar_parametric", dict(confidence=0.975, horizon=5)),
    ("max_drawdown", {}),
    ("sharpe_ratio", dict(risk_free=1e-4, periods_per_year=52)),
    ("sortino_ratio", dict(required_return=-1e-4)),
    ("calmar_ratio", dict(periods_per_year=12)),
    ("cagr", dict(periods_per_year=365)),
    ("annual_volatility", {}),
]
PER_COLUMN_IDS = [name for name, _ in PER_COLUMN]


def frame_case():
    return returns(min_t=5, max_t=120, max_n=5, one_d=False, dtypes=("float64",), layouts=("C",))


@pytest.mark.parametrize(("name", "kw"), PER_COLUMN, ids=PER_COLUMN_IDS)
@fast(8)
@given(case=frame_case())
def test_pandas_dataframe_gives_a_series_by_column(name, kw, case):
    columns = [f"asset {j}" for j in range(case.n)]
    index = pd.date_range("2024-01-01", periods=case.t, freq="D")
    df = pd.DataFrame(case.values, index=index, columns=columns)
    got = getattr(rg, name)(df, **kw)
    assert isinstance(got, pd.Series)
    assert list(got.index) == columns
    assert_close(got.to_numpy(), getattr(ref, name)(case.values, **kw))
    # a single column (pandas Series) gives a float
    one = getattr(rg, name)(df[columns[0]], **kw)
    assert type(one) is float
    assert_close(one, getattr(ref, name)(case.values[:, 0], **kw))


@pytest.mark.parametrize(("name", "kw"), PER_COLUMN, ids=PER_COLUMN_IDS)
@fast(8)
@given(case=frame_case())
def test_polars_dataframe_gives_a_one_row_frame(name, kw, case):
    columns = [f"asset_{j}" for j in range(case.n)]
    # missing values as polars nulls
    df = pl.DataFrame(
        {c: pl.Series(c, case.values[:, j], nan_to_null=True) for j, c in enumerate(columns)}
    )
    got = getattr(rg, name)(df, **kw)
    assert isinstance(got, pl.DataFrame)
    assert got.columns == columns and got.height == 1
    assert_close(got.row(0), getattr(ref, name)(case.values, **kw))
    one = getattr(rg, name)(df[columns[0]], **kw)
    assert type(one) is float
    assert_close(one, getattr(ref, name)(case.values[:, 0], **kw))


@pytest.mark.parametrize(("name", "kw"), PER_COLUMN, ids=PER_COLUMN_IDS)
def test_all_nan_column_gives_nan_not_an_error(name, kw):
    rng = np.random.default_rng(11)
    x = rng.normal(0.001, 0.01, size=(60, 3))
    x[:, 1] = np.nan
    got = getattr(rg, name)(x, **kw)
    assert math.isnan(got[1])
    assert_close(got, getattr(ref, name)(x, **kw))
    assert math.isnan(getattr(rg, name)(x[:, 1], **kw))
    # the other columns are unaffected
    assert_close(got[[0, 2]], getattr(rg, name)(x[:, [0, 2]], **kw), rtol=0, atol=0)


@pytest.mark.parametrize(("name", "kw"), PER_COLUMN, ids=PER_COLUMN_IDS)
def test_float32_int64_and_lists_are_float64_of_the_same_values(name, kw):
    rng = np.random.default_rng(12)
    ints = rng.integers(-1, 3, size=(40, 3))
    fn = getattr(rg, name)
    want = fn(ints.astype(np.float64), **kw)
    assert_close(fn(ints, **kw), want, rtol=0, atol=0)
    assert_close(fn(ints.tolist(), **kw), want, rtol=0, atol=0)
    f32 = rng.normal(0, 0.01, size=(40, 3)).astype(np.float32)
    assert_close(fn(f32, **kw), fn(f32.astype(np.float64), **kw), rtol=0, atol=0)


@fast(20)
@given(case=frame_case())
def test_labelled_matrices_rolling_and_episodes(case):
    columns = [f"c{j}" for j in range(case.n)]
    index = pd.date_range("2020-01-01", periods=case.t, freq="h")
    df = pd.DataFrame(case.values, index=index, columns=columns)
    for fn, want in (
        (rg.covariance, ref.covariance_sample(case.values)),
        (rg.correlation, ref.correlation_pearson(case.values)),
    ):
        got = fn(df)
        assert isinstance(got, pd.DataFrame)
        assert list(got.index) == columns and list(got.columns) == columns
        assert_close(got.to_numpy(), want, atol=1e-10)
        got_pl = fn(pl.DataFrame(df.reset_index(drop=True)))
        assert isinstance(got_pl, pl.DataFrame) and got_pl.columns == columns
        assert_close(got_pl.to_numpy(), want, atol=1e-10)
    window = max(1, case.t // 3)
    rv = rg.rolling_var(df, window, min_periods=1)
    assert isinstance(rv, pd.DataFrame)
    assert rv.index.equals(index) and list(rv.columns) == columns
    assert_close(rv.to_numpy(), ref.rolling_var(case.values, window, min_periods=1))
    rs = rg.rolling_cvar(df[columns[0]], window, min_periods=1)
    assert isinstance(rs, pd.Series) and rs.index.equals(index)
    assert_close(rs.to_numpy(), ref.rolling_cvar(case.values[:, 0], window, min_periods=1))
    episodes = rg.drawdown_details(df)
    assert isinstance(episodes, dict) and list(episodes) == columns
    for j, c in enumerate(columns):
        want = ref.drawdown_episodes(case.values[:, j])
        assert len(episodes[c]) == len(want)
        for g, w in zip(episodes[c], want, strict=True):
            assert g.trough == index[w.trough]
            assert g.peak == (None if w.peak is None else index[w.peak])
            assert g.recovery == (None if w.recovery is None else index[w.recovery])
            assert g.duration == w.duration
    worst = rg.worst_periods(df[columns[0]], horizon=2, n=3)
    want_w = ref.worst_periods(case.values[:, 0], 2, 3)
    assert [(g.start, g.end) for g in worst] == [(index[w.start], index[w.end]) for w in want_w]


# --- degenerate inputs: the documented NaN rules -------------------------------------------------


@fast(60)
@given(
    value=st.floats(-0.05, 0.05, allow_nan=False).filter(lambda v: v != 0),
    t=st.integers(2, 80),
)
def test_constant_series_has_no_sharpe_ratio(value, t):
    """Docstring: "NaN when there are fewer than two finite values or no volatility"."""
    x = np.full(t, value)
    assert math.isnan(ref.sharpe_ratio(x))
    assert math.isnan(rg.sharpe_ratio(x)), (value, t, rg.sharpe_ratio(x))


@fast(60)
@given(
    value=st.floats(-0.05, 0.05, allow_nan=False).filter(lambda v: v != 0),
    t=st.integers(2, 80),
    seed=st.integers(0, 2**32 - 1),
)
def test_constant_column_has_nan_correlation(value, t, seed):
    """Docstring: "Constant columns give NaN"."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.full(t, value), rng.normal(0, 0.01, t)])
    want = ref.correlation_pearson(x)
    assert np.isnan(want[0]).all() and want[1, 1] == 1.0
    assert_close(rg.correlation(x), want)
    assert_close(rg.correlation(x, method="ewma"), ref.correlation_ewma(x))


@fast(60)
@given(
    value=st.floats(-0.05, 0.05, allow_nan=False).filter(lambda v: v != 0),
    seed=st.integers(0, 2**32 - 1),
    window=st.integers(2, 8),
    data=st.data(),
)
def test_rolling_correlation_of_a_constant_window_is_nan(value, seed, window, data):
    """Docstring: each pair "is NaN ... without variance", the diagonal included."""
    rng = np.random.default_rng(seed)
    t = data.draw(st.integers(window + 1, 40), label="t")
    start = data.draw(st.integers(0, t - window), label="start")
    a = rng.normal(0.0, 0.01, t)
    a[start : start + window] = value
    x = np.column_stack([a, rng.normal(0.0, 0.01, t)])
    want = ref.rolling_correlation(x, window)
    assert np.isnan(want[start + window - 1, 0]).all()
    assert_close(rg.rolling_correlation(x, window), want, atol=1e-9)


@fast(60)
@given(r=st.floats(-3.0, -1.0, exclude_max=True), k=st.integers(1, 4))
def test_cagr_of_a_negative_final_wealth_is_nan(r, k):
    """Docstring: "NaN for an empty column or a negative final wealth"."""
    x = np.array([r])
    assert math.isnan(ref.cagr(x, periods_per_year=k))
    assert math.isnan(rg.cagr(x, periods_per_year=k)), rg.cagr(x, periods_per_year=k)
    # and so is the Calmar ratio built on it
    assert math.isnan(ref.calmar_ratio(x, periods_per_year=k))
    assert math.isnan(rg.calmar_ratio(x, periods_per_year=k))


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kw"), PER_COLUMN, ids=PER_COLUMN_IDS)
def test_infinite_returns_are_an_error(name, kw):
    x = np.array([[0.01, 0.02], [np.inf, 0.0], [-0.01, 0.01]])
    with pytest.raises(RiskError, match="returns"):
        getattr(rg, name)(x, **kw)


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 1.5, float("nan")])
def test_confidence_outside_the_unit_interval_is_an_error(confidence):
    x = np.array([0.01, -0.02, 0.03])
    for fn in (rg.var_historical, rg.cvar_historical, rg.var_parametric, rg.cvar_parametric):
        with pytest.raises(RiskError, match="confidence"):
            fn(x, confidence=confidence)
