"""The polars plugin (``riskguard_polars``): ``pl.col(...).risk.*`` against riskguard's own
functions applied group by group, against plain numpy, and on the edges (empty and all-null
groups, dtypes, bad arguments, infinities, lazy and streaming execution)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
import riskguard as rg
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.exceptions import ComputeError

rgp = pytest.importorskip(
    "riskguard_polars",
    reason="riskguard-polars is not installed (pip install -e rust/riskguard-polars)",
)

RTOL = 1e-12  # the plugin and riskguard run the same core kernel: any gap is a conversion bug

# name -> (expression on column "r", riskguard's function of a 1-D float64 array)
MEASURES = {
    "var": (lambda e: e.risk.var(0.99), lambda x: rg.var_historical(x, 0.99)),
    "var_lower": (
        lambda e: e.risk.var(0.9, interpolation="lower"),
        lambda x: rg.var_historical(x, 0.9, interpolation="lower"),
    ),
    "cvar": (lambda e: e.risk.cvar(0.975), lambda x: rg.cvar_historical(x, 0.975)),
    "cvar_lower": (
        lambda e: e.risk.cvar(0.95, interpolation="lower"),
        lambda x: rg.cvar_historical(x, 0.95, interpolation="lower"),
    ),
    "max_drawdown": (lambda e: e.risk.max_drawdown(), rg.max_drawdown),
    "volatility": (lambda e: e.risk.volatility(), rg.annual_volatility),
    "volatility_12": (
        lambda e: e.risk.volatility(periods_per_year=12),
        lambda x: rg.annual_volatility(x, periods_per_year=12),
    ),
    "sharpe": (lambda e: e.risk.sharpe(), rg.sharpe_ratio),
    "sharpe_rf": (
        lambda e: e.risk.sharpe(risk_free=1e-4, periods_per_year=52),
        lambda x: rg.sharpe_ratio(x, risk_free=1e-4, periods_per_year=52),
    ),
}
ALL = list(MEASURES)


def reference(fn, x: np.ndarray) -> float:
    """riskguard's value for one group; riskguard refuses an empty array, the plugin gives NaN."""
    return float(fn(x)) if len(x) else math.nan


def random_groups(seed: int, n_groups: int = 300, max_len: int = 400):
    """A frame with columns ``g`` and ``r`` whose groups are interleaved row by row, and the
    returns of each group in row order as float64 with nulls as NaN.

    Returns are fat-tailed; about 5 % are NaN, 5 % null, and every 50th group is all null.
    """
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_len, size=n_groups)
    groups, nulls = {}, {}
    for g, n in enumerate(sizes):
        x = rng.standard_t(4, n) * 0.01 + 0.0003
        x[rng.random(n) < 0.05] = np.nan
        null = rng.random(n) < 0.05 if g % 50 != 7 else np.ones(n, dtype=bool)
        groups[g], nulls[g] = x, null
    labels = np.repeat(np.arange(n_groups), sizes)
    rng.shuffle(labels)
    r = np.empty(len(labels))
    is_null = np.empty(len(labels), dtype=bool)
    for g in range(n_groups):
        at = np.flatnonzero(labels == g)
        r[at], is_null[at] = groups[g], nulls[g]
        groups[g] = np.where(nulls[g], np.nan, groups[g])
    df = pl.DataFrame({"g": labels, "r": r, "null": is_null}).select(
        "g", pl.when(pl.col("null")).then(None).otherwise(pl.col("r")).alias("r")
    )
    return df, groups


@pytest.fixture(scope="module")
def frame():
    return random_groups(20240611)


def by_group(out: pl.DataFrame, column: str = "r") -> np.ndarray:
    return out.sort("g")[column].to_numpy()


