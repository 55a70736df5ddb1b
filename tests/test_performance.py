"""riskguard.performance.summary: hand-worked values, agreement with riskguard's analytics and
with plain numpy, properties, and bad input."""

from __future__ import annotations

import csv
import gzip
import math
from datetime import datetime, timezone

import numpy as np
import pytest
import riskguard as rg
from data_files import BTC_CSV
from hypothesis import given
from hypothesis import strategies as st
from riskguard.performance import KEYS, NS_PER_YEAR, infer_periods_per_year, summary

DAY = 86_400 * 10**9
MINUTE = 60 * 10**9
T0 = 1_640_995_200 * 10**9  # 2022-01-01T00:00:00Z
CURVE_KEYS = KEYS[:8]


def reference(ts, equity, trades=(), ppy=None, confidence=0.95) -> dict[str, float]:
    """The same figures in plain numpy, straight from the definitions."""
    t = np.asarray(ts, dtype=np.int64)
    e = np.asarray(equity, dtype=np.float64)
    r = e[1:] / e[:-1] - 1
    if ppy is None:
        ppy = 365.25 * DAY / np.median(np.diff(t))
    years = (t[-1] - t[0]) / (365.25 * DAY)
    cagr = (e[-1] / e[0]) ** (1 / years) - 1
    mdd = float(np.max(1 - e / np.maximum.accumulate(e)))
    sd = r.std(ddof=1)
    downside = np.sqrt(np.mean(np.minimum(r, 0) ** 2))
    q = np.quantile(r, 1 - confidence)
    pnl = np.array([t["pnl"] for t in trades], dtype=float)
    rm = np.array(
        [math.nan if t.get("r_multiple") is None else float(t["r_multiple"]) for t in trades]
    )
    rm = rm[np.isfinite(rm)]
    wins, losses = pnl[pnl > 0].sum(), -pnl[pnl < 0].sum()
    return {
        "total_return": e[-1] / e[0] - 1,
        "cagr": cagr,
        "max_drawdown": mdd,
        "sharpe": r.mean() / sd * np.sqrt(ppy) if sd > 0 else math.nan,
        "sortino": r.mean() / downside * np.sqrt(ppy) if downside > 0 else math.nan,
        "calmar": cagr / mdd if mdd > 0 else math.nan,
        "var": -q,
        "cvar": -r[r <= q].mean(),
        "trades": float(len(pnl)),
        "win_rate": float((pnl > 0).mean()) if len(pnl) else math.nan,
        "profit_factor": (wins / losses if losses > 0 else (math.inf if wins > 0 else math.nan)),
        "avg_r": rm.mean() if rm.size else math.nan,
    }


def assert_close(got: dict[str, float], want: dict[str, float], rel: float = 1e-9) -> None:
    assert list(got) == list(KEYS)
    for k in KEYS:
        if k == "calmar" and want["max_drawdown"] < 1e-9:
            # a drawdown of rounding noise (1e-15) differs in its leading digits between
            # compounding returns and dividing equities: the ratio over it means nothing
            assert math.isnan(got[k]) or got[k] == pytest.approx(got["cagr"] / got["max_drawdown"])
            continue
        if math.isnan(want[k]):
            assert math.isnan(got[k]), (k, got[k])
        else:
            assert got[k] == pytest.approx(want[k], rel=rel, abs=1e-12), k


@pytest.fixture(scope="module")
def btc() -> tuple[np.ndarray, np.ndarray]:
    """Two weeks of BTCUSDT minute closes as an equity curve."""
    ts, close = [], []
    with gzip.open(BTC_CSV, "rt") as f:
        for row in csv.DictReader(f):
            when = datetime.strptime(row["timestamp"], "%Y-%m-%d %H:%M:%S.%f")
            ts.append(int(when.replace(tzinfo=timezone.utc).timestamp()) * 10**9)
            close.append(float(row["close"]))
            if len(ts) == 20_000:
                break
    return np.array(ts, dtype=np.int64), np.array(close)


# --- hand-worked ---------------------------------------------------------------------------

TRADES = [
    {"pnl": 30.0, "r_multiple": 1.5},
    {"pnl": -10.0, "r_multiple": -1.0},
    {"pnl": 0.0, "r_multiple": None},
    {"pnl": 20.0, "r_multiple": "inf"},  # the journal's JSON spelling of infinity
]


