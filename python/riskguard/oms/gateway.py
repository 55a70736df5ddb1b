"""The gateway to the venue: every call bounded by ``guard.call_timeout_s`` and retried by error
class (a venue unavailable or rate-limited, a dropped connection; never a refusal, never an
ambiguous outcome), and orders settled after an ambiguous outcome by asking the venue for them
by client order id.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import sys
from collections.abc import Awaitable
from typing import Any, TypeVar

from riskguard._core import RiskError
from riskguard.errors import (
    AmbiguousOutcome,
    GuardError,
    RateLimited,
    UnknownOrder,
    VenueError,
    VenueUnavailable,
)
from riskguard.model.orders import Order

__all__ = ["Gateway", "GatewayMixin", "_Expired", "_is_unknown_order", "_within"]


def _is_unknown_order(e: BaseException) -> bool:
    """The broker says it does not know the order: :class:`UnknownOrder`, or the plain
    RiskError the paper broker raises. Other venue errors say nothing about the order."""
    return isinstance(e, UnknownOrder) or (
        isinstance(e, RiskError) and not isinstance(e, VenueError)
    )


_T = TypeVar("_T")


class _Expired(Exception):
    """A call outlived its time (not a ``TimeoutError`` the call raised itself)."""


async def _within(call: Awaitable[_T], seconds: float) -> _T:
    """``await call``, cancelled after ``seconds``, then raising :class:`_Expired`."""
    if sys.version_info >= (3, 11):
        # In the caller's task, as a plain await: no other task runs when the call answers
        # at once.
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                return await call
        except TimeoutError:
            if deadline.expired():
                raise _Expired from None
            raise
    task = asyncio.ensure_future(call)  # Python 3.10: no asyncio.timeout
    try:
        done, _ = await asyncio.wait((task,), timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if not done:
        task.cancel()
        raise _Expired
    return task.result()


class Gateway:
    """The Guard's calls to its venue (:class:`riskguard.ports.Venue`): each bounded by
    ``timeout`` seconds (``guard.call_timeout_s``), retried ``retries`` times
    (``guard.broker_retries``) after a failure that may go away, with exponential backoff
    (``backoff``, capped at ``max_backoff``, seconds) and jitter from a random source seeded
    by ``seed``. ``lookup_order`` is the venue's optional order lookup by client order id
    (:class:`riskguard.ports.OrderLookup`), None when it has none.
    """

    def __init__(
        self,
        venue: Any,
        *,
        timeout: float,
        retries: int,
        backoff: float,
        max_backoff: float,
        seed: int | None = None,
    ) -> None:
        self.venue = venue
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        lookup = getattr(venue, "order", None)
        self.lookup_order = lookup if callable(lookup) else None
        self._random = random.Random(seed)

    def delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: ``backoff * 2**attempt``, capped, scaled by a
        random factor in [0.5, 1] so that many Guards do not retry in step."""
        base = min(self.max_backoff, self.backoff * 2.0 ** min(attempt, 62))
        return base * (0.5 + 0.5 * self._random.random())

    async def call(self, fn: Any, *args: Any) -> Any:
        """``await fn(*args)`` within ``guard.call_timeout_s``, retried ``broker_retries``
        times after a failure that may go away (a dropped connection, a venue unavailable or
        rate-limited). A refusal (an unknown order, a bad argument) is raised at once, and so
        is :class:`AmbiguousOutcome` (no answer in time): sending again is the caller's call,
        after asking what became of the first."""
        attempt = 0
        while True:
            try:
                return await self.timed(fn(*args), getattr(fn, "__name__", "call"))
            except asyncio.CancelledError:
                raise
            except (VenueUnavailable, RateLimited):
                if attempt >= self.retries:
                    raise
            except RiskError:
                raise  # a refusal does not go away; an ambiguous outcome is settled, not resent
            except Exception:
                if attempt >= self.retries:
                    raise
            await asyncio.sleep(self.delay(attempt))
            attempt += 1

    async def timed(self, call: Awaitable[_T], what: str) -> _T:
        """``await call`` within ``guard.call_timeout_s``. On time out the call is cancelled
        and :class:`AmbiguousOutcome` raised: whatever it asked may or may not have been done.
        An exception the call raises itself (a ``TimeoutError`` of its own, say) is raised as
        it is. The call runs in the caller's task, as an undecorated ``await`` would: a call
        that answers at once (the paper broker) lets no other task run meanwhile."""
        try:
            return await _within(call, self.timeout)
        except _Expired:
            raise AmbiguousOutcome(
                f"{what}: no answer from the broker within {self.timeout:g} s "
                "(guard.call_timeout_s)"
            ) from None

    async def lookup(self, cid: str) -> Order | None:
        """The broker's :class:`~riskguard.brokers.OrderLookup` answer for ``cid`` (sync or
        async), or None when the broker says it does not know the order.

        Raises AmbiguousOutcome: no answer in time. Whatever else the broker raises.
        """
        assert self.lookup_order is not None
        try:
            state = self.lookup_order(cid)
            if inspect.isawaitable(state):
                state = await self.timed(state, "order lookup")
        except AmbiguousOutcome:
            raise
        except Exception as e:
            if _is_unknown_order(e):
                return None
            raise
        if not isinstance(state, Order):
            raise GuardError(f"the broker's order lookup answered {state!r}, not an Order")
        return state


