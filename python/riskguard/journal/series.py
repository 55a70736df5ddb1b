"""Time series in the journal (a backtest's equity curves), and snapshot retention.

Series: ``ts`` integer ns since the epoch, values floats (NaN stored as NULL), one name each.

Retention keeps the newest ``keep`` snapshots and, before them, the newest snapshot of each UTC
day, so that a journal grows by about one snapshot a day once it is older than ``keep``
snapshots, and a restore (which reads only the newest) is unaffected.
"""

# Journal's mixins annotate ``self: Journal`` (their methods use its attributes); mypy
# reports such self types on a base class as "misc".
# mypy: disable-error-code="misc"

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .errors import JournalError
from .schema import finite_or_none, series_table, snapshots_table

if TYPE_CHECKING:
    from .store import Journal

__all__ = [
    "DAY_NS",
    "SeriesMixin",
    "prune_snapshots",
    "read_series",
    "series_names",
    "series_rows",
]
log = logging.getLogger("riskguard.journal")

DAY_NS = 86_400_000_000_000


def series_rows(name: str, ts: Sequence[int], values: Sequence[float]) -> list[dict[str, Any]]:
    """The rows of series ``name``.

    Raises JournalError: a name that is not a non-empty str of at most 64 characters; lengths
    that differ.
    """
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise JournalError(f"name must be a str of 1 to 64 characters, got {name!r}")
    if len(ts) != len(values):
        raise JournalError(f"ts and values differ in length: {len(ts)} and {len(values)}")
    return [
        {"name": name, "ts": int(t), "value": finite_or_none(float(v))}
        for t, v in zip(ts, values, strict=True)
    ]


def replace_series(c: Connection, name: str, rows: list[dict[str, Any]]) -> None:
    """Replaces series ``name`` by ``rows`` (inside the caller's transaction)."""
    c.execute(sa.delete(series_table).where(series_table.c.name == name))
    if rows:
        c.execute(sa.insert(series_table), rows)


def read_series(c: Connection, name: str) -> tuple[list[int], list[float]]:
    """Series ``name`` as ``(ts, values)`` in time order (NULL read as NaN)."""
    rows = c.execute(
        sa.select(series_table.c.ts, series_table.c.value)
        .where(series_table.c.name == name)
        .order_by(series_table.c.ts)
    ).all()
    return [r[0] for r in rows], [math.nan if r[1] is None else r[1] for r in rows]


def series_names(c: Connection) -> list[str]:
    """The names of the stored series, sorted."""
    return sorted(r[0] for r in c.execute(sa.select(series_table.c.name).distinct()))


def prune_snapshots(c: Connection, keep: int, daily: bool) -> int:
    """Deletes every snapshot but the newest ``keep`` and (``daily``) the newest of each UTC day
    before them; returns how many it deleted (inside the caller's transaction)."""
    s = snapshots_table
    cut = c.execute(sa.select(s.c.id).order_by(s.c.id.desc()).offset(keep - 1).limit(1)).scalar()
    if cut is None:  # fewer than keep snapshots
        return 0
    doomed = sa.delete(s).where(s.c.id < cut)
    if daily:
        day = s.c.ts // DAY_NS  # integer division on both databases
        newest_of_day = sa.select(sa.func.max(s.c.id)).where(s.c.id < cut).group_by(day)
        doomed = doomed.where(s.c.id.not_in(newest_of_day.scalar_subquery()))
    return int(c.execute(doomed).rowcount or 0)


class SeriesMixin:
    """:class:`~riskguard.journal.Journal`'s time series and snapshot retention."""

    def prune(self: Journal, keep: int = 1000, *, daily: bool = True) -> int:
        """Deletes every snapshot but the newest ``keep`` and (``daily``) the newest of each
        UTC day before them; returns how many it deleted. A restore reads only the newest.
        (SQLite reuses the freed pages; the file itself shrinks only by a VACUUM.)

        Raises JournalError: ``keep`` is not an int >= 1; the journal is closed or read-only;
        the write failed.
        """
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise JournalError(f"keep must be an int >= 1, got {keep!r}")
        self._check_open()
        self._flush_pending()
        return self._commit(lambda c: prune_snapshots(c, keep, daily))

    def _snapshots_written(self: Journal, n: int) -> None:
        """The automatic retention: every hundred snapshots (a tenth of ``keep_snapshots``
        when that is less), not at every commit."""
        if not n or self._keep is None:
            return
        self._since_prune += n
        if self._since_prune < max(1, min(100, self._keep // 10)):
            return
        self._since_prune = 0
        try:
            self.prune(self._keep)
        except JournalError as e:  # housekeeping: the next round tries again
            log.warning("pruning the journal's snapshots failed: %s", e)

    def write_series(self: Journal, name: str, ts: Sequence[int], values: Sequence[float]) -> None:
        """Stores the time series ``name`` durably, replacing any earlier one of that name:
        ``ts`` integer ns since the epoch, ``values`` floats (NaN stored as NULL), of one
        length. A backtest stores its equity curves this way.

        Raises JournalError: a name that is not a non-empty str of at most 64 characters;
        lengths that differ; the journal is closed or read-only; the write failed.
        """
        rows = series_rows(name, ts, values)
        self._check_open()
        self._flush_pending()
        self._commit(lambda c: replace_series(c, name, rows))

    def series(self: Journal, name: str) -> tuple[list[int], list[float]]:
        """The time series ``name`` as ``(ts, values)`` in time order (NULL read as NaN);
        empty lists when there is none.

        Raises JournalError: the read failed."""
        if self._version < 2:
            return [], []
        with self._reading() as c:
            return read_series(c, name)

    def series_names(self: Journal) -> list[str]:
        """The names of the stored time series, sorted.

        Raises JournalError: the read failed."""
        if self._version < 2:
            return []
        with self._reading() as c:
            return series_names(c)
