"""``riskguard optimize``: the walk-forward search end to end through the command line (the
profile it writes loads with ``rg.Config.load`` and a backtest of the last test part with it
scores what the search reported), windows that choose on their training part only, the grid
file and its errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import arch.data.nasdaq
import numpy as np
import polars as pl
import pytest
import riskguard as rg
from riskguard.app.backtest import backtest_frames, read_prices
from riskguard.app.optimize import (
    Grid,
    objective_scores,
    optimize_frames,
    read_grid,
    windows_of,
)
from riskguard.performance import summary
from riskguard.strategies import ema_cross

GRID = """\
profile = "swing"
windows = 3
train = 0.7

[grid]
sl_atr = [1.5, 3.0]
trail_atr = [2.0, 4.0, "off"]
max_drawdown = [0.1, 0.3]
"""


@pytest.fixture(scope="module")
def ndx_csv(tmp_path_factory) -> Path:
    df = arch.data.nasdaq.load().reset_index()
    path = tmp_path_factory.mktemp("prices") / "ndx.csv"
    pl.DataFrame(
        {
            "timestamp": df["Date"].dt.strftime("%Y-%m-%d").to_list(),
            "open": df["Open"].to_numpy(float),
            "high": df["High"].to_numpy(float),
            "low": df["Low"].to_numpy(float),
            "close": df["Close"].to_numpy(float),
            "volume": df["Volume"].to_numpy(float),
        }
    ).write_csv(path)
    return path


@pytest.fixture(scope="module")
def ndx(ndx_csv) -> tuple[pl.DataFrame, pl.DataFrame]:
    bars = read_prices(ndx_csv, symbol="NDX")
    return bars, ema_cross(bars)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m riskguard *args`` without the caller's RG_ variables."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("RG_")}
    return subprocess.run(
        [sys.executable, "-m", "riskguard", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.mark.parametrize("objective", ["sharpe", "calmar", "return_at_dd"])
def test_the_cli_writes_a_profile_that_reproduces_its_out_of_sample_score(
    tmp_path, ndx_csv, ndx, objective
):
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    out = tmp_path / "chosen.toml"
    args = ["optimize", "--prices", str(ndx_csv), "--symbol", "NDX", "--strategy", "ema-cross"]
    args += ["--grid", str(grid), "--out", str(out), "--objective", objective]
    args += ["--drawdown-cap", "0.2"]
    result = run(*args, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["objective"] == objective and report["settings_tried"] == 12
    assert [w["window"] for w in report["windows"]] == [1, 2, 3]
    assert report["profile"] == "swing" and report["profile_path"] == str(out)

    config = rg.Config.load(out)
    last = report["windows"][-1]
    chosen = last["chosen"]
    assert config.profile == "swing"
    assert config.limits.sl_atr == chosen["sl_atr"]
    assert config.limits.trail_atr == (
        None if chosen["trail_atr"] == "off" else chosen["trail_atr"]
    )
    assert config.limits.max_drawdown.threshold == chosen["max_drawdown"]
    assert config.limits.max_drawdown.action == "reduce"  # the profile's, kept

    # A backtest of the last test part with the profile scores what the search reported.
    bars, signals = ndx
    part = pl.col("ts").is_between(last["train_end"], last["test_end"], closed="left")
    backtest = backtest_frames(
        bars.filter(part), signals.filter(part), config=config, out=tmp_path / "bt"
    )
    s = backtest.guarded.summary
    figures = {k: np.array([[[s[k]]]]) for k in ("sharpe", "calmar", "total_return")}
    figures["max_drawdown"] = np.array([[[s["max_drawdown"]]]])
    want = float(objective_scores(figures, objective, 0.2)[0, 0, 0])
    got = last["out_of_sample"]
    got = {"-inf": -math.inf, None: math.nan}.get(got, got)
    assert got == pytest.approx(want, rel=1e-9, nan_ok=True)

    table = run(*args, cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "in-sample" in table.stdout and "out-of-sample" in table.stdout
    assert f"profile written to {out}" in " ".join(table.stdout.split())


def test_each_window_chooses_on_its_training_part_only(ndx):
    bars, signals = ndx
    grid = read_grid_text(GRID)
    config = rg.Config()
    result = optimize_frames(bars, signals, grid, config=config)
    ins, oos = result.in_sample, result.out_of_sample
    assert ins.shape == oos.shape == (12, 3)
    for k, w in enumerate(result.windows):
        assert w.chosen == int(np.argmax(np.where(np.isnan(ins[:, k]), -np.inf, ins[:, k])))
        assert w.in_sample == ins[w.chosen, k] and w.out_of_sample == oos[w.chosen, k]
    # The grid is one where in-sample and out-of-sample disagree on the best: choosing on the
    # test part would show.
    differ = [k for k in range(3) if np.nanargmax(ins[:, k]) != np.nanargmax(oos[:, k])]
    assert differ, "this grid no longer tells the two apart"

    # The last window's test part rewritten (the market falls 30 % instead): its choice and
    # every in-sample score stay; its out-of-sample scores move.
    w = result.windows[-1].window
    test = bars["ts"].to_numpy() >= w.train_end
    scale = np.where(test, np.linspace(1.0, 0.7, bars.height), 1.0)
    other = bars.with_columns(*(pl.col(c) * scale for c in ("open", "high", "low", "close")))
    again = optimize_frames(other, ema_cross(other), grid, config=config)
    np.testing.assert_array_equal(again.in_sample, ins)
    assert [x.chosen for x in again.windows] == [x.chosen for x in result.windows]
    assert not np.allclose(again.out_of_sample[:, -1], oos[:, -1], equal_nan=True)


def read_grid_text(text: str, tmp: Path | None = None) -> Grid:
    import tempfile

    path = Path(tempfile.mkdtemp() if tmp is None else tmp) / "grid.toml"
    path.write_text(text)
    return read_grid(path)


def test_windows_cut_the_span_in_equal_parts_split_at_the_train_share():
    wins = windows_of(0, 999, 4, 0.75)
    assert [(w.train_start, w.train_end, w.test_end) for w in wins] == [
        (0, 187, 250),
        (250, 437, 500),
        (500, 687, 750),
        (750, 937, 1000),
    ]
    with pytest.raises(rg.RiskError, match="windows must be an integer >= 1"):
        windows_of(0, 9, 0, 0.5)
    with pytest.raises(rg.RiskError, match=r"train must be in \(0, 1\)"):
        windows_of(0, 9, 2, 1.0)


def test_return_at_dd_scores_the_return_within_the_cap_only():
    figures = {
        "total_return": np.array([0.5, 0.8, 0.1, 0.2]),
        "max_drawdown": np.array([0.1, 0.3, 0.2, math.nan]),
    }
    got = objective_scores(figures, "return_at_dd", 0.2)
    assert got[0] == 0.5 and got[1] == -math.inf and got[2] == 0.1 and math.isnan(got[3])
    with pytest.raises(rg.RiskError, match="objective must be one of"):
        objective_scores(figures, "sortino")


def test_random_samples_are_drawn_from_the_grid_and_the_ranges_reproducibly():
    text = """samples = 20\nseed = 3\n[grid]\ntrail_atr = [2.0, "off"]
