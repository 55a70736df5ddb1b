"""``RiskEngine.pause``/``resume`` (docs/engine.md, "Control"; docs/gate.md, "Trading state").

A pause blocks new risk at the gate with ``TRADING_PAUSED`` and nothing else: the trading state,
the breakers and the positions stay as they are, and exits still pass. It is part of the
engine's state, so it survives ``to_bytes``/``from_bytes`` and pickling. Bad arguments are in
``test_engine_bad_input.py``'s tables; the random streams of ``test_engine_reference.py`` and
``test_gate.py`` mix pauses and resumes into everything else.
"""

from __future__ import annotations

import math
import pickle

import pytest
import riskguard as rg

NS = 1_000_000_000
T0 = 1_641_168_000 * NS  # Monday 3 January 2022, 00:00 UTC
DAY = 86_400 * NS

# the gate refuses nothing but the pause: no signal filters, no correlation with what is held
OPEN = {"signal_filters": False, "max_correlation": None}


def engine(**kw) -> rg.RiskEngine:
    return rg.RiskEngine(rg.Limits(**{**OPEN, **kw}), equity=10_000.0, ts=T0)


def signal(symbol: str = "BTC") -> rg.Signal:
    return rg.Signal(symbol, "long", 100.0, stop=95.0, target=110.0, quantity=1.0)


def codes(e: rg.RiskEngine, ts: int) -> list[str]:
    return list(e.evaluate_signal(signal(), ts).codes)


def test_pause_reports_once_and_resume_once():
    e = engine()
    (ev,) = e.pause("news", T0 + 1)
    assert ev.kind == "paused"
    assert (ev.breaker, ev.symbol, ev.action, ev.reason) == (None, None, None, None)
    assert math.isnan(ev.value) and math.isnan(ev.threshold)
    assert (ev.ts, ev.state) == (T0 + 1, rg.TradingState.ACTIVE)
    assert ev.message == "trading paused: news"
    assert ev.to_dict()["kind"] == "paused"
    assert e.paused
    assert e.pause("again", T0 + 2) == []
    assert e.ts == T0 + 2, "a pause that does nothing still moves the clock"
    (ev,) = e.resume(T0 + 3)
    assert (ev.kind, ev.message, ev.ts, ev.state) == (
        "resumed",
        "trading resumed",
        T0 + 3,
        rg.TradingState.ACTIVE,
    )
    assert (ev.breaker, ev.symbol, ev.action, ev.reason) == (None, None, None, None)
    assert math.isnan(ev.value) and math.isnan(ev.threshold)
    assert not e.paused
    assert e.resume(T0 + 4) == []
    assert e.ts == T0 + 4
    (ev,) = e.pause("", T0 + 5)
    assert ev.message == "trading paused"


def test_paused_is_a_read_only_view():
    e = engine()
    assert e.paused is False
    snap = e.snapshot()
    assert snap.paused is False and snap.to_dict()["paused"] is False
    e.pause("x", T0)
    assert e.paused is True
    snap = e.snapshot()
    assert snap.paused is True and snap.to_dict()["paused"] is True
    assert "paused=True" in repr(e) and "paused=True" in repr(snap)
    with pytest.raises(AttributeError):
        e.paused = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        snap.paused = False  # type: ignore[misc]
    assert e.paused


def test_a_pause_leaves_the_state_breakers_and_positions_alone():
    e = engine(daily_loss=0.05)
    e.on_fill("A", 10.0, 100.0, T0)

    def view():
        statuses = [(b.name, b.status, b.tripped_at) for b in e.breakers()]
        return e.state, statuses, e.snapshot().positions["A"].qty

    before = view()
    (ev,) = e.pause("desk", T0 + 1)  # one event: no flatten, no state change
    assert ev.kind == "paused"
    assert view() == before
    # a breaker trips and halts while paused, and its event shows the state it made
    kinds = [x.kind for x in e.on_tick("A", 40.0, T0 + 2)]
    assert kinds[:2] == ["breaker_tripped", "state_changed"]
    assert e.state == rg.TradingState.HALTED
    (ev,) = e.resume(T0 + 3)
    assert ev.state == rg.TradingState.HALTED, "resuming does not re-arm anything"
    assert e.state == rg.TradingState.HALTED


def test_a_pause_rolls_the_session():
    e = engine(daily_loss=0.5)
    e.on_fill("A", 10.0, 100.0, T0)
    e.on_tick("A", 90.0, T0 + 1)
    e.pause("", T0 + DAY)
    assert e.snapshot().day_open_equity == 9_900.0
    assert e.ts == T0 + DAY


