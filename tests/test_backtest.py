"""Backtests: reading prices and signals (with one-line errors naming file, line and column), the
built-in ema-cross strategy against a plain reference, the naïve run's trades, Guard.on_bar, and
whole backtests on real data."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import riskguard as rg
from data_files import BTC_CSV as BTC
from data_files import DATA
from riskguard.app.backtest.runs import _round_trips
from riskguard.backtest import (
    Columns,
    DataError,
    read_prices,
    read_signals,
    run_backtest,
)
from riskguard.brokers import Fill, Liquidity, PaperBroker
from riskguard.guard import Guard
from riskguard.strategies import ema_cross, strategy

S = 10**9
T0 = 1_700_006_400 * S


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- reading -------------------------------------------------------------------------------


def test_real_files_are_read():
    btc = read_prices(BTC, symbol="BTCUSDT")
    assert btc.height == 45_031 and btc["symbol"][0] == "BTCUSDT"
    assert btc["ts"][0] == 1_640_991_660 * S  # 2021-12-31 23:01 UTC
    assert (np.diff(btc["ts"].to_numpy()) > 0).all()
    gbp = read_prices(DATA / "gbpusd-m1-bid-2012-02.csv.gz", symbol="GBPUSD")
    assert gbp["ts"][0] == 1_328_054_400 * S and gbp["volume"].is_nan().all()  # none given
    ticks = read_prices(DATA / "usdjpy-ticks-2013-01-01.csv.gz", columns=Columns(price="bid"))
    assert ticks["open"][0] == ticks["close"][0] == 86.655


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("timestamp,open,high,low,close\n", "empty: no rows"),
        ("timestamp,open,high,low\n2022-01-01,1,2,1\n", "missing column 'close'"),
        (
            "timestamp,open,high,low,close\n2022-01-01,1,2,1,1.5\nnot a time,1,2,1,1.5\n",
            r"prices.csv:3: column 'timestamp': cannot parse",
        ),
        (
            "timestamp,open,high,low,close\n2022-01-02,1,2,1,1.5\n2022-01-01,1,2,1,1.5\n",
            r"prices.csv:3: column 'timestamp': timestamps go backwards",
        ),
        (
            "timestamp,open,high,low,close\n2022-01-01,1,2,1,1.5\n2022-01-02,1,2,-1,1.5\n",
            r"prices.csv:3: column 'low': must be > 0, got -1",
        ),
        (
            "timestamp,open,high,low,close\n2022-01-01,1,2,1,2.5\n",
            r"prices.csv:2: columns 'high'/'low': a bar needs",
        ),
        (
            "timestamp,open,high,low,close,volume\n2022-01-01,1,2,1,1.5,-3\n",
            r"prices.csv:2: column 'volume': must be >= 0",
        ),
        ("timestamp,price\n2022-01-01,nan\n", r"prices.csv:2: column 'price': must be > 0"),
    ],
)
def test_a_bad_prices_file_is_one_line_naming_file_line_and_column(tmp_path, text, message):
    path = write(tmp_path / "prices.csv", text)
    with pytest.raises(DataError, match=message) as e:
        read_prices(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)
    assert isinstance(e.value, rg.RiskError)


BAR = "timestamp,open,high,low,close,volume\n2022-01-01,1,2,1,1.5,10\n"


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        # Extreme and impossible prices: each the engine's range would refuse later, without
        # the file, the line or the column.
        ("2022-01-02,1e308,1e308,1e308,1e308,10", "open", r"must be in \[1e-15, 1e\+15\]"),
        ("2022-01-02,1,1e16,1,1,10", "high", r"must be in \[1e-15, 1e\+15\].*got 1e\+16"),
        ("2022-01-02,1,2,1e-300,1,10", "low", r"must be in \[1e-15, 1e\+15\].*got 1e-300"),
        ("2022-01-02,1,2,1,inf,10", "close", "must be finite, got inf"),
        ("2022-01-02,-inf,2,1,1.5,10", "open", "must be > 0, got -inf"),
        ("2022-01-02,1,2,1,nan,10", "close", "must be > 0, got nan"),
        ("2022-01-02,0,2,1,1.5,10", "open", "must be > 0, got 0"),
        ("2022-01-02,1,2,-1e308,1.5,10", "low", "must be > 0, got -1e\\+308"),
        ("2022-01-02,1,2,1,,10", "close", "must be > 0, got nan"),  # an empty cell
        ("2022-01-02,1,2,1,1.5x,10", "close", "not a number: '1.5x'"),
        # Absurd volumes.
        ("2022-01-02,1,2,1,1.5,1e300", "volume", r"must be in \[0, 1e\+20\], got 1e\+300"),
        ("2022-01-02,1,2,1,1.5,inf", "volume", "must be finite, got inf"),
        ("2022-01-02,1,2,1,1.5,-1", "volume", "must be >= 0, got -1"),
        ("2022-01-02,1,2,1,1.5,many", "volume", "not a number: 'many'"),
        ("2022-01-02,1,2,1,1.5,nan", "volume", "must be >= 0, got nan"),
    ],
)
def test_an_extreme_or_impossible_value_names_file_line_and_column(tmp_path, row, column, message):
    """Issue 14, row 16: a price of 1e308 is one error naming the file, the line and the
    column, as is every other value the engine or the broker would refuse."""
    path = write(tmp_path / "prices.csv", BAR + row + "\n")
    with pytest.raises(DataError, match=rf"^{path}:3: column '{column}': {message}") as e:
        read_prices(path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timestamp,price\n-5,1.0\n", "1970-01-01"),
        ("timestamp,price\n1969-12-31,1.0\n", "1970-01-01"),
        # Seconds that would overflow int64 once made nanoseconds.
        ("timestamp,price\n99999999999,1.0\n", "out of range"),
        ("timestamp,price\n1,1.0\n,1.0\n", "missing timestamp"),
    ],
)
def test_a_timestamp_the_engine_cannot_hold_names_its_line(tmp_path, text, message):
    path = write(tmp_path / "t.csv", text)
    with pytest.raises(DataError, match=rf"^{path}:\d: column 'timestamp': .*{message}"):
        read_prices(path)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("stop", "1e308", r"must be in \[1e-15, 1e\+15\]"),
        ("target", "inf", "must be finite"),
        ("quantity", "1e300", r"must be in \(0, 1e\+15\]"),
        ("quantity", "-2", "must be > 0"),
        ("confidence", "1.5", r"must be in \[0, 1\]"),
        ("atr", "0", "must be > 0"),
        ("volume_24h", "-1", "must be >= 0"),
        ("spread_bps", "wide", "not a number: 'wide'"),
    ],
)
def test_a_bad_number_in_a_signals_file_names_its_line_and_column(tmp_path, column, value, message):
    path = write(
        tmp_path / "s.csv",
        f"timestamp,symbol,side,{column}\n2022-01-01,BTC,long,\n2022-01-02,BTC,long,{value}\n",
    )
    with pytest.raises(DataError, match=rf"^{path}:3: column '{column}': {message}"):
        read_signals(path)


def test_a_price_of_1e308_is_one_error_line_from_the_cli(tmp_path):
    path = write(tmp_path / "prices.csv", BAR + "2022-01-02,1e308,1e308,1e308,1e308,10\n")
    out = subprocess.run(
        [sys.executable, "-m", "riskguard", "backtest", "--prices", str(path),
         "--strategy", "ema-cross", "--journal", f"sqlite:///{tmp_path / 'j.db'}"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.splitlines() == [
        f"error: {path}:3: column 'open': must be in [1e-15, 1e+15] (the engine's price "
        "range), got 1e+308"
    ]


def test_a_missing_file_and_an_unknown_strategy(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_prices(tmp_path / "nothing.csv")
    with pytest.raises(rg.RiskError, match="ema-cross"):
        strategy("rsi-magic")


def test_timestamps_go_backwards_only_within_a_symbol(tmp_path):
    path = write(
        tmp_path / "p.csv",
        "timestamp,symbol,price\n2022-01-02,A,1\n2022-01-01,B,2\n2022-01-03,A,1\n",
    )
    bars = read_prices(path)
    assert bars["symbol"].to_list() == ["B", "A", "A"]  # sorted by time
    bad = write(tmp_path / "q.csv", "timestamp,symbol,price\n2022-01-02,A,1\n2022-01-01,A,2\n")
    with pytest.raises(DataError, match="q.csv:3"):
        read_prices(bad)


def test_signals_are_read_and_checked(tmp_path):
    good = write(
        tmp_path / "s.csv",
        "timestamp,symbol,side,stop\n2022-01-01 00:05,BTC,buy,90\n2022-01-01 00:01,BTC,short,\n",
    )
    sig = read_signals(good)
    assert sig["side"].to_list() == ["short", "long"] and sig["stop"][1] == 90
    bad = write(tmp_path / "b.csv", "timestamp,symbol,side\n2022-01-01,BTC,up\n")
    with pytest.raises(DataError, match=r"b.csv:2: column 'side'"):
        read_signals(bad)
    with pytest.raises(DataError, match="missing column 'side'"):
        read_signals(write(tmp_path / "c.csv", "timestamp,symbol\n2022-01-01,BTC\n"))


# --- the strategy --------------------------------------------------------------------------


def test_ema_cross_matches_a_pandas_reference():
    bars = read_prices(BTC, symbol="BTC").head(3_000)
    sig = ema_cross(bars)
    close = pd.Series(bars["close"].to_numpy())
    gap = close.ewm(span=12, adjust=False).mean() - close.ewm(span=26, adjust=False).mean()
    side = np.sign(gap.to_numpy())
    crossed = np.zeros(len(side), dtype=bool)
    crossed[1:] = (side[1:] != side[:-1]) & (side[1:] != 0)
    crossed[:26] = False
    expected = bars["ts"].to_numpy()[crossed]
    np.testing.assert_array_equal(sig["ts"].to_numpy(), expected)
    assert set(sig["side"]) <= {"long", "short"}
    first = sig.row(0, named=True)
    assert (first["stop"] < first["target"]) == (first["side"] == "long")
    # 2 ATRs of risk for 4 of reward
    assert abs(first["target"] - first["stop"]) == pytest.approx(6 * first["atr"])
    assert set(sig["consensus"]) <= {"WEAK", "STRONG", "UNANIMOUS"}


def test_ema_cross_refuses_bad_periods():
    bars = read_prices(BTC, symbol="BTC").head(100)
    with pytest.raises(rg.RiskError, match="fast < slow"):
        ema_cross(bars, fast=30, slow=20)
    with pytest.raises(rg.RiskError, match="stop_atr"):
        ema_cross(bars, stop_atr=0.0)


# --- the naive run's trades ----------------------------------------------------------------


def test_round_trips_are_worked_out_from_fills():
    def fill(qty: float, price: float, fee: float = 0.0) -> Fill:
        return Fill("c", "X", qty, price, fee, T0, Liquidity.TAKER)

    trades = _round_trips(
        [fill(10, 100, 1), fill(-4, 110, 0.4), fill(-6, 90, 0.6), fill(-5, 90), fill(5, 80)]
    )
    # long 10 @ 100: +40 on 4 @ 110, -60 on 6 @ 90, fees 2; then short 5 @ 90 closed @ 80: +50
    assert [round(t["pnl"], 9) for t in trades] == [-22.0, 50.0]
    assert all(math.isnan(t["r_multiple"]) for t in trades)
    flip = _round_trips([fill(2, 100), fill(-3, 110, 3.0), fill(1, 100)])
    assert [round(t["pnl"], 9) for t in flip] == [18.0, 9.0]  # the flip's fee split 2:1


# --- Guard.on_bar --------------------------------------------------------------------------


def test_a_bar_marks_the_engine_along_its_path(tmp_path):
    cfg = rg.Config(
        journal={"url": f"sqlite:///{tmp_path / 'j.db'}"},
        alerts={"sinks": [{"type": "log", "path": str(tmp_path / "a.log")}]},
        limits={"signal_filters": False, "require_trend": False, "position_loss": "off"},
    )

    async def go() -> None:
        async with Guard(cfg, PaperBroker()) as guard:
            await guard.on_bar("X", 100.0, 101.0, 99.0, 100.0, 1.0, T0)
            d = await guard.submit(rg.Signal("X", "long", 100.0, stop=95.0, target=130.0))
            assert d.approved
            await guard.on_bar("X", 100.0, 101.0, 99.5, 100.5, 1.0, T0 + 60 * S)  # fills at open
            assert guard.engine.snapshot().positions["X"].qty == d.quantity
            # The bar dips through the stop and closes above it: the exit still fires.
            events = await guard.on_bar("X", 100.0, 101.0, 94.0, 100.0, 1.0, T0 + 120 * S)
            assert [e.reason for e in events if e.kind == "exit_signal"] == ["stop_loss"]
            for k in range(3, 16):  # the engine's ATR (14 bars) takes the bars
                await guard.on_bar("X", 100.0, 101.0, 99.0, 100.0, 1.0, T0 + 60 * k * S)
            assert guard.engine.indicators("X")["atr"] == pytest.approx(2.0, rel=0.2)
            before = guard.engine.to_bytes()
            with pytest.raises(rg.RiskError):
                await guard.on_bar("X", 100.0, 99.0, 101.0, 100.0, 1.0, T0 + 3600 * S)
            with pytest.raises(rg.RiskError):
                await guard.on_bar("X", 100.0, 101.0, 99.0, 100.0, -1.0, T0 + 3600 * S)
            with pytest.raises(rg.RiskError):
                await guard.on_bar("X", 100.0, 101.0, 99.0, 100.0, 1.0, T0)  # backwards
            assert guard.engine.to_bytes() == before

    asyncio.run(go())


# --- whole backtests -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def btc_backtest(tmp_path_factory):
    out = tmp_path_factory.mktemp("btc")
    return run_backtest(BTC, strategy="ema-cross", symbol="BTCUSDT", out=out), out


def test_riskguard_cuts_the_drawdown_of_ema_cross_on_real_btc(btc_backtest):
    result, _ = btc_backtest
    # A real outcome, not a tuned one: only the direction is asserted.
    assert result.guarded.summary["max_drawdown"] < result.naive.summary["max_drawdown"]
    assert result.bars == 45_031 and result.signals > 100
    assert result.decisions.get("APPROVED", 0) > 0 and len(result.decisions) > 1
    assert any("spread" in note for note in result.notes)  # bars carry no spread


def test_a_backtest_stores_both_curves_and_writes_the_report(btc_backtest):
    result, out = btc_backtest
    with rg.journal.Journal(result.journal) as j:
        assert j.series_names() == ["baseline_equity", "equity"]
        ts, equity = j.series("equity")
        assert len(ts) == 45_031 and equity[-1] == pytest.approx(result.guarded.equity[-1])
        assert sum(1 for d in j.decisions()) == result.signals
    assert (out / "report.html").is_file() and (out / "equity.png").is_file()


def test_a_signals_file_is_backtested(tmp_path):
    bars = read_prices(BTC, symbol="BTC").head(2_000)
    prices = tmp_path / "prices.parquet"
    bars.with_columns(pl.from_epoch("ts", time_unit="ns").alias("timestamp")).drop(
        "ts"
    ).write_parquet(prices)
    closes = bars["close"].to_numpy()
    times = bars["ts"].to_numpy()
    rows = ["timestamp,symbol,side,stop,target,quantity"]
    for i in (100, 400, 900, 1500):
        side = "long" if i % 200 == 0 else "short"
        c = closes[i]
        stop, target = (c * 0.99, c * 1.03) if side == "long" else (c * 1.01, c * 0.97)
        rows.append(f"{int(times[i])},BTC,{side},{stop},{target},0.5")
    signals = write(tmp_path / "signals.csv", "\n".join(rows) + "\n")
    result = run_backtest(prices, signals=signals, journal=f"sqlite:///{tmp_path / 'j.db'}")
    assert result.signals == 4 and sum(result.decisions.values()) >= 4
    notes = " ".join(result.notes)
    assert "confidence" in notes and "consensus" in notes  # switched off, and said so
    with pytest.raises(rg.RiskError, match="already holds a run"):
        run_backtest(prices, signals=signals, journal=f"sqlite:///{tmp_path / 'j.db'}")
    with pytest.raises(rg.RiskError, match="give one of"):
        run_backtest(prices, signals=signals, strategy="ema-cross")


# --- the command ---------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riskguard", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "140"},
    )


def test_the_backtest_command_prints_both_runs_and_writes_the_report(tmp_path):
    bars = read_prices(BTC, symbol="BTC").head(12_000)
    prices = tmp_path / "btc.csv"
    bars.with_columns(pl.from_epoch("ts", time_unit="ns").alias("timestamp")).drop("ts").write_csv(
        prices
    )
    done = cli(
        "backtest",
        "--prices",
        str(prices),
        "--strategy",
        "ema-cross",
        "--out",
        str(tmp_path / "out"),
    )
    assert done.returncode == 0, done.stderr
    for text in ("without riskguard", "with riskguard", "max drawdown", "decisions by reason code"):
        assert text in done.stdout
    assert (tmp_path / "out" / "report.html").is_file()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("timestamp,open,high,low,close\n2022-01-01,1,2,1,1.5\n2021-01-01,1,2,1,1.5\n", ":3:"),
        ("timestamp,open,high,low\n2022-01-01,1,2,1\n", "missing column 'close'"),
        ("", "empty"),
    ],
)
def test_a_bad_prices_file_is_one_line_and_exit_1(tmp_path, text, where):
    prices = write(tmp_path / "bad.csv", text)
    done = cli("backtest", "--prices", str(prices), "--strategy", "ema-cross")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and where in lines[0] and "bad.csv" in lines[0]
    assert "Traceback" not in done.stderr


def test_the_report_command_writes_the_report_of_any_journal(btc_backtest, tmp_path):
    result, _ = btc_backtest
    done = cli("report", "--journal", result.journal, "--out", str(tmp_path / "r"))
    assert done.returncode == 0, done.stderr
    for name in ("report.html", "equity.png", "drawdown.png", "rolling_var.png"):
        assert (tmp_path / "r" / name).is_file() and name in done.stdout
    missing = cli(
        "report", "--journal", f"sqlite:///{tmp_path / 'none.db'}", "--out", str(tmp_path)
    )
    assert missing.returncode == 1 and len(missing.stderr.strip().splitlines()) == 1


def test_a_file_without_volume_switches_the_volume_check_off(tmp_path):
    result = run_backtest(
        DATA / "gbpusd-m1-bid-2012-02.csv.gz",
        strategy="ema-cross",
        symbol="GBPUSD",
        journal=f"sqlite:///{tmp_path / 'j.db'}",
    )
    assert any("volume_24h" in note for note in result.notes)
    assert "VOLUME_TOO_LOW" not in result.decisions
    assert result.decisions.get("APPROVED", 0) > 0


def test_signals_no_bar_can_take_and_bad_values_are_reported(tmp_path):
    bars = read_prices(BTC, symbol="BTC").head(500)
    prices = tmp_path / "p.parquet"
    bars.with_columns(pl.from_epoch("ts", time_unit="ns").alias("timestamp")).drop(
        "ts"
    ).write_parquet(prices)
    t = bars["ts"].to_numpy()
    c = bars["close"].to_numpy()
    rows = [
        "timestamp,symbol,side,stop,quantity",
        f"{t[100]},BTC,long,{c[100] * 1.5},0.1",  # a stop above a long's entry: invalid
        f"{t[200]},ETH,long,,0.1",  # no ETH prices
        f"{t[-1] + 10**12},BTC,short,,0.1",  # after the last bar
        f"{t[300]},BTC,long,,",  # NaN quantity: the naive run sizes it itself
    ]
    signals = write(tmp_path / "s.csv", "\n".join(rows) + "\n")
    result = run_backtest(prices, signals=signals, journal=f"sqlite:///{tmp_path / 'j.db'}")
    notes = " ".join(result.notes)
    assert "1 signals are for symbols the prices do not have (ETH)" in notes
    assert "1 signals come after the last bar" in notes
    assert result.decisions["INVALID_SIGNAL"] == 1
    assert result.naive.trades or result.naive.equity[-1] != result.naive.equity[0]


def test_out_never_replaces_a_journal_that_is_not_a_backtests(tmp_path):
    from riskguard.journal import Journal

    with Journal(f"sqlite:///{tmp_path / 'journal.db'}") as live:
        live.record_control("pause", T0, reason="a live Guard's journal")
    with pytest.raises(rg.RiskError, match="not a backtest's journal"):
        run_backtest(BTC, strategy="ema-cross", symbol="BTC", out=tmp_path)
    with Journal(f"sqlite:///{tmp_path / 'journal.db'}") as live:
        assert live.controls()[0].reason == "a live Guard's journal"


def test_the_naive_run_reports_the_orders_the_broker_refused(tmp_path):
    bars = read_prices(BTC, symbol="BTC").head(3_000)
    signals = ema_cross(bars)
    from riskguard.backtest import backtest_frames

    cfg = rg.Config(broker={"cash": 1_000.0}, limits={"max_spread_bps": None})
    # quantity far beyond the cash: the broker refuses, and the note says how often
    big = signals.with_columns(pl.lit(10.0).alias("quantity"))
    result = backtest_frames(bars, big, config=cfg, journal=f"sqlite:///{tmp_path / 'j.db'}")
    assert any("refused" in note and "naive" in note for note in result.notes)


def test_a_flat_book_is_marked_at_the_close_only(tmp_path):
    cfg = rg.Config(
        journal={"url": f"sqlite:///{tmp_path / 'j.db'}"},
        alerts={"sinks": [{"type": "log", "path": str(tmp_path / "a.log")}]},
    )

    async def go() -> list[str]:
        async with Guard(cfg, PaperBroker()) as guard:
            kinds = []
            for k in range(60):  # closes barely move; the ranges are wild
                close = 100.0 + 0.01 * (k % 2)
                events = await guard.on_bar("X", close, 130.0, 70.0, close, 1.0, T0 + k * 60 * S)
                kinds += [e.breaker for e in events if e.kind == "breaker_tripped"]
            return kinds

    # Intrabar moves of a book with nothing to stop out are not returns of the close series.
    assert "volatility_spike" not in asyncio.run(go())


@pytest.mark.parametrize("scale", [1, 10**3, 10**6, 10**9])
def test_epoch_integers_are_read_in_their_unit(tmp_path, scale):
    path = write(
        tmp_path / "e.csv",
        f"timestamp,price\n{1_600_000_000 * scale},1.0\n{1_600_000_060 * scale},1.1\n",
    )
    assert read_prices(path)["ts"].to_list() == [1_600_000_000 * S, 1_600_000_060 * S]
