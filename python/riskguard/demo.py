"""`riskguard demo`: the analytics run over a seeded synthetic market, printed as risk tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from riskguard import analytics as rga
from riskguard.synthetic import synthetic_market


def risk_report(seed: int = 7, confidence: float = 0.99) -> dict[str, Any]:
    """Computes the demo's figures: per-instrument risk, an equal-weight portfolio's Monte Carlo
    VaR, its Euler risk contributions, stress scenarios and worst weeks."""
    market = synthetic_market(seed)
    r, symbols = market.returns, market.symbols
    per_instrument = {
        "annual_volatility": rga.annual_volatility(r),
        "cagr": rga.cagr(r),
        "sharpe": rga.sharpe_ratio(r),
        "sortino": rga.sortino_ratio(r),
        "max_drawdown": rga.max_drawdown(r),
        "var_historical": rga.var_historical(r, confidence),
        "cvar_historical": rga.cvar_historical(r, confidence),
        "var_cornish_fisher": rga.var_parametric(r, confidence, method="cornish_fisher"),
    }
    weights = np.full(len(symbols), 1 / len(symbols))
    portfolio = r @ weights
    cov = rga.covariance(r)
    contributions = rga.risk_contributions(weights, cov, confidence)
    mc_var, mc_cvar = rga.var_monte_carlo(r, weights, confidence, n_paths=100_000, seed=seed)
    bs_var, bs_cvar = rga.var_monte_carlo(
        r, weights, confidence, n_paths=100_000, seed=seed, method="bootstrap"
    )
    exposures = dict(zip(symbols, weights * 1_000_000, strict=True))
    return {
        "seed": seed,
        "confidence": confidence,
        "symbols": symbols,
        "crash_day": market.crash_start,
        "instruments": {k: [float(x) for x in v] for k, v in per_instrument.items()},
        "portfolio": {
            "var_historical": rga.var_historical(portfolio, confidence),
            "cvar_historical": rga.cvar_historical(portfolio, confidence),
            "var_parametric": rga.var_parametric(portfolio, confidence),
            "var_monte_carlo": mc_var,
            "cvar_monte_carlo": mc_cvar,
            "var_bootstrap": bs_var,
            "cvar_bootstrap": bs_cvar,
            "max_drawdown": rga.max_drawdown(portfolio),
            "sharpe": rga.sharpe_ratio(portfolio),
            "effective_positions": rga.effective_positions(weights),
            "diversification_ratio": rga.diversification_ratio(weights, cov),
            "component_var": dict(zip(symbols, contributions.component.tolist(), strict=True)),
        },
        "stress": rga.stress_test(
            exposures,
            {
                "crypto winter": {"BTC": -0.5, "ETH": -0.6},
                "equity crash": {"SPX": -0.2, "NDX": -0.25, "GOLD": 0.05},
                "dollar spike": {"EURUSD": -0.05, "GOLD": -0.03},
            },
            missing="zero",
        ),
        "worst_weeks": [
            {"loss": w.loss, "start": w.start, "end": w.end}
            for w in rga.worst_periods(portfolio, horizon=5, n=3)
        ],
    }


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:.2f}%"


def print_report(report: dict[str, Any], console: Console) -> None:
    """Renders :func:`risk_report`'s figures as rich tables."""
    c = int(round(report["confidence"] * 100))
    t = Table(title=f"Per-instrument risk, synthetic market (seed {report['seed']})")
    t.add_column("symbol")
    for name in (
        "ann. vol",
        "CAGR",
        "Sharpe",
        "Sortino",
        "max DD",
        f"VaR{c}",
        f"CVaR{c}",
        "CF VaR",
    ):
        t.add_column(name, justify="right")
    ins = report["instruments"]
    for j, s in enumerate(report["symbols"]):
        t.add_row(
            s,
            _pct(ins["annual_volatility"][j]),
            _pct(ins["cagr"][j]),
            f"{ins['sharpe'][j]:.2f}",
            f"{ins['sortino'][j]:.2f}",
            _pct(ins["max_drawdown"][j]),
            _pct(ins["var_historical"][j]),
            _pct(ins["cvar_historical"][j]),
            _pct(ins["var_cornish_fisher"][j]),
        )
    console.print(t)
    p = report["portfolio"]
    t = Table(title="Equal-weight portfolio, 1-day horizon")
    t.add_column("measure")
    t.add_column("value", justify="right")
    for key, label in (
        ("var_historical", f"historical VaR{c}"),
        ("cvar_historical", f"historical CVaR{c}"),
        ("var_parametric", f"normal VaR{c}"),
        ("var_monte_carlo", f"Monte Carlo VaR{c} (normal, 100k paths)"),
        ("cvar_monte_carlo", f"Monte Carlo CVaR{c} (normal)"),
        ("var_bootstrap", f"bootstrap VaR{c}"),
        ("cvar_bootstrap", f"bootstrap CVaR{c}"),
        ("max_drawdown", "max drawdown"),
    ):
        t.add_row(label, _pct(p[key]))
    t.add_row("Sharpe", f"{p['sharpe']:.2f}")
    t.add_row("effective positions", f"{p['effective_positions']:.2f}")
    t.add_row("diversification ratio", f"{p['diversification_ratio']:.2f}")
    console.print(t)
    t = Table(title=f"Component VaR{c} (Euler; sums to the normal VaR of the weights)")
    t.add_column("symbol")
    t.add_column("component", justify="right")
    for s, v in p["component_var"].items():
        t.add_row(s, _pct(v))
    console.print(t)
    t = Table(title="Stress scenarios on $1,000,000 equal-weight")
    t.add_column("scenario")
    t.add_column("P&L", justify="right")
    for name, pnl in report["stress"].items():
        t.add_row(name, f"{pnl:,.0f}")
    console.print(t)
    t = Table(title=f"Worst 5-day windows (crash injected at day {report['crash_day']})")
    for col in ("start day", "end day", "loss"):
        t.add_column(col, justify="right")
    for w in report["worst_weeks"]:
        t.add_row(str(w["start"]), str(w["end"]), _pct(w["loss"]))
    console.print(t)


def run_demo(
    seed: int = 7, out: Path | None = None, console: Console | None = None
) -> dict[str, Any]:
    """Prints the demo tables and, with ``out``, writes ``risk_report.json`` there."""
    console = console or Console()
    report = risk_report(seed)
    print_report(report, console)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "risk_report.json").write_text(json.dumps(report, indent=2))
        console.print(f"report written to {out / 'risk_report.json'}")
    return report
