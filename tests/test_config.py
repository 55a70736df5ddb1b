"""``riskguard.Config``: defaults from the engine, a TOML file, ``RG_*`` variables and
arguments, in that order of precedence; every problem reported at once with its path."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path

import pytest
import riskguard as rg
from riskguard.config import (
    AlertsConfig,
    BrokerConfig,
    FixedBpsConfig,
    GuardConfig,
    JournalConfig,
    LimitsConfig,
    MakerTakerConfig,
    NoCommissionConfig,
    NoSlippageConfig,
    PercentOfNotionalConfig,
    PerShareConfig,
    SessionsConfig,
    VolatilityATRConfig,
    VolumeLinearConfig,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
SECTIONS = ("sessions", "broker", "journal", "alerts", "guard", "batch")


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
    # [limits] is typed (LimitsConfig): nothing given, every field the engine's default.
    limits = rg.Config.load().limits
    assert limits.given() == {} and limits == LimitsConfig()


def test_a_toml_file_sets_every_kind_of_value(tmp_path):
    f = write(
        tmp_path / "risk.toml",
        """
        [limits]
        daily_loss = 0.03
        portfolio_heat = "off"
        volatility_spike = { threshold = 2.5, cooldown_s = 600 }
        sizing = "atr"
        max_positions = 3
        max_position_notional = 5000
        allowed_consensus = ["STRONG"]
        signal_filters = false

        [sessions]
        reset_time = "17:00"
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
    monkeypatch.setenv("RG_SESSIONS__RESET_TIME", "17:30")
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
    assert [p.name for p in EXAMPLES] == [
        "atr-swing.toml",
        "conservative.toml",
        "intraday.toml",
        "live-binanceusdm.toml",
        "swing.toml",
        "vol-target.toml",
    ]
    for name in ("intraday", "swing", "vol-target"):
        assert rg.Config.load(ROOT / "examples" / f"{name}.toml").profile == name
    assert rg.Config.load(ROOT / "examples" / "swing.toml").limits.max_drawdown.threshold == 0.2
    conservative = rg.Config.load(ROOT / "examples" / "conservative.toml")
    # The conservative profile writes the defaults out: it must stay equal to them, and write
    # out every section.
    assert conservative.to_limits() == rg.Limits()
    defaults = rg.Config()
    for section in SECTIONS:
        assert getattr(conservative, section) == getattr(defaults, section), section
        assert f"[{section}]" in (ROOT / "examples" / "conservative.toml").read_text()
    swing_config = rg.Config.load(ROOT / "examples" / "atr-swing.toml")
    swing = swing_config.to_limits()
    assert (swing.sizing, swing.sl_atr, swing.tp_atr, swing.trail_atr) == ("atr", 2.0, 5.0, 1.5)
    assert swing.position_loss.threshold == 0.08
    assert (swing.reset_time, swing.utc_offset) == ("17:00", "-05:00")
    broker = swing_config.broker
    assert broker.slippage == FixedBpsConfig(model="fixed_bps", bps=5.0)
    assert broker.commission == PercentOfNotionalConfig(model="percent_of_notional", rate=0.001)
    assert swing_config.alerts.build().sink_names == ["log", "webhook"]
    live = rg.Config.load(ROOT / "examples" / "live-binanceusdm.toml")
    assert live.broker.live and live.broker.testnet and live.broker.api_key is None
    for path in EXAMPLES:
        assert path.read_text().startswith("#"), f"{path.name} documents itself"


# ---------------------------------------------------------------------------------------------
# The sections beyond [limits]: [sessions], [broker], [journal], [alerts], [guard]


def value_at(cfg: rg.Config, path: str):
    section, key = path.split(".")
    return getattr(getattr(cfg, section), key)


WEBHOOK = "https://hooks.example/risk/key123"

