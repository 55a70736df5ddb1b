"""Plain Python reference of the pre-trade gate of ``docs/gate.md``: ``evaluate_signal``,
``check_order``, the sizing methods, adjusters and caps behind them, the plain functions of
``riskguard.sizing``, and the bar indicators and correlations of its "Market data" section.

It keeps no account of its own. The engine state the gate reads comes in as a ``Book`` of plain
values (equity, gross, heat, open positions, marks, trading state, pause, tripped breakers,
streak, drawdown, ATR/EMA, volatility scores, known correlations, closed trade P&Ls, lot sizes,
accepted orders), which a test fills from a real engine's views, so each rule below can be checked
against the engine on its own. Like ``engine_reference.py`` it is slow and literal: every
check is written in the order, form and operation order of the contract.

Where the contract leaves a detail open, the model takes the plain reading and says so:
- the trading-state group names only the breakers the contract lists, in the order it lists
  them (daily, weekly and monthly loss, drawdown, consecutive losses, volatility spike,
  leverage, kill switch); a tripped ``position_loss``, ``concentration`` or ``portfolio_heat``
  breaker whose action halts or reduces shows only through ``TRADING_HALTED``/``REDUCE_ONLY``;
- the ATR is an input of the confidence check only to choose the floor: without it (and with
  ``max_atr_ratio``, or ``high_vol_atr_ratio`` and ``high_vol_confidence``, on) the check
  reports the missing ATR, then holds the confidence to ``min_confidence``;
- a missing or unusable stop is reported at the sizing step, which then sizes 0 whatever the
  method (a given quantity is kept); without a stop ``d``, the risk ``q * d`` and the reward
  to risk are NaN, which no comparison flags, while a missing target is still reported;
- a given quantity is used as it is: no adjusters, caps or lot rounding;
- ``risk_parity`` weighs the signal against the *other* open positions; a method that lacks an
  ATR gives one ``MISSING_MARKET_DATA`` (the signal's ATR first, else the first open position
  without one), and ``consensus`` sizes 0 with the reason of its first member that lacks one;
- a member ``kelly`` of ``consensus`` falls back to ``fixed_fractional`` with too few trades,
  as ``kelly`` does on its own;
- a loss, for ``kelly``'s mean loss, is a closed trade that is not a win (P&L <= 0);
- ``CORRELATION_TOO_HIGH`` comes before one ``MISSING_MARKET_DATA`` that names every open
  symbol of unknown correlation; a correlation that is NaN (a constant return series) is
  unknown;
- "the last N closed trades" are in closing order; "within ``duplicate_window_s`` before ts"
  is ``(ts - window, ts]``, like the rate window.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

NAN = math.nan
INF = math.inf
NS = 1_000_000_000
SLACK = 1e-9
MIN_PRICE, MAX_PRICE = 1e-15, 1e15
MAX_QTY = 1e15

METHODS = (
    "fixed_fractional",
    "fixed_amount",
    "kelly",
    "volatility_target",
    "atr",
    "risk_parity",
    "consensus",
    "regime_based",
)
CONSENSUS = ("UNANIMOUS", "STRONG", "WEAK", "SPLIT")

# docs/gate.md, "Settings".
DEFAULTS: dict[str, Any] = {
    "sizing": "fixed_fractional",
    "risk_per_trade": 0.01,
    "trade_amount": 1000.0,
    "kelly_fraction": 0.5,
    "kelly_cap": 0.25,
    "kelly_min_trades": 20,
    "target_volatility": 0.01,
    "consensus_methods": ["fixed_fractional", "atr", "volatility_target"],
    "consensus_mode": "min",
    "max_risk_per_trade": 0.02,
    "max_position_pct": 0.10,
    "max_position_notional": None,
    "min_notional": 5.0,
    "min_reward_risk": 1.5,
    "max_heat": 0.10,
    "max_positions": 5,
    "max_exposure": 0.80,
    "max_correlation": 0.70,
    "correlation_window": 100,
    "correlation_min_obs": 20,
    "signal_filters": True,
    "min_confidence": 0.70,
    "high_vol_confidence": 0.80,
    "max_atr_ratio": 0.05,
    "high_vol_atr_ratio": 0.03,
    "allowed_consensus": ["UNANIMOUS", "STRONG"],
    "require_trend": True,
    "min_volume_24h": 1_000_000.0,
    "max_spread_bps": 50.0,
    "price_collar": 0.05,
    "max_orders_per_second": 10,
    "duplicate_window_s": 1.0,
    "atr_period": 14,
    "ema_period": 200,
    "sl_atr": 1.5,
    "tp_atr": 3.75,
    "breakeven_r": 1.0,
    "breakeven_offset": 0.001,
    "partial_tp_r": 2.0,
    "partial_tp_fraction": 0.5,
    "trail_start_r": 2.0,
    "trail_atr": 1.0,
    "max_hours_no_progress": None,
    "max_bars_no_progress": 24,
}

# The trading-state group: breaker name -> reason code, in the order docs/gate.md lists them.
STATE_CODES = {
    "daily_loss": "DAILY_LOSS_LIMIT",
    "weekly_loss": "WEEKLY_LOSS_LIMIT",
    "monthly_loss": "MONTHLY_LOSS_LIMIT",
    "max_drawdown": "DRAWDOWN_LIMIT",
    "consecutive_losses": "LOSING_STREAK_PAUSE",
    "volatility_spike": "VOLATILITY_TOO_HIGH",
    "leverage": "LEVERAGE_EXCEEDED",
    "kill_switch": "KILL_SWITCH",
}
HALTS_OR_REDUCES = ("close_all_halt", "halt", "reduce")

# Every code of docs/gate.md.
CODES = (
    "TRADING_PAUSED",
    "TRADING_HALTED",
    "REDUCE_ONLY",
    "DAILY_LOSS_LIMIT",
    "WEEKLY_LOSS_LIMIT",
    "MONTHLY_LOSS_LIMIT",
    "DRAWDOWN_LIMIT",
    "LOSING_STREAK_PAUSE",
    "VOLATILITY_TOO_HIGH",
    "LEVERAGE_EXCEEDED",
    "KILL_SWITCH",
    "CONSENSUS_TOO_WEAK",
    "CONFIDENCE_TOO_LOW",
    "TREND_MISALIGNED",
    "VOLUME_TOO_LOW",
    "SPREAD_TOO_WIDE",
    "MISSING_MARKET_DATA",
    "POSITION_SIZE_EXCEEDED",
    "NOTIONAL_TOO_LARGE",
    "RISK_PER_TRADE_EXCEEDED",
    "REWARD_RISK_TOO_LOW",
    "PORTFOLIO_HEAT_EXCEEDED",
    "MAX_POSITIONS",
    "EXPOSURE_EXCEEDED",
    "CONCENTRATION_EXCEEDED",
    "CORRELATION_TOO_HIGH",
    "NOTIONAL_TOO_SMALL",
    "PRICE_COLLAR",
    "RATE_LIMITED",
    "DUPLICATE_ORDER",
)


class RefError(ValueError):
    """The reference refuses the call (the engine must raise ``RiskError`` too)."""


def settings(**kw: Any) -> dict[str, Any]:
    """The gate settings of an ``rg.Limits(**kw)``; breaker keywords are left to the ``Book``."""
    out = dict(DEFAULTS)
    out.update({k: v for k, v in kw.items() if k in DEFAULTS})
    return out


def exceeds(x: float, limit: float) -> bool:
    return x > limit * (1 + SLACK)


def falls_short(x: float, limit: float) -> bool:
    return x < limit * (1 - SLACK)


# --- riskguard.sizing ----------------------------------------------------------------------------


def _positive(name: str, x: float) -> float:
    if not (isinstance(x, (int, float)) and math.isfinite(x) and x > 0):
        raise RefError(f"{name} must be positive and finite, got {x!r}")
    return float(x)


def fixed_fractional(equity: float, risk: float, entry: float, stop: float) -> float:
    for name, x in (("equity", equity), ("risk", risk), ("entry", entry), ("stop", stop)):
        _positive(name, x)
    if entry == stop:
        raise RefError("entry equals stop")
    return equity * risk / abs(entry - stop)


def fixed_amount(amount: float, price: float) -> float:
    return _positive("amount", amount) / _positive("price", price)


def kelly(
    win_rate: float, win_loss_ratio: float, fraction: float = 0.5, cap: float = 0.25
) -> float:
    p, b = win_rate, win_loss_ratio
    if not 0 <= p <= 1:
        raise RefError(f"win_rate {p!r}")
    if b != INF:  # an infinite ratio is a record without losses: the edge is p
        _positive("win_loss_ratio", b)
    if not 0 < fraction <= 1 or not 0 < cap <= 1:
        raise RefError(f"fraction {fraction!r} or cap {cap!r}")
    edge = p if b == INF else (p * b - (1 - p)) / b
    return min(cap, fraction * max(0.0, edge))


def volatility_target(
    equity: float, target_volatility: float, volatility: float, price: float
) -> float:
    for name, x in (
        ("equity", equity),
        ("target_volatility", target_volatility),
        ("volatility", volatility),
        ("price", price),
    ):
        _positive(name, x)
    return equity * target_volatility / (volatility * price)


def atr(equity: float, risk: float, atr: float, k: float = 1.5) -> float:
    for name, x in (("equity", equity), ("risk", risk), ("atr", atr), ("k", k)):
        _positive(name, x)
    return equity * risk / (k * atr)


def inverse_volatility(volatilities: Sequence[float]) -> list[float]:
    if len(volatilities) == 0:
        raise RefError("no volatilities")
    inverse = [1.0 / _positive("volatility", v) for v in volatilities]
    total = sum(inverse)
    return [x / total for x in inverse]


def risk_parity(covariance: Sequence[Sequence[float]]) -> list[float]:
    """Equal risk contributions by cyclical coordinate descent on ``½ w'Σw − (1/n) Σ ln w_i``,
    whose minimum has ``w_i (Σw)_i = 1/n`` for every i; normalised to sum to 1."""
    n = len(covariance)
    if n == 0 or any(len(row) != n for row in covariance):
        raise RefError("covariance must be a non-empty square matrix")
    for i in range(n):
        _positive("variance", covariance[i][i])
        for j in range(n):
            if not math.isfinite(covariance[i][j]) or covariance[i][j] != covariance[j][i]:
                raise RefError("covariance must be finite and symmetric")
    b = 1.0 / n
    w = [1.0 / math.sqrt(covariance[i][i]) for i in range(n)]
    for _ in range(10_000):
        largest = 0.0
        for i in range(n):
            c = sum(covariance[i][j] * w[j] for j in range(n) if j != i)
            s = covariance[i][i]
            new = (-c + math.sqrt(c * c + 4 * s * b)) / (2 * s)
            largest = max(largest, abs(new - w[i]) / new)
            w[i] = new
        # tighter than the engine's 1e-12, so that the reference is the better of the two
        if largest <= 1e-14:
            break
    total = sum(w)
    return [x / total for x in w]


def consensus(sizes: Sequence[float], how: str = "min", weights: Sequence[float] | None = None):
    if len(sizes) == 0:
        raise RefError("no sizes")
    for x in sizes:
        if not (math.isfinite(x) and x >= 0):
            raise RefError(f"size {x!r}")
    if how == "min":
        return min(sizes)
    if how == "median":
        return statistics.median(sizes)
    if how == "mean":
        if weights is None:
            weights = [1.0] * len(sizes)
        if len(weights) != len(sizes) or any(not (math.isfinite(w) and w >= 0) for w in weights):
            raise RefError("weights")
        total = sum(weights)
        if total <= 0:
            raise RefError("weights sum to 0")
        return sum(w * x for w, x in zip(weights, sizes, strict=True)) / total
    raise RefError(f"how {how!r}")


VOLATILITY_FACTORS = {"high": 0.7, "low": 1.3, "normal": 1.0}


def regime_based(
    quantity: float,
    regime: float = 1.0,
    trend_aligned: bool = False,
    volatility: str = "normal",
    performance: float = 1.0,
) -> float:
    if volatility not in VOLATILITY_FACTORS:
        raise RefError(f"volatility {volatility!r}")
    return (
        quantity
        * regime
        * (1.2 if trend_aligned else 1.0)
        * VOLATILITY_FACTORS[volatility]
        * performance
    )


def adjust_size(
    quantity: float,
    confidence: float | None = None,
    consecutive_losses: int = 0,
    drawdown: float = 0.0,
) -> float:
    q = quantity
    if confidence is not None:
        if confidence >= 0.85:
            q *= 1.5
        elif confidence < 0.60:
            q *= 0.5
    if consecutive_losses >= 3:
        q *= 0.5
    if drawdown >= 0.02:
        q *= 0.5
    return q


# --- market data ---------------------------------------------------------------------------------


@dataclass
class SymbolBars:
    prev_close: float | None = None
    trs: list[float] = field(default_factory=list)
    atr: float | None = None
    closes: list[float] = field(default_factory=list)
    ema: float | None = None
    returns: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class Market:
    """``on_bar`` indicators and returns of every symbol, and the correlations given with
    ``set_correlation``."""

    atr_period: int = 14
    ema_period: int = 200
    window: int = 100
    min_obs: int = 20
    bars: dict[str, SymbolBars] = field(default_factory=dict)
    given: dict[frozenset, float] = field(default_factory=dict)

    @classmethod
    def of(cls, cfg: Mapping[str, Any]) -> Market:
        return cls(
            cfg["atr_period"],
            cfg["ema_period"],
            cfg["correlation_window"],
            cfg["correlation_min_obs"],
        )

    def on_bar(self, symbol: str, high: float, low: float, close: float, ts: int) -> None:
        b = self.bars.setdefault(symbol, SymbolBars())
        if b.prev_close is not None:
            tr = max(high - low, abs(high - b.prev_close), abs(low - b.prev_close))
            n = self.atr_period
            if b.atr is None:
                b.trs.append(tr)
                if len(b.trs) == n:
                    b.atr = sum(b.trs) / n
            else:
                b.atr = (b.atr * (n - 1) + tr) / n
            b.returns.append((ts, math.log(close / b.prev_close)))
            del b.returns[: -self.window]
        b.prev_close = close
        n = self.ema_period
        if b.ema is None:
            b.closes.append(close)
            if len(b.closes) == n:
                b.ema = sum(b.closes) / n
        else:
            k = 2.0 / (n + 1)
            b.ema = k * close + (1 - k) * b.ema

    def set_correlation(self, symbols: Sequence[str], matrix: Sequence[Sequence[float]]) -> None:
        for i, a in enumerate(symbols):
            for j, b in enumerate(symbols):
                if i != j:
                    self.given[frozenset((a, b))] = float(matrix[i][j])

    def correlation(self, a: str, b: str) -> float | None:
        pair = frozenset((a, b))
        if pair in self.given:
            return self.given[pair]
        ra = dict(self.bars[a].returns) if a in self.bars else {}
        rb = dict(self.bars[b].returns) if b in self.bars else {}
        common = sorted(set(ra) & set(rb))
        if len(common) < self.min_obs:
            return None
        x = [ra[t] for t in common]
        y = [rb[t] for t in common]
        mx, my = sum(x) / len(x), sum(y) / len(y)
        sxy = sum((u - mx) * (v - my) for u, v in zip(x, y, strict=True))
        sxx = sum((u - mx) ** 2 for u in x)
        syy = sum((v - my) ** 2 for v in y)
        if sxx == 0 or syy == 0:
            return None
        return sxy / math.sqrt(sxx * syy)


# --- the engine state the gate reads -------------------------------------------------------------


@dataclass
class Book:
    equity: float
    ts: int = 0
    gross: float = 0.0
    heat: float = 0.0  # money lost if every open position went to its (implicit) stop
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)  # open, id order
    marks: dict[str, float] = field(default_factory=dict)  # every symbol that has a mark
    state: str = "ACTIVE"
    paused: bool = False
    tripped: list[tuple[str, str, float, float]] = field(default_factory=list)  # name, action,
    # value, threshold of each tripped breaker, the kill switch included
    thresholds: dict[str, float | None] = field(default_factory=dict)  # None: breaker off
    streak: int = 0
    drawdown: float = 0.0
    atr: dict[str, float] = field(default_factory=dict)  # the engine's ready ATRs
    ema: dict[str, float] = field(default_factory=dict)
    z: dict[str, float] = field(default_factory=dict)  # latest volatility scores
    correlations: dict[frozenset, float] = field(default_factory=dict)  # the known ones
    closed_pnls: list[float] = field(default_factory=list)  # in closing order
    lots: dict[str, float] = field(default_factory=dict)
    orders: list[tuple[int, str, float, float]] = field(default_factory=list)  # accepted


def heat_amount(
    rows: Sequence[tuple[float, float, float, float | None]], position_loss: float | None
) -> float:
    """docs/engine.md's heat numerator from ``(qty, avg, mark, stop)`` of the open positions."""
    total = 0.0
    for qty, avg, mark, stop in rows:
        if stop is None:
            if position_loss is None:
                total += abs(qty * mark)
                continue
            t = position_loss
            stop = avg * (1 - t) if qty > 0 else avg * (1 + t)
        total += max(0.0, (mark - stop) * qty)
    return total


