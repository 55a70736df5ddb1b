"""The control channel: how ``riskguard kill`` (pause, resume, reset) reaches a running Guard.

- **SQLite**: a separate control database beside the journal (``<db>-control.db``, WAL, FULL
  sync, short transactions of its own). A Guard frozen while it holds the journal's write lock
  cannot block it, so a kill is recorded whatever the Guard is doing. The Guard applies a
  control in its own journal transaction, recording the control's id there (``source_id``,
  unique), which makes applying it idempotent; the control database's row is marked handled
  after, best effort. A control is pending while the journal has no record of applying it.
- **PostgreSQL**: the journal's own ``rg_control`` table, and a NOTIFY on the ``rg_control``
  channel at commit. :class:`Listener` LISTENs on a connection of its own and re-establishes it
  after the server restarts, polling meanwhile.
"""

# Journal's mixins annotate ``self: Journal`` (their methods use its attributes); mypy
# reports such self types on a base class as "misc".
# mypy: disable-error-code="misc"

from __future__ import annotations

import os
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection

from .errors import JournalError
from .schema import CHANNEL, CONTROL_COLUMNS_V2, Control, control_row, controls_table

if TYPE_CHECKING:
    from .store import Journal

__all__ = ["ControlStore", "ControlsMixin", "Listener", "control_path", "sqlite_wait"]

_COLUMNS = ("id", "ts", "action", "name", "reason", "actor", "handled_ts")
_DDL = (
    # AUTOINCREMENT: an id is never reused, even after rows are deleted, since the journal
    # remembers applied controls by it.
    "CREATE TABLE IF NOT EXISTS rg_control ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, ts BIGINT NOT NULL, action VARCHAR(16) NOT NULL,"
    " name TEXT, reason TEXT NOT NULL, actor TEXT NOT NULL, handled_ts BIGINT)",
    "CREATE TABLE IF NOT EXISTS rg_meta (key VARCHAR(64) PRIMARY KEY, value VARCHAR(256))",
    "INSERT OR IGNORE INTO rg_meta (key, value) VALUES ('kind', 'riskguard control channel')",
)
# A writer of the control database holds its lock for one short statement: a CLI waits up to
# this long for it; marking a control handled (best effort) hardly waits at all.
RECORD_BUSY_MS = 5000
MARK_BUSY_MS = 100


# The parts of a journal step (Journal.write), for a step that only marks controls handled.
_STEP_KEYS = ("snapshots", "events", "orders", "fills", "trades", "decisions", "controls")


def control_path(journal_path: str) -> str:
    """The control database of the SQLite journal at ``journal_path``."""
    return f"{journal_path}-control.db"


