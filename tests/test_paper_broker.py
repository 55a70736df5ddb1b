"""PaperBroker: every order type, time in force, slippage and commission model, with expected
values worked out by hand in the comments; the intrabar path rule; accounting; bad input."""

from __future__ import annotations

import asyncio
import math

import pytest
from riskguard._core import RiskError
from riskguard.brokers import (
    Broker,
    ExecutionRecord,
    Fill,
    FixedBps,
    Liquidity,
    MakerTaker,
    Order,
    OrderStatus,
    OrderType,
    PaperBroker,
    PercentOfNotional,
    PerShare,
    TimeInForce,
    VolatilityATR,
    VolumeLinear,
)

DAY = 86_400 * 10**9
HOUR = 3_600 * 10**9
T0 = 1_700_000_000 * 10**9 // DAY * DAY  # a UTC midnight


def submit(broker: PaperBroker, *args, **kwargs) -> Order:
    return asyncio.run(broker.submit(Order(*args, **kwargs)))


def positions(broker: PaperBroker) -> dict[str, float]:
    return {s: p.qty for s, p in asyncio.run(broker.positions()).items()}


def long_10_at_100(**kwargs) -> PaperBroker:
    """A broker holding 10 X bought at 100 (cash 10 000 - 1 000 = 9 000), clock at T0."""
    b = PaperBroker(10_000.0, **kwargs)
    submit(b, "X", 10, client_order_id="entry")
    b.on_tick("X", 100.0, T0)
    assert positions(b) == {"X": 10.0}
    return b


# -- protocol ---------------------------------------------------------------------------------


def test_paper_broker_implements_the_protocol():
    b = PaperBroker(allow_short=True, fractional=False)
    assert isinstance(b, Broker)
    caps = b.capabilities
    assert caps.order_types == frozenset(OrderType)
    assert caps.shorting is True and caps.fractional is False


def test_nothing_fills_inside_submit():
    b = PaperBroker(10_000.0)
    b.on_tick("X", 100.0, T0)
    o = submit(b, "X", 10)
    assert o.status is OrderStatus.NEW and o.client_order_id == "paper-1"
    assert positions(b) == {} and asyncio.run(b.open_orders()) == [o]


# -- order types --------------------------------------------------------------------------------


def test_market_fills_at_next_tick_and_next_bar_open():
    b = PaperBroker(10_000.0)
    b.on_tick("X", 100.0, T0)
    submit(b, "X", 10, client_order_id="m1")
    b.on_tick("X", 101.0, T0 + 1)
    # 10 at 101: cash 10 000 - 1 010 = 8 990.
    assert b.order("m1").avg_fill_price == 101.0
    assert asyncio.run(b.balance()) == pytest.approx(8_990.0)
    submit(b, "X", -4, client_order_id="m2")
    b.on_bar("X", 102.0, 103.0, 99.0, 100.0, 1_000.0, T0 + 2)
    # Sold 4 at the open 102: cash 8 990 + 408 = 9 398; realized (102 - 101) * 4 = 4.
    assert b.order("m2").avg_fill_price == 102.0
    assert asyncio.run(b.balance()) == pytest.approx(9_398.0)
    assert b.realized_pnl == pytest.approx(4.0)
    assert positions(b) == {"X": 6.0}
    rec = b.execution_log[0]
    # Requested is the last price at submission (100), executed 101: slippage 1 per unit.
    assert (rec.requested_price, rec.executed_price, rec.slippage) == (100.0, 101.0, 1.0)


def test_limit_buy_rests_then_fills_as_maker_at_limit_inside_a_bar():
    b = PaperBroker(10_000.0)
    b.on_tick("X", 100.0, T0)
    submit(b, "X", 10, OrderType.LIMIT, limit_price=98.0, client_order_id="l")
    b.on_tick("X", 99.0, T0 + 1)  # 99 > 98: rests
    assert b.order("l").status is OrderStatus.NEW
    # Up bar, flat: path 100 -> 97 -> 101 -> 100; the fall to 97 crosses 98: fill at 98.
    b.on_bar("X", 100.0, 101.0, 97.0, 100.0, 500.0, T0 + 2)
    f = b.fill_log[0]
    assert (f.price, f.liquidity, f.ts) == (98.0, Liquidity.MAKER, T0 + 2)
    assert asyncio.run(b.balance()) == pytest.approx(9_020.0)


