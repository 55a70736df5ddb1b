"""The Guard: the signal path, the tick path, control, failure handling and restarts, against
the paper broker, a SQLite journal and a recording alert sink."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import riskguard as rg
from riskguard.alerts import Alert, Alerter, Sink
from riskguard.brokers import Broker, Capabilities, Fill, Order, PaperBroker, Position
from riskguard.guard import Guard, GuardError
from riskguard.journal import Journal, JournalError, order_row

S = 10**9
T0 = 1_700_006_400 * S  # a UTC midnight
SYM = "BTC"
# Plain signals carry no confidence, volume, spread or trend data: switch those filters off.
LIMITS = {"signal_filters": False, "require_trend": False}
LONG = rg.Signal(SYM, "long", 100.0, stop=90.0, target=130.0)
FAST_RETRIES = {"broker_retries": 2, "retry_backoff_s": 0.001, "retry_max_backoff_s": 0.005}


class Recorder(Sink):
    """Keeps every alert it is sent."""

    name = "recorder"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def kinds(self) -> list[str]:
        return [a.kind for a in self.alerts]


def config(tmp_path: Path, limits: dict[str, Any] | None = None, **sections: Any) -> rg.Config:
    return rg.Config(
        journal={"url": f"sqlite:///{tmp_path / 'journal.db'}"},
        broker=sections.pop("broker", {"allow_short": True}),
        alerts={"sinks": [{"type": "log", "path": str(tmp_path / "alerts.log")}]},
        guard=sections.pop("guard", FAST_RETRIES),
        limits={**LIMITS, **(limits or {})},
        **sections,
    )


def alerter(recorder: Recorder) -> Alerter:
    return Alerter([recorder], rate_limit_per_kind=None, dedup_seconds=0, retries=0)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def heard(recorder: Recorder, *kinds: str) -> None:
    """Waits until the recorder has heard every one of ``kinds``."""
    await until(lambda: set(kinds) <= set(recorder.kinds()))


class Wrapped:
    """A broker that delegates to a paper broker, counting calls, optionally failing or
    blocking them. ``simulated`` keeps the paper broker's market-data interface (the Guard
    then drives the market); without it, the test drives ``paper`` and fills are streamed."""

    name = "wrapped-paper"

    def __init__(self, paper: PaperBroker) -> None:
        self.paper = paper
        self.calls: list[tuple[str, Any]] = []
        self.fail: dict[str, int] = {}  # method -> failures left (-1: always)
        self.gate: asyncio.Event | None = None
        self.on_submit: Any = None

    def _maybe_fail(self, method: str) -> None:
        left = self.fail.get(method, 0)
        if left:
            self.fail[method] = left - 1 if left > 0 else left
            raise ConnectionError(f"{method}: broker unreachable")

    async def submit(self, order: Order) -> Order:
        self.calls.append(("submit", order))
        if self.gate is not None:
            await self.gate.wait()
        self._maybe_fail("submit")
        if self.on_submit is not None:
            self.on_submit(order)
        return await self.paper.submit(order)

    async def cancel(self, client_order_id: str) -> Order:
        return await self.paper.cancel(client_order_id)

    async def cancel_all(self, symbol: str | None = None) -> list[Order]:
        self.calls.append(("cancel_all", symbol))
        self._maybe_fail("cancel_all")
        return await self.paper.cancel_all(symbol)

    async def positions(self) -> dict[str, Position]:
        return await self.paper.positions()

    async def balance(self) -> float:
        return await self.paper.balance()

    async def open_orders(self) -> list[Order]:
        self._maybe_fail("open_orders")
        return await self.paper.open_orders()

    def fills(self, *, follow: bool = True) -> AsyncIterator[Fill]:
        return self.paper.fills(follow=follow)

    @property
    def capabilities(self) -> Capabilities:
        return self.paper.capabilities

    def submitted(self) -> list[Order]:
        return [o for kind, o in self.calls if kind == "submit"]


class Simulated(Wrapped):
    """A :class:`Wrapped` broker the Guard feeds with ticks."""

    def on_tick(self, symbol: str, price: float, ts: int, volume: float | None = None) -> None:
        self.paper.on_tick(symbol, price, ts, volume)

    def on_bar(self, *args: Any) -> None:
        self.paper.on_bar(*args)

    def fills_after(self, n: int) -> list[Fill]:
        return self.paper.fills_after(n)


async def open_live(guard: Guard, broker: Wrapped) -> rg.Decision:
    """A tick at 100 and an approved long, filled by the market the test drives."""
    await guard.on_tick(SYM, 100.0, T0)
    decision = await guard.submit(LONG)
    broker.paper.on_tick(SYM, 100.0, T0 + S)
    await until(lambda: position(guard))
    return decision


async def until(condition: Any, timeout: float = 5.0) -> None:
    """Waits for ``condition()`` to hold, failing the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.005)


def position(guard: Guard, symbol: str = SYM) -> float:
    positions = guard.engine.snapshot().positions
    return positions[symbol].qty if symbol in positions else 0.0


async def open_long(guard: Guard, ts: int = T0, signal: rg.Signal = LONG) -> rg.Decision:
    """A tick at 100, an approved long, and the tick that fills it."""
    await guard.on_tick(SYM, 100.0, ts)
    decision = await guard.submit(signal)
    assert decision.approved, decision.codes
    await guard.on_tick(SYM, 100.0, ts + S)
    assert position(guard) == decision.quantity
    return decision


# --- the signal path -----------------------------------------------------------------------


def test_an_approval_is_committed_with_its_order_before_the_broker_sees_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    seen_at_submit: list[tuple[list[dict], list[dict]]] = []

    def look(order: Order) -> None:
        with Journal(url) as other:  # a second connection: only committed rows are visible
            seen_at_submit.append((other.decisions(), other.orders()))

    broker = Simulated(PaperBroker())
    broker.on_submit = look

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            decision = await open_long(guard)
            decisions, orders = seen_at_submit[0]
            assert [d["approved"] for d in decisions] == [True]
            sent = broker.submitted()[0]
            assert [(o["client_order_id"], o["status"]) for o in orders] == [
                (sent.client_order_id, "pending")
            ]
            assert sent.qty == decision.quantity and sent.type.value == "market"
            [trade] = guard.engine.trades()
            assert trade.state == "OPEN" and trade.method == "fixed_fractional"
            statuses = [o["status"] for o in guard.journal.orders()]
            assert statuses == ["pending", "new"]
            [fill] = guard.journal.fills()
            assert fill["qty"] == decision.quantity and fill["price"] == 100.0
            assert [t["state"] for t in guard.journal.trades()] == ["OPEN"]

    run(go())


