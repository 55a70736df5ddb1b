"""``riskguard.batch.portfolio_risk``: many portfolios' exposures, concentration, VaR, CVaR, top
contributor and limit breaches in one call, held to the plain pandas / numpy reference in
``batch_reference.py``, on random books (hypothesis), by-hand and tie-breaking cases, every kind
of bad input, every input container, the Dask engine, and real S&P 500 returns (skfolio)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import riskguard as rg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from riskguard import RiskError
from riskguard.batch import BatchLimits, portfolio_risk
from scipy.stats import norm

try:
    from . import batch_reference as ref
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    import batch_reference as ref

RTOL = 1e-9

SCHEMA = {
    "n_positions": pl.UInt32,
    "gross_exposure": pl.Float64,
    "net_exposure": pl.Float64,
    "max_weight": pl.Float64,
    "effective_positions": pl.Float64,
    "var": pl.Float64,
    "cvar": pl.Float64,
    "top_contributor": pl.String,
    "breaches": pl.List(pl.String),
}


def expected_schema(id_dtype: pl.DataType, missing: str = "error") -> dict[str, Any]:
    schema = {"portfolio_id": id_dtype, **SCHEMA}
    if missing == "zero":
        schema["missing_symbols"] = pl.List(pl.String)
    return schema


def positions_frame(rows: list[tuple[Any, Any, Any]], id_dtype: Any = pl.Int64) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"portfolio_id": id_dtype, "symbol": pl.String, "exposure": pl.Float64},
        orient="row",
    )


def reference_positions(frame: pl.DataFrame) -> pd.DataFrame:
    """``frame`` as the reference takes it: object columns with None for a missing symbol."""
    return pd.DataFrame(
        {
            "portfolio_id": frame["portfolio_id"].to_list(),
            "symbol": frame["symbol"].to_list(),
            "exposure": [np.nan if x is None else x for x in frame["exposure"].to_list()],
        }
    )


# ---------------------------------------------------------------------------------------------
# Comparison with the reference


def parametric_close(got: float, want: float, factor: float, variance_scale: float) -> bool:
    """``got`` and ``want`` are ``factor * sigma``; compares the variances, which rounding moves
    by about ``eps * variance_scale`` (a long and a short in two correlated symbols cancel, so
    sigma itself can be all rounding)."""
    if math.isclose(got, want, rel_tol=RTOL, abs_tol=0.0):
        return True
    if factor == 0.0:
        return got == want == 0.0
    s_got, s_want = (got / factor) ** 2, (want / factor) ** 2
    return abs(s_got - s_want) <= RTOL * s_want + 1e-12 * variance_scale


def assert_matches(
    result: pl.DataFrame,
    want: pd.DataFrame,
    *,
    method: str,
    confidence: float,
    limits: dict[str, float] | None,
    exact: bool,
) -> None:
    """Every column of ``result`` against the reference's ``want``. ``exact``: the P&L is
    computed without rounding on both sides (dyadic exposures and returns), so the VaR
    scenario and the components are the same bits and the top contributor must match exactly,
    ties included."""
    got = result.to_dicts()
    rows = want.to_dict("records")
    assert [g["portfolio_id"] for g in got] == [w["portfolio_id"] for w in rows]
    z = float(norm.ppf(confidence))
    for g, w in zip(got, rows, strict=True):
        where = f"portfolio {w['portfolio_id']!r}: got {g}, want {w}"
        assert g["n_positions"] == w["n_positions"], where
        atol = 1e-12 * w["gross_exposure"]
        for name in ("gross_exposure", "net_exposure"):
            assert math.isclose(g[name], w[name], rel_tol=RTOL, abs_tol=atol), (name, where)
        for name in ("max_weight", "effective_positions"):
            assert math.isclose(g[name], w[name], rel_tol=RTOL), (name, where)
        if method == "historical":
            atol = RTOL * w["_pnl_scale"]
            assert math.isclose(g["var"], w["var"], rel_tol=RTOL, abs_tol=atol), where
            assert any(
                math.isclose(g["cvar"], c, rel_tol=RTOL, abs_tol=atol)
                for c in w["_cvar_candidates"]
            ), where
        else:
            scale = w["_variance_scale"]
            assert parametric_close(g["var"], w["var"], z, scale), where
            tail = float(norm.pdf(z)) / (1.0 - confidence)
            assert parametric_close(g["cvar"], w["cvar"], tail, scale), where
        if w["top_contributor"] is None:
            assert g["top_contributor"] is None, where
        elif exact and method == "historical":
            assert g["top_contributor"] == w["top_contributor"], where
        else:
            assert g["top_contributor"] in w["_top_candidates"], where
        # Breaches are exactly the rule applied to the result's own figures, and the
        # reference's wherever a figure is not within rounding of its limit.
        assert g["breaches"] == ref.breaches(g, limits), where
        for name, limit in (limits or {}).items():
            bound = ref.limit_bound(name, limit)
            if math.isclose(ref.limit_figure(name, w), bound, rel_tol=1e-6):
                continue
            assert (name in g["breaches"]) == (name in w["breaches"]), (name, where)
        if "missing_symbols" in w:
            assert g["missing_symbols"] == w["missing_symbols"], where


# ---------------------------------------------------------------------------------------------
# Random books

KNOWN = ["AAPL", "MSFT", "XOM", "JPM", "KO", "T"]
ABSENT = ["ZZZ", "NOPE"]
# Quarter units up to ~1e6: sums of exposures are exact whatever the order.
EXPOSURE = st.integers(-(2**22), 2**22).map(lambda k: k / 4)


@st.composite
def books(draw: st.DrawFn) -> dict[str, Any]:
    method = draw(st.sampled_from(["historical", "parametric"]))
    interpolation = draw(st.sampled_from(["linear", "lower"]))
    confidence = draw(st.floats(0.5, 0.995))
    # Exact: returns in 1/256 steps, so the P&L of quarter-unit exposures has no rounding.
    exact = draw(st.booleans())
    n_sym = draw(st.integers(1, 5))
    symbols = draw(st.permutations(KNOWN))[:n_sym]
    t_min = 2 if method == "parametric" else 1
    if draw(st.booleans()):
        t = draw(st.integers(t_min, 12))
        value = (
            st.integers(-64, 64).map(lambda j: j / 256)
            if exact
            else st.floats(-0.5, 0.5, allow_subnormal=False)
        )
        flat = draw(st.lists(value, min_size=t * n_sym, max_size=t * n_sym))
        returns = np.array(flat, dtype=np.float64).reshape(t, n_sym)
    else:  # long enough for deep tails (a full sort) and shallow ones (the insertion pass)
        t = draw(st.integers(60, 400))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        returns = (
            rng.integers(-4, 5, (t, n_sym)) / 256 if exact else rng.normal(0, 0.02, (t, n_sym))
        )

    id_kind = draw(st.sampled_from(["int", "str"]))
    n_port = draw(st.integers(1, 6))
    if id_kind == "int":
        ident = st.integers(-3, 12) | st.integers(-(10**12), 10**12)
    else:
        ident = st.text(alphabet="abAB_-0é ", max_size=4)
    ids = draw(st.lists(ident, min_size=n_port, max_size=n_port, unique=True))
    missing = draw(st.sampled_from(["error", "zero"]))
    pool = symbols + (ABSENT if missing == "zero" else [])
    rows: list[tuple[Any, Any, Any]] = []
    for pid in ids:
        kind = draw(st.sampled_from(["positions", "positions", "empty", "both"]))
        if kind != "positions":  # a row that only names the portfolio
            rows.append((pid, None, draw(st.sampled_from([None, 0.0]))))
        if kind == "empty":
            continue
        for _ in range(draw(st.integers(1, 5))):
            symbol = draw(st.sampled_from(pool))
            x = draw(EXPOSURE | st.just(0.0))
            rows.append((pid, symbol, x))
            extra = draw(st.sampled_from(["none", "none", "duplicate", "offset"]))
            if extra == "duplicate":
                rows.append((pid, symbol, draw(EXPOSURE)))
            elif extra == "offset":  # nets the symbol to zero
                rows.append((pid, symbol, -x))
    order = draw(st.sampled_from(["shuffled", "sorted", "given"]))
    if order == "shuffled":
        rows = draw(st.permutations(rows))
    elif order == "sorted":
        rows = sorted(rows, key=lambda r: r[0])

    money = st.floats(1.0, 1e7)
    limits = draw(
        st.none()
        | st.fixed_dictionaries(
            {},
            optional={
                "gross_exposure": money,
                "net_exposure": money,
                "concentration": st.floats(0.05, 1.0),
                "effective_positions": st.floats(1.0, 6.0),
                "var": st.floats(1.0, 1e5),
                "cvar": st.floats(1.0, 1e5),
            },
        )
    )
    return {
        "positions": positions_frame(rows, pl.Int64 if id_kind == "int" else pl.String),
        "returns": returns,
        "symbols": symbols,
        "confidence": confidence,
        "method": method,
        "interpolation": interpolation,
        "missing": missing,
        "limits": limits,
        "exact": exact,
        "positions_as": draw(st.sampled_from(["polars", "pandas", "dict", "arrow"])),
        "returns_as": draw(st.sampled_from(["polars", "pandas", "array"])),
    }


def as_container(frame: pl.DataFrame, kind: str) -> Any:
    if kind == "dict" and any(frame[c].null_count() == frame.height for c in frame.columns):
        # Lists of None carry no type: polars reads them as a Null column, which
        # portfolio_risk refuses as "not a string column" / "not numeric".
        kind = "polars"
    if kind == "pandas":
        return frame.to_pandas()
    if kind == "dict":
        return frame.to_dict(as_series=False)
    if kind == "arrow":
        return frame.to_arrow()
    return frame


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(books())
def test_matches_reference(case: dict[str, Any]) -> None:
    positions = case["positions"]
    returns, symbols = case["returns"], case["symbols"]
    if case["returns_as"] == "array":
        kwargs = {"returns": returns, "symbols": symbols}
    else:
        frame = pl.DataFrame(returns, schema=symbols, orient="row")
        kwargs = {"returns": as_container(frame, case["returns_as"])}
    given_positions = as_container(positions, case["positions_as"])
    result = portfolio_risk(
        given_positions,
        confidence=case["confidence"],
        method=case["method"],
        limits=case["limits"],
        missing=case["missing"],
        interpolation=case["interpolation"],
        **kwargs,
    )
    assert result.schema == expected_schema(positions.schema["portfolio_id"], case["missing"])
    want = ref.portfolio_risk(
        reference_positions(positions),
        pd.DataFrame(returns, columns=symbols),
        confidence=case["confidence"],
        method=case["method"],
        limits=case["limits"],
        missing=case["missing"],
        interpolation=case["interpolation"],
        tie_rtol=0.0 if case["exact"] else 1e-9,
    )
    assert_matches(
        result,
        want,
        method=case["method"],
        confidence=case["confidence"],
        limits=case["limits"],
        exact=case["exact"],
    )


# ---------------------------------------------------------------------------------------------
# By hand

HAND_RETURNS = pl.DataFrame(
    {
        "A": [0.01, -0.02, 0.03, -0.04, 0.00],
        "B": [0.02, 0.01, -0.01, -0.02, 0.01],
    }
)


def test_by_hand_historical() -> None:
    # Portfolio 1 holds A 100 and B -50 (the A position given as two rows, 60 + 40).
    # Scenario P&L 100 a - 50 b = [0, -2.5, 3.5, -3, -0.5]; sorted [-3, -2.5, -0.5, 0, 3.5].
    # confidence 0.8: position (5 - 1) * 0.2 = 0.8, so k = 0 and gamma = 0.8:
    #   linear: q = -3 + 0.8 * (-2.5 - -3) = -2.6, VaR 2.6; the tail at or below -2.6 is
    #           {-3}, CVaR 3. Components at the scenarios of -3 (3) and -2.5 (1):
    #           A: -100 * lerp(-0.04, -0.02, 0.8) = -100 * -0.024 = 2.4,
    #           B: 50 * lerp(-0.02, 0.01, 0.8) = 50 * 0.004 = 0.2; they sum to the VaR; top A.
    #   lower:  q = -3, VaR 3, CVaR 3.
    # gross 150, net 50, max weight 100 / 150, effective 1 / ((2/3)^2 + (1/3)^2) = 1.8.
    # Portfolio 2 has no position (a null-symbol row): zeros, no top contributor.
    positions = positions_frame([(1, "A", 60.0), (2, None, None), (1, "B", -50.0), (1, "A", 40.0)])
    out = portfolio_risk(positions, HAND_RETURNS, confidence=0.8)
    one, two = out.to_dicts()
    assert one["portfolio_id"] == 1 and two["portfolio_id"] == 2
    assert one["n_positions"] == 2
    assert one["gross_exposure"] == pytest.approx(150.0)
    assert one["net_exposure"] == pytest.approx(50.0)
    assert one["max_weight"] == pytest.approx(2 / 3)
    assert one["effective_positions"] == pytest.approx(1.8)
    assert one["var"] == pytest.approx(2.6)
    assert one["cvar"] == pytest.approx(3.0)
    assert one["top_contributor"] == "A"
    assert one["breaches"] == []
    assert two == {
        "portfolio_id": 2,
        "n_positions": 0,
        "gross_exposure": 0.0,
        "net_exposure": 0.0,
        "max_weight": 0.0,
        "effective_positions": 0.0,
        "var": 0.0,
        "cvar": 0.0,
        "top_contributor": None,
        "breaches": [],
    }
    lower = portfolio_risk(positions, HAND_RETURNS, confidence=0.8, interpolation="lower")
    assert lower["var"][0] == pytest.approx(3.0)
    assert lower["cvar"][0] == pytest.approx(3.0)
    # Limits: VaR 2.6 > 2.5 and max weight 2/3 > 0.6 breach; gross 150 < 200 does not.
    limited = portfolio_risk(
        positions,
        HAND_RETURNS,
        confidence=0.8,
        limits={"var": 2.5, "concentration": 0.6, "gross_exposure": 200, "cvar": 3.5},
    )
    assert limited["breaches"].to_list() == [["concentration", "var"], []]


def test_reference_by_hand() -> None:
    # The oracle itself on the by-hand case above.
    positions = pd.DataFrame(
        {
            "portfolio_id": [1, 2, 1, 1],
            "symbol": ["A", None, "B", "A"],
            "exposure": [60.0, np.nan, -50.0, 40.0],
        }
    )
    want = ref.portfolio_risk(positions, HAND_RETURNS.to_pandas(), confidence=0.8)
    one, two = want.to_dict("records")
    assert one["var"] == pytest.approx(2.6) and one["cvar"] == pytest.approx(3.0)
    assert one["top_contributor"] == "A" and one["effective_positions"] == pytest.approx(1.8)
    assert two["top_contributor"] is None and two["var"] == 0.0 and two["n_positions"] == 0


def test_by_hand_parametric() -> None:
    # One symbol with returns [0.01, -0.01]: sample variance (0.01² + 0.01²) / 1 = 2e-4, so a
    # 1000 exposure has sigma 1000 * sqrt(2e-4) = 14.1421; at 95%, z = 1.6449: VaR 23.262,
    # CVaR sigma * φ(z) / 0.05 = 29.172.
    returns = pl.DataFrame({"A": [0.01, -0.01]})
    out = portfolio_risk(
        positions_frame([(7, "A", 1000.0)]), returns, confidence=0.95, method="parametric"
    )
    sigma = 1000 * math.sqrt(2e-4)
    assert out["var"][0] == pytest.approx(1.6448536269514722 * sigma, rel=1e-12)
    assert out["var"][0] == pytest.approx(23.262, abs=1e-3)
    assert out["cvar"][0] == pytest.approx(sigma * norm.pdf(norm.ppf(0.95)) / 0.05, rel=1e-12)
    assert out["cvar"][0] == pytest.approx(29.172, abs=1e-3)
    assert out["top_contributor"][0] == "A"


def test_parametric_components_pick_the_largest_euler_share() -> None:
    # Uncorrelated symbols (orthogonal, zero-mean columns), B twice as volatile as A: with no
    # covariance the components are z * e_i² σ_i² / sigma, in the ratio 300² : (2 * 100)² =
    # 9 : 4 for portfolio 1 (A, although B is the more volatile) and 1 : 4 for portfolio 2.
    returns = pl.DataFrame({"A": [0.01, -0.01, 0.01, -0.01], "B": [0.02, 0.02, -0.02, -0.02]})
    out = portfolio_risk(
        positions_frame([(1, "A", 300.0), (1, "B", 100.0), (2, "A", 100.0), (2, "B", 100.0)]),
        returns,
        method="parametric",
        confidence=0.99,
    )
    assert out["top_contributor"].to_list() == ["A", "B"]


# ---------------------------------------------------------------------------------------------
# Ties


@pytest.mark.parametrize("interpolation", ["linear", "lower"])
@pytest.mark.parametrize("long", [False, True])
def test_tied_var_scenarios_go_to_the_earlier_scenario(interpolation: str, long: bool) -> None:
    # Scenarios 1 and 2 lose the same 1/64 (A alone, then B alone); every other scenario
    # gains. With k = 0 the VaR scenario is the earlier of the tied two (interpolated towards
    # the later one by gamma < 0.5), so the top contributor names its symbol; swapping the two
    # scenarios swaps the answer. "long" puts the tie deep
    # in 200 scenarios (the kernel's insertion pass) rather than in 5 (a full sort).
    t = 200 if long else 5
    a = np.full(t, 1 / 32)
    b = np.full(t, 1 / 32)
    first, second = (150, 170) if long else (1, 2)
    a[first], b[first] = -1 / 64, 0.0
    a[second], b[second] = 0.0, -1 / 64
    # (t - 1) * (1 - c) < 0.5: k = 0 and gamma < 0.5, so the first scenario weighs most.
    confidence = 0.998 if long else 0.9
    positions = positions_frame([(1, "A", 1.0), (1, "B", 1.0)])
    out = portfolio_risk(
        positions,
        pl.DataFrame({"A": a, "B": b}),
        confidence=confidence,
        interpolation=interpolation,
    )
    assert out["top_contributor"][0] == "A"
    assert out["var"][0] == pytest.approx(1 / 64)
    swapped = portfolio_risk(
        positions,
        pl.DataFrame({"A": b, "B": a}),
        confidence=confidence,
        interpolation=interpolation,
    )
    assert swapped["top_contributor"][0] == "B"


@pytest.mark.parametrize("t", [8, 200, 300])
def test_order_statistics_of_a_long_tie_follow_a_stable_argsort(t: int) -> None:
    # Many scenarios lose the same 1/64, each through one of A, B, C in turn; the others gain.
    # The VaR scenarios (order statistics k, k + 1) are the (k+1)-th and (k+2)-th of the tied
    # ones in scenario order, whichever path (insertion pass or full sort) finds them.
    rng = np.random.default_rng(t)
    losers = np.sort(rng.choice(t, size=max(4, t // 2), replace=False))
    r = np.full((t, 3), 1 / 32)
    for n, row in enumerate(losers):
        r[row] = 0.0
        r[row, n % 3] = -1 / 64
    frame = pl.DataFrame(r, schema=["A", "B", "C"], orient="row")
    positions = positions_frame([(1, "A", 1.0), (1, "B", 1.0), (1, "C", 1.0)])
    for confidence in (0.99, 0.9, 0.8, 0.7):
        k = math.floor((t - 1) * (1 - confidence))
        if k + 1 >= len(losers):
            continue
        for interpolation in ("lower", "linear"):
            out = portfolio_risk(
                positions, frame, confidence=confidence, interpolation=interpolation
            )
            # Interpolating between two scenarios of the tie weights both; the larger weight
            # names the top contributor.
            gamma = (t - 1) * (1 - confidence) - k
            pick = k if interpolation == "lower" or gamma < 0.5 else k + 1
            assert out["top_contributor"][0] == "ABC"[pick % 3], (t, confidence, interpolation)
            assert out["var"][0] == pytest.approx(1 / 64)
            assert out["cvar"][0] == pytest.approx(1 / 64)


@pytest.mark.parametrize("method", ["historical", "parametric"])
def test_tied_components_go_to_the_lower_returns_column(method: str) -> None:
    # A and B have identical returns and exposures, so identical components: the top
    # contributor is whichever comes first among the returns' columns, not alphabetically.
    values = [0.01, -0.03, 0.02, -0.01, 0.005]
    positions = positions_frame([(1, "A", 500.0), (1, "B", 500.0)])
    ab = pl.DataFrame({"A": values, "B": values})
    ba = pl.DataFrame({"B": values, "A": values})
    assert portfolio_risk(positions, ab, confidence=0.8, method=method)["top_contributor"][0] == "A"
    assert portfolio_risk(positions, ba, confidence=0.8, method=method)["top_contributor"][0] == "B"


def test_cvar_counts_every_scenario_tied_with_the_quantile() -> None:
    # Every scenario loses 1/64 of the exposure: every one is at the quantile, so the CVaR is
    # the mean of all of them, even those beyond the kernel's partial tail.
    positions = positions_frame([(1, "A", 640.0)])
    for t in (3, 100):
        returns = pl.DataFrame({"A": np.full(t, -1 / 64)})
        for interpolation in ("linear", "lower"):
            out = portfolio_risk(positions, returns, confidence=0.99, interpolation=interpolation)
            assert out["var"][0] == 10.0
            assert out["cvar"][0] == 10.0
    # P&L [-3, -3, -1, 0, 2] (lower, k = 0): q = -3 and the tail holds both -3.
    returns = pl.DataFrame({"A": [-3.0, -1.0, -3.0, 0.0, 2.0]})
    out = portfolio_risk(
        positions_frame([(1, "A", 1.0)]), returns, confidence=0.9, interpolation="lower"
    ).row(0, named=True)
    assert (out["var"], out["cvar"]) == (3.0, 3.0)


# ---------------------------------------------------------------------------------------------
# Books


def test_empty_positions_give_an_empty_result_with_the_schema() -> None:
    returns = pl.DataFrame({"A": [0.01, -0.02]})
    for dtype in (pl.Int64, pl.String):
        empty = positions_frame([], dtype)
        for missing in ("error", "zero"):
            out = portfolio_risk(empty, returns, missing=missing)
            assert out.height == 0
            assert out.schema == expected_schema(dtype, missing)
    typed = pd.DataFrame(
        {
            "portfolio_id": pd.Series([], dtype="int64"),
            "symbol": pd.Series([], dtype=object),
            "exposure": pd.Series([], dtype="float64"),
        }
    )
    out = portfolio_risk(typed, returns)
    assert out.height == 0 and out.schema == expected_schema(pl.Int64)


def test_duplicates_netting_to_zero_are_no_position() -> None:
    returns = pl.DataFrame({"A": [0.01, -0.02, 0.03], "B": [0.02, -0.01, 0.0]})
    positions = positions_frame(
        [(1, "A", 125.5), (1, "B", 10.0), (1, "A", -100.0), (1, "A", -25.5), (2, "B", 0.0)]
    )
    one, two = portfolio_risk(positions, returns, confidence=0.9).to_dicts()
    assert one["n_positions"] == 1
    assert one["gross_exposure"] == one["net_exposure"] == 10.0
    assert one["max_weight"] == one["effective_positions"] == 1.0
    assert one["top_contributor"] == "B"
    assert one["var"] == pytest.approx(-10 * np.quantile([0.02, -0.01, 0.0], 0.1))
    # A portfolio whose only row is a zero exposure is flat.
    assert two["n_positions"] == 0 and two["top_contributor"] is None
    assert (two["gross_exposure"], two["var"], two["cvar"]) == (0.0, 0.0, 0.0)
    # Flat results are +0.0, not -0.0.
    assert all(math.copysign(1, two[k]) == 1 for k in ("var", "cvar", "net_exposure"))


def test_missing_symbols_as_zero() -> None:
    returns = pl.DataFrame({"A": [0.01, -0.02, 0.03], "B": [0.02, -0.01, 0.0]})
    positions = positions_frame(
        [(1, "A", 100.0), (1, "GONE", 50.0), (2, "GONE", 10.0), (2, "ALSO", 5.0), (3, "B", 1.0)]
    )
    with pytest.raises(RiskError, match="ALSO, GONE"):
        portfolio_risk(positions, returns)
    out = portfolio_risk(positions, returns, confidence=0.9, missing="zero").to_dicts()
    # Riskless but held: in the exposures, not in the VaR.
    assert out[0]["gross_exposure"] == 150.0 and out[0]["n_positions"] == 2
    assert out[0]["var"] == pytest.approx(-100 * np.quantile([0.01, -0.02, 0.03], 0.1))
    assert out[0]["top_contributor"] == "A"
    assert out[0]["missing_symbols"] == ["GONE"]
    assert out[1]["missing_symbols"] == ["ALSO", "GONE"]
    assert out[1]["var"] == out[1]["cvar"] == 0.0
    assert out[1]["top_contributor"] is None
    assert out[2]["missing_symbols"] == []


def test_result_is_sorted_by_portfolio_id() -> None:
    returns = pl.DataFrame({"A": [0.01, -0.02, 0.03]})
    ints = [10, -3, 2**40, 7, 0, -(2**40)]
    out = portfolio_risk(positions_frame([(i, "A", 1.0) for i in ints]), returns)
    assert out["portfolio_id"].to_list() == sorted(ints)
    strs = ["b", "B", "a", "é", "", "a0", "Z"]
    out = portfolio_risk(positions_frame([(i, "A", 1.0) for i in strs], pl.String), returns)
    assert out["portfolio_id"].to_list() == sorted(strs)
    # Categorical ids come back as strings, sorted as strings.
    cats = pl.DataFrame(
        {"portfolio_id": ["z", "a", "m"], "symbol": ["A"] * 3, "exposure": [1.0] * 3}
    ).with_columns(pl.col("portfolio_id").cast(pl.Categorical))
    assert portfolio_risk(cats, returns)["portfolio_id"].to_list() == ["a", "m", "z"]


def test_inputs_are_not_modified() -> None:
    positions = positions_frame([(2, "A", 10.0), (1, "B", -5.0), (1, "A", 3.0), (3, None, None)])
    returns = pl.DataFrame({"A": [0.01, -0.02, 0.03], "B": [0.02, -0.01, 0.0]})
    kept_positions, kept_returns = positions.clone(), returns.clone()
    portfolio_risk(positions, returns, missing="zero")
    assert_frame_equal(positions, kept_positions)
    assert_frame_equal(returns, kept_returns)

    pd_positions, pd_returns = positions.to_pandas(), returns.to_pandas()
    pd_kept, pd_returns_kept = pd_positions.copy(deep=True), pd_returns.copy(deep=True)
    portfolio_risk(pd_positions, pd_returns)
    pd.testing.assert_frame_equal(pd_positions, pd_kept)
    pd.testing.assert_frame_equal(pd_returns, pd_returns_kept)

    array = returns.to_numpy()
    array_kept = array.copy()
    portfolio_risk(positions, array, symbols=["A", "B"], method="parametric")
    np.testing.assert_array_equal(array, array_kept)


# ---------------------------------------------------------------------------------------------
# Input containers

CONTAINER_ROWS = [(3, "A", 100.0), (1, "B", -40.0), (3, "B", 25.0), (2, None, None)]
CONTAINER_RETURNS = {"A": [0.01, -0.02, 0.03, -0.01], "B": [0.02, -0.01, 0.0, 0.015]}


class ArrowStreamOnly:
    """Exposes nothing but the Arrow PyCapsule stream interface."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self._table.__arrow_c_stream__(requested_schema)


