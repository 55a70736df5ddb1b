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

A failed write fails only itself: the next one is tried afresh, and :attr:`Journal.failure` says
what failed and since when while the latest write keeps failing (a full disk, a value the
database refuses, a database that restarts).

Every commit checks, in its own transaction, that a SQLite journal's file is still the one
opened (not deleted or replaced) and, once :meth:`Journal.acquire_lease` was called, that the
lease is still ours (fencing: one writer per journal).

A journal opened with ``readonly=True`` is only read: no DDL, no migration, a SQLite file opened
``mode=ro``; ``create=False`` opens only an existing riskguard journal. The schema carries its
version; opening a writable journal migrates an older one, and a newer one is refused. Every
failure is a :class:`JournalError` whose message holds no SQL and no password: a journal that
cannot be read is never silently replaced.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from riskguard._core import Decision, Event, RiskEngine, RiskError, Signal, Trade

from . import control as channel
from .control import ControlsMixin
from .errors import JournalError, describe, safe_url, url_secrets
from .lease import Lease, LeaseMixin
from .migrations import SchemaMixin, sqlite_path
from .schema import (
    SCHEMA_VERSION,
    Control,
    controls_table,
    decision_row,
    decisions_table,
    event_row,
    events_table,
    fill_row,
    fills_table,
    order_row,
    orders_table,
    snapshots_table,
    trade_row,
    trades_table,
)
from .series import SeriesMixin

__all__ = ["DEFAULT_URL", "Journal"]

DEFAULT_URL = "sqlite:///riskguard.db"
T = TypeVar("T")
log = logging.getLogger("riskguard.journal")


