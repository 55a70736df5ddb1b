"""Guard.run on a plain feed: ticks and bars applied in order, a late bar applied at the engine's
time, a bad record alerted and skipped, a strategy's signals submitted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import riskguard as rg
from riskguard.brokers import PaperBroker
from riskguard.guard import Guard
from riskguard.model.market import Bar, Tick

SYM = "BTCUSDT"
T0 = 1_700_000_000 * 10**9
S = 10**9


class Feed:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    async def __aiter__(self) -> AsyncIterator[Any]:
        for item in self.items:
            yield item


class Strategy:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    def on_bar(self, bar: Bar) -> Any:
        self.seen.append(bar)
        return rg.Signal(SYM, "long", bar.close, stop=bar.close * 0.9, target=bar.close * 1.3)


def test_run_applies_the_feed_skips_what_it_refuses_and_submits_the_strategys_signals(tmp_path):
    config = rg.Config(
        journal={"url": f"sqlite:///{tmp_path / 'j.db'}"},
        limits={"signal_filters": False, "require_trend": False},
    )
    feed = Feed(
        [
            Tick(SYM, 100.0, T0),
            "not a record",
            Tick(SYM, 101.0, T0 + 2 * S),
            Bar(SYM, 100.0, 101.5, 99.5, 101.0, 5.0, T0 + S),  # late: its close was before
            Tick(SYM, 101.5, T0 + 3 * S),
        ]
    )
    strategy = Strategy()

    async def go() -> None:
        async with Guard(config, PaperBroker()) as guard:
            await guard.run(feed, strategy=strategy)
            assert guard.feed_stats == {
                "ticks": 3,
                "bars": 1,
                "signals": 1,
                "stale": 0,
                "refused": 1,
            }
            assert guard.engine.ts == T0 + 3 * S
            assert len(strategy.seen) == 1
            decisions = guard.journal.decisions()
            assert len(decisions) == 1 and decisions[0]["ts"] == T0 + 2 * S  # the engine's time
            assert guard.status().positions[SYM]["qty"] > 0  # filled at the next tick

    asyncio.run(go())
