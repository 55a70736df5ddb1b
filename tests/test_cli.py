"""The command line, run as a person runs it: ``python -m riskguard ...`` in a subprocess.

Journals come from a Guard replaying real BTCUSDT minute bars (``guard_replay``): 1,500 bars
leave a position open and the volatility breaker tripped; 6,000 bars pass the scenario's kill
at bar 5,000, so the kill switch is engaged and the book flat. Every figure the CLI prints is
checked against what the journal itself restores.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import riskguard as rg
from guard_replay import replay
from riskguard.config import ConfigError
from riskguard.journal import Journal

ROOT = Path(__file__).resolve().parents[1]
CONSERVATIVE = ROOT / "examples" / "conservative.toml"
BREAKERS = [b.name for b in rg.RiskEngine().breakers()]

# Every command, with the words that call it.
COMMANDS = [
    ["demo"],
    ["backtest"],
    ["optimize"],
    ["report"],
    ["status"],
    ["kill"],
    ["pause"],
    ["resume"],
    ["reset"],
    ["config"],
    ["config", "validate"],
    ["config", "show"],
]


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, code: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m riskguard *args`` (or ``python -c code *args``) with no RG_ variable of the
    caller's and 80 columns, as in a pipe."""
    environment = {
        k: v for k, v in os.environ.items() if not k.upper().startswith("RG_") and k != "COLUMNS"
    }
    environment.update(env or {})
    head = ["-c", code] if code is not None else ["-m", "riskguard"]
    return subprocess.run(
        [sys.executable, *head, *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def one_error(out: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The single ``error: ...`` line of a command that failed with exit code 1."""
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: "), out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def iso(ns: int | None) -> str | None:
    """Whole-second ns as the CLI shows them."""
    if ns is None:
        return None
    assert ns % 10**9 == 0
    return datetime.fromtimestamp(ns // 10**9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_json(x: float) -> float | str | None:
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


# ---------------------------------------------------------------------------------------------
# Journals


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Journals of 1,500 bars (``open``: a position open) and 6,000 bars (``killed``)."""
    folder = tmp_path_factory.mktemp("replayed")
    out = {}
    for name, n in (("open", 1500), ("killed", 6000)):
        out[name] = folder / f"{name}.db"
        asyncio.run(replay(out[name], n=n))
    return out


@pytest.fixture
def journal(replayed: dict[str, Path], tmp_path: Path) -> str:
    """A fresh copy of the 1,500-bar journal, as a URL."""
    db = tmp_path / "journal.db"
    shutil.copy(replayed["open"], db)
    return f"sqlite:///{db}"


def restored(url: str) -> rg.RiskEngine:
    with Journal(url) as j:
        engine = j.restore()
    assert engine is not None
    return engine


# ---------------------------------------------------------------------------------------------
# Help, entry points, usage


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_with_an_example(command):
    out = run(*command, "--help")
    assert out.returncode == 0, out.stderr
    assert "Usage: riskguard " + " ".join(command) in out.stdout
    assert "Examples" in out.stdout
    # An example line: the command itself, with arguments.
    assert any(
        line.strip().startswith("riskguard " + " ".join(command) + " ")
        or line.strip() == "riskguard " + " ".join(command)
        for line in out.stdout.splitlines()
    ), out.stdout


def test_the_top_level_help_lists_every_command_and_the_exit_codes():
    out = run("--help")
    assert out.returncode == 0, out.stderr
    names = ("demo", "backtest", "optimize", "report", "status", "kill", "pause", "resume", "reset")
    for name in names:
        assert f"│ {name} " in out.stdout
    assert "│ config " in out.stdout
    assert "--debug" in out.stdout and "Exit codes" in out.stdout
    assert "riskguard kill --journal" in out.stdout


def test_python_m_riskguard_is_the_console_script():
    out = run("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"riskguard {rg.__version__}"
    (script,) = entry_points(group="console_scripts", name="riskguard")
    assert 'riskguard = "riskguard.app.cli:app"' in (ROOT / "pyproject.toml").read_text()
    # An install made before the CLI moved names its old path, an alias of the new one.
    assert script.value in ("riskguard.app.cli:app", "riskguard.cli:app")
    from riskguard.app.cli import app

    assert script.load() is app
    installed = shutil.which("riskguard")
    if installed is not None:
        script = subprocess.run(
            [installed, "--version"], capture_output=True, text=True, timeout=120, check=False
        )
        assert script.returncode == 0 and script.stdout == out.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["stat", "--journal", "sqlite:///x.db"],  # no such command
        ["status"],  # --journal is required
        ["status", "--journal", "sqlite:///x.db", "--frobnicate"],
        ["kill", "--journal", "sqlite:///x.db"],  # --reason is required
        ["reset", "--journal", "sqlite:///x.db", "--confirm"],  # NAME is required
        ["backtest", "--prices", "bars.csv"],  # neither --signals nor --strategy
        ["backtest", "--prices", "bars.csv", "--signals", "s.csv", "--strategy", "x"],
        ["config", "validate"],
        ["demo", "--seed", "seven"],
    ],
    ids=lambda a: " ".join(a),
)
def test_bad_usage_exits_2(args, tmp_path):
    out = run(*args, cwd=tmp_path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Usage: riskguard" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "x.db").exists()


# ---------------------------------------------------------------------------------------------
# status


def test_status_prints_the_journals_state(replayed):
    url = f"sqlite:///{replayed['open']}"
    out = run("status", "--journal", url)
    assert out.returncode == 0, out.stderr
    engine = restored(url)
    snap = engine.snapshot()
    assert snap.positions and engine.state.name == "REDUCING"
    text = out.stdout
    assert iso(snap.ts) in text
    assert engine.state.name in text
    for value in (snap.equity, snap.cash, snap.peak_equity, snap.gross_exposure):
        assert f"{value:,.2f}" in text
    assert f"{snap.drawdown:.2%}" in text and f"{snap.leverage:.2f}x" in text
    rows = {line.split("│")[1].strip(): line for line in text.splitlines() if line.count("│") > 7}
    for b in engine.breakers():
        assert b.name in rows, b.name
        assert b.status in rows[b.name]
        if b.tripped_at is not None:
            assert iso(b.tripped_at) in rows[b.name]
    assert any(b.status == "tripped" for b in engine.breakers())
    ((symbol, position),) = snap.positions.items()
    assert symbol in text and f"{position.qty:.8g}" in text
    assert "Pending control actions: none" in text
    assert "kill switch" in text and "ENGAGED" not in text


@pytest.mark.parametrize("name", ["open", "killed"])
def test_status_json_is_the_journals_state(replayed, name):
    url = f"sqlite:///{replayed[name]}"
    out = run("status", "--journal", url, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    engine = restored(url)
    snap = engine.snapshot()
    with Journal(url) as j:
        pending = j.pending_controls()
    breakers = engine.breakers()
    kill = next(b for b in breakers if b.name == "kill_switch")
    assert data["journal"] == url
    assert data["snapshot_ts"] == iso(snap.ts)
    assert data["state"] == engine.state.name
    assert data["paused"] is engine.paused
    assert data["kill_switch"] is (kill.status == "tripped")
    for key in (
        "equity",
        "cash",
        "peak_equity",
        "drawdown",
        "day_loss",
        "week_loss",
        "month_loss",
        "heat",
        "leverage",
        "gross_exposure",
        "net_exposure",
        "realized_pnl",
    ):
        assert data[key] == as_json(getattr(snap, key)), key
    assert data["consecutive_losses"] == snap.consecutive_losses
    assert [b["name"] for b in data["breakers"]] == BREAKERS
    for got, b in zip(data["breakers"], breakers, strict=True):
        assert got == {
            "name": b.name,
            "status": b.status,
            "value": as_json(b.value),
            "threshold": as_json(b.threshold),
            "action": b.action,
            "latched": b.latched,
            "tripped_at": iso(b.tripped_at),
            "cooldown_until": iso(b.cooldown_until),
        }
    assert data["positions"] == {
        s: {k: as_json(v) if isinstance(v, float) else v for k, v in p.to_dict().items()}
        for s, p in snap.positions.items()
    }
    assert data["pending_controls"] == [] == pending
    if name == "killed":
        assert data["state"] == "HALTED" and data["kill_switch"] is True
        assert data["positions"] == {}
        assert data["breakers"][-1]["tripped_at"] is not None
    else:
        assert data["kill_switch"] is False and len(data["positions"]) == 1


def test_status_lists_the_control_actions_no_guard_has_seen(journal):
    assert run("pause", "--journal", journal, "--reason", "CPI [release]").returncode == 0
    assert run("reset", "max_drawdown", "--journal", journal, "--confirm").returncode == 0
    data = json.loads(run("status", "--journal", journal, "--json").stdout)
    with Journal(journal) as j:
        controls = j.controls()
    assert [(c["id"], c["action"], c["name"], c["reason"]) for c in data["pending_controls"]] == [
        (c.id, c.action, c.name, c.reason) for c in controls
    ]
    for shown, c in zip(data["pending_controls"], controls, strict=True):
        when = datetime.fromisoformat(shown["ts"].replace("Z", "+00:00"))
        assert when.tzinfo == timezone.utc
        assert round(when.timestamp() * 1e6) == c.ts // 1000
        assert shown["actor"] == c.actor
    table = run("status", "--journal", journal).stdout
    assert "Pending control actions" in table and "CPI [release]" in table
    assert "max_drawdown" in table.split("Pending control actions")[1]


def test_status_errors_are_one_line(tmp_path):
    missing = tmp_path / "missing.db"
    one_error(run("status", "--journal", f"sqlite:///{missing}"), "no journal at", str(missing))
    assert not missing.exists(), "status must not create a journal"
    empty = tmp_path / "empty.db"
    Journal(f"sqlite:///{empty}").close()
    one_error(run("status", "--journal", f"sqlite:///{empty}"), "no engine state yet")
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"not a database at all" * 100)
    one_error(run("status", "--journal", f"sqlite:///{corrupt}", "--json"), "journal")
    one_error(run("status", "--journal", "nosuchdialect://host/db"), "cannot open the journal")


# ---------------------------------------------------------------------------------------------
# kill, pause, resume, reset


def test_control_commands_write_control_rows(journal, replayed):
    before = time.time_ns()
    outs = [
        run("kill", "--journal", journal, "--reason", "runaway [strategy]"),
        run("pause", "--journal", journal, "--reason", "news"),
        run("resume", "--journal", journal),
        run("reset", "kill_switch", "--journal", journal, "--confirm", "--reason", "checked"),
    ]
    after = time.time_ns()
    with Journal(journal) as j:
        controls = j.controls()
    assert [(c.action, c.name, c.reason) for c in controls] == [
        ("kill", None, "runaway [strategy]"),
        ("pause", None, "news"),
        ("resume", None, ""),
        ("reset", "kill_switch", "checked"),
    ]
    for out, c in zip(outs, controls, strict=True):
        assert out.returncode == 0, out.stderr
        assert f"control {c.id} " in out.stdout
        assert "at most 1 s" in out.stdout
        assert before <= c.ts <= after
        assert c.handled_ts is None
        user, _, host = c.actor.removeprefix("cli:").partition("@")
        assert c.actor.startswith("cli:") and user and host
    # Nothing else changed: the engine state is the replay's.
    assert restored(journal).to_bytes() == restored(f"sqlite:///{replayed['open']}").to_bytes()


def test_reset_needs_confirm_and_a_known_breaker(journal):
    one_error(run("reset", "kill_switch", "--journal", journal), "--confirm", "kill_switch")
    line = one_error(run("reset", "kil_switch", "--journal", journal, "--confirm"), "kil_switch")
    for name in BREAKERS:
        assert name in line
    with Journal(journal) as j:
        assert j.controls() == []


def test_control_commands_refuse_a_missing_journal(tmp_path):
    missing = tmp_path / "typo.db"
    one_error(run("kill", "--journal", f"sqlite:///{missing}", "--reason", "x"), str(missing))
    assert not missing.exists()


# ---------------------------------------------------------------------------------------------
# config validate


def test_config_validate_accepts_the_examples():
    for example in sorted((ROOT / "examples").glob("*.toml")):
        out = run("config", "validate", str(example))
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stdout == f"{example}: valid\n"


def test_config_validate_lists_every_problem_on_its_own_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "[limits]\ndaily_loss = 1.5\nsizng = 'atr'\n"
        "[broker]\ncash = -5\n"
        "[alerts]\nsinks = [{ type = 'webhook', url = 'ftp://x' }]\n"
    )
    out = run("config", "validate", str(bad))
    assert out.returncode == 1
    assert "Traceback" not in out.stdout + out.stderr
    with pytest.raises(ConfigError) as e:
        rg.Config.load(bad)
    expected = [f"{bad}: {path}: {message}" for path, message in e.value.problems]
    assert out.stdout.splitlines() == expected
    paths = {line.split(": ")[1] for line in out.stdout.splitlines()}
    assert paths == {"limits.daily_loss", "limits.sizng", "broker.cash", "alerts.sinks.0.url"}


def test_config_validate_applies_the_environment(tmp_path):
    out = run("config", "validate", str(CONSERVATIVE), env={"RG_BROKER__CASH": "-1"})
    assert out.returncode == 1
    assert out.stdout == f"{CONSERVATIVE}: broker.cash: must be > 0, got -1\n"


def test_config_validate_unparsable_and_missing_files(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[limits\ndaily_loss = ")
    out = run("config", "validate", str(broken))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    (line,) = out.stdout.splitlines()
    assert line.startswith(f"{broken}: not valid TOML")
    out = run("config", "validate", str(tmp_path / "nope.toml"))
    assert out.returncode == 1
    assert out.stdout == f"{tmp_path / 'nope.toml'}: no such file\n"


# ---------------------------------------------------------------------------------------------
# config show and Config.sources


def test_config_show_names_each_values_source(tmp_path):
    toml = tmp_path / "risk.toml"
    toml.write_text(
        "[limits]\ndaily_loss = 0.03\n"
        "[broker]\ncash = 5000\nslippage = { model = 'fixed_bps', bps = 5 }\n"
        "[journal]\nurl = 'postgresql+psycopg://trader:hunter2@db/risk'\n"
    )
    env = {"RG_BROKER__SLIPPAGE__BPS": "2", "RG_GUARD__CONTROL_POLL_S": "0.2"}
    out = run("config", "show", "--config", str(toml), "--json", env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["file"] == str(toml)
    settings = data["settings"]
    file = {"source": "file", "origin": str(toml)}
    assert settings["limits.daily_loss.threshold"] == {"value": 0.03, **file}
    # A breaker given as a number is its threshold; its action is the default.
    assert settings["limits.daily_loss.action"] == {
        "value": "close_all_halt",
        "source": "default",
        "origin": "",
    }
    assert settings["broker.cash"] == {"value": 5000.0, **file}
    assert settings["broker.slippage.model"] == {"value": "fixed_bps", **file}
    assert settings["broker.slippage.bps"] == {
        "value": 2.0,
        "source": "env",
        "origin": "RG_BROKER__SLIPPAGE__BPS",
    }
    assert settings["guard.control_poll_s"] == {
        "value": 0.2,
        "source": "env",
        "origin": "RG_GUARD__CONTROL_POLL_S",
    }
    default = {"source": "default", "origin": ""}
    assert settings["limits.weekly_loss.threshold"] == {"value": 0.1, **default}
    assert settings["broker.atr_period"] == {"value": 14, **default}
    assert settings["alerts.sinks"] == {"value": [{"type": "log"}], **default}
    assert "hunter2" not in out.stdout
    assert settings["journal.url"]["value"] == "postgresql+psycopg://trader:***@db/risk"

    table = run("config", "show", "--config", str(toml), env=env)
    assert table.returncode == 0, table.stderr
    rows = {line.split("│")[1].strip(): line for line in table.stdout.splitlines() if "│" in line}
    assert "env (RG_BROKER__SLIPPAGE__BPS)" in rows["broker.slippage.bps"]
    assert "│ file " in rows["broker.cash"] and "│ 5000.0 " in rows["broker.cash"]
    assert f"file {toml}," in table.stdout.splitlines()[0]
    assert "default" in rows["guard.action_queue"]
    assert "│ off " in rows["broker.symbols"]


def test_config_show_reads_riskguard_toml_in_the_working_directory(tmp_path):
    (tmp_path / "riskguard.toml").write_text("[guard]\nbroker_retries = 9\n")
    data = json.loads(run("config", "show", "--json", cwd=tmp_path).stdout)
    assert data["file"] == "riskguard.toml"
    assert data["settings"]["guard.broker_retries"] == {
        "value": 9,
        "source": "file",
        "origin": "riskguard.toml",
    }
    elsewhere = tmp_path / "empty"
    elsewhere.mkdir()
    data = json.loads(run("config", "show", "--json", cwd=elsewhere).stdout)
    assert data["file"] is None
    assert {s["source"] for s in data["settings"].values()} == {"default"}


def test_config_show_of_an_invalid_file_fails_with_its_problems(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[broker]\ncash = -5\n[guard]\ncontrol_poll_s = 3\n")
    out = run("config", "show", "--config", str(bad))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.splitlines() == [
        "error: broker.cash: must be > 0, got -5",
        "error: guard.control_poll_s: must be <= 1, got 3",
    ]


@pytest.fixture
def no_rg_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith("RG_"):
            monkeypatch.delenv(name)


def test_sources_defaults_are_the_codes(no_rg_env):
    settings = rg.Config.sources()
    assert {s.source for s in settings.values()} == {"default"}
    assert {s.origin for s in settings.values()} == {""}
    limits = rg.Limits().to_dict()
    assert settings["limits.daily_loss.threshold"].value == limits["daily_loss"]["threshold"]
    assert settings["limits.sizing"].value == limits["sizing"]
    assert "limits.reset_time" not in settings
    assert settings["sessions.reset_time"].value == "00:00"
    assert settings["journal.url"].value == "sqlite:///riskguard.db"
    assert settings["guard.equity"].value is None
    assert settings["alerts.rate_limit"].value == [10, 60.0]


def test_sources_the_environment_wins_over_the_file(no_rg_env, monkeypatch, tmp_path):
    toml = tmp_path / "risk.toml"
    toml.write_text(
        "[limits]\nvolatility_spike = { threshold = 2.5, cooldown_s = 600 }\n"
        'portfolio_heat = "off"\n'
        "[broker]\ncash = 5000\nslippage = 'none'\n"
        "commission = { model = 'per_share', rate = 0.01, minimum = 1 }\n"
    )
    monkeypatch.setenv("RG_LIMITS__VOLATILITY_SPIKE__THRESHOLD", "3.5")
    monkeypatch.setenv("rg_broker__cash", "7000")  # variables are case-insensitive
    monkeypatch.setenv("RG_BROKER__COMMISSION", '{"model": "percent_of_notional", "rate": 0.002}')
    monkeypatch.setenv("RG_SESSIONS", '{"reset_time": "17:00"}')
    settings = rg.Config.sources(toml)
    # A key inside a table: the file's table, one key overridden by a variable.
    assert settings["limits.volatility_spike.threshold"] == (
        3.5,
        "env",
        "RG_LIMITS__VOLATILITY_SPIKE__THRESHOLD",
    )
    assert settings["limits.volatility_spike.cooldown_s"] == (600.0, "file", str(toml))
    assert settings["limits.volatility_spike.action"] == ("reduce", "default", "")
    assert settings["limits.portfolio_heat"] == (None, "file", str(toml))
    assert settings["broker.cash"] == (7000.0, "env", "rg_broker__cash")
    # A variable naming another model replaces the file's table whole.
    assert settings["broker.commission.model"] == (
        "percent_of_notional",
        "env",
        "RG_BROKER__COMMISSION",
    )
    assert settings["broker.commission.rate"] == (0.002, "env", "RG_BROKER__COMMISSION")
    assert "broker.commission.minimum" not in settings
    # A bare model name stands for its table.
    assert settings["broker.slippage.model"] == ("none", "file", str(toml))
    # A table given whole as JSON.
    assert settings["sessions.reset_time"] == ("17:00", "env", "RG_SESSIONS")
    assert settings["sessions.utc_offset"] == ("+00:00", "default", "")
    # The effective values are the loaded configuration's.
    config = rg.Config.load(toml)
    assert settings["broker.cash"].value == config.broker.cash
    assert settings["limits.volatility_spike.threshold"].value == (
        config.to_limits().volatility_spike.threshold
    )


def test_sources_raises_what_load_raises(no_rg_env, tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        rg.Config.sources(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[guard]\naction_queue = 0\n")
    with pytest.raises(ConfigError, match="guard.action_queue"):
        rg.Config.sources(bad)


# ---------------------------------------------------------------------------------------------
# Errors: one line, or the traceback with --debug


def test_debug_shows_the_traceback(tmp_path):
    args = ["status", "--journal", f"sqlite:///{tmp_path / 'missing.db'}"]
    one_error(run(*args), "no journal at")
    out = run("--debug", *args)
    assert out.returncode == 1
    assert "Traceback (most recent call last)" in out.stderr
    assert "JournalError: no journal at" in out.stderr


BOOM = (
    "import riskguard.app.facade as facade\n"
    "import riskguard.cli as cli\n"
    "def boom():\n"
    "    raise KeyError('surprise\\nacross lines')\n"
    "facade.breaker_names = boom\n"
    "cli.app(prog_name='riskguard')\n"
)


def test_an_unexpected_error_is_one_line_with_its_type(journal):
    args = ["reset", "kill_switch", "--journal", journal, "--confirm"]
    one_error(run(*args, code=BOOM), "error: KeyError: ", "surprise")
    out = run("--debug", *args, code=BOOM)
    assert out.returncode == 1
    assert "Traceback (most recent call last)" in out.stderr and "KeyError" in out.stderr
    with Journal(journal) as j:
        assert j.controls() == []