class Journal(SchemaMixin, LeaseMixin, ControlsMixin, SeriesMixin):
    """A journal at ``url`` (SQLAlchemy URL; default ``sqlite:///riskguard.db``).

    - ``batch`` bounds a group commit of decisions;
    - ``durable=False`` skips SQLite's syncs (a backtest's journal, which its data can rebuild:
      never a live one);
    - ``create=False`` opens only an existing riskguard journal (what control commands use: a
      mistyped path must not create a journal no Guard reads); ``create=True`` creates a new
      one (an empty SQLite file or database), and migrates an older one;
    - ``readonly=True`` only reads (see :meth:`open_readonly`);
    - ``keep_snapshots``: every hundred or so snapshots written, those beyond the newest
      ``keep_snapshots`` are pruned but for the newest of each UTC day (:meth:`prune`); None
      (the default here) keeps them all. The configuration's ``journal.keep_snapshots`` is
      the place for the live default (1,000): a Guard's journal passes it.

    Opening runs a quick check: the schema version, and the newest snapshot restoring. The full
    check is :meth:`check`.

    Raises JournalError: the database cannot be opened; it is not a riskguard journal (and is
    left untouched); it does not exist and ``create`` is False or ``readonly`` is True; its
    schema is newer than this riskguard; the newest snapshot cannot be restored.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        batch: int = 256,
        durable: bool = True,
        create: bool = True,
        readonly: bool = False,
        keep_snapshots: int | None = None,
    ) -> None:
        self._closed = True  # until opened: close() has nothing to do
        if not isinstance(url, str) or not url:
            raise JournalError(f"url must be a non-empty str, got {safe_url(url)!r}")
        if keep_snapshots is not None and (
            isinstance(keep_snapshots, bool)
            or not isinstance(keep_snapshots, int)
            or keep_snapshots < 1
        ):
            raise JournalError(
                f"keep_snapshots must be None or an int >= 1, got {keep_snapshots!r}"
            )
        self.url = url
        self._label = safe_url(url)
        self._secrets = url_secrets(url)
        self._batch = batch
        self._durable = durable
        self._readonly = bool(readonly)
        self._keep = keep_snapshots
        self._since_prune = 0
        self._pending: list[dict[str, list[Any]]] = []
        # Reads may come from another thread; an automatic prune re-enters from a flush.
        self._pending_lock = threading.RLock()
        self._failure: tuple[str, int] | None = None
        self._failure_lock = threading.Lock()
        self._unflushed: str | None = None  # a group commit failed since the last flush
        self._listener: channel.Listener | None = None
        self._control_seen: list[int] | None = None
        self._known_controls: dict[int, Control] = {}
        self._path: str | None = None  # a SQLite journal's file
        self._identity: tuple[int, int] | None = None  # its (st_dev, st_ino) at open
        self._sqlite_mode = "rw"
        self._version = SCHEMA_VERSION
        try:
            parsed = sa.engine.make_url(url)
            if parsed.get_backend_name() == "sqlite":
                self._path = sqlite_path(parsed)
                if parsed.query.get("mode") == "ro":
                    self._readonly = True
            self._engine = self._connect(parsed)
        except Exception as e:  # a malformed URL, a missing driver
            raise JournalError(
                f"cannot open the journal at {self._label}: {self._describe(e)}"
            ) from None
        self._write_engine = self._engine.execution_options(rg_write=True)
        self._lease = Lease(
            engine=self._engine,
            begin=lambda: self._transaction(fenced=False),
            connect=self._engine.connect,
            lock_path=None if self._path is None else f"{self._path}.lock",
            label=self._label,
            describe=self._describe,
        )
        self._controls = (
            None
            if self._path is None
            else channel.ControlStore(
                channel.control_path(self._path), readonly=self._readonly, describe=self._describe
            )
        )
        try:
            self._open(create)
        except BaseException:
            self._engine.dispose()
            raise
        self._closed = False
        self._queue: queue.Queue[tuple[dict[str, Any], Future[None]] | None] = queue.Queue()
        self._writer = threading.Thread(
            target=self._write_decisions, daemon=True, name="riskguard-journal-writer"
        )
        if not self._readonly:
            self._writer.start()

    @classmethod
    def open_readonly(cls, url: str = DEFAULT_URL) -> Journal:
        """The journal at ``url``, only read: no DDL, no migration, nothing created (a SQLite
        file is opened ``mode=ro``; PostgreSQL sessions are read-only). It reads while a Guard
        writes (WAL readers do not wait for the writer), and reads an older schema as it is.
        Every write raises JournalError.

        Raises JournalError: no such journal; not a riskguard journal (the file is left
        byte-identical); a newer schema; the newest snapshot cannot be restored.
        """
        return cls(url, readonly=True)

    # --- connecting and opening ------------------------------------------------------------

    def _describe(self, error: BaseException) -> str:
        return describe(error, self._secrets)

    @property
    def durable(self) -> bool:
        """Whether every write is committed (and synced) before it returns; False for a
        batched backtest journal."""
        return self._durable

    @property
    def batched(self) -> bool:
        """Whether writes are batched rather than committed one by one (a backtest journal:
        ``not durable``). What the Guard asks of its store (:class:`riskguard.ports.Store`)."""
        return not self._durable

    @property
    def readonly(self) -> bool:
        """Whether the journal was opened read-only."""
        return self._readonly

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @property
    def failure(self) -> tuple[str, int] | None:
        """``(message, since)`` while the latest write failed (``since``: ns since the epoch
        when the failures began); None once a write succeeds again."""
        return self._failure

    # --- transactions ----------------------------------------------------------------------

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
            raise JournalError(f"journal read failed: {self._describe(e)}") from None

    @contextmanager
    def _transaction(self, *, fenced: bool = True) -> Iterator[Connection]:
        """One write transaction; before it commits, the file's identity and (``fenced``) the
        lease are checked, and it rolls back if either fails."""
        if self._readonly:
            raise JournalError(f"the journal at {self._label} is open read-only")
        with self._write_engine.begin() as c:
            yield c
            self._check_identity()
            if fenced:
                self._lease.fence(c)

    def _check_identity(self) -> None:
        """Raises JournalError: the SQLite file was deleted or replaced since it was opened
        (a commit would go to a file no one will ever read)."""
        if self._identity is None:
            return
        try:
            st = os.stat(self._path)  # type: ignore[arg-type]
            same = (st.st_dev, st.st_ino) == self._identity
        except OSError:
            same = False
        if not same:
            raise JournalError(
                f"the journal file {self._path} was deleted or replaced since it was opened:"
                " nothing more is written to it"
            )

    def _commit(self, work: Callable[[Connection], T]) -> T:
        """Runs ``work`` in one fenced write transaction, committed before it returns, and
        keeps :attr:`failure` up to date.

        Raises JournalError: the write failed (nothing was stored)."""
        if self._readonly:
            raise JournalError(f"the journal at {self._label} is open read-only")
        try:
            self._lease.refuse_if_lost()
            with self._transaction() as c:
                result = work(c)
        except JournalError as e:
            self._failed(str(e))
            raise
        except Exception as e:  # SQLAlchemy's errors, and the driver's own (an int overflow)
            message = f"journal write failed: {self._describe(e)}"
            self._failed(message)
            raise JournalError(message) from None
        self._succeeded()
        return result

    def _failed(self, message: str) -> None:
        with self._failure_lock:
            since = time.time_ns() if self._failure is None else self._failure[1]
            self._failure = (message, since)

    def _succeeded(self) -> None:
        with self._failure_lock:
            self._failure = None

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError("the journal is closed")
        if self._readonly:
            raise JournalError(f"the journal at {self._label} is open read-only")

    # --- durable writes --------------------------------------------------------------------

    def _write(self, statement: Any) -> int | None:
        """Runs one statement in its own transaction, committed before it returns; the new
        row's id for a single insert."""
        self._check_open()
        self._flush_pending()

        def run(c: Connection) -> int | None:
            result = c.execute(statement)
            return result.inserted_primary_key[0] if result.is_insert else None

        return self._commit(run)

    def save_snapshot(self, engine: RiskEngine) -> int:
        """Stores the engine's image (``to_bytes``) durably; returns its id.

        Raises JournalError: the write failed."""
        sid = self._write(sa.insert(snapshots_table).values(ts=engine.ts, image=engine.to_bytes()))
        self._snapshots_written(1)
        return sid  # type: ignore[return-value]

    def record_events(self, items: Iterable[Event]) -> None:
        """Stores events durably, in order, in one transaction.

        Raises JournalError: the write failed."""
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

        Raises JournalError: a quantity that is not finite; the write failed.
        """
        row = order_row(ts, client_order_id, symbol, qty, order_type, status, **details)
        return self._write(sa.insert(orders_table).values(row))  # type: ignore[return-value]

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

        Raises JournalError: a quantity, price or fee that is not finite; the write failed.
        """
        row = fill_row(ts, client_order_id, symbol, qty, price, fee, **details)
        return self._write(sa.insert(fills_table).values(row))  # type: ignore[return-value]

    def record_trades(self, items: Sequence[Trade]) -> None:
        """Stores trades by id, replacing earlier records of the same trade (a trade is
        recorded when it opens and again as it changes).

        Raises JournalError: the write failed."""
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
        committed first, to keep the order decisions were made in); ``controls`` are rows from
        :func:`control_row`; ``handled`` are ``(control_id, ts)``: the control actions of
        :meth:`pending_controls` applied in this step, recorded as applied in this same
        transaction (applying one twice is a no-op; an id the journal does not know is
        recorded by its id alone). Returns the snapshot's id when one is given.

        A journal opened with ``durable=False`` batches these writes instead (up to ``batch``
        of them in one transaction, and before any read, flush or close), keeps one snapshot
        per batch (the engine's state when the batch is committed) and returns None.

        Raises JournalError: the write failed (nothing was stored); the journal is closed or
        read-only; the lease was lost; the journal file was deleted or replaced.
        """
        self._check_open()
        # A batched (non-durable) journal keeps the engine itself and takes its image once
        # per batch: the state of a backtest when the batch is committed.
        image = None if snapshot is None else snapshot if not self._durable else snapshot.to_bytes()
        step = {
            "snapshots": [] if snapshot is None else [(snapshot.ts, image)],
            "events": [event_row(e) for e in events],
            "orders": list(orders),
            "fills": list(fills),
            "trades": [trade_row(t) for t in trades],
            "decisions": [decision_row(d, ts, s) for d, ts, s in decisions],
            "controls": list(controls),
            "handled": [(int(cid), int(ts)) for cid, ts in handled],
        }
        if step["decisions"] and self._durable:
            self._queue.join()  # the queued decisions first (their failures are theirs)
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
        snaps = rows["snapshots"]
        if snaps and not isinstance(snaps[-1][1], bytes):
            engine = snaps[-1][1]
            snaps = [(engine.ts, engine.to_bytes())]
        handled = rows["handled"]
        known = self._control_details(handled)

        def store(c: Connection) -> int | None:
            sid = None
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
            self._store_handled(c, handled, known)
            return sid

        sid = self._commit(store)
        if self._controls is not None:
            self._controls.mark([(cid, ts) for cid, ts in handled if cid > 0])
        self._snapshots_written(len(snaps))
        return sid

    # --- group-committed decisions ---------------------------------------------------------

    def record_decision(
        self, decision: Decision, ts: int, signal: Signal | None = None, *, durable: bool = False
    ) -> Future[None]:
        """Stores a decision with its signal and every reason. Group-committed by the writer
        thread unless ``durable`` (which first waits for the queue, to keep the order).

        Returns a future that completes once the decision is committed (at once when
        ``durable``, and in a journal opened with ``durable=False``, which batches it with its
        other writes), or fails with the commit's JournalError: a caller that acknowledges a
        decision only after its future completes never acknowledges one a crash can lose. A
        failed group commit fails only its own decisions: the next ones are tried afresh.

        Raises JournalError: the journal is closed or read-only; a durable write failed.
        """
        self._check_open()
        done: Future[None] = Future()
        if not self._durable or durable:  # batched with the other writes, or at once
            self.write(decisions=[(decision, ts, signal)])
            done.set_result(None)
        else:
            self._queue.put((decision_row(decision, ts, signal), done))
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
            if batch:
                self._commit_decisions(batch)
            for _ in range(len(batch) + (1 if stop else 0)):
                self._queue.task_done()
            if stop:
                return

    def _commit_decisions(self, batch: list[tuple[dict[str, Any], Future[None]]]) -> None:
        """Commits a batch; when it fails, each decision alone, so that one the database
        refuses fails only itself. Never raises: each future carries its own outcome."""
        groups = [batch]
        while groups:
            group = groups.pop(0)
            rows = [row for row, _ in group]
            try:
                self._commit(lambda c, rows=rows: c.execute(sa.insert(decisions_table), rows))
            except Exception as e:
                if len(group) > 1 and not self._lease.lost:
                    groups[:0] = [[one] for one in group]
                    continue
                message = str(e) if isinstance(e, JournalError) else self._describe(e)
                self._unflushed = message
                for _, done in group:
                    done.set_exception(JournalError(f"the journal's writer failed: {message}"))
                continue
            for _, done in group:
                done.set_result(None)

    def flush(self) -> None:
        """Waits until every queued decision is committed (or failed).

        Raises JournalError: the journal is closed; a group commit failed since the last
        flush (its decisions' futures carry the error too); the batched writes of a
        non-durable journal failed.
        """
        if self._closed:
            raise JournalError("the journal is closed")
        if self._readonly:
            return
        self._queue.join()
        failed, self._unflushed = self._unflushed, None
        if failed is not None:
            raise JournalError(f"the journal's writer failed: {failed}")
        self._flush_pending()

    def close(self) -> None:
        """Commits the queued decisions, stops the writer, releases the lease and closes the
        database. A group commit that failed before is not raised again (its futures carried
        it). Idempotent.

        Raises JournalError: the batched writes of a non-durable journal failed.
        """
        if self._closed:
            return
        self._closed = True
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()
        try:
            if not self._readonly:
                self._flush_pending()
        finally:
            self._lease.close()
            if self._listener is not None:
                self._listener.close()
            self._engine.dispose()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("read-only" if self._readonly else "open")
        return f"Journal({self._label!r}, {state}, lease={self.lease_state})"

    # --- reading ---------------------------------------------------------------------------

    def latest_snapshot(self) -> tuple[int, int, bytes] | None:
        """``(id, ts, image)`` of the newest snapshot, or None.

        Raises JournalError: the read failed."""
        s = snapshots_table
        with self._reading() as c:
            row = c.execute(
                sa.select(s.c.id, s.c.ts, s.c.image).order_by(s.c.id.desc()).limit(1)
            ).first()
        return None if row is None else (row[0], row[1], bytes(row[2]))

    def snapshots(self, after_id: int = 0) -> list[tuple[int, int, bytes]]:
        """``(id, ts, image)`` of every snapshot after ``after_id``, oldest first.

        Raises JournalError: the read failed."""
        s = snapshots_table
        with self._reading() as c:
            rows = c.execute(
                sa.select(s.c.id, s.c.ts, s.c.image).where(s.c.id > after_id).order_by(s.c.id)
            )
            return [(r[0], r[1], bytes(r[2])) for r in rows]

    def restore(self) -> RiskEngine | None:
        """The engine of the newest snapshot, or None for a journal without one.

        Raises JournalError: the snapshot fails its checks (fail closed: never start afresh
        over a journal that cannot be read); the read failed.
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
        """Stored events after ``after_id``, oldest first, as dicts.

        Raises JournalError: the read failed."""
        return self._rows(events_table, after_id)

    def decisions(self, after_id: int = 0) -> list[dict[str, Any]]:
        """Committed decisions after ``after_id``, oldest first; ``codes``, ``reasons`` and
        ``signal`` decoded from JSON.

        Raises JournalError: the read failed."""
        rows = self._rows(decisions_table, after_id)
        for r in rows:
            for key in ("codes", "reasons", "signal"):
                if r[key] is not None:
                    r[key] = json.loads(r[key])
        return rows

    def orders(self, after_id: int = 0) -> list[dict[str, Any]]:
        """Stored orders, oldest first.

        Raises JournalError: the read failed."""
        return self._rows(orders_table, after_id)

    def fills(self, after_id: int = 0) -> list[dict[str, Any]]:
        """Stored fills, oldest first.

        Raises JournalError: the read failed."""
        return self._rows(fills_table, after_id)

    def trades(self) -> list[dict[str, Any]]:
        """The latest record of every trade, by id, decoded.

        Raises JournalError: the read failed."""
        with self._reading() as c:
            rows = c.execute(sa.select(trades_table.c.record).order_by(trades_table.c.id))
            return [json.loads(r[0]) for r in rows]
