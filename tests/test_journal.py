"""``riskguard.Journal`` on SQLite and on a real PostgreSQL server: durable writes, group-committed
decisions, restore, control actions, schema versions and failing closed on a bad journal."""

from __future__ import annotations

import math
import sqlite3

import pytest
import riskguard as rg
import sqlalchemy as sa
from riskguard.journal import SCHEMA_VERSION, Journal, JournalError

try:
    from . import postgres_server
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    import postgres_server

NS = 1_000_000_000
T0 = 1_641_168_000 * NS


@pytest.fixture(scope="module")
def pg_url():
    with postgres_server.postgres_url() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.db'}"
    base = request.getfixturevalue("pg_url")
    # A fresh database per test, so that tests cannot see each other's rows.
    name = f"rg_{abs(hash(request.node.nodeid)) % 10**12}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return base.rsplit("/", 1)[0] + f"/{name}"


def busy_engine() -> tuple[rg.RiskEngine, list]:
    """An engine with a managed trade and a tripped breaker, and the events it reported."""
    e = rg.RiskEngine(rg.Limits(daily_loss=0.01, signal_filters=False), 10_000.0, T0)
    d = e.evaluate_signal(
        rg.Signal("BTC", "long", 100.0, stop=95.0, target=115.0, quantity=10.0), T0 + 1
    )
    assert d.approved
    events = e.on_fill("BTC", 10.0, 100.0, T0 + 2, fee=1.0)
    events += e.on_tick("BTC", 98.0, T0 + NS)
    events += e.kill("operator", T0 + 2 * NS)
    return e, events


def test_snapshots_events_and_trades_round_trip(url):
    engine, events = busy_engine()
    with Journal(url) as j:
        assert j.schema_version() == SCHEMA_VERSION
        assert j.restore() is None
        j.record_events(events)
        first = j.save_snapshot(engine)
        engine.on_tick("BTC", 99.0, T0 + 3 * NS)
        second = j.save_snapshot(engine)
        assert second > first
        j.record_trades(engine.trades())
        j.record_trades(engine.trades())  # a second record of a trade replaces the first
    with Journal(url) as j:
        restored = j.restore()
        assert restored.to_bytes() == engine.to_bytes()
        assert restored.state == rg.TradingState.HALTED  # the kill switch survives
        stored = j.events()
        assert [r["kind"] for r in stored] == [e.kind for e in events]
        assert [r["message"] for r in stored] == [e.message for e in events]
        for row, e in zip(stored, events, strict=True):
            assert row["value"] == (None if math.isnan(e.value) else e.value)
        assert [t["state"] for t in j.trades()] == [t.state for t in engine.trades()]
        assert j.check() == []


def test_decisions_are_group_committed_and_flushed_on_close(url):
    e = rg.RiskEngine(rg.Limits(signal_filters=False), 10_000.0, T0)
    signal = rg.Signal("BTC", "long", 100.0, stop=99.0, target=100.5, quantity=1.0)
    decision = e.evaluate_signal(signal, T0)
    assert decision.codes == ["REWARD_RISK_TOO_LOW"]
    j = Journal(url)
    for k in range(500):
        j.record_decision(decision, T0 + k, signal)
    j.record_decision(decision, T0 + 500, durable=True)
    j.close()
    with Journal(url) as j:
        rows = j.decisions()
    assert len(rows) == 501
    assert rows[0]["codes"] == ["REWARD_RISK_TOO_LOW"]
    assert rows[0]["reasons"][0]["limit"] == 1.5
    assert rows[0]["signal"]["stop"] == 99.0
    assert rows[-1]["signal"] is None
    assert [r["ts"] for r in rows[:-1]] == [T0 + k for k in range(500)]


def test_orders_fills_and_controls(url):
    with Journal(url) as j:
        j.record_order(T0, "c-1", "BTC", 0.5, "market", "sent", tif="GTC")
        j.record_fill(T0 + 1, "c-1", "BTC", 0.5, 100.2, 0.05, requested=100.0, slippage=0.2)
        kill = j.record_control("kill", T0 + 2, reason="runaway", actor="ops")
        j.record_control("reset", T0 + 3, name="kill_switch", actor="ops")
        assert [c.action for c in j.pending_controls()] == ["kill", "reset"]
        j.mark_handled(kill, T0 + 4)
        assert [c.action for c in j.pending_controls()] == ["reset"]
        assert j.controls()[0].handled_ts == T0 + 4
        assert j.orders()[0]["client_order_id"] == "c-1"
        assert j.fills()[0]["price"] == 100.2
        with pytest.raises(JournalError, match="action must be one of"):
            j.record_control("explode", T0)
        with pytest.raises(JournalError, match="name"):
            j.record_control("reset", T0)


