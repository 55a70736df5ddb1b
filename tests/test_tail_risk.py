"""``rg.tail_risk``: historical VaR and CVaR from one pass over each column, held to the two
calls it replaces (``var_historical``, ``cvar_historical``) and to the plain reference.

The kernel has two paths: row-major input of at least 512 rows has its candidates filtered
straight out of the rows, panel by panel; every other input (short columns, column-major or
strided memory, overlapping horizons) is copied column by column. The inputs below reach both,
with NaN, ties at the quantile, and more columns than one panel holds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest
import riskguard as rg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from riskguard import RiskError

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


@st.composite
def matrices(draw, max_t: int = 1500, max_n: int = 6) -> np.ndarray:
    """Fat-tailed returns in C order, F order or a strided view, maybe with NaN and ties."""
    t = draw(st.one_of(st.integers(1, 40), st.integers(500, max_t)))
    n = draw(st.integers(1, max_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([0.002, 0.01, 0.05]))
    v = np.clip(rng.standard_t(4, size=(t, n)) * scale, -0.9, 1.0)
    if draw(st.booleans()):
        v = np.round(v / scale * 2.0) * (scale / 2.0)  # ties at the quantile
    nan = draw(st.sampled_from(["none", "none", "sparse", "dense", "column"]))
    if nan == "sparse":
        v[rng.random((t, n)) < 0.05] = np.nan
    elif nan == "dense":
        v[rng.random((t, n)) < 0.6] = np.nan
    elif nan == "column":
        v[:, rng.integers(n)] = np.nan
    layout = draw(st.sampled_from(["C", "C", "F", "strided"]))
    if layout == "F":
        return np.asfortranarray(v)
    if layout == "strided":
        base = np.zeros((2 * t, n))
        view = base[::2, ::-1]
        view[...] = v
        return view
    return v


def arguments(scalings: tuple[str, ...] = ("sqrt", "overlapping")) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "confidence": st.one_of(st.sampled_from([0.9, 0.95, 0.99]), st.floats(0.01, 0.999)),
            "horizon": st.one_of(st.just(1), st.integers(1, 12)),
            "interpolation": st.sampled_from(["linear", "lower"]),
            "scaling": st.sampled_from(scalings),
        }
    )


def assert_same_as_the_separate_calls(x, kw) -> rg.TailRisk:
    """The VaR is an order statistic (or the same interpolation of two), so it is equal; the
    CVaR is the mean of the same values, held to rounding: a change to either kernel's tail
    threshold may reorder its sum."""
    got = rg.tail_risk(x, **kw)
    np.testing.assert_array_equal(got.var, rg.var_historical(x, **kw))
    np.testing.assert_allclose(got.cvar, rg.cvar_historical(x, **kw), rtol=1e-12, atol=0)
    return got


@fast(150)
@given(x=matrices(), kw=arguments())
def test_equals_var_and_cvar_historical_and_the_reference(x, kw):
    if kw["scaling"] == "overlapping" and kw["horizon"] > x.shape[0]:
        for fn in (rg.tail_risk, rg.var_historical):
            with pytest.raises(RiskError, match="horizon"):
                fn(x, **kw)
        return
    got = assert_same_as_the_separate_calls(x, kw)
    values = np.ascontiguousarray(x)
    np.testing.assert_allclose(got.var, ref.var_historical(values, **kw), RTOL, ATOL)
    np.testing.assert_allclose(got.cvar, ref.cvar_historical(values, **kw), RTOL, ATOL)
    ok = ~np.isnan(got.var)
    assert np.array_equal(ok, ~np.isnan(got.cvar))
    assert np.all(got.cvar[ok] >= got.var[ok] - 1e-12), "CVaR below VaR"


@fast(20)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(129, 300),
    nan_columns=st.lists(st.integers(0, 128), max_size=4),
    kw=arguments(("sqrt",)),
)
def test_many_panels_with_missing_data(seed, n, nan_columns, kw):
    """More columns than a panel holds, a partial last panel, and NaN in some columns of the
    first: those are redone from a copy, the others filtered from the rows."""
    rng = np.random.default_rng(seed)
    x = rng.standard_t(4, size=(600, n)) * 0.01
    for j in nan_columns:
        x[rng.random(600) < 0.1, j] = np.nan
    assert_same_as_the_separate_calls(x, kw)


def test_a_sample_that_misleads_the_threshold_changes_nothing():
    """Every 4th row holds a column's extremes, so that the evenly spaced sample sets the
    threshold far too low (column 0) or too high (column 1)."""
    x = np.random.default_rng(3).normal(0.0, 0.01, (1024, 3))
    x[::4, 0] = -1.0 - np.arange(256)
    x[::4, 1] = 1.0 + np.arange(256)
    kw = dict(confidence=0.95, horizon=1, interpolation="linear", scaling="sqrt")
    got = assert_same_as_the_separate_calls(x, kw)
    np.testing.assert_allclose(got.var, ref.var_historical(x, **kw), RTOL, ATOL)
    np.testing.assert_allclose(got.cvar, ref.cvar_historical(x, **kw), RTOL, ATOL)


# --- shapes and labels ----------------------------------------------------------------------------

R = np.random.default_rng(11).standard_t(4, size=(700, 3)) * 0.01


def test_a_pair_that_unpacks():
    got = rg.tail_risk(R, 0.99)
    assert isinstance(got, rg.TailRisk) and isinstance(got, tuple)
    var, cvar = got
    assert got._fields == ("var", "cvar")
    assert var is got.var and cvar is got.cvar
    assert isinstance(var, np.ndarray) and var.dtype == np.float64 and var.shape == (3,)
    assert isinstance(cvar, np.ndarray) and cvar.dtype == np.float64 and cvar.shape == (3,)


@pytest.mark.parametrize(
    "series", [R[:, 0], pd.Series(R[:, 0]), pl.Series(R[:, 0]), R[:, 0].tolist()]
)
def test_a_series_gives_two_floats(series):
    got = rg.tail_risk(series, 0.95)
    assert type(got.var) is float and type(got.cvar) is float
    assert got.var == rg.var_historical(R[:, 0], 0.95)
    assert math.isclose(got.cvar, rg.cvar_historical(R[:, 0], 0.95), rel_tol=1e-12)


def test_a_pandas_frame_gives_series_labelled_by_column():
    df = pd.DataFrame(R, columns=["AAA", "BBB", "CCC"])
    got = rg.tail_risk(df, 0.95)
    for field, separate in ((got.var, rg.var_historical), (got.cvar, rg.cvar_historical)):
        assert isinstance(field, pd.Series)
        assert list(field.index) == ["AAA", "BBB", "CCC"]
        pd.testing.assert_series_equal(field, separate(df, 0.95), rtol=1e-12)


def test_a_polars_frame_gives_what_the_separate_calls_give():
    df = pl.DataFrame(R, schema=["AAA", "BBB", "CCC"], orient="row")
    got = rg.tail_risk(df, 0.95)
    for field, separate in ((got.var, rg.var_historical), (got.cvar, rg.cvar_historical)):
        assert isinstance(field, pl.DataFrame) and field.columns == ["AAA", "BBB", "CCC"]
        want = separate(df, 0.95)
        np.testing.assert_allclose(field.to_numpy(), want.to_numpy(), rtol=1e-12, atol=0)


def test_an_all_nan_column_gives_nan():
    x = R.copy()
    x[:, 1] = np.nan
    got = rg.tail_risk(x)
    assert np.isnan(got.var[1]) and np.isnan(got.cvar[1])
    clean = rg.tail_risk(np.delete(x, 1, axis=1))
    np.testing.assert_array_equal(got.var[[0, 2]], clean.var)
    np.testing.assert_array_equal(got.cvar[[0, 2]], clean.cvar)


def test_int_returns_are_floats():
    x = np.random.default_rng(2).integers(-2, 3, size=(600, 4))
    got = assert_same_as_the_separate_calls(x, dict(confidence=0.9))
    assert got.var.dtype == np.float64


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "needles"),
    [
        (dict(confidence=1.0), ["confidence", "got 1"]),
        (dict(confidence=0), ["confidence", "got 0"]),
        (dict(confidence=float("nan")), ["confidence", "NaN"]),
        (dict(confidence="0.95"), ["confidence", "'0.95'"]),
        (dict(confidence=True), ["confidence", "True"]),
        (dict(horizon=0), ["horizon", "got 0"]),
        (dict(horizon=-3), ["horizon", "-3"]),
        (dict(horizon=2.5), ["horizon", "2.5"]),
        (dict(horizon=True), ["horizon", "True"]),
        (dict(horizon=2**70), ["horizon", str(2**70)]),
        (dict(horizon=701, scaling="overlapping"), ["horizon", "701"]),
        (dict(interpolation="nearest"), ["interpolation", "nearest"]),
        (dict(interpolation=None), ["interpolation", "None"]),
        (dict(horizon=2, scaling="log"), ["scaling", "log"]),
        (dict(scaling=1), ["scaling", "1"]),
    ],
)
def test_bad_arguments_are_named(kw, needles):
    with pytest.raises(RiskError) as info:
        rg.tail_risk(R, **kw)
    message = str(info.value)
    assert all(n in message for n in needles), message
    with pytest.raises(RiskError) as separate:
        rg.var_historical(R, **kw)
    assert str(separate.value) == message


@pytest.mark.parametrize(
    ("x", "needles"),
    [
        (
            np.where(np.arange(2100).reshape(700, 3) == 3 * 517 + 2, -np.inf, R),
            ["row 517", "column 2"],
        ),
        (np.where(np.arange(30).reshape(10, 3) == 4, np.inf, 0.01), ["inf", "row 1", "column 1"]),
        (np.asfortranarray(np.where(np.arange(2100).reshape(700, 3) == 5, np.inf, R)), ["row 1"]),
        (np.empty((0, 3)), ["empty", "(0, 3)"]),
        (np.zeros((4, 3, 2)), ["3-D"]),
        (np.array(["0.1", "0.2"]), ["dtype"]),
    ],
)
def test_bad_returns_are_named(x, needles):
    with pytest.raises(RiskError) as info:
        rg.tail_risk(x)
    message = str(info.value)
    assert "returns" in message and all(n in message for n in needles), message
    with pytest.raises(RiskError) as separate:
        rg.cvar_historical(x)
    assert str(separate.value) == message
