"""A Guard on a live venue, composed from configuration as `riskguard run` composes it: Binance
USD-M through the real ccxt client against the fake venue on 127.0.0.1. Entries, fills by id in
the journal, a kill that leaves the venue flat, a stale feed that pauses new risk and recovers,
a 418 that raises a critical alert, and no secret in any journal row."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

pytest.importorskip("ccxt")
pytest.importorskip("aiohttp")

import riskguard as rg  # noqa: E402
from riskguard.testing.conformance import MARKETS  # noqa: E402
from riskguard.testing.fake import FakeVenue, dialect, exchange_for  # noqa: E402

SYMBOL = "BTC/USDT:USDT"
KEY, SECRET, PASSWORD = "live-guard-key-91b2", "live-guard-secret-77ac", "live-guard-pass-3e"


class Memory:
    """An alert sink that keeps what it is given."""

    def __init__(self) -> None:
        self.alerts: list[Any] = []

    def notify(self, alert: Any) -> bool:
        self.alerts.append(alert)
        return True

    async def start(self) -> None:
        return None

    async def aclose(self, timeout: float | None = 10.0) -> None:
        return None

    def sink_names(self) -> list[str]:
        return ["memory"]

    def kinds(self) -> list[str]:
        return [a.kind for a in self.alerts]


def signal(price: float, symbol: str = SYMBOL) -> Any:
    """A long with a stop, a target and the market context the gate checks."""
    return rg.Signal(
        symbol,
        "long",
        price,
        stop=price * 0.97,
        target=price * 1.06,
        confidence=0.9,
        consensus="STRONG",
        atr=price * 0.004,
        ema=price * 0.99,
        volume_24h=1e9,
        spread_bps=1.0,
    )


class Once:
    """A strategy that goes long on the first tick it sees, with a stop and a target."""

    def __init__(self) -> None:
        self.done = False

    def on_tick(self, tick: Any) -> Any:
        if self.done:
            return None
        self.done = True
        return signal(tick.price, tick.symbol)


@asynccontextmanager
async def live(
    tmp_path: Any, venue: str = "binanceusdm", **broker: Any
) -> AsyncIterator[tuple[Any, Any, Memory]]:
    """A Guard composed from configuration on ``venue`` against a fresh fake venue."""
    market = MARKETS[venue]
    exchange = exchange_for(
        market.market_id,
        market.kind,
        tick=market.tick,
        lot=market.lot,
        min_notional=market.min_notional,
        price=market.price,
        contract_size=market.contract_size,
    )
    fake_dialect = dialect(venue, exchange, api_key=KEY, secret=SECRET, password=PASSWORD)
    with FakeVenue([fake_dialect]) as fake:
        config = rg.Config.load(
            None,
            broker={
                "type": venue,
                "symbols": [market.symbol],
                "base_url": fake.base_url(venue),
                "ws_url": fake.ws_url(venue),
                "api_key": KEY,
                "secret": SECRET,
                "password": PASSWORD,
                "dead_man_s": "off",
                **broker,
            },
            journal={"url": f"sqlite:///{tmp_path / 'live.db'}"},
            guard={"call_timeout_s": 2.0, "retry_backoff_s": 0.05, "equity": 100_000.0},
        )
        alerts = Memory()
        guard = rg.Guard(config, alerter=alerts)
        try:
            yield guard, fake, alerts
        finally:
            await guard.aclose()


async def until(what: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not (await what() if asyncio.iscoroutinefunction(what) else what()):
        assert time.monotonic() < deadline, f"not true within {timeout} s: {what}"
        await asyncio.sleep(0.05)


async def prime(guard: Any, fake: Any, venue: str = "binanceusdm") -> None:
    """Starts the venue and puts a first trade on its market stream."""
    market = MARKETS[venue]
    await guard.start()
    await guard.broker.start()
    exchange = fake.exchange(venue)

    def priced() -> bool:
        exchange.set_price(market.market_id, market.price)
        return guard.broker.last_price(market.symbol) is not None

    await until(priced)


def held(exchange: Any, venue: str) -> float:
    """What the fake venue holds of the venue's market, in base units."""
    market = MARKETS[venue]
    if market.kind == "spot":
        return exchange.assets.get(exchange.markets[market.market_id].base, 0.0)
    return exchange.position(market.market_id).qty * market.contract_size


