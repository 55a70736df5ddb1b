"""The replay path (``riskguard._core.replay``, docs/engine.md "Replay") against the Guard's
backtest: for every profile, on real minute and daily bars with the built-in ema-cross
strategy, the replay gives the backtest's riskguard run (a Guard on the paper broker, with its
journal): the equity after every bar and every closed trade to 1e-9, and the same decisions by
reason code and the same breaker trips. Bad input raises RiskError naming the argument; the
sweep scores replays as ``riskguard.performance.summary`` does."""

from __future__ import annotations

import math

import arch.data.nasdaq
import numpy as np
import polars as pl
import pytest
import riskguard as rg
from data_files import BTC_CSV
from riskguard._core import ReplayInstrument, replay, replay_sweep
from riskguard.app.backtest import backtest_frames, read_prices
from riskguard.app.backtest.replay import (
    broker_settings,
    instruments,
    replay_frames,
    replay_limits,
)
from riskguard.app.config.profiles import PROFILES
from riskguard.performance import summary
from riskguard.strategies import ema_cross

# Long enough for every profile to trade, trail, time out and trip breakers; short enough for
# a Guard run of a second or two.
BTC_BARS = 6_000
# Costs and shorts: every fill pays, and short signals open positions.
COSTS = {
    "allow_short": True,
    "slippage": {"model": "fixed_bps", "bps": 5},
    "commission": {"model": "maker_taker", "maker": 0.0002, "taker": 0.0007},
}
TRADE_EXACT = ("id", "symbol", "side", "state", "method", "entry_ts", "exit_ts", "holding_ns")
TRADE_FLOATS = (
    "entry_price",
    "quantity",
    "initial_stop",
    "stop",
    "target",
    "exit_price",
    "pnl",
    "r_multiple",
    "mfe",
    "mae",
)


def nasdaq() -> pl.DataFrame:
    """arch's NASDAQ composite daily bars, 1999-2018."""
    df = arch.data.nasdaq.load()
    return pl.DataFrame(
        {
            "ts": df.index.values.astype("datetime64[ns]").astype(np.int64),
            "symbol": ["NDX"] * len(df),
            "open": df["Open"].to_numpy(float),
            "high": df["High"].to_numpy(float),
            "low": df["Low"].to_numpy(float),
            "close": df["Close"].to_numpy(float),
            "volume": df["Volume"].to_numpy(float),
        }
    )


@pytest.fixture(scope="module")
def data() -> dict[str, tuple[pl.DataFrame, pl.DataFrame]]:
    btc = read_prices(BTC_CSV, symbol="BTCUSDT").head(BTC_BARS)
    ndx = nasdaq()
    return {"btc": (btc, ema_cross(btc)), "ndx": (ndx, ema_cross(ndx))}


def same_float(a: float | None, b: float | None) -> bool:
    """Equal to 1e-9; NaN (None in a journal's records: no value) equals NaN."""
    a, b = (math.nan if x is None else x for x in (a, b))
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


CASES = [
    pytest.param(profile, series, broker, id=f"{profile}-{series}{'-costs' if broker else ''}")
    for profile in PROFILES
    for series, broker in (("btc", {}), ("ndx", {}), ("ndx", COSTS))
]


@pytest.mark.parametrize(("profile", "series", "broker"), CASES)
def test_the_replay_is_the_guards_backtest(data, tmp_path, profile, series, broker):
    bars, signals = data[series]
    config = rg.Config(profile=profile, broker=broker)
    guarded = backtest_frames(bars, signals, config=config, out=tmp_path)
    run, decisions, trips = replay_frames(bars, signals, config=config)

    want = guarded.guarded
    np.testing.assert_array_equal(run.ts, want.ts)
    np.testing.assert_allclose(run.equity, want.equity, rtol=1e-9, atol=0)
    assert len(want.trades) > 5, "a comparison needs trades"
    assert len(run.trades) == len(want.trades)
    for ours, theirs in zip(run.trades, want.trades, strict=True):
        for key in TRADE_EXACT:
            assert ours[key] == theirs[key], (key, ours, theirs)
        for key in TRADE_FLOATS:
            assert same_float(ours[key], theirs[key]), (key, ours, theirs)
    assert decisions == guarded.decisions
    assert trips == guarded.trips
    assert run.summary == pytest.approx(want.summary, rel=1e-9, nan_ok=True)


