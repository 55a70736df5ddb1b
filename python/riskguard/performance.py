"""Performance summary of an equity curve and its trades, shared by the backtest and the report.

Conventions (see DESIGN.md; each is the one riskguard's analytics use):

- ``ts`` are integer nanoseconds since the Unix epoch, UTC, strictly increasing; ``equity`` is
  the account value at each ``ts``, finite and positive.
- The curve's returns are simple returns ``equity[1:] / equity[:-1] - 1``, one per period
  between consecutive points.
- ``periods_per_year`` annualises Sharpe and Sortino. By default it is inferred from the median
  spacing of ``ts`` with a year of 365.25 days: ``365.25 * 86400e9 / median(diff(ts))``, so
  1-minute bars give 525,960, hourly bars 8,766 and daily bars 365.25 (markets that trade
  around the clock; pass 252 for daily bars of an exchange's trading days).
- CAGR uses calendar time, not the number of periods: ``(last / first) ** (1 / years) - 1``
  with ``years = (ts[-1] - ts[0]) / (365.25 days)``.
- Drawdown, VaR and CVaR are **positive losses** (0.023 means a 2.3 % loss); VaR and CVaR are
  historical and per period (one spacing of the curve).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from riskguard._core import RiskError
from riskguard.analytics import (
    cvar_historical,
    max_drawdown,
    sharpe_ratio,
    sortino_ratio,
    var_historical,
)

__all__ = ["KEYS", "NS_PER_YEAR", "infer_periods_per_year", "summary"]

NS_PER_YEAR = 365.25 * 86_400 * 1_000_000_000
"""Nanoseconds in a year of 365.25 days."""

KEYS = (
    "total_return",
    "cagr",
    "max_drawdown",
    "sharpe",
    "sortino",
    "calmar",
    "var",
    "cvar",
    "trades",
    "win_rate",
    "profit_factor",
    "avg_r",
)
"""The keys of :func:`summary`'s result, in display order."""

_CURVE_KEYS = KEYS[:8]


def _real(value: Any, arg: str) -> float:
    if isinstance(value, bool | np.bool_ | str | bytes) or not isinstance(value, numbers.Real):
        raise RiskError(f"{arg} must be a real number, got {value!r}")
    return float(value)


