"""Quantiles at a decimal tail: ``1 - confidence`` is the decimal the user wrote, so that at
0.9 the quantile's position is ``(n - 1) / 10`` exactly. In floating point ``1 - 0.9`` is
0.09999999999999998, and whenever ``(n - 1) / 10`` is whole the product fell just short of it:
every kernel took one order statistic too far into the tail. Each kernel that takes a
quantile is held to the exact-position reference (``reference.quantile`` with a Fraction) over
sample sizes and decimal confidences, and to numpy at the decimal ``q``. Monte Carlo VaR takes
its quantile and tail mean through the same core function as historical VaR, held to the exact
position by the core's own tests (its paths cannot be seen from here)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import riskguard as rg
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import quantile, tail_probability
from riskguard.batch import portfolio_risk

DECIMALS = [0.8, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999, 0.7, 0.75, 0.6, 0.5, 0.85, 0.98]
ISSUE = [0.0069, 0.0164, 0.0066, -0.0261, 0.0181, 0.0089, -0.0107, 0.0116, 0.0073, 0.0059, 0.0006]


def sample(n: int, seed: int) -> np.ndarray:
    # Distinct values on a coarse grid: ties do not hide an order statistic taken too far.
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n, dtype=np.float64) - n // 3)[:n] / 1000.0


def tail_mean(x: np.ndarray, q: float) -> float:
    return float(x[x <= q].mean())


def test_the_reported_series():
    x = np.array(ISSUE)
    assert rg.var_historical(x, 0.9, interpolation="lower") == 0.0107
    assert rg.var_historical(x, 0.9) == pytest.approx(-np.quantile(x, 0.1), abs=1e-15)
    assert rg.cvar_historical(x, 0.9) == pytest.approx((0.0261 + 0.0107) / 2, abs=1e-15)


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(2, 1200),
    confidence=st.sampled_from(DECIMALS),
    interpolation=st.sampled_from(["linear", "lower"]),
    seed=st.integers(0, 2**16),
)
def test_historical_var_and_cvar_take_the_decimal_position(n, confidence, interpolation, seed):
    x = sample(n, seed)
    q = quantile(x, tail_probability(confidence), interpolation)
    got = rg.var_historical(x, confidence, interpolation=interpolation)
    assert got == pytest.approx(-q, rel=1e-12, abs=1e-15)
    cvar = rg.cvar_historical(x, confidence, interpolation=interpolation)
    assert cvar == pytest.approx(-tail_mean(x, q), rel=1e-12, abs=1e-15)
    both = rg.tail_risk(x, confidence, interpolation=interpolation)
    assert (both.var, both.cvar) == (got, cvar)
    # numpy, given the decimal itself: the same order statistic (its own position may carry
    # one rounding, hence the tolerance on the interpolated value only).
    decimal_q = round(1.0 - confidence, 12)
    want = -np.quantile(x, decimal_q, method=interpolation)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_every_size_up_to_1200_at_a_whole_position(confidence):
    """The sizes where the defect showed: (n - 1)(1 - confidence) whole."""
    step = round(1 / (1 - confidence))
    for n in range(step + 1, 1200, step):
        x = sample(n, n)
        k = round((n - 1) * (1 - confidence))
        want = -np.sort(x)[k]
        assert rg.var_historical(x, confidence, interpolation="lower") == want, n
        assert rg.var_historical(x, confidence) == pytest.approx(want, abs=1e-15), n


@settings(max_examples=60, deadline=None)
@given(
    window=st.integers(2, 300),
    confidence=st.sampled_from(DECIMALS),
    interpolation=st.sampled_from(["linear", "lower"]),
    seed=st.integers(0, 2**16),
)
def test_rolling_var_and_cvar_take_the_decimal_position(window, confidence, interpolation, seed):
    x = sample(window + 5, seed)
    var = rg.rolling_var(x, window, confidence, interpolation=interpolation)
    cvar = rg.rolling_cvar(x, window, confidence)
    p = tail_probability(confidence)
    for end in range(window, len(x) + 1):
        w = x[end - window : end]
        q = quantile(w, p, interpolation)
        assert var[end - 1] == pytest.approx(-q, rel=1e-12, abs=1e-15)
        assert cvar[end - 1] == pytest.approx(-tail_mean(w, quantile(w, p)), rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    t=st.integers(2, 400),
    confidence=st.sampled_from(DECIMALS),
    interpolation=st.sampled_from(["linear", "lower"]),
)
def test_batch_risk_takes_the_decimal_position(t, confidence, interpolation):
    r = sample(t, t)
    out = portfolio_risk(
        {"portfolio_id": [1], "symbol": ["A"], "exposure": [100.0]},
        r[:, None],
        symbols=["A"],
        confidence=confidence,
        interpolation=interpolation,
    )
    pnl = 100.0 * r
    q = quantile(pnl, tail_probability(confidence), interpolation)
    assert out["var"][0] == pytest.approx(-q, rel=1e-12, abs=1e-12)
    assert out["cvar"][0] == pytest.approx(-tail_mean(pnl, q), rel=1e-12, abs=1e-12)


def test_polars_plugin_takes_the_decimal_position():
    rgp = pytest.importorskip("riskguard_polars")
    del rgp
    x = np.array(ISSUE)
    frame = pl.DataFrame({"r": x})
    out = frame.select(
        var=pl.col("r").risk.var(0.9, interpolation="lower"),
        cvar=pl.col("r").risk.cvar(0.9),
    )
    assert out["var"][0] == 0.0107
    assert out["cvar"][0] == pytest.approx((0.0261 + 0.0107) / 2, abs=1e-15)
    assert math.isfinite(out["cvar"][0])


@pytest.mark.parametrize("value", [-0.01, 0.0, 0.02])
def test_ratios_of_one_observation_are_nan_alike(value):
    """The small-sample rule, one for every ratio that needs a dispersion: fewer than two
    finite observations give NaN (Sortino gave -15.87 for one loss while Sharpe gave NaN)."""
    x = np.array([value])
    for ratio in (rg.sharpe_ratio, rg.sortino_ratio, rg.annual_volatility):
        assert math.isnan(ratio(x)), ratio.__name__
    two = np.array([[value, 0.01], [np.nan, -0.02]])  # one finite value in the first column
    assert math.isnan(rg.sortino_ratio(two)[0]) and math.isfinite(rg.sortino_ratio(two)[1])
