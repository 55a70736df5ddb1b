"""The ccxt venue on what a restart, a busy account, a hand-placed order, spot dust and contract
sizes do to it, through the real ccxt client against the fake venue."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("ccxt")
pytest.importorskip("aiohttp")

from riskguard.model.instruments import Instrument  # noqa: E402
from riskguard.model.orders import Order, OrderStatus  # noqa: E402
from riskguard.testing.conformance import _start, harness  # noqa: E402


def run(coro) -> None:
    asyncio.run(asyncio.wait_for(coro, 60.0))


def test_fills_made_before_start_are_all_read_page_after_page_and_named_by_their_orders():
    async def main() -> None:
        async with harness("binanceusdm") as h:
            market = h.exchange.markets[h.market_id]
            for i in range(520):  # more than a page, made while no riskguard ran
                side = "buy" if i % 2 == 0 else "sell"
                h.exchange.place(
                    h.market_id, side, "market", market.lot * 10, client_id=f"before-{i}"
                )
            await _start(h)
            fills = await h.fills()
            assert len(fills) == 520 == len({f.fill_id for f in fills})
            # Named by their orders' client order ids, learnt from the venue (most recent
            # first, a bounded number per resync), the rest by the venue's order id.
            named = [f for f in fills if f.client_order_id.startswith("before-")]
            assert len(named) >= 200
            assert all(f.client_order_id == f"before-{int(f.client_order_id[7:])}" for f in named)
            assert math.isclose(sum(f.qty for f in fills), 0.0, abs_tol=1e-9)

    run(main())


def test_an_order_placed_without_a_client_order_id_is_cancelled_by_a_kill():
    async def main() -> None:
        async with harness("binanceusdm") as h:
            await _start(h)
            market = h.exchange.markets[h.market_id]
            by_hand = h.exchange.place(
                h.market_id, "buy", "limit", market.lot * 10, price=h.price * 0.8, client_id=""
            )
            await h.venue.submit(
                Order(
                    h.symbol,
                    market.lot * 10,
                    "limit",
                    limit_price=h.price * 0.8,
                    client_order_id="ours-1",
                )
            )
            left = await asyncio.wait_for(h.venue.flatten(), 10.0)
            assert left == {}
            assert by_hand.status == "cancelled", "a hand-placed order survived the kill"
            assert not h.exchange.open_orders()

    run(main())


def test_open_orders_say_which_are_reduce_only():
    async def main() -> None:
        async with harness("binanceusdm") as h:
            await _start(h)
            lot = h.exchange.markets[h.market_id].lot
            await h.venue.submit(Order(h.symbol, lot * 10, client_order_id="ro-entry"))
            await h.until(lambda: _held(h))
            await h.venue.submit(
                Order(
                    h.symbol,
                    -lot * 10,
                    "limit",
                    limit_price=h.price * 1.5,
                    client_order_id="ro-tp",
                    reduce_only=True,
                )
            )
            await h.venue.submit(
                Order(
                    h.symbol,
                    lot * 10,
                    "limit",
                    limit_price=h.price * 0.5,
                    client_order_id="ro-entry-2",
                )
            )
            working = {o.client_order_id: o.reduce_only for o in await h.venue.open_orders()}
            assert working == {"ro-tp": True, "ro-entry-2": False}

    async def _held(h) -> bool:
        return bool(await h.venue.positions())

    run(main())


def test_spot_dust_below_the_minimum_notional_is_not_a_position():
    async def main() -> None:
        async with harness("binance") as h:
            h.exchange.fund("BTC", 0.00005)  # 2.5 USDT at 50,000: below the 5 USDT minimum
            await _start(h)
            assert await h.venue.positions() == {}
            assert await asyncio.wait_for(h.venue.flatten(), 10.0) == {}
            assert h.faults.count("create") == 0  # no close that the venue would refuse

    run(main())


def test_a_spot_balance_held_before_start_is_a_priced_position():
    async def main() -> None:
        async with harness("binance") as h:
            h.exchange.fund("BTC", 0.5)
            await h.venue.start()  # before any trade on the market stream
            held = await h.venue.positions()
            assert held[h.symbol].qty == 0.5 and held[h.symbol].avg_price == h.price

    run(main())


def test_kucoin_orders_are_sent_in_whole_contracts_without_losing_one():
    async def main() -> None:
        async with harness("kucoinfutures") as h:
            await _start(h)
            # 0.029 BTC at 0.001 BTC a contract: 29 contracts (0.029 / 0.001 is 28.999... in
            # binary floating point).
            answer = await h.venue.submit(Order(h.symbol, 0.029, client_order_id="kc-29"))
            assert answer.status is not OrderStatus.REJECTED, answer
            order = h.exchange.get(client_id="kc-29")
            assert order.qty == 29.0

    run(main())


@given(
    st.sampled_from([0.1, 0.01, 0.001, 0.0001, 0.00001, 10.0, 100.0]),
    st.integers(1, 1_000_000),
)
def test_a_whole_number_of_contracts_rounds_to_itself(size, n):
    inst = Instrument("X", lot_size=1.0, contract_size=size)
    qty = float(f"{n * size:.12g}")  # what a user writes: n contracts in base units
    assert inst.round_qty(qty) == pytest.approx(qty, rel=1e-12)
    assert inst.round_qty(-qty) == pytest.approx(-qty, rel=1e-12)
    assert inst.contracts(qty) == pytest.approx(n, rel=1e-12)
    assert inst.round_qty(qty * 0.999999) <= qty  # never more than asked