def test_the_replay_reports_its_fills_and_trades(data):
    bars, signals = data["ndx"]
    config = rg.Config(profile="swing")
    limits, _ = replay_limits(config, signals)
    (inst,) = instruments(bars, signals)
    out = replay(inst, limits, **broker_settings(config))
    assert len(out["equity"]) == len(inst) == bars.height and inst.signals == signals.height
    fills = out["fills"]
    # A market order fills at a later bar's open: entries at the bar after their signal.
    assert (np.diff(fills["bar"]) >= 0).all() and not fills["maker"].any()
    opens = bars["open"].to_numpy()[fills["bar"]]
    assert np.array_equal(fills["price"], opens)  # no slippage configured
    # Flat after a trade's exit, the account holds its cash and every closed trade's P&L.
    ts = bars["ts"].to_numpy()
    trades = out["trades"]
    flat = [
        t
        for t in trades
        if t.exit_ts is not None
        and not any(u.entry_ts <= t.exit_ts < (u.exit_ts or math.inf) for u in trades)
    ]
    assert len(flat) > 10
    for t in flat:
        k = int(np.searchsorted(ts, t.exit_ts))
        earned = sum(u.pnl for u in trades if u.exit_ts is not None and u.exit_ts <= t.exit_ts)
        assert out["equity"][k] - 100_000.0 == pytest.approx(earned, abs=1e-6)
    assert out["dropped"] == 0


def test_the_sweep_scores_as_the_summary_does_whatever_the_threads(data):
    bars, signals = data["ndx"]
    config = rg.Config(profile="swing")
    insts = instruments(bars, signals)
    points = [{"sl_atr": s, "trail_atr": t} for s in (1.5, 3.0) for t in (2.0, 4.0)]
    limits = [
        replay_limits(config.model_copy(update={"limits": config.limits.replace(**p)}), signals)[0]
        for p in points
    ]
    segments = np.array([[[0, 1000], [1000, 3000], [3000, bars.height], [10, 10]]], np.int64)
    first = replay_sweep(insts, limits, segments)
    again = replay_sweep(insts, limits[::-1], segments)
    assert first["sharpe"].shape == (4, 1, 4)
    for key, values in first.items():
        np.testing.assert_array_equal(values, again[key][::-1], err_msg=key)
    ts = bars["ts"].to_numpy()
    for k, lim in enumerate(limits):
        for s, (a, b) in enumerate(segments[0]):
            if b - a < 2:
                assert math.isnan(first["sharpe"][k, 0, s]) and first["trades"][k, 0, s] == 0
                continue
            part = bars.slice(int(a), int(b - a))
            sig = signals.filter((pl.col("ts") >= ts[a]) & (pl.col("ts") <= ts[b - 1]))
            (inst,) = instruments(part, sig)
            out = replay(inst, lim)
            closed = [t.to_dict() for t in out["trades"] if t.exit_ts is not None]
            want = summary(ts[a:b], out["equity"], closed)
            for key in ("total_return", "cagr", "max_drawdown", "sharpe", "calmar", "trades"):
                assert same_float(first[key][k, 0, s], want[key]), (key, k, s)


def instrument(**changes):
    n = 4
    columns = {
        "symbol": "X",
        "ts": np.arange(n, dtype=np.int64),
        "open": np.full(n, 100.0),
        "high": np.full(n, 101.0),
        "low": np.full(n, 99.0),
        "close": np.full(n, 100.5),
        "volume": np.zeros(n),
        "signal_bar": np.array([1], np.int64),
        "signal_side": np.array([1], np.int8),
    }
    columns.update(changes)
    return ReplayInstrument(**columns)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"symbol": 5}, r"^symbol must be a str"),
        ({"symbol": ""}, r"^symbol must not be empty"),
        ({"ts": np.arange(4, dtype=np.float64)}, r"^ts must be a 1-D numpy array of int64"),
        ({"ts": [0, 1, 2, 3]}, r"^ts must be a 1-D numpy array of int64, got list"),
        ({"open": np.ones((4, 1))}, r"^open must be a 1-D numpy array of float64.*2 dimensions"),
        ({"close": np.full(3, 100.0)}, r"^close must have one value per bar \(4"),
        ({"ts": np.array([0, 2, 1, 3])}, r"^ts \[2\] must not go backwards"),
        ({"high": np.array([101.0, 101.0, 98.0, 101.0])}, r"^high, low \[2\] must bound"),
        ({"low": np.array([99.0, np.nan, 99.0, 99.0])}, r"^low \[1\] must be finite"),
        ({"volume": np.array([0.0, -1.0, 0.0, 0.0])}, r"^volume \[1\] must be finite and ≥ 0"),
        ({"signal_bar": np.array([4], np.int64)}, r"^signal_bar \[0\] must index a bar"),
        ({"signal_side": np.array([2], np.int8)}, r"^signal_side \[0\] must be 1 \(long\)"),
        ({"signal_side": np.array([1, -1], np.int8)}, r"^signal_side must have one value per"),
    ],
)
def test_bad_instruments_are_refused_naming_the_argument(changes, message):
    with pytest.raises(rg.RiskError, match=message):
        instrument(**changes)


