"""Row 5 of issue 14: every broker call has a timeout (``guard.call_timeout_s``). A call that
never returns is an ambiguous outcome, never a refusal: the order stays in flight and is settled
by asking the broker for it by client order id (or, from a broker that cannot be asked, by its
working orders and reconciliation), while risk-reducing work goes on and a silent venue
escalates. Bounds in these tests (30 s) are generous contracts, not timings."""

from __future__ import annotations

import asyncio
from typing import Any

import riskguard as rg
from riskguard.brokers import Order, OrderLookup, PaperBroker
from riskguard.guard import Guard
from test_guard import (
    FAST_RETRIES,
    LONG,
    SYM,
    T0,
    Recorder,
    S,
    Wrapped,
    alerter,
    config,
    heard,
    open_live,
    position,
    run,
    until,
)

BOUND = 30.0  # seconds: the contract's "within a bounded time", far above what it takes
ETH = rg.Signal("ETH", "long", 100.0, stop=90.0, target=130.0)
TWO_SYMBOLS = {"max_correlation": "off"}  # no return history to correlate BTC and ETH


class Hanging(Wrapped):
    """A live broker (the test drives the paper market) with an order lookup, whose calls can
    hang forever: submits of entries (buys) once ``hang_entries`` is set (placed at the paper
    broker first when ``place_first``: only the answer is lost), every call of the methods in
    ``hang``, and any call naming an order in ``silent`` (the venue stays silent about it, as
    about every hung entry while ``silence_entries``) until ``speak`` is set."""

    def __init__(self, paper: PaperBroker) -> None:
        super().__init__(paper)
        self.hang_entries = False
        self.place_first = False
        self.silence_entries = True
        self.hang: set[str] = set()
        self.silent: set[str] = set()
        self.speak = asyncio.Event()
        self.lookups: list[str] = []

    async def _silence(self, cid: str | None) -> None:
        if cid in self.silent:
            await self.speak.wait()

    async def submit(self, order: Order) -> Order:
        if self.hang_entries and order.qty > 0:
            self.calls.append(("submit", order))
            if self.place_first:
                await self.paper.submit(order)
            if self.silence_entries:
                self.silent.add(order.client_order_id or "")
            await asyncio.Event().wait()  # this answer never comes
        if "submit" in self.hang:
            await asyncio.Event().wait()
        return await super().submit(order)

    async def order(self, client_order_id: str) -> Order:
        self.lookups.append(client_order_id)
        await self._silence(client_order_id)
        return self.paper.order(client_order_id)

    async def cancel(self, client_order_id: str) -> Order:
        await self._silence(client_order_id)
        return await super().cancel(client_order_id)

    async def open_orders(self) -> list[Order]:
        if "open_orders" in self.hang:
            await asyncio.Event().wait()
        return await super().open_orders()


class NoLookup(Hanging):
    """A :class:`Hanging` broker that cannot be asked about one order (no ``order``)."""

    order = None  # type: ignore[assignment]


def fast(timeout: float = 0.2, **more: Any) -> dict[str, Any]:
    return FAST_RETRIES | {"call_timeout_s": timeout, "control_poll_s": 0.05} | more


def entry_statuses(guard: Guard, symbol: str) -> list[str]:
    return [o["status"] for o in guard.journal.orders() if o["symbol"] == symbol]


async def close_at_market(guard: Guard, broker: Wrapped, ts: int) -> None:
    """Waits for the kill's close of SYM to be working, fills it, and waits until both the
    Guard and the broker are flat."""
    await until(lambda: any(w.order.qty < 0 for w in broker.paper._working.values()), BOUND)
    broker.paper.on_tick(SYM, 100.0, ts)
    await until(lambda: position(guard) == 0.0 == broker.paper.position(SYM).qty, BOUND)


def test_an_entry_the_broker_never_answers_returns_escalates_and_a_kill_still_closes(tmp_path):
    broker = Hanging(PaperBroker())
    assert isinstance(broker, OrderLookup)
    recorder = Recorder()
    alerts = alerter(recorder)

    async def go() -> None:
        async with Guard(
            config(tmp_path, TWO_SYMBOLS, guard=fast()), broker, alerter=alerts
        ) as guard:
            held = await open_live(guard, broker)
            broker.hang_entries = True
            await guard.on_tick("ETH", 100.0, T0 + S)
            # The broker never answers the entry, nor about it: submit returns all the same.
            decision = await asyncio.wait_for(guard.submit(ETH), BOUND)
            assert decision.approved
            assert entry_statuses(guard, "ETH") == ["pending", "ambiguous"]  # never "rejected"
            await until(lambda: guard.status().escalations, BOUND)
            status = guard.status()
            assert status.paused
            assert any("ETH" in e and "not answered" in e for e in status.escalations)
            await heard(recorder, "escalation")
            assert broker.lookups  # it was asked for by its client order id
            # The kill's flatten goes out and closes the position meanwhile.
            await guard.kill("operator")
            await close_at_market(guard, broker, T0 + 2 * S)
            closes = [o.qty for o in broker.submitted() if o.qty < 0]
            assert closes == [-held.quantity]
            # The venue speaks at last: it never received the entry. Settled, not escalated.
            broker.speak.set()
            await until(lambda: not guard.status().escalations, BOUND)
            assert entry_statuses(guard, "ETH")[-1] == "abandoned"
        await alerts.aclose()

    run(go())