@pytest.mark.parametrize("venue", sorted(MARKETS))
def test_every_live_venue_enters_through_the_guard_and_a_kill_leaves_it_flat(tmp_path, venue):
    market = MARKETS[venue]

    async def main() -> None:
        async with live(tmp_path, venue) as (guard, fake, alerts):
            exchange = fake.exchange(venue)
            await prime(guard, fake, venue)
            runner = asyncio.create_task(guard.run(guard.broker.feed(), strategy=Once()))
            await until(lambda: held(exchange, venue) > 0)
            await until(lambda: market.symbol in guard.status().positions)
            assert guard.status().positions[market.symbol]["qty"] == pytest.approx(
                held(exchange, venue), rel=1e-9
            )
            await guard.kill("test", actor="test")
            lot = market.lot * market.contract_size
            await until(lambda: abs(held(exchange, venue)) < lot, timeout=20.0)
            await until(lambda: "flat" in alerts.kinds(), timeout=20.0)
            assert not exchange.open_orders()
            await until(lambda: not guard.status().positions)
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        rows = (
            sqlite3.connect(tmp_path / "live.db")
            .execute("SELECT qty, details FROM rg_fills")
            .fetchall()
        )
        ids = [json.loads(d).get("fill_id") for _, d in rows]
        assert len(ids) == len(set(ids)) >= 2, ids
        assert sum(q for q, _ in rows) == pytest.approx(0.0, abs=1e-9)

    asyncio.run(asyncio.wait_for(main(), 90.0))


def test_an_entry_fills_once_and_a_kill_leaves_the_venue_flat(tmp_path) -> None:
    async def main() -> None:
        async with live(tmp_path) as (guard, fake, alerts):
            exchange = fake.exchange("binanceusdm")
            await prime(guard, fake)
            runner = asyncio.create_task(guard.run(guard.broker.feed(), strategy=Once()))
            await until(lambda: exchange.position("BTCUSDT").qty > 0)
            held = exchange.position("BTCUSDT").qty
            await until(lambda: SYMBOL in guard.status().positions)
            assert guard.status().positions[SYMBOL]["qty"] == pytest.approx(held)
            await guard.kill("test", actor="test")
            await until(lambda: exchange.position("BTCUSDT").qty == 0.0)
            await until(lambda: "flat" in alerts.kinds(), timeout=15.0)
            assert not exchange.open_orders()
            assert guard.status().positions == {}
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        rows = (
            sqlite3.connect(tmp_path / "live.db")
            .execute("SELECT qty, details FROM rg_fills")
            .fetchall()
        )
        ids = [json.loads(d).get("fill_id") for _, d in rows]
        assert len(ids) == len(set(ids)) == len(exchange.trades), (ids, exchange.trades)
        assert sum(q for q, _ in rows) == pytest.approx(0.0, abs=1e-12)
        # Orders the Guard closed with were reduce-only at the venue.
        closes = [o for o in exchange.orders.values() if o.side == "sell"]
        assert closes and all(o.reduce_only for o in closes)

    asyncio.run(asyncio.wait_for(main(), 60.0))


def test_a_stale_feed_pauses_new_risk_and_recovers(tmp_path) -> None:
    async def main() -> None:
        async with live(tmp_path, stale_feed_s=0.5) as (guard, fake, alerts):
            exchange = fake.exchange("binanceusdm")
            await prime(guard, fake)
            runner = asyncio.create_task(guard.run(guard.broker.feed()))
            fake.faults.silent = True
            await until(lambda: guard.engine.paused)
            assert "stale_feed" in alerts.kinds()
            decision = await guard.submit(signal(50_000.0))
            assert not decision.approved and "TRADING_PAUSED" in decision.codes, decision
            fake.faults.silent = False
            exchange.set_price("BTCUSDT", 50_010.0)
            await until(lambda: not guard.engine.paused)
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        events = (
            sqlite3.connect(tmp_path / "live.db")
            .execute("SELECT kind, message FROM rg_events")
            .fetchall()
        )
        assert any("STALE_FEED" in (d or "") for _, d in events), events

    asyncio.run(asyncio.wait_for(main(), 60.0))


