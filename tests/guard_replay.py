"""A deterministic Guard scenario over real BTCUSDT minute bars, for the crash-consistency tests.

Run as a script, it replays the scenario against a SQLite journal and prints one ``ACK`` line
(flushed) each time the Guard acknowledges something to its caller, so that a parent process
that SIGKILLs it knows what it was told before the crash::

    python tests/guard_replay.py JOURNAL.db [BARS]

Imported, :func:`replay` runs the same scenario in-process, as the reference.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from riskguard import Config, Signal
from riskguard.guard import Guard

DATA = Path(__file__).resolve().parent / "data" / "btcusdt-perp-1m-2022-01.csv.gz"
SYMBOL = "BTCUSDT"
BARS = 12_000
SIGNAL_EVERY = 37  # bars between signals
KILL_AT = 5_000  # the kill switch is engaged at this bar...
RESET_AT = 8_000  # ...and reset at this one


def bars(n: int = BARS) -> list[tuple[int, float]]:
    """``(ts, close)`` of the first ``n`` bars, ``ts`` in ns since the epoch, UTC."""
    out = []
    with gzip.open(DATA, "rt") as f:
        for row in csv.DictReader(f):
            when = datetime.strptime(row["timestamp"], "%Y-%m-%d %H:%M:%S.%f")
            ts = int(when.replace(tzinfo=timezone.utc).timestamp()) * 1_000_000_000
            out.append((ts, float(row["close"])))
            if len(out) == n:
                break
    return out


def config(journal: Path) -> Config:
    """The scenario's configuration: a paper broker that may short, a journal at ``journal``
    snapshotting every 10 minutes of data, alerts logged beside it."""
    return Config(
        # Every snapshot is kept: the crash tests compare them one by one with a reference run.
        journal={
            "url": f"sqlite:///{journal}",
            "snapshot_interval_s": 600,
            "keep_snapshots": "off",
        },
        broker={
            "cash": 100_000.0,
            "allow_short": True,
            "commission": {"model": "percent_of_notional", "rate": 0.0004},
        },
        alerts={"sinks": [{"type": "log", "path": str(journal.with_suffix(".alerts.log"))}]},
        # Signals carry no confidence, volume, spread or trend data: those filters are off.
        limits={"signal_filters": False, "require_trend": False, "max_hours_no_progress": 6},
    )


def signal_at(i: int, close: float) -> Signal:
    """The i-th bar's signal: long on even signal numbers, short on odd ones, with a 0.6 %
    stop and a 1.2 % target."""
    if (i // SIGNAL_EVERY) % 2 == 0:
        return Signal(SYMBOL, "long", close, stop=close * 0.994, target=close * 1.012)
    return Signal(SYMBOL, "short", close, stop=close * 1.006, target=close * 0.988)


async def replay(
    journal: Path, n: int = BARS, ack: Callable[[str], None] = lambda line: None
) -> Guard:
    """Runs the scenario over ``n`` bars and closes the Guard; ``ack`` hears each
    acknowledgement (``decision <i> <approved>``, ``kill``, ``reset``)."""
    guard = Guard(config(journal))
    async with guard:
        for i, (ts, close) in enumerate(bars(n)):
            await guard.on_tick(SYMBOL, close, ts)
            if i == KILL_AT:
                await guard.kill("scenario kill", actor="replay")
                ack("kill")
            elif i == RESET_AT:
                await guard.reset("kill_switch", confirm=True, actor="replay")
                ack("reset")
            if i % SIGNAL_EVERY == 0:
                decision = await guard.submit(signal_at(i, close))
                ack(f"decision {i} {int(decision.approved)}")
    return guard


def _print(line: str) -> None:
    print(f"ACK {line}", flush=True)


if __name__ == "__main__":
    asyncio.run(replay(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else BARS, _print))
    print("DONE", flush=True)
