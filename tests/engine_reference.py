"""Plain Python reference model of ``riskguard.RiskEngine``, written from ``docs/engine.md`` and
the "Engine definitions" of ``DESIGN.md``.

It is deliberately slow and literal: every metric is recomputed from scratch from the positions
whenever it is needed, nothing is updated incrementally, and the formulas keep the operation
order written in ``docs/engine.md`` so that dyadic inputs give bit-identical results.
``test_engine_reference.py`` holds the Rust engine to it.

Events are plain tuples ``(kind, breaker, symbol, value, threshold, action, ts, state)`` with
``state`` the name of the trading state after the event; ``event_tuple`` turns a
``riskguard.Event`` into the same shape.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

NAN = math.nan
INF = math.inf
NS = 1_000_000_000

# Evaluation order (docs/engine.md, "Breakers").
BREAKERS = (
    "daily_loss",
    "weekly_loss",
    "monthly_loss",
    "max_drawdown",
    "position_loss",
    "volatility_spike",
    "leverage",
    "concentration",
    "portfolio_heat",
    "consecutive_losses",
)
SESSIONS = {"daily_loss": "day", "weekly_loss": "week", "monthly_loss": "month"}
ACTIVE, REDUCING, HALTED = "ACTIVE", "REDUCING", "HALTED"


@dataclass(frozen=True)
class Spec:
    threshold: float
    action: str
    cooldown_s: float
    latched: bool
    fraction: float


# DESIGN.md's default-limits table.
DEFAULTS: dict[str, Spec] = {
    "daily_loss": Spec(0.05, "close_all_halt", 0, False, 0.5),
    "weekly_loss": Spec(0.10, "halt", 0, False, 0.5),
    "monthly_loss": Spec(0.20, "halt", 0, False, 0.5),
    "max_drawdown": Spec(0.15, "close_all_halt", 0, True, 0.5),
    "position_loss": Spec(0.03, "close_position", 0, False, 0.5),
    "volatility_spike": Spec(3.0, "reduce", 900, False, 0.5),
    "leverage": Spec(10.0, "reduce", 0, False, 0.5),
    "concentration": Spec(0.40, "alert", 0, False, 0.5),
    "portfolio_heat": Spec(0.10, "alert", 0, False, 0.5),
    "consecutive_losses": Spec(3.0, "halt", 14400, False, 0.5),
}


def resolve(name: str, value: Any) -> Spec | None:
    """A breaker's spec from the form ``rg.Limits`` takes: absent (the default), ``None`` (off),
    a bare threshold, or a dict of ``BreakerSpec`` fields where ``None`` means the default."""
    if value is None:
        return None
    base = DEFAULTS[name]
    if isinstance(value, dict):
        fields = {k: v for k, v in value.items() if v is not None}
        return Spec(
            threshold=float(fields["threshold"]),
            action=fields.get("action", base.action),
            cooldown_s=fields.get("cooldown_s", base.cooldown_s),
            latched=bool(fields.get("latched", base.latched)),
            fraction=float(fields.get("fraction", base.fraction)),
        )
    return Spec(float(value), base.action, base.cooldown_s, base.latched, base.fraction)


def parse_hhmm(text: str) -> int:
    """``"HH:MM"`` or ``"+HH:MM"`` / ``"-HH:MM"`` as signed seconds."""
    sign = 1
    if text[0] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    hh, mm = text.split(":")
    return sign * (int(hh) * 3600 + int(mm) * 60)


class Limits:
    def __init__(self, **kw: Any) -> None:
        self.specs: dict[str, Spec | None] = {
            name: resolve(name, kw[name]) if name in kw else DEFAULTS[name] for name in BREAKERS
        }
        self.reset_s = parse_hhmm(kw.get("reset_time", "00:00"))
        self.utc_offset_s = parse_hhmm(kw.get("utc_offset", "+00:00"))
        self.lam = float(kw.get("volatility_lambda", 0.94))
        self.warmup = int(kw.get("volatility_warmup", 20))


class Event(NamedTuple):
    kind: str
    breaker: str | None
    symbol: str | None
    value: float
    threshold: float
    action: str | None
    ts: int
    state: str


def event_tuple(e: Any) -> Event:
    """A ``riskguard.Event`` in the reference's shape (the free-text message is left out)."""
    return Event(
        e.kind,
        e.breaker,
        e.symbol,
        float(e.value),
        float(e.threshold),
        e.action,
        int(e.ts),
        e.state.name,
    )