@pytest.mark.parametrize("kind", ["polars", "lazy", "pandas", "arrow", "dict"])
def test_positions_containers_agree(kind: str) -> None:
    frame = positions_frame(CONTAINER_ROWS)
    returns = pl.DataFrame(CONTAINER_RETURNS)
    want = portfolio_risk(frame, returns, confidence=0.8)
    given = {
        "polars": frame,
        "lazy": frame.lazy(),
        "pandas": frame.to_pandas(),
        "arrow": frame.to_arrow(),
        "dict": {
            "portfolio_id": [r[0] for r in CONTAINER_ROWS],
            "symbol": [r[1] for r in CONTAINER_ROWS],
            "exposure": [r[2] for r in CONTAINER_ROWS],
        },
    }[kind]
    assert_frame_equal(portfolio_risk(given, returns, confidence=0.8), want)


def test_positions_with_only_arrow_c_stream() -> None:
    frame = positions_frame(CONTAINER_ROWS)
    returns = pl.DataFrame(CONTAINER_RETURNS)
    want = portfolio_risk(frame, returns, confidence=0.8)
    assert_frame_equal(
        portfolio_risk(ArrowStreamOnly(frame.to_arrow()), returns, confidence=0.8), want
    )


def test_returns_with_only_arrow_c_stream() -> None:
    frame = positions_frame(CONTAINER_ROWS)
    returns = pl.DataFrame(CONTAINER_RETURNS)
    want = portfolio_risk(frame, returns, confidence=0.8)
    assert_frame_equal(
        portfolio_risk(frame, ArrowStreamOnly(returns.to_arrow()), confidence=0.8), want
    )


