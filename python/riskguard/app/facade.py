"""The one surface the faces call: the command line (:mod:`riskguard.app.cli`) and the coming
API call these functions and nothing else of the package, and present what they return.

- the journal: :func:`status` (read-only), :func:`record_control` (kill, pause, resume,
  reset), :func:`check_journal`, :func:`prune_journal`;
- runs: :func:`run_backtest`, :func:`run_optimize`, :func:`write_report`, :func:`run_demo`;
- the configuration: :func:`validate_config`, :func:`show_config`, :func:`config_variables`;
- :func:`breaker_names`, :func:`check_breaker`, :func:`jsonable`, :func:`version`.

Journals are opened as the commands need them (DESIGN.md, principle 7): reads open an existing
journal read-only (no DDL, no migration, a quick check; they work beside a writing Guard), and
control actions and pruning open an existing journal to write (``create=False``): a mistyped
path never creates an empty journal that no Guard reads.

Nothing heavy is imported until a function runs, so that ``riskguard --help`` stays quick.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from riskguard._core import RiskError
from riskguard.errors import ConfigError, JournalError
from riskguard.redact import safe_url

if TYPE_CHECKING:
    from riskguard.app.backtest import BacktestResult
    from riskguard.app.config import Setting
    from riskguard.app.optimize import OptimizeResult
    from riskguard.journal import Journal

__all__ = [
    "CONTROL_ACTIONS",
    "ConfigView",
    "breaker_names",
    "check_breaker",
    "check_journal",
    "config_variables",
    "jsonable",
    "prune_journal",
    "record_control",
    "run_backtest",
    "run_optimize",
    "run_demo",
    "show_config",
    "status",
    "validate_config",
    "version",
    "write_report",
]

CONTROL_ACTIONS = ("kill", "pause", "resume", "reset")


def version() -> str:
    """riskguard's version."""
    from riskguard import __version__

    return __version__


# ---------------------------------------------------------------------------------------------
# The journal


@contextmanager
def _open(url: str, *, write: bool = False) -> Iterator[Journal]:
    """The journal at ``url``, which must exist. Read-only unless ``write`` (control actions,
    pruning).

    Raises JournalError: no journal there; one that cannot be read.
    """
    from riskguard.app.bootstrap import open_journal, open_journal_readonly

    opened = open_journal(url, create=False) if write else open_journal_readonly(url)
    with opened as journal:
        yield journal