# (path, default, TOML text -> value, env text -> value, kwargs value -> value)
FIELDS = [
    ("broker.type", "paper", ('"paper"', "paper"), ("paper", "paper"), ("paper", "paper")),
    ("broker.cash", 100_000.0, ("2500.5", 2500.5), ("5000", 5000.0), (750, 750.0)),
    ("broker.allow_short", False, ("true", True), ("true", True), (True, True)),
    ("broker.fractional", True, ("false", False), ("False", False), (False, False)),
    ("broker.max_leverage", 1.0, ("2.5", 2.5), ("3", 3.0), (1.5, 1.5)),
    (
        "broker.symbols",
        None,
        ('["BTCUSDT", "ETHUSDT"]', ("BTCUSDT", "ETHUSDT")),
        ('["SOLUSDT"]', ("SOLUSDT",)),
        (["X"], ("X",)),
    ),
    ("broker.atr_period", 14, ("20", 20), ("7", 7), (10, 10)),
    (
        "broker.slippage",
        NoSlippageConfig(),
        ('{ model = "fixed_bps", bps = 5.0 }', FixedBpsConfig(model="fixed_bps", bps=5.0)),
        (
            '{"model": "volume_linear", "k": 0.1}',
            VolumeLinearConfig(model="volume_linear", k=0.1),
        ),
        (
            {"model": "volatility_atr", "k": 0.5},
            VolatilityATRConfig(model="volatility_atr", k=0.5),
        ),
    ),
    (
        "broker.commission",
        NoCommissionConfig(),
        (
            '{ model = "per_share", rate = 0.005, minimum = 1.0 }',
            PerShareConfig(model="per_share", rate=0.005, minimum=1.0),
        ),
        (
            '{"model": "maker_taker", "maker": 0.0002, "taker": 0.0005}',
            MakerTakerConfig(model="maker_taker", maker=0.0002, taker=0.0005),
        ),
        (
            {"model": "percent_of_notional", "rate": 0.001},
            PercentOfNotionalConfig(model="percent_of_notional", rate=0.001),
        ),
    ),
    (
        "journal.url",
        "sqlite:///riskguard.db",
        ('"sqlite:////tmp/a.db"', "sqlite:////tmp/a.db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("postgresql+psycopg://rg@db/risk", "postgresql+psycopg://rg@db/risk"),
    ),
    ("journal.batch", 256, ("16", 16), ("64", 64), (1, 1)),
    ("journal.snapshot_interval_s", 60.0, ('"off"', None), ("30", 30.0), (0.5, 0.5)),
    ("journal.keep_snapshots", 1000, ("50", 50), ("off", None), (7, 7)),
    (
        "alerts.sinks",
        ({"type": "log"},),
        (
            f'[{{ type = "log", path = "alerts.log" }}, {{ type = "webhook", url = "{WEBHOOK}" }}]',
            ({"type": "log", "path": "alerts.log"}, {"type": "webhook", "url": WEBHOOK}),
        ),
        (
            f'[{{"type": "webhook", "url": "{WEBHOOK}", "timeout": 3}}]',
            ({"type": "webhook", "url": WEBHOOK, "timeout": 3},),
        ),
        ([{"type": "log", "name": "audit"}], ({"type": "log", "name": "audit"},)),
    ),
    ("alerts.rate_limit", (10, 60.0), ("[5, 30.0]", (5, 30.0)), ("off", None), ((1, 1), (1, 1.0))),
    ("alerts.dedup_s", 60.0, ("0", 0.0), ("120", 120.0), (5, 5.0)),
    ("alerts.retries", 3, ("0", 0), ("7", 7), (1, 1)),
    ("alerts.backoff_s", 0.5, ("0.0", 0.0), ("1.5", 1.5), (2, 2.0)),
    ("alerts.max_backoff_s", 30.0, ("10.0", 10.0), ("0", 0.0), (60, 60.0)),
    ("alerts.timeout_s", 10.0, ("2.5", 2.5), ("1", 1.0), (30, 30.0)),
    ("alerts.queue_size", 1000, ("10", 10), ("50000", 50000), (1, 1)),
    (
        "sessions.reset_time",
        "00:00",
        ('"17:00"', "17:00"),
        ("17:00", "17:00"),
        ("09:30:15", "09:30:15"),
    ),
    (
        "sessions.utc_offset",
        "+00:00",
        ('"-05:00"', "-05:00"),
        ("+05:30", "+05:30"),
        ("-04:00", "-04:00"),
    ),
    ("guard.equity", None, ("25000.0", 25000.0), ("12345", 12345.0), (1e6, 1e6)),
    ("guard.action_queue", 1024, ("64", 64), ("64", 64), (8, 8)),
    ("guard.broker_retries", 5, ("0", 0), ("2", 2), (10, 10)),
    ("guard.retry_backoff_s", 0.1, ("0.25", 0.25), ("0.2", 0.2), (1.0, 1.0)),
    ("guard.retry_max_backoff_s", 5.0, ("60.0", 60.0), ("10", 10.0), (0.1, 0.1)),
    ("guard.control_poll_s", 0.5, ("1.0", 1.0), ("0.25", 0.25), (0.1, 0.1)),
    ("guard.call_timeout_s", 10.0, ("2.5", 2.5), ("30", 30.0), (60, 60.0)),
    ("guard.max_clock_skew_s", 300.0, ('"off"', None), ("60", 60.0), (5, 5.0)),
    ("guard.flatten_on_exit", False, ("true", True), ("true", True), (True, True)),
    ("broker.testnet", True, ("false", False), ("false", False), (False, False)),
    ("broker.secrets_file", None, ('"keys.toml"', "keys.toml"), ("k.toml", "k.toml"), ("x", "x")),
    ("broker.secrets_in_config", False, ("true", True), ("true", True), (True, True)),
    (
        "broker.base_url",
        None,
        ('"http://127.0.0.1:9/b"', "http://127.0.0.1:9/b"),
        ("https://gw.example/x", "https://gw.example/x"),
        ("http://h:1/", "http://h:1"),
    ),
    (
        "broker.ws_url",
        None,
        ('"ws://127.0.0.1:9/b-ws"', "ws://127.0.0.1:9/b-ws"),
        ("wss://gw.example/ws", "wss://gw.example/ws"),
        ("ws://h:1", "ws://h:1"),
    ),
    ("broker.stale_feed_s", 30.0, ("5", 5.0), ("10", 10.0), (2.5, 2.5)),
    ("broker.bar_timeframe", "1m", ('"5m"', "5m"), ("1h", "1h"), ("off", None)),
    ("broker.dead_man_s", 60.0, ('"off"', None), ("30", 30.0), (120, 120.0)),
]

# The credentials have sources of their own (test_credentials_never_come_from_the_file_unasked).
CREDENTIALS = {"broker.api_key", "broker.secret", "broker.password"}


@pytest.mark.parametrize(
    ("path", "default", "toml", "env", "kwargs"), FIELDS, ids=[f[0] for f in FIELDS]
)
def test_every_field_has_its_default_and_is_read_from_each_source(
    path, default, toml, env, kwargs, tmp_path, monkeypatch
):
    section, key = path.split(".")
    assert value_at(rg.Config(), path) == default
    if path != "broker.type":  # the paper broker in every source: the others need symbols
        assert toml[1] != default and env[1] != default and kwargs[1] != default
    f = write(tmp_path / "c.toml", f"[{section}]\n{key} = {toml[0]}\n")
    assert value_at(rg.Config.load(f), path) == toml[1]
    assert value_at(rg.Config(**{section: {key: kwargs[0]}}), path) == kwargs[1]
    monkeypatch.setenv(f"RG_{section.upper()}__{key.upper()}", env[0])
    assert value_at(rg.Config(), path) == env[1]
    # The variable wins over the file, and an argument over both.
    assert value_at(rg.Config.load(f), path) == env[1]
    assert value_at(rg.Config.load(f, **{section: {key: kwargs[0]}}), path) == kwargs[1]


def test_the_fields_table_covers_every_field():
    covered = {f[0] for f in FIELDS} | CREDENTIALS
    for name, model in [
        ("broker", BrokerConfig),
        ("journal", JournalConfig),
        ("alerts", AlertsConfig),
        ("sessions", SessionsConfig),
        ("guard", GuardConfig),
    ]:
        assert {f"{name}.{key}" for key in model.model_fields} <= covered


def test_credentials_never_come_from_the_file_unasked(tmp_path, monkeypatch):
    from riskguard.app.bootstrap import venue_settings

    live = '[broker]\ntype = "binanceusdm"\nsymbols = ["BTC/USDT:USDT"]\n'
    f = write(tmp_path / "c.toml", live + 'api_key = "k-in-file"\nsecret = "s-in-file"\n')
    with pytest.raises(rg.ConfigError) as e:
        rg.Config.load(f)
    assert {p for p, _ in e.value.problems} == {"broker.api_key", "broker.secret"}
    assert "k-in-file" not in str(e.value) and "s-in-file" not in str(e.value)
    # The user insists: taken, and never shown.
    g = write(tmp_path / "g.toml", f.read_text() + "secrets_in_config = true\n")
    cfg = rg.Config.load(g)
    assert venue_settings(cfg.broker).api_key == "k-in-file"
    assert "k-in-file" not in repr(cfg) and "s-in-file" not in repr(cfg.broker)
    # The environment, then a secrets file, fill in what the other does not give.
    keys = write(tmp_path / "keys.toml", 'api_key = "k-file"\nsecret = "s-file"\npassword = "p"\n')
    h = write(tmp_path / "h.toml", live + f'secrets_file = "{keys}"\n')
    monkeypatch.setenv("RG_BROKER__API_KEY", "k-env")
    s = venue_settings(rg.Config.load(h).broker)
    assert (s.api_key, s.secret, s.password) == ("k-env", "s-file", "p")
    assert "k-env" not in repr(s) and "s-file" not in repr(s)
    bad = write(tmp_path / "bad.toml", 'api_key = "k"\ntoken = "t"\n')
    with pytest.raises(rg.ConfigError, match="broker.secrets_file") as e:
        rg.Config.load(write(tmp_path / "i.toml", live + f'secrets_file = "{bad}"\n'))
    assert '"k"' not in str(e.value) and "t" not in str(e.value).split("only")[-1]


def test_a_live_venue_needs_its_symbols_and_a_known_timeframe():
    with pytest.raises(rg.ConfigError, match="broker.symbols"):
        rg.Config(broker={"type": "bingx"})
    with pytest.raises(rg.ConfigError, match="bar length"):
        rg.Config(broker={"bar_timeframe": "weekly"})
    with pytest.raises(rg.ConfigError, match="ws"):
        rg.Config(broker={"ws_url": "ftp://x"})
    cfg = rg.Config(broker={"type": "bingx", "symbols": ["BTC/USDT:USDT"]})
    assert cfg.broker.live and not rg.Config().broker.live


def test_defaults_are_those_of_the_code_they_configure():
    """One source of truth: each default equals the default of the code it configures."""
    from riskguard.alerts import Alerter
    from riskguard.brokers import PaperBroker
    from riskguard.journal import DEFAULT_URL, Journal

    cfg = rg.Config()

    def defaults(function):
        return {
            name: p.default
            for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty
        }

    broker = defaults(PaperBroker.__init__)
    assert cfg.broker.cash == broker["cash"]
    assert cfg.broker.allow_short == broker["allow_short"]
    assert cfg.broker.fractional == broker["fractional"]
    assert cfg.broker.max_leverage == broker["max_leverage"]
    assert cfg.broker.symbols == broker["symbols"]
    assert cfg.broker.atr_period == broker["atr_period"]
    # None means no slippage and no commission to PaperBroker; "none" means it here.
    assert broker["slippage"] is None and cfg.broker.slippage.model == "none"
    assert broker["commission"] is None and cfg.broker.commission.model == "none"

    journal = defaults(Journal.__init__)
    assert cfg.journal.url == journal["url"] == DEFAULT_URL
    assert cfg.journal.batch == journal["batch"]

    alerter = defaults(Alerter.__init__)
    assert cfg.alerts.rate_limit == alerter["rate_limit_per_kind"]
    assert cfg.alerts.dedup_s == alerter["dedup_seconds"]
    assert cfg.alerts.retries == alerter["retries"]
    assert cfg.alerts.backoff_s == alerter["backoff"]
    assert cfg.alerts.max_backoff_s == alerter["max_backoff"]
    assert cfg.alerts.timeout_s == alerter["timeout"]
    assert cfg.alerts.queue_size == alerter["queue_size"]

    assert cfg.sessions.reset_time == rg.Limits().reset_time
    assert cfg.sessions.utc_offset == rg.Limits().utc_offset
    assert cfg.to_limits() == rg.Limits()


NAN, INF = float("nan"), float("inf")


def bad(section: str, key: str, value, words, path: str | None = None):
    return pytest.param(
        {section: {key: value}}, path or f"{section}.{key}", words, id=f"{section}.{key}={value!r}"
    )


@pytest.mark.parametrize(
    ("values", "path", "words"),
    [
        bad("broker", "type", "ib", ["unknown broker type 'ib'", "known: paper"]),
        bad("broker", "type", 5, ["unknown broker type"]),
        bad("broker", "cash", "lots", ["number", "'lots'"]),
        bad("broker", "cash", True, ["number"]),
        bad("broker", "cash", [1], ["number"]),
        bad("broker", "cash", NAN, ["finite"]),
        bad("broker", "cash", INF, ["finite"]),
        bad("broker", "cash", 0, ["> 0", "got 0"]),
        bad("broker", "cash", -5, ["> 0", "got -5"]),
        bad("broker", "allow_short", "yes", ["true or false"]),
        bad("broker", "fractional", 1, ["true or false"]),
        bad("broker", "max_leverage", 0.5, [">= 1"]),
        bad("broker", "max_leverage", NAN, ["finite"]),
        bad("broker", "symbols", "BTCUSDT", ["list of symbols"]),
        bad("broker", "symbols", [], ["at least one symbol"]),
        bad("broker", "symbols", ["BTCUSDT", ""], ["non-empty string"], "broker.symbols.1"),
        bad("broker", "symbols", [5], ["non-empty string"], "broker.symbols.0"),
        bad("broker", "atr_period", 0, ["integer >= 1"]),
        bad("broker", "atr_period", 1.5, ["integer >= 1"]),
        bad("broker", "atr_period", "x", ["integer"]),
        bad("broker", "broker_type", "paper", ["unknown setting"]),
        bad(
            "broker",
            "slippage",
            {"model": "magic"},
            ["unknown model 'magic'", "fixed_bps"],
            "broker.slippage.model",
        ),
        bad("broker", "slippage", {"bps": 2}, ["required", "fixed_bps"], "broker.slippage.model"),
        bad("broker", "slippage", "fixed_bps", ["required"], "broker.slippage.bps"),
        bad(
            "broker", "slippage", {"model": "fixed_bps", "bps": -1}, [">= 0"], "broker.slippage.bps"
        ),
        bad(
            "broker",
            "slippage",
            {"model": "fixed_bps", "bps": NAN},
            ["finite"],
            "broker.slippage.bps",
        ),
        bad(
            "broker",
            "slippage",
            {"model": "fixed_bps", "bps": 1, "k": 2},
            ["unknown setting"],
            "broker.slippage.k",
        ),
        bad(
            "broker",
            "slippage",
            {"model": "volume_linear", "k": -0.1},
            [">= 0"],
            "broker.slippage.k",
        ),
        bad(
            "broker",
            "slippage",
            {"model": "volatility_atr", "k": "x"},
            ["number"],
            "broker.slippage.k",
        ),
        bad("broker", "slippage", 5, ["must be a table"]),
        bad(
            "broker",
            "commission",
            {"model": "free"},
            ["unknown model 'free'", "maker_taker"],
            "broker.commission.model",
        ),
        bad(
            "broker",
            "commission",
            {"model": "per_share", "rate": -0.1},
            [">= 0"],
            "broker.commission.rate",
        ),
        bad(
            "broker",
            "commission",
            {"model": "per_share", "rate": 0.1, "minimum": -1},
            [">= 0"],
            "broker.commission.minimum",
        ),
        bad(
            "broker",
            "commission",
            {"model": "percent_of_notional", "rate": INF},
            ["finite"],
            "broker.commission.rate",
        ),
        bad(
            "broker",
            "commission",
            {"model": "maker_taker", "maker": 0.001},
            ["required"],
            "broker.commission.taker",
        ),
        bad(
            "broker",
            "commission",
            {"model": "none", "rate": 0.1},
            ["unknown setting"],
            "broker.commission.rate",
        ),
        bad("journal", "url", "", ["non-empty"]),
        bad("journal", "url", 5, ["non-empty"]),
        bad("journal", "url", "not a url", ["not a SQLAlchemy URL"]),
        bad("journal", "batch", 0, ["integer >= 1"]),
        bad("journal", "batch", 2.5, ["integer >= 1"]),
        bad("journal", "snapshot_interval_s", 0, ["> 0"]),
        bad("journal", "snapshot_interval_s", -60, ["> 0"]),
        bad("journal", "snapshot_interval_s", NAN, ["finite"]),
        bad("journal", "snapshot_interval_s", "never", ["number"]),
        bad("journal", "path", "x.db", ["unknown setting"]),
        bad("alerts", "sinks", [], ["at least one sink"]),
        bad("alerts", "sinks", "log", ["list of sink tables"]),
        bad("alerts", "sinks", {"type": "log"}, ["list of sink tables"]),
        bad("alerts", "sinks", ["log"], ["table"], "alerts.sinks.0"),
        bad(
            "alerts",
            "sinks",
            [{"type": "pager"}],
            ["unknown sink type 'pager'", "webhook"],
            "alerts.sinks.0.type",
        ),
        bad(
            "alerts",
            "sinks",
            [{"type": "log"}, {"type": "webhook", "url": "ftp://x"}],
            ["http(s) URL"],
            "alerts.sinks.1.url",
        ),
        bad("alerts", "sinks", [{"type": "webhook"}], ["required"], "alerts.sinks.0.url"),
        bad(
            "alerts",
            "sinks",
            [{"type": "webhook", "url": WEBHOOK, "timeout": 0}],
            ["positive"],
            "alerts.sinks.0.timeout",
        ),
        bad(
            "alerts",
            "sinks",
            [{"type": "log", "colour": "red"}],
            ["unknown field"],
            "alerts.sinks.0.colour",
        ),
        bad("alerts", "sinks", [{"type": "telegram"}], ["required"], "alerts.sinks.0.chat_id"),
        bad("alerts", "rate_limit", [0, 60], ["n must be an integer >= 1"]),
        bad("alerts", "rate_limit", [10, 0], ["per_seconds must be > 0"]),
        bad("alerts", "rate_limit", [10, NAN], ["per_seconds must be finite"]),
        bad("alerts", "rate_limit", [10], ["[n, per_seconds]"]),
        bad("alerts", "rate_limit", "often", ["[n, per_seconds]", '"off"']),
        bad("alerts", "dedup_s", -1, [">= 0"]),
        bad("alerts", "retries", -1, ["integer >= 0"]),
        bad("alerts", "retries", 1.5, ["integer >= 0"]),
        bad("alerts", "backoff_s", NAN, ["finite"]),
        bad("alerts", "max_backoff_s", -0.1, [">= 0"]),
        bad("alerts", "timeout_s", 0, ["> 0"]),
        bad("alerts", "queue_size", 0, ["integer >= 1"]),
        bad("alerts", "webhook", WEBHOOK, ["unknown setting"]),
        bad("sessions", "reset_time", "25:00", ["HH:MM"]),
        bad("sessions", "reset_time", 5, ["time of day"]),
        bad("sessions", "utc_offset", "+25:00", ["+05:30"]),
        bad("sessions", "timezone", "UTC", ["unknown setting"]),
        bad("guard", "equity", 0, ["> 0"]),
        bad("guard", "equity", -5, ["> 0"]),
        bad("guard", "equity", NAN, ["finite"]),
        bad("guard", "equity", "lots", ["number"]),
        bad("guard", "action_queue", 0, ["integer >= 1"]),
        bad("guard", "broker_retries", -1, ["integer >= 0"]),
        bad("guard", "retry_backoff_s", 0, ["> 0"]),
        bad("guard", "retry_max_backoff_s", 0.05, [">= retry_backoff_s (0.1)"]),
        bad("guard", "control_poll_s", 1.5, ["<= 1"]),
        bad("guard", "control_poll_s", 0, ["> 0"]),
        bad("guard", "poll_s", 1, ["unknown setting"]),
        pytest.param({"broker": 5}, "broker", ["must be a table"], id="broker=5"),
        pytest.param({"gaurd": {}}, "gaurd", ["unknown setting"], id="gaurd"),
        pytest.param(
            {"limits": {"reset_time": "17:00"}},
            "limits.reset_time",
            ["set it under [sessions]"],
            id="limits.reset_time",
        ),
        pytest.param(
            {"limits": {"utc_offset": "+01:00"}},
            "limits.utc_offset",
            ["set it under [sessions]"],
            id="limits.utc_offset",
        ),
    ],
)
def test_invalid_section_values_are_named_with_their_path(values, path, words):
    with pytest.raises(rg.ConfigError) as info:
        rg.Config(**values)
    problems = dict(info.value.problems)
    assert path in problems, info.value.problems
    for word in words:
        assert word.lower() in problems[path].lower(), problems[path]


def test_sessions_keys_under_limits_are_refused_with_exactly_that_message(tmp_path, monkeypatch):
    f = write(tmp_path / "c.toml", '[limits]\nreset_time = "17:00"\ndaily_loss = 0.03\n')
    monkeypatch.setenv("RG_LIMITS__UTC_OFFSET", "+01:00")
    with pytest.raises(rg.ConfigError) as info:
        rg.Config.load(f)
    assert sorted(info.value.problems) == [
        ("limits.reset_time", "set it under [sessions]"),
        ("limits.utc_offset", "set it under [sessions]"),
    ]
    assert "  limits.reset_time: set it under [sessions]" in str(info.value)


def test_every_bad_field_of_every_section_is_listed_at_once(tmp_path, monkeypatch):
    f = write(
        tmp_path / "bad.toml",
        """
        [limits]
        daily_loss = 1.5

        [sessions]
        reset_time = "7pm"

        [broker]
        type = "ib"
        cash = -1
        slippage = { model = "fixed_bps", bps = -2 }
        commission = { model = "free" }

        [journal]
        batch = 0

        [alerts]
        sinks = [{ type = "log" }, { type = "webhook", url = "ftp://x" }]
        rate_limit = [0, 60]

        [guard]
        control_poll_s = 2
        """.replace("\n        ", "\n"),
    )
    monkeypatch.setenv("RG_GUARD__ACTION_QUEUE", "0")
    monkeypatch.setenv("RG_JOURNAL__SNAPSHOT_INTERVAL_S", "nan")
    with pytest.raises(rg.ConfigError) as info:
        rg.Config.load(f)
    assert sorted(path for path, _ in info.value.problems) == [
        "alerts.rate_limit",
        "alerts.sinks.1.url",
        "broker.cash",
        "broker.commission.model",
        "broker.slippage.bps",
        "broker.type",
        "guard.action_queue",
        "guard.control_poll_s",
        "journal.batch",
        "journal.snapshot_interval_s",
        "limits.daily_loss",
        "sessions.reset_time",
    ]
    text = str(info.value)
    assert "  broker.cash: must be > 0, got -1\n" in text
    assert "  alerts.sinks.1.url: must be an http(s) URL with a host, got 'ftp://x'" in text


def test_sessions_are_merged_into_the_limits(tmp_path):
    cfg = rg.Config(
        sessions={"reset_time": "17:00", "utc_offset": "-05:00"}, limits={"daily_loss": 0.03}
    )
    limits = cfg.to_limits()
    assert (limits.reset_time, limits.utc_offset) == ("17:00", "-05:00")
    assert limits == rg.Limits(daily_loss=0.03, reset_time="17:00", utc_offset="-05:00")
    # A TOML local time is a time of day too.
    f = write(tmp_path / "c.toml", "[sessions]\nreset_time = 17:30:00\n")
    assert rg.Config.load(f).sessions.reset_time == "17:30:00"
    assert rg.Config.load(f).to_limits() == rg.Limits(reset_time="17:30")


# -- the environment ---------------------------------------------------------------------------


def test_env_reads_whole_sections_and_nested_tables_as_json(monkeypatch):
    monkeypatch.setenv("RG_BROKER", '{"cash": 5000, "slippage": {"model": "fixed_bps", "bps": 1}}')
    monkeypatch.setenv("RG_BROKER__ATR_PERIOD", "5")  # a nested variable adds to it
    monkeypatch.setenv("RG_GUARD", '{"equity": "off", "action_queue": 64}')
    cfg = rg.Config()
    assert cfg.broker.cash == 5000.0 and cfg.broker.atr_period == 5
    assert cfg.broker.slippage == FixedBpsConfig(model="fixed_bps", bps=1.0)
    assert cfg.guard.equity is None and cfg.guard.action_queue == 64


def test_env_sets_one_field_of_a_table_from_the_file(tmp_path, monkeypatch):
    f = write(
        tmp_path / "c.toml",
        '[broker]\nslippage = { model = "fixed_bps", bps = 2.0 }\n'
        'commission = { model = "per_share", rate = 0.01, minimum = 1.0 }\n',
    )
    monkeypatch.setenv("RG_BROKER__SLIPPAGE__BPS", "3")
    monkeypatch.setenv("RG_BROKER__COMMISSION__MINIMUM", "0")
    broker = rg.Config.load(f).broker
    assert broker.slippage == FixedBpsConfig(model="fixed_bps", bps=3.0)
    assert broker.commission == PerShareConfig(model="per_share", rate=0.01, minimum=0.0)


def test_env_or_an_argument_naming_another_model_replaces_the_files_table(tmp_path, monkeypatch):
    f = write(
        tmp_path / "c.toml",
        '[broker]\ncash = 900.0\nslippage = { model = "fixed_bps", bps = 2.0 }\n'
        'commission = { model = "maker_taker", maker = 0.001, taker = 0.002 }\n',
    )
    monkeypatch.setenv("RG_BROKER__SLIPPAGE", '{"model": "volume_linear", "k": 0.1}')
    monkeypatch.setenv("RG_BROKER__COMMISSION__MODEL", "percent_of_notional")
    monkeypatch.setenv("RG_BROKER__COMMISSION__RATE", "0.001")
    broker = rg.Config.load(f).broker
    assert broker.cash == 900.0  # the rest of the file's table stays
    assert broker.slippage == VolumeLinearConfig(model="volume_linear", k=0.1)
    assert broker.commission == PercentOfNotionalConfig(model="percent_of_notional", rate=0.001)
    argued = rg.Config.load(f, broker={"slippage": "none"}).broker
    assert argued.slippage == NoSlippageConfig() and argued.cash == 900.0


def test_env_off_switches_settings_off(monkeypatch):
    monkeypatch.setenv("RG_ALERTS__RATE_LIMIT", "off")
    monkeypatch.setenv("RG_JOURNAL__SNAPSHOT_INTERVAL_S", "OFF")
    monkeypatch.setenv("RG_GUARD__EQUITY", "off")
    monkeypatch.setenv("RG_BROKER__SYMBOLS", "off")
    monkeypatch.setenv("RG_BROKER__SLIPPAGE", "off")
    cfg = rg.Config()
    assert cfg.alerts.rate_limit is None
    assert cfg.journal.snapshot_interval_s is None
    assert cfg.guard.equity is None
    assert cfg.broker.symbols is None
    assert cfg.broker.slippage == NoSlippageConfig()


def test_env_problems_have_paths_and_bad_json_is_named(monkeypatch):
    monkeypatch.setenv("RG_BROKER__CASH", "lots")
    monkeypatch.setenv("RG_BROKER__BOGUS", "1")
    monkeypatch.setenv("RG_SESSIONS__RESET_TIME", "25:00")
    with pytest.raises(rg.ConfigError) as info:
        rg.Config()
    assert sorted(p for p, _ in info.value.problems) == [
        "broker.bogus",
        "broker.cash",
        "sessions.reset_time",
    ]
    for name in ("RG_BROKER__CASH", "RG_BROKER__BOGUS", "RG_SESSIONS__RESET_TIME"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("RG_ALERTS__SINKS", "[{type: log}]")
    with pytest.raises(rg.ConfigError) as info:
        rg.Config()
    [(path, message)] = info.value.problems
    assert path == "alerts" and "RG_ALERTS" in message and "JSON" in message


def test_rg_telegram_token_is_not_a_setting(monkeypatch):
    monkeypatch.setenv("RG_TELEGRAM_TOKEN", "123:abc")
    assert rg.Config() == rg.Config.load()


# -- builders ----------------------------------------------------------------------------------


def test_broker_build_gives_a_paper_broker_configured_as_asked(tmp_path):
    from riskguard.brokers import FixedBps, Order, PaperBroker, PercentOfNotional

    f = write(
        tmp_path / "c.toml",
        "[broker]\ncash = 10000.0\nallow_short = true\nfractional = false\n"
        'symbols = ["BTCUSDT"]\nslippage = { model = "fixed_bps", bps = 5.0 }\n'
        'commission = { model = "percent_of_notional", rate = 0.001 }\n',
    )
    cfg = rg.Config.load(f).broker
    assert cfg.slippage.build() == FixedBps(5.0)
    assert cfg.commission.build() == PercentOfNotional(0.001)
    broker = cfg.build()
    assert isinstance(broker, PaperBroker)
    assert broker.cash == 10000.0
    assert broker.capabilities.shorting is True and broker.capabilities.fractional is False
    with pytest.raises(rg.RiskError, match="ETHUSDT"):
        broker.on_tick("ETHUSDT", 100.0, 1)

    async def buy_one() -> None:
        await broker.submit(Order("BTCUSDT", 1.0))

    asyncio.run(buy_one())
    broker.on_tick("BTCUSDT", 100.0, 1)
    [fill] = broker.fill_log
    assert fill.price == pytest.approx(100.0 * (1 + 5 / 10_000))
    assert fill.fee == pytest.approx(0.001 * fill.price)
    assert cfg.build() is not broker  # a fresh broker each time


@pytest.mark.parametrize(
    ("spec", "model"),
    [
        ({"model": "none"}, "NoSlippage()"),
        ({"model": "fixed_bps", "bps": 2.0}, "FixedBps(2.0)"),
        ({"model": "volume_linear", "k": 0.1}, "VolumeLinear(0.1)"),
        ({"model": "volatility_atr", "k": 0.5}, "VolatilityATR(0.5)"),
    ],
)
def test_each_slippage_model_builds_its_object(spec, model):
    from riskguard import brokers

    cfg = rg.Config(broker={"slippage": spec})
    assert cfg.broker.slippage.build() == eval(model, vars(brokers))


@pytest.mark.parametrize(
    ("spec", "model"),
    [
        ({"model": "none"}, "NoCommission()"),
        ({"model": "per_share", "rate": 0.005}, "PerShare(0.005, 0.0)"),
        ({"model": "per_share", "rate": 0.005, "minimum": 1}, "PerShare(0.005, 1.0)"),
        ({"model": "percent_of_notional", "rate": 0.001}, "PercentOfNotional(0.001)"),
        ({"model": "maker_taker", "maker": 0.0002, "taker": 0.0005}, "MakerTaker(0.0002, 0.0005)"),
    ],
)
def test_each_commission_model_builds_its_object(spec, model):
    from riskguard import brokers

    cfg = rg.Config(broker={"commission": spec})
    assert cfg.broker.commission.build() == eval(model, vars(brokers))


def test_journal_open_gives_a_journal_at_the_url(tmp_path, monkeypatch):
    from riskguard.journal import Journal

    url = f"sqlite:///{tmp_path / 'j.db'}"
    monkeypatch.setenv("RG_JOURNAL__URL", url)
    monkeypatch.setenv("RG_JOURNAL__BATCH", "7")
    journal = rg.Config().journal.open()
    try:
        assert isinstance(journal, Journal)
        assert journal.url == url
        assert journal._batch == 7
    finally:
        journal.close()
    assert (tmp_path / "j.db").is_file()


def test_journal_open_fails_closed_with_a_risk_error(tmp_path):
    cfg = rg.Config(journal={"url": f"sqlite:///{tmp_path / 'missing' / 'dir' / 'j.db'}"})
    with pytest.raises(rg.RiskError, match="journal"):
        cfg.journal.open()


def test_alerts_build_gives_an_alerter_configured_as_asked(monkeypatch):
    from riskguard.alerts import Alerter, LogSink, TelegramSink, WebhookSink

    monkeypatch.setenv("RG_TELEGRAM_TOKEN", "123:abc")
    cfg = rg.Config(
        alerts={
            "sinks": [
                {"type": "log"},
                {"type": "webhook", "url": WEBHOOK},
                {"type": "webhook", "url": WEBHOOK, "name": "desk"},
                {"type": "telegram", "chat_id": 42},
            ],
            "rate_limit": [5, 30],
            "dedup_s": 0,
            "retries": 1,
            "backoff_s": 0.25,
            "max_backoff_s": 2,
            "timeout_s": 3,
            "queue_size": 8,
        }
    )
    alerter = cfg.alerts.build(seed=1)
    assert isinstance(alerter, Alerter)
    assert alerter.sink_names == ["log", "webhook", "desk", "telegram"]
    sinks = [lane.sink for lane in alerter._lanes]
    assert [type(s) for s in sinks] == [LogSink, WebhookSink, WebhookSink, TelegramSink]
    assert sinks[1].url == WEBHOOK and sinks[3].chat_id == 42
    assert alerter._rate == (5, 30.0)
    assert alerter._dedup == 0.0
    assert alerter._retries == 1
    assert (alerter._backoff, alerter._max_backoff, alerter._timeout) == (0.25, 2.0, 3.0)
    assert all(lane.queue.maxsize == 8 for lane in alerter._lanes)
    assert rg.Config(alerts={"rate_limit": "off"}).alerts.build()._rate is None
    default = rg.Config().alerts.build()
    assert default.sink_names == ["log"] and default._rate == (10, 60.0)


def test_a_telegram_sink_needs_its_token_when_loaded_and_built(monkeypatch):
    spec = {"sinks": [{"type": "log"}, {"type": "telegram", "chat_id": 42}]}
    with pytest.raises(rg.ConfigError) as info:
        rg.Config(alerts=spec)
    [(path, message)] = info.value.problems
    assert path == "alerts.sinks.1.token_env"
    assert "RG_TELEGRAM_TOKEN is not set" in message
    monkeypatch.setenv("RG_TELEGRAM_TOKEN", "123:abc")
    cfg = rg.Config(alerts=spec)
    assert "123:abc" not in repr(cfg)
    monkeypatch.delenv("RG_TELEGRAM_TOKEN")
    with pytest.raises(rg.ConfigError) as info:
        cfg.alerts.build()
    assert [p for p, _ in info.value.problems] == ["alerts.sinks.1.token_env"]


# -- the models themselves ---------------------------------------------------------------------


def test_sections_are_frozen():
    cfg = rg.Config()
    with pytest.raises(ValueError, match="frozen"):
        cfg.broker.cash = 1.0
    with pytest.raises(ValueError, match="frozen"):
        cfg.guard = GuardConfig(action_queue=8)
    with pytest.raises(ValueError, match="frozen"):
        cfg.broker.slippage.model = "fixed_bps"
    assert cfg.broker.cash == 100_000.0 and cfg.guard.action_queue == 1024


def test_a_section_built_in_code_is_checked_like_the_file(tmp_path):
    with pytest.raises(rg.ConfigError) as info:
        BrokerConfig(cash=0, slippage={"model": "fixed_bps"})
    assert sorted(info.value.problems) == [
        ("broker.cash", "must be > 0, got 0"),
        ("broker.slippage.bps", "required"),
    ]
    with pytest.raises(rg.ConfigError) as info:
        FixedBpsConfig(model="fixed_bps", bps=-1)
    assert info.value.problems == [("broker.slippage.bps", "must be >= 0, got -1")]
    guard = GuardConfig(action_queue=8, equity=1000)
    assert rg.Config(guard=guard).guard == guard
    f = write(tmp_path / "c.toml", "[guard]\naction_queue = 8\nequity = 1000.0\n")
    assert rg.Config.load(f).guard == guard


def test_secrets_stay_out_of_the_repr():
    cfg = rg.Config(
        journal={"url": "postgresql+psycopg://rg:hunter2@db/risk"},
        alerts={
            "sinks": [{"type": "webhook", "url": WEBHOOK, "headers": {"Authorization": "tok9"}}]
        },
    )
    text = repr(cfg)
    assert "hunter2" not in text and "key123" not in text and "tok9" not in text
    assert "db/risk" in text and "hooks.example" in text
    assert cfg.journal.url == "postgresql+psycopg://rg:hunter2@db/risk"  # the value is intact


# -- extreme numbers (issue 14, row 16) --------------------------------------------------------

# Every number of every section, with a value beyond its upper bound. A value that large used
# to load, and fail later: a bare OverflowError when the Guard made nanoseconds of it, the
# engine refusing the broker's cash as its equity, an absurd queue or retry count.
EXTREME = [
    ("broker.cash", 1e300),
    ("broker.stale_feed_s", 1e300),
    ("broker.dead_man_s", 1e300),
    ("broker.max_leverage", 1e300),
    ("broker.atr_period", 10**30),
    ("broker.slippage.bps", {"model": "fixed_bps", "bps": 1e300}),
    ("broker.slippage.k", {"model": "volume_linear", "k": 1e300}),
    ("broker.slippage.k", {"model": "volatility_atr", "k": 1e300}),
    ("broker.commission.rate", {"model": "per_share", "rate": 1e300}),
    ("broker.commission.minimum", {"model": "per_share", "rate": 0.01, "minimum": 1e300}),
    ("broker.commission.rate", {"model": "percent_of_notional", "rate": 1e300}),
    ("broker.commission.maker", {"model": "maker_taker", "maker": 1e300, "taker": 0.001}),
    ("broker.commission.taker", {"model": "maker_taker", "maker": 0.001, "taker": 1e300}),
    ("journal.batch", 10**30),
    ("journal.snapshot_interval_s", 1e300),
    ("journal.keep_snapshots", 10**30),
    ("alerts.rate_limit", [10**30, 60]),
    ("alerts.rate_limit", [10, 1e300]),
    ("alerts.dedup_s", 1e300),
    ("alerts.retries", 10**30),
    ("alerts.backoff_s", 1e300),
    ("alerts.max_backoff_s", 1e300),
    ("alerts.timeout_s", 1e300),
    ("alerts.queue_size", 10**30),
    ("guard.equity", 1e300),
    ("guard.action_queue", 10**30),
    ("guard.broker_retries", 10**30),
    ("guard.retry_backoff_s", 1e300),
    ("guard.retry_max_backoff_s", 1e300),
    ("guard.control_poll_s", 1e300),
    ("guard.call_timeout_s", 1e300),
    ("guard.max_clock_skew_s", 1e300),
    ("batch.gross_exposure", 1e300),
    ("batch.net_exposure", 1e300),
    ("batch.concentration", 1e300),
    ("batch.effective_positions", 1e300),
    ("batch.var", 1e300),
    ("batch.cvar", 1e300),
]


def _given(path: str, value):
    section, key = path.split(".")[:2]
    return {section: {key: value}}


@pytest.mark.parametrize(("path", "value"), EXTREME, ids=[f"{p}={v!r}" for p, v in EXTREME])
def test_an_extreme_number_is_a_config_error_naming_its_path(path, value):
    with pytest.raises(rg.ConfigError) as info:
        rg.Config(**_given(path, value))
    problems = dict(info.value.problems)
    assert path in problems, info.value.problems
    assert "must be" in problems[path] and "<=" in problems[path], problems[path]


def test_every_number_of_the_configuration_has_an_upper_bound():
    """The table above covers every numeric field of every section (the limits are the
    engine's, which bounds each of its own)."""
    from riskguard.config import BatchLimits

    covered = {p for p, _ in EXTREME} | {"broker.slippage", "broker.commission"}
    for name, model in [
        ("broker", BrokerConfig),
        ("journal", JournalConfig),
        ("alerts", AlertsConfig),
        ("guard", GuardConfig),
        ("batch", BatchLimits),
    ]:
        for key, info in model.model_fields.items():
            if any(t in str(info.annotation) for t in ("float", "int")):
                assert f"{name}.{key}" in covered, f"{name}.{key} has no extreme case"


def test_snapshot_interval_1e300_in_a_file_is_named_not_an_overflow(tmp_path):
    f = write(tmp_path / "c.toml", "[journal]\nsnapshot_interval_s = 1e300\n")
    with pytest.raises(rg.ConfigError) as info:
        rg.Config.load(f)
    assert info.value.problems == [
        ("journal.snapshot_interval_s", "must be <= 31,536,000, got 1e+300")
    ]


def test_an_integer_beyond_any_float_is_named_not_an_overflow(tmp_path):
    f = write(tmp_path / "c.toml", f"[broker]\ncash = {10**400}\n[guard]\nequity = {10**400}\n")
    with pytest.raises(rg.ConfigError) as info:
        rg.Config.load(f)
    assert [p for p, _ in info.value.problems] == ["broker.cash", "guard.equity"]
    assert "401 digits" in info.value.problems[0][1]


def test_intervals_become_nanoseconds_within_int64():
    from riskguard.config import nanoseconds

    assert nanoseconds(60) == 60 * 10**9
    assert nanoseconds(0.5) == 500_000_000
    assert rg.Config().journal.snapshot_interval_ns == 60 * 10**9
    assert rg.Config(journal={"snapshot_interval_s": "off"}).journal.snapshot_interval_ns is None
    # The largest interval allowed fits; beyond int64 nanoseconds is a ConfigError.
    year = rg.Config(journal={"snapshot_interval_s": 31_536_000}).journal
    assert year.snapshot_interval_ns == 31_536_000 * 10**9
    for bad in (1e300, float("inf"), float("nan"), -1.0, True):
        with pytest.raises(rg.ConfigError) as info:
            nanoseconds(bad, "journal.snapshot_interval_s")
        assert info.value.problems[0][0] == "journal.snapshot_interval_s"