@pytest.mark.parametrize("kind", ["polars_date", "pandas", "pandas_index", "array", "arrow"])
def test_returns_containers_agree(kind: str) -> None:
    positions = positions_frame(CONTAINER_ROWS)
    returns = pl.DataFrame(CONTAINER_RETURNS)
    want = portfolio_risk(positions, returns, confidence=0.8, method="parametric")
    dates = pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 1, 4), eager=True)
    kwargs: dict[str, Any] = {}
    if kind == "polars_date":  # date and datetime columns are skipped, wherever they are
        given: Any = returns.with_columns(day=dates, stamp=dates.cast(pl.Datetime("us"))).select(
            "day", "A", "stamp", "B"
        )
    elif kind == "pandas":
        given = returns.to_pandas()
    elif kind == "pandas_index":
        given = returns.to_pandas().set_index(dates.to_pandas())
    elif kind == "arrow":
        given = returns.to_arrow()
    else:
        given, kwargs = returns.to_numpy(), {"symbols": ["A", "B"]}
    assert_frame_equal(
        portfolio_risk(positions, given, confidence=0.8, method="parametric", **kwargs), want
    )


def test_quantity_with_prices_is_exposure() -> None:
    returns = pl.DataFrame(CONTAINER_RETURNS)
    quantities = pl.DataFrame(
        {
            "portfolio_id": [1, 1, 2, 3],
            "symbol": ["A", "B", "A", None],
            "quantity": [10.0, -3.0, 2.5, None],
        }
    )
    prices = {"A": 101.25, "B": 40.5}
    exposures = positions_frame(
        [(1, "A", 10.0 * 101.25), (1, "B", -3.0 * 40.5), (2, "A", 2.5 * 101.25), (3, None, None)]
    )
    want = portfolio_risk(exposures, returns, confidence=0.8)
    assert_frame_equal(portfolio_risk(quantities, returns, confidence=0.8, prices=prices), want)
    table = pl.DataFrame({"symbol": list(prices), "price": list(prices.values())})
    assert_frame_equal(portfolio_risk(quantities, returns, confidence=0.8, prices=table), want)
    assert_frame_equal(
        portfolio_risk(quantities, returns, confidence=0.8, prices=table.to_pandas()), want
    )
    # Integer quantities are fine too.
    ints = quantities.with_columns(pl.Series("quantity", [10, -3, 2, None]))
    out = portfolio_risk(ints, returns, confidence=0.8, prices=prices)
    assert out["gross_exposure"][1] == 2 * 101.25


