//! Position sizing: plain functions of their inputs (docs/gate.md, "Sizing"). The engine's
//! `evaluate_signal` calls them by configured method, then applies the adjusters and caps.

use ndarray::{Array1, ArrayView1, ArrayView2};

use crate::error::{Result, RiskError, num};

use super::policy::Combine;

fn positive(arg: &'static str, x: f64) -> Result<f64> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(RiskError::invalid(
            arg,
            format!("must be finite and > 0, got {}", num(x)),
        ))
    }
}

fn fraction(arg: &'static str, x: f64) -> Result<f64> {
    if x > 0.0 && x <= 1.0 {
        Ok(x)
    } else {
        Err(RiskError::invalid(
            arg,
            format!("must be in (0, 1], got {}", num(x)),
        ))
    }
}

/// The quantity that loses `equity × risk` between `entry` and `stop`.
///
/// Errors: equity, entry or stop not finite and > 0; risk not in (0, 1]; entry equal to stop.
pub fn fixed_fractional(equity: f64, risk: f64, entry: f64, stop: f64) -> Result<f64> {
    let (equity, risk) = (positive("equity", equity)?, fraction("risk", risk)?);
    let (entry, stop) = (positive("entry", entry)?, positive("stop", stop)?);
    if entry == stop {
        return Err(RiskError::invalid(
            "stop",
            format!("must differ from entry, got {}", num(stop)),
        ));
    }
    Ok(equity * risk / (entry - stop).abs())
}

/// The quantity worth `amount` at `price`.
///
/// Errors: amount or price not finite and > 0.
pub fn fixed_amount(amount: f64, price: f64) -> Result<f64> {
    Ok(positive("amount", amount)? / positive("price", price)?)
}

/// The Kelly equity fraction `min(cap, fraction × max(0, (p b − q) / b))`, 0 without an edge.
///
/// Errors: win_rate not in [0, 1]; win_loss_ratio not > 0 (infinity is allowed: no losses);
/// fraction or cap not in (0, 1].
pub fn kelly(win_rate: f64, win_loss_ratio: f64, fraction_: f64, cap: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&win_rate) {
        return Err(RiskError::invalid(
            "win_rate",
            format!("must be in [0, 1], got {}", num(win_rate)),
        ));
    }
    if !(win_loss_ratio > 0.0) {
        return Err(RiskError::invalid(
            "win_loss_ratio",
            format!("must be > 0, got {}", num(win_loss_ratio)),
        ));
    }
    let (f, cap) = (fraction("fraction", fraction_)?, fraction("cap", cap)?);
    let full = if win_loss_ratio.is_infinite() {
        win_rate
    } else {
        (win_rate * win_loss_ratio - (1.0 - win_rate)) / win_loss_ratio
    };
    Ok((f * full.max(0.0)).min(cap))
}

/// The quantity whose volatility is `target_volatility` of `equity`, for an asset of fractional
/// `volatility` priced at `price`: `equity × target / (volatility × price)`.
///
/// Errors: any input not finite and > 0.
pub fn volatility_target(
    equity: f64,
    target_volatility: f64,
    volatility: f64,
    price: f64,
) -> Result<f64> {
    let (e, t) = (
        positive("equity", equity)?,
        positive("target_volatility", target_volatility)?,
    );
    Ok(e * t / (positive("volatility", volatility)? * positive("price", price)?))
}

/// The quantity that loses `equity × risk` over `k` ATRs.
///
/// Errors: equity, atr or k not finite and > 0; risk not in (0, 1].
pub fn atr(equity: f64, risk: f64, atr: f64, k: f64) -> Result<f64> {
    let (e, r) = (positive("equity", equity)?, fraction("risk", risk)?);
    Ok(e * r / (positive("k", k)? * positive("atr", atr)?))
}

/// Weights proportional to `1 / σ`, summing to 1.
///
/// Errors: no volatilities; any not finite and > 0.
pub fn inverse_volatility(volatilities: ArrayView1<'_, f64>) -> Result<Array1<f64>> {
    if volatilities.is_empty() {
        return Err(RiskError::invalid("volatilities", "must not be empty"));
    }
    if let Some(v) = volatilities.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
        return Err(RiskError::invalid(
            "volatilities",
            format!("must all be finite and > 0, got {}", num(*v)),
        ));
    }
    // Scaled by the smallest volatility, so that no reciprocal overflows.
    let least = volatilities.iter().copied().fold(f64::INFINITY, f64::min);
    let inv = volatilities.mapv(|v| least / v);
    let total = inv.sum();
    Ok(inv / total)
}

