"""One writer per journal (issue 14, row 1): the journal's lease on SQLite (an OS lock on a
lock file beside the database, held by a real other process, frozen and killed) and on a real
PostgreSQL server (a session advisory lock on a dedicated connection, which the test cuts), with
the epoch every commit checks (fencing)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import riskguard as rg
import sqlalchemy as sa
from riskguard.journal import Journal, JournalError, LeaseHeld
from riskguard.journal.lease import LEASE_KEY

try:
    from . import postgres_server
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    import postgres_server

NS = 1_000_000_000
T0 = 1_641_168_000 * NS

# A process that takes the lease, says so, and holds it until its stdin closes.
HOLDER = """
import sys
from riskguard.journal import Journal

journal = Journal(sys.argv[1])
epoch = journal.acquire_lease("guard-child")
print("READY", epoch, flush=True)
sys.stdin.read()
journal.close()
"""


def engine_at(ts: int) -> rg.RiskEngine:
    return rg.RiskEngine(rg.Limits(signal_filters=False), 10_000.0, ts)


def start_holder(tmp_path: Path, url: str) -> subprocess.Popen[str]:
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    proc = subprocess.Popen(
        [sys.executable, str(script), url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # bounded: the child either prints READY or dies
    if not line.startswith("READY"):
        proc.kill()
        raise AssertionError(f"the holder did not start: {line!r} {proc.stderr.read()}")
    return proc


def stopped(pid: int) -> bool:
    """Whether the process is stopped (SIGSTOP), from /proc."""
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state in ("T", "t")


def test_a_second_writer_is_refused_while_another_process_holds_the_lease(tmp_path):
    db = tmp_path / "journal.db"
    url = f"sqlite:///{db}"
    Journal(url).close()
    proc = start_holder(tmp_path, url)
    try:
        with Journal(url) as second:
            with pytest.raises(LeaseHeld) as refused:
                second.acquire_lease("guard-second")
            message = str(refused.value)
            assert "guard-child" in message and f"pid {proc.pid}" in message
            assert socket.gethostname() in message and "since 20" in message
            assert refused.value.pid == proc.pid and refused.value.holder == "guard-child"
            assert second.lease_state == "none"
            # Without the lease, it must not write as a lease holder would: nothing stops a
            # plain journal (a backtest, a reader) from working, though.
            assert second.lease_holder()["pid"] == proc.pid
        with Journal.open_readonly(url) as reader:  # status can name the holder
            holder = reader.lease_holder()
            assert holder is not None and holder["holder"] == "guard-child"
            assert holder["epoch"] == 1

        # A frozen holder still holds it: the lock is the process's, not its activity.
        os.kill(proc.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while not stopped(proc.pid):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        with Journal(url) as second:
            with pytest.raises(LeaseHeld):
                second.acquire_lease("guard-second")

        # A holder that dies (SIGKILL: no clean-up at all) frees it: the kernel drops the lock.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        with Journal(url) as second:
            assert second.lease_holder() is None
            assert second.acquire_lease("guard-second") == 2  # a new epoch
            assert second.lease_state == "held" and second.check_lease()
            second.save_snapshot(engine_at(T0))
            assert second.lease_holder()["holder"] == "guard-second"
        with Journal.open_readonly(url) as reader:
            assert reader.lease_holder() is None  # released on close
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_a_writer_that_lost_its_lease_cannot_commit_until_it_takes_it_back(tmp_path):
    db = tmp_path / "journal.db"
    url = f"sqlite:///{db}"
    first = Journal(url)
    second = Journal(url)
    try:
        assert first.acquire_lease("first") == 1
        assert first.acquire_lease("first") == 1  # idempotent while held
        first.save_snapshot(engine_at(T0))
        # Someone deletes the lock file: a second writer can now take the OS lock, and the
        # epoch is all that keeps the first from writing over it.
        os.remove(f"{db}.lock")
        assert second.acquire_lease("second") == 2
        with pytest.raises(JournalError, match="lease lost"):
            first.save_snapshot(engine_at(T0 + NS))
        assert first.lease_state == "lost" and not first.check_lease()
        assert first.failure is not None and "lease lost" in first.failure[0]
        e = engine_at(T0)
        d = e.evaluate_signal(rg.Signal("BTC", "long", 100.0, stop=95.0, quantity=1.0), T0)
        future = first.record_decision(d, T0 + 2 * NS)
        with pytest.raises(JournalError, match="lease lost"):
            future.result(timeout=30)
        with pytest.raises(JournalError, match="lease lost"):
            first.write(snapshot=engine_at(T0 + 3 * NS))
        with pytest.raises(LeaseHeld, match="second"):
            first.acquire_lease("first")
        second.save_snapshot(engine_at(T0 + 4 * NS))
        assert [ts for _, ts, _ in second.snapshots()] == [T0, T0 + 4 * NS]
        assert second.decisions() == []

        second.close()  # releases it: the first takes it back and writes again
        assert first.acquire_lease("first") == 3
        first.save_snapshot(engine_at(T0 + 5 * NS))
        assert first.failure is None
        assert first.restore().ts == T0 + 5 * NS
    finally:
        first.close()
        second.close()


def test_lease_arguments_and_read_only_journals(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    Journal(url).close()
    with Journal(url) as j:
        with pytest.raises(JournalError, match="holder"):
            j.acquire_lease("")
        assert j.lease_state == "none" and j.lease_epoch is None and not j.check_lease()
        j.release_lease()  # nothing to release: a no-op
    with Journal.open_readonly(url) as reader:
        with pytest.raises(JournalError, match="read-only"):
            reader.acquire_lease("reader")
    j = Journal(url)
    j.close()
    with pytest.raises(JournalError, match="closed"):
        j.acquire_lease("late")


# --- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_base():
    with postgres_server.postgres_url() as url:
        yield url


@pytest.fixture
def pg_url(pg_base, request):
    name = f"rg_lease_{abs(hash(request.node.nodeid)) % 10**12}"
    admin = sa.create_engine(pg_base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return pg_base.rsplit("/", 1)[0] + f"/{name}"


def cut_lease_connection(url: str) -> None:
    """Ends the server session that holds the lease's advisory lock, as a network cut or a
    server-side timeout would."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            pids = (
                c.execute(
                    sa.text(
                        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                        f" AND objid = {LEASE_KEY}"
                    )
                )
                .scalars()
                .all()
            )
            assert len(pids) == 1
            c.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pids[0]})
    finally:
        admin.dispose()


