"""The journal: a durable record of the engine's state, its events, every decision, the
execution log, trades and control actions (SQLAlchemy 2 Core).

SQLite is the default (``sqlite:///riskguard.db``), in WAL mode with ``synchronous=FULL`` so that
a committed write survives a power cut. PostgreSQL is a URL change
(``postgresql+psycopg://user@host/db``).

Two kinds of write:

- **durable** (snapshots, events, control actions, orders, fills, trades, and decisions written
  with ``durable=True``): committed before the call returns, so that state a risk action
  depends on is on disk before the action is taken;
- **group-committed** decisions (the default for decisions): queued to one writer thread that
  commits them in batches. :meth:`Journal.flush` waits for them; :meth:`Journal.close` flushes
  first, so a clean shutdown loses none.

The schema carries its version; :meth:`Journal.migrate` (run on open) brings an older journal
up to date, and a newer one is refused. Every failure is a :class:`JournalError`: a journal that
cannot be read is never silently replaced.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from riskguard._core import Decision, Event, RiskEngine, RiskError, Signal, Trade

__all__ = [
    "Control",
    "Journal",
    "JournalError",
    "SCHEMA_VERSION",
    "control_row",
    "fill_row",
    "order_row",
]

SCHEMA_VERSION = 2
DEFAULT_URL = "sqlite:///riskguard.db"
CONTROL_ACTIONS = ("kill", "pause", "resume", "reset")
CHANNEL = "rg_control"  # PostgreSQL's notification channel for control actions


class JournalError(RiskError):
    """The journal cannot be opened, read or written, or holds state that fails its checks.
    Trading must stop (fail closed)."""


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
)

series_table = sa.Table(
    "rg_series",
    metadata,
    sa.Column("name", sa.String(64), nullable=False, index=True),
    sa.Column("ts", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Float),
)

# MIGRATIONS[v - 1] takes a journal from schema version v to v + 1. A new journal is created
# whole by ``metadata.create_all``.
MIGRATIONS: list[Callable[[Connection], None]] = [
    lambda c: series_table.create(c),  # 1 -> 2: time series (equity curves of a backtest)
]


@dataclass(frozen=True)
class Control:
    """A control action for a running Guard: ``kill``, ``pause``, ``resume`` or ``reset``
    (with the breaker ``name``), who asked (``actor``) and why, at ``ts`` (ns)."""

    id: int
    ts: int
    action: str
    name: str | None
    reason: str
    actor: str
    handled_ts: int | None


def _finite_or_none(x: float) -> float | None:
    """SQL has no NaN everywhere (PostgreSQL floats do, SQLite stores NULL): store None."""
    return None if x is None or math.isnan(x) else float(x)


def _finite(name: str, x: float) -> None:
    if not isinstance(x, int | float) or not math.isfinite(x):
        raise JournalError(f"{name} must be a finite number, got {x!r}")


def _json(value: Any) -> str:
    # NaN and inf are not JSON: the journal stores them as null and "inf"/"-inf".
    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(value), sort_keys=True, allow_nan=False)


def _event_row(e: Event) -> dict[str, Any]:
    return {
        "ts": e.ts,
        "kind": e.kind,
        "breaker": e.breaker,
        "symbol": e.symbol,
        "value": _finite_or_none(e.value),
        "threshold": _finite_or_none(e.threshold),
        "action": e.action,
        "state": e.state.name,
        "reason": e.reason,
        "message": e.message,
    }


def _trade_row(t: Trade) -> dict[str, Any]:
    return {
        "id": t.id,
        "symbol": t.symbol,
        "side": t.side,
        "state": t.state,
        "entry_ts": t.entry_ts,
        "exit_ts": t.exit_ts,
        "pnl": _finite_or_none(t.pnl),
        "r_multiple": _finite_or_none(t.r_multiple),
        "record": _json(t.to_dict()),
    }


def _decision_row(decision: Decision, ts: int, signal: Signal | None) -> dict[str, Any]:
    return {
        "ts": ts,
        "symbol": decision.symbol,
        "side": decision.side,
        "approved": decision.approved,
        "quantity": _finite_or_none(decision.quantity),
        "entry": _finite_or_none(decision.entry),
        "stop": _finite_or_none(decision.stop),
        "target": _finite_or_none(decision.target),
        "risk_amount": _finite_or_none(decision.risk_amount),
        "risk_pct": _finite_or_none(decision.risk_pct),
        "reward_risk": _finite_or_none(decision.reward_risk),
        "method": decision.method,
        "codes": _json(decision.codes),
        "reasons": _json([r.to_dict() for r in decision.reasons]),
        "signal": None if signal is None else _json(signal.to_dict()),
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
        "details": _json(details),
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
        "details": _json(details),
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


class Journal:
    """A journal at ``url`` (SQLAlchemy URL; default ``sqlite:///riskguard.db``), created and
    migrated on open. ``batch`` bounds a group commit of decisions; ``durable=False`` skips
    SQLite's syncs (a backtest's journal, which its data can rebuild: never a live one).

    Raises JournalError: the database cannot be opened; its schema is newer than this
    riskguard; a SQLite file fails its integrity check.
    """

    def __init__(self, url: str = DEFAULT_URL, *, batch: int = 256, durable: bool = True) -> None:
        if not isinstance(url, str) or not url:
            raise JournalError(f"url must be a non-empty str, got {url!r}")
        self.url = url
        self._batch = batch
        self._durable = durable
        self._pending: list[dict[str, list[Any]]] = []
        self._pending_lock = threading.Lock()  # reads may come from another thread
        self._listener: Any = None  # PostgreSQL connection LISTENing for control actions
        try:
            self._engine = self._connect(url, durable)
        except Exception as e:  # a malformed URL, a missing driver
            raise JournalError(f"cannot open the journal at {url!r}: {e}") from None
        try:
            self.migrate()
            problems = self.check()
        except Exception as e:
            self._engine.dispose()
            if isinstance(e, JournalError):
                raise
            raise JournalError(f"cannot open the journal at {self._safe_url()}: {e}") from None
        if problems:
            self._engine.dispose()
            raise JournalError(f"the journal at {self._safe_url()} fails its checks: {problems}")
        self._closed = False
        self._queue: queue.Queue[tuple[dict[str, Any], Future[None]] | None] = queue.Queue()
        self._failure: BaseException | None = None
        self._writer = threading.Thread(target=self._write_decisions, daemon=True)
        self._writer.start()

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for reads, after the batched writes; any database error becomes a
        JournalError."""
        try:
            self._flush_pending()
            with self._engine.connect() as c:
                yield c
        except JournalError:
            raise
        except Exception as e:  # SQLAlchemy's errors and the driver's own
            raise JournalError(f"journal read failed: {e}") from None

    def _safe_url(self) -> str:
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    @staticmethod
    def _connect(url: str, durable: bool) -> Engine:
        engine = sa.create_engine(url, future=True)
        if engine.dialect.name == "sqlite":

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                # WAL lets readers (the CLI) work beside the writer; FULL makes every commit
                # durable at once, which the write-ahead rule needs. A backtest's journal can
                # be written again from its data, so it may skip the syncs.
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
                cursor.execute("PRAGMA busy_timeout=5000")
                cursor.close()

        return engine

    @property
    def durable(self) -> bool:
        """Whether every write is committed (and synced) before it returns; False for a
        batched backtest journal."""
        return self._durable

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    # --- schema ----------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The schema version the journal holds."""
        with self._reading() as c:
            row = c.execute(
                sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")
            ).first()
        return int(row[0]) if row else 0

    def migrate(self) -> None:
        """Creates a new journal, or brings an older one up to :data:`SCHEMA_VERSION`.

        Raises JournalError: a journal written by a newer riskguard.
        """
        with self._engine.begin() as c:
            meta_table.create(c, checkfirst=True)
            row = c.execute(
                sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")
            ).first()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"the journal's schema is version {version}; this riskguard reads up to "
                    f"{SCHEMA_VERSION}"
                )
            if version == 0:
                metadata.create_all(c)
                c.execute(
                    sa.insert(meta_table).values(key="schema_version", value=str(SCHEMA_VERSION))
                )
                return
            for step in MIGRATIONS[version - 1 :]:
                step(c)
            c.execute(
                sa.update(meta_table)
                .where(meta_table.c.key == "schema_version")
                .values(value=str(SCHEMA_VERSION))
            )

    def check(self) -> list[str]:
        """Integrity problems: SQLite's own check, and the checks of the snapshot a restore
        would use. Empty when the journal is sound."""
        problems = []
        if self.dialect == "sqlite":
            with self._reading() as c:
                result = [r[0] for r in c.execute(sa.text("PRAGMA integrity_check"))]
            if result != ["ok"]:
                problems.extend(result)
        try:
            self.restore()
        except JournalError as e:
            problems.append(str(e))
        return problems

    # --- durable writes --------------------------------------------------------------------

    def _write(self, statement: Any, rows: list[dict[str, Any]] | None = None) -> int | None:
        """Runs one statement in its own transaction, committed before it returns; the new
        row's id for a single insert."""
        self._flush_pending()
        try:
            with self._engine.begin() as c:
                if rows is not None:
                    c.execute(statement, rows)
                    return None
                result = c.execute(statement)
                return result.inserted_primary_key[0] if result.is_insert else None
        except Exception as e:  # SQLAlchemy's errors, and the driver's own (an int overflow)
            raise JournalError(f"journal write failed: {e}") from None

    def save_snapshot(self, engine: RiskEngine) -> int:
        """Stores the engine's image (``to_bytes``) durably; returns its id."""
        return self._write(sa.insert(snapshots_table).values(ts=engine.ts, image=engine.to_bytes()))

    def record_events(self, items: Iterable[Event]) -> None:
        """Stores events durably, in order, in one transaction."""
        self.write(events=items)

    def record_order(
        self,
        ts: int,
        client_order_id: str,
        symbol: str,
        qty: float,
        order_type: str,
        status: str,
        **details: Any,
    ) -> int:
        """Stores an order as sent (or as rejected) durably; ``details`` keeps the rest.

        Raises JournalError: a quantity that is not finite.
        """
        row = order_row(ts, client_order_id, symbol, qty, order_type, status, **details)
        return self._write(sa.insert(orders_table).values(row))

    def record_fill(
        self,
        ts: int,
        client_order_id: str,
        symbol: str,
        qty: float,
        price: float,
        fee: float = 0.0,
        **details: Any,
    ) -> int:
        """Stores a fill durably, with its execution details (requested price, slippage,
        latency, retries).

        Raises JournalError: a quantity, price or fee that is not finite.
        """
        row = fill_row(ts, client_order_id, symbol, qty, price, fee, **details)
        return self._write(sa.insert(fills_table).values(row))

    def record_trades(self, items: Sequence[Trade]) -> None:
        """Stores trades by id, replacing earlier records of the same trade (a trade is
        recorded when it opens and again as it changes)."""
        self.write(trades=items)

    def write(
        self,
        *,
        snapshot: RiskEngine | None = None,
        events: Iterable[Event] = (),
        orders: Sequence[dict[str, Any]] = (),
        fills: Sequence[dict[str, Any]] = (),
        trades: Sequence[Trade] = (),
        decisions: Sequence[tuple[Decision, int, Signal | None]] = (),
        controls: Sequence[dict[str, Any]] = (),
        handled: Sequence[tuple[int, int]] = (),
    ) -> int | None:
        """Stores everything given in ONE durable transaction: all of it or none survives a
        crash. ``orders`` and ``fills`` are rows from :func:`order_row` and :func:`fill_row`;
        ``decisions`` are ``(decision, ts, signal)``, written after the queued ones (which are
        flushed first, to keep the order decisions were made in); ``controls`` are rows from
        :func:`control_row`; ``handled`` are ``(control_id, ts)`` marks. Returns the
        snapshot's id when one is given.

        A journal opened with ``durable=False`` batches these writes instead (up to ``batch``
        of them in one transaction, and before any read, flush or close), keeps one snapshot
        per batch (the engine's state when the batch is committed) and returns None.

        Raises JournalError: the write failed (nothing was stored); the journal is closed.
        """
        # A batched (non-durable) journal keeps the engine itself and takes its image once
        # per batch: the state of a backtest when the batch is committed.
        image = None if snapshot is None else snapshot if not self._durable else snapshot.to_bytes()
        step = {
            "snapshots": [] if snapshot is None else [(snapshot.ts, image)],
            "events": [_event_row(e) for e in events],
            "orders": list(orders),
            "fills": list(fills),
            "trades": [_trade_row(t) for t in trades],
            "decisions": [_decision_row(d, ts, s) for d, ts, s in decisions],
            "controls": list(controls),
            "handled": list(handled),
        }
        if step["decisions"] and self._durable:
            self.flush()
        elif self._closed:
            raise JournalError("the journal is closed")
        if not self._durable:
            with self._pending_lock:
                self._pending.append(step)
                full = len(self._pending) >= self._batch
            if full:
                self._flush_pending()
            return None
        return self._apply([step])

    def _flush_pending(self) -> None:
        """Commits the writes a non-durable journal has batched."""
        with self._pending_lock:
            steps, self._pending = self._pending, []
            if steps:
                self._apply(steps)

    def _apply(self, steps: list[dict[str, list[Any]]]) -> int | None:
        """Stores the steps in one transaction; the last snapshot's id."""
        rows: dict[str, list[Any]] = {}
        for step in steps:
            for key, values in step.items():
                rows.setdefault(key, []).extend(values)
        try:
            with self._engine.begin() as c:
                sid = None
                snaps = rows["snapshots"]
                if snaps and not isinstance(snaps[-1][1], bytes):
                    engine = snaps[-1][1]
                    snaps = [(engine.ts, engine.to_bytes())]
                for ts, image in snaps:
                    result = c.execute(sa.insert(snapshots_table).values(ts=ts, image=image))
                    sid = result.inserted_primary_key[0]
                for table, key in (
                    (events_table, "events"),
                    (orders_table, "orders"),
                    (fills_table, "fills"),
                    (decisions_table, "decisions"),
                    (controls_table, "controls"),
                ):
                    if rows[key]:
                        c.execute(sa.insert(table), rows[key])
                if rows["trades"]:
                    latest = list({r["id"]: r for r in rows["trades"]}.values())
                    ids = [r["id"] for r in latest]
                    c.execute(sa.delete(trades_table).where(trades_table.c.id.in_(ids)))
                    c.execute(sa.insert(trades_table), latest)
                for control_id, ts in rows["handled"]:
                    c.execute(
                        sa.update(controls_table)
                        .where(controls_table.c.id == control_id)
                        .values(handled_ts=ts)
                    )
                return sid
        except Exception as e:  # SQLAlchemy's errors, and the driver's own (an int overflow)
            raise JournalError(f"journal write failed: {e}") from None

    def record_control(
        self, action: str, ts: int, *, name: str | None = None, reason: str = "", actor: str = ""
    ) -> int:
        """Stores a control action durably for a running Guard to act on; returns its id.

        Raises JournalError: an unknown action; ``reset`` without a breaker ``name``.
        """
        row = control_row(action, ts, name=name, reason=reason, actor=actor)
        self._flush_pending()
        try:
            with self._engine.begin() as c:
                result = c.execute(sa.insert(controls_table).values(row))
                control_id = result.inserted_primary_key[0]
                if self.dialect == "postgresql":
                    # Delivered at commit to every Guard listening (wait_for_control).
                    c.execute(
                        sa.text("SELECT pg_notify(:channel, :id)"),
                        {"channel": CHANNEL, "id": str(control_id)},
                    )
                return control_id
        except Exception as e:
            raise JournalError(f"journal write failed: {e}") from None

    def wait_for_control(self, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds for another process to record a control action:
        on PostgreSQL through LISTEN/NOTIFY, returning True as soon as one is recorded; on
        SQLite by sleeping, returning False (the caller polls the table). Blocks: call it from
        a thread.

        Raises JournalError: the listening connection failed.
        """
        if self.dialect != "postgresql":
            time.sleep(timeout)
            return False
        try:
            if self._listener is None:
                import psycopg

                url = sa.engine.make_url(self.url).set(drivername="postgresql")
                conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
                conn.execute(f"LISTEN {CHANNEL}")
                self._listener = conn
            for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                return True
            return False
        except Exception as e:
            raise JournalError(f"listening for control actions failed: {e}") from None

    def mark_handled(self, control_id: int, ts: int) -> None:
        """Marks a control action as acted on."""
        self._write(
            sa.update(controls_table).where(controls_table.c.id == control_id).values(handled_ts=ts)
        )

    # --- group-committed decisions ---------------------------------------------------------

    def record_decision(
        self, decision: Decision, ts: int, signal: Signal | None = None, *, durable: bool = False
    ) -> Future[None]:
        """Stores a decision with its signal and every reason. Group-committed by the writer
        thread unless ``durable`` (which first waits for the queue, to keep the order).

        Returns a future that completes once the decision is committed (at once when
        ``durable``, and in a journal opened with ``durable=False``, which batches it with its
        other writes), or fails with the commit's JournalError: a caller that acknowledges a
        decision only after its future completes never acknowledges one a crash can lose.

        Raises JournalError: an earlier group commit failed (the journal is unusable).
        """
        self._check_writer()
        done: Future[None] = Future()
        if not self._durable:  # batched with the other writes: nothing to wait for
            self.write(decisions=[(decision, ts, signal)])
            done.set_result(None)
        elif durable:
            self.write(decisions=[(decision, ts, signal)])
            done.set_result(None)
        else:
            self._queue.put((_decision_row(decision, ts, signal), done))
        return done

    def _write_decisions(self) -> None:
        while True:
            item = self._queue.get()
            stop = item is None
            batch = [] if item is None else [item]
            while len(batch) < self._batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            error: BaseException | None = None
            try:
                if batch and self._failure is None:
                    with self._engine.begin() as c:
                        c.execute(sa.insert(decisions_table), [row for row, _ in batch])
            except Exception as e:  # kept for the caller: flush and close raise it
                self._failure = e
            error = self._failure
            for _, done in batch:
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(JournalError(f"the journal's writer failed: {error}"))
            for _ in range(len(batch) + (1 if stop else 0)):
                self._queue.task_done()
            if stop:
                return

    def _check_writer(self) -> None:
        if self._closed:
            raise JournalError("the journal is closed")
        if self._failure is not None:
            raise JournalError(f"the journal's writer failed: {self._failure}")

    def flush(self) -> None:
        """Waits until every queued decision is committed.

        Raises JournalError: the journal is closed; a group commit failed.
        """
        self._check_writer()
        self._queue.join()
        self._check_writer()
        self._flush_pending()

    def close(self) -> None:
        """Flushes the queued decisions, stops the writer and closes the database."""
        if self._closed:
            return
        self._closed = True
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()
        try:
            self._flush_pending()
        finally:
            if self._listener is not None:
                self._listener.close()
            self._engine.dispose()
        if self._failure is not None:
            raise JournalError(f"the journal's writer failed: {self._failure}")

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- reading ---------------------------------------------------------------------------

    def latest_snapshot(self) -> tuple[int, int, bytes] | None:
        """``(id, ts, image)`` of the newest snapshot, or None."""
        with self._reading() as c:
            row = c.execute(
                sa.select(snapshots_table.c.id, snapshots_table.c.ts, snapshots_table.c.image)
                .order_by(snapshots_table.c.id.desc())
                .limit(1)
            ).first()
        return None if row is None else (row[0], row[1], bytes(row[2]))

    def snapshots(self, after_id: int = 0) -> list[tuple[int, int, bytes]]:
        """``(id, ts, image)`` of every snapshot after ``after_id``, oldest first."""
        with self._reading() as c:
            rows = c.execute(
                sa.select(snapshots_table.c.id, snapshots_table.c.ts, snapshots_table.c.image)
                .where(snapshots_table.c.id > after_id)
                .order_by(snapshots_table.c.id)
            )
            return [(r[0], r[1], bytes(r[2])) for r in rows]

    def write_series(self, name: str, ts: Sequence[int], values: Sequence[float]) -> None:
        """Stores the time series ``name`` durably, replacing any earlier one of that name:
        ``ts`` integer ns since the epoch, ``values`` floats (NaN stored as NULL), of one
        length. A backtest stores its equity curves this way.

        Raises JournalError: a name that is not a non-empty str of at most 64 characters;
        lengths that differ.
        """
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise JournalError(f"name must be a str of 1 to 64 characters, got {name!r}")
        if len(ts) != len(values):
            raise JournalError(f"ts and values differ in length: {len(ts)} and {len(values)}")
        rows = [
            {"name": name, "ts": int(t), "value": _finite_or_none(float(v))}
            for t, v in zip(ts, values, strict=True)
        ]
        self._flush_pending()
        try:
            with self._engine.begin() as c:
                c.execute(sa.delete(series_table).where(series_table.c.name == name))
                if rows:
                    c.execute(sa.insert(series_table), rows)
        except Exception as e:
            raise JournalError(f"journal write failed: {e}") from None

    def series(self, name: str) -> tuple[list[int], list[float]]:
        """The time series ``name`` as ``(ts, values)`` in time order (NULL read as NaN);
        empty lists when there is none."""
        with self._reading() as c:
            rows = c.execute(
                sa.select(series_table.c.ts, series_table.c.value)
                .where(series_table.c.name == name)
                .order_by(series_table.c.ts)
            ).all()
        return [r[0] for r in rows], [math.nan if r[1] is None else r[1] for r in rows]

    def series_names(self) -> list[str]:
        """The names of the stored time series, sorted."""
        with self._reading() as c:
            rows = c.execute(sa.select(series_table.c.name).distinct())
            return sorted(r[0] for r in rows)

    def restore(self) -> RiskEngine | None:
        """The engine of the newest snapshot, or None for a journal without one.

        Raises JournalError: the snapshot fails its checks (fail closed: never start afresh
        over a journal that cannot be read).
        """
        latest = self.latest_snapshot()
        if latest is None:
            return None
        sid, _, image = latest
        try:
            return RiskEngine.from_bytes(image)
        except RiskError as e:
            raise JournalError(f"snapshot {sid} cannot be restored: {e}") from None

    def _rows(self, table: sa.Table, after_id: int = 0) -> list[dict[str, Any]]:
        with self._reading() as c:
            result = c.execute(sa.select(table).where(table.c.id > after_id).order_by(table.c.id))
            return [dict(r._mapping) for r in result]

    def events(self, after_id: int = 0) -> list[dict[str, Any]]:
        """Stored events after ``after_id``, oldest first, as dicts."""
        return self._rows(events_table, after_id)

    def decisions(self, after_id: int = 0) -> list[dict[str, Any]]:
        """Committed decisions after ``after_id``, oldest first; ``codes``, ``reasons`` and
        ``signal`` decoded from JSON."""
        rows = self._rows(decisions_table, after_id)
        for r in rows:
            for key in ("codes", "reasons", "signal"):
                if r[key] is not None:
                    r[key] = json.loads(r[key])
        return rows

    def orders(self, after_id: int = 0) -> list[dict[str, Any]]:
        """Stored orders, oldest first."""
        return self._rows(orders_table, after_id)

    def fills(self, after_id: int = 0) -> list[dict[str, Any]]:
        """Stored fills, oldest first."""
        return self._rows(fills_table, after_id)

    def trades(self) -> list[dict[str, Any]]:
        """The latest record of every trade, by id, decoded."""
        with self._reading() as c:
            rows = c.execute(sa.select(trades_table.c.record).order_by(trades_table.c.id))
            return [json.loads(r[0]) for r in rows]

    def pending_controls(self) -> list[Control]:
        """Control actions not yet acted on, oldest first."""
        with self._reading() as c:
            rows = c.execute(
                sa.select(controls_table)
                .where(controls_table.c.handled_ts.is_(None))
                .order_by(controls_table.c.id)
            )
            return [Control(**dict(r._mapping)) for r in rows]

    def controls(self) -> list[Control]:
        """Every control action, oldest first."""
        with self._reading() as c:
            rows = c.execute(sa.select(controls_table).order_by(controls_table.c.id))
            return [Control(**dict(r._mapping)) for r in rows]
