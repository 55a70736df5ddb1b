"""The execution log (riskguard.oms.tca): every order attempt and fill is journaled with the venue,
the price asked, the slippage, the latency and the retries; the report sums them up by venue and
symbol; a reducing order the venue refuses as below its smallest is not sent again forever."""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

import numpy as np
import pytest
import riskguard as rg
from hypothesis import given
from hypothesis import strategies as st
from riskguard.brokers import PaperBroker
from riskguard.guard import Guard
from riskguard.model.orders import Fill, Liquidity, Order, OrderStatus
from riskguard.oms.tca import Executions, quality, slippage_bps
from riskguard.report import write_report

SYM = "BTCUSDT"
T0 = 1_700_000_000 * 10**9


def config(tmp_path: Any) -> rg.Config:
    return rg.Config.load(
        None,
        journal={"url": f"sqlite:///{tmp_path / 'j.db'}"},
        broker={"allow_short": True},
        limits={"signal_filters": False, "require_trend": False},
        guard={"retry_backoff_s": 0.05, "retry_max_backoff_s": 0.2},
    )


def reference_slippage(requested: float, executed: float, qty: float) -> float:
    side = 1 if qty > 0 else -1
    return float((executed - requested) / requested * 1e4 * side)


@given(
    st.floats(1e-6, 1e9),
    st.floats(1e-6, 1e9),
    st.floats(-1e6, 1e6).filter(lambda q: q != 0.0),
)
def test_slippage_is_a_cost_in_basis_points(requested, executed, qty):
    got = slippage_bps(requested, executed, qty)
    assert math.isclose(got, reference_slippage(requested, executed, qty), rel_tol=1e-12)
    # Buying dearer or selling cheaper than asked is a cost (positive).
    assert (got > 0) == ((executed > requested) == (qty > 0)) or executed == requested


def test_slippage_without_an_asked_price_is_nan():
    for bad in (0.0, -1.0, math.nan, math.inf):
        assert math.isnan(slippage_bps(bad, 100.0, 1.0))


def test_quality_sums_attempts_and_fills_by_venue_and_symbol():
    rng = np.random.default_rng(3)
    orders, fills, want = [], [], {}
    for venue in ("binance", "alpaca"):
        for symbol in ("A", "B"):
            lat = rng.uniform(0.1, 50.0, 20)
            slip = rng.normal(0.0, 5.0, 15)
            for i, x in enumerate(lat):
                status = ["new", "rejected", "failed", "ambiguous"][i % 4]
                orders.append(
                    {
                        "symbol": symbol,
                        "status": status,
                        "details": json.dumps({"venue": venue, "latency_ms": x}),
                    }
                )
            orders.append({"symbol": symbol, "status": "pending", "details": "{}"})  # an intent
            for s in slip:
                fills.append(
                    {
                        "symbol": symbol,
                        "qty": -2.0,
                        "fee": 0.5,
                        "details": json.dumps({"venue": venue, "slippage_bps": s}),
                    }
                )
            fills.append(
                {
                    "symbol": symbol,
                    "qty": 1.0,
                    "fee": 9.0,
                    "details": json.dumps({"venue": venue, "adopted": True}),
                }
            )
            want[(venue, symbol)] = (lat, slip)
    rows = quality(orders, fills)
    assert [(r["venue"], r["symbol"]) for r in rows] == sorted(want)
    for r in rows:
        lat, slip = want[(r["venue"], r["symbol"])]
        assert r["attempts"] == 20 and (r["rejected"], r["failed"], r["ambiguous"]) == (5, 5, 5)
        assert r["latency_ms_median"] == pytest.approx(np.median(lat))
        assert r["latency_ms_p95"] == pytest.approx(np.percentile(lat, 95))
        assert r["fills"] == 15 and r["filled_qty"] == 30.0 and r["fees"] == pytest.approx(7.5)
        assert r["slippage_bps_median"] == pytest.approx(np.median(slip))
        assert r["slippage_bps_mean"] == pytest.approx(np.mean(slip))
    assert quality([], []) == []


