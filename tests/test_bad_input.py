"""Bad input for every public function of riskguard (DESIGN.md, principles 3 and 5).

Every bad input raises :class:`riskguard.RiskError`, which is a ``ValueError``, and its message
names the argument and the value. NaN in returns is a missing observation (omitted, never an
error); NaN anywhere else (weights, exposures, shocks, cov) is an error. No input, however bad,
may abort the interpreter.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import riskguard as rg

try:
    from .bad_input_harness import assert_survives
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from bad_input_harness import assert_survives

NAN, INF = float("nan"), float("inf")
T, N = 60, 3
R2 = np.random.default_rng(7).normal(0.0005, 0.01, (T, N))
R1 = R2[:, 0].copy()
W = np.array([0.5, 0.3, 0.2])
C = np.cov(R2.T)
E = {"AAA": 100.0, "BBB": -50.0}
S_OK = {"crash": {"AAA": -0.2, "BBB": -0.1}}


def expect_risk_error(call: Callable[[], Any], needles: list[str]) -> rg.RiskError:
    """``call()`` raises RiskError (a ValueError) whose message contains every needle."""
    with pytest.raises(rg.RiskError) as info:
        call()
    assert isinstance(info.value, ValueError)
    message = str(info.value).lower()
    missing = [n for n in needles if n.lower() not in message]
    assert not missing, f"message {str(info.value)!r} does not mention {missing}"
    return info.value


def _shape(x: Any) -> tuple[int, ...]:
    try:
        return np.shape(x)
    except ValueError:  # ragged
        return (T,)


def _ncols(x: Any) -> int:
    shape = _shape(x)
    return shape[1] if len(shape) == 2 and shape[1] > 0 else 1


def _partner(x: Any) -> np.ndarray:
    """A clean series as long as ``x``, so that only ``x`` itself is wrong."""
    shape = _shape(x)
    return np.linspace(-0.01, 0.01, shape[0] if len(shape) >= 1 and shape[0] > 0 else T)


# Every function that takes a returns matrix, called with that matrix and valid other arguments.
RETURNS_TAKERS: dict[str, Callable[[Any], Any]] = {
    "var_historical": lambda x: rg.var_historical(x),
    "var_historical[overlapping]": lambda x: rg.var_historical(x, 0.95, 2, scaling="overlapping"),
    "cvar_historical": lambda x: rg.cvar_historical(x),
    "tail_risk": lambda x: rg.tail_risk(x),
    "tail_risk[overlapping]": lambda x: rg.tail_risk(x, 0.95, 2, scaling="overlapping"),
    "var_parametric": lambda x: rg.var_parametric(x),
    "var_parametric[cornish_fisher]": lambda x: rg.var_parametric(x, method="cornish_fisher"),
    "cvar_parametric": lambda x: rg.cvar_parametric(x),
    "var_monte_carlo": lambda x: rg.var_monte_carlo(x, np.ones(_ncols(x)), n_paths=64),
    "var_monte_carlo[bootstrap]": lambda x: rg.var_monte_carlo(
        x, np.ones(_ncols(x)), n_paths=64, method="bootstrap"
    ),
    "max_drawdown": rg.max_drawdown,
    "drawdown_details": rg.drawdown_details,
    "sharpe_ratio": rg.sharpe_ratio,
    "sortino_ratio": rg.sortino_ratio,
    "calmar_ratio": rg.calmar_ratio,
    "annual_volatility": rg.annual_volatility,
    "cagr": rg.cagr,
    "information_ratio": lambda x: rg.information_ratio(x, _partner(x)),
    "covariance": rg.covariance,
    "covariance[ewma]": lambda x: rg.covariance(x, method="ewma", halflife=10),
    "correlation": rg.correlation,
    "correlation[ewma]": lambda x: rg.correlation(x, method="ewma"),
    "worst_periods": lambda x: rg.worst_periods(x, 1),
    "rolling_var": lambda x: rg.rolling_var(x, 1),
    "rolling_cvar": lambda x: rg.rolling_cvar(x, 1),
    "rolling_correlation": lambda x: rg.rolling_correlation(x, 1),
}


def _with(value: float, at: tuple[int, ...], base: np.ndarray) -> np.ndarray:
    out = base.copy()
    out[at] = value
    return out


# id -> (bad returns, needles besides the argument's name, accepted by single-series functions)
BAD_ARRAYS: dict[str, tuple[Any, list[str], bool]] = {
    "inf": (_with(INF, (3,), R1), ["inf", "row 3"], True),
    "-inf in 2-D": (_with(-INF, (4, 1), R2), ["-inf", "row 4", "column 1"], False),
    "empty": (np.array([]), ["empty", "(0,)"], True),
    "empty 2-D": (np.empty((0, 3)), ["empty", "(0, 3)"], True),
    "no columns": (np.empty((5, 0)), ["empty", "(5, 0)"], True),
    "3-D": (np.zeros((4, 3, 2)), ["3-D", "(4, 3, 2)"], True),
    "scalar": (0.01, ["0-D", "()"], True),
    "strings": (np.array(["0.1", "0.2"]), ["dtype <U3"], True),
    "list of strings": (["a", "b"], ["dtype <U1"], True),
    "object": (np.array([0.1, 0.2], dtype=object), ["dtype object"], True),
    "None": (None, ["dtype object"], True),
    "bool": (np.array([True, False, True]), ["dtype bool"], True),
    "datetime64": (np.arange(3).astype("datetime64[D]"), ["datetime64[D]"], True),
    "timedelta64": (np.arange(3).astype("timedelta64[s]"), ["timedelta64[s]"], True),
    "complex": (np.array([0.01 + 0.01j, -0.02 + 0j]), ["complex128"], True),
    "ragged": ([[0.1, 0.2], [0.3]], ["array-like"], True),
    "pandas complex": (pd.Series([0.01 + 0.02j, -0.02 + 0j]), ["complex"], True),
    "pandas bool": (pd.Series([True, False]), ["bool"], True),
    "pandas object": (pd.Series([0.1, "x"], dtype=object), ["object"], True),
    "pandas datetime": (pd.Series(pd.date_range("2022-01-01", periods=3)), ["datetime64"], True),
    "pandas category": (pd.Series(pd.Categorical(["a", "b"])), ["category"], True),
    "pandas string column": (pd.DataFrame({"a": [0.1, 0.2], "b": ["x", "y"]}), ["dtype"], False),
    "pandas inf": (pd.Series([0.1, -INF, 0.2]), ["-inf", "row 1"], True),
    "pandas empty": (pd.Series([], dtype=float), ["empty"], True),
    "polars string": (pl.DataFrame({"a": [0.1, 0.2], "b": ["x", "y"]}), ["String"], False),
    "polars bool": (pl.Series([True, False]), ["Boolean"], True),
    "polars inf": (pl.Series([0.1, INF]), ["inf", "row 1"], True),
}

SINGLE_SERIES = {"worst_periods"}


def _returns_cases() -> list:
    cases = []
    for fn, call in RETURNS_TAKERS.items():
        for bad_id, (value, needles, one_series_ok) in BAD_ARRAYS.items():
            if fn in SINGLE_SERIES and not one_series_ok:
                continue
            cases.append(pytest.param(call, value, needles, id=f"{fn}-{bad_id}"))
    return cases


@pytest.mark.parametrize(("call", "value", "needles"), _returns_cases())
def test_bad_returns(call, value, needles) -> None:
    expect_risk_error(lambda: call(value), ["returns", *needles])


@pytest.mark.parametrize(
    ("value", "needles"),
    [pytest.param(v, n, id=k) for k, (v, n, ok) in BAD_ARRAYS.items() if ok],
)
@pytest.mark.parametrize("annualize", [False, True])
def test_bad_benchmark(value, needles, annualize: bool) -> None:
    expect_risk_error(
        lambda: rg.information_ratio(_partner(value), value, annualize=annualize),
        ["benchmark", *needles],
    )


# --- scalar arguments -----------------------------------------------------------------------------

CONFIDENCE_TAKERS: dict[str, Callable[[Any], Any]] = {
    "var_historical": lambda c: rg.var_historical(R2, confidence=c),
    "cvar_historical": lambda c: rg.cvar_historical(R2, confidence=c),
    "tail_risk": lambda c: rg.tail_risk(R2, confidence=c),
    "var_parametric": lambda c: rg.var_parametric(R2, confidence=c),
    "cvar_parametric": lambda c: rg.cvar_parametric(R2, confidence=c),
    "var_monte_carlo": lambda c: rg.var_monte_carlo(R2, W, confidence=c, n_paths=64),
    "risk_contributions": lambda c: rg.risk_contributions(W, C, confidence=c),
    "rolling_var": lambda c: rg.rolling_var(R2, 10, confidence=c),
    "rolling_cvar": lambda c: rg.rolling_cvar(R2, 10, confidence=c),
}
BAD_CONFIDENCE = [
    (0, "got 0"),
    (0.0, "got 0"),
    (1, "got 1"),
    (1.0, "got 1"),
    (NAN, "nan"),
    (INF, "inf"),
    (-0.05, "-0.05"),
    (1.5, "1.5"),
    (95, "95"),
    ("abc", "'abc'"),
    (None, "None"),
    (np.array([0.9, 0.95]), "0.95"),
    (1 + 0j, "1+0j"),
]

HORIZON_TAKERS: dict[str, Callable[[Any], Any]] = {
    "var_historical": lambda h: rg.var_historical(R2, horizon=h),
    "var_historical[overlapping]": lambda h: rg.var_historical(
        R2, horizon=h, scaling="overlapping"
    ),
    "cvar_historical": lambda h: rg.cvar_historical(R2, horizon=h),
    "tail_risk": lambda h: rg.tail_risk(R2, horizon=h),
    "tail_risk[overlapping]": lambda h: rg.tail_risk(R2, horizon=h, scaling="overlapping"),
    "var_parametric": lambda h: rg.var_parametric(R2, horizon=h),
    "cvar_parametric": lambda h: rg.cvar_parametric(R2, horizon=h),
    "var_monte_carlo": lambda h: rg.var_monte_carlo(R2, W, horizon=h, n_paths=64),
    "worst_periods": lambda h: rg.worst_periods(R1, horizon=h),
}
BAD_INTEGER = [(0, "got 0"), (-1, "-1"), (1.5, "1.5"), (NAN, "nan"), ("2", "'2'"), (None, "None")]

PPY_TAKERS: dict[str, Callable[[Any], Any]] = {
    "sharpe_ratio": lambda p: rg.sharpe_ratio(R2, periods_per_year=p),
    "sortino_ratio": lambda p: rg.sortino_ratio(R2, periods_per_year=p),
    "calmar_ratio": lambda p: rg.calmar_ratio(R2, periods_per_year=p),
    "annual_volatility": lambda p: rg.annual_volatility(R2, periods_per_year=p),
    "cagr": lambda p: rg.cagr(R2, periods_per_year=p),
    "information_ratio": lambda p: rg.information_ratio(R2, R1, periods_per_year=p),
    "information_ratio[annualize]": lambda p: rg.information_ratio(
        R2, R1, annualize=True, periods_per_year=p
    ),
}
BAD_POSITIVE_REAL = [
    (0, "got 0"),
    (-252, "-252"),
    (NAN, "nan"),
    (INF, "inf"),
    ("abc", "'abc'"),
    (None, "None"),
]

WINDOW_TAKERS: dict[str, Callable[..., Any]] = {
    "rolling_var": lambda w, **k: rg.rolling_var(R2, w, **k),
    "rolling_cvar": lambda w, **k: rg.rolling_cvar(R2, w, **k),
    "rolling_correlation": lambda w, **k: rg.rolling_correlation(R2, w, **k),
}

HALFLIFE_TAKERS: dict[str, Callable[[Any], Any]] = {
    "covariance": lambda h: rg.covariance(R2, method="ewma", halflife=h),
    "correlation": lambda h: rg.correlation(R2, method="ewma", halflife=h),
}

STRING_OPTIONS: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("var_historical", "interpolation", lambda s: rg.var_historical(R2, interpolation=s)),
    ("cvar_historical", "interpolation", lambda s: rg.cvar_historical(R2, interpolation=s)),
    ("tail_risk", "interpolation", lambda s: rg.tail_risk(R2, interpolation=s)),
    ("rolling_var", "interpolation", lambda s: rg.rolling_var(R2, 10, interpolation=s)),
    ("rolling_cvar", "interpolation", lambda s: rg.rolling_cvar(R2, 10, interpolation=s)),
    ("var_historical", "scaling", lambda s: rg.var_historical(R2, horizon=2, scaling=s)),
    ("cvar_historical", "scaling", lambda s: rg.cvar_historical(R2, horizon=2, scaling=s)),
    ("tail_risk", "scaling", lambda s: rg.tail_risk(R2, horizon=2, scaling=s)),
    ("var_parametric", "method", lambda s: rg.var_parametric(R2, method=s)),
    ("var_monte_carlo", "method", lambda s: rg.var_monte_carlo(R2, W, n_paths=64, method=s)),
    ("covariance", "method", lambda s: rg.covariance(R2, method=s)),
    ("correlation", "method", lambda s: rg.correlation(R2, method=s)),
    ("stress_test", "missing", lambda s: rg.stress_test(E, S_OK, missing=s)),
]


def _scalar_cases() -> list:
    cases = []

    def add(fn: str, case_id: str, call: Callable[[], Any], needles: list[str]) -> None:
        cases.append(pytest.param(call, needles, id=f"{fn}-{case_id}"))

    for fn, call in CONFIDENCE_TAKERS.items():
        for value, shown in BAD_CONFIDENCE:
            add(fn, f"confidence={value!r}", lambda c=call, v=value: c(v), ["confidence", shown])
    for fn, call in HORIZON_TAKERS.items():
        for value, shown in BAD_INTEGER:
            add(fn, f"horizon={value!r}", lambda c=call, v=value: c(v), ["horizon", shown])
    for fn in ("var_historical", "cvar_historical", "tail_risk"):
        f = getattr(rg, fn)
        add(
            fn,
            "overlapping horizon longer than the series",
            lambda f=f: f(R2, horizon=T + 1, scaling="overlapping"),
            ["horizon", str(T + 1)],
        )
    add(
        "worst_periods",
        "horizon longer than the series",
        lambda: rg.worst_periods(R1, T + 1),
        ["horizon", str(T + 1)],
    )
    for value, shown in BAD_INTEGER:
        add(
            "worst_periods",
            f"n={value!r}",
            lambda v=value: rg.worst_periods(R1, 2, n=v),
            ["n must", shown],
        )
    for fn, call in PPY_TAKERS.items():
        for value, shown in BAD_POSITIVE_REAL:
            add(
                fn,
                f"periods_per_year={value!r}",
                lambda c=call, v=value: c(v),
                ["periods_per_year", shown],
            )
    for arg, f in (("risk_free", rg.sharpe_ratio), ("required_return", rg.sortino_ratio)):
        for value, shown in [(NAN, "nan"), (INF, "inf"), (-INF, "-inf"), ("x", "'x'")]:
            add(
                f.__name__,
                f"{arg}={value!r}",
                lambda f=f, a=arg, v=value: f(R2, **{a: v}),
                [arg, shown],
            )
    for fn, call in WINDOW_TAKERS.items():
        for value, shown in [*BAD_INTEGER, (T + 1, str(T + 1)), (10**6, "1000000")]:
            add(fn, f"window={value!r}", lambda c=call, v=value: c(v), ["window", shown])
        for value, shown in [(0, "got 0"), (-1, "-1"), (11, "11"), (1.5, "1.5"), ("5", "'5'")]:
            add(
                fn,
                f"min_periods={value!r}",
                lambda c=call, v=value: c(10, min_periods=v),
                ["min_periods", shown],
            )
    for value, shown in BAD_INTEGER:
        add(
            "var_monte_carlo",
            f"n_paths={value!r}",
            lambda v=value: rg.var_monte_carlo(R2, W, n_paths=v),
            ["n_paths", shown],
        )
    for value, shown in [(-1, "-1"), (2**64, str(2**64)), (1.5, "1.5"), ("7", "'7'")]:
        add(
            "var_monte_carlo",
            f"seed={value!r}",
            lambda v=value: rg.var_monte_carlo(R2, W, seed=v, n_paths=64),
            ["seed", shown],
        )
    for fn, call in HALFLIFE_TAKERS.items():
        for value, shown in [(0, "got 0"), (-1, "-1"), (NAN, "nan"), (INF, "inf"), ("x", "'x'")]:
            add(fn, f"halflife={value!r}", lambda c=call, v=value: c(v), ["halflife", shown])
        f = getattr(rg, fn)
        add(fn, "halflife with a sample method", lambda f=f: f(R2, halflife=10), ["halflife", "10"])
    for fn, arg, call in STRING_OPTIONS:
        for value in ["foo", "", " linear", "SQRT", "Normal", "nearest"]:
            add(fn, f"{arg}={value!r}", lambda c=call, v=value: c(v), [arg, repr(value)[1:-1]])
        for value in [None, 1]:
            add(fn, f"{arg}={value!r}", lambda c=call, v=value: c(v), [arg, repr(value)])
    return cases


@pytest.mark.parametrize(("call", "needles"), _scalar_cases())
def test_bad_scalar_argument(call, needles) -> None:
    expect_risk_error(call, needles)


HUGE = 2**64


@pytest.mark.parametrize(
    ("call", "needles"),
    [
        pytest.param(lambda: rg.var_historical(R2, horizon=HUGE), ["horizon"], id="horizon"),
        pytest.param(
            lambda: rg.var_monte_carlo(R2, W, horizon=HUGE, n_paths=64), ["horizon"], id="mc"
        ),
        pytest.param(lambda: rg.worst_periods(R1, HUGE), ["horizon"], id="worst_horizon"),
        pytest.param(lambda: rg.worst_periods(R1, 2, n=HUGE), ["n"], id="worst_n"),
        pytest.param(lambda: rg.rolling_var(R2, HUGE), ["window"], id="window"),
        pytest.param(
            lambda: rg.rolling_cvar(R2, 10, min_periods=HUGE), ["min_periods"], id="min_periods"
        ),
        pytest.param(lambda: rg.var_monte_carlo(R2, W, n_paths=HUGE), ["n_paths"], id="n_paths"),
    ],
)
def test_integer_too_large_for_the_core_is_a_risk_error(call, needles) -> None:
    """2**64 is an integer, but not one the core can take: still a RiskError naming it."""
    expect_risk_error(call, [*needles, str(HUGE)])


def test_huge_worst_periods_count_is_capped_by_the_windows() -> None:
    """n is an upper bound: far beyond the number of windows it must neither allocate for n nor
    fail, and gives every losing window."""
    assert rg.worst_periods(R1, 2, n=2**62) == rg.worst_periods(R1, 2, n=len(R1))


@pytest.mark.parametrize(
    ("call", "needles"),
    [
        pytest.param(lambda: rg.var_historical(R2, confidence="0.95"), ["confidence"], id="c"),
        pytest.param(
            lambda: rg.sharpe_ratio(R2, periods_per_year="252"), ["periods_per_year"], id="ppy"
        ),
        pytest.param(lambda: rg.sharpe_ratio(R2, risk_free="0"), ["risk_free"], id="rf"),
        pytest.param(
            lambda: rg.covariance(R2, method="ewma", halflife="10"), ["halflife"], id="halflife"
        ),
        pytest.param(
            lambda: rg.cagr(R2, periods_per_year=True), ["periods_per_year"], id="ppy_bool"
        ),
        pytest.param(lambda: rg.var_historical(R2, horizon=True), ["horizon"], id="horizon_bool"),
        pytest.param(lambda: rg.rolling_var(R2, True), ["window"], id="window_bool"),
        pytest.param(
            lambda: rg.var_monte_carlo(R2, W, n_paths=True), ["n_paths"], id="n_paths_bool"
        ),
        pytest.param(
            lambda: rg.stress_test({"AAA": True, "BBB": 1.0}, S_OK), ["exposures"], id="exposure"
        ),
    ],
)
def test_scalar_of_wrong_type_is_rejected(call, needles) -> None:
    """Strings and bools are wrong dtypes for numbers, as they are in arrays (fail closed)."""
    expect_risk_error(call, needles)


# --- weights, cov and shape mismatches ------------------------------------------------------------

WEIGHT_TAKERS: dict[str, Callable[[Any], Any]] = {
    "var_monte_carlo": lambda w: rg.var_monte_carlo(R2, w, n_paths=64),
    "diversification_ratio": lambda w: rg.diversification_ratio(w, C),
    "risk_contributions": lambda w: rg.risk_contributions(w, C),
    "effective_positions": rg.effective_positions,
    "herfindahl": rg.herfindahl,
}
BAD_WEIGHTS: dict[str, tuple[Any, list[str]]] = {
    "nan": ([0.5, NAN, 0.2], ["nan", "position 1"]),
    "inf": ([0.5, 0.3, INF], ["inf", "position 2"]),
    "-inf": ([-INF, 0.3, 0.2], ["-inf", "position 0"]),
    "pandas nan": (pd.Series([0.5, 0.3, NAN], index=list("abc")), ["nan", "position 2"]),
    "empty": ([], ["empty", "(0,)"]),
    "2-D": (np.ones((1, 3)), ["1-D", "(1, 3)"]),
    "strings": (["0.5", "0.3", "0.2"], ["dtype <U3"]),
    "object": (np.array([0.5, 0.3, None], dtype=object), ["dtype object"]),
    "bool": ([True, False, True], ["dtype bool"]),
    "datetime64": (np.arange(3).astype("datetime64[D]"), ["datetime64[D]"]),
    "complex": (np.array([0.5, 0.3, 0.2 + 0j]), ["complex128"]),
}


@pytest.mark.parametrize(
    ("value", "needles"), [pytest.param(v, n, id=k) for k, (v, n) in BAD_WEIGHTS.items()]
)
@pytest.mark.parametrize("fn", list(WEIGHT_TAKERS))
def test_bad_weights(fn: str, value, needles) -> None:
    expect_risk_error(lambda: WEIGHT_TAKERS[fn](value), ["weights", *needles])


@pytest.mark.parametrize("fn", ["effective_positions", "herfindahl", "diversification_ratio"])
@pytest.mark.parametrize("zeros", [[0.0, 0.0, 0.0], np.zeros(3, dtype=np.int64), [-0.0, 0.0, 0.0]])
def test_all_zero_weights_are_meaningless(fn: str, zeros) -> None:
    """No position at all: no concentration and no diversification to report."""
    expect_risk_error(lambda: WEIGHT_TAKERS[fn](zeros), ["weights", "zero"])


@pytest.mark.parametrize(
    ("call", "needles"),
    [
        pytest.param(
            lambda: rg.var_monte_carlo(R2, W[:2], n_paths=64), ["weights", "3", "2"], id="mc"
        ),
        pytest.param(
            lambda: rg.var_monte_carlo(R1, W, n_paths=64), ["weights", "1", "3"], id="mc1"
        ),
        pytest.param(lambda: rg.diversification_ratio(W[:2], C), ["cov", "(2, 2)"], id="dr"),
        pytest.param(lambda: rg.risk_contributions(W[:2], C), ["cov", "(2, 2)"], id="rc"),
        pytest.param(
            lambda: rg.information_ratio(R2, R1[:-1]), ["benchmark", "(60,)", "59"], id="ir_len"
        ),
        pytest.param(
            lambda: rg.information_ratio(R2, R2[:, :2]), ["benchmark", "(60, 3)", "2"], id="ir_n"
        ),
        pytest.param(
            lambda: rg.information_ratio(R1, R2), ["benchmark", "(60,)", "3"], id="ir_wider"
        ),
        pytest.param(
            lambda: rg.worst_periods(R2, 2), ["returns", "single series", "(60, 3)"], id="wp_2d"
        ),
    ],
)
def test_shape_mismatch(call, needles) -> None:
    expect_risk_error(call, needles)


COV_TAKERS: dict[str, Callable[[Any], Any]] = {
    "diversification_ratio": lambda c: rg.diversification_ratio(W, c),
    "risk_contributions": lambda c: rg.risk_contributions(W, c),
    "var_monte_carlo": lambda c: rg.var_monte_carlo(R2, W, cov=c, n_paths=64),
}
_asym = C.copy()
_asym[0, 1] += 1e-3
BAD_COV: dict[str, tuple[Any, list[str]]] = {
    "nan": (_with(NAN, (0, 1), C), ["nan"]),
    "inf": (_with(INF, (2, 2), C), ["inf"]),
    "non-square": (C[:2], ["square", "(2, 3)"]),
    "1-D": (np.diag(C), ["square", "(3,)"]),
    "3-D": (C[None], ["(1, 3, 3)"]),
    "wrong size": (C[:2, :2], ["(3, 3)", "2"]),
    "asymmetric": (_asym, ["symmetric", "(0, 1)"]),
    "negative variance": (np.diag([-1.0, 1.0, 1.0]), ["-1"]),
    "strings": (np.full((3, 3), "x"), ["dtype <U1"]),
    "bool": (np.eye(3, dtype=bool), ["dtype bool"]),
    "empty": (np.empty((0, 0)), ["empty"]),
}


@pytest.mark.parametrize(
    ("value", "needles"), [pytest.param(v, n, id=k) for k, (v, n) in BAD_COV.items()]
)
@pytest.mark.parametrize("fn", list(COV_TAKERS))
def test_bad_cov(fn: str, value, needles) -> None:
    expect_risk_error(lambda: COV_TAKERS[fn](value), ["cov", *needles])


def test_indefinite_cov_in_monte_carlo_needs_repair() -> None:
    indefinite = np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    expect_risk_error(
        lambda: rg.var_monte_carlo(R2, W, cov=indefinite, n_paths=64),
        ["cov", "positive semi-definite", "smallest eigenvalue is -0.99"],
    )
    var, cvar = rg.var_monte_carlo(R2, W, cov=indefinite, repair=True, n_paths=64)
    assert np.isfinite(var) and np.isfinite(cvar)


# --- stress_test ----------------------------------------------------------------------------------

STRESS_CASES: dict[str, tuple[Callable[[], Any], list[str]]] = {
    "unknown symbol": (
        lambda: rg.stress_test(E, {"crash": {"AAA": -0.2, "BBB": -0.1, "ZZZ": -0.5}}),
        ["scenarios['crash']", "unknown", "ZZZ"],
    ),
    "unknown symbol with missing=zero": (
        lambda: rg.stress_test(E, {"crash": {"ZZZ": -0.5}}, missing="zero"),
        ["scenarios['crash']", "ZZZ"],
    ),
    "unknown symbol in a pandas frame": (
        lambda: rg.stress_test(
            pd.Series(E), pd.DataFrame({"AAA": [-0.2], "ZZZ": [-0.5]}, index=["crash"])
        ),
        ["scenarios['crash']", "ZZZ"],
    ),
    "unknown symbol in a polars frame": (
        lambda: rg.stress_test(
            E, pl.DataFrame({"scenario": ["crash"], "AAA": [-0.2], "BBB": [0.1], "ZZZ": [0.1]})
        ),
        ["scenarios['crash']", "ZZZ"],
    ),
    "held symbol not shocked": (
        lambda: rg.stress_test(E, {"crash": {"AAA": -0.2}}),
        ["scenarios['crash']", "BBB"],
    ),
    "nan shock": (
        lambda: rg.stress_test(E, {"crash": {"AAA": NAN, "BBB": 0.1}}),
        ["scenarios", "nan"],
    ),
    "inf shock": (
        lambda: rg.stress_test(E, {"crash": {"AAA": -0.2, "BBB": INF}}),
        ["scenarios", "inf"],
    ),
    "nan shock in an array": (
        lambda: rg.stress_test([1.0, 2.0], {"crash": [NAN, 0.1]}),
        ["scenarios", "nan"],
    ),
    "string shock": (
        lambda: rg.stress_test(E, {"crash": {"AAA": "x", "BBB": 0.1}}),
        ["scenarios['crash']", "'x'"],
    ),
    "wrong number of shocks": (
        lambda: rg.stress_test([1.0, 2.0], {"crash": [0.1, 0.2, 0.3]}),
        ["scenarios['crash']", "2", "3"],
    ),
    "no scenarios": (lambda: rg.stress_test(E, {}), ["scenarios", "dict"]),
    "scenarios as a list": (lambda: rg.stress_test(E, [0.1, 0.2]), ["scenarios", "list"]),
    "scenarios None": (lambda: rg.stress_test(E, None), ["scenarios", "NoneType"]),
    "polars frame without a scenario column": (
        lambda: rg.stress_test(E, pl.DataFrame({"AAA": [0.1], "BBB": [0.1]})),
        ["scenarios", "'scenario'"],
    ),
    "shocks by symbol, exposures unlabelled": (
        lambda: rg.stress_test(np.array([1.0, 2.0]), S_OK),
        ["exposures", "scenarios['crash']"],
    ),
    "nan exposure": (
        lambda: rg.stress_test({"AAA": NAN, "BBB": 1.0}, S_OK),
        ["exposures", "nan"],
    ),
    "inf exposure": (
        lambda: rg.stress_test({"AAA": 1.0, "BBB": -INF}, S_OK),
        ["exposures", "-inf"],
    ),
    "nan exposure in a Series": (
        lambda: rg.stress_test(pd.Series({"AAA": 1.0, "BBB": NAN}), S_OK),
        ["exposures", "nan"],
    ),
    "string exposure": (
        lambda: rg.stress_test({"AAA": "x", "BBB": 1.0}, S_OK),
        ["exposures['AAA']", "'x'"],
    ),
    "no exposures": (lambda: rg.stress_test({}, S_OK), ["exposures", "empty"]),
    "2-D exposures": (
        lambda: rg.stress_test(np.ones((2, 2)), {"crash": [0.1, 0.1]}),
        ["exposures", "(2, 2)"],
    ),
    "bool exposures": (
        lambda: rg.stress_test(np.array([True, False]), {"crash": [0.1, 0.1]}),
        ["exposures", "bool"],
    ),
}


@pytest.mark.parametrize(
    ("call", "needles"), [pytest.param(c, n, id=k) for k, (c, n) in STRESS_CASES.items()]
)
def test_bad_stress_test_input(call, needles) -> None:
    expect_risk_error(call, needles)


# --- NaN is missing data, never an error ----------------------------------------------------------


def _on_data(fn: str) -> Callable[[Any], Any]:
    """RETURNS_TAKERS[fn], with a 10-period window for the rolling kernels (the bad-array cases
    use a window of 1 because those arrays are tiny; one row has no correlation)."""
    if fn.startswith("rolling"):
        return lambda x: getattr(rg, fn)(x, 10)
    return RETURNS_TAKERS[fn]


def _all_nan_column(fn: str) -> np.ndarray:
    x = R2.copy()
    x[:, 1] = NAN
    return x


@pytest.mark.parametrize("fn", list(RETURNS_TAKERS))
def test_all_nan_column_gives_nan_not_an_error(fn: str) -> None:
    call = _on_data(fn)
    x = _all_nan_column(fn)
    if fn in SINGLE_SERIES:
        assert call(x[:, 1]) == []  # no finite return, so no losing window
        return
    got = call(x)
    clean = call(np.delete(x, 1, axis=1))
    if fn.startswith("var_monte_carlo"):
        # The NaN column leaves no complete row: fewer than two give (nan, nan).
        assert np.isnan(got).all() and np.isfinite(clean).all()
    elif fn == "drawdown_details":
        assert got[1] == [] and got[0] == clean[0] and got[2] == clean[1]
    elif fn.endswith("[ewma]"):
        # EWMA uses complete rows only, and there are none.
        assert got.shape == (3, 3) and np.isnan(got).all()
    elif fn in ("covariance", "correlation"):
        assert np.isnan(got[1, :]).all() and np.isnan(got[:, 1]).all()
        np.testing.assert_array_equal(got[np.ix_([0, 2], [0, 2])], clean)
    elif fn == "rolling_correlation":
        assert np.isnan(got[:, 1, :]).all() and np.isnan(got[:, :, 1]).all()
        np.testing.assert_array_equal(got[:, [0, 2]][:, :, [0, 2]], clean)
    else:
        got = np.asarray(got)
        assert np.isnan(got[..., 1]).all()
        np.testing.assert_array_equal(got[..., [0, 2]], clean)


@pytest.mark.parametrize("fn", list(RETURNS_TAKERS))
def test_all_nan_series_gives_nan_not_an_error(fn: str) -> None:
    got = _on_data(fn)(np.full(T, NAN))
    if fn in SINGLE_SERIES or fn == "drawdown_details":
        assert got == []
    else:
        assert np.isnan(np.asarray(got, dtype=float)).all()


@pytest.mark.parametrize(
    "call",
    [
        rg.sharpe_ratio,
        rg.annual_volatility,
        rg.var_parametric,
        rg.cvar_parametric,
        lambda x: rg.information_ratio(x, R1),
    ],
)
def test_one_finite_value_is_too_few(call) -> None:
    x = np.full(T, NAN)
    x[5] = 0.01
    assert np.isnan(call(x))


@pytest.mark.parametrize("fn", [f for f in RETURNS_TAKERS if f not in SINGLE_SERIES])
def test_nan_in_returns_is_omitted(fn: str) -> None:
    """Scattered NaN in returns is missing data: no error, and still a finite answer."""
    x = R2.copy()
    x[[3, 17, 40], 0] = NAN
    got = _on_data(fn)(x)
    if fn.startswith("var_monte_carlo"):
        assert np.isfinite(got).all()  # the rows with NaN are left out
    elif fn == "drawdown_details":
        assert got[0] and all(np.isfinite(p.depth) for p in got[0])
    elif fn.startswith(("covariance", "correlation")):
        assert np.isfinite(got).all()
    else:
        assert np.isfinite(np.asarray(got)[..., 0]).any()


def test_nan_in_benchmark_is_omitted() -> None:
    b = R1.copy()
    b[[2, 9]] = NAN
    keep = np.isfinite(b)
    np.testing.assert_allclose(
        rg.information_ratio(R2, b), rg.information_ratio(R2[keep], b[keep]), rtol=1e-12
    )


# --- coverage of the public surface ---------------------------------------------------------------


def _public_functions() -> set[str]:
    return {
        name
        for name in rg.__all__
        if inspect.isfunction(getattr(rg, name)) and not name.startswith("_")
    }


def test_every_public_function_has_bad_input_cases() -> None:
    covered = {name.split("[")[0] for name in RETURNS_TAKERS}
    covered |= set(CONFIDENCE_TAKERS) | set(WEIGHT_TAKERS) | set(COV_TAKERS)
    covered |= {fn for fn, _, _ in STRING_OPTIONS} | {"stress_test"}
    public = _public_functions()
    assert len(public) >= 20
    assert public - covered == set()


def test_risk_error_is_a_value_error() -> None:
    assert issubclass(rg.RiskError, ValueError)


# --- the interpreter survives ---------------------------------------------------------------------

BATTERY = textwrap.dedent(
    """
    import importlib.util, sys
    sys.path.append({tests!r})
    spec = importlib.util.spec_from_file_location("bad_input_cases", {path!r})
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    import numpy as np
    import riskguard as rg

    calls = []
    for fn, call in cases.RETURNS_TAKERS.items():
        for value, _, _ in cases.BAD_ARRAYS.values():
            calls.append(lambda c=call, v=value: c(v))
    for param in cases._scalar_cases():
        calls.append(param.values[0])
    for fn, call in cases.WEIGHT_TAKERS.items():
        for value, _ in cases.BAD_WEIGHTS.values():
            calls.append(lambda c=call, v=value: c(v))
    for fn, call in cases.COV_TAKERS.items():
        for value, _ in cases.BAD_COV.values():
            calls.append(lambda c=call, v=value: c(v))
    for call, _ in cases.STRESS_CASES.values():
        calls.append(call)
    calls += {extra}
    outcomes = {{}}
    for call in calls:
        try:
            call()
            outcome = "returned"
        except Exception as e:  # a panic (BaseException) or an abort is not caught here
            outcome = type(e).__name__
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    print(len(calls), "calls", outcomes)
    print("survived")
    """
)

EXTREMES = {
    "battery": "[]",
    "huge numbers": """[
        lambda: rg.var_historical(np.array([1e308, -1e308, 1e308, 0.5])),
        lambda: rg.max_drawdown(np.array([1e308, -1e308, 1e308, 0.5])),
        lambda: rg.covariance(np.array([[1e308, -1e308], [-1e308, 1e308], [1e308, 1e308]])),
        lambda: rg.var_parametric(np.array([1e308, -1e308, 0.5]), method="cornish_fisher"),
        lambda: rg.cagr(np.array([-1.0, 0.5])),
        lambda: rg.drawdown_details(np.array([-2.0, 0.5, -3.0])),
        lambda: rg.var_historical(np.array([-2.0, -2.0, 0.5]), horizon=2, scaling="overlapping"),
        lambda: rg.var_monte_carlo(np.random.rand(10, 2), [1, 1], seed=2**64 - 1, n_paths=8),
        lambda: rg.rolling_correlation(np.ones((10, 2)), 1),
        lambda: rg.var_historical(np.random.rand(10), confidence=1 - 1e-16),
        lambda: rg.covariance(np.random.rand(10, 2), method="ewma", halflife=1e-300),
        lambda: rg.cagr(np.random.rand(10), periods_per_year=1e-300),
    ]""",
    "huge integers": """[
        lambda: rg.var_historical(np.random.rand(10), horizon=2**64),
        lambda: rg.rolling_var(np.random.rand(10), 2**64),
        lambda: rg.worst_periods(np.random.rand(10) - 0.5, 1, n=2**62),
    ]""",
    "worst_periods n beyond memory": """[
        lambda: rg.worst_periods(np.array([-0.01, 0.02, -0.03]), 1, n=2**50),
    ]""",
    "n_paths beyond memory": """[
        lambda: rg.var_monte_carlo(np.random.rand(10, 2) - 0.5, [1, 1], n_paths=2**55),
    ]""",
}


@pytest.mark.parametrize("group", list(EXTREMES))
def test_bad_input_never_aborts_the_interpreter(group: str) -> None:
    here = Path(__file__).resolve()
    assert_survives(BATTERY.format(path=str(here), tests=str(here.parent), extra=EXTREMES[group]))
