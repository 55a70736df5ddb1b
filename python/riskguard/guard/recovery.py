"""Restart and recovery: the journal's lease (taken at start, kept for the Guard's life), boot
(restore, adopt, resume the orders of the last run, reconcile with the venue, flatten again
under a kill), and the venue's fill stream.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import time
from typing import Any

from riskguard._core import RiskEngine
from riskguard.errors import GuardError, JournalError, LeaseHeld
from riskguard.guard.planner import _REDUCING, _new_id
from riskguard.model.orders import Fill, Liquidity, Order
from riskguard.model.rows import fill_row
from riskguard.oms.book import _EPS, _Action, _fill_key, _fill_problem, _row_key, _Sent, _Step
from riskguard.ports import LiveVenue

# How often a Guard that must be flat reads a live venue's own positions.
_FLAT_CHECK_S = 2.0
# A live venue's start, in call timeouts (guard.call_timeout_s).
_START_CALLS = 5

__all__ = ["RecoveryMixin"]


class RecoveryMixin:
    """The recovery part of the Guard (a mixin: it works on the Guard's own state)."""

    def _take_lease(self) -> None:
        """One writer per journal: takes the journal's lease for the Guard's whole life, then
        restores the engine again (the one restored on construction may predate the last
        writer's final commit).

        Raises GuardError: another Guard holds the lease (named: holder, host, pid, since).
        """
        try:
            self._lease_epoch = self.journal.acquire_lease(self._holder)
        except LeaseHeld as e:
            raise GuardError(f"another Guard writes to this journal: {e}") from None
        self._leased = True
        self._engine = self.journal.restore()

    async def _keep_lease(self) -> None:
        """Checks the lease on every poll. A lost lease (the database dropped the connection
        that held it) stops new risk until it is taken back; taken back by this Guard alone
        (the epoch moved by one: nobody wrote in between), trading resumes once an operator
        lifts the pause. Taken by another writer in between, the Guard stays stopped: its
        state is no longer the journal's."""
        journal = self.journal
        if not self._leased or self._fenced is not None:
            return
        if journal.lease_state == "held":
            if await asyncio.to_thread(journal.check_lease):
                return
        lost_epoch = self._lease_epoch
        async with self._lock:
            self._fail("the journal's lease was lost: another writer may take the journal")
        try:
            epoch = await asyncio.to_thread(journal.acquire_lease, self._holder)
        except JournalError:
            return  # held by another, or the database still down: try at the next poll
        self._lease_epoch = epoch
        if lost_epoch is not None and epoch != lost_epoch + 1:
            self._fenced = f"another writer took the journal (lease epoch {lost_epoch} -> {epoch})"
            await asyncio.to_thread(journal.release_lease)  # free for a restarted Guard
            self._alert(
                "lease",
                "critical",
                "another writer took the journal while the lease was lost",
                f"{self._fenced}: this Guard writes nothing more and takes no new risk; restart it",
            )
            async with self._lock:
                self._fail(f"{self._fenced}: restart this Guard")

    async def _boot(self) -> None:
        self._take_lease()
        await self.alerter.start()
        live = isinstance(self.broker, LiveVenue)
        if live:
            # Its markets and streams first: nothing is read from it before. Connecting makes
            # several calls (markets, the fills so far, the streams): a few call timeouts.
            await asyncio.wait_for(self.broker.start(), _START_CALLS * self.gateway.timeout)
        self._actions = asyncio.Queue(self._queue_size)
        # Orders go out only once the engine agrees with the broker: what starting plans is
        # held until reconciliation is done.
        self._held = []
        for r in self.journal.fills():
            # Fills carry their broker's id in their details: one seen in an earlier run is
            # not applied again (a quarantined one is not quarantined again).
            key = _row_key(r)
            self.book.seen.add(key)
            if not key.startswith("id:"):
                self.book.seen_legacy.add(key)
            self.book.applied[r["client_order_id"]] = (
                self.book.applied.get(r["client_order_id"], 0.0) + r["qty"]
            )
        history = await self._history()
        if self._engine is None:
            await self._adopt(history)
        elif self._engine.limits != self.settings.limits:
            self._alert(
                "config",
                "warning",
                "limits differ from the configuration",
                "the journal's limits stay in force; start a new journal to apply the "
                "configured ones",
            )
        engine = self.engine
        self._symbols = set(engine.symbols)
        self.book.qty = {s: p.qty for s, p in engine.snapshot().positions.items()}
        self._driver.start(len(history))
        # Fills the broker made while no Guard was listening, then what they do not explain.
        step = _Step()
        for fill in history:
            self._apply_fill(fill, step)
        if step.fills:
            await self._finish(step, engine.ts)
        await self._resume_orders()
        for control in self.journal.pending_controls():
            await self._control(control.action, control.name, control.reason, control.id)
        await self._reconcile()
        await self._reflatten()
        self._tasks.append(asyncio.create_task(self._work(), name="guard:actions"))
        held, self._held = self._held, None
        await self._enqueue(held)
        self._tasks.append(asyncio.create_task(self._poll(), name="guard:controls"))
        if not self._replay:  # a replay's fills come with its data (its driver)
            self._tasks.append(asyncio.create_task(self._pump(), name="guard:fills"))
        if live:
            # After each reconnection the venue resyncs by REST; the positions follow.
            self.broker.on_resync = self._schedule_reconcile

    async def _adopt(self, history: list[Fill]) -> None:
        """A fresh engine: it starts at the broker's equity (or the configured one), and the
        broker's past fills are journaled as adopted, not applied: the positions they made are
        adopted by reconciliation at their average price, and a later start must not count
        them again."""
        equity = self.settings.equity
        if equity is None:
            held = await self.gateway.call(self.broker.positions)
            cash = await self.gateway.call(self.broker.balance)
            equity = cash + sum(p.qty * p.avg_price for p in held.values())
        self._engine = RiskEngine(self.settings.limits, equity)
        adopted = []
        for f in history:
            key = _fill_key(f)
            if self.book.seen_before(f, key):
                continue
            self.book.seen.add(key)
            problem = _fill_problem(f)
            if problem is not None:
                adopted.append(self._quarantine_row(f, key, problem))
                continue
            adopted.append(
                fill_row(
                    f.ts,
                    f.client_order_id,
                    f.symbol,
                    f.qty,
                    f.price,
                    f.fee,
                    adopted=True,
                    fill_id=f.fill_id,
                )
            )
        self.journal.write(snapshot=self._engine, fills=adopted)

    def _lease_info(self) -> dict[str, Any] | None:
        """This Guard's hold on the journal, for its status."""
        if not self._leased:
            return None
        state = "fenced" if self._fenced is not None else self.journal.lease_state
        return {"holder": self._holder, "state": state, "epoch": self._lease_epoch}

    async def _pump(self) -> None:
        """Applies the fills a broker streams (a live venue: a replay's come with its data)."""
        while True:
            try:
                async for fill in self.broker.fills():
                    if self.book.seen_before(fill, _fill_key(fill)):
                        continue
                    async with self._lock:
                        step = _Step()
                        self._apply_fill(fill, step)
                        await self._finish(step, self.engine.ts)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a dropped stream: say so, then subscribe again
                self._alert("fill_stream", "warning", "the broker's fill stream failed", str(e))
                await asyncio.sleep(self.gateway.delay(0))

    async def _history(self) -> list[Fill]:
        """The broker's fills of the session so far, within ``guard.call_timeout_s``.

        Raises AmbiguousOutcome: no answer in time. Whatever the broker raises.
        """

        async def collect() -> list[Fill]:
            return [f async for f in self.broker.fills(follow=False)]

        return await self.gateway.timed(collect(), "fills")

    async def _reconcile(self) -> None:
        """On start: makes the engine hold what the broker holds (see :meth:`_align`)."""
        engine = self._engine
        assert engine is not None
        held = await self.gateway.call(self.broker.positions)
        step = _Step()
        self._align(step, held, {})
        if step.fills or step.events:
            await self._finish(step, engine.ts)

    async def _reconcile_live(self) -> None:
        """While running (after a quarantined fill, or to settle an order the broker cannot be
        asked about): applies the broker's fills the Guard has not seen, then makes the engine
        hold what the broker holds. The broker is read without the Guard's lock, ticks and
        fills going on: its fill history, its positions, its history again (until both reads
        agree, so that the positions are those of that history), and the fills the Guard
        applied meanwhile that the history does not hold yet are left out of the comparison.

        Raises AmbiguousOutcome: the broker did not answer in time. GuardError: its fills
        kept changing. Whatever else the broker raises.
        """
        engine = self._engine
        assert engine is not None
        async with self._reconcile_lock:
            self.book.watch = []
            try:
                for _ in range(1 + self.gateway.retries):
                    before = await self._history()
                    held = await self.gateway.call(self.broker.positions)
                    history = await self._history()
                    if len(history) == len(before):
                        break
                else:
                    raise GuardError("the broker's fills kept changing while reconciling")
                async with self._lock:
                    watched, self.book.watch = self.book.watch, None
                    step = _Step()
                    for fill in history:
                        self._apply_fill(fill, step)
                    known = {_fill_key(f) for f in history}
                    late: dict[str, float] = {}
                    for key, symbol, qty in watched:
                        if key not in known:
                            late[symbol] = late.get(symbol, 0.0) + qty
                    self._align(step, held, late)
                    if step.fills or step.events:
                        await self._finish(step, engine.ts)
            finally:
                self.book.watch = None

    def _schedule_reconcile(self) -> None:
        """Reconciles with the broker in the background, until it succeeds (escalating while
        it fails); a request made while one runs makes it run once more after."""
        self._reconcile_again = True
        if self._reconcile_task is not None and not self._reconcile_task.done():
            return

        async def run() -> None:
            attempt = 0
            while self._reconcile_again:
                self._reconcile_again = False
                while True:
                    try:
                        await self._reconcile_live()
                        break
                    except asyncio.CancelledError:
                        raise
                    except Exception as e:
                        attempt += 1
                        self._alert(
                            "reconciliation",
                            "warning",
                            "reconciling with the broker failed",
                            str(e),
                        )
                        if attempt > self.gateway.retries:
                            self._raise_escalation(
                                "reconcile",
                                f"reconciliation with the broker failing: {e}",
                                "reconciliation still failing",
                                f"attempt {attempt}",
                            )
                        await asyncio.sleep(self.gateway.delay(attempt))
            self._escalations.pop("reconcile", None)

        task = asyncio.ensure_future(run())
        task.set_name("guard:reconcile")
        self._reconcile_task = task
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    def _align(self, step: _Step, held: dict[str, Any], late: dict[str, float]) -> None:
        """Makes the engine hold what the broker holds (``held``, its positions, net of the
        ``late`` quantities applied since they were read): each difference is applied as a
        journaled reconciliation fill, at the engine's mark (or the broker's average price for
        a position the engine has never seen), and alerted."""
        engine = self._engine
        assert engine is not None
        mine = engine.snapshot().positions
        for symbol in sorted(set(held) | set(mine) | set(late)):
            theirs = held[symbol].qty if symbol in held else 0.0
            ours = (mine[symbol].qty if symbol in mine else 0.0) - late.get(symbol, 0.0)
            diff = theirs - ours
            if abs(diff) <= _EPS * max(1.0, abs(theirs), abs(ours)):
                continue
            price = mine[symbol].mark if symbol in mine else held[symbol].avg_price
            if not (price > 0.0 and math.isfinite(price)):
                reason = f"cannot reconcile {symbol}: no price for the broker's position"
                step.events.extend(engine.pause(reason, engine.ts))
                self._alert("reconciliation", "critical", reason, "new risk is refused (paused)")
                continue
            cid = _new_id("reconcile")
            fill = Fill(cid, symbol, diff, price, 0.0, engine.ts, Liquidity.TAKER, cid)
            self._apply_fill(fill, step, purpose="reconcile", broker_qty=theirs, engine_qty=ours)
            self._alert(
                "reconciliation",
                "warning",
                f"{symbol}: the broker holds {theirs}, the journal said {ours}",
                f"applied a fill of {diff} at {price}",
            )

    async def _resume_orders(self) -> None:
        """Picks up the orders of the last run from the journal: risk-reducing ones that may
        still be in flight are tracked again, and asked for again when never answered (under
        the same id: the broker deduplicates it) or when the broker had ended them; entries
        never answered are taken back (their signals are stale) and marked abandoned."""
        latest: dict[str, dict[str, Any]] = {}
        for row in self.journal.orders():
            details = json.loads(row["details"])
            latest[details.get("intent") or row["client_order_id"]] = row | {"details": details}
        for intent, row in latest.items():
            purpose, status = row["details"].get("purpose", ""), row["status"]
            cid, symbol, qty = row["client_order_id"], row["symbol"], row["qty"]
            if purpose in _REDUCING:
                cause = row["details"].get("cause", "")
                action = _Action(purpose, symbol, qty, cid, cause, row["ts"], intent)
                if status in ("pending", "failed", "ambiguous", "new"):
                    self.book.sent[cid] = _Sent(action, qty, acked=status == "new")
                    self.book.settle(cid)
                    if status != "new" and cid in self.book.sent:
                        # It may have reached the venue before the restart (a venue accepts a
                        # reused id once the first order is final): asked for first.
                        action.attempt = 1
                        await self._enqueue([action])
                elif status in ("rejected", "cancelled"):
                    action.attempt, action.fresh_id = 1, True
                    await self._enqueue([action])
            elif purpose == "entry" and status in ("pending", "failed", "ambiguous"):
                order = Order(symbol, qty, client_order_id=cid)
                details = {"purpose": purpose, "intent": intent}
                await self._take_back(order, details)
                self._record_order(
                    order, "abandoned", reason="not answered before a restart", **details
                )
                self._alert(
                    "restart",
                    "warning",
                    f"entry of {symbol} abandoned",
                    "not answered before a restart; its signal is stale",
                )
        await self._sweep()

    async def _reflatten(self) -> None:
        """With the kill switch or a close-all breaker tripped, cancels working orders and
        closes what is open again: orders sent before a restart may not have survived it."""
        engine = self._engine
        assert engine is not None
        if not self._must_be_flat():
            return
        step = _Step(actions=[_Action("cancel_orders", None, 0.0, "", "restart", engine.ts)])
        for symbol, p in engine.snapshot().positions.items():
            self._intend(step, "flatten", symbol, -p.qty, "restart", engine.ts)
        self._commit(step)
        await self._enqueue(step.actions)

    async def _confirm_flat(self) -> None:
        """While the kill switch or a close-all breaker holds and no close is in flight (a live
        venue), reads the venue's own positions every few seconds: a position still held (a
        fill that came late, an order placed by hand, a close the venue refused) is reconciled
        into the engine and closed again, until the venue says flat. Best effort: a failure is
        alerted, and the next poll tries again."""
        if not self._must_be_flat() or self.book.sent:
            self._flat_confirmed = None
            return
        now = time.monotonic()
        if now < self._next_flat_check:
            return
        self._next_flat_check = now + _FLAT_CHECK_S
        try:
            held = await self.gateway.call(self.broker.positions)
            if not held:
                if not self._flat_confirmed:
                    self._flat_confirmed = True
                    self._alert("flat", "info", "flat on the venue", "its own positions say so")
                return
            self._flat_confirmed = False
            self._alert(
                "flat",
                "warning",
                "the venue still holds positions",
                ", ".join(f"{s} {p.qty:g}" for s, p in sorted(held.items())) + ": closing again",
            )
            await self._reconcile_live()
            async with self._lock:
                await self._reflatten()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._alert("flat", "warning", "confirming flat on the venue failed", str(e))

    def _init_recovery(self) -> None:
        """No lease yet, no reconciliation under way."""
        self._reconcile_lock = asyncio.Lock()
        self._reconcile_task: asyncio.Task[None] | None = None
        self._reconcile_again = False
        # Names this Guard in the journal's lease (and in a second Guard's refusal).
        self._holder = f"guard {socket.gethostname()}:{os.getpid()}"
        # Set when another writer took the journal while this Guard's lease was lost: its
        # state is no longer the journal's, so it writes nothing more (fencing).
        self._fenced: str | None = None
        self._leased = False  # the lease was taken at start: keep it for the Guard's life
        self._lease_epoch: int | None = None
        self._next_flat_check = 0.0
        self._flat_task: asyncio.Task[None] | None = None
        self._next_reconcile = time.monotonic() + 60.0  # start() has just reconciled
        self._flat_confirmed: bool | None = None
