"""Executing planned actions: the bounded action queue and its worker, the entry path, taking
entries back, cancelling and sweeping working orders, retries after a venue ended an order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

from riskguard.errors import AmbiguousOutcome
from riskguard.guard.planner import _new_id
from riskguard.model.orders import Order, OrderStatus
from riskguard.oms.book import _ENDED, _Action, _Sent
from riskguard.oms.gateway import _is_unknown_order

__all__ = ["ActionsMixin"]

# A venue's refusal of an order below its smallest (riskguard.model.instruments reason codes):
# no retry of the same intent can pass it.
_TOO_SMALL = ("BELOW_MIN_QTY", "BELOW_MIN_NOTIONAL")


class ActionsMixin:
    """The actions part of the Guard (a mixin: it works on the Guard's own state)."""

    async def _send_entry(self, order: Order, requested: float | None = None) -> None:
        """Sends an approved entry with bounded retries, unless new risk was refused since;
        takes it back if that happens while it is on its way, or if its answers were lost. A
        submission that times out is not sent again: it is settled in the background. Each
        attempt is journaled with its execution details (``requested`` is the signal's entry
        price: :mod:`riskguard.oms.tca`)."""
        details = {"purpose": "entry", "intent": order.client_order_id}
        units = self._tradable(order.qty)
        if units == 0.0:
            reason = "below one unit: the broker takes whole units only"
            self._record_order(order, "rejected", reason=reason, **details)
            return
        cid = order.client_order_id or ""
        order = Order(order.symbol, units, client_order_id=cid)
        self.executions.sending(cid, requested)
        attempt = 0
        while True:
            refused = self._new_risk_refused()
            if refused is not None:
                self._record_order(order, "cancelled", reason=f"not sent: {refused}", **details)
                await self._take_back(order, details)
                return
            began = time.perf_counter()
            try:
                answer = await self.gateway.timed(self.broker.submit(order), "submit")
                break
            except AmbiguousOutcome as e:
                took = self.executions.attempt(cid, time.perf_counter() - began, attempt, str(e))
                self._in_doubt(order, details, str(e), took)
                return
            except Exception as e:
                took = self.executions.attempt(cid, time.perf_counter() - began, attempt, str(e))
                self._record_order(order, "failed", reason=str(e), **details, **took)
                if attempt >= self.gateway.retries:
                    self._alert(
                        "order_failed", "warning", f"entry of {order.symbol} not sent", str(e)
                    )
                    # Only the answers may have been lost: make sure it is not working.
                    await self._take_back(order, details)
                    return
                await asyncio.sleep(self.gateway.delay(attempt))
                attempt += 1
        took = self.executions.attempt(cid, time.perf_counter() - began, attempt)
        self._record_order(order, answer.status.value, reason=answer.reason, **details, **took)
        if answer.status is OrderStatus.REJECTED:
            self._alert(
                "order_rejected", "warning", f"entry of {order.symbol} refused", answer.reason
            )
        elif answer.is_open and self._new_risk_refused() is not None:
            # Refused while it was on its way: take it back. Had it filled already, the tick
            # path closes the position again.
            await self._take_back(order, details)

    async def _take_back(self, order: Order, details: dict[str, Any]) -> None:
        """Cancels an entry that may be working at the broker; one it never heard of is
        left alone, one it does not answer about is settled in the background."""
        try:
            state = await self.gateway.call(self.broker.cancel, order.client_order_id)
        except AmbiguousOutcome as e:
            self._in_doubt(order, details, str(e))
            return
        except Exception as e:
            if _is_unknown_order(e):
                return  # unknown at the broker: it never arrived
            self._alert(
                "order_failed", "critical", f"entry of {order.symbol} not taken back", str(e)
            )
            return
        self._record_order(order, state.status.value, reason="taken back", **details)

    def _background(self, work: Awaitable[None], name: str) -> None:
        """Runs ``work`` beside the Guard's other tasks; closing the Guard cancels it."""
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _enqueue(self, actions: list[_Action]) -> None:
        if self._held is not None:  # starting: sent once the engine agrees with the broker
            self._held.extend(actions)
            return
        queue = self._actions
        assert queue is not None
        for action in actions:
            try:
                queue.put_nowait(action)
            except asyncio.QueueFull:
                self._alert(
                    "action_queue_full",
                    "warning",
                    "the broker is falling behind",
                    f"{queue.maxsize} actions queued; the tick path waits for room",
                )
                await queue.put(action)
        if self._replay and actions:
            # A replayed market moves only when fed: the orders go out before the next tick,
            # so that a replay is deterministic.
            await queue.join()

    async def _work(self) -> None:
        queue = self._actions
        assert queue is not None
        while True:
            action = await queue.get()
            self._busy = 1
            try:
                await self._execute(action)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the worker outlives any one action
                self._alert(
                    "action_failed",
                    "critical",
                    f"{action.purpose} {action.symbol or ''} failed",
                    f"{type(e).__name__}: {e}",
                )
            finally:
                self._busy = 0
                queue.task_done()

    async def _execute(self, action: _Action) -> None:
        if action.purpose == "cancel_orders":
            try:
                await self._cancel_orders(action.symbol)
                self._escalations.pop("*", None)
            except Exception as e:
                action.attempt += 1
                self._escalate(action, f"{type(e).__name__}: {e}")
                self._retry_later(action)
            return
        symbol = action.symbol
        assert symbol is not None
        if action.purpose == "flatten":
            try:
                await self._cancel_orders(symbol)
            except Exception as e:  # the close matters more than the cancels: go on
                self._alert(
                    "action_failed", "warning", f"cancel of {symbol}'s orders failed", str(e)
                )
        cid = action.client_order_id
        sent = self.book.sent.get(cid)
        if sent is not None and not action.fresh_id:
            # Asked again after its answers were lost: the same order, which the broker
            # recognises by its id.
            qty = sent.qty
        else:
            if action.fresh_id:
                # The broker ended the last order unfilled: a new order of the same intent,
                # committed as pending before it is sent, as the first was.
                action.fresh_id = False
                action.client_order_id = cid = _new_id(action.purpose)
                qty = self._clip(symbol, action.qty)
                if qty != 0.0:
                    self._record(action, qty, "pending")
            else:
                qty = self._clip(symbol, action.qty)
            if qty == 0.0:
                self._record(action, action.qty, "skipped", reason="nothing left to reduce")
                self._escalations.pop(symbol, None)
                return
            sent = self.book.sent[cid] = _Sent(action, qty)
        order = Order(symbol, qty, client_order_id=cid, reduce_only=True)
        self.executions.sending(cid, self._mark(symbol))
        began = time.perf_counter()
        try:
            answer = None
            if action.attempt > 0 and not sent.acked and self.gateway.lookup_order is not None:
                # Asked again after no answer: the broker may hold it already; ask first.
                answer = await self.gateway.lookup(cid)
            if answer is None:
                answer = await self.gateway.call(self.broker.submit, order)
        except AmbiguousOutcome as e:
            # No answer in time: in flight, never refused. Asked for again later (looked up
            # by its id first, then sent under the same id, which the broker deduplicates).
            took = self.executions.attempt(cid, time.perf_counter() - began, action.attempt, str(e))
            action.attempt += 1
            self._record(action, qty, "ambiguous", reason=str(e), **took)
            self._escalate(action, str(e))
            self._retry_later(action)
            return
        except Exception as e:
            # The answers were lost, maybe not the order: it stays in flight, and is asked
            # for again later under the same id.
            error = f"{type(e).__name__}: {e}"
            took = self.executions.attempt(cid, time.perf_counter() - began, action.attempt, error)
            action.attempt += 1
            self._record(action, qty, "failed", reason=error, **took)
            self._escalate(action, error)
            self._retry_later(action)
            return
        sent.acked = True
        took = self.executions.attempt(cid, time.perf_counter() - began, action.attempt)
        self._record(action, qty, answer.status.value, reason=answer.reason, **took)
        if answer.status is OrderStatus.REJECTED and answer.reason.startswith(_TOO_SMALL):
            # Less than the venue's smallest order (a reduction of a one-lot position): the
            # same order would be refused again; what is left stays for the next close.
            sent.cap = 0.0
            self.book.settle(cid)
            self._escalations.pop(symbol, None)
            self._alert(
                "order_too_small", "warning", f"{action.purpose} of {symbol}", answer.reason
            )
            return
        if answer.status in _ENDED:
            self._ended(action, sent, answer)
        else:
            self._escalations.pop(symbol, None)
            self.book.settle(cid)

    def _ended(self, action: _Action, sent: _Sent, state: Order) -> None:
        """The broker ended a reducing order without filling it all: what it did fill may
        still be on its way; the rest is asked for again, as a new order."""
        sent.cap = state.filled_qty
        self.book.settle(action.client_order_id)
        action.attempt += 1
        action.fresh_id = True
        self._escalate(action, state.reason or state.status.value)
        self._retry_later(action)

    def _retry_later(self, action: _Action) -> None:
        """Queues ``action`` again after the backoff, leaving the worker free meanwhile."""

        async def later() -> None:
            await asyncio.sleep(self.gateway.delay(action.attempt))
            await self._enqueue([action])

        task = asyncio.create_task(later(), name=f"guard:retry:{action.intent}")
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _cancel_orders(self, symbol: str | None) -> None:
        """Cancels the working orders (of ``symbol``, or all) but the Guard's own reducing
        orders, which closes are netted against instead."""
        for order in await self.gateway.call(self.broker.open_orders):
            cid = order.client_order_id or ""
            if cid in self.book.sent or (symbol is not None and order.symbol != symbol):
                continue
            try:
                await self.gateway.call(self.broker.cancel, cid)
            except Exception as e:
                if not _is_unknown_order(e):
                    raise

    async def _sweep(self) -> None:
        """Reducing orders the broker ended without filling (refused when they came to fill,
        say, or lost in a restart) are asked for again for what they left open. Best effort:
        a failure is alerted, and the next sweep tries again."""
        try:
            # Only orders acknowledged before the broker listed its working orders: one placed
            # meanwhile is missing from the list without having ended.
            acked = [c for c, s in self.book.sent.items() if s.acked]
            working = {o.client_order_id for o in await self.gateway.call(self.broker.open_orders)}
            for cid in [c for c in acked if c not in working]:
                sent = self.book.sent.get(cid)
                if sent is None:
                    continue
                state = await self._final_state(cid)
                if state is None:  # unknown: lost with a broker restart, never filled
                    assert sent.action.symbol is not None
                    state = Order(
                        sent.action.symbol,
                        sent.qty,
                        client_order_id=cid,
                        status=OrderStatus.CANCELLED,
                        reason="unknown to the broker",
                    )
                if state.status is OrderStatus.FILLED:
                    sent.cap = state.filled_qty  # its fills are on their way
                    self.book.settle(cid)
                elif state.status in _ENDED and cid in self.book.sent:
                    self._record(sent.action, sent.qty, state.status.value, reason=state.reason)
                    self._ended(sent.action, sent, state)
        except Exception as e:
            self._alert("sweep", "warning", "checking the orders in flight failed", str(e))

    def _init_actions(self, settings: Any) -> None:
        """An empty action queue (made at start, of ``guard.action_queue`` actions), no
        background task."""
        self._queue_size = settings.action_queue
        self._actions: asyncio.Queue[_Action] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._later: set[asyncio.Task[None]] = set()
        self._busy = 0
        self._held: list[_Action] | None = None  # actions planned while starting

    async def _stop_actions(self, timeout: float) -> None:
        """At close: waits up to ``timeout`` seconds for the queued actions, then stops the
        background tasks and empties the queue."""
        queue = self._actions
        if self._ready and queue is not None:
            try:
                await asyncio.wait_for(queue.join(), timeout)
            except asyncio.TimeoutError:
                pass
        for task in [*self._later, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._later, *self._tasks, return_exceptions=True)
        self._tasks.clear()
        if queue is not None:
            # Wakes whoever waits for the queue (the tick path of a replay).
            while not queue.empty():
                queue.get_nowait()
                queue.task_done()
