"""The CLI's side of the journal's contract (docs/guard.md, "Reading and retention", "The
journal's identity"): reads never write, control commands never create a journal, the full check
and pruning are commands of their own, and ``status`` names the Guard holding the lease."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
import riskguard as rg
from riskguard.cli import app
from riskguard.journal import Journal
from typer.testing import CliRunner

runner = CliRunner()


def journal_with_snapshots(path: Path, n: int) -> str:
    url = f"sqlite:///{path}"
    engine = rg.RiskEngine(rg.Limits(), 10_000.0, 0)
    engine.symbol_id("BTC")
    with Journal(url) as j:
        for i in range(n):
            engine.on_tick("BTC", 100.0 + i, (i + 1) * 60 * 10**9)  # one a minute
            j.save_snapshot(engine)
    return url


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_status_leaves_a_foreign_sqlite_file_untouched(tmp_path: Path) -> None:
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        c.execute("INSERT INTO users (name) VALUES ('ada')")
    before = digest(other)
    for command in (["status"], ["status", "--json"], ["journal", "check"]):
        result = runner.invoke(app, [*command, "--journal", f"sqlite:///{other}"])
        assert result.exit_code == 1, result.output
        assert "not a riskguard journal" in result.output
    assert digest(other) == before
    with sqlite3.connect(other) as c:
        tables = [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables == ["users"]


@pytest.mark.parametrize("command", [["kill", "--reason", "x"], ["pause"], ["resume"]])
def test_control_commands_never_create_a_journal(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "typo.db"
    result = runner.invoke(app, [*command, "--journal", f"sqlite:///{missing}"])
    assert result.exit_code == 1 and "does not exist" in result.output
    assert list(tmp_path.iterdir()) == []


def test_journal_check_and_prune(tmp_path: Path) -> None:
    url = journal_with_snapshots(tmp_path / "j.db", 50)
    result = runner.invoke(app, ["journal", "check", "--journal", url])
    assert result.exit_code == 0 and result.output.strip().endswith(": ok"), result.output

    result = runner.invoke(
        app, ["journal", "prune", "--journal", url, "--keep", "10", "--no-daily"]
    )
    assert result.exit_code == 0, result.output
    assert "deleted 40 snapshots" in result.output
    with Journal.open_readonly(url) as j:
        kept = [ts for _, ts, _ in j.snapshots()]
        newest = j.restore()
    assert kept == [(i + 1) * 60 * 10**9 for i in range(40, 50)]
    assert newest is not None and newest.ts == 50 * 60 * 10**9


def test_journal_check_reports_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    url = journal_with_snapshots(path, 300)
    with sqlite3.connect(path) as c:  # the WAL folded into the file, so the bytes below count
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(page * 3, len(data) - page, page * 7):  # scribble over inner pages
        data[offset + 8 : offset + 40] = b"\xff" * 32
    path.write_bytes(bytes(data))
    result = runner.invoke(app, ["journal", "check", "--journal", url])
    assert result.exit_code == 1, result.output
    assert "problem:" in result.output or "error:" in result.output


def test_prune_is_refused_while_a_guard_holds_the_journal(tmp_path: Path) -> None:
    url = journal_with_snapshots(tmp_path / "j.db", 20)
    with Journal(url) as writer:
        writer.acquire_lease("guard test-host:4242")
        result = runner.invoke(app, ["journal", "prune", "--journal", url, "--keep", "1"])
        assert result.exit_code == 1 and "guard test-host:4242" in result.output
        status = runner.invoke(app, ["status", "--journal", url, "--json"])
        assert status.exit_code == 0, status.output
        lease = json.loads(status.output)["lease"]
        assert lease["holder"] == "guard test-host:4242" and lease["since"].endswith("Z")
        table = runner.invoke(app, ["status", "--journal", url], env={"COLUMNS": "200"})
        assert "guard test-host:4242" in table.output
    with Journal.open_readonly(url) as j:
        assert len(j.snapshots()) == 20
    released = runner.invoke(app, ["status", "--journal", url, "--json"])
    assert json.loads(released.output)["lease"] is None