def test_hand_worked_curve():
    # Daily points: returns +10 %, -10 %, +10 %.
    ts = [T0, T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY]
    s = summary(ts, [100.0, 110.0, 99.0, 108.9], TRADES)
    assert s["total_return"] == pytest.approx(0.089)
    assert s["cagr"] == pytest.approx(1.089 ** (365.25 / 3) - 1)
    assert s["max_drawdown"] == pytest.approx(0.10)
    # mean 1/30, std (ddof 1) 1/sqrt(75), 365.25 periods a year
    assert s["sharpe"] == pytest.approx(math.sqrt(75 * 365.25) / 30)
    # downside deviation sqrt(0.01 / 3) over all three observations
    assert s["sortino"] == pytest.approx(math.sqrt(365.25 / 3))
    assert s["calmar"] == pytest.approx((1.089 ** (365.25 / 3) - 1) / 0.10)
    # quantile 5 % of [-0.1, 0.1, 0.1]: -0.1 + 0.1 * 0.2 = -0.08
    assert s["var"] == pytest.approx(0.08)
    assert s["cvar"] == pytest.approx(0.10)
    assert s["trades"] == 4
    assert s["win_rate"] == 0.5
    assert s["profit_factor"] == pytest.approx(50 / 10)
    assert s["avg_r"] == pytest.approx(0.25)  # the finite R values 1.5 and -1.0
    assert list(s) == list(KEYS)
    assert all(isinstance(v, float) for v in s.values())


def test_calendar_time_drives_cagr_and_spacing_drives_annualisation():
    # +21 % over two years of daily points: CAGR 10 % whatever the number of points.
    ts = [T0, T0 + int(NS_PER_YEAR), T0 + int(2 * NS_PER_YEAR)]
    assert summary(ts, [100.0, 110.0, 121.0])["cagr"] == pytest.approx(0.10)
    ts = np.arange(5) * MINUTE + T0
    eq = [100.0, 101.0, 100.5, 102.0, 101.0]
    assert infer_periods_per_year(ts) == pytest.approx(525_960)
    default = summary(ts, eq)
    explicit = summary(ts, eq, periods_per_year=525_960)
    assert default == explicit
    daily = summary(ts, eq, periods_per_year=365.25)
    assert daily["sharpe"] == pytest.approx(default["sharpe"] * math.sqrt(365.25 / 525_960))
    assert daily["cagr"] == default["cagr"]  # calendar time, not the period count


def test_trade_statistics_edge_cases():
    ts = [T0, T0 + DAY]
    assert summary(ts, [1.0, 1.1], [{"pnl": 5.0}, {"pnl": 1.0}])["profit_factor"] == math.inf
    none = summary(ts, [1.0, 1.1])
    assert none["trades"] == 0
    assert math.isnan(none["win_rate"])
    assert math.isnan(none["profit_factor"])
    assert math.isnan(none["avg_r"])
    flat = summary(ts, [1.0, 1.1], [{"pnl": 0.0, "r_multiple": 0.0}])
    assert flat["win_rate"] == 0.0
    assert math.isnan(flat["profit_factor"])
    assert flat["avg_r"] == 0.0
    losers = summary(ts, [1.0, 1.1], [{"pnl": -2.0, "r_multiple": float("-inf")}])
    assert losers["profit_factor"] == 0.0
    assert math.isnan(losers["avg_r"])


@pytest.mark.parametrize("n", [0, 1])
def test_too_few_points_give_nan_not_errors(n):
    s = summary([T0][:n], [100.0][:n], [{"pnl": 1.0, "r_multiple": 2.0}])
    for k in CURVE_KEYS:
        assert math.isnan(s[k]), k
    assert s["trades"] == 1
    assert s["win_rate"] == 1.0
    assert s["avg_r"] == 2.0


def test_flat_curve_ratios_are_nan():
    s = summary([T0, T0 + DAY, T0 + 2 * DAY], [5.0, 5.0, 5.0])
    assert s["total_return"] == 0.0
    assert s["max_drawdown"] == 0.0
    assert s["var"] == 0.0
    for k in ("sharpe", "sortino", "calmar"):
        assert math.isnan(s[k]), k


