"""Batch risk: exposures, concentration, VaR, CVaR and limit breaches of many portfolios in one
call, on this machine or on a Dask cluster.

The work happens in the Rust core (``riskguard._core.portfolio_risk``): it groups the positions
by portfolio without a Python loop and evaluates the portfolios in parallel with the GIL
released, building each portfolio's scenario P&L in a per-thread buffer. This module checks the
inputs, maps symbols to returns columns with polars, and labels the result.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
import polars.selectors as cs

from riskguard import _core
from riskguard._core import RiskError
from riskguard.config import BatchLimits

__all__ = ["BatchLimits", "portfolio_risk"]

# The symbol code of a row that only names its portfolio (see riskguard_core::batch).
_NO_POSITION = np.iinfo(np.uint32).max
_SHOWN = 10  # offending values listed in an error message

Method = Literal["historical", "parametric"]


@dataclass(frozen=True)
class _Scenarios:
    """The returns matrix ``(T, S)`` as float64 and its symbols: what every worker needs."""

    returns: np.ndarray
    symbols: list[str]


def portfolio_risk(
    positions: Any,
    returns: Any,
    prices: Any = None,
    confidence: float = 0.99,
    method: Method = "historical",
    limits: BatchLimits | Mapping[str, Any] | None = None,
    engine: Literal["local", "dask"] = "local",
    client: Any = None,
    *,
    symbols: Sequence[str] | None = None,
    missing: Literal["error", "zero"] = "error",
    interpolation: Literal["linear", "lower"] = "linear",
    partitions: int | None = None,
) -> pl.DataFrame:
    """Risk of every portfolio in ``positions`` over the scenarios in ``returns``.

    Args:
        positions: a table (polars DataFrame or LazyFrame, pandas DataFrame, pyarrow Table, a
            dict of columns, or anything with ``__arrow_c_stream__``) with columns
            ``portfolio_id`` (integer or string), ``symbol`` (string) and ``exposure`` (signed
            notional in account currency) or ``quantity`` (then ``prices`` gives the price).
            Rows of one (portfolio, symbol) are summed. A row with a null symbol and a null or
            zero exposure names a portfolio without positions (as a left join of accounts and
            positions gives); it appears in the result with zeros.
        returns: scenario returns, simple, one row per scenario: a table with one numeric
            column per symbol (date and datetime columns are skipped), or a ``(T, S)`` array
            with ``symbols``. Every value must be finite.
        prices: with a ``quantity`` column, the price of each symbol: a mapping, or a table
            with ``symbol`` and ``price`` columns. ``exposure = quantity * price``.
        confidence: in (0, 1).
        method: ``"historical"``: scenario P&L ``pnl_t = sum_i exposure_i * r_{t,i}``; VaR is
            ``-quantile(pnl, 1 - confidence)`` (numpy's linear interpolation, or the lower
            order statistic with ``interpolation="lower"``) and CVaR ``-mean(pnl[pnl <= q])``,
            as :func:`riskguard.var_historical` and :func:`riskguard.cvar_historical` on the
            P&L. ``"parametric"``: zero-mean normal over the sample covariance Σ (ddof 1) of
            ``returns``: VaR ``z * sqrt(eᵀΣe)`` and CVaR ``sqrt(eᵀΣe) * φ(z) / (1 -
            confidence)``, ``z = Φ⁻¹(confidence)``. Unlike :func:`riskguard.var_parametric`,
            the mean is not subtracted: the desk convention for exposures over one period.
        limits: a :class:`BatchLimits` (or a dict of its fields) to check each portfolio
            against; ``Config.batch`` holds the configured one.
        engine: ``"local"`` (this process, every core) or ``"dask"``: positions partitioned
            by portfolio and evaluated by the same kernel on a ``dask.distributed`` cluster,
            the returns matrix sent once to each worker. The result is identical.
        client: with ``engine="dask"``, a ``distributed.Client`` or a scheduler address
            (``"tcp://host:8786"``); by default a ``LocalCluster`` started for the call.
        symbols: the column symbols when ``returns`` is an array.
        missing: a held symbol absent from ``returns``: ``"error"`` raises, listing them;
            ``"zero"`` treats it as riskless (it counts in exposures, never in VaR) and lists
            it per portfolio in a ``missing_symbols`` column.
        interpolation: ``"linear"`` or ``"lower"`` (historical only).
        partitions: with ``engine="dask"``, how many parts (default twice the workers).

    Returns:
        A polars DataFrame, one row per portfolio in ascending ``portfolio_id``:
        ``portfolio_id``; ``n_positions`` (symbols with a non-zero net exposure);
        ``gross_exposure`` (sum of absolute exposures), ``net_exposure``; ``max_weight``
        (largest absolute exposure over gross) and ``effective_positions`` (``1 / sum(w**2)``
        of absolute weights), both 0 for a flat portfolio; ``var`` and ``cvar`` (positive
        losses in currency); ``top_contributor``: the symbol with the largest component VaR
        in the Euler allocation (historical: ``-exposure_i * r_i`` at the VaR scenario,
        interpolated like the quantile; parametric: ``z * e_i * (Σe)_i / sigma``), ties to
        the symbol first in ``returns``, null when the portfolio holds (a non-zero exposure
        in) no symbol of ``returns``; ``breaches``: the names of the limits breached (empty
        without ``limits``); with ``missing="zero"``, ``missing_symbols``.

    Raises:
        RiskError: a missing or mistyped column; a null portfolio id; a NaN, infinite or null
            exposure, quantity or price; a missing price; symbols absent from ``returns``
            (with ``missing="error"``); returns that are not finite, have duplicate symbols or
            too few scenarios (1, or 2 for parametric); a bad ``confidence``, ``method``,
            ``interpolation``, ``limits``, ``engine`` or ``client``.
        ImportError: ``engine="dask"`` without ``distributed`` installed
            (``pip install "riskguard[dask]"``).
    """
    if engine not in ("local", "dask"):
        raise RiskError(f'engine must be "local" or "dask", got {engine!r}')
    if engine == "local" and (client is not None or partitions is not None):
        raise RiskError('client and partitions are only used with engine="dask"')
    spec = _spec(confidence, method, interpolation, missing, limits)
    scenarios = _scenarios(returns, symbols)
    book = _positions(positions, prices)
    if engine == "local":
        return _evaluate(book, scenarios, spec)
    from riskguard._dask import evaluate_on_dask

    # Here, so that an error lists every missing symbol, not one partition's.
    _codes(book, scenarios.symbols, missing)
    return evaluate_on_dask(book, scenarios, spec, client, partitions)


def _spec(
    confidence: float, method: str, interpolation: str, missing: str, limits: Any
) -> dict[str, Any]:
    """The evaluation's settings as plain data, checked once here."""
    if not _is_number(confidence):
        raise RiskError(f"confidence must be a number in (0, 1), got {confidence!r}")
    if not 0.0 < confidence < 1.0:
        raise RiskError(f"confidence must be in (0, 1), got {confidence}")
    if method not in ("historical", "parametric"):
        raise RiskError(f'method must be "historical" or "parametric", got {method!r}')
    if interpolation not in ("linear", "lower"):
        raise RiskError(f'interpolation must be "linear" or "lower", got {interpolation!r}')
    if missing not in ("error", "zero"):
        raise RiskError(f'missing must be "error" or "zero", got {missing!r}')
    if limits is not None and not isinstance(limits, BatchLimits):
        if not isinstance(limits, Mapping):
            raise RiskError(
                f"limits must be a BatchLimits or a mapping, got {type(limits).__name__}"
            )
        if not all(isinstance(k, str) for k in limits):
            raise RiskError(f"limits keys must be limit names, got {list(limits)}")
        limits = BatchLimits(**limits)
    return {
        "confidence": float(confidence),
        "method": method,
        "interpolation": interpolation,
        "missing": missing,
        "limits": None if limits is None else limits.model_dump(),
    }


