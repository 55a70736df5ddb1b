"""The order book of the Guard: reducing orders in flight (sent, neither filled nor ended), what
each can still fill, reduce-only clipping, and fills by id (seen before, quarantined when they
cannot be valid).

Quantities are signed (``+`` buys, ``-`` sells); ``ts`` integer ns since the epoch, UTC.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

from riskguard._core import Event, RiskError
from riskguard.model.orders import Fill, Liquidity, OrderStatus
from riskguard.model.rows import fill_row

__all__ = [
    "Book",
    "BookMixin",
    "_Action",
    "_ENDED",
    "_EPS",
    "_Sent",
    "_Step",
    "_canonical",
    "_fill_key",
    "_fill_problem",
    "_legacy_fill_key",
    "_legacy_key",
    "_liquidity",
    "_row_key",
]

# Orders that ended at the broker without (fully) filling.
_ENDED = (OrderStatus.CANCELLED, OrderStatus.REJECTED)


# Quantities within this relative tolerance of zero are flat: sums of fractional fills leave dust.
_EPS = 1e-9


@dataclass
class _Action:
    """A broker action: ``purpose`` is ``cancel_orders`` (working orders other than the
    Guard's reducing ones, of ``symbol`` or all), ``flatten``, ``reduce`` or ``exit``; ``qty``
    the signed order quantity (clipped again when sent). ``intent`` is the first client order
    id: a retry after a lost answer reuses the id (the broker deduplicates it), one after the
    broker ended the order unfilled (``fresh_id``) is a new order of the same intent."""

    purpose: str
    symbol: str | None
    qty: float
    client_order_id: str
    cause: str
    ts: int
    intent: str = ""
    attempt: int = 0
    fresh_id: bool = False

    def __post_init__(self) -> None:
        self.intent = self.intent or self.client_order_id


@dataclass
class _Sent:
    """A reducing order at the broker (or on its way there). ``cap`` is how much of it can
    still fill in all: its quantity, or what had filled when the broker ended it."""

    action: _Action
    qty: float
    acked: bool = False
    cap: float | None = None


@dataclass
class _Step:
    """What one engine step changed, committed in one transaction."""

    events: list[Event] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    symbols: set[str] = field(default_factory=set)
    actions: list[_Action] = field(default_factory=list)


def _canonical(value: Any, kind: type) -> str:
    """``value`` as ``kind`` in a form that reads the same from a broker's record and from the
    journal (``3`` and ``3.0`` alike); its repr when it is not a number."""
    if isinstance(value, Real) and not isinstance(value, bool):
        try:
            return repr(kind(value))
        except (OverflowError, ValueError):
            pass
    return repr(value)


def _fill_key(fill: Any) -> str:
    """What identifies a fill: its broker's ``fill_id`` (unique per symbol), or for a fill
    without one its order id, time, quantity and price. Never raises, whatever ``fill`` holds."""
    fill_id = getattr(fill, "fill_id", "")
    if isinstance(fill_id, str) and fill_id:
        return f"id:{getattr(fill, 'symbol', None)!s}|{fill_id}"
    return _legacy_fill_key(fill)


def _legacy_fill_key(fill: Any) -> str:
    """A fill's key by its order id, time, quantity and price: what identified fills before
    they carried ids."""
    cid, ts, qty, price = (
        getattr(fill, name, None) for name in ("client_order_id", "ts", "qty", "price")
    )
    return _legacy_key(cid, ts, qty, price)


def _legacy_key(cid: Any, ts: Any, qty: Any, price: Any) -> str:
    return (
        f"order:{cid!s}|{_canonical(ts, int)}|{_canonical(qty, float)}|{_canonical(price, float)}"
    )


def _row_key(row: dict[str, Any]) -> str:
    """The key of a journaled fill (see :func:`_fill_key`): a quarantined fill keeps its own."""
    try:
        details = json.loads(row["details"] or "{}")
    except (TypeError, ValueError):
        details = {}
    if not isinstance(details, dict):
        details = {}
    if isinstance(details.get("key"), str):
        return details["key"]
    fill_id = details.get("fill_id")
    if isinstance(fill_id, str) and fill_id:
        return f"id:{row['symbol']}|{fill_id}"
    return _legacy_key(row["client_order_id"], row["ts"], row["qty"], row["price"])


def _fill_problem(fill: Any) -> str | None:
    """Why ``fill`` cannot be a valid execution, or None. A fill of an order the Guard never
    sent is valid: it may be a manual trade."""
    values = {}
    for name in ("client_order_id", "symbol", "qty", "price", "fee", "ts"):
        if not hasattr(fill, name):
            return f"not a fill: it has no {name}"
        values[name] = getattr(fill, name)
    if not isinstance(values["client_order_id"], str):
        return f"client_order_id must be a str, got {values['client_order_id']!r}"
    if not isinstance(values["symbol"], str) or not values["symbol"]:
        return f"symbol must be a non-empty str, got {values['symbol']!r}"
    for name in ("qty", "price", "fee"):
        x = values[name]
        if isinstance(x, bool) or not isinstance(x, Real):
            return f"{name} must be a real number, got {x!r}"
        if not math.isfinite(x):
            return f"{name} must be finite, got {x!r}"
    if values["qty"] == 0:
        return "qty must be non-zero, got 0"
    if values["price"] <= 0:
        return f"price must be > 0, got {values['price']!r}"
    if values["fee"] < 0:
        return f"fee must be >= 0, got {values['fee']!r}"
    ts = values["ts"]
    if isinstance(ts, bool) or not isinstance(ts, Integral) or ts < 0:
        return f"ts must be an integer >= 0 (ns since the epoch), got {ts!r}"
    fill_id = getattr(fill, "fill_id", "")
    if not isinstance(fill_id, str):
        return f"fill_id must be a str, got {fill_id!r}"
    return None


def _liquidity(value: Any) -> str:
    """The fill's liquidity as journaled; an unknown one is kept as text, not refused."""
    try:
        return Liquidity(value).value
    except ValueError:
        return str(value)


class Book:
    """The Guard's order book: its reducing orders in flight (``sent``, by client order id:
    sent, neither filled nor ended), the fills applied (``applied``: filled quantity by client
    order id; ``qty``: the engine's positions, kept by the fills applied), and the keys of the
    fills seen (``seen``, by :func:`_fill_key`; ``seen_legacy`` for journaled fills without a
    fill id). ``watch`` collects the fills applied while a reconciliation is under way.

    Pure state and arithmetic: no I/O, no engine, no venue. Quantities are signed.
    """

    def __init__(self) -> None:
        self.seen: set[str] = set()  # keys of the fills applied or quarantined (_fill_key)
        self.seen_legacy: set[str] = set()  # keys of journaled fills that carry no fill id
        self.watch: list[tuple[str, str, float]] | None = None  # fills applied mid-reconcile
        self.sent: dict[str, _Sent] = {}
        self.applied: dict[str, float] = {}  # filled quantity applied, by client order id
        self.qty: dict[str, float] = {}  # the engine's positions, kept by the fills applied

    def remaining(self, cid: str, sent: _Sent) -> float:
        """What of a reducing order can still fill: its quantity (or what had filled when the
        broker ended it) less the fills applied."""
        cap = sent.qty if sent.cap is None else sent.cap
        return cap - self.applied.get(cid, 0.0)

    def inflight(self, symbol: str, but: str | None = None) -> float:
        """What the reducing orders of ``symbol`` (but ``but``) can still fill."""
        return sum(
            self.remaining(cid, s)
            for cid, s in self.sent.items()
            if s.action.symbol == symbol and cid != but
        )

    def settle(self, cid: str) -> None:
        """Forgets a reducing order once nothing of it can fill any more."""
        sent = self.sent.get(cid)
        if sent is not None and abs(self.remaining(cid, sent)) <= _EPS * max(1.0, abs(sent.qty)):
            del self.sent[cid]

    def seen_before(self, fill: Any, key: str) -> bool:
        """``fill`` (of key ``key``) was applied or quarantined before: by its id, or, for a
        journal written before fills carried ids, by its order id, time, quantity and price."""
        if key in self.seen:
            return True
        return bool(self.seen_legacy) and _legacy_fill_key(fill) in self.seen_legacy


class BookMixin:
    """Applying fills to the engine and the :class:`Book`, quarantine, and reduce-only clipping:
    a part of the Guard (a mixin: it needs the engine, the venue's capabilities and the
    alerts)."""

    def _mark(self, symbol: str) -> float | None:
        """The engine's mark of a held ``symbol`` (None when it holds none)."""
        positions = self.engine.snapshot().positions
        return positions[symbol].mark if symbol in positions else None

    def _position(self, symbol: str) -> float:
        positions = self.engine.snapshot().positions
        return positions[symbol].qty if symbol in positions else 0.0

    def _apply_fill(self, fill: Fill, step: _Step, **details: Any) -> None:
        """Applies one broker fill to the engine, at the engine's clock (a broker's clock may
        run ahead of the market feed; the journal keeps the fill's own time, and its
        ``fill_id``). A fill seen before (by :func:`_fill_key`) is skipped; one that cannot be
        valid, or that the engine refuses, is quarantined."""
        key = _fill_key(fill)
        if self.book.seen_before(fill, key):
            return
        engine = self._engine
        assert engine is not None
        problem = _fill_problem(fill)
        if problem is None:
            qty = fill.qty
            held = self._position(fill.symbol)
            if held and abs(held + qty) <= _EPS * max(abs(held), abs(qty)):
                # Closes the position to within float dust (lots summed in binary: 0.421 +
                # 0.421 + 0.001 - 0.843 is 4e-19): closed exactly, not left as a dust position.
                qty = -held
            try:
                events = engine.on_fill(fill.symbol, qty, fill.price, engine.ts, fill.fee)
            except RiskError as e:  # out of the engine's bounds: it changed nothing
                problem = f"refused by the engine: {e}"
        if problem is not None:
            self._quarantine(fill, key, problem, step)
            return
        step.events.extend(events)
        self.book.seen.add(key)
        step.symbols.add(fill.symbol)
        self._symbols.add(fill.symbol)
        step.fills.append(
            fill_row(
                fill.ts,
                fill.client_order_id,
                fill.symbol,
                fill.qty,
                fill.price,
                fill.fee,
                liquidity=_liquidity(fill.liquidity),
                fill_id=fill.fill_id,
                **{**self.executions.fill(fill), **details},
            )
        )
        self.book.qty[fill.symbol] = self.book.qty.get(fill.symbol, 0.0) + qty
        cid = fill.client_order_id
        self.book.applied[cid] = self.book.applied.get(cid, 0.0) + fill.qty
        self.book.settle(cid)
        if self.book.watch is not None:  # a reconciliation is under way: it must know
            self.book.watch.append((key, fill.symbol, fill.qty))

    def _quarantine(self, fill: Any, key: str, problem: str, step: _Step) -> None:
        """Sets aside a fill that cannot be valid: journaled (a zero fill marked
        ``quarantined``, its raw values as text), alerted critical, never applied, and never
        looked at again (its key is seen); the positions are then reconciled with the broker.
        A reducing order it belongs to stops being netted: the reconciliation says what is
        held."""
        self.book.seen.add(key)
        step.fills.append(self._quarantine_row(fill, key, problem))
        cid = getattr(fill, "client_order_id", None)
        sent = self.book.sent.get(cid) if isinstance(cid, str) else None
        if sent is not None and isinstance(cid, str):
            sent.cap = self.book.applied.get(cid, 0.0)
            self.book.settle(cid)
        self._alert(
            "fill_quarantined",
            "critical",
            "a fill that cannot be valid was quarantined",
            f"{problem}: {fill!r}; later fills go on, and the positions are reconciled with "
            "the broker",
        )
        self._schedule_reconcile()

    def _quarantine_row(self, fill: Any, key: str, problem: str) -> dict[str, Any]:
        """The journal row of a quarantined fill: quantity, price and fee zero (the journal
        takes finite numbers only), its raw fields as text in the details."""
        engine = self._engine
        assert engine is not None
        raw = {
            name: repr(getattr(fill, name, None))
            for name in (
                "client_order_id",
                "symbol",
                "qty",
                "price",
                "fee",
                "ts",
                "liquidity",
                "fill_id",
            )
        }
        cid = getattr(fill, "client_order_id", None)
        symbol = getattr(fill, "symbol", None)
        fill_id = getattr(fill, "fill_id", "")
        return fill_row(
            engine.ts,
            cid if isinstance(cid, str) else raw["client_order_id"],
            symbol if isinstance(symbol, str) and symbol else raw["symbol"],
            0.0,
            0.0,
            0.0,
            quarantined=True,
            reason=problem,
            key=key,
            fill_id=fill_id if isinstance(fill_id, str) else raw["fill_id"],
            raw=raw,
        )

    def _clip(self, symbol: str, qty: float) -> float:
        """``qty`` reduce-only: no bigger than the position net of reducing orders in flight,
        and zero when it would add to it."""
        held = self._position(symbol) + self.book.inflight(symbol)
        if abs(held) <= _EPS * max(1.0, abs(qty)) or qty * held > 0:
            return 0.0
        return self._tradable(math.copysign(min(abs(qty), abs(held)), qty))

    def _tradable(self, qty: float) -> float:
        """``qty`` in units the broker accepts: whole units (toward zero) unless it takes
        fractions."""
        if self.broker.capabilities.fractional:
            return qty
        return float(math.trunc(qty))
