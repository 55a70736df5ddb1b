"""The planner: what the engine's events call for, given the book: intents (order rows, status
``pending``) and actions. Pure: it reads the engine and the book, writes only into the step;
no I/O, no asyncio.
"""

from __future__ import annotations

import math

from riskguard.model.ids import new_client_order_id
from riskguard.model.rows import order_row
from riskguard.oms.book import _EPS, _Action, _Step

__all__ = ["PlannerMixin", "_REDUCING", "_new_id"]

_REDUCING = ("flatten", "exit", "reduce")


# The Guard's client order ids (riskguard.model.ids): one per submission, kept for retries.
_new_id = new_client_order_id


class PlannerMixin:
    """The planner part of the Guard (a mixin: it works on the Guard's own state)."""

    def _new_risk_refused(self) -> str | None:
        """Why an entry must not reach the market now, if it must not."""
        engine = self._engine
        assert engine is not None
        if self._closed:
            return "the guard closed"
        if self._must_be_flat():
            return "the kill switch or a close-all breaker tripped"
        if engine.paused:
            return "trading was paused"
        return None

    def _must_be_flat(self) -> bool:
        """The kill switch or a close-all breaker is tripped."""
        assert self._engine is not None
        return any(
            b.status == "tripped" and b.action == "close_all_halt" for b in self._engine.breakers()
        )

    def _plan(self, step: _Step, ts: int) -> None:
        """The broker actions the step's events call for, each with its ``pending`` order row
        (committed with the events: write-ahead)."""
        engine = self._engine
        assert engine is not None
        positions = None
        flattened: set[str] = set()
        cancelled = False
        for e in step.events:
            kind = e.kind
            if kind in ("kill_switch", "paused") or (
                kind == "state_changed" and e.state.name == "HALTED"
            ):
                # New risk is refused from now on: working entries are taken back.
                if not cancelled:
                    cause = e.breaker or kind
                    step.actions.append(_Action("cancel_orders", None, 0.0, "", cause, ts))
                    cancelled = True
                continue
            if kind not in ("flatten_requested", "stop_hit", "exit_signal", "reduce_requested"):
                continue
            if positions is None:
                positions = engine.snapshot().positions
            if kind == "reduce_requested":
                for symbol, p in positions.items():
                    self._intend(step, "reduce", symbol, -p.qty * e.value, e.breaker or kind, ts)
                continue
            held = positions[e.symbol].qty if e.symbol in positions else 0.0
            if kind == "exit_signal":
                qty = -math.copysign(e.value, held)
                self._intend(step, "exit", e.symbol, qty, e.reason or kind, ts)
            else:
                self._intend(step, "flatten", e.symbol, -held, e.breaker or kind, ts)
                flattened.add(e.symbol)
        if step.symbols - flattened and self._must_be_flat():
            # A fill that leaves a position open while trading must be flat: an entry that was
            # on the wire when the kill came. The engine asks nothing for it; close it.
            for symbol in sorted(step.symbols - flattened):
                rest = self._position(symbol) + self.book.inflight(symbol)
                if abs(rest) > _EPS * max(1.0, abs(rest)):
                    self._intend(step, "flatten", symbol, -rest, "must_be_flat", ts)

    def _intend(
        self, step: _Step, purpose: str, symbol: str | None, qty: float, cause: str, ts: int
    ) -> None:
        if symbol is None or qty == 0.0 or not math.isfinite(qty):
            return
        cid = _new_id(purpose)
        step.actions.append(_Action(purpose, symbol, qty, cid, cause, ts))
        step.orders.append(
            order_row(
                ts, cid, symbol, qty, "market", "pending", purpose=purpose, cause=cause, intent=cid
            )
        )

    def _bar_path(
        self, symbol: str, open: float, high: float, low: float, close: float
    ) -> tuple[float, ...]:
        """The prices a bar marks the engine at: with a position, the adverse extreme first;
        flat, the close only."""
        held = self.book.qty.get(symbol, 0.0)
        if held == 0.0:
            # Flat: nothing for the range to stop out, and the volatility estimate takes
            # one return a bar, close to close.
            path: tuple[float, ...] = (close,)
        elif held > 0:
            path = (open, low, high, close)
        else:
            path = (open, high, low, close)
        return path