def _frame(data: Any, arg: str) -> pl.DataFrame:
    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    if type(data).__module__.startswith("pandas") and not hasattr(data, "columns"):
        raise RiskError(f"{arg} must be a table, got a pandas {type(data).__name__}")
    try:
        if type(data).__module__.startswith("pandas"):
            return pl.from_pandas(data, include_index=False)
        if isinstance(data, Mapping):
            return pl.DataFrame(dict(data))
        if type(data).__module__.startswith("pyarrow"):
            return pl.DataFrame(pl.from_arrow(data))
        if hasattr(data, "__arrow_c_stream__"):
            return pl.DataFrame(data)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as e:
        raise RiskError(f"{arg} could not be read as a table: {e}") from None
    raise RiskError(
        f"{arg} must be a table (polars, pandas, pyarrow or a dict of columns), "
        f"got {type(data).__name__}"
    )


def _scenarios(returns: Any, symbols: Sequence[str] | None) -> _Scenarios:
    if isinstance(returns, np.ndarray) or (symbols is not None and not hasattr(returns, "columns")):
        if symbols is None:
            raise RiskError("returns given as an array needs symbols=, one per column")
        if isinstance(symbols, str) or not isinstance(symbols, Sequence):
            raise RiskError(f"symbols must be a sequence of names, got {symbols!r}")
        try:
            matrix = np.asarray(returns)
        except ValueError as e:  # ragged nested lists
            raise RiskError(f"returns could not be read as a 2-D array: {e}") from None
        names = [str(s) for s in symbols]
        if matrix.ndim != 2:
            raise RiskError(f"returns must be 2-D (scenarios, symbols), got shape {matrix.shape}")
        if matrix.shape[1] != len(names):
            raise RiskError(f"symbols has {len(names)} names for {matrix.shape[1]} returns columns")
    else:
        if symbols is not None:
            raise RiskError("symbols= is only for returns given as an array")
        frame = _frame(returns, "returns")
        frame = frame.select(~cs.temporal())
        wrong = [f"{n} ({t})" for n, t in frame.schema.items() if not t.is_numeric()]
        if wrong:
            raise RiskError(f"returns columns must be numeric, got {', '.join(wrong)}")
        names = [str(c) for c in frame.columns]
        matrix = frame.cast(pl.Float64).to_numpy()
    if matrix.dtype.kind not in "fiu":
        raise RiskError(f"returns must be numeric, got dtype {matrix.dtype}")
    matrix = np.ascontiguousarray(matrix, dtype=np.float64)
    if matrix.shape[1] == 0:
        raise RiskError("returns has no symbol columns")
    if len(set(names)) != len(names):
        seen: set[str] = set()
        twice = sorted({n for n in names if n in seen or seen.add(n)})
        raise RiskError(f"returns has duplicate symbols: {', '.join(twice[:_SHOWN])}")
    bad = ~np.isfinite(matrix).all(axis=0)
    if bad.any():
        shown = [names[j] for j in np.flatnonzero(bad)[:_SHOWN]]
        raise RiskError(
            f"returns must be finite (fill or drop missing scenarios); non-finite or null "
            f"values in {int(bad.sum())} columns: {', '.join(shown)}"
        )
    return _Scenarios(matrix, names)


