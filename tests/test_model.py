"""The shared vocabulary (``riskguard.model``): records refuse bad fields with a RiskError naming
the field; instruments round toward less risk, held to a plain exact reference."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import riskguard as rg
from hypothesis import given
from hypothesis import strategies as st
from riskguard.model import Bar, Instrument, Purpose, RiskStatus, Tick, text

steps = st.sampled_from([0.5, 0.1, 0.01, 0.001, 1e-8, 1.0, 5.0, 0.25])
amounts = st.decimals(min_value="0.00000001", max_value="100000", places=8).map(float)


def reference_floor(value: float, step: float) -> Fraction:
    """The largest multiple of ``step`` at most ``value``, exactly (decimal readings of both)."""
    v, s = Fraction(repr(value)), Fraction(repr(step))
    return (v // s) * s


@given(amounts, steps, st.booleans())
def test_round_qty_is_never_more_than_asked_and_on_the_grid(qty: float, step: float, sell: bool):
    inst = Instrument("X", lot_size=step)
    signed = -qty if sell else qty
    got = inst.round_qty(signed)
    assert abs(Fraction(repr(abs(got))) - reference_floor(qty, step)) <= Fraction(1, 10**12)
    assert abs(got) <= qty and (got == 0.0 or math.copysign(1, got) == math.copysign(1, signed))


@given(amounts, steps)
def test_round_price_goes_toward_less_risk(price: float, tick: float):
    inst = Instrument("X", tick_size=tick)
    buy, sell = inst.round_price(price, side="buy"), inst.round_price(price, side="sell")
    assert buy <= price + 1e-12 * price and sell >= price - 1e-12 * price
    assert Fraction(repr(sell)) - Fraction(repr(buy)) <= Fraction(repr(tick))  # on the grid
    # a protective stop sits closer to the market: a sell stop (below it) up, a buy stop down
    assert inst.round_price(price, side="sell", stop=True) == sell
    assert inst.round_price(price, side="buy", stop=True) == buy


def test_instrument_examples() -> None:
    assert Instrument("BTC/USDT", lot_size=0.1).round_qty(0.3) == 0.3  # decimal, not 0.2999...
    assert Instrument("AAPL", fractional=False).round_qty(-7.9) == -7.0
    kucoin = Instrument("BTC/USDT:USDT", lot_size=1.0, contract_size=0.001)
    assert kucoin.round_qty(0.0257) == pytest.approx(0.025)
    assert Instrument("X", lot_size=1.0).round_qty(0.4) == 0.0
    inst = Instrument("X", min_qty=0.001, min_notional=10.0)
    assert inst.refusal(0.0001, 50_000.0).startswith("BELOW_MIN_QTY")
    assert inst.refusal(0.001, 5_000.0).startswith("BELOW_MIN_NOTIONAL")
    assert inst.refusal(-0.01, 5_000.0) is None
    with pytest.raises(rg.RiskError, match="side must be 'buy' or 'sell'"):
        inst.round_price(1.0, side="long")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tick_size": 0.0}, "tick_size must be > 0"),
        ({"lot_size": math.nan}, "lot_size must be finite"),
        ({"min_notional": -1.0}, "min_notional must be >= 0"),
        ({"contract_size": math.inf}, "contract_size must be finite"),
    ],
)
def test_instrument_refuses_bad_fields(kwargs: dict, match: str) -> None:
    with pytest.raises(rg.RiskError, match=match):
        Instrument("X", **kwargs)


def test_bar_and_tick_checks() -> None:
    bar = Bar("BTC", 10.0, 12.0, 9.0, 11.0, 0.0, 60)
    assert (bar.open, bar.high, bar.low, bar.close, bar.ts) == (10.0, 12.0, 9.0, 11.0, 60)
    for args, match in [
        (("BTC", 10.0, 9.0, 9.5, 9.5, 1.0, 0), "high must be >= low"),
        (("BTC", 13.0, 12.0, 9.0, 11.0, 1.0, 0), "open must lie in"),
        (("BTC", 10.0, 12.0, 9.0, math.nan, 1.0, 0), "close must be finite"),
        (("BTC", 10.0, 12.0, 9.0, 11.0, -1.0, 0), "volume must be >= 0"),
        (("BTC", 10.0, 12.0, 9.0, 11.0, 1.0, -5), "ts must be a whole number"),
        (("", 10.0, 12.0, 9.0, 11.0, 1.0, 0), "symbol must be a non-empty string"),
    ]:
        with pytest.raises(rg.RiskError, match=match):
            Bar(*args)
    assert Tick("ETH", 2_000, 1).price == 2_000.0
    with pytest.raises(rg.RiskError, match="price must be > 0"):
        Tick("ETH", 0.0, 1)
    with pytest.raises(rg.RiskError, match="NUL"):
        text("BTC\x00", "symbol")
    with pytest.raises(rg.RiskError, match="ts must be a whole number"):
        Tick("ETH", 1.0, True)


def test_purpose() -> None:
    reducing = [p.value for p in Purpose if p.reduces_risk]
    assert reducing == ["exit", "flatten", "reduce", "reconcile"]
    assert Purpose("entry") is Purpose.ENTRY and not Purpose.ENTRY.reduces_risk


def test_risk_status_projects_the_engine() -> None:
    engine = rg.RiskEngine(rg.Limits(), 10_000.0, 0)
    engine.on_fill("BTC", 0.1, 50_000.0, 1)
    engine.on_tick("BTC", 49_000.0, 2)
    engine.kill("operator", 3)
    status = RiskStatus.of(engine, pending_actions=2, failure="disk full", failure_since=4)
    snap = engine.snapshot()
    assert status.state == "HALTED" and status.kill_switch and not status.paused
    assert status.equity == snap.equity and status.drawdown == snap.drawdown
    assert status.positions["BTC"]["qty"] == 0.1
    assert status.tripped == [b.name for b in engine.breakers() if b.status == "tripped"]
    assert "kill_switch" in status.tripped
    assert [(b["name"], b["status"]) for b in status.breakers] == [
        (b.name, b.status) for b in engine.breakers()
    ]
    d = status.to_dict()
    assert (d["pending_actions"], d["failure"], d["failure_since"]) == (2, "disk full", 4)
