"""The journal's tables, its control-action record and the row builders
:meth:`~riskguard.journal.Journal.write` takes.

Timestamps are integer nanoseconds since the Unix epoch, UTC. Floats SQL cannot hold alike on
every database (NaN) are stored as NULL; JSON columns hold NaN as null and infinities as
``"inf"``/``"-inf"``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from riskguard._core import Decision, Event, Signal, Trade

from .errors import JournalError

__all__ = [
    "CHANNEL",
    "CONTROL_ACTIONS",
    "Control",
    "SCHEMA_VERSION",
    "control_row",
    "fill_row",
    "metadata",
    "order_row",
]

# 1: the first journal; 2: time series; 3: the lease, and control actions applied by the
# id the control channel gave them (source_id).
SCHEMA_VERSION = 3
CONTROL_ACTIONS = ("kill", "pause", "resume", "reset")
CHANNEL = "rg_control"  # PostgreSQL's notification channel for control actions

metadata = sa.MetaData()

meta_table = sa.Table(
    "rg_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)
snapshots_table = sa.Table(
    "rg_snapshots",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("image", sa.LargeBinary, nullable=False),
)
events_table = sa.Table(
    "rg_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.BigInteger, nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("breaker", sa.String(32)),
    sa.Column("symbol", sa.Text),
    sa.Column("value", sa.Float),
    sa.Column("threshold", sa.Float),
    sa.Column("action", sa.String(32)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(32)),
    sa.Column("message", sa.Text, nullable=False),
)
decisions_table = sa.Table(
    "rg_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.BigInteger, nullable=False, index=True),
    sa.Column("symbol", sa.Text, nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("approved", sa.Boolean, nullable=False),
    sa.Column("quantity", sa.Float),
    sa.Column("entry", sa.Float),
    sa.Column("stop", sa.Float),
    sa.Column("target", sa.Float),
    sa.Column("risk_amount", sa.Float),
    sa.Column("risk_pct", sa.Float),
    sa.Column("reward_risk", sa.Float),
    sa.Column("method", sa.String(32), nullable=False),
    sa.Column("codes", sa.Text, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("signal", sa.Text),
)
orders_table = sa.Table(
    "rg_orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("client_order_id", sa.Text, nullable=False, index=True),
    sa.Column("symbol", sa.Text, nullable=False),
    sa.Column("qty", sa.Float, nullable=False),
    sa.Column("order_type", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
)
fills_table = sa.Table(
    "rg_fills",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("client_order_id", sa.Text, nullable=False, index=True),
    sa.Column("symbol", sa.Text, nullable=False),
    sa.Column("qty", sa.Float, nullable=False),
    sa.Column("price", sa.Float, nullable=False),
    sa.Column("fee", sa.Float, nullable=False),
    sa.Column("details", sa.Text, nullable=False),
)
trades_table = sa.Table(
    "rg_trades",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("symbol", sa.Text, nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("entry_ts", sa.BigInteger, nullable=False),
    sa.Column("exit_ts", sa.BigInteger),
    sa.Column("pnl", sa.Float),
    sa.Column("r_multiple", sa.Float),
    sa.Column("record", sa.Text, nullable=False),
)
# Control actions. On PostgreSQL (and an in-memory SQLite journal) the control channel itself:
# a recorded action is a row with handled_ts NULL. On a SQLite file the channel is a separate
# control database beside the journal (a held write lock on the journal cannot block it), and
# this table records each action the Guard applied, by the channel's id (source_id, unique:
# applying one twice is a no-op), in the same transaction as the Guard's snapshot. Rows with
# source_id NULL are actions the Guard took itself (``Guard.kill()``).
controls_table = sa.Table(
    "rg_control",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("name", sa.Text),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("handled_ts", sa.BigInteger),
    sa.Column("source_id", sa.BigInteger),
)
control_source_index = sa.Index("ix_rg_control_source_id", controls_table.c.source_id, unique=True)
series_table = sa.Table(
    "rg_series",
    metadata,
    sa.Column("name", sa.String(64), nullable=False, index=True),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Float),
)
# One row (id 1): who holds the journal's write lease, and the epoch, incremented by every
# acquisition. Every commit of a lease holder checks the epoch is still its own (fencing).
lease_table = sa.Table(
    "rg_lease",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("holder", sa.Text),
    sa.Column("host", sa.Text),
    sa.Column("pid", sa.BigInteger),
    sa.Column("since", sa.BigInteger),
    sa.Column("epoch", sa.BigInteger, nullable=False),
)

# The columns of rg_control each schema version has (a read-only journal is never migrated).
CONTROL_COLUMNS_V2 = ("id", "ts", "action", "name", "reason", "actor", "handled_ts")


@dataclass(frozen=True)
class Control:
    """A control action for a running Guard: ``kill``, ``pause``, ``resume`` or ``reset``
    (with the breaker ``name``), who asked (``actor``) and why, at ``ts`` (wall-clock ns), and
    when it was acted on (``handled_ts``, None while pending).

    ``id`` is the handle :meth:`Journal.write` (``handled=``) and :meth:`Journal.mark_handled`
    take. On a SQLite file it is the control channel's id; a negative id names an action stored
    in the journal itself (one the Guard took, or one an older riskguard recorded there).
    """

    id: int
    ts: int
    action: str
    name: str | None
    reason: str
    actor: str
    handled_ts: int | None


def finite_or_none(x: float | None) -> float | None:
    """SQL has no NaN everywhere (PostgreSQL floats do, SQLite stores NULL): store None."""
    return None if x is None or math.isnan(x) else float(x)


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
