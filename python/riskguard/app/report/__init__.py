"""``riskguard report``: charts and a self-contained HTML page from a journal.

:func:`write_report` reads a journal (:mod:`riskguard.journal`) and writes five PNG charts of
exactly 1200×600 pixels and ``report.html``, which embeds them as base64 data URIs and loads
nothing from anywhere else (no URL, script, stylesheet or font).

What it reads:

- the equity curve *with* risk management: the ``"equity"`` time series a backtest stores
  (:meth:`~riskguard.journal.Journal.write_series`), or else the equity of every engine
  snapshot (``RiskEngine.from_bytes(image).snapshot().equity`` at the snapshot's ``ts``;
  snapshots at ``ts`` 0, taken before the engine saw any event, are left out, and of several
  snapshots at one ``ts`` the newest counts);
- the curve *without* risk management: the ``"baseline_equity"`` series, when a backtest
  stored one (the same signals, unguarded);
- breaker trips: the events of kind ``breaker_tripped`` and ``kill_switch``;
- latched halts (:func:`riskguard.app.backtest.halts.latched_halts`): the trips of the latched
  breakers that halt, as the newest snapshot's engine has them, each until the reset that
  lifted it; the equity chart marks each (when the run stopped trading, and the equity then)
  and its reset;
- decisions, with their reason codes; trades.

Conventions: times are UTC; returns are simple returns of the curve; drawdown and VaR are
positive losses; the performance figures are those of :func:`riskguard.performance.summary`
(ratios annualised at the curve's median spacing, 365.25 days a year). Trade statistics and the
R-multiple histogram use the closed trades (those with an exit); open trades are listed in the
trades table only. The baseline has no trades of its own, so its trade figures are shown as —.

Charts are drawn on their own ``matplotlib.figure.Figure`` with the Agg canvas, never through
pyplot, so no global matplotlib state is touched; PNGs carry no software version or date, so
the same journal always gives byte-identical files.
"""

from __future__ import annotations

import base64
import html
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from riskguard._core import RiskEngine, RiskError
from riskguard.analytics import rolling_var
from riskguard.app.backtest.halts import Halt, halting_breakers, latched_halts
from riskguard.app.bootstrap import open_journal_readonly
from riskguard.app.report.figures import HEIGHT, WIDTH, canvas, literal, png
from riskguard.journal import Journal, JournalError
from riskguard.oms.tca import quality
from riskguard.performance import KEYS, summary
from riskguard.redact import printable, redact, safe_url, url_secrets

__all__ = ["CHARTS", "VAR_CONFIDENCE", "var_window", "write_report"]

CHARTS = ("equity.png", "drawdown.png", "rolling_var.png", "decisions.png", "r_multiples.png")
"""The chart files :func:`write_report` writes, in the order it returns them."""

VAR_CONFIDENCE = 0.95
NS_PER_DAY = 86_400 * 1_000_000_000
MIN_WINDOW = 20
FALLBACK_WINDOW = 100

_UTC = timezone.utc
_MANAGED = "with risk management"
_BASELINE = "without risk management"
_TRADE_KEYS = ("trades", "win_rate", "profit_factor", "avg_r")
_LABELS = {
    "total_return": "Total return",
    "cagr": "CAGR",
    "max_drawdown": "Max drawdown",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "calmar": "Calmar",
    "var": f"VaR {VAR_CONFIDENCE:.0%} (per period)",
    "cvar": f"CVaR {VAR_CONFIDENCE:.0%} (per period)",
    "trades": "Closed trades",
    "win_rate": "Win rate",
    "profit_factor": "Profit factor",
    "avg_r": "Average R",
}
_PERCENT = {"total_return", "cagr", "max_drawdown", "var", "cvar", "win_rate"}
_COLORS = ("#1f77b4", "#7f7f7f")  # with, without risk management
_TRIP_COLORS = (
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#bcbd22",
    "#17becf",
    "#1f77b4",
)


@dataclass(frozen=True)
class _Curve:
    label: str
    ts: np.ndarray  # int64 ns
    equity: np.ndarray  # float64, > 0
    source: str


@dataclass(frozen=True)
class _Contents:
    curves: list[_Curve]  # the managed curve first, then the baseline when there is one
    trips: list[dict[str, Any]]
    decisions: list[dict[str, Any]]
    trades: list[dict[str, Any]]
    halts: list[Halt]
    executions: list[dict[str, Any]]  # riskguard.oms.tca.quality: by venue and symbol