def test_a_418_ban_stops_calls_and_raises_a_critical_alert(tmp_path) -> None:
    async def main() -> None:
        async with live(tmp_path) as (guard, fake, alerts):
            await prime(guard, fake)
            fake.faults.fail("balance", 418, headers={"Retry-After": "1"})
            with pytest.raises(rg.errors.RateLimited):
                await guard.broker.balance()
            assert any(a.kind == "venue_ban" and a.severity == "critical" for a in alerts.alerts)
            start = time.monotonic()
            await guard.broker.balance()  # waits the ban out, then answers
            assert time.monotonic() - start >= 0.9

    asyncio.run(asyncio.wait_for(main(), 60.0))


def test_no_secret_reaches_the_journal_or_the_status(tmp_path) -> None:
    async def main() -> None:
        async with live(tmp_path) as (guard, fake, alerts):
            await prime(guard, fake)
            runner = asyncio.create_task(guard.run(guard.broker.feed(), strategy=Once()))
            await until(lambda: SYMBOL in guard.status().positions)
            status = repr(guard.status()) + repr(guard) + repr(guard.broker)
            assert KEY not in status and SECRET not in status
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        text = "\n".join(
            "".join(str(v) for v in row)
            for table in ("rg_events", "rg_orders", "rg_fills", "rg_decisions", "rg_meta")
            for row in sqlite3.connect(tmp_path / "live.db").execute(f"SELECT * FROM {table}")
        )
        assert text and KEY not in text and SECRET not in text
        assert all(KEY not in str(a) and SECRET not in str(a) for a in alerts.alerts)

    asyncio.run(asyncio.wait_for(main(), 60.0))


def test_the_dead_mans_switch_is_armed_while_running_and_disarmed_at_a_clean_stop(tmp_path):
    async def main() -> None:
        async with live(tmp_path, dead_man_s=10) as (guard, fake, alerts):
            dialect = fake.dialects["binanceusdm"]
            await prime(guard, fake)
            await until(lambda: fake.faults.count("countdown") >= 1)
            assert "BTCUSDT" in dialect._countdowns  # armed: a stopped Guard cancels all
            await guard.aclose()
            assert "BTCUSDT" not in dialect._countdowns  # disarmed: what is working stays

    asyncio.run(asyncio.wait_for(main(), 60.0))


async def _by_code(guard: Any, tmp_path: Any) -> str:
    await guard.pause("operator", actor="ops")
    return "an operator's pause"


async def _by_another_process(guard: Any, tmp_path: Any) -> str:
    from riskguard.journal import Journal

    journal = Journal(f"sqlite:///{tmp_path / 'live.db'}", create=False)
    try:  # as `riskguard pause` does it
        journal.record_control("pause", time.time_ns(), reason="ops", actor="cli")
    finally:
        journal.close()
    await until(lambda: not guard.journal.pending_controls())
    return "a pause from another process"


async def _by_an_escalation(guard: Any, tmp_path: Any) -> str:
    guard._raise_escalation("flatten", "a close keeps failing", "close failing", "test")
    return "the pause of an open escalation"


@pytest.mark.parametrize("hold", [_by_code, _by_another_process, _by_an_escalation])
def test_a_pause_the_feed_did_not_make_outlives_the_feed_coming_back(tmp_path, hold) -> None:
    async def main() -> None:
        async with live(tmp_path, stale_feed_s=0.5) as (guard, fake, alerts):
            exchange = fake.exchange("binanceusdm")
            await prime(guard, fake)
            runner = asyncio.create_task(guard.run(guard.broker.feed()))
            fake.faults.silent = True
            await until(lambda: guard.engine.paused)  # the feed's own pause
            what = await hold(guard, tmp_path)  # ...met by another
            fake.faults.silent = False
            for _ in range(10):
                exchange.set_price("BTCUSDT", 50_020.0)
                await asyncio.sleep(0.1)
            assert guard.engine.paused, f"the feed lifted {what}"
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    asyncio.run(asyncio.wait_for(main(), 60.0))
