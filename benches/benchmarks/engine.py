"""asv benchmarks for ``riskguard.RiskEngine``: the tick path (batch and one call at a time),
fills, snapshots and the binary image.

Every engine holds one open position per symbol (half with a stop) with every breaker armed at
its default limits, on an account large enough (1e9 against ~1e5 per position) that breakers
mostly stay quiet while prices follow a seeded per-symbol random walk.

The engine is stateful, so every benchmark that changes it has ``number = 1`` and a ``setup``
that restores it from a cached image: asv runs ``setup`` before each sample, so every timed
call does the same work from the same state (a few µs of ``from_bytes``, outside the timer).
Single calls (``on_tick``, ``on_fill``) run on a "warm" engine that has already consumed a
stream, so that volatility estimates, marks and stops are all live. The comparison with a
pure-Python monitor lives in ``benches/compare.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import riskguard as rg

NS = 1_000_000_000
T0 = (1_641_168_000 + 86_400 - 300) * NS  # Monday 3 January 2022, 23:55 UTC: a day roll early on
EQUITY = 1e9


def random_walk(
    rng: np.random.Generator, start: np.ndarray, vol: np.ndarray, n: int, t0: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` ticks of uniformly random symbols ``0 .. len(start) - 1``, each on its own geometric
    random walk from ``start`` with per-tick log sd ``vol``, exponential gaps of 1 ms on average
    from ``t0``: ids (uint32), prices (float64) and timestamps (int64, non-decreasing)."""
    n_symbols = len(start)
    ids = rng.integers(0, n_symbols, n).astype(np.uint32)
    steps = rng.standard_normal(n) * vol[ids]
    # cumulative log return of each symbol along its own ticks
    order = np.argsort(ids, kind="stable")
    walk = np.cumsum(steps[order])
    first = np.searchsorted(ids[order], np.arange(n_symbols))
    walk -= np.concatenate(([0.0], walk))[first][ids[order]]
    log_ret = np.empty(n)
    log_ret[order] = walk
    prices = start[ids] * np.exp(log_ret)
    ts = (t0 + np.cumsum(rng.exponential(1e6, n).astype(np.int64))).astype(np.int64)
    return ids, prices, ts


@dataclass(frozen=True)
class Book:
    opened: bytes  # the image with every position open, before the first tick
    warm: bytes  # the image after every tick of the stream but the last
    ids: np.ndarray  # uint32, the stream without its last tick
    prices: np.ndarray  # float64
    ts: np.ndarray  # int64
    next_tick: tuple[int, float, int]  # the held-back last tick: (id, price, ts)
    qty: tuple[float, ...]  # each position's quantity


@cache
def make_book(n_symbols: int, n_ticks: int) -> Book:
    """``n_ticks`` ticks of uniformly random symbols, each on its own geometric random walk
    (per-tick log sd 0.5 to 2 bp), 1 ms apart on average, over one position per symbol."""
    rng = np.random.default_rng([11, n_symbols, n_ticks])
    start = rng.uniform(10.0, 1000.0, n_symbols)
    side = rng.choice([-1.0, 1.0], n_symbols)
    vol = rng.uniform(5e-5, 2e-4, n_symbols)
    ids, prices, ts = random_walk(rng, start, vol, n_ticks + 1, T0)
    qty = tuple(float(s * max(round(1e5 / p, 3), 0.001)) for s, p in zip(side, start, strict=True))
    engine = rg.RiskEngine(equity=EQUITY, ts=T0)
    for k in range(n_symbols):
        engine.on_fill(f"SYM{k:04d}", qty[k], float(start[k]), T0)
        if k % 2 == 0:
            engine.set_stop(k, float(start[k] * (1 - 0.05 * side[k])))
    opened = engine.to_bytes()
    engine.on_ticks(ids[:-1], prices[:-1], ts[:-1])
    return Book(
        opened=opened,
        warm=engine.to_bytes(),
        ids=ids[:-1],
        prices=prices[:-1],
        ts=ts[:-1],
        next_tick=(int(ids[-1]), float(prices[-1]), int(ts[-1])),
        qty=qty,
    )


class OnTicks:
    """``on_ticks`` over a batch, every breaker armed; time per batch (divide by ``n_ticks``
    for the time per tick). The tick path is O(1) per tick, so the time should not grow with
    the number of positions."""

    params = ([100, 1000], [100_000, 1_000_000])
    param_names = ["n_positions", "n_ticks"]
    number = 1
    repeat = (3, 10, 20.0)

    def setup(self, n_positions, n_ticks):
        self.book = make_book(n_positions, n_ticks)
        self.engine = rg.RiskEngine.from_bytes(self.book.opened)

    def time_on_ticks(self, n_positions, n_ticks):
        self.engine.on_ticks(self.book.ids, self.book.prices, self.book.ts)


class OnTick:
    """One ``on_tick`` call from Python with scalar arguments on a warm engine of 100
    positions, by interned id or by name; time per call."""

    params = (["id", "name"],)
    param_names = ["symbol"]
    number = 1
    repeat = (50, 500, 10.0)

    def setup(self, symbol):
        book = make_book(100, 100_000)
        self.engine = rg.RiskEngine.from_bytes(book.warm)
        i, self.price, self.ts = book.next_tick
        self.symbol = i if symbol == "id" else f"SYM{i:04d}"

    def time_on_tick(self, symbol):
        self.engine.on_tick(self.symbol, self.price, self.ts)


class OnFill:
    """One ``on_fill`` on a warm engine: adding to a position, closing one (which records a
    trade), or opening a new symbol by name; time per call. A fill re-values every position,
    so its cost grows with the book."""

    params = ([100, 1000], ["add", "close", "new"])
    param_names = ["n_positions", "fill"]
    number = 1
    repeat = (50, 500, 10.0)

    def setup(self, n_positions, fill):
        book = make_book(n_positions, 100_000)
        self.engine = rg.RiskEngine.from_bytes(book.warm)
        _, price, ts = book.next_tick
        if fill == "add":
            self.args = (1, 0.5 * book.qty[1], price, ts)
        elif fill == "close":
            self.args = (1, -book.qty[1], price, ts)
        else:
            self.args = ("NEW", 10.0, 100.0, ts)

    def time_on_fill(self, n_positions, fill):
        self.engine.on_fill(*self.args, fee=0.01)


class Views:
    """``snapshot()`` (and its dict form) and ``breakers()`` of a warm engine."""

    params = ([100, 1000],)
    param_names = ["n_positions"]
    number = 1
    repeat = (20, 200, 10.0)

    def setup(self, n_positions):
        self.engine = rg.RiskEngine.from_bytes(make_book(n_positions, 100_000).warm)

    def time_snapshot(self, n_positions):
        self.engine.snapshot()

    def time_snapshot_to_dict(self, n_positions):
        self.engine.snapshot().to_dict()

    def time_breakers(self, n_positions):
        self.engine.breakers()


class Image:
    """The versioned, CRC-checked binary image of a warm engine: ``to_bytes`` and
    ``from_bytes``."""

    params = ([100, 1000],)
    param_names = ["n_positions"]

    def setup(self, n_positions):
        self.image = make_book(n_positions, 100_000).warm
        self.engine = rg.RiskEngine.from_bytes(self.image)

    def time_to_bytes(self, n_positions):
        self.engine.to_bytes()

    def time_from_bytes(self, n_positions):
        rg.RiskEngine.from_bytes(self.image)

    def track_image_bytes(self, n_positions):
        return len(self.image)

    track_image_bytes.unit = "bytes"
