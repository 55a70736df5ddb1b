"""`riskguard demo` end to end in a subprocess: every section, the report, and the same output
for the same seed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SECTIONS = [
    "what risk management changed",
    "breaker trips",
    "decisions by reason code",
    "trades through riskguard",
    "final risk figures",
    "riskguard took the max drawdown from",
    "what each rule did: the 4 rule groups that act most here",
    "attribution: each run's figures (daily returns)",
    "contribution: the full configuration minus the run",
    "the naive run's worst stretch, the account lost",
    "Over the whole run riskguard cut the max drawdown by",
    "Scaled down to riskguard's volatility",
    "The time exit ",
    "the same signals through each profile",
    "profile keeps the most of the strategy's Sharpe",
]


def demo(out: Path, seed: int = 7) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "riskguard", "demo", "--out", str(out), "--seed", str(seed)],
        capture_output=True,
        text=True,
        timeout=300,
        # PYTHONPATH passes on, so that a checkout runs its own package, not an installed one.
        env={
            "COLUMNS": "140",
            "PATH": "/usr/bin:/bin",
            "HOME": str(out.parent),
            **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"},
        },
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    out = tmp_path_factory.mktemp("demo") / "out"
    return demo(out), demo(out), out


def test_the_demo_shows_every_section(outputs):
    first, _, _ = outputs
    for section in SECTIONS:
        assert section in first
    assert "APPROVED" in first and "position_loss" in first
    assert "Traceback" not in first


def test_the_demo_writes_its_report_and_journal(outputs):
    _, _, out = outputs
    for name in ("report.html", "equity.png", "drawdown.png", "attribution.png", "journal.db"):
        assert (out / name).is_file()


def test_the_same_seed_gives_the_same_output(outputs, tmp_path):
    first, second, _ = outputs
    assert first == second
    other = demo(tmp_path / "out", seed=8)
    assert other.splitlines()[:-1] != first.splitlines()[:-1]  # the seed matters