def test_the_gate_refuses_new_risk_while_paused_and_approves_after_resume():
    e = engine()
    assert codes(e, T0) == []
    e.pause("fomc", T0 + 1)
    d = e.evaluate_signal(signal(), T0 + 2)
    assert not d.approved and list(d.codes) == ["TRADING_PAUSED"]
    (r,) = d.reasons
    assert math.isnan(r.value) and math.isnan(r.limit)
    assert r.message == "trading is paused: no new risk (fomc)"
    d = e.check_order("ETH", 1.0, 100.0, T0 + 3)
    assert not d.approved and list(d.codes) == ["TRADING_PAUSED"]
    e.resume(T0 + 4)
    assert codes(e, T0 + 5) == []
    assert e.check_order("ETH", 1.0, 100.0, T0 + 6).approved


def test_a_pause_without_a_reason_says_so_plainly():
    e = engine()
    e.pause("", T0)
    (r,) = e.evaluate_signal(signal(), T0).reasons
    assert r.message == "trading is paused: no new risk"


def test_exits_pass_while_paused():
    e = engine()
    e.on_fill("A", 5.0, 100.0, T0)
    e.pause("x", T0 + 1)
    assert e.check_order("A", -1.0, 100.0, T0 + 2, reduce_only=True).approved
    assert e.check_order("A", -2.0, 100.0, T0 + 2).approved, "reducing without the flag"
    d = e.check_order("A", 1.0, 100.0, T0 + 2, reduce_only=True)
    assert list(d.codes) == ["REDUCE_ONLY", "TRADING_PAUSED"]
    d = e.check_order("A", -6.0, 100.0, T0 + 2)
    assert list(d.codes) == ["TRADING_PAUSED"], "a flip adds risk"


def test_the_pause_comes_first_and_kill_and_reset_leave_it():
    e = engine()
    e.pause("x", T0)
    e.kill("test", T0 + 1)
    assert e.paused
    assert codes(e, T0 + 2) == ["TRADING_PAUSED", "TRADING_HALTED", "KILL_SWITCH"]
    e.reset("kill_switch", T0 + 3, confirm=True)
    assert e.paused and e.state == rg.TradingState.ACTIVE
    assert codes(e, T0 + 4) == ["TRADING_PAUSED"]
    with pytest.raises(rg.RiskError, match="pause"):
        e.reset("pause", T0 + 5, confirm=True)
    assert e.paused
    e.resume(T0 + 6)
    e.kill("test", T0 + 7)
    assert not e.paused
    assert codes(e, T0 + 8) == ["TRADING_HALTED", "KILL_SWITCH"]


@pytest.mark.parametrize("how", ["bytes", "pickle"])
def test_a_pause_survives_a_restore(how: str):
    e = engine()
    e.on_fill("A", 1.0, 100.0, T0)
    e.pause("maintenance", T0 + 1)
    if how == "bytes":
        r = rg.RiskEngine.from_bytes(e.to_bytes())
    else:
        r = pickle.loads(pickle.dumps(e))
    assert r.paused and r.snapshot().paused
    assert r.to_bytes() == e.to_bytes()
    (reason,) = r.evaluate_signal(signal(), T0 + 2).reasons
    assert reason.message == "trading is paused: no new risk (maintenance)"
    assert r.pause("other", T0 + 3) == []
    assert [x.kind for x in r.resume(T0 + 4)] == ["resumed"]
    again = pickle.loads(pickle.dumps(r))
    assert not again.paused
    assert codes(again, T0 + 5) == []


def test_pause_and_resume_refuse_bad_arguments_and_change_nothing():
    e = engine()
    e.pause("x", T0 + 10)
    before = e.to_bytes()
    for call, needle in [
        (lambda: e.resume(T0 + 9), "ts"),
        (lambda: e.resume(float(T0 + 11)), "float"),
        (lambda: e.resume(math.nan), "nan"),
        (lambda: e.pause("x", T0 + 9), "ts"),
        (lambda: e.pause(1, T0 + 11), "reason"),
        (lambda: e.pause(None, T0 + 11), "reason"),
        (lambda: e.pause("x", 1.5), "ts"),
    ]:
        with pytest.raises(rg.RiskError, match=needle):
            call()
        assert e.to_bytes() == before
    assert e.paused