# ---------------------------------------------------------------------------------------------
# Bad input

GOOD_RETURNS = pl.DataFrame({"A": [0.01, -0.02, 0.03], "B": [0.02, -0.01, 0.0]})


def good_positions() -> pl.DataFrame:
    return positions_frame([(1, "A", 100.0), (1, "B", -50.0), (2, "A", 10.0)])


def raises(match: str, *args: Any, **kwargs: Any) -> RiskError:
    with pytest.raises(RiskError, match=match) as info:
        portfolio_risk(*args, **kwargs)
    return info.value


def test_risk_error_is_a_value_error() -> None:
    assert issubclass(RiskError, ValueError)
    assert issubclass(rg.ConfigError, RiskError)
    with pytest.raises(ValueError):
        portfolio_risk(good_positions(), GOOD_RETURNS, confidence=2.0)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, None])
def test_bad_exposure_names_the_row(bad: float | None) -> None:
    positions = positions_frame([(1, "A", 100.0), (1, "B", 1.0), (2, "B", bad)])
    raises(r"exposure.*row 2 \(portfolio_id=2, symbol='B'\)", positions, GOOD_RETURNS)
    # Through pandas, where a null is a NaN.
    raises(r"exposure.*row 2", positions.to_pandas(), GOOD_RETURNS)


