"""The write-ahead commit: one step (events, orders, fills, decisions, controls, snapshot) in one
transaction before anything is acted on; the backlog a failed write still owes; the failure
while it lasts; control writes not yet durable; checkpoints.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from riskguard._core import Decision, Signal
from riskguard.errors import JournalError
from riskguard.guard.intake import _merge
from riskguard.model.orders import Order
from riskguard.model.rows import order_row
from riskguard.oms.book import _Action, _Step

__all__ = ["WriteAheadMixin", "_Control"]


@dataclass
class _Control:
    """A control action's journal write, owed until committed: ``row`` the control itself (one
    of the Guard's own), or ``mark`` the ``(control_id, ts)`` that marks one recorded by
    another process as handled. ``what`` describes it for the status."""

    what: str
    row: dict[str, Any] | None = None
    mark: tuple[int, int] | None = None


class WriteAheadMixin:
    """The writeahead part of the Guard (a mixin: it works on the Guard's own state)."""

    async def _finish(
        self,
        step: _Step,
        ts: int,
        *,
        controls: Sequence[_Control] = (),
    ) -> None:
        """Plans the actions the step calls for, alerts, commits everything, then queues the
        actions. When the journal fails, the actions still go (they reduce risk) and the
        failure is raised after."""
        self._plan(step, ts)
        self._notify(step.events)
        try:
            self._commit(step, controls=controls)
        except JournalError:
            await self._enqueue(step.actions)
            raise
        await self._enqueue(step.actions)

    def _commit(
        self,
        step: _Step,
        *,
        decisions: Sequence[tuple[Decision, int, Signal | None]] = (),
        controls: Sequence[_Control] = (),
        owe: bool = True,
    ) -> None:
        """One durable transaction: the engine's snapshot with the step's events, orders,
        fills and changed trades, and the control writes, after whatever an earlier failed
        write still owes. A failure keeps the rows owed (unless ``owe`` is False: a step that
        was not acted on), stops new risk and is raised; the next success writes them and lifts
        the failure (the pause it set stays, now committed). The control writes are owed apart,
        and tried alone at once (see :meth:`_journal`)."""
        engine = self._engine
        assert engine is not None
        trades = []
        # The engine keeps every trade, so listing them costs more as a run goes on: a batched
        # (backtest) journal gets them all once, when the Guard closes.
        if step.symbols and not self.journal.batched:
            trades = [
                t
                for t in engine.trades()
                if t.symbol in step.symbols and (t.exit_ts is None or t.exit_ts >= engine.ts)
            ]
        rows = {
            "events": list(step.events),
            "orders": list(step.orders),
            "fills": list(step.fills),
            "trades": trades,
            "decisions": list(decisions),
        }
        self._undurable.extend(controls)
        self._journal(rows, snapshot=True, owe=owe)
        if self._snapshot_ns is not None:
            self._next_snapshot = engine.ts + self._snapshot_ns

    def _journal(self, rows: dict[str, Any], *, snapshot: bool, owe: bool = True) -> None:
        """Writes ``rows`` after the backlog, with the control writes owed, in one transaction,
        with the engine's snapshot when asked (always when something is owed: a control's
        effect is in the snapshot). Success writes everything owed and lifts the failure:
        a failure is never sticky. A failure keeps ``rows`` owed (when ``owe``), stops new risk,
        tries the control writes alone (a kill must not wait behind rows the journal refuses),
        and is raised."""
        owed = [*self._backlog, rows]
        controls = self._undurable
        batches = owed
        if controls:
            pending = {
                "controls": [c.row for c in controls if c.row is not None],
                "handled": [c.mark for c in controls if c.mark is not None],
            }
            batches = [*owed, pending]
        snap = snapshot or bool(self._backlog) or bool(controls)
        try:
            if self._fenced is not None:
                raise JournalError(self._fenced)
            self.journal.write(snapshot=self._engine if snap else None, **_merge(batches))
        except JournalError as e:
            if owe:
                self._backlog = owed
            self._fail(str(e))
            self._commit_controls()
            raise
        self._backlog = []
        self._undurable = []
        self._failure = None
        self._failure_since = None

    def _commit_controls(self) -> None:
        """The control actions' own durable path: their writes alone, with the engine's
        snapshot (which holds their effect), so that a restart finds them in force. Still
        owed on failure: the control poll tries again."""
        controls = self._undurable
        if not controls or self._fenced is not None:
            return
        try:
            self.journal.write(
                snapshot=self._engine,
                controls=[c.row for c in controls if c.row is not None],
                handled=[c.mark for c in controls if c.mark is not None],
            )
        except JournalError:
            return
        self._undurable = []

    def _checkpoint(self) -> None:
        """The periodic snapshot, so that marks and indicators survive a crash too."""
        try:
            self._commit(_Step())
        except JournalError:
            pass  # _commit has stopped new risk and alerted; ticks go on

    def _fail(self, reason: str) -> None:
        """Stops new risk: the journal can no longer record what the Guard does. ``reason``
        says what failed; the first failure's wall-clock time is kept until a write succeeds."""
        if self._failure is None:
            self._failure_since = time.time_ns()
            self._alert("journal_failed", "critical", "the journal failed: no new risk", reason)
        self._failure = reason
        engine = self._engine
        if engine is not None and not engine.paused:
            # In memory until a commit succeeds again, which then makes it durable.
            self._notify(engine.pause(f"journal failure: {reason}", engine.ts))

    def _record(self, action: _Action, qty: float, status: str, **details: Any) -> None:
        row = order_row(
            action.ts,
            action.client_order_id,
            action.symbol or "",
            qty,
            "market",
            status,
            purpose=action.purpose,
            cause=action.cause,
            intent=action.intent,
            **details,
        )
        self._write_orders([row])

    def _record_order(self, order: Order, status: str, **details: Any) -> None:
        engine = self._engine
        assert engine is not None
        row = order_row(
            engine.ts,
            order.client_order_id or "",
            order.symbol,
            order.qty,
            order.type.value,
            status,
            **details,
        )
        self._write_orders([row])

    def _write_orders(self, rows: list[dict[str, Any]]) -> None:
        try:
            self._journal({"orders": rows}, snapshot=False)
        except JournalError:
            pass  # owed to the journal, and new risk stopped, by _journal

    def _init_writeahead(self) -> None:
        """Nothing owed, no failure."""
        self._failure: str | None = None
        self._failure_since: int | None = None  # wall clock, ns
        self._undurable: list[_Control] = []  # control writes acted on, not yet committed
        self._backlog: list[dict[str, Any]] = []  # rows a failed journal write still owes

    async def _close_journal(self) -> None:
        """At close: a last try at what is owed, a final snapshot, then the journal closed (one
        the Guard opened) or flushed with its lease given back, and the alerter closed (one
        the Guard built)."""
        try:
            if self._ready and self._engine is not None:
                if self._failure is not None or self._undurable:
                    self._checkpoint()  # a last try at what is owed, a kill first of all
                if self._undurable:
                    self._alert(
                        "journal_failed",
                        "critical",
                        "closing with control actions not committed",
                        "; ".join(c.what for c in self._undurable),
                    )
                if self._failure is None:
                    if self.journal.batched:
                        self.journal.record_trades(self._engine.trades())
                    self.journal.save_snapshot(self._engine)
        finally:
            try:
                if self._owns_journal:
                    self.journal.close()  # gives the lease back too
                else:
                    try:
                        self.journal.flush()
                    finally:
                        self.journal.release_lease()
            finally:
                if self._owns_alerter:
                    await self.alerter.aclose()