def test_a_refusal_is_in_the_journal_when_submit_returns(tmp_path):
    async def go() -> None:
        async with Guard(config(tmp_path)) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            poor = rg.Signal(SYM, "long", 100.0, stop=98.0, target=100.5)
            decisions = await asyncio.gather(*(guard.submit(poor) for _ in range(50)))
            assert all(d.codes[0] == "REWARD_RISK_TOO_LOW" for d in decisions)
            # Group-committed, yet each was acknowledged only once committed.
            with Journal(guard.journal.url) as other:
                stored = other.decisions()
            assert len(stored) == 50 and not any(d["approved"] for d in stored)
            assert stored[0]["codes"] == ["REWARD_RISK_TOO_LOW"]
            assert stored[0]["signal"]["target"] == 100.5
            assert guard.broker is not None and await guard.broker.open_orders() == []

    run(go())


def test_the_fill_stream_of_a_live_broker_opens_the_trade(tmp_path):
    paper = PaperBroker()
    broker = Wrapped(paper)  # not simulated: the Guard reads its fill stream

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            decision = await guard.submit(LONG)
            paper.on_tick(SYM, 101.0, T0 + S)  # the market, driven by the test
            for _ in range(100):
                await asyncio.sleep(0.005)
                if position(guard):
                    break
            assert position(guard) == decision.quantity
            assert guard.engine.trades()[0].entry_price == 101.0

    run(go())


# --- the tick path -------------------------------------------------------------------------


def test_an_exit_signal_becomes_the_exit_order(tmp_path):
    async def go() -> None:
        async with Guard(config(tmp_path, {"position_loss": "off"})) as guard:
            await open_long(guard)
            events = await guard.on_tick(SYM, 89.0, T0 + 2 * S)  # through the stop at 90
            assert [e.reason for e in events if e.kind == "exit_signal"] == ["stop_loss"]
            await guard.on_tick(SYM, 89.0, T0 + 3 * S)  # the exit order fills
            assert position(guard) == 0.0
            [trade] = guard.engine.trades()
            assert trade.state == "CLOSED_SL" and trade.exit_price == 89.0
            assert [t["state"] for t in guard.journal.trades()] == ["CLOSED_SL"]
            purposes = {o["details"] for o in guard.journal.orders()}
            assert any('"exit"' in d and '"stop_loss"' in d for d in purposes)

    run(go())


def test_a_flatten_request_cancels_then_closes_at_market(tmp_path):
    broker = Simulated(PaperBroker())

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            decision = await open_long(guard)
            bid = await broker.paper.submit(Order(SYM, 1.0, "limit", limit_price=50.0))
            events = await guard.on_tick(SYM, 96.0, T0 + 2 * S)  # a 4 % loss: position_loss
            assert [e.kind for e in events][-1] == "flatten_requested"
            assert broker.paper.order(bid.client_order_id).status.value == "cancelled"
            close = broker.submitted()[-1]
            assert close.qty == -decision.quantity
            await guard.on_tick(SYM, 96.0, T0 + 3 * S)
            assert position(guard) == 0.0
            assert await broker.open_orders() == []
            assert guard.engine.trades()[0].state == "CLOSED_BREAKER"

    run(go())


def test_a_reduce_request_cuts_every_position_by_its_fraction(tmp_path):
    limits = {"leverage": {"threshold": 0.3, "action": "reduce", "fraction": 0.4}}
    limits |= {"max_position_pct": 0.25, "partial_tp_r": "off", "trail_start_r": "off"}
    limits |= {"risk_per_trade": 0.1, "max_risk_per_trade": 0.2}

    async def go() -> None:
        async with Guard(config(tmp_path, limits)) as guard:
            far = rg.Signal(SYM, "long", 100.0, stop=90.0, target=200.0)
            decision = await open_long(guard, signal=far)
            assert decision.quantity == 250.0  # 25 % of equity: under the leverage limit
            events = await guard.on_tick(SYM, 150.0, T0 + 2 * S)  # 37 500 / 112 500 > 0.3
            assert "reduce_requested" in [e.kind for e in events], [e.message for e in events]
            await guard.on_tick(SYM, 150.0, T0 + 3 * S)
            assert position(guard) == pytest.approx(250.0 * 0.6), [e.message for e in events]

    run(go())


def test_every_event_is_journaled_and_alerted(tmp_path):
    recorder = Recorder()
    alerts = alerter(recorder)

    async def go() -> None:
        async with Guard(config(tmp_path), alerter=alerts) as guard:
            await open_long(guard)
            events = await guard.kill("operator", actor="alice")
            kinds = [e.kind for e in events]
            assert kinds == ["kill_switch", "state_changed", "flatten_requested"]
            assert [e["kind"] for e in guard.journal.events()] == kinds
            await heard(recorder, "control", *kinds)
            [control] = guard.journal.controls()
            assert (control.action, control.reason, control.actor) == ("kill", "operator", "alice")
            assert control.handled_ts is not None
        await alerts.aclose()

    run(go())


def test_on_ticks_without_a_simulated_broker_equals_tick_by_tick(tmp_path):
    rng = np.random.default_rng(5)
    prices = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 500)))
    ts = T0 + np.arange(500, dtype=np.int64) * S

    async def go(folder: Path, batch: bool) -> bytes:
        folder.mkdir()
        async with Guard(config(folder), Wrapped(PaperBroker())) as guard:
            await guard.on_tick(SYM, 100.0, T0 - S)
            await guard.kill("k")  # so that the batch emits nothing for the engine's sake
            await guard.reset("kill_switch", confirm=True)
            if batch:
                await guard.on_ticks([SYM] * 500, prices, ts)
            else:
                for p, t in zip(prices, ts, strict=True):
                    await guard.on_tick(SYM, float(p), int(t))
            return guard.engine.to_bytes()

    assert run(go(tmp_path / "a", True)) == run(go(tmp_path / "b", False))


# --- control -------------------------------------------------------------------------------