# --- decisions -----------------------------------------------------------------------------------


class Reason(NamedTuple):
    code: str
    value: float = NAN
    limit: float = NAN
    what: str = ""  # for MISSING_MARKET_DATA: what is missing


class Decision(NamedTuple):
    approved: bool
    side: str
    quantity: float
    entry: float
    stop: float
    target: float
    risk_amount: float
    risk_pct: float
    reward_risk: float
    method: str
    reasons: list[Reason]

    @property
    def codes(self) -> list[str]:
        return [r.code for r in self.reasons]


def _finite_in(x: Any, lo: float, hi: float) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and lo <= x <= hi


def validate_signal(sig: Mapping[str, Any]) -> None:
    """The ``RiskError`` cases of ``evaluate_signal`` that concern the signal itself."""
    symbol, side, entry = sig["symbol"], sig["side"], sig["entry"]
    if not isinstance(symbol, str) or symbol == "":
        raise RefError("symbol")
    if side not in ("long", "short"):
        raise RefError(f"side {side!r}")
    s = 1 if side == "long" else -1
    for name in ("entry", "stop", "target"):
        x = sig.get(name)
        if (name == "entry" or x is not None) and not _finite_in(x, MIN_PRICE, MAX_PRICE):
            raise RefError(f"{name} {x!r}")
    stop, target = sig.get("stop"), sig.get("target")
    if stop is not None and not s * (entry - stop) > 0:
        raise RefError("stop not on the loss side")
    if target is not None and not s * (target - entry) > 0:
        raise RefError("target not on the profit side")
    c = sig.get("confidence")
    if c is not None and not _finite_in(c, 0.0, 1.0):
        raise RefError(f"confidence {c!r}")
    if sig.get("consensus") is not None and sig["consensus"] not in CONSENSUS:
        raise RefError(f"consensus {sig['consensus']!r}")
    for name in ("atr", "ema"):
        x = sig.get(name)
        if x is not None and not (_finite_in(x, 0.0, math.inf) and x > 0 and math.isfinite(x)):
            raise RefError(f"{name} {x!r}")
    for name in ("volume_24h", "spread_bps"):
        x = sig.get(name)
        if x is not None and not (_finite_in(x, 0.0, math.inf) and math.isfinite(x)):
            raise RefError(f"{name} {x!r}")
    r = sig.get("regime")
    if r is not None and not (_finite_in(r, 0.0, math.inf) and r > 0 and math.isfinite(r)):
        raise RefError(f"regime {r!r}")
    q = sig.get("quantity")
    if q is not None and not (_finite_in(q, 0.0, MAX_QTY) and q > 0):
        raise RefError(f"quantity {q!r}")