def test_a_fill_carries_its_orders_asked_price_slippage_and_latency():
    now = [1_000_000_000]
    log = Executions("binance", clock=lambda: now[0])
    log.sending("a", 100.0)
    now[0] += 250_000_000
    log.sending("a", 999.0)  # a resend keeps the first ask and the first send time
    fill = Fill("a", "X", -1.0, 99.0, 0.1, 0, Liquidity.TAKER, "t1")
    d = log.fill(fill)
    assert d == {
        "venue": "binance",
        "fill_latency_ms": 250.0,
        "requested_price": 100.0,
        "slippage_bps": 100.0,
    }
    assert log.fill(Fill("other", "X", 1.0, 1.0, 0.0, 0, Liquidity.TAKER, "t2")) == {
        "venue": "binance"
    }
    a = log.attempt("a", 0.0123, 2, "boom")
    assert a == {
        "venue": "binance",
        "requested_price": 100.0,
        "latency_ms": 12.3,
        "retries": 2,
        "error": "boom",
    }


def test_the_guard_journals_every_attempt_and_fill_and_the_report_shows_them(tmp_path):
    async def go() -> None:
        broker = PaperBroker(100_000.0, allow_short=True)
        async with Guard(config(tmp_path), broker) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            d = await guard.submit(rg.Signal(SYM, "long", 100.0, stop=90.0, target=130.0), T0)
            assert d.approved
            await guard.on_tick(SYM, 100.5, T0 + 10**9)  # fills at 100.5: 50 bps dearer
            await guard.kill("test", actor="test")
            await guard.on_tick(SYM, 99.0, T0 + 2 * 10**9)  # the close fills at 99.0
            for _ in range(50):
                if not guard.status().positions:
                    break
                await asyncio.sleep(0.02)
            orders, fills = guard.journal.orders(), guard.journal.fills()
        attempts = [json.loads(o["details"]) for o in orders if "latency_ms" in o["details"]]
        assert [a["purpose"] for a in attempts] == ["entry", "flatten"]
        assert all(a["venue"] == "paper" and a["retries"] == 0 for a in attempts)
        assert attempts[0]["requested_price"] == 100.0  # the signal's entry
        assert attempts[1]["requested_price"] == 100.5  # the mark when the kill came
        got = [json.loads(f["details"]) for f in fills]
        assert [g["slippage_bps"] for g in got] == pytest.approx(
            [reference_slippage(100.0, 100.5, 1.0), reference_slippage(100.5, 99.0, -1.0)],
            abs=1e-4,  # journaled to 4 decimals
        )
        assert all(g["fill_latency_ms"] >= 0.0 for g in got)
        paths = write_report(f"sqlite:///{tmp_path / 'j.db'}", tmp_path / "report")
        page = paths[-1].read_text()
        section = page[page.index("Execution quality") : page.index("<h2>Trades")]
        cells = re.findall(r"<td[^>]*>([^<]*)</td>", section)
        assert cells[:3] == ["paper", SYM, "2"] and cells[6] == "2", cells

    asyncio.run(go())


class TooSmall:
    """A venue that refuses every reducing order as below its smallest, as a live venue does
    for half of a one-lot position."""

    name = "tiny"

    def __init__(self, paper: PaperBroker) -> None:
        self.paper = paper
        self.refused = 0

    async def submit(self, order: Order) -> Order:
        if order.reduce_only:
            self.refused += 1
            return Order(
                order.symbol,
                order.qty,
                client_order_id=order.client_order_id,
                status=OrderStatus.REJECTED,
                reason=f"BELOW_MIN_QTY: 0.0 < 1 for {order.symbol}",
            )
        return await self.paper.submit(order)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.paper, name)


def test_a_reduction_below_the_venues_smallest_order_is_not_sent_again(tmp_path):
    async def go() -> None:
        paper = PaperBroker(100_000.0, allow_short=True)
        venue = TooSmall(paper)
        alerts: list[Any] = []

        class Sink:
            def notify(self, alert: Any) -> bool:
                alerts.append(alert)
                return True

            async def start(self) -> None: ...

            async def aclose(self, timeout: float | None = 10.0) -> None: ...

            def sink_names(self) -> list[str]:
                return ["memory"]

        async with Guard(config(tmp_path), venue, alerter=Sink()) as guard:
            await guard.on_tick(SYM, 100.0, T0)
            signal = rg.Signal(SYM, "long", 100.0, stop=90.0, target=130.0)
            assert (await guard.submit(signal, T0)).approved
            await guard.on_tick(SYM, 100.0, T0 + 1)  # the entry fills
            assert guard.status().positions
            await guard.kill("test", actor="test")
            for i in range(20):  # retries would come within the backoff (0.05 s doubling)
                await guard.on_tick(SYM, 100.0, T0 + 2 + i)
                await asyncio.sleep(0.05)
            assert venue.refused == 1, "an order below the venue's smallest was sent again"
            assert any(a.kind == "order_too_small" for a in alerts)

    asyncio.run(go())
