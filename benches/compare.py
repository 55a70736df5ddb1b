"""Time riskguard against its peers on the same data, in one process, and print one table.

    python benches/compare.py [--quick] [--only NAME[,NAME...]] [--repeats N] [--list]

Every row first checks that riskguard and the peer agree numerically (so the table compares
equal work), then times both, interleaved, and reports the median of several runs after a
warm-up. ``ratio`` is ``peer median / riskguard median``: above 1 means riskguard is faster.

Peers are the best honest versions a user of that library would write; where the brief asks
for "the fastest numpy recipe" the code says what was tried. numpy, pandas and empyrical run
on one core (except numpy's BLAS calls); riskguard uses every core through rayon. This script
reports, it does not judge: the exit code is 0 whether or not the targets are met.

The historical VaR+CVaR rows time the same figures two ways: ``var_cvar_*`` as the two calls
``var_historical`` and ``cvar_historical``, ``tail_risk_*`` as the one call ``tail_risk`` that
returns both from one pass over each column.

The engine rows (``engine-*``) drive ``RiskEngine`` with a seeded per-symbol random walk over
100 open positions, every breaker armed at its default. Two of them have an absolute target
(ticks per second, nanoseconds per call) instead of a peer; their agreement check holds the
batch call and the one-call-per-tick loop to the same result. ``engine-vs-python`` runs the
plain Python model of ``tests/engine_reference.py`` on a prefix of the same stream.
``engine-exits-on-ticks`` runs the same stream over 100 managed trades (opened through
``evaluate_signal`` and ``on_fill``) whose exit policies fire along the way.

The gate rows (``gate-*``) time one call from Python on a small book (three open positions,
caller-given correlations, a lot size) against an absolute target. ``gate-evaluate-signal`` also
runs the plain Python gate of ``tests/gate_reference.py`` as its peer when that file exists.

The batch rows (``batch-*``) run ``portfolio_risk`` over a million portfolios of 20 positions
(``benchmarks/batch.py`` builds the book), from the polars table to the result, against the
reference a competent numpy user would write: symbols mapped to columns, a scipy.sparse
exposure matrix times the scenario matrix, then ``np.quantile`` per row (historical), or row
norms of the exposures times the centred scenarios (parametric). ``batch-dask`` runs the same
call on a LocalCluster of two workers against the local engine and checks the frames are
identical; its ratio shows the overhead. ``polars_groupby_var`` times the ``risk`` expression
namespace of the riskguard-polars plugin against ``map_groups`` with numpy.

The live-venue rows (``venue-*``) run riskguard's Binance USD-M venue through the real ccxt.pro
client against the fake venue of ``riskguard.testing.fake`` on 127.0.0.1 (``benchmarks/venues.py``
builds both sides; each side has a fake venue of its own, served from a thread of this process,
so its Python shares the GIL and is in every figure). ``venue-order-roundtrip`` times resting
limit orders through ``Venue.submit`` against the bare client's ``create_order``; its target
bounds riskguard's overhead per order. ``venue-stream-to-engine`` times public trades from the
WebSocket into a running Guard (``guard.run(venue.feed())``, each tick's price kept by its
strategy) against the bare client's ``watch_trades`` loop keeping each trade's price, in bursts
of 1,000 (ccxt.pro's trade cache: a larger burst loses trades in both);
``venue-stream-to-engine-guard-only`` puts the same ticks straight on the venue's feed queue,
the Guard's share of that path.

The environment is reported, never changed: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (which can
slow numpy's OpenBLAS kernels) are printed if set, with numpy's BLAS as threadpoolctl (if
installed) or numpy's build configuration sees it.
"""

from __future__ import annotations

import argparse
import copy
import functools
import gc
import math
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import riskguard as rg

# the asv suite next to this file: the gate rows time its gate book and signal, and every tick
# stream is its per-symbol random walk
from benchmarks import gate as asv_gate
from benchmarks import guard as asv_guard
from benchmarks import replay as asv_replay
from benchmarks import venues as asv_venues
from benchmarks.engine import random_walk

try:
    import pandas as pd
except ImportError:  # pragma: no cover - reported as an unavailable peer
    pd = None

try:
    import empyrical as ep
except ImportError:  # pragma: no cover - reported as an unavailable peer
    ep = None

# The engine's pure-Python reference model lives with the tests; appended (not prepended) so
# that nothing in tests/ can shadow an installed module.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
try:
    import engine_reference as eref
except ImportError:  # pragma: no cover - reported as an unavailable peer
    eref = None
try:
    import gate_reference as gref
except ImportError:  # pragma: no cover - the gate rows then have no peer
    gref = None


SEED = 20240611
CONFIDENCE = 0.95

# --- data ----------------------------------------------------------------------------------------

_DATA: dict[tuple[int, int], np.ndarray] = {}


def returns(t: int, n: int) -> np.ndarray:
    """Seeded daily simple returns, float64, C-ordered, shape ``(t, n)``.

    A one-factor model with fat-tailed (Student-t, 4 dof) market shocks and normal idiosyncratic
    noise, so that columns are correlated and tails are realistic. Cached per shape.
    """
    key = (t, n)
    if key not in _DATA:
        rng = np.random.default_rng([SEED, t, n])
        market = rng.standard_t(4, size=(t, 1)) * (0.01 / math.sqrt(2.0))
        beta = rng.uniform(0.5, 1.5, size=(1, n))
        vol = rng.uniform(0.005, 0.02, size=(1, n))
        x = rng.standard_normal((t, n))
        x *= vol
        x += market * beta
        x += 0.0003
        _DATA[key] = np.ascontiguousarray(x, dtype=np.float64)
    return _DATA[key]


NS = 1_000_000_000
# Monday 3 January 2022, 23:55 UTC: the default daily session rolls over five minutes into the
# stream, so the timed work includes a session roll.
ENGINE_T0 = (1_641_168_000 + 86_400 - 300) * NS
ENGINE_EQUITY = 1e9  # large against ~1e7 gross, so that breakers mostly stay quiet
ENGINE_SYMBOLS = 100
ENGINE_TICKS = 1_000_000
ENGINE_LOOP_CALLS = 100_000  # on_tick calls per timed run of the single-call row
ENGINE_REF_TICKS = 20_000  # the Python model takes ~0.3 ms a tick; 1M ticks would take minutes


@dataclass
class TickStream:
    """A seeded tick stream over ``n_symbols`` instruments and the fills that open one position
    in each before the first tick."""

    symbols: list[str]
    fills: list[tuple[str, float, float]]  # (symbol, qty, price), all at ENGINE_T0
    stops: list[tuple[str, float]]
    ids: np.ndarray  # uint32
    prices: np.ndarray  # float64
    ts: np.ndarray  # int64, non-decreasing


_STREAMS: dict[tuple[int, int], TickStream] = {}


def tick_stream(n_ticks: int = ENGINE_TICKS, n_symbols: int = ENGINE_SYMBOLS) -> TickStream:
    """Uniformly random symbols, each following its own geometric random walk (per-tick log
    sd 0.5 to 2 bp, so ~0.5-2 % over its ~10k ticks), exponential gaps of 1 ms on average.
    Every position is worth ~1e5 (long or short); half carry a stop 5 % away. Cached."""
    key = (n_ticks, n_symbols)
    if key not in _STREAMS:
        rng = np.random.default_rng([SEED, n_ticks, n_symbols])
        symbols = [f"SYM{k:03d}" for k in range(n_symbols)]
        start = rng.uniform(10.0, 1000.0, n_symbols)
        vol = rng.uniform(5e-5, 2e-4, n_symbols)
        side = rng.choice([-1.0, 1.0], n_symbols)
        ids, prices, ts = random_walk(rng, start, vol, n_ticks, ENGINE_T0)
        qty = side * np.maximum(np.round(1e5 / start, 3), 0.001)
        fills = [(s, float(q), float(p)) for s, q, p in zip(symbols, qty, start, strict=True)]
        stops = [
            (s, float(p * (1 - 0.05 * d)))
            for k, (s, d, p) in enumerate(zip(symbols, side, start, strict=True))
            if k % 2 == 0
        ]
        _STREAMS[key] = TickStream(symbols, fills, stops, ids, prices, ts)
    return _STREAMS[key]


def open_positions(engine: Any, stream: TickStream) -> Any:
    """Opens the stream's positions on a ``rg.RiskEngine`` or a reference model."""
    for symbol, qty, price in stream.fills:
        engine.on_fill(symbol, qty, price, ENGINE_T0)
    for symbol, stop in stream.stops:
        engine.set_stop(symbol, stop)
    return engine


@dataclass
class EngineRun:
    """An engine image and the arguments of one call. Each timed run restores the image
    (outside the timer), so that every run does the same work from the same state."""

    image: bytes
    args: tuple

    @classmethod
    def of(cls, stream: TickStream, args: tuple) -> EngineRun:
        engine = open_positions(rg.RiskEngine(equity=ENGINE_EQUITY, ts=ENGINE_T0), stream)
        return cls(engine.to_bytes(), args)

    def fresh(self) -> tuple:
        return (rg.RiskEngine.from_bytes(self.image), *self.args)


@dataclass
class ReferenceRun:
    """The reference model with its positions open; each timed run works on a deep copy."""

    model: Any
    args: tuple

    @classmethod
    def of(cls, stream: TickStream, args: tuple) -> ReferenceRun:
        model = eref.ReferenceEngine.create(None, equity=ENGINE_EQUITY, ts=ENGINE_T0)
        return cls(open_positions(model, stream), args)

    def fresh(self) -> tuple:
        return (copy.deepcopy(self.model), *self.args)


def engine_batch(run: tuple) -> tuple[Any, list]:
    engine, ids, prices, ts = run
    return engine, engine.on_ticks(ids, prices, ts)