def _state_group(book: Book) -> list[Reason]:
    out = []
    if book.paused:
        out.append(Reason("TRADING_PAUSED"))
    if book.state == "HALTED":
        out.append(Reason("TRADING_HALTED"))
    elif book.state == "REDUCING":
        out.append(Reason("REDUCE_ONLY"))
    tripped = {name: (action, value, threshold) for name, action, value, threshold in book.tripped}
    for name, code in STATE_CODES.items():
        if name in tripped and tripped[name][0] in HALTS_OR_REDUCES:
            _, value, threshold = tripped[name]
            out.append(Reason(code, value, threshold))
    return out


def _size_group(
    book: Book,
    cfg: Mapping[str, Any],
    symbol: str,
    s: int,
    q: float,
    d: float,
    entry: float,
    reward_risk: float | None,
    has_target: bool = True,
) -> list[Reason]:
    """The size and risk checks; ``reward_risk`` None leaves out the two that orders skip."""
    equity = book.equity
    q0, mark0 = book.positions.get(symbol, (0.0, NAN))
    q1 = q0 + s * q
    v1 = abs(q1) * entry
    g = book.gross - (abs(q0 * mark0) if q0 != 0 else 0.0)
    risk = q * d
    # a trade against its open position that shrinks it is exempt from the value checks
    reduces = q0 * s < 0 and v1 <= abs(q0 * mark0)
    value = 0.0 if reduces else _ratio(v1, equity)
    out = []
    if cfg["max_position_pct"] is not None and exceeds(value, cfg["max_position_pct"]):
        out.append(Reason("POSITION_SIZE_EXCEEDED", value, cfg["max_position_pct"]))
    lim = cfg["max_position_notional"]
    if lim is not None and not reduces and exceeds(v1, lim):
        out.append(Reason("NOTIONAL_TOO_LARGE", v1, lim))
    if reward_risk is not None:
        lim = cfg["max_risk_per_trade"]
        if lim is not None and exceeds(_ratio(risk, equity), lim):
            out.append(Reason("RISK_PER_TRADE_EXCEEDED", _ratio(risk, equity), lim))
        lim = cfg["min_reward_risk"]
        if lim is not None:
            if not has_target:
                out.append(Reason("MISSING_MARKET_DATA", what="target"))
            elif falls_short(reward_risk, lim):
                out.append(Reason("REWARD_RISK_TOO_LOW", reward_risk, lim))
    heat = _ratio(book.heat + risk, equity)
    if cfg["max_heat"] is not None and exceeds(heat, cfg["max_heat"]):
        out.append(Reason("PORTFOLIO_HEAT_EXCEEDED", heat, cfg["max_heat"]))
    if q0 == 0 and len(book.positions) >= cfg["max_positions"]:
        out.append(Reason("MAX_POSITIONS", len(book.positions), cfg["max_positions"]))
    exposure = 0.0 if reduces else _ratio(g + v1, equity)
    if cfg["max_exposure"] is not None and exceeds(exposure, cfg["max_exposure"]):
        out.append(Reason("EXPOSURE_EXCEEDED", exposure, cfg["max_exposure"]))
    lev = book.thresholds.get("leverage")
    if lev is not None and exceeds(exposure, lev):
        out.append(Reason("LEVERAGE_EXCEEDED", exposure, lev))
    conc = book.thresholds.get("concentration")
    if conc is not None and exceeds(value, conc):
        out.append(Reason("CONCENTRATION_EXCEEDED", value, conc))
    return out


