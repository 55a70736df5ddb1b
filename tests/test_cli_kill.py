"""``riskguard kill`` from another process reaches a running Guard: within a second of the
command, the Guard is HALTED with its kill switch engaged, and flat.

A child process runs a Guard over the real BTCUSDT minute bars, one bar a millisecond or so,
holding one long position (wide stop and target, no exit that could close it early). Once the
position is open it prints ``READY``; the test then runs ``python -m riskguard kill`` and
watches the journal, and the child reports when its Guard is halted and flat.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from riskguard.journal import Journal

TESTS = Path(__file__).resolve().parent
HANG_GUARD_S = 10.0

CHILD = """
import asyncio, json, sys, time
from pathlib import Path

from guard_replay import SYMBOL, bars
from riskguard import Config, Signal
from riskguard.guard import Guard


async def main(db: Path) -> None:
    config = Config(
        journal={"url": f"sqlite:///{db}", "snapshot_interval_s": 600},
        broker={"cash": 100_000.0, "commission": {"model": "percent_of_notional", "rate": 4e-4}},
        alerts={"sinks": [{"type": "log", "path": str(db.with_suffix(".alerts.log"))}]},
        # One position that nothing but the kill closes: no filters, no time exit, no
        # position-loss breaker, a stop 20 % away and a target 50 % away.
        limits={
            "signal_filters": False,
            "require_trend": False,
            "max_hours_no_progress": "off",
            "position_loss": "off",
        },
        guard={"control_poll_s": 0.5},
    )
    ready = False
    async with Guard(config) as guard:
        for i, (ts, close) in enumerate(bars(45_000)):
            await guard.on_tick(SYMBOL, close, ts)
            if i == 0:
                signal = Signal(SYMBOL, "long", close, stop=close * 0.8, target=close * 1.5)
                decision = await guard.submit(signal)
                assert decision.approved, decision.codes
            status = guard.status()
            if not ready and status.positions:
                ready = True
                print("READY", json.dumps(status.positions), flush=True)
            if ready and status.kill_switch and status.state == "HALTED" and not status.positions:
                print("HALTED_FLAT", time.time_ns(), i, flush=True)
                return
            await asyncio.sleep(0.001)
    print("END", flush=True)


asyncio.run(main(Path(sys.argv[1])))
"""


def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The child's stdout lines as they come; None once it closes."""
    out: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            out.put(line.strip())
        out.put(None)

    threading.Thread(target=read, daemon=True).start()
    return out


def _wait_for(lines: queue.Queue[str | None], word: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {word} within {timeout} s; the child said {seen}") from None
        if line is None:
            raise AssertionError(f"the child ended before {word}; it said {seen}")
        seen.append(line)
        if line.split()[0] == word:
            return line


def test_kill_from_the_command_line_halts_and_flattens_a_running_guard(tmp_path):
    db = tmp_path / "journal.db"
    url = f"sqlite:///{db}"
    script = tmp_path / "guard_child.py"
    script.write_text(CHILD)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH")) if p)
    env = {k: v for k, v in env.items() if not k.upper().startswith("RG_")}
    errors = tmp_path / "guard_child.err"
    stderr = errors.open("w")
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
    )
    try:
        lines = _lines(proc)
        ready = _wait_for(lines, "READY", 120)
        held = json.loads(ready.split(maxsplit=1)[1])
        assert held["BTCUSDT"]["qty"] > 0

        kill = subprocess.run(
            [sys.executable, "-m", "riskguard", "kill", "--journal", url, "--reason", "test"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert kill.returncode == 0, kill.stderr
        assert proc.poll() is None, "the Guard must still be running when the kill lands"

        with Journal(url) as journal:
            deadline = time.monotonic() + HANG_GUARD_S
            while True:
                engine = journal.restore()
                assert engine is not None
                snap = engine.snapshot()
                switch = next(b for b in engine.breakers() if b.name == "kill_switch")
                if (
                    switch.status == "tripped"
                    and snap.state.name == "HALTED"
                    and not snap.positions
                ):
                    break
                assert time.monotonic() < deadline, "the Guard never halted and went flat"
                time.sleep(0.02)
            (control,) = journal.controls()
            orders = journal.orders()
            fills = journal.fills()
        assert control.action == "kill" and control.reason == "test"
        assert control.actor.startswith("cli:")
        assert f"control {control.id} " in kill.stdout
        # The requirement: acted on within a second of the command.
        assert control.handled_ts is not None
        assert control.handled_ts - control.ts <= 1e9, control.handled_ts - control.ts

        halted = _wait_for(lines, "HALTED_FLAT", HANG_GUARD_S)
        flat_at = int(halted.split()[1])
        assert flat_at - control.ts <= 1e9, flat_at - control.ts

        # It was the kill that closed the position: a flatten caused by the kill switch,
        # filled for the whole position.
        flattens = [
            o
            for o in orders
            if json.loads(o["details"]).get("purpose") == "flatten"
            and json.loads(o["details"]).get("cause") == "kill_switch"
        ]
        assert flattens, orders
        ids = {o["client_order_id"] for o in flattens}
        closed = sum(f["qty"] for f in fills if f["client_order_id"] in ids)
        assert closed < 0
        assert abs(sum(f["qty"] for f in fills)) <= 1e-9 * held["BTCUSDT"]["qty"]
        assert proc.wait(30) == 0, errors.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        stderr.close()
