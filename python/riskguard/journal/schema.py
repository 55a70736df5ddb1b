"""The journal's tables, its control-action record and the row builders
:meth:`~riskguard.journal.Journal.write` takes.

Timestamps are integer nanoseconds since the Unix epoch, UTC. Floats SQL cannot hold alike on
every database (NaN) are stored as NULL; JSON columns hold NaN as null and infinities as
``"inf"``/``"-inf"``.
"""

from __future__ import annotations

import sqlalchemy as sa

# The row builders are pure functions of model data: they live in riskguard.model.rows (the
# Guard builds rows without importing the journal) and are re-exported here.
from riskguard.model.checks import finite_or_none
from riskguard.model.controls import Control
from riskguard.model.rows import (
    CONTROL_ACTIONS,
    control_row,
    decision_row,
    event_row,
    fill_row,
    order_row,
    to_json,
    trade_row,
)

__all__ = [
    "CHANNEL",
    "CONTROL_ACTIONS",
    "Control",
    "SCHEMA_VERSION",
    "control_row",
    "decision_row",
    "event_row",
    "fill_row",
    "finite_or_none",
    "metadata",
    "order_row",
    "to_json",
    "trade_row",
]

# 1: the first journal; 2: time series; 3: the lease, and control actions applied by the
# id the control channel gave them (source_id).
SCHEMA_VERSION = 3
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
