"""``riskguard run``: the whole live stack on one configuration (the venue, its streams, the
Guard, the journal, the alerts) driven by a strategy, until SIGINT or SIGTERM.

- :func:`load_strategy`: a built-in strategy by name (run live over its last bars, see
  :class:`BarStrategy`) or the user's own object from ``package.module:factory``;
- :func:`run_live`: runs it, printing a one-line status every ``status_s`` seconds. A stop
  ends new entries (the strategy is no longer asked), cancels the working entry orders, keeps
  the venue's stop and reduce-only orders and the Guard's own closes, closes the journal
  cleanly, and flattens first only with ``guard.flatten_on_exit = true``. The engine's own
  stops are watched only while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import polars as pl

from riskguard._core import RiskError, Signal
from riskguard.app.config import Config
from riskguard.errors import ConfigError
from riskguard.model.market import Bar
from riskguard.model.orders import OrderType
from riskguard.redact import redact, safe_url

__all__ = ["BarStrategy", "load_strategy", "run_live", "status_line"]


class BarStrategy:
    """A built-in batch strategy (:mod:`riskguard.strategies`: bars in, signals out) run live:
    it keeps the last ``window`` bars of each symbol and, at each closed bar, returns the
    signals the strategy issues at that bar, entering at its close. Nothing looks ahead: the
    strategy sees the bars up to the one that just closed."""

    def __init__(self, fn: Callable[[pl.DataFrame], pl.DataFrame], *, window: int = 400) -> None:
        self.fn = fn
        self.window = window
        self._bars: dict[str, deque[tuple[int, float, float, float, float, float]]] = {}

    def on_bar(self, bar: Bar) -> list[Signal]:
        rows = self._bars.setdefault(bar.symbol, deque(maxlen=self.window))
        rows.append((bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume))
        frame = pl.DataFrame(
            list(rows), schema=["ts", "open", "high", "low", "close", "volume"], orient="row"
        ).with_columns(pl.lit(bar.symbol).alias("symbol"))
        issued = self.fn(frame).filter(pl.col("ts") == bar.ts)
        return [_signal(row, bar.close) for row in issued.iter_rows(named=True)]


def _signal(row: dict[str, Any], entry: float) -> Signal:
    def get(name: str) -> Any:
        value = row.get(name)
        return None if value is None or value != value else value  # NaN is absent

    return Signal(
        row["symbol"],
        row["side"],
        entry,
        stop=get("stop"),
        target=get("target"),
        confidence=get("confidence"),
        consensus=get("consensus"),
        atr=get("atr"),
        ema=get("ema"),
        volume_24h=get("volume_24h"),
    )


def load_strategy(spec: str) -> Any:
    """The strategy named ``spec``: a built-in one (``ema-cross``) wrapped in
    :class:`BarStrategy`, or ``package.module:factory``, called without arguments, whose
    result has ``on_bar(bar)`` and/or ``on_tick(tick)`` returning signals.

    Raises RiskError: an unknown name, a module or factory that cannot be loaded, an object
    with neither method.
    """
    from riskguard.strategies import STRATEGIES, strategy

    if ":" not in spec:
        if spec not in STRATEGIES:
            raise RiskError(
                f"unknown strategy {spec!r}; built in: {', '.join(sorted(STRATEGIES))}, or "
                "give package.module:factory"
            )
        return BarStrategy(strategy(spec))
    module, _, name = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise RiskError(f"strategy {spec!r} cannot be loaded: {e}") from None
    made = factory()
    if not (hasattr(made, "on_bar") or hasattr(made, "on_tick")):
        raise RiskError(f"strategy {spec!r} has neither on_bar nor on_tick")
    return made


def status_line(guard: Any, started: float) -> str:
    """One line: the state, equity, drawdown, positions, the feed's counts and the uptime."""
    s = guard.status()
    stats = guard.feed_stats
    up = int(time.monotonic() - started)
    return (
        f"{time.strftime('%H:%M:%S', time.gmtime())} UTC  {s.state}"
        f"{' paused' if s.paused else ''}  equity {s.equity:,.2f}  dd {s.drawdown:.2%}  "
        f"positions {len(s.positions)}  ticks {stats['ticks']}  bars {stats['bars']}  "
        f"signals {stats['signals']}  up {up // 3600}h{up // 60 % 60:02d}m"
    )


async def run_live(
    config: Config,
    strategy: Any,
    *,
    say: Callable[[str], None] = print,
    status_s: float = 60.0,
    stop: asyncio.Event | None = None,
) -> dict[str, Any]:
    """Runs ``strategy`` live on ``config`` until ``stop`` is set, SIGINT or SIGTERM. Returns
    the final status and the feed's counts.

    Raises ConfigError: not a live ``[broker]``. Whatever starting the Guard raises (the venue
    unreachable, its keys refused, the journal held by another Guard).
    """
    from riskguard.guard import Guard

    if not config.broker.live:
        raise ConfigError(
            [("broker.type", f"riskguard run needs a live venue, not {config.broker.type!r}")]
        )
    broker = config.broker
    if broker.base_url is not None:
        # The gateway decides which market it is: riskguard cannot tell a sandbox from money.
        say(
            f"{broker.type}: through the gateway {safe_url(broker.base_url)} "
            f"(testnet = {str(broker.testnet).lower()}; the gateway decides what it trades)"
        )
    elif broker.testnet:
        say(f"{broker.type}: TESTNET (the sandbox); broker.testnet = false trades real money")
    else:
        say(f"!!! {broker.type}: LIVE — REAL MONEY (broker.testnet = false) !!!")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    guard = Guard(config)
    venue = guard.broker
    started = time.monotonic()
    try:
        async with guard:
            await venue.start()
            runner = asyncio.create_task(guard.run(venue.feed(), strategy=strategy), name="run")
            say(f"running {', '.join(broker.symbols or ())} on {broker.type}; Ctrl-C stops")
            while not stop.is_set() and not runner.done():
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), status_s)
                if not runner.done():
                    say(status_line(guard, started))
            runner.cancel()  # no more entries: the strategy is no longer asked
            await asyncio.gather(runner, return_exceptions=True)
            if runner.done() and not runner.cancelled() and runner.exception() is not None:
                say(redact(f"the feed failed: {runner.exception()}"))
            await _cancel_entries(guard)
            if config.guard.flatten_on_exit:
                say("flattening (guard.flatten_on_exit)")
                left = await venue.flatten()
                if left:
                    say(f"still held after flattening: {left}")
                # The closing fills reach the engine and the journal through the user stream.
                deadline = time.monotonic() + 10.0
                while guard.status().positions and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
            final = status_line(guard, started)
            say(f"stopped: {final}")
            return {"status": guard.status(), "feed": dict(guard.feed_stats)}
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


async def _cancel_entries(guard: Any) -> None:
    """Cancels the working orders that open risk: neither the Guard's own closes nor
    protective stops, which stay to guard what is open."""
    venue = guard.broker
    for order in await guard.gateway.call(venue.open_orders):
        cid = order.client_order_id or ""
        if cid in guard.book.sent or order.reduce_only:
            continue
        if order.type in (OrderType.STOP, OrderType.STOP_LIMIT, OrderType.TRAILING_STOP):
            continue
        with contextlib.suppress(Exception):
            await guard.gateway.call(venue.cancel, cid)
