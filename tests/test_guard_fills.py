"""Rows 6, 7 and 8 of issue 14: fills are identified by the broker's fill id. A fill seen
twice is applied once, also across restarts; two genuine look-alike fills are both applied; a
fill that cannot be valid is quarantined (journaled, alerted critical), blocks nothing behind
it, and the positions are then reconciled with the broker."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest
import riskguard as rg
from riskguard.brokers import Fill, Liquidity, Order, PaperBroker
from riskguard.guard import Guard
from test_guard import (
    LONG,
    SYM,
    T0,
    Recorder,
    S,
    Wrapped,
    alerter,
    config,
    heard,
    position,
    run,
    until,
)

BOUND = 30.0  # seconds: a generous bound, not a timing
ETH = rg.Signal("ETH", "long", 50.0, stop=45.0, target=65.0)
TWO_SYMBOLS = {"max_correlation": "off"}  # no return history to correlate BTC and ETH


class Stream(Wrapped):
    """A live broker whose fill stream (history included) passes each paper fill through
    ``rewrite``, which gives the fills to deliver in its place. ``processed`` counts the fills
    of the followed stream the Guard has finished with (it asked for the next one)."""

    def __init__(
        self, paper: PaperBroker, rewrite: Callable[[Fill], list[Any]] = lambda f: [f]
    ) -> None:
        super().__init__(paper)
        self.rewrite = rewrite
        self.processed = 0

    async def _stream(self, follow: bool) -> AsyncIterator[Any]:
        async for fill in self.paper.fills(follow=follow):
            for out in self.rewrite(fill):
                yield out
                if follow:
                    self.processed += 1

    def fills(self, *, follow: bool = True) -> AsyncIterator[Fill]:
        return self._stream(follow)


def closes(broker: Wrapped) -> list[tuple[str, float]]:
    return sorted((o.symbol, o.qty) for o in broker.submitted() if o.qty < 0)


async def entry(guard: Guard, broker: Wrapped, signal: rg.Signal, ts: int) -> rg.Decision:
    """A tick, an approved entry, and the paper market's tick that fills it."""
    await guard.on_tick(signal.symbol, signal.entry, ts)
    decision = await guard.submit(signal)
    assert decision.approved, decision.codes
    broker.paper.on_tick(signal.symbol, signal.entry, ts + S)
    return decision


def test_a_fill_delivered_twice_is_applied_once_also_across_a_restart(tmp_path):
    # The same execution (same fill id) delivered again, stamped a second later.
    broker = Stream(PaperBroker(), lambda f: [f, replace(f, ts=f.ts + S)])

    async def first() -> float:
        async with Guard(config(tmp_path), broker) as guard:
            decision = await entry(guard, broker, LONG, T0)
            await until(lambda: broker.processed >= 2, BOUND)  # the fill and its echo
            assert position(guard) == decision.quantity
            return decision.quantity

    qty = run(first())

    async def second() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            # The broker's history holds both deliveries: neither is applied again, and
            # nothing is left for reconciliation to explain.
            assert position(guard) == qty == broker.paper.position(SYM).qty
            await until(lambda: broker.processed >= 4, BOUND)  # its stream replays them
            assert position(guard) == qty
            await guard.kill("operator")
            await until(lambda: closes(broker), BOUND)
            broker.paper.on_tick(SYM, 100.0, T0 + 2 * S)
            await until(lambda: broker.processed >= 6, BOUND)  # the close and its echo
            assert position(guard) == 0.0 == broker.paper.position(SYM).qty  # not short
            assert closes(broker) == [(SYM, -qty)]  # sold once
            rows = guard.journal.fills()
            assert [r["qty"] for r in rows] == [qty, -qty]
            assert not any("reconcile" in r["details"] for r in rows)

    run(second())


def test_two_look_alike_partial_fills_are_both_applied(tmp_path):
    def halves(f: Fill) -> list[Fill]:
        # Two genuine executions at the same time, quantity and price: only their ids differ.
        half = replace(f, qty=f.qty / 2, fee=f.fee / 2)
        return [replace(half, fill_id=f"{f.fill_id}-a"), replace(half, fill_id=f"{f.fill_id}-b")]

    broker = Stream(PaperBroker(), halves)

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            decision = await entry(guard, broker, LONG, T0)
            await until(lambda: broker.processed >= 2, BOUND)
            assert position(guard) == decision.quantity == broker.paper.position(SYM).qty
            ids = [r["details"] for r in guard.journal.fills()]
            assert len(ids) == 2 and '-a"' in ids[0] and '-b"' in ids[1]
            await guard.kill("operator")
            await until(lambda: closes(broker), BOUND)
            broker.paper.on_tick(SYM, 100.0, T0 + 2 * S)
            await until(lambda: broker.processed >= 4, BOUND)
            assert position(guard) == 0.0 == broker.paper.position(SYM).qty
            assert closes(broker) == [(SYM, -decision.quantity)]

    run(go())


