"""The ``riskguard`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="riskguard: the risk layer between a trading strategy and the market.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """riskguard: the risk layer between a trading strategy and the market."""


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed of the synthetic market.")] = 7,
    out: Annotated[
        Path | None, typer.Option(help="Directory to write risk_report.json into.")
    ] = None,
) -> None:
    """Run the risk analytics over a seeded synthetic market and print the risk tables.

    Example: riskguard demo --seed 7 --out ./demo-out
    """
    from riskguard.demo import run_demo

    run_demo(seed=seed, out=out)
