//! Parametric (normal and Cornish-Fisher) VaR and normal expected shortfall.

use std::str::FromStr;

use ndarray::ArrayView2;
use statrs::distribution::{Continuous, ContinuousCDF, Normal};

use super::args;
use super::columns::{finite_prefix, map_columns};
use super::moments::Moments;
use crate::error::{Result, RiskError};

/// The distribution assumed for parametric VaR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParametricMethod {
    Normal,
    /// The normal quantile adjusted for sample skewness and excess kurtosis.
    CornishFisher,
}

impl FromStr for ParametricMethod {
    type Err = RiskError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "normal" => Ok(Self::Normal),
            "cornish_fisher" => Ok(Self::CornishFisher),
            _ => Err(RiskError::invalid(
                "method",
                format!("must be \"normal\" or \"cornish_fisher\", got {s:?}"),
            )),
        }
    }
}

fn standard_normal() -> Normal {
    Normal::standard()
}

/// The standard normal quantile `Φ⁻¹(p)`.
pub fn normal_quantile(p: f64) -> f64 {
    standard_normal().inverse_cdf(p)
}

/// The standard normal density `φ(z)`.
pub fn normal_density(z: f64) -> f64 {
    standard_normal().pdf(z)
}

/// The Cornish-Fisher expansion of the quantile `z` for skewness `s` and excess kurtosis `k`.
pub fn cornish_fisher(z: f64, s: f64, k: f64) -> f64 {
    let z2 = z * z;
    let z3 = z2 * z;
    z + (z2 - 1.0) * s / 6.0 + (z3 - 3.0 * z) * k / 24.0 - (2.0 * z3 - 5.0 * z) * s * s / 36.0
}

fn column_moments(col: &mut [f64], j: usize) -> Result<Moments> {
    let n = finite_prefix("returns", col, j)?;
    Ok(Moments::of(&col[..n]))
}

/// Parametric VaR per column: `-(mu*h + z*sigma*sqrt(h))`, sigma with ddof 1; NaN below two values.
pub fn var_parametric(
    returns: ArrayView2<'_, f64>,
    confidence: f64,
    horizon: i64,
    method: ParametricMethod,
) -> Result<Vec<f64>> {
    let c = args::confidence(confidence)?;
    let h = args::count("horizon", horizon, 1)? as f64;
    let z = normal_quantile(1.0 - c);
    map_columns(returns, |j, col| {
        let m = column_moments(col, j)?;
        let sigma = m.std(1);
        let z = match method {
            ParametricMethod::Normal => z,
            ParametricMethod::CornishFisher => cornish_fisher(z, m.skewness(), m.excess_kurtosis()),
        };
        Ok(-(m.mean * h + z * sigma * h.sqrt()))
    })
}

/// Normal expected shortfall per column: `-mu*h + sigma*sqrt(h) * φ(z) / (1 - confidence)`.
pub fn cvar_parametric(
    returns: ArrayView2<'_, f64>,
    confidence: f64,
    horizon: i64,
) -> Result<Vec<f64>> {
    let c = args::confidence(confidence)?;
    let h = args::count("horizon", horizon, 1)? as f64;
    let tail = normal_density(normal_quantile(1.0 - c)) / (1.0 - c);
    map_columns(returns, |j, col| {
        let m = column_moments(col, j)?;
        Ok(-m.mean * h + m.std(1) * h.sqrt() * tail)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn normal_quantile_is_accurate() {
        assert!((normal_quantile(0.05) + 1.6448536269514729).abs() < 1e-14);
        assert!((normal_quantile(0.01) + 2.3263478740408408).abs() < 1e-14);
    }

    #[test]
    fn zero_skew_and_kurtosis_leave_z_alone() {
        assert_eq!(cornish_fisher(-1.5, 0.0, 0.0), -1.5);
    }

    #[test]
    fn normal_var_and_es_of_a_known_sample() {
        let r = Array2::from_shape_vec((4, 1), vec![0.01, -0.02, 0.03, -0.01]).unwrap();
        let (mu, sd) = (0.0025, (0.001475f64 / 3.0).sqrt());
        let var = var_parametric(r.view(), 0.95, 4, ParametricMethod::Normal).unwrap()[0];
        assert!((var - -(mu * 4.0 - 1.6448536269514729 * sd * 2.0)).abs() < 1e-12);
        let es = cvar_parametric(r.view(), 0.95, 1).unwrap()[0];
        let phi = (-0.5f64 * 1.6448536269514729 * 1.6448536269514729).exp()
            / (2.0 * std::f64::consts::PI).sqrt();
        assert!((es - (-mu + sd * phi / 0.05)).abs() < 1e-12);
    }
}