def _rows(frame: pl.DataFrame, mask: pl.Expr) -> str:
    """The first offending rows of ``frame``, for an error message."""
    shown = frame.with_row_index("row").filter(mask).head(_SHOWN)
    return "; ".join(
        f"row {r['row']} (portfolio_id={r['portfolio_id']!r}, symbol={r['symbol']!r})"
        for r in shown.iter_rows(named=True)
    )


def _positions(positions: Any, prices: Any) -> pl.DataFrame:
    """``positions`` as a frame of ``portfolio_id``, ``symbol`` (String) and ``exposure``
    (Float64, 0 on rows without a symbol), checked."""
    frame = _frame(positions, "positions")
    cols = set(frame.columns)
    for name in ("portfolio_id", "symbol"):
        if name not in cols:
            raise RiskError(f"positions has no {name!r} column; columns: {frame.columns}")
    if ("exposure" in cols) == ("quantity" in cols):
        raise RiskError(
            "positions must have exactly one of an 'exposure' column or a 'quantity' column "
            f"(with prices); columns: {frame.columns}"
        )
    value = "exposure" if "exposure" in cols else "quantity"
    if value == "quantity" and prices is None:
        raise RiskError("positions gives quantity, so prices= is needed")
    if value == "exposure" and prices is not None:
        hint = (
            f" (got {prices!r}: confidence is the fourth argument; pass confidence={prices!r})"
            if isinstance(prices, numbers.Real)
            else ""
        )
        raise RiskError(
            f"prices= is only used with a quantity column; positions has exposure{hint}"
        )
    # A column of nulls only (an untyped all-null column) is as good as a typed one.
    untyped = {"symbol": pl.String, value: pl.Float64}
    frame = frame.with_columns(
        pl.col(name).cast(dtype) for name, dtype in untyped.items() if frame.schema[name] == pl.Null
    )
    schema = frame.schema
    pid = schema["portfolio_id"]
    if not (pid.is_integer() or pid in (pl.String, pl.Categorical) or isinstance(pid, pl.Enum)):
        raise RiskError(f"portfolio_id must be integer or string, got {pid}")
    sym = schema["symbol"]
    if not (sym in (pl.String, pl.Categorical) or isinstance(sym, pl.Enum)):
        raise RiskError(f"symbol must be a string column, got {sym}")
    if not schema[value].is_numeric():
        raise RiskError(f"{value} must be numeric, got {schema[value]}")
    frame = frame.select(
        pl.col("portfolio_id").cast(pl.String) if not pid.is_integer() else "portfolio_id",
        pl.col("symbol").cast(pl.String),
        pl.col(value).cast(pl.Float64),
    )
    if frame["portfolio_id"].null_count():
        raise RiskError(
            f"portfolio_id is null in {frame['portfolio_id'].null_count()} rows: "
            + _rows(frame, pl.col("portfolio_id").is_null())
        )
    held = pl.col("symbol").is_not_null()
    bad = held & (pl.col(value).is_null() | ~pl.col(value).is_finite())
    if frame.select(bad.any()).item():
        raise RiskError(f"{value} must be finite and not null; bad at {_rows(frame, bad)}")
    stray = ~held & pl.col(value).is_not_null() & (pl.col(value) != 0)
    if frame.select(stray.any()).item():
        raise RiskError(
            f"a row without a symbol can only name its portfolio ({value} null or 0); "
            f"got a value at {_rows(frame, stray)}"
        )
    if value == "quantity":
        frame = _priced(frame, prices)
    return frame.with_columns(pl.col("exposure").fill_null(0.0))


