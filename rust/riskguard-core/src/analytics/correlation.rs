//! Covariance and correlation matrices through a blocked GEMM (faer), computing one triangle.
//!
//! Without NaN the sample covariance is one product `XcᵀXc` of the centred data. With NaN the
//! statistics are pairwise-complete, as in pandas: each pair uses the rows where both are finite.
//! Those sums are four products of the centred data and its finite-mask, so missing data costs a
//! constant factor, not a loop over pairs.

use faer::linalg::matmul::triangular::{BlockStructure, matmul as tri_matmul};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::columns::{PARALLEL_MIN, reject_infinite, to_column_major};
use super::{args, moments};
use crate::error::{Result, RiskError};

/// RiskMetrics' decay, used by `ewma` when no half-life is given.
pub const RISKMETRICS_LAMBDA: f64 = 0.94;

/// How a covariance matrix is estimated.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CovMethod {
    /// Sample covariance, ddof 1, pairwise-complete when data are missing.
    Sample,
    /// Exponentially weighted: weight `lambda^age` on each complete row, normalised to sum to 1,
    /// around the weighted mean (pandas' `ewm(halflife=h, adjust=True).cov(bias=True)`).
    Ewma { lambda: f64 },
}

impl CovMethod {
    /// Parses `method` ("sample", "pearson" or "ewma") with an optional half-life in periods.
    pub fn new(method: &str, halflife: Option<f64>) -> Result<Self> {
        match (method, halflife) {
            ("sample" | "pearson", None) => Ok(Self::Sample),
            ("sample" | "pearson", Some(h)) => Err(RiskError::invalid(
                "halflife",
                format!("applies only to method=\"ewma\", got {h} with method={method:?}"),
            )),
            ("ewma", None) => Ok(Self::Ewma {
                lambda: RISKMETRICS_LAMBDA,
            }),
            ("ewma", Some(h)) => Ok(Self::Ewma {
                lambda: 0.5f64.powf(1.0 / args::positive("halflife", h)?),
            }),
            _ => Err(RiskError::invalid(
                "method",
                format!("must be \"sample\", \"pearson\" or \"ewma\", got {method:?}"),
            )),
        }
    }
}

fn par_for(flops: usize) -> Par {
    if flops >= 1 << 22 {
        Par::rayon(0)
    } else {
        Par::Seq
    }
}

/// `aᵀb` for column-major `a` (t × n) and `b` (t × m).
fn cross(a: &[f64], b: &[f64], t: usize, n: usize, m: usize) -> Mat<f64> {
    let (a, b) = (
        MatRef::from_column_major_slice(a, t, n),
        MatRef::from_column_major_slice(b, t, m),
    );
    let mut out = Mat::<f64>::zeros(n, m);
    faer::linalg::matmul::matmul(
        out.as_mut(),
        Accum::Replace,
        a.transpose(),
        b,
        1.0,
        par_for(t * n * m),
    );
    out
}

/// `aᵀa` for column-major `a` (t × n), written into a new `(n, n)` array: one triangle is
/// computed, straight into the array's memory, then mirrored.
fn gram(a: &[f64], t: usize, n: usize) -> Array2<f64> {
    let a = MatRef::from_column_major_slice(a, t, n);
    let mut out = Array2::<f64>::zeros((n, n));
    {
        // Row-major memory read as column-major is the transpose, which for aᵀa is itself.
        let slice = out.as_slice_mut().expect("a new array is contiguous");
        tri_matmul(
            MatMut::from_column_major_slice_mut(slice, n, n),
            BlockStructure::TriangularLower,
            Accum::Replace,
            a.transpose(),
            BlockStructure::Rectangular,
            a,
            BlockStructure::Rectangular,
            1.0,
            par_for(t * n * n / 2),
        );
    }
    mirror_upper(&mut out);
    out
}

