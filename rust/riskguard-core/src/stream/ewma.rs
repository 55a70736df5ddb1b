//! An EWMA variance of returns with a simple-average warm-up (RiskMetrics style).

use serde::{Deserialize, Serialize};

/// EWMA variance of a return stream, zero-mean (RiskMetrics).
///
/// For the first `warmup` returns the estimate is the plain mean of squared returns, which seeds
/// the EWMA with something better than the first squared return; afterwards it is
/// `lambda * var + (1 - lambda) * r²`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct EwmaVariance {
    n: u64,
    var: f64,
}

impl EwmaVariance {
    /// Returns seen so far.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// The current variance estimate (0 before the first return).
    pub fn variance(&self) -> f64 {
        self.var
    }

    /// Adds one return.
    #[inline]
    pub fn update(&mut self, r: f64, lambda: f64, warmup: u64) {
        self.var = if self.n < warmup {
            let n = self.n as f64;
            (self.var * n + r * r) / (n + 1.0)
        } else {
            lambda * self.var + (1.0 - lambda) * r * r
        };
        self.n += 1;
    }
}

/// `|r| / sqrt(var)`; a zero variance gives 0 for a zero return and infinity otherwise.
#[inline]
pub fn z_score(r: f64, var: f64) -> f64 {
    if var > 0.0 {
        r.abs() / var.sqrt()
    } else if r == 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_is_the_mean_square_then_ewma() {
        let mut v = EwmaVariance::default();
        let rs = [0.01, -0.02, 0.03];
        for r in rs {
            v.update(r, 0.94, 3);
        }
        assert_eq!(v.count(), 3);
        let mean_sq = rs.iter().map(|r| r * r).sum::<f64>() / 3.0;
        assert!((v.variance() - mean_sq).abs() < 1e-18);
        let z = z_score(-0.05, v.variance());
        assert!((z - 0.05 / mean_sq.sqrt()).abs() < 1e-12);
        v.update(-0.05, 0.94, 3);
        assert!((v.variance() - (0.94 * mean_sq + 0.06 * 0.0025)).abs() < 1e-15);
    }

    #[test]
    fn zero_variance_gives_zero_or_infinite_scores() {
        assert_eq!(z_score(0.0, 0.0), 0.0);
        assert_eq!(z_score(1e-9, 0.0), f64::INFINITY);
    }
}
