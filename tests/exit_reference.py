"""Plain Python reference model of the exit policy and the trade lifecycle of ``docs/gate.md``
("Trades and exits"), with the bar indicators of its "Market data" section.

It covers one account with every breaker switched off, so it keeps no equity and no breaker
state: only positions (``docs/engine.md``, "Accounting"), the pending approval of each symbol,
the trades and the stops set with ``set_stop``. A kill switch is modelled only as far as a
trade sees it: the flatten request that makes it exiting and closes it as ``CLOSED_BREAKER``.

Like ``engine_reference.py`` it is slow and literal: each rule is written in the form and
operation order of the contract, in favourable coordinates ``f = s * price``, and nothing is
kept that the contract does not name. An exit is a request: the position changes only when the
caller reports a fill with ``on_fill``.

Events are tuples ``(kind, symbol, value, threshold, reason, ts)``; ``event_tuple`` turns a
``riskguard.Event`` into the same shape.

Where the contract leaves a detail open, the model takes the plain reading and says so:
- every fill of a symbol uses up its pending approval; only a fill that opens a position (a
  first fill, or the opening half of a flip) can use it to make a managed trade;
- best and worst prices, and so ``mfe``/``mae``, move on every tick of an open trade, managed or
  not, exiting or not (the excursions are the trade's, to its close; the policy, which reads
  ``best``, does not run while exiting); the entry fill sets both to the entry;
- the stage (``BREAKEVEN``, ``PARTIAL_TP``, ``TRAILING``) is the last one whose level was reached,
  whether or not the breakeven stop was tighter;
- a partial take profit is not a closing cause: a trade closed after one records the cause of
  the exit that flattened it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

try:
    from .gate_reference import DEFAULTS as GATE_DEFAULTS
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from gate_reference import DEFAULTS as GATE_DEFAULTS

NAN = math.nan
NS = 1_000_000_000
HOUR_NS = 3600 * NS

# docs/gate.md, "Settings": the ones this model reads, with the defaults gate_reference.py lists.
SETTINGS = (
    "sl_atr",
    "tp_atr",
    "breakeven_r",
    "breakeven_offset",
    "partial_tp_r",
    "partial_tp_fraction",
    "trail_start_r",
    "trail_atr",
    "max_hours_no_progress",
    "max_bars_no_progress",
    "correlation_window",
    "atr_period",
    "ema_period",
)
DEFAULTS: dict[str, Any] = {name: GATE_DEFAULTS[name] for name in SETTINGS}

# Closing states by the reason of the first full exit requested.
CLOSED_BY_REASON = {
    "stop_loss": "CLOSED_SL",
    "breakeven_stop": "CLOSED_SL",
    "trailing_stop": "CLOSED_TRAILING",
    "take_profit": "CLOSED_TP",
    "time": "CLOSED_TIME",
}
EXIT_REASONS = (
    "stop_loss",
    "breakeven_stop",
    "trailing_stop",
    "take_profit",
    "partial_take_profit",
    "time",
)


class Event(NamedTuple):
    kind: str
    symbol: str | None
    value: float
    threshold: float
    reason: str | None
    ts: int


def event_tuple(e: Any) -> Event:
    return Event(e.kind, e.symbol, float(e.value), float(e.threshold), e.reason, int(e.ts))


class RefError(ValueError):
    """The reference refuses the call."""


# --- market data -------------------------------------------------------------------------------


@dataclass
class Wilder:
    """Wilder's ATR seeded as TA-Lib seeds it: the first bar only sets the previous close, the
    first value is the mean of the first ``period`` true ranges."""

    period: int
    prev_close: float | None = None
    ranges: list[float] = field(default_factory=list)
    value: float | None = None

    def update(self, high: float, low: float, close: float) -> None:
        prev, self.prev_close = self.prev_close, close
        if prev is None:
            return
        tr = max(high - low, abs(high - prev), abs(low - prev))
        n = self.period
        if self.value is None:
            self.ranges.append(tr)
            if len(self.ranges) == n:
                total = 0.0
                for x in self.ranges:
                    total += x
                self.value = total / n
        else:
            self.value = (self.value * (n - 1) + tr) / n


@dataclass
class Ema:
    """EMA of closes seeded with the simple mean of the first ``period``."""

    period: int
    seed: list[float] = field(default_factory=list)
    value: float | None = None

    def update(self, x: float) -> None:
        if self.value is None:
            self.seed.append(x)
            if len(self.seed) == self.period:
                total = 0.0
                for v in self.seed:
                    total += v
                self.value = total / self.period
        else:
            alpha = 2.0 / (self.period + 1.0)
            self.value = alpha * x + (1.0 - alpha) * self.value


# --- trades ------------------------------------------------------------------------------------


@dataclass
class Approval:
    s: int
    stop: float
    target: float | None
    atr: float | None
    method: str


@dataclass
class Trade:
    id: int
    symbol: str
    s: int
    managed: bool
    method: str | None
    entry_ts: int
    entry_price: float
    quantity: float  # largest |qty| held
    initial_stop: float | None
    stop: float | None
    target: float | None
    atr: float | None
    r: float  # risk per unit, NaN unmanaged
    best: float  # favourable coordinates
    worst: float
    progress_ts: int
    window: float  # ns without progress before the time exit (inf: none)
    state: str = "OPEN"
    exiting: bool = False
    cause: str | None = None  # the closing state of the first cause
    breakeven_done: bool = False
    moved_to_breakeven: bool = False
    partial_done: bool = False
    trailing: bool = False
    exit_ts: int | None = None
    exit_qty: float = 0.0
    exit_value: float = 0.0
    pnl: float = 0.0


@dataclass
class Position:
    qty: float = 0.0
    avg: float = NAN
    stop: float | None = None  # set_stop's
    stop_hit: bool = False


@dataclass
class ExitReference:
    settings: dict[str, Any]
    ts: int
    positions: dict[str, Position] = field(default_factory=dict)
    approvals: dict[str, Approval] = field(default_factory=dict)
    trades_: list[Trade] = field(default_factory=list)
    open_: dict[str, Trade] = field(default_factory=dict)
    atr: dict[str, Wilder] = field(default_factory=dict)
    ema: dict[str, Ema] = field(default_factory=dict)
    # The stamps of each symbol's bars from its second on, as many as its return window keeps.
    bar_ts: dict[str, list[int]] = field(default_factory=dict)
    seen_bar: set[str] = field(default_factory=set)

    @classmethod
    def create(cls, ts: int = 0, **settings: Any) -> ExitReference:
        unknown = set(settings) - set(DEFAULTS)
        if unknown:
            raise RefError(f"settings the model does not read: {sorted(unknown)}")
        return cls({**DEFAULTS, **settings}, int(ts))

    def _clock(self, ts: int) -> None:
        if ts < self.ts:
            raise RefError(f"ts {ts} is earlier than {self.ts}")
        self.ts = int(ts)

    def _position(self, symbol: str) -> Position:
        return self.positions.setdefault(symbol, Position())

    # --- market data ---------------------------------------------------------------------------

    def on_bar(self, symbol, open_, high, low, close, volume, ts) -> list[Event]:
        self._clock(ts)
        self._position(symbol)
        self.atr.setdefault(symbol, Wilder(int(self.settings["atr_period"])))
        self.ema.setdefault(symbol, Ema(int(self.settings["ema_period"])))
        self.atr[symbol].update(float(high), float(low), float(close))
        self.ema[symbol].update(float(close))
        if symbol in self.seen_bar:
            stamps = self.bar_ts.setdefault(symbol, [])
            stamps.append(int(ts))
            del stamps[: max(0, len(stamps) - int(self.settings["correlation_window"]))]
        self.seen_bar.add(symbol)
        return []

    def bar_ns(self, symbol: str) -> int | None:
        """The symbol's bar length: the shortest positive interval between its kept bars."""
        stamps = self.bar_ts.get(symbol, [])
        gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False) if b > a]
        return min(gaps) if gaps else None

    def window(self, symbol: str) -> float:
        """docs/gate.md: the shorter of the hours and the bars (at their bar length)."""
        st = self.settings
        hours, bars, length = st["max_hours_no_progress"], st["max_bars_no_progress"], None
        out = math.inf
        if hours is not None:
            out = max(round(hours * 3.6e12), 1)
        if bars is not None:
            length = self.bar_ns(symbol)
            if length is not None:
                out = min(out, max(int(bars) * length, 1))
        return out

    def indicators(self, symbol: str) -> dict[str, float | None]:
        atr, ema = self.atr.get(symbol), self.ema.get(symbol)
        return {"atr": atr and atr.value, "ema": ema and ema.value}

    # --- approvals -----------------------------------------------------------------------------

    def approve(
        self,
        symbol: str,
        side: str,
        entry: float,
        ts: int,
        stop: float | None = None,
        target: float | None = None,
        atr: float | None = None,
        method: str = "fixed_fractional",
    ) -> tuple[float, float]:
        """An approved signal: its stop and target (NaN when none) as the decision carries them,
        and the symbol's new pending approval. Sizing and the gate's checks are not modelled:
        the caller approves only what the engine approved."""
        self._clock(ts)
        s = 1 if side == "long" else -1
        a = atr if atr is not None else self.indicators(symbol)["atr"]
        st = self.settings
        if stop is None:
            if a is None:
                raise RefError("no stop and no ATR")
            stop = entry - s * st["sl_atr"] * a
        if target is None and a is not None:
            target = entry + s * st["tp_atr"] * a
        self._position(symbol)
        self.approvals[symbol] = Approval(s, float(stop), target, a, method)
        return float(stop), NAN if target is None else float(target)

    def refuse(self, ts: int) -> None:
        """A refused signal: it only moves the clock."""
        self._clock(ts)

    # --- fills ---------------------------------------------------------------------------------

    def _open(self, symbol: str, qty: float, price: float, ts: int, approval) -> None:
        s = 1 if qty > 0 else -1
        managed = approval is not None and approval.s == s
        f = s * price
        t = Trade(
            id=len(self.trades_),
            symbol=symbol,
            s=s,
            managed=managed,
            method=approval.method if managed else None,
            entry_ts=ts,
            entry_price=price,
            quantity=abs(qty),
            initial_stop=approval.stop if managed else None,
            stop=approval.stop if managed else None,
            target=approval.target if managed else None,
            atr=approval.atr if managed else None,
            r=abs(price - approval.stop) if managed else NAN,
            best=f,
            worst=f,
            progress_ts=ts,
            window=self.window(symbol) if managed else math.inf,
        )
        self.trades_.append(t)
        self.open_[symbol] = t

    def _close(self, symbol: str, ts: int) -> None:
        t = self.open_.pop(symbol)
        t.exit_ts = ts
        t.state = t.cause or "CLOSED_MANUAL"

    def on_fill(self, symbol: str, qty: float, price: float, ts: int, fee: float = 0.0):
        self._clock(ts)
        qty, price, fee = float(qty), float(price), float(fee)
        if qty == 0:
            raise RefError("qty 0")
        p = self._position(symbol)
        approval = self.approvals.pop(symbol, None)
        q = p.qty
        if q == 0:
            p.qty, p.avg = qty, price
            self._open(symbol, qty, price, ts, approval)
            self.open_[symbol].pnl = -fee
            return []
        t = self.open_[symbol]
        if (q > 0) == (qty > 0):
            p.avg = (q * p.avg + qty * price) / (q + qty)
            p.qty = q + qty
            t.entry_price = p.avg
            t.quantity = max(t.quantity, abs(p.qty))
            t.pnl -= fee
            return []
        c = min(abs(qty), abs(q))
        piece = c * (price - p.avg) * (1.0 if q > 0 else -1.0)
        t.pnl += piece - fee
        t.exit_qty += c
        t.exit_value += c * price
        p.qty = q + qty
        if abs(qty) < abs(q):
            return []
        p.stop, p.stop_hit = None, False
        self._close(symbol, ts)
        if abs(qty) > abs(q):
            p.avg = price
            self._open(symbol, p.qty, price, ts, approval)
        return []

    def set_stop(self, symbol: str, price: float | None) -> None:
        p = self.positions.get(symbol)
        if p is None or p.qty == 0:
            raise RefError(f"no open position in {symbol}")
        p.stop, p.stop_hit = price, False

    # --- ticks ---------------------------------------------------------------------------------

    def on_tick(self, symbol: str, price: float, ts: int) -> list[Event]:
        self._clock(ts)
        if symbol not in self.positions:
            raise RefError(f"unknown symbol {symbol!r}")
        price = float(price)
        p = self.positions[symbol]
        out: list[Event] = []
        if p.qty != 0 and p.stop is not None and not p.stop_hit:
            if (p.qty > 0 and price <= p.stop) or (p.qty < 0 and price >= p.stop):
                p.stop_hit = True
                out.append(Event("stop_hit", symbol, price, p.stop, None, ts))
                t = self.open_[symbol]
                if not t.managed and t.cause is None:
                    t.cause = "CLOSED_SL"
        t = self.open_.get(symbol)
        if t is not None:
            # step 1
            f = t.s * price
            if f > t.best:
                t.best = f
                t.progress_ts = ts
            t.worst = min(t.worst, f)
            if t.managed and not t.exiting:
                self._policy(t, p, f, ts, out)
        return out

    def _exit(self, t: Trade, out, qty: float, threshold: float, reason: str, ts: int) -> None:
        out.append(Event("exit_signal", t.symbol, qty, threshold, reason, ts))
        if reason != "partial_take_profit":
            t.exiting = True
            if t.cause is None:
                t.cause = CLOSED_BY_REASON[reason]

    def _policy(self, t: Trade, p: Position, f: float, ts: int, out) -> None:
        st, s, entry, r = self.settings, t.s, t.entry_price, t.r
        # step 2
        if f <= s * t.stop:
            if t.trailing:
                reason = "trailing_stop"
            elif t.moved_to_breakeven:
                reason = "breakeven_stop"
            else:
                reason = "stop_loss"
            self._exit(t, out, abs(p.qty), t.stop, reason, ts)
            return
        # step 3
        if t.target is not None and f >= s * t.target:
            self._exit(t, out, abs(p.qty), t.target, "take_profit", ts)
            return
        # step 4; a stop moved here is compared from the next tick on
        level = s * entry + st["breakeven_r"] * r
        if not t.breakeven_done and f >= level:
            t.breakeven_done = True
            t.state = "BREAKEVEN"
            be = entry * (1 + s * st["breakeven_offset"])
            if s * be > s * t.stop:
                t.stop = be
                t.moved_to_breakeven = True
        level = s * entry + st["partial_tp_r"] * r
        if not t.partial_done and f >= level:
            t.partial_done = True
            t.state = "PARTIAL_TP"
            qty = st["partial_tp_fraction"] * abs(p.qty)
            self._exit(t, out, qty, s * level, "partial_take_profit", ts)
        level = s * entry + st["trail_start_r"] * r
        if not t.trailing and t.atr is not None and f >= level:
            t.trailing = True
            t.state = "TRAILING"
        if t.trailing:
            t.stop = s * max(s * t.stop, t.best - st["trail_atr"] * t.atr)
        if ts - t.progress_ts >= t.window:
            self._exit(t, out, abs(p.qty), NAN, "time", ts)

    # --- control -------------------------------------------------------------------------------

    def kill(self, ts: int) -> list[Event]:
        """The kill switch as a trade sees it: a flatten request for every open position (in
        the order the symbols were first seen), each making its trade exiting."""
        self._clock(ts)
        out = []
        for symbol, p in self.positions.items():
            if p.qty == 0:
                continue
            out.append(Event("flatten_requested", symbol, p.qty, NAN, None, ts))
            t = self.open_[symbol]
            t.exiting = True
            if t.cause is None:
                t.cause = "CLOSED_BREAKER"
        return out

    # --- views ---------------------------------------------------------------------------------

    def trades(self) -> list[dict[str, Any]]:
        out = []
        for t in self.trades_:
            closed = t.exit_ts is not None
            out.append(
                {
                    "id": t.id,
                    "symbol": t.symbol,
                    "side": "long" if t.s > 0 else "short",
                    "state": t.state,
                    "method": t.method,
                    "entry_ts": t.entry_ts,
                    "entry_price": t.entry_price,
                    "quantity": t.quantity,
                    "initial_stop": NAN if t.initial_stop is None else t.initial_stop,
                    "stop": NAN if t.stop is None else t.stop,
                    "target": NAN if t.target is None else t.target,
                    "exit_ts": t.exit_ts,
                    "exit_price": t.exit_value / t.exit_qty if closed else NAN,
                    "pnl": t.pnl,
                    "r_multiple": t.pnl / (t.quantity * t.r) if t.managed else NAN,
                    "mfe": max(0.0, t.best - t.s * t.entry_price) * t.quantity,
                    "mae": max(0.0, t.s * t.entry_price - t.worst) * t.quantity,
                    "holding_ns": (t.exit_ts if closed else self.ts) - t.entry_ts,
                }
            )
        return out