[ranges]\nsl_atr = [1.0, 4.0]\nmax_bars_no_progress = [10, 80]\n"""
    first, again = read_grid_text(text).settings(), read_grid_text(text).settings()
    assert first == again and len(first) == 20
    assert {p["trail_atr"] for p in first} == {2.0, "off"}
    assert all(1.0 <= p["sl_atr"] <= 4.0 for p in first)
    assert all(isinstance(p["max_bars_no_progress"], int) for p in first)
    assert read_grid_text(text.replace("seed = 3", "seed = 4")).settings() != first


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[grid]\nsl_atrr = [1.0]\n", "grid.sl_atrr: not a [limits] setting"),
        ("[grid]\nsl_atr = []\n", "grid.sl_atr: must be a non-empty list"),
        ("[grid]\nsl_atr = 2.0\n", "grid.sl_atr: must be a non-empty list"),
        ("[ranges]\nsl_atr = [3.0, 1.0]\n", "ranges.sl_atr: must be [low, high]"),
        ("[ranges]\nsl_atr = [1.0, 3.0]\n", "ranges: needs samples = N"),
        ("windowz = 3\n[grid]\nsl_atr = [1.0]\n", "windowz: unknown key"),
        ("objective = 'sortino'\n[grid]\nsl_atr = [1.0]\n", "objective: invalid value"),
        ("", "grid: give at least one setting"),
        ("[grid\n", "not a TOML grid"),
    ],
)
def test_a_bad_grid_names_its_problem(tmp_path, text, message):
    with pytest.raises(rg.ConfigError) as e:
        read_grid_text(text, tmp_path)
    assert message in str(e.value)


def test_a_grid_value_the_engine_refuses_names_the_setting(ndx):
    bars, signals = ndx
    grid = Grid({"sl_atr": [2.0, -1.0]})
    with pytest.raises(rg.ConfigError, match="grid setting sl_atr=-1: limits"):
        optimize_frames(bars, signals, grid, config=rg.Config())


def test_the_cli_refuses_a_missing_grid_in_one_line(tmp_path, ndx_csv):
    out = run(
        "optimize",
        "--prices",
        str(ndx_csv),
        "--symbol",
        "NDX",
        "--strategy",
        "ema-cross",
        "--grid",
        str(tmp_path / "nope.toml"),
        cwd=tmp_path,
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [f"error: {tmp_path / 'nope.toml'}: no such file"]
    assert not (tmp_path / "optimized.toml").exists()


def test_a_part_without_trades_scores_nan_and_the_first_setting_stands(ndx):
    bars, signals = ndx
    # Signals only in the first half: the second half's parts never trade.
    half = bars["ts"][bars.height // 2]
    result = optimize_frames(
        bars,
        signals.filter(pl.col("ts") < half),
        Grid({"sl_atr": [1.5, 3.0]}),
        config=rg.Config(profile="swing"),
        windows=2,
    )
    assert math.isnan(result.windows[1].in_sample) and result.windows[1].chosen == 0
    assert math.isnan(summary(bars["ts"].to_numpy()[:3], [1.0, 1.0, 1.0])["sharpe"])


def test_the_profile_given_wins_over_the_grid_files_which_wins_over_the_configuration(ndx):
    bars, signals = ndx
    grid = Grid({"sl_atr": [2.0]}, profile="swing")
    config = rg.Config(profile="intraday", limits={"risk_per_trade": 0.005})
    on_grid = optimize_frames(bars, signals, grid, config=config, windows=1)
    given = optimize_frames(bars, signals, grid, config=config, profile="vol-target", windows=1)
    assert (on_grid.config.profile, given.config.profile) == ("swing", "vol-target")
    # The configuration's own limits stay over the new profile's.
    assert on_grid.config.limits.risk_per_trade == given.config.limits.risk_per_trade == 0.005
    assert on_grid.config.limits.trail_atr == 3.0 and given.config.limits.sizing == (
        "volatility_target"
    )