def test_a_corrupt_snapshot_fails_closed(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    engine, _ = busy_engine()
    with Journal(url) as j:
        j.save_snapshot(engine)
    with sqlite3.connect(tmp_path / "journal.db") as c:
        (image,) = c.execute("SELECT image FROM rg_snapshots").fetchone()
        bad = bytes(image[:-1]) + bytes([image[-1] ^ 1])
        c.execute("UPDATE rg_snapshots SET image = ?", (bad,))
    with pytest.raises(JournalError, match="snapshot 1 cannot be restored"):
        Journal(url)


def test_a_newer_schema_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    Journal(url).close()
    with sqlite3.connect(tmp_path / "journal.db") as c:
        c.execute(
            "UPDATE rg_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
        )
    with pytest.raises(JournalError, match="reads up to"):
        Journal(url)


def test_a_file_that_is_not_a_database_fails_closed(tmp_path):
    path = tmp_path / "journal.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError, match="cannot open the journal"):
        Journal(f"sqlite:///{path}")
    with pytest.raises(JournalError, match="url"):
        Journal("")


def test_sqlite_is_in_wal_mode_with_full_sync(tmp_path):
    with Journal(f"sqlite:///{tmp_path / 'journal.db'}") as j:
        with j._engine.connect() as c:
            assert c.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
            assert c.execute(sa.text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_a_failed_group_commit_is_raised_not_hung_and_closed_journals_refuse(url):
    e = rg.RiskEngine(rg.Limits(signal_filters=False), 10_000.0, T0)
    d = e.evaluate_signal(rg.Signal("BTC", "long", 100.0, stop=95.0, quantity=1.0), T0)
    j = Journal(url)
    j.record_decision(d, T0)
    failed = j.record_decision(d, 2**63)  # beyond any SQL integer: that decision fails
    with pytest.raises(JournalError, match="writer failed"):
        j.flush()
    with pytest.raises(JournalError, match="writer failed"):
        failed.result(timeout=30)
    # Not sticky: the failure fails only its own decision; later ones are committed.
    assert j.record_decision(d, T0 + 1).result(timeout=30) is None
    j.flush()
    assert j.failure is None
    j.close()
    j2 = Journal(url)
    assert [r["ts"] for r in j2.decisions()] == [T0, T0 + 1]
    j2.close()
    with pytest.raises(JournalError, match="closed"):
        j2.record_decision(d, T0)
    with pytest.raises(JournalError, match="closed"):
        j2.flush()


def test_values_sql_cannot_hold_alike_are_refused_on_both_databases(url):
    with Journal(url) as j:
        long_symbol = "X" * 300
        j.record_order(T0, "c-" + "9" * 200, long_symbol, 1.0, "limit", "sent")
        assert j.orders()[0]["symbol"] == long_symbol
        for bad in (math.nan, math.inf):
            with pytest.raises(JournalError, match="price must be a finite number"):
                j.record_fill(T0, "c-1", "BTC", 1.0, bad)
        with pytest.raises(JournalError, match="qty must be a finite number"):
            j.record_order(T0, "c-2", "BTC", math.nan, "market", "sent")
        assert j.fills() == []


def test_a_step_is_written_whole_or_not_at_all(url):
    from riskguard.journal import control_row, fill_row, order_row

    engine, events = busy_engine()
    with Journal(url) as j:
        sid = j.write(
            snapshot=engine,
            events=events,
            orders=[order_row(T0, "c1", "BTC", -10.0, "market", "pending", purpose="flatten")],
            fills=[fill_row(T0, "c0", "BTC", 10.0, 100.0, 1.0, liquidity="taker")],
            trades=engine.trades(),
            controls=[control_row("kill", T0, reason="operator", actor="alice", handled_ts=T0)],
        )
        assert [s[0] for s in j.snapshots()] == [sid]
        assert j.snapshots()[0][2] == engine.to_bytes()
        counts = (len(j.events()), len(j.orders()), len(j.fills()), len(j.trades()))
        assert counts == (len(events), 1, 1, 1)
        assert j.pending_controls() == [] and j.controls()[0].actor == "alice"
        # A row the database refuses (a NULL symbol) fails the whole step: nothing is stored.
        bad = order_row(T0, "c2", "BTC", 1.0, "market", "pending")
        bad["symbol"] = None
        with pytest.raises(JournalError, match="journal write failed"):
            j.write(snapshot=engine, events=events, orders=[bad])
        assert len(j.snapshots()) == 1 and len(j.events()) == len(events)
        assert len(j.orders()) == 1


def test_a_decision_future_completes_once_committed(url):
    engine, _ = busy_engine()
    signal = rg.Signal("BTC", "long", 100.0, stop=99.0, target=100.5)
    decision = engine.evaluate_signal(signal, T0 + 3 * NS)
    with Journal(url, batch=8) as j:
        futures = [j.record_decision(decision, T0 + i, signal) for i in range(50)]
        for f in futures:
            assert f.result(timeout=30) is None
        with Journal(url) as other:  # committed: another connection sees every one
            assert len(other.decisions()) == 50
        durable = j.record_decision(decision, T0 + 99, signal, durable=True)
        assert durable.done() and len(j.decisions()) == 51


def test_row_builders_refuse_non_finite_values():
    from riskguard.journal import control_row, fill_row, order_row

    with pytest.raises(JournalError, match="qty"):
        order_row(T0, "c", "BTC", math.nan, "market", "pending")
    for bad in ({"qty": math.inf}, {"price": math.nan}, {"fee": -math.inf}):
        args = {"qty": 1.0, "price": 100.0, "fee": 0.0} | bad
        with pytest.raises(JournalError, match=next(iter(bad))):
            fill_row(T0, "c", "BTC", **args)
    with pytest.raises(JournalError, match="action"):
        control_row("explode", T0)
    with pytest.raises(JournalError, match="name"):
        control_row("reset", T0)


def test_a_read_that_fails_is_a_journal_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    with Journal(url) as j:
        db = sqlite3.connect(tmp_path / "journal.db")
        db.execute("DROP TABLE rg_control")
        db.commit()
        db.close()
        with pytest.raises(JournalError, match="journal read failed"):
            j.pending_controls()
        with pytest.raises(JournalError, match="journal read failed"):
            j.controls()


def test_series_round_trip_and_replace(url):
    with Journal(url) as j:
        j.write_series("equity", [T0, T0 + NS, T0 + 2 * NS], [100.0, math.nan, 102.5])
        ts, values = j.series("equity")
        assert ts == [T0, T0 + NS, T0 + 2 * NS]
        assert values[0] == 100.0 and math.isnan(values[1]) and values[2] == 102.5
        j.write_series("equity", [T0], [1.0])  # replaces the whole series
        assert j.series("equity") == ([T0], [1.0])
        j.write_series("baseline_equity", [], [])
        assert j.series_names() == ["equity"]
        assert j.series("nothing") == ([], [])
        with pytest.raises(JournalError, match="length"):
            j.write_series("x", [T0], [])
        with pytest.raises(JournalError, match="name"):
            j.write_series("", [T0], [1.0])


def test_a_version_1_journal_is_migrated(tmp_path):
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    with Journal(url):
        pass
    db = sqlite3.connect(tmp_path / "journal.db")
    db.execute("DROP TABLE rg_series")  # what version 1 had
    db.execute("DROP TABLE rg_lease")
    db.execute("DROP INDEX ix_rg_control_source_id")
    db.execute("ALTER TABLE rg_control DROP COLUMN source_id")
    db.execute("INSERT INTO rg_control (ts, action, reason, actor) VALUES (1, 'kill', '', 'ops')")
    db.execute("UPDATE rg_meta SET value = '1' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with Journal(url) as j:
        assert j.schema_version() == SCHEMA_VERSION == 3
        j.write_series("equity", [T0], [1.0])
        assert j.series("equity") == ([T0], [1.0])
        j.acquire_lease("guard")  # the lease table came with version 3
        # A control an older riskguard recorded in the journal itself is still pending.
        (kill,) = j.pending_controls()
        assert kill.action == "kill"
        j.write(handled=[(kill.id, T0)])
        assert j.pending_controls() == []


def test_a_recorded_control_wakes_a_listener(url):
    import threading

    with Journal(url) as j:
        if j.dialect != "postgresql":
            assert j.wait_for_control(0.01) is False  # SQLite: the caller polls
            return
        assert j.wait_for_control(0.01) is False  # LISTENing from now on; nothing recorded
        heard: list[bool] = []
        listener = threading.Thread(target=lambda: heard.append(j.wait_for_control(60.0)))
        listener.start()
        with Journal(url) as cli:
            cli.record_control("kill", T0, reason="from the cli", actor="ops")
        listener.join(90)
        assert heard == [True]  # woken by the NOTIFY, not by the 60 s timeout