def _ratio(amount: float, equity: float) -> float:
    """An amount as a share of equity: 0 when the amount is 0, inf when equity is not > 0."""
    if amount == 0:
        return 0.0
    return amount / equity if equity > 0 else INF


def _closed_stats(pnls: Sequence[float]) -> tuple[int, list[float], list[float]]:
    wins = [p for p in pnls if p > 0]
    losses = [-p for p in pnls if not p > 0]
    return len(pnls), wins, losses


class _Sizer:
    """The configured method's quantity, before the adjusters, for a signal with a stop."""

    def __init__(self, sig, book: Book, cfg, s: int, a, e, stop: float) -> None:
        self.sig, self.book, self.cfg = sig, book, cfg
        self.s, self.a, self.e, self.stop = s, a, e, stop
        self.entry = sig["entry"]
        self.missing: list[Reason] = []

    def size(self, method: str) -> tuple[float, str]:
        cfg, book, entry, a = self.cfg, self.book, self.entry, self.a
        equity = book.equity
        if method == "fixed_fractional":
            return fixed_fractional(equity, cfg["risk_per_trade"], entry, self.stop), method
        if method == "fixed_amount":
            return cfg["trade_amount"] / entry, method
        if method == "kelly":
            n, wins, losses = _closed_stats(book.closed_pnls[-100:])
            if n < cfg["kelly_min_trades"]:
                return self.size("fixed_fractional")[0], "fixed_fractional"
            if not wins:
                f = 0.0
            elif sum(losses) == 0:
                f = cfg["kelly_cap"]
            else:
                p = len(wins) / n
                b = (sum(wins) / len(wins)) / (sum(losses) / len(losses))
                f = kelly(p, b, cfg["kelly_fraction"], cfg["kelly_cap"])
            return f * equity / entry, method
        if method == "volatility_target":
            if a is None:
                self.missing.append(Reason("MISSING_MARKET_DATA", what="atr"))
                return 0.0, method
            return volatility_target(equity, cfg["target_volatility"], a / entry, entry), method
        if method == "atr":
            if a is None:
                self.missing.append(Reason("MISSING_MARKET_DATA", what="atr"))
                return 0.0, method
            return atr(equity, cfg["risk_per_trade"], a, cfg["sl_atr"]), method
        if method == "risk_parity":
            if a is None:
                self.missing.append(Reason("MISSING_MARKET_DATA", what="atr"))
                return 0.0, method
            vols = []
            for sym, (_, mark) in book.positions.items():
                if sym == self.sig["symbol"]:
                    continue
                if sym not in book.atr:
                    self.missing.append(Reason("MISSING_MARKET_DATA", what=f"atr {sym}"))
                    return 0.0, method
                vols.append(book.atr[sym] / mark)
            w_new = inverse_volatility([*vols, a / entry])[-1]
            return w_new * cfg["max_exposure"] * equity / entry, method
        if method == "consensus":
            sizes = []
            for m in cfg["consensus_methods"]:
                sizes.append(self.size(m)[0])
                if self.missing:
                    return 0.0, method
            return consensus(sizes, cfg["consensus_mode"]), method
        if method == "regime_based":
            base = fixed_fractional(equity, cfg["risk_per_trade"], entry, self.stop)
            regime = self.sig.get("regime")
            aligned = self.e is not None and self.s * (entry - self.e) > 0
            # High volatility starts where the gate raises the confidence floor.
            ratio = cfg["high_vol_atr_ratio"]
            if ratio is None:
                ratio = cfg["max_atr_ratio"]
            vol = "normal"
            if ratio is not None and a is not None:
                if a / entry > ratio:
                    vol = "high"
                elif a / entry < ratio / 2:
                    vol = "low"
            n, wins, _ = _closed_stats(book.closed_pnls[-20:])
            perf = min(1.5, max(0.5, 2 * len(wins) / n)) if n >= 10 else 1.0
            q = regime_based(base, 1.0 if regime is None else regime, aligned, vol, perf)
            return q, method
        raise RefError(f"sizing {method!r}")


