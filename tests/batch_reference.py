"""A plain pandas / numpy reference of ``riskguard.batch.portfolio_risk`` (engine="local"),
written from its docstring and the ``BatchLimits`` docstring, for ``test_batch.py``.

Slow and literal: one Python iteration per portfolio, pandas to net duplicate rows, numpy's
``quantile`` / ``cov`` / ``argsort`` and scipy's normal distribution. It imports nothing from
riskguard, so that it is an independent oracle.

Besides the documented columns, each row carries what a comparison needs to tell a real
difference from floating-point noise (columns starting with ``_``):

- ``_pnl_scale``: ``max_t sum_i |e_i r_ti|``, the size of the P&L, for an absolute tolerance;
- ``_variance_scale``: ``|e|' M |e|`` with ``M = |R|'|R| / T``, the size of the terms that
  make up ``e' Σ e`` (parametric), for a tolerance on the variance;
- ``_top_candidates``: every symbol that could be the top contributor once near-ties (in the
  P&L order or among the components) are allowed to go either way;
- ``_cvar_candidates``: every CVaR that a near-tie with the quantile could give.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

# The limits in BatchLimits' field order, with the figure each one bounds. A breach is a
# figure strictly beyond its limit.
LIMITS = (
    "gross_exposure",
    "net_exposure",
    "concentration",
    "effective_positions",
    "var",
    "cvar",
)

COLUMNS = [
    "portfolio_id",
    "n_positions",
    "gross_exposure",
    "net_exposure",
    "max_weight",
    "effective_positions",
    "var",
    "cvar",
    "top_contributor",
    "breaches",
]


def lerp(a: Any, b: Any, t: float) -> Any:
    """numpy's linear interpolation (``numpy.lib._function_base_impl._lerp``): from the nearer
    end, so that the result is exact at both ends."""
    d = b - a
    if t >= 0.5:
        return b - d * (1.0 - t)
    return a + d * t


def limit_figure(name: str, row: Mapping[str, Any]) -> float:
    """The figure limit ``name`` bounds, oriented so that "beyond" is "greater" (the
    effective-positions limit is a floor, so its figure is negated)."""
    if name == "gross_exposure":
        return row["gross_exposure"]
    if name == "net_exposure":
        return abs(row["net_exposure"])
    if name == "concentration":
        return row["max_weight"]
    if name == "effective_positions":
        return -row["effective_positions"]
    return row[name]


def limit_bound(name: str, limit: float) -> float:
    """The limit, oriented like :func:`limit_figure`."""
    return -limit if name == "effective_positions" else limit


def applies(name: str, row: Mapping[str, Any]) -> bool:
    """Whether limit ``name`` is checked for ``row``: the effective-positions floor only holds
    for a portfolio with positions."""
    return name != "effective_positions" or row["n_positions"] > 0


def breaches(row: Mapping[str, Any], limits: Mapping[str, float | None] | None) -> list[str]:
    """The names of the limits ``row`` breaches, in BatchLimits' field order."""
    if not limits:
        return []
    return [
        name
        for name in LIMITS
        if limits.get(name) is not None
        and applies(name, row)
        and limit_figure(name, row) > limit_bound(name, limits[name])
    ]


def _historical(
    e: np.ndarray,
    r: np.ndarray,
    known: list[str],
    confidence: float,
    interpolation: str,
    tie_tol: float,
) -> dict[str, Any]:
    t = r.shape[0]
    pnl = r @ e if len(known) else np.zeros(t)
    # The position of numpy's quantile at the decimal 1 - confidence, in exact arithmetic (in
    # floating point, 1 - 0.9 is 0.09999999999999998: one order statistic too far when
    # (t - 1) / 10 is whole).
    position = (t - 1) * (1 - Fraction(repr(float(confidence))))
    k = min(math.floor(position), t - 1)
    gamma = float(position - k)
    srt = np.sort(pnl)
    if interpolation == "lower" or k + 1 >= t or gamma == 0.0:
        q = float(srt[k])
    else:
        q = float(lerp(srt[k], srt[k + 1], gamma))
    tail = pnl[pnl <= q]
    var = -q
    cvar = -float(np.mean(tail))

    # The VaR scenario(s): order statistics k and k + 1 of a stable argsort of the P&L.
    interpolate = interpolation == "linear" and k + 1 < t and gamma != 0.0
    order = np.argsort(pnl, kind="stable")

    def components(a: int, b: int | None) -> np.ndarray:
        at = r[a] if b is None else lerp(r[a], r[b], gamma)
        return -e * at

    top = None
    candidates: set[str] = set()
    if known:
        top = known[int(np.argmax(components(order[k], order[k + 1] if interpolate else None)))]
        # Scenarios whose P&L is within tie_tol of order statistic k (k + 1) could be it.
        srt = pnl[order]
        near_k = np.flatnonzero(np.abs(pnl - srt[k]) <= tie_tol)
        near_k1 = np.flatnonzero(np.abs(pnl - srt[k + 1]) <= tie_tol) if interpolate else [None]
        for a in near_k:
            for b in near_k1:
                if b is not None and a == b:
                    continue
                comp = components(a, b)
                best = comp.max()
                slack = 1e-9 * np.abs(comp).max()
                candidates |= {s for s, c in zip(known, comp, strict=True) if c >= best - slack}

    # Near-ties with q: the tail may hold any prefix of the sorted P&L from the values surely
    # below q (and order statistics 0..k, always at or below it) to the values that are not
    # surely above it.
    srt = np.sort(pnl)
    lo = max(int(np.sum(srt < q - tie_tol)), k + 1)
    hi = int(np.sum(srt <= q + tie_tol))
    cvar_candidates = [-float(np.mean(srt[:m])) for m in range(lo, hi + 1)] or [cvar]
    return {
        "var": var,
        "cvar": cvar,
        "top_contributor": top,
        "_top_candidates": sorted(candidates),
        "_cvar_candidates": cvar_candidates,
    }