def test_limit_gap_fills_at_better_price_and_marketable_on_arrival_is_taker():
    b = PaperBroker(10_000.0)
    b.on_tick("X", 100.0, T0)
    submit(b, "X", 10, "limit", limit_price=99.5, client_order_id="rest")
    submit(b, "X", 5, "limit", limit_price=101.0, client_order_id="cross")
    b.on_tick("X", 100.0, T0 + 1)
    # "cross" is marketable at its first price (100 <= 101): a taker fill at 100.
    assert b.order("cross").avg_fill_price == 100.0
    assert b.fill_log[0].liquidity is Liquidity.TAKER
    b.on_tick("X", 99.0, T0 + 2)
    # "rest" rested through 100; the tick gaps to 99 <= 99.5: fill at 99, maker.
    assert b.order("rest").avg_fill_price == 99.0
    assert b.fill_log[1].liquidity is Liquidity.MAKER
    assert b.execution_log[1].slippage == pytest.approx(-0.5)  # 0.5 better than the limit


def test_limit_sell_fills_at_limit_on_the_way_up():
    b = long_10_at_100()
    submit(b, "X", -10, "limit", limit_price=105.0, client_order_id="tp")
    # Long: path 101 -> 100 -> 106 -> 104; the rise to 106 crosses 105.
    b.on_bar("X", 101.0, 106.0, 100.0, 104.0, 100.0, T0 + 1)
    assert b.order("tp").avg_fill_price == 105.0
    assert b.realized_pnl == pytest.approx(50.0)  # (105 - 100) * 10
    assert positions(b) == {}


def test_stop_sell_fills_at_stop_inside_a_bar_and_at_the_open_on_a_gap():
    b = long_10_at_100()
    submit(b, "X", -4, "stop", stop_price=95.0, client_order_id="s1")
    # Long: path 100 -> 94 -> 101 -> 99; the fall to 94 crosses 95: fill at 95, taker.
    b.on_bar("X", 100.0, 101.0, 94.0, 99.0, 100.0, T0 + 1)
    assert b.order("s1").avg_fill_price == 95.0
    assert b.fill_log[-1].liquidity is Liquidity.TAKER
    submit(b, "X", -6, "stop", stop_price=95.0, client_order_id="s2")
    b.on_bar("X", 93.0, 94.0, 90.0, 92.0, 100.0, T0 + 2)
    # Gap: the open 93 is already through 95, so the fill is at 93; slippage
    # (93 - 95) * (-1) = 2 per unit against the requested stop.
    rec = b.execution_log[-1]
    assert (rec.requested_price, rec.executed_price, rec.slippage) == (95.0, 93.0, 2.0)
    # Realized: 4 * (95 - 100) + 6 * (93 - 100) = -20 - 42 = -62.
    assert b.realized_pnl == pytest.approx(-62.0)


def test_stop_buy_triggers_on_tick_at_or_above_stop():
    b = PaperBroker(10_000.0)
    b.on_tick("X", 100.0, T0)
    submit(b, "X", 10, "stop", stop_price=104.0, client_order_id="s")
    b.on_tick("X", 103.9, T0 + 1)
    assert b.order("s").status is OrderStatus.NEW
    b.on_tick("X", 105.0, T0 + 2)
    assert b.order("s").avg_fill_price == 105.0


def test_stop_limit_fills_at_trigger_or_rests_as_limit():
    b = PaperBroker(100_000.0)
    b.on_tick("X", 100.0, T0)
    submit(b, "X", 1, "stop_limit", stop_price=105.0, limit_price=106.0, client_order_id="a")
    submit(b, "X", 1, "stop_limit", stop_price=105.0, limit_price=104.0, client_order_id="b")
    # Up bar, flat: path 100 -> 99 -> 107 -> 103.
    # "a": the rise triggers at 105, and 105 <= 106 is marketable: taker fill at 105.
    # "b": triggers at 105 but 105 > 104 rests as a limit; the fall 107 -> 103 crosses 104:
    #      maker fill at 104.
    b.on_bar("X", 100.0, 107.0, 99.0, 103.0, 100.0, T0 + 1)
    assert (b.order("a").avg_fill_price, b.fill_log[0].liquidity) == (105.0, Liquidity.TAKER)
    assert (b.order("b").avg_fill_price, b.fill_log[1].liquidity) == (104.0, Liquidity.MAKER)


def test_stop_limit_not_triggered_stays_working():
    b = long_10_at_100()
    submit(b, "X", -1, "stop_limit", stop_price=95.0, limit_price=94.0, client_order_id="s")
    b.on_tick("X", 96.0, T0 + 1)
    assert b.order("s").status is OrderStatus.NEW
    assert b.order("s").reason == ""


