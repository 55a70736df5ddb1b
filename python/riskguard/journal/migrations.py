"""Opening a journal and its schema versions: the engine (SQLite's pragmas and explicit
transactions), whether a database is a riskguard journal at all, creating one, migrating an
older one, and the checks.

``MIGRATIONS[v - 1]`` takes a journal from schema version ``v`` to ``v + 1``; a new journal is
created whole by ``metadata.create_all``. Each runs inside the caller's write transaction, so a
migration is applied whole or not at all (DDL is transactional on SQLite and PostgreSQL). A
read-only journal is never created nor migrated: it is read as the version it is.
"""

# Journal's mixins annotate ``self: Journal`` (their methods use its attributes); mypy
# reports such self types on a base class as "misc".
# mypy: disable-error-code="misc"

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .errors import JournalError
from .lease import LEASE_KEY
from .schema import (
    SCHEMA_VERSION,
    control_source_index,
    lease_table,
    meta_table,
    metadata,
    series_table,
)

if TYPE_CHECKING:
    from .store import Journal

__all__ = [
    "MIGRATIONS",
    "SchemaMixin",
    "create_schema",
    "read_version",
    "sqlite_path",
    "upgrade_schema",
]

WRITE_BUSY_MS = 5000  # a writer waits this long for SQLite's write lock
READ_BUSY_MS = 1000  # a read-only reader: WAL readers never wait for a writer; this is slack


def _v2_to_v3(c: Connection) -> None:
    lease_table.create(c)
    c.execute(sa.text("ALTER TABLE rg_control ADD COLUMN source_id BIGINT"))
    control_source_index.create(c)


MIGRATIONS: list[Callable[[Connection], None]] = [
    lambda c: series_table.create(c),  # 1 -> 2: time series (equity curves of a backtest)
    _v2_to_v3,  # 2 -> 3: the lease; control actions applied by their channel id
]


def read_version(c: Connection) -> int | None:
    """The schema version of the database behind ``c``: None when it has no ``rg_meta`` table
    (not a riskguard journal, or an empty database); 0 for a journal whose creation never
    finished. Only reads.

    Raises JournalError: an ``rg_meta`` whose version is not an integer.
    """
    if not sa.inspect(c).has_table(meta_table.name):
        return None
    row = c.execute(
        sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")
    ).first()
    if row is None:
        return 0
    try:
        return int(row[0])
    except ValueError:
        raise JournalError(f"not a riskguard journal: schema version {row[0]!r}") from None


def create_schema(c: Connection) -> None:
    """Creates every table of the current schema (those missing) and records its version."""
    metadata.create_all(c)
    c.execute(sa.delete(meta_table).where(meta_table.c.key == "schema_version"))
    c.execute(sa.insert(meta_table).values(key="schema_version", value=str(SCHEMA_VERSION)))


def upgrade_schema(c: Connection, version: int) -> None:
    """Brings a journal of schema ``version`` (1 up to :data:`SCHEMA_VERSION`) up to date.

    Raises JournalError: a version newer than this riskguard reads.
    """
    check_supported(version)
    if version == SCHEMA_VERSION:
        return
    for step in MIGRATIONS[version - 1 :]:
        step(c)
    c.execute(
        sa.update(meta_table)
        .where(meta_table.c.key == "schema_version")
        .values(value=str(SCHEMA_VERSION))
    )


def check_supported(version: int) -> None:
    """Raises JournalError: a journal written by a newer riskguard (or a nonsense version)."""
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"the journal's schema is version {version}; this riskguard reads up to "
            f"{SCHEMA_VERSION}"
        )
    if version < 1:
        raise JournalError(f"not a riskguard journal: schema version {version}")


