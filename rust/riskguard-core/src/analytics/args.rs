//! Validation of scalar arguments shared by the kernels. Each check names the argument.

use ndarray::ArrayView2;

use crate::error::{Result, RiskError};

/// A confidence level strictly inside (0, 1).
pub fn confidence(c: f64) -> Result<f64> {
    if c.is_finite() && c > 0.0 && c < 1.0 {
        Ok(c)
    } else {
        Err(RiskError::invalid(
            "confidence",
            format!("must be in (0, 1), got {c}"),
        ))
    }
}

/// A count of at least `min`, given as a signed integer so negative inputs get a clear message.
pub fn count(arg: &'static str, v: i64, min: i64) -> Result<usize> {
    if v >= min {
        usize::try_from(v).map_err(|_| RiskError::invalid(arg, format!("is too large, got {v}")))
    } else {
        Err(RiskError::invalid(
            arg,
            format!("must be >= {min}, got {v}"),
        ))
    }
}

/// A count in `[min, max]`.
pub fn count_within(arg: &'static str, v: i64, min: i64, max: i64) -> Result<usize> {
    if v > max {
        return Err(RiskError::invalid(
            arg,
            format!("must be <= {max}, got {v}"),
        ));
    }
    count(arg, v, min)
}

/// A finite, strictly positive real.
pub fn positive(arg: &'static str, v: f64) -> Result<f64> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(RiskError::invalid(
            arg,
            format!("must be finite and > 0, got {v}"),
        ))
    }
}

/// A finite real.
pub fn finite(arg: &'static str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(RiskError::invalid(arg, format!("must be finite, got {v}")))
    }
}

/// Every value finite, for inputs where NaN has no meaning (weights, exposures, covariances).
pub fn all_finite(arg: &'static str, values: impl IntoIterator<Item = f64>) -> Result<()> {
    match values.into_iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((i, v)) => Err(RiskError::invalid(
            arg,
            format!("must be finite, got {v} at position {i}"),
        )),
        None => Ok(()),
    }
}

/// A finite, symmetric `(n, n)` matrix. Positive semi-definiteness is for the caller to check.
pub fn covariance_matrix(arg: &'static str, cov: &ArrayView2<'_, f64>, n: usize) -> Result<()> {
    if cov.dim() != (n, n) {
        return Err(RiskError::invalid(
            arg,
            format!("must have shape ({n}, {n}), got {:?}", cov.shape()),
        ));
    }
    if let Some(((i, j), v)) = cov.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(RiskError::invalid(
            arg,
            format!("must be finite, got {v} at ({i}, {j})"),
        ));
    }
    for i in 0..n {
        for j in 0..i {
            let (a, b) = (cov[(i, j)], cov[(j, i)]);
            if (a - b).abs() > 1e-12 * (a.abs() + b.abs()).max(f64::MIN_POSITIVE) {
                return Err(RiskError::invalid(
                    arg,
                    format!("must be symmetric, got {a} at ({i}, {j}) and {b} at ({j}, {i})"),
                ));
            }
        }
    }
    Ok(())
}

/// A buffer of `len` values, or an error naming `arg` when that much memory cannot be had.
pub fn buffer(arg: &'static str, len: usize) -> Result<Vec<f64>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        RiskError::invalid(arg, format!("is too large: cannot allocate {len} values"))
    })?;
    v.resize(len, 0.0);
    Ok(v)
}