def engine_loop(run: tuple) -> tuple[Any, list]:
    """One ``on_tick`` call per tick from Python scalars, as a bot's event loop makes them;
    the loop and the check of each returned list are part of the measured cost."""
    engine, ids, prices, ts = run
    on_tick = engine.on_tick
    events: list = []
    for i, p, t in zip(ids, prices, ts, strict=True):
        out = on_tick(i, p, t)
        if out:
            events += out
    return engine, events


def reference_batch(run: tuple) -> tuple[Any, list]:
    model, ids, prices, ts = run
    return model, model.on_ticks(ids, prices, ts)


def _lists(stream: TickStream, n: int) -> tuple[list, list, list]:
    return stream.ids[:n].tolist(), stream.prices[:n].tolist(), stream.ts[:n].tolist()


def engine_batch_data(n: int) -> tuple[EngineRun, None, tuple[TickStream, int]]:
    s = tick_stream()
    return EngineRun.of(s, (s.ids[:n], s.prices[:n], s.ts[:n])), None, (s, n)


def engine_loop_data(n: int) -> tuple[EngineRun, None, tuple[TickStream, int]]:
    s = tick_stream()
    return EngineRun.of(s, _lists(s, n)), None, (s, n)


def engine_vs_reference_data(n: int) -> tuple[EngineRun, ReferenceRun, TickStream]:
    s = tick_stream()
    return (
        EngineRun.of(s, (s.ids[:n], s.prices[:n], s.ts[:n])),
        ReferenceRun.of(s, _lists(s, n)),
        s,
    )


# --- the gate ------------------------------------------------------------------------------------

GATE_TS = asv_gate.TS  # ten seconds after the book was opened
GATE_CALLS = 20_000  # evaluate_signal calls per timed run (the Python gate takes far longer)
ORDER_CALLS = 100_000  # check_order calls per timed run
# check_order keeps DUPLICATE_ORDER and RATE_LIMITED at their defaults (1 s, 10 orders/s) and
# running: orders come 200 ms apart, five a second, and the price cycles through 16 values 1e-5
# apart, so the same (qty, price) recurs only after 3.2 s
ORDER_STEP_NS = 200_000_000
ORDER_PRICE_CYCLE = 16
GATE_BOOK = asv_gate.BOOK  # (symbol, qty, price, stop): three open positions, one without a stop
GATE_SYMBOLS = asv_gate.SYMBOLS
GATE_MARKS = asv_gate.MARKS
# every field given, so every check of the signal-quality group runs; it passes them all and is
# sized by fixed_fractional, capped by max_position_pct and rounded to LINK's lot
GATE_SIGNAL = asv_gate.SIGNAL
GATE_ORDER = ("BTC", 0.05)  # adds to the BTC long: every non-reducing check runs
# managed trades: each one's stop is this fraction of its entry away (R), its target 4 R; on the
# tick stream about a third of them exit in full and the rest stay managed to the end
EXIT_R = (0.005, 0.03)
EXIT_TARGET_R = 4.0


def gate_image() -> bytes:
    """The gate rows' book, as the asv gate benchmarks build it (at the default limits): three
    positions opened and marked, LINK interned with a mark and a lot size, and every pair's
    correlation given."""
    return asv_gate.gate_image("fixed_fractional")


def gate_reference_available() -> bool:
    return gref is not None and hasattr(gref, "evaluate_signal") and hasattr(gref, "Book")


def gate_reference_book(engine: Any) -> Any:
    """The plain-value ``Book`` that ``tests/gate_reference.py`` reads, filled from the engine's
    views and the caller's own inputs (marks, correlations, lot size), as its tests fill it."""
    snap = engine.snapshot()
    breakers = engine.breakers()
    thresholds = {b.name: (None if b.status == "off" else b.threshold) for b in breakers}
    rows = [(p.qty, p.avg_price, p.mark, p.stop) for p in snap.positions.values()]
    return gref.Book(
        equity=snap.equity,
        ts=snap.ts,
        gross=snap.gross_exposure,
        heat=gref.heat_amount(rows, thresholds.get("position_loss")),
        positions={sym: (p.qty, p.mark) for sym, p in snap.positions.items()},
        marks=dict(zip(GATE_SYMBOLS, GATE_MARKS, strict=True)),
        state=snap.state.name,
        tripped=[
            (b.name, b.action, b.value, b.threshold) for b in breakers if b.status == "tripped"
        ],
        thresholds=thresholds,
        streak=snap.consecutive_losses,
        drawdown=snap.drawdown,
        correlations={
            frozenset((a, b)): float(asv_gate.CORRELATION[i, j])
            for i, a in enumerate(GATE_SYMBOLS)
            for j, b in enumerate(GATE_SYMBOLS)
            if i != j
        },
        lots=dict([asv_gate.LOT_SIZE]),
    )


def evaluate_loop(run: tuple) -> tuple[Any, Any, list]:
    """``evaluate_signal`` once per loop turn from Python, as a strategy's signal handler calls
    it; every call sizes and checks the same signal at the same time, so every one does the same
    work. Refusals are kept, which costs an attribute read per call."""
    engine, signal, ts, n = run
    evaluate = engine.evaluate_signal
    refused: list = []
    d = None
    for _ in range(n):
        d = evaluate(signal, ts)
        if not d.approved:
            refused.append(d)
    return engine, d, refused


def reference_evaluate_loop(run: tuple) -> tuple[Any, Any, list]:
    """The same loop over the Python gate: the signal as a dict, the engine state as a Book."""
    book, signal, ts, n, cfg = run
    evaluate = gref.evaluate_signal
    refused: list = []
    d = None
    for _ in range(n):
        d = evaluate(signal, ts, book, cfg)
        if not d.approved:
            refused.append(d)
    return book, d, refused


def order_loop(run: tuple) -> tuple[Any, list]:
    """One ``check_order`` per loop turn from Python scalars, refusals kept."""
    engine, symbol, qty, prices, ts = run
    check = engine.check_order
    refused: list = []
    for p, t in zip(prices, ts, strict=True):
        d = check(symbol, qty, p, t)
        if not d.approved:
            refused.append(d)
    return engine, refused


def evaluate_data(n: int) -> tuple[EngineRun, ReferenceRun | None, tuple[EngineRun, int]]:
    ours = EngineRun(gate_image(), (rg.Signal(**GATE_SIGNAL), GATE_TS, n))
    peer = None
    if gate_reference_available():
        book = gate_reference_book(rg.RiskEngine.from_bytes(gate_image()))
        peer = ReferenceRun(book, (dict(GATE_SIGNAL), GATE_TS, n, gref.settings()))
    return ours, peer, (ours, n)


