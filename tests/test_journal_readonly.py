"""Read-only means read-only (issue 14, row 13), and the journal stays small (row 14): a
read-only open never writes (no DDL, no migration, not even on a foreign file), works while a
frozen writer holds the lock, reports no SQL, runs only a quick check; retention prunes old
snapshots, by hand and by itself."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import riskguard as rg
from riskguard.journal import SCHEMA_VERSION, Journal, JournalError

NS = 1_000_000_000
DAY = 86_400 * NS
T0 = 1_641_168_000 * NS  # 2022-01-03T00:00:00Z

FROZEN_WRITER = """
import os, signal, sqlite3, sys

raw = sqlite3.connect(sys.argv[1], isolation_level=None)
raw.execute("BEGIN IMMEDIATE")
raw.execute("INSERT INTO rg_meta (key, value) VALUES ('uncommitted', 'x')")
print("LOCKED", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


def engine_at(ts: int) -> rg.RiskEngine:
    return rg.RiskEngine(rg.Limits(signal_filters=False), 10_000.0, ts)


def digest(folder: Path) -> dict[str, str]:
    """Every file of ``folder`` by name, with its SHA-256."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_a_foreign_sqlite_file_is_refused_and_left_byte_identical(tmp_path):
    app = tmp_path / "app.db"
    c = sqlite3.connect(app)
    c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    c.execute("INSERT INTO users (name) VALUES ('alice')")
    c.commit()
    c.close()
    before = digest(tmp_path)
    url = f"sqlite:///{app}"
    for open_it in (
        Journal.open_readonly,
        lambda u: Journal(u, readonly=True),
        lambda u: Journal(u, create=False),
        Journal,  # even a Guard's open: a file holding tables is never made a journal
    ):
        with pytest.raises(JournalError, match="not a riskguard journal") as refused:
            open_it(url)
        assert "SELECT" not in str(refused.value) and "[SQL" not in str(refused.value)
    assert digest(tmp_path) == before  # no rg_* table, no -wal, no lock or control file


def test_an_empty_file_becomes_a_journal_only_when_creating(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    with pytest.raises(JournalError, match="not a riskguard journal"):
        Journal.open_readonly(f"sqlite:///{empty}")
    assert empty.read_bytes() == b""
    with Journal(f"sqlite:///{empty}") as j:
        assert j.schema_version() == SCHEMA_VERSION
    with pytest.raises(JournalError, match="does not exist"):
        Journal.open_readonly(f"sqlite:///{tmp_path / 'missing.db'}")
    assert not (tmp_path / "missing.db").exists()


def older_journal(path: Path) -> None:
    """A schema-version-2 journal (before the lease and the control channel's ids)."""
    with Journal(f"sqlite:///{path}") as j:
        j.save_snapshot(engine_at(T0))
        j.write(controls=[])
    c = sqlite3.connect(path)
    c.execute("DROP TABLE rg_lease")
    c.execute("DROP INDEX ix_rg_control_source_id")
    c.execute("ALTER TABLE rg_control DROP COLUMN source_id")
    c.execute(
        "INSERT INTO rg_control (ts, action, name, reason, actor) VALUES (?, 'kill', NULL, 'r',"
        " 'ops')",
        (T0,),
    )
    c.execute("UPDATE rg_meta SET value = '2' WHERE key = 'schema_version'")
    c.commit()
    c.close()


def test_a_read_only_open_never_migrates_and_reads_an_older_schema(tmp_path):
    db = tmp_path / "journal.db"
    older_journal(db)
    for stale in tmp_path.glob("journal.db?*"):
        stale.unlink()  # only the database: what a copied journal looks like
    before = digest(tmp_path)
    with Journal.open_readonly(f"sqlite:///{db}") as j:
        assert j.readonly and j.schema_version() == 2
        assert j.restore().ts == T0
        assert [c.action for c in j.pending_controls()] == ["kill"]
        assert [c.action for c in j.controls()] == ["kill"]
        assert j.lease_holder() is None
        assert j.check(full=True) == []
        for write in (
            lambda: j.save_snapshot(engine_at(T0 + NS)),
            lambda: j.write(snapshot=engine_at(T0 + NS)),
            lambda: j.record_control("kill", T0),
            lambda: j.record_decision(
                engine_at(T0).evaluate_signal(rg.Signal("BTC", "long", 100.0, stop=95.0), T0),
                T0,
            ),
            lambda: j.record_order(T0, "c", "BTC", 1.0, "market", "sent"),
            lambda: j.write_series("equity", [T0], [1.0]),
            lambda: j.prune(1),
            lambda: j.mark_handled(1, T0),
            j.migrate,
        ):
            with pytest.raises(JournalError, match="read-only"):
                write()
    after = {k: v for k, v in digest(tmp_path).items() if k in before}
    assert after == before
    with Journal(f"sqlite:///{db}") as j:  # a writer migrates it
        assert j.schema_version() == SCHEMA_VERSION
        assert [c.action for c in j.pending_controls()] == ["kill"]


def test_a_read_only_open_works_while_a_frozen_writer_holds_the_lock(tmp_path):
    db = tmp_path / "journal.db"
    url = f"sqlite:///{db}"
    with Journal(url) as j:
        j.save_snapshot(engine_at(T0))
        j.record_control("pause", T0, reason="weekend", actor="ops")
    script = tmp_path / "frozen.py"
    script.write_text(FROZEN_WRITER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "LOCKED"
        deadline = time.monotonic() + 30
        while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with Journal.open_readonly(url) as status:
            assert status.restore().ts == T0
            assert [c.action for c in status.pending_controls()] == ["pause"]
            assert status.events() == [] and status.schema_version() == SCHEMA_VERSION
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_read_errors_carry_no_sql(tmp_path):
    db = tmp_path / "journal.db"
    url = f"sqlite:///{db}"
    Journal(url).close()
    c = sqlite3.connect(db)
    c.execute("DROP TABLE rg_events")
    c.commit()
    c.close()
    with Journal.open_readonly(url) as j:
        with pytest.raises(JournalError, match="journal read failed") as failed:
            j.events()
    message = str(failed.value)
    assert "no such table" in message
    assert "SELECT" not in message and "[SQL" not in message and "sqlalche.me" not in message


def test_opening_runs_a_quick_check_and_the_full_one_is_there_on_demand(tmp_path):
    db = tmp_path / "journal.db"
    url = f"sqlite:///{db}"
    with Journal(url) as j:
        j.save_snapshot(engine_at(T0))
        for k in range(400):
            j.record_order(T0 + k, f"c-{k:04}", "BTC", 1.0, "market", "sent", note="x" * 50)
    c = sqlite3.connect(db)
    (root,) = c.execute(
        "SELECT rootpage FROM sqlite_master WHERE name = 'ix_rg_orders_client_order_id'"
    ).fetchone()
    (page_size,) = c.execute("PRAGMA page_size").fetchone()
    c.close()
    # Corrupt the index an open never reads: its root page's type byte.
    with open(db, "r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(b"\x00")
    with Journal.open_readonly(url) as j:  # opens: the quick check passes
        assert j.restore().ts == T0
        assert j.check(full=False) == []
        assert j.check(full=True) != []  # the full check finds it


def test_prune_keeps_the_newest_and_one_a_day(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    with Journal(url, keep_snapshots=None) as j:
        # Three days of ten snapshots each, then five on the fourth day.
        stamps = [T0 + d * DAY + k * 3600 * NS for d in range(3) for k in range(10)]
        stamps += [T0 + 3 * DAY + k * NS for k in range(5)]
        for ts in stamps:
            j.save_snapshot(engine_at(ts))
        assert len(j.snapshots()) == 35
        with pytest.raises(JournalError, match="keep"):
            j.prune(0)
        assert j.prune(keep=5) == 27  # 35 - the newest 5 - the newest of each of 3 days
        kept = [ts for _, ts, _ in j.snapshots()]
        assert kept == [T0 + d * DAY + 9 * 3600 * NS for d in range(3)] + stamps[-5:]
        assert j.restore().ts == stamps[-1]
        assert j.prune(keep=5) == 0  # nothing more to do
        assert j.prune(keep=2, daily=False) == 6
        assert [ts for _, ts, _ in j.snapshots()] == stamps[-2:]


def test_retention_applies_itself_every_so_often(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    with pytest.raises(JournalError, match="keep_snapshots"):
        Journal(url, keep_snapshots=0)
    with Journal(url, keep_snapshots=20) as j:
        for k in range(100):
            j.write(snapshot=engine_at(T0 + k * NS))  # all on one day
        count = len(j.snapshots())
        assert 20 <= count < 20 + 10  # pruned every keep // 10 snapshots, not every commit
        assert j.restore().ts == T0 + 99 * NS
    with Journal(url, batch=8, durable=False, keep_snapshots=3) as j:  # a batched journal too
        for k in range(100, 200):
            j.write(snapshot=engine_at(T0 + k * NS))
        j.flush()
        assert len(j.snapshots()) < 20
        assert j.restore().ts == T0 + 199 * NS


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_base():
    try:
        from . import postgres_server
    except ImportError:  # tests/ is not a package: pytest puts it on sys.path
        import postgres_server
    with postgres_server.postgres_url() as url:
        yield url


def test_postgresql_read_only_sessions_write_nothing(pg_base):
    import sqlalchemy as sa

    admin = sa.create_engine(pg_base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        for name in ("rg_ro_journal", "rg_ro_foreign"):
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
            c.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    base = pg_base.rsplit("/", 1)[0]
    foreign = sa.create_engine(f"{base}/rg_ro_foreign")
    with foreign.begin() as c:
        c.execute(sa.text("CREATE TABLE users (id integer)"))
    for open_it in (Journal.open_readonly, lambda u: Journal(u, create=False)):
        with pytest.raises(JournalError, match="not a riskguard journal"):
            open_it(f"{base}/rg_ro_foreign")
    with foreign.connect() as c:
        tables = sa.inspect(c).get_table_names()
    foreign.dispose()
    assert tables == ["users"]  # nothing added

    url = f"{base}/rg_ro_journal"
    with Journal(url) as j:
        j.save_snapshot(engine_at(T0))
        j.record_control("kill", T0, reason="r", actor="ops")
    with Journal.open_readonly(url) as j:
        assert j.restore().ts == T0
        assert [c.action for c in j.pending_controls()] == ["kill"]
        with pytest.raises(JournalError, match="read-only"):
            j.save_snapshot(engine_at(T0 + NS))
        # Even a write that slipped past the journal's own refusal is refused by the session.
        with j._engine.connect() as c, pytest.raises(sa.exc.DBAPIError, match="read-only"):
            c.execute(sa.text("DELETE FROM rg_snapshots"))
    with Journal(url) as j:
        assert len(j.snapshots()) == 1