def test_bad_quantity_names_the_row() -> None:
    positions = pl.DataFrame(
        {"portfolio_id": [1, 4], "symbol": ["A", "B"], "quantity": [1.0, math.nan]}
    )
    raises(r"quantity.*row 1 \(portfolio_id=4", positions, GOOD_RETURNS, prices={"A": 1, "B": 2})


def test_row_without_symbol_cannot_carry_exposure() -> None:
    positions = positions_frame([(1, "A", 100.0), (2, None, 5.0)])
    raises("row 1", positions, GOOD_RETURNS)


def test_null_portfolio_id() -> None:
    positions = positions_frame([(1, "A", 100.0), (None, "B", 5.0)])
    raises(r"portfolio_id is null.*row 1", positions, GOOD_RETURNS)
    raises("portfolio_id is null", positions.cast({"portfolio_id": pl.String}), GOOD_RETURNS)


def test_missing_symbol_is_an_error_listing_it() -> None:
    positions = positions_frame([(1, "A", 100.0), (2, "QQQ", 5.0), (3, "IWM", 1.0)])
    err = raises("not in returns", positions, GOOD_RETURNS)
    assert "IWM, QQQ" in str(err)
    assert 'missing="zero"' in str(err)


@pytest.mark.parametrize(
    ("column", "values", "match"),
    [
        ("symbol", [1, 2, 3], "symbol must be a string"),
        ("exposure", ["1", "2", "3"], "exposure must be numeric"),
        ("exposure", [True, False, True], "exposure must be numeric"),
        ("portfolio_id", [1.0, 2.0, 3.0], "portfolio_id must be integer or string"),
        ("portfolio_id", [True, False, True], "portfolio_id must be integer or string"),
    ],
)
def test_wrong_dtypes(column: str, values: list[Any], match: str) -> None:
    positions = good_positions().with_columns(pl.Series(column, values))
    raises(match, positions, GOOD_RETURNS)


def test_missing_columns_and_value_columns() -> None:
    base = good_positions()
    raises("no 'portfolio_id' column", base.drop("portfolio_id"), GOOD_RETURNS)
    raises("no 'symbol' column", base.drop("symbol"), GOOD_RETURNS)
    raises("exactly one of", base.drop("exposure"), GOOD_RETURNS)
    raises("exactly one of", base.with_columns(quantity=pl.lit(1.0)), GOOD_RETURNS)
    quantities = base.rename({"exposure": "quantity"})
    raises("prices= is needed", quantities, GOOD_RETURNS)
    raises("only used with a quantity", base, GOOD_RETURNS, prices={"A": 1.0, "B": 1.0})


