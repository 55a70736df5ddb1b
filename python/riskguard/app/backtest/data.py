"""Reading a backtest's files: prices (bars or ticks) and signals, CSV or Parquet, read with
polars, each value checked where it is read.

Bad files raise :class:`DataError`, one line naming the file, the line and the column, for
every value the engine or the broker would refuse later without saying where it came from:

- prices (open, high, low, close, or a tick's price): numbers in the engine's price range
  [1e-15, 1e15] (:data:`MIN_PRICE`, :data:`MAX_PRICE`), so not NaN, infinite, zero or
  negative, and bars with low <= open, close <= high;
- volumes: numbers in [0, 1e20] (:data:`MAX_VOLUME`), an empty cell being 0 (unknown);
- timestamps: parseable, at or after 1970-01-01 and within int64 nanoseconds, never going
  backwards within a symbol;
- the signals' numbers, where given (an empty cell or NaN is "not given"): ``stop``,
  ``target`` in the price range, ``atr`` and ``ema`` in (0, 1e15], ``quantity`` in
  (0, 1e15], ``confidence`` in [0, 1], ``volume_24h`` and ``spread_bps`` finite and >= 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from riskguard._core import RiskError

__all__ = [
    "DEFAULT_COLUMNS",
    "MAX_PRICE",
    "MAX_QTY",
    "MAX_VOLUME",
    "MIN_PRICE",
    "SIGNAL_NUMBERS",
    "Columns",
    "DataError",
    "read_prices",
    "read_signals",
]

PRICE_FIELDS = ("open", "high", "low", "close")
# The engine's ranges (docs/engine.md): a price outside them is refused by the engine with no
# word of the file it came from, so it is refused here, with the file, line and column.
MIN_PRICE = 1e-15
MAX_PRICE = 1e15
MAX_QTY = 1e15
# The most volume one bar may carry, in units: beyond any instrument's, and far enough from
# float64's end that sums of volumes stay finite.
MAX_VOLUME = 1e20
# Nanoseconds since the epoch the engine can hold (int64).
_MAX_NS = 2**63 - 1
# Integer timestamps: (below this magnitude, multiply by this to get ns).
_EPOCH_SCALES = ((10**11, 10**9), (10**14, 10**6), (10**17, 10**3), (2**63, 1))


# The signals' optional numbers and their ranges (low, high, low excluded), the Signal's own
# (docs/gate.md), so that a bad value is named with its line instead of counted as an invalid
# signal.
SIGNAL_NUMBERS = {
    "stop": (MIN_PRICE, MAX_PRICE, False),
    "target": (MIN_PRICE, MAX_PRICE, False),
    "atr": (0.0, MAX_PRICE, True),
    "ema": (0.0, MAX_PRICE, True),
    "quantity": (0.0, MAX_QTY, True),
    "confidence": (0.0, 1.0, False),
    "volume_24h": (0.0, MAX_VOLUME, False),
    "spread_bps": (0.0, 1e6, False),
}


class DataError(RiskError):
    """A prices or signals file that cannot be used; the message names the file, the line
    (1 is the header of a CSV) and the column."""


@dataclass(frozen=True)
class Columns:
    """The names of the columns in a prices file, when they differ from the defaults."""

    timestamp: str = "timestamp"
    symbol: str = "symbol"
    open: str = "open"
    high: str = "high"
    low: str = "low"
    close: str = "close"
    volume: str = "volume"
    price: str = "price"


DEFAULT_COLUMNS = Columns()
"""The default column names."""


def _read(path: Path) -> pl.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pl.read_parquet(path)
        else:
            df = pl.read_csv(path, infer_schema_length=10_000)
    except Exception as e:  # polars' own parse errors
        raise DataError(f"{path}: cannot be read: {str(e).splitlines()[0]}") from None
    if df.height == 0:
        raise DataError(f"{path}: empty: no rows")
    return df


def _line(i: int) -> int:
    return i + 2  # the header is line 1


def _first(mask: pl.Series) -> int:
    """The index of the first true value of ``mask`` (which has one)."""
    return int(mask.arg_max() or 0)


def _timestamps(df: pl.DataFrame, path: Path, column: str, fmt: str | None) -> np.ndarray:
    """The column as int64 ns since the epoch, UTC, each at or after 1970-01-01."""
    s = df[column]
    if s.dtype.is_integer():
        if s.is_null().any():
            i = _first(s.is_null())
            raise DataError(f"{path}:{_line(i)}: column {column!r}: missing timestamp")
        # Epoch integers in s, ms, µs or ns: told apart by size (ns since 1973 is above 1e17).
        if s.dtype == pl.UInt64 and int(s.max()) > _MAX_NS:  # type: ignore[arg-type]
            i = _first(s > _MAX_NS)
            raise DataError(
                f"{path}:{_line(i)}: column {column!r}: timestamp out of range, got {s[i]}"
            )
        ts = s.cast(pl.Int64).to_numpy()
        if (ts < 0).any():
            i = int(np.argmax(ts < 0))
            raise DataError(
                f"{path}:{_line(i)}: column {column!r}: a timestamp before 1970-01-01, got {ts[i]}"
            )
        top = int(ts.max()) if len(ts) else 0
        scale = next(f for limit, f in _EPOCH_SCALES if top < limit)
        # Seconds beyond the year 2286 would not fit in int64 nanoseconds once scaled.
        over = ts > _MAX_NS // scale
        if over.any():
            i = int(np.argmax(over))
            raise DataError(
                f"{path}:{_line(i)}: column {column!r}: timestamp out of range "
                f"(beyond int64 nanoseconds), got {ts[i]}"
            )
        return ts * scale
    if s.dtype == pl.Date:
        s = s.cast(pl.Datetime("ns"))
    if s.dtype == pl.String:
        parsed = s.str.to_datetime(format=fmt, strict=False, time_unit="ns")
    elif isinstance(s.dtype, pl.Datetime):
        parsed = s.cast(pl.Datetime("ns", s.dtype.time_zone))
    else:
        raise DataError(f"{path}: column {column!r}: timestamps expected, got {s.dtype}")
    bad = parsed.is_null() & s.is_not_null() | s.is_null()
    if bad.any():
        i = _first(bad)
        raise DataError(
            f"{path}:{_line(i)}: column {column!r}: cannot parse the timestamp {s[i]!r}"
        )
    if parsed.dtype.time_zone is not None:  # type: ignore[attr-defined]
        parsed = parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    ts = parsed.cast(pl.Int64).to_numpy()
    if (ts < 0).any():
        i = int(np.argmax(ts < 0))
        raise DataError(
            f"{path}:{_line(i)}: column {column!r}: a timestamp before 1970-01-01, got {s[i]!r}"
        )
    return ts


def _numbers(
    df: pl.DataFrame, path: Path, column: str, *, missing: float | None = None
) -> np.ndarray:
    """The column as float64. An empty cell is ``missing`` (NaN for "not given"), or an error
    when ``missing`` is None; text that is not a number is an error naming its line."""
    s = df[column]
    if s.dtype == pl.String:
        numbers = s.str.strip_chars().cast(pl.Float64, strict=False)
        bad = numbers.is_null() & s.is_not_null() & (s.str.strip_chars() != "")
        if bad.any():
            i = _first(bad)
            raise DataError(f"{path}:{_line(i)}: column {column!r}: not a number: {s[i]!r}")
        s = numbers
    elif s.dtype == pl.Null:
        s = s.cast(pl.Float64)
    elif not s.dtype.is_numeric():
        raise DataError(f"{path}: column {column!r}: numbers expected, got {s.dtype}")
    if s.is_null().any():
        if missing is None:
            i = _first(s.is_null())
            raise DataError(f"{path}:{_line(i)}: column {column!r}: missing value")
        s = s.fill_null(missing)
    return s.cast(pl.Float64).to_numpy()


def _shown(x: float) -> str:
    """A value as an error shows it: 1e+308, -1, nan, inf."""
    return f"{x:g}" if math.isfinite(x) else str(x)


def _bounded(
    x: np.ndarray,
    path: Path,
    column: str,
    *,
    low: float,
    high: float,
    low_open: bool = False,
    what: str = "",
    optional: bool = False,
) -> np.ndarray:
    """``x`` once each value is finite and in [low, high] (``(low, high]`` with ``low_open``);
    NaN is allowed when ``optional`` (a value not given). Raises DataError naming the first
    bad value's line."""
    given = ~np.isnan(x) if optional else np.ones(len(x), dtype=bool)
    nan = np.isnan(x) & given
    infinite = np.isinf(x)
    below = (x <= low) if low_open else (x < low)
    above = x > high
    bad = nan | infinite | below | above
    if not bad.any():
        return x
    i = int(np.argmax(bad))
    v = float(x[i])
    bracket = "(" if low_open else "["
    if math.isnan(v) or v <= 0:
        # NaN, zero or negative: said as the sign the column needs.
        message = "must be >= 0" if low == 0 and not low_open else "must be > 0"
    elif math.isinf(v):
        message = "must be finite"
    else:
        message = f"must be in {bracket}{low:g}, {high:g}]{what}"
    raise DataError(f"{path}:{_line(i)}: column {column!r}: {message}, got {_shown(v)}")


