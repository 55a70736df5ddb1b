"""asv benchmarks for ``riskguard.Guard`` and its journal: the tick path when nothing fires
(with a broker fed by the exchange, and with the paper broker the Guard feeds itself), and the
journal's two kinds of write (group-committed decisions, durable latched state).

Each Guard runs on its own event loop with a SQLite journal in a temporary directory and
alerts logged to a file there; its clock only moves forward, so each timed call feeds ticks
later than the previous call's. ``benches/compare.py`` times the same paths against the bare
engine and against one commit per decision.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import riskguard as rg
from riskguard.brokers import Capabilities, Fill, Order, OrderType, PaperBroker, Position
from riskguard.guard import Guard
from riskguard.journal import Journal

from .engine import random_walk

NS = 1_000_000_000
T0 = 1_641_168_000 * NS  # Monday 3 January 2022, 00:00 UTC
SYMBOLS = [f"SYM{k}" for k in range(10)]
TICKS = 20_000
DECISIONS = 300


class ExchangeBroker:
    """A broker whose market data comes from elsewhere (an exchange feed): the Guard does not
    feed it, and nothing here fills. It stands for a live connection at zero latency."""

    capabilities = Capabilities(frozenset(OrderType), True, True)

    async def submit(self, order: Order) -> Order:
        return order

    async def cancel(self, client_order_id: str) -> Order:
        raise rg.RiskError(f"unknown order {client_order_id!r}")

    async def cancel_all(self, symbol: str | None = None) -> list[Order]:
        return []

    async def positions(self) -> dict[str, Position]:
        return {}

    async def balance(self) -> float:
        return 1e6

    async def open_orders(self) -> list[Order]:
        return []

    async def fills(self, *, follow: bool = True) -> AsyncIterator[Fill]:
        if follow:
            await asyncio.Event().wait()
        return
        yield  # an async generator with nothing to give


def ticks(n: int = TICKS, seed: int = 7) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``n`` quiet ticks over ``SYMBOLS``: names, prices and gaps (ns) from the first tick."""
    rng = np.random.default_rng(seed)
    start = rng.uniform(10.0, 1000.0, len(SYMBOLS))
    ids, prices, ts = random_walk(rng, start, np.full(len(SYMBOLS), 1e-4), n, 0)
    return [SYMBOLS[i] for i in ids], prices, ts


class GuardRun:
    """A started Guard with no position, on its own loop, and the engine it wraps as a twin
    fed the same ticks. Nothing fires: no position can lose, and the volatility breaker is
    off."""

    def __init__(self, simulated: bool) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rg-bench-"))
        config = rg.Config(
            journal={"url": f"sqlite:///{self.dir / 'journal.db'}"},
            alerts={"sinks": [{"type": "log", "path": str(self.dir / "alerts.log")}]},
            broker={"cash": 1e6},
            limits={"volatility_spike": "off"},
        )
        broker = PaperBroker(1e6) if simulated else ExchangeBroker()
        self.loop = asyncio.new_event_loop()
        self.guard = Guard(config, broker)
        self.loop.run_until_complete(self.guard.start())
        self.engine = rg.RiskEngine(config.to_limits(), 1e6)
        for s in SYMBOLS:
            self.engine.symbol_id(s)
        self.names, self.prices, self.gaps = ticks()
        self.prices = [float(p) for p in self.prices]
        self.t = T0

    def next_ts(self) -> list[int]:
        """The stream's timestamps, after every tick fed so far."""
        ts = [int(self.t + g) for g in self.gaps]
        self.t = ts[-1] + NS
        return ts

    def feed_guard(self, ts: list[int]) -> int:
        async def feed() -> int:
            fired = 0
            on_tick = self.guard.on_tick
            for s, p, t in zip(self.names, self.prices, ts, strict=True):
                fired += len(await on_tick(s, p, t))
            return fired

        return self.loop.run_until_complete(feed())

    def feed_engine(self, ts: list[int]) -> int:
        fired = 0
        on_tick = self.engine.on_tick
        for s, p, t in zip(self.names, self.prices, ts, strict=True):
            fired += len(on_tick(s, p, t))
        return fired

    def close(self) -> None:
        self.loop.run_until_complete(self.guard.aclose())
        self.loop.close()


def decision() -> tuple[rg.Decision, rg.Signal]:
    """A refused decision with its signal, as the journal stores them."""
    engine = rg.RiskEngine({"signal_filters": False}, 1e5)
    engine.symbol_id("BTC")
    engine.on_tick("BTC", 100.0, T0)
    signal = rg.Signal("BTC", "long", 100.0, stop=98.0, target=100.5)
    return engine.evaluate_signal(signal, T0), signal


def latched_engine() -> tuple[rg.RiskEngine, list[rg.Event]]:
    """An engine with ten positions whose kill switch was just engaged, and its events."""
    engine = rg.RiskEngine(None, 1e6, T0)
    for k, s in enumerate(SYMBOLS):
        engine.on_fill(s, 10.0, 100.0 + k, T0)
    return engine, engine.kill("benchmark", T0 + NS)


class TimeGuardTicks:
    """``Guard.on_tick`` over 20,000 quiet ticks; ``params``: the Guard feeds a paper broker
    (``True``) or the broker has its own market data (``False``)."""

    params = [False, True]
    param_names = ["simulated"]
    number = 1
    repeat = 5
    warmup_time = 0.0

    def setup(self, simulated: bool) -> None:
        self.run = GuardRun(simulated)
        self.ts = self.run.next_ts()

    def teardown(self, simulated: bool) -> None:
        self.run.close()

    def time_on_tick(self, simulated: bool) -> None:
        self.run.feed_guard(self.ts)


class TimeJournal:
    """The journal's writes on SQLite (WAL, synchronous FULL): 300 group-committed decisions
    and 300 durable latched-state commits (a kill switch's snapshot and events)."""

    number = 1
    repeat = 3
    warmup_time = 0.0

    def setup(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="rg-bench-"))
        self.journal = Journal(f"sqlite:///{self.dir / 'journal.db'}")
        self.decision, self.signal = decision()
        self.engine, self.events = latched_engine()

    def teardown(self) -> None:
        self.journal.close()

    def time_decisions_group_committed(self) -> None:
        for i in range(DECISIONS):
            self.journal.record_decision(self.decision, T0 + i, self.signal)
        self.journal.flush()

    def time_latched_state_durable(self) -> None:
        for _ in range(DECISIONS):
            self.journal.write(snapshot=self.engine, events=self.events)