def test_trailing_stop_by_amount_on_ticks_and_bars():
    b = long_10_at_100()
    submit(b, "X", -5, "trailing_stop", trail_amount=5.0, client_order_id="t1")
    # Best starts at the last price 100 (level 95); 110 lifts it to 110 (level 105);
    # 106 stays above 105; 104 is through: fill at 104 (a tick is a gap), requested 105.
    for i, p in enumerate([110.0, 106.0]):
        b.on_tick("X", p, T0 + 1 + i)
        assert b.order("t1").status is OrderStatus.NEW
    b.on_tick("X", 104.0, T0 + 3)
    rec = b.execution_log[-1]
    assert (rec.requested_price, rec.executed_price) == (105.0, 104.0)

    submit(b, "X", -5, "trailing_stop", trail_amount=5.0, client_order_id="t2")
    # Best starts at 104 (level 99). Long: path 104 -> 100 -> 110 -> 104. The low 100 stays
    # above 99; the high lifts the level to 105; the fall to the close 104 crosses it: fill 105.
    b.on_bar("X", 104.0, 110.0, 100.0, 104.0, 100.0, T0 + 4)
    assert b.order("t2").avg_fill_price == 105.0


def test_trailing_buy_stop_by_percent():
    b = PaperBroker(10_000.0)
    b.on_tick("X", 100.0, T0)
    submit(b, "X", 10, "trailing_stop", trail_percent=10.0, client_order_id="t")
    # Best 100 (level 110); 90 lowers it to 90 (level 99); 95 < 99 waits; 99.5 >= 99 fills.
    for i, p in enumerate([90.0, 95.0]):
        b.on_tick("X", p, T0 + 1 + i)
        assert b.order("t").status is OrderStatus.NEW
    b.on_tick("X", 99.5, T0 + 3)
    rec = b.execution_log[-1]
    assert rec.executed_price == 99.5
    assert rec.requested_price == pytest.approx(99.0)


# -- time in force ------------------------------------------------------------------------------


def test_ioc_fills_on_arrival_or_is_cancelled():
    b = PaperBroker(10_000.0)
    b.on_tick("X", 100.0, T0)
    submit(b, "X", 1, "limit", limit_price=99.0, time_in_force="IOC", client_order_id="no")
    submit(b, "X", 1, "limit", limit_price=101.0, time_in_force="IOC", client_order_id="yes")
    submit(b, "X", 1, time_in_force=TimeInForce.IOC, client_order_id="mkt")
    b.on_tick("X", 100.0, T0 + 1)
    assert b.order("no").status is OrderStatus.CANCELLED
    assert "IOC" in b.order("no").reason
    assert b.order("yes").avg_fill_price == 100.0
    assert b.order("mkt").avg_fill_price == 100.0
    # It would fill now, but it is gone.
    b.on_tick("X", 98.0, T0 + 2)
    assert positions(b) == {"X": 2.0}


def test_day_orders_expire_at_utc_midnight_gtc_stays():
    b = PaperBroker(10_000.0)
    b.on_tick("X", 100.0, T0 + 12 * HOUR)
    submit(b, "X", 1, "limit", limit_price=95.0, time_in_force="DAY", client_order_id="day")
    submit(b, "X", 1, "limit", limit_price=95.0, client_order_id="gtc")
    b.on_tick("X", 96.0, T0 + DAY - 1)
    assert b.order("day").status is OrderStatus.NEW
    # The first data at or past midnight cancels the DAY order before it can fill at 94.
    b.on_tick("X", 94.0, T0 + DAY)
    assert b.order("day").status is OrderStatus.CANCELLED
    assert "DAY" in b.order("day").reason
    assert b.order("gtc").avg_fill_price == 94.0


def test_day_session_end_is_configurable_and_any_symbol_advances_the_clock():
    b = PaperBroker(10_000.0, day_end_offset_ns=21 * HOUR)
    b.on_tick("X", 100.0, T0 + 12 * HOUR)
    submit(b, "X", 1, "limit", limit_price=95.0, time_in_force="DAY", client_order_id="d")
    b.on_tick("Y", 50.0, T0 + 21 * HOUR - 1)
    assert b.order("d").status is OrderStatus.NEW
    b.on_tick("Y", 50.0, T0 + 21 * HOUR)  # session end 21:00 UTC
    assert b.order("d").status is OrderStatus.CANCELLED


def test_day_order_submitted_before_any_data_lives_for_the_first_day_seen():
    b = PaperBroker(10_000.0)
    submit(b, "X", 1, "limit", limit_price=95.0, time_in_force="DAY", client_order_id="d")
    b.on_tick("X", 100.0, T0 + HOUR)
    assert b.order("d").status is OrderStatus.NEW
    b.on_tick("X", 100.0, T0 + DAY)
    assert b.order("d").status is OrderStatus.CANCELLED


# -- intrabar path --------------------------------------------------------------------------


