"""The control channel (issue 14, rows 9 and 4): a control action is recorded even while a
frozen process holds the SQLite journal's write lock, applied idempotently in the Guard's own
transaction, and on PostgreSQL reaches a waiting listener again after the server restarts."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import riskguard as rg
import sqlalchemy as sa
from riskguard.journal import Journal, JournalError, control_row

try:
    from . import postgres_server
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    import postgres_server

NS = 1_000_000_000
T0 = 1_641_168_000 * NS
RECORD_WITHIN_S = 2.0  # the contract: `riskguard kill` records within 2 s
REACH_WITHIN_S = 1.0  # ... and reaches a Guard within 1 s of the database being reachable

# A writer that takes the journal's lease, begins a write transaction (SQLite's write lock) and
# freezes itself while holding it, as a Guard stopped mid-commit would.
FROZEN_WRITER = """
import os, signal, sqlite3, sys
from riskguard.journal import Journal

path = sys.argv[1]
journal = Journal(f"sqlite:///{path}")
journal.acquire_lease("frozen-guard")
raw = sqlite3.connect(path, isolation_level=None)
raw.execute("BEGIN IMMEDIATE")
raw.execute("INSERT INTO rg_meta (key, value) VALUES ('uncommitted', 'x')")
print("LOCKED", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
"""


def engine_at(ts: int) -> rg.RiskEngine:
    return rg.RiskEngine(rg.Limits(signal_filters=False), 10_000.0, ts)


def stopped(pid: int) -> bool:
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state in ("T", "t")


def freeze_a_writer(tmp_path: Path, db: Path) -> subprocess.Popen[str]:
    """A child process frozen (SIGSTOP) while it holds the journal's write lock."""
    script = tmp_path / "frozen.py"
    script.write_text(FROZEN_WRITER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "LOCKED":
        proc.kill()
        raise AssertionError(f"the writer did not lock: {line!r} {proc.stderr.read()}")
    deadline = time.monotonic() + 30
    while not stopped(proc.pid):
        assert time.monotonic() < deadline, "the writer never froze"
        time.sleep(0.01)
    return proc


def end(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)  # a stopped process dies of SIGKILL too
    proc.wait(30)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def test_a_kill_is_recorded_while_a_frozen_guard_holds_the_write_lock(tmp_path):
    db = tmp_path / "journal.db"
    url = f"sqlite:///{db}"
    with Journal(url) as j:
        j.save_snapshot(engine_at(T0))
    proc = freeze_a_writer(tmp_path, db)
    try:
        # The lock is really held: a plain writer cannot get it.
        probe = __import__("sqlite3").connect(db, timeout=0.1, isolation_level=None)
        with pytest.raises(Exception, match="locked"):
            probe.execute("BEGIN IMMEDIATE")
        probe.close()

        started = time.monotonic()
        with Journal(url, create=False) as cli:
            kill = cli.record_control("kill", time.time_ns(), reason="frozen", actor="ops")
        took = time.monotonic() - started
        assert took < RECORD_WITHIN_S, f"recording the kill took {took:.2f} s"

        # A reader (status) sees it pending, and the engine state, while the lock is held.
        with Journal.open_readonly(url) as reader:
            assert [(c.id, c.action) for c in reader.pending_controls()] == [(kill, "kill")]
            assert reader.restore().ts == T0
    finally:
        end(proc)

    # The Guard that comes back applies it in its own transaction: idempotently.
    with Journal(url) as guard:
        guard.acquire_lease("guard")
        pending = guard.pending_controls()
        assert [c.id for c in pending] == [kill]
        guard.write(snapshot=engine_at(T0 + NS), handled=[(kill, T0 + NS)])
        assert guard.pending_controls() == []
        guard.write(snapshot=engine_at(T0 + 2 * NS), handled=[(kill, T0 + 2 * NS)])  # no-op
        applied = [c for c in guard.controls() if c.id == kill]
        assert len(applied) == 1 and applied[0].handled_ts == T0 + NS
        assert applied[0].reason == "frozen" and applied[0].actor == "ops"
    with Journal.open_readonly(url) as reader:
        assert reader.pending_controls() == []


def test_applied_controls_stay_applied_when_the_channel_is_not_marked(tmp_path):
    """The journal's own record decides: a crash between the Guard's commit and its
    best-effort mark of the control database never applies a control twice."""
    db = tmp_path / "journal.db"
    url = f"sqlite:///{db}"
    with Journal(url) as j:
        a = j.record_control("pause", T0, reason="a", actor="ops")
        b = j.record_control("reset", T0 + 1, name="kill_switch", actor="ops")
        j.write(handled=[(a, T0 + 2)])
    # Undo the best-effort mark, as if the Guard died right after its commit.
    channel = __import__("sqlite3").connect(f"{db}-control.db", isolation_level=None)
    channel.execute("UPDATE rg_control SET handled_ts = NULL")
    channel.close()
    with Journal(url) as j:
        assert [c.id for c in j.pending_controls()] == [b]
        # An action the Guard took itself, written with its step, is never pending.
        j.write(controls=[control_row("kill", T0 + 3, reason="self", handled_ts=T0 + 3)])
        # One without handled_ts in the journal itself (what an older riskguard recorded)
        # is pending under a negative id, and is marked by it.
        j.write(controls=[control_row("pause", T0 + 4, reason="legacy")])
        pending = j.pending_controls()
        assert [c.action for c in pending] == ["pause", "reset"] and pending[0].id < 0
        j.mark_handled(pending[0].id, T0 + 5)
        j.mark_handled(b, T0 + 6)
        assert j.pending_controls() == []
        assert [c.action for c in j.controls()] == ["pause", "reset", "kill", "pause"]
        assert all(c.handled_ts is not None for c in j.controls())


def test_a_sqlite_waiter_wakes_when_a_control_is_recorded(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    with Journal(url) as guard:
        assert guard.wait_for_control(0.01) is False
        heard: list[bool] = []
        waiter = threading.Thread(target=lambda: heard.append(guard.wait_for_control(60.0)))
        waiter.start()
        time.sleep(0.1)
        with Journal(url, create=False) as cli:
            cli.record_control("kill", time.time_ns(), reason="cli", actor="ops")
        waiter.join(90)
        assert heard == [True]


def test_control_commands_never_create_a_journal(tmp_path):
    db = tmp_path / "typo.db"
    with pytest.raises(JournalError, match="does not exist"):
        Journal(f"sqlite:///{db}", create=False)
    assert list(tmp_path.iterdir()) == []


# --- PostgreSQL: the listener heals after a restart --------------------------------------------


@pytest.fixture(scope="module")
def server():
    with postgres_server.postgres_server() as s:
        yield s


def test_a_kill_reaches_a_waiting_guard_after_postgresql_restarts(server):
    url = server.url.rsplit("/", 1)[0] + "/rg_restart"
    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text("DROP DATABASE IF EXISTS rg_restart"))
        c.execute(sa.text("CREATE DATABASE rg_restart"))
    admin.dispose()
    guard = Journal(url)
    seen: dict[str, float] = {}
    stop = threading.Event()

    def poll() -> None:
        # What the Guard's control task does: wait for a notification (or the poll interval),
        # then read the pending controls; a failure is reported and the loop goes on.
        while not stop.is_set():
            try:
                guard.wait_for_control(0.5)
                pending = guard.pending_controls()
            except JournalError:
                time.sleep(0.5)
                continue
            if any(c.action == "kill" for c in pending):
                seen["kill"] = time.monotonic()
                return

    try:
        guard.save_snapshot(engine_at(T0))
        assert guard.wait_for_control(0.01) is False  # listening from now on
        waiter = threading.Thread(target=poll, daemon=True)
        waiter.start()
        server.restart()  # every session ends, the listener's too
        with Journal(url, create=False) as cli:
            cli.record_control("kill", time.time_ns(), reason="after restart", actor="ops")
            recorded = time.monotonic()
        waiter.join(15)
        assert "kill" in seen, "the kill never reached the waiting journal"
        assert seen["kill"] - recorded < REACH_WITHIN_S

        # And once more, now through the re-established LISTEN alone.
        guard.write(handled=[(c.id, T0) for c in guard.pending_controls()])
        heard: list[bool] = []
        again = threading.Thread(target=lambda: heard.append(guard.wait_for_control(30.0)))
        again.start()
        time.sleep(0.2)
        with Journal(url, create=False) as cli:
            cli.record_control("pause", time.time_ns(), reason="again", actor="ops")
        again.join(60)
        assert heard == [True]
        # The journal's own writes healed too (pool connections are checked before use).
        guard.save_snapshot(engine_at(T0 + NS))
        assert guard.failure is None
    finally:
        stop.set()
        guard.close()
