"""Profiles (docs/gate.md, "Profiles"), the volatility gate and bar-counted time exits: the
defaults must never close a daily trade after one bar, and a chaotic market is refused
outright rather than let through at high confidence."""

from __future__ import annotations

import json

import pytest
import riskguard as rg
from riskguard.app.cli import app
from riskguard.app.config.profiles import PROFILES, profile_limits
from typer.testing import CliRunner

DAY = 86_400 * 10**9


@pytest.mark.parametrize("name", list(PROFILES))
def test_every_profile_is_a_valid_documented_configuration(name):
    profile = PROFILES[name]
    assert len(profile.intent) > 60
    assert rg.Limits.problems(dict(profile.limits)) == []
    config = rg.Config(profile=name)
    limits = config.to_limits().to_dict()
    for key, value in profile.limits.items():
        got = limits[key]
        if isinstance(value, dict):
            assert {k: got[k] for k in value} == pytest.approx(value), key
        elif isinstance(value, float | int) and not isinstance(value, bool):
            assert got == pytest.approx(value), key
        else:
            assert got == value, key


def test_the_users_limits_apply_over_the_profile_key_by_key():
    config = rg.Config(profile="swing", limits={"risk_per_trade": 0.005, "max_drawdown": 0.3})
    assert config.limits.risk_per_trade == 0.005  # the user's
    assert config.limits.sl_atr == 2.0  # the profile's
    # A breaker given as a number keeps the profile's other fields for it.
    assert config.limits.max_drawdown.threshold == 0.3
    assert config.limits.max_drawdown.action == "reduce"
    assert config.limits.max_drawdown.latched is False
    assert rg.Config(profile="swing", limits={"max_drawdown": None}).limits.max_drawdown is None


def test_an_unknown_profile_names_the_known_ones():
    with pytest.raises(rg.ConfigError, match=r"profile: unknown profile 'scalp'; known: "):
        rg.Config(profile="scalp")
    with pytest.raises(KeyError, match="vol-target"):
        profile_limits("scalp")


def test_a_profile_from_a_file_or_a_variable_and_config_show_names_it(tmp_path, monkeypatch):
    file = tmp_path / "risk.toml"
    file.write_text('profile = "vol-target"\n[limits]\ntarget_volatility = 0.02\n')
    config = rg.Config.load(file)
    assert config.profile == "vol-target" and config.limits.sizing == "volatility_target"
    result = CliRunner().invoke(app, ["config", "show", "--config", str(file), "--json"])
    assert result.exit_code == 0, result.output
    settings = json.loads(result.output)["settings"]
    assert settings["profile"]["source"] == "file"
    assert settings["limits.sizing"] == {
        "value": "volatility_target",
        "source": "profile",
        "origin": "vol-target",
    }
    assert settings["limits.target_volatility"]["source"] == "file"
    assert settings["limits.min_notional"]["source"] == "default"
    monkeypatch.setenv("RG_PROFILE", "intraday")
    monkeypatch.chdir(tmp_path)
    assert rg.Config.load().profile == "intraday"


def engine_with_a_daily_trade(limits: rg.Limits, bars: int = 30) -> tuple[rg.RiskEngine, int]:
    """A managed long bought at 100 after ``bars`` daily bars."""
    engine = rg.RiskEngine(limits, 1_000_000.0, 0)
    for i in range(bars):
        p = 100.0 + (i % 3) * 0.5
        engine.on_bar("D", p, p + 1.0, p - 1.0, p, 1e6, i * DAY)
    ts = bars * DAY
    signal = rg.Signal("D", "long", 100.0, stop=95.0, target=200.0, quantity=1.0)
    assert engine.evaluate_signal(signal, ts).approved
    engine.on_fill("D", 1.0, 100.0, ts)
    return engine, ts


def time_exit_day(engine: rg.RiskEngine, t0: int, days: int = 40) -> int | None:
    for day in range(1, days):
        events = engine.on_tick("D", 99.5, t0 + day * DAY)
        if any(e.kind == "exit_signal" and e.reason == "time" for e in events):
            return day
    return None


def test_a_daily_trade_times_out_after_its_bars_not_after_one_day():
    filters_off = {"signal_filters": False, "max_correlation": None}
    engine, t0 = engine_with_a_daily_trade(rg.Limits(**filters_off))
    assert time_exit_day(engine, t0) == 24  # the default: 24 bars of the trade's timeframe
    hours = rg.Limits(**filters_off, max_hours_no_progress=24.0, max_bars_no_progress=None)
    engine, t0 = engine_with_a_daily_trade(hours)
    assert time_exit_day(engine, t0) == 1  # hours where the user says hours
    swing = rg.Config(profile="swing", limits={"require_trend": False}).to_limits()
    engine, t0 = engine_with_a_daily_trade(swing, bars=70)
    assert time_exit_day(engine, t0, days=80) == 60


@pytest.mark.parametrize(
    ("atr", "confidence", "codes"),
    [
        (2.0, 0.75, []),  # calm: the 0.70 floor
        (4.0, 0.75, ["CONFIDENCE_TOO_LOW"]),  # above high_vol_atr_ratio: the 0.80 floor
        (4.0, 0.85, []),
        (6.0, 0.99, ["VOLATILITY_TOO_HIGH"]),  # above max_atr_ratio: refused at any confidence
    ],
)
def test_the_volatility_gate(atr, confidence, codes):
    limits = rg.Limits(
        require_trend=False,
        max_correlation=None,
        allowed_consensus=None,
        min_volume_24h=None,
        max_spread_bps=None,
    )
    engine = rg.RiskEngine(limits, 1_000_000.0, 0)
    signal = rg.Signal(
        "V", "long", 100.0, stop=90.0, target=130.0, quantity=1.0, atr=atr, confidence=confidence
    )
    assert engine.evaluate_signal(signal, 0).codes == codes


def test_the_volatility_gates_ratios_are_held_in_order():
    with pytest.raises(rg.RiskError, match="high_vol_atr_ratio: must be below max_atr_ratio"):
        rg.Limits(high_vol_atr_ratio=0.05, max_atr_ratio=0.05)
    with pytest.raises(rg.ConfigError, match="high_vol_atr_ratio"):
        rg.Config(limits={"max_atr_ratio": 0.02})  # the default 0.03 floor would never act
    assert rg.Limits(max_atr_ratio=0.02, high_vol_atr_ratio=None).max_atr_ratio == 0.02


def test_a_profile_that_sets_nothing_is_the_source_of_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RG_PROFILE", "conservative")
    sources = rg.Config.sources()
    assert sources["profile"].source == "env"
    assert all(s.source != "profile" for s in sources.values())


def test_a_rule_that_needs_two_settings_is_off_when_one_is():
    from riskguard.app.backtest.groups import group, switched_off

    swing = rg.Config(profile="swing")  # partial_tp_r stays 2.0, its fraction is off
    assert swing.limits.partial_tp_r == 2.0 and swing.limits.partial_tp_fraction is None
    assert switched_off(swing, group("partial_take_profit")) is None
    assert switched_off(rg.Config(profile="vol-target"), group("trailing_stop")) is None
    assert switched_off(rg.Config(), group("partial_take_profit")) is not None
