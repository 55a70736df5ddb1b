"""The journal's commands: ``status``, the control actions (``kill``, ``pause``, ``resume``,
``reset``), and ``journal check`` and ``journal prune``."""

from __future__ import annotations

import getpass
import json
import socket
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from riskguard._core import RiskError
from riskguard.app import facade
from riskguard.app.cli.base import JournalUrl, Reason, _console, _num, _text
from riskguard.redact import printable, redact, safe_url

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


# ---------------------------------------------------------------------------------------------
# status


def _writer(lease: dict[str, Any] | None) -> str:
    """Who holds the journal's lease, for the status table."""
    if lease is None:
        return "none (no Guard running)"
    return _text(
        f"{lease['holder']} (pid {lease['pid']} on {lease['host']}, since {lease['since']})"
    )


def _print_status(data: dict[str, Any], console: Console) -> None:
    colour = {"ACTIVE": "green", "REDUCING": "yellow", "HALTED": "bold red"}[data["state"]]
    summary = Table(title=f"riskguard status: {_text(data['journal'])}", show_header=False)
    summary.add_column("", style="bold")
    summary.add_column("")
    rows = [
        ("last snapshot (engine clock)", _text(data["snapshot_ts"])),
        ("writer", _writer(data["lease"])),
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
            _text(b["name"]),
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
                _text(symbol),
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
                _text(c["action"]),
                _text(c["name"]),
                _text(c["reason"]),
                _text(c["actor"]),
            )
        console.print(pending)
    else:
        console.print("Pending control actions: none")


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
    data = facade.status(journal)
    if as_json:
        typer.echo(json.dumps(facade.jsonable(data), indent=2, allow_nan=False))
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
    control_id, ts = facade.record_control(url, action, reason, name, actor=actor)
    what = f"{action} {name}" if name else action
    typer.echo(
        printable(
            f"recorded {what} as control {control_id} in {safe_url(url)} at {facade.iso(ts)}"
            f" (actor {actor}, reason {reason!r})"
        )
    )
    typer.echo(
        "a running Guard on this journal acts on it within its control poll"
        " (guard.control_poll_s, at most 1 s); a Guard started later applies it on start"
    )


def kill(journal: JournalUrl, reason: Reason) -> None:
    """Engage the kill switch: halt, cancel every order, close every position.

    The Guard on this journal acts on it within its control poll (at most 1 s): it halts,
    cancels every working order and closes every position at market. The switch is latched:
    it survives restarts until `riskguard reset kill_switch --confirm`.

    Examples:

        riskguard kill --journal sqlite:///riskguard.db --reason "runaway strategy"
    """
    _control(journal, "kill", reason)


def pause(journal: JournalUrl, reason: Reason = "") -> None:
    """Pause: no new risk, open positions still managed.

    The Guard on this journal refuses entries (and takes back those on their way) and keeps
    managing open positions. The pause survives restarts until `riskguard resume`.

    Examples:

        riskguard pause --journal sqlite:///riskguard.db --reason "CPI release"
    """
    _control(journal, "pause", reason)


def resume(journal: JournalUrl, reason: Reason = "") -> None:
    """Lift a pause.

    The Guard on this journal takes new risk again (unless a breaker holds it).

    Examples:

        riskguard resume --journal sqlite:///riskguard.db --reason "after CPI"
    """
    _control(journal, "resume", reason)


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
    facade.check_breaker(name)
    if not confirm:
        raise RiskError(f"reset of {name!r} refused: pass --confirm to re-arm it")
    _control(journal, "reset", reason, name=name)


# ---------------------------------------------------------------------------------------------
# journal: check and prune


def journal_main() -> None:
    """Check a journal's integrity, or prune its old snapshots.

    Examples:

        riskguard journal check --journal sqlite:///riskguard.db
        riskguard journal prune --journal sqlite:///riskguard.db --keep 1000
    """


def journal_check(journal: JournalUrl) -> None:
    """Run the full integrity check of a journal (read-only); exit 1 on any problem.

    Opening a journal runs only a quick check (its schema and newest snapshot); this one also
    reads every page (SQLite's integrity_check), which takes seconds on a large journal.
    """
    problems = facade.check_journal(journal)
    for problem in problems:
        typer.echo(f"problem: {printable(redact(problem))}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(printable(f"{safe_url(journal)}: ok"))


def journal_prune(
    journal: JournalUrl,
    keep: Annotated[
        int, typer.Option(min=1, help="Keep this many newest snapshots (and one a day before).")
    ] = 1000,
    daily: Annotated[
        bool, typer.Option("--daily/--no-daily", help="Also keep the newest of each UTC day.")
    ] = True,
) -> None:
    """Delete old snapshots: all but the newest KEEP and, unless --no-daily, the newest of
    each UTC day before them. A restore reads only the newest.

    Refused while a Guard holds the journal (it prunes by journal.keep_snapshots itself).
    """
    deleted = facade.prune_journal(journal, keep, daily=daily)
    typer.echo(printable(f"{safe_url(journal)}: deleted {deleted} snapshots"))