# --- agreement with riskguard, group by group -----------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_group_by_equals_riskguard_per_group(frame, name):
    df, groups = frame
    expr, fn = MEASURES[name]
    out = df.group_by("g").agg(expr(pl.col("r")))
    assert out.schema == pl.Schema({"g": pl.Int64, "r": pl.Float64})
    want = [reference(fn, groups[g]) for g in sorted(groups)]
    np.testing.assert_allclose(by_group(out), want, rtol=RTOL, atol=0)
    assert np.isnan(by_group(out)[7]), "an all-null group gives NaN"


def test_many_measures_in_one_agg(frame):
    df, groups = frame
    out = df.group_by("g").agg(**{name: expr(pl.col("r")) for name, (expr, _) in MEASURES.items()})
    assert out.height == len(groups)
    for name, (_, fn) in MEASURES.items():
        want = [reference(fn, groups[g]) for g in sorted(groups)]
        np.testing.assert_allclose(by_group(out, name), want, rtol=RTOL, atol=0)


@pytest.mark.parametrize("name", ALL)
def test_select_gives_one_row_equal_to_riskguard(frame, name):
    df, _ = frame
    expr, fn = MEASURES[name]
    out = df.select(expr(pl.col("r")))
    assert out.shape == (1, 1) and out.schema == pl.Schema({"r": pl.Float64})
    x = df["r"].fill_null(np.nan).to_numpy()
    np.testing.assert_allclose(out.item(), fn(x), rtol=RTOL, atol=0)


@pytest.mark.parametrize("name", ["var", "cvar", "max_drawdown", "sharpe"])
def test_over_broadcasts_each_groups_value(frame, name):
    df, groups = frame
    expr, fn = MEASURES[name]
    out = df.with_columns(expr(pl.col("r")).over("g").alias("v"))
    assert out.height == df.height
    want = {g: reference(fn, x) for g, x in groups.items()}
    np.testing.assert_allclose(out["v"].to_numpy(), [want[g] for g in out["g"]], rtol=RTOL, atol=0)


@pytest.mark.parametrize("name", ["var", "cvar_lower", "max_drawdown", "volatility"])
def test_lazy_and_streaming_equal_eager(frame, name):
    df, _ = frame
    expr = MEASURES[name][0](pl.col("r"))
    eager = df.group_by("g").agg(expr).sort("g")
    query = df.lazy().group_by("g").agg(expr).sort("g")
    assert query.collect_schema() == pl.Schema({"g": pl.Int64, "r": pl.Float64})
    assert query.collect().equals(eager)
    assert query.collect(engine="streaming").equals(eager)
    streamed = df.lazy().select(expr).collect(engine="streaming")
    assert streamed.equals(df.select(expr))