def _timestamps(ts: Any) -> np.ndarray:
    try:
        arr = np.asarray(ts)
    except Exception as e:  # ragged or otherwise unconvertible input
        raise RiskError(f"ts must be a 1-D sequence of integer ns, got {ts!r}: {e}") from None
    if arr.ndim != 1:
        raise RiskError(f"ts must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise RiskError(f"ts must be integer ns since the epoch, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    steps = np.diff(arr)
    if steps.size and not (steps > 0).all():
        i = int(np.argmax(steps <= 0)) + 1
        raise RiskError(
            f"ts must be strictly increasing, got ts[{i - 1}] = {arr[i - 1]} "
            f"then ts[{i}] = {arr[i]}"
        )
    return arr


def _equity(equity: Any) -> np.ndarray:
    try:
        arr = np.asarray(equity)
    except Exception as e:
        raise RiskError(f"equity must be a 1-D sequence of floats, got {equity!r}: {e}") from None
    if arr.ndim != 1:
        raise RiskError(f"equity must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.float64)
    if arr.dtype.kind not in "iuf":
        raise RiskError(f"equity must have a numeric (float or int) dtype, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    bad = ~(np.isfinite(arr) & (arr > 0))
    if bad.any():
        i = int(np.argmax(bad))
        raise RiskError(f"equity must be finite and > 0, got equity[{i}] = {arr[i]!r}")
    return arr


def _trade_figures(trades: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(pnl, r_multiple)`` of the trades, r_multiple NaN where absent."""
    if isinstance(trades, Mapping | str | bytes) or not isinstance(trades, Sequence):
        raise RiskError(f"trades must be a sequence of mappings, got {type(trades).__name__}")
    pnl = np.empty(len(trades))
    r = np.full(len(trades), math.nan)
    for i, trade in enumerate(trades):
        if not isinstance(trade, Mapping):
            raise RiskError(f"trades[{i}] must be a mapping, got {trade!r}")
        if "pnl" not in trade:
            raise RiskError(f"trades[{i}] has no 'pnl'")
        p = _real(trade["pnl"], f"trades[{i}]['pnl']")
        if not math.isfinite(p):
            raise RiskError(f"trades[{i}]['pnl'] must be finite, got {p!r}")
        pnl[i] = p
        value = trade.get("r_multiple")
        if value is None:
            continue
        if isinstance(value, str) and value in ("inf", "-inf"):  # the journal's JSON spelling
            r[i] = float(value)
        else:
            r[i] = _real(value, f"trades[{i}]['r_multiple']")
    return pnl, r


def infer_periods_per_year(ts: Sequence[int] | np.ndarray) -> float:
    """``365.25 days / median(diff(ts))``: periods a year at the curve's median spacing; NaN
    with fewer than two points. Raises RiskError for ts that are not strictly increasing
    integer ns."""
    t = _timestamps(ts)
    if t.size < 2:
        return math.nan
    return NS_PER_YEAR / float(np.median(np.diff(t)))


def summary(
    ts: Sequence[int] | np.ndarray,
    equity: Sequence[float] | np.ndarray,
    trades: Sequence[Mapping[str, Any]] = (),
    *,
    periods_per_year: float | None = None,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Performance of the equity curve ``(ts, equity)`` and of ``trades``, as a dict with the
    keys of :data:`KEYS`, in that order:

    - ``total_return``: ``equity[-1] / equity[0] - 1``;
    - ``cagr``: ``(1 + total_return) ** (1 / years) - 1`` over the calendar time
      ``years = (ts[-1] - ts[0]) / 365.25 days`` (``inf`` if that overflows float64, as it can
      for a big move over minutes);
    - ``max_drawdown``: largest peak-to-trough loss of the curve, a positive fraction
      (:func:`riskguard.max_drawdown` of its returns);
    - ``sharpe``, ``sortino``: :func:`riskguard.sharpe_ratio` and
      :func:`riskguard.sortino_ratio` of the returns (rf and mar 0) at ``periods_per_year``
      (default: inferred from the median spacing of ``ts``, 365.25 days a year, so 1-minute
      bars give 525,960);
    - ``calmar``: ``cagr / max_drawdown`` (NaN without a drawdown);
    - ``var``, ``cvar``: historical VaR and CVaR of the returns at ``confidence``, per period,
      positive losses (:func:`riskguard.var_historical`, :func:`riskguard.cvar_historical`);
    - ``trades``: the number of trades;
    - ``win_rate``: the share of trades with ``pnl > 0`` (NaN without trades);
    - ``profit_factor``: the sum of winning pnl over ``|sum of losing pnl|``; ``inf`` with
      winners and no losers, NaN with no trades (or neither winners nor losers);
    - ``avg_r``: the mean of the finite ``r_multiple`` values (NaN when there are none).

    ``trades`` are mappings with a finite ``pnl`` and optionally an ``r_multiple`` (a number,
    None, or the journal's ``"inf"``/``"-inf"``), e.g. :meth:`riskguard.Trade.to_dict` or the
    rows of :meth:`riskguard.journal.Journal.trades`. Every value is a float, ``trades``
    included.

    A curve of fewer than two points gives NaN for every curve figure (the first eight keys),
    never an exception; a ratio without variance or downside is NaN too.

    Raises RiskError (naming the argument): ``ts`` and ``equity`` of different lengths, not
    1-D, ``ts`` not strictly increasing integers, ``equity`` not finite and positive, a
    ``periods_per_year`` that is not finite and positive, a ``confidence`` outside (0, 1), a
    trade that is not a mapping or whose ``pnl`` is missing or not finite, a non-numeric
    ``r_multiple``.
    """
    t = _timestamps(ts)
    e = _equity(equity)
    if t.size != e.size:
        raise RiskError(f"ts and equity differ in length: {t.size} and {e.size}")
    c = _real(confidence, "confidence")
    if not 0.0 < c < 1.0:
        raise RiskError(f"confidence must be in (0, 1), got {c!r}")
    if periods_per_year is not None:
        ppy = _real(periods_per_year, "periods_per_year")
        if not (math.isfinite(ppy) and ppy > 0):
            raise RiskError(f"periods_per_year must be finite and > 0, got {ppy!r}")
    else:
        ppy = infer_periods_per_year(t)
    pnl, r_multiple = _trade_figures(trades)

    out = dict.fromkeys(KEYS, math.nan)
    if e.size >= 2:
        returns = e[1:] / e[:-1] - 1.0
        growth = float(e[-1] / e[0])
        years = float(t[-1] - t[0]) / NS_PER_YEAR
        with np.errstate(over="ignore"):
            cagr = float(np.exp(np.log(growth) / years)) - 1.0
        mdd = float(max_drawdown(returns))
        out.update(
            total_return=growth - 1.0,
            cagr=cagr,
            max_drawdown=mdd,
            sharpe=float(sharpe_ratio(returns, 0.0, ppy)),
            sortino=float(sortino_ratio(returns, 0.0, ppy)),
            calmar=cagr / mdd if mdd > 0 else math.nan,
            var=float(var_historical(returns, c)),
            cvar=float(cvar_historical(returns, c)),
        )

    out["trades"] = float(pnl.size)
    if pnl.size:
        wins = pnl[pnl > 0].sum()
        losses = -pnl[pnl < 0].sum()
        out["win_rate"] = float((pnl > 0).mean())
        if losses > 0:
            with np.errstate(over="ignore"):  # inf for a tiny loss: the honest answer
                out["profit_factor"] = float(wins / losses)
        elif wins > 0:
            out["profit_factor"] = math.inf
    finite_r = r_multiple[np.isfinite(r_multiple)]
    if finite_r.size:
        out["avg_r"] = float(finite_r.mean())
    return out