class RefError(ValueError):
    """The reference refuses the call (the engine must raise ``RiskError`` too)."""


@dataclass
class Position:
    symbol: str
    qty: float = 0.0
    avg: float = NAN
    realized: float = 0.0
    mark: float = NAN
    stop: float | None = None
    stop_hit: bool = False
    pl_tripped: bool = False
    # volatility state; fills never touch it
    last_tick: float | None = None
    n: int = 0
    var: float = 0.0
    z: float | None = None


@dataclass
class Breaker:
    tripped: bool = False
    tripped_at: int | None = None
    cooldown_until: int | None = None
    key: int | None = None  # session key it tripped in


# Input bounds (docs/engine.md, "Calls and time").
MIN_PRICE, MAX_PRICE = 1e-15, 1e15
MAX_QTY = 1e15
MAX_MONEY = 1e20  # fees and the starting equity


def valid_price(x: float) -> bool:
    return MIN_PRICE <= x <= MAX_PRICE


def civil_month(day: int) -> int:
    d = _dt.date(1970, 1, 1) + _dt.timedelta(days=day)
    return 12 * d.year + d.month - 1


def _ratio(amount: float, equity: float) -> float:
    if amount == 0:
        return 0.0
    if equity <= 0:
        return INF
    return amount / equity


def _loss(open_: float, equity: float) -> float:
    if open_ <= 0:
        return INF
    return (open_ - equity) / open_


