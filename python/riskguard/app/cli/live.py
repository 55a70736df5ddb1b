"""``riskguard run``: a strategy trading live through a Guard, until Ctrl-C or SIGTERM."""

from __future__ import annotations

from typing import Annotated

import typer

from riskguard.app import facade
from riskguard.app.cli.base import ConfigFile, _console


def run(
    strategy: Annotated[
        str,
        typer.Option(
            metavar="NAME|MODULE:FACTORY",
            help="A built-in strategy (ema-cross) run on the venue's bars, or "
            "package.module:factory for an object with on_bar/on_tick returning signals.",
        ),
    ],
    config: ConfigFile = None,
    status_every: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds between status lines.", min=1.0)
    ] = 60.0,
) -> None:
    """Trade live: the venue of [broker], its streams, the Guard, the journal and the alerts.

    [broker] names a live venue (binance, binanceusdm, kucoinfutures, bingx, alpaca) and its
    symbols; keys come from RG_BROKER__API_KEY, RG_BROKER__SECRET (and RG_BROKER__PASSWORD
    for KuCoin) or broker.secrets_file. broker.testnet = true (the default) trades the venue's
    sandbox; false trades real money, and says so at start.

    A status line prints every --status-every seconds. Ctrl-C or SIGTERM stops new entries,
    cancels working entry orders, keeps the venue's stop and reduce-only orders, closes the
    journal (the engine's own stops end with the process), and flattens
    only with guard.flatten_on_exit = true. `riskguard status/kill/pause/resume --journal URL`
    work on it from another terminal.

    Examples:

        riskguard run --config live.toml --strategy ema-cross
        riskguard run --config live.toml --strategy mybot.strategy:make
    """
    console = _console()
    facade.run_live(config, strategy, say=console.print, status_s=status_every)