def test_the_kill_switch_is_durable_before_any_order_and_survives_a_restart(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    engaged_at_order: list[bool] = []

    def look(order: Order) -> None:
        with Journal(url) as other:
            engine = other.restore()
            assert engine is not None
            engaged_at_order.append(
                any(b.name == "kill_switch" and b.status == "tripped" for b in engine.breakers())
            )

    broker = Simulated(PaperBroker())

    async def first() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await open_long(guard)
            broker.on_submit = look
            await guard.kill("runaway strategy")
            assert engaged_at_order == [True]
            assert guard.status().kill_switch and guard.status().state == "HALTED"

    async def second() -> None:
        async with Guard(config(tmp_path)) as guard:
            status = guard.status()
            assert status.kill_switch and status.state == "HALTED"
            await guard.on_tick(SYM, 100.0, T0 + 5 * S)
            decision = await guard.submit(LONG)
            assert "KILL_SWITCH" in decision.codes
            await guard.reset("kill_switch", confirm=True)
            assert not guard.status().kill_switch

    run(first())
    run(second())


def test_pause_stops_new_risk_until_resumed_even_across_a_restart(tmp_path):
    async def first() -> None:
        async with Guard(config(tmp_path)) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            [event] = await guard.pause("news", actor="bob")
            assert event.kind == "paused"
            decision = await guard.submit(LONG)
            assert decision.codes[0] == "TRADING_PAUSED"
            assert await guard.broker.open_orders() == []

    async def second() -> None:
        async with Guard(config(tmp_path)) as guard:
            assert guard.status().paused
            await guard.resume()
            assert not guard.status().paused
            assert (await guard.submit(LONG)).approved

    run(first())
    run(second())


def test_reset_needs_confirmation(tmp_path):
    async def go() -> None:
        async with Guard(config(tmp_path)) as guard:
            await guard.kill("x")
            with pytest.raises(rg.RiskError, match="confirm"):
                await guard.reset("kill_switch")
            with pytest.raises(rg.RiskError, match="confirm"):
                await guard.reset("kill_switch", confirm=1)  # type: ignore[arg-type]
            with pytest.raises(rg.RiskError):
                await guard.reset("no_such_breaker", confirm=True)
            assert guard.status().kill_switch

    run(go())


def test_a_control_recorded_by_another_process_is_acted_on(tmp_path):
    async def go() -> None:
        async with Guard(config(tmp_path)) as guard:
            assert guard.config.guard.control_poll_s <= 1.0
            await open_long(guard)
            with Journal(guard.journal.url) as cli:
                cli.record_control("kill", time.time_ns(), reason="from the cli", actor="ops")
            await until(lambda: guard.status().kill_switch)
            assert guard.journal.pending_controls() == []
            await guard.on_tick(SYM, 100.0, T0 + 2 * S)
            assert position(guard) == 0.0

    run(go())


async def start_and_stop(cfg: rg.Config) -> None:
    """A first run on the journal: the Guard starts (a fresh engine, its first snapshot) and
    closes, giving the journal's lease back."""
    guard = await Guard(cfg).start()
    await guard.aclose()


def test_a_control_the_engine_refuses_is_marked_handled_with_its_error(tmp_path):
    run(start_and_stop(config(tmp_path)))
    with Journal(f"sqlite:///{tmp_path / 'journal.db'}") as cli:
        cli.record_control("reset", time.time_ns(), name="kill-switch", actor="ops")
    recorder = Recorder()
    alerts = alerter(recorder)

    async def go() -> None:
        async with Guard(config(tmp_path), alerter=alerts) as guard:
            assert guard.journal.pending_controls() == []
            await heard(recorder, "control")
            assert any("refused" in a.title for a in recorder.alerts)
            with Journal(guard.journal.url) as cli:
                cli.record_control("reset", time.time_ns(), name="no_such", actor="ops")
            await until(lambda: guard.journal.pending_controls() == [])
        await alerts.aclose()

    run(go())


def test_the_control_poll_survives_a_journal_it_cannot_read(tmp_path, monkeypatch):
    recorder = Recorder()
    alerts = alerter(recorder)
    settings = FAST_RETRIES | {"control_poll_s": 0.02}

    async def go() -> None:
        async with Guard(config(tmp_path, guard=settings), alerter=alerts) as guard:
            real = guard.journal.pending_controls

            def locked() -> list:
                raise JournalError("database is locked")

            monkeypatch.setattr(guard.journal, "pending_controls", locked)
            await heard(recorder, "control_poll")
            monkeypatch.setattr(guard.journal, "pending_controls", real)
            with Journal(guard.journal.url) as cli:
                cli.record_control("kill", time.time_ns(), reason="from the cli", actor="ops")
            await until(lambda: guard.status().kill_switch)
        await alerts.aclose()

    run(go())


def test_a_control_recorded_while_stopped_applies_on_start(tmp_path):
    run(start_and_stop(config(tmp_path)))
    with Journal(f"sqlite:///{tmp_path / 'journal.db'}") as cli:
        cli.record_control("pause", time.time_ns(), reason="weekend", actor="ops")

    async def go() -> None:
        async with Guard(config(tmp_path)) as guard:
            assert guard.status().paused

    run(go())


# --- failure -------------------------------------------------------------------------------


def test_broker_failures_are_retried_with_the_same_client_order_id(tmp_path):
    broker = Simulated(PaperBroker())
    broker.fail["submit"] = 2

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await open_long(guard)
            ids = {o.client_order_id for o in broker.submitted()}
            assert len(broker.submitted()) == 3 and len(ids) == 1

    run(go())


def test_an_entry_that_keeps_failing_is_given_up_journaled_and_alerted(tmp_path):
    broker = Simulated(PaperBroker())
    broker.fail["submit"] = -1
    recorder = Recorder()
    alerts = alerter(recorder)

    async def go() -> None:
        async with Guard(config(tmp_path), broker, alerter=alerts) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            decision = await guard.submit(LONG)
            assert decision.approved
            assert len(broker.submitted()) == 3  # one try and two retries
            rows = guard.journal.orders()
            # Every attempt is journaled, with its retries, venue, asked price and error.
            assert [o["status"] for o in rows] == ["pending", "failed", "failed", "failed"]
            attempts = [json.loads(o["details"]) for o in rows[1:]]
            assert [a["retries"] for a in attempts] == [0, 1, 2]
            assert all(a["venue"] == "wrapped-paper" for a in attempts)
            assert all(a["requested_price"] == 100.0 for a in attempts)
            assert all(a["error"] and a["latency_ms"] >= 0.0 for a in attempts)
            await heard(recorder, "order_failed")
        await alerts.aclose()

    run(go())


def test_a_flatten_that_keeps_failing_escalates_and_keeps_trying(tmp_path):
    broker = Wrapped(PaperBroker())
    recorder = Recorder()
    alerts = alerter(recorder)

    async def go() -> None:
        async with Guard(config(tmp_path), broker, alerter=alerts) as guard:
            decision = await open_live(guard, broker)
            broker.fail["submit"] = -1
            await guard.kill("test")
            await until(lambda: not (len(broker.submitted()) < 10))
            status = guard.status()
            assert status.paused and status.escalations and status.state == "HALTED"
            await heard(recorder, "escalation")
            broker.fail["submit"] = 0
            await until(lambda: not (guard.status().escalations))
            assert broker.submitted()[-1].qty == -decision.quantity
            broker.paper.on_tick(SYM, 100.0, T0 + 2 * S)
            await until(lambda: not (position(guard)))
        await alerts.aclose()

    run(go())


def test_a_slow_broker_never_blocks_the_tick_path_and_a_full_queue_waits(tmp_path):
    broker = Wrapped(PaperBroker())
    recorder = Recorder()
    alerts = alerter(recorder)
    guard_settings = FAST_RETRIES | {"action_queue": 1}

    async def go() -> None:
        async with Guard(config(tmp_path, guard=guard_settings), broker, alerter=alerts) as guard:
            for i, sym in enumerate(("A", "B", "C")):
                await guard.on_tick(sym, 100.0, T0 + i)
                assert (
                    await guard.submit(rg.Signal(sym, "long", 100.0, stop=90.0, target=130.0))
                ).approved
                broker.paper.on_tick(sym, 100.0, T0 + i)
            await until(lambda: not (sum(position(guard, s) != 0 for s in "ABC") < 3))
            broker.gate = asyncio.Event()  # the broker hangs
            # Ticks go on while the broker hangs, their actions queued...
            events = await asyncio.wait_for(guard.on_tick("A", 96.0, T0 + 10 * S), 10.0)
            assert [e.kind for e in events][-1] == "flatten_requested"
            # ...and a kill with more actions than the queue holds waits for room, saying so.
            kill = asyncio.create_task(guard.kill("test"))
            await heard(recorder, "action_queue_full")
            assert not kill.done()
            broker.gate.set()
            await asyncio.wait_for(kill, 10.0)
            await until(lambda: guard.status().pending_actions == 0)
            closes = sorted(o.symbol for o in await broker.paper.open_orders())
            assert closes == ["A", "B", "C"]  # nothing dropped, one close working for each
            for s in "ABC":
                broker.paper.on_tick(s, 100.0, T0 + 20 * S)
            await until(lambda: not guard.status().positions)
        await alerts.aclose()

    run(go())


def test_a_failing_journal_stops_new_risk_while_risk_reducing_orders_go_out(tmp_path, monkeypatch):
    broker = Simulated(PaperBroker())

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            decision = await open_long(guard)

            def broken(**_: Any) -> None:
                raise JournalError("disk full")

            monkeypatch.setattr(guard.journal, "write", broken)
            with pytest.raises(JournalError, match="disk full"):
                await guard.kill("get out")
            assert broker.submitted()[-1].qty == -decision.quantity  # the flatten went out
            assert guard.status().failure and guard.engine.paused
            with pytest.raises(GuardError, match="no new risk"):
                await guard.submit(LONG)
            with pytest.raises(JournalError):
                await guard.on_tick(SYM, 100.0, T0 + 2 * S)  # the flatten fills
            assert position(guard) == 0.0
            monkeypatch.undo()  # the journal works again: the next poll commits
            await until(lambda: guard.status().failure is None)
            assert guard.engine.paused  # and the pause it caused is now committed
            assert guard.journal.restore().paused

    run(go())


# --- restart -------------------------------------------------------------------------------


def test_a_restart_restores_the_last_committed_state(tmp_path):
    async def first() -> bytes:
        guard = Guard(config(tmp_path))
        await open_long(guard)
        await guard.on_tick(SYM, 101.0, T0 + 2 * S)
        await guard.aclose()
        return guard.engine.to_bytes()

    image = run(first())
    guard = Guard(config(tmp_path))
    assert guard.engine.to_bytes() == image
    run(guard.aclose())


def test_positions_are_reconciled_with_the_broker_on_start(tmp_path):
    paper = PaperBroker()
    run(paper.submit(Order(SYM, 3.0)))
    paper.on_tick(SYM, 100.0, T0)
    recorder = Recorder()
    alerts = alerter(recorder)

    async def go() -> None:
        async with Guard(config(tmp_path), Simulated(paper), alerter=alerts) as guard:
            assert position(guard) == 3.0
            adopted, fill = guard.journal.fills()  # the broker's own fill, and the adoption
            assert '"adopted": true' in adopted["details"]
            assert fill["qty"] == 3.0 and fill["price"] == 100.0 and "reconcile" in fill["details"]
            await heard(recorder, "reconciliation")
        await alerts.aclose()

    run(go())


def test_risk_reducing_orders_committed_but_never_sent_are_sent_on_restart(tmp_path):
    paper = PaperBroker()
    broker = Simulated(paper)

    async def first() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await open_long(guard)

    run(first())
    # What a crash between the commit and the broker leaves behind.
    with Journal(f"sqlite:///{tmp_path / 'journal.db'}") as j:
        j.write(
            orders=[
                order_row(T0, "rg-flatten-x", SYM, -5.0, "market", "pending", purpose="flatten")
            ]
        )
        j.write(
            orders=[order_row(T0, "rg-entry-y", SYM, 5.0, "market", "pending", purpose="entry")]
        )

    async def second() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            for _ in range(50):
                await asyncio.sleep(0.002)
            sent = [o for o in broker.submitted() if o.client_order_id == "rg-flatten-x"]
            assert len(sent) == 1 and sent[0].qty == -5.0
            assert not any(o.client_order_id == "rg-entry-y" for o in broker.submitted())
            statuses = {o["client_order_id"]: o["status"] for o in guard.journal.orders()}
            assert statuses["rg-entry-y"] == "abandoned"

    run(second())


def test_a_reducing_order_in_doubt_at_a_crash_is_looked_up_before_it_is_sent_again(tmp_path):
    """A venue takes a reused client order id once the first order is final: a close that
    reached it before the crash must not be sent again on restart, only asked for."""
    paper = PaperBroker()

    class Asked(Simulated):
        """A venue that can say what became of an order (OrderLookup)."""

        def order(self, client_order_id: str) -> Order:
            self.calls.append(("order", client_order_id))
            return self.paper.order(client_order_id)

    broker = Asked(paper)

    async def first() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await open_long(guard)

    run(first())
    with Journal(f"sqlite:///{tmp_path / 'journal.db'}") as j:
        j.write(
            orders=[
                order_row(T0, "rg-flatten-z", SYM, -5.0, "market", "ambiguous", purpose="flatten")
            ]
        )
    # It had reached the venue before the crash.
    asyncio.run(paper.submit(Order(SYM, -5.0, client_order_id="rg-flatten-z")))
    before = len(broker.submitted())

    async def second() -> None:
        async with Guard(config(tmp_path), broker):
            for _ in range(50):
                await asyncio.sleep(0.002)
            resent = [o for o in broker.submitted()[before:] if o.client_order_id == "rg-flatten-z"]
            assert resent == [], "sent again without asking the venue first"
            assert ("order", "rg-flatten-z") in broker.calls  # asked for instead

    run(second())


def test_a_kill_recorded_while_stopped_flattens_on_start(tmp_path):
    broker = Wrapped(PaperBroker())

    async def first() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await open_live(guard, broker)

    run(first())
    with Journal(f"sqlite:///{tmp_path / 'journal.db'}") as cli:
        cli.record_control("kill", time.time_ns(), reason="overnight", actor="ops")

    async def second() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            assert guard.status().kill_switch
            await until(lambda: any(o.qty < 0 for o in broker.submitted()))
            broker.paper.on_tick(SYM, 100.0, T0 + 2 * S)
            await until(lambda: not (position(guard)))

    run(second())


def test_flatten_orders_a_broker_dropped_are_asked_for_again_on_restart(tmp_path):
    broker = Wrapped(PaperBroker())

    async def first() -> float:
        async with Guard(config(tmp_path), broker) as guard:
            decision = await open_live(guard, broker)
            await guard.kill("test")
        return decision.quantity

    qty = run(first())
    [working] = run(broker.paper.open_orders())
    assert working.qty == -qty
    run(broker.paper.cancel_all())  # the broker lost its working orders

    async def second() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await until(lambda: not (len([o for o in broker.submitted() if o.qty < 0]) < 2))
            broker.paper.on_tick(SYM, 100.0, T0 + 2 * S)
            await until(lambda: not (position(guard)))
            assert await broker.positions() == {}

    run(second())


def test_a_corrupt_journal_is_refused(tmp_path):
    run(start_and_stop(config(tmp_path)))
    db = sqlite3.connect(tmp_path / "journal.db")
    [(sid, image)] = db.execute("SELECT id, image FROM rg_snapshots ORDER BY id DESC LIMIT 1")
    flipped = bytes(image[:-5]) + bytes([image[-5] ^ 1]) + bytes(image[-4:])
    db.execute("UPDATE rg_snapshots SET image = ? WHERE id = ?", (flipped, sid))
    db.commit()
    db.close()
    with pytest.raises(JournalError, match="checksum|snapshot"):
        Guard(config(tmp_path))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "journal.db").write_bytes(b"not a database" * 100)
    with pytest.raises(JournalError):
        Guard(config(tmp_path / "other"))


