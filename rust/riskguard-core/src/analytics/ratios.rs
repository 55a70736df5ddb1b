//! Performance ratios with empyrical's conventions. A zero denominator gives NaN.

use ndarray::ArrayView2;

use super::args;
use super::columns::{
    block_finite_or_nan, finite_prefix, map_columns, map_row_blocks, reject_infinite,
};
use super::drawdown::max_drawdown_of;
use super::moments::lane_mean_std;
use crate::error::{Result, RiskError};

fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 || den.is_nan() {
        f64::NAN
    } else {
        num / den
    }
}

/// Applies `f` to the finite values of each column.
fn per_column(
    returns: ArrayView2<'_, f64>,
    f: impl Fn(&mut [f64]) -> f64 + Sync,
) -> Result<Vec<f64>> {
    map_columns(returns, |j, col| {
        let n = finite_prefix("returns", col, j)?;
        Ok(f(&mut col[..n]))
    })
}

/// `mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year)`; `risk_free` is per period.
pub fn sharpe_ratio(
    returns: ArrayView2<'_, f64>,
    risk_free: f64,
    periods_per_year: f64,
) -> Result<Vec<f64>> {
    let rf = args::finite("risk_free", risk_free)?;
    let ppy = args::positive("periods_per_year", periods_per_year)?;
    mean_over_std(returns, rf, ppy.sqrt())
}

/// `mean(r - shift) / std(r - shift) * scale` per column.
fn mean_over_std(returns: ArrayView2<'_, f64>, shift: f64, scale: f64) -> Result<Vec<f64>> {
    map_row_blocks(returns, |first, block| {
        block_finite_or_nan("returns", block, first)?;
        let (mean, std) = lane_mean_std(block, shift);
        Ok(std::array::from_fn(|j| ratio(mean[j], std[j]) * scale))
    })
}

/// Annualised `mean(r - mar)` over annualised downside deviation
/// `sqrt(mean(min(r - mar, 0)^2)) * sqrt(ppy)`, the mean taken over all observations. Fewer
/// than two finite returns give NaN, as for Sharpe (a dispersion needs two; empyrical's rule).
pub fn sortino_ratio(
    returns: ArrayView2<'_, f64>,
    required_return: f64,
    periods_per_year: f64,
) -> Result<Vec<f64>> {
    let mar = args::finite("required_return", required_return)?;
    let ppy = args::positive("periods_per_year", periods_per_year)?;
    per_column(returns, |a| {
        if a.len() < 2 {
            return f64::NAN;
        }
        let n = a.len() as f64;
        let mean = a.iter().map(|v| v - mar).sum::<f64>() / n;
        let downside = (a.iter().map(|v| (v - mar).min(0.0).powi(2)).sum::<f64>() / n).sqrt();
        ratio(mean * ppy, downside * ppy.sqrt())
    })
}

fn cagr_of(a: &[f64], ppy: f64) -> f64 {
    if a.is_empty() {
        return f64::NAN;
    }
    let ending = a.iter().fold(1.0, |w, r| w * (1.0 + r));
    if ending < 0.0 {
        // Wealth below zero has no annual growth rate.
        return f64::NAN;
    }
    ending.powf(ppy / a.len() as f64) - 1.0
}

/// Compound annual growth rate: `prod(1 + r) ** (ppy / n) - 1`, n counting finite returns.
pub fn cagr(returns: ArrayView2<'_, f64>, periods_per_year: f64) -> Result<Vec<f64>> {
    let ppy = args::positive("periods_per_year", periods_per_year)?;
    per_column(returns, |a| cagr_of(a, ppy))
}

/// CAGR divided by max drawdown; NaN when there was no drawdown.
pub fn calmar_ratio(returns: ArrayView2<'_, f64>, periods_per_year: f64) -> Result<Vec<f64>> {
    let ppy = args::positive("periods_per_year", periods_per_year)?;
    per_column(returns, |a| ratio(cagr_of(a, ppy), max_drawdown_of(a)))
}

/// `std(r, ddof=1) * sqrt(periods_per_year)`.
pub fn annual_volatility(returns: ArrayView2<'_, f64>, periods_per_year: f64) -> Result<Vec<f64>> {
    let ppy = args::positive("periods_per_year", periods_per_year)?;
    map_row_blocks(returns, |first, block| {
        block_finite_or_nan("returns", block, first)?;
        let (_, std) = lane_mean_std(block, 0.0);
        Ok(std.map(|s| s * ppy.sqrt()))
    })
}

/// `mean(r - b) / std(r - b, ddof=1)`, times `sqrt(ppy)` when `annualize`. `benchmark` has one
/// column, shared by every return column, or one per return column. Rows where either is NaN
/// are omitted.
pub fn information_ratio(
    returns: ArrayView2<'_, f64>,
    benchmark: ArrayView2<'_, f64>,
    annualize: bool,
    periods_per_year: f64,
) -> Result<Vec<f64>> {
    let ppy = args::positive("periods_per_year", periods_per_year)?;
    if benchmark.nrows() != returns.nrows()
        || (benchmark.ncols() != 1 && benchmark.ncols() != returns.ncols())
    {
        return Err(RiskError::invalid(
            "benchmark",
            format!(
                "must have shape ({},) or ({}, {}) to match returns, got {:?}",
                returns.nrows(),
                returns.nrows(),
                returns.ncols(),
                benchmark.shape()
            ),
        ));
    }
    reject_infinite("returns", returns)?;
    reject_infinite("benchmark", benchmark)?;
    let active = &returns - &benchmark;
    mean_over_std(active.view(), 0.0, if annualize { ppy.sqrt() } else { 1.0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn sharpe_of_a_known_series() {
        let r = array![[0.01], [0.02], [-0.01], [f64::NAN]];
        let got = sharpe_ratio(r.view(), 0.0, 252.0).unwrap()[0];
        let (m, s) = (
            0.02 / 3.0,
            (((0.01f64 - 0.02 / 3.0).powi(2)
                + (0.02f64 - 0.02 / 3.0).powi(2)
                + (-0.01f64 - 0.02 / 3.0).powi(2))
                / 2.0)
                .sqrt(),
        );
        assert!((got - m / s * 252f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn constant_series_has_no_ratio() {
        let r = Array2::from_elem((5, 1), 0.01);
        assert!(sortino_ratio(r.view(), 0.0, 252.0).unwrap()[0].is_nan());
        assert!(calmar_ratio(r.view(), 252.0).unwrap()[0].is_nan());
    }

    #[test]
    fn negative_wealth_has_no_growth_rate() {
        let r = array![[-2.0]];
        assert!(cagr(r.view(), 1.0).unwrap()[0].is_nan());
        assert!(calmar_ratio(r.view(), 1.0).unwrap()[0].is_nan());
        let flat = Array2::from_elem((37, 1), 1.0 / 3.0);
        assert!(sharpe_ratio(flat.view(), 0.0, 252.0).unwrap()[0].is_nan());
    }

    #[test]
    fn benchmark_shape_is_checked() {
        let r = Array2::<f64>::zeros((5, 2));
        let b = Array2::<f64>::zeros((4, 1));
        let e = information_ratio(r.view(), b.view(), false, 252.0)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("benchmark must have shape"), "{e}");
    }
}
