"""One writer per journal, at the Guard (docs/guard.md, "One writer per journal: the lease").

Row 1 of the safety review: two Guards started on one journal both traded, a kill halted one of
them, and the journal ended ACTIVE. Now the second Guard refuses to start and names the first;
a Guard in another process holds the journal until it dies, however it dies; a Guard whose
lease the database dropped stops new risk until it takes the lease back, and one whose journal
another writer took in between writes nothing more."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import riskguard as rg
from riskguard.guard import Guard, GuardError
from riskguard.journal import Journal
from test_guard import LONG, SYM, T0, config, position, run, until
from test_journal_lease import cut_lease_connection

S = 10**9
TESTS = Path(__file__).resolve().parent
BOUND = 30.0  # seconds: the contract's bound is the poll (0.05 s here); this only ends a hang

HOLDER = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_guard import config, SYM, T0
from riskguard.guard import Guard

async def main() -> None:
    async with Guard(config(Path({tmp!r}))) as guard:
        await guard.on_tick(SYM, 100.0, T0)
        print("READY", flush=True)
        await asyncio.sleep(120)  # killed long before

asyncio.run(main())
"""


def test_a_second_guard_on_a_journal_is_refused_and_names_the_first(tmp_path: Path) -> None:
    async def go() -> None:
        first = await Guard(config(tmp_path)).start()
        await first.on_tick(SYM, 100.0, T0)
        second = Guard(config(tmp_path))
        with pytest.raises(GuardError) as refused:
            await second.start()
        message = str(refused.value)
        assert f"pid {os.getpid()}" in message and "one writer per journal" in message
        with pytest.raises(GuardError, match="closed"):  # a start that failed closes it
            await second.submit(LONG)
        # The one Guard's kill holds: after it closes, the journal says HALTED.
        await first.kill("runaway")
        await first.aclose()
        third = await Guard(config(tmp_path)).start()
        assert third.status().kill_switch and third.status().state == "HALTED"
        await third.aclose()

    run(go())


def test_a_guard_in_another_process_holds_the_journal_until_it_dies(tmp_path: Path) -> None:
    script = HOLDER.format(tests=str(TESTS), tmp=str(tmp_path))
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "READY", (
            child.stderr.read() if child.stderr else ""
        )
        os.kill(child.pid, signal.SIGSTOP)  # frozen: the lease is still held

        async def refused() -> str:
            with pytest.raises(GuardError) as e:
                await Guard(config(tmp_path)).start()
            return str(e.value)

        assert f"pid {child.pid}" in run(refused())
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)

        async def after() -> None:  # the kernel dropped its lock with the process
            async with Guard(config(tmp_path)) as guard:
                assert guard.status().lease["state"] == "held"
                assert guard.engine.snapshot().ts >= T0

        run(after())
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


@pytest.fixture(scope="module")
def pg_url():
    import sqlalchemy as sa

    try:
        from . import postgres_server
    except ImportError:  # tests/ is not a package: pytest puts it on sys.path
        import postgres_server

    with postgres_server.postgres_url() as base:
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text("DROP DATABASE IF EXISTS rg_guard_lease"))
            c.execute(sa.text("CREATE DATABASE rg_guard_lease"))
        admin.dispose()
        yield base.rsplit("/", 1)[0] + "/rg_guard_lease"


def pg_config(tmp_path: Path, url: str) -> rg.Config:
    cfg = config(tmp_path, guard={"control_poll_s": 0.05, "broker_retries": 0})
    return cfg.model_copy(update={"journal": cfg.journal.model_copy(update={"url": url})})


def test_postgresql_a_lost_lease_stops_new_risk_until_taken_back(tmp_path, pg_url) -> None:
    async def go() -> None:
        async with Guard(pg_config(tmp_path, pg_url)) as guard:
            with pytest.raises(GuardError, match="one writer per journal"):
                await Guard(pg_config(tmp_path / "other", pg_url)).start()
            await guard.on_tick(SYM, 100.0, T0)
            epoch = guard.status().lease["epoch"]
            cut_lease_connection(pg_url)
            # Noticed on the next poll: new risk stops, and the lease is taken back (nobody
            # else wanted it), after which a commit lifts the failure; the pause stays until
            # an operator resumes.
            await until(lambda: guard.status().failure is not None, BOUND)
            assert "lease" in guard.status().failure and guard.engine.paused
            await until(lambda: guard.status().lease["epoch"] == epoch + 1, BOUND)
            await guard.on_tick(SYM, 101.0, T0 + S)
            await until(lambda: guard.status().failure is None, BOUND)
            assert not (await guard.submit(LONG, T0 + 2 * S)).approved  # still paused
            await guard.resume("lease back", actor="ops")
            decision = await guard.submit(LONG, T0 + 3 * S)
            assert decision.approved
            await guard.on_tick(SYM, 100.0, T0 + 4 * S)
            await until(lambda: position(guard) == decision.quantity, BOUND)

    run(go())


def test_postgresql_a_guard_whose_journal_another_took_writes_nothing_more(
    tmp_path, pg_url
) -> None:
    async def go() -> None:
        async with Guard(pg_config(tmp_path, pg_url)) as guard:
            await guard.on_tick(SYM, 100.0, T0 + 10 * S)
            journal = guard.journal
            # The lease drops, and before this Guard notices, another writer takes the journal
            # and lets it go again (a Guard that started and stopped).
            guard._tasks[-1].cancel()  # the poll: this Guard does not notice yet
            await asyncio.sleep(0)
            cut_lease_connection(pg_url)
            other = Journal(pg_url)
            other.acquire_lease("guard elsewhere")
            other.close()
            with Journal(pg_url) as reader:
                before = len(reader.snapshots())
            # This Guard notices, takes the lease back, and sees the epoch moved by two.
            await guard._keep_lease()
            status = guard.status()
            assert (
                status.failure is not None and "another writer took the journal" in status.failure
            )
            assert journal.lease_state == "none"  # given back, for a restarted Guard
            assert status.lease["state"] == "fenced"
            await guard.on_tick(SYM, 90.0, T0 + 11 * S)
            with pytest.raises(GuardError):
                await guard.submit(LONG, T0 + 12 * S)
            with Journal(pg_url) as reader:
                assert len(reader.snapshots()) == before  # nothing more was written
        async with Guard(pg_config(tmp_path, pg_url)) as restarted:
            assert restarted.status().lease["state"] == "held"

    run(go())


def test_status_names_the_lease(tmp_path: Path) -> None:
    async def go() -> None:
        async with Guard(config(tmp_path)) as guard:
            lease = guard.status().lease
            assert lease["state"] == "held" and lease["holder"].endswith(f":{os.getpid()}")
            with Journal.open_readonly(guard.journal.url) as reader:
                holder = reader.lease_holder()
            assert holder is not None and holder["pid"] == os.getpid()
            assert time.time_ns() - holder["since"] < 600 * S

    run(go())