@pytest.mark.parametrize(
    "prices",
    [
        {"A": math.nan, "B": 1.0},
        {"A": 0.0, "B": 1.0},
        {"A": -5.0, "B": 1.0},
        {"A": math.inf, "B": 1.0},
        {"A": None, "B": 1.0},
        {"B": 1.0},
        pl.DataFrame({"symbol": ["A", "B"], "price": [None, 1.0]}, schema_overrides={}),
        pl.DataFrame({"symbol": ["A", "B", "A"], "price": [1.0, 1.0, 2.0]}),
        pl.DataFrame({"symbol": ["A", "B"], "px": [1.0, 1.0]}),
        pl.DataFrame({"symbol": ["A", "B"], "price": ["1", "1"]}),
        [1.0, 2.0],
    ],
)
def test_bad_prices(prices: Any) -> None:
    quantities = good_positions().rename({"exposure": "quantity"})
    raises("price", quantities, GOOD_RETURNS, prices=prices)


@pytest.mark.parametrize(
    ("returns", "kwargs", "match"),
    [
        (GOOD_RETURNS.with_columns(B=pl.Series([0.1, math.nan, 0.0])), {}, "finite.*B"),
        (GOOD_RETURNS.with_columns(B=pl.Series([0.1, math.inf, 0.0])), {}, "finite.*B"),
        (GOOD_RETURNS.with_columns(B=pl.Series([0.1, None, 0.0])), {}, "finite.*B"),
        (GOOD_RETURNS.with_columns(C=pl.lit("x")), {}, "numeric.*C"),
        (GOOD_RETURNS.with_columns(C=pl.lit(True)), {}, "numeric.*C"),
        (pl.DataFrame(), {}, "no symbol columns"),
        (pl.DataFrame({"day": [dt.date(2024, 1, 1)]}), {}, "no symbol columns"),
        (GOOD_RETURNS.head(0), {}, "at least 1 scenario"),
        (GOOD_RETURNS.head(1), {"method": "parametric"}, "at least 2 scenario"),
        (np.zeros((3, 2)), {"symbols": ["A", "A"]}, "duplicate symbols: A"),
        (pd.DataFrame(np.zeros((3, 2)), columns=["A", "A"]), {}, "could not be read.*unique"),
        (np.zeros(3), {"symbols": ["A"]}, "2-D"),
        (np.zeros((3, 2, 1)), {"symbols": ["A", "B"]}, "2-D"),
        (np.zeros((3, 2)), {}, "needs symbols="),
        (np.zeros((3, 2)), {"symbols": ["A"]}, "1 names for 2"),
        (np.zeros((3, 0)), {"symbols": []}, "no symbol columns"),
        (np.array([["a", "b"]] * 3), {"symbols": ["A", "B"]}, "numeric"),
        (np.array([[0.1, np.nan]] * 3), {"symbols": ["A", "B"]}, "finite"),
        (GOOD_RETURNS, {"symbols": ["A", "B"]}, "only for returns given as an array"),
        ([[0.1, 0.2]], {}, "must be a table"),
        ("returns", {}, "must be a table"),
    ],
)
def test_bad_returns(returns: Any, kwargs: dict[str, Any], match: str) -> None:
    raises(match, good_positions(), returns, **kwargs)


def test_one_scenario_is_enough_for_historical() -> None:
    out = portfolio_risk(good_positions(), GOOD_RETURNS.head(1))
    # One scenario: the P&L itself, A 100 * 0.01 + B -50 * 0.02 = 0: VaR 0.
    assert out["var"][0] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("confidence", [0, 1, 0.0, 1.0, math.nan, -0.1, 1.5, "0.9", True, None])
