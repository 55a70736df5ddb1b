"""What each profile does to a strategy, measured on data that ships offline: the built-in
ema-cross strategy traded naively and through riskguard with each profile, on

- daily series: skfolio's five factor ETFs (``load_factors_dataset``: MTUM, QUAL, SIZE, USMV,
  VLUE, closes), arch's NASDAQ composite (``arch.data.nasdaq``, OHLC) and WTI crude
  (``arch.data.wti``, closes);
- minute bars in tests/data: BTCUSDT perpetual (January 2022) and GBP/USD (February 2012).

For each profile it prints, over the daily panel and over the minute bars, the median over
instruments of

- guarded Sharpe / naive Sharpe (Sharpe does not change when the naive run is scaled to the
  guarded run's volatility, so this is also the volatility-matched ratio);
- guarded max drawdown / naive max drawdown, and / the drawdown of the naive run scaled to the
  guarded run's volatility (the honest one: a run that trades smaller draws down less);

and whether the profile keeps >= 0.8 of the naive Sharpe while cutting the max drawdown by
>= 50 % on the daily panel. Run it from the repository's root::

    python benches/evaluate_profiles.py            # every profile, every series
    python benches/evaluate_profiles.py --profiles swing vol-target --daily-only

A close-only series gets bars whose open, high and low are the close (the ATR is then the
close-to-close range).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import riskguard as rg  # noqa: E402
from riskguard.app.backtest import backtest_frames, read_prices  # noqa: E402
from riskguard.app.config.profiles import PROFILES  # noqa: E402
from riskguard.strategies import ema_cross  # noqa: E402


def daily_series() -> dict[str, pl.DataFrame]:
    """Each daily instrument as a bars frame written and read as a backtest reads a file."""
    import arch.data.nasdaq
    import arch.data.wti
    from skfolio.datasets import load_factors_dataset

    frames: dict[str, object] = {}
    factors = load_factors_dataset()
    for column in factors.columns:
        frames[column] = factors[[column]].rename(columns={column: "close"})
    nasdaq = arch.data.nasdaq.load()
    frames["NASDAQ"] = nasdaq[["Open", "High", "Low", "Close", "Volume"]].rename(columns=str.lower)
    frames["WTI"] = arch.data.wti.load().rename(columns={"DCOILWTICO": "close"}).dropna()
    out = {}
    folder = Path(tempfile.mkdtemp(prefix="rg-eval-"))
    for name, frame in frames.items():
        df = pl.from_pandas(frame.reset_index()).rename({frame.index.name or "index": "timestamp"})
        df = df.rename({df.columns[0]: "timestamp"})
        if "open" not in df.columns:
            df = df.with_columns(open=pl.col("close"), high=pl.col("close"), low=pl.col("close"))
        df = df.filter(pl.col("close") > 0)
        path = folder / f"{name}.csv"
        df.select("timestamp", "open", "high", "low", "close").write_csv(path)
        out[name] = read_prices(path, symbol=name)
    return out


def minute_series() -> dict[str, pl.DataFrame]:
    from data_files import BTC_CSV, GBPUSD_CSV

    return {
        "BTCUSDT-1m": read_prices(BTC_CSV, symbol="BTCUSDT"),
        "GBPUSD-1m": read_prices(GBPUSD_CSV, symbol="GBPUSD"),
    }


def metrics(equity: np.ndarray) -> tuple[float, float, float]:
    """(Sharpe per period, max drawdown, volatility per period) of an equity curve."""
    r = np.diff(equity) / equity[:-1]
    return (
        float(rg.sharpe_ratio(r, periods_per_year=1)),
        float(rg.max_drawdown(r)),
        float(np.std(r, ddof=1)),
    )


def evaluate(name: str, bars: pl.DataFrame, profile: str) -> dict[str, float]:
    signals = ema_cross(bars)
    config = rg.Config(profile=profile, journal={"url": "sqlite:///:memory:"})
    folder = tempfile.mkdtemp(prefix="rg-eval-")
    result = backtest_frames(
        bars, signals, config=config, out=None, progress=False, journal=f"sqlite:///{folder}/j.db"
    )
    naive_sharpe, naive_dd, naive_vol = metrics(result.naive.equity)
    sharpe, dd, vol = metrics(result.guarded.equity)
    scaled = np.diff(result.naive.equity) / result.naive.equity[:-1] * (vol / naive_vol)
    matched_dd = float(rg.max_drawdown(scaled)) if naive_vol > 0 else math.nan
    return {
        "sharpe_ratio": sharpe / naive_sharpe if naive_sharpe > 0 else math.nan,
        "naive_sharpe": naive_sharpe,
        "sharpe": sharpe,
        "dd_ratio": dd / naive_dd if naive_dd > 0 else math.nan,
        "matched_dd_ratio": dd / matched_dd if matched_dd > 0 else math.nan,
        "exposure": vol / naive_vol if naive_vol > 0 else math.nan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", nargs="*", default=list(PROFILES))
    parser.add_argument("--daily-only", action="store_true")
    args = parser.parse_args()
    panels = {"daily": daily_series()}
    if not args.daily_only:
        panels["minute"] = minute_series()
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for panel, series in panels.items():
        table = Table(title=f"{panel} panel: {len(series)} instruments, ema-cross, medians")
        for column in (
            "profile",
            "Sharpe kept",
            "max DD / naive",
            "max DD / vol-matched naive",
            "vol / naive vol",
            "target met",
            "time",
        ):
            table.add_column(column, justify="right")
        for profile in args.profiles:
            started = time.perf_counter()
            rows = [evaluate(n, b, profile) for n, b in series.items()]

            def med(key: str, rows: list[dict[str, float]] = rows) -> float:
                values = [r[key] for r in rows if math.isfinite(r[key])]
                return median(values) if values else math.nan

            kept, dd = med("sharpe_ratio"), med("dd_ratio")
            met = "yes" if kept >= 0.8 and dd <= 0.5 else "no"
            table.add_row(
                profile,
                f"{kept:.2f}",
                f"{dd:.2f}",
                f"{med('matched_dd_ratio'):.2f}",
                f"{med('exposure'):.2f}",
                met if panel == "daily" else "-",
                f"{time.perf_counter() - started:.0f} s",
            )
        console.print(table)


if __name__ == "__main__":
    main()
