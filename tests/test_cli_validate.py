"""One validation (issue 14, row 17): ``riskguard config validate`` runs exactly the checks that
building a Guard runs (:meth:`riskguard.Config.problems`: the engine's limits and starting
equity, the broker, the alert sinks, the journal's driver, the snapshot interval in
nanoseconds), so that what a Guard refuses is never reported "valid".

Each configuration below used to be "valid", and a Guard refused it when it was built or
started: the test shows both halves, the Guard's refusal (with the validation bypassed) and the
problem ``config validate`` now reports with its path.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import riskguard as rg
from pydantic import SecretStr
from riskguard.guard import Guard

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))

# (name, TOML text, section, values, the path validate names, words of its message)
REFUSED = [
    (
        "snapshot-interval-overflows",
        "[journal]\nsnapshot_interval_s = 1e300\n",
        "journal",
        {"snapshot_interval_s": 1e300},
        "journal.snapshot_interval_s",
        ["<= 31,536,000", "1e+300"],
    ),
    (
        "equity-beyond-the-engine",
        "[guard]\nequity = 1e300\n",
        "guard",
        {"equity": 1e300},
        "guard.equity",
        ["<= 1e+20"],
    ),
    (
        "cash-beyond-the-engine",
        "[broker]\ncash = 1e21\n",
        "broker",
        {"cash": 1e21},
        "broker.cash",
        ["<= 1e+20"],
    ),
    (
        "unknown-database",
        '[journal]\nurl = "nosuchdb://u:Qz7Pw@host/db"\n',
        "journal",
        {"url": "nosuchdb://u:Qz7Pw@host/db"},
        "journal.url",
        ["driver", "nosuchdb://u:***@host/db"],
    ),
    (
        "missing-driver",
        '[journal]\nurl = "postgresql+nosuchdriver://u:Qz7Pw@host/db"\n',
        "journal",
        {"url": "postgresql+nosuchdriver://u:Qz7Pw@host/db"},
        "journal.url",
        ["driver", "nosuchdriver"],
    ),
]


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("RG_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "riskguard", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=300,
        check=False,
    )


@pytest.fixture(autouse=True)
def clean(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.upper().startswith("RG_"):
            monkeypatch.delenv(name)


def unchecked(tmp_path: Path, section: str, values: dict) -> rg.Config:
    """A Config holding ``values`` without any validation (``model_copy`` skips it), on a
    journal and alert log of the test's own."""
    base = rg.Config(
        journal={"url": f"sqlite:///{tmp_path / 'j.db'}"},
        alerts={"sinks": [{"type": "log", "path": str(tmp_path / "alerts.log")}]},
    )
    part = getattr(base, section).model_copy(update=values)
    return base.model_copy(update={section: part})


async def build_and_start(config: rg.Config) -> None:
    symbol = (config.broker.symbols or ("BTC",))[0]
    async with Guard(config) as guard:
        await guard.on_tick(symbol, 100.0, 1_700_000_000 * 10**9)


@pytest.mark.parametrize(
    ("text", "section", "values", "path", "words"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_what_the_guard_refuses_validate_reports_with_its_path(
    tmp_path, text, section, values, path, words
):
    # config validate reports it, with its path, and fails: it used to say "valid".
    f = tmp_path / "c.toml"
    f.write_text(text)
    out = run("config", "validate", str(f))
    assert f"{f}: valid" not in out.stdout
    assert out.returncode == 1, out.stdout
    line = next(x for x in out.stdout.splitlines() if x.startswith(f"{f}: {path}: "))
    for word in words:
        assert word in line, line
    assert "Qz7Pw" not in out.stdout + out.stderr
    # The Guard does refuse it (an OverflowError, the engine's RiskError, a JournalError...)
    # when the validation is bypassed ...
    config = unchecked(tmp_path, section, values)
    with pytest.raises(Exception):  # noqa: B017 (whatever the Guard raised, it refused)
        asyncio.run(build_and_start(config))
    # ... and the one validation finds it there too, with its path (Config.check).
    with pytest.raises(rg.ConfigError) as info:
        config.check()
    assert path in dict(info.value.problems), info.value.problems
    # And a Guard built from the file meets exactly those problems, at the same step.
    with pytest.raises(rg.ConfigError) as built:
        Guard(rg.Config.load(f))
    assert [f"{f}: {p}: {m}" for p, m in built.value.problems] == out.stdout.splitlines()


def test_every_problem_is_reported_at_once(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text(
        "[journal]\nsnapshot_interval_s = 1e300\n[guard]\nequity = 1e300\naction_queue = 0\n"
    )
    out = run("config", "validate", str(f))
    assert out.returncode == 1
    paths = sorted(line.split(": ")[1] for line in out.stdout.splitlines())
    assert paths == ["guard.action_queue", "guard.equity", "journal.snapshot_interval_s"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_what_validate_calls_valid_a_guard_builds_and_starts_on(example, tmp_path):
    """The other half of "exactly the same checks": no false alarm on the examples."""
    journal = f"sqlite:///{tmp_path / 'j.db'}"
    out = run("config", "validate", str(example), env={"RG_JOURNAL__URL": journal})
    assert out.returncode == 0 and out.stdout.strip() == f"{example}: valid", out.stdout
    config = rg.Config.load(example, journal={"url": journal})
    config = config.model_copy(
        update={"alerts": config.alerts.model_copy(update={"sinks": ({"type": "log"},)})}
    )
    assert config.check() is config
    if not config.broker.live:
        asyncio.run(build_and_start(config))
        return
    # A live example starts against the fake venue on 127.0.0.1, never the venue itself.
    from riskguard.testing.conformance import MARKETS
    from riskguard.testing.fake import FakeVenue, dialect, exchange_for

    venue, market = config.broker.type, MARKETS[config.broker.type]
    exchange = exchange_for(
        market.market_id,
        market.kind,
        tick=market.tick,
        lot=market.lot,
        min_notional=market.min_notional,
        price=market.price,
    )
    with FakeVenue([dialect(venue, exchange, api_key="k", secret="s")]) as fake:
        broker = config.broker.model_copy(
            update={
                "base_url": fake.base_url(venue),
                "ws_url": fake.ws_url(venue),
                "api_key": SecretStr("k"),
                "secret": SecretStr("s"),
                "symbols": (market.symbol,),
            }
        )
        asyncio.run(build_and_start_live(config.model_copy(update={"broker": broker})))


async def build_and_start_live(config: rg.Config) -> None:
    async with Guard(config) as guard:
        assert guard.broker.instruments  # the venue started: its markets are loaded


def test_validate_reports_a_driver_that_is_not_installed(tmp_path):
    """The Guard could not open a PostgreSQL journal without psycopg: validate says so,
    the URL's password masked."""
    f = tmp_path / "pg.toml"
    f.write_text('[journal]\nurl = "postgresql+psycopg://rg:Qz7Pw@db.example/risk"\n')
    code = (
        "import sys\n"
        "sys.modules['psycopg'] = None\n"
        "import riskguard.cli as cli\n"
        "cli.app(prog_name='riskguard')\n"
    )
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("RG_")}
    out = subprocess.run(
        [sys.executable, "-c", code, "config", "validate", str(f)],
        capture_output=True, text=True, env=environment, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    [line] = out.stdout.splitlines()
    assert line.startswith(f"{f}: journal.url: cannot load the database driver")
    assert "rg:***@db.example" in line and "Qz7Pw" not in out.stdout + out.stderr
    # With the driver installed, the same file is valid (nothing is connected to).
    assert run("config", "validate", str(f)).stdout.strip() == f"{f}: valid"
