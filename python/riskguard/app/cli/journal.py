"""The ``riskguard`` command line (``python -m riskguard`` is the same).

Exit codes: 0 success; 1 a check that failed, or an error (a bad file, an invalid
configuration, a journal that cannot be read), printed as ``error: <message>`` lines on stderr
with no traceback unless ``--debug`` is given; 2 bad usage.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import math
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from riskguard._core import RiskError

if TYPE_CHECKING:
    from riskguard.journal import Journal

_DEBUG = "riskguard.debug"
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
            if ctx.meta.get(_DEBUG):
                raise
            for line in _error_lines(e):
                typer.echo(f"error: {line}", err=True)
            raise typer.Exit(1) from None


def _error_lines(e: Exception) -> list[str]:
    """A RiskError's message, one line per problem; anything else as ``Type: message``."""
    from riskguard.config import ConfigError

    if isinstance(e, ConfigError) and e.problems:
        lines = [f"{path}: {message}" for path, message in e.problems]
        return [line for text in lines for line in text.splitlines() if line.strip()]
    if isinstance(e, RiskError):
        # A database error wrapped in a JournalError ends with SQLAlchemy's link to its docs.
        lines = [
            line.strip()
            for line in str(e).splitlines()
            if line.strip() and not line.startswith("(Background on this error at:")
        ]
        return lines or [type(e).__name__]
    message = " ".join(str(e).split())
    return [f"{type(e).__name__}: {message}" if message else type(e).__name__]


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
config_app = typer.Typer(cls=_Group, no_args_is_help=True, rich_markup_mode="markdown")
app.add_typer(config_app, name="config")


@config_app.callback()
def config_main() -> None:
    """Check a configuration file, or show the effective configuration.

    Values come from the defaults, then a TOML file (riskguard.toml in the working directory
    unless given), then RG_* environment variables (RG_LIMITS__DAILY_LOSS=0.03).

    Examples:

        riskguard config validate examples/conservative.toml
        riskguard config show --config riskguard.toml --json
    """


def _version(value: bool) -> None:
    if value:
        from riskguard import __version__

        typer.echo(f"riskguard {__version__}")
        raise typer.Exit()


@app.callback()
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

    A demo, backtests and their reports from the command line, and control of a running
    Guard through its journal: see its state, engage the kill switch, pause, resume, re-arm a
    breaker, check and show the configuration.

    Examples:

        riskguard demo
        riskguard backtest --prices bars.csv --strategy NAME --out ./bt
        riskguard status --journal sqlite:///riskguard.db
        riskguard kill --journal sqlite:///riskguard.db --reason "runaway"
        riskguard config show --config riskguard.toml

    Exit codes: 0 success; 1 a failed check or an error (one line per problem on stderr; the
    traceback with --debug); 2 bad usage.
    """
    ctx.meta[_DEBUG] = debug


def _console() -> Console:
    """Rich output on stdout; wider than rich's 80 columns when it is not a terminal."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else _WIDTH)


# ---------------------------------------------------------------------------------------------
# demo, backtest, report


@app.command()
def demo(
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="Directory for the report and the journal; default a temporary one."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the synthetic market.")] = 7,
) -> None:
    """A strategy trading a synthetic market through a crash, with and without riskguard.

    The built-in strategy trades a seeded synthetic market once without risk management and
    once through a Guard; the runs are printed side by side with the breaker timeline, and
    the report and journal go to --out. The same seed always gives the same output.

    Examples:

        riskguard demo
        riskguard demo --seed 11 --out ./demo-out
    """
    from riskguard.demo import run_demo

    run_demo(seed=seed, out=out, console=_console())


_COLUMN = "Column of the prices file holding the {}; default the backtest's."