def test_stop_fills_before_target_when_both_are_in_one_bar():
    b = long_10_at_100()
    submit(b, "X", -10, "stop", stop_price=95.0, oco_group="bracket", client_order_id="stop")
    submit(b, "X", -10, "limit", limit_price=110.0, oco_group="bracket", client_order_id="tp")
    # A down bar (close < open) would be walked open -> high -> low flat, reaching the target
    # first; with a long position the low comes first: 100 -> 94 -> 111 -> 96. Stop at 95.
    b.on_bar("X", 100.0, 111.0, 94.0, 96.0, 1_000.0, T0 + 1)
    assert b.order("stop").avg_fill_price == 95.0
    assert b.order("tp").status is OrderStatus.CANCELLED
    assert "OCO" in b.order("tp").reason
    assert b.realized_pnl == pytest.approx(-50.0)  # (95 - 100) * 10


def test_short_position_visits_the_high_first():
    b = PaperBroker(10_000.0, allow_short=True)
    submit(b, "X", -10)
    b.on_tick("X", 100.0, T0)
    submit(b, "X", 10, "stop", stop_price=105.0, oco_group="g", client_order_id="stop")
    submit(b, "X", 10, "limit", limit_price=90.0, oco_group="g", client_order_id="tp")
    # An up bar (close >= open) would be walked low first flat; a short sees the high first:
    # 100 -> 106 -> 89 -> 101. Stop at 105, target cancelled: realized (100 - 105) * 10 = -50.
    b.on_bar("X", 100.0, 106.0, 89.0, 101.0, 1_000.0, T0 + 1)
    assert b.order("stop").avg_fill_price == 105.0
    assert b.order("tp").status is OrderStatus.CANCELLED
    assert b.realized_pnl == pytest.approx(-50.0)


def test_without_oco_the_target_would_short_and_is_rejected_when_shorting_is_off():
    b = long_10_at_100()
    submit(b, "X", -10, "stop", stop_price=95.0, client_order_id="stop")
    submit(b, "X", -10, "limit", limit_price=110.0, client_order_id="tp")
    b.on_bar("X", 100.0, 111.0, 94.0, 96.0, 1_000.0, T0 + 1)
    assert b.order("stop").status is OrderStatus.FILLED
    assert b.order("tp").status is OrderStatus.REJECTED
    assert "short selling is disabled" in b.order("tp").reason


def test_flat_path_follows_the_bar_direction():
    def fill_order(o: float, c: float) -> list[str]:
        b = PaperBroker(100_000.0)
        b.on_tick("X", 100.0, T0)
        submit(b, "X", 1, "stop", stop_price=110.0, client_order_id="high")
        submit(b, "X", 1, "limit", limit_price=90.0, client_order_id="low")
        b.on_bar("X", o, 111.0, 89.0, c, 1_000.0, T0 + 1)
        return [f.client_order_id for f in b.fill_log]

    assert fill_order(100.0, 101.0) == ["low", "high"]  # up bar: open -> low -> high -> close
    assert fill_order(100.0, 99.0) == ["high", "low"]  # down bar: open -> high -> low -> close


# -- slippage models ----------------------------------------------------------------------------


def test_fixed_bps_slippage_is_adverse_for_takers_only_and_capped_by_the_limit():
    b = PaperBroker(10_000.0, slippage=FixedBps(10))
    b.on_tick("X", 100.0, T0)
    submit(b, "X", 10, client_order_id="buy")
    submit(b, "X", 1, "limit", limit_price=100.05, time_in_force="IOC", client_order_id="ioc")
    submit(b, "X", 1, "limit", limit_price=99.0, client_order_id="maker")
    b.on_tick("X", 100.0, T0 + 1)
    # 10 bp of 100 = 0.10: the market buy pays 100.10; the IOC limit would too but is capped at
    # its limit 100.05.
    assert b.order("buy").avg_fill_price == pytest.approx(100.10)
    assert b.order("ioc").avg_fill_price == pytest.approx(100.05)
    submit(b, "X", -5, client_order_id="sell")
    b.on_tick("X", 99.0, T0 + 2)
    # The maker fill at 99 has no slippage; the market sell gets 99 * (1 - 0.001) = 98.901.
    assert b.order("maker").avg_fill_price == 99.0
    assert b.order("sell").avg_fill_price == pytest.approx(98.901)
    # Requested is the last price at submission, 100: slippage (98.901 - 100) * (-1) = 1.099.
    assert b.execution_log[-1].slippage == pytest.approx(1.099)