group_values = st.lists(
    st.one_of(
        st.none(),
        st.just(math.nan),
        st.floats(-0.5, 0.5, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60)
@given(
    groups=st.lists(group_values, min_size=1, max_size=8),
    confidence=st.floats(0.01, 0.99),
    interpolation=st.sampled_from(["linear", "lower"]),
)
def test_property_group_by_equals_riskguard(groups, confidence, interpolation):
    keys = [g for g, vals in enumerate(groups) for _ in vals]
    values = [v for vals in groups for v in vals]
    df = pl.DataFrame({"g": keys, "r": pl.Series(values, dtype=pl.Float64)})
    out = (
        df.group_by("g")
        .agg(
            var=pl.col("r").risk.var(confidence, interpolation=interpolation),
            cvar=pl.col("r").risk.cvar(confidence, interpolation=interpolation),
            mdd=pl.col("r").risk.max_drawdown(),
        )
        .sort("g")
    )
    arrays = [np.array([math.nan if v is None else v for v in vals]) for vals in groups]
    for column, fn in [
        ("var", lambda x: rg.var_historical(x, confidence, interpolation=interpolation)),
        ("cvar", lambda x: rg.cvar_historical(x, confidence, interpolation=interpolation)),
        ("mdd", rg.max_drawdown),
    ]:
        want = [reference(fn, x) for x in arrays]
        np.testing.assert_allclose(out[column].to_numpy(), want, rtol=RTOL, atol=0)
    assert (out["cvar"].fill_nan(math.inf) >= out["var"].fill_nan(math.inf) - 1e-12).all()


def test_nan_and_null_are_the_same_missing_value(frame):
    df, _ = frame
    as_nan = df.with_columns(pl.col("r").fill_null(math.nan))
    for name in ALL:
        expr = MEASURES[name][0](pl.col("r"))
        a = df.group_by("g").agg(expr).sort("g")
        b = as_nan.group_by("g").agg(expr).sort("g")
        assert a.equals(b), name


def test_chunked_input_equals_contiguous(frame):
    df, _ = frame
    pieces = [df.slice(i, 5000) for i in range(0, df.height, 5000)]
    chunked = pl.concat(pieces, rechunk=False)
    assert chunked["r"].n_chunks() > 1
    for name in ["var", "cvar", "max_drawdown"]:
        expr = MEASURES[name][0](pl.col("r"))
        assert chunked.select(expr).equals(df.select(expr))


def test_a_large_column_uses_the_parallel_path_and_still_agrees():
    x = np.random.default_rng(3).standard_normal(300_000) * 0.01
    df = pl.DataFrame({"r": x})
    out = df.select(
        var=pl.col("r").risk.var(0.99),
        cvar=pl.col("r").risk.cvar(0.99),
        mdd=pl.col("r").risk.max_drawdown(),
    )
    np.testing.assert_allclose(
        out.row(0),
        [rg.var_historical(x, 0.99), rg.cvar_historical(x, 0.99), rg.max_drawdown(x)],
        rtol=RTOL,
    )


def test_rolling_windows_equal_riskguard_per_window():
    x = np.random.default_rng(4).standard_normal(60) * 0.01
    df = pl.DataFrame({"t": np.arange(60), "r": x})
    out = df.rolling("t", period="20i").agg(pl.col("r").risk.var(0.9))
    want = [rg.var_historical(x[max(0, i - 19) : i + 1], 0.9) for i in range(60)]
    np.testing.assert_allclose(out["r"].to_numpy(), want, rtol=RTOL, atol=0)


def test_drawdown_follows_the_order_inside_the_group():
    df = pl.DataFrame({"g": [1, 1, 1], "t": [3, 1, 2], "r": [0.5, -0.1, -0.2]})
    in_time = df.group_by("g").agg(pl.col("r").sort_by("t").risk.max_drawdown())
    as_stored = df.group_by("g").agg(pl.col("r").risk.max_drawdown())
    assert in_time["r"].item() == pytest.approx(rg.max_drawdown(np.array([-0.1, -0.2, 0.5])))
    assert as_stored["r"].item() == pytest.approx(rg.max_drawdown(np.array([0.5, -0.1, -0.2])))


# --- against plain numpy --------------------------------------------------------------------------


def numpy_var_cvar(x: np.ndarray, c: float, method: str = "linear") -> tuple[float, float]:
    q = np.quantile(x, 1 - c, method=method)
    return -q, -x[x <= q].mean()


def numpy_max_drawdown(x: np.ndarray) -> float:
    wealth = np.concatenate([[1.0], np.cumprod(1 + x)])
    peak = np.maximum.accumulate(wealth)
    return float(((peak - wealth) / peak).max())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("c", [0.5, 0.95, 0.99])
def test_matches_plain_numpy(seed, c):
    rng = np.random.default_rng(seed)
    xs = [rng.standard_t(3, n) * 0.02 for n in (1, 2, 7, 100, 999)]
    df = pl.DataFrame({"g": np.repeat(np.arange(len(xs)), [len(x) for x in xs])}).with_columns(
        r=pl.Series(np.concatenate(xs))
    )
    out = (
        df.group_by("g")
        .agg(
            var=pl.col("r").risk.var(c),
            cvar=pl.col("r").risk.cvar(c),
            var_lo=pl.col("r").risk.var(c, interpolation="lower"),
            cvar_lo=pl.col("r").risk.cvar(c, interpolation="lower"),
            mdd=pl.col("r").risk.max_drawdown(),
        )
        .sort("g")
    )
    for i, x in enumerate(xs):
        row = out.row(i, named=True)
        var, cvar = numpy_var_cvar(x, c)
        var_lo, cvar_lo = numpy_var_cvar(x, c, "lower")
        assert row["var"] == pytest.approx(var, rel=1e-12, abs=1e-15)
        assert row["cvar"] == pytest.approx(cvar, rel=1e-12, abs=1e-15)
        assert row["var_lo"] == pytest.approx(var_lo, rel=1e-12, abs=1e-15)
        assert row["cvar_lo"] == pytest.approx(cvar_lo, rel=1e-12, abs=1e-15)
        assert row["mdd"] == pytest.approx(numpy_max_drawdown(x), rel=1e-12, abs=1e-15)


def test_known_values():
    # np.quantile([3, 1, 4, 1, 5, 9, 2, 6] / 100, 0.3) == 0.021; values at or below: 1, 1, 2
    df = pl.DataFrame({"r": [0.03, 0.01, 0.04, 0.01, 0.05, 0.09, 0.02, 0.06]})
    out = df.select(
        var=-pl.col("r").risk.var(0.7),
        cvar=-pl.col("r").risk.cvar(0.7),
        lower=-pl.col("r").risk.var(0.7, interpolation="lower"),
    )
    assert out.row(0) == pytest.approx((0.021, 0.04 / 3, 0.02), rel=1e-12)
    # a first-period loss counts: wealth 1.0 -> 0.9 -> 0.945
    first = pl.DataFrame({"r": [-0.1, 0.05]}).select(pl.col("r").risk.max_drawdown()).item()
    assert first == pytest.approx(0.1, rel=1e-14)


# --- edges: empty and missing ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_empty_column_gives_one_nan_row(name):
    df = pl.DataFrame({"r": pl.Series([], dtype=pl.Float64)})
    out = df.select(MEASURES[name][0](pl.col("r")))
    assert out.shape == (1, 1) and math.isnan(out.item())


@pytest.mark.parametrize("name", ALL)
def test_empty_and_all_null_groups_give_nan(name):
    df = pl.DataFrame({"g": [1, 1, 2, 2, 3], "r": [0.01, -0.02, None, None, math.nan]})
    expr = MEASURES[name][0](pl.col("r"))
    out = df.group_by("g").agg(expr).sort("g")["r"].to_list()
    assert math.isnan(out[1]) and math.isnan(out[2])
    # filtered down to nothing inside the aggregation: an empty group
    empty = df.group_by("g").agg(MEASURES[name][0](pl.col("r").filter(pl.col("r") > 1)))
    assert empty["r"].is_nan().all()
    null_typed = pl.DataFrame({"r": [None, None]}).select(expr)
    assert null_typed.schema == pl.Schema({"r": pl.Float64}) and math.isnan(null_typed.item())


def test_empty_frame_group_by_gives_no_rows():
    df = pl.DataFrame({"g": pl.Series([], dtype=pl.Int64), "r": pl.Series([], dtype=pl.Float64)})
    out = df.group_by("g").agg(pl.col("r").risk.var(0.99))
    assert out.height == 0 and out.schema == pl.Schema({"g": pl.Int64, "r": pl.Float64})


def test_too_few_values_follow_the_core():
    one = pl.DataFrame({"r": [-0.03]}).select(
        var=pl.col("r").risk.var(0.99),
        cvar=pl.col("r").risk.cvar(0.99),
        mdd=pl.col("r").risk.max_drawdown(),
        vol=pl.col("r").risk.volatility(),
        sharpe=pl.col("r").risk.sharpe(),
    )
    var, cvar, mdd, vol, sharpe = one.row(0)
    assert (var, cvar) == pytest.approx((0.03, 0.03)) and mdd == pytest.approx(0.03)
    assert math.isnan(vol) and math.isnan(sharpe)  # the standard deviation needs two values


# --- dtypes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype",
    [pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt32, pl.UInt64, pl.Int128],
)
def test_integer_columns_are_cast_to_float(dtype):
    values = [3, 1, 4, 1, 5, 9, 2, 6, None]
    df = pl.DataFrame({"r": pl.Series(values, dtype=dtype)})
    x = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    for name in ALL:
        got = df.select(MEASURES[name][0](pl.col("r"))).item()
        np.testing.assert_allclose(got, MEASURES[name][1](x), rtol=RTOL, atol=0)


@pytest.mark.parametrize("dtype", [pl.Float32, pl.Float16, pl.Decimal(12, 4)])
def test_narrow_float_and_decimal_columns_are_cast_to_float64(dtype):
    s = pl.Series("r", [0.0125, -0.0250, 0.0375, None, -0.0500]).cast(dtype)
    x = s.cast(pl.Float64).fill_null(math.nan).to_numpy()
    out = pl.DataFrame({"r": s}).select(
        pl.col("r").risk.var(0.8), pl.col("r").risk.cvar(0.8).alias("c")
    )
    assert out.schema == pl.Schema({"r": pl.Float64, "c": pl.Float64})
    np.testing.assert_allclose(
        out.row(0), [rg.var_historical(x, 0.8), rg.cvar_historical(x, 0.8)], rtol=RTOL
    )


NON_NUMERIC = {
    "str": pl.Series(["a", "b"]),
    "bool": pl.Series([True, False]),
    "date": pl.Series([dt.date(2024, 1, 1), dt.date(2024, 1, 2)]),
    "datetime": pl.Series([dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)]),
    "duration": pl.Series([dt.timedelta(1), dt.timedelta(2)]),
    "categorical": pl.Series(["a", "b"], dtype=pl.Categorical),
    "enum": pl.Series(["a", "b"], dtype=pl.Enum(["a", "b"])),
    "list": pl.Series([[0.1], [0.2]]),
    "array": pl.Series([[0.1], [0.2]], dtype=pl.Array(pl.Float64, 1)),
    "struct": pl.Series([{"a": 0.1}, {"a": 0.2}]),
    "binary": pl.Series([b"a", b"b"]),
}