/// Copies the upper triangle of a square array onto its lower one, tile by tile so that the
/// column-wise reads stay in cache.
fn mirror_upper(out: &mut Array2<f64>) {
    const TILE: usize = 64;
    let n = out.nrows();
    let m = out.as_slice_mut().expect("a new array is contiguous");
    for bi in (0..n).step_by(TILE) {
        for bj in (0..=bi).step_by(TILE) {
            for i in bi..(bi + TILE).min(n) {
                for j in bj..(bj + TILE).min(i) {
                    m[i * n + j] = m[j * n + i];
                }
            }
        }
    }
}

/// The columns of `x` as one column-major buffer, and whether any value is NaN.
fn column_major(arg: &'static str, x: ArrayView2<'_, f64>) -> Result<(Vec<f64>, bool)> {
    let buf = to_column_major(x);
    let scan = |part: &[f64]| {
        part.iter().fold((false, false), |(nan, inf), v| {
            (nan | v.is_nan(), inf | v.is_infinite())
        })
    };
    let either = |a: (bool, bool), b: (bool, bool)| (a.0 | b.0, a.1 | b.1);
    let (nan, inf) = if buf.len() >= PARALLEL_MIN {
        buf.par_chunks(PARALLEL_MIN)
            .map(scan)
            .reduce(|| (false, false), either)
    } else {
        scan(&buf)
    };
    if inf {
        reject_infinite(arg, x)?;
    }
    Ok((buf, nan))
}

/// Covariance and the variances that normalise it into a correlation.
struct PairStats {
    cov: Array2<f64>,
    /// Without missing data each variance is the diagonal of `cov`. With it, `var[(i, j)]` is
    /// the variance of column i over the rows where i and j are both finite.
    pairwise_var: Option<Array2<f64>>,
}

/// Centres each column of a column-major buffer on the mean of its finite values; NaN becomes 0.
fn centre(buf: &mut [f64], t: usize) {
    let centre_one = |c: &mut [f64]| {
        let mean = moments::mean(c.iter().copied().filter(|v| !v.is_nan()));
        c.iter_mut()
            .for_each(|v| *v = if v.is_nan() { 0.0 } else { *v - mean });
    };
    if buf.len() >= PARALLEL_MIN {
        buf.par_chunks_mut(t.max(1)).for_each(centre_one);
    } else {
        buf.chunks_mut(t.max(1)).for_each(centre_one);
    }
}

fn sample_stats(mut buf: Vec<f64>, t: usize, n: usize) -> PairStats {
    centre(&mut buf, t);
    let mut cov = gram(&buf, t, n);
    let scale = if t < 2 {
        f64::NAN
    } else {
        1.0 / (t - 1) as f64
    };
    for_rows(&mut cov, |_, row| row.iter_mut().for_each(|v| *v *= scale));
    PairStats {
        cov,
        pairwise_var: None,
    }
}

/// Applies `f(i, row)` to every row of a new (standard-layout) square array, in parallel when
/// it is large: these passes over the whole `(N, N)` result would otherwise run on one core
/// after the product ran on all.
fn for_rows(m: &mut Array2<f64>, f: impl Fn(usize, &mut [f64]) + Sync) {
    let n = m.ncols().max(1);
    let m = m.as_slice_mut().expect("a new array is contiguous");
    if m.len() >= PARALLEL_MIN {
        m.par_chunks_mut(n)
            .enumerate()
            .for_each(|(i, row)| f(i, row));
    } else {
        m.chunks_mut(n).enumerate().for_each(|(i, row)| f(i, row));
    }
}

