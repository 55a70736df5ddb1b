"""Control actions (kill, pause, resume, reset): acted on in memory at once, committed through
their own durable path, and the poll of the control channel.
"""

from __future__ import annotations

import asyncio
import time

from riskguard._core import Event, RiskError
from riskguard.guard.alerting import _utc
from riskguard.guard.writeahead import _Control
from riskguard.model.rows import control_row
from riskguard.oms.book import _Step

__all__ = ["RECONCILE_EVERY_S", "ControlsMixin"]

RECONCILE_EVERY_S = 60.0
"""Seconds between reconciliations of a live venue's positions while the Guard runs."""


class ControlsMixin:
    """The controls part of the Guard (a mixin: it works on the Guard's own state)."""

    async def _manual(self, action: str, name: str | None, reason: str, actor: str) -> list[Event]:
        for arg, value in (("reason", reason), ("actor", actor)):
            if not isinstance(value, str):
                raise RiskError(f"{arg} must be a str, got {value!r}")
        await self._ready_engine()
        async with self._lock:
            self._check_open()
            return await self._control(action, name, reason, None, actor=actor)

    async def _control(
        self,
        action: str,
        name: str | None,
        reason: str,
        control_id: int | None,
        *,
        actor: str = "",
    ) -> list[Event]:
        """Applies one control action and commits it with its effects; one recorded in the
        journal (``control_id``) is marked handled in the same transaction, and when the engine
        refuses it (an unknown breaker name) marked handled with the error alerted. The
        control's own write is owed until committed (see :meth:`_journal`)."""
        engine = self._engine
        assert engine is not None
        ts = engine.ts
        now = time.time_ns()
        self._operator_control(action, actor)  # the CLI's, the API's and the code's alike
        if control_id is not None:
            mark = _Control(f"handled mark of control #{control_id}", mark=(control_id, now))
        try:
            if action == "kill":
                events = engine.kill(reason, ts)
            elif action == "pause":
                events = engine.pause(reason, ts)
            elif action == "resume":
                events = engine.resume(ts)
            else:
                events = engine.reset(name, ts, confirm=True)
        except RiskError as e:
            if control_id is None:
                raise
            self._alert("control", "warning", f"{action} refused", str(e), ts=ts)
            self._commit(_Step(), controls=[mark])
            return []
        self._alert(
            "control",
            "critical" if action == "kill" else "warning",
            f"{action}{f' {name}' if name else ''}",
            reason,
            actor=actor,
            ts=ts,
        )
        step = _Step(events=events)
        if control_id is None:
            row = control_row(action, now, name=name, reason=reason, actor=actor, handled_ts=now)
            what = f"{action}{f' {name}' if name else ''} by {actor or '?'} at {_utc(now)}"
            await self._finish(step, ts, controls=[_Control(what + f": {reason!r}", row=row)])
        else:
            await self._finish(step, ts, controls=[mark])
        return events

    async def _poll(self) -> None:
        """Acts on control actions other processes record (``riskguard kill``): on PostgreSQL
        as soon as they are notified, else within ``control_poll_s``; also on orders that
        ended at a broker with its own feed without filling, and tries a failed journal (what
        it owes, a control action first of all) again. Each of these goes on when another
        fails: a listener that failed falls back to polling."""
        while True:
            try:
                # Returns as soon as a control is recorded (NOTIFY on PostgreSQL, the control
                # database's change on SQLite), else after the poll interval.
                await asyncio.to_thread(self.journal.wait_for_control, self._poll_s)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self._alert("control_poll", "warning", "listening for controls failed", str(e))
                await asyncio.sleep(self._poll_s)
            try:
                await self._keep_lease()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the poll outlives an unreachable database
                self._alert("lease", "warning", "checking the journal's lease failed", str(e))
            if self._failure is not None or self._undurable:
                async with self._lock:  # is the journal back? (the commit lifts the failure)
                    self._checkpoint()
            try:
                pending = await asyncio.to_thread(self.journal.pending_controls)
                # Applied already, only the handled mark is owed: not applied twice.
                owed = {c.mark[0] for c in self._undurable if c.mark is not None}
                for control in pending:
                    if control.id in owed:
                        continue
                    async with self._lock:
                        await self._control(
                            control.action, control.name, control.reason, control.id
                        )
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the poll outlives a locked or unreachable database
                self._alert("control_poll", "warning", "the control poll failed", str(e))
            if not self._replay and self.book.sent:
                # Without the lock: the sweep only asks the broker and records what it says,
                # and a broker slow to answer must not hold up the tick path or a kill.
                await self._sweep()
            if not self._replay and (self._flat_task is None or self._flat_task.done()):
                # In the background: a venue slow to answer must not hold up the controls.
                self._flat_task = asyncio.create_task(self._confirm_flat(), name="guard:flat")
                self._later.add(self._flat_task)
                self._flat_task.add_done_callback(self._later.discard)
                if time.monotonic() >= self._next_reconcile:
                    # A live venue's positions, every minute: what its streams missed (a fill
                    # while no Guard listened, a trade by hand) is reconciled and alerted.
                    self._next_reconcile = time.monotonic() + RECONCILE_EVERY_S
                    self._schedule_reconcile()
