//! Euler risk contributions and concentration measures of a weight vector.

use ndarray::ArrayView2;

use super::args;
use super::parametric::normal_quantile;
use crate::error::{Result, RiskError};

/// Parametric (zero-mean normal) VaR of a portfolio and its Euler allocation.
#[derive(Clone, Debug, PartialEq)]
pub struct Contributions {
    /// Portfolio VaR `z * sqrt(wᵀΣw)`, a positive loss in the units of the weights.
    pub var: f64,
    /// Portfolio volatility `sqrt(wᵀΣw)`.
    pub volatility: f64,
    /// `∂VaR/∂w_i = z * (Σw)_i / σ_p`.
    pub marginal: Vec<f64>,
    /// `w_i * marginal_i`; these sum to `var`.
    pub component: Vec<f64>,
}

fn check_cov(weights: &[f64], cov: &ArrayView2<'_, f64>) -> Result<()> {
    if weights.is_empty() {
        return Err(RiskError::invalid("weights", "must not be empty"));
    }
    args::all_finite("weights", weights.iter().copied())?;
    if weights.iter().all(|w| *w == 0.0) {
        return Err(RiskError::invalid("weights", "must not all be zero"));
    }
    args::covariance_matrix("cov", cov, weights.len())?;
    match (0..weights.len()).find(|&i| cov[(i, i)] < 0.0) {
        Some(i) => Err(RiskError::Numerical(format!(
            "cov is not positive semi-definite: its diagonal holds {} at ({i}, {i})",
            cov[(i, i)]
        ))),
        None => Ok(()),
    }
}

/// `Σw` and `sqrt(wᵀΣw)`. A clearly negative `wᵀΣw` means `cov` is not positive
/// semi-definite, which is an error rather than a silent zero.
fn sigma_w(weights: &[f64], cov: &ArrayView2<'_, f64>) -> Result<(Vec<f64>, f64)> {
    let sw: Vec<f64> = cov
        .rows()
        .into_iter()
        .map(|row| row.iter().zip(weights).map(|(c, w)| c * w).sum())
        .collect();
    let var: f64 = sw.iter().zip(weights).map(|(s, w)| s * w).sum();
    let scale: f64 = weights
        .iter()
        .enumerate()
        .map(|(i, w)| w * w * cov[(i, i)])
        .sum();
    if var < -1e-12 * scale.max(f64::MIN_POSITIVE) {
        return Err(RiskError::Numerical(format!(
            "cov is not positive semi-definite: the portfolio variance wᵀΣw is {var}"
        )));
    }
    Ok((sw, var.max(0.0).sqrt()))
}

/// Component and marginal VaR of `weights` under covariance `cov` at `confidence`.
pub fn risk_contributions(
    weights: &[f64],
    cov: ArrayView2<'_, f64>,
    confidence: f64,
) -> Result<Contributions> {
    let c = args::confidence(confidence)?;
    check_cov(weights, &cov)?;
    let z = -normal_quantile(1.0 - c);
    let (sw, sigma) = sigma_w(weights, &cov)?;
    let marginal: Vec<f64> = sw
        .iter()
        .map(|s| if sigma > 0.0 { z * s / sigma } else { f64::NAN })
        .collect();
    let component = marginal.iter().zip(weights).map(|(m, w)| m * w).collect();
    Ok(Contributions {
        var: z * sigma,
        volatility: sigma,
        marginal,
        component,
    })
}

/// `sum(|w_i| * sigma_i) / sigma_p`; NaN when the portfolio has no variance.
pub fn diversification_ratio(weights: &[f64], cov: ArrayView2<'_, f64>) -> Result<f64> {
    check_cov(weights, &cov)?;
    let (_, sigma) = sigma_w(weights, &cov)?;
    let stand_alone: f64 = weights
        .iter()
        .enumerate()
        .map(|(i, w)| w.abs() * cov[(i, i)].sqrt())
        .sum();
    Ok(if sigma > 0.0 {
        stand_alone / sigma
    } else {
        f64::NAN
    })
}

/// `sum(p_i^2)` with `p_i = |w_i| / sum|w|`.
pub fn herfindahl(weights: &[f64]) -> Result<f64> {
    if weights.is_empty() {
        return Err(RiskError::invalid("weights", "must not be empty"));
    }
    args::all_finite("weights", weights.iter().copied())?;
    let gross: f64 = weights.iter().map(|w| w.abs()).sum();
    if gross == 0.0 {
        return Err(RiskError::invalid("weights", "must not all be zero"));
    }
    Ok(weights.iter().map(|w| (w.abs() / gross).powi(2)).sum())
}

/// `1 / herfindahl(weights)`: the number of equal positions with the same concentration.
pub fn effective_positions(weights: &[f64]) -> Result<f64> {
    Ok(1.0 / herfindahl(weights)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};
    use proptest::prelude::*;

    #[test]
    fn equal_weights_in_uncorrelated_assets() {
        let cov = array![[0.04, 0.0], [0.0, 0.04]];
        let w = [0.5, 0.5];
        assert!((diversification_ratio(&w, cov.view()).unwrap() - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(effective_positions(&w).unwrap(), 2.0);
        assert_eq!(herfindahl(&[-1.0, 0.0]).unwrap(), 1.0);
    }

    #[test]
    fn bad_covariances_are_named() {
        let e = risk_contributions(&[1.0, 1.0], array![[1.0, 0.5], [0.4, 1.0]].view(), 0.95)
            .unwrap_err();
        assert!(e.to_string().starts_with("cov must be symmetric"), "{e}");
        assert!(risk_contributions(&[1.0], array![[1.0, 0.0], [0.0, 1.0]].view(), 0.95).is_err());
        assert!(herfindahl(&[0.0, 0.0]).is_err());
        assert!(diversification_ratio(&[0.0, 0.0], array![[1.0, 0.0], [0.0, 1.0]].view()).is_err());
        let indefinite = array![[1.0, 2.0], [2.0, 1.0]];
        let e = risk_contributions(&[1.0, -1.0], indefinite.view(), 0.95).unwrap_err();
        assert!(e.to_string().contains("not positive semi-definite"), "{e}");
    }

    proptest! {
        #[test]
        fn components_sum_to_var(w in prop::collection::vec(-1.0f64..1.0, 1..8), seed in 0u64..1000) {
            let n = w.len();
            let a = Array2::from_shape_fn((n + 3, n), |(i, j)| (((i * 31 + j * 17) as u64 + seed) % 97) as f64 / 97.0 - 0.5);
            let cov = a.t().dot(&a);
            let rc = risk_contributions(&w, cov.view(), 0.99).unwrap();
            if rc.volatility > 1e-9 {
                prop_assert!((rc.component.iter().sum::<f64>() - rc.var).abs() < 1e-9 * rc.var.max(1.0));
            }
        }
    }
}
