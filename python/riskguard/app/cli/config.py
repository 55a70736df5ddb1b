"""``riskguard config``: ``validate`` a file, ``show`` the effective configuration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from riskguard.app import facade
from riskguard.app.cli.base import _console, _text
from riskguard.redact import printable, redact


def config_main() -> None:
    """Check a configuration file, or show the effective configuration.

    Values come from the defaults, then a TOML file (riskguard.toml in the working directory
    unless given), then RG_* environment variables (RG_LIMITS__DAILY_LOSS=0.03).

    Examples:

        riskguard config validate examples/conservative.toml
        riskguard config show --config riskguard.toml --json
    """


def config_validate(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The TOML file to check.")],
) -> None:
    """Check a configuration file: FILE: valid, or each problem and exit 1.

    The file is loaded as riskguard loads it, with any RG_* variables applied, and checked
    as building a Guard checks it: the engine's limits and starting equity, the broker, the
    alert sinks, the journal's database driver and every interval (nothing is connected to).
    "valid" means a Guard can be built on it. Each problem is printed on its own line as
    "FILE: path: message".

    Examples:

        riskguard config validate examples/conservative.toml
    """
    problems = facade.validate_config(file)
    for path, message in problems:
        for line in message.splitlines() or [""]:
            where = "" if path == str(file) else f"{path}: "
            typer.echo(printable(redact(f"{file}: {where}{line}")))
    if problems:
        raise typer.Exit(1)
    typer.echo(printable(f"{file}: valid"))
    variables = facade.config_variables()
    if variables:
        typer.echo(f"note: with the variables {', '.join(variables)} applied", err=True)


def _shown(value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def config_show(
    config: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="The TOML file; default riskguard.toml in the working directory."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of a table.")
    ] = False,
) -> None:
    """Show the effective configuration, each setting with its source.

    The source is default, profile (the profile named by `profile`), file (the TOML file)
    or env (the RG_* variable, named). A switched-off setting shows as "off".

    Examples:

        riskguard config show
        riskguard config show --config examples/atr-swing.toml
        RG_LIMITS__DAILY_LOSS=0.03 riskguard config show --json
    """
    view = facade.show_config(config)
    if as_json:
        data = {
            "file": str(view.file) if view.found else None,
            "settings": {
                path: {"value": s.value, "source": s.source, "origin": s.origin}
                for path, s in view.settings.items()
            },
        }
        typer.echo(json.dumps(facade.jsonable(data), indent=2, allow_nan=False))
        return
    console = _console()
    found = "" if view.found else " (not found)"
    console.print(
        f"Sources, lowest first: defaults, the profile, file {_text(view.file)}{found}, "
        "RG_* variables",
        soft_wrap=True,
    )
    table = Table()
    table.add_column("setting", overflow="fold")
    table.add_column("value", overflow="fold")
    table.add_column("source", overflow="fold")
    colour = {"default": "dim", "profile": "green", "file": "cyan", "env": "magenta"}
    for path, s in view.settings.items():
        # The file is named above; a variable or a profile here.
        source = f"{s.source} ({s.origin})" if s.source in ("env", "profile") else s.source
        table.add_row(
            _text(path),
            escape(printable(_shown(s.value))),
            f"[{colour[s.source]}]{_text(source)}[/]",
        )
    console.print(table)