/// Equal-risk-contribution weights of `covariance` (`w_i (Σw)_i` equal for every i), summing to
/// 1, by cyclical coordinate descent: each step solves `Σ_ii x² + c x − 1/n = 0` for one
/// weight, which keeps every weight positive.
///
/// Errors: not square, empty, non-finite or asymmetric; a diagonal entry not > 0; no
/// convergence in 10,000 sweeps.
pub fn risk_parity(covariance: ArrayView2<'_, f64>) -> Result<Array1<f64>> {
    let (n, m) = covariance.dim();
    if n == 0 || n != m {
        return Err(RiskError::invalid(
            "covariance",
            format!("must be a non-empty square matrix, got shape ({n}, {m})"),
        ));
    }
    if let Some(((i, j), x)) = covariance.indexed_iter().find(|(_, x)| !x.is_finite()) {
        return Err(RiskError::invalid(
            "covariance",
            format!("must be finite, got {} at [{i}, {j}]", num(*x)),
        ));
    }
    for i in 0..n {
        if !(covariance[[i, i]] > 0.0) {
            return Err(RiskError::invalid(
                "covariance",
                format!(
                    "must have a positive diagonal, got {} at [{i}, {i}]",
                    num(covariance[[i, i]])
                ),
            ));
        }
        for j in 0..i {
            let (a, b) = (covariance[[i, j]], covariance[[j, i]]);
            if (a - b).abs() > 1e-12 * (a.abs() + b.abs()).max(f64::MIN_POSITIVE) {
                return Err(RiskError::invalid(
                    "covariance",
                    format!(
                        "must be symmetric: [{i}, {j}] = {} but [{j}, {i}] = {}",
                        num(a),
                        num(b)
                    ),
                ));
            }
        }
    }
    let budget = 1.0 / n as f64;
    let mut w: Array1<f64> = (0..n).map(|i| 1.0 / covariance[[i, i]].sqrt()).collect();
    for _ in 0..10_000 {
        let mut moved: f64 = 0.0;
        for i in 0..n {
            let c: f64 = (0..n)
                .filter(|&j| j != i)
                .map(|j| covariance[[i, j]] * w[j])
                .sum();
            let a = covariance[[i, i]];
            let x = (-c + (c * c + 4.0 * a * budget).sqrt()) / (2.0 * a);
            moved = moved.max((x - w[i]).abs() / x.abs().max(f64::MIN_POSITIVE));
            w[i] = x;
        }
        if w.iter().any(|x| !x.is_finite()) {
            return Err(RiskError::Numerical(
                "risk_parity: covariance must be positive semi-definite".into(),
            ));
        }
        if moved < 1e-13 {
            let total = w.sum();
            return Ok(w / total);
        }
    }
    Err(RiskError::Numerical(
        "risk_parity: no convergence in 10,000 sweeps".into(),
    ))
}

/// Combines sizes by their minimum, median or weighted mean (equal weights by default).
///
/// Errors: no sizes; a size not finite and ≥ 0; weights of another length, negative, not finite
/// or summing to 0.
pub fn consensus(sizes: &[f64], how: Combine, weights: Option<&[f64]>) -> Result<f64> {
    if sizes.is_empty() {
        return Err(RiskError::invalid("sizes", "must not be empty"));
    }
    if let Some(s) = sizes.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
        return Err(RiskError::invalid(
            "sizes",
            format!("must all be finite and ≥ 0, got {}", num(*s)),
        ));
    }
    Ok(match how {
        Combine::Min => sizes.iter().copied().fold(f64::INFINITY, f64::min),
        Combine::Median => {
            let mut v = sizes.to_vec();
            v.sort_by(f64::total_cmp);
            let k = v.len() / 2;
            if v.len() % 2 == 1 {
                v[k]
            } else {
                // Halfway without a sum that could overflow, nor halves that underflow.
                v[k - 1] + (v[k] - v[k - 1]) / 2.0
            }
        }
        Combine::Mean => match weights {
            None => mean(sizes.iter().map(|&s| (s, 1.0)), sizes.len() as f64),
            Some(w) => {
                if w.len() != sizes.len() {
                    return Err(RiskError::invalid(
                        "weights",
                        format!(
                            "must have one weight per size ({}), got {}",
                            sizes.len(),
                            w.len()
                        ),
                    ));
                }
                let total: f64 = w.iter().sum();
                if let Some(x) = w.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
                    return Err(RiskError::invalid(
                        "weights",
                        format!("must be finite and ≥ 0, got {}", num(*x)),
                    ));
                }
                if !(total > 0.0 && total.is_finite()) {
                    return Err(RiskError::invalid(
                        "weights",
                        format!("must sum to a finite value > 0, got {}", num(total)),
                    ));
                }
                mean(sizes.iter().copied().zip(w.iter().copied()), total)
            }
        },
    })
}

/// `Σ s × w / total`, scaling each term first only when the plain sum overflows, so that
/// neither huge nor tiny sizes lose their mean.
fn mean(terms: impl Iterator<Item = (f64, f64)> + Clone, total: f64) -> f64 {
    let plain = terms.clone().map(|(s, w)| s * w).sum::<f64>() / total;
    if plain.is_finite() {
        plain
    } else {
        terms.map(|(s, w)| s * (w / total)).sum()
    }
}

/// The volatility regime `regime_based` scales by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolRegime {
    Low,
    Normal,
    High,
}