def test_volume_linear_slippage():
    b = PaperBroker(10_000.0, slippage=VolumeLinear(0.01))
    submit(b, "X", 100, client_order_id="bar")
    # Participation 100 / 1 000 = 0.1; fraction 0.01 * 0.1 = 0.001; 50 * 1.001 = 50.05.
    b.on_bar("X", 50.0, 51.0, 49.0, 50.0, 1_000.0, T0)
    assert b.order("bar").avg_fill_price == pytest.approx(50.05)
    submit(b, "X", 10, client_order_id="tick")
    # A tick without volume counts as full participation: 50 * (1 + 0.01) = 50.5.
    b.on_tick("X", 50.0, T0 + 1)
    assert b.order("tick").avg_fill_price == pytest.approx(50.5)
    submit(b, "X", 20, client_order_id="big")
    # Participation capped at 1 even for 20 of 10: 50 * 1.01 = 50.5.
    b.on_tick("X", 50.0, T0 + 2, volume=10.0)
    assert b.order("big").avg_fill_price == pytest.approx(50.5)


def test_volatility_atr_slippage_from_given_and_computed_atr():
    given = PaperBroker(10_000.0, slippage=VolatilityATR(0.5, atr={"X": 2.0}))
    submit(given, "X", 10, client_order_id="m")
    # 0.5 * 2 / 100 = 0.01: 100 * 1.01 = 101.
    given.on_tick("X", 100.0, T0)
    assert given.order("m").avg_fill_price == pytest.approx(101.0)

    b = PaperBroker(10_000.0, slippage=VolatilityATR(0.5), atr_period=14)
    b.on_bar("X", 100.0, 102.0, 98.0, 100.0, 1_000.0, T0)  # true range 102 - 98 = 4
    submit(b, "X", 10, client_order_id="m")
    # True range max(103 - 99, |103 - 100|, |99 - 100|) = 4; ATR (4 + 4) / 2 = 4;
    # fraction 0.5 * 4 / 100 = 0.02 at the open 100: 102.
    b.on_bar("X", 100.0, 103.0, 99.0, 101.0, 1_000.0, T0 + 1)
    assert b.order("m").avg_fill_price == pytest.approx(102.0)


def test_atr_uses_only_the_last_period_bars():
    b = PaperBroker(10_000.0, slippage=VolatilityATR(1.0), atr_period=2)
    for i, (h, lo) in enumerate([(120.0, 80.0), (101.0, 99.0), (101.0, 99.0)]):
        b.on_bar("X", 100.0, h, lo, 100.0, 1_000.0, T0 + i)
    submit(b, "X", 1, client_order_id="m")
    b.on_tick("X", 100.0, T0 + 3)
    # The range-40 bar has left the 2-bar window: ATR (2 + 2) / 2 = 2; 100 * (1 + 2/100) = 102.
    assert b.order("m").avg_fill_price == pytest.approx(102.0)


# -- commission models --------------------------------------------------------------------------


def test_per_share_commission_with_minimum():
    b = PaperBroker(100_000.0, commission=PerShare(0.01, minimum=1.0))
    submit(b, "X", 50, client_order_id="small")
    submit(b, "X", 500, client_order_id="large")
    b.on_tick("X", 100.0, T0)
    # max(1, 0.01 * 50 = 0.5) = 1; max(1, 0.01 * 500) = 5.
    assert [f.fee for f in b.fill_log] == pytest.approx([1.0, 5.0])
    # Cash 100 000 - 55 000 - 6 = 44 994.
    assert asyncio.run(b.balance()) == pytest.approx(44_994.0)
    assert b.fees_paid == pytest.approx(6.0)


def test_percent_of_notional_commission():
    b = PaperBroker(10_000.0, commission=PercentOfNotional(0.001))
    submit(b, "X", 10)
    b.on_tick("X", 100.0, T0)
    # 0.001 * 10 * 100 = 1; cash 10 000 - 1 000 - 1 = 8 999.
    assert b.fill_log[0].fee == pytest.approx(1.0)
    assert asyncio.run(b.balance()) == pytest.approx(8_999.0)


def test_maker_taker_commission():
    b = PaperBroker(10_000.0, commission=MakerTaker(maker=0.0002, taker=0.0007))
    b.on_tick("X", 100.0, T0)
    submit(b, "X", 10, client_order_id="taker")
    submit(b, "X", 10, "limit", limit_price=99.0, client_order_id="maker")
    b.on_tick("X", 100.0, T0 + 1)
    b.on_tick("X", 99.0, T0 + 2)
    # Taker: 0.0007 * 10 * 100 = 0.7; maker: 0.0002 * 10 * 99 = 0.198.
    fees = {f.client_order_id: (f.fee, f.liquidity) for f in b.fill_log}
    assert fees["taker"] == (pytest.approx(0.7), Liquidity.TAKER)
    assert fees["maker"] == (pytest.approx(0.198), Liquidity.MAKER)
    # Cash 10 000 - 1 000 - 990 - 0.898 = 8 009.102.
    assert asyncio.run(b.balance()) == pytest.approx(8_009.102)


# -- idempotency, cancel, fills ------------------------------------------------------------------


