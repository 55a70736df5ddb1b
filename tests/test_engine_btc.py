"""``riskguard.RiskEngine`` on one month of real BTC perpetual 1-minute closes (January 2022,
with the 21 January crash), against an equity path computed independently with numpy.

The book: 100,000 of equity, 2 BTC bought at the first close, every close fed as a tick at its
bar's timestamp. Closes are multiples of 1/8 dollar, so equity ``cash + 2 * close`` is exact in
float64 and the numpy path and the engine agree bit for bit. The tests skip when the data file is
absent.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import riskguard as rg
from data_files import BTC_CSV
from riskguard import RiskError

try:
    from .engine_reference import canonical
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from engine_reference import canonical

NS = 1_000_000_000
EQUITY = 100_000.0
QTY = 2.0
SYMBOL = "BTCUSDT"
CHUNK = 1_000
# Breakers that a single long position in a falling market would trip and that would only add
# noise to the two breakers under test.
QUIET = dict(
    weekly_loss=None,
    monthly_loss=None,
    position_loss=None,
    volatility_spike=None,
    leverage=None,
    concentration=None,
    portfolio_heat=None,
    consecutive_losses=None,
)


class Bars:
    def __init__(self, frame: pd.DataFrame) -> None:
        self.close = frame["close"].to_numpy(dtype=np.float64)
        stamps = pd.to_datetime(frame["timestamp"], utc=True)
        self.ts = (stamps - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
        self.ts = self.ts.to_numpy(dtype=np.int64)
        self.ids = np.zeros(len(self.close), dtype=np.uint32)
        self.cash = EQUITY - QTY * self.close[0]
        self.equity = self.cash + QTY * self.close

    def __len__(self) -> int:
        return len(self.close)


@pytest.fixture(scope="module")
def bars() -> Bars:
    frame = pd.read_csv(BTC_CSV)
    assert {"timestamp", "close"} <= set(frame.columns), list(frame.columns)
    b = Bars(frame)
    assert len(b) > 40_000
    assert np.all(np.diff(b.ts) > 0), "bars out of order"
    assert np.all(b.close * 64 == np.round(b.close * 64)), "closes are off the dyadic grid"
    return b


def start(bars: Bars, limits: rg.Limits, quiet: bool = True) -> rg.RiskEngine:
    engine = rg.RiskEngine(limits, equity=EQUITY, ts=int(bars.ts[0]))
    events = engine.on_fill(SYMBOL, QTY, float(bars.close[0]), int(bars.ts[0]))
    assert not quiet or events == []
    assert engine.symbol_id(SYMBOL) == 0
    return engine


def feed(engine: rg.RiskEngine, bars: Bars, lo: int, hi: int) -> list:
    return engine.on_ticks(bars.ids[lo:hi], bars.close[lo:hi], bars.ts[lo:hi])


def summary(events) -> list[tuple]:
    return [(e.kind, e.breaker, e.symbol, e.ts, e.state.name) for e in events]


def status(engine: rg.RiskEngine, name: str) -> rg.BreakerStatus:
    (b,) = [b for b in engine.breakers() if b.name == name]
    return b


def event_keys(events) -> list[tuple]:
    return [
        canonical((e.kind, e.breaker, e.symbol, e.value, e.threshold, e.action, e.ts, e.state))
        for e in events
    ]


# --- daily loss ---------------------------------------------------------------------------------


def daily_trips(bars: Bars, threshold: float) -> tuple[list[int], list[int], np.ndarray]:
    """Bars where the daily-loss breaker trips and re-arms, and the loss path.

    The session-open equity of a UTC day is the equity carried in before its first bar: the
    previous bar's equity, or the starting equity for the first day.
    """
    day = bars.ts // NS // 86400
    carried = np.concatenate([[EQUITY], bars.equity[:-1]])
    first = np.flatnonzero(np.concatenate([[True], day[1:] != day[:-1]]))
    open_ = carried[first][np.searchsorted(first, np.arange(len(bars)), side="right") - 1]
    loss = (open_ - bars.equity) / open_
    trips, recoveries = [], []
    bounds = list(first) + [len(bars)]
    tripped = False
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if tripped:
            recoveries.append(lo)
            tripped = False
        hit = np.flatnonzero(loss[lo:hi] >= threshold)
        if len(hit):
            trips.append(lo + int(hit[0]))
            tripped = True
    return trips, recoveries, loss


def test_daily_loss_trips_on_the_crash_bar_and_rearms_next_day(bars):
    limits = rg.Limits(max_drawdown=None, **QUIET)
    threshold = limits.daily_loss.threshold
    assert threshold == 0.05
    trips, recoveries, loss = daily_trips(bars, threshold)
    assert trips, "the month never lost 5 % in a day"
    days = [str(pd.Timestamp(int(bars.ts[i]), unit="ns").date()) for i in trips]
    assert "2022-01-21" in days, days

    engine = start(bars, limits)
    events = feed(engine, bars, 0, len(bars))
    want = []
    for i in sorted(trips + recoveries):
        t = int(bars.ts[i])
        if i in trips:
            want += [
                ("breaker_tripped", "daily_loss", None, t, "HALTED"),
                ("state_changed", "daily_loss", None, t, "HALTED"),
                ("flatten_requested", "daily_loss", SYMBOL, t, "HALTED"),
            ]
        else:
            want += [
                ("breaker_recovered", "daily_loss", None, t, "ACTIVE"),
                ("state_changed", "daily_loss", None, t, "ACTIVE"),
            ]
    assert summary(events) == want

    tripped = [e for e in events if e.kind == "breaker_tripped"]
    for e, i in zip(tripped, trips, strict=True):
        assert e.value == loss[i] and e.threshold == threshold and e.action == "close_all_halt"
    flat = [e for e in events if e.kind == "flatten_requested"]
    assert all(e.value == QTY for e in flat)

    snap = engine.snapshot()
    assert snap.equity == bars.equity[-1]
    assert snap.cash == bars.cash
    assert snap.peak_equity == max(EQUITY, bars.equity.max())


# --- max drawdown --------------------------------------------------------------------------------


def drawdown_path(bars: Bars) -> np.ndarray:
    peak = np.maximum.accumulate(np.maximum(bars.equity, EQUITY))
    return (peak - bars.equity) / peak


def test_max_drawdown_trips_stays_latched_across_restore_and_rearms_on_reset(bars):
    dd = drawdown_path(bars)
    default = rg.Limits().max_drawdown.threshold
    if dd.max() >= default:
        limits = rg.Limits(daily_loss=None, **QUIET)
        threshold = default
    else:
        threshold = math.floor(dd.max() * 0.8 * 1000) / 1000
        limits = rg.Limits(daily_loss=None, max_drawdown=threshold, **QUIET)
    assert limits.max_drawdown.latched
    trip = int(np.flatnonzero(dd >= threshold)[0])
    t_trip = int(bars.ts[trip])

    engine = start(bars, limits)
    assert feed(engine, bars, 0, trip) == []
    assert status(engine, "max_drawdown").status == "armed"
    events = feed(engine, bars, trip, trip + 1)
    assert summary(events) == [
        ("breaker_tripped", "max_drawdown", None, t_trip, "HALTED"),
        ("state_changed", "max_drawdown", None, t_trip, "HALTED"),
        ("flatten_requested", "max_drawdown", SYMBOL, t_trip, "HALTED"),
    ]
    assert events[0].value == dd[trip] and events[0].threshold == threshold
    b = status(engine, "max_drawdown")
    assert (b.status, b.tripped_at, b.latched) == ("tripped", t_trip, True)

    # halfway through the rest of the month, a restart
    mid = (trip + 1 + len(bars)) // 2
    assert feed(engine, bars, trip + 1, mid) == []
    engine = rg.RiskEngine.from_bytes(engine.to_bytes())
    assert engine.state.name == "HALTED"
    assert status(engine, "max_drawdown").status == "tripped"
    assert feed(engine, bars, mid, len(bars)) == []
    assert status(engine, "max_drawdown").status == "tripped"
    assert engine.snapshot().drawdown == dd[-1]

    t_end = int(bars.ts[-1])
    before = engine.to_bytes()
    with pytest.raises(RiskError):
        engine.reset("max_drawdown", t_end)
    assert engine.to_bytes() == before
    events = engine.reset("max_drawdown", t_end, confirm=True)
    assert summary(events) == [
        ("breaker_recovered", "max_drawdown", None, t_end, "ACTIVE"),
        ("state_changed", "max_drawdown", None, t_end, "ACTIVE"),
    ]
    assert math.isnan(events[0].value)
    assert status(engine, "max_drawdown").status == "armed"
    snap = engine.snapshot()
    assert snap.peak_equity == bars.equity[-1] and snap.drawdown == 0.0
    assert engine.on_tick(SYMBOL, float(bars.close[-1]), t_end) == []


# --- snapshots ----------------------------------------------------------------------------------


def test_restore_at_every_thousandth_tick_ends_in_the_same_state(bars):
    """Every breaker at its default: the state the image must carry includes volatility, the
    position-loss trip and latched halts."""
    engine = start(bars, rg.Limits(), quiet=False)
    images, events = [], []
    for lo in range(0, len(bars), CHUNK):
        images.append((lo, engine.to_bytes()))
        events.append(event_keys(feed(engine, bars, lo, min(lo + CHUNK, len(bars)))))
    final = engine.to_bytes()
    final_snap = canonical(engine.snapshot().to_dict())
    assert sum(len(e) for e in events) > 0

    for k, (lo, image) in enumerate(images[1:], start=1):
        restored = rg.RiskEngine.from_bytes(image)
        assert restored.to_bytes() == image
        rest = event_keys(feed(restored, bars, lo, len(bars)))
        assert rest == [e for chunk in events[k:] for e in chunk], f"restored at tick {lo}"
        assert restored.to_bytes() == final, f"restored at tick {lo}"
        assert canonical(restored.snapshot().to_dict()) == final_snap, f"restored at tick {lo}"
