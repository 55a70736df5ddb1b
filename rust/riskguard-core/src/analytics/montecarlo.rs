//! Monte Carlo VaR and CVaR of a weighted portfolio.
//!
//! Paths are simulated in fixed chunks, each with its own xoshiro256++ stream (one `jump`, 2^128
//! draws, apart), so the result depends only on the seed, never on the number of threads.

use std::str::FromStr;

use faer::{Mat, Side};
use ndarray::{Array2, ArrayView2, Axis};
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

use super::args;
use super::columns::reject_infinite;
use super::correlation::{CovMethod, covariance};
use super::quantile::{Interpolation, quantile_and_tail_mean};
use crate::error::{Result, RiskError};

const CHUNK: usize = 4096;

/// Longest simulated horizon, in periods: beyond it a path stops meaning anything.
pub const MAX_HORIZON: i64 = 10_000;

/// Most paths one call simulates (8 GB of results).
pub const MAX_PATHS: i64 = 1_000_000_000;

/// Where simulated period returns come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum McMethod {
    /// Multivariate normal with the sample mean and covariance of the complete rows.
    Normal,
    /// Rows of the historical returns, drawn with replacement.
    Bootstrap,
}

impl FromStr for McMethod {
    type Err = RiskError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "normal" => Ok(Self::Normal),
            "bootstrap" => Ok(Self::Bootstrap),
            _ => Err(RiskError::invalid(
                "method",
                format!("must be \"normal\" or \"bootstrap\", got {s:?}"),
            )),
        }
    }
}

/// The validated arguments of [`var_monte_carlo`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct McSpec {
    pub confidence: f64,
    pub horizon: usize,
    pub n_paths: usize,
    pub seed: u64,
    pub method: McMethod,
    /// Clip negative eigenvalues of a covariance that is not positive semi-definite, instead of
    /// refusing it.
    pub repair: bool,
}

impl McSpec {
    pub fn new(
        confidence: f64,
        horizon: i64,
        n_paths: i64,
        seed: u64,
        method: &str,
        repair: bool,
    ) -> Result<Self> {
        Ok(Self {
            confidence: args::confidence(confidence)?,
            horizon: args::count_within("horizon", horizon, 1, MAX_HORIZON)?,
            n_paths: args::count_within("n_paths", n_paths, 1, MAX_PATHS)?,
            seed,
            method: method.parse()?,
            repair,
        })
    }
}

/// `F` with `FFᵀ = cov`: the Cholesky factor, or, for a singular or indefinite covariance, a
/// factor from the eigendecomposition.
fn psd_factor(cov: &Array2<f64>, repair: bool) -> Result<Mat<f64>> {
    let n = cov.nrows();
    let m = Mat::<f64>::from_fn(n, n, |i, j| cov[(i, j)]);
    if let Ok(llt) = m.llt(Side::Lower) {
        return Ok(llt.L().to_owned());
    }
    let evd = m
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| RiskError::Numerical(format!("cov eigendecomposition failed: {e:?}")))?;
    let s = evd.S().column_vector();
    let largest = (0..n).map(|k| s[k].abs()).fold(0.0, f64::max);
    let smallest = (0..n).map(|k| s[k]).fold(f64::INFINITY, f64::min);
    if smallest < -1e-10 * largest.max(f64::MIN_POSITIVE) && !repair {
        return Err(RiskError::Numerical(format!(
            "cov is not positive semi-definite: its smallest eigenvalue is {smallest}; \
             pass repair=True to clip negative eigenvalues to zero"
        )));
    }
    let u = evd.U();
    Ok(Mat::from_fn(n, n, |i, k| u[(i, k)] * s[k].max(0.0).sqrt()))
}

/// Simulated h-period compounded portfolio returns, chunk by chunk.
fn simulate(
    spec: &McSpec,
    step: impl Fn(&mut Xoshiro256PlusPlus) -> f64 + Sync,
) -> Result<Vec<f64>> {
    let mut paths = args::buffer("n_paths", spec.n_paths)?;
    let chunks = spec.n_paths.div_ceil(CHUNK);
    let mut streams = Vec::with_capacity(chunks);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(spec.seed);
    for _ in 0..chunks {
        streams.push(rng.clone());
        rng.jump();
    }
    paths
        .par_chunks_mut(CHUNK)
        .zip(streams)
        .for_each(|(out, mut rng)| {
            for p in out {
                let mut growth = 1.0;
                for _ in 0..spec.horizon {
                    growth *= 1.0 + step(&mut rng);
                }
                *p = growth - 1.0;
            }
        });
    Ok(paths)
}