def _caps(q: float, book: Book, cfg, symbol: str, s: int, entry: float, d: float) -> float:
    """The caps of docs/gate.md, each the largest q (floored at 0) that keeps its amount."""
    equity = book.equity
    q0, mark0 = book.positions.get(symbol, (0.0, NAN))
    g = book.gross - (abs(q0 * mark0) if q0 != 0 else 0.0)
    q = max(q, 0.0)

    def value_cap(limit: float) -> float:
        # |q0 + s q| * entry <= limit, read on the side of the signal
        return max(0.0, limit / entry - s * q0)

    for pct in (cfg["max_position_pct"], book.thresholds.get("concentration")):
        if pct is not None:
            q = min(q, value_cap(pct * equity))
    if cfg["max_position_notional"] is not None:
        q = min(q, value_cap(cfg["max_position_notional"]))
    for ratio in (cfg["max_exposure"], book.thresholds.get("leverage")):
        if ratio is not None:
            q = min(q, value_cap(ratio * equity - g))
    if cfg["max_risk_per_trade"] is not None:
        q = min(q, max(0.0, cfg["max_risk_per_trade"] * equity / d))
    if cfg["max_heat"] is not None:
        q = min(q, max(0.0, (cfg["max_heat"] * equity - book.heat) / d))
    return q