def test_a_fill_without_an_id_falls_back_to_its_order_time_quantity_and_price(tmp_path):
    broker = Stream(PaperBroker(), lambda f: [replace(f, fill_id="")] * 2)

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            decision = await entry(guard, broker, LONG, T0)
            await until(lambda: broker.processed >= 2, BOUND)
            assert position(guard) == decision.quantity
            assert len(guard.journal.fills()) == 1

    run(go())


# Fills no venue could have made, each a rewrite of a real execution.
BAD = {
    "nan price": lambda f: replace(f, price=math.nan),
    "infinite price": lambda f: replace(f, price=math.inf),
    "zero price": lambda f: replace(f, price=0.0),
    "negative price": lambda f: replace(f, price=-100.0),
    "nan qty": lambda f: replace(f, qty=math.nan),
    "zero qty": lambda f: replace(f, qty=0.0),
    "infinite qty": lambda f: replace(f, qty=-math.inf),
    "negative fee": lambda f: replace(f, fee=-1.0),
    "nan fee": lambda f: replace(f, fee=math.nan),
    "no symbol": lambda f: replace(f, symbol=""),
    "a qty the engine refuses": lambda f: replace(f, qty=1e300),
    "not a number": lambda f: replace(f, price="100"),
}


@pytest.mark.parametrize("bad", list(BAD), ids=list(BAD))
def test_a_fill_that_cannot_be_valid_is_quarantined_and_blocks_nothing(tmp_path, bad):
    rewrite = BAD[bad]

    def corrupt(f: Fill) -> list[Any]:
        return [rewrite(f) if f.symbol == SYM and f.qty > 0 else f]  # the BTC entry's fill

    broker = Stream(PaperBroker(), corrupt)
    recorder = Recorder()
    alerts = alerter(recorder)

    async def first() -> tuple[float, float]:
        async with Guard(config(tmp_path, TWO_SYMBOLS), broker, alerter=alerts) as guard:
            await guard.on_tick("ETH", 50.0, T0)
            btc = await entry(guard, broker, LONG, T0)
            await heard(recorder, "fill_quarantined")
            [alert] = [a for a in recorder.alerts if a.kind == "fill_quarantined"]
            assert alert.severity == "critical"
            eth = await entry(guard, broker, ETH, T0 + 2 * S)
            # The good fill behind it is applied, and reconciliation gives the Guard what the
            # broker holds of the quarantined one.
            await until(lambda: position(guard, "ETH") == eth.quantity, BOUND)
            await until(lambda: position(guard) == broker.paper.position(SYM).qty, BOUND)
            assert position(guard) == btc.quantity
            [row] = [r for r in guard.journal.fills() if '"quarantined": true' in r["details"]]
            assert (row["qty"], row["price"], row["fee"]) == (0.0, 0.0, 0.0)
            assert '"raw"' in row["details"] and '"reason"' in row["details"]
            await heard(recorder, "reconciliation")
            # The kill closes exactly what is held: the account ends flat, not short.
            await guard.kill("operator")
            await until(lambda: len(closes(broker)) == 2, BOUND)
            broker.paper.on_tick(SYM, 100.0, T0 + 4 * S)
            broker.paper.on_tick("ETH", 50.0, T0 + 4 * S)
            await until(lambda: not guard.status().positions, BOUND)
            assert await broker.paper.positions() == {}
            result = btc.quantity, eth.quantity
        await alerts.aclose()
        return result

    btc_qty, eth_qty = run(first())
    assert closes(broker) == sorted([("ETH", -eth_qty), (SYM, -btc_qty)])
    again = Recorder()
    again_alerts = alerter(again)

    async def second() -> None:
        # The broker's history still holds the bad fill: it is not quarantined again.
        async with Guard(config(tmp_path, TWO_SYMBOLS), broker, alerter=again_alerts) as guard:
            await until(lambda: broker.processed >= 8, BOUND)  # its stream replays them all
            assert not guard.status().positions
        await again_alerts.aclose()
        assert "fill_quarantined" not in again.kinds()

    run(second())


def test_a_fill_of_an_order_the_guard_never_sent_is_applied(tmp_path):
    broker = Stream(PaperBroker())

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            await broker.paper.submit(Order(SYM, 2.0, client_order_id="manual-1"))
            broker.paper.on_tick(SYM, 100.0, T0 + S)  # a trade made by hand at the venue
            await until(lambda: position(guard) == 2.0, BOUND)
            [row] = guard.journal.fills()
            assert row["client_order_id"] == "manual-1" and "quarantined" not in row["details"]

    run(go())


def test_the_paper_broker_gives_each_fill_its_own_id() -> None:
    paper = PaperBroker()
    for i in range(3):
        asyncio.run(paper.submit(Order(SYM, 1.0, client_order_id=f"o{i}")))
    paper.on_tick(SYM, 100.0, T0)
    ids = [f.fill_id for f in paper.fill_log]
    assert ids == ["o0-1", "o1-2", "o2-3"]
    # Built positionally as before ids existed, a fill has none.
    assert Fill("c", SYM, 1.0, 100.0, 0.0, T0, Liquidity.TAKER).fill_id == ""
