"""`riskguard demo`: the analytics and the risk engine run over a seeded synthetic market,
printed as risk tables and a breaker timeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from riskguard import Limits, RiskEngine
from riskguard import analytics as rga
from riskguard.synthetic import Market, synthetic_market

NS_PER_DAY = 86_400 * 10**9
# Day 0 of the replay: 2020-01-06 00:00 UTC, a Monday. Closes are ticked at 16:00 UTC.
REPLAY_START_NS = 1_578_268_800 * 10**9
CLOSE_NS = 16 * 3_600 * 10**9
PORTFOLIO_BREAKERS = {
    "daily_loss",
    "weekly_loss",
    "monthly_loss",
    "max_drawdown",
    "volatility_spike",
    "leverage",
    "concentration",
    "portfolio_heat",
    "consecutive_losses",
}


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
        "engine": engine_replay(market),
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


def engine_replay(
    market: Market, equity: float = 1_000_000.0, before: int = 60, after: int = 40
) -> dict[str, Any]:
    """Replays ``before`` days before the crash to ``after`` days after it through a
    :class:`RiskEngine` with the default limits: 90 % of ``equity`` bought equal-weight at 100
    on day 0, then every instrument's daily close ticked at 16:00 UTC. The engine only
    reports; nothing acts on its requests, so the book rides through the crash and the events
    show what riskguard would have done and when.

    Returns the portfolio-level events (day, kind, breaker, message), the count of every event
    by kind and breaker, and the final snapshot as plain data.
    """
    start = max(0, market.crash_start - before)
    window = market.returns[start : market.crash_start + after]
    closes = 100.0 * np.cumprod(1.0 + window, axis=0)
    n_days, n = closes.shape
    engine = RiskEngine(Limits(), equity=equity, ts=REPLAY_START_NS)
    qty = 0.9 * equity / n / 100.0
    for symbol in market.symbols:
        engine.on_fill(symbol, qty, 100.0, REPLAY_START_NS)
    day_ts = REPLAY_START_NS + CLOSE_NS + NS_PER_DAY * np.arange(n_days, dtype=np.int64)
    events = engine.on_ticks(
        np.tile(np.arange(n, dtype=np.uint32), n_days),
        np.ascontiguousarray(closes).ravel(),
        np.repeat(day_ts, n),
    )
    counts: dict[str, int] = {}
    for e in events:
        key = f"{e.kind}:{e.breaker}"
        counts[key] = counts.get(key, 0) + 1
    timeline = [
        {
            "day": (e.ts - REPLAY_START_NS) // NS_PER_DAY,
            "kind": e.kind,
            "breaker": e.breaker,
            "state": e.state.name,
            "message": e.message,
        }
        for e in events
        if e.breaker in PORTFOLIO_BREAKERS and e.kind in ("breaker_tripped", "breaker_recovered")
    ]
    return {
        "first_day": start,
        "crash_day": market.crash_start - start,
        "quantity": qty,
        "timeline": timeline,
        "event_counts": counts,
        "final": engine.snapshot().to_dict(),
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
    print_engine(report["engine"], console)


def print_engine(replay: dict[str, Any], console: Console) -> None:
    """Renders :func:`engine_replay`: the breaker timeline and the final state."""
    t = Table(
        title=f"Risk engine replay, default limits: breaker timeline "
        f"(crash on day {replay['crash_day']})"
    )
    for col in ("day", "event", "state", "message"):
        t.add_column(col, justify="right" if col == "day" else "left")
    for e in replay["timeline"]:
        t.add_row(str(e["day"]), e["kind"], e["state"], e["message"])
    console.print(t)
    f = replay["final"]
    requests = sum(
        v for k, v in replay["event_counts"].items() if k.startswith(("flatten", "reduce"))
    )
    console.print(
        f"final state {f['state']}, equity {f['equity']:,.0f}, drawdown {_pct(f['drawdown'])}, "
        f"{requests} flatten/reduce requests the Guard would have acted on"
    )


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
