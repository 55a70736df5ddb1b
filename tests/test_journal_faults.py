"""A failed write is never sticky (issue 14, rows 2 and 3), and a journal file deleted or
replaced under its writer stops every commit (row 11).

Row 2 fills a real (tmpfs) filesystem until SQLite reports it full, then frees the space; where
mounting is not allowed it falls back to SQLite's own page limit. Row 3 sends a value PostgreSQL
refuses (a NUL character in a symbol) to a real server.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import riskguard as rg
import sqlalchemy as sa
from riskguard.journal import Journal, JournalError

try:
    from . import postgres_server
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    import postgres_server

NS = 1_000_000_000
T0 = 1_641_168_000 * NS


def decision(symbol: str = "BTC") -> rg.Decision:
    e = rg.RiskEngine(rg.Limits(signal_filters=False), 10_000.0, T0)
    return e.evaluate_signal(rg.Signal(symbol, "long", 100.0, stop=95.0, quantity=1.0), T0)


def engine_at(ts: int) -> rg.RiskEngine:
    return rg.RiskEngine(rg.Limits(signal_filters=False), 10_000.0, ts)


@contextlib.contextmanager
def small_filesystem(size: str = "4m"):
    """A tmpfs of ``size`` mounted on a temporary directory (root only), unmounted at the end;
    skips the test when mounting is not allowed."""
    where = Path(tempfile.mkdtemp(prefix="rg-full-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
        with contextlib.suppress(OSError):
            where.rmdir()


def fill(path: Path) -> None:
    """Writes ``path`` until the filesystem has no space left."""
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(chunk)
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 512)


def test_a_full_disk_fails_only_the_writes_made_while_it_is_full(tmp_path):
    with small_filesystem() as disk:
        url = f"sqlite:///{disk / 'journal.db'}"
        j = Journal(url)
        try:
            j.acquire_lease("guard")
            j.save_snapshot(engine_at(T0))
            assert j.record_decision(decision(), T0).result(timeout=30) is None
            j.record_control("pause", T0, reason="before", actor="ops")  # the control file
            filler = disk / "filler"
            fill(filler)

            # While the disk is full: the decision's future fails, the failure is reported,
            # durable writes are refused, and nothing claims success.
            refused = j.record_decision(decision(), T0 + NS)
            with pytest.raises(JournalError, match="full"):
                refused.result(timeout=30)
            assert j.failure is not None and "full" in j.failure[0]
            since = j.failure[1]
            with pytest.raises(JournalError, match="full"):
                j.save_snapshot(engine_at(T0 + NS))
            assert j.failure[1] == since  # the failure began with the first refused write

            filler.unlink()  # space freed: the very next writes succeed, with no restart
            assert j.record_decision(decision(), T0 + 2 * NS).result(timeout=30) is None
            assert j.failure is None
            j.save_snapshot(engine_at(T0 + 2 * NS))
            kill = j.record_control("kill", time.time_ns(), reason="after", actor="ops")
            with pytest.raises(JournalError, match="writer failed"):
                j.flush()  # reports the group commit that failed since the last flush, once
            j.flush()
        finally:
            j.close()
        with Journal(url) as again:  # after a restart: the kill is there, pending
            assert [c.id for c in again.pending_controls() if c.action == "kill"] == [kill]
            assert [d["ts"] for d in again.decisions()] == [T0, T0 + 2 * NS]
            assert again.restore().ts == T0 + 2 * NS
            assert again.check() == []


def test_a_database_that_refuses_pages_recovers_when_it_accepts_them_again(tmp_path):
    """The same without a mount: SQLite's page limit on the journal's connections."""
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    limit = {"pages": 0}

    def connect(dbapi_connection, _record):
        if limit["pages"]:
            dbapi_connection.execute(f"PRAGMA max_page_count={limit['pages']}")

    with Journal(url) as j:
        sa.event.listen(j._engine, "connect", connect)
        j.save_snapshot(engine_at(T0))
        with j._engine.connect() as c:
            used = c.exec_driver_sql("PRAGMA page_count").scalar()
        limit["pages"] = used
        j._engine.dispose()  # new connections, with the limit
        futures = [j.record_decision(decision("X" * 5000), T0 + k) for k in range(40)]
        with pytest.raises(JournalError, match="full"):
            for f in futures:
                f.result(timeout=30)
        assert j.failure is not None
        limit["pages"] = 0
        j._engine.dispose()
        assert j.record_decision(decision(), T0 + NS).result(timeout=30) is None
        assert j.failure is None
        kill = j.record_control("kill", T0 + 2 * NS, reason="after", actor="ops")
        assert [c.id for c in j.pending_controls()] == [kill]


def test_a_group_commit_fails_only_the_decision_the_database_refuses(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    with Journal(url, batch=64) as j:
        good = decision()
        futures = [j.record_decision(good, T0 + k) for k in range(10)]
        futures.append(j.record_decision(good, 2**63))  # beyond any SQL integer
        futures += [j.record_decision(good, T0 + 100 + k) for k in range(10)]
        outcomes = []
        for f in futures:
            try:
                f.result(timeout=30)
                outcomes.append("ok")
            except JournalError:
                outcomes.append("failed")
        assert outcomes == ["ok"] * 10 + ["failed"] + ["ok"] * 10
        assert j.failure is None  # the later ones succeeded
        assert len(j.decisions()) == 20


# --- PostgreSQL: a value the server refuses ---------------------------------------------------


@pytest.fixture(scope="module")
def pg_base():
    with postgres_server.postgres_url() as url:
        yield url


@pytest.fixture
def pg_url(pg_base, request):
    name = f"rg_faults_{abs(hash(request.node.nodeid)) % 10**12}"
    admin = sa.create_engine(pg_base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return pg_base.rsplit("/", 1)[0] + f"/{name}"


def test_postgresql_a_nul_in_a_symbol_fails_only_its_own_write(pg_url):
    with Journal(pg_url) as j:
        j.acquire_lease("guard")
        bad = decision("BT\x00C")
        assert "\x00" in bad.symbol
        refused = j.record_decision(bad, T0)
        with pytest.raises(JournalError, match="NUL") as caught:
            refused.result(timeout=30)
        assert "INSERT" not in str(caught.value)  # no SQL in the message
        assert j.failure is not None and "NUL" in j.failure[0]
        with pytest.raises(JournalError, match="NUL"):
            j.write(snapshot=engine_at(T0), decisions=[(bad, T0, None)])

        # The next writes are tried afresh and succeed: a kill made now is kept.
        assert j.record_decision(decision(), T0 + NS).result(timeout=30) is None
        assert j.failure is None
        j.save_snapshot(engine_at(T0 + NS))
        with Journal(pg_url, create=False) as cli:
            kill = cli.record_control("kill", T0 + 2 * NS, reason="ops", actor="cli")
        pending = j.pending_controls()
        assert [c.id for c in pending] == [kill]
        j.write(snapshot=engine_at(T0 + 2 * NS), handled=[(kill, T0 + 3 * NS)])
        assert j.pending_controls() == []
    with Journal(pg_url) as again:
        assert [d["symbol"] for d in again.decisions()] == ["BTC"]
        assert again.controls()[0].handled_ts == T0 + 3 * NS


# --- the journal's identity -------------------------------------------------------------------


def test_a_journal_deleted_under_its_writer_acknowledges_nothing_more(tmp_path):
    db = tmp_path / "journal.db"
    url = f"sqlite:///{db}"
    with Journal(url) as j:
        j.acquire_lease("guard")
        j.save_snapshot(engine_at(T0))
        db.unlink()
        with pytest.raises(JournalError, match="deleted or replaced") as caught:
            j.save_snapshot(engine_at(T0 + NS))
        assert str(db) in str(caught.value)
        with pytest.raises(JournalError, match="deleted or replaced"):
            j.record_decision(decision(), T0 + NS).result(timeout=30)
        with pytest.raises(JournalError, match="deleted or replaced"):
            j.write(snapshot=engine_at(T0 + NS), events=[])
        assert j.failure is not None and "deleted or replaced" in j.failure[0]
        assert not db.exists()  # no connection made afterwards created a new, empty file
        # A control command never creates a journal: it fails and leaves nothing behind.
        with pytest.raises(JournalError, match="does not exist"):
            Journal(url, create=False)
        with pytest.raises(JournalError, match="does not exist"):
            Journal.open_readonly(url)
        assert not db.exists()


def test_a_journal_replaced_under_its_writer_acknowledges_nothing_more(tmp_path):
    db = tmp_path / "journal.db"
    url = f"sqlite:///{db}"
    other = tmp_path / "other.db"
    with Journal(f"sqlite:///{other}") as o:
        o.save_snapshot(engine_at(T0 - NS))
    with Journal(url) as j:
        j.save_snapshot(engine_at(T0))
        # A restore from a backup under a running writer: the file is replaced (and its WAL
        # removed, which would otherwise be read with the new file).
        os.replace(other, db)
        for stale in (Path(f"{db}-wal"), Path(f"{db}-shm")):
            stale.unlink(missing_ok=True)
        with pytest.raises(JournalError, match="deleted or replaced"):
            j.save_snapshot(engine_at(T0 + NS))
        with pytest.raises(JournalError, match="deleted or replaced"):
            j.record_decision(decision(), T0 + NS).result(timeout=30)
    with Journal(url) as after:  # the replacement is untouched by the old writer
        assert [ts for _, ts, _ in after.snapshots()] == [T0 - NS]
        assert after.decisions() == []
