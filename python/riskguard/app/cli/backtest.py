"""``riskguard backtest`` and ``riskguard report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riskguard.app import facade
from riskguard.app.cli.base import (
    ConfigFile,
    JournalUrl,
    SignalsFile,
    StrategyName,
    SymbolOption,
    TimestampFormat,
    _console,
    _remember_url,
    one_source,
)
from riskguard.redact import printable

_COLUMN = "Column of the prices file holding the {}; default the backtest's."


def backtest(
    prices: Annotated[
        Path,
        typer.Option(
            metavar="FILE", help="Price bars (or ticks) to replay: a CSV or Parquet file."
        ),
    ],
    signals: SignalsFile = None,
    strategy: StrategyName = None,
    config: ConfigFile = None,
    profile: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="A named profile under the configuration's [limits]: conservative, intraday, "
            "swing or vol-target (default: the configuration's own `profile`).",
        ),
    ] = None,
    journal: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="SQLAlchemy URL of the journal to write the run into.",
            callback=_remember_url,
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Directory for the report files.")
    ] = None,
    symbol: SymbolOption = None,
    timestamp_format: TimestampFormat = None,
    timestamp_col: Annotated[
        str | None, typer.Option(metavar="COL", help=_COLUMN.format("timestamps"))
    ] = None,
    symbol_col: Annotated[
        str | None, typer.Option(metavar="COL", help=_COLUMN.format("symbols"))
    ] = None,
    open_col: Annotated[
        str | None, typer.Option(metavar="COL", help=_COLUMN.format("opens"))
    ] = None,
    high_col: Annotated[
        str | None, typer.Option(metavar="COL", help=_COLUMN.format("highs"))
    ] = None,
    low_col: Annotated[str | None, typer.Option(metavar="COL", help=_COLUMN.format("lows"))] = None,
    close_col: Annotated[
        str | None, typer.Option(metavar="COL", help=_COLUMN.format("closes"))
    ] = None,
    volume_col: Annotated[
        str | None, typer.Option(metavar="COL", help=_COLUMN.format("volumes"))
    ] = None,
    price_col: Annotated[
        str | None, typer.Option(metavar="COL", help=_COLUMN.format("prices of a tick file"))
    ] = None,
    attribution: Annotated[
        bool,
        typer.Option(
            "--attribution",
            help="Also rerun with each rule group switched off in turn, and show what each "
            "contributes, with 95 % bootstrap intervals (a chart too, with --out).",
        ),
    ] = False,
    walk_forward: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Repeat the attribution on N consecutive windows of the bars (2 to 50) and "
            "show how stable each contribution is; implies --attribution.",
        ),
    ] = None,
    auto_reset_after: Annotated[
        float | None,
        typer.Option(
            metavar="DAYS",
            help="Reset a latched halt (max drawdown, say) DAYS of data time after it "
            "tripped, so that the run goes on; every reset is listed. Default: never.",
        ),
    ] = None,
    groups: Annotated[
        str | None,
        typer.Option(
            metavar="NAMES",
            help="The rule groups to attribute, comma-separated (sizing, time_exit, "
            "max_drawdown, ...); default all.",
        ),
    ] = None,
) -> None:
    """Replay prices through a Guard and a paper broker, with signals or a strategy.

    The signals come from a file (--signals) or a built-in strategy (--strategy): give
    exactly one. The run is journaled (--journal) and reported (--out).

    A latched halt (max drawdown, say) stops the riskguard run for good: the output says
    when, and --auto-reset-after DAYS lets the run go on. --attribution shows what each rule
    group costs or earns; --walk-forward N, whether that holds over time.

    Examples:

        riskguard backtest --prices bars.csv --signals signals.csv --out ./bt
        riskguard backtest --prices bars.csv --strategy NAME --config risk.toml
        riskguard backtest --prices daily.csv --strategy ema-cross --profile swing
        riskguard backtest --prices ticks.csv --price-col bid --symbol USDJPY \\
            --strategy NAME --journal sqlite:///bt.db
        riskguard backtest --prices bars.csv --strategy NAME --attribution --walk-forward 4 \\
            --out ./bt
        riskguard backtest --prices bars.csv --strategy NAME --auto-reset-after 30
    """
    one_source(signals, strategy)
    given = {
        "timestamp": timestamp_col,
        "symbol": symbol_col,
        "open": open_col,
        "high": high_col,
        "low": low_col,
        "close": close_col,
        "volume": volume_col,
        "price": price_col,
    }
    facade.run_backtest(
        prices,
        signals=signals,
        strategy=strategy,
        config=config,
        journal=journal,
        out=out,
        symbol=symbol,
        timestamp_format=timestamp_format,
        columns={k: v for k, v in given.items() if v is not None},
        console=_console(),
        profile=profile,
        attribution=attribution,
        walk_forward=walk_forward,
        auto_reset_after=auto_reset_after,
        groups=None if groups is None else [g.strip() for g in groups.split(",") if g.strip()],
    )


def report(
    journal: JournalUrl,
    out: Annotated[
        Path, typer.Option(metavar="DIR", help="Directory to write the report files into.")
    ],
) -> None:
    """Write the report of a journal and print the paths of the files written.

    The journal may be a backtest's or a live Guard's.

    Examples:

        riskguard report --journal sqlite:///bt.db --out ./report
    """
    for path in facade.write_report(journal, out):
        typer.echo(printable(path))