def test_bad_signal_columns_are_named_and_invalid_signals_are_counted():
    with pytest.raises(rg.RiskError, match=r"^stop must have one value per signal"):
        instrument(stop=np.array([1.0, 2.0]))
    with pytest.raises(rg.RiskError, match=r"^consensus\[0\]: consensus must be"):
        instrument(consensus=["MAYBE"])
    with pytest.raises(rg.RiskError, match=r"^consensus must be a sequence of str or None"):
        instrument(consensus=5)
    # A long's stop above its entry is no Signal: counted, as a backtest counts it.
    inst = instrument(stop=np.array([101.0]))
    out = replay(inst, rg.Limits())
    assert out["decisions"] == {"INVALID_SIGNAL": 1} and out["trades"] == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cash": -5.0}, r"^cash must be finite, > 0"),
        ({"cash": "lots"}, r"^cash must be a number"),
        ({"slippage_bps": math.nan}, r"^slippage_bps must be finite and ≥ 0"),
        ({"commission": "flat"}, r"^commission must be one of none, percent_of_notional"),
        ({"commission": "percent_of_notional", "commission_rate": -0.1}, r"^commission_rate"),
        ({"commission": "maker_taker", "taker": math.inf}, r"^taker must be finite"),
        ({"max_leverage": 0.5}, r"^max_leverage must be finite and ≥ 1"),
        ({"allow_short": 1}, r"^allow_short must be True or False"),
        ({"equity": 0.0}, r"^equity must be finite, > 0"),
    ],
)
def test_bad_settings_are_refused_naming_the_argument(kwargs, message):
    with pytest.raises(rg.RiskError, match=message):
        replay(instrument(), rg.Limits(), **kwargs)


def test_bad_sweep_arguments_are_refused_naming_the_argument():
    inst = instrument()
    with pytest.raises(rg.RiskError, match=r"^limits must be a riskguard.Limits"):
        replay(inst, {"daily_loss": 0.1})
    with pytest.raises(rg.RiskError, match=r"^instrument must be a riskguard.ReplayInstrument"):
        replay("X", rg.Limits())
    with pytest.raises(rg.RiskError, match=r"^instruments\[1\] must be a riskguard.Replay"):
        replay_sweep([inst, 5], [rg.Limits()])
    with pytest.raises(rg.RiskError, match=r"^limits\[0\] must be a riskguard.Limits"):
        replay_sweep([inst], [None])
    with pytest.raises(rg.RiskError, match=r"^instruments must be a list"):
        replay_sweep(inst, [rg.Limits()])
    with pytest.raises(rg.RiskError, match=r"^segments must have shape \(1, segments, 2\)"):
        replay_sweep([inst], [rg.Limits()], np.zeros((2, 1, 2), np.int64))
    with pytest.raises(rg.RiskError, match=r"^segments must be an int64 array"):
        replay_sweep([inst], [rg.Limits()], np.zeros((1, 1, 2)))
    with pytest.raises(rg.RiskError, match=r"^segments \[0\] must be bar ranges"):
        replay_sweep([inst], [rg.Limits()], np.array([[[2, 9]]], np.int64))
    with pytest.raises(rg.RiskError, match=r"^segments\[0, 0\] must be bar indices ≥ 0"):
        replay_sweep([inst], [rg.Limits()], np.array([[[-1, 2]]], np.int64))
    assert replay_sweep([inst], [])["sharpe"].shape == (0, 1, 1)


def test_a_configuration_the_replay_cannot_reproduce_is_refused(data):
    bars, signals = data["ndx"]
    for broker, message in (
        ({"slippage": {"model": "volume_linear", "k": 0.001}}, "slippage models none and"),
        ({"slippage": {"model": "volatility_atr", "k": 0.1}}, "slippage models none and"),
    ):
        with pytest.raises(rg.RiskError, match=message):
            replay_frames(bars, signals, config=rg.Config(broker=broker))
    two = pl.concat([bars.head(50), bars.head(50).with_columns(symbol=pl.lit("B"))])
    with pytest.raises(rg.RiskError, match="the replay takes the bars of one symbol, got 2"):
        replay_frames(two, signals, config=rg.Config())
