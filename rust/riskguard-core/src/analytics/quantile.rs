//! Sample quantiles (numpy's definitions) and historical VaR / CVaR.

use std::str::FromStr;

use ndarray::ArrayView2;

use super::args;
use super::columns::{finite_prefix, map_columns};
use crate::error::{Result, RiskError};

/// How a quantile between two order statistics is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interpolation {
    /// numpy's default (R type 7): linear between the two neighbouring order statistics.
    Linear,
    /// The lower order statistic, as Riskfolio and skfolio report it.
    Lower,
}

impl FromStr for Interpolation {
    type Err = RiskError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "linear" => Ok(Self::Linear),
            "lower" => Ok(Self::Lower),
            _ => Err(RiskError::invalid(
                "interpolation",
                format!("must be \"linear\" or \"lower\", got {s:?}"),
            )),
        }
    }
}

/// How a one-period figure becomes an h-period one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scaling {
    /// Multiply the one-period figure by sqrt(h).
    Sqrt,
    /// Compound overlapping h-period returns first, then take the statistic of those.
    Overlapping,
}

impl FromStr for Scaling {
    type Err = RiskError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sqrt" => Ok(Self::Sqrt),
            "overlapping" => Ok(Self::Overlapping),
            _ => Err(RiskError::invalid(
                "scaling",
                format!("must be \"sqrt\" or \"overlapping\", got {s:?}"),
            )),
        }
    }
}

/// The validated arguments of historical VaR and CVaR.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TailSpec {
    pub confidence: f64,
    pub horizon: usize,
    pub interpolation: Interpolation,
    pub scaling: Scaling,
}

impl TailSpec {
    /// Validates and parses the user-facing arguments.
    pub fn new(confidence: f64, horizon: i64, interpolation: &str, scaling: &str) -> Result<Self> {
        Ok(Self {
            confidence: args::confidence(confidence)?,
            horizon: args::count("horizon", horizon, 1)?,
            interpolation: interpolation.parse()?,
            scaling: scaling.parse()?,
        })
    }
}

/// numpy's `a + t*(b-a)`, evaluated from the nearer end for accuracy.
#[inline]
pub fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// The `p` quantile of the non-empty, finite `a`, as `np.quantile(a, p, method=...)`.
/// Reorders `a`.
pub fn quantile_in_place(a: &mut [f64], p: f64, interpolation: Interpolation) -> f64 {
    let n = a.len();
    select_quantile(a, n, p, interpolation)
}

/// The `p` quantile of a sample of `n` values, of which `a` holds at least the smallest
/// `floor((n-1)p) + 2` (or all). Reorders `a`.
pub fn select_quantile(a: &mut [f64], n: usize, p: f64, interpolation: Interpolation) -> f64 {
    debug_assert!(n > 0 && !a.is_empty());
    let (k, gamma) = quantile_position(n, p);
    let (_, &mut lo, upper) = a.select_nth_unstable_by(k, f64::total_cmp);
    if interpolation == Interpolation::Lower || upper.is_empty() || gamma == 0.0 {
        return lo;
    }
    let hi = upper.iter().copied().fold(f64::INFINITY, f64::min);
    lerp(lo, hi, gamma)
}

/// The values of `a` at or below its `need`-th smallest, and maybe a few more, copied into
/// `scratch`: those at or below a threshold estimated from an evenly spaced sample, so that the
/// selection that follows runs over a few hundred values rather than the whole column. `None`
/// when the tail is not small or the estimate misses; the caller then selects over all of `a`.
fn lower_tail<'s>(a: &[f64], need: usize, scratch: &'s mut Vec<f64>) -> Option<&'s mut [f64]> {
    const SAMPLE: usize = 128;
    let n = a.len();
    let cap = n / 4;
    if n < 4 * SAMPLE || need > cap {
        return None;
    }
    let step = n / SAMPLE;
    let mut sample: [f64; SAMPLE] = std::array::from_fn(|i| a[i * step]);
    let expected = (SAMPLE * need) as f64 / n as f64;
    let rank = (expected + 3.0 * expected.sqrt() + 2.0).ceil() as usize;
    if rank >= SAMPLE {
        return None;
    }
    let (_, &mut threshold, _) = sample.select_nth_unstable_by(rank, f64::total_cmp);
    // Branch-free filter: always store, advance only on a candidate. Overflowing the cap means
    // the threshold was too high to help.
    scratch.clear();
    scratch.resize(cap + 1, 0.0);
    let mut m = 0;
    for &v in a {
        scratch[m.min(cap)] = v;
        m += usize::from(v <= threshold);
    }
    (need..=cap).contains(&m).then(move || &mut scratch[..m])
}

