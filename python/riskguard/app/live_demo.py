"""`riskguard demo --venue fake`: the live stack end to end, without keys or the network.

It starts the fake venue of :mod:`riskguard.testing` on 127.0.0.1, points a ``binanceusdm``
broker at it (the real ccxt client, its REST calls and its WebSockets), and replays a seeded
synthetic session into the venue's market: each bar is a trade on the exchange and a kline on
its stream. ``riskguard run``'s loop (:func:`riskguard.app.live.run_live`) drives the Guard with
the built-in ``ema-cross`` strategy; at the end of the session it stops, flattens, and the demo
checks the journal against the venue: the same fills, by the venue's own ids, and flat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from riskguard.app.config import Config
from riskguard.app.demo import demo_bars
from riskguard.app.live import BarStrategy, run_live
from riskguard.errors import ConfigError
from riskguard.strategies import ema_cross

__all__ = ["run_live_demo"]

MARKET, SYMBOL = "BTCUSDT", "BTC/USDT:USDT"
KEY, SECRET = "demo-key", "demo-secret"
MINUTE_MS = 60_000


async def _replay(fake: Any, bars: Any, pace_s: float, done: asyncio.Event) -> None:
    """Each bar of ``bars`` as the market: a trade at its close (stamped at the bar's close)
    and a closed kline on the stream, ``pace_s`` seconds apart; the bars are stamped minutes
    apart ending now, so that the venue's data is never ahead of the wall clock."""
    exchange = fake.exchange("binanceusdm")
    dialect = fake.dialects["binanceusdm"]
    n = len(bars)
    start_ms = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS - (n + 1) * MINUTE_MS
    for i, (o, h, lo, c, v) in enumerate(bars):
        t = start_ms + i * MINUTE_MS
        exchange.set_price(MARKET, c, ts=(t + MINUTE_MS) * 1_000_000)
        dialect.publish_bar(MARKET, o, h, lo, c, v, t)
        await asyncio.sleep(pace_s)
    dialect.publish_bar(MARKET, c, c, c, c, 0.0, start_ms + n * MINUTE_MS)  # closes the last
    await asyncio.sleep(1.0)
    done.set()


def run_live_demo(
    *,
    seed: int = 7,
    out: str | Path | None = None,
    console: Console | None = None,
    bars: int = 480,
    pace_s: float = 0.01,
) -> dict[str, Any]:
    """Runs the demo (see the module) and prints it on ``console``. ``bars`` bars of the
    seeded session are replayed ``pace_s`` seconds apart; the journal goes to ``out`` (a
    temporary directory by default). Returns the figures it prints.

    Raises ConfigError: ccxt or aiohttp missing (``pip install "riskguard[ccxt,testing]"``).
    """
    try:
        from riskguard.testing.fake import FakeVenue, dialect, exchange_for
    except ImportError as e:
        raise ConfigError(
            [("demo", f'the fake venue needs pip install "riskguard[ccxt,testing]" ({e.name})')]
        ) from None
    console = console or Console()
    where = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="riskguard-live-"))
    where.mkdir(parents=True, exist_ok=True)
    journal = where / "live.db"
    frame = demo_bars(seed).filter(symbol="BTC").head(bars)
    scale = 500.0  # the synthetic market starts at 100: a BTC-like price
    rows = [
        (o * scale, h * scale, lo * scale, c * scale, v / 1e4)
        for o, h, lo, c, v in frame.select("open", "high", "low", "close", "volume").iter_rows()
    ]
    exchange = exchange_for(
        MARKET, "swap", tick=0.1, lot=0.001, min_notional=100.0, price=rows[0][0]
    )
    with FakeVenue([dialect("binanceusdm", exchange, api_key=KEY, secret=SECRET)]) as fake:
        config = Config.load(
            None,
            broker={
                "type": "binanceusdm",
                "symbols": [SYMBOL],
                "base_url": fake.base_url("binanceusdm"),
                "ws_url": fake.ws_url("binanceusdm"),
                "api_key": KEY,
                "secret": SECRET,
                "dead_man_s": 60,
            },
            journal={"url": f"sqlite:///{journal}"},
            guard={"flatten_on_exit": True, "equity": 100_000.0},
            # Minute bars of a daily synthetic market: its volume and spread are not a
            # venue's, so the gate's market-quality checks are off; every breaker stays armed.
            limits={
                "min_confidence": "off",
                "min_volume_24h": "off",
                "max_spread_bps": "off",
                "max_atr_ratio": "off",
                "require_trend": False,
            },
        )
        console.print(
            f"[bold]riskguard demo --venue fake[/]: binanceusdm through ccxt at "
            f"{fake.base_url('binanceusdm')}, {len(rows)} bars of a seeded session"
        )
        started = time.monotonic()
        result = asyncio.run(_run(config, fake, rows, pace_s, console))
        elapsed = time.monotonic() - started
        trades = exchange.my_trades()
        venue_position = exchange.position(MARKET).qty
        orders = list(exchange.orders.values())
    fills = sqlite3.connect(journal).execute("SELECT details FROM rg_fills").fetchall()
    journaled = {json.loads(d).get("fill_id") for (d,) in fills} - {None, ""}
    decisions = (
        sqlite3.connect(journal)
        .execute("SELECT approved, COUNT(*) FROM rg_decisions GROUP BY approved")
        .fetchall()
    )
    counts = {bool(a): n for a, n in decisions}
    figures = {
        "bars": result["feed"]["bars"],
        "signals": result["feed"]["signals"],
        "approved": counts.get(True, 0),
        "refused": counts.get(False, 0),
        "orders": len(orders),
        "venue_fills": len(trades),
        "journal_fills": len(journaled),
        "same_fills": journaled == {str(t.trade_id) for t in trades},
        "venue_position": venue_position,
        "seconds": elapsed,
        "journal": str(journal),
    }
    table = Table(title="the live path, checked against the venue")
    table.add_column("")
    table.add_column("", justify="right")
    for name, value in (
        ("bars from the venue's kline stream", figures["bars"]),
        ("signals from ema-cross", figures["signals"]),
        ("approved by the gate / refused", f"{figures['approved']} / {figures['refused']}"),
        ("orders the venue received", figures["orders"]),
        ("fills at the venue / in the journal", f"{len(trades)} / {len(journaled)}"),
        ("journal fills = venue fills, by id", "yes" if figures["same_fills"] else "NO"),
        ("venue position after the stop", f"{venue_position:g}"),
        ("wall time", f"{elapsed:.1f} s"),
    ):
        table.add_row(name, str(value))
    console.print(table)
    console.print(f"journal: {journal}  (riskguard status --journal sqlite:///{journal})")
    return figures


async def _run(config: Config, fake: Any, rows: list[Any], pace_s: float, console: Any) -> Any:
    done = asyncio.Event()
    replay = asyncio.create_task(_replay(fake, rows, pace_s, done))
    try:
        return await run_live(
            config, BarStrategy(ema_cross), say=console.print, status_s=2.0, stop=done
        )
    finally:
        replay.cancel()
        with contextlib.suppress(BaseException):
            await replay