def round_lot(q: float, lot: float | None) -> float:
    if lot is None:
        return q
    return math.floor(q / lot + 1e-9) * lot


def evaluate_signal(sig: Mapping[str, Any], ts: int, book: Book, cfg: Mapping[str, Any]):
    """docs/gate.md's ``evaluate_signal`` on a ``Book``; ``sig`` has ``rg.Signal``'s fields."""
    sig = {k: sig.get(k) for k in SIGNAL_FIELDS}
    validate_signal(sig)
    if ts < book.ts:
        raise RefError(f"ts {ts} is earlier than {book.ts}")
    symbol, entry = sig["symbol"], float(sig["entry"])
    s = 1 if sig["side"] == "long" else -1
    a = sig["atr"] if sig["atr"] is not None else book.atr.get(symbol)
    e = sig["ema"] if sig["ema"] is not None else book.ema.get(symbol)
    equity = book.equity

    stop, no_stop = None, Reason("MISSING_MARKET_DATA", what="stop")
    if sig["stop"] is not None:
        stop = float(sig["stop"])
    elif a is not None:
        stop = entry - s * cfg["sl_atr"] * a
        if stop < MIN_PRICE:
            stop, no_stop = None, Reason("VOLATILITY_TOO_HIGH", a / entry, NAN)
    if sig["target"] is not None:
        target = float(sig["target"])
    elif a is not None:
        target = entry + s * cfg["tp_atr"] * a
    else:
        target = None
    d = abs(entry - stop) if stop is not None else NAN
    reward_risk = abs(target - entry) / d if target is not None else NAN

    reasons = _state_group(book)

    if cfg["signal_filters"]:
        if cfg["allowed_consensus"] is not None:
            if sig["consensus"] is None:
                reasons.append(Reason("MISSING_MARKET_DATA", what="consensus"))
            elif sig["consensus"] not in cfg["allowed_consensus"]:
                reasons.append(Reason("CONSENSUS_TOO_WEAK"))
        # The volatility gate: above max_atr_ratio refused; above high_vol_atr_ratio the
        # confidence floor rises to high_vol_confidence.
        floor, top = cfg["min_confidence"], cfg["max_atr_ratio"]
        high = cfg["high_vol_atr_ratio"] if cfg["high_vol_confidence"] is not None else None
        if top is not None or high is not None:
            if a is None:
                reasons.append(Reason("MISSING_MARKET_DATA", what="atr"))
            else:
                if top is not None and exceeds(a / entry, top):
                    reasons.append(Reason("VOLATILITY_TOO_HIGH", a / entry, top))
                if high is not None and exceeds(a / entry, high):
                    floor = cfg["high_vol_confidence"]
        if floor is not None:
            c = sig["confidence"]
            if c is None:
                reasons.append(Reason("MISSING_MARKET_DATA", what="confidence"))
            elif c < floor:
                reasons.append(Reason("CONFIDENCE_TOO_LOW", c, floor))
        spike = book.thresholds.get("volatility_spike")
        z = book.z.get(symbol)
        if spike is not None and z is not None and z >= spike:
            reasons.append(Reason("VOLATILITY_TOO_HIGH", z, spike))
        if cfg["require_trend"]:
            if e is None:
                reasons.append(Reason("MISSING_MARKET_DATA", what="ema"))
            elif not s * (entry - e) > 0:
                reasons.append(Reason("TREND_MISALIGNED", entry, e))
        if cfg["min_volume_24h"] is not None:
            v = sig["volume_24h"]
            if v is None:
                reasons.append(Reason("MISSING_MARKET_DATA", what="volume"))
            elif falls_short(v, cfg["min_volume_24h"]):
                reasons.append(Reason("VOLUME_TOO_LOW", v, cfg["min_volume_24h"]))
        if cfg["max_spread_bps"] is not None:
            v = sig["spread_bps"]
            if v is None:
                reasons.append(Reason("MISSING_MARKET_DATA", what="spread"))
            elif exceeds(v, cfg["max_spread_bps"]):
                reasons.append(Reason("SPREAD_TOO_WIDE", v, cfg["max_spread_bps"]))

    if stop is None:
        given = sig["quantity"] is not None
        q, method = (float(sig["quantity"]), "given") if given else (0.0, cfg["sizing"])
        reasons.append(no_stop)
    elif sig["quantity"] is not None:
        q, method = float(sig["quantity"]), "given"
    else:
        sizer = _Sizer(sig, book, cfg, s, a, e, stop)
        q, method = sizer.size(cfg["sizing"])
        reasons.extend(sizer.missing)
        q = adjust_size(q, sig["confidence"], book.streak, book.drawdown)
        q = _caps(q, book, cfg, symbol, s, entry, d)
        q = round_lot(q, book.lots.get(symbol))

    reasons.extend(_size_group(book, cfg, symbol, s, q, d, entry, reward_risk, target is not None))

    limit = cfg["max_correlation"]
    if limit is not None:
        largest, unknown = None, []
        for other, (qj, _) in book.positions.items():
            if other == symbol:
                continue
            rho = book.correlations.get(frozenset((symbol, other)))
            if rho is None:
                unknown.append(other)
                continue
            x = rho * s * (1.0 if qj > 0 else -1.0)
            largest = x if largest is None else max(largest, x)
        if largest is not None and exceeds(largest, limit):
            reasons.append(Reason("CORRELATION_TOO_HIGH", largest, limit))
        if unknown:
            reasons.append(Reason("MISSING_MARKET_DATA", what=f"{symbol}/{', '.join(unknown)}"))

    if q == 0 or (cfg["min_notional"] is not None and falls_short(q * entry, cfg["min_notional"])):
        reasons.append(Reason("NOTIONAL_TOO_SMALL", q * entry, cfg["min_notional"] or NAN))
    mark = book.marks.get(symbol)
    if mark is not None and cfg["price_collar"] is not None:
        off = abs(entry - mark) / mark
        if exceeds(off, cfg["price_collar"]):
            reasons.append(Reason("PRICE_COLLAR", off, cfg["price_collar"]))

    risk = q * d
    return Decision(
        approved=not reasons,
        side=sig["side"],
        quantity=q,
        entry=entry,
        stop=NAN if stop is None else stop,
        target=NAN if target is None else target,
        risk_amount=risk,
        risk_pct=risk / equity,
        reward_risk=reward_risk,
        method=method,
        reasons=reasons,
    )