def test_accepts_numpy_and_polars():
    pl = pytest.importorskip("polars")
    ts = np.array([T0, T0 + DAY, T0 + 2 * DAY], dtype=np.int64)
    eq = np.array([100.0, 90.0, 95.0])
    want = summary(list(map(int, ts)), list(eq))
    assert summary(ts, eq) == want
    assert summary(pl.Series(ts), pl.Series(eq)) == want
    assert summary(ts.astype(np.uint64), eq.astype(np.float32).astype(np.float64)) == want
    assert summary(ts, [100, 90, 95]) == want  # integer equity


# --- agreement -----------------------------------------------------------------------------


def test_agrees_with_riskguard_analytics_on_btc(btc):
    ts, eq = btc
    s = summary(ts, eq, confidence=0.99)
    r = eq[1:] / eq[:-1] - 1
    ppy = 525_960.0
    years = (ts[-1] - ts[0]) / NS_PER_YEAR
    assert s["total_return"] == pytest.approx(eq[-1] / eq[0] - 1, rel=1e-12)
    # riskguard's cagr and calmar count years as n / ppy: give them the calendar's rate.
    calendar_ppy = r.size / years
    assert s["cagr"] == pytest.approx(rg.cagr(r, periods_per_year=calendar_ppy), rel=1e-9)
    assert s["calmar"] == pytest.approx(rg.calmar_ratio(r, calendar_ppy), rel=1e-9)
    assert s["max_drawdown"] == pytest.approx(rg.max_drawdown(r), rel=1e-12)
    assert s["sharpe"] == pytest.approx(rg.sharpe_ratio(r, periods_per_year=ppy), rel=1e-12)
    assert s["sortino"] == pytest.approx(rg.sortino_ratio(r, periods_per_year=ppy), rel=1e-12)
    assert s["var"] == pytest.approx(rg.var_historical(r, confidence=0.99), rel=1e-12)
    assert s["cvar"] == pytest.approx(rg.cvar_historical(r, confidence=0.99), rel=1e-12)
    assert s["max_drawdown"] > 0.05  # the data has real drawdowns: the comparison means something


def test_agrees_with_numpy_reference_on_btc(btc):
    ts, eq = btc
    rng = np.random.default_rng(7)
    trades = [{"pnl": float(p), "r_multiple": float(p / 50)} for p in rng.normal(5, 100, size=300)]
    for confidence in (0.9, 0.95, 0.99):
        assert_close(
            summary(ts, eq, trades, confidence=confidence),
            reference(ts, eq, trades, confidence=confidence),
            rel=1e-8,
        )
    assert_close(
        summary(ts, eq, trades, periods_per_year=252),
        reference(ts, eq, trades, ppy=252),
        rel=1e-8,
    )


def test_agrees_with_journal_trade_rows():
    """Trade.to_dict() rows, as Journal.trades() returns them, are accepted as they are."""
    T = 1_700_000_000 * 10**9
    e = rg.RiskEngine(
        limits={"signal_filters": False, "require_trend": False}, equity=10_000.0, ts=T
    )
    e.symbol_id("BTC")
    e.on_tick("BTC", 100.0, T + MINUTE)
    d = e.evaluate_signal(rg.Signal("BTC", "long", 100.0, stop=99.0, target=102.0), T + MINUTE)
    e.on_fill("BTC", d.quantity, 100.0, T + 2 * MINUTE)
    e.on_fill("BTC", -d.quantity, 101.5, T + 3 * MINUTE)
    rows = [t.to_dict() for t in e.trades()]
    assert rows and rows[0]["exit_ts"] is not None
    s = summary([T, T + DAY], [10_000.0, 10_015.0], rows)
    assert s["trades"] == 1
    assert s["win_rate"] == 1.0
    assert s["avg_r"] == pytest.approx(rows[0]["r_multiple"])
    assert s["avg_r"] == pytest.approx(1.5)


# --- properties ----------------------------------------------------------------------------

gaps = st.integers(min_value=3_600 * 10**9, max_value=10 * DAY)
moves = st.floats(min_value=-0.05, max_value=0.05, allow_nan=False)


@st.composite
def curves(draw, min_size=2):
    n = draw(st.integers(min_value=min_size, max_value=60))
    steps = draw(st.lists(gaps, min_size=n - 1, max_size=n - 1))
    rets = draw(st.lists(moves, min_size=n - 1, max_size=n - 1))
    start = draw(st.floats(min_value=1.0, max_value=1e9))
    ts = np.concatenate([[T0], T0 + np.cumsum(steps)]).astype(np.int64)
    eq = start * np.concatenate([[1.0], np.cumprod(1.0 + np.array(rets))])
    return ts, eq