def order_data(n: int) -> tuple[EngineRun, None, EngineRun]:
    symbol, qty = GATE_ORDER
    mark = GATE_MARKS[GATE_SYMBOLS.index(symbol)]
    prices = [
        mark * (1 + 1e-5 * (k % ORDER_PRICE_CYCLE - ORDER_PRICE_CYCLE // 2)) for k in range(n)
    ]
    ts = [GATE_TS + k * ORDER_STEP_NS for k in range(n)]
    run = EngineRun(gate_image(), (symbol, qty, prices, ts))
    return run, None, run


@functools.cache
def exit_image(n_symbols: int = ENGINE_SYMBOLS) -> bytes:
    """The tick stream's positions, each opened as a managed trade: a signal with a stop, a
    target and an ATR (so that trailing can start), approved by ``evaluate_signal`` and filled.
    Every breaker is armed at its default but ``position_loss``, whose flatten request would end
    a trade's exit policy before its own stop does; ``max_correlation`` is off (no correlations
    are known) and ``max_positions`` admits the whole book."""
    stream = tick_stream(ENGINE_TICKS, n_symbols)
    limits = rg.Limits(
        position_loss=None,
        max_positions=n_symbols,
        max_correlation=None,
        signal_filters=False,
    )
    engine = rg.RiskEngine(equity=ENGINE_EQUITY, ts=ENGINE_T0, limits=limits)
    rng = np.random.default_rng([SEED, n_symbols, 7])
    for (symbol, qty, price), r in zip(stream.fills, rng.uniform(*EXIT_R, n_symbols), strict=True):
        s = 1.0 if qty > 0 else -1.0
        signal = rg.Signal(
            symbol,
            "long" if s > 0 else "short",
            price,
            stop=price * (1 - s * r),
            target=price * (1 + s * EXIT_TARGET_R * r),
            atr=price * r / 1.5,
            quantity=abs(qty),
        )
        d = engine.evaluate_signal(signal, ENGINE_T0)
        if not d.approved:
            raise AssertionError(f"the exit book's signal for {symbol} was refused: {d.codes}")
        engine.on_fill(symbol, qty, price, ENGINE_T0)
    return engine.to_bytes()


def exit_batch_data(n: int) -> tuple[EngineRun, None, tuple[TickStream, int]]:
    s = tick_stream()
    return EngineRun(exit_image(), (s.ids[:n], s.prices[:n], s.ts[:n])), None, (s, n)


# --- peers ---------------------------------------------------------------------------------------


def _linear_position(n: int, p: float) -> tuple[int, float]:
    """numpy's default ("linear", R type 7) quantile position: index k and fraction."""
    pos = (n - 1) * p
    k = int(math.floor(pos))
    return k, pos - k


def np_quantile_var_cvar(x: np.ndarray, confidence: float = CONFIDENCE):
    """The textbook numpy recipe: ``np.quantile(axis=0)`` and a masked mean."""
    q = np.quantile(x, 1.0 - confidence, axis=0)
    tail = x <= q
    cvar = -np.where(tail, x, 0.0).sum(axis=0) / tail.sum(axis=0)
    return -q, cvar


def np_partition_var_cvar(x: np.ndarray, confidence: float = CONFIDENCE, block: int = 256):
    """The fastest numpy recipe found for per-column historical VaR and CVaR.

    For each block of ``block`` columns: copy the block transposed (so every column is one
    contiguous lane; a partition along axis 0 of the C-ordered array walks strided memory and
    measured ~2x slower, and transposing the whole matrix at once is cache-unfriendly), partition
    it in place at order statistic k+1 (one kth: order statistic k is then the max of the first
    k+1 entries, cheaper than ``kth=[k, k+1]``), lerp the quantile, and take the tail mean from
    the first k+2 entries of the partitioned lanes, which hold every value <= q unless q ties
    with the (k+1)-th order statistic; those rare columns are redone on the full lane, so the
    result is exact.
    """
    t, n = x.shape
    k, frac = _linear_position(t, 1.0 - confidence)
    var = np.empty(n)
    cvar = np.empty(n)
    kk = min(k + 1, t - 1)
    for j in range(0, n, block):
        lanes = np.ascontiguousarray(x[:, j : j + block].T)
        lanes.partition(kk, axis=1)
        lo = lanes[:, : k + 1].max(axis=1)
        hi = lanes[:, kk]
        q = lo + frac * (hi - lo)
        head = lanes[:, : kk + 1]
        tail = head <= q[:, None]
        s = np.where(tail, head, 0.0).sum(axis=1)
        c = tail.sum(axis=1)
        for i in np.flatnonzero(q >= hi):  # ties at the boundary: use the full lane
            full = lanes[i] <= q[i]
            s[i] = lanes[i][full].sum()
            c[i] = full.sum()
        var[j : j + block] = -q
        cvar[j : j + block] = -s / c
    return var, cvar


def np_monte_carlo(
    r: np.ndarray,
    w: np.ndarray,
    n_paths: int,
    confidence: float = CONFIDENCE,
    seed: int = 0,
    chunk: int = 4096,
) -> tuple[float, float]:
    """Fastest honest numpy recipe for the same model as ``rg.var_monte_carlo(method="normal")``.

    Sample mean and covariance, Cholesky factor L, draws z ~ N(0, I) of shape
    ``(n_paths, N)`` from ``np.random.Generator``, portfolio return ``w·(mu + L z)``. Because
    ``w·(L z) = (Lᵀw)·z`` it uses the loading vector ``Lᵀw`` (a matrix-vector product per
    chunk instead of a matrix-matrix one; riskguard uses the same identity). Draws are made in
    chunks into a reused buffer (same stream, ~1.5x faster than one big array). Quantile and
    tail mean via ``partition``.
    """
    mu = r.mean(axis=0)
    cov = np.cov(r, rowvar=False)
    factor = np.linalg.cholesky(cov)
    loading = factor.T @ w
    drift = float(mu @ w)
    rng = np.random.default_rng(seed)
    port = np.empty(n_paths)
    buf = np.empty((min(chunk, n_paths), r.shape[1]))
    for i in range(0, n_paths, chunk):
        m = min(chunk, n_paths - i)
        z = buf[:m]
        rng.standard_normal(out=z)
        np.dot(z, loading, out=port[i : i + m])
    port += drift
    k, frac = _linear_position(n_paths, 1.0 - confidence)
    kk = min(k + 1, n_paths - 1)
    port.partition(kk)
    lo = port[: k + 1].max()
    hi = port[kk]
    q = lo + frac * (hi - lo)
    region = port if q >= hi else port[: kk + 1]
    return -q, -region[region <= q].mean()


# --- agreement checks ----------------------------------------------------------------------------


def close(rtol: float = 1e-9, atol: float = 1e-12) -> Callable[[Any, Any, Any], str]:
    def check(ours: Any, peer: Any, _data: Any) -> str:
        if isinstance(ours, tuple):
            for a, b in zip(ours, peer, strict=True):
                np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
        else:
            np.testing.assert_allclose(ours, peer, rtol=rtol, atol=atol)
        return f"allclose rtol={rtol:g} atol={atol:g}"

    return check


def monte_carlo_check(ours: Any, peer: Any, data: Any) -> str:
    """Two independent estimates of the same normal-model VaR/CVaR must agree within 5
    combined standard errors, and each must lie within 5 standard errors of the closed form."""
    from statistics import NormalDist

    r, w, n_paths = data
    p = 1.0 - CONFIDENCE
    mu = float(r.mean(axis=0) @ w)
    sd = float(np.sqrt(w @ np.cov(r, rowvar=False) @ w))
    nd = NormalDist()
    z = nd.inv_cdf(p)
    var_true = -(mu + z * sd)
    es_std = nd.pdf(z) / p  # standardized expected shortfall (positive)
    cvar_true = -mu + sd * es_std
    # Asymptotic standard errors of the sample quantile and of the sample expected shortfall.
    se_var = sd * math.sqrt(p * (1 - p) / n_paths) / nd.pdf(z)
    tail_var = 1.0 - z * es_std - es_std**2  # variance of a standard normal truncated below z
    se_cvar = sd * math.sqrt((tail_var + (1 - p) * (z + es_std) ** 2) / (n_paths * p))
    for name, i, truth, se in (("VaR", 0, var_true, se_var), ("CVaR", 1, cvar_true, se_cvar)):
        np.testing.assert_allclose(
            ours[i],
            peer[i],
            rtol=0,
            atol=5 * math.sqrt(2) * se,
            err_msg=f"{name}: riskguard vs peer",
        )
        np.testing.assert_allclose(
            ours[i], truth, rtol=0, atol=5 * se, err_msg=f"{name}: riskguard vs closed form"
        )
        np.testing.assert_allclose(
            peer[i], truth, rtol=0, atol=5 * se, err_msg=f"{name}: peer vs closed form"
        )
    return f"statistical: |diff| <= 5*sqrt(2)*SE (SE_VaR={se_var:.2e}), both near closed form"


def _event_key(e: Any) -> tuple:
    bits = [float(e.value), float(e.threshold)]
    return (
        e.kind,
        e.breaker,
        e.symbol,
        *("nan" if math.isnan(x) else x.hex() for x in bits),
        e.action,
        e.ts,
        e.state.name,
        getattr(e, "reason", None),
    )


def agrees_with(
    form: str,
    opened: Callable[[], bytes] | None = None,
    then: Callable[[Any, list], str] | None = None,
) -> Callable[[Any, Any, Any], str]:
    """The same ticks in the other form (``"loop"``: ``on_tick`` once per tick; ``"batch"``:
    one ``on_ticks``) must leave the same image and give the same events, bit for bit. The book
    is the stream's plain positions unless ``opened`` gives its image; ``then`` checks the
    result further and says what it found."""

    def check(ours: Any, _peer: Any, data: tuple[TickStream, int]) -> str:
        stream, n = data
        engine, events = ours
        if opened is None:
            other = EngineRun.of(stream, ()).fresh()[0]
        else:
            other = rg.RiskEngine.from_bytes(opened())
        if form == "loop":
            _, want = engine_loop((other, *_lists(stream, n)))
        else:
            _, want = engine_batch((other, stream.ids[:n], stream.prices[:n], stream.ts[:n]))
        assert engine.to_bytes() == other.to_bytes(), (
            f"the {form} over the same ticks leaves a different image"
        )
        assert [_event_key(e) for e in events] == [_event_key(e) for e in want], (
            f"different events: {len(events)} here, {len(want)} from the {form}"
        )
        kinds = sorted({e.kind for e in events})
        return (
            f"same image and same {len(events)} events as the {form} over {n:,} ticks "
            f"({', '.join(kinds) or 'none'}); final state {engine.state.name}"
            + (f"; {then(engine, events)}" if then is not None else "")
        )

    return check


def exits_fire_and_trades_stay_open(engine: Any, events: list) -> str:
    """The timed stream must exercise the exit policies (some exits fire) without ending most
    trades early (a trade that exits in full skips its policy from then on, which would make the
    tick path cheaper than a live book's)."""
    exits = [e for e in events if e.kind == "exit_signal"]
    assert exits, "no exit_signal event: the exit policies never fired"
    n = len(engine.trades())
    full = {e.symbol for e in exits if e.reason != "partial_take_profit"}
    assert len(full) <= n // 2, f"{len(full)} of {n} trades exited in full"
    reasons = Counter(e.reason for e in exits)
    return (
        f"{len(exits)} exit signals ({', '.join(f'{k} {v}' for k, v in sorted(reasons.items()))}); "
        f"{n - len(full)} of {n} managed trades never exited in full"
    )


_DECISION_FLOATS = ("quantity", "entry", "stop", "target", "risk_amount", "risk_pct", "reward_risk")


def _decision(d: Any) -> dict[str, Any]:
    """A Decision (the engine's, or the Python gate's object or dict) as plain fields."""
    get = d.get if isinstance(d, dict) else lambda k, default=None: getattr(d, k, default)
    codes = get("codes")
    if codes is None:
        codes = [r["code"] if isinstance(r, dict) else r.code for r in get("reasons", [])]
    out = {k: float(get(k)) for k in _DECISION_FLOATS}
    return out | {"approved": bool(get("approved")), "method": get("method"), "codes": list(codes)}


def gate_approves(ours: Any, peer: Any, data: tuple[EngineRun, int]) -> str:
    """Every call approved the same signal the same way, n calls at one time leave the image one
    call leaves (so every timed call did the same work), and with the Python gate as peer its
    decision is the engine's: codes and method exactly, numbers to 1e-9."""
    run, n = data
    engine, last, refused = ours
    assert not refused, f"{len(refused)} of {n} refused, e.g. {list(refused[0].codes)}"
    once = rg.RiskEngine.from_bytes(run.image)
    first = _decision(once.evaluate_signal(*run.args[:2]))
    assert once.to_bytes() == engine.to_bytes(), f"{n} calls leave another image than one"
    got = _decision(last)
    assert _canonical_floats(got) == _canonical_floats(first), (got, first)
    note = (
        f"{n:,} identical approvals (method {got['method']}, quantity {got['quantity']:g}, "
        f"risk {got['risk_pct']:.4%}); n calls leave the image one call leaves"
    )
    if peer is None:
        return note
    _, want, peer_refused = peer
    want = _decision(want)
    assert not peer_refused, f"the Python gate refused {len(peer_refused)} of {n}"
    assert (got["approved"], got["method"], got["codes"]) == (
        want["approved"],
        want["method"],
        want["codes"],
    ), (got, want)
    np.testing.assert_allclose(
        [got[k] for k in _DECISION_FLOATS], [want[k] for k in _DECISION_FLOATS], rtol=1e-9
    )
    return note + "; the same decision as the Python gate (rtol 1e-9)"


def _canonical_floats(d: dict[str, Any]) -> dict[str, Any]:
    return {k: ("nan" if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def orders_approved(ours: Any, _peer: Any, run: EngineRun) -> str:
    """Every order approved (so neither DUPLICATE_ORDER nor RATE_LIMITED fired while both ran
    against a live history), the same run from the same image ends in the same image, and
    both checks still bite right after it: the last order again is a duplicate, and a burst at
    the last time is rate limited."""
    engine, refused = ours
    symbol, qty, prices, ts = run.args
    n = len(prices)
    assert not refused, f"{len(refused)} of {n} refused, e.g. {list(refused[0].codes)}"
    again, _ = order_loop(run.fresh())
    assert again.to_bytes() == engine.to_bytes(), "the same orders leave another image"
    dup = engine.check_order(symbol, qty, prices[-1], ts[-1])
    assert "DUPLICATE_ORDER" in dup.codes, list(dup.codes)
    burst = [
        engine.check_order(symbol, qty, prices[-1] * (1 + 1e-4 * (k + 1)), ts[-1])
        for k in range(12)
    ]
    assert any("RATE_LIMITED" in d.codes for d in burst), [list(d.codes) for d in burst]
    return (
        f"{n:,} orders approved, {ORDER_STEP_NS / 1e6:g} ms apart at {ORDER_PRICE_CYCLE} prices "
        "(duplicate and rate checks on, never firing); the last order again is "
        "DUPLICATE_ORDER and a burst is RATE_LIMITED"
    )


def engine_matches_reference(ours: Any, peer: Any, _stream: TickStream) -> str:
    """Same events (kinds, breakers, symbols, actions, timestamps and states exactly, values
    to 1e-9) and the same final snapshot (1e-9 relative) as the Python model."""
    rtol = 1e-9
    engine, got = ours
    model, want = peer
    got = [eref.event_tuple(e) for e in got]
    assert len(got) == len(want), f"{len(got)} events vs {len(want)} in the reference"
    for g, w in zip(got, want, strict=True):
        assert (g.kind, g.breaker, g.symbol, g.action, g.ts, g.state) == (
            w.kind,
            w.breaker,
            w.symbol,
            w.action,
            w.ts,
            w.state,
        ), f"event {g} vs reference {w}"
        np.testing.assert_allclose([g.value, g.threshold], [w.value, w.threshold], rtol=rtol)
    snap = engine.snapshot().to_dict()
    ref_snap = model.snapshot()
    assert snap["state"] == ref_snap["state"], (snap["state"], ref_snap["state"])
    assert snap["ts"] == ref_snap["ts"]
    for key, value in ref_snap.items():
        if isinstance(value, float):
            np.testing.assert_allclose(snap[key], value, rtol=rtol, atol=1e-12, err_msg=key)
    assert sorted(snap["positions"]) == sorted(ref_snap["positions"])
    for sym, want_pos in ref_snap["positions"].items():
        for key in ("qty", "avg_price", "mark", "unrealized_pnl", "realized_pnl"):
            np.testing.assert_allclose(
                snap["positions"][sym][key],
                want_pos[key],
                rtol=rtol,
                atol=1e-9,
                err_msg=f"{sym}.{key}",
            )
    return (
        f"same {len(got)} events and final snapshot as the Python model (rtol {rtol:g}); "
        f"final state {snap['state']}"
    )


# --- rows ----------------------------------------------------------------------------------------


@dataclass
class Row:
    name: str
    operation: str
    shape: str
    peer_name: str
    target: float  # minimum ratio peer / riskguard (unused when max_per_unit is set)
    target_text: str
    make: Callable[[], Any]  # builds (data for ours, data for peer, data for the check)
    ours: Callable[[Any], Any]
    peer: Callable[[Any], Any] | None  # None: no peer, the target is absolute (max_per_unit)
    check: Callable[[Any, Any, Any], str]
    available: Callable[[], str | None] = lambda: None  # reason the peer is unavailable
    # builds one timed call's argument from the row's data, outside the timer (stateful rows
    # restore their state here, so that every run does the same work)
    fresh: Callable[[Any], Any] = lambda data: data
    units: int = 1  # work items (ticks, calls) in one timed call, for per-item figures
    unit: str = ""
    max_per_unit: float | None = None  # absolute target: riskguard's seconds per unit
    # the target bounds riskguard's time over the peer's per unit (a layer over the engine)
    overhead: bool = False
    # at most this many timed runs (rows whose one run takes tens of seconds); 0: the warm-up
    # run, which is also the agreement check, is the only one, and it is timed
    max_repeats: int | None = None
    # an absolute bound on riskguard's median, met together with the ratio target
    max_seconds: float | None = None


# --- the Guard and its journal -----------------------------------------------------------------


BTC_FILE = Path(__file__).resolve().parents[1] / "tests" / "data" / "btcusdt-perp-1m-2022-01.csv.gz"


def backtest_btc(path: Path) -> Any:
    from riskguard.backtest import run_backtest

    return run_backtest(path, strategy="ema-cross", symbol="BTCUSDT")


def synthetic_backtest_data(n: int = 1_000_000) -> tuple[Any, None, None]:
    """A seeded random walk of minute bars and its ema-cross signals."""
    import polars as pl
    from riskguard.strategies import ema_cross

    rng = np.random.default_rng(SEED)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate(([100.0], close[:-1]))
    reach = np.abs(rng.normal(0.0, 0.0005, n))
    bars = pl.DataFrame(
        {
            "ts": ENGINE_T0 + np.arange(n, dtype=np.int64) * 60 * NS,
            "symbol": ["SYN"] * n,
            "open": open_,
            "high": np.maximum(open_, close) * (1 + reach),
            "low": np.minimum(open_, close) * (1 - reach),
            "close": close,
            "volume": np.full(n, 1e7),
        }
    )
    return (bars, ema_cross(bars)), None, None


def backtest_synthetic(data: tuple[Any, Any]) -> Any:
    from riskguard.backtest import backtest_frames

    bars, signals = data
    return backtest_frames(bars, signals, config=rg.Config(limits={"max_spread_bps": None}))


def backtest_sane(result: Any, _peer: Any, _data: Any) -> str:
    assert sum(1 for _ in result.guarded.ts) > 0 and result.signals > 0
    assert result.decisions, "no decision was made"
    n, g = result.naive.summary, result.guarded.summary
    return (
        f"{result.bars:,} bars, {result.signals:,} signals; max drawdown "
        f"{100 * n['max_drawdown']:.1f} % without, {100 * g['max_drawdown']:.1f} % with"
    )


# The replay rows: one replay of minute bars on one core, and a sweep on every core.
REPLAY_BARS = 1_000_000
REPLAY_CHECKED = 20_000  # bars of the prefix checked against the Guard's backtest
SWEEP = (1_000, 20, 8_000)  # settings, instruments, daily bars each


def replay_data() -> tuple[Any, None, Any]:
    """The synthetic minute bars' instrument and the default limits (no spread check: bars
    carry no spread), and the bars and signals for the check."""
    from riskguard.app.backtest.replay import instruments

    bars, signals = asv_replay.minute_bars(REPLAY_BARS)
    (instrument,) = instruments(bars, signals)
    return (instrument, rg.Limits(max_spread_bps=None)), None, (bars, signals)


def replay_one(data: tuple[Any, Any]) -> Any:
    instrument, limits = data
    return rg._core.replay(instrument, limits)


def replay_is_the_backtest(ours: Any, _peer: Any, data: tuple[Any, Any]) -> str:
    """The replay of the first bars equals the Guard's backtest of them (equity after every
    bar and closed trades, to 1e-9); the full run traded."""
    import tempfile

    from riskguard.app.backtest.replay import replay_frames
    from riskguard.backtest import backtest_frames

    bars, signals = data
    assert len(ours["equity"]) == bars.height and len(ours["trades"]) > 0
    head = bars.head(REPLAY_CHECKED)
    sig = signals.filter(signals["ts"] <= head["ts"][-1])
    config = rg.Config()
    guarded = backtest_frames(head, sig, config=config, out=tempfile.mkdtemp()).guarded
    run, _, _ = replay_frames(head, sig, config=config)
    np.testing.assert_allclose(run.equity, guarded.equity, rtol=1e-9, atol=0)
    assert [(t["exit_ts"], round(t["pnl"], 6)) for t in run.trades] == [
        (t["exit_ts"], round(t["pnl"], 6)) for t in guarded.trades
    ]
    return (
        f"the first {REPLAY_CHECKED:,} bars equal the Guard's backtest ({len(run.trades)} "
        f"trades); {len(ours['trades']):,} trades in {bars.height:,} bars"
    )


def sweep_data() -> tuple[Any, None, Any]:
    n_settings, n_instruments, n_bars = SWEEP
    data = (
        asv_replay.daily_instruments(n_instruments, n_bars),
        asv_replay.sweep_limits(n_settings),
    )
    return data, None, data


def sweep_all(data: tuple[Any, Any]) -> Any:
    insts, limits = data
    return rg._core.replay_sweep(insts, limits)


def sweep_is_its_replays(ours: Any, _peer: Any, data: tuple[Any, Any]) -> str:
    """Cells of the sweep equal single replays scored by ``performance.summary``."""
    from riskguard.performance import summary

    insts, limits = data
    n_settings, n_instruments, n_bars = SWEEP
    ts = asv_replay.T0 + np.arange(n_bars, dtype=np.int64) * asv_replay.DAY
    cells = [(0, 0), (n_settings - 1, n_instruments - 1), (n_settings // 2, n_instruments // 3)]
    for lim, inst in cells:
        out = rg._core.replay(insts[inst], limits[lim])
        closed = [t.to_dict() for t in out["trades"] if t.exit_ts is not None]
        want = summary(ts, out["equity"], closed)
        for key in ("total_return", "max_drawdown", "sharpe", "trades"):
            got = ours[key][lim, inst, 0]
            assert math.isclose(got, want[key], rel_tol=1e-9) or (
                math.isnan(got) and math.isnan(want[key])
            ), (key, lim, inst, got, want[key])
    return (
        f"{len(cells)} cells equal single replays; mean {np.nanmean(ours['trades']):.0f} "
        "trades a replay"
    )


def guard_row(name: str, broker: str, simulated: bool) -> Row:
    """Guard.on_tick against the bare engine on the same quiet ticks: the Guard's overhead."""
    return Row(
        name,
        f"Guard.on_tick, nothing fires, {broker}",
        f"{len(asv_guard.SYMBOLS)} symbols, {asv_guard.TICKS // 1000}k ticks/run",
        "RiskEngine.on_tick",
        0.0,
        "overhead ≤ 5 µs per tick",
        make=lambda: guard_data(simulated),
        ours=guard_feed,
        peer=engine_feed,
        check=nothing_fired,
        fresh=guard_fresh,
        units=asv_guard.TICKS,
        unit="tick",
        max_per_unit=5e-6,
        overhead=True,
    )


def guard_data(simulated: bool) -> tuple[Any, Any, Any]:
    """One started Guard (and its twin engine) for every run: each run feeds the same ticks,
    later than the last run's."""
    run = asv_guard.GuardRun(simulated)
    return run, run, run


def guard_fresh(run: Any) -> tuple[Any, list[int]]:
    # Ours and the peer's calls of one repeat take turns: each fresh() moves the clock on.
    return run, run.next_ts()


def guard_feed(arg: tuple[Any, list[int]]) -> int:
    run, ts = arg
    return run.feed_guard(ts)


def engine_feed(arg: tuple[Any, list[int]]) -> int:
    run, ts = arg
    return run.feed_engine(ts)


def nothing_fired(ours: int, peer: int, run: Any) -> str:
    assert ours == 0 and peer == 0, f"events fired: guard {ours}, engine {peer}"
    assert run.guard.engine.snapshot().positions == {}
    assert run.guard.journal.events() == [] and run.guard.journal.orders() == []
    return "no event from either; the Guard journaled nothing but checkpoints"


@dataclass
class JournalRun:
    """A journal in a temporary directory, a refused decision and a latched engine."""

    journal: Any
    decision: Any
    signal: Any
    engine: Any
    events: list


def journal_data() -> tuple[JournalRun, JournalRun, JournalRun]:
    folder = Path(asv_guard.tempfile.mkdtemp(prefix="rg-bench-"))
    journal = asv_guard.Journal(f"sqlite:///{folder / 'journal.db'}")
    run = JournalRun(journal, *asv_guard.decision(), *asv_guard.latched_engine())
    return run, run, run


def group_committed(run: JournalRun) -> int:
    for i in range(asv_guard.DECISIONS):
        run.journal.record_decision(run.decision, i, run.signal)
    run.journal.flush()
    return asv_guard.DECISIONS


def committed_one_by_one(run: JournalRun) -> int:
    for i in range(asv_guard.DECISIONS):
        run.journal.record_decision(run.decision, i, run.signal, durable=True)
    return asv_guard.DECISIONS


def latched_commits(run: JournalRun) -> int:
    for _ in range(asv_guard.DECISIONS):
        run.journal.write(snapshot=run.engine, events=run.events)
    return asv_guard.DECISIONS


def decisions_stored(ours: int, peer: int, run: JournalRun) -> str:
    stored = run.journal.decisions()
    assert len(stored) == ours + peer, f"{len(stored)} stored, {ours + peer} written"
    assert stored[0]["codes"] == list(run.decision.codes)
    return f"{len(stored)} decisions read back"


def latched_stored(ours: int, _peer: Any, run: JournalRun) -> str:
    restored = run.journal.restore()
    assert restored is not None and restored.to_bytes() == run.engine.to_bytes()
    kill = [b for b in restored.breakers() if b.name == "kill_switch"]
    assert kill[0].status == "tripped"
    return "the restored engine is the written one, kill switch engaged"


def _need(module: Any, dist: str) -> Callable[[], str | None]:
    return lambda: None if module is not None else f"{dist} not installed"


def _frame(t: int, n: int):
    x = returns(t, n)
    return x, pd.DataFrame(x)


# --- batch risk over many portfolios -------------------------------------------------------------

BATCH_PORTFOLIOS = 1_000_000
BATCH_CONFIDENCE = 0.99


@functools.cache
def batch_book() -> tuple[Any, Any]:
    from benchmarks.batch import make_book

    return make_book(BATCH_PORTFOLIOS)


def batch_data() -> tuple[Any, Any, None]:
    book, returns = batch_book()
    return (book, returns), (book, returns), None


def batch_ours(method: str) -> Callable[[tuple[Any, Any]], Any]:
    from riskguard.batch import portfolio_risk

    def run(data: tuple[Any, Any]) -> Any:
        book, returns = data
        return portfolio_risk(book, returns, confidence=BATCH_CONFIDENCE, method=method)

    return run


def _exposure_matrix(book: Any, returns: Any) -> tuple[np.ndarray, Any, np.ndarray]:
    """The portfolio ids, the (P, S) sparse exposure matrix (duplicates summed) and the (T, S)
    scenarios: symbols mapped to columns with polars, as a competent numpy user would."""
    import polars as pl
    import scipy.sparse as sp

    symbols = returns.columns
    cols = book["symbol"].cast(pl.Enum(symbols)).to_physical().to_numpy()
    ids, rows = np.unique(book["portfolio_id"].to_numpy(), return_inverse=True)
    exposure = sp.csr_matrix(
        (book["exposure"].to_numpy(), (rows, cols)), shape=(len(ids), len(symbols))
    )
    return ids, exposure, returns.to_numpy()


def batch_reference_historical(data: tuple[Any, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Scenario P&L as one sparse-dense product (P, T), then np.quantile per row and the tail
    mean through a mask."""
    ids, exposure, r = _exposure_matrix(*data)
    pnl = np.asarray(exposure @ r.T)
    q = np.quantile(pnl, 1.0 - BATCH_CONFIDENCE, axis=1, keepdims=True)
    tail = pnl <= q
    cvar = -np.where(tail, pnl, 0.0).sum(axis=1) / tail.sum(axis=1)
    return -q[:, 0], cvar


def batch_reference_parametric(data: tuple[Any, Any]) -> tuple[np.ndarray, np.ndarray]:
    """sigma_p² = ||E Xcᵀ||² / (T-1) with Xc the centred scenarios: the sample covariance
    without forming the (P, S) product E Σ."""
    from scipy.stats import norm

    ids, exposure, r = _exposure_matrix(*data)
    centred = r - r.mean(axis=0)
    sigma = np.sqrt(np.square(np.asarray(exposure @ centred.T)).sum(axis=1) / (len(r) - 1))
    z = norm.ppf(BATCH_CONFIDENCE)
    return z * sigma, sigma * norm.pdf(z) / (1.0 - BATCH_CONFIDENCE)


def batch_agrees(ours: Any, peer: tuple[np.ndarray, np.ndarray], _data: Any) -> str:
    var, cvar = peer
    assert ours.height == len(var), f"{ours.height} portfolios vs {len(var)}"
    np.testing.assert_allclose(ours["var"].to_numpy(), var, rtol=1e-8, atol=1e-6)
    np.testing.assert_allclose(ours["cvar"].to_numpy(), cvar, rtol=1e-8, atol=1e-6)
    return f"VaR and CVaR of {len(var):,} portfolios"


class DaskRun:
    """A LocalCluster of two single-threaded workers, started once for the Dask row and shut
    down when the script exits."""

    client: Any = None

    @classmethod
    def connect(cls) -> Any:
        if cls.client is None:
            import atexit

            from distributed import Client, LocalCluster

            cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0")
            cls.client = Client(cluster)
            atexit.register(lambda: (cls.client.close(), cluster.close()))
        return cls.client


def batch_dask(data: tuple[Any, Any]) -> Any:
    from riskguard.batch import portfolio_risk

    book, returns = data
    return portfolio_risk(
        book, returns, confidence=BATCH_CONFIDENCE, engine="dask", client=DaskRun.connect()
    )


def frames_equal(ours: Any, peer: Any, _data: Any) -> str:
    assert ours.equals(peer), "the Dask result differs from the local one"
    return f"{ours.height:,} rows identical"


def _have(module: str) -> Callable[[], str | None]:
    import importlib.util

    return lambda: None if importlib.util.find_spec(module) else f"{module} not installed"


# --- live venues against the fake venue --------------------------------------------------------


def venues_available() -> str | None:
    return asv_venues.unavailable()


@functools.cache
def _live(kind: str) -> Any:
    """One run object per kind for the whole script (its event loop, fake venues and clients
    live across every run of the rows that use it), closed when the script exits."""
    import atexit

    run = asv_venues.OrderRun() if kind == "orders" else asv_venues.StreamRun()
    atexit.register(run.close)
    return run


def venue_order_data() -> tuple[Any, Any, Any]:
    run = _live("orders")
    return run, run, run


def venue_fresh(run: Any) -> Any:
    return run.fresh()


def venue_orders_ours(run: Any) -> list[Any]:
    return run.ours()


def venue_orders_peer(run: Any) -> list[Any]:
    return run.peer()


def venue_orders_agree(ours: list[Any], peer: list[Any], run: Any) -> str:
    """Both sides placed every order once, as asked: riskguard's answers and the bare client's
    say so, and each fake exchange holds exactly those orders at that price and quantity,
    unfilled."""
    n, qty, price = run.orders, asv_venues.ORDER_QTY, asv_venues.ORDER_PRICE
    assert len(ours) == n and len(peer) == n, (len(ours), len(peer))
    odd = [o for o in ours if (o.status.value, o.qty, o.limit_price) != ("new", qty, price)]
    assert not odd, odd[:2]
    assert [o.client_order_id for o in ours] == run.placed["ours"]
    assert all(
        p["status"] == "open" and float(p["amount"]) == qty and float(p["price"]) == price
        for p in peer
    ), peer[:2]
    booked = {side: run.booked(side) for side in ("ours", "peer")}
    for side, rows in booked.items():
        assert [r[0] for r in rows] == run.placed[side], f"{side}: {len(rows)} of {n} booked"
        for _cid, way, kind, q, p, filled in rows:
            assert (way, kind, filled) == ("buy", "limit", 0.0), (side, way, kind, filled)
            assert math.isclose(q, qty, rel_tol=1e-12), (side, q)
            assert math.isclose(p, price, rel_tol=1e-12), (side, p)
    return (
        f"{n} resting buys each, booked once at {price:,.0f} × {qty} on its fake exchange, "
        "none filled"
    )


def venue_stream_data() -> tuple[Any, Any, Any]:
    run = _live("stream")
    return run, run, run


def venue_stream_ours(run: Any) -> int:
    return run.ours()


def venue_stream_peer(run: Any) -> int:
    return run.peer()


def venue_stream_guard_only(run: Any) -> int:
    return run.guard_only()


def venue_stream_agree(ours: int, peer: int | None, run: Any) -> str:
    """Every trade reached the Guard (and the bare client) once, in order, at its price; the
    venue's feed dropped none and the Guard refused none."""
    n = asv_venues.TICKS
    sent = run.sent
    assert ours == n, f"the Guard saw {ours} of {n} trades"
    assert run.ours_seen.prices[-n:] == sent, "the Guard's prices differ from those sent"
    if peer is not None:
        assert peer == n, f"the bare client saw {peer} of {n} trades"
        assert run.peer_seen.prices[-n:] == sent, "the bare client's prices differ"
    stats, dropped = run.guard.feed_stats, run.venue.feed().dropped
    assert dropped == 0 and stats["refused"] == 0, (dropped, stats)
    who = "the Guard and the bare client" if peer is not None else "the Guard"
    return (
        f"{who} saw {n:,} trades, in order at the prices sent ({min(sent):,.1f}-"
        f"{max(sent):,.1f}); none dropped or refused in {stats['ticks']:,} ticks so far"
    )


# --- the polars plugin ---------------------------------------------------------------------------

POLARS_GROUPS = 10_000
POLARS_GROUP_ROWS = 250  # a year of daily returns per group
POLARS_CONFIDENCE = 0.99


def polars_groupby_data() -> tuple[Any, Any, None]:
    """A long-format panel: one row per (date, asset), the assets interleaved, as a polars user
    holds returns; column ``g`` is the asset, ``r`` its return."""
    import polars as pl

    x = returns(POLARS_GROUP_ROWS, POLARS_GROUPS)
    g = np.tile(np.arange(POLARS_GROUPS), POLARS_GROUP_ROWS)
    df = pl.DataFrame({"g": g, "r": x.ravel()})
    return df, df, None


def polars_groupby_var(df: Any) -> Any:
    import polars as pl
    import riskguard_polars  # noqa: F401  (registers the ``risk`` namespace)

    return df.group_by("g").agg(pl.col("r").risk.var(POLARS_CONFIDENCE))


def polars_groupby_var_numpy(df: Any) -> Any:
    """What a polars user writes without the plugin: numpy's quantile on each group."""
    import polars as pl

    p = 1.0 - POLARS_CONFIDENCE

    def one(part: Any) -> Any:
        return pl.DataFrame({"g": part["g"][:1], "r": [-np.quantile(part["r"].to_numpy(), p)]})

    return df.group_by("g").map_groups(one)


def same_groups(rtol: float, atol: float) -> Callable[[Any, Any, Any], str]:
    """``close`` on two per-group results, both sorted by group, after checking the groups."""

    def check(ours: Any, peer: Any, data: Any) -> str:
        ours, peer = ours.sort("g"), peer.sort("g")
        assert ours["g"].equals(peer["g"]), "the two results have different groups"
        return close(rtol, atol)(ours["r"].to_numpy(), peer["r"].to_numpy(), data)

    return check


def rows() -> list[Row]:
    big = (2520, 10000)
    gate_peer = gate_reference_available()
    mc_paths = 100_000

    def mc_data():
        r = returns(2520, 50)
        w = np.random.default_rng([SEED, 1]).dirichlet(np.ones(50))
        return (r, w, mc_paths)

    return [
        Row(
            "var_cvar_quantile",
            "historical VaR+CVaR per column",
            "2520×10000",
            "np.quantile(axis=0) + masked mean",
            10.0,
            "≥10×",
            make=lambda: (returns(*big),) * 3,
            ours=lambda x: (rg.var_historical(x, CONFIDENCE), rg.cvar_historical(x, CONFIDENCE)),
            peer=np_quantile_var_cvar,
            check=close(1e-10, 1e-14),
        ),
        Row(
            "var_cvar_partition",
            "historical VaR+CVaR per column",
            "2520×10000",
            "np.partition (blocked) + lerp + tail mean",
            2.0,
            "≥2×",
            make=lambda: (returns(*big),) * 3,
            ours=lambda x: (rg.var_historical(x, CONFIDENCE), rg.cvar_historical(x, CONFIDENCE)),
            peer=np_partition_var_cvar,
            check=close(1e-10, 1e-14),
        ),
        Row(
            "tail_risk_quantile",
            "historical VaR+CVaR, one tail_risk call",
            "2520×10000",
            "np.quantile(axis=0) + masked mean",
            15.0,
            "≥15×",
            make=lambda: (returns(*big),) * 3,
            ours=lambda x: rg.tail_risk(x, CONFIDENCE),
            peer=np_quantile_var_cvar,
            check=close(1e-10, 1e-14),
        ),
        Row(
            "tail_risk_partition",
            "historical VaR+CVaR, one tail_risk call",
            "2520×10000",
            "np.partition (blocked) + lerp + tail mean",
            2.0,
            "≥2×",
            make=lambda: (returns(*big),) * 3,
            ours=lambda x: rg.tail_risk(x, CONFIDENCE),
            peer=np_partition_var_cvar,
            check=close(1e-10, 1e-14),
        ),
        Row(
            "max_drawdown",
            "max drawdown per column",
            "2520×10000",
            "empyrical.max_drawdown",
            10.0,
            "≥10×",
            make=lambda: (returns(*big),) * 3,
            ours=rg.max_drawdown,
            peer=lambda x: -ep.max_drawdown(x),
            check=close(1e-10, 1e-14),
            available=_need(ep, "empyrical-reloaded"),
        ),
        Row(
            "sharpe_ratio",
            "Sharpe ratio per column",
            "2520×10000",
            "empyrical.sharpe_ratio",
            10.0,
            "≥10×",
            make=lambda: (returns(*big),) * 3,
            ours=rg.sharpe_ratio,
            peer=ep.sharpe_ratio if ep is not None else None,
            check=close(1e-9, 1e-12),
            available=_need(ep, "empyrical-reloaded"),
        ),
        Row(
            "rolling_var",
            "rolling 252-step VaR",
            "100000×10",
            "-df.rolling(252).quantile(0.05)",
            5.0,
            "≥5×",
            make=lambda: (lambda x, df: (x, df, None))(*_frame(100_000, 10)),
            ours=lambda x: rg.rolling_var(x, 252, CONFIDENCE),
            peer=lambda df: -df.rolling(252).quantile(1.0 - CONFIDENCE),
            check=lambda a, b, _: close(1e-9, 1e-13)(a, b.to_numpy(), None),
            available=_need(pd, "pandas"),
        ),
        Row(
            "rolling_corr",
            "rolling 60-step pairwise correlation",
            "1000×50",
            "df.rolling(60).corr()",
            20.0,
            "≥20×",
            make=lambda: (lambda x, df: (x, df, None))(*_frame(1000, 50)),
            ours=lambda x: rg.rolling_correlation(x, 60),
            peer=lambda df: df.rolling(60).corr(),
            check=lambda a, b, _: close(1e-7, 1e-9)(a, b.to_numpy().reshape(a.shape), None),
            available=_need(pd, "pandas"),
        ),
        Row(
            "correlation",
            "full correlation matrix",
            "2520×2000",
            "np.corrcoef(rowvar=False)",
            1.0,
            "≥1× (at least as fast)",
            make=lambda: (returns(2520, 2000),) * 3,
            ours=rg.correlation,
            peer=lambda x: np.corrcoef(x, rowvar=False),
            check=close(1e-9, 1e-12),
        ),
        Row(
            "monte_carlo",
            "Monte Carlo VaR+CVaR, 100k paths",
            "2520×50 → 100000×50",
            "numpy Generator + Cholesky",
            5.0,
            "≥5×",
            make=lambda: (lambda d: (d, d, d))(mc_data()),
            ours=lambda d: rg.var_monte_carlo(d[0], d[1], CONFIDENCE, n_paths=d[2], seed=0),
            peer=lambda d: np_monte_carlo(d[0], d[1], d[2], CONFIDENCE, seed=0),
            check=monte_carlo_check,
        ),
        Row(
            "engine-on-ticks",
            "engine on_ticks, all breakers armed",
            f"{ENGINE_SYMBOLS} pos × {ENGINE_TICKS / 1e6:g}M ticks",
            "none (absolute target)",
            0.0,
            "≥ 20M ticks/s",
            make=lambda: engine_batch_data(ENGINE_TICKS),
            ours=engine_batch,
            peer=None,
            check=agrees_with("loop"),
            fresh=lambda run: run.fresh(),
            units=ENGINE_TICKS,
            unit="tick",
            max_per_unit=1 / 20e6,
        ),
        Row(
            "engine-on-tick",
            "engine on_tick, one call from Python",
            f"{ENGINE_SYMBOLS} pos, {ENGINE_LOOP_CALLS // 1000}k calls/run",
            "none (absolute target)",
            0.0,
            "≤ 500 ns per call",
            make=lambda: engine_loop_data(ENGINE_LOOP_CALLS),
            ours=engine_loop,
            peer=None,
            check=agrees_with("batch"),
            fresh=lambda run: run.fresh(),
            units=ENGINE_LOOP_CALLS,
            unit="call",
            max_per_unit=500e-9,
        ),
        Row(
            "engine-vs-python",
            "engine on_ticks vs pure-Python monitor",
            f"{ENGINE_SYMBOLS} pos × {ENGINE_REF_TICKS // 1000}k ticks",
            "Python ReferenceEngine",
            100.0,
            "≥100×",
            make=lambda: engine_vs_reference_data(ENGINE_REF_TICKS),
            ours=engine_batch,
            peer=reference_batch,
            check=engine_matches_reference,
            available=lambda: None if eref is not None else "tests/engine_reference.py missing",
            fresh=lambda run: run.fresh(),
            units=ENGINE_REF_TICKS,
            unit="tick",
        ),
        Row(
            "engine-exits-on-ticks",
            "engine on_ticks, exit policies active",
            f"{ENGINE_SYMBOLS} managed trades × {ENGINE_TICKS / 1e6:g}M ticks",
            "none (absolute target)",
            0.0,
            "≥ 10M ticks/s",
            make=lambda: exit_batch_data(ENGINE_TICKS),
            ours=engine_batch,
            peer=None,
            check=agrees_with("loop", opened=exit_image, then=exits_fire_and_trades_stay_open),
            fresh=lambda run: run.fresh(),
            units=ENGINE_TICKS,
            unit="tick",
            max_per_unit=1 / 10e6,
        ),
        Row(
            "batch-historical",
            "portfolio_risk, historical, polars table to result",
            "1M portfolios × 20 positions, 500 symbols, 250 scenarios",
            "scipy.sparse E @ Rᵀ, np.quantile per row, masked tail mean",
            3.0,
            "≥3× and ≤ 2 s",
            make=batch_data,
            ours=batch_ours("historical"),
            peer=batch_reference_historical,
            check=batch_agrees,
            available=_have("scipy"),
            max_repeats=3,
            max_seconds=2.0,
        ),
        Row(
            "batch-parametric",
            "portfolio_risk, parametric, polars table to result",
            "1M portfolios × 20 positions, 500 symbols, 250 scenarios",
            "scipy.sparse E @ Xcᵀ, row norms",
            0.0,
            "≤ 1 s",
            make=batch_data,
            ours=batch_ours("parametric"),
            peer=batch_reference_parametric,
            check=batch_agrees,
            available=_have("scipy"),
            max_repeats=3,
            max_seconds=1.0,
        ),
        Row(
            "batch-dask",
            'portfolio_risk(engine="dask"), historical',
            "1M portfolios × 20 positions, LocalCluster of 2 workers",
            'engine="local" on the same data',
            0.0,
            "overhead reported",
            make=batch_data,
            ours=batch_dask,
            peer=batch_ours("historical"),
            check=frames_equal,
            available=_have("distributed"),
            max_repeats=3,
        ),
        guard_row("guard-tick-overhead", "exchange-fed broker", simulated=False),
        guard_row("guard-tick-overhead-paper", "paper broker fed too", simulated=True),
        Row(
            "backtest-btc",
            "run_backtest, ema-cross, both runs, every guard on",
            "BTCUSDT 1m, 45,031 bars",
            "none (absolute target)",
            0.0,
            "≤ 3 s",
            make=lambda: (BTC_FILE, None, None),
            ours=backtest_btc,
            peer=None,
            check=backtest_sane,
            max_per_unit=3.0,
            max_repeats=3,
        ),
        Row(
            "backtest-1m-bars",
            "backtest_frames, ema-cross, both runs, every guard on",
            "synthetic 1m bars, 1,000,000",
            "none (absolute target)",
            0.0,
            "≤ 30 s",
            make=synthetic_backtest_data,
            ours=backtest_synthetic,
            peer=None,
            check=backtest_sane,
            units=1_000_000,
            unit="bar",
            max_per_unit=30.0 / 1_000_000,
            max_repeats=0,
        ),
        Row(
            "replay-bars",
            "replay, ema-cross, engine + paper fills, one core",
            f"synthetic 1m bars, {REPLAY_BARS:,}",
            "none (absolute target)",
            0.0,
            "≥ 2M bars/s",
            make=replay_data,
            ours=replay_one,
            peer=None,
            check=replay_is_the_backtest,
            units=REPLAY_BARS,
            unit="bar",
            max_per_unit=1 / 2e6,
        ),
        Row(
            "replay-sweep",
            "replay_sweep, swing profile, scored",
            f"{SWEEP[0]:,} settings × {SWEEP[1]} instruments × {SWEEP[2]:,} daily bars",
            "none (absolute target)",
            0.0,
            "≤ 60 s",
            make=sweep_data,
            ours=sweep_all,
            peer=None,
            check=sweep_is_its_replays,
            max_per_unit=60.0,
            max_repeats=1,
        ),
        Row(
            "journal-decisions",
            "record_decision, group-committed, then flush",
            f"SQLite FULL, {asv_guard.DECISIONS} decisions/run",
            "one commit per decision",
            5.0,
            "≥ 5× one commit each",
            make=journal_data,
            ours=group_committed,
            peer=committed_one_by_one,
            check=decisions_stored,
            units=asv_guard.DECISIONS,
            unit="decision",
        ),
        Row(
            "journal-latched-state",
            "write(snapshot, events), durable",
            f"SQLite FULL, kill switch + 10 pos, {asv_guard.DECISIONS} commits/run",
            "none (absolute target)",
            0.0,
            "≤ 10 ms per commit",
            make=journal_data,
            ours=latched_commits,
            peer=None,
            check=latched_stored,
            units=asv_guard.DECISIONS,
            unit="commit",
            max_per_unit=10e-3,
        ),
        Row(
            "venue-order-roundtrip",
            "Venue.submit, resting limit (USD-M)",
            f"fake venue, {asv_venues.ORDERS} orders/run",
            "ccxt create_order",
            0.0,
            "overhead ≤ 1 ms/order",
            make=venue_order_data,
            ours=venue_orders_ours,
            peer=venue_orders_peer,
            check=venue_orders_agree,
            available=venues_available,
            fresh=venue_fresh,
            units=asv_venues.ORDERS,
            unit="order",
            max_per_unit=1e-3,
            overhead=True,
        ),
        Row(
            "venue-stream-to-engine",
            "WebSocket trades → running Guard",
            f"fake venue, {asv_venues.BURSTS}×{asv_venues.BURST:,} trades/run",
            "ccxt watch_trades",
            0.0,
            "≥ 50k ticks/s",
            make=venue_stream_data,
            ours=venue_stream_ours,
            peer=venue_stream_peer,
            check=venue_stream_agree,
            available=venues_available,
            fresh=venue_fresh,
            units=asv_venues.TICKS,
            unit="tick",
            max_per_unit=1 / 50_000,
        ),
        Row(
            "venue-stream-to-engine-guard-only",
            "venue feed queue → running Guard",
            f"{asv_venues.TICKS:,} ticks/run",
            "none (absolute target)",
            0.0,
            "≥ 50k ticks/s",
            make=venue_stream_data,
            ours=venue_stream_guard_only,
            peer=None,
            check=venue_stream_agree,
            available=venues_available,
            fresh=venue_fresh,
            units=asv_venues.TICKS,
            unit="tick",
            max_per_unit=1 / 50_000,
        ),
        Row(
            "gate-evaluate-signal",
            "evaluate_signal, one call from Python",
            f"{len(GATE_BOOK)} pos, {GATE_CALLS // 1000}k calls/run",
            "Python gate_reference" if gate_peer else "none (absolute target)",
            0.0,
            "≤ 2 µs per call",
            make=lambda: evaluate_data(GATE_CALLS),
            ours=evaluate_loop,
            peer=reference_evaluate_loop if gate_peer else None,
            check=gate_approves,
            fresh=lambda run: run.fresh(),
            units=GATE_CALLS,
            unit="call",
            max_per_unit=2e-6,
        ),
        Row(
            "gate-check-order",
            "check_order, one call from Python",
            f"{len(GATE_BOOK)} pos, {ORDER_CALLS // 1000}k calls/run",
            "none (absolute target)",
            0.0,
            "≤ 1 µs per call",
            make=lambda: order_data(ORDER_CALLS),
            ours=order_loop,
            peer=None,
            check=orders_approved,
            fresh=lambda run: run.fresh(),
            units=ORDER_CALLS,
            unit="call",
            max_per_unit=1e-6,
        ),
        Row(
            "polars_groupby_var",
            "polars group_by VaR, one value per group",
            f"{POLARS_GROUPS}×{POLARS_GROUP_ROWS} (groups×rows)",
            "group_by.map_groups + -np.quantile",
            10.0,
            "≥10×",
            make=polars_groupby_data,
            ours=polars_groupby_var,
            peer=polars_groupby_var_numpy,
            check=same_groups(1e-12, 1e-15),
            available=_have("riskguard_polars"),
        ),
    ]


# --- timing --------------------------------------------------------------------------------------


@dataclass
class Result:
    row: Row
    ours: float | None = None
    peer: float | None = None
    note: str = ""
    error: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or self.peer is None or self.ours <= 0:
            return None
        return self.peer / self.ours

    @property
    def per_unit(self) -> float | None:
        if self.ours is None:
            return None
        if self.row.overhead:
            return None if self.peer is None else (self.ours - self.peer) / self.row.units
        return self.ours / self.row.units

    @property
    def met(self) -> bool | None:
        if self.row.max_per_unit is not None:
            per = self.per_unit
            return None if per is None or self.error else per <= self.row.max_per_unit
        r = self.ratio
        if r is None:
            return None
        return r >= self.row.target and not self.too_slow

    @property
    def too_slow(self) -> bool:
        return self.row.max_seconds is not None and (self.ours or 0.0) > self.row.max_seconds


def _once(fn: Callable[[Any], Any], fresh: Callable[[Any], Any], data: Any) -> float:
    arg = fresh(data)
    gc.collect()
    t0 = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t0


def run_row(row: Row, repeats: int) -> Result:
    res = Result(row)
    reason = row.available()
    if reason:
        res.error = f"peer unavailable: {reason}"
        return res
    ours_data, peer_data, check_data = row.make()
    # Warm-up: one call each, whose results are also the agreement check.
    try:
        arg = row.fresh(ours_data)
        t0 = time.perf_counter()
        a = row.ours(arg)
        warm = time.perf_counter() - t0
        b = row.peer(row.fresh(peer_data)) if row.peer is not None else None
        res.note = row.check(a, b, check_data)
    except AssertionError as e:
        first = [ln for ln in str(e).strip().splitlines() if ln.strip()][:4]
        res.error = "MISMATCH, not timed: " + " | ".join(first)
        return res
    del a, b
    if row.max_repeats == 0:
        res.ours = warm
        return res
    ours_t: list[float] = []
    peer_t: list[float] = []
    if row.max_repeats is not None:
        repeats = min(repeats, row.max_repeats)
    for _ in range(repeats):  # interleaved, so drifting background load hits both alike
        ours_t.append(_once(row.ours, row.fresh, ours_data))
        if row.peer is not None:
            peer_t.append(_once(row.peer, row.fresh, peer_data))
    res.ours = statistics.median(ours_t)
    res.peer = statistics.median(peer_t) if peer_t else None
    return res


# --- report --------------------------------------------------------------------------------------


def fmt_time(s: float | None) -> str:
    if s is None:
        return "—"
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    if s >= 1e-6:
        return f"{s * 1e6:.1f} µs"
    return f"{s * 1e9:.0f} ns"


def fmt_rate(per_second: float) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if per_second >= scale:
            return f"{per_second / scale:.1f}{suffix}"
    return f"{per_second:.0f}"


def fmt_with_unit(s: float | None, row: Row) -> str:
    """A run's median, with the time per unit for rows that time many units per call."""
    if s is None or row.units == 1:
        return fmt_time(s)
    return f"{fmt_time(s)} ({fmt_time(s / row.units)}/{row.unit})"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _blas() -> list[str]:
    try:
        from threadpoolctl import threadpool_info

        out = []
        for lib in threadpool_info():
            if lib.get("user_api") == "blas":
                out.append(
                    f"{lib.get('internal_api')} {lib.get('version')} "
                    f"({lib.get('architecture')}, {lib.get('num_threads')} threads, "
                    f"{os.path.basename(lib.get('filepath', ''))}) [threadpoolctl]"
                )
        if out:
            return out
    except ImportError:
        pass
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        conf = " ".join(str(cfg.get("openblas configuration", "")).split())
        return [
            f"{cfg.get('name')} {cfg.get('version')} ({conf}) [numpy build config; "
            "threadpoolctl not installed]"
        ]
    except Exception as e:  # noqa: BLE001 - informational only
        return [f"unknown ({e})"]


def header(repeats: int, quick: bool) -> list[str]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    lines = [
        f"riskguard compare — {'quick, ' if quick else ''}median of {repeats} runs after a warm-up",
        f"machine: os.cpu_count()={os.cpu_count()} (usable {usable}), {_cpu_model()}, "
        f"{platform.system()} {platform.machine()}",
        f"python {platform.python_version()}; riskguard {rg.__version__}; numpy {np.__version__}; "
        f"pandas {_version('pandas')}; empyrical-reloaded {_version('empyrical-reloaded')}",
    ]
    for blas in _blas():
        lines.append(f"numpy BLAS: {blas}")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        val = os.environ.get(var)
        lines.append(
            f"{var}: "
            + (f"SET to {val!r} (may slow numpy's BLAS kernels)" if val is not None else "not set")
        )
    threads = [
        f"{v}={os.environ[v]}"
        for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS")
        if v in os.environ
    ]
    lines.append("thread env: " + (", ".join(threads) if threads else "none set"))
    lines.append(
        "riskguard runs on all cores (rayon); numpy/pandas/empyrical peers on one core "
        "except numpy's BLAS (corrcoef, Monte Carlo dot)."
    )
    lines.append("ratio = peer median / riskguard median: >1 means riskguard is faster.")
    lines.append(
        "rows without a peer have an absolute target, met by riskguard's median time per unit."
    )
    return lines


COLUMNS = ["operation", "shape", "riskguard", "peer", "peer median", "ratio", "target", "met"]


def cells(r: Result) -> list[str]:
    ratio = r.ratio
    met = r.met
    return [
        r.row.operation,
        r.row.shape,
        fmt_with_unit(r.ours, r.row),
        r.row.peer_name,
        fmt_with_unit(r.peer, r.row),
        "—" if ratio is None else f"{ratio:.2f}×",
        r.row.target_text,
        "n/a" if met is None else ("yes" if met else "NO"),
    ]


def print_report(results: list[Result], head: list[str]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        Console = None  # noqa: N806

    if Console is not None:
        console = Console(width=None if sys.stdout.isatty() else 180)
        for line in head:
            console.print(line, highlight=False, markup=False)
        table = Table(show_lines=False)
        for c in COLUMNS:
            table.add_column(
                c,
                justify="right" if c in ("riskguard", "peer median", "ratio") else "left",
                no_wrap=c != "peer",
            )
        for r in results:
            row = cells(r)
            style = None
            if r.error:
                style = "yellow"
            elif r.met is False:
                style = "bold red"
            table.add_row(*row, style=style)
        console.print(table)

        def say(msg: str) -> None:
            console.print(msg, highlight=False, markup=False)
    else:
        for line in head:
            print(line)
        table = [COLUMNS] + [cells(r) for r in results]
        widths = [max(len(t[i]) for t in table) for i in range(len(COLUMNS))]
        for i, t in enumerate(table):
            print("  ".join(c.ljust(w) for c, w in zip(t, widths, strict=True)))
            if i == 0:
                print("  ".join("-" * w for w in widths))
        say = print

    say("")
    for r in results:
        if r.note:
            say(f"  {r.row.name}: agreement checked ({r.note})")
    for r in results:
        if r.row.units > 1 and r.ours:
            line = (
                f"  {r.row.name}: riskguard {fmt_rate(r.row.units / r.ours)} {r.row.unit}s/s "
                f"({fmt_time(r.ours / r.row.units)} per {r.row.unit})"
            )
            if r.peer:
                line += (
                    f"; {r.row.peer_name} {fmt_rate(r.row.units / r.peer)} {r.row.unit}s/s "
                    f"({fmt_time(r.peer / r.row.units)} per {r.row.unit})"
                )
            if r.row.overhead and r.per_unit is not None:
                line += f"; overhead {fmt_time(r.per_unit)} per {r.row.unit}"
            say(line)
    misses = [r for r in results if r.met is False]
    errors = [r for r in results if r.error]
    for r in errors:
        say(f"NOT COMPARED  {r.row.name}: {r.error}")
    for r in misses:
        if r.row.max_per_unit is not None and r.row.units == 1:
            say(
                f"MISSED TARGET {r.row.name}: riskguard {fmt_time(r.ours)}, "
                f"target {r.row.target_text}"
            )
            continue
        if r.row.max_per_unit is not None:
            say(
                f"MISSED TARGET {r.row.name}: riskguard {fmt_time(r.per_unit)} "
                f"{'overhead ' if r.row.overhead else ''}per "
                f"{r.row.unit} ({fmt_rate(1 / r.per_unit)} {r.row.unit}s/s), target "
                f"{r.row.target_text}"
            )
            continue
        if r.too_slow:
            say(
                f"MISSED TARGET {r.row.name}: riskguard {fmt_time(r.ours)} > "
                f"{fmt_time(r.row.max_seconds)} (ratio {r.ratio:.2f}×, target {r.row.target_text})"
            )
            continue
        say(
            f"MISSED TARGET {r.row.name}: ratio {r.ratio:.2f}× < {r.row.target_text} "
            f"(riskguard {fmt_time(r.ours)} vs {r.row.peer_name} {fmt_time(r.peer)})"
        )
    met = sum(1 for r in results if r.met)
    say(
        f"targets met: {met}/{len(results)}"
        + (f", missed: {len(misses)}" if misses else "")
        + (f", not compared: {len(errors)}" if errors else "")
    )


def main(argv: list[str] | None = None) -> int:
    all_rows = rows()
    names = [r.name for r in all_rows]
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="rows: " + ", ".join(names),
    )
    ap.add_argument("--quick", action="store_true", help="3 timed runs per side instead of 7")
    ap.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only rows whose name contains NAME (repeatable or comma-separated)",
    )
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per side")
    ap.add_argument("--list", action="store_true", help="list row names and exit")
    args = ap.parse_args(argv)
    if args.list:
        print("\n".join(names))
        return 0
    repeats = args.repeats or (3 if args.quick else 7)
    wanted = [w.strip() for item in args.only for w in item.split(",") if w.strip()]
    selected = [r for r in all_rows if not wanted or any(w in r.name for w in wanted)]
    if not selected:
        ap.error(f"--only {','.join(wanted)} matches no row; rows: {', '.join(names)}")

    head = header(repeats, args.quick)
    results = []
    for row in selected:
        print(f"… {row.name}", file=sys.stderr, flush=True)
        try:
            results.append(run_row(row, repeats))
        except Exception as e:  # noqa: BLE001 - report and carry on; this script never judges
            results.append(Result(row, error=f"error: {type(e).__name__}: {e}"))
    print_report(results, head)
    return 0


if __name__ == "__main__":
    sys.exit(main())
