//! riskguard's polars expression plugin: `pl.col("ret").risk.var(0.99)` and friends.
//!
//! Each expression is an aggregation giving one Float64 per group. This crate only turns a
//! polars Series into the `(T, 1)` return matrix riskguard-core expects (nulls become NaN, which
//! the core omits as missing observations) and core errors into polars `ComputeError`s; every
//! number comes from riskguard-core's kernels, the same ones `riskguard.var_historical` & co. run.

use std::borrow::Cow;

use ndarray::{ArrayView1, ArrayView2, Axis};
use polars::prelude::*;
use pyo3::prelude::*;
use pyo3_polars::PolarsAllocator;
use pyo3_polars::derive::polars_expr;
use riskguard_core::RiskError;
use riskguard_core::analytics::{columns, drawdown, quantile, ratios};
use serde::Deserialize;

// Buffers handed to polars must come from polars' own allocator.
#[global_allocator]
static ALLOC: PolarsAllocator = PolarsAllocator::new();

/// The Python extension module. It has nothing to call: polars loads the plugin functions by
/// symbol name from this shared library.
#[pymodule]
fn _internal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

fn compute_error(e: RiskError) -> PolarsError {
    PolarsError::ComputeError(e.to_string().into())
}

/// Integer, float and decimal columns are returns (cast to f64); a Null column (all values
/// missing) is too. Anything else is refused, at planning time when polars resolves the schema.
fn check_returns_dtype(name: &str, dtype: &DataType) -> PolarsResult<()> {
    if dtype.is_numeric() || dtype.is_null() {
        Ok(())
    } else {
        Err(PolarsError::ComputeError(
            format!(
                "returns must be numeric (an integer, float or decimal column), \
                 got column {name:?} of dtype {dtype}"
            )
            .into(),
        ))
    }
}

/// The returns column: the one input the Python side registers.
fn returns_input<T>(inputs: &[T]) -> PolarsResult<&T> {
    inputs
        .first()
        .ok_or_else(|| PolarsError::ComputeError("expected a returns column, got none".into()))
}

/// Every risk expression gives one Float64 named after its input.
fn float_output(inputs: &[Field]) -> PolarsResult<Field> {
    let input = returns_input(inputs)?;
    check_returns_dtype(input.name(), input.dtype())?;
    Ok(Field::new(input.name().clone(), DataType::Float64))
}

/// Runs `kernel` on the series' values as f64, nulls as NaN, and wraps its value as a length-1
/// Float64 series.
fn aggregate(
    s: &Series,
    kernel: impl FnOnce(&[f64]) -> Result<f64, RiskError>,
) -> PolarsResult<Series> {
    check_returns_dtype(s.name(), s.dtype())?;
    let s = s.cast(&DataType::Float64)?;
    let ca = s.f64()?;
    // The common case, one chunk without nulls, is read in place.
    let values: Cow<'_, [f64]> = match ca.cont_slice() {
        Ok(v) => Cow::Borrowed(v),
        Err(_) => Cow::Owned(ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect()),
    };
    let value = kernel(&values).map_err(compute_error)?;
    Ok(Series::new(ca.name().clone(), [value]))
}

/// `values` as the `(T, 1)` return matrix the core's per-column kernels take.
fn as_column(values: &[f64]) -> ArrayView2<'_, f64> {
    ArrayView1::from(values).insert_axis(Axis(1))
}

/// The value of the only column.
fn only(per_column: Vec<f64>) -> f64 {
    per_column.first().copied().unwrap_or(f64::NAN)
}

#[derive(Deserialize)]
struct TailKwargs {
    confidence: f64,
    interpolation: String,
}

impl TailKwargs {
    fn spec(&self) -> PolarsResult<quantile::TailSpec> {
        quantile::TailSpec::new(self.confidence, 1, &self.interpolation, "sqrt")
            .map_err(compute_error)
    }
}

/// Historical VaR of the group: `-quantile(r, 1 - confidence)`, a positive loss.
#[polars_expr(output_type_func=float_output)]
fn var_historical(inputs: &[Series], kwargs: TailKwargs) -> PolarsResult<Series> {
    let spec = kwargs.spec()?;
    aggregate(returns_input(inputs)?, |v| {
        Ok(only(quantile::var_historical(as_column(v), &spec)?))
    })
}

/// Historical CVaR of the group: `-mean(r[r <= q])` with q the VaR quantile, a positive loss.
#[polars_expr(output_type_func=float_output)]
fn cvar_historical(inputs: &[Series], kwargs: TailKwargs) -> PolarsResult<Series> {
    let spec = kwargs.spec()?;
    aggregate(returns_input(inputs)?, |v| {
        Ok(only(quantile::cvar_historical(as_column(v), &spec)?))
    })
}

/// Max drawdown of compounded wealth anchored at 1.0, a positive fraction.
#[polars_expr(output_type_func=float_output)]
fn max_drawdown(inputs: &[Series]) -> PolarsResult<Series> {
    // The core's one-series kernel: its (T, N) kernel pads a lone column to 16 lanes, which for a
    // long column in `select` costs 16 values of scratch per row. Both give the same value.
    aggregate(returns_input(inputs)?, |v| {
        columns::reject_infinite("returns", as_column(v))?;
        Ok(drawdown::max_drawdown_of(v))
    })
}

#[derive(Deserialize)]
struct AnnualKwargs {
    periods_per_year: f64,
}

/// Annualised volatility: `std(r, ddof=1) * sqrt(periods_per_year)`.
#[polars_expr(output_type_func=float_output)]
fn annual_volatility(inputs: &[Series], kwargs: AnnualKwargs) -> PolarsResult<Series> {
    aggregate(returns_input(inputs)?, |v| {
        Ok(only(ratios::annual_volatility(
            as_column(v),
            kwargs.periods_per_year,
        )?))
    })
}

#[derive(Deserialize)]
struct SharpeKwargs {
    risk_free: f64,
    periods_per_year: f64,
}

/// Sharpe ratio: `mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year)`.
#[polars_expr(output_type_func=float_output)]
fn sharpe_ratio(inputs: &[Series], kwargs: SharpeKwargs) -> PolarsResult<Series> {
    aggregate(returns_input(inputs)?, |v| {
        let per_column =
            ratios::sharpe_ratio(as_column(v), kwargs.risk_free, kwargs.periods_per_year)?;
        Ok(only(per_column))
    })
}