fn pairwise_stats(x: &[f64], t: usize, n: usize) -> PairStats {
    let mask: Vec<f64> = x
        .iter()
        .map(|v| if v.is_nan() { 0.0 } else { 1.0 })
        .collect();
    let mut xc = x.to_vec();
    centre(&mut xc, t);
    let sq: Vec<f64> = xc.iter().map(|v| v * v).collect();
    let counts = gram(&mask, t, n);
    let sums = cross(&xc, &mask, t, n, n); // sums[(i, j)]: Σ x_i over rows where j is finite too
    let prods = gram(&xc, t, n);
    let squares = cross(&sq, &mask, t, n, n);
    let mut cov = Array2::from_elem((n, n), f64::NAN);
    let mut var = Array2::from_elem((n, n), f64::NAN);
    for i in 0..n {
        for j in 0..n {
            let k = counts[(i, j)];
            if k >= 2.0 {
                cov[(i, j)] = (prods[(i, j)] - sums[(i, j)] * sums[(j, i)] / k) / (k - 1.0);
                var[(i, j)] =
                    ((squares[(i, j)] - sums[(i, j)] * sums[(i, j)] / k) / (k - 1.0)).max(0.0);
            }
        }
    }
    PairStats {
        cov,
        pairwise_var: Some(var),
    }
}

fn ewma_stats(x: &[f64], t: usize, n: usize, lambda: f64) -> PairStats {
    let complete: Vec<usize> = (0..t)
        .filter(|&r| (0..n).all(|j| !x[j * t + r].is_nan()))
        .collect();
    let m = complete.len();
    if m == 0 {
        return PairStats {
            cov: Array2::from_elem((n, n), f64::NAN),
            pairwise_var: None,
        };
    }
    let w: Vec<f64> = (0..m).map(|k| lambda.powi((m - 1 - k) as i32)).collect();
    let total: f64 = w.iter().sum();
    let mut xs = vec![0.0; m * n];
    for j in 0..n {
        let col = &x[j * t..(j + 1) * t];
        let constant = complete.iter().all(|&r| col[r] == col[complete[0]]);
        let mean = if constant {
            col[complete[0]]
        } else {
            complete
                .iter()
                .zip(&w)
                .map(|(&r, wk)| wk * col[r])
                .sum::<f64>()
                / total
        };
        for (k, &r) in complete.iter().enumerate() {
            xs[j * m + k] = (w[k] / total).sqrt() * (col[r] - mean);
        }
    }
    PairStats {
        cov: gram(&xs, m, n),
        pairwise_var: None,
    }
}

fn stats(returns: ArrayView2<'_, f64>, method: CovMethod) -> Result<PairStats> {
    let (t, n) = returns.dim();
    let (buf, has_nan) = column_major("returns", returns)?;
    Ok(match method {
        CovMethod::Sample if has_nan => pairwise_stats(&buf, t, n),
        CovMethod::Sample => sample_stats(buf, t, n),
        CovMethod::Ewma { lambda } => ewma_stats(&buf, t, n, lambda),
    })
}

/// The `(N, N)` covariance matrix of the columns of `returns`.
pub fn covariance(returns: ArrayView2<'_, f64>, method: CovMethod) -> Result<Array2<f64>> {
    Ok(stats(returns, method)?.cov)
}