class ControlStore:
    """The control database beside a SQLite journal. Created by the first :meth:`record`;
    read-only users (``readonly``) open it with ``mode=ro`` and never create it."""

    def __init__(self, path: str, *, readonly: bool, describe: Callable[[BaseException], str]):
        self.path = path
        self._readonly = readonly
        self._describe = describe

    def _open(self, *, create: bool = False, busy_ms: int = RECORD_BUSY_MS) -> sqlite3.Connection:
        mode = "ro" if self._readonly else ("rwc" if create else "rw")
        uri = f"file:{urllib.parse.quote(self.path)}?mode={mode}"
        c = sqlite3.connect(uri, uri=True, timeout=busy_ms / 1000, isolation_level=None)
        c.execute(f"PRAGMA busy_timeout={busy_ms}")
        if not self._readonly:
            c.execute("PRAGMA synchronous=FULL")  # a recorded kill survives a power cut
        return c

    def exists(self) -> bool:
        """Whether the control database was ever created."""
        return os.path.exists(self.path)

    def record(self, row: dict[str, Any]) -> int:
        """Stores a control action (a :func:`control_row`) durably; returns its id. Creates
        the control database on first use.

        Raises JournalError: the control database cannot be written (after waiting
        ``RECORD_BUSY_MS`` for a lock).
        """
        if self._readonly:
            raise JournalError("the journal is open read-only: it records no control action")
        try:
            c = self._open(create=True)
            try:
                if c.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    c.execute("PRAGMA journal_mode=WAL")
                for statement in _DDL:
                    c.execute(statement)
                c.execute("BEGIN IMMEDIATE")
                try:
                    cursor = c.execute(
                        "INSERT INTO rg_control (ts, action, name, reason, actor, handled_ts)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            row["ts"],
                            row["action"],
                            row["name"],
                            row["reason"],
                            row["actor"],
                            row["handled_ts"],
                        ),
                    )
                    c.execute("COMMIT")
                except BaseException:
                    c.execute("ROLLBACK")
                    raise
                return int(cursor.lastrowid)
            finally:
                c.close()
        except JournalError:
            raise
        except Exception as e:
            raise JournalError(
                f"cannot record the control action in {self.path}: {self._describe(e)}"
            ) from None

    def _select(self, where: str = "", args: Iterable[Any] = ()) -> list[Control]:
        if not self.exists():
            return []
        try:
            c = self._open(busy_ms=1000)
            try:
                rows = c.execute(
                    f"SELECT {', '.join(_COLUMNS)} FROM rg_control {where} ORDER BY id",
                    tuple(args),
                ).fetchall()
            finally:
                c.close()
        except Exception as e:
            if "no such table" in str(e):  # created but not yet initialised
                return []
            raise JournalError(
                f"cannot read the control actions in {self.path}: {self._describe(e)}"
            ) from None
        return [Control(*r) for r in rows]

    def unhandled(self) -> list[Control]:
        """Controls the control database has not seen marked handled, oldest first."""
        return self._select("WHERE handled_ts IS NULL")

    def all(self) -> list[Control]:
        """Every control action of the control database, oldest first."""
        return self._select()

    def get(self, ids: Iterable[int]) -> dict[int, Control]:
        """The controls of ``ids`` the control database holds."""
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return {}
        marks = ", ".join("?" * len(wanted))
        return {c.id: c for c in self._select(f"WHERE id IN ({marks})", wanted)}

    def mark(self, handled: Iterable[tuple[int, int]]) -> None:
        """Marks controls handled, best effort: the journal's record is what counts, so a
        failure here changes nothing a Guard does (it only keeps the row in ``unhandled``)."""
        items = [(int(ts), int(cid)) for cid, ts in handled]
        if self._readonly or not items or not self.exists():
            return
        try:
            c = self._open(busy_ms=MARK_BUSY_MS)
            try:
                c.executemany(
                    "UPDATE rg_control SET handled_ts = ? WHERE id = ? AND handled_ts IS NULL",
                    items,
                )
            finally:
                c.close()
        except Exception:
            pass  # best effort, see above

    def latest_id(self) -> int:
        """The newest control's id (0 when there is none)."""
        if not self.exists():
            return 0
        try:
            c = self._open(busy_ms=200)
            try:
                return int(c.execute("SELECT COALESCE(MAX(id), 0) FROM rg_control").fetchone()[0])
            finally:
                c.close()
        except Exception:
            return 0  # not yet initialised, or busy: the caller looks again


class Listener:
    """LISTENs for control actions on PostgreSQL, on a connection of its own (psycopg 3),
    re-established whenever it fails."""

    RETRY_S = 0.2  # how often to try again while the server cannot be reached
    CONNECT_TIMEOUT_S = 2

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: Any = None
        self.failure: str | None = None  # why the last attempt to listen failed
        self._missed = False  # whether notifications may have been missed since listening

    def wait(self, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds for a NOTIFY; True when one came, or when LISTEN was
        re-established after a failure (actions recorded while nobody listened may be pending:
        the caller looks). False at the timeout, also while the server cannot be reached (the
        caller polls). Never raises for a failed connection."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            if self._conn is None:
                if not self._listen():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    time.sleep(min(self.RETRY_S, left))
                    continue
                if self._missed:  # listening again: what came meanwhile was not notified
                    self._missed = False
                    return True
            left = deadline - time.monotonic()
            try:
                for _ in self._conn.notifies(timeout=max(0.0, left), stop_after=1):
                    return True
            except Exception as e:  # the server went away: listen again, poll meanwhile
                self.failure = type(e).__name__
                self._missed = True
                self._drop()
                continue
            return False

    def _listen(self) -> bool:
        try:
            import psycopg

            conn = psycopg.connect(
                self._conninfo,
                autocommit=True,
                connect_timeout=self.CONNECT_TIMEOUT_S,
                # A peer that vanished without closing the connection is noticed in seconds.
                keepalives=1,
                keepalives_idle=5,
                keepalives_interval=2,
                keepalives_count=2,
            )
            conn.execute(f"LISTEN {CHANNEL}")
        except Exception as e:  # unreachable, starting up, or no psycopg
            self.failure = type(e).__name__
            self._missed = True
            return False
        self._conn = conn
        self.failure = None
        return True

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass  # already broken

    def close(self) -> None:
        """Stops listening."""
        self._drop()


def sqlite_wait(store: ControlStore, timeout: float, seen: list[int]) -> bool:
    """Waits up to ``timeout`` seconds for a control newer than ``seen[0]`` in the control
    database, looking every 50 ms (a read of a tiny file); updates ``seen``. True when one
    came."""
    deadline = time.monotonic() + max(0.0, timeout)
    while True:
        latest = store.latest_id()
        if latest > seen[0]:
            seen[0] = latest
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.05, left))


