"""Row 10 of issue 14: a live Guard refuses data stamped more than ``guard.max_clock_skew_s``
ahead of the wall clock, as bad input, without moving the engine's clock; one bad stamp must
not make every later, correct tick "go backwards". Backtests (a simulated broker) do not look
at the wall clock."""

from __future__ import annotations

import time

import numpy as np
import pytest
import riskguard as rg
from riskguard.brokers import PaperBroker
from riskguard.guard import Guard
from test_guard import LONG, SYM, T0, S, Simulated, Wrapped, config, open_live, run

YEAR = 365 * 86_400 * S
LIMITS = {"position_loss": "off"}  # the stop at 90 is what a crash must trigger


def ahead() -> int:
    """Ten years ahead of the wall clock."""
    return time.time_ns() + 10 * YEAR


async def refuses_the_future(guard: Guard) -> None:
    """Every entry point refuses a stamp ten years ahead, and the engine's clock stays."""
    clock = guard.engine.ts
    future = ahead()
    with pytest.raises(rg.RiskError, match="ahead of the wall clock") as refused:
        await guard.on_tick(SYM, 100.0, future)
    assert str(future) in str(refused.value) and "max_clock_skew_s" in str(refused.value)
    with pytest.raises(rg.RiskError, match="ahead of the wall clock"):
        await guard.on_bar(SYM, 100.0, 101.0, 99.0, 100.0, 10.0, ahead())
    with pytest.raises(rg.RiskError, match=r"ts\[1\] .* ahead of the wall clock"):
        await guard.on_ticks([SYM, SYM], [100.0, 100.0], [clock, ahead()])
    with pytest.raises(rg.RiskError, match="ahead of the wall clock"):
        await guard.submit(LONG, ahead())
    assert guard.engine.ts == clock


def test_a_tick_years_ahead_is_refused_and_later_ticks_still_trigger_the_stop(tmp_path):
    broker = Wrapped(PaperBroker())

    async def first() -> None:
        async with Guard(config(tmp_path, LIMITS), broker) as guard:
            await open_live(guard, broker)
            await refuses_the_future(guard)
            events = await guard.on_tick(SYM, 99.0, T0 + 2 * S)  # correct ticks go on
            assert not events

    async def second() -> None:
        async with Guard(config(tmp_path, LIMITS), broker) as guard:
            assert guard.engine.ts < time.time_ns()  # the journal never held the bad stamp
            await refuses_the_future(guard)
            events = await guard.on_tick(SYM, 89.0, T0 + 3 * S)  # a crash through the stop
            assert [e.reason for e in events if e.kind == "exit_signal"] == ["stop_loss"]

    run(first())
    run(second())


def test_a_tick_within_the_allowed_skew_is_accepted(tmp_path):
    async def go() -> None:
        guard_settings = {"max_clock_skew_s": 300.0}
        broker = Wrapped(PaperBroker())
        async with Guard(config(tmp_path, guard=guard_settings), broker) as guard:
            soon = time.time_ns() + 60 * S  # a minute ahead: a venue clock a little fast
            await guard.on_tick(SYM, 100.0, soon)
            assert guard.engine.ts == soon

    run(go())


def test_backtests_and_an_unchecked_guard_take_any_time(tmp_path):
    async def go(folder: str, guard_settings: dict, broker: object, **kwargs: object) -> int:
        (tmp_path / folder).mkdir()
        cfg = config(tmp_path / folder, guard=guard_settings)
        async with Guard(cfg, broker, **kwargs) as guard:  # type: ignore[arg-type]
            future = ahead()
            await guard.on_tick(SYM, 100.0, future)
            await guard.on_ticks(np.array([0], np.uint32), [100.0], [future + S])
            return guard.engine.ts

    # A simulated broker: the data's time is not the wall clock's.
    assert run(go("sim", {}, Simulated(PaperBroker()))) > time.time_ns()
    # The check switched off, or overridden.
    assert run(go("off", {"max_clock_skew_s": "off"}, Wrapped(PaperBroker()))) > time.time_ns()
    assert run(go("no", {}, Wrapped(PaperBroker()), clock_check=False)) > time.time_ns()


def test_clock_check_can_be_forced_on_a_simulated_broker(tmp_path):
    async def go() -> None:
        async with Guard(config(tmp_path), Simulated(PaperBroker()), clock_check=True) as guard:
            with pytest.raises(rg.RiskError, match="ahead of the wall clock"):
                await guard.on_tick(SYM, 100.0, ahead())
            await guard.on_tick(SYM, 100.0, T0)

    run(go())
    with pytest.raises(rg.RiskError, match="clock_check"):
        Guard(config(tmp_path), clock_check="yes")  # type: ignore[arg-type]