def test_same_client_order_id_returns_the_first_order_and_never_double_fills():
    b = PaperBroker(10_000.0)
    first = submit(b, "X", 10, client_order_id="abc")
    again = submit(b, "X", 20, "limit", limit_price=1.0, client_order_id="abc")
    assert again == first
    b.on_tick("X", 100.0, T0)
    after = submit(b, "X", 10, client_order_id="abc")
    assert after.status is OrderStatus.FILLED and after.filled_qty == 10.0
    b.on_tick("X", 100.0, T0 + 1)
    assert len(b.fill_log) == 1 and positions(b) == {"X": 10.0}


def test_a_rejected_id_stays_rejected():
    b = PaperBroker(1_000.0)
    b.on_tick("X", 100.0, T0)
    assert submit(b, "X", 20, client_order_id="big").status is OrderStatus.REJECTED
    assert submit(b, "X", 1, client_order_id="big").status is OrderStatus.REJECTED


def test_cancel_and_cancel_all():
    b = PaperBroker(10_000.0)
    b.on_tick("X", 100.0, T0)
    submit(b, "X", 1, "limit", limit_price=90.0, client_order_id="a")
    submit(b, "X", 1, "limit", limit_price=90.0, client_order_id="b")
    submit(b, "Y", 1, "limit", limit_price=9.0, client_order_id="c")
    assert asyncio.run(b.cancel("a")).status is OrderStatus.CANCELLED
    assert asyncio.run(b.cancel("a")).status is OrderStatus.CANCELLED  # idempotent
    done = asyncio.run(b.cancel_all("X"))
    assert [o.client_order_id for o in done] == ["b"]
    assert [o.client_order_id for o in asyncio.run(b.open_orders())] == ["c"]
    assert len(asyncio.run(b.cancel_all())) == 1
    b.on_tick("X", 80.0, T0 + 1)
    assert b.fill_log == []


def test_fill_stream_replays_then_follows():
    b = PaperBroker(10_000.0)
    submit(b, "X", 1, client_order_id="f1")
    b.on_tick("X", 100.0, T0)

    async def collect() -> list[Fill]:
        return [f async for f in b.fills(follow=False)]

    assert [f.client_order_id for f in asyncio.run(collect())] == ["f1"]

    async def follow() -> list[str]:
        seen: list[str] = []

        async def consume() -> None:
            async for f in b.fills():
                seen.append(f.client_order_id)
                if len(seen) == 2:
                    return

        task = asyncio.create_task(consume())
        await asyncio.sleep(0)
        await b.submit(Order("X", 1, client_order_id="f2"))
        b.on_tick("X", 101.0, T0 + 1)
        await asyncio.wait_for(task, timeout=1.0)
        return seen

    assert asyncio.run(follow()) == ["f1", "f2"]


def test_execution_record_latency_and_fields():
    b = PaperBroker(10_000.0, commission=PercentOfNotional(0.001))
    b.on_tick("X", 100.0, T0)
    submit(b, "X", 10, client_order_id="e")
    b.on_tick("X", 100.5, T0 + 2_000)
    rec = b.execution_log[0]
    assert isinstance(rec, ExecutionRecord)
    # Submitted at the clock T0, filled at T0 + 2 000 ns; fee 0.001 * 10 * 100.5 = 1.005.
    assert rec.latency_ns == 2_000 and rec.retries == 0
    assert rec.slippage == pytest.approx(0.5) and rec.fee == pytest.approx(1.005)


# -- accounting ---------------------------------------------------------------------------------


def test_average_price_realized_pnl_and_flip():
    b = PaperBroker(10_000.0, allow_short=True)
    for i, (q, p) in enumerate([(10, 100.0), (10, 110.0), (-15, 120.0), (-10, 100.0)]):
        submit(b, "X", q)
        b.on_tick("X", p, T0 + i)
        if i == 1:
            # (10 * 100 + 10 * 110) / 20 = 105.
            assert b.position("X").avg_price == pytest.approx(105.0)
    # Sold 15 at 120: (120 - 105) * 15 = 225. Sold 10 at 100: closes 5, (100 - 105) * 5 = -25,
    # and opens a short of 5 at 100.
    pos = b.position("X")
    assert (pos.qty, pos.avg_price) == (-5.0, 100.0)
    assert pos.realized_pnl == pytest.approx(200.0)
    # Cash 10 000 - 1 000 - 1 100 + 1 800 + 1 000 = 10 700; equity 10 700 - 5 * 100 = 10 200.
    assert b.cash == pytest.approx(10_700.0)
    assert b.equity() == pytest.approx(10_200.0)