/// The `p` quantile of the non-empty, finite `a` and the mean of the values at or below it.
/// Reorders `a`.
pub fn quantile_and_tail_mean(a: &mut [f64], p: f64, interpolation: Interpolation) -> (f64, f64) {
    let n = a.len();
    let need = (quantile_position(n, p).0 + 2).min(n);
    let mut scratch = Vec::new();
    let tail = match lower_tail(a, need, &mut scratch) {
        Some(tail) => tail,
        None => a,
    };
    let q = select_quantile(tail, n, p, interpolation);
    (q, mean_at_or_below(tail, q))
}

/// Where numpy's `p` quantile of `n > 0` values lies: the 0-based order statistic `k` below it
/// and the fraction `gamma` of the way to the next one.
///
/// A position within rounding of a whole number is that whole number. `p` is most often
/// `1 - confidence`, and in binary floating point `1 - 0.9` is 0.09999999999999998: whenever
/// `(n - 1) * 0.1` is whole, the product falls just short of it, and the quantile would move one
/// order statistic into the tail (the lower VaR one value too far, the CVaR short of the value
/// at the quantile). The rounding of `1 - confidence` is at most half an ulp of 1 and that of
/// the product half an ulp of the position, so `2 * n * EPSILON` bounds both; a position that
/// close to a whole number without being it is not representable as a decimal confidence.
pub fn quantile_position(n: usize, p: f64) -> (usize, f64) {
    let raw = (n - 1) as f64 * p;
    let whole = raw.round();
    let pos = if (raw - whole).abs() <= 2.0 * f64::EPSILON * n as f64 {
        whole
    } else {
        raw
    };
    let k = (pos.floor().max(0.0) as usize).min(n - 1);
    (k, pos - k as f64)
}

/// The `p` quantile of an ascending, finite, non-empty slice.
pub fn quantile_sorted(a: &[f64], p: f64, interpolation: Interpolation) -> f64 {
    let n = a.len();
    let (k, gamma) = quantile_position(n, p);
    if interpolation == Interpolation::Lower || k + 1 == n || gamma == 0.0 {
        a[k]
    } else {
        lerp(a[k], a[k + 1], gamma)
    }
}

