"""Input checks of the tick, bar and signal paths: the wall-clock check, the symbol allow-list,
and the columns of a tick batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np

from riskguard._core import RiskError
from riskguard.errors import GuardError
from riskguard.guard.alerting import _utc
from riskguard.ports import AlertSink, Store, Venue

__all__ = ["IntakeMixin", "_column", "_merge"]


def _column(values: Any, name: str, dtype: type) -> np.ndarray:
    """``values`` as a 1-D array of ``dtype``: an array must have it already, as
    ``RiskEngine.on_ticks`` requires; a list is converted."""
    if isinstance(values, np.ndarray):
        if values.dtype != dtype or values.ndim != 1:
            raise RiskError(
                f"{name} must be a 1-D {np.dtype(dtype).name} array, got {values.ndim}-D "
                f"{values.dtype}"
            )
        return values
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise RiskError(f"{name} must be a sequence or a 1-D array, got {values!r}")
    try:
        return np.asarray(values, dtype=dtype).reshape(len(values))
    except (TypeError, ValueError, OverflowError):
        raise RiskError(f"{name} must hold {np.dtype(dtype).name} values, got {values!r}") from None


def _merge(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows of several journal writes as one (a trade's latest record wins)."""
    out: dict[str, Any] = {}
    for batch in batches:
        for key, rows in batch.items():
            out.setdefault(key, []).extend(rows)
    if "trades" in out:
        out["trades"] = list({t.id: t for t in out["trades"]}.values())
    return out


def _check_parts(broker: Any, journal: Any, alerter: Any, clock_check: Any) -> None:
    """The Guard's constructor arguments: each None or implementing its port.

    Raises RiskError: naming the argument.
    """
    if broker is not None and not isinstance(broker, Venue):
        raise RiskError(f"broker must implement riskguard.brokers.Broker, got {broker!r}")
    if journal is not None and not isinstance(journal, Store):
        raise RiskError(f"journal must be a riskguard.journal.Journal, got {journal!r}")
    if alerter is not None and not isinstance(alerter, AlertSink):
        raise RiskError(f"alerter must be a riskguard.alerts.Alerter, got {alerter!r}")
    if clock_check is not None and not isinstance(clock_check, bool):
        raise RiskError(f"clock_check must be a bool or None, got {clock_check!r}")


class IntakeMixin:
    """The intake part of the Guard (a mixin: it works on the Guard's own state)."""

    def _check_clock(self, ts: Any, arg: str) -> None:
        """Refuses a ``ts`` more than ``guard.max_clock_skew_s`` ahead of the wall clock (a
        live Guard only), before the engine's clock moves: one bad stamp must not make every
        later, correct tick "go backwards". A ``ts`` that is not an integer is left for the
        engine to refuse."""
        limit = self._max_skew_ns
        if limit is None:
            return
        if type(ts) is not int:  # the exact type first: the ABC check costs more than a tick
            if isinstance(ts, bool) or not isinstance(ts, Integral):
                return
            ts = int(ts)
        if ts <= self._clock_ok_below:
            return  # under a bound already checked: the wall clock only moves on
        now = time.time_ns()
        self._clock_ok_below = now + limit
        if ts > now + limit:
            raise RiskError(
                f"{arg} {int(ts)} ({_utc(int(ts))}) is {(int(ts) - now) / 1e9:.0f} s ahead of the "
                f"wall clock {now} ({_utc(now)}), more than guard.max_clock_skew_s = "
                f"{limit / 1e9:g} s: refused as bad input, nothing was applied"
            )

    def _check_symbol(self, symbol: Any) -> None:
        allowed = self.settings.symbols
        if not isinstance(symbol, str) or not symbol:
            raise RiskError(f"symbol must be a non-empty str, got {symbol!r}")
        if allowed is not None and symbol not in allowed:
            raise RiskError(
                f"symbol {symbol!r} is unknown: the configured symbols are {sorted(allowed)}"
            )

    def _intern(self, symbol: Any) -> None:
        """Makes ``symbol`` known to the engine: any name, or only the configured
        ``broker.symbols`` when there are some."""
        self._check_symbol(symbol)
        assert self._engine is not None
        self._engine.symbol_id(symbol)
        self._symbols.add(symbol)

    def _batch(
        self, engine: Any, symbols: Any, prices: Any, ts: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The columns of a tick batch (:meth:`Guard.on_ticks`), checked whole: engine symbol
        ids, prices and timestamps. New symbols are interned only once all of it passed.

        Raises RiskError: unequal lengths, wrong dtypes or shapes, a bad tick (named by its
        index), a tick too far ahead of the wall clock.
        """
        names = engine.symbols
        new: list[str] = []
        if isinstance(symbols, np.ndarray) and symbols.dtype == np.uint32:
            ids = symbols
        else:
            if isinstance(symbols, str | bytes) or not isinstance(symbols, Sequence | np.ndarray):
                raise RiskError(
                    f"symbols must be a sequence of str or a uint32 array, got {symbols!r}"
                )
            index = {s: i for i, s in enumerate(names)}
            ids = np.empty(len(symbols), np.uint32)
            for i, s in enumerate(symbols):
                if s not in index:
                    self._check_symbol(s)
                    index[s] = len(names) + len(new)
                    new.append(s)
                ids[i] = index[s]
        if ids.ndim != 1:
            raise RiskError(f"symbols must be 1-D, got {ids.ndim}-D")
        prices = _column(prices, "prices", np.float64)
        ts = _column(ts, "ts", np.int64)
        if not (len(ids) == len(prices) == len(ts)):
            raise RiskError(
                f"symbols, prices and ts must have one length, got {len(ids)}, {len(prices)} "
                f"and {len(ts)}"
            )
        for name, bad in (
            ("symbols", ids >= len(names) + len(new)),
            ("prices", ~(np.isfinite(prices) & (prices > 0.0))),
            ("ts", np.diff(ts, prepend=engine.ts) < 0),
        ):
            if bad.any():
                i = int(np.argmax(bad))
                value = {"symbols": ids, "prices": prices, "ts": ts}[name][i]
                reason = "goes backwards" if name == "ts" else "is not valid"
                raise RiskError(f"{name}[{i}] {reason}: {value!r}; nothing was applied")
        if self._max_skew_ns is not None and len(ts):
            i = int(np.argmax(ts))
            self._check_clock(int(ts[i]), f"ts[{i}]")
        for s in new:
            self._intern(s)
        return ids, prices, ts

    async def _ready_engine(self) -> Any:
        """The engine, once the Guard has started (starting it on first use)."""
        if not self._ready:
            await self.start()
        assert self._engine is not None
        return self._engine

    def _check_open(self) -> None:
        """Raises GuardError: the guard is closed."""
        if self._closed:
            raise GuardError("the guard is closed")
