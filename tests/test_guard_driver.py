"""The Guard's driver (docs/guard.md, "Composition and the driver"): the Guard is handed its
settings and parts by composition and never asks what kind of venue it has; the simulation
driver of ``riskguard.venues.paper`` feeds a simulated venue the Guard's data and hands back
its fills; a live venue's fills come through its stream."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import riskguard as rg
from riskguard.app.bootstrap import compose_guard, guard_settings
from riskguard.brokers import PaperBroker
from riskguard.guard import Guard
from riskguard.model import GuardSettings, Order
from riskguard.ports import LIVE, Driver, GuardParts
from riskguard.venues.paper import Simulation
from test_guard import LONG, SYM, T0, S, Simulated, Wrapped, config, run, until


class Counting:
    """A driver that counts what it is given and forwards it to a simulated venue."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.replay = inner.replay
        self.calls: list[tuple[str, int]] = []

    def start(self, seen: int) -> None:
        self.calls.append(("start", seen))
        self.inner.start(seen)

    def on_tick(self, symbol: str, price: float, ts: int) -> Any:
        self.calls.append(("tick", ts))
        return self.inner.on_tick(symbol, price, ts)

    def on_bar(self, *bar: Any) -> Any:
        self.calls.append(("bar", bar[-1]))
        return self.inner.on_bar(*bar)


class Composed:
    """A configuration whose composition hands the Guard the given driver."""

    def __init__(self, config: rg.Config, broker: Any, driver: Any) -> None:
        self.config, self.broker, self.driver = config, broker, driver

    def compose(self, *, broker: Any, journal: Any, alerter: Any) -> GuardParts:
        parts = compose_guard(self.config, broker=self.broker, journal=journal, alerter=alerter)
        return dataclasses.replace(parts, driver=self.driver)


def test_composition_gives_a_simulated_venue_the_simulation_driver_and_a_live_one_none(tmp_path):
    paper = PaperBroker()
    parts = compose_guard(config(tmp_path), broker=paper)
    try:
        assert isinstance(parts.driver, Simulation) and parts.driver.venue is paper
        assert isinstance(parts.driver, Driver) and parts.driver.replay
        assert parts.owns_store and parts.owns_alerts and parts.venue is paper
    finally:
        parts.store.close()
    (tmp_path / "live").mkdir()
    live = compose_guard(config(tmp_path / "live"), broker=Wrapped(PaperBroker()))
    try:
        assert live.driver is LIVE and not live.driver.replay
    finally:
        live.store.close()


def test_the_settings_are_the_configurations_values(tmp_path):
    cfg = config(
        tmp_path,
        broker={"symbols": ["BTC", "ETH"]},
        guard={"equity": 5e4, "call_timeout_s": 2.5, "max_clock_skew_s": "off"},
    ).model_copy(update={"journal": rg.Config(journal={"snapshot_interval_s": 60}).journal})
    settings = guard_settings(cfg)
    assert isinstance(settings, GuardSettings)
    assert settings.limits == cfg.to_limits()
    assert settings.symbols == frozenset({"BTC", "ETH"})
    assert (settings.equity, settings.call_timeout_s, settings.max_clock_skew_s) == (
        5e4,
        2.5,
        None,
    )
    assert settings.snapshot_interval_ns == 60 * S
    assert settings.action_queue == cfg.guard.action_queue
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.equity = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("bad", [None, "riskguard.toml", {"guard": {}}, rg.Config])
def test_a_guard_needs_a_configuration(bad):
    with pytest.raises(rg.RiskError, match=r"config must be a riskguard.Config.*Config.load"):
        Guard(bad)