# --- reading the journal -------------------------------------------------------------------


def _open(url: str) -> Journal:
    """Opens the journal at ``url`` without creating one where there is none. Errors show
    the URL with its password masked, and a driver's message redacted."""
    secrets = url_secrets(url)
    try:
        sa.engine.make_url(url)
    except Exception as e:
        raise JournalError(
            f"journal: cannot parse the URL {safe_url(url)!r}: {redact(e, *secrets)}"
        ) from None
    try:
        # Read-only: no table is created, nothing migrated, and a missing file is an error.
        return open_journal_readonly(url)
    except RiskError as e:
        # The journal's own message may quote the URL, or a driver's DSN, whole.
        raise JournalError(redact(e, *secrets)) from None


def _checked(name: str, ts: Sequence[int], values: Sequence[float], source: str) -> _Curve:
    try:
        summary(ts, values)  # validates: increasing ts, finite positive equity
    except RiskError as e:
        raise RiskError(f"journal {source}: {e}") from None
    return _Curve(name, np.asarray(ts, dtype=np.int64), np.asarray(values, np.float64), source)


def _snapshot_curve(journal: Journal) -> tuple[list[int], list[float]]:
    by_ts: dict[int, float] = {}
    for sid, ts, image in journal.snapshots():
        if ts == 0:  # an engine that has seen no event: no point in time
            continue
        try:
            by_ts[ts] = RiskEngine.from_bytes(image).snapshot().equity
        except RiskError as e:
            raise JournalError(f"journal snapshot {sid} cannot be restored: {e}") from None
    ts_sorted = sorted(by_ts)
    return ts_sorted, [by_ts[t] for t in ts_sorted]


def _read(journal: Journal) -> _Contents:
    ts, values = journal.series("equity")
    if ts:
        managed = _checked(_MANAGED, ts, values, "series 'equity'")
    else:
        ts, values = _snapshot_curve(journal)
        if not ts:
            raise RiskError(
                "the journal holds no equity curve: no 'equity' series and no snapshots"
            )
        managed = _checked(_MANAGED, ts, values, "snapshots")
    curves = [managed]
    ts, values = journal.series("baseline_equity")
    if ts:
        curves.append(_checked(_BASELINE, ts, values, "series 'baseline_equity'"))
    events = journal.events()
    trips = [e for e in events if e["kind"] in ("breaker_tripped", "kill_switch")]
    engine = journal.restore()
    halting = frozenset() if engine is None else halting_breakers(engine.breakers())
    halts = latched_halts(events, halting, managed.ts, managed.equity)
    executions = quality(journal.orders(), journal.fills())
    return _Contents(curves, trips, journal.decisions(), journal.trades(), halts, executions)


# --- figures -------------------------------------------------------------------------------


def _figure(title: str) -> tuple[Figure, Axes]:
    fig = canvas()
    ax = fig.add_subplot()
    ax.set_title(title)
    return fig, ax


def _no_data(ax: Axes, why: str) -> None:
    ax.text(
        0.5, 0.5, f"no data: {why}", ha="center", va="center", fontsize=16, transform=ax.transAxes
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _time_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(tz=_UTC)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=_UTC))
    ax.set_xlabel("time (UTC)")
    ax.grid(True, alpha=0.3)


def _times(ts: np.ndarray) -> np.ndarray:
    return ts.astype("datetime64[ns]")


def _equity_chart(contents: _Contents) -> tuple[bytes, str]:
    fig, ax = _figure("Equity")
    for curve, color in zip(contents.curves, _COLORS, strict=False):
        ax.plot(
            _times(curve.ts),
            curve.equity,
            color=color,
            linewidth=1.2,
            label=curve.label,
            marker="o" if curve.ts.size == 1 else None,
        )
    breakers = sorted({_breaker(t) for t in contents.trips})
    colors = {b: _TRIP_COLORS[i % len(_TRIP_COLORS)] for i, b in enumerate(breakers)}
    colors["kill_switch"] = "#d62728"
    for b in breakers:
        when = [np.datetime64(int(t["ts"]), "ns") for t in contents.trips if _breaker(t) == b]
        kill = b == "kill_switch"
        ax.vlines(
            np.array(when),
            0.0,
            1.0,
            transform=ax.get_xaxis_transform(),
            colors=colors[b],
            linestyles="solid" if kill else "dashed",
            linewidth=1.5 if kill else 0.8,
            alpha=0.9 if kill else 0.6,
            label=literal(f"{b} trip ({len(when)})"),
        )
    _mark_halts(ax, contents.halts)
    ax.set_ylabel("equity")
    _time_axis(ax)
    ax.legend(loc="best", fontsize=9)
    alt = "Equity " + " and ".join(c.label for c in contents.curves)
    alt += f", {len(contents.trips)} breaker trips marked" if contents.trips else ", no trips"
    if contents.halts:
        alt += f", {len(contents.halts)} latched halts marked"
    return png(fig), alt


