"""What every command shares: the typer application and its groups, the error printer, the
``--journal`` option that remembers the URL's secrets, the console, and the cell formats."""

from __future__ import annotations

import math
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from riskguard._core import RiskError
from riskguard.errors import ConfigError
from riskguard.redact import printable, redact, url_secrets

_DEBUG = "riskguard.debug"
# ctx.meta key (meta is shared by a command's contexts) of the secrets given on the command
# line, masked in whatever is printed after.
_SECRETS = "riskguard.secrets"
_WIDTH = 120  # of tables written to a pipe or a file, which have no terminal width


class _Group(TyperGroup):
    """Turns any error of a command into ``error: ...`` lines on stderr and exit code 1,
    unless ``--debug`` asked for the traceback."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # usage errors (exit 2), --help, explicit exits
        except Exception as e:
            secrets = tuple(ctx.meta.get(_SECRETS, ()))
            if ctx.meta.get(_DEBUG):
                # Python's own printer would show a driver's message, and the URL in it,
                # as it is: the traceback is printed here, line by line, redacted.
                for line in _traceback_lines(e, secrets):
                    typer.echo(line, err=True)
            else:
                for line in _error_lines(e, secrets):
                    typer.echo(f"error: {line}", err=True)
            raise typer.Exit(1) from None


def _error_lines(e: BaseException, secrets: tuple[str, ...] = ()) -> list[str]:
    """A RiskError's message, one line per problem; anything else as ``Type: message``.

    Each line is redacted (:func:`~riskguard.redact.redact`, with ``secrets`` masked too) and
    has its control characters escaped (:func:`~riskguard.redact.printable`).
    """
    if isinstance(e, ConfigError) and e.problems:
        texts = [f"{path}: {message}" for path, message in e.problems]
        lines = [line for text in texts for line in text.splitlines() if line.strip()]
    elif isinstance(e, RiskError):
        # A database error wrapped in a JournalError ends with SQLAlchemy's link to its docs.
        lines = [
            line.strip()
            for line in str(e).splitlines()
            if line.strip() and not line.startswith("(Background on this error at:")
        ] or [type(e).__name__]
    else:
        message = " ".join(str(e).split())
        lines = [f"{type(e).__name__}: {message}" if message else type(e).__name__]
    return [printable(redact(line, *secrets)) for line in lines]


def _traceback_lines(e: BaseException, secrets: tuple[str, ...] = ()) -> list[str]:
    """``e``'s traceback (its chained causes included) as Python prints it, each line
    redacted and with its control characters escaped, as :func:`_error_lines` does."""
    text = "".join(traceback.format_exception(e))
    return [printable(redact(line, *secrets)) for line in text.splitlines()]


def _remember_url(ctx: typer.Context, value: str | None) -> str | None:
    """A ``--journal`` option's callback: the URL's secrets (its password, as written and
    decoded) are masked in everything the command prints after, driver errors included."""
    if isinstance(value, str):
        known = ctx.meta.setdefault(_SECRETS, [])
        known.extend(s for s in url_secrets(value) if s not in known)
    return value


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
config_app = typer.Typer(cls=_Group, no_args_is_help=True, rich_markup_mode="markdown")
journal_app = typer.Typer(cls=_Group, no_args_is_help=True, rich_markup_mode="markdown")


def _console() -> Console:
    """Rich output on stdout; wider than rich's 80 columns when it is not a terminal."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else _WIDTH)


_JOURNAL_HELP = (
    "SQLAlchemy URL of the Guard's journal: sqlite:///riskguard.db, postgresql+psycopg://..."
)
JournalUrl = Annotated[
    str, typer.Option("--journal", metavar="URL", help=_JOURNAL_HELP, callback=_remember_url)
]
Reason = Annotated[str, typer.Option(help="Why: kept in the journal and sent with the alert.")]

# The options the commands that run a strategy over a prices file share.
SignalsFile = Annotated[
    Path | None,
    typer.Option(metavar="FILE", help="Signals to submit, a file (or give --strategy)."),
]
StrategyName = Annotated[
    str | None,
    typer.Option(
        metavar="NAME",
        help="A built-in strategy that makes the signals from the prices: ema-cross.",
    ),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE", help="Configuration TOML; default riskguard.toml if it exists, + RG_*."
    ),
]
SymbolOption = Annotated[
    str | None,
    typer.Option(metavar="SYMBOL", help="Symbol of a prices file that has no symbol column."),
]
TimestampFormat = Annotated[
    str | None,
    typer.Option(
        metavar="FMT", help="strftime format of the timestamps, e.g. '%Y-%m-%d %H:%M:%S'."
    ),
]


def one_source(signals: Path | None, strategy: str | None) -> None:
    """Refuses neither or both of ``--signals`` and ``--strategy``."""
    if (signals is None) == (strategy is None):
        raise typer.BadParameter(
            "give exactly one of --signals FILE and --strategy NAME",
            param_hint="'--signals' / '--strategy'",
        )


def _num(x: float | None, fmt: str = ",.2f") -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return "n/a" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return format(x, fmt)


def _text(value: Any) -> str:
    """A value from the journal or the user for a rich table: control characters escaped,
    then markup, so that it prints as it is."""
    return "-" if value is None or value == "" else escape(printable(value))
