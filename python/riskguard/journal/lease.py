"""One writer per journal: the lease.

A Guard takes the journal's lease when it starts and holds it until it closes:

- on SQLite, an OS lock (``flock``, exclusive, non-blocking) on a lock file beside the database
  (``<db>.lock``), held for as long as the lease; the kernel drops it when the process dies,
  however it dies, and a frozen (SIGSTOPped) holder keeps it;
- on PostgreSQL, a session advisory lock taken on a dedicated connection kept open; the server
  drops it when that connection ends (a crash, a restart, a network cut);
- on both, the ``rg_lease`` row: who holds it (holder, host, pid, since) and an epoch
  incremented by every acquisition.

Fencing: every commit of a lease holder checks, in its own transaction, that the row's epoch is
still the one it acquired (and on PostgreSQL that its advisory lock is still held by its
dedicated connection), so a writer that lost its lease can never write again until it takes the
lease back.
"""

# Journal's mixins annotate ``self: Journal`` (their methods use its attributes); mypy
# reports such self types on a base class as "misc".
# mypy: disable-error-code="misc"

from __future__ import annotations

import datetime as dt
import fcntl
import os
import socket
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .errors import JournalError, LeaseHeld

if TYPE_CHECKING:
    from .store import Journal

__all__ = ["LEASE_KEY", "Lease", "LeaseMixin"]

# The PostgreSQL advisory lock key of a journal's lease ("rgle"), one per database. Below 2**31,
# so pg_locks shows it as classid 0, objid LEASE_KEY (objsubid 1: a bigint key).
LEASE_KEY = 0x72676C65

_HELD_SQL = (
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
    f" AND classid = 0 AND objid = {LEASE_KEY} AND objsubid = 1"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
# The epoch, and whether our dedicated connection (backend :pid) still holds the advisory lock;
# FOR SHARE keeps a new acquirer from changing the epoch until this transaction ends.
_PG_FENCE_SQL = (
    "SELECT epoch, EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    f" AND classid = 0 AND objid = {LEASE_KEY} AND objsubid = 1 AND pid = :pid)"
    " FROM rg_lease WHERE id = 1 FOR SHARE"
)


def iso(ns: int | None) -> str:
    """``ns`` since the epoch as UTC ISO 8601, or ``"an unknown time"``."""
    if ns is None:
        return "an unknown time"
    when = dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc)
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