def _mark_halts(ax: Axes, halts: list[Halt]) -> None:
    """A black line where a latched halt stopped trading, labelled with the breaker and the
    equity then, and a dotted one at its reset."""
    for h in halts:
        when = np.datetime64(h.ts, "ns")
        ax.vlines(
            [when], 0.0, 1.0, transform=ax.get_xaxis_transform(), colors="black", linewidth=1.6
        )
        ax.annotate(
            literal(f"{h.breaker}: stopped trading\nequity {h.equity:,.0f}"),
            (when, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(4, -4),
            textcoords="offset points",
            va="top",
            fontsize=9,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
        )
        if h.reset_ts is not None:
            reset = np.datetime64(h.reset_ts, "ns")
            ax.vlines(
                [reset],
                0.0,
                1.0,
                transform=ax.get_xaxis_transform(),
                colors="black",
                linewidth=1.0,
                linestyles="dotted",
            )
            ax.annotate(
                literal(f"{h.breaker} reset"),
                (reset, 0.0),
                xycoords=("data", "axes fraction"),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=9,
            )


def _drawdown(equity: np.ndarray) -> np.ndarray:
    return 1.0 - equity / np.maximum.accumulate(equity)


def _drawdown_chart(contents: _Contents) -> tuple[bytes, str]:
    fig, ax = _figure("Drawdown (positive loss from the running peak)")
    for curve, color in zip(contents.curves, _COLORS, strict=False):
        ax.plot(
            _times(curve.ts), _drawdown(curve.equity), color=color, linewidth=1.0, label=curve.label
        )
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_ylabel("drawdown")
    ax.set_ylim(bottom=0.0)
    _time_axis(ax)
    ax.legend(loc="best")
    return png(fig), "Drawdown " + " and ".join(c.label for c in contents.curves)


def var_window(ts: Sequence[int] | np.ndarray) -> int | None:
    """The rolling VaR window, in returns, for the curve at ``ts``: one day of bars at the
    median spacing (``round(1 day / median(diff(ts)))``) when that is at least 20, else 100
    points; capped at the number of returns. None when the curve has fewer than 20 returns
    (too few for a rolling VaR)."""
    t = np.asarray(ts, dtype=np.int64)
    n = t.size - 1
    if n < MIN_WINDOW:
        return None
    per_day = round(NS_PER_DAY / float(np.median(np.diff(t))))
    window = per_day if per_day >= MIN_WINDOW else FALLBACK_WINDOW
    return min(window, n)


def _rolling_var_chart(contents: _Contents) -> tuple[bytes, str]:
    fig, ax = _figure(f"Rolling {VAR_CONFIDENCE:.0%} historical VaR of the equity returns")
    drawn = []
    for curve, color in zip(contents.curves, _COLORS, strict=False):
        window = var_window(curve.ts)
        if window is None:
            continue
        returns = curve.equity[1:] / curve.equity[:-1] - 1.0
        var = rolling_var(returns, window, VAR_CONFIDENCE)
        ax.plot(
            _times(curve.ts[1:]),
            var,
            color=color,
            linewidth=1.0,
            label=f"{curve.label} (window {window} returns)",
        )
        drawn.append(curve.label)
    if not drawn:
        _no_data(ax, f"fewer than {MIN_WINDOW} returns")
        return png(fig), "Rolling VaR: no data"
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_ylabel("VaR per period (positive loss)")
    _time_axis(ax)
    ax.legend(loc="best")
    return png(fig), "Rolling VaR " + " and ".join(drawn)


def _decision_counts(decisions: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """``("APPROVED", n)`` first, then each reason code by the number of decisions that carry
    it, most frequent first (ties by name)."""
    approved = sum(1 for d in decisions if d["approved"])
    codes: Counter[str] = Counter()
    for d in decisions:
        found = list(dict.fromkeys(d["codes"] or ()))
        if not found and not d["approved"]:
            found = ["(no code)"]
        codes.update(found)
    ranked = sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))
    return [("APPROVED", approved), *ranked]