def test_gross_exposure_counts_longs_and_shorts_at_their_last_price():
    b = PaperBroker(10_000.0, allow_short=True)
    assert b.gross_exposure() == 0.0
    submit(b, "X", 10)
    submit(b, "Y", -20)
    b.on_tick("X", 100.0, T0)
    b.on_tick("Y", 50.0, T0)
    b.on_tick("X", 110.0, T0 + 1)
    # |10 * 110| + |-20 * 50| = 1 100 + 1 000; equity nets them: 10 000 + 100 = 10 100.
    assert b.gross_exposure() == pytest.approx(2_100.0)
    assert b.equity() == pytest.approx(10_100.0)


def test_insufficient_funds_at_submit_and_at_fill():
    b = PaperBroker(1_000.0)
    b.on_tick("X", 100.0, T0)
    o = submit(b, "X", 11)  # 1 100 > 1 000
    assert o.status is OrderStatus.REJECTED and "insufficient funds" in o.reason
    assert submit(b, "X", 10).status is OrderStatus.NEW  # exactly 1 000

    fresh = PaperBroker(1_000.0)
    o = submit(fresh, "X", 20, client_order_id="late")  # no price yet: accepted
    assert o.status is OrderStatus.NEW
    fresh.on_tick("X", 100.0, T0)
    assert fresh.order("late").status is OrderStatus.REJECTED
    assert "insufficient funds" in fresh.order("late").reason
    assert positions(fresh) == {} and fresh.cash == 1_000.0


def test_fees_count_towards_funds():
    b = PaperBroker(1_000.0, commission=PerShare(0.0, minimum=1.0))
    b.on_tick("X", 100.0, T0)
    # 10 * 100 + 1 fee = 1 001 > 1 000.
    assert submit(b, "X", 10).status is OrderStatus.REJECTED


def test_shorting_disabled_and_enabled():
    off = PaperBroker(10_000.0)
    off.on_tick("X", 100.0, T0)
    o = submit(off, "X", -5)
    assert o.status is OrderStatus.REJECTED and "short selling is disabled" in o.reason

    on = PaperBroker(10_000.0, allow_short=True)
    on.on_tick("X", 100.0, T0)
    submit(on, "X", -5)
    on.on_tick("X", 100.0, T0 + 1)
    submit(on, "X", 5)
    on.on_tick("X", 90.0, T0 + 2)
    # Short 5 at 100, covered at 90: +50; cash 10 000 + 500 - 450 = 10 050.
    assert on.realized_pnl == pytest.approx(50.0)
    assert on.cash == pytest.approx(10_050.0) and positions(on) == {}


def test_fractional_rule():
    whole = PaperBroker(10_000.0, fractional=False)
    o = submit(whole, "X", 1.5)
    assert o.status is OrderStatus.REJECTED and "fractional" in o.reason
    assert submit(whole, "X", 2.0).status is OrderStatus.NEW

    frac = PaperBroker(10_000.0)
    submit(frac, "X", 0.1)
    submit(frac, "X", 0.2)
    frac.on_tick("X", 100.0, T0)
    submit(frac, "X", -0.3)
    frac.on_tick("X", 100.0, T0 + 1)
    assert positions(frac) == {}  # 0.1 + 0.2 - 0.3 leaves no dust position


def test_margin_limit():
    b = PaperBroker(10_000.0, max_leverage=2.0)
    b.on_tick("X", 100.0, T0)
    # 250 * 100 = 25 000 > 2 * 10 000.
    o = submit(b, "X", 250)
    assert o.status is OrderStatus.REJECTED and "margin limit" in o.reason
    # 150 * 100 = 15 000 <= 20 000: accepted, and cash goes negative (a margin loan).
    submit(b, "X", 150, client_order_id="ok")
    b.on_tick("X", 100.0, T0 + 1)
    assert b.order("ok").status is OrderStatus.FILLED and b.cash == pytest.approx(-5_000.0)
    # At 65: equity -5 000 + 150 * 65 = 4 750, gross 9 750 > 2 * 4 750 = 9 500. Adding is
    # refused; reducing is still allowed, or a breached limit would trap the position.
    b.on_tick("X", 65.0, T0 + 2)
    assert submit(b, "X", 1).status is OrderStatus.REJECTED
    assert submit(b, "X", -50).status is OrderStatus.NEW

    short = PaperBroker(10_000.0, allow_short=True)
    short.on_tick("X", 100.0, T0)
    # Short 150 at 100: cash 25 000, equity 10 000, gross 15 000 > 1 * 10 000.
    o = submit(short, "X", -150)
    assert o.status is OrderStatus.REJECTED and "margin limit" in o.reason


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [
        ({"qty": math.nan}, "qty"),
        ({"qty": math.inf}, "qty"),
        ({"qty": 0}, "qty"),
        ({"qty": "10"}, "qty"),
        ({"qty": True}, "qty"),
        ({"symbol": ""}, "symbol"),
        ({"symbol": 5}, "symbol"),
        ({"type": "iceberg"}, "type"),
        ({"type": 3}, "type"),
        ({"time_in_force": "FOK"}, "time_in_force"),
        ({"type": "limit"}, "limit_price"),
        ({"type": "limit", "limit_price": -1.0}, "limit_price"),
        ({"type": "limit", "limit_price": math.nan}, "limit_price"),
        ({"type": "stop", "stop_price": 0.0}, "stop_price"),
        ({"type": "stop_limit", "stop_price": 10.0}, "limit_price"),
        ({"limit_price": 10.0}, "limit_price"),
        ({"type": "trailing_stop"}, "trail_amount"),
        ({"type": "trailing_stop", "trail_amount": 1.0, "trail_percent": 1.0}, "trail_percent"),
        ({"type": "trailing_stop", "trail_percent": 100.0}, "trail_percent"),
        ({"type": "trailing_stop", "trail_amount": -1.0}, "trail_amount"),
        ({"type": "stop", "stop_price": 1.0, "time_in_force": "IOC"}, "time_in_force"),
        ({"client_order_id": ""}, "client_order_id"),
        ({"client_order_id": 7}, "client_order_id"),
    ],
)
def test_bad_orders_raise_naming_the_argument(kwargs, arg):
    fields = {"symbol": "X", "qty": 1.0, **kwargs}
    with pytest.raises(RiskError, match=arg):
        Order(**fields)