@pytest.mark.parametrize("kind", list(NON_NUMERIC))
def test_non_numeric_columns_are_a_clear_compute_error(kind):
    df = pl.DataFrame({"g": [1, 1], "rets": NON_NUMERIC[kind]})
    runs = [
        lambda e: df.select(e),
        lambda e: df.group_by("g").agg(e),
        lambda e: df.lazy().select(e).collect_schema(),  # refused while planning
    ]
    for name in ALL:
        for run in runs:
            with pytest.raises(ComputeError, match=r'returns must be numeric.*"rets"') as e:
                run(MEASURES[name][0](pl.col("rets")))
            assert "panicked" not in str(e.value)


@pytest.mark.parametrize("bad", [math.inf, -math.inf])
@pytest.mark.parametrize("name", ALL)
def test_an_infinite_return_is_a_compute_error(name, bad):
    df = pl.DataFrame({"g": [1, 1, 2, 2], "r": [0.01, -0.02, 0.03, bad]})
    expr = MEASURES[name][0](pl.col("r"))
    with pytest.raises(ComputeError, match=r"returns must be finite or NaN, got -?inf"):
        df.select(expr)
    with pytest.raises(ComputeError, match=r"returns must be finite or NaN"):
        df.group_by("g").agg(expr)
    with pytest.raises(ComputeError, match=r"returns must be finite or NaN"):
        df.lazy().group_by("g").agg(expr).collect(engine="streaming")
    # the group without the infinity is fine on its own
    assert math.isfinite(df.filter(pl.col("g") == 1).select(expr).item())


