"""riskguard.app.facade: the one surface the command line (and the coming API) calls. What it
returns is what the faces present; the CLI imports nothing else of the package."""

from __future__ import annotations

import ast
import math
import os
from pathlib import Path

import pytest
import riskguard as rg
from riskguard.app import facade
from riskguard.journal import Journal

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "python" / "riskguard" / "app" / "cli"


@pytest.fixture(autouse=True)
def clean(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith("RG_"):
            monkeypatch.delenv(name)


def journal_with_snapshots(path: Path, n: int) -> str:
    url = f"sqlite:///{path}"
    engine = rg.RiskEngine(rg.Limits(), 10_000.0, 0)
    engine.symbol_id("BTC")
    with Journal(url) as j:
        for i in range(n):
            engine.on_tick("BTC", 100.0 + i, (i + 1) * 60 * 10**9)  # one a minute
            j.save_snapshot(engine)
    return url


def test_status_is_the_risk_status_with_iso_times(tmp_path):
    url = journal_with_snapshots(tmp_path / "j.db", 3)
    facade.record_control(url, "kill", "drill", actor="test")
    data = facade.status(url)
    assert data["journal"] == url and data["snapshot_ts"] == "1970-01-01T00:03:00Z"
    assert data["state"] == "ACTIVE" and data["kill_switch"] is False  # not yet acted on
    [pending] = data["pending_controls"]
    assert (pending["action"], pending["reason"], pending["actor"]) == ("kill", "drill", "test")
    assert pending["ts"].endswith("Z") and "handled_ts" not in pending
    assert data["lease"] is None
    assert {b["name"] for b in data["breakers"]} == set(facade.breaker_names())


def test_status_reads_only(tmp_path):
    with pytest.raises(rg.JournalError, match="no journal"):
        facade.status(f"sqlite:///{tmp_path / 'missing.db'}")
    assert not (tmp_path / "missing.db").exists()
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    Journal(empty).close()
    with pytest.raises(rg.JournalError, match="no engine state yet"):
        facade.status(empty)


def test_record_control_returns_its_id_and_time(tmp_path):
    url = journal_with_snapshots(tmp_path / "j.db", 1)
    first, ts = facade.record_control(url, "pause", "", actor="test")
    second, _ = facade.record_control(url, "reset", "ok", "kill_switch", actor="test")
    assert second > first and ts > 0
    with Journal(url) as j:
        controls = j.pending_controls()
    assert [(c.action, c.name) for c in controls] == [("pause", None), ("reset", "kill_switch")]
    with pytest.raises(rg.RiskError, match="unknown breaker 'nope'"):
        facade.record_control(url, "reset", "", "nope", actor="test")
    with pytest.raises(rg.RiskError, match="unknown control action 'stop'"):
        facade.record_control(url, "stop", "", actor="test")
    with pytest.raises(rg.JournalError):
        facade.record_control(f"sqlite:///{tmp_path / 'typo.db'}", "kill", "x", actor="test")
    assert not (tmp_path / "typo.db").exists()  # a control action never creates a journal


def test_check_and_prune(tmp_path):
    url = journal_with_snapshots(tmp_path / "j.db", 12)
    assert facade.check_journal(url) == []
    assert facade.prune_journal(url, 5, daily=False) == 7
    assert facade.prune_journal(url, 5) == 0


def test_validate_and_show_the_configuration(tmp_path):
    assert facade.validate_config(ROOT / "examples" / "conservative.toml") == []
    bad = tmp_path / "bad.toml"
    bad.write_text("[limits]\ndaily_loss = 1.5\n[broker]\ncash = -1\n")
    assert sorted(p for p, _ in facade.validate_config(bad)) == ["broker.cash", "limits.daily_loss"]
    assert facade.validate_config(tmp_path / "missing.toml") == [
        (str(tmp_path / "missing.toml"), "no such file")
    ]
    view = facade.show_config(ROOT / "examples" / "atr-swing.toml")
    assert view.found and view.settings["limits.sizing"].source == "file"
    default = facade.show_config()
    assert not default.found and default.file == Path("riskguard.toml")
    assert default.settings["broker.cash"] == (100_000.0, "default", "")


def test_config_variables_lists_the_rg_ones(monkeypatch):
    assert facade.config_variables() == []
    monkeypatch.setenv("RG_BROKER__CASH", "5000")
    assert facade.config_variables() == ["RG_BROKER__CASH"]


def test_jsonable():
    value = {"a": math.nan, "b": (math.inf, -math.inf), 3: [1.5]}
    assert facade.jsonable(value) == {"a": None, "b": ["inf", "-inf"], "3": [1.5]}


def test_the_cli_imports_nothing_of_the_package_but_the_facade():
    """Presentation only: typer, rich, the redaction helpers and the error tree, and the
    facade for everything else (import-linter checks the same, .importlinter)."""
    allowed = {
        "riskguard._core",
        "riskguard.app",
        "riskguard.app.cli",
        "riskguard.errors",
        "riskguard.redact",
    }
    for path in sorted(CLI.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("riskguard"):
                module = node.module or ""
                names = {alias.name for alias in node.names}
                if module == "riskguard.app":
                    assert names == {"facade"}, (path.name, names)
                assert module in allowed or module.startswith("riskguard.app.cli"), (
                    path.name,
                    module,
                )
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith("riskguard"), (path.name, alias.name)