/// Monte Carlo `(VaR, CVaR)` of the portfolio `weights · r`, as positive losses over `horizon`
/// compounded periods. Rows of `returns` with any NaN are left out; fewer than two complete rows
/// give NaN. `cov`, when given, replaces the sample covariance for the normal method.
pub fn var_monte_carlo(
    returns: ArrayView2<'_, f64>,
    weights: &[f64],
    cov: Option<ArrayView2<'_, f64>>,
    spec: &McSpec,
) -> Result<(f64, f64)> {
    let n = returns.ncols();
    if weights.len() != n {
        return Err(RiskError::invalid(
            "weights",
            format!(
                "must have one weight per column of returns ({n}), got {}",
                weights.len()
            ),
        ));
    }
    args::all_finite("weights", weights.iter().copied())?;
    reject_infinite("returns", returns)?;
    let rows: Vec<usize> = (0..returns.nrows())
        .filter(|&t| returns.row(t).iter().all(|v| !v.is_nan()))
        .collect();
    let complete = returns.select(Axis(0), &rows);
    if let Some(c) = &cov {
        args::covariance_matrix("cov", c, n)?;
    }
    if rows.len() < 2 {
        return Ok((f64::NAN, f64::NAN));
    }
    let mut paths = match spec.method {
        McMethod::Normal => {
            let sigma = match cov {
                Some(c) => c.to_owned(),
                None => covariance(complete.view(), CovMethod::Sample)?,
            };
            let factor = psd_factor(&sigma, spec.repair)?;
            // w·(mu + F z) = w·mu + (Fᵀw)·z: the same draw, N multiplications instead of N².
            let drift: f64 = complete
                .mean_axis(Axis(0))
                .expect("two or more rows")
                .iter()
                .zip(weights)
                .map(|(m, w)| m * w)
                .sum();
            let loading: Vec<f64> = (0..n)
                .map(|k| (0..n).map(|i| factor[(i, k)] * weights[i]).sum())
                .collect();
            simulate(spec, |rng| {
                let mut r = drift;
                for b in &loading {
                    let z: f64 = rng.sample(StandardNormal);
                    r += b * z;
                }
                r
            })?
        }
        McMethod::Bootstrap => {
            let portfolio: Vec<f64> = complete
                .rows()
                .into_iter()
                .map(|row| row.iter().zip(weights).map(|(r, w)| r * w).sum())
                .collect();
            let m = portfolio.len();
            simulate(spec, |rng| portfolio[rng.random_range(0..m)])?
        }
    };
    let (q, tail) =
        quantile_and_tail_mean(&mut paths, 1.0 - spec.confidence, Interpolation::Linear);
    Ok((0.0 - q, 0.0 - tail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::parametric::normal_quantile;
    use ndarray::array;

    fn sample() -> Array2<f64> {
        Array2::from_shape_fn((500, 3), |(t, j)| {
            (((t * 7919 + j * 104729) % 1000) as f64 / 1000.0 - 0.5) * 0.04
        })
    }

    #[test]
    fn same_seed_same_answer_whatever_the_pool() {
        let x = sample();
        let spec = McSpec::new(0.95, 1, 20_000, 7, "normal", false).unwrap();
        let a = var_monte_carlo(x.view(), &[0.5, 0.3, 0.2], None, &spec).unwrap();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let b = pool.install(|| var_monte_carlo(x.view(), &[0.5, 0.3, 0.2], None, &spec).unwrap());
        assert_eq!(a, b);
        let other = McSpec { seed: 8, ..spec };
        assert_ne!(
            a,
            var_monte_carlo(x.view(), &[0.5, 0.3, 0.2], None, &other).unwrap()
        );
    }

    #[test]
    fn normal_paths_approach_the_parametric_var() {
        let x = sample();
        let w = [0.5, 0.3, 0.2];
        let cov = covariance(x.view(), CovMethod::Sample).unwrap();
        let mu: f64 = x
            .mean_axis(Axis(0))
            .unwrap()
            .iter()
            .zip(&w)
            .map(|(m, w)| m * w)
            .sum();
        let sd = w
            .iter()
            .enumerate()
            .map(|(i, wi)| {
                w.iter()
                    .enumerate()
                    .map(|(j, wj)| wi * wj * cov[(i, j)])
                    .sum::<f64>()
            })
            .sum::<f64>()
            .sqrt();
        let want = -(mu + normal_quantile(0.05) * sd);
        let spec = McSpec::new(0.95, 1, 400_000, 1, "normal", false).unwrap();
        let (var, cvar) = var_monte_carlo(x.view(), &w, None, &spec).unwrap();
        assert!((var - want).abs() < 0.01 * want, "{var} vs {want}");
        assert!(cvar > var);
    }

    #[test]
    fn indefinite_cov_is_refused_unless_repaired() {
        let x = sample();
        let bad = array![[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let spec = McSpec::new(0.95, 1, 1000, 0, "normal", false).unwrap();
        let e = var_monte_carlo(x.view(), &[1.0, 0.0, 0.0], Some(bad.view()), &spec).unwrap_err();
        assert!(e.to_string().contains("not positive semi-definite"), "{e}");
        let fixed = McSpec {
            repair: true,
            ..spec
        };
        assert!(
            var_monte_carlo(x.view(), &[1.0, 0.0, 0.0], Some(bad.view()), &fixed)
                .unwrap()
                .0
                .is_finite()
        );
    }

    #[test]
    fn impossible_sizes_are_errors_not_aborts() {
        let x = sample();
        let e = McSpec::new(0.95, 1, i64::MAX, 0, "normal", false).unwrap_err();
        assert!(e.to_string().starts_with("n_paths must be <="), "{e}");
        assert!(McSpec::new(0.95, MAX_HORIZON + 1, 10, 0, "normal", false).is_err());
        let asym = array![[1.0, 0.1, 0.0], [0.2, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let spec = McSpec::new(0.95, 1, 10, 0, "normal", false).unwrap();
        assert!(var_monte_carlo(x.view(), &[1.0, 0.0, 0.0], Some(asym.view()), &spec).is_err());
    }

    #[test]
    fn bootstrap_draws_only_history() {
        let x = array![[0.01], [-0.02], [0.03]];
        let spec = McSpec::new(0.9, 1, 5000, 3, "bootstrap", false).unwrap();
        let (var, _) = var_monte_carlo(x.view(), &[1.0], None, &spec).unwrap();
        assert!((var - 0.02).abs() < 1e-12, "{var}");
    }
}