def _parametric(
    e: np.ndarray,
    cov: np.ndarray,
    moments: np.ndarray,
    known: list[str],
    confidence: float,
) -> dict[str, Any]:
    z = float(norm.ppf(confidence))
    marginal = cov @ e
    variance = float(e @ marginal)
    sigma = math.sqrt(max(variance, 0.0))
    var = z * sigma
    cvar = sigma * float(norm.pdf(z)) / (1.0 - confidence)
    top = None
    candidates: list[str] = []
    if known:
        comp = z * e * marginal / sigma if sigma > 0 else np.zeros(len(known))
        top = known[int(np.argmax(comp))]
        # Rounding in Σ and Σe is of the order of eps * (M|e|)_i; divided by a small sigma it
        # can swamp the components, so every component that close to the largest may win.
        noise = np.abs(e) * (moments @ np.abs(e))
        slack = 1e-9 * np.abs(comp).max() + (
            1e-12 * z * noise.max() / sigma if sigma > 0 else math.inf
        )
        candidates = sorted(s for s, c in zip(known, comp, strict=True) if c >= comp.max() - slack)
    return {
        "var": var,
        "cvar": cvar,
        "top_contributor": top,
        "_top_candidates": candidates,
        "_cvar_candidates": [cvar],
    }


def portfolio_risk(
    positions: pd.DataFrame,
    returns: pd.DataFrame,
    confidence: float = 0.99,
    method: str = "historical",
    limits: Mapping[str, float | None] | None = None,
    missing: str = "error",
    interpolation: str = "linear",
    tie_rtol: float = 0.0,
) -> pd.DataFrame:
    """``portfolio_risk`` of ``positions`` (columns ``portfolio_id``, ``symbol`` with None for a
    row that only names its portfolio, ``exposure``) over ``returns`` (one float column per
    symbol). One row per portfolio in ascending ``portfolio_id``.

    ``tie_rtol``: P&L values within ``tie_rtol * _pnl_scale`` count as possibly tied, for
    ``_top_candidates`` and ``_cvar_candidates`` (0 when the P&L is computed exactly)."""
    symbols = [str(c) for c in returns.columns]
    r_all = returns.to_numpy(dtype=np.float64)
    t = r_all.shape[0]
    column = {s: j for j, s in enumerate(symbols)}

    held = positions[positions["symbol"].notna()]
    unknown = sorted(set(held["symbol"]) - set(symbols))
    if unknown and missing == "error":
        raise ValueError(f"symbols not in returns: {unknown}")

    # Duplicate (portfolio, symbol) rows are summed; a symbol held at a net zero is no position.
    net = held.groupby(["portfolio_id", "symbol"], sort=False)["exposure"].sum()

    cov = moments = None
    if method == "parametric":
        cov = np.atleast_2d(np.cov(r_all, rowvar=False, ddof=1))
        moments = np.abs(r_all).T @ np.abs(r_all) / t

    rows = []
    for pid in sorted(set(positions["portfolio_id"])):
        book = net[net.index.get_level_values("portfolio_id") == pid].droplevel("portfolio_id")
        book = book[book != 0.0]
        gross = float(book.abs().sum())
        row: dict[str, Any] = {
            "portfolio_id": pid,
            "n_positions": len(book),
            "gross_exposure": gross,
            "net_exposure": float(book.sum()),
            "max_weight": float(book.abs().max() / gross) if gross > 0 else 0.0,
            "effective_positions": (
                float(1.0 / np.sum((book.abs() / gross) ** 2)) if gross > 0 else 0.0
            ),
        }
        # Held symbols with returns, in the returns' column order (ties go to the lower one).
        known = [s for s in symbols if s in book.index]
        e = book[known].to_numpy(dtype=np.float64) if known else np.zeros(0)
        ix = [column[s] for s in known]
        r = r_all[:, ix]
        row["_pnl_scale"] = float(np.abs(r * e).sum(axis=1).max()) if known else 0.0
        if method == "historical":
            tie_tol = tie_rtol * row["_pnl_scale"]
            row.update(_historical(e, r, known, confidence, interpolation, tie_tol))
        else:
            row.update(
                _parametric(e, cov[np.ix_(ix, ix)], moments[np.ix_(ix, ix)], known, confidence)
            )
        row["breaches"] = breaches(row, limits)
        if missing == "zero":
            named = positions.loc[positions["portfolio_id"] == pid, "symbol"].dropna()
            row["missing_symbols"] = sorted(set(named) - set(symbols))
        row["_variance_scale"] = (
            float(np.abs(e) @ moments[np.ix_(ix, ix)] @ np.abs(e))
            if method == "parametric" and known
            else 0.0
        )
        rows.append(row)

    columns = [*COLUMNS, *(["missing_symbols"] if missing == "zero" else [])]
    extra = ["_pnl_scale", "_variance_scale", "_top_candidates", "_cvar_candidates"]
    frame = pd.DataFrame(rows, columns=[*columns, *extra])
    # Keep None (no top contributor) as None, not NaN.
    frame["top_contributor"] = pd.Series(
        [row["top_contributor"] for row in rows], index=frame.index, dtype=object
    )
    return frame