def _decisions_chart(contents: _Contents) -> tuple[bytes, str]:
    fig, ax = _figure("Decisions by reason code")
    if not contents.decisions:
        _no_data(ax, "no decisions in the journal")
        return png(fig), "Decisions by reason code: no data"
    counts = _decision_counts(contents.decisions)
    names = [literal(name) for name, _ in counts]
    colors = ["#2ca02c"] + ["#d62728"] * (len(counts) - 1)
    bars = ax.bar(range(len(counts)), [n for _, n in counts], color=colors)
    ax.bar_label(bars)
    ax.set_xticks(range(len(counts)), names, rotation=20, ha="right")
    ax.set_ylabel("decisions")
    ax.grid(True, axis="y", alpha=0.3)
    return png(fig), "Decisions by reason code"


def _closed(trades: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in trades if t.get("exit_ts") is not None]


def _r_values(trades: list[dict[str, Any]]) -> np.ndarray:
    r = np.array(
        [_number(t.get("r_multiple")) for t in trades],
        dtype=np.float64,
    )
    return r[np.isfinite(r)]


def _r_chart(contents: _Contents) -> tuple[bytes, str]:
    fig, ax = _figure("R-multiples of the closed trades")
    r = _r_values(_closed(contents.trades))
    if r.size == 0:
        _no_data(ax, "no closed trades with an R-multiple")
        return png(fig), "R-multiples: no data"
    bins = int(min(40, max(5, math.ceil(math.sqrt(r.size)))))
    ax.hist(r, bins=bins, color="#1f77b4", edgecolor="white")
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.axvline(
        float(r.mean()),
        color="#d62728",
        linestyle="--",
        label=f"mean {r.mean():.2f} R over {r.size} trades",
    )
    ax.set_xlabel("R-multiple (pnl / initial risk)")
    ax.set_ylabel("trades")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="best")
    return png(fig), "R-multiples"


# --- HTML ----------------------------------------------------------------------------------


def _number(x: Any) -> float:
    """A journal number (None for NaN, ``"inf"`` for infinity) as a float."""
    if x is None:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _breaker(trip: dict[str, Any]) -> str:
    return str(trip.get("breaker") or trip["kind"])