class Lease:
    """The lease of one :class:`~riskguard.journal.Journal`. ``begin`` opens one of the
    journal's write transactions without fencing, ``connect`` one of its reads; ``label`` is
    the journal as it may be printed (its URL, password masked)."""

    def __init__(
        self,
        *,
        engine: Engine,
        begin: Callable[[], AbstractContextManager[Connection]],
        connect: Callable[[], AbstractContextManager[Connection]],
        lock_path: str | None,
        label: str,
        describe: Callable[[BaseException], str],
    ) -> None:
        self._engine = engine
        self._begin = begin
        self._connect = connect
        self._lock_path = lock_path
        self._label = label
        self._describe = describe
        self._postgres = engine.dialect.name == "postgresql"
        self.epoch: int | None = None  # ours while we hold (or lost) the lease
        self.lost: str | None = None  # why, once lost
        self._fd: int | None = None
        self._conn: Connection | None = None
        self._backend_pid: int | None = None
        self._lease_engine: Engine | None = None

    @property
    def state(self) -> str:
        """``"none"`` (never taken, or released), ``"held"`` or ``"lost"``."""
        if self.epoch is None:
            return "none"
        return "lost" if self.lost else "held"

    # --- taking and giving back --------------------------------------------------------------

    def acquire(self, holder: str) -> int:
        """Takes the lease for ``holder``; returns the new epoch. Idempotent while held.

        Raises LeaseHeld: another writer holds it. JournalError: the database cannot be
        reached or written.
        """
        if self.state == "held":
            return self.epoch  # type: ignore[return-value]
        self._drop()
        self.epoch = None
        self.lost = None
        try:
            self._lock()
            epoch = self._bump(holder)
        except BaseException:
            self._drop()
            raise
        self.epoch = epoch
        return epoch

    def _lock(self) -> None:
        """The OS lock (SQLite) or the advisory lock on a dedicated connection (PostgreSQL).

        Raises LeaseHeld; JournalError.
        """
        if self._postgres:
            try:
                if self._lease_engine is None:
                    # Its own engine without a pool: the connection holding the advisory lock
                    # must never be handed to other work, nor kept once it fails.
                    self._lease_engine = sa.create_engine(
                        self._engine.url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT"
                    )
                conn = self._lease_engine.connect()
            except Exception as e:
                raise JournalError(
                    f"cannot take the lease of {self._label}: {self._describe(e)}"
                ) from None
            try:
                got = conn.execute(sa.text(f"SELECT pg_try_advisory_lock({LEASE_KEY})")).scalar()
                pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            except Exception as e:
                conn.close()
                raise JournalError(
                    f"cannot take the lease of {self._label}: {self._describe(e)}"
                ) from None
            if not got:
                conn.close()
                raise self._held_error()
            self._conn, self._backend_pid = conn, int(pid)
            return
        if self._lock_path is None:  # an in-memory database: nobody else can open it
            return
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise JournalError(
                f"cannot take the lease of {self._label}: {self._lock_path}: {e.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self._held_error() from None
        self._fd = fd

    def _bump(self, holder: str) -> int:
        """Writes the lease row with the next epoch; returns it."""
        from .schema import lease_table

        values = {
            "holder": holder,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "since": time.time_ns(),
        }
        try:
            with self._begin() as c:
                row = c.execute(
                    sa.select(lease_table.c.epoch).where(lease_table.c.id == 1).with_for_update()
                ).first()
                epoch = (0 if row is None else int(row[0])) + 1
                if row is None:
                    c.execute(sa.insert(lease_table).values(id=1, epoch=epoch, **values))
                else:
                    c.execute(
                        sa.update(lease_table)
                        .where(lease_table.c.id == 1)
                        .values(epoch=epoch, **values)
                    )
        except JournalError:
            raise
        except Exception as e:
            raise JournalError(
                f"cannot take the lease of {self._label}: {self._describe(e)}"
            ) from None
        return epoch

    def release(self) -> None:
        """Gives the lease back: the row says nobody holds it (best effort: the database may
        be gone), and the OS or advisory lock is dropped (always). Idempotent."""
        from .schema import lease_table

        if self.epoch is None:
            return
        try:
            if not self.lost:
                with self._begin() as c:
                    c.execute(
                        sa.update(lease_table)
                        .where(lease_table.c.id == 1, lease_table.c.epoch == self.epoch)
                        .values(holder=None, host=None, pid=None, since=None)
                    )
        except Exception:
            pass  # the lock below is what keeps other writers out; the row only informs
        finally:
            self._drop()
            self.epoch = None
            self.lost = None

    def close(self) -> None:
        """Releases the lease and disposes of the dedicated engine."""
        self.release()
        if self._lease_engine is not None:
            self._lease_engine.dispose()
            self._lease_engine = None

    def _drop(self) -> None:
        """Drops the OS lock or the dedicated connection, whatever state they are in."""
        if self._fd is not None:
            try:
                os.close(self._fd)  # closing the only descriptor releases the flock
            finally:
                self._fd = None
        if self._conn is not None:
            try:
                self._conn.close()  # ends the session: the server drops the advisory lock
            except Exception:
                pass  # a connection that already failed
            finally:
                self._conn = None
                self._backend_pid = None

    # --- fencing -----------------------------------------------------------------------------

    def lose(self, why: str) -> None:
        """Marks the lease lost; the next commits are refused until it is taken back."""
        if self.epoch is not None and not self.lost:
            self.lost = f"lease lost on {self._label}: {why}; take it back with acquire_lease"

    def refuse_if_lost(self) -> None:
        """Raises JournalError: the lease was taken and then lost (no write may be made)."""
        if self.lost:
            raise JournalError(self.lost)

    def fence(self, c: Connection) -> None:
        """Inside a write transaction: checks the lease is still ours (nothing to check when
        no lease was taken).

        Raises JournalError: the lease was lost; the transaction must not commit.
        """
        if self.epoch is None:
            return
        self.refuse_if_lost()
        if self._postgres:
            row = c.execute(sa.text(_PG_FENCE_SQL), {"pid": self._backend_pid}).first()
            if row is not None and row[0] == self.epoch and not row[1]:
                self.lose("the connection holding it dropped")
        else:
            row = c.execute(sa.text("SELECT epoch FROM rg_lease WHERE id = 1")).first()
        if not self.lost and (row is None or row[0] != self.epoch):
            now = "gone" if row is None else row[0]
            self.lose(f"its epoch is now {now}, not {self.epoch}: another writer took it")
        self.refuse_if_lost()

    def check(self) -> bool:
        """Whether the lease is still ours: the OS lock's file is still the one at its path
        (SQLite), the dedicated connection still answers (PostgreSQL), and the row still holds
        our epoch. A lease found lost stays lost until taken back.

        Raises JournalError: the database cannot be read (nothing can be said).
        """
        if self.state != "held":
            return False
        if self._fd is not None and self._lock_path is not None:
            try:
                here = os.stat(self._lock_path)
            except OSError:
                here = None
            mine = os.fstat(self._fd)
            if here is None or (here.st_dev, here.st_ino) != (mine.st_dev, mine.st_ino):
                self.lose(f"its lock file {self._lock_path} was deleted or replaced")
                return False
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT 1"))
            except Exception:
                self.lose("the connection holding it dropped")
                return False
        try:
            with self._connect() as c:
                if self._postgres:
                    row = c.execute(
                        sa.text(_PG_FENCE_SQL.replace(" FOR SHARE", "")),
                        {"pid": self._backend_pid},
                    ).first()
                    if row is not None and row[0] == self.epoch and not row[1]:
                        self.lose("the connection holding it dropped")
                        return False
                else:
                    row = c.execute(sa.text("SELECT epoch FROM rg_lease WHERE id = 1")).first()
        except Exception as e:
            raise JournalError(
                f"cannot check the lease of {self._label}: {self._describe(e)}"
            ) from None
        if row is None or row[0] != self.epoch:
            now = "gone" if row is None else row[0]
            self.lose(f"its epoch is now {now}, not {self.epoch}: another writer took it")
            return False
        return True

    # --- who holds it ------------------------------------------------------------------------

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lease now, as the lease row says: ``{"holder", "host", "pid",
        "since", "epoch"}``; None when nobody does (the OS or advisory lock is free).

        Raises JournalError: the database cannot be read.
        """
        if self.state != "held" and not self._locked_elsewhere():
            return None
        try:
            with self._connect() as c:
                if not sa.inspect(c).has_table("rg_lease"):
                    row = None
                else:
                    row = c.execute(
                        sa.text("SELECT holder, host, pid, since, epoch FROM rg_lease WHERE id = 1")
                    ).first()
        except Exception as e:
            raise JournalError(
                f"cannot read the lease of {self._label}: {self._describe(e)}"
            ) from None
        if row is None:
            return {"holder": None, "host": None, "pid": None, "since": None, "epoch": None}
        return dict(zip(("holder", "host", "pid", "since", "epoch"), row, strict=True))

    def _locked_elsewhere(self) -> bool:
        """Whether someone (another journal object, maybe in this process) holds the lock."""
        if self._postgres:
            try:
                with self._connect() as c:
                    return c.execute(sa.text(_HELD_SQL)).first() is not None
            except Exception as e:
                raise JournalError(
                    f"cannot read the lease of {self._label}: {self._describe(e)}"
                ) from None
        if self._lock_path is None:
            return False
        try:
            fd = os.open(self._lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False  # never leased
        except OSError as e:
            raise JournalError(f"cannot read the lease of {self._label}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # also drops the shared lock just taken, if it was
        return False

    def _held_error(self) -> LeaseHeld:
        try:
            info = self.holder() or {}
        except JournalError:
            info = {}
        holder = info.get("holder")
        who = (
            f"{holder or 'an unknown holder'} (host {info.get('host') or 'unknown'}, "
            f"pid {info.get('pid') or 'unknown'}, since {iso(info.get('since'))})"
        )
        return LeaseHeld(
            f"the journal {self._label} is held by {who}: one writer per journal",
            holder=holder,
            host=info.get("host"),
            pid=info.get("pid"),
            since=info.get("since"),
        )


class LeaseMixin:
    """:class:`~riskguard.journal.Journal`'s lease: one writer per journal."""

    def acquire_lease(self: Journal, holder: str) -> int:
        """Takes the journal's write lease for ``holder`` (a name for people: ``"guard"``,
        a host and a role) and holds it until :meth:`release_lease` or :meth:`close`; returns
        the new epoch. From then on every commit checks the lease is still ours. Idempotent
        while held; call it again to take back a lease that was lost.

        Raises LeaseHeld: another writer holds it (the message names holder, host, pid and
        since). JournalError: the journal is closed or read-only; the database cannot be
        written.
        """
        if not isinstance(holder, str) or not holder:
            raise JournalError(f"holder must be a non-empty str, got {holder!r}")
        self._check_open()
        return self._lease.acquire(holder)

    def release_lease(self: Journal) -> None:
        """Gives the lease back (:meth:`close` does it too). Idempotent."""
        self._lease.release()

    @property
    def lease_state(self: Journal) -> str:
        """``"none"`` (no lease taken), ``"held"`` or ``"lost"`` (every commit is refused
        until :meth:`acquire_lease` takes it back). A lost lease is noticed at the next commit
        or :meth:`check_lease`."""
        return self._lease.state

    @property
    def lease_epoch(self: Journal) -> int | None:
        """The epoch of our lease (held or lost), or None."""
        return self._lease.epoch

    def check_lease(self: Journal) -> bool:
        """Whether we still hold the lease: its lock file is still the one at its path
        (SQLite), its dedicated connection answers (PostgreSQL) and the lease row holds our
        epoch. A cheap check for a Guard's periodic task; a lease found lost stays lost until
        taken back. False when no lease was taken.

        Raises JournalError: the database cannot be read.
        """
        return self._lease.check()

    def lease_holder(self: Journal) -> dict[str, Any] | None:
        """Who holds the lease: ``{"holder", "host", "pid", "since" (ns), "epoch"}``, or None
        when nobody does. Works on a read-only journal.

        Raises JournalError: the database cannot be read.
        """
        if self._version < 3:
            return None
        return self._lease.holder()