def test_a_hung_entry_holds_up_neither_the_tick_path_nor_a_kill(tmp_path):
    broker = Hanging(PaperBroker())

    async def go() -> None:
        # The longest timeout there is: whatever happens below happens while the entry hangs.
        async with Guard(config(tmp_path, TWO_SYMBOLS, guard=fast(3600.0)), broker) as guard:
            await open_live(guard, broker)
            broker.hang_entries = True
            await guard.on_tick("ETH", 100.0, T0 + S)
            entry = asyncio.create_task(guard.submit(ETH))
            await until(lambda: any(o.symbol == "ETH" for o in broker.submitted()), BOUND)
            await asyncio.wait_for(guard.on_tick(SYM, 100.0, T0 + 2 * S), BOUND)
            await asyncio.wait_for(guard.kill("operator"), BOUND)
            await close_at_market(guard, broker, T0 + 3 * S)
            assert not entry.done()  # all of that while the entry's submit still hung
            entry.cancel()
            await asyncio.gather(entry, return_exceptions=True)

    run(go())


def test_a_broker_read_that_never_returns_holds_up_no_flatten(tmp_path):
    broker = Hanging(PaperBroker())
    recorder = Recorder()
    alerts = alerter(recorder)

    async def go() -> None:
        async with Guard(
            config(tmp_path, TWO_SYMBOLS, guard=fast()), broker, alerter=alerts
        ) as guard:
            held = await open_live(guard, broker)
            broker.hang.add("open_orders")  # the kill's cancels never get their answer
            await asyncio.wait_for(guard.kill("operator"), BOUND)
            await close_at_market(guard, broker, T0 + 2 * S)
            assert [o.qty for o in broker.submitted() if o.qty < 0] == [-held.quantity]
            await until(lambda: guard.status().escalations, BOUND)
            status = guard.status()
            assert status.paused and status.kill_switch
            assert any("every order" in e for e in status.escalations)
            await heard(recorder, "escalation")
        await alerts.aclose()

    run(go())


def test_an_entry_whose_answer_was_lost_is_found_by_its_id(tmp_path):
    broker = Hanging(PaperBroker())

    async def go() -> None:
        async with Guard(config(tmp_path, TWO_SYMBOLS, guard=fast()), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            broker.hang_entries = broker.place_first = True  # placed; the answer is lost
            broker.silence_entries = False  # and the venue answers when asked about it
            decision = await asyncio.wait_for(guard.submit(LONG), BOUND)
            await until(lambda: entry_statuses(guard, SYM)[-1] == "new", BOUND)
            assert entry_statuses(guard, SYM) == ["pending", "ambiguous", "new"]
            assert not guard.status().escalations and not guard.status().paused
            broker.paper.on_tick(SYM, 100.0, T0 + S)
            await until(lambda: position(guard) == decision.quantity, BOUND)
            assert len([o for o in broker.submitted() if o.qty > 0]) == 1  # never sent twice

    run(go())


def test_an_entry_found_working_once_new_risk_was_refused_is_taken_back(tmp_path):
    broker = Hanging(PaperBroker())

    async def go() -> None:
        async with Guard(config(tmp_path, TWO_SYMBOLS, guard=fast()), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            broker.hang_entries = broker.place_first = True
            await asyncio.wait_for(guard.submit(LONG), BOUND)
            await guard.pause("news")  # while the broker is silent about the entry
            broker.speak.set()
            await until(lambda: entry_statuses(guard, SYM)[-1] == "cancelled", BOUND)
            assert await broker.paper.open_orders() == []
            broker.paper.on_tick(SYM, 100.0, T0 + S)
            assert broker.paper.position(SYM).qty == 0.0

    run(go())


def test_without_an_order_lookup_an_entry_in_doubt_is_settled_by_working_orders(tmp_path):
    broker = NoLookup(PaperBroker())
    assert not isinstance(broker, OrderLookup)

    async def go() -> None:
        async with Guard(config(tmp_path, TWO_SYMBOLS, guard=fast()), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            broker.hang_entries = broker.place_first = True  # working at the broker
            decision = await asyncio.wait_for(guard.submit(LONG), BOUND)
            await until(lambda: entry_statuses(guard, SYM)[-1] == "new", BOUND)
            broker.paper.on_tick(SYM, 100.0, T0 + S)
            await until(lambda: position(guard) == decision.quantity, BOUND)
            broker.place_first = False  # this one never reaches the broker
            await guard.on_tick("ETH", 100.0, T0 + 2 * S)
            await asyncio.wait_for(guard.submit(ETH), BOUND)
            await until(lambda: entry_statuses(guard, "ETH")[-1] == "abandoned", BOUND)
            assert position(guard) == decision.quantity == broker.paper.position(SYM).qty

    run(go())


def test_a_close_whose_answer_never_comes_is_looked_up_not_sent_twice(tmp_path):
    class LostClose(Hanging):
        lose = 1

        async def submit(self, order: Order) -> Order:
            if order.qty < 0 and self.lose:
                self.lose -= 1
                self.calls.append(("submit", order))
                await self.paper.submit(order)  # placed; the answer never comes
                await asyncio.Event().wait()
            return await super().submit(order)

    broker = LostClose(PaperBroker())
    recorder = Recorder()
    alerts = alerter(recorder)

    async def go() -> None:
        async with Guard(
            config(tmp_path, TWO_SYMBOLS, guard=fast()), broker, alerter=alerts
        ) as guard:
            held = await open_live(guard, broker)
            await guard.kill("operator")
            await until(lambda: broker.lookups, BOUND)  # asked for by its id...
            await close_at_market(guard, broker, T0 + 2 * S)
            closes = [o for o in broker.submitted() if o.qty < 0]
            assert [o.qty for o in closes] == [-held.quantity]  # ...and not sent again
            statuses = [o["status"] for o in guard.journal.orders() if o["qty"] < 0]
            assert statuses[:3] == ["pending", "ambiguous", "new"]
            await heard(recorder, "escalation")
            await until(lambda: not guard.status().escalations, BOUND)
        await alerts.aclose()

    run(go())