def iso(ns: int | None) -> str | None:
    """``ns`` since the epoch as UTC ISO 8601 (``2022-01-04T08:15:00Z``)."""
    if ns is None:
        return None
    seconds, rest = divmod(int(ns), 1_000_000_000)
    when = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    when = when.replace(microsecond=rest // 1000)
    return when.isoformat().replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """``value`` ready for strict JSON: NaN is null, infinities ``"inf"`` and ``"-inf"``,
    tuples lists, keys strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def status(url: str) -> dict[str, Any]:
    """The status of the journal at ``url`` (read-only): :class:`~riskguard.model.RiskStatus`,
    the projection the Guard shows too, of its newest snapshot, with its pending control
    actions and its lease holder, plus ``journal`` (the URL, its password masked) and
    ``snapshot_ts``; times as UTC ISO 8601.

    Raises JournalError: no journal there; no snapshot yet; one that cannot be restored.
    """
    from riskguard.model import RiskStatus

    with _open(url) as journal:
        engine = journal.restore()
        if engine is None:
            raise JournalError("the journal has no engine state yet")
        data = RiskStatus.of(
            engine, pending_controls=journal.pending_controls(), lease=journal.lease_holder()
        ).to_dict()
        label = safe_url(journal.url)
    for b in data["breakers"]:
        b["tripped_at"], b["cooldown_until"] = iso(b["tripped_at"]), iso(b["cooldown_until"])
    for c in data["pending_controls"]:
        c["ts"] = iso(c["ts"])
        del c["handled_ts"]  # pending: never handled
    if data["lease"] is not None:
        data["lease"]["since"] = iso(data["lease"]["since"])
    return {"journal": label, "snapshot_ts": iso(engine.ts), **data}


def breaker_names() -> list[str]:
    """The engine's breakers, by name."""
    from riskguard._core import RiskEngine

    return [b.name for b in RiskEngine().breakers()]


def check_breaker(name: str) -> None:
    """Raises RiskError unless ``name`` is one of the engine's breakers (naming them)."""
    known = breaker_names()
    if name not in known:
        raise RiskError(f"unknown breaker {name!r}; known: {', '.join(known)}")


def record_control(
    url: str, action: str, reason: str, name: str | None = None, *, actor: str
) -> tuple[int, int]:
    """Records a control action (``kill``, ``pause``, ``resume``, or ``reset`` of the breaker
    ``name``) for the Guard on the journal at ``url``, which must exist. Returns the control's
    id and the time it was recorded (ns since the epoch). A running Guard acts on it within its
    control poll; a Guard started later applies it on start.

    Raises RiskError: an unknown action or breaker. JournalError: no journal there; one that
    cannot record it.
    """
    if action not in CONTROL_ACTIONS:
        raise RiskError(f"unknown control action {action!r}; known: {', '.join(CONTROL_ACTIONS)}")
    if action == "reset":
        check_breaker(name or "")
    with _open(url, write=True) as journal:
        ts = time.time_ns()
        control_id = journal.record_control(action, ts, name=name, reason=reason, actor=actor)
    return control_id, ts


def check_journal(url: str) -> list[str]:
    """The full integrity check of the journal at ``url`` (read-only): its problems, none when
    it is sound.

    Raises JournalError: no journal there; one that cannot be read.
    """
    with _open(url) as journal:
        return journal.check(full=True)


def prune_journal(url: str, keep: int, *, daily: bool = True) -> int:
    """Deletes the snapshots of the journal at ``url`` but the newest ``keep`` and, with
    ``daily``, the newest of each UTC day before them. Returns how many were deleted.

    Raises RiskError: a Guard holds the journal (it prunes its own). JournalError: no journal
    there.
    """
    with _open(url, write=True) as journal:
        holder = journal.lease_holder()
        if holder is not None:
            raise RiskError(
                f"the journal is held by {holder['holder']} (pid {holder['pid']} on "
                f"{holder['host']}): it prunes its own snapshots; stop it to prune by hand"
            )
        return journal.prune(keep, daily=daily)


# ---------------------------------------------------------------------------------------------
# Runs


def run_backtest(
    prices: str | Path,
    *,
    signals: str | Path | None = None,
    strategy: str | None = None,
    config: str | Path | None = None,
    journal: str | None = None,
    out: str | Path | None = None,
    symbol: str | None = None,
    timestamp_format: str | None = None,
    columns: Mapping[str, str] | None = None,
    console: Any = None,
    profile: str | None = None,
    attribution: bool = False,
    walk_forward: int | None = None,
    auto_reset_after: float | None = None,
    groups: Sequence[str] | None = None,
) -> BacktestResult:
    """:func:`riskguard.app.backtest.run_backtest` with the configuration loaded from
    ``config`` (default ``riskguard.toml`` if it exists, and ``RG_*`` variables), its
    ``profile`` replaced by ``profile`` when given, and the prices file's column names in
    ``columns`` (by field: ``{"price": "bid"}``).
    ``attribution``, ``walk_forward``, ``auto_reset_after`` and ``groups`` are passed on as
    they are (:func:`riskguard.app.backtest.backtest_frames`).

    Raises ConfigError, DataError, RiskError: as ``run_backtest`` and ``Config.load``.
    """
    from riskguard.app.backtest import Columns
    from riskguard.app.backtest import run_backtest as run
    from riskguard.app.config import Config

    return run(
        prices,
        signals=signals,
        strategy=strategy,
        config=Config.load(config) if profile is None else Config.load(config, profile=profile),
        journal=journal,
        out=out,
        symbol=symbol,
        timestamp_format=timestamp_format,
        columns=Columns(**dict(columns or {})),
        console=console,
        attribution=attribution,
        walk_forward=walk_forward,
        auto_reset_after=auto_reset_after,
        groups=groups,
    )


def run_optimize(
    prices: str | Path,
    grid: str | Path,
    *,
    signals: str | Path | None = None,
    strategy: str | None = None,
    config: str | Path | None = None,
    profile: str | None = None,
    objective: str | None = None,
    drawdown_cap: float | None = None,
    windows: int | None = None,
    train: float | None = None,
    out: str | Path | None = "optimized.toml",
    symbol: str | None = None,
    timestamp_format: str | None = None,
    columns: Mapping[str, str] | None = None,
    console: Any = None,
) -> OptimizeResult:
    """:func:`riskguard.app.optimize.run_optimize` with the configuration loaded from
    ``config`` (default ``riskguard.toml`` if it exists, and ``RG_*`` variables), on
    ``profile`` when given (else the grid file's, else the configuration's own), and the
    prices file's column names in ``columns``.

    Raises ConfigError, DataError, RiskError: as ``run_optimize`` and ``Config.load``.
    """
    from riskguard.app.backtest import Columns
    from riskguard.app.config import Config
    from riskguard.app.optimize import run_optimize as run

    return run(
        prices,
        grid,
        signals=signals,
        strategy=strategy,
        # The profile under the file's own [limits], as `backtest --profile` loads it.
        config=Config.load(config) if profile is None else Config.load(config, profile=profile),
        profile=profile,
        objective=objective,
        drawdown_cap=drawdown_cap,
        windows=windows,
        train=train,
        out=out,
        symbol=symbol,
        timestamp_format=timestamp_format,
        columns=Columns(**dict(columns or {})),
        console=console,
    )


def write_report(journal: str, out: str | Path) -> list[Path]:
    """:func:`riskguard.app.report.write_report`: the report of a journal, written to
    ``out``; the paths written."""
    from riskguard.app.report import write_report as write

    return write(journal, out)


def run_demo(
    *, seed: int = 7, out: str | Path | None = None, console: Any = None, venue: str = "paper"
) -> Any:
    """The demo, printed on ``console``: :func:`riskguard.app.demo.run_demo` (``venue``
    ``"paper"``), or :func:`riskguard.app.live_demo.run_live_demo` (``"fake"``: the live stack
    against the fake venue on 127.0.0.1).

    Raises ConfigError: an unknown ``venue``.
    """
    if venue == "fake":
        from riskguard.app.live_demo import run_live_demo

        return run_live_demo(seed=seed, out=out, console=console)
    if venue != "paper":
        raise ConfigError([("--venue", f"must be paper or fake, got {venue!r}")])
    from riskguard.app.demo import run_demo as run

    return run(seed=seed, out=out, console=console)


def run_live(
    config: str | Path | None, strategy: str, *, say: Any = print, status_s: float = 60.0
) -> Any:
    """:func:`riskguard.app.live.run_live` on the configuration at ``config`` (default
    ``riskguard.toml`` and ``RG_*``) with the strategy named ``strategy``
    (:func:`riskguard.app.live.load_strategy`), until SIGINT or SIGTERM.

    Raises ConfigError: an invalid configuration, or one without a live venue. RiskError: a
    strategy that cannot be loaded. Whatever starting the Guard raises.
    """
    import asyncio

    from riskguard.app.config import Config
    from riskguard.app.live import load_strategy
    from riskguard.app.live import run_live as run

    loaded = Config.load(config)
    chosen = load_strategy(strategy)
    return asyncio.run(run(loaded, chosen, say=say, status_s=status_s))


# ---------------------------------------------------------------------------------------------
# The configuration


def validate_config(path: str | Path) -> list[tuple[str, str]]:
    """The problems of the configuration file at ``path``, loaded as riskguard loads it (with
    the ``RG_*`` variables applied) and checked as building a Guard checks it
    (:meth:`Config.problems`), as ``(path, message)`` pairs; none when it is valid. A problem
    of the file itself (missing, not TOML) has the file's path as its path.
    """
    from riskguard.app.config import Config, ConfigError

    try:
        # Config.load runs Config.problems, the checks a Guard's construction relies on.
        Config.load(path).check()
    except ConfigError as e:
        return list(e.problems)
    return []


def config_variables() -> list[str]:
    """The ``RG_*`` variables of the environment, by name."""
    return sorted(v for v in os.environ if v.upper().startswith("RG_"))


@dataclass(frozen=True)
class ConfigView:
    """The effective configuration: the ``file`` read (``found`` if it exists) and every
    setting by dotted path, with its source (:class:`~riskguard.app.config.Setting`)."""

    file: Path
    found: bool
    settings: dict[str, Setting]


def show_config(path: str | Path | None = None) -> ConfigView:
    """The effective configuration of ``path`` (default ``riskguard.toml`` in the working
    directory), each setting with its source (:meth:`Config.sources`).

    Raises ConfigError: as :meth:`Config.load`.
    """
    from riskguard.app.config import DEFAULT_FILE, Config

    settings = Config.sources(path)
    file = DEFAULT_FILE if path is None else Path(path)
    return ConfigView(file, file.is_file(), settings)