@dataclass
class ReferenceEngine:
    limits: Limits
    cash: float
    ts: int
    peak: float = 0.0
    positions: list[Position] = field(default_factory=list)  # in symbol-id order
    ids: dict[str, int] = field(default_factory=dict)
    breakers: dict[str, Breaker] = field(default_factory=dict)
    killed: bool = False
    paused: bool = False
    state: str = ACTIVE
    streak: int = 0
    realized: float = 0.0

    @classmethod
    def create(cls, limits: dict | None = None, equity: float = 100_000.0, ts: int = 0):
        if not 0 < equity <= MAX_MONEY:
            raise RefError(f"equity {equity}")
        eng = cls(Limits(**(limits or {})), float(equity), int(ts))
        eng.peak = eng.cash
        eng.breakers = {name: Breaker() for name in BREAKERS}
        eng.day, eng.week, eng.month = eng.session_keys(ts)
        eng.day_open = eng.week_open = eng.month_open = eng.cash
        return eng

    # --- symbols, time ----------------------------------------------------------------------

    def symbol_id(self, symbol: str) -> int:
        if symbol not in self.ids:
            self.ids[symbol] = len(self.positions)
            self.positions.append(Position(symbol))
        return self.ids[symbol]

    def _position(self, symbol: str | int, intern: bool) -> Position:
        if isinstance(symbol, str):
            if symbol not in self.ids:
                if not intern:
                    raise RefError(f"unknown symbol {symbol!r}")
                self.symbol_id(symbol)
            return self.positions[self.ids[symbol]]
        if not 0 <= symbol < len(self.positions):
            raise RefError(f"unknown symbol id {symbol}")
        return self.positions[symbol]

    def session_keys(self, ts: int) -> tuple[int, int, int]:
        lim = self.limits
        local = ts // NS + lim.utc_offset_s - lim.reset_s
        day = local // 86400
        return day, (day + 3) // 7, civil_month(day)

    def _check_ts(self, ts: int) -> None:
        if ts < self.ts:
            raise RefError(f"ts {ts} is earlier than {self.ts}")

    def _roll(self, ts: int) -> None:
        day, week, month = self.session_keys(ts)
        equity = self.equity()
        if day != self.day:
            self.day, self.day_open = day, equity
        if week != self.week:
            self.week, self.week_open = week, equity
        if month != self.month:
            self.month, self.month_open = month, equity
        self.ts = ts

    # --- metrics, recomputed from scratch ---------------------------------------------------

    def open_positions(self) -> list[Position]:
        return [p for p in self.positions if p.qty != 0]

    def equity(self) -> float:
        total = 0.0
        for p in self.open_positions():
            total += p.qty * p.mark
        return self.cash + total

    def gross(self) -> float:
        total = 0.0
        for p in self.open_positions():
            total += abs(p.qty * p.mark)
        return total

    def net(self) -> float:
        total = 0.0
        for p in self.open_positions():
            total += p.qty * p.mark
        return total

    def heat_amount(self) -> float:
        pl = self.limits.specs["position_loss"]
        total = 0.0
        for p in self.open_positions():
            if p.stop is not None:
                stop = p.stop
            elif pl is not None:
                t = pl.threshold
                stop = p.avg * (1 - t) if p.qty > 0 else p.avg * (1 + t)
            else:
                total += abs(p.qty * p.mark)
                continue
            total += max(0.0, (p.mark - stop) * p.qty)
        return total

    def concentration(self) -> float:
        largest = 0.0
        for p in self.open_positions():
            largest = max(largest, abs(p.qty * p.mark))
        return _ratio(largest, self.equity())

    def drawdown(self) -> float:
        if self.peak <= 0:
            return INF
        return (self.peak - self.equity()) / self.peak

    @staticmethod
    def position_loss(p: Position) -> float:
        return -(p.qty * (p.mark - p.avg)) / (abs(p.qty) * p.avg)

    def spiking(self, p: Position) -> bool:
        spec = self.limits.specs["volatility_spike"]
        return spec is not None and p.z is not None and p.z >= spec.threshold

    def metric(self, name: str, p: Position | None) -> float:
        if name == "daily_loss":
            return _loss(self.day_open, self.equity())
        if name == "weekly_loss":
            return _loss(self.week_open, self.equity())
        if name == "monthly_loss":
            return _loss(self.month_open, self.equity())
        if name == "max_drawdown":
            return self.drawdown()
        if name == "position_loss":
            return self.position_loss(p) if p is not None and p.qty != 0 else NAN
        if name == "volatility_spike":
            return max((q.z for q in self.positions if q.z is not None), default=0.0)
        if name == "leverage":
            return _ratio(self.gross(), self.equity())
        if name == "concentration":
            return self.concentration()
        if name == "portfolio_heat":
            return _ratio(self.heat_amount(), self.equity())
        if name == "consecutive_losses":
            return float(self.streak)
        raise KeyError(name)

    # --- state and events -------------------------------------------------------------------

    def trading_state(self) -> str:
        actions = []
        if self.killed:
            actions.append("close_all_halt")
        for name in BREAKERS:
            spec = self.limits.specs[name]
            if spec is None:
                continue
            if name == "position_loss":
                if any(p.pl_tripped for p in self.positions):
                    actions.append(spec.action)
            elif self.breakers[name].tripped:
                actions.append(spec.action)
        if "close_all_halt" in actions or "halt" in actions:
            return HALTED
        if "reduce" in actions:
            return REDUCING
        return ACTIVE

    def _emit(self, out: list, kind, breaker, symbol, value, threshold, action) -> None:
        out.append(Event(kind, breaker, symbol, value, threshold, action, self.ts, self.state))

    def _breaker_event(self, out, kind, name, symbol, value, spec) -> None:
        """A trip or a recovery: the event, then ``state_changed`` if the state moved."""
        before = self.state
        self.state = self.trading_state()
        self._emit(out, kind, name, symbol, value, spec.threshold, spec.action)
        if self.state != before:
            self._emit(out, "state_changed", name, None, NAN, NAN, None)

    def _act(self, out, call: dict, name: str, spec: Spec, p: Position | None) -> None:
        if spec.action == "close_all_halt":
            targets = self.open_positions()
        elif spec.action == "close_position":
            targets = [p] if p is not None and p.qty != 0 else []
        else:
            targets = []
        for t in targets:
            if t.symbol not in call["flattened"]:
                call["flattened"].add(t.symbol)
                self._emit(out, "flatten_requested", name, t.symbol, t.qty, NAN, spec.action)
        if spec.action == "reduce" and not call["reduced"]:
            call["reduced"] = True
            self._emit(out, "reduce_requested", name, None, spec.fraction, NAN, "reduce")

    def _rearm_position(self, out, p: Position, value: float) -> None:
        spec = self.limits.specs["position_loss"]
        p.pl_tripped = False
        self._breaker_event(out, "breaker_recovered", "position_loss", p.symbol, value, spec)

    def _evaluate(self, out: list, p: Position) -> None:
        call = {"flattened": set(), "reduced": False}
        for name in BREAKERS:
            spec = self.limits.specs[name]
            if spec is None:
                continue
            if name == "position_loss":
                if p.qty != 0 and not p.pl_tripped:
                    value = self.position_loss(p)
                    if value >= spec.threshold:
                        p.pl_tripped = True
                        self._breaker_event(out, "breaker_tripped", name, p.symbol, value, spec)
                        self._act(out, call, name, spec, p)
                continue
            b = self.breakers[name]
            if (
                b.tripped
                and not spec.latched
                and self.ts >= b.cooldown_until
                and self._rearm_rule(name, spec)
            ):
                # the streak the breaker recovers from, before the recovery zeroes it
                value = self.metric(name, p)
                b.tripped = False
                b.tripped_at = b.cooldown_until = b.key = None
                if name == "consecutive_losses":
                    self.streak = 0
                self._breaker_event(out, "breaker_recovered", name, None, value, spec)
            if not b.tripped:
                value = self.metric(name, p)
                if name == "volatility_spike":
                    trips = any(self.spiking(q) for q in self.positions)
                else:
                    trips = value >= spec.threshold
                if trips:
                    b.tripped, b.tripped_at = True, self.ts
                    b.cooldown_until = self.ts + round(spec.cooldown_s * NS)
                    if name in SESSIONS:
                        b.key = getattr(self, SESSIONS[name])
                    self._breaker_event(out, "breaker_tripped", name, None, value, spec)
                    self._act(out, call, name, spec, p)

    def _rearm_rule(self, name: str, spec: Spec) -> bool:
        if name in SESSIONS:
            return getattr(self, SESSIONS[name]) != self.breakers[name].key
        if name == "volatility_spike":
            return not any(self.spiking(q) for q in self.positions)
        if name in ("max_drawdown", "leverage", "concentration", "portfolio_heat"):
            return self.metric(name, None) < spec.threshold
        if name == "consecutive_losses":
            return True
        raise KeyError(name)

    # --- calls ------------------------------------------------------------------------------

    def on_fill(
        self, symbol: str | int, qty: float, price: float, ts: int, fee: float = 0.0
    ) -> list[Event]:
        self._check_ts(ts)
        if not (abs(qty) <= MAX_QTY and qty != 0):
            raise RefError(f"qty {qty}")
        if not valid_price(price):
            raise RefError(f"price {price}")
        if not 0 <= fee <= MAX_MONEY:
            raise RefError(f"fee {fee}")
        qty, price, fee = float(qty), float(price), float(fee)
        if isinstance(symbol, str) and symbol not in self.ids:
            held = 0.0
        else:
            held = self._position(symbol, intern=False).qty
        if not abs(held + qty) <= MAX_QTY:
            raise RefError(f"position {held} + {qty} beyond the bound")
        p = self._position(symbol, intern=True)
        out: list[Event] = []
        self._roll(ts)
        self.cash = self.cash - qty * price - fee
        q = p.qty
        if q == 0:
            p.qty, p.avg, p.realized = qty, price, -fee
        elif (q > 0) == (qty > 0):
            p.avg = (q * p.avg + qty * price) / (q + qty)
            p.realized -= fee
            p.qty = q + qty
        else:
            c = min(abs(qty), abs(q))
            piece = c * (price - p.avg) * (1.0 if q > 0 else -1.0)
            self.realized += piece
            p.realized += piece - fee
            if abs(qty) < abs(q):
                p.qty = q + qty
            else:
                # the trade's outcome is the position's realized P&L since it opened, net of
                # every fee, the opening one included
                self.streak = self.streak + 1 if p.realized < 0 else 0
                p.stop, p.stop_hit = None, False
                p.qty = q + qty
                if abs(qty) > abs(q):
                    p.avg, p.realized = price, 0.0
                if p.pl_tripped:
                    # a closed position has no position-loss metric
                    self._rearm_position(out, p, NAN)
        self.realized -= fee
        p.mark = price
        self.peak = max(self.peak, self.equity())
        self._evaluate(out, p)
        return out

    def set_stop(self, symbol: str | int, price: float | None) -> None:
        p = self._position(symbol, intern=False)
        if p.qty == 0:
            raise RefError(f"no open position in {p.symbol}")
        if price is not None and not valid_price(price):
            raise RefError(f"stop {price}")
        p.stop, p.stop_hit = price, False

    def on_tick(self, symbol: str | int, price: float, ts: int) -> list[Event]:
        self._check_ts(ts)
        p = self._position(symbol, intern=False)
        price = float(price)
        if not valid_price(price):
            raise RefError(f"price {price}")
        out: list[Event] = []
        self._roll(ts)
        if p.last_tick is not None:
            r = math.log(price / p.last_tick)
            n, var = p.n, p.var
            lim = self.limits
            if n >= lim.warmup:
                if var == 0:
                    p.z = 0.0 if r == 0 else INF
                else:
                    p.z = abs(r) / math.sqrt(var)
            if n < lim.warmup:
                p.var = (var * n + r * r) / (n + 1)
            else:
                p.var = lim.lam * var + (1 - lim.lam) * r * r
            p.n = n + 1
        p.last_tick = price
        p.mark = price
        self.peak = max(self.peak, self.equity())
        # the ticked symbol only: a stop set beyond another symbol's mark waits for that
        # symbol's next tick
        if p.qty != 0 and p.stop is not None and not p.stop_hit:
            if (p.qty > 0 and p.mark <= p.stop) or (p.qty < 0 and p.mark >= p.stop):
                p.stop_hit = True
                self._emit(out, "stop_hit", None, p.symbol, p.mark, p.stop, "close_position")
        self._evaluate(out, p)
        return out

    def on_ticks(self, ids, prices, ts) -> list[Event]:
        if not len(ids) == len(prices) == len(ts):
            raise RefError("ids, prices and ts differ in length")
        last = self.ts
        for i, price, t in zip(ids, prices, ts, strict=True):
            if not 0 <= int(i) < len(self.positions):
                raise RefError(f"unknown symbol id {i}")
            if not valid_price(price):
                raise RefError(f"price {price}")
            if int(t) < last:
                raise RefError(f"ts {t} is earlier than {last}")
            last = int(t)
        out: list[Event] = []
        for i, p, t in zip(ids, prices, ts, strict=True):
            out.extend(self.on_tick(int(i), float(p), int(t)))
        return out

    def kill(self, reason: str, ts: int) -> list[Event]:
        self._check_ts(ts)
        out: list[Event] = []
        self._roll(ts)
        if self.killed:
            return out
        self.killed = True
        before = self.state
        self.state = self.trading_state()
        self._emit(out, "kill_switch", "kill_switch", None, NAN, NAN, "close_all_halt")
        if self.state != before:
            self._emit(out, "state_changed", "kill_switch", None, NAN, NAN, None)
        for p in self.open_positions():
            self._emit(
                out, "flatten_requested", "kill_switch", p.symbol, p.qty, NAN, "close_all_halt"
            )
        return out

    def pause(self, reason: str, ts: int) -> list[Event]:
        self._check_ts(ts)
        out: list[Event] = []
        self._roll(ts)
        if not self.paused:
            self.paused = True
            self._emit(out, "paused", None, None, NAN, NAN, None)
        return out

    def resume(self, ts: int) -> list[Event]:
        self._check_ts(ts)
        out: list[Event] = []
        self._roll(ts)
        if self.paused:
            self.paused = False
            self._emit(out, "resumed", None, None, NAN, NAN, None)
        return out

    def reset(self, name: str, ts: int, confirm: bool = False) -> list[Event]:
        if not confirm:
            raise RefError("reset needs confirm=True")
        if name not in BREAKERS and name != "kill_switch":
            raise RefError(f"unknown breaker {name!r}")
        self._check_ts(ts)
        out: list[Event] = []
        self._roll(ts)
        if name == "kill_switch":
            if self.killed:
                self.killed = False
                before = self.state
                self.state = self.trading_state()
                self._emit(out, "breaker_recovered", name, None, NAN, NAN, "close_all_halt")
                if self.state != before:
                    self._emit(out, "state_changed", name, None, NAN, NAN, None)
            return out
        spec = self.limits.specs[name]
        if spec is None:
            return out
        if name == "position_loss":
            for p in self.positions:
                if p.pl_tripped:
                    # a closed position has no position-loss metric
                    self._rearm_position(out, p, NAN)
            return out
        b = self.breakers[name]
        if not b.tripped:
            return out
        b.tripped = False
        b.tripped_at = b.cooldown_until = b.key = None
        if name == "max_drawdown":
            self.peak = self.equity()
        if name == "consecutive_losses":
            self.streak = 0
        self._breaker_event(out, "breaker_recovered", name, None, NAN, spec)
        return out

    # --- views ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        equity = self.equity()
        return {
            "ts": self.ts,
            "equity": equity,
            "cash": self.cash,
            "peak_equity": self.peak,
            "drawdown": self.drawdown(),
            "day_open_equity": self.day_open,
            "day_loss": _loss(self.day_open, equity),
            "week_open_equity": self.week_open,
            "week_loss": _loss(self.week_open, equity),
            "month_open_equity": self.month_open,
            "month_loss": _loss(self.month_open, equity),
            "gross_exposure": self.gross(),
            "net_exposure": self.net(),
            "leverage": _ratio(self.gross(), equity),
            "concentration": self.concentration(),
            "heat": _ratio(self.heat_amount(), equity),
            "state": self.state,
            "paused": self.paused,
            "consecutive_losses": self.streak,
            "realized_pnl": self.realized,
            "positions": {
                p.symbol: {
                    "qty": p.qty,
                    "avg_price": p.avg,
                    "mark": p.mark,
                    "unrealized_pnl": p.qty * (p.mark - p.avg),
                    "realized_pnl": p.realized,
                    "stop": p.stop,
                }
                for p in self.open_positions()
            },
        }

    def breaker_status(self) -> dict[str, dict[str, Any]]:
        """Status of every breaker except ``position_loss``, which is kept per position."""
        out = {}
        for name in BREAKERS:
            if name == "position_loss":
                continue
            spec = self.limits.specs[name]
            if spec is None:
                out[name] = {"status": "off"}
                continue
            b = self.breakers[name]
            out[name] = {
                "status": "tripped" if b.tripped else "armed",
                "threshold": spec.threshold,
                "action": spec.action,
                "latched": spec.latched,
                "tripped_at": b.tripped_at,
                # a breaker without a cooldown shows none
                "cooldown_until": b.cooldown_until if spec.cooldown_s else None,
            }
        return out


def canonical(x: Any) -> Any:
    """``x`` with floats as exact hex strings (every NaN alike) and enums by name, for
    bit-for-bit comparisons of snapshots and events."""
    if isinstance(x, dict):
        return {k: canonical(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [canonical(v) for v in x]
    if isinstance(x, float):
        return "nan" if math.isnan(x) else x.hex()
    if hasattr(x, "name") and not isinstance(x, str):
        return x.name
    return x