def test_postgresql_one_writer_and_a_dropped_lease_connection(pg_url):
    first = Journal(pg_url)
    second = Journal(pg_url)
    try:
        assert first.acquire_lease("guard-a") == 1
        first.save_snapshot(engine_at(T0))
        with pytest.raises(LeaseHeld) as refused:
            second.acquire_lease("guard-b")
        assert "guard-a" in str(refused.value) and f"pid {os.getpid()}" in str(refused.value)
        assert second.lease_holder()["holder"] == "guard-a"

        # The connection holding the advisory lock drops: the lease is lost, noticed by the
        # cheap check and by the next commit, which stores nothing.
        cut_lease_connection(pg_url)
        assert not first.check_lease() and first.lease_state == "lost"
        with pytest.raises(JournalError, match="lease lost"):
            first.save_snapshot(engine_at(T0 + NS))

        # Nobody else took it: the first takes it back once the database answers.
        assert first.acquire_lease("guard-a") == 2
        first.save_snapshot(engine_at(T0 + 2 * NS))

        # Dropped again, and this time the second writer takes it first: the first's commits
        # are refused (the epoch moved on), detected in the commit itself.
        cut_lease_connection(pg_url)
        assert second.acquire_lease("guard-b") == 3
        with pytest.raises(JournalError, match="lease lost"):
            first.save_snapshot(engine_at(T0 + 3 * NS))
        with pytest.raises(LeaseHeld, match="guard-b"):
            first.acquire_lease("guard-a")
        second.save_snapshot(engine_at(T0 + 4 * NS))
        assert [ts for _, ts, _ in second.snapshots()] == [T0, T0 + 2 * NS, T0 + 4 * NS]
        second.release_lease()
        assert second.lease_holder() is None
        assert first.acquire_lease("guard-a") == 4
        first.save_snapshot(engine_at(T0 + 5 * NS))
        assert first.failure is None
    finally:
        first.close()
        second.close()


def test_postgresql_a_commit_without_the_dedicated_connection_is_refused(pg_url):
    """The fencing check itself (not only check_lease) notices the advisory lock is gone."""
    with Journal(pg_url) as j:
        j.acquire_lease("guard")
        cut_lease_connection(pg_url)
        with pytest.raises(JournalError, match="lease lost"):
            j.write(snapshot=engine_at(T0))
        assert j.lease_state == "lost"
        assert j.snapshots() == []
