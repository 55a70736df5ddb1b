"""asv benchmarks for the pre-trade gate and the exit policies of ``riskguard.RiskEngine``:
``evaluate_signal``, ``check_order``, and ``on_ticks`` over managed trades.

The gate works on a small book (three open positions, one without a stop, caller-given
correlations, a lot size, a mark on every symbol) at the default limits; the signal carries
every field, so every check of the signal-quality group runs. The exit benchmark opens one
managed trade per symbol through ``evaluate_signal`` and ``on_fill`` and feeds a seeded
per-symbol random walk, on which some trades move their stop to breakeven, take partial
profits, trail or exit, while most stay managed to the end.

As in ``engine.py``, a benchmark that changes the engine has ``number = 1`` and a ``setup``
that restores it from a cached image, so every timed call does the same work from the same
state. The side-by-side table (with a pure-Python gate as a peer) is ``benches/compare.py``,
which times the same book and signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import riskguard as rg

from .engine import random_walk

NS = 1_000_000_000
T0 = (1_641_168_000 + 86_400 - 300) * NS  # Monday 3 January 2022, 23:55 UTC: a day roll early on
TS = T0 + 10 * NS
EQUITY = 1e6

BOOK = (  # (symbol, qty, price, stop)
    ("BTC", 1.0, 40_000.0, 38_500.0),
    ("ETH", -8.0, 2_500.0, None),
    ("SOL", 200.0, 100.0, 94.0),
)
SYMBOLS = ["BTC", "ETH", "SOL", "LINK"]
MARKS = [40_120.0, 2_490.0, 101.0, 15.0]
CORRELATION = np.array(
    [
        [1.0, 0.55, 0.6, 0.6],
        [0.55, 1.0, 0.5, 0.45],
        [0.6, 0.5, 1.0, 0.4],
        [0.6, 0.45, 0.4, 1.0],
    ]
)
SIGNAL = {
    "symbol": "LINK",
    "side": "long",
    "entry": 15.02,
    "stop": 14.5,
    "target": 16.6,
    "confidence": 0.8,
    "consensus": "STRONG",
    "atr": 0.3,
    "ema": 14.6,
    "volume_24h": 5e7,
    "spread_bps": 3.0,
}


LOT_SIZE = ("LINK", 0.1)


@cache
def gate_image(sizing: str) -> bytes:
    """The book on an engine of ``EQUITY`` at the default limits but ``sizing``: the positions
    opened at ``T0``, LINK interned with its lot size, every pair's correlation given, and every
    symbol marked at ``T0 + 5 s``."""
    engine = rg.RiskEngine(equity=EQUITY, ts=T0, limits=rg.Limits(sizing=sizing))
    for symbol, qty, price, _ in BOOK:
        engine.on_fill(symbol, qty, price, T0)
    for symbol, _, _, stop in BOOK:
        if stop is not None:
            engine.set_stop(symbol, stop)
    engine.symbol_id("LINK")
    engine.set_lot_size(*LOT_SIZE)
    engine.set_correlation(SYMBOLS, CORRELATION)
    for symbol, mark in zip(SYMBOLS, MARKS, strict=True):
        engine.on_tick(symbol, mark, T0 + 5 * NS)
    return engine.to_bytes()


class EvaluateSignal:
    """One ``evaluate_signal`` from Python that passes every check, sized by a single method
    (``fixed_fractional``) or by combining three (``consensus``); and one refused by the
    signal-quality group (a confidence below the floor), which still runs every check. Time per
    call."""

    params = (["fixed_fractional", "consensus"], ["approved", "refused"])
    param_names = ["sizing", "outcome"]
    number = 1
    repeat = (50, 500, 10.0)

    def setup(self, sizing, outcome):
        self.engine = rg.RiskEngine.from_bytes(gate_image(sizing))
        fields = SIGNAL | ({"confidence": 0.5} if outcome == "refused" else {})
        self.signal = rg.Signal(**fields)

    def time_evaluate_signal(self, sizing, outcome):
        self.engine.evaluate_signal(self.signal, TS)


class CheckOrder:
    """One ``check_order`` from Python: adding to the BTC long (every non-reducing check), buying
    a symbol without a position, or reducing the ETH short (only the collar and duplicate
    checks). The engine has one accepted order on record, so the duplicate and rate checks
    look at a live history. Time per call."""

    params = (["add", "new", "reduce"],)
    param_names = ["order"]
    number = 1
    repeat = (50, 500, 10.0)

    def setup(self, order):
        self.engine = rg.RiskEngine.from_bytes(gate_image("fixed_fractional"))
        self.engine.check_order("BTC", 0.05, 40_110.0, TS)
        self.args = {
            "add": ("BTC", 0.05, 40_125.0, TS + NS // 5),
            "new": ("LINK", 100.0, 15.01, TS + NS // 5),
            "reduce": ("ETH", 4.0, 2_491.0, TS + NS // 5),
        }[order]

    def time_check_order(self, order):
        self.engine.check_order(*self.args)


@dataclass(frozen=True)
class ManagedBook:
    opened: bytes  # every trade open and managed, before the first tick
    ids: np.ndarray  # uint32
    prices: np.ndarray  # float64
    ts: np.ndarray  # int64


@cache
def managed_book(n_trades: int, n_ticks: int) -> ManagedBook:
    """``n_ticks`` ticks of uniformly random symbols, each on its own geometric random walk
    (per-tick log sd 0.5 to 2 bp), 1 ms apart on average, over one managed trade per symbol
    with its stop 0.5 to 3 % away, its target at 4 R and an ATR for trailing. Every breaker is
    armed at its default but ``position_loss``, whose flatten request would end a trade's exit
    policy before its own stop does."""
    rng = np.random.default_rng([13, n_trades, n_ticks])
    start = rng.uniform(10.0, 1000.0, n_trades)
    side = rng.choice([-1.0, 1.0], n_trades)
    vol = rng.uniform(5e-5, 2e-4, n_trades)
    risk = rng.uniform(0.005, 0.03, n_trades)
    ids, prices, ts = random_walk(rng, start, vol, n_ticks, T0)
    limits = rg.Limits(
        position_loss=None, max_positions=n_trades, max_correlation=None, signal_filters=False
    )
    engine = rg.RiskEngine(equity=1e9, ts=T0, limits=limits)
    for k in range(n_trades):
        p, s, r = float(start[k]), float(side[k]), float(risk[k])
        qty = max(round(1e5 / p, 3), 0.001)
        signal = rg.Signal(
            f"SYM{k:04d}",
            "long" if s > 0 else "short",
            p,
            stop=p * (1 - s * r),
            target=p * (1 + s * 4.0 * r),
            atr=p * r / 1.5,
            quantity=qty,
        )
        if not engine.evaluate_signal(signal, T0).approved:
            raise RuntimeError(f"the signal for SYM{k:04d} was refused")
        engine.on_fill(f"SYM{k:04d}", s * qty, p, T0)
    return ManagedBook(engine.to_bytes(), ids, prices, ts)


class OnTicksManaged:
    """``on_ticks`` over a batch with one managed trade per symbol under active exit policies;
    time per batch (divide by ``n_ticks`` for the time per tick)."""

    params = ([100], [100_000, 1_000_000])
    param_names = ["n_trades", "n_ticks"]
    number = 1
    repeat = (3, 10, 20.0)

    def setup(self, n_trades, n_ticks):
        self.book = managed_book(n_trades, n_ticks)
        self.engine = rg.RiskEngine.from_bytes(self.book.opened)

    def time_on_ticks(self, n_trades, n_ticks):
        self.engine.on_ticks(self.book.ids, self.book.prices, self.book.ts)

    def track_exit_signals(self, n_trades, n_ticks):
        events = self.engine.on_ticks(self.book.ids, self.book.prices, self.book.ts)
        return sum(1 for e in events if e.kind == "exit_signal")

    track_exit_signals.unit = "events"