def test_a_clean_shutdown_loses_no_decision(tmp_path):
    async def go() -> None:
        guard = Guard(config(tmp_path))
        await guard.on_tick(SYM, 100.0, T0)
        poor = rg.Signal(SYM, "long", 100.0, stop=98.0, target=100.5)
        tasks = [asyncio.create_task(guard.submit(poor)) for _ in range(200)]
        # Each submit has queued its decision and waits for the group commit: close now.
        await until(lambda: len(guard.journal._queue.queue) + len(guard.journal.decisions()) >= 200)
        await guard.aclose()
        assert len(await asyncio.gather(*tasks)) == 200

    run(go())
    with Journal(f"sqlite:///{tmp_path / 'journal.db'}") as j:
        assert len(j.decisions()) == 200


# --- status and bad input ------------------------------------------------------------------


def test_status_reports_the_state(tmp_path):
    async def go() -> None:
        async with Guard(config(tmp_path)) as guard:
            decision = await open_long(guard)
            await guard.on_tick(SYM, 95.0, T0 + 2 * S)
            status = guard.status()
            assert status.state == "ACTIVE"  # position_loss closes the position, no halt
            d = status.to_dict()
            assert d["equity"] == pytest.approx(100_000.0 - 5.0 * decision.quantity)
            assert d["drawdown"] == pytest.approx(5.0 * decision.quantity / 100_000.0)
            assert status.tripped == ["position_loss"]
            assert [b["name"] for b in d["breakers"]] == [b.name for b in guard.engine.breakers()]
            assert d["positions"][SYM]["qty"] == decision.quantity
            assert d["lease"]["state"] == "held" and d["lease"]["holder"].startswith("guard ")
            assert d["failure"] is None and d["kill_switch"] is False
            assert "Guard(state=" in repr(guard)

    run(go())