def test_bad_confidence(confidence: Any) -> None:
    raises("confidence", good_positions(), GOOD_RETURNS, confidence=confidence)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "monte_carlo"}, "method"),
        ({"method": None}, "method"),
        ({"interpolation": "nearest"}, "interpolation"),
        ({"missing": "ignore"}, "missing"),
        ({"engine": "spark"}, "engine"),
        ({"engine": None}, "engine"),
        ({"client": object()}, 'only used with engine="dask"'),
        ({"client": "tcp://127.0.0.1:8786"}, 'only used with engine="dask"'),
        ({"partitions": 2}, 'only used with engine="dask"'),
        ({"limits": [1.0]}, "limits must be"),
        ({"limits": {"var": -1.0}}, "batch.var"),
        ({"limits": {"var": 0}}, "batch.var"),
        ({"limits": {"gross_exposure": -5}}, "batch.gross_exposure"),
        ({"limits": {"concentration": 1.5}}, "batch.concentration"),
        ({"limits": {"concentration": 0.0}}, "batch.concentration"),
        ({"limits": {"effective_positions": 0.5}}, "batch.effective_positions"),
        ({"limits": {"cvar": math.nan}}, "batch.cvar"),
        ({"limits": {"vaR": 1.0}}, "vaR"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    raises(match, good_positions(), GOOD_RETURNS, **kwargs)


def test_limits_with_a_non_string_key() -> None:
    raises("limits", good_positions(), GOOD_RETURNS, limits={1: 2.0})


def test_exposures_that_overflow_together() -> None:
    # Each row is finite; their gross exposure is not.
    big = positions_frame([(1, "A", 1.5e308), (1, "B", 1.5e308)])
    raises("overflows float64", big, GOOD_RETURNS)
    raises(
        "overflows float64", positions_frame([(1, "A", 1.5e308), (1, "A", 1.5e308)]), GOOD_RETURNS
    )


@pytest.mark.parametrize("method", ["historical", "parametric"])
def test_a_hedged_book_whose_pnl_overflows(method: str) -> None:
    # Each exposure and return is finite; inf - inf in the scenario P&L or the variance must
    # not read as a riskless book.
    hedged = positions_frame([(1, "A", 1e300), (1, "B", -1e300)])
    huge = np.array([[1e200, 1e200], [-1e200, -1e200], [0.0, 0.0]])
    raises("overflows float64", hedged, huge, symbols=["A", "B"], method=method)


def test_pandas_series_inputs() -> None:
    quantities = pl.DataFrame(
        {"portfolio_id": [1, 1], "symbol": ["A", "B"], "quantity": [2.0, 3.0]}
    )
    want = portfolio_risk(quantities, GOOD_RETURNS, prices={"A": 10.0, "B": 5.0})
    got = portfolio_risk(quantities, GOOD_RETURNS, prices=pd.Series({"A": 10.0, "B": 5.0}))
    assert_frame_equal(got, want)
    raises("must be a table", pd.Series([1.0]), GOOD_RETURNS)
    raises("must be a table", good_positions(), pd.Series([0.01, 0.02]))
    table = pl.DataFrame({"symbol": [[1], [2]], "price": [1.0, 2.0]})
    raises("symbol must be a string column", quantities, GOOD_RETURNS, prices=table)


@pytest.mark.parametrize("symbols", ["AB", 5, None])
def test_array_returns_need_a_sequence_of_symbols(symbols: Any) -> None:
    raises("symbols", good_positions(), np.zeros((3, 2)), symbols=symbols)


def test_ragged_array_returns() -> None:
    raises("2-D array", good_positions(), [[0.1, 0.2], [0.3]], symbols=["A", "B"])


def test_numpy_scalar_confidence() -> None:
    want = portfolio_risk(good_positions(), GOOD_RETURNS, confidence=0.75)
    got = portfolio_risk(good_positions(), GOOD_RETURNS, confidence=np.float32(0.75))
    assert_frame_equal(got, want)


def test_untyped_all_null_columns_name_empty_portfolios() -> None:
    out = portfolio_risk(
        {"portfolio_id": [3, 1], "symbol": [None, None], "exposure": [None, None]}, GOOD_RETURNS
    )
    assert out["portfolio_id"].to_list() == [1, 3]
    assert out["n_positions"].to_list() == [0, 0]
    assert out["var"].to_list() == [0.0, 0.0]


def test_prices_must_be_numbers_and_a_stray_confidence_is_explained() -> None:
    quantities = pl.DataFrame({"portfolio_id": [1], "symbol": ["A"], "quantity": [2.0]})
    raises("prices must be numbers", quantities, GOOD_RETURNS, prices={"A": "2"})
    raises("confidence=0.95", good_positions(), GOOD_RETURNS, 0.95)


def test_huge_unsigned_portfolio_id() -> None:
    # Either handled or refused with a RiskError (not polars' InvalidOperationError).
    positions = pl.DataFrame(
        {
            "portfolio_id": pl.Series([2**63 + 5, 1], dtype=pl.UInt64),
            "symbol": ["A", "B"],
            "exposure": [1.0, 2.0],
        }
    )
    try:
        out = portfolio_risk(positions, GOOD_RETURNS)
    except RiskError:
        return
    assert out["portfolio_id"].to_list() == [1, 2**63 + 5]


def test_limits_as_dict_and_as_batch_limits_agree() -> None:
    values = {"var": 0.5, "gross_exposure": 100.0, "effective_positions": 1.5}
    as_dict = portfolio_risk(good_positions(), GOOD_RETURNS, confidence=0.9, limits=values)
    as_model = portfolio_risk(
        good_positions(), GOOD_RETURNS, confidence=0.9, limits=BatchLimits(**values)
    )
    assert_frame_equal(as_dict, as_model)
    # Portfolio 1: P&L 100 a - 50 b = [0, -1.5, 3]; at 90% k = 0, gamma = 0.2: VaR 1.2 > 0.5;
    # gross 150 > 100; effective 1 / ((2/3)² + (1/3)²) = 1.8 >= 1.5.
    # Portfolio 2: A 10, P&L [0.1, -0.2, 0.3]: VaR 0.14; gross 10; one position, effective 1.
    assert as_dict["var"].to_list() == pytest.approx([1.2, 0.14])
    assert as_dict["breaches"].to_list() == [["gross_exposure", "var"], ["effective_positions"]]
    # "off" switches a limit off; limits=None and an all-off BatchLimits breach nothing.
    off = portfolio_risk(good_positions(), GOOD_RETURNS, limits={"var": "off"})
    assert off["breaches"].to_list() == [[], []]
    assert_frame_equal(off, portfolio_risk(good_positions(), GOOD_RETURNS, limits=BatchLimits()))


def test_effective_positions_limit_skips_flat_portfolios() -> None:
    positions = positions_frame([(1, "A", 100.0), (2, None, None), (3, "A", 5.0), (3, "A", -5.0)])
    out = portfolio_risk(positions, GOOD_RETURNS, limits={"effective_positions": 2})
    assert out["breaches"].to_list() == [["effective_positions"], [], []]


# ---------------------------------------------------------------------------------------------
# Config


def test_config_batch_limits(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray riskguard.toml
    for name in list(__import__("os").environ):
        if name.upper().startswith("RG_"):
            monkeypatch.delenv(name)
    default = rg.Config().batch
    assert isinstance(default, BatchLimits)
    assert all(value is None for value in default.model_dump().values())
    assert set(default.model_dump()) == set(ref.LIMITS)

    config = rg.Config(batch={"var": 1000})
    assert config.batch == BatchLimits(var=1000.0)
    positions = positions_frame([(1, "A", 1e6), (2, "A", 1e3)])
    out = portfolio_risk(positions, GOOD_RETURNS, confidence=0.9, limits=config.batch)
    # VaR 1e6 * 0.014 = 14000 > 1000 breaches; 1e3 * 0.014 = 14 does not.
    assert out["breaches"].to_list() == [["var"], []]
    assert_frame_equal(
        out, portfolio_risk(positions, GOOD_RETURNS, confidence=0.9, limits={"var": 1000})
    )


# ---------------------------------------------------------------------------------------------
# Real data: 20 S&P 500 stocks (skfolio)


@pytest.fixture(scope="module")
def sp500() -> pd.DataFrame:
    datasets = pytest.importorskip("skfolio.datasets")
    prices = datasets.load_sp500_dataset()
    return prices.pct_change().dropna()


def random_book(symbols: list[str], n: int, seed: int, long_only: bool = False) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for pid in range(n):
        k = int(rng.integers(1, len(symbols) + 1))
        for symbol in rng.choice(symbols, size=k, replace=False):
            size = float(np.round(np.exp(rng.normal(np.log(2e5), 1.0)), 2))
            sign = 1.0 if long_only or rng.random() < 0.7 else -1.0
            rows.append((1000 + pid, str(symbol), sign * size))
    order = rng.permutation(len(rows))
    return positions_frame([rows[i] for i in order])


@pytest.mark.parametrize(
    ("method", "interpolation", "confidence"),
    [
        ("historical", "linear", 0.99),
        ("historical", "lower", 0.995),
        ("historical", "linear", 0.95),
        ("parametric", "linear", 0.99),
    ],
)
def test_sp500_books_match_reference(
    sp500: pd.DataFrame, method: str, interpolation: str, confidence: float
) -> None:
    symbols = [str(c) for c in sp500.columns]
    positions = random_book(symbols, 300, seed=11)
    limits = {"var": 2e4, "concentration": 0.5, "net_exposure": 1e6}
    result = portfolio_risk(
        positions,
        sp500,
        confidence=confidence,
        method=method,
        limits=limits,
        interpolation=interpolation,
    )
    want = ref.portfolio_risk(
        reference_positions(positions),
        sp500,
        confidence=confidence,
        method=method,
        limits=limits,
        interpolation=interpolation,
        tie_rtol=1e-9,
    )
    assert_matches(result, want, method=method, confidence=confidence, limits=limits, exact=False)
    # Realistic sizes: some portfolios breach the VaR budget, some do not.
    flags = ["var" in b for b in result["breaches"].to_list()]
    assert any(flags) and not all(flags)


@pytest.mark.parametrize("confidence", [0.95, 0.99])
@pytest.mark.parametrize("interpolation", ["linear", "lower"])
def test_sp500_single_stock_is_scaled_var_historical(
    sp500: pd.DataFrame, confidence: float, interpolation: str
) -> None:
    symbols = [str(c) for c in sp500.columns]
    exposure = 250_000.0
    positions = positions_frame([(i, s, exposure) for i, s in enumerate(symbols)])
    out = portfolio_risk(positions, sp500, confidence=confidence, interpolation=interpolation)
    for i, symbol in enumerate(symbols):
        r = sp500[symbol].to_numpy()
        var = rg.var_historical(r, confidence, interpolation=interpolation)
        cvar = rg.cvar_historical(r, confidence, interpolation=interpolation)
        assert out["var"][i] == pytest.approx(exposure * var, rel=1e-12), symbol
        assert out["cvar"][i] == pytest.approx(exposure * cvar, rel=1e-12), symbol
        assert out["top_contributor"][i] == symbol


def test_sp500_parametric_var_is_subadditive(sp500: pd.DataFrame) -> None:
    symbols = [str(c) for c in sp500.columns]
    book = random_book(symbols, 100, seed=5, long_only=True)
    whole = portfolio_risk(book, sp500, confidence=0.99, method="parametric")
    # Each position alone, as a portfolio of its own ("<id>/<symbol>").
    alone = book.select(
        portfolio_id=pl.format("{}/{}", "portfolio_id", "symbol"),
        symbol="symbol",
        exposure="exposure",
    )
    parts = portfolio_risk(alone, sp500, confidence=0.99, method="parametric").with_columns(
        pid=pl.col("portfolio_id").str.split("/").list.first().cast(pl.Int64)
    )
    sums = parts.group_by("pid").agg(pl.col("var").sum()).sort("pid")
    assert sums["pid"].to_list() == whole["portfolio_id"].to_list()
    for var, bound in zip(whole["var"], sums["var"], strict=True):
        assert var <= bound * (1 + 1e-12)
    # Diversification shows: most multi-stock portfolios are strictly below the sum.
    multi = whole["n_positions"] > 1
    assert (whole["var"].filter(multi) < sums["var"].filter(multi) * 0.99).mean() > 0.9


# ---------------------------------------------------------------------------------------------
# The Dask engine


@pytest.fixture(scope="module")
def dask_client() -> Any:
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def dask_cases() -> list[dict[str, Any]]:
    """Random books: many portfolios with duplicates, empty portfolios, absent symbols."""
    rng = np.random.default_rng(3)
    symbols = [f"S{j}" for j in range(8)]
    returns = pl.DataFrame(rng.normal(0, 0.02, (250, 8)), schema=symbols, orient="row")
    cases = []
    for n, (ids, missing, method, limits) in enumerate(
        [
            ("int", "error", "historical", None),
            ("str", "zero", "historical", {"var": 3e3, "concentration": 0.6}),
            ("int", "zero", "parametric", {"cvar": 5e3, "effective_positions": 2.5}),
            ("str", "error", "parametric", None),
        ]
    ):
        pool = symbols + (["GONE1", "GONE2"] if missing == "zero" else [])
        rows = []
        for p in range(60):
            pid = int(rng.integers(-(10**9), 10**9)) if ids == "int" else f"acct-{p:03d}"
            if rng.random() < 0.1:
                rows.append((pid, None, None))
                continue
            for _ in range(int(rng.integers(1, 7))):
                rows.append((pid, str(rng.choice(pool)), float(np.round(rng.normal(0, 1e5), 2))))
        order = rng.permutation(len(rows))
        cases.append(
            {
                "positions": positions_frame(
                    [rows[i] for i in order], pl.Int64 if ids == "int" else pl.String
                ),
                "returns": returns,
                "confidence": float(rng.uniform(0.9, 0.995)),
                "method": method,
                "missing": missing,
                "limits": limits,
                "interpolation": ["linear", "lower"][n % 2],
            }
        )
    return cases


def run(case: dict[str, Any], **kwargs: Any) -> pl.DataFrame:
    return portfolio_risk(
        case["positions"],
        case["returns"],
        confidence=case["confidence"],
        method=case["method"],
        limits=case["limits"],
        missing=case["missing"],
        interpolation=case["interpolation"],
        **kwargs,
    )


def test_dask_equals_local(dask_client: Any) -> None:
    for case in dask_cases():
        local = run(case)
        on_dask = run(case, engine="dask", client=dask_client)
        assert on_dask.equals(local), case["method"]
        assert on_dask.schema == local.schema


def test_dask_empty_positions(dask_client: Any) -> None:
    empty = positions_frame([], pl.String)
    returns = pl.DataFrame({"A": [0.01, -0.02, 0.03]})
    out = portfolio_risk(empty, returns, engine="dask", client=dask_client)
    assert out.equals(portfolio_risk(empty, returns))


def test_dask_partitions_and_address(dask_client: Any) -> None:
    case = dask_cases()[1]
    local = run(case)
    one = run(case, engine="dask", client=dask_client, partitions=1)
    seven = run(case, engine="dask", client=dask_client, partitions=7)
    assert one.equals(seven) and one.equals(local)
    address = dask_client.scheduler.address
    assert run(case, engine="dask", client=address, partitions=3).equals(local)
    # A client passed in is the caller's: still usable after the call.
    assert dask_client.submit(sum, [1, 2]).result() == 3


@pytest.mark.parametrize("partitions", [0, -1, 2.5, True, "2"])
def test_dask_bad_partitions(dask_client: Any, partitions: Any) -> None:
    case = dask_cases()[0]
    with pytest.raises(RiskError, match="partitions"):
        run(case, engine="dask", client=dask_client, partitions=partitions)


@pytest.mark.parametrize("client", [object(), 42, ["tcp://127.0.0.1:1"]])
def test_dask_bad_client(client: Any) -> None:
    pytest.importorskip("distributed")
    with pytest.raises(RiskError, match="client"):
        portfolio_risk(good_positions(), GOOD_RETURNS, engine="dask", client=client)


@pytest.mark.parametrize("client", [42, "not a url"])
def test_dask_bad_client_even_for_an_empty_book(client: Any) -> None:
    pytest.importorskip("distributed")
    empty = positions_frame([], pl.String)
    with pytest.raises(RiskError, match="client"):
        portfolio_risk(
            empty if client == 42 else good_positions(), GOOD_RETURNS, engine="dask", client=client
        )


def test_dask_broadcasts_the_returns_once(
    dask_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scattered scenarios are released when the call returns, so they are observed as
    # they are scattered: a spy on the client's scatter asks the scheduler who holds them.
    case = dask_cases()[0]
    scattered = []
    original = dask_client.scatter

    def spy(data: Any, *args: Any, **kwargs: Any) -> Any:
        futures = original(data, *args, **kwargs)
        if kwargs.get("broadcast"):
            scattered.append((data, dask_client.who_has(futures)))
        return futures

    monkeypatch.setattr(dask_client, "scatter", spy)
    out = run(case, engine="dask", client=dask_client, partitions=5)
    assert out.equals(run(case))
    assert len(scattered) == 1, "the returns are broadcast once per call"
    data, who_has = scattered[0]
    np.testing.assert_array_equal(data.returns, case["returns"].to_numpy())
    workers = set(dask_client.scheduler_info()["workers"])
    assert len(workers) == 2
    (holders,) = who_has.values()
    assert set(holders) == workers


def test_dask_default_local_cluster() -> None:
    pytest.importorskip("distributed")
    case = dask_cases()[3]
    case["positions"] = case["positions"].head(40)
    assert run(case, engine="dask").equals(run(case))