# --- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["var", "cvar"])
@pytest.mark.parametrize("confidence", [0, 0.0, 1, 1.0, -0.5, 1.5, math.nan, math.inf, -math.inf])
def test_a_confidence_outside_the_open_unit_interval_is_a_risk_error(method, confidence):
    with pytest.raises(rg.RiskError, match=r"confidence must be in \(0, 1\), got "):
        getattr(pl.col("r").risk, method)(confidence)


@pytest.mark.parametrize("confidence", ["0.99", None, True, [0.99], 0.5 + 0j])
def test_a_confidence_that_is_not_a_real_number_is_a_risk_error(confidence):
    with pytest.raises(rg.RiskError, match="confidence must be a real number"):
        pl.col("r").risk.var(confidence)
    assert issubclass(rg.RiskError, ValueError)


def test_numpy_scalars_are_accepted():
    df = pl.DataFrame({"r": [0.01, -0.02, 0.03]})
    a = df.select(pl.col("r").risk.var(np.float64(0.9))).item()
    b = df.select(pl.col("r").risk.var(np.float32(0.9))).item()
    assert a == rg.var_historical(df["r"].to_numpy(), 0.9)
    assert b == rg.var_historical(df["r"].to_numpy(), float(np.float32(0.9)))


def test_other_bad_arguments_are_risk_errors():
    with pytest.raises(rg.RiskError, match='interpolation must be "linear" or "lower"'):
        pl.col("r").risk.var(0.9, interpolation="nearest")
    with pytest.raises(rg.RiskError, match='interpolation must be "linear" or "lower"'):
        pl.col("r").risk.cvar(0.9, interpolation="midpoint")
    for bad in (0, -252, math.nan, math.inf):
        with pytest.raises(rg.RiskError, match="periods_per_year must be finite and > 0"):
            pl.col("r").risk.volatility(bad)
        with pytest.raises(rg.RiskError, match="periods_per_year must be finite and > 0"):
            pl.col("r").risk.sharpe(periods_per_year=bad)
    for bad in (math.nan, math.inf):
        with pytest.raises(rg.RiskError, match="risk_free must be finite"):
            pl.col("r").risk.sharpe(risk_free=bad)
    with pytest.raises(rg.RiskError, match="risk_free must be a real number"):
        pl.col("r").risk.sharpe(risk_free="0")


