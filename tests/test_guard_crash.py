"""Crash consistency: a Guard replaying real minute bars is SIGKILLed at random moments; each
time, the journal must pass its checks, hold exactly the state of the last commit, keep every
decision the Guard acknowledged, and a restarted Guard must come back with a kill switch engaged
before the crash still engaged."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from guard_replay import BARS, bars, config, replay
from riskguard.guard import Guard
from riskguard.journal import Journal

SCRIPT = Path(__file__).with_name("guard_replay.py")
SEEDS = range(20)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[bytes], float, int]:
    """Every snapshot image of an uninterrupted replay, how long the replay took and how many
    acknowledgements it made."""
    db = tmp_path_factory.mktemp("reference") / "journal.db"
    acks: list[str] = []
    started = time.perf_counter()
    asyncio.run(replay(db, ack=acks.append))
    took = time.perf_counter() - started
    with Journal(f"sqlite:///{db}") as j:
        return [image for _, _, image in j.snapshots()], took, len(acks)


def run_and_kill(db: Path, seed: int, acks: int, gap: float) -> tuple[list[str], bool]:
    """Starts the replay, SIGKILLs it a random moment after a given acknowledgement, and
    returns what it acknowledged and whether it was killed before finishing. Seed ``i`` of
    ``n`` waits for an acknowledgement in the i-th ``n``-th of the run's ``acks``, then up to
    ``gap`` seconds (about the time between two), so that the seeds cover the whole run
    however fast this machine runs it, and land between commits as well as on them."""
    env = dict(os.environ, PYTHONPATH=str(SCRIPT.parent))
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    lines: list[str] = []
    draw = random.Random(seed)
    target = 1 + int((seed + draw.random()) * acks / len(SEEDS))
    due = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            if len(lines) >= target:
                due.set()
        due.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert due.wait(300), "the replay did not get there"
    time.sleep(gap * draw.random())
    killed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait(60)
    reader.join(60)
    return lines, killed and "DONE" not in lines


@dataclass
class Crash:
    """One killed replay: its journal, what it acknowledged, and whether it was cut short."""

    db: Path
    acks: list[str]
    cut_short: bool


@pytest.fixture(scope="module")
def crashes(
    tmp_path_factory: pytest.TempPathFactory, reference: tuple[list[bytes], float, int]
) -> dict[int, Crash]:
    """Every seed's replay, killed at its moment."""
    _, took, total = reference
    out = {}
    for seed in SEEDS:
        db = tmp_path_factory.mktemp(f"crash{seed}") / "journal.db"
        lines, cut_short = run_and_kill(db, seed, total, gap=took / total)
        acks = [line.removeprefix("ACK ") for line in lines if line.startswith("ACK ")]
        out[seed] = Crash(db, acks, cut_short)
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_a_crash_at_any_moment_loses_nothing_committed(
    seed: int, crashes: dict[int, Crash], reference: tuple[list[bytes], float, int]
) -> None:
    images, _, _ = reference
    crash = crashes[seed]
    db, acks = crash.db, crash.acks

    # Opening runs SQLite's integrity check and restores the newest snapshot: both must pass.
    with Journal(f"sqlite:///{db}") as j:
        assert j.check() == []
        stored = j.snapshots()
        decisions = j.decisions()
    assert 1 <= len(stored) <= len(images)
    # Exactly the state of the last commit: the uninterrupted replay's snapshot at that point.
    assert stored[-1][2] == images[len(stored) - 1]

    # Every decision acknowledged to the caller is in the journal, as acknowledged.
    ts_of = [ts for ts, _ in bars(BARS)]
    journaled = {(d["ts"], d["approved"]) for d in decisions}
    for ack in acks:
        if ack.startswith("decision "):
            _, i, approved = ack.split()
            assert (ts_of[int(i)], bool(int(approved))) in journaled

    async def restart() -> tuple[bytes, bool]:
        guard = Guard(config(db))
        restored = guard.engine.to_bytes()
        async with guard:
            return restored, guard.status().kill_switch

    restored, kill_switch = asyncio.run(restart())
    assert restored == stored[-1][2]
    if "kill" in acks and "reset" not in acks:
        # Unless the reset was committed and the crash came before its acknowledgement.
        with Journal(f"sqlite:///{db}") as j:
            reset_committed = any(c.action == "reset" for c in j.controls())
        assert kill_switch or reset_committed, (
            "a kill switch engaged before the crash must survive it"
        )
    if "reset" in acks:
        assert not kill_switch
    with Journal(f"sqlite:///{db}") as j:
        assert j.check() == []


def test_the_runs_were_cut_short_at_every_stage(crashes: dict[int, Crash]) -> None:
    """The crashes landed mid-run, some of them while the kill switch was engaged: the checks
    above were not all made on journals of finished runs."""
    assert sum(c.cut_short for c in crashes.values()) >= len(SEEDS) // 2
    engaged = [c for c in crashes.values() if "kill" in c.acks and "reset" not in c.acks]
    assert any(c.cut_short for c in engaged)