/// Mean of the values at or below `q`, or NaN when there are none.
pub fn mean_at_or_below(a: &[f64], q: f64) -> f64 {
    let (sum, n) = a
        .iter()
        .filter(|&&v| v <= q)
        .fold((0.0, 0usize), |(s, n), &v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Replaces the first `n` finite values of `buf` by their overlapping `h`-period compounded
/// returns and returns how many there are (0 when `n < h`).
pub fn compound_overlapping(buf: &mut [f64], n: usize, h: usize) -> usize {
    if n < h {
        return 0;
    }
    let m = n - h + 1;
    for j in 0..m {
        // buf[j] is overwritten only after its own window is read; later windows start after j.
        buf[j] = buf[j..j + h].iter().fold(1.0, |g, r| g * (1.0 + r)) - 1.0;
    }
    m
}

/// Historical (VaR, CVaR) of one column's values, as positive losses. Reorders `buf`.
pub fn tail_losses(buf: &mut [f64], column: usize, spec: &TailSpec) -> Result<(f64, f64)> {
    let mut n = finite_prefix("returns", buf, column)?;
    let mut scale = 1.0;
    if spec.horizon > 1 {
        match spec.scaling {
            Scaling::Sqrt => scale = (spec.horizon as f64).sqrt(),
            Scaling::Overlapping => n = compound_overlapping(buf, n, spec.horizon),
        }
    }
    if n == 0 {
        return Ok((f64::NAN, f64::NAN));
    }
    let (q, tail) =
        quantile_and_tail_mean(&mut buf[..n], 1.0 - spec.confidence, spec.interpolation);
    Ok((0.0 - q * scale, 0.0 - tail * scale))
}

/// Refuses an overlapping horizon longer than the series.
pub fn check_horizon(returns: &ArrayView2<'_, f64>, spec: &TailSpec) -> Result<()> {
    if spec.scaling == Scaling::Overlapping && spec.horizon > returns.nrows() {
        return Err(RiskError::invalid(
            "horizon",
            format!(
                "must not exceed the {} rows of returns with scaling=\"overlapping\", got {}",
                returns.nrows(),
                spec.horizon
            ),
        ));
    }
    Ok(())
}

/// Historical VaR per column: `-quantile(r, 1 - confidence)`, NaN omitted.
pub fn var_historical(returns: ArrayView2<'_, f64>, spec: &TailSpec) -> Result<Vec<f64>> {
    check_horizon(&returns, spec)?;
    map_columns(returns, |j, col| Ok(tail_losses(col, j, spec)?.0))
}

/// Historical CVaR per column: `-mean(r[r <= q])` with q the VaR quantile, NaN omitted.
pub fn cvar_historical(returns: ArrayView2<'_, f64>, spec: &TailSpec) -> Result<Vec<f64>> {
    check_horizon(&returns, spec)?;
    map_columns(returns, |j, col| Ok(tail_losses(col, j, spec)?.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use proptest::prelude::*;

    fn reference_quantile(v: &[f64], p: f64, interp: Interpolation) -> f64 {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        quantile_sorted(&s, p, interp)
    }

    #[test]
    fn matches_numpy_on_a_known_series() {
        // np.quantile([3, 1, 4, 1, 5, 9, 2, 6], 0.05) == 1.0 ; 0.3 -> 1.0 + 0.1*(2-1)
        let mut v = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        assert_eq!(quantile_in_place(&mut v, 0.05, Interpolation::Linear), 1.0);
        let q = quantile_in_place(&mut v, 0.3, Interpolation::Linear);
        assert!((q - 2.1).abs() < 1e-15, "{q}");
        assert_eq!(quantile_in_place(&mut v, 0.3, Interpolation::Lower), 2.0);
    }

    #[test]
    fn a_decimal_confidence_takes_the_decimal_order_statistic() {
        // (11 - 1) * (1 - 0.9) is 0.9999999999999998 in floating point; numpy at q = 0.1 gives
        // the second smallest, -0.0107, and the two worst average to 0.0184.
        let x = [
            0.0069, 0.0164, 0.0066, -0.0261, 0.0181, 0.0089, -0.0107, 0.0116, 0.0073, 0.0059,
            0.0006,
        ];
        let r = Array2::from_shape_vec((11, 1), x.to_vec()).unwrap();
        let lower = TailSpec::new(0.9, 1, "lower", "sqrt").unwrap();
        let linear = TailSpec::new(0.9, 1, "linear", "sqrt").unwrap();
        assert_eq!(var_historical(r.view(), &lower).unwrap(), vec![0.0107]);
        assert_eq!(var_historical(r.view(), &linear).unwrap(), vec![0.0107]);
        let cvar = cvar_historical(r.view(), &linear).unwrap()[0];
        assert!((cvar - (0.0261 + 0.0107) / 2.0).abs() < 1e-15, "{cvar}");
        // Monte Carlo's paths go through the same selection.
        let (q, tail) = quantile_and_tail_mean(&mut x.to_vec(), 1.0 - 0.9, Interpolation::Linear);
        assert_eq!(q, -0.0107);
        assert!((tail + (0.0261 + 0.0107) / 2.0).abs() < 1e-15, "{tail}");
    }

    proptest! {
        /// Against exact integer arithmetic: a confidence of m / 10^d puts numpy's quantile at
        /// (n - 1)(10^d - m) / 10^d, whose whole part is the order statistic below it.
        #[test]
        fn positions_of_decimal_confidences_are_exact(
            n in 1usize..5000, digits in 1u32..4, m in 1u64..1000,
        ) {
            let scale = 10u64.pow(digits);
            let m = m % scale;
            prop_assume!(m > 0);
            let c: f64 = format!("{}", m as f64 / scale as f64).parse().unwrap();
            let exact = (n as u64 - 1) * (scale - m);
            let (k, gamma) = quantile_position(n, 1.0 - c);
            prop_assert_eq!(k as u64, exact / scale);
            let want = (exact % scale) as f64 / scale as f64;
            prop_assert!((gamma - want).abs() < 1e-9, "n={} c={} gamma={} want={}", n, c, gamma, want);
        }
    }

    #[test]
    fn var_and_cvar_are_positive_losses() {
        let r = Array2::from_shape_vec((5, 1), vec![-0.05, 0.01, -0.02, 0.03, f64::NAN]).unwrap();
        let spec = TailSpec::new(0.75, 1, "lower", "sqrt").unwrap();
        // finite sorted: -0.05 -0.02 0.01 0.03 ; pos = 3*0.25 = 0.75 -> lower = -0.05
        assert_eq!(var_historical(r.view(), &spec).unwrap(), vec![0.05]);
        assert_eq!(cvar_historical(r.view(), &spec).unwrap(), vec![0.05]);
    }

    #[test]
    fn overlapping_compounds_before_the_quantile() {
        let mut buf = vec![0.1, -0.1, 0.2];
        let m = compound_overlapping(&mut buf, 3, 2);
        assert_eq!(m, 2);
        assert!((buf[0] - (1.1 * 0.9 - 1.0)).abs() < 1e-15);
        assert!((buf[1] - (0.9 * 1.2 - 1.0)).abs() < 1e-15);
    }

    #[test]
    fn bad_arguments_name_themselves() {
        assert!(
            TailSpec::new(1.5, 1, "linear", "sqrt")
                .unwrap_err()
                .to_string()
                .contains("confidence")
        );
        assert!(
            TailSpec::new(0.9, 0, "linear", "sqrt")
                .unwrap_err()
                .to_string()
                .contains("horizon must be >= 1, got 0")
        );
        assert!(
            TailSpec::new(0.9, 1, "nearest", "sqrt")
                .unwrap_err()
                .to_string()
                .contains("\"nearest\"")
        );
    }

    proptest! {
        #[test]
        fn selection_equals_sorting(v in prop::collection::vec(-1.0f64..1.0, 1..200), p in 0.0f64..1.0) {
            for interp in [Interpolation::Linear, Interpolation::Lower] {
                let mut a = v.clone();
                prop_assert_eq!(quantile_in_place(&mut a, p, interp), reference_quantile(&v, p, interp));
            }
        }

        #[test]
        fn tail_filtering_changes_nothing(
            v in prop::collection::vec(-1.0f64..1.0, 500..3000),
            p in 0.0f64..0.3,
            ties in 0usize..4,
        ) {
            // Rounding some values makes ties at the quantile likely.
            let v: Vec<f64> = v.iter().map(|x| if ties > 0 { (x * 50.0).round() / 50.0 } else { *x }).collect();
            for interp in [Interpolation::Linear, Interpolation::Lower] {
                let mut sorted = v.clone();
                sorted.sort_by(f64::total_cmp);
                let q = quantile_sorted(&sorted, p, interp);
                let (got_q, got_mean) = quantile_and_tail_mean(&mut v.clone(), p, interp);
                prop_assert_eq!(got_q, q);
                let want = mean_at_or_below(&v, q);
                prop_assert!((got_mean - want).abs() <= 1e-12 * want.abs().max(1.0));
            }
        }

        #[test]
        fn cvar_is_at_least_var(v in prop::collection::vec(-1.0f64..1.0, 1..200), c in 0.01f64..0.99) {
            let r = Array2::from_shape_vec((v.len(), 1), v).unwrap();
            let spec = TailSpec::new(c, 1, "linear", "sqrt").unwrap();
            let var = var_historical(r.view(), &spec).unwrap()[0];
            let cvar = cvar_historical(r.view(), &spec).unwrap()[0];
            prop_assert!(cvar >= var - 1e-12);
        }
    }
}