def _prices(df: pl.DataFrame, path: Path, column: str) -> np.ndarray:
    x = _numbers(df, path, column, missing=math.nan)
    # NaN (an empty cell, "nan") fails as not > 0.
    return _bounded(
        x, path, column, low=MIN_PRICE, high=MAX_PRICE, what=" (the engine's price range)"
    )


def _require(df: pl.DataFrame, path: Path, names: list[str]) -> None:
    missing = [n for n in names if n not in df.columns]
    if missing:
        raise DataError(
            f"{path}: missing column {missing[0]!r} (the file has: {', '.join(df.columns)})"
        )


def _sorted(path: Path, column: str, ts: np.ndarray, symbols: np.ndarray) -> None:
    """Timestamps must not go backwards within a symbol."""
    order = np.argsort(symbols, kind="stable")
    same = symbols[order][1:] == symbols[order][:-1]
    back = same & (np.diff(ts[order]) < 0)
    if back.any():
        i = int(order[int(np.argmax(back)) + 1])
        raise DataError(f"{path}:{_line(i)}: column {column!r}: timestamps go backwards here")


def read_prices(
    path: str | Path,
    *,
    columns: Columns = DEFAULT_COLUMNS,
    symbol: str | None = None,
    timestamp_format: str | None = None,
) -> pl.DataFrame:
    """Bars from a CSV or Parquet file: a DataFrame with ``ts`` (int ns, UTC), ``symbol``,
    ``open``, ``high``, ``low``, ``close``, ``volume`` (NaN when the file has none), sorted
    by time (stable). A tick file (``price``, no OHLC) gives one-price bars. ``symbol`` names
    the instrument of a file without a symbol column; ``timestamp_format`` is a strftime
    format (default: inferred).

    Raises DataError, naming the file, the line and the column: a missing file or column, an
    empty file, an unparseable timestamp or one before 1970, timestamps going backwards within
    a symbol, a price that is not a number in [1e-15, 1e15] (NaN, infinite, zero, negative,
    1e308), a bar whose high is below its low or whose open or close is outside them, a
    volume that is not a number in [0, 1e20].
    """
    path = Path(path)
    df = _read(path)
    c = columns
    ohlc = [getattr(c, f) for f in PRICE_FIELDS]
    is_bars = all(n in df.columns for n in ohlc)
    _require(
        df, path, [c.timestamp] + (ohlc if is_bars or c.price not in df.columns else [c.price])
    )
    ts = _timestamps(df, path, c.timestamp, timestamp_format)
    if c.symbol in df.columns:
        symbols = df[c.symbol].cast(pl.String).fill_null("").to_numpy()
        if (symbols == "").any():
            i = int(np.argmax(symbols == ""))
            raise DataError(f"{path}:{_line(i)}: column {c.symbol!r}: empty symbol")
    elif symbol:
        symbols = np.full(df.height, symbol, dtype=object)
    else:
        symbols = np.full(df.height, path.stem.split("-")[0].upper(), dtype=object)
    if is_bars:
        o, h, lo, cl = (_prices(df, path, n) for n in ohlc)
        bad = (h < lo) | (o < lo) | (o > h) | (cl < lo) | (cl > h)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"{path}:{_line(i)}: columns {c.high!r}/{c.low!r}: a bar needs "
                f"low <= open, close <= high, got {o[i]}, {h[i]}, {lo[i]}, {cl[i]}"
            )
    else:
        o = h = lo = cl = _prices(df, path, c.price)
    volume = None
    if c.volume in df.columns:
        # An empty cell is an unknown volume (0), as the broker and the engine take it.
        volume = _numbers(df, path, c.volume, missing=0.0)
        _bounded(volume, path, c.volume, low=0.0, high=MAX_VOLUME)
    _sorted(path, c.timestamp, ts, symbols.astype(str))
    out = pl.DataFrame(
        {
            "ts": ts,
            "symbol": symbols.astype(str),
            "open": o,
            "high": h,
            "low": lo,
            "close": cl,
            "volume": volume if volume is not None else np.full(df.height, np.nan),
        }
    )
    return out.sort("ts", maintain_order=True)


