"""Latched halts in a backtest (riskguard.app.backtest.halts): a tight max drawdown on real
BTCUSDT bars stops the riskguard run, the result and the report say when, and
auto_reset_after lets the run trade again."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import polars as pl
import pytest
import riskguard as rg
from data_files import BTC_CSV
from riskguard.app.backtest import backtest_frames, read_prices
from riskguard.app.backtest.halts import AutoReset, check_auto_reset
from riskguard.app.config import Config
from riskguard.app.report import write_report
from riskguard.strategies import ema_cross

HOUR = 3_600 * 10**9
# A drawdown of 0.03 % halts the run within the first hour of 2022 (a position risks 1 %).
TIGHT = Config(limits={"max_drawdown": 0.0003})


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return read_prices(BTC_CSV, symbol="BTC").head(6_000)


@pytest.fixture(scope="module")
def halted(bars):
    return backtest_frames(bars, ema_cross(bars), config=TIGHT)


@pytest.fixture(scope="module")
def reset(bars):
    return backtest_frames(bars, ema_cross(bars), config=TIGHT, auto_reset_after=0.25)


def test_a_latched_halt_is_reported_with_its_time_and_equity(halted):
    run = halted.guarded
    assert len(run.halts) == 1
    halt = run.halts[0]
    assert halt.breaker == "max_drawdown" and halt.reset_ts is None
    assert run.ts[0] <= halt.ts <= run.ts[-1]
    i = int(np.searchsorted(run.ts, halt.ts))
    assert halt.equity == run.equity[i]
    trip = next(t for t in halted.trips if t["breaker"] == "max_drawdown")
    assert trip["ts"] == halt.ts
    # It held: no trade opened after it, and the gate said why.
    assert all(t["entry_ts"] < halt.ts for t in run.trades)
    assert halted.decisions["DRAWDOWN_LIMIT"] > 0
    assert "no trading after it" in halt.describe()


def test_the_result_table_says_when_trading_stopped(halted):
    from rich.console import Console

    console = Console(record=True, width=140)
    halted.render(console)
    text = console.export_text()
    assert "stopped trading (latched halt)" in text
    assert "max_drawdown, 2021-12-31 23:38 UTC" in text
    assert "latched halt: max_drawdown at 2021-12-31 23:38 UTC, equity" in text


def test_without_a_halt_the_table_says_never(bars):
    part = bars.head(1_000)
    result = backtest_frames(part, ema_cross(part), config=Config())
    assert result.guarded.halts == []
    from rich.console import Console

    console = Console(record=True, width=140)
    result.render(console)
    row = next(line for line in console.export_text().splitlines() if "stopped trading" in line)
    assert row.split("│")[-2].strip() == "never"


def test_auto_reset_lets_the_run_trade_again(halted, reset):
    first = reset.guarded.halts[0]
    assert first.ts == halted.guarded.halts[0].ts
    # Reset at the first bar six hours (0.25 days) after the trip, and listed.
    assert (
        first.reset_ts == reset.guarded.ts[np.searchsorted(reset.guarded.ts, first.ts + 6 * HOUR)]
    )
    assert math.isfinite(first.reset_equity)
    assert "; reset at 2022-01-01 05:38 UTC" in first.describe()
    assert any(t["entry_ts"] > first.reset_ts for t in reset.guarded.trades)
    assert reset.guarded.summary["trades"] > halted.guarded.summary["trades"]
    # Each reset is a control action of the backtest, in the journal.
    with rg.journal.Journal(reset.journal) as j:
        controls = [c for c in j.controls() if c.action == "reset"]
    assert len(controls) == len([h for h in reset.guarded.halts if h.reset_ts is not None])
    assert {c.actor for c in controls} == {"backtest"} and controls[0].name == "max_drawdown"


def test_the_report_marks_the_halt_and_its_reset(reset, tmp_path):
    files = write_report(reset.journal, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Latched halts</h2>" in page and "max_drawdown" in page
    assert "2021-12-31T23:38:00Z" in page and "2022-01-01T05:38:00Z" in page
    assert f"{len(reset.guarded.halts)} latched halts marked" in page  # the equity chart's alt
    assert files[0].name == "equity.png"


def test_a_report_without_a_halt_says_so(bars, tmp_path):
    part = bars.head(1_000)
    result = backtest_frames(part, ema_cross(part), config=Config())
    write_report(result.journal, tmp_path)
    assert "No latched halt" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("days", [0, -1, math.nan, math.inf, True, "1"])
def test_a_bad_auto_reset_is_refused(bars, days):
    with pytest.raises(rg.RiskError, match="auto_reset_after must be a number of days > 0"):
        backtest_frames(
            bars.head(100), ema_cross(bars.head(100)), config=Config(), auto_reset_after=days
        )


def test_auto_reset_notes_only_latched_halts():
    class E:
        def __init__(self, kind, breaker, ts):
            self.kind, self.breaker, self.ts = kind, breaker, ts

    watch = AutoReset(frozenset({"max_drawdown"}), 1.0)
    day = 86_400 * 10**9
    watch.seen([E("breaker_tripped", "daily_loss", 0), E("breaker_tripped", "max_drawdown", 5)])
    assert watch.due(day + 4) == [] and watch.due(day + 5) == ["max_drawdown"]
    assert watch.due(2 * day) == []  # once per halt
    assert check_auto_reset(2) == 2.0


def test_the_command_resets_after_days(bars, tmp_path):
    prices = tmp_path / "btc.csv"
    bars.with_columns(pl.from_epoch("ts", time_unit="ns").alias("timestamp")).drop("ts").write_csv(
        prices
    )
    config = tmp_path / "risk.toml"
    config.write_text("[limits]\nmax_drawdown = 0.0003\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "riskguard",
            "backtest",
            "--prices",
            str(prices),
            "--strategy",
            "ema-cross",
            "--config",
            str(config),
            "--auto-reset-after",
            "0.25",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "140"},
    )
    assert done.returncode == 0, done.stderr
    assert "latched halt: max_drawdown at 2021-12-31 23:38 UTC" in done.stdout
    assert "reset at 2022-01-01 05:38 UTC" in done.stdout