class SchemaMixin:
    """:class:`~riskguard.journal.Journal`'s opening (the engine, is it ours, create,
    migrate, the quick check), its schema version and its checks."""

    def _connect(self: Journal, parsed: sa.engine.URL) -> Engine:
        if parsed.get_backend_name() != "sqlite":
            engine = sa.create_engine(parsed, pool_pre_ping=True)  # a restarted server heals
            if self._readonly:

                @sa.event.listens_for(engine, "connect")
                def _read_only_session(dbapi_connection: Any, _record: Any) -> None:
                    cursor = dbapi_connection.cursor()
                    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                    cursor.close()
                    dbapi_connection.commit()

            return engine
        if self._path is None:  # in memory: one connection per thread, as SQLAlchemy does it
            engine = sa.create_engine(parsed)
        else:
            quoted = urllib.parse.quote(self._path)
            busy = READ_BUSY_MS if self._readonly else WRITE_BUSY_MS

            def creator() -> sqlite3.Connection:
                # mode=rw once opened: a connection made after the file was deleted must fail,
                # never create an empty journal in its place; ro never writes at all.
                mode = "ro" if self._readonly else self._sqlite_mode
                return sqlite3.connect(
                    f"file:{quoted}?mode={mode}",
                    uri=True,
                    check_same_thread=False,
                    isolation_level=None,
                    timeout=busy / 1000,
                )

            engine = sa.create_engine("sqlite://", creator=creator, poolclass=sa.pool.QueuePool)
        durable, readonly = self._durable, self._readonly

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Transactions are begun explicitly (below): pysqlite's own would begin only before
            # DML, leaving reads and DDL outside of any transaction.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            if readonly:
                cursor.execute("PRAGMA query_only=1")
                cursor.execute(f"PRAGMA busy_timeout={READ_BUSY_MS}")
            else:
                # FULL makes every commit durable at once, which the write-ahead rule needs.
                # A backtest's journal can be written again from its data: it skips the syncs.
                cursor.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
                cursor.execute(f"PRAGMA busy_timeout={WRITE_BUSY_MS}")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # A writer takes the write lock at BEGIN, where the busy timeout applies; a read
            # transaction (a consistent snapshot of the WAL) never waits for a writer.
            write = conn.get_execution_options().get("rg_write")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def _open(self: Journal, create: bool) -> None:
        """Checks the journal is ours, creates or migrates it when allowed, remembers the
        file's identity and runs the quick check."""
        if self._path is not None and not os.path.exists(self._path):
            if self._readonly or not create:
                raise JournalError(f"no journal at {self._path}: the file does not exist")
            self._sqlite_mode = "rwc"
        try:
            with self._engine.connect() as c:
                version = read_version(c)
                foreign = version is None and self._has_tables(c)
        except JournalError:
            raise
        except Exception as e:
            raise JournalError(
                f"cannot open the journal at {self._label}: {self._describe(e)}"
            ) from None
        if not version:
            if foreign or self._readonly or not create:
                raise JournalError(
                    f"not a riskguard journal: {self._label} holds no riskguard schema;"
                    " nothing was changed"
                )
            self._set_wal()
            self._upgrade(create=True)
            version = SCHEMA_VERSION
        else:
            check_supported(version)
            if version < SCHEMA_VERSION and not self._readonly:
                self._upgrade(create=False)
                version = SCHEMA_VERSION
            if not self._readonly:
                self._set_wal()
        self._version = version
        self._sqlite_mode = "rw"
        if self._path is not None and not self._readonly:
            st = os.stat(self._path)
            self._identity = (st.st_dev, st.st_ino)
        problems = self.check(full=False)
        if problems:
            raise JournalError(f"the journal at {self._label} fails its checks: {problems}")

    def _has_tables(self: Journal, c: Connection) -> bool:
        """Whether a database without rg_meta holds anything: a SQLite file that holds tables
        is another application's, never made a journal. A PostgreSQL database may be shared."""
        if self.dialect != "sqlite":
            return False
        return bool(c.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar())

    def _set_wal(self: Journal) -> None:
        """Puts a SQLite journal in WAL mode (persistent in the file) if it is not yet: readers
        then work beside the writer."""
        if self._path is None:
            return
        try:
            raw = self._engine.raw_connection()
            try:
                cursor = raw.cursor()
                if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    cursor.execute("PRAGMA journal_mode=WAL")
                cursor.close()
            finally:
                raw.close()
        except Exception as e:
            raise JournalError(
                f"cannot open the journal at {self._label}: {self._describe(e)}"
            ) from None

    def _upgrade(self: Journal, *, create: bool) -> None:
        """Creates (``create``) or migrates the journal in one write transaction."""
        if self._readonly:
            raise JournalError(f"the journal at {self._label} is open read-only: not migrated")
        try:
            with self._transaction(fenced=False) as c:
                if self.dialect == "postgresql":  # two processes creating one journal
                    c.execute(sa.text(f"SELECT pg_advisory_xact_lock({LEASE_KEY + 1})"))
                version = read_version(c)
                if not version:
                    if not create or (version is None and self._has_tables(c)):
                        raise JournalError(
                            f"not a riskguard journal: {self._label}; nothing was changed"
                        )
                    create_schema(c)
                else:
                    upgrade_schema(c, version)
        except JournalError:
            raise
        except Exception as e:
            raise JournalError(
                f"cannot open the journal at {self._label}: {self._describe(e)}"
            ) from None

    def schema_version(self: Journal) -> int:
        """The schema version the journal holds (0 when it holds none).

        Raises JournalError: the database cannot be read."""
        with self._reading() as c:
            return read_version(c) or 0

    def migrate(self: Journal) -> None:
        """Brings an older journal up to :data:`SCHEMA_VERSION` (opening a writable journal
        already does).

        Raises JournalError: a journal written by a newer riskguard; a read-only journal.
        """
        self._upgrade(create=False)
        self._version = SCHEMA_VERSION

    def check(self: Journal, full: bool = True) -> list[str]:
        """Integrity problems; empty when the journal is sound. ``full``: SQLite's own
        integrity check (it reads the whole file: seconds on a large journal), the schema
        version and the newest snapshot restoring; else the quick check opening runs (the
        version and the newest snapshot).

        Raises JournalError: the database cannot be read at all.
        """
        problems = []
        if full and self.dialect == "sqlite":
            try:
                with self._reading() as c:
                    result = [r[0] for r in c.exec_driver_sql("PRAGMA integrity_check")]
            except JournalError as e:  # a file too damaged to check is a problem found
                result = [str(e)]
            if result != ["ok"]:
                problems.extend(result)
        version = self.schema_version()
        expected = range(1, SCHEMA_VERSION + 1) if self._readonly else (SCHEMA_VERSION,)
        if version not in expected:
            problems.append(f"schema version {version}, expected {SCHEMA_VERSION}")
        try:
            self.restore()
        except JournalError as e:
            problems.append(str(e))
        return problems


def sqlite_path(parsed: sa.engine.URL) -> str | None:
    """The absolute path of a SQLite URL's file, or None for an in-memory database. A
    ``file:`` URI (``sqlite:///file:/path/db?mode=ro&uri=true``) names its file too."""
    database = parsed.database
    if not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        database = urllib.parse.unquote(urllib.parse.urlsplit(database).path)
        if not database or database == ":memory:" or parsed.query.get("mode") == "memory":
            return None
    return os.path.abspath(database)
