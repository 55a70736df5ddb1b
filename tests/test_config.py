"""``riskguard.Config``: defaults from the engine, a TOML file, ``RG_*`` variables and
arguments, in that order of precedence; every problem reported at once with its path."""

from __future__ import annotations

from pathlib import Path

import pytest
import riskguard as rg

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


@pytest.fixture(autouse=True)
def clean(tmp_path, monkeypatch):
    """No stray riskguard.toml and no RG_ variable from the caller's environment."""
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.upper().startswith("RG_"):
            monkeypatch.delenv(name)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults_are_the_engines():
    assert rg.Config().to_limits() == rg.Limits()
    assert rg.Config.load().limits == {}


def test_a_toml_file_sets_every_kind_of_value(tmp_path):
    f = write(
        tmp_path / "risk.toml",
        """
        [limits]
        daily_loss = 0.03
        portfolio_heat = "off"
        volatility_spike = { threshold = 2.5, cooldown_s = 600 }
        reset_time = "17:00"
        sizing = "atr"
        max_positions = 3
        max_position_notional = 5000
        allowed_consensus = ["STRONG"]
        signal_filters = false
        """.replace("\n        ", "\n"),
    )
    got = rg.Config.load(f).to_limits()
    want = rg.Limits(
        daily_loss=0.03,
        portfolio_heat=None,
        volatility_spike=rg.BreakerSpec(2.5, cooldown_s=600),
        reset_time="17:00",
        sizing="atr",
        max_positions=3,
        max_position_notional=5000,
        allowed_consensus=["STRONG"],
        signal_filters=False,
    )
    assert got == want


def test_riskguard_toml_in_the_working_directory_is_read(tmp_path):
    write(tmp_path / "riskguard.toml", "[limits]\nweekly_loss = 0.08\n")
    assert rg.Config.load().to_limits().weekly_loss.threshold == 0.08


def test_environment_overrides_the_file_and_arguments_override_both(tmp_path, monkeypatch):
    f = write(tmp_path / "risk.toml", "[limits]\ndaily_loss = 0.03\nmax_positions = 3\n")
    monkeypatch.setenv("RG_LIMITS__DAILY_LOSS", "0.04")
    monkeypatch.setenv("RG_LIMITS__SIGNAL_FILTERS", "false")
    monkeypatch.setenv("RG_LIMITS__MAX_SPREAD_BPS", "off")
    monkeypatch.setenv("RG_LIMITS__RESET_TIME", "17:30")
    monkeypatch.setenv("RG_LIMITS__ALLOWED_CONSENSUS", '["UNANIMOUS"]')
    monkeypatch.setenv("RG_LIMITS__VOLATILITY_SPIKE__THRESHOLD", "4")
    cfg = rg.Config.load(f)
    limits = cfg.to_limits()
    assert limits.daily_loss.threshold == 0.04  # the variable wins over the file
    assert limits.max_positions == 3  # the file's value where no variable is set
    assert limits.signal_filters is False
    assert limits.max_spread_bps is None
    assert limits.reset_time == "17:30"
    assert limits.allowed_consensus == ["UNANIMOUS"]
    assert limits.volatility_spike.threshold == 4.0
    argued = rg.Config.load(f, limits={"daily_loss": 0.02})
    assert argued.to_limits().daily_loss.threshold == 0.02


def test_every_problem_is_listed_with_its_path(tmp_path, monkeypatch):
    f = write(
        tmp_path / "bad.toml",
        '[limits]\ndaily_loss = 1.5\nmax_positions = 0\nsizng = "atr"\nsizing = "magic"\n',
    )
    monkeypatch.setenv("RG_LIMITS__LEVERAGE", "-2")
    with pytest.raises(rg.ConfigError) as info:
        rg.Config.load(f)
    err = info.value
    assert isinstance(err, rg.RiskError) and isinstance(err, ValueError)
    paths = sorted(path for path, _ in err.problems)
    assert paths == [
        "limits.daily_loss",
        "limits.leverage",
        "limits.max_positions",
        "limits.sizing",
        "limits.sizng",
    ]
    text = str(err)
    assert "limits.daily_loss: daily_loss.threshold: must be in (0, 1], got 1.5" in text
    assert "limits.leverage: leverage.threshold: must be finite and > 0, got -2" in text
    assert 'limits.sizng: unknown limit "sizng"' in text


@pytest.mark.parametrize(
    ("values", "path", "words"),
    [
        ({"limts": {}}, "limts", ["unknown setting"]),
        ({"limits": [0.05]}, "limits", ["table of limits", "list"]),
        ({"limits": "daily_loss=0.05"}, "limits", ["table of limits", "str"]),
        ({"limits": {"daily_loss": [0.05]}}, "limits.daily_loss", ["daily_loss"]),
        ({"limits": {"signal_filters": "yes"}}, "limits.signal_filters", ["True or False"]),
        ({"limits": {"max_heat": float("nan")}}, "limits.max_heat", ["NaN"]),
        ({"limits": {"risk_per_trade": "off"}}, "limits.risk_per_trade", ["switched off"]),
    ],
)
def test_wrong_types_and_unknown_keys_are_named(values, path, words):
    with pytest.raises(rg.ConfigError) as info:
        rg.Config(**values)
    problems = dict(info.value.problems)
    assert path in problems, info.value.problems
    for word in words:
        assert word.lower() in problems[path].lower(), problems[path]


def test_a_file_that_is_not_toml_or_not_there_is_an_error(tmp_path):
    bad = write(tmp_path / "bad.toml", "[limits\ndaily_loss = \n")
    with pytest.raises(rg.ConfigError, match="not valid TOML"):
        rg.Config.load(bad)
    with pytest.raises(rg.ConfigError, match="no such file"):
        rg.Config.load(tmp_path / "missing.toml")


def test_examples_load_and_say_what_they_change():
    assert [p.name for p in EXAMPLES] == ["atr-swing.toml", "conservative.toml"]
    conservative = rg.Config.load(ROOT / "examples" / "conservative.toml")
    # The conservative profile writes the engine's defaults out: it must stay equal to them.
    assert conservative.to_limits() == rg.Limits()
    swing = rg.Config.load(ROOT / "examples" / "atr-swing.toml").to_limits()
    assert (swing.sizing, swing.sl_atr, swing.tp_atr, swing.trail_atr) == ("atr", 2.0, 5.0, 1.5)
    assert swing.position_loss.threshold == 0.08
    for path in EXAMPLES:
        assert path.read_text().startswith("#"), f"{path.name} documents itself"
