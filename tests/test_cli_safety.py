"""What the CLI prints is safe to print (issue 14, rows 12 and 15).

**Secrets never print** (DESIGN.md, principle 11). Every command of the CLI is run with a
journal URL holding a password of its own, in each way a journal can fail to open (a port the
driver refuses, a port SQLAlchemy cannot parse, a port nobody listens on, the driver not
installed, a password that needs percent-encoding), with and without ``--debug``; and, against
a real PostgreSQL server whose trust authentication ignores the password, in the ways that
succeed. Whatever the command prints, on stdout or stderr, must not hold the password: not as
written, not percent-decoded. The failure modes run in process (typer's CliRunner, which
captures both streams) so that the whole matrix stays quick; the issue's own scenarios also run
as a person runs them, in a subprocess.

**Terminal and markup safety.** Strings that come from users and files (kill reasons,
symbols, file names, setting names) are printed as they are. Control characters are shown
escaped (ESC as ``\\x1b``), so that a kill reason cannot clear the screen or recolour the
terminal of the person reading ``riskguard status``; rich markup in a symbol (``[/]``,
``[bold]x``) is printed literally, never read as markup (which ended a backtest with
``MarkupError``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from urllib.parse import quote

import numpy as np
import polars as pl
import pytest
from riskguard.cli import _error_lines, app
from typer.testing import CliRunner

try:
    from . import postgres_server
except ImportError:
    import postgres_server


def run(
    *args: str, code: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m riskguard *args`` (or ``python -c code *args``) as a person runs it, its
    output a pipe, with no RG_ variable of the caller's."""
    environment = {
        k: v for k, v in os.environ.items() if not k.upper().startswith("RG_") and k != "COLUMNS"
    }
    head = ["-c", code] if code is not None else ["-m", "riskguard"]
    return subprocess.run(
        [sys.executable, *head, *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=300,
        check=False,
    )


# ---------------------------------------------------------------------------------------------
# Secrets never print (row 12)

# One password per failure mode, so that a leak names the path it came through.
MODES = {
    "bad-port": "postgresql+psycopg://u:{pw}@127.0.0.1:99999/db",
    "unparseable-port": "postgresql+psycopg://u:{pw}@127.0.0.1:abc/db",
    "refused": "postgresql+psycopg://u:{pw}@127.0.0.1:1/db",
    "no-psycopg": "postgresql+psycopg://u:{pw}@127.0.0.1:5432/db",
    "encoded": "postgresql+psycopg://u:{pw}@127.0.0.1:1/db?sslmode=disable",
}
PASSWORDS = {
    "bad-port": "Qz7BadPortPw",
    "unparseable-port": "Qz7UnparsedPw",
    "refused": "Qz7RefusedPw",
    "no-psycopg": "Qz7NoDriverPw",
    "encoded": "Qz7 @/:%?Enc",  # every character a URL must encode
}
WEBHOOK_KEY = "Qz7WebhookKeyT0B0"
HEADER_TOKEN = "Qz7HeaderTok"


def url_of(mode: str) -> str:
    return MODES[mode].format(pw=quote(PASSWORDS[mode], safe=""))


def forbidden(mode: str) -> list[str]:
    """The texts no output may hold: the password as written, decoded and encoded."""
    pw = PASSWORDS[mode]
    return [pw, quote(pw, safe=""), WEBHOOK_KEY, HEADER_TOKEN]


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 daily bars of one symbol: a valid file, so that a backtest gets to its journal."""
    rng = np.random.default_rng(3)
    close = 100.0 * np.cumprod(1.0 + rng.normal(0.0, 0.02, 300))
    opens = np.concatenate([[100.0], close[:-1]])
    day = 86_400 * 10**9
    frame = pl.DataFrame(
        {
            "timestamp": 1_600_000_000 * 10**9 + day * np.arange(300),
            "open": opens,
            "high": np.maximum(opens, close) * 1.01,
            "low": np.minimum(opens, close) * 0.99,
            "close": close,
            "volume": np.full(300, 1e6),
        }
    )
    path = tmp_path_factory.mktemp("prices") / "btc.csv"
    frame.write_csv(path)
    return path


def config_file(folder: Path, url: str) -> Path:
    """A configuration holding every kind of secret: the journal's password, a webhook URL's
    key, a header's token."""
    path = folder / "secret.toml"
    hook = f"https://hooks.example.com/services/{WEBHOOK_KEY}"
    path.write_text(
        "[journal]\n"
        f"url = {json.dumps(url)}\n"
        "[alerts]\n"
        f'sinks = [{{ type = "webhook", url = {json.dumps(hook)}, '
        f'headers = {{ Authorization = "Bearer {HEADER_TOKEN}" }} }}]\n'
    )
    return path


def commands(url: str, folder: Path, prices: Path) -> list[list[str]]:
    config = config_file(folder, url)
    return [
        ["status", "--journal", url],
        ["status", "--journal", url, "--json"],
        ["kill", "--journal", url, "--reason", "runaway"],
        ["pause", "--journal", url],
        ["resume", "--journal", url],
        ["reset", "kill_switch", "--journal", url, "--confirm"],
        ["report", "--journal", url, "--out", str(folder / "report")],
        ["backtest", "--prices", str(prices), "--strategy", "ema-cross", "--journal", url],
        ["config", "validate", str(config)],
        ["config", "show", "--config", str(config)],
        ["config", "show", "--config", str(config), "--json"],
    ]


def everything_printed(result) -> str:
    """Both streams, and the traceback of an exception that escaped the CLI (a real process
    would print it)."""
    text = result.stdout + result.stderr
    if result.exc_info is not None and not isinstance(result.exception, SystemExit):
        text += "".join(traceback.format_exception(*result.exc_info))
    return text


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.upper().startswith("RG_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no riskguard.toml of the caller's


@pytest.mark.parametrize("debug", [False, True], ids=["one-line", "debug"])
@pytest.mark.parametrize("mode", list(MODES))
def test_no_command_prints_the_password_of_a_journal_that_fails(
    mode, debug, prices, tmp_path, monkeypatch, clean_env
):
    if mode == "no-psycopg":
        # As if psycopg were not installed: its import fails wherever it is tried.
        monkeypatch.setitem(sys.modules, "psycopg", None)
    runner = CliRunner()
    for args in commands(url_of(mode), tmp_path, prices):
        result = runner.invoke(app, (["--debug"] if debug else []) + args)
        printed = everything_printed(result)
        for secret in forbidden(mode):
            assert secret not in printed, (mode, args, printed)
        if args[0] != "config":
            # The failure was met, and reported as the CLI reports errors.
            assert result.exit_code == 1, (args, printed)
            if debug:
                assert "Traceback (most recent call last)" in result.stderr, (args, printed)
            else:
                assert result.stderr.startswith("error: "), (args, printed)
                assert "Traceback" not in printed
    # The journal's URL is still named, its password masked.
    named = runner.invoke(app, ["status", "--journal", url_of(mode)])
    assert "u:***@127.0.0.1" in named.stderr, named.stderr


def test_the_error_printer_masks_what_a_driver_says_in_its_own_words():
    """Whatever the journal's or the driver's message holds, the one-line printer masks it:
    a DSN's password, a URL, and the password of the --journal URL however it is quoted."""
    pw = "Qz7DriverWords"
    error = RuntimeError(
        f"connection failed: host=h port=1 user=u password={pw} dbname=db\n"
        f"while opening postgresql://u:{pw}@h:1/db; server said: bad password {pw!r}"
    )
    lines = _error_lines(error, (pw,))
    assert len(lines) == 1 and lines[0].startswith("RuntimeError: ")
    assert pw not in lines[0] and "password=***" in lines[0] and "u:***@h" in lines[0]


INJECT = (
    "import sys\n"
    "import riskguard.app.facade as facade\n"
    "import riskguard.cli as cli\n"
    "from riskguard.journal import JournalError\n"
    "def leaky(url, **how):\n"
    "    # A journal whose error quotes the URL and the password in every way it can.\n"
    "    from urllib.parse import unquote\n"
    "    pw = unquote(url.split(':')[2].split('@')[0])\n"
    "    raise JournalError(f'cannot open {url!r}: auth failed for {pw}')\n"
    "facade._open = leaky  # every command opens its journal through the facade\n"
    "cli.app(prog_name='riskguard')\n"
)
NO_PSYCOPG = (
    "import sys\n"
    "sys.modules['psycopg'] = None  # as if it were not installed\n"
    "import riskguard.cli as cli\n"
    "cli.app(prog_name='riskguard')\n"
)


def test_the_issues_scenarios_as_a_person_runs_them(prices, tmp_path):
    """psycopg missing (status, kill), a bad port, and backtest --journal: in a subprocess,
    every stream, with and without --debug."""
    pw = "Qz7IssueScenario"
    missing = f"postgresql+psycopg://u:{pw}@127.0.0.1:5432/db"
    bad_port = f"postgresql+psycopg://u:{pw}@127.0.0.1:99999/db"
    outs = []
    for debug in ([], ["--debug"]):
        outs += [
            run(*debug, "status", "--journal", missing, code=NO_PSYCOPG),
            run(*debug, "kill", "--journal", missing, "--reason", "x", code=NO_PSYCOPG),
            run(*debug, "status", "--journal", bad_port),
            run(*debug, "kill", "--journal", bad_port, "--reason", "x"),
            run(
                *debug,
                "backtest",
                "--prices",
                str(prices),
                "--strategy",
                "ema-cross",
                "--journal",
                bad_port,
                cwd=tmp_path,
            ),  # fmt: skip
            # A journal layer that quotes everything: the CLI masks it anyway.
            run(*debug, "status", "--journal", missing, code=INJECT),
            run(*debug, "kill", "--journal", missing, "--reason", "x", code=INJECT),
        ]
    for out in outs:
        assert out.returncode == 1, (out.args, out.stdout, out.stderr)
        assert pw not in out.stdout + out.stderr, (out.args, out.stdout, out.stderr)
        assert "***" in out.stderr, out.stderr


@pytest.fixture(scope="module")
def postgres():
    with postgres_server.postgres_url() as url:
        yield url


def test_commands_that_succeed_never_print_the_password(postgres, prices, tmp_path):
    """A real server (trust authentication: it ignores the password, so the commands get as
    far as they can): a backtest into it, its status, every control command, its report, a
    second backtest refused, and the configuration naming it."""
    pw = "Qz7ServerPw"
    url = postgres.replace("postgresql+psycopg://rg@", f"postgresql+psycopg://rg:{pw}@")
    assert pw in url
    config = config_file(tmp_path, url)
    backtest = ["backtest", "--prices", str(prices), "--strategy", "ema-cross", "--journal", url]
    steps = [
        (backtest, 0),
        (["status", "--journal", url], 0),
        (["status", "--journal", url, "--json"], 0),
        (["kill", "--journal", url, "--reason", "drill"], 0),
        (["pause", "--journal", url], 0),
        (["resume", "--journal", url], 0),
        (["reset", "kill_switch", "--journal", url, "--confirm"], 0),
        (["report", "--journal", url, "--out", str(tmp_path / "report")], 0),
        (backtest, 1),  # the journal holds a run: an error that names the journal
        (["--debug", *backtest], 1),
        (["config", "validate", str(config)], 0),
        (["config", "show", "--config", str(config)], 0),
        (["config", "show", "--config", str(config), "--json"], 0),
    ]
    for args, code in steps:
        out = run(*args, cwd=tmp_path)
        printed = out.stdout + out.stderr
        assert out.returncode == code, (args, printed)
        for secret in (pw, WEBHOOK_KEY, HEADER_TOKEN):
            assert secret not in printed, (args, printed)
        if args[0] in ("backtest", "status", "kill") and "--json" not in args:
            assert "rg:***@127.0.0.1" in printed, (args, printed)
    html = (tmp_path / "report" / "report.html").read_text()
    assert pw not in html


# ---------------------------------------------------------------------------------------------
# Terminal and markup safety (row 15)

ESC = "\x1b"
HOSTILE = "\x1b[2J\x1b[31mPWNED\r\x07"
HOSTILE_SHOWN = r"\x1b[2J\x1b[31mPWNED\r\x07"


def bars(symbol: str, n: int = 120) -> pl.DataFrame:
    rng = np.random.default_rng(5)
    close = 100.0 * np.cumprod(1.0 + rng.normal(0.0, 0.01, n))
    opens = np.concatenate([[100.0], close[:-1]])
    return pl.DataFrame(
        {
            "timestamp": 1_600_000_000 * 10**9 + 3_600 * 10**9 * np.arange(n),
            "symbol": [symbol] * n,
            "open": opens,
            "high": np.maximum(opens, close) * 1.002,
            "low": np.minimum(opens, close) * 0.998,
            "close": close,
            "volume": np.full(n, 1e6),
        }
    )


@pytest.fixture(scope="module")
def marked_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess]:
    """A backtest of a symbol holding markup, whose signals also name symbols the prices do not
    have (a markup closing tag, a colour escape): they are named in the run's notes."""
    folder = tmp_path_factory.mktemp("marked")
    prices = folder / "prices.csv"
    bars("[bold]x").write_csv(prices)
    first = 1_600_000_000 * 10**9
    signals = folder / "signals.csv"
    pl.DataFrame(
        {
            "timestamp": [first, first, first],
            "symbol": ["[bold]x", "[/]", f"{ESC}[31mRED"],
            "side": ["long", "long", "long"],
            "quantity": [1.0, 1.0, 1.0],
            "stop": [50.0, 50.0, 50.0],
            "target": [200.0, 200.0, 200.0],
        }
    ).write_csv(signals)
    db = folder / "journal.db"
    out = run(
        "backtest", "--prices", str(prices), "--signals", str(signals),
        "--journal", f"sqlite:///{db}", "--config", str(lax_config(folder)),
    )  # fmt: skip
    return db, out


def lax_config(folder: Path) -> Path:
    """Limits that let one hand-made signal through: no filters, no trend, no time exit."""
    path = folder / "lax.toml"
    path.write_text(
        "[limits]\nsignal_filters = false\nrequire_trend = false\n"
        'max_hours_no_progress = "off"\nposition_loss = "off"\n'
    )
    return path


def test_a_symbol_holding_markup_is_printed_literally_by_a_backtest(marked_run):
    _, out = marked_run
    assert out.returncode == 0, out.stderr
    printed = out.stdout + out.stderr
    assert "MarkupError" not in printed and "Traceback" not in printed
    # The note names the symbols as they are written.
    note = next(
        line for line in out.stdout.splitlines() if "symbols the prices do not have" in line
    )
    assert "[/]" in note and r"\x1b[31mRED" in note
    assert ESC not in printed


def test_status_shows_a_hostile_kill_reason_and_a_markup_symbol_as_they_are(marked_run, tmp_path):
    db, _ = marked_run
    url = f"sqlite:///{tmp_path / 'j.db'}"
    (tmp_path / "j.db").write_bytes(db.read_bytes())
    kill = run("kill", "--journal", url, "--reason", HOSTILE)
    assert kill.returncode == 0, kill.stderr
    assert ESC not in kill.stdout + kill.stderr and "\r" not in kill.stdout
    table = run("status", "--journal", url)
    assert table.returncode == 0, table.stderr
    assert ESC not in table.stdout and "\r" not in table.stdout and "\x07" not in table.stdout
    assert HOSTILE_SHOWN in table.stdout  # shown, escaped, in the pending control actions
    assert "[bold]x" in table.stdout  # the open position's symbol, literally
    # JSON carries the reason as data, escaped by JSON itself.
    raw = run("status", "--journal", url, "--json")
    assert ESC not in raw.stdout
    data = json.loads(raw.stdout)
    assert data["pending_controls"][0]["reason"] == HOSTILE
    assert "[bold]x" in data["positions"]


def test_a_one_line_error_shows_control_characters_escaped(tmp_path):
    name = f"bad{ESC}[2Jname.csv"
    out = run("backtest", "--prices", str(tmp_path / name), "--strategy", "ema-cross")
    assert out.returncode == 1
    [line] = out.stderr.splitlines()
    assert line.startswith("error: ") and "no such file" in line
    assert ESC not in line and r"bad\x1b[2Jname.csv" in line


def test_control_characters_in_a_config_problem_are_shown_escaped(tmp_path):
    bad = tmp_path / "bad.toml"
    # An unknown key is named by its path, which is the file's text.
    bad.write_text('[guard]\n"evil\\u001b[2J" = 1\n')
    out = run("config", "validate", str(bad))
    assert out.returncode == 1
    assert ESC not in out.stdout + out.stderr
    assert r"guard.evil\x1b[2J: unknown setting" in out.stdout
    show = run("config", "show", "--config", str(bad))
    assert show.returncode == 1 and ESC not in show.stdout + show.stderr
    assert r"guard.evil\x1b[2J" in show.stderr
