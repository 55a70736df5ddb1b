"""Journal rows as plain dicts: pure functions of model data and engine records, shared by the
store that writes them and the Guard that builds them (so the Guard needs no journal import).

Conventions: ``ts`` integer ns since the epoch, UTC; quantities signed; NaN stored as None
(SQL has no NaN everywhere); ``details`` stored as JSON (:func:`to_json`).

Raises JournalError (:mod:`riskguard.errors`): a quantity, price or fee that is not finite; an
unknown control action.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from riskguard.errors import JournalError
from riskguard.model.checks import finite_or_none

if TYPE_CHECKING:
    from riskguard._core import Decision, Event, Signal, Trade

__all__ = [
    "CONTROL_ACTIONS",
    "control_row",
    "decision_row",
    "event_row",
    "fill_row",
    "order_row",
    "to_json",
    "trade_row",
]

CONTROL_ACTIONS = ("kill", "pause", "resume", "reset")


def _finite(name: str, x: float) -> None:
    if not isinstance(x, int | float) or not math.isfinite(x):
        raise JournalError(f"{name} must be a finite number, got {x!r}")


def to_json(value: Any) -> str:
    """``value`` as JSON; NaN stored as null and infinities as ``"inf"``/``"-inf"``."""

    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(value), sort_keys=True, allow_nan=False)


def event_row(e: Event) -> dict[str, Any]:
    """An ``rg_events`` row."""
    return {
        "ts": e.ts,
        "kind": e.kind,
        "breaker": e.breaker,
        "symbol": e.symbol,
        "value": finite_or_none(e.value),
        "threshold": finite_or_none(e.threshold),
        "action": e.action,
        "state": e.state.name,
        "reason": e.reason,
        "message": e.message,
    }


def trade_row(t: Trade) -> dict[str, Any]:
    """An ``rg_trades`` row: the trade's latest record."""
    return {
        "id": t.id,
        "symbol": t.symbol,
        "side": t.side,
        "state": t.state,
        "entry_ts": t.entry_ts,
        "exit_ts": t.exit_ts,
        "pnl": finite_or_none(t.pnl),
        "r_multiple": finite_or_none(t.r_multiple),
        "record": to_json(t.to_dict()),
    }


def decision_row(decision: Decision, ts: int, signal: Signal | None) -> dict[str, Any]:
    """An ``rg_decisions`` row: the decision, its reasons and its signal."""
    return {
        "ts": ts,
        "symbol": decision.symbol,
        "side": decision.side,
        "approved": decision.approved,
        "quantity": finite_or_none(decision.quantity),
        "entry": finite_or_none(decision.entry),
        "stop": finite_or_none(decision.stop),
        "target": finite_or_none(decision.target),
        "risk_amount": finite_or_none(decision.risk_amount),
        "risk_pct": finite_or_none(decision.risk_pct),
        "reward_risk": finite_or_none(decision.reward_risk),
        "method": decision.method,
        "codes": to_json(decision.codes),
        "reasons": to_json([r.to_dict() for r in decision.reasons]),
        "signal": None if signal is None else to_json(signal.to_dict()),
    }


def order_row(
    ts: int,
    client_order_id: str,
    symbol: str,
    qty: float,
    order_type: str,
    status: str,
    **details: Any,
) -> dict[str, Any]:
    """An ``rg_orders`` row for :meth:`Journal.write`: one state of an order (the log keeps
    every state an order went through); ``details`` is stored as JSON.

    Raises JournalError: a quantity that is not finite.
    """
    _finite("qty", qty)
    return {
        "ts": ts,
        "client_order_id": client_order_id,
        "symbol": symbol,
        "qty": qty,
        "order_type": order_type,
        "status": status,
        "details": to_json(details),
    }


def fill_row(
    ts: int,
    client_order_id: str,
    symbol: str,
    qty: float,
    price: float,
    fee: float = 0.0,
    **details: Any,
) -> dict[str, Any]:
    """An ``rg_fills`` row for :meth:`Journal.write`; ``details`` (requested price, slippage,
    latency, retries) is stored as JSON.

    Raises JournalError: a quantity, price or fee that is not finite.
    """
    for name, x in (("qty", qty), ("price", price), ("fee", fee)):
        _finite(name, x)
    return {
        "ts": ts,
        "client_order_id": client_order_id,
        "symbol": symbol,
        "qty": qty,
        "price": price,
        "fee": fee,
        "details": to_json(details),
    }


def control_row(
    action: str,
    ts: int,
    *,
    name: str | None = None,
    reason: str = "",
    actor: str = "",
    handled_ts: int | None = None,
) -> dict[str, Any]:
    """An ``rg_control`` row for :meth:`Journal.write`: ``action`` (``kill``, ``pause``,
    ``resume`` or ``reset`` of breaker ``name``) asked by ``actor`` for ``reason`` at ``ts``
    (wall-clock ns); ``handled_ts`` when it has already been acted on.

    Raises JournalError: an unknown action; ``reset`` without a breaker ``name``.
    """
    if action not in CONTROL_ACTIONS:
        raise JournalError(f"action must be one of {', '.join(CONTROL_ACTIONS)}, got {action!r}")
    if action == "reset" and not name:
        raise JournalError("name: a reset names the breaker to re-arm")
    return {
        "ts": ts,
        "action": action,
        "name": name,
        "reason": reason,
        "actor": actor,
        "handled_ts": handled_ts,
    }