SIGNAL_FIELDS = (
    "symbol",
    "side",
    "entry",
    "stop",
    "target",
    "confidence",
    "consensus",
    "atr",
    "ema",
    "volume_24h",
    "spread_bps",
    "regime",
    "quantity",
)


def check_order(
    symbol: str,
    qty: float,
    price: float,
    ts: int,
    book: Book,
    cfg: Mapping[str, Any],
    reduce_only: bool = False,
) -> Decision:
    """docs/gate.md's ``check_order`` on a ``Book``. The caller appends an approved order to
    ``book.orders``."""
    if not isinstance(symbol, str) or symbol == "":
        raise RefError("symbol")
    if not (_finite_in(qty, -MAX_QTY, MAX_QTY) and qty != 0):
        raise RefError(f"qty {qty!r}")
    if not _finite_in(price, MIN_PRICE, MAX_PRICE):
        raise RefError(f"price {price!r}")
    if ts < book.ts:
        raise RefError(f"ts {ts} is earlier than {book.ts}")
    qty, price = float(qty), float(price)
    s = 1 if qty > 0 else -1
    q = abs(qty)
    q0, _ = book.positions.get(symbol, (0.0, NAN))
    reduces = q0 != 0 and (q0 > 0) != (qty > 0) and q <= abs(q0)
    pl = book.thresholds.get("position_loss")
    d = price * pl if pl is not None else price

    reasons = []
    if reduce_only and not reduces:
        reasons.append(Reason("REDUCE_ONLY"))
    mark = book.marks.get(symbol)
    collar = None
    if mark is not None and cfg["price_collar"] is not None:
        off = abs(price - mark) / mark
        if exceeds(off, cfg["price_collar"]):
            collar = Reason("PRICE_COLLAR", off, cfg["price_collar"])
    if reduces:
        if collar:
            reasons.append(collar)
    else:
        reasons.extend(_state_group(book))
        reasons.extend(_size_group(book, cfg, symbol, s, q, d, price, None))
        if cfg["min_notional"] is not None and falls_short(q * price, cfg["min_notional"]):
            reasons.append(Reason("NOTIONAL_TOO_SMALL", q * price, cfg["min_notional"]))
        if collar:
            reasons.append(collar)
        recent = [o for o in book.orders if ts - NS < o[0] <= ts]
        if len(recent) >= cfg["max_orders_per_second"]:
            reasons.append(Reason("RATE_LIMITED", len(recent), cfg["max_orders_per_second"]))
    window = round(cfg["duplicate_window_s"] * NS)
    for t, sym, oq, op in book.orders:
        if sym == symbol and oq == qty and op == price and ts - window < t <= ts:
            reasons.append(Reason("DUPLICATE_ORDER", t, NAN))
            break
    risk = 0.0 if reduces else q * d
    return Decision(
        approved=not reasons,
        side="buy" if qty > 0 else "sell",
        quantity=q,
        entry=price,
        stop=NAN,
        target=NAN,
        risk_amount=risk,
        risk_pct=risk / book.equity,
        reward_risk=NAN,
        method="order",
        reasons=reasons,
    )
