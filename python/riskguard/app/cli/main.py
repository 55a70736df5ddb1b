"""The command line's root: its callback (``--debug``, ``--version``) and ``riskguard demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from riskguard.app import facade
from riskguard.app.cli.base import _DEBUG, _console


def _version(value: bool) -> None:
    if value:
        typer.echo(f"riskguard {facade.version()}")
        raise typer.Exit()


def main(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an error instead of one line.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """riskguard: the risk layer between a trading strategy and the market.

    A demo, backtests and their reports, risk settings chosen out of sample, and control of a
    running Guard through its journal: see its state, engage the kill switch, pause, resume,
    re-arm a breaker, check and show the configuration.

    Examples:

        riskguard demo
        riskguard demo --venue fake
        riskguard run --config live.toml --strategy ema-cross
        riskguard backtest --prices bars.csv --strategy NAME --out ./bt
        riskguard optimize --prices daily.csv --strategy NAME --grid grid.toml
        riskguard status --journal sqlite:///riskguard.db
        riskguard kill --journal sqlite:///riskguard.db --reason "runaway"
        riskguard config show --config riskguard.toml

    Exit codes: 0 success; 1 a failed check or an error (one line per problem on stderr; the
    traceback with --debug); 2 bad usage.
    """
    ctx.meta[_DEBUG] = debug


# ---------------------------------------------------------------------------------------------
# demo


def demo(
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="Directory for the report and the journal; default a temporary one."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the synthetic market.")] = 7,
    venue: Annotated[
        str,
        typer.Option(
            metavar="paper|fake",
            help="paper: the paper broker (the default); fake: the live stack (ccxt, "
            "WebSockets) against the fake venue on 127.0.0.1.",
        ),
    ] = "paper",
) -> None:
    """A strategy trading a synthetic market through a crash, with and without riskguard.

    The built-in strategy trades a seeded synthetic market once without risk management and
    once through a Guard; the runs are printed side by side with the breaker timeline, and
    the report and journal go to --out. The same seed always gives the same output.

    With --venue fake, the live path runs end to end without keys: the fake venue of
    riskguard.testing starts on 127.0.0.1, a binanceusdm broker (the real ccxt client) points
    at it, and a replayed session trades through `riskguard run`'s loop; the journal is then
    checked against the venue's own fills (needs riskguard[ccxt,testing]).

    Examples:

        riskguard demo
        riskguard demo --seed 11 --out ./demo-out
        riskguard demo --venue fake
    """
    facade.run_demo(seed=seed, out=out, console=_console(), venue=venue)