class ControlsMixin:
    """:class:`~riskguard.journal.Journal`'s control actions: recording them, waiting for
    them, listing the pending ones and recording them applied."""

    def _control_details(self: Journal, handled: Sequence[tuple[int, int]]) -> dict[int, Control]:
        """What the journal knows of the controls ``handled`` names (from the channel)."""
        if self._controls is None:
            return {}
        wanted = [cid for cid, _ in handled if cid > 0]
        known = {cid: self._known_controls[cid] for cid in wanted if cid in self._known_controls}
        missing = [cid for cid in wanted if cid not in known]
        if missing:
            try:
                known.update(self._controls.get(missing))
            except JournalError:
                pass  # recorded by id alone: the id is what makes applying it idempotent
        return known

    def _store_handled(
        self: Journal, c: Connection, handled: Sequence[tuple[int, int]], known: dict[int, Control]
    ) -> None:
        """Records the controls applied in this transaction."""
        t = controls_table
        for cid, ts in handled:
            if self._controls is None or cid < 0:  # a row of the journal's own rg_control
                jid = cid if self._controls is None else -cid
                unhandled = sa.update(t).where(t.c.id == jid, t.c.handled_ts.is_(None))
                c.execute(unhandled.values(handled_ts=ts))
                continue
            ctl = known.get(cid)
            values = {
                "ts": ctl.ts if ctl else ts,
                "action": ctl.action if ctl else "unknown",
                "name": ctl.name if ctl else None,
                "reason": ctl.reason if ctl else "",
                "actor": ctl.actor if ctl else "",
                "handled_ts": ts,
                "source_id": cid,
            }
            insert = sqlite_dialect.insert(t).values(values)
            c.execute(insert.on_conflict_do_nothing(index_elements=["source_id"]))

    def record_control(
        self: Journal,
        action: str,
        ts: int,
        *,
        name: str | None = None,
        reason: str = "",
        actor: str = "",
    ) -> int:
        """Stores a control action durably for a running Guard to act on; returns its id. On
        a SQLite file it goes to the control database beside the journal, which a Guard
        holding the journal's write lock (even a frozen one) cannot block; on PostgreSQL to
        the journal's rg_control, with a NOTIFY. Open the journal with ``create=False`` to
        record one: a control never creates a journal.

        Raises JournalError: an unknown action; ``reset`` without a breaker ``name``; the
        journal is closed or read-only; the write failed.
        """
        row = control_row(action, ts, name=name, reason=reason, actor=actor)
        self._check_open()
        if self._controls is not None:
            # The control database's own outcome: it says nothing of the journal's writes,
            # so it leaves ``failure`` alone.
            cid = self._controls.record(row)
            self._known_controls[cid] = Control(id=cid, **row)
            return cid
        self._flush_pending()

        def insert(c: Connection) -> int:
            control_id = c.execute(sa.insert(controls_table).values(row)).inserted_primary_key[0]
            if self.dialect == "postgresql":
                # Delivered at commit to every Guard listening (wait_for_control).
                c.execute(
                    sa.text("SELECT pg_notify(:channel, :id)"),
                    {"channel": CHANNEL, "id": str(control_id)},
                )
            return control_id

        return self._commit(insert)

    def mark_handled(self: Journal, control_id: int, ts: int) -> None:
        """Records a control action as acted on (as ``write(handled=[(control_id, ts)])`` does
        inside a larger step), committed before it returns.

        Raises JournalError: the write failed."""
        self._check_open()
        self._flush_pending()
        self._apply([{key: [] for key in _STEP_KEYS} | {"handled": [(control_id, ts)]}])

    def wait_for_control(self: Journal, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds for another process to record a control action;
        True as soon as one may be pending (then read :meth:`pending_controls`), False at the
        timeout. On PostgreSQL through LISTEN/NOTIFY, re-established by itself after the server
        restarts (True once it listens again: what was recorded meanwhile may be pending) and
        polling while it cannot listen; on a SQLite file by looking at the control database
        every 50 ms. Never raises for a lost connection: the caller polls. Blocks: call it
        from a thread.

        Raises JournalError: the journal is closed.
        """
        if self._closed:
            raise JournalError("the journal is closed")
        if self.dialect == "postgresql":
            if self._listener is None:
                url = sa.engine.make_url(self.url).set(drivername="postgresql")
                self._listener = Listener(url.render_as_string(hide_password=False))
            return self._listener.wait(timeout)
        if self._controls is None:
            time.sleep(max(0.0, timeout))
            return False
        if self._control_seen is None:
            self._control_seen = [self._controls.latest_id()]
        return sqlite_wait(self._controls, timeout, self._control_seen)

    def _journal_controls(self: Journal, *, pending: bool) -> list[dict[str, Any]]:
        """Rows of the journal's own rg_control (of the columns its schema version has)."""
        t = controls_table
        names = CONTROL_COLUMNS_V2 + (("source_id",) if self._version >= 3 else ())
        query = sa.select(*(t.c[n] for n in names)).order_by(t.c.id)
        if pending:
            query = query.where(t.c.handled_ts.is_(None))
            if self._version >= 3:
                query = query.where(t.c.source_id.is_(None))
        with self._reading() as c:
            return [dict(r._mapping) for r in c.execute(query)]

    def _applied(self: Journal, ids: Sequence[int]) -> dict[int, int | None]:
        """source_id -> handled_ts of the channel's controls the journal applied."""
        if not ids or self._version < 3:
            return {}
        t = controls_table
        with self._reading() as c:
            rows = c.execute(
                sa.select(t.c.source_id, t.c.handled_ts).where(t.c.source_id.in_(list(ids)))
            )
            return {int(r[0]): r[1] for r in rows}

    def pending_controls(self: Journal) -> list[Control]:
        """Control actions not yet acted on, oldest first (as recorded).

        Raises JournalError: the journal or its control database cannot be read."""
        if self._controls is None:
            return [
                Control(**{k: r[k] for k in CONTROL_COLUMNS_V2})
                for r in self._journal_controls(pending=True)
            ]
        legacy = [
            Control(**({k: r[k] for k in CONTROL_COLUMNS_V2} | {"id": -r["id"]}))
            for r in self._journal_controls(pending=True)
        ]
        unhandled = self._controls.unhandled()
        applied = self._applied([ctl.id for ctl in unhandled])
        pending = [ctl for ctl in unhandled if ctl.id not in applied]
        if applied and not self._readonly:  # the best-effort marks a crash may have missed
            self._controls.mark([(cid, ts or time.time_ns()) for cid, ts in applied.items()])
        for ctl in pending:
            self._known_controls[ctl.id] = ctl
        return legacy + pending

    def controls(self: Journal) -> list[Control]:
        """Every control action, oldest first (by ``ts``), with when it was acted on.

        Raises JournalError: the journal or its control database cannot be read."""
        rows = self._journal_controls(pending=False)
        if self._controls is None:
            return [Control(**{k: r[k] for k in CONTROL_COLUMNS_V2}) for r in rows]
        recorded = {ctl.id: ctl for ctl in self._controls.all()}
        out = []
        for r in rows:
            fields = {k: r[k] for k in CONTROL_COLUMNS_V2}
            source = r.get("source_id")
            if source is None:
                out.append(Control(**(fields | {"id": -r["id"]})))
                continue
            base = recorded.pop(int(source), None)
            if base is None:
                out.append(Control(**(fields | {"id": int(source)})))
            else:
                out.append(Control(**(base.__dict__ | {"handled_ts": r["handled_ts"]})))
        out.extend(recorded.values())
        return sorted(out, key=lambda ctl: ctl.ts)
