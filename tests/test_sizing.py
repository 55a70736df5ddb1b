"""``riskguard.sizing`` held to the formulas of ``docs/gate.md`` ("Sizing"), written out in
``gate_reference.py``: random inputs against the reference, known values, the equal risk
contributions of ``risk_parity``, and a ``RiskError`` for every input outside a function's
domain."""

from __future__ import annotations

import math

import numpy as np
import pytest
import riskguard as rg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

try:
    from . import gate_reference as ref
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    import gate_reference as ref

sizing = rg.sizing
NAN, INF = math.nan, math.inf
RTOL = 1e-12


def fast(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def positive(lo: float = 1e-6, hi: float = 1e9):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


unit = st.floats(0.0, 1.0)
fraction = st.floats(1e-3, 1.0)


def close(a, b, rtol: float = RTOL) -> bool:
    return math.isclose(float(a), float(b), rel_tol=rtol, abs_tol=0.0)


# --- against the reference -----------------------------------------------------------------------


@fast(200)
@given(equity=positive(1.0), risk=fraction, entry=positive(1e-3, 1e6), gap=st.floats(1e-4, 0.9))
def test_fixed_fractional(equity, risk, entry, gap):
    stop = entry * (1 - gap)
    assert close(
        sizing.fixed_fractional(equity, risk, entry, stop),
        ref.fixed_fractional(equity, risk, entry, stop),
    )
    # a short's stop is above the entry: the distance is what counts
    assert close(
        sizing.fixed_fractional(equity, risk, stop, entry),
        ref.fixed_fractional(equity, risk, stop, entry),
    )


@fast(200)
@given(amount=positive(), price=positive())
def test_fixed_amount(amount, price):
    assert close(sizing.fixed_amount(amount, price), ref.fixed_amount(amount, price))


@fast(300)
@given(p=unit, b=positive(1e-3, 100.0), f=fraction, cap=fraction)
def test_kelly(p, b, f, cap):
    got = sizing.kelly(p, b, fraction=f, cap=cap)
    want = ref.kelly(p, b, f, cap)
    assert close(got, want) or abs(got - want) <= 1e-15
    assert 0.0 <= got <= cap


@fast(200)
@given(equity=positive(1.0), tv=fraction, vol=positive(1e-4, 2.0), price=positive(1e-3, 1e6))
def test_volatility_target(equity, tv, vol, price):
    assert close(
        sizing.volatility_target(equity, tv, vol, price),
        ref.volatility_target(equity, tv, vol, price),
    )


@fast(200)
@given(equity=positive(1.0), risk=fraction, a=positive(1e-6, 1e5), k=positive(0.1, 10.0))
def test_atr(equity, risk, a, k):
    assert close(sizing.atr(equity, risk, a, k=k), ref.atr(equity, risk, a, k))
    assert close(sizing.atr(equity, risk, a), ref.atr(equity, risk, a))


@fast(200)
@given(vols=st.lists(positive(1e-4, 10.0), min_size=1, max_size=12))
def test_inverse_volatility(vols):
    got = sizing.inverse_volatility(np.asarray(vols))
    assert isinstance(got, np.ndarray) and got.dtype == np.float64 and got.shape == (len(vols),)
    for g, w in zip(got, ref.inverse_volatility(vols), strict=True):
        assert close(g, w, 1e-12)
    assert math.isclose(got.sum(), 1.0, rel_tol=1e-12)
    assert list(sizing.inverse_volatility(vols)) == list(got)  # a list works as well


@fast(200)
@given(
    sizes=st.lists(positive(0.0, 1e6), min_size=1, max_size=9),
    how=st.sampled_from(["min", "median", "mean"]),
)
def test_consensus(sizes, how):
    assert close(sizing.consensus(np.asarray(sizes), how=how), ref.consensus(sizes, how), 1e-12)


@fast(100)
@given(data=st.data(), n=st.integers(1, 8))
def test_weighted_consensus(data, n):
    sizes = data.draw(st.lists(positive(0.0, 1e6), min_size=n, max_size=n))
    weights = data.draw(st.lists(positive(1e-3, 10.0), min_size=n, max_size=n))
    got = sizing.consensus(sizes, how="mean", weights=weights)
    assert close(got, ref.consensus(sizes, "mean", weights), 1e-12)


@fast(200)
@given(
    q=positive(1e-6, 1e6),
    regime=positive(0.1, 3.0),
    aligned=st.booleans(),
    vol=st.sampled_from(["high", "low", "normal"]),
    perf=st.floats(0.5, 1.5),
)
def test_regime_based(q, regime, aligned, vol, perf):
    got = sizing.regime_based(
        q, regime=regime, trend_aligned=aligned, volatility=vol, performance=perf
    )
    assert close(got, ref.regime_based(q, regime, aligned, vol, perf))


@fast(300)
@given(
    q=positive(1e-6, 1e6),
    confidence=st.one_of(st.none(), unit),
    losses=st.integers(0, 10),
    drawdown=st.floats(0.0, 0.5),
)
def test_adjust_size(q, confidence, losses, drawdown):
    got = sizing.adjust_size(q, confidence=confidence, consecutive_losses=losses, drawdown=drawdown)
    assert close(got, ref.adjust_size(q, confidence, losses, drawdown))


@st.composite
def covariances(draw) -> np.ndarray:
    """A positive definite covariance, with correlations of either sign."""
    n = draw(st.integers(1, 7))
    entries = draw(st.lists(st.floats(-1.0, 1.0), min_size=n * n, max_size=n * n))
    a = np.asarray(entries).reshape(n, n)
    vols = np.asarray(draw(st.lists(st.floats(0.05, 3.0), min_size=n, max_size=n)))
    corr = a @ a.T + 0.2 * np.eye(n)
    d = np.sqrt(np.diag(corr))
    corr = corr / np.outer(d, d)
    cov = corr * np.outer(vols, vols)
    return (cov + cov.T) / 2


@fast(150)
@given(cov=covariances())
def test_risk_parity_has_equal_risk_contributions(cov):
    w = sizing.risk_parity(cov)
    assert isinstance(w, np.ndarray) and w.dtype == np.float64 and w.shape == (len(cov),)
    assert np.all(w > 0)
    assert math.isclose(w.sum(), 1.0, rel_tol=1e-12)
    rc = w * (cov @ w)
    assert np.max(rc) - np.min(rc) <= 1e-9 * np.mean(rc), rc
    want = ref.risk_parity(cov.tolist())
    np.testing.assert_allclose(w, want, rtol=1e-9)


# --- known values --------------------------------------------------------------------------------


def test_kelly_known_values():
    # full Kelly of p = 0.6, b = 2 is (0.6 * 2 - 0.4) / 2 = 0.4
    assert sizing.kelly(0.6, 2.0, fraction=1.0, cap=1.0) == pytest.approx(0.4, rel=1e-12)
    # half of it, 0.2, is under the 0.25 cap
    assert sizing.kelly(0.6, 2.0) == pytest.approx(0.2, rel=1e-12)
    assert sizing.kelly(0.6, 2.0, fraction=1.0) == pytest.approx(0.25, rel=1e-12)
    # no edge: a fraction of 0, never a short
    assert sizing.kelly(0.5, 1.0) == 0.0
    assert sizing.kelly(0.3, 1.5) == 0.0
    assert sizing.kelly(0.0, 3.0) == 0.0
    assert sizing.kelly(1.0, 3.0, fraction=1.0, cap=1.0) == pytest.approx(1.0, rel=1e-12)
    # no losses: the edge is the win rate, then halved and capped
    assert sizing.kelly(0.3, math.inf) == pytest.approx(0.15, rel=1e-12)
    assert sizing.kelly(0.9, math.inf) == 0.25


def test_sizing_known_values():
    # worked example A of docs/gate.md: 1 % of 10,000 over a 2,250 stop distance
    assert sizing.fixed_fractional(10_000.0, 0.01, 50_000.0, 47_750.0) == pytest.approx(
        100.0 / 2250.0, rel=1e-12
    )
    assert sizing.atr(10_000.0, 0.01, 1_500.0) == pytest.approx(100.0 / 2250.0, rel=1e-12)
    assert sizing.atr(10_000.0, 0.01, 1_500.0, k=2.0) == pytest.approx(100.0 / 3000.0, rel=1e-12)
    assert sizing.fixed_amount(1_000.0, 50.0) == pytest.approx(20.0, rel=1e-12)
    # 1 % of 10,000 moved by one 3 % daily move of a 50,000 asset
    assert sizing.volatility_target(10_000.0, 0.01, 0.03, 50_000.0) == pytest.approx(
        100.0 / 1_500.0, rel=1e-12
    )
    np.testing.assert_allclose(sizing.inverse_volatility([0.1, 0.2]), [2 / 3, 1 / 3], rtol=1e-12)
    np.testing.assert_allclose(
        sizing.inverse_volatility([0.1, 0.1, 0.1, 0.1]), [0.25] * 4, rtol=1e-12
    )
    assert sizing.consensus([1.0, 2.0, 3.0, 10.0]) == 1.0
    assert sizing.consensus([1.0, 2.0, 3.0, 10.0], how="median") == pytest.approx(2.5)
    assert sizing.consensus([3.0, 1.0, 2.0], how="median") == 2.0
    assert sizing.consensus([1.0, 2.0, 3.0, 10.0], how="mean") == pytest.approx(4.0)
    weighted = sizing.consensus([1.0, 2.0, 3.0, 10.0], how="mean", weights=[1.0, 0.0, 0.0, 1.0])
    assert weighted == pytest.approx(5.5, rel=1e-12)
    got = sizing.regime_based(
        10.0, regime=1.5, trend_aligned=True, volatility="high", performance=0.8
    )
    assert got == pytest.approx(10.0 * 1.5 * 1.2 * 0.7 * 0.8, rel=1e-12)
    assert sizing.regime_based(10.0, volatility="low") == pytest.approx(13.0, rel=1e-12)
    assert sizing.regime_based(10.0) == 10.0


@pytest.mark.parametrize(
    "kwargs, factor",
    [
        ({}, 1.0),
        ({"confidence": 0.85}, 1.5),  # at the upper threshold
        ({"confidence": 0.8499}, 1.0),
        ({"confidence": 0.60}, 1.0),  # at the lower one: not below it
        ({"confidence": 0.5999}, 0.5),
        ({"consecutive_losses": 2}, 1.0),
        ({"consecutive_losses": 3}, 0.5),
        ({"drawdown": 0.0199}, 1.0),
        ({"drawdown": 0.02}, 0.5),
        ({"confidence": 0.9, "consecutive_losses": 5, "drawdown": 0.1}, 0.375),
        ({"confidence": 0.1, "consecutive_losses": 3, "drawdown": 0.03}, 0.125),
    ],
)
def test_adjust_size_steps(kwargs, factor):
    assert sizing.adjust_size(8.0, **kwargs) == pytest.approx(8.0 * factor, rel=1e-12)


def test_risk_parity_known_values():
    # uncorrelated, or two assets at any correlation: inverse volatility
    cov = np.diag([0.04, 0.01, 0.0025])
    np.testing.assert_allclose(sizing.risk_parity(cov), [1 / 7, 2 / 7, 4 / 7], rtol=1e-9)
    for rho in (-0.7, 0.0, 0.3, 0.95):
        cov = [[0.04, rho * 0.2 * 0.1], [rho * 0.2 * 0.1, 0.01]]
        np.testing.assert_allclose(sizing.risk_parity(cov), [1 / 3, 2 / 3], rtol=1e-9)
    np.testing.assert_allclose(sizing.risk_parity([[2.0]]), [1.0], rtol=1e-15)


# --- refused input -------------------------------------------------------------------------------

BAD_POSITIVE = [NAN, INF, -INF, 0.0, -1.0]


def _cases():
    ff = sizing.fixed_fractional
    good = {"equity": 10_000.0, "risk": 0.01, "entry": 100.0, "stop": 95.0}
    for name in good:
        for bad in BAD_POSITIVE:
            yield f"fixed_fractional {name}={bad}", ff, (), {**good, name: bad}
    yield "fixed_fractional entry == stop", ff, (), {**good, "stop": 100.0}
    for name in ("amount", "price"):
        for bad in BAD_POSITIVE:
            kw = {"amount": 1_000.0, "price": 50.0, name: bad}
            yield f"fixed_amount {name}={bad}", sizing.fixed_amount, (), kw
    for bad in (NAN, INF, -0.1, 1.1):
        yield f"kelly win_rate={bad}", sizing.kelly, (bad, 2.0), {}
    for bad in BAD_POSITIVE:
        if bad != INF:  # an infinite ratio is a record without losses
            yield f"kelly win_loss_ratio={bad}", sizing.kelly, (0.6, bad), {}
    for bad in (NAN, INF, 0.0, -0.5, 1.5):
        yield f"kelly fraction={bad}", sizing.kelly, (0.6, 2.0), {"fraction": bad}
        yield f"kelly cap={bad}", sizing.kelly, (0.6, 2.0), {"cap": bad}
    vt = {"equity": 10_000.0, "target_volatility": 0.01, "volatility": 0.03, "price": 100.0}
    for name in vt:
        for bad in BAD_POSITIVE:
            yield f"volatility_target {name}={bad}", sizing.volatility_target, (), {**vt, name: bad}
    at = {"equity": 10_000.0, "risk": 0.01, "atr": 2.0, "k": 1.5}
    for name in at:
        for bad in BAD_POSITIVE:
            yield f"atr {name}={bad}", sizing.atr, (), {**at, name: bad}
    iv = sizing.inverse_volatility
    yield "inverse_volatility empty", iv, (np.array([]),), {}
    yield "inverse_volatility 2-D", iv, (np.ones((2, 2)),), {}
    for bad in BAD_POSITIVE:
        yield f"inverse_volatility {bad}", iv, (np.array([0.1, bad]),), {}
    rp = sizing.risk_parity
    yield "risk_parity empty", rp, (np.zeros((0, 0)),), {}
    yield "risk_parity 1-D", rp, (np.array([0.04, 0.01]),), {}
    yield "risk_parity non-square", rp, (np.ones((2, 3)),), {}
    yield "risk_parity non-symmetric", rp, (np.array([[0.04, 0.01], [0.0, 0.01]]),), {}
    yield "risk_parity NaN", rp, (np.array([[0.04, NAN], [NAN, 0.01]]),), {}
    yield "risk_parity inf", rp, (np.array([[INF, 0.0], [0.0, 0.01]]),), {}
    yield "risk_parity zero variance", rp, (np.array([[0.0, 0.0], [0.0, 0.01]]),), {}
    yield "risk_parity negative variance", rp, (np.array([[-0.04, 0.0], [0.0, 0.01]]),), {}
    cs = sizing.consensus
    yield "consensus empty", cs, (np.array([]),), {}
    yield "consensus 2-D", cs, (np.ones((2, 2)),), {}
    for bad in (NAN, INF, -1.0):
        yield f"consensus size {bad}", cs, ([1.0, bad],), {}
    yield "consensus how", cs, ([1.0, 2.0],), {"how": "max"}
    yield "consensus weights length", cs, ([1.0, 2.0],), {"how": "mean", "weights": [1.0]}
    for bad in (NAN, INF, -1.0):
        yield f"consensus weight {bad}", cs, ([1.0, 2.0],), {"how": "mean", "weights": [1.0, bad]}
    yield "consensus zero weights", cs, ([1.0, 2.0],), {"how": "mean", "weights": [0.0, 0.0]}
    rb = sizing.regime_based
    for bad in (NAN, INF, -1.0):
        yield f"regime_based quantity={bad}", rb, (bad,), {}
    for bad in BAD_POSITIVE:
        yield f"regime_based regime={bad}", rb, (10.0,), {"regime": bad}
        yield f"regime_based performance={bad}", rb, (10.0,), {"performance": bad}
    yield "regime_based volatility", rb, (10.0,), {"volatility": "extreme"}
    ad = sizing.adjust_size
    for bad in (NAN, INF, -1.0):
        yield f"adjust_size quantity={bad}", ad, (bad,), {}
        yield f"adjust_size drawdown={bad}", ad, (10.0,), {"drawdown": bad}
    for bad in (NAN, -0.1, 1.1):
        yield f"adjust_size confidence={bad}", ad, (10.0,), {"confidence": bad}
    yield "adjust_size consecutive_losses=-1", ad, (10.0,), {"consecutive_losses": -1}


CASES = list(_cases())


@pytest.mark.parametrize("fn, args, kwargs", [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_bad_input_raises(fn, args, kwargs):
    with pytest.raises(rg.RiskError):
        fn(*args, **kwargs)


@pytest.mark.parametrize(
    "call",
    [
        lambda: ref.fixed_fractional(1.0, 0.01, 100.0, 100.0),
        lambda: ref.kelly(1.5, 2.0),
        lambda: ref.inverse_volatility([]),
        lambda: ref.risk_parity([[1.0, 0.5], [0.4, 1.0]]),
        lambda: ref.consensus([1.0], "max"),
        lambda: ref.regime_based(1.0, volatility="extreme"),
    ],
)
def test_reference_refuses_too(call):
    with pytest.raises(ref.RefError):
        call()