BAD_TICKS = [
    (SYM, math.nan, T0),
    (SYM, math.inf, T0),
    (SYM, 0.0, T0),
    (SYM, -1.0, T0),
    (SYM, "100", T0),
    (SYM, 100.0, T0 - 1),  # backwards
    (SYM, 100.0, 1.5),
    ("", 100.0, T0),
    (None, 100.0, T0),
]


@pytest.mark.parametrize("tick", BAD_TICKS)
def test_a_bad_tick_is_refused_and_changes_nothing(tmp_path, tick):
    async def go() -> None:
        async with Guard(config(tmp_path)) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            before = guard.engine.to_bytes(), len(guard.journal.events())
            with pytest.raises(rg.RiskError):
                await guard.on_tick(*tick)
            assert (guard.engine.to_bytes(), len(guard.journal.events())) == before

    run(go())


def test_unknown_symbols_are_refused_when_symbols_are_configured(tmp_path):
    async def go() -> None:
        cfg = config(tmp_path, broker={"symbols": [SYM]})
        async with Guard(cfg) as guard:
            with pytest.raises(rg.RiskError, match="unknown"):
                await guard.on_tick("ETH", 100.0, T0)
            with pytest.raises(rg.RiskError, match="unknown"):
                await guard.on_ticks(["ETH"], [1.0], [T0])
            assert "ETH" not in guard.engine.symbols

    run(go())


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([SYM, SYM], [100.0], [T0, T0]), "one length"),
        (([SYM], [math.nan], [T0]), r"prices\[0\]"),
        (([SYM], [100.0, 0.0], [T0, T0]), "one length"),
        (([SYM, SYM], [100.0, -1.0], [T0, T0]), r"prices\[1\]"),
        (([SYM], [100.0], [T0 - 1]), r"ts\[0\] goes backwards"),
        (([SYM], np.array([100], dtype=np.int64), np.array([T0])), "float64"),
        ((np.array([7], dtype=np.uint32), [100.0], [T0]), r"symbols\[0\]"),
        (("BTC", [100.0], [T0]), "sequence of str"),
        (([SYM], np.ones((1, 1)), np.array([[T0]])), "1-D"),
        (([""], [100.0], [T0]), "non-empty"),
        (([SYM], ["x"], [T0]), "float64"),
    ],
)
@pytest.mark.parametrize("simulated", [True, False])
def test_a_bad_batch_is_refused_and_changes_nothing(tmp_path, args, match, simulated):
    broker = Simulated(PaperBroker()) if simulated else Wrapped(PaperBroker())

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            before = guard.engine.to_bytes()
            with pytest.raises(rg.RiskError, match=match):
                await guard.on_ticks(*args)
            assert guard.engine.to_bytes() == before
            assert guard.engine.symbols == [SYM]

    run(go())