def _priced(frame: pl.DataFrame, prices: Any) -> pl.DataFrame:
    if type(prices).__module__.startswith("pandas") and not hasattr(prices, "columns"):
        prices = prices.to_dict()  # a Series indexed by symbol
    if isinstance(prices, Mapping):
        wrong = {k: v for k, v in prices.items() if not _is_number(v)}
        if wrong:
            raise RiskError(f"prices must be numbers, got {dict(list(wrong.items())[:_SHOWN])}")
        table = pl.DataFrame(
            {"symbol": [str(k) for k in prices], "price": list(prices.values())},
            schema={"symbol": pl.String, "price": pl.Float64},
            strict=False,
        )
    else:
        table = _frame(prices, "prices")
        if not {"symbol", "price"} <= set(table.columns):
            raise RiskError(f"prices needs 'symbol' and 'price' columns; got {table.columns}")
        if not table.schema["price"].is_numeric():
            raise RiskError(f"price must be numeric, got {table.schema['price']}")
        symbol = table.schema["symbol"]
        if not (symbol in (pl.String, pl.Categorical) or isinstance(symbol, pl.Enum)):
            raise RiskError(f"prices' symbol must be a string column, got {symbol}")
        table = table.select(pl.col("symbol").cast(pl.String), pl.col("price").cast(pl.Float64))
    bad = table.filter(
        pl.col("price").is_null() | ~pl.col("price").is_finite() | (pl.col("price") <= 0)
    )
    if bad.height:
        shown = ", ".join(f"{s}={p}" for s, p in bad.head(_SHOWN).iter_rows())
        raise RiskError(f"prices must be finite and > 0; got {shown}")
    if table["symbol"].is_duplicated().any():
        twice = table.filter(pl.col("symbol").is_duplicated())["symbol"].unique().sort()
        raise RiskError(f"prices gives several prices for {', '.join(twice.head(_SHOWN))}")
    joined = frame.join(table, on="symbol", how="left", maintain_order="left")
    unpriced = joined.filter(pl.col("symbol").is_not_null() & pl.col("price").is_null())
    if unpriced.height:
        names = unpriced["symbol"].unique().sort()
        raise RiskError(f"prices has no price for {len(names)} symbols: {_listed(names)}")
    return joined.select("portfolio_id", "symbol", exposure=pl.col("quantity") * pl.col("price"))


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _listed(names: pl.Series) -> str:
    more = f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else ""
    return ", ".join(names.head(_SHOWN).to_list()) + more


