"""One registry of named implementations (riskguard.app.config.registry): brokers, alert sinks,
slippage and commission models are each a name the configuration looks up there, and
riskguard.app.bootstrap builds through it."""

from __future__ import annotations

import os

import pytest
import riskguard as rg
from riskguard.app import bootstrap
from riskguard.app.config import (
    BROKER_TYPES,
    REGISTRY,
    FixedBpsConfig,
    Implementation,
    LimitsConfig,
    Registry,
)
from riskguard.app.config.registry import KINDS

BUILT_IN = {
    "broker": ("paper", "binance", "binanceusdm", "kucoinfutures", "bingx", "alpaca"),
    "sink": ("log", "webhook", "telegram"),
    "slippage": ("none", "fixed_bps", "volume_linear", "volatility_atr"),
    "commission": ("none", "per_share", "percent_of_notional", "maker_taker"),
}


@pytest.fixture(autouse=True)
def clean(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith("RG_"):
            monkeypatch.delenv(name)


def test_every_kind_lists_its_built_in_implementations():
    assert set(KINDS) == set(BUILT_IN)
    for kind, names in BUILT_IN.items():
        assert REGISTRY.names(kind) == names, kind
    assert BROKER_TYPES == REGISTRY.names("broker")


def test_every_factory_loads():
    for entry in REGISTRY:
        assert callable(entry.load()), entry


def test_the_tagged_tables_take_their_schema_and_names_from_the_registry():
    from riskguard import brokers

    for kind in REGISTRY.tagged:
        for name, schema in zip(REGISTRY.names(kind), REGISTRY.schemas(kind), strict=True):
            assert schema.model_fields["model"].annotation.__args__ == (name,)
    # The known names of an error are the registry's.
    with pytest.raises(rg.ConfigError) as info:
        rg.Config(broker={"slippage": {"model": "magic"}})
    [(path, message)] = info.value.problems
    assert path == "broker.slippage.model"
    assert message == f"unknown model 'magic'; known: {', '.join(BUILT_IN['slippage'])}"
    # And each model builds the object the registry names.
    built = FixedBpsConfig(model="fixed_bps", bps=3).build()
    assert built == brokers.FixedBps(3.0)
    assert REGISTRY.get("slippage", "fixed_bps").load() is brokers.FixedBps


def test_the_sinks_the_registry_knows_are_the_ones_alerts_can_build(monkeypatch):
    from riskguard import alerts

    with pytest.raises(rg.RiskError) as info:
        alerts.sink_from_dict({"type": "pager"})
    known = str(info.value).rsplit("known: ", 1)[1].split(", ")
    assert sorted(known) == sorted(REGISTRY.names("sink"))
    monkeypatch.setenv("RG_TELEGRAM_TOKEN", "123:abc")
    tables = {
        "log": {"type": "log"},
        "webhook": {"type": "webhook", "url": "https://hooks.example/x"},
        "telegram": {"type": "telegram", "chat_id": 1},
    }
    classes = {
        "log": alerts.LogSink,
        "webhook": alerts.WebhookSink,
        "telegram": alerts.TelegramSink,
    }
    for name in REGISTRY.names("sink"):
        assert isinstance(bootstrap.build_sink(tables[name]), classes[name])
    with pytest.raises(rg.RiskError, match="type: unknown sink type 'pager'; known: log, tele"):
        bootstrap.build_sink({"type": "pager"})
    with pytest.raises(rg.RiskError, match="sink: must be a table"):
        bootstrap.build_sink(["log"])  # type: ignore[arg-type]


def test_a_broker_registered_later_is_configurable_and_built_through_the_registry():
    REGISTRY.register("broker", "paper-twin", "riskguard.app.bootstrap:paper_broker")
    try:
        config = rg.Config(broker={"type": "paper-twin", "cash": 5_000.0})
        broker = config.broker.build()
        from riskguard.brokers import PaperBroker

        assert isinstance(broker, PaperBroker) and broker.cash == 5_000.0
    finally:
        REGISTRY.unregister("broker", "paper-twin")
    with pytest.raises(rg.ConfigError) as info:
        rg.Config(broker={"type": "paper-twin"})
    [(path, message)] = info.value.problems
    known = "paper, binance, binanceusdm, kucoinfutures, bingx, alpaca"
    assert (path, message) == ("broker.type", f"unknown broker type 'paper-twin'; known: {known}")


def test_a_sink_registered_later_is_accepted_by_the_configuration():
    REGISTRY.register("sink", "memory", "builtins:dict")
    try:
        config = rg.Config(alerts={"sinks": [{"type": "memory", "size": 3}]})
        assert config.alerts.sinks == ({"type": "memory", "size": 3},)
        assert bootstrap.build_sink(config.alerts.sinks[0]) == {"type": "memory", "size": 3}
    finally:
        REGISTRY.unregister("sink", "memory")


def test_the_registry_refuses_what_it_cannot_hold():
    registry = Registry()
    with pytest.raises(ValueError, match="unknown kind 'venue'"):
        registry.register("venue", "x", "a:b")
    with pytest.raises(ValueError, match="module:attribute"):
        registry.register("broker", "x", "riskguard.brokers.PaperBroker")
    with pytest.raises(ValueError, match="schema"):
        registry.register("slippage", "x", "a:b")
    entry = registry.register("broker", "x", "a:b", summary="one")
    assert entry == Implementation("broker", "x", "a:b", None, "one")
    assert registry.register("broker", "x", "a:b", summary="one") == entry  # the same again
    with pytest.raises(ValueError, match="already registered as a:b"):
        registry.register("broker", "x", "c:d")
    with pytest.raises(KeyError, match="unknown broker 'y'; known: x"):
        registry.get("broker", "y")
    registry.register("sink", "dict", "builtins:dict")
    assert registry.build("sink", "dict", {"type": "dict"}) == {"type": "dict"}
    registry.unregister("sink", "dict")
    assert registry.names("sink") == ()
    assert "broker: x" in repr(registry)


def test_bootstrap_opens_the_journal_with_its_retention(tmp_path):
    url = f"sqlite:///{tmp_path / 'j.db'}"
    config = rg.Config(journal={"url": url, "batch": 7, "keep_snapshots": 50})
    with config.journal.open() as journal:
        assert (journal._batch, journal._keep) == (7, 50)
    off = rg.Config(journal={"url": url, "keep_snapshots": "off"})
    with off.journal.open() as journal:
        assert journal._keep is None
    with pytest.raises(rg.JournalError, match="no journal"):
        bootstrap.open_journal(f"sqlite:///{tmp_path / 'missing.db'}", create=False)
    assert not (tmp_path / "missing.db").exists()


def test_limits_is_typed_as_the_engines_keyword_arguments():
    """[limits] has one field per keyword of riskguard.Limits (the session clock being
    [sessions]'), each with the engine's default."""
    engine = rg.Limits().to_dict()
    for key in ("reset_time", "utc_offset"):
        del engine[key]
    assert set(LimitsConfig.model_fields) == set(engine)
    assert LimitsConfig().to_dict() == engine
    limits = rg.Config(limits={"daily_loss": 0.03, "portfolio_heat": "off"}).limits
    assert limits.daily_loss is not None and limits.daily_loss.threshold == 0.03
    assert limits.daily_loss.action == "close_all_halt"  # the rest of the spec: the default's
    spec = limits.daily_loss.to_spec()
    assert isinstance(spec, rg.BreakerSpec)
    assert rg.Limits(daily_loss=spec) == rg.Limits(daily_loss=0.03)
    assert limits.portfolio_heat is None
    assert set(limits.given()) == {"daily_loss", "portfolio_heat"}
    assert limits.replace(max_spread_bps=None).given().keys() == {
        "daily_loss",
        "portfolio_heat",
        "max_spread_bps",
    }
    with pytest.raises(rg.ConfigError) as info:
        LimitsConfig(daily_loss=1.5, sizng="atr")
    assert sorted(p for p, _ in info.value.problems) == ["limits.daily_loss", "limits.sizng"]