trade_lists = st.lists(
    st.fixed_dictionaries(
        {
            "pnl": st.floats(min_value=-1e6, max_value=1e6),
            "r_multiple": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        }
    ),
    max_size=30,
)


@given(curves(), trade_lists)
def test_properties(curve, trades):
    ts, eq = curve
    s = summary(ts, eq, trades)
    r = eq[1:] / eq[:-1] - 1
    assert 0.0 <= s["max_drawdown"] < 1.0
    for k in ("total_return", "cagr", "max_drawdown", "var", "cvar"):
        assert math.isfinite(s[k]), k
    if (r > 0).any() and (r < 0).any():
        for k in ("sharpe", "sortino", "calmar"):
            assert math.isfinite(s[k]), k
    assert s["cvar"] >= s["var"] - 1e-12
    assert s["trades"] == len(trades)
    if trades:
        assert 0.0 <= s["win_rate"] <= 1.0
        assert s["profit_factor"] >= 0.0 or math.isnan(s["profit_factor"])
    else:
        assert math.isnan(s["win_rate"])


@given(curves(min_size=3))
def test_matches_numpy_reference(curve):
    ts, eq = curve
    assert_close(summary(ts, eq), reference(ts, eq), rel=1e-7)


# --- bad input -----------------------------------------------------------------------------

TS = [T0, T0 + DAY, T0 + 2 * DAY]
EQ = [100.0, 101.0, 99.0]


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"ts": TS[:2]}, "ts and equity"),
        ({"equity": EQ + [100.0]}, "ts and equity"),
        ({"equity": [100.0, math.nan, 99.0]}, "equity[1]"),
        ({"equity": [100.0, math.inf, 99.0]}, "equity[1]"),
        ({"equity": [100.0, 0.0, 99.0]}, "equity[1]"),
        ({"equity": [100.0, 101.0, -1.0]}, "equity[2]"),
        ({"equity": ["100", "101", "99"]}, "equity"),
        ({"equity": [[100.0, 101.0, 99.0]]}, "equity"),
        ({"equity": [True, True, True]}, "equity"),
        ({"ts": [T0, T0, T0 + DAY]}, "ts[1]"),
        ({"ts": [T0, T0 - 1, T0 + DAY]}, "ts[1]"),
        ({"ts": [float(t) for t in TS]}, "ts"),
        ({"ts": [TS]}, "ts"),
        ({"confidence": 0.0}, "confidence"),
        ({"confidence": 1.0}, "confidence"),
        ({"confidence": 1.5}, "confidence"),
        ({"confidence": math.nan}, "confidence"),
        ({"confidence": "0.95"}, "confidence"),
        ({"periods_per_year": 0}, "periods_per_year"),
        ({"periods_per_year": -252}, "periods_per_year"),
        ({"periods_per_year": math.inf}, "periods_per_year"),
        ({"periods_per_year": math.nan}, "periods_per_year"),
        ({"periods_per_year": True}, "periods_per_year"),
        ({"trades": {"pnl": 1.0}}, "trades"),
        ({"trades": "pnl"}, "trades"),
        ({"trades": [1.0]}, "trades[0]"),
        ({"trades": [{"pnl": 1.0}, {"r_multiple": 1.0}]}, "trades[1]"),
        ({"trades": [{"pnl": math.nan}]}, "trades[0]['pnl']"),
        ({"trades": [{"pnl": math.inf}]}, "trades[0]['pnl']"),
        ({"trades": [{"pnl": None}]}, "trades[0]['pnl']"),
        ({"trades": [{"pnl": "3"}]}, "trades[0]['pnl']"),
        ({"trades": [{"pnl": 1.0, "r_multiple": "big"}]}, "trades[0]['r_multiple']"),
    ],
)
def test_bad_input_raises_risk_error_naming_the_argument(kwargs, names):
    args = {"ts": TS, "equity": EQ, **kwargs}
    with pytest.raises(rg.RiskError) as info:
        summary(
            args.pop("ts"),
            args.pop("equity"),
            **({"trades": args.pop("trades")} if "trades" in args else {}),
            **args,
        )
    assert names in str(info.value)
    assert isinstance(info.value, ValueError)
