"""Attribution (riskguard.app.backtest.attribution, groups, metrics, walkforward): each rule group
switched off changes what it should, the vol-matched naïve run, exact zeros where runs are
identical, the walk-forward windows, the chart, and the command on real BTCUSDT bars."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import riskguard as rg
from data_files import BTC_CSV
from riskguard.app.backtest import backtest_frames, read_prices
from riskguard.app.backtest.attribution import FULL, NAIVE, VOL_MATCHED, attribute
from riskguard.app.backtest.groups import GROUP_NAMES, RULE_GROUPS, group, switched_off
from riskguard.app.backtest.metrics import METRICS, choose_period, figures
from riskguard.app.backtest.resample import paired_bootstrap
from riskguard.app.backtest.walkforward import MIN_WINDOW_TIMES, windows
from riskguard.app.config import Config
from riskguard.app.report.attribution import attribution_png
from riskguard.strategies import ema_cross

KEYS = [key for key, _ in METRICS]
# Minute bars: a quarter of an hour without progress ends a trade (the time exit acts), and a
# tiny risk per trade sizes some entries under the 10 % position cap (sizing acts).
LIMITS = {"risk_per_trade": 0.0001, "max_hours_no_progress": 0.25, "max_drawdown": None}
GROUPS = ["time_exit", "sizing", "signal_filters", "breakeven", "volatility_spike", "max_drawdown"]


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return read_prices(BTC_CSV, symbol="BTC").head(6_000)


@pytest.fixture(scope="module")
def result(bars, tmp_path_factory):
    return backtest_frames(
        bars,
        ema_cross(bars),
        config=Config(limits=LIMITS),
        out=tmp_path_factory.mktemp("attribution"),
        attribution=True,
        groups=GROUPS,
    )


@pytest.fixture(scope="module")
def attribution(result):
    return result.attribution


# --- the groups ----------------------------------------------------------------------------


def test_every_group_switches_real_settings_off():
    assert len(set(GROUP_NAMES)) == len(GROUP_NAMES) == len(RULE_GROUPS)
    config = Config()
    limits = config.limits.to_dict()
    for g in RULE_GROUPS:
        changed = switched_off(config, g)
        assert changed is not None, g.name  # every group is on by default
        after = changed.limits.to_dict()
        assert {k for k in limits if limits[k] != after[k]} <= set(g.off), g.name
        assert g.overrides(limits) == {k: after[k] for k in g.off}, g.name
        assert g.describe(limits) and "off in the configuration" in g.describe(after)
    with pytest.raises(rg.RiskError, match="unknown rule group 'nope'; known: sizing"):
        group("nope")


def test_switched_off_sizing_is_a_fixed_fraction_of_equity():
    off = switched_off(Config(limits={"max_position_pct": None}), group("sizing"))
    # Without a position cap in the configuration, the fixed fraction is the engine's default.
    assert off.limits.max_position_pct == rg.Limits().max_position_pct
    assert off.limits.risk_per_trade == 1.0 and off.limits.max_risk_per_trade is None


def test_a_group_off_already_is_reported_and_not_run(attribution):
    row = attribution.row("max_drawdown")
    assert row.off_already and row.run is None and row.figures == {}
    assert "off in the configuration" in row.description


def test_the_time_exit_switched_off_leaves_no_time_exit(result, attribution):
    assert result.guarded.exits.get("time", 0) > 0
    assert "time" not in attribution.row("time_exit").run.exits


def test_the_breakeven_switched_off_leaves_no_breakeven_stop(result, attribution):
    assert result.guarded.exits.get("breakeven_stop", 0) > 0
    assert "breakeven_stop" not in attribution.row("breakeven").run.exits


def test_a_breaker_switched_off_never_trips(result, attribution):
    assert any(t["breaker"] == "volatility_spike" for t in result.guarded.trips)
    assert not any(
        t["breaker"] == "volatility_spike" for t in attribution.row("volatility_spike").run.trips
    )


def test_the_signal_filters_switched_off_refuse_no_signal_for_its_quality(result, attribution):
    quality = {"CONFIDENCE_TOO_LOW", "TREND_MISALIGNED", "CONSENSUS_TOO_WEAK"}
    assert quality & set(result.guarded.decisions)
    assert not quality & set(attribution.row("signal_filters").run.decisions)


def test_sizing_switched_off_takes_the_position_cap_every_time(result, attribution):
    def shares(run):
        return np.array([t["quantity"] * t["entry_price"] / 100_000 for t in run.trades])

    cap = rg.Limits().max_position_pct
    assert (shares(result.guarded) < cap * 0.95).any()  # risk sizing sized some entries under it
    fixed = shares(attribution.row("sizing").run)
    assert fixed.size and np.allclose(fixed, cap, atol=0.003)


# --- the figures ---------------------------------------------------------------------------


def test_the_rows_and_their_figures(result, attribution):
    names = [r.name for r in attribution.rows]
    assert names == [NAIVE, VOL_MATCHED, FULL, *GROUPS]
    assert attribution.period == "hour"  # four days of minute bars
    full = attribution.row(FULL)
    assert full.run is result.guarded and attribution.row(NAIVE).run is result.naive
    for r in attribution.rows:
        if not r.off_already:
            assert set(r.figures) == set(KEYS) and set(r.contribution) == set(KEYS)
    # The naïve run holds ~95 % of equity; riskguard far less.
    assert attribution.row(NAIVE).figures["exposure"] > 0.3 > full.figures["exposure"] > 0


def test_exposure_is_the_mean_gross_exposure_over_equity(result):
    naive = result.naive
    assert naive.exposure.shape == naive.equity.shape
    assert naive.exposure.max() == pytest.approx(0.95, abs=0.03)  # NAIVE_SHARE, at most
    assert naive.exposure.min() == 0.0  # flat before the first signal


def test_the_vol_matched_naive_run_has_the_riskguard_runs_volatility(attribution):
    naive, matched, full = (attribution.row(n) for n in (NAIVE, VOL_MATCHED, FULL))
    assert matched.run is None
    assert np.std(matched.returns, ddof=1) == pytest.approx(np.std(full.returns, ddof=1))
    scale = attribution.volatility_scale
    assert np.allclose(matched.returns, naive.returns * scale)
    assert np.allclose(matched.exposure, naive.exposure * scale)
    assert matched.figures["sharpe"] == pytest.approx(naive.figures["sharpe"])


def test_a_contribution_is_the_full_figure_minus_the_runs(attribution):
    full = attribution.row(FULL).figures
    for name in ("time_exit", "signal_filters", NAIVE):
        row = attribution.row(name)
        for key in ("sharpe", "max_drawdown", "total_return", "exposure"):
            c = row.contribution[key]
            assert c.estimate == pytest.approx(full[key] - row.figures[key], abs=1e-12)
            assert c.low <= c.high
    assert attribution.row("signal_filters").block_length >= 1.0


def test_the_full_configuration_against_itself_is_exactly_zero(attribution):
    for c in attribution.row(FULL).contribution.values():
        assert (c.estimate, c.low, c.high) == (0.0, 0.0, 0.0)
    # And through the bootstrap itself, every resample of the pair.
    full = attribution.row(FULL)
    pair = np.column_stack([full.returns, full.exposure])

    def statistic(s):
        return figures(s[..., 0], s[..., 1], attribution.periods_per_year, 4 / 365.25)

    diffs = paired_bootstrap(pair, pair.copy(), statistic, block_length=5.0, resamples=200)
    assert np.array_equal(diffs, np.zeros((200, len(KEYS))))


def test_the_bootstrap_is_deterministic_given_its_seed(result, bars):
    config = Config(limits=LIMITS)

    def interval(seed):
        a = attribute(
            bars,
            ema_cross(bars),
            config,
            naive=result.naive,
            full=result.guarded,
            groups=[],
            resamples=300,
            seed=seed,
        )
        return a.row(NAIVE).contribution["sharpe"]

    assert interval(1) == interval(1) != interval(2)


def test_the_period_is_the_coarsest_with_enough_returns():
    hour, day = 3_600 * 10**9, 86_400 * 10**9
    assert choose_period(np.array([0, 25 * day])) == ("day", day)
    assert choose_period(np.array([0, 19 * day])) == ("hour", hour)
    assert choose_period(np.array([0, 19 * hour])) == ("bar", None)


def test_the_tables_are_printed(result):
    from rich.console import Console

    console = Console(record=True, width=140)
    result.render(console)
    text = console.export_text()
    for part in (
        "attribution: each run's figures (hourly returns)",
        "contribution: the full configuration minus the run",
        "without riskguard, vol-matched",
        "without time_exit",
        "off already",
        "time_exit: closes a trade after 24 bars or 0.25 hours without a new best price",
    ):
        assert part in text, part


def test_the_chart_is_written_and_the_same_every_time(result, attribution):
    path = [p for p in result.files if p.name == "attribution.png"]
    assert path and path[0].read_bytes() == attribution_png(attribution)
    assert path[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- walk-forward --------------------------------------------------------------------------


def test_windows_are_consecutive_and_checked(bars):
    bounds = windows(bars, 4)
    assert len(bounds) == 4 and bounds[0][0] == bars["ts"][0]
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
    for n in (1, 51, 2.5, True):
        with pytest.raises(rg.RiskError, match=r"walk_forward must be a whole number in \[2, 50\]"):
            windows(bars, n)
    few = bars.head(3 * MIN_WINDOW_TIMES - 1)
    with pytest.raises(rg.RiskError, match="at least 50 bar times a window.*use at most 2"):
        windows(few, 3)


def test_walk_forward_shows_each_groups_contribution_per_window(bars):
    part = bars.head(1_500)
    result = backtest_frames(
        part,
        ema_cross(part),
        config=Config(limits=LIMITS),
        walk_forward=3,
        groups=["time_exit", "volatility_spike"],
    )
    wf = result.walk_forward
    assert result.attribution is not None  # implied
    assert len(wf.windows) == len(wf.bounds) == 3
    assert [w.resamples for w in wf.windows] == [0, 0, 0]
    s = wf.stability("volatility_spike", "sharpe")
    assert s.values.shape == (3,) and s.mean == pytest.approx(np.nanmean(s.values))
    assert 0.0 <= s.same_sign <= 1.0 and s.spread >= 0.0
    window = wf.windows[1]
    assert s.values[1] == window.row("volatility_spike").contribution["sharpe"].estimate


# --- the command ---------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riskguard", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "140"},
    )


def test_the_command_prints_the_attribution_and_writes_its_chart(bars, tmp_path):
    prices = tmp_path / "btc.csv"
    bars.head(1_500).with_columns(pl.from_epoch("ts", time_unit="ns").alias("timestamp")).drop(
        "ts"
    ).write_csv(prices)
    out = tmp_path / "out"
    done = cli(
        "backtest",
        "--prices",
        str(prices),
        "--strategy",
        "ema-cross",
        "--attribution",
        "--walk-forward",
        "3",
        "--groups",
        "volatility_spike",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    for part in (
        "attribution: each run's figures",
        "without volatility_spike",
        "walk-forward: contribution to Sharpe in 3 windows",
        "walk-forward: contribution to max drawdown in 3 windows",
        "attribution.png",
    ):
        assert part in done.stdout, part
    assert (out / "attribution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = cli("backtest", "--prices", str(prices), "--strategy", "ema-cross", "--groups", "x,y")
    assert bad.returncode == 1 and "unknown rule group 'x'" in bad.stderr
