"""The command line: `riskguard demo` and help."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import riskguard as rg
from riskguard.cli import app
from riskguard.synthetic import synthetic_market
from typer.testing import CliRunner

runner = CliRunner()


def test_demo_prints_the_risk_tables_and_writes_the_report(tmp_path):
    result = runner.invoke(app, ["demo", "--seed", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for title in ("Per-instrument risk", "Equal-weight portfolio", "Component VaR99", "Stress"):
        assert title in result.output
    report = json.loads((tmp_path / "risk_report.json").read_text())
    market = synthetic_market(3)
    weights = np.full(len(market.symbols), 1 / len(market.symbols))
    portfolio = market.returns @ weights
    assert report["symbols"] == market.symbols
    assert report["portfolio"]["var_historical"] == rg.var_historical(portfolio, 0.99)
    np.testing.assert_allclose(
        report["instruments"]["max_drawdown"], rg.max_drawdown(market.returns)
    )
    components = sum(report["portfolio"]["component_var"].values())
    cov = rg.covariance(market.returns)
    assert np.isclose(components, rg.risk_contributions(weights, cov, 0.99).var)
    # The crash is injected, so it must show among the worst weeks.
    starts = [w["start"] for w in report["worst_weeks"]]
    assert any(abs(s - report["crash_day"]) < 5 for s in starts)


def test_demo_is_deterministic_for_a_seed(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert runner.invoke(app, ["demo", "--seed", "11", "--out", str(a)]).exit_code == 0
    assert runner.invoke(app, ["demo", "--seed", "11", "--out", str(b)]).exit_code == 0
    assert (a / "risk_report.json").read_text() == (b / "risk_report.json").read_text()
    c = tmp_path / "c"
    assert runner.invoke(app, ["demo", "--seed", "12", "--out", str(c)]).exit_code == 0
    assert (a / "risk_report.json").read_text() != (c / "risk_report.json").read_text()


def test_help_lists_the_demo_with_an_example():
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0 and "demo" in top.output
    sub = runner.invoke(app, ["demo", "--help"])
    assert sub.exit_code == 0 and "riskguard demo --seed" in sub.output


def test_the_installed_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "riskguard", "--help"], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "demo" in out.stdout


def test_synthetic_market_rejects_bad_arguments():
    import pytest

    for kwargs, arg in (({"n_days": 10}, "n_days"), ({"symbols": ["XXX"]}, "symbols")):
        with pytest.raises(rg.RiskError, match=arg):
            synthetic_market(**kwargs)


def test_demo_engine_replay_matches_an_independent_equity_path():
    from riskguard.demo import engine_replay

    market = synthetic_market(5)
    replay = engine_replay(market, equity=1_000_000.0, before=60, after=40)
    start = replay["first_day"]
    window = market.returns[start : market.crash_start + 40]
    closes = 100.0 * np.cumprod(1.0 + window, axis=0)
    qty = replay["quantity"]
    cash = 1_000_000.0 - qty * 100.0 * len(market.symbols)
    # Marks after each tick: instruments are ticked in order within a day.
    prev = np.vstack([np.full(len(market.symbols), 100.0), closes[:-1]])
    n = len(market.symbols)
    path = []
    for d in range(len(closes)):
        for j in range(n):
            marks = np.concatenate([closes[d, : j + 1], prev[d, j + 1 :]])
            path.append(cash + qty * marks.sum())
    equity = np.array(path)
    assert np.isclose(replay["final"]["equity"], equity[-1], rtol=1e-12)
    drawdown = 1.0 - equity / np.maximum.accumulate(np.maximum(equity, 1_000_000.0))
    trips = [e for e in replay["timeline"] if e["breaker"] == "max_drawdown"]
    first = np.flatnonzero(drawdown >= 0.15)
    if first.size:
        assert trips and trips[0]["kind"] == "breaker_tripped"
        assert trips[0]["day"] == first[0] // n
    else:
        assert not trips