def test_lists_and_arrays_batch_alike(tmp_path):
    async def go(folder: Path, broker: Broker, as_arrays: bool) -> bytes:
        folder.mkdir()
        async with Guard(config(folder), broker) as guard:
            prices, ts = [100.0, 101.0, 99.5], [T0, T0 + S, T0 + 2 * S]
            if as_arrays:
                prices, ts = np.array(prices), np.array(ts, dtype=np.int64)
            await guard.on_ticks([SYM, "ETH", SYM], prices, ts)
            return guard.engine.to_bytes()

    images = {
        run(go(tmp_path / f"{k}", broker, arrays))
        for k, (broker, arrays) in enumerate(
            [
                (Wrapped(PaperBroker()), False),
                (Wrapped(PaperBroker()), True),
                (Simulated(PaperBroker()), False),
                (Simulated(PaperBroker()), True),
            ]
        )
    }
    assert len(images) == 1


def test_empty_batches_do_nothing(tmp_path):
    async def go() -> None:
        async with Guard(config(tmp_path), Wrapped(PaperBroker())) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            before = guard.engine.to_bytes()
            empty = np.array([], dtype=np.float64)
            assert await guard.on_ticks([], empty, np.array([], dtype=np.int64)) == []
            assert guard.engine.to_bytes() == before

    run(go())


@pytest.mark.parametrize("bad", [None, "BTC long", {"symbol": SYM}, 1.0])
def test_submit_refuses_what_is_not_a_signal(tmp_path, bad):
    async def go() -> None:
        async with Guard(config(tmp_path)) as guard:
            with pytest.raises(rg.RiskError):
                await guard.submit(bad)
            assert guard.journal.decisions() == []

    run(go())


def test_controls_refuse_bad_arguments(tmp_path):
    async def go() -> None:
        async with Guard(config(tmp_path)) as guard:
            for call in (
                guard.kill(None),  # type: ignore[arg-type]
                guard.kill(1.0),  # type: ignore[arg-type]
                guard.pause(reason=3),  # type: ignore[arg-type]
                guard.kill("x", actor=None),  # type: ignore[arg-type]
                guard.reset(None, confirm=True),  # type: ignore[arg-type]
            ):
                with pytest.raises(rg.RiskError):
                    await call
            assert not guard.status().kill_switch and not guard.status().paused

    run(go())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"config": {"limits": {}}},
        {"broker": "paper"},
        {"journal": "sqlite:///x.db"},
        {"alerter": [Recorder()]},
    ],
)
def test_the_constructor_checks_its_arguments(tmp_path, kwargs):
    base = {"config": config(tmp_path)}
    with pytest.raises(rg.RiskError):
        Guard(**(base | kwargs))


def test_a_closed_guard_refuses_work(tmp_path):
    async def go() -> None:
        guard = Guard(config(tmp_path))
        await guard.start()
        await guard.aclose()
        with pytest.raises(GuardError, match="closed"):
            await guard.on_tick(SYM, 100.0, T0)
        with pytest.raises(GuardError, match="closed"):
            await guard.submit(LONG)
        with pytest.raises(GuardError, match="closed"):
            await guard.kill("x")

    run(go())


def test_the_paper_broker_is_a_broker() -> None:
    assert isinstance(PaperBroker(), Broker)


# --- races between fills, exits, kills and restarts ----------------------------------------


class Prompt(Wrapped):
    """A live broker that fills market orders on submission and says so (status ``filled``),
    while its fill stream lags behind, and whose clock runs ahead of the market feed."""

    def __init__(self, paper: PaperBroker, lag: float = 0.05) -> None:
        super().__init__(paper)
        self.px, self.now, self.lag = 100.0, T0, lag

    async def submit(self, order: Order) -> Order:
        self.calls.append(("submit", order))
        self._maybe_fail("submit")
        placed = await self.paper.submit(order)
        self.paper.on_tick(order.symbol, self.px, self.now + 50_000_000)  # 50 ms ahead
        return self.paper.order(placed.client_order_id or "")

    async def _lagging(self, follow: bool) -> AsyncIterator[Fill]:
        async for fill in self.paper.fills(follow=follow):
            await asyncio.sleep(self.lag)
            yield fill

    def fills(self, *, follow: bool = True) -> AsyncIterator[Fill]:
        return self._lagging(follow)


def test_a_broker_whose_clock_runs_ahead_does_not_break_the_market_feed(tmp_path):
    broker = Prompt(PaperBroker(), lag=0.0)

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            await guard.submit(LONG)
            await until(lambda: position(guard))
            assert guard.engine.ts == T0
            await guard.on_tick(SYM, 100.1, T0 + 10_000_000)  # 10 ms later, before the fill's time
            fill = guard.journal.fills()[0]
            assert fill["ts"] == T0 + 50_000_000  # the journal keeps the broker's time

    run(go())