@pytest.mark.parametrize(
    ("function", "kwargs", "message"),
    [
        ("var_historical", {"confidence": 1.5, "interpolation": "linear"}, "confidence must"),
        ("cvar_historical", {"confidence": math.nan, "interpolation": "lower"}, "confidence"),
        ("var_historical", {"confidence": 0.9, "interpolation": "nearest"}, "interpolation"),
        ("annual_volatility", {"periods_per_year": -1.0}, "periods_per_year must"),
        ("sharpe_ratio", {"risk_free": math.inf, "periods_per_year": 252.0}, "risk_free"),
        ("var_historical", {"confidence": "high", "interpolation": "linear"}, "kwargs"),
        ("var_historical", None, "kwargs"),
    ],
)
def test_the_plugin_itself_refuses_bad_arguments_without_panicking(function, kwargs, message):
    """The Python checks can be bypassed by registering the function directly: the Rust side
    validates again and answers with a ComputeError naming the argument."""
    df = pl.DataFrame({"r": [0.01, -0.02]})
    expr = rgp._aggregate(pl.col("r"), function, **(kwargs or {}))
    with pytest.raises(ComputeError, match=message) as e:
        df.select(expr)
    assert "panicked" not in str(e.value)


def test_the_namespace_is_documented():
    for name in ["var", "cvar", "max_drawdown", "volatility", "sharpe"]:
        doc = getattr(rgp.RiskNamespace, name).__doc__
        assert doc and len(doc) > 100, name
    for word in ["positive loss", "numpy", "lower", "NaN", "RiskError", "ComputeError"]:
        assert word in rgp.RiskNamespace.var.__doc__, word