/// The `(N, N)` correlation matrix: covariance over the product of the pair's standard
/// deviations, clipped to [-1, 1]; NaN where a column has no variance.
pub fn correlation(returns: ArrayView2<'_, f64>, method: CovMethod) -> Result<Array2<f64>> {
    let PairStats {
        mut cov,
        pairwise_var,
    } = stats(returns, method)?;
    let n = cov.nrows();
    let sd: Vec<f64> = (0..n).map(|i| cov[(i, i)].sqrt()).collect();
    for_rows(&mut cov, |i, row| {
        for (j, c) in row.iter_mut().enumerate() {
            let den = match &pairwise_var {
                Some(var) => (var[(i, j)] * var[(j, i)]).sqrt(),
                None => sd[i] * sd[j],
            };
            *c = if !(den > 0.0) {
                f64::NAN
            } else if i == j {
                1.0
            } else {
                (*c / den).clamp(-1.0, 1.0)
            };
        }
    });
    Ok(cov)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use proptest::prelude::*;

    fn naive_pairwise_cov(x: &Array2<f64>, i: usize, j: usize) -> f64 {
        let rows: Vec<usize> = (0..x.nrows())
            .filter(|&r| !x[(r, i)].is_nan() && !x[(r, j)].is_nan())
            .collect();
        let k = rows.len() as f64;
        if k < 2.0 {
            return f64::NAN;
        }
        let mi = rows.iter().map(|&r| x[(r, i)]).sum::<f64>() / k;
        let mj = rows.iter().map(|&r| x[(r, j)]).sum::<f64>() / k;
        rows.iter()
            .map(|&r| (x[(r, i)] - mi) * (x[(r, j)] - mj))
            .sum::<f64>()
            / (k - 1.0)
    }

    #[test]
    fn perfectly_correlated_columns() {
        let x = array![[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]];
        let c = correlation(x.view(), CovMethod::Sample).unwrap();
        assert_eq!(c, array![[1.0, 1.0], [1.0, 1.0]]);
        let v = covariance(x.view(), CovMethod::Sample).unwrap();
        assert!((v[(0, 1)] - 2.0).abs() < 1e-15);
    }

    #[test]
    fn constant_columns_have_no_correlation() {
        let x = array![[0.03, 0.0], [0.03, 0.01], [0.03, 0.02]];
        for method in [CovMethod::Sample, CovMethod::Ewma { lambda: 0.9 }] {
            let c = correlation(x.view(), method).unwrap();
            assert!(
                c[(0, 0)].is_nan() && c[(0, 1)].is_nan() && c[(1, 1)] == 1.0,
                "{c}"
            );
        }
    }

    #[test]
    fn halflife_sets_lambda() {
        assert_eq!(
            CovMethod::new("ewma", Some(1.0)).unwrap(),
            CovMethod::Ewma { lambda: 0.5 }
        );
        assert!(CovMethod::new("sample", Some(3.0)).is_err());
        assert!(
            CovMethod::new("ewma", Some(-1.0))
                .unwrap_err()
                .to_string()
                .contains("halflife")
        );
    }

    #[test]
    fn wide_inputs_match_the_definition() {
        // 140 columns: the result is normalised row by row in parallel; NaN in one column
        // takes the pairwise path for the whole matrix.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut x = Array2::from_shape_fn((150, 140), |_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        });
        for with_nan in [false, true] {
            if with_nan {
                x[(7, 3)] = f64::NAN;
            }
            let cov = covariance(x.view(), CovMethod::Sample).unwrap();
            let corr = correlation(x.view(), CovMethod::Sample).unwrap();
            for i in 0..140 {
                for j in 0..140 {
                    let want = naive_pairwise_cov(&x, i, j);
                    assert!(
                        (cov[(i, j)] - want).abs() < 1e-14,
                        "{} vs {want}",
                        cov[(i, j)]
                    );
                    if !with_nan {
                        let r = want / (cov[(i, i)] * cov[(j, j)]).sqrt();
                        let r = if i == j { 1.0 } else { r };
                        assert!((corr[(i, j)] - r).abs() < 1e-12, "{} vs {r}", corr[(i, j)]);
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn pairwise_matches_the_definition(
            v in prop::collection::vec(prop::option::weighted(0.8, -1.0f64..1.0), 24..60),
        ) {
            let rows = v.len() / 3;
            let x = Array2::from_shape_fn((rows, 3), |(r, c)| v[r * 3 + c].unwrap_or(f64::NAN));
            let cov = covariance(x.view(), CovMethod::Sample).unwrap();
            for i in 0..3 {
                for j in 0..3 {
                    let want = naive_pairwise_cov(&x, i, j);
                    if want.is_nan() {
                        prop_assert!(cov[(i, j)].is_nan());
                    } else {
                        prop_assert!((cov[(i, j)] - want).abs() < 1e-12, "{} vs {}", cov[(i, j)], want);
                    }
                }
            }
        }
    }
}