def test_an_exit_and_a_kill_with_a_lagging_fill_stream_close_once(tmp_path):
    broker = Prompt(PaperBroker(allow_short=True))

    async def go() -> None:
        async with Guard(config(tmp_path, {"position_loss": "off"}), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            decision = await guard.submit(LONG)
            await until(lambda: position(guard))
            broker.px, broker.now = 89.0, T0 + 2 * S
            await guard.on_tick(SYM, 89.0, T0 + 2 * S)  # through the stop: the exit goes out
            await guard.kill("operator")  # the engine still shows the position
            await until(lambda: position(guard) == 0.0)
            await asyncio.sleep(0.2)  # let any second close reach the broker
            closes = [o.qty for o in broker.submitted() if o.qty < 0]
            assert closes == [-decision.quantity]
            assert broker.paper.position(SYM).qty == 0.0

    run(go())


def test_a_kill_cancels_a_working_exit_and_still_closes(tmp_path):
    broker = Simulated(PaperBroker())

    async def go() -> None:
        async with Guard(config(tmp_path, {"position_loss": "off"}), broker) as guard:
            decision = await open_long(guard)
            await guard.on_tick(SYM, 89.0, T0 + 2 * S)  # the exit order is working
            [working] = await broker.paper.open_orders()
            assert working.qty == -decision.quantity
            await guard.kill("operator")  # cancels the exit, then flattens
            await guard.on_tick(SYM, 89.0, T0 + 3 * S)
            assert position(guard) == 0.0 and broker.paper.position(SYM).qty == 0.0

    run(go())


def test_an_entry_filled_as_the_kill_lands_is_closed(tmp_path):
    broker = Wrapped(PaperBroker())

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            decision = await guard.submit(LONG)
            broker.paper.on_tick(SYM, 100.0, T0 + S)  # filled at the broker, still on the wire
            await guard.kill("operator")
            await until(lambda: any(o.qty < 0 for o in broker.submitted()))
            assert [o.qty for o in broker.submitted() if o.qty < 0] == [-decision.quantity]
            broker.paper.on_tick(SYM, 100.0, T0 + 2 * S)
            await until(lambda: broker.paper.position(SYM).qty == 0.0 and position(guard) == 0.0)

    run(go())


def test_an_entry_on_its_way_when_the_kill_lands_is_taken_back(tmp_path):
    broker = Wrapped(PaperBroker())

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            broker.gate = asyncio.Event()  # the broker is slow to answer
            entry = asyncio.create_task(guard.submit(LONG))
            await until(lambda: broker.submitted())
            await guard.kill("operator")
            await until(lambda: guard.status().pending_actions == 0)
            broker.gate.set()
            await entry
            assert await broker.paper.open_orders() == []
            statuses = [o["status"] for o in guard.journal.orders() if "entry" in o["details"]]
            assert statuses[-1] == "cancelled"
            broker.paper.on_tick(SYM, 100.0, T0 + S)
            assert broker.paper.position(SYM).qty == 0.0

    run(go())


def test_an_entry_is_not_sent_once_trading_is_paused(tmp_path):
    broker = Wrapped(PaperBroker())
    broker.fail["submit"] = 1  # the first try fails; the pause lands during the backoff

    async def go() -> None:
        async with Guard(config(tmp_path, guard={"retry_backoff_s": 0.2}), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            entry = asyncio.create_task(guard.submit(LONG))
            await until(lambda: broker.submitted())
            await guard.pause("news")
            assert (await entry).approved
            assert len(broker.submitted()) == 1
            assert guard.journal.orders()[-1]["status"] == "cancelled"

    run(go())


def test_one_flatten_that_keeps_failing_does_not_hold_up_the_others(tmp_path):
    class HaltedA(Wrapped):
        async def submit(self, order: Order) -> Order:
            if order.symbol == "A" and order.qty < 0:
                self.calls.append(("submit", order))
                raise ConnectionError("A: market halted")
            return await super().submit(order)

    broker = HaltedA(PaperBroker())

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            for i, s in enumerate("AB"):
                await guard.on_tick(s, 100.0, T0 + i)
                signal = rg.Signal(s, "long", 100.0, stop=90.0, target=130.0)
                assert (await guard.submit(signal)).approved
                broker.paper.on_tick(s, 100.0, T0 + i)
            await until(lambda: position(guard, "A") and position(guard, "B"))
            await guard.kill("operator")
            await until(lambda: any(o.symbol == "B" and o.qty < 0 for o in broker.submitted()))
            await until(lambda: sum(o.symbol == "A" for o in broker.submitted() if o.qty < 0) > 6)
            assert list(guard.status().escalations) == [
                "flatten of A failing: ConnectionError: A: market halted"
            ]

    run(go())


def test_fills_made_while_the_guard_was_down_are_applied_once(tmp_path):
    broker = Wrapped(PaperBroker())

    async def first() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await open_live(guard, broker)
            await guard.kill("operator")  # the flatten is working at the broker

    run(first())
    broker.paper.on_tick(SYM, 100.0, T0 + 2 * S)  # it fills while no Guard listens

    async def second() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            assert position(guard) == 0.0
            await asyncio.sleep(0.05)  # the fill stream replays its history: nothing new
            assert position(guard) == 0.0
            assert sum(f["qty"] for f in guard.journal.fills()) == 0.0
            assert not any("reconcile" in f["client_order_id"] for f in guard.journal.fills())

    run(second())


def test_a_fresh_journal_adopts_the_brokers_positions_at_their_equity(tmp_path):
    paper = PaperBroker()
    run(paper.submit(Order(SYM, 3.0)))
    paper.on_tick(SYM, 100.0, T0)  # bought 3 at 100: cash 99 700

    async def go() -> None:
        async with Guard(config(tmp_path), Simulated(paper)) as guard:
            assert position(guard) == 3.0
            assert guard.status().equity == pytest.approx(paper.equity())
            await guard.on_tick(SYM, 100.0, T0 + S)
            assert position(guard) == 3.0  # the broker's own fill is not applied again
            assert guard.status().equity == pytest.approx(100_000.0)

    run(go())


def test_closing_wakes_a_tick_path_that_waits_for_its_actions(tmp_path):
    broker = Simulated(PaperBroker())

    async def go() -> None:
        guard = Guard(config(tmp_path), broker)
        for i, s in enumerate("AB"):
            await guard.on_tick(s, 100.0, T0 + i)
            await guard.submit(rg.Signal(s, "long", 100.0, stop=90.0, target=130.0))
        await guard.on_tick("A", 100.0, T0 + S)
        await guard.on_tick("B", 100.0, T0 + S)
        broker.gate = asyncio.Event()  # the broker hangs: both flattens stay queued
        kill = asyncio.create_task(guard.kill("operator"))
        await until(lambda: broker.submitted()[-1].qty < 0)
        await guard.aclose(timeout=0.05)
        await asyncio.wait_for(kill, 5.0)  # returns instead of waiting forever

    run(go())


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url():
    import sqlalchemy as sa

    try:
        from . import postgres_server
    except ImportError:  # tests/ is not a package: pytest puts it on sys.path
        import postgres_server

    with postgres_server.postgres_url() as base:
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text("DROP DATABASE IF EXISTS rg_guard"))
            c.execute(sa.text("CREATE DATABASE rg_guard"))
        admin.dispose()
        yield base.rsplit("/", 1)[0] + "/rg_guard"


def test_the_guard_runs_and_restarts_on_postgresql(tmp_path, pg_url):
    cfg = config(tmp_path).model_copy(
        update={"journal": config(tmp_path).journal.model_copy(update={"url": pg_url})}
    )

    async def first() -> None:
        async with Guard(cfg) as guard:
            assert guard.journal.dialect == "postgresql"
            await open_long(guard)
            await guard.kill("operator")
            await guard.on_tick(SYM, 100.0, T0 + 2 * S)
            assert position(guard) == 0.0

    async def second() -> None:
        async with Guard(cfg) as guard:
            assert guard.status().kill_switch
            kinds = [e["kind"] for e in guard.journal.events()]
            assert kinds[:3] == ["kill_switch", "state_changed", "flatten_requested"]
            assert [t["state"] for t in guard.journal.trades()] == ["CLOSED_BREAKER"]

    run(first())
    run(second())


class LostAnswers(Prompt):
    """A prompt broker that places closing orders but loses the answers of the next few."""

    lose = 0

    async def submit(self, order: Order) -> Order:
        placed = await super().submit(order)
        if order.qty < 0 and self.lose:
            self.lose -= 1
            raise TimeoutError("no answer from the broker")
        return placed


@pytest.mark.parametrize("trigger", ["position_loss", "kill"])
def test_a_close_whose_answers_are_lost_is_asked_for_again_under_its_id(tmp_path, trigger):
    broker = LostAnswers(PaperBroker(allow_short=True), lag=0.05)

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            decision = await guard.submit(LONG)
            await until(lambda: position(guard))
            broker.lose = 3  # a try and both retries: the escalation asks again later
            if trigger == "kill":
                await guard.kill("operator")
            else:
                broker.px, broker.now = 96.0, T0 + S
                await guard.on_tick(SYM, 96.0, T0 + S)
            await until(lambda: position(guard) == 0.0 and not guard.status().escalations)
            closes = [o for o in broker.submitted() if o.qty < 0]
            assert len({o.client_order_id for o in closes}) == 1  # one order, asked 4 times
            assert all(o.qty == -decision.quantity for o in closes)
            assert broker.paper.position(SYM).qty == 0.0

    run(go())


def test_orders_go_out_on_start_only_once_the_engine_agrees_with_the_broker(tmp_path):
    paper = PaperBroker(allow_short=True)

    async def first() -> None:
        async with Guard(config(tmp_path), Prompt(paper, lag=0.0)) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            await guard.submit(LONG)
            await until(lambda: position(guard))

    run(first())
    with Journal(f"sqlite:///{tmp_path / 'journal.db'}") as cli:
        cli.record_control("kill", T0, reason="overnight", actor="ops")

    class SlowPositions(Prompt):
        async def positions(self) -> dict[str, Position]:
            await asyncio.sleep(0.05)  # a network round trip
            return await self.paper.positions()

    async def second() -> None:
        broker = SlowPositions(paper, lag=0.0)
        async with Guard(config(tmp_path), broker) as guard:
            await until(lambda: position(guard) == 0.0)
            await asyncio.sleep(0.1)  # time for a second, wrong order to show up
            assert [o.qty for o in broker.submitted()] == [-100.0]
            assert paper.position(SYM).qty == 0.0

    run(second())


def test_the_brokers_past_fills_are_adopted_once_across_starts(tmp_path):
    paper = PaperBroker()
    run(paper.submit(Order(SYM, 300.0)))
    paper.on_tick(SYM, 100.0, T0)  # bought before riskguard existed
    limits = {"leverage": {"threshold": 0.5, "action": "reduce"}}

    async def start() -> None:
        async with Guard(config(tmp_path, limits), Wrapped(paper)) as guard:
            assert position(guard) == 300.0
            assert guard.journal.events() == []  # no breaker saw a doubled position

    run(start())
    paper.on_tick(SYM, 110.0, T0 + 60 * S)
    run(start())
    assert paper.position(SYM).qty == 300.0


def test_a_reduce_that_filled_while_down_is_not_counted_again(tmp_path):
    broker = Wrapped(PaperBroker())

    async def first() -> float:
        async with Guard(config(tmp_path), broker) as guard:
            return (await open_live(guard, broker)).quantity

    qty = run(first())
    # A crash between the broker's acceptance of a reduce and the commit of its answer.
    with Journal(f"sqlite:///{tmp_path / 'journal.db'}") as j:
        row = order_row(T0 + S, "rg-reduce-x", SYM, -qty / 2, "market", "pending")
        j.write(orders=[row | {"details": '{"purpose": "reduce", "intent": "rg-reduce-x"}'}])
    run(broker.paper.submit(Order(SYM, -qty / 2, client_order_id="rg-reduce-x")))
    broker.paper.on_tick(SYM, 100.0, T0 + 2 * S)  # and it filled while no Guard listened

    async def second() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await until(lambda: not guard.status().pending_actions)
            assert position(guard) == qty / 2 == broker.paper.position(SYM).qty
            await guard.kill("operator")  # nothing in flight may shrink this close
            await until(lambda: broker.paper._working)
            broker.paper.on_tick(SYM, 100.0, T0 + 3 * S)
            await until(lambda: position(guard) == 0.0 == broker.paper.position(SYM).qty)

    run(second())


def test_a_reducing_order_working_across_a_restart_is_netted(tmp_path):
    limits = {"leverage": {"threshold": 0.3, "action": "reduce", "fraction": 0.4}}
    limits |= {"max_position_pct": 0.25, "partial_tp_r": "off", "trail_start_r": "off"}
    limits |= {"risk_per_trade": 0.1, "max_risk_per_trade": 0.2}
    broker = Wrapped(PaperBroker(allow_short=True))

    async def first() -> None:
        async with Guard(config(tmp_path, limits), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            await guard.submit(rg.Signal(SYM, "long", 100.0, stop=90.0, target=200.0))
            broker.paper.on_tick(SYM, 100.0, T0 + S)
            await until(lambda: position(guard))
            await guard.on_tick(SYM, 150.0, T0 + 2 * S)  # leverage: reduce 40 %
            await until(lambda: len(broker.paper._working) == 1)

    run(first())

    async def second() -> None:
        async with Guard(config(tmp_path, limits), broker) as guard:
            await guard.on_tick(SYM, 201.0, T0 + 3 * S)  # the target: exit what is left
            await until(lambda: len(broker.paper._working) == 2)
            broker.paper.on_tick(SYM, 201.0, T0 + 4 * S)
            await until(lambda: position(guard) == 0.0)
            assert broker.paper.position(SYM).qty == 0.0  # not flipped short

    run(second())


def test_what_a_failed_journal_write_owed_is_written_when_it_recovers(tmp_path, monkeypatch):
    settings = FAST_RETRIES | {"control_poll_s": 0.02}

    async def go() -> None:
        async with Guard(config(tmp_path, guard=settings)) as guard:
            await open_long(guard)

            def broken(**_: Any) -> None:
                raise JournalError("disk full")

            monkeypatch.setattr(guard.journal, "write", broken)
            with pytest.raises(JournalError):
                await guard.kill("get out")
            monkeypatch.undo()
            await until(lambda: guard.status().failure is None)
            kinds = [e["kind"] for e in guard.journal.events()]
            assert kinds[:3] == ["kill_switch", "state_changed", "flatten_requested"]
            assert any(
                o["status"] == "pending" and "flatten" in o["details"]
                for o in guard.journal.orders()
            )
            assert guard.journal.controls()[-1].action == "kill"

    run(go())


def test_a_retried_cancel_leaves_the_guards_own_close_alone(tmp_path):
    broker = Wrapped(PaperBroker())

    async def go() -> None:
        async with Guard(config(tmp_path), broker) as guard:
            await open_live(guard, broker)
            broker.fail["open_orders"] = 3  # the kill's cancels fail, then are retried
            await guard.kill("operator")
            await until(lambda: broker.paper._working and not guard.status().pending_actions)
            [close] = await broker.paper.open_orders()
            assert close.qty == -100.0
            broker.paper.on_tick(SYM, 100.0, T0 + 2 * S)
            await until(lambda: position(guard) == 0.0 == broker.paper.position(SYM).qty)

    run(go())