def read_signals(path: str | Path, *, timestamp_format: str | None = None) -> pl.DataFrame:
    """Signals from a CSV or Parquet file: a DataFrame with ``ts`` (int ns, UTC), ``symbol``,
    ``side`` and every optional column the file has, sorted by time (stable).

    Raises DataError, naming the file, the line and the column: a missing file or column
    (``timestamp``, ``symbol``, ``side``), an empty file, an unparseable timestamp, an empty
    symbol, a side other than long/short (buy/sell accepted), an optional number outside its
    range (the module's docstring).
    """
    path = Path(path)
    df = _read(path)
    _require(df, path, ["timestamp", "symbol", "side"])
    ts = _timestamps(df, path, "timestamp", timestamp_format)
    symbols = df["symbol"].cast(pl.String)
    empty = symbols.is_null() | (symbols.str.strip_chars() == "")
    if empty.any():
        i = _first(empty)
        raise DataError(f"{path}:{_line(i)}: column 'symbol': empty symbol")
    numeric: dict[str, pl.Series] = {}
    for column, (low, high, low_open) in SIGNAL_NUMBERS.items():
        if column in df.columns:
            x = _numbers(df, path, column, missing=math.nan)
            _bounded(x, path, column, low=low, high=high, low_open=low_open, optional=True)
            numeric[column] = pl.Series(column, x)
    side = df["side"].cast(pl.String).str.to_lowercase().replace({"buy": "long", "sell": "short"})
    bad = ~side.is_in(["long", "short"]) | side.is_null()
    if bad.any():
        i = _first(bad)
        raise DataError(
            f"{path}:{_line(i)}: column 'side': long or short expected, got {df['side'][i]!r}"
        )
    out = df.drop("timestamp").with_columns(
        pl.Series("ts", ts),
        side.alias("side"),
        pl.col("symbol").cast(pl.String),
        *numeric.values(),
    )
    return out.sort("ts", maintain_order=True)