def _codes(book: pl.DataFrame, symbols: list[str], missing: str) -> tuple[np.ndarray, pl.Series]:
    """Each row's returns column as the kernel takes it, and the held symbols ``returns``
    lacks (sorted): with ``missing="zero"`` they get the columns after the last, which the
    kernel treats as riskless; with ``"error"`` they raise."""
    held = book["symbol"]
    # Through the lazy engine, which casts the chunks of a long column in parallel.
    codes = book.lazy().select(pl.col("symbol").cast(pl.Enum(symbols), strict=False)).collect()
    codes = codes.to_series()
    unknown = pl.Series([], dtype=pl.String)
    if codes.null_count() > held.null_count():  # only a symbol outside `symbols` adds a null
        unknown = held.filter(codes.is_null()).drop_nulls().unique().sort()
    if len(unknown) and missing == "error":
        holders = book.filter(pl.col("symbol").is_in(unknown.implode()))["portfolio_id"]
        raise RiskError(
            f"{len(unknown)} symbols held by {holders.n_unique()} portfolios are not in "
            f'returns: {_listed(unknown)} (pass missing="zero" to treat them as riskless)'
        )
    if len(unknown):
        codes = held.cast(pl.Enum(symbols + unknown.to_list()))
    return codes.to_physical().cast(pl.UInt32).fill_null(_NO_POSITION).to_numpy(), unknown


def _evaluate(book: pl.DataFrame, scenarios: _Scenarios, spec: Mapping[str, Any]) -> pl.DataFrame:
    """The result for a checked ``book``: the one step every engine runs, on a whole table or
    on one partition of it."""
    symbols = scenarios.symbols
    codes, unknown = _codes(book, symbols, spec["missing"])
    ids = book["portfolio_id"]
    keys = ids if ids.dtype.is_integer() else ids.cast(pl.Categorical).to_physical()
    try:
        keys = keys.cast(pl.Int64)
    except pl.exceptions.InvalidOperationError:
        raise RiskError("portfolio_id must fit in a signed 64-bit integer") from None
    out = _core.portfolio_risk(
        keys.to_numpy(),
        codes,
        book["exposure"].to_numpy(),
        scenarios.returns,
        spec["confidence"],
        spec["method"],
        spec["interpolation"],
    )
    names = pl.Series(symbols + [None], dtype=pl.String)
    top = out["top_contributor"]
    result = pl.DataFrame(
        {
            "portfolio_id": ids.gather(out["first_row"]),
            "n_positions": out["n_positions"],
            "gross_exposure": out["gross_exposure"],
            "net_exposure": out["net_exposure"],
            "max_weight": out["max_weight"],
            "effective_positions": out["effective_positions"],
            "var": out["var"],
            "cvar": out["cvar"],
            "top_contributor": names.gather(np.where(top < 0, len(symbols), top)),
        }
    ).with_columns(breaches=_breaches(spec["limits"]))
    if spec["missing"] == "zero":
        result = _with_missing(result, book, unknown)
    if not ids.dtype.is_integer():
        result = result.sort("portfolio_id")
    return result


def _breaches(limits: Mapping[str, float | None] | None) -> pl.Expr:
    empty = pl.lit([], dtype=pl.List(pl.String))
    if limits is None:
        return empty
    tests = {
        "gross_exposure": lambda x: pl.col("gross_exposure") > x,
        "net_exposure": lambda x: pl.col("net_exposure").abs() > x,
        "concentration": lambda x: pl.col("max_weight") > x,
        "effective_positions": lambda x: (
            (pl.col("n_positions") > 0) & (pl.col("effective_positions") < x)
        ),
        "var": lambda x: pl.col("var") > x,
        "cvar": lambda x: pl.col("cvar") > x,
    }
    named = [
        pl.when(test(limits[name])).then(pl.lit(name))
        for name, test in tests.items()
        if limits.get(name) is not None
    ]
    return pl.concat_list(named).list.drop_nulls() if named else empty


def _with_missing(result: pl.DataFrame, book: pl.DataFrame, unknown: pl.Series) -> pl.DataFrame:
    lists = (
        book.filter(pl.col("symbol").is_in(unknown.implode()))
        .group_by("portfolio_id")
        .agg(missing_symbols=pl.col("symbol").unique().sort())
    )
    return result.join(lists, on="portfolio_id", how="left", maintain_order="left").with_columns(
        pl.col("missing_symbols").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    )
