"""riskguard.report.write_report over real Guard journals (tests/guard_replay.py), a hand-built
journal with hostile text, a snapshots-only journal and an empty one."""

from __future__ import annotations

import asyncio
import base64
import html
import re
import shutil
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import riskguard as rg
from guard_replay import bars, replay
from matplotlib.image import imread
from riskguard.journal import Journal, JournalError
from riskguard.performance import summary
from riskguard.report import CHARTS, var_window, write_report

MINUTE = 60 * 10**9
HOUR = 60 * MINUTE
DAY = 24 * HOUR
T = 1_700_000_000 * 10**9
N_BARS = 8_100  # past the scenario's kill (bar 5,000) and reset (bar 8,000)
FILES = [*CHARTS, "report.html"]


def url(path: Path) -> str:
    return f"sqlite:///{path}"


def pct(x: float) -> str:
    """The report's percentage format, written out independently."""
    return f"{x:.2%}" if abs(x) >= 0.01 else f"{x:.4%}"


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts // 10**9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def without_payloads(page: str) -> str:
    """The page with the base64 PNG payloads cut out (base64 may spell anything)."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:image/png;base64,", page)


def table_after(page: str, heading: str) -> list[list[str]]:
    """The body rows of the first table after ``<h2>heading</h2>``, cells unescaped."""
    section = page.split(f"<h2>{heading}</h2>", 1)[1].split("<h2>", 1)[0]
    body = section.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)] for r in rows]


def summary_row(page: str, label: str) -> list[str]:
    rows = {r[0]: r[1:] for r in table_after(page, "Performance")}
    return rows[label]


@pytest.fixture(scope="module")
def journals(tmp_path_factory) -> dict[str, Path]:
    """``full``: the Guard scenario plus "equity" (the snapshots' equity at each bar) and
    "baseline_equity" (buy and hold, unguarded) series; ``snapshots``: the same journal
    before the series were written."""
    d = tmp_path_factory.mktemp("journals")
    full = d / "full.db"
    asyncio.run(replay(full, n=N_BARS))
    snaps = d / "snapshots.db"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{full}{suffix}").exists():
            shutil.copy(f"{full}{suffix}", f"{snaps}{suffix}")
    with Journal(url(full)) as j:
        points = [
            (ts, rg.RiskEngine.from_bytes(im).snapshot().equity)
            for _, ts, im in j.snapshots()
            if ts > 0
        ]
        snap_ts = np.array([p[0] for p in points])
        snap_eq = np.array([p[1] for p in points])
        ts = np.array([t for t, _ in bars(N_BARS)], dtype=np.int64)
        close = np.array([c for _, c in bars(N_BARS)])
        # the latest snapshot at or before each bar
        at = np.searchsorted(snap_ts, ts, side="right") - 1
        keep = at >= 0
        j.write_series("equity", ts[keep].tolist(), snap_eq[at[keep]].tolist())
        j.write_series("baseline_equity", ts.tolist(), (100_000.0 * close / close[0]).tolist())
    return {"full": full, "snapshots": snaps}


@pytest.fixture(scope="module")
def full_report(journals, tmp_path_factory) -> tuple[list[Path], str]:
    out = tmp_path_factory.mktemp("report") / "nested" / "out"  # created on demand
    paths = write_report(url(journals["full"]), out)
    return paths, (out / "report.html").read_text(encoding="utf-8")


def hostile_journal(path: Path) -> Path:
    """A small hand-built journal whose symbol, kill reason and title carry markup."""
    x = "<b>X</b>"
    e = rg.RiskEngine(limits={"signal_filters": False, "require_trend": False}, equity=1e4, ts=T)
    e.symbol_id(x)
    with Journal(url(path)) as j:
        j.write(events=e.on_tick(x, 100.0, T + MINUTE), snapshot=e)
        signal = rg.Signal(x, "long", 100.0, stop=99.0, target=102.0)
        d = e.evaluate_signal(signal, T + MINUTE)
        assert d.approved
        j.record_decision(d, T + MINUTE, signal, durable=True)
        j.write(events=e.on_fill(x, d.quantity, 100.0, T + 2 * MINUTE), snapshot=e)
        j.write(events=e.on_tick(x, 101.0, T + 3 * MINUTE), trades=e.trades(), snapshot=e)
        j.write(events=e.on_fill(x, -d.quantity, 101.5, T + 4 * MINUTE), snapshot=e)
        j.write(trades=e.trades())
        j.write(events=e.kill("<script>alert(1)</script>", T + 5 * MINUTE), snapshot=e)
        denied = e.evaluate_signal(signal, T + 6 * MINUTE)
        assert not denied.approved
        j.record_decision(denied, T + 6 * MINUTE, signal, durable=True)
        j.write(events=e.on_tick(x, 101.0, T + 7 * MINUTE), snapshot=e)
    return path


# --- files ---------------------------------------------------------------------------------


def test_writes_every_file_at_1200_by_600(full_report):
    paths, _ = full_report
    assert [p.name for p in paths] == FILES
    out = paths[0].parent
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    for p in paths[:-1]:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = imread(p)
        assert image.shape[:2] == (600, 1200), p.name
        assert not (image[..., :3] == 1.0).all(), f"{p.name} is blank"
        assert b"Software" not in p.read_bytes()  # no matplotlib version stamped in


def test_html_is_self_contained(full_report):
    paths, page = full_report
    text = without_payloads(page)
    for needle in ("http://", "https://", "//cdn", 'src="http', "<script", "<link", "@import"):
        assert needle not in text.lower(), needle
    imgs = re.findall(r"<img\b[^>]*>", page)
    assert len(imgs) == len(CHARTS)
    for tag in imgs:
        assert 'src="data:image/png;base64,' in tag
    # the embedded charts are the files written beside the page, byte for byte
    embedded = [base64.b64decode(b) for b in re.findall(r"base64,([A-Za-z0-9+/=]+)", page)]
    assert embedded == [p.read_bytes() for p in paths[:-1]]


def test_summary_figures_of_both_curves(full_report, journals):
    _, page = full_report
    with Journal(url(journals["full"])) as j:
        curves = [j.series("equity"), j.series("baseline_equity")]
        closed = [t for t in j.trades() if t["exit_ts"] is not None]
    headers = re.search(r"<h2>Performance</h2>\s*<table>\s*<thead>(.*?)</thead>", page, re.S)
    assert "with risk management" in headers.group(1)
    assert "without risk management" in headers.group(1)
    mdd = []
    for _, eq in curves:
        e = np.asarray(eq)
        mdd.append(float(np.max(1 - e / np.maximum.accumulate(e))))  # numpy, not riskguard
    assert summary_row(page, "Max drawdown") == [pct(m) for m in mdd]
    assert mdd[1] > mdd[0] > 0  # BTC fell more than the guarded account: the figures differ
    totals = [eq[-1] / eq[0] - 1 for _, eq in curves]
    assert summary_row(page, "Total return") == [pct(t) for t in totals]
    assert summary_row(page, "Points") == [str(len(ts)) for ts, _ in curves]
    assert summary_row(page, "From") == [iso(ts[0]) for ts, _ in curves]
    s = summary(*curves[0], closed)
    assert summary_row(page, "Sharpe")[0] == f"{s['sharpe']:.2f}"
    wins = sum(t["pnl"] > 0 for t in closed)
    assert summary_row(page, "Closed trades") == [str(len(closed)), "—"]
    assert summary_row(page, "Win rate") == [pct(wins / len(closed)), "—"]
    assert summary_row(page, "Source") == ["series 'equity'", "series 'baseline_equity'"]


def test_decisions_by_reason_code(full_report, journals):
    _, page = full_report
    with Journal(url(journals["full"])) as j:
        decisions = j.decisions()
    want = Counter(code for d in decisions for code in d["codes"])
    want["APPROVED"] = sum(d["approved"] for d in decisions)
    assert len(want) >= 4 and "KILL_SWITCH" in want  # the scenario's kill reached the gate
    rows = table_after(page, "Decisions")
    assert rows[0][0] == "APPROVED"
    assert {code: int(n) for code, n, _ in rows} == dict(want)


def test_breaker_trip_timeline(full_report, journals):
    _, page = full_report
    with Journal(url(journals["full"])) as j:
        trips = [e for e in j.events() if e["kind"] in ("breaker_tripped", "kill_switch")]
    assert any(e["kind"] == "kill_switch" for e in trips)
    rows = table_after(page, "Breaker trips")
    assert rows == [[iso(e["ts"]), e["breaker"], e["message"]] for e in trips]
    assert f"{len(trips)} breaker trips marked" in page  # the equity chart's description


def test_trades_table(full_report, journals):
    _, page = full_report
    with Journal(url(journals["full"])) as j:
        trades = j.trades()
    rows = table_after(page, "Trades")
    assert len(rows) == len(trades) > 10
    for row, t in zip(rows, trades, strict=True):
        assert row[:4] == [t["symbol"], t["side"], t["state"], iso(t["entry_ts"])]
        assert row[7] == f"{t['pnl']:,.2f}"
        assert row[8] == f"{t['r_multiple']:.2f}"
        assert row[5] == ("—" if t["exit_ts"] is None else iso(t["exit_ts"]))
        assert row[6] == ("—" if t["exit_price"] is None else f"{t['exit_price']:,.2f}")


def test_same_journal_same_bytes(journals, tmp_path):
    a = write_report(url(journals["full"]), tmp_path / "a")
    with Journal(url(journals["full"])) as j:
        b = write_report(j, tmp_path / "b")  # an open journal gives the same report...
        assert j.events()  # ...and is left open
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes(), pa.name


# --- other journals ------------------------------------------------------------------------


def test_snapshots_only_journal(journals, tmp_path):
    with Journal(url(journals["snapshots"])) as j:
        assert j.series_names() == []
        by_ts = {ts: rg.RiskEngine.from_bytes(im).snapshot().equity for _, ts, im in j.snapshots()}
    by_ts.pop(0, None)
    first, last = min(by_ts), max(by_ts)
    paths = write_report(url(journals["snapshots"]), tmp_path)
    page = paths[-1].read_text(encoding="utf-8")
    assert summary_row(page, "Source") == ["snapshots"]
    assert summary_row(page, "Points") == [str(len(by_ts))]
    assert summary_row(page, "From") == [iso(first)]
    assert summary_row(page, "Total return") == [pct(by_ts[last] / by_ts[first] - 1)]
    headers = re.search(r"<h2>Performance</h2>\s*<table>\s*<thead>(.*?)</thead>", page, re.S)
    assert "without risk management" not in headers.group(1)
    assert 'no "baseline_equity" series' in page
    for p in paths[:-1]:
        assert imread(p).shape[:2] == (600, 1200)


def test_journal_text_is_escaped(tmp_path):
    path = hostile_journal(tmp_path / "hostile.db")
    paths = write_report(url(path), tmp_path / "out", title="<i>Q1</i> & co")
    page = paths[-1].read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>X</b>" not in page and "&lt;b&gt;X&lt;/b&gt;" in page
    assert "<i>Q1</i>" not in page and "&lt;i&gt;Q1&lt;/i&gt; &amp; co" in page
    trips = table_after(page, "Breaker trips")
    assert trips[0][1:] == ["kill_switch", "kill switch engaged: <script>alert(1)</script>"]
    assert table_after(page, "Trades")[0][0] == "<b>X</b>"


def colour(png: Path) -> float:
    """The share of coloured (not grey) pixels: lines, bars and markers, not text or frame."""
    rgb = imread(png)[..., :3]
    return float((rgb.max(axis=-1) - rgb.min(axis=-1) > 0.2).mean())


def test_missing_pieces_give_no_data_charts(tmp_path, full_report):
    # Snapshots and nothing else: no series, decisions, trips or trades; a flat curve.
    e = rg.RiskEngine(equity=5_000.0, ts=T)
    e.symbol_id("ETH")
    with Journal(url(tmp_path / "bare.db")) as j:
        for i in range(1, 6):
            e.on_tick("ETH", 2_000.0 + i, T + i * HOUR)
            j.save_snapshot(e)
    paths = write_report(url(tmp_path / "bare.db"), tmp_path / "out")
    page = paths[-1].read_text(encoding="utf-8")
    for alt in (
        "Rolling VaR: no data",
        "Decisions by reason code: no data",
        "R-multiples: no data",
    ):
        assert f'alt="{alt}"' in page
    for p in paths[:-1]:
        assert imread(p).shape[:2] == (600, 1200)
    full = {p.name: p for p in full_report[0]}
    bare = {p.name: p for p in paths}
    for name in ("decisions.png", "r_multiples.png", "rolling_var.png"):
        # a no-data chart is a frame and a sentence in black on white, no plotted data
        assert colour(bare[name]) == 0.0 < 0.001 < colour(full[name]), name
    assert "No decisions in the journal." in page
    assert "No breaker tripped." in page
    assert "No trades in the journal." in page
    assert summary_row(page, "Total return") == [pct(0.0)]
    assert summary_row(page, "Sharpe") == ["—"]  # a flat curve has no volatility


def test_single_point_curve(tmp_path):
    with Journal(url(tmp_path / "one.db")) as j:
        j.write_series("equity", [T], [1_000.0])
    paths = write_report(url(tmp_path / "one.db"), tmp_path / "out")
    page = paths[-1].read_text(encoding="utf-8")
    assert summary_row(page, "Max drawdown") == ["—"]
    assert summary_row(page, "Points") == ["1"]


def test_empty_journal_raises(tmp_path):
    Journal(url(tmp_path / "empty.db")).close()
    with pytest.raises(rg.RiskError, match="no equity curve") as info:
        write_report(url(tmp_path / "empty.db"), tmp_path / "out")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out" / "report.html").exists()


def test_missing_journal_is_not_created(tmp_path):
    with pytest.raises(JournalError, match="no journal"):
        write_report(url(tmp_path / "absent.db"), tmp_path / "out")
    assert not (tmp_path / "absent.db").exists()


def test_bad_series_and_arguments(tmp_path):
    with Journal(url(tmp_path / "bad.db")) as j:
        j.write_series("equity", [T, T + DAY, T + 2 * DAY], [100.0, -5.0, 100.0])
    with pytest.raises(rg.RiskError, match=r"series 'equity'.*equity\[1\]"):
        write_report(url(tmp_path / "bad.db"), tmp_path / "out")
    with Journal(url(tmp_path / "bad.db")) as j:
        j.write_series("equity", [T, T + DAY], [100.0, 101.0])
        j.write_series("baseline_equity", [T, T, T + DAY], [100.0, 100.0, 101.0])
    with pytest.raises(rg.RiskError, match=r"series 'baseline_equity'.*ts"):
        write_report(url(tmp_path / "bad.db"), tmp_path / "out")
    with pytest.raises(rg.RiskError, match="journal"):
        write_report(42, tmp_path / "out")  # type: ignore[arg-type]
    with pytest.raises(rg.RiskError, match="title"):
        write_report(url(tmp_path / "bad.db"), tmp_path / "out", title=None)  # type: ignore[arg-type]
    (tmp_path / "file").write_text("")
    with Journal(url(tmp_path / "bad.db")) as j:
        j.write_series("baseline_equity", [], [])
        with pytest.raises(rg.RiskError, match="out"):
            write_report(j, tmp_path / "file")


@pytest.mark.parametrize(
    ("spacing", "n", "want"),
    [
        (MINUTE, 10_000, 1_440),  # a day of minute bars
        (MINUTE, 500, 499),  # capped at the number of returns
        (5 * MINUTE, 1_000, 288),
        (HOUR, 200, 24),
        (2 * HOUR, 200, 100),  # 12 bars a day is too few: 100 points
        (DAY, 500, 100),
        (DAY, 50, 49),
        (DAY, 20, None),  # 19 returns: too few for a rolling VaR
    ],
)
def test_var_window(spacing, n, want):
    assert var_window(T + spacing * np.arange(n)) == want


def test_control_characters_in_journal_text_are_shown_escaped(tmp_path):
    """Issue 14, row 15: a kill reason holding terminal escapes, in the page, is shown as
    text (``\\x1b``), HTML-escaped, never as the raw bytes."""
    hostile = "\x1b[2J\x1b[31mPWNED\r\x07<i>x</i>"
    e = rg.RiskEngine(equity=1e4, ts=T)
    e.symbol_id("BTC")
    with Journal(url(tmp_path / "j.db")) as j:
        j.write(events=e.on_tick("BTC", 100.0, T + MINUTE), snapshot=e)
        j.write(events=e.kill(hostile, T + 2 * MINUTE), snapshot=e)
        j.write(events=e.on_tick("BTC", 101.0, T + 3 * MINUTE), snapshot=e)
    page = write_report(url(tmp_path / "j.db"), tmp_path / "out")[-1].read_text("utf-8")
    for raw in ("\x1b", "\r", "\x07", "<i>"):
        assert raw not in page
    [trip] = table_after(page, "Breaker trips")
    assert trip[2] == r"kill switch engaged: \x1b[2J\x1b[31mPWNED\r\x07<i>x</i>"


def test_an_error_never_shows_the_urls_password(tmp_path):
    """Issue 14, row 12: a URL SQLAlchemy cannot parse, and one whose driver fails."""
    for bad in (
        "postgresql+psycopg://u:Qz7ReportPw@127.0.0.1:abc/db",
        "postgresql+psycopg://u:Qz7ReportPw@127.0.0.1:1/db",
    ):
        with pytest.raises(JournalError) as info:
            write_report(bad, tmp_path / "out")
        assert "Qz7ReportPw" not in str(info.value) and "u:***@127.0.0.1" in str(info.value)