@app.command()
def backtest(
    prices: Annotated[
        Path,
        typer.Option(
            metavar="FILE", help="Price bars (or ticks) to replay: a CSV or Parquet file."
        ),
    ],
    signals: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Signals to submit, a file (or give --strategy)."),
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="A built-in strategy that makes the signals from the prices: ema-cross.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Configuration TOML; default riskguard.toml if it exists, + RG_*."
        ),
    ] = None,
    journal: Annotated[
        str | None,
        typer.Option(metavar="URL", help="SQLAlchemy URL of the journal to write the run into."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Directory for the report files.")
    ] = None,
    symbol: Annotated[
        str | None,
        typer.Option(metavar="SYMBOL", help="Symbol of a prices file that has no symbol column."),
    ] = None,
    timestamp_format: Annotated[
        str | None,
        typer.Option(
            metavar="FMT", help="strftime format of the timestamps, e.g. '%Y-%m-%d %H:%M:%S'."
        ),
    ] = None,
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
) -> None:
    """Replay prices through a Guard and a paper broker, with signals or a strategy.

    The signals come from a file (--signals) or a built-in strategy (--strategy): give
    exactly one. The run is journaled (--journal) and reported (--out).

    Examples:

        riskguard backtest --prices bars.csv --signals signals.csv --out ./bt
        riskguard backtest --prices bars.csv --strategy NAME --config risk.toml
        riskguard backtest --prices ticks.csv --price-col bid --symbol USDJPY \\
            --strategy NAME --journal sqlite:///bt.db
    """
    if (signals is None) == (strategy is None):
        raise typer.BadParameter(
            "give exactly one of --signals FILE and --strategy NAME",
            param_hint="'--signals' / '--strategy'",
        )
    from riskguard.backtest import Columns, run_backtest
    from riskguard.config import Config

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
    run_backtest(
        prices,
        signals=signals,
        strategy=strategy,
        config=Config.load(config) if config is not None else Config.load(),
        journal=journal,
        out=out,
        symbol=symbol,
        timestamp_format=timestamp_format,
        columns=Columns(**{k: v for k, v in given.items() if v is not None}),
        console=_console(),
    )


_JOURNAL_HELP = (
    "SQLAlchemy URL of the Guard's journal: sqlite:///riskguard.db, postgresql+psycopg://..."
)
JournalUrl = Annotated[str, typer.Option("--journal", metavar="URL", help=_JOURNAL_HELP)]


@app.command()
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
    from riskguard.report import write_report

    _require_journal(journal)
    for path in write_report(journal, out):
        typer.echo(str(path))


# ---------------------------------------------------------------------------------------------
# The journal: status and control


def _require_journal(url: str) -> None:
    """A SQLite journal must exist: a mistyped path would otherwise create an empty one that
    no Guard reads.

    Raises JournalError.
    """
    from sqlalchemy.engine import make_url

    from riskguard.journal import JournalError

    try:
        parsed = make_url(url)
    except Exception:
        return  # Journal() reports it
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if database.startswith("file:"):
        return  # a SQLite URI: Journal() reports a missing file
    if not Path(database).is_file():
        raise JournalError(f"no journal at {database}: the file does not exist")


@contextmanager
def _journal(url: str) -> Iterator[Journal]:
    from riskguard.journal import Journal

    _require_journal(url)
    with Journal(url) as journal:
        yield journal


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<the journal URL>"