def _iso(ts: Any) -> str:
    """``ts`` (ns since the epoch) as UTC ISO 8601, e.g. ``2022-01-01T00:14:00Z``."""
    if ts is None:
        return "—"
    ns = int(ts)
    when = datetime(1970, 1, 1, tzinfo=_UTC) + timedelta(microseconds=ns // 1000)
    text = when.isoformat().replace("+00:00", "")
    if ns % 1000:
        text += f"{ns % 1000:03d}"  # the nanoseconds below the microsecond
    return text + "Z"


def _fmt(key: str, value: float) -> str:
    """A summary figure for display: a percentage with two decimals (four below 1 %, where
    per-period figures live), a ratio with two, a count as an integer; NaN as —."""
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if key == "trades":
        return str(int(value))
    if key in _PERCENT:
        if abs(value) >= 100:
            return f"{value * 100:.3g}%"
        return f"{value:.2%}" if abs(value) >= 0.01 else f"{value:.4%}"
    return f"{value:.2f}"


def _price(x: Any) -> str:
    v = _number(x)
    return "—" if math.isnan(v) else f"{v:,.2f}"


def _escape(text: Any) -> str:
    """Text for the page: control characters shown escaped (``\\x1b``), then HTML-escaped."""
    return html.escape(printable(text))


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()
) -> str:
    """An HTML table; every cell is escaped here (:func:`_escape`)."""
    e = _escape
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "\n".join(
        "<tr>"
        + "".join(
            f'<td class="num">{e(c)}</td>' if i in numeric else f"<td>{e(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _ms(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:,.1f}"


def _bps(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:+,.2f}"


def _executions_table(rows: list[dict[str, Any]]) -> str:
    """Slippage and latency by venue and symbol (:func:`riskguard.oms.tca.quality`)."""
    if not rows:
        return (
            '<p class="note">No order attempt in the journal carries execution details '
            "(journals of a Guard before execution logging, or a backtest's).</p>"
        )
    table = _table(
        [
            "Venue",
            "Symbol",
            "Attempts",
            "Refused / failed / in doubt",
            "Latency ms (median)",
            "Latency ms (p95)",
            "Fills",
            "Fees",
            "Slippage bps (median)",
            "Slippage bps (p95)",
            "Slippage bps (mean)",
        ],
        [
            [
                r["venue"],
                r["symbol"],
                str(r["attempts"]),
                f"{r['rejected']} / {r['failed']} / {r['ambiguous']}",
                _ms(r["latency_ms_median"]),
                _ms(r["latency_ms_p95"]),
                str(r["fills"]),
                _price(r["fees"]),
                _bps(r["slippage_bps_median"]),
                _bps(r["slippage_bps_p95"]),
                _bps(r["slippage_bps_mean"]),
            ]
            for r in rows
        ],
        numeric=tuple(range(2, 11)),
    )
    return table + (
        '\n<p class="note">Latency is the wall time of each submission (ms). Slippage is '
        "the fill's price against the price its order asked (the signal's entry, the mark "
        "for a close, the limit), in basis points: positive is a cost.</p>"
    )


def _summary_table(contents: _Contents, trades: list[dict[str, Any]]) -> str:
    columns = []
    for i, curve in enumerate(contents.curves):
        figures = summary(curve.ts, curve.equity, trades if i == 0 else ())
        columns.append(
            {
                **{k: _fmt(k, v) for k, v in figures.items()},
                **({} if i == 0 else dict.fromkeys(_TRADE_KEYS, "—")),
            }
        )
    headers = ["", *(c.label for c in contents.curves)]
    rows = [
        ["From", *(_iso(c.ts[0]) for c in contents.curves)],
        ["To", *(_iso(c.ts[-1]) for c in contents.curves)],
        ["Points", *(str(c.ts.size) for c in contents.curves)],
        ["Source", *(c.source for c in contents.curves)],
        *([_LABELS[k], *(col[k] for col in columns)] for k in KEYS),
    ]
    return _table(headers, rows, numeric=range(1, len(headers)))


def _trades_table(trades: list[dict[str, Any]]) -> str:
    rows = [
        [
            str(t.get("symbol", "")),
            str(t.get("side", "")),
            str(t.get("state", "")),
            _iso(t.get("entry_ts")),
            _price(t.get("entry_price")),
            _iso(t.get("exit_ts")),
            _price(t.get("exit_price")),
            _price(t.get("pnl")),
            _fmt("avg_r", _number(t.get("r_multiple"))),
        ]
        for t in trades
    ]
    headers = [
        "Symbol",
        "Side",
        "State",
        "Entry (UTC)",
        "Entry price",
        "Exit (UTC)",
        "Exit price",
        "PnL",
        "R",
    ]
    return _table(headers, rows, numeric=(4, 6, 7, 8))


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1240px; color: #222; }
h1 { margin-bottom: 0.2em; }
h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
img { display: block; width: 100%; max-width: 1200px; height: auto; margin: 0.8em 0; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
thead th { background: #f4f4f4; }
p.note { color: #666; font-size: 0.9em; }
""".strip()


def _html(title: str, contents: _Contents, charts: dict[str, tuple[bytes, str]]) -> str:
    e = _escape

    def img(name: str) -> str:
        data, alt = charts[name]
        b64 = base64.b64encode(data).decode("ascii")
        return (
            f'<img src="data:image/png;base64,{b64}" alt="{e(alt)}" width="{WIDTH}" '
            f'height="{HEIGHT}">'
        )

    closed = _closed(contents.trades)
    counts = _decision_counts(contents.decisions) if contents.decisions else []
    total = len(contents.decisions)
    decision_rows = [[code, str(n), f"{n / total:.1%}"] for code, n in counts]
    trip_rows = [[_iso(t["ts"]), _breaker(t), str(t.get("message") or "")] for t in contents.trips]
    baseline_note = (
        ""
        if len(contents.curves) > 1
        else '<p class="note">The journal holds no "baseline_equity" series: '
        "there is no curve without risk management to compare.</p>"
    )
    window_notes = []
    for curve in contents.curves:
        w = var_window(curve.ts)
        window_notes.append(
            f"{curve.label}: " + ("too few returns" if w is None else f"{w} returns")
        )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{e(title)}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{e(title)}</h1>",
        '<p class="note">Times are UTC. Returns are simple returns of the equity curve; '
        "drawdown, VaR and CVaR are positive losses. Ratios are annualised at each curve's "
        "median spacing (365.25 days a year); CAGR uses calendar time. Trade figures cover "
        f"the {len(closed)} closed trades.</p>",
        "<h2>Performance</h2>",
        _summary_table(contents, closed),
        baseline_note,
        "<h2>Equity</h2>",
        img("equity.png"),
        "<h2>Drawdown</h2>",
        img("drawdown.png"),
        "<h2>Rolling VaR</h2>",
        f'<p class="note">Historical VaR at {VAR_CONFIDENCE:.0%} over a trailing window of one '
        f"day of bars, or {FALLBACK_WINDOW} points when a day holds fewer than {MIN_WINDOW} "
        f"(capped at the number of returns): {e('; '.join(window_notes))}.</p>",
        img("rolling_var.png"),
        "<h2>Decisions</h2>",
        img("decisions.png"),
        (
            _table(["Reason code", "Decisions", "Share"], decision_rows, numeric=(1, 2))
            + f'\n<p class="note">{total} decisions. A decision with several reason codes '
            "counts under each.</p>"
            if total
            else '<p class="note">No decisions in the journal.</p>'
        ),
        "<h2>Latched halts</h2>",
        (
            _table(
                ["Stopped trading (UTC)", "Breaker", "Equity then", "Reset (UTC)", "Equity then"],
                [
                    [
                        _iso(h.ts),
                        h.breaker,
                        _price(h.equity),
                        _iso(h.reset_ts),
                        _price(h.reset_equity),
                    ]
                    for h in contents.halts
                ],
                numeric=(2, 4),
            )
            if contents.halts
            else '<p class="note">No latched halt: trading was never stopped for good.</p>'
        ),
        "<h2>Breaker trips</h2>",
        (
            _table(["Time (UTC)", "Breaker", "Message"], trip_rows)
            if trip_rows
            else '<p class="note">No breaker tripped.</p>'
        ),
        "<h2>Execution quality</h2>",
        _executions_table(contents.executions),
        "<h2>Trades</h2>",
        img("r_multiples.png"),
        (
            _trades_table(contents.trades)
            if contents.trades
            else '<p class="note">No trades in the journal.</p>'
        ),
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(p for p in parts if p)


# --- the entry point -----------------------------------------------------------------------


def write_report(
    journal: str | Journal, out: str | Path, *, title: str = "riskguard report"
) -> list[Path]:
    """Writes the charts of :data:`CHARTS` (PNG, 1200×600 pixels each) and ``report.html`` to
    the directory ``out`` (created if needed) from ``journal``, a URL or an open
    :class:`~riskguard.journal.Journal`. Returns their paths, the charts first, in the order of
    :data:`CHARTS`, then the HTML.

    A URL is opened (never created: a SQLite file that does not exist is an error; like every
    :class:`~riskguard.journal.Journal`, opening migrates an older schema), only read from,
    and closed; an open journal is only read from and left open. The same journal always
    gives byte-identical files. Pieces the journal lacks (no baseline, trips, decisions or
    trades) give charts that say "no data", and notes in the page, rather than errors.
    ``report.html`` embeds the charts as base64 data URIs and references nothing outside
    itself; every text taken from the journal is HTML-escaped, its control characters shown
    escaped (``\\x1b``). Errors show the URL with its password masked.

    Raises RiskError: the journal holds no equity curve (no ``"equity"`` series and no
    snapshots); a stored curve fails :func:`riskguard.performance.summary`'s checks (the
    message names the series); ``journal``, ``out`` or ``title`` of the wrong type; ``out``
    cannot be made a directory. JournalError (a RiskError): there is no journal at the URL, it
    cannot be opened or read, or a snapshot cannot be restored.
    """
    if not isinstance(title, str):
        raise RiskError(f"title must be a str, got {title!r}")
    if not isinstance(out, str | Path):
        raise RiskError(f"out must be a str or Path, got {out!r}")
    if isinstance(journal, Journal):
        contents = _read(journal)
    elif isinstance(journal, str):
        opened = _open(journal)
        try:
            contents = _read(opened)
        finally:
            opened.close()
    else:
        raise RiskError(f"journal must be a URL (str) or a Journal, got {journal!r}")

    directory = Path(out)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RiskError(f"out: cannot create the directory {str(directory)!r}: {e}") from None

    charts = {
        "equity.png": _equity_chart(contents),
        "drawdown.png": _drawdown_chart(contents),
        "rolling_var.png": _rolling_var_chart(contents),
        "decisions.png": _decisions_chart(contents),
        "r_multiples.png": _r_chart(contents),
    }
    page = _html(title, contents, charts)
    paths = []
    for name in CHARTS:
        path = directory / name
        path.write_bytes(charts[name][0])
        paths.append(path)
    path = directory / "report.html"
    path.write_bytes(page.encode("utf-8"))
    paths.append(path)
    return paths