def test_the_simulation_driver_forwards_the_data_and_returns_only_new_fills():
    paper = PaperBroker(allow_short=True)
    driver = Simulation(paper)
    assert driver.on_tick(SYM, 100.0, T0) == []
    run(paper.submit(Order(SYM, 1.0, client_order_id="a")))
    fills = driver.on_tick(SYM, 101.0, T0 + S)
    assert [(f.client_order_id, f.qty, f.price) for f in fills] == [("a", 1.0, 101.0)]
    assert driver.on_tick(SYM, 102.0, T0 + 2 * S) == []  # never handed back twice
    run(paper.submit(Order(SYM, -1.0, client_order_id="b")))
    fills = driver.on_bar(SYM, 103.0, 104.0, 102.0, 103.5, 10.0, T0 + 3 * S)
    assert [f.client_order_id for f in fills] == ["b"]
    restarted = Simulation(paper)
    restarted.start(len(paper.fill_log))  # a Guard that applied the history on start
    assert restarted.on_tick(SYM, 103.0, T0 + 4 * S) == []
    with pytest.raises(rg.RiskError):  # the venue's own checks: a ts going backwards
        driver.on_tick(SYM, 100.0, T0)


def test_the_guard_feeds_its_venue_through_its_driver_only(tmp_path):
    paper = PaperBroker(allow_short=True)
    venue = Simulated(paper)
    driver = Counting(Simulation(venue))
    composed = Composed(config(tmp_path), venue, driver)

    async def main() -> None:
        async with Guard(composed) as guard:  # type: ignore[arg-type]
            assert driver.calls == [("start", 0)]
            await guard.on_tick(SYM, 100.0, T0)
            decision = await guard.submit(LONG, T0)
            assert decision.approved
            await guard.on_tick(SYM, 100.5, T0 + S)  # the entry fills at this tick
            assert guard.status().positions[SYM]["qty"] == pytest.approx(decision.quantity)
            await guard.on_bar(SYM, 100.5, 101.0, 100.0, 100.8, 5.0, T0 + 2 * S)
            await guard.on_ticks([SYM, SYM], [100.9, 101.0], [T0 + 3 * S, T0 + 4 * S])
        ts = [c for c in driver.calls if c[0] != "start"]
        assert ts == [
            ("tick", T0),
            ("tick", T0 + S),
            ("bar", T0 + 2 * S),
            ("tick", T0 + 3 * S),
            ("tick", T0 + 4 * S),
        ]
        assert paper.position(SYM).qty == pytest.approx(decision.quantity)

    run(main())


def test_a_live_driver_is_never_fed_and_the_fills_come_through_the_stream(tmp_path):
    paper = PaperBroker(allow_short=True)
    venue = Wrapped(paper)  # no market-data interface: a live venue
    driver = Counting(LIVE)
    composed = Composed(config(tmp_path), venue, driver)

    async def main() -> None:
        async with Guard(composed, clock_check=False) as guard:  # type: ignore[arg-type]
            paper.on_tick(SYM, 100.0, T0)
            await guard.on_tick(SYM, 100.0, T0)
            decision = await guard.submit(LONG, T0)
            paper.on_tick(SYM, 100.5, T0 + S)  # the venue's own market fills the entry
            await until(lambda: SYM in guard.status().positions)
            assert guard.status().positions[SYM]["qty"] == pytest.approx(decision.quantity)
            await guard.on_tick(SYM, 100.5, T0 + S)
            await guard.on_bar(SYM, 100.5, 101.0, 100.0, 100.8, 5.0, T0 + 2 * S)
        assert driver.calls == [("start", 0), ("bar", T0 + 2 * S)]

    run(main())


def test_a_replay_through_the_driver_is_deterministic(tmp_path):
    """The same data through two fresh Guards on simulated venues: the same fills, in the
    same order, at the same prices (each market event waits for the orders it called for)."""

    async def replay(folder: Any) -> list[tuple[str, float, float]]:
        folder.mkdir()
        paper = PaperBroker(allow_short=True)
        async with Guard(config(folder, {"position_loss": "off"}), paper) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            await guard.submit(LONG, T0)
            for i, price in enumerate([100.5, 99.0, 95.0, 89.0, 88.0, 92.0], start=1):
                await guard.on_tick(SYM, price, T0 + i * S)
        return [(f.client_order_id.split("-")[0], f.qty, f.price) for f in paper.fill_log]

    first = replay(tmp_path / "a")
    second = replay(tmp_path / "b")
    fills_a, fills_b = run(first), run(second)
    assert fills_a == fills_b
    # The entry filled at the next tick, and the stop's exit at the tick after the crash.
    assert [price for _, _, price in fills_a] == [100.5, 88.0]
    assert sum(qty for _, qty, _ in fills_a) == pytest.approx(0.0)