def _iso(ns: int | None) -> str | None:
    """``ns`` since the epoch as UTC ISO 8601 (``2022-01-04T08:15:00Z``)."""
    if ns is None:
        return None
    seconds, rest = divmod(int(ns), 1_000_000_000)
    when = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    when = when.replace(microsecond=rest // 1000)
    return when.isoformat().replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    """JSON-ready: NaN is null, infinities ``"inf"`` and ``"-inf"``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _status(journal: Journal) -> dict[str, Any]:
    """The engine state of the journal's newest snapshot, and its pending control actions.

    Raises JournalError: no snapshot yet; one that cannot be restored.
    """
    from riskguard.journal import JournalError

    engine = journal.restore()
    if engine is None:
        raise JournalError("the journal has no engine state yet")
    snap = engine.snapshot()
    breakers = engine.breakers()
    return {
        "journal": _safe_url(journal.url),
        "snapshot_ts": _iso(snap.ts),
        "state": engine.state.name,
        "paused": engine.paused,
        "kill_switch": any(b.name == "kill_switch" and b.status == "tripped" for b in breakers),
        "equity": snap.equity,
        "cash": snap.cash,
        "peak_equity": snap.peak_equity,
        "drawdown": snap.drawdown,
        "day_loss": snap.day_loss,
        "week_loss": snap.week_loss,
        "month_loss": snap.month_loss,
        "heat": snap.heat,
        "leverage": snap.leverage,
        "gross_exposure": snap.gross_exposure,
        "net_exposure": snap.net_exposure,
        "consecutive_losses": snap.consecutive_losses,
        "realized_pnl": snap.realized_pnl,
        "breakers": [
            {
                "name": b.name,
                "status": b.status,
                "value": b.value,
                "threshold": b.threshold,
                "action": b.action,
                "latched": b.latched,
                "tripped_at": _iso(b.tripped_at),
                "cooldown_until": _iso(b.cooldown_until),
            }
            for b in breakers
        ],
        "positions": {s: p.to_dict() for s, p in snap.positions.items()},
        "pending_controls": [
            {
                "id": c.id,
                "ts": _iso(c.ts),
                "action": c.action,
                "name": c.name,
                "reason": c.reason,
                "actor": c.actor,
            }
            for c in journal.pending_controls()
        ],
    }


# Breakers whose value and threshold are fractions of equity (or of a position).
_FRACTIONS = {
    "daily_loss",
    "weekly_loss",
    "monthly_loss",
    "max_drawdown",
    "position_loss",
    "concentration",
    "portfolio_heat",
}


def _num(x: float | None, fmt: str = ",.2f") -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return "n/a" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return format(x, fmt)


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else escape(str(value))


def _print_status(data: dict[str, Any], console: Console) -> None:
    colour = {"ACTIVE": "green", "REDUCING": "yellow", "HALTED": "bold red"}[data["state"]]
    summary = Table(title=f"riskguard status: {escape(data['journal'])}", show_header=False)
    summary.add_column("", style="bold")
    summary.add_column("")
    rows = [
        ("last snapshot (engine clock)", _text(data["snapshot_ts"])),
        ("state", f"[{colour}]{data['state']}[/]"),
        ("paused", "[yellow]yes[/]" if data["paused"] else "no"),
        ("kill switch", "[bold red]ENGAGED[/]" if data["kill_switch"] else "off"),
        ("equity", _num(data["equity"])),
        ("cash", _num(data["cash"])),
        ("peak equity", _num(data["peak_equity"])),
        ("drawdown", _num(data["drawdown"], ".2%")),
        ("day loss", _num(data["day_loss"], ".2%")),
        ("week loss", _num(data["week_loss"], ".2%")),
        ("month loss", _num(data["month_loss"], ".2%")),
        ("heat", _num(data["heat"], ".2%")),
        ("leverage", _num(data["leverage"], ".2f") + "x"),
        ("gross exposure", _num(data["gross_exposure"])),
        ("net exposure", _num(data["net_exposure"])),
        ("consecutive losses", str(data["consecutive_losses"])),
        ("realized P&L", _num(data["realized_pnl"])),
    ]
    for row in rows:
        summary.add_row(*row)
    console.print(summary)

    breakers = Table(title="Breakers")
    for name in ("breaker", "status", "value", "threshold", "action", "latched", "tripped at"):
        breakers.add_column(name, overflow="fold")
    for b in data["breakers"]:
        fmt = ".2%" if b["name"] in _FRACTIONS else ".4g"
        status = {"tripped": "[bold red]tripped[/]", "off": "[dim]off[/]"}.get(b["status"], "armed")
        breakers.add_row(
            b["name"],
            status,
            _num(b["value"], fmt),
            _num(b["threshold"], fmt),
            _text(b["action"]),
            "yes" if b["latched"] else "no",
            _text(b["tripped_at"]),
        )
    console.print(breakers)

    if data["positions"]:
        positions = Table(title="Positions")
        for name in ("symbol", "qty", "avg price", "mark", "unrealized P&L", "realized", "stop"):
            positions.add_column(name, overflow="fold")
        for symbol, p in data["positions"].items():
            positions.add_row(
                escape(symbol),
                _num(p["qty"], ".8g"),
                _num(p["avg_price"], ",.8g"),
                _num(p["mark"], ",.8g"),
                _num(p["unrealized_pnl"]),
                _num(p["realized_pnl"]),
                _num(p["stop"], ",.8g"),
            )
        console.print(positions)
    else:
        console.print("Positions: none (flat)")

    if data["pending_controls"]:
        pending = Table(title="Pending control actions (not yet seen by a Guard)")
        for name in ("id", "recorded at", "action", "breaker", "reason", "actor"):
            pending.add_column(name, overflow="fold")
        for c in data["pending_controls"]:
            pending.add_row(
                str(c["id"]),
                _text(c["ts"]),
                c["action"],
                _text(c["name"]),
                _text(c["reason"]),
                _text(c["actor"]),
            )
        console.print(pending)
    else:
        console.print("Pending control actions: none")


@app.command()
def status(
    journal: JournalUrl,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of tables.")
    ] = False,
) -> None:
    """Show the state a Guard last committed to its journal.

    Trading state, pause and kill switch, equity, drawdown and session losses, heat, leverage
    and exposure, every breaker, the open positions and the control actions no Guard has
    acted on yet.

    Times are UTC ISO 8601; with --json, NaN is null and infinities are "inf" / "-inf".

    Examples:

        riskguard status --journal sqlite:///riskguard.db
        riskguard status --journal sqlite:///riskguard.db --json
    """
    with _journal(journal) as j:
        data = _status(j)
    if as_json:
        typer.echo(json.dumps(_plain(data), indent=2, allow_nan=False))
    else:
        _print_status(data, _console())


def _actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment (a container without one)
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


def _control(url: str, action: str, reason: str, name: str | None = None) -> None:
    """Records a control action for the Guard on the journal at ``url`` and says so."""
    actor = _actor()
    with _journal(url) as j:
        ts = time.time_ns()
        control_id = j.record_control(action, ts, name=name, reason=reason, actor=actor)
    what = f"{action} {name}" if name else action
    typer.echo(
        f"recorded {what} as control {control_id} in {_safe_url(url)} at {_iso(ts)}"
        f" (actor {actor}, reason {reason!r})"
    )
    typer.echo(
        "a running Guard on this journal acts on it within its control poll"
        " (guard.control_poll_s, at most 1 s); a Guard started later applies it on start"
    )


Reason = Annotated[str, typer.Option(help="Why: kept in the journal and sent with the alert.")]


@app.command()
def kill(journal: JournalUrl, reason: Reason) -> None:
    """Engage the kill switch: halt, cancel every order, close every position.

    The Guard on this journal acts on it within its control poll (at most 1 s): it halts,
    cancels every working order and closes every position at market. The switch is latched:
    it survives restarts until `riskguard reset kill_switch --confirm`.

    Examples:

        riskguard kill --journal sqlite:///riskguard.db --reason "runaway strategy"
    """
    _control(journal, "kill", reason)


@app.command()
def pause(journal: JournalUrl, reason: Reason = "") -> None:
    """Pause: no new risk, open positions still managed.

    The Guard on this journal refuses entries (and takes back those on their way) and keeps
    managing open positions. The pause survives restarts until `riskguard resume`.

    Examples:

        riskguard pause --journal sqlite:///riskguard.db --reason "CPI release"
    """
    _control(journal, "pause", reason)


@app.command()
def resume(journal: JournalUrl, reason: Reason = "") -> None:
    """Lift a pause.

    The Guard on this journal takes new risk again (unless a breaker holds it).

    Examples:

        riskguard resume --journal sqlite:///riskguard.db --reason "after CPI"
    """
    _control(journal, "resume", reason)


def _breaker_names() -> list[str]:
    from riskguard._core import RiskEngine

    return [b.name for b in RiskEngine().breakers()]


@app.command()
def reset(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME", help="The breaker to re-arm, e.g. kill_switch or max_drawdown."
        ),
    ],
    journal: JournalUrl,
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Required: confirms the reset.")
    ] = False,
    reason: Reason = "",
) -> None:
    """Re-arm a tripped breaker such as kill_switch or max_drawdown (needs --confirm).

    NAME is one of the engine's breakers; refused without --confirm. Re-arming max_drawdown
    re-bases the high-water mark to the current equity.

    Examples:

        riskguard reset kill_switch --journal sqlite:///riskguard.db --confirm
        riskguard reset max_drawdown --journal sqlite:///rg.db --confirm --reason ok
    """
    known = _breaker_names()
    if name not in known:
        raise RiskError(f"unknown breaker {name!r}; known: {', '.join(known)}")
    if not confirm:
        raise RiskError(f"reset of {name!r} refused: pass --confirm to re-arm it")
    _control(journal, "reset", reason, name=name)


# ---------------------------------------------------------------------------------------------
# config


@config_app.command("validate")
def config_validate(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The TOML file to check.")],
) -> None:
    """Check a configuration file: FILE: valid, or each problem and exit 1.

    The file is loaded as riskguard loads it, with any RG_* variables applied. Each problem
    is printed on its own line as "FILE: path: message".

    Examples:

        riskguard config validate examples/conservative.toml
    """
    from riskguard.config import Config, ConfigError

    try:
        Config.load(file)
    except ConfigError as e:
        for path, message in e.problems:
            for line in message.splitlines() or [""]:
                where = "" if path == str(file) else f"{path}: "
                typer.echo(f"{file}: {where}{line}")
        raise typer.Exit(1) from None
    typer.echo(f"{file}: valid")
    variables = sorted(v for v in os.environ if v.upper().startswith("RG_"))
    if variables:
        typer.echo(f"note: with the variables {', '.join(variables)} applied", err=True)


def _shown(value: Any) -> str:
    if value is None:
        return "off"
    if isinstance(value, str):
        return value
    return json.dumps(value)


@config_app.command("show")
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

    The source is default, file (the TOML file) or env (the RG_* variable, named). A
    switched-off setting shows as "off".

    Examples:

        riskguard config show
        riskguard config show --config examples/atr-swing.toml
        RG_LIMITS__DAILY_LOSS=0.03 riskguard config show --json
    """
    from riskguard.config import DEFAULT_FILE, Config

    settings = Config.sources(config)
    file = DEFAULT_FILE if config is None else config
    if as_json:
        data = {
            "file": str(file) if file.is_file() else None,
            "settings": {
                path: {"value": s.value, "source": s.source, "origin": s.origin}
                for path, s in settings.items()
            },
        }
        typer.echo(json.dumps(_plain(data), indent=2, allow_nan=False))
        return
    console = _console()
    found = "" if file.is_file() else " (not found)"
    console.print(
        f"Sources, lowest first: defaults, file {escape(str(file))}{found}, RG_* variables",
        soft_wrap=True,
    )
    table = Table()
    table.add_column("setting", overflow="fold")
    table.add_column("value", overflow="fold")
    table.add_column("source", overflow="fold")
    colour = {"default": "dim", "file": "cyan", "env": "magenta"}
    for path, s in settings.items():
        # The file is named above; a variable here.
        source = f"env ({s.origin})" if s.source == "env" else s.source
        table.add_row(path, escape(_shown(s.value)), f"[{colour[s.source]}]{escape(source)}[/]")
    console.print(table)
