"""Rows 2 and 3 of issue 14, the Guard's side: a kill is never lost. A journal failure shows in
``status().failure`` (what failed, since when) while it lasts, a failed group commit included,
and is never sticky; a kill the journal cannot commit is acted on in memory at once, reported as
not yet durable, committed on its own when what is owed before it cannot be, and retried until
committed. The journal's faults are simulated by patching its writes."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Future
from typing import Any

import pytest
import riskguard as rg
from riskguard.brokers import PaperBroker
from riskguard.guard import Guard, GuardError
from riskguard.journal import Journal, JournalError
from test_guard import (
    FAST_RETRIES,
    LONG,
    SYM,
    T0,
    Recorder,
    S,
    Simulated,
    alerter,
    config,
    heard,
    open_long,
    position,
    run,
    until,
)

BOUND = 30.0  # seconds: a generous bound, not a timing
SETTINGS = FAST_RETRIES | {"control_poll_s": 0.02}
POOR = rg.Signal(SYM, "long", 100.0, stop=98.0, target=100.5)  # refused: reward/risk too low


def kill_switch_in_journal(tmp_path: Any) -> bool:
    with Journal(f"sqlite:///{tmp_path / 'journal.db'}") as other:
        engine = other.restore()
    assert engine is not None
    return any(b.name == "kill_switch" and b.status == "tripped" for b in engine.breakers())


def test_a_failed_group_commit_shows_in_status_until_the_journal_takes_a_write(
    tmp_path, monkeypatch
):
    async def go() -> None:
        async with Guard(config(tmp_path, guard=SETTINGS)) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            working = guard.journal.record_decision

            def failing(*_: Any, **__: Any) -> Future:
                done: Future = Future()
                done.set_exception(JournalError("journal write failed: disk full"))
                return done

            monkeypatch.setattr(guard.journal, "record_decision", failing)
            before = time.time_ns()
            with pytest.raises(JournalError, match="disk full"):
                await guard.submit(POOR)
            status = guard.status()
            assert status.failure is not None and "disk full" in status.failure
            assert "decision" in status.failure and "since" in status.failure
            assert status.failure_since is not None and status.failure_since >= before
            assert status.paused  # new risk stops
            with pytest.raises(GuardError, match="no new risk"):
                await guard.submit(LONG)
            monkeypatch.setattr(guard.journal, "record_decision", working)
            # Not sticky: the next write that succeeds (the control poll's) lifts it.
            await until(lambda: guard.status().failure is None, BOUND)
            assert guard.status().failure_since is None
            await guard.resume()  # the pause it set is lifted by hand, as any pause
            assert (await guard.submit(POOR)).codes[0] == "REWARD_RISK_TOO_LOW"

    run(go())


def test_a_kill_the_journal_cannot_commit_acts_at_once_and_is_committed_once_it_can(
    tmp_path, monkeypatch
):
    broker = Simulated(PaperBroker())
    recorder = Recorder()
    alerts = alerter(recorder)

    async def first() -> None:
        async with Guard(config(tmp_path, guard=SETTINGS), broker, alerter=alerts) as guard:
            decision = await open_long(guard)

            def broken(**_: Any) -> None:
                raise JournalError("journal write failed: disk full")

            monkeypatch.setattr(guard.journal, "write", broken)
            with pytest.raises(JournalError, match="disk full"):
                await guard.kill("runaway strategy", actor="ops")
            # In force in memory: halted, the close sent, new risk refused...
            status = guard.status()
            assert status.kill_switch and status.state == "HALTED"
            assert broker.submitted()[-1].qty == -decision.quantity
            with pytest.raises(GuardError, match="no new risk"):
                await guard.submit(LONG)
            # ...and said to be not yet durable, while the journal stays down.
            [what] = status.undurable_controls
            assert what.startswith("kill by ops") and "runaway strategy" in what
            assert "disk full" in (status.failure or "")
            await asyncio.sleep(0.1)  # several polls fail meanwhile
            assert guard.status().undurable_controls == [what]
            assert not kill_switch_in_journal(tmp_path)
            await heard(recorder, "journal_failed")
            monkeypatch.undo()
            # The fault clears: the poll commits the kill by itself.
            await until(lambda: not guard.status().undurable_controls, BOUND)
            assert guard.status().failure is None
            assert kill_switch_in_journal(tmp_path)
        await alerts.aclose()

    async def second() -> None:
        async with Guard(config(tmp_path, guard=SETTINGS), broker) as guard:
            status = guard.status()
            assert status.kill_switch and status.state == "HALTED"
            [control] = guard.journal.controls()
            assert (control.action, control.reason, control.actor) == (
                "kill",
                "runaway strategy",
                "ops",
            )
            await guard.on_tick(SYM, 100.0, T0 + 5 * S)
            assert "KILL_SWITCH" in (await guard.submit(LONG)).codes

    run(first())
    run(second())


def test_a_kill_is_committed_even_when_what_is_owed_before_it_cannot_be(tmp_path, monkeypatch):
    broker = Simulated(PaperBroker())

    async def first() -> None:
        async with Guard(config(tmp_path, guard=SETTINGS), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            decision = await guard.submit(LONG)
            working = guard.journal.write

            def refusing(**rows: Any) -> Any:
                # A row the database cannot store (PostgreSQL and a NUL character, say): every
                # write that carries it fails, the others go through.
                if rows.get("fills"):
                    raise JournalError("journal write failed: cannot store this row")
                return working(**rows)

            monkeypatch.setattr(guard.journal, "write", refusing)
            with pytest.raises(JournalError):
                await guard.on_tick(SYM, 100.0, T0 + S)  # the entry fills: its row is owed
            assert position(guard) == decision.quantity and guard.status().failure
            with pytest.raises(JournalError):
                await guard.kill("get out")  # what is owed still fails...
            assert not guard.status().undurable_controls  # ...the kill went on its own
            assert kill_switch_in_journal(tmp_path)
            assert guard.journal.controls()[-1].action == "kill"
            assert guard.status().failure  # the owed row is still owed, and said so

    async def second() -> None:
        async with Guard(config(tmp_path, guard=SETTINGS), broker) as guard:
            assert guard.status().kill_switch and guard.status().state == "HALTED"

    run(first())
    run(second())


def test_a_refused_approval_does_not_block_the_writes_behind_it(tmp_path, monkeypatch):
    async def go() -> None:
        async with Guard(config(tmp_path, guard=SETTINGS)) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            working = guard.journal.write

            def refusing(**rows: Any) -> Any:
                if rows.get("decisions"):
                    raise JournalError("journal write failed: cannot store this decision")
                return working(**rows)

            monkeypatch.setattr(guard.journal, "write", refusing)
            with pytest.raises(JournalError):
                await guard.submit(LONG)  # not acknowledged, and never sent
            assert await guard.broker.open_orders() == []
            await until(lambda: guard.status().failure is None, BOUND)  # not sticky
            await guard.kill("after the fault")
            assert guard.journal.controls()[-1].reason == "after the fault"
            assert kill_switch_in_journal(tmp_path)

    run(go())


def test_a_control_from_another_process_is_applied_once_while_its_mark_is_owed(
    tmp_path, monkeypatch
):
    recorder = Recorder()
    alerts = alerter(recorder)

    async def go() -> None:
        async with Guard(config(tmp_path, guard=SETTINGS), alerter=alerts) as guard:
            await open_long(guard)

            def broken(**_: Any) -> None:
                raise JournalError("journal write failed: disk full")

            monkeypatch.setattr(guard.journal, "write", broken)
            with Journal(guard.journal.url) as cli:
                cli.record_control("kill", time.time_ns(), reason="from the cli", actor="ops")
            await until(lambda: guard.status().kill_switch, BOUND)
            await asyncio.sleep(0.2)  # ten polls see it pending: none applies it again
            assert recorder.kinds().count("control") == 1
            assert guard.status().undurable_controls == []  # the kill itself is durable
            monkeypatch.undo()
            await until(lambda: guard.journal.pending_controls() == [], BOUND)
        await alerts.aclose()

    run(go())
