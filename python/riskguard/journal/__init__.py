"""The journal: a durable record of the engine's state, its events, every decision, the
execution log, trades and control actions; the lease that makes one Guard its only writer; the
control channel ``riskguard kill`` uses; time series and snapshot retention.

- :mod:`.store`: :class:`Journal`, the SQL store (SQLite or PostgreSQL): writes, group-committed
  decisions, reads;
- :mod:`.schema`: the tables, :class:`Control` and the row builders (:func:`order_row`,
  :func:`fill_row`, :func:`control_row`);
- :mod:`.migrations`: opening a journal (is it one, create, migrate, the checks) and its schema
  versions;
- :mod:`.lease`: one writer per journal (:class:`LeaseHeld` when another holds it);
- :mod:`.control`: the control channel (a control database beside a SQLite journal;
  LISTEN/NOTIFY on PostgreSQL);
- :mod:`.series`: time series and snapshot retention;
- :mod:`.errors`: :class:`LeaseHeld`, and messages without SQL or passwords.
"""

from __future__ import annotations

from .errors import JournalError, LeaseHeld
from .migrations import MIGRATIONS
from .schema import (
    CHANNEL,
    CONTROL_ACTIONS,
    SCHEMA_VERSION,
    Control,
    control_row,
    controls_table,
    decisions_table,
    events_table,
    fill_row,
    fills_table,
    lease_table,
    meta_table,
    metadata,
    order_row,
    orders_table,
    series_table,
    snapshots_table,
    trades_table,
)
from .store import DEFAULT_URL, Journal

# The journal's public names, and (as before the package) the schema's, for tools that read a
# journal with SQL of their own.
__all__ = [
    "CHANNEL",
    "CONTROL_ACTIONS",
    "Control",
    "DEFAULT_URL",
    "Journal",
    "JournalError",
    "LeaseHeld",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "control_row",
    "controls_table",
    "decisions_table",
    "events_table",
    "fill_row",
    "fills_table",
    "lease_table",
    "meta_table",
    "metadata",
    "order_row",
    "orders_table",
    "series_table",
    "snapshots_table",
    "trades_table",
]
