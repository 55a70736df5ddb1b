"""riskguard's risk measures as native polars expressions.

Importing this module registers the ``risk`` expression namespace::

    import polars as pl
    import riskguard_polars  # noqa: F401  (registers ``.risk``)

    df.group_by("desk").agg(pl.col("ret").risk.var(0.99))
    df.select(pl.col("ret").risk.cvar(0.99), pl.col("ret").risk.max_drawdown())
    df.with_columns(pl.col("ret").risk.var(0.99).over("desk"))

Every method is an aggregation: one Float64 per group (one row in ``select``, broadcast by
``over``), computed inside polars' engine by riskguard-core, the Rust kernels behind
:func:`riskguard.var_historical` and friends, without the GIL. The conventions are riskguard's:

- the column holds simple returns; integer and float columns are accepted (cast to float64);
- VaR, CVaR and drawdown are **positive losses**: 0.023 means a 2.3 % loss;
- nulls and NaN are missing observations and are omitted; a group with too few finite values
  (an empty or all-null group) gives NaN, never an error;
- an infinite return raises ``polars.exceptions.ComputeError`` when the query runs, as does a
  non-numeric column (at planning time);
- a bad argument raises :class:`riskguard.RiskError` (a ``ValueError``) when the expression is
  built, its message naming the argument and the value.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any, Literal

import polars as pl
from polars.plugins import register_plugin_function
from riskguard import RiskError

__all__ = ["RiskNamespace"]

# The directory holding the plugin's shared library, which must be the only one there: polars
# loads the first library it finds in it.
_PLUGIN_PATH = Path(__file__).parent


def _real(value: Any, arg: str) -> float:
    """``value`` as a float; bools, strings and other non-reals are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RiskError(f"{arg} must be a real number, got {value!r}")
    return float(value)


def _confidence(value: Any) -> float:
    """A confidence level strictly inside (0, 1), as the core requires."""
    c = _real(value, "confidence")
    if not (0.0 < c < 1.0):  # also refuses NaN
        raise RiskError(f"confidence must be in (0, 1), got {c}")
    return c


def _interpolation(value: Any) -> str:
    if value not in ("linear", "lower"):
        raise RiskError(f'interpolation must be "linear" or "lower", got {value!r}')
    return value


def _positive(value: Any, arg: str) -> float:
    v = _real(value, arg)
    if not (math.isfinite(v) and v > 0.0):
        raise RiskError(f"{arg} must be finite and > 0, got {v}")
    return v


def _finite(value: Any, arg: str) -> float:
    v = _real(value, arg)
    if not math.isfinite(v):
        raise RiskError(f"{arg} must be finite, got {v}")
    return v


def _aggregate(expr: pl.Expr, function: str, **kwargs: Any) -> pl.Expr:
    """Calls the plugin's ``function`` on ``expr`` as an aggregation: one value per group."""
    return register_plugin_function(
        plugin_path=_PLUGIN_PATH,
        function_name=function,
        args=expr,
        kwargs=kwargs or None,
        returns_scalar=True,
    )


@pl.api.register_expr_namespace("risk")
class RiskNamespace:
    """Risk measures of a column of simple returns, one Float64 per group (``expr.risk``)."""

    def __init__(self, expr: pl.Expr) -> None:
        self._expr = expr

    def var(
        self,
        confidence: float = 0.95,
        *,
        interpolation: Literal["linear", "lower"] = "linear",
    ) -> pl.Expr:
        """Historical Value at Risk: ``-quantile(r, 1 - confidence)``, a positive loss.

        As :func:`riskguard.var_historical` on each group's returns. ``interpolation="linear"``
        is numpy's default quantile (R type 7, empyrical's ``value_at_risk`` with the sign
        flipped); ``"lower"`` takes the lower order statistic (Riskfolio, skfolio). Nulls and
        NaN are omitted; a group without a finite value gives NaN.

        Raises :class:`riskguard.RiskError` at once for a confidence that is not a real number
        strictly inside (0, 1) (0, 1 and NaN are refused) or an unknown interpolation; the
        query raises ``polars.exceptions.ComputeError`` for an infinite return or a
        non-numeric column.
        """
        return _aggregate(
            self._expr,
            "var_historical",
            confidence=_confidence(confidence),
            interpolation=_interpolation(interpolation),
        )

    def cvar(
        self,
        confidence: float = 0.95,
        *,
        interpolation: Literal["linear", "lower"] = "linear",
    ) -> pl.Expr:
        """Historical Conditional VaR (expected shortfall): ``-mean(r[r <= q])``.

        ``q`` is the quantile of :meth:`var` with the same arguments, so the result is a
        positive loss never below the VaR; as :func:`riskguard.cvar_historical` on each
        group's returns (empyrical's ``conditional_value_at_risk``, quantstats' historical
        CVaR). Nulls and NaN are omitted; a group without a finite value gives NaN. Raises as
        :meth:`var` does.
        """
        return _aggregate(
            self._expr,
            "cvar_historical",
            confidence=_confidence(confidence),
            interpolation=_interpolation(interpolation),
        )

    def max_drawdown(self) -> pl.Expr:
        """Largest peak-to-trough loss of compounded wealth, a positive fraction.

        Wealth starts at 1.0 before the group's first return, so a first-period loss counts
        (empyrical's ``max_drawdown`` with the sign flipped); as :func:`riskguard.max_drawdown`.
        Rows are taken in the group's order; nulls and NaN are skipped (wealth is unchanged
        over them); a group without a finite value gives NaN. The query raises
        ``polars.exceptions.ComputeError`` for an infinite return or a non-numeric column.
        """
        return _aggregate(self._expr, "max_drawdown")

    def volatility(self, periods_per_year: float = 252) -> pl.Expr:
        """Annualised volatility: ``std(r, ddof=1) * sqrt(periods_per_year)``.

        As :func:`riskguard.annual_volatility` on each group's returns. Nulls and NaN are
        omitted; a group with fewer than two finite values gives NaN. Raises
        :class:`riskguard.RiskError` at once for a periods_per_year that is not finite and
        > 0; the query raises ``polars.exceptions.ComputeError`` for an infinite return or a
        non-numeric column.
        """
        return _aggregate(
            self._expr,
            "annual_volatility",
            periods_per_year=_positive(periods_per_year, "periods_per_year"),
        )

    def sharpe(self, risk_free: float = 0.0, periods_per_year: float = 252) -> pl.Expr:
        """Sharpe ratio: ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year)``.

        ``risk_free`` is per period. As :func:`riskguard.sharpe_ratio` on each group's returns.
        Nulls and NaN are omitted; a group with fewer than two finite values or no volatility
        gives NaN. Raises :class:`riskguard.RiskError` at once for a non-finite risk_free or a
        periods_per_year that is not finite and > 0; the query raises
        ``polars.exceptions.ComputeError`` for an infinite return or a non-numeric column.
        """
        return _aggregate(
            self._expr,
            "sharpe_ratio",
            risk_free=_finite(risk_free, "risk_free"),
            periods_per_year=_positive(periods_per_year, "periods_per_year"),
        )
