"""``riskguard optimize``."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from riskguard.app import facade
from riskguard.app.cli.base import (
    SignalsFile,
    StrategyName,
    SymbolOption,
    TimestampFormat,
    _console,
    one_source,
)


class Objective(str, Enum):
    sharpe = "sharpe"
    calmar = "calmar"
    return_at_dd = "return_at_dd"


def optimize(
    prices: Annotated[
        Path,
        typer.Option(metavar="FILE", help="Price bars to search on: a CSV or Parquet file."),
    ],
    grid: Annotated[
        Path,
        typer.Option(
            metavar="FILE",
            help="The settings to search: a TOML file with [grid] (lists of [limits] values) "
            "or [ranges] with samples = N.",
        ),
    ],
    strategy: StrategyName = None,
    signals: SignalsFile = None,
    config: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Base configuration TOML; default riskguard.toml if it exists, + RG_*.",
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="The base profile: conservative, intraday, swing or vol-target (default: the "
            "grid file's, else the configuration's).",
        ),
    ] = None,
    objective: Annotated[
        Objective | None,
        typer.Option(
            help="What a window's training part is optimised for (default: the grid "
            "file's, else sharpe)."
        ),
    ] = None,
    drawdown_cap: Annotated[
        float | None,
        typer.Option(
            metavar="CAP",
            help="return_at_dd's cap on the max drawdown, a fraction (default 0.25).",
        ),
    ] = None,
    windows: Annotated[
        int | None,
        typer.Option(metavar="N", help="Walk-forward windows (default: the grid file's, else 4)."),
    ] = None,
    train: Annotated[
        float | None,
        typer.Option(
            metavar="SHARE",
            help="Each window's share used for choosing; the rest scores (default 0.75).",
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(metavar="FILE", help="Where to write the chosen settings as a profile."),
    ] = Path("optimized.toml"),
    symbol: SymbolOption = None,
    timestamp_format: TimestampFormat = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of the table.")
    ] = False,
) -> None:
    """Choose risk settings out of sample: a grid searched with walk-forward validation.

    The prices' time span is cut into --windows windows; in each, every setting of the grid
    is replayed at engine speed on the window's first --train share, the best by --objective
    is chosen, and it is scored on the rest, which it never saw. The table shows in-sample
    against out-of-sample scores per window: the gap is the overfitting. The last window's
    choice is written to --out as a profile that `riskguard backtest --config` takes.

    Examples:

        riskguard optimize --prices daily.csv --strategy ema-cross --grid grid.toml
        riskguard optimize --prices bars.csv --strategy ema-cross --grid grid.toml \\
            --profile swing --objective return_at_dd --drawdown-cap 0.2 --out swing.toml
    """
    one_source(signals, strategy)
    result = facade.run_optimize(
        prices,
        grid,
        signals=signals,
        strategy=strategy,
        config=config,
        profile=profile,
        objective=None if objective is None else objective.value,
        drawdown_cap=drawdown_cap,
        windows=windows,
        train=train,
        out=out,
        symbol=symbol,
        timestamp_format=timestamp_format,
        console=None if as_json else _console(),
    )
    if as_json:
        typer.echo(json.dumps(facade.jsonable(result.to_dict()), indent=2, allow_nan=False))
