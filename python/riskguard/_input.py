"""Conversion of user inputs (numpy, pandas, polars, array-likes) to the float64 arrays the core
takes, and of the core's results back to the caller's kind of object.

pandas and polars are never imported here unless the caller passed one of their objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from riskguard._core import RiskError


def _library(x: object) -> str:
    module = type(x).__module__
    if module.startswith("pandas"):
        return "pandas"
    if module.startswith("polars"):
        return "polars"
    return "numpy"


@dataclass(frozen=True)
class Shape:
    """Where an input came from, so that results can be labelled like it."""

    library: str
    one_d: bool
    index: Any = None
    columns: list[Any] | None = None


def _check_numeric(arr: np.ndarray, arg: str) -> None:
    if arr.dtype.kind not in "fiu":
        raise RiskError(f"{arg} must have a numeric (float or int) dtype, got dtype {arr.dtype}")


def _pandas_values(x: Any, arg: str) -> np.ndarray:
    import pandas as pd

    dtypes = [x.dtype] if isinstance(x, pd.Series) else list(x.dtypes)
    for dt in dtypes:
        if (
            pd.api.types.is_bool_dtype(dt)
            or pd.api.types.is_complex_dtype(dt)
            or not pd.api.types.is_numeric_dtype(dt)
        ):
            raise RiskError(f"{arg} must have a numeric (float or int) dtype, got dtype {dt}")
    return x.to_numpy(dtype=np.float64, na_value=np.nan)


def _polars_values(x: Any, arg: str) -> np.ndarray:
    import polars as pl

    dtypes = [x.dtype] if isinstance(x, pl.Series) else list(x.schema.values())
    for dt in dtypes:
        if not dt.is_numeric():
            raise RiskError(f"{arg} must have a numeric (float or int) dtype, got dtype {dt}")
    out = x.to_numpy()
    return np.asarray(out, dtype=np.float64)


def as_matrix(x: Any, arg: str = "returns") -> tuple[np.ndarray, Shape]:
    """Returns `x` as a float64 `(T, N)` array (a view where possible) and where it came from.

    Raises RiskError for non-numeric dtypes, scalars, 3-D or higher input and empty input.
    """
    library = _library(x)
    index = columns = None
    if library == "pandas":
        arr = _pandas_values(x, arg)
        index = x.index
        columns = list(x.columns) if arr.ndim == 2 else None
    elif library == "polars":
        arr = _polars_values(x, arg)
        columns = list(x.columns) if arr.ndim == 2 else None
    else:
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as e:
            raise RiskError(f"{arg} must be array-like, got {type(x).__name__}: {e}") from e
        _check_numeric(arr, arg)
    if arr.ndim not in (1, 2):
        raise RiskError(f"{arg} must be 1-D (T,) or 2-D (T, N), got {arr.ndim}-D shape {arr.shape}")
    if arr.size == 0:
        raise RiskError(f"{arg} must not be empty, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    one_d = arr.ndim == 1
    return (arr[:, None] if one_d else arr), Shape(library, one_d, index, columns)


def as_vector(x: Any, arg: str) -> np.ndarray:
    """Returns `x` as a non-empty 1-D float64 array; a scalar becomes a vector of one."""
    if _library(x) == "pandas":
        arr = _pandas_values(x, arg)
    elif _library(x) == "polars":
        arr = _polars_values(x, arg)
    else:
        arr = np.asarray(x)
        _check_numeric(arr, arg)
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise RiskError(f"{arg} must be 1-D, got {arr.ndim}-D shape {arr.shape}")
    if arr.size == 0:
        raise RiskError(f"{arg} must not be empty, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def as_square(x: Any, arg: str) -> np.ndarray:
    """Returns `x` as a float64 `(N, N)` array."""
    arr, shape = as_matrix(x, arg)
    if shape.one_d or arr.shape[0] != arr.shape[1]:
        got = (arr.shape[0],) if shape.one_d else arr.shape
        raise RiskError(f"{arg} must be a square 2-D matrix, got shape {got}")
    return arr


def per_column(values: np.ndarray, shape: Shape) -> Any:
    """One value per column: a float for 1-D input, a labelled Series for a pandas DataFrame, a
    one-row DataFrame for a polars DataFrame, a float64 array otherwise."""
    if shape.one_d:
        return float(values[0])
    if shape.columns is not None and shape.library == "pandas":
        import pandas as pd

        return pd.Series(values, index=shape.columns)
    if shape.columns is not None and shape.library == "polars":
        import polars as pl

        return pl.DataFrame(
            {str(c): [float(v)] for c, v in zip(shape.columns, values, strict=True)}
        )
    return values


def per_row(values: np.ndarray, shape: Shape) -> Any:
    """One value per row and column, shaped and labelled like the input."""
    if shape.library == "pandas":
        import pandas as pd

        if shape.one_d:
            return pd.Series(values[:, 0], index=shape.index)
        return pd.DataFrame(values, index=shape.index, columns=shape.columns)
    if shape.library == "polars":
        import polars as pl

        if shape.one_d:
            return pl.Series(values[:, 0])
        return pl.DataFrame({str(c): values[:, j] for j, c in enumerate(shape.columns or [])})
    return values[:, 0] if shape.one_d else values


def square(values: np.ndarray, shape: Shape) -> Any:
    """An `(N, N)` matrix labelled by the input's columns where the input had labels."""
    if shape.columns is not None and shape.library == "pandas":
        import pandas as pd

        return pd.DataFrame(values, index=shape.columns, columns=shape.columns)
    if shape.columns is not None and shape.library == "polars":
        import polars as pl

        return pl.DataFrame({str(c): values[:, j] for j, c in enumerate(shape.columns)})
    return values


def label(position: int | None, shape: Shape) -> Any:
    """The index label at `position` for pandas input, the position itself otherwise."""
    if position is None or shape.index is None:
        return position
    return shape.index[position]


def as_real(x: Any, arg: str) -> float:
    """Returns `x` as a float: a Python or numpy int or float, never a bool or a str."""
    if isinstance(x, bool | np.bool_) or not isinstance(x, int | float | np.integer | np.floating):
        raise RiskError(f"{arg} must be a number, got {type(x).__name__}")
    return float(x)


def as_count(x: Any, arg: str) -> int:
    """Returns `x` as an int ≥ 0: a Python or numpy int, never a bool."""
    if isinstance(x, bool | np.bool_) or not isinstance(x, int | np.integer) or x < 0:
        raise RiskError(f"{arg} must be a whole number ≥ 0, got {x!r}")
    return int(x)