class GatewayMixin:
    """Settling ambiguous outcomes, a part of the Guard (a mixin: it journals, alerts and takes
    entries back through the Guard, and asks the venue through its :class:`Gateway`)."""

    def _in_doubt(
        self,
        order: Order,
        details: dict[str, Any],
        error: str,
        attempt: dict[str, Any] | None = None,
    ) -> None:
        """An entry whose submission (or cancel) got no answer: it may or may not be working.
        Journaled ``ambiguous`` (in flight, never "rejected"; with the ``attempt``'s execution
        details when it was a submission) and settled in the background, so that neither the
        caller nor the Guard's lock waits for the broker."""
        self._record_order(order, "ambiguous", reason=error, **details, **(attempt or {}))
        self._alert(
            "order_ambiguous",
            "warning",
            f"entry of {order.symbol} not answered",
            f"{error}; asking the broker for {order.client_order_id} by its id",
        )
        name = f"guard:settle:{order.client_order_id}"
        self._background(self._settle_entry(order, details), name)

    async def _settle_entry(self, order: Order, details: dict[str, Any]) -> None:
        """Asks the broker what became of an ambiguous entry until it says, with backoff; takes
        it back if it is working while new risk is refused. While the broker stays silent
        (``broker_retries`` + 1 tries), escalates: a critical alert and new risk paused."""
        cid = order.client_order_id or ""
        key = f"entry:{cid}"
        attempt = 0
        while True:
            await asyncio.sleep(self.gateway.delay(attempt))
            try:
                state, how = await self._ask(order)
                if state is not None and state.is_open and self._new_risk_refused() is not None:
                    state = await self.gateway.call(self.broker.cancel, cid)
                    how = "taken back: new risk was refused while it was in doubt"
                break
            except asyncio.CancelledError:
                raise
            except Exception as e:
                attempt += 1
                if attempt > self.gateway.retries:
                    self._raise_escalation(
                        key,
                        f"entry of {order.symbol} ({cid}) not answered: {e}",
                        f"entry of {order.symbol} not answered",
                        f"asked {attempt} times",
                    )
        if self._escalations.pop(key, None) is not None:
            self._alert("escalation", "warning", f"entry of {order.symbol} settled", how)
        if state is None:
            self._record_order(order, "abandoned", reason=how, **details)
        else:
            self._record_order(order, state.status.value, reason=state.reason or how, **details)

    async def _ask(self, order: Order) -> tuple[Order | None, str]:
        """What became of ``order``: its state by its client order id (``None`` when the broker
        never received it), or, from a broker that cannot be asked, its state among the working
        orders, else ``None`` once the positions are reconciled (it filled, or never came).
        Returns the state and how it was learnt.

        Raises AmbiguousOutcome: no answer in time. Whatever else the broker raises.
        """
        cid = order.client_order_id or ""
        if self.gateway.lookup_order is not None:
            state = await self.gateway.lookup(cid)
            return state, "asked by its client order id" if state else "unknown to the broker"
        for working in await self.gateway.call(self.broker.open_orders):
            if working.client_order_id == cid:
                return working, "working at the broker"
        await self._reconcile_live()
        return None, "not working at the broker; the positions were reconciled"

    async def _final_state(self, cid: str) -> Order | None:
        """The state of an order that is no longer working: by its id when the broker can be
        asked, else through ``cancel``, which returns a final order unchanged. None when the
        broker does not know it.

        Raises AmbiguousOutcome: no answer in time (which says nothing about the order).
        Whatever else the broker raises.
        """
        if self.gateway.lookup_order is not None:
            return await self.gateway.lookup(cid)
        try:
            return await self.gateway.call(self.broker.cancel, cid)
        except AmbiguousOutcome:
            raise
        except Exception as e:
            if _is_unknown_order(e):
                return None
            raise