impl VolRegime {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "low" => Ok(Self::Low),
            "normal" => Ok(Self::Normal),
            "high" => Ok(Self::High),
            _ => Err(RiskError::invalid(
                "volatility",
                format!("must be one of low, normal, high, got {s:?}"),
            )),
        }
    }

    fn factor(self) -> f64 {
        match self {
            Self::Low => 1.3,
            Self::Normal => 1.0,
            Self::High => 0.7,
        }
    }
}

/// `quantity × regime × (1.2 when trend_aligned) × volatility factor × performance`.
///
/// Errors: quantity not finite and ≥ 0; regime or performance not finite and > 0.
pub fn regime_based(
    quantity: f64,
    regime: f64,
    trend_aligned: bool,
    volatility: VolRegime,
    performance: f64,
) -> Result<f64> {
    if !(quantity.is_finite() && quantity >= 0.0) {
        return Err(RiskError::invalid(
            "quantity",
            format!("must be finite and ≥ 0, got {}", num(quantity)),
        ));
    }
    let trend = if trend_aligned { 1.2 } else { 1.0 };
    Ok(quantity
        * positive("regime", regime)?
        * trend
        * volatility.factor()
        * positive("performance", performance)?)
}

/// The adjusters: × 1.5 at confidence ≥ 0.85 and × 0.5 below 0.60; × 0.5 at 3 or more
/// consecutive losses; × 0.5 at a drawdown of 2 % or more.
///
/// Errors: quantity not finite and ≥ 0; confidence outside [0, 1]; drawdown not in [0, 1].
pub fn adjust_size(
    quantity: f64,
    confidence: Option<f64>,
    consecutive_losses: u32,
    drawdown: f64,
) -> Result<f64> {
    if !(quantity.is_finite() && quantity >= 0.0) {
        return Err(RiskError::invalid(
            "quantity",
            format!("must be finite and ≥ 0, got {}", num(quantity)),
        ));
    }
    if let Some(c) = confidence
        && !(0.0..=1.0).contains(&c)
    {
        return Err(RiskError::invalid(
            "confidence",
            format!("must be in [0, 1], got {}", num(c)),
        ));
    }
    if !(0.0..=1.0).contains(&drawdown) {
        return Err(RiskError::invalid(
            "drawdown",
            format!("must be in [0, 1], got {}", num(drawdown)),
        ));
    }
    Ok(adjust(quantity, confidence, consecutive_losses, drawdown))
}

/// [`adjust_size`] on validated inputs.
pub(crate) fn adjust(quantity: f64, confidence: Option<f64>, streak: u32, drawdown: f64) -> f64 {
    let conf = match confidence {
        Some(c) if c >= 0.85 => 1.5,
        Some(c) if c < 0.60 => 0.5,
        _ => 1.0,
    };
    let streak = if streak >= 3 { 0.5 } else { 1.0 };
    let recovery = if drawdown >= 0.02 { 0.5 } else { 1.0 };
    quantity * conf * streak * recovery
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use proptest::prelude::*;

    #[test]
    fn kelly_known_values() {
        assert!((kelly(0.6, 2.0, 1.0, 1.0).unwrap() - 0.4).abs() < 1e-15);
        assert!((kelly(0.6, 2.0, 0.5, 0.25).unwrap() - 0.2).abs() < 1e-15);
        assert_eq!(kelly(0.3, 1.0, 0.5, 0.25).unwrap(), 0.0);
        assert_eq!(kelly(1.0, f64::INFINITY, 0.5, 0.25).unwrap(), 0.25);
    }

    #[test]
    fn risk_parity_equalises_contributions() {
        let cov = array![[0.04, 0.006, 0.0], [0.006, 0.09, -0.01], [0.0, -0.01, 0.01]];
        let w = risk_parity(cov.view()).unwrap();
        let sw = cov.dot(&w);
        let rc: Vec<f64> = (0..3).map(|i| w[i] * sw[i]).collect();
        let total: f64 = rc.iter().sum();
        for r in &rc {
            assert!((r / total - 1.0 / 3.0).abs() < 1e-10, "{rc:?}");
        }
        assert!((w.sum() - 1.0).abs() < 1e-15);
        assert!(risk_parity(array![[1.0, 0.5], [0.4, 1.0]].view()).is_err());
    }

    proptest! {
        #[test]
        fn adjusted_never_exceeds_one_and_a_half(q in 0.0..1e6f64, c in 0.0..=1.0f64, s in 0u32..10, d in 0.0..=1.0f64) {
            let a = adjust_size(q, Some(c), s, d).unwrap();
            prop_assert!(a <= 1.5 * q && a >= 0.125 * q);
        }

        #[test]
        fn inverse_volatility_sums_to_one(v in proptest::collection::vec(1e-6..1e3f64, 1..20)) {
            let w = inverse_volatility(ArrayView1::from(&v)).unwrap();
            prop_assert!((w.sum() - 1.0).abs() < 1e-12);
            prop_assert!(w.iter().all(|x| *x > 0.0));
        }
    }
}