def test_bad_data_and_calls_raise():
    b = PaperBroker(10_000.0, symbols=["X"])
    with pytest.raises(RiskError, match="symbol"):
        b.on_tick("Y", 100.0, T0)
    with pytest.raises(RiskError, match="symbol"):
        asyncio.run(b.submit(Order("Y", 1)))
    with pytest.raises(RiskError, match="order"):
        asyncio.run(b.submit({"symbol": "X", "qty": 1}))  # type: ignore[arg-type]
    with pytest.raises(RiskError, match="client_order_id"):
        asyncio.run(b.cancel("nope"))
    for price in (math.nan, math.inf, 0.0, -1.0, "100"):
        with pytest.raises(RiskError, match="price"):
            b.on_tick("X", price, T0)
    for ts in (1.5, True, -1, "1", None):
        with pytest.raises(RiskError, match="ts"):
            b.on_tick("X", 100.0, ts)
    with pytest.raises(RiskError, match="volume"):
        b.on_tick("X", 100.0, T0, volume=-1.0)
    with pytest.raises(RiskError, match="low <= open"):
        b.on_bar("X", 100.0, 99.0, 98.0, 99.0, 1.0, T0)
    with pytest.raises(RiskError, match="volume"):
        b.on_bar("X", 100.0, 101.0, 99.0, 100.0, math.nan, T0)
    b.on_tick("X", 100.0, T0 + 10)
    with pytest.raises(RiskError, match="ts must not go backwards"):
        b.on_tick("X", 100.0, T0 + 9)
    with pytest.raises(RiskError, match="ts must not go backwards"):
        b.on_bar("X", 100.0, 101.0, 99.0, 100.0, 1.0, T0)
    # A refused call changes nothing: the clock is where it was.
    assert b.now == T0 + 10


@pytest.mark.parametrize(
    ("make", "arg"),
    [
        (lambda: PaperBroker(0.0), "cash"),
        (lambda: PaperBroker(math.nan), "cash"),
        (lambda: PaperBroker(max_leverage=0.5), "max_leverage"),
        (lambda: PaperBroker(allow_short=1), "allow_short"),  # type: ignore[arg-type]
        (lambda: PaperBroker(day_end_offset_ns=DAY), "day_end_offset_ns"),
        (lambda: PaperBroker(atr_period=0), "atr_period"),
        (lambda: PaperBroker(slippage=0.1), "slippage"),  # type: ignore[arg-type]
        (lambda: PaperBroker(commission="free"), "commission"),  # type: ignore[arg-type]
        (lambda: FixedBps(-1.0), "bps"),
        (lambda: FixedBps(math.nan), "bps"),
        (lambda: VolumeLinear(math.inf), "k"),
        (lambda: VolatilityATR(0.5, atr={"X": -1.0}), "atr"),
        (lambda: PerShare("0.01"), "rate"),  # type: ignore[arg-type]
        (lambda: PerShare(0.01, minimum=-1.0), "minimum"),
        (lambda: PercentOfNotional(-0.001), "rate"),
        (lambda: MakerTaker(math.nan, 0.001), "maker"),
        (lambda: MakerTaker(0.001, -1.0), "taker"),
    ],
)
def test_bad_configuration_raises_naming_the_argument(make, arg):
    with pytest.raises(RiskError, match=arg):
        make()
