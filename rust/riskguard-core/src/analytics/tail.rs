//! Historical VaR and CVaR of each column together, from one pass over it.
//!
//! `var_historical` and `cvar_historical` each copy every column, find its tail and select
//! within it; asked for both, doing that once halves the work. Row-major input (numpy's default)
//! gains more: copying its columns out is a transpose, so instead the rows of a panel of columns
//! stream by in memory order and each column's candidates, the values at or below a threshold
//! estimated from a sample, are picked straight out of them. Only those few hundred values per
//! column are ever written, and the selection and the tail mean run on them alone.
//!
//! The threshold follows the rule of `quantile.rs`'s own filter, so that for a column without
//! NaN both kernels select among the same candidates, in the same order, and agree to the bit.
//! A column with NaN is sampled among all its rows here and among its finite values there: the
//! VaR is the same order statistic, but the CVaR may sum its tail in another order.

use ndarray::{ArrayView2, s};

use super::columns::{map_columns, over_blocks};
use super::quantile::{
    Interpolation, Scaling, TailSpec, check_horizon, mean_at_or_below, quantile_position,
    select_quantile, tail_losses,
};
use crate::error::Result;

/// Evenly spaced values per column from which its tail threshold is estimated.
const SAMPLE: usize = 128;

/// Most columns filtered together from row-major input: 1 KiB of each row, and per-column
/// state that stays in L1.
const PANEL: usize = 128;

/// Historical `(VaR, CVaR)` per column, as positive losses: the values, conventions and errors
/// of [`super::quantile::var_historical`] and [`super::quantile::cvar_historical`].
pub fn tail_risk(returns: ArrayView2<'_, f64>, spec: &TailSpec) -> Result<Vec<(f64, f64)>> {
    check_horizon(&returns, spec)?;
    let (rows, cols) = returns.dim();
    let row_major = cols > 1 && returns.strides()[1] == 1;
    match Filter::new(rows, spec) {
        Some(filter) if row_major => filter.by_panels(returns, spec),
        // Contiguous columns copy cheaply, and `tail_losses` filters each copy once.
        _ => map_columns(returns, |j, col| tail_losses(col, j, spec)),
    }
}

/// What the pass over a panel found in each of its columns.
struct Tally {
    /// Candidates met, more than were kept when the column overflowed its slot.
    len: [usize; PANEL],
    /// NaN values, which are never candidates.
    missing: [usize; PANEL],
    /// Whether the column holds an infinity.
    infinite: [bool; PANEL],
}

/// How the tail of a column of `n` finite values is filtered and summarised.
struct Filter {
    n: usize,
    p: f64,
    interpolation: Interpolation,
    scale: f64,
    /// Candidates needed: the order statistics on either side of the quantile.
    need: usize,
    /// Most candidates kept; more means the threshold was too high to help.
    cap: usize,
    /// The order statistic of the sample taken as the threshold.
    rank: usize,
    /// Rows from one sampled value to the next.
    step: usize,
}

impl Filter {
    /// The plan for columns of `n` values, or `None` where filtering does not pay (short
    /// columns, tails that are not small) or does not apply (overlapping horizons compound the
    /// returns first).
    fn new(n: usize, spec: &TailSpec) -> Option<Self> {
        if n < 4 * SAMPLE || (spec.horizon > 1 && spec.scaling == Scaling::Overlapping) {
            return None;
        }
        let p = 1.0 - spec.confidence;
        let cap = n / 4;
        let need = (quantile_position(n, p).0 + 2).min(n);
        // The sampled values expected below the quantile plus three standard deviations, so
        // that the threshold lies above it in all but a rare column (which is redone in full).
        let expected = (SAMPLE * need) as f64 / n as f64;
        let rank = (expected + 3.0 * expected.sqrt() + 2.0).ceil() as usize;
        if need > cap || rank >= SAMPLE {
            return None;
        }
        Some(Self {
            n,
            p,
            interpolation: spec.interpolation,
            scale: if spec.horizon > 1 {
                (spec.horizon as f64).sqrt()
            } else {
                1.0
            },
            need,
            cap,
            rank,
            step: n / SAMPLE,
        })
    }

    /// Row-major `x`, panel by panel, in parallel.
    fn by_panels(&self, x: ArrayView2<'_, f64>, spec: &TailSpec) -> Result<Vec<(f64, f64)>> {
        let (rows, cols) = x.dim();
        // Narrower panels for few columns, so that every thread gets some.
        let width = PANEL
            .min(
                cols.div_ceil(rayon::current_num_threads())
                    .next_multiple_of(8),
            )
            .min(cols);
        let slot = self.cap + 1;
        let run = |buf: &mut Vec<f64>, panel: usize| -> Result<Vec<(f64, f64)>> {
            let lo = panel * width;
            let x = x.slice(s![.., lo..(lo + width).min(cols)]);
            let (cands, spare) = buf.split_at_mut(width * slot);
            let threshold = self.thresholds(x, spare);
            let tally = self.candidates(x, &threshold, cands, slot);
            // NaN is never a candidate, so a column with some holds those of its finite values,
            // whose tail is found as that of a shorter column. A column with an infinity (an
            // error naming its row), or whose threshold missed, is redone from a copy as the
            // separate calls do it.
            let mut out = Vec::with_capacity(x.ncols());
            for (c, dst) in cands.chunks_exact_mut(slot).take(x.ncols()).enumerate() {
                let fast = match (tally.infinite[c], tally.missing[c]) {
                    (true, _) => None,
                    (false, 0) => self.finish(dst, tally.len[c]),
                    (false, missing) => Filter::new(rows - missing, spec)
                        .and_then(|finite| finite.finish(dst, tally.len[c])),
                };
                out.push(match fast {
                    Some(risk) => risk,
                    None => {
                        let col = &mut spare[..rows];
                        col.iter_mut().zip(x.column(c)).for_each(|(d, v)| *d = *v);
                        tail_losses(col, lo + c, spec)?
                    }
                });
            }
            Ok(out)
        };
        over_blocks(
            rows * cols,
            cols.div_ceil(width),
            width * slot + (width * SAMPLE).max(rows),
            run,
        )
    }

    /// Each column's threshold: an order statistic of its values on every `step`-th row,
    /// gathered into `spare`.
    fn thresholds(&self, x: ArrayView2<'_, f64>, spare: &mut [f64]) -> [f64; PANEL] {
        for i in 0..SAMPLE {
            let row = x.row(i * self.step);
            let row = row.to_slice().expect("rows are contiguous");
            for (c, v) in row.iter().enumerate() {
                spare[c * SAMPLE + i] = *v;
            }
        }
        let mut threshold = [0.0; PANEL];
        for (t, sample) in threshold
            .iter_mut()
            .zip(spare.chunks_exact_mut(SAMPLE))
            .take(x.ncols())
        {
            *t = *sample.select_nth_unstable_by(self.rank, f64::total_cmp).1;
        }
        threshold
    }

    /// Appends each column's values at or below its threshold, in row order, to its `slot`
    /// values of `cands`, and counts them and the column's NaN.
    ///
    /// The comparisons of a row run as vector instructions into a bit mask, and only the
    /// values it marks (an eighth or so) are appended: no unpredictable branch per value. A
    /// column that overflows its slot keeps overwriting the last value, and is redone in full.
    fn candidates(
        &self,
        x: ArrayView2<'_, f64>,
        threshold: &[f64; PANEL],
        cands: &mut [f64],
        slot: usize,
    ) -> Tally {
        let mut tally = Tally {
            len: [0; PANEL],
            missing: [0; PANEL],
            infinite: [false; PANEL],
        };
        for row in x.rows() {
            let row = row.to_slice().expect("rows are contiguous");
            if !row.iter().fold(true, |ok, v| ok & v.is_finite()) {
                for ((m, inf), v) in tally.missing.iter_mut().zip(&mut tally.infinite).zip(row) {
                    *m += usize::from(v.is_nan());
                    *inf |= v.is_infinite();
                }
            }
            for (g, (values, limits)) in row.chunks(64).zip(threshold.chunks(64)).enumerate() {
                let mut marked = values
                    .iter()
                    .zip(limits)
                    .enumerate()
                    .fold(0u64, |bits, (i, (v, t))| bits | u64::from(v <= t) << i);
                while marked != 0 {
                    let i = marked.trailing_zeros() as usize;
                    marked &= marked - 1;
                    let c = g * 64 + i;
                    cands[c * slot + tally.len[c].min(self.cap)] = values[i];
                    tally.len[c] += 1;
                }
            }
        }
        tally
    }

    /// `(VaR, CVaR)` from the `m` candidates at the front of `cands`, or `None` when the
    /// threshold missed: too few candidates to hold the quantile, or more than were kept.
    fn finish(&self, cands: &mut [f64], m: usize) -> Option<(f64, f64)> {
        if !(self.need..=self.cap).contains(&m) {
            return None;
        }
        let cands = &mut cands[..m];
        let q = select_quantile(cands, self.n, self.p, self.interpolation);
        let tail = mean_at_or_below(cands, q);
        Some((0.0 - q * self.scale, 0.0 - tail * self.scale))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::quantile::{cvar_historical, quantile_sorted, var_historical};
    use ndarray::{Array2, ShapeBuilder};
    use proptest::prelude::*;

    /// Deterministic pseudo-returns in roughly ±2 %.
    fn returns(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
        let mut state = seed | 1;
        Array2::from_shape_fn((rows, cols), |_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.04
        })
    }

    /// Both figures from a sort of each column's finite values, one-period.
    fn by_sorting(x: &Array2<f64>, spec: &TailSpec) -> Vec<(f64, f64)> {
        x.columns()
            .into_iter()
            .map(|col| {
                let mut v: Vec<f64> = col.iter().copied().filter(|v| !v.is_nan()).collect();
                if v.is_empty() {
                    return (f64::NAN, f64::NAN);
                }
                v.sort_by(f64::total_cmp);
                let q = quantile_sorted(&v, 1.0 - spec.confidence, spec.interpolation);
                let scale = (spec.horizon as f64).sqrt();
                (-q * scale, -mean_at_or_below(&v, q) * scale)
            })
            .collect()
    }

    /// `tail_risk` against `var_historical` and `cvar_historical`: the VaR is an order
    /// statistic (or the same interpolation of two), so it is equal; the CVaR is the mean of
    /// the same values, equal today, but held only to rounding so that a change to either
    /// filter's threshold, which may reorder its sum, does not fail this.
    fn assert_matches_separate(x: ArrayView2<'_, f64>, spec: &TailSpec) {
        let both = tail_risk(x, spec).unwrap();
        let var = var_historical(x, spec).unwrap();
        let cvar = cvar_historical(x, spec).unwrap();
        assert_eq!(both.len(), var.len());
        for (j, ((v, c), (want_v, want_c))) in both.iter().zip(var.iter().zip(&cvar)).enumerate() {
            assert!(
                v.to_bits() == want_v.to_bits(),
                "VaR of column {j}: {v} vs {want_v}"
            );
            assert!(
                (c - want_c).abs() <= 1e-12 * want_c.abs() || c.to_bits() == want_c.to_bits(),
                "CVaR of column {j}: {c} vs {want_c}"
            );
        }
    }

    fn close(got: &[(f64, f64)], want: &[(f64, f64)]) -> bool {
        let near = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * b.abs();
        got.len() == want.len()
            && got
                .iter()
                .zip(want)
                .all(|(g, w)| near(g.0, w.0) && near(g.1, w.1))
    }

    #[test]
    fn wide_row_major_input_takes_panels_and_agrees() {
        // 300 columns: two full panels and a partial one; 600 rows: enough to filter.
        let x = returns(600, 300, 7);
        for interpolation in ["linear", "lower"] {
            for (confidence, horizon) in [(0.95, 1), (0.99, 1), (0.9, 10), (0.8, 1)] {
                let spec = TailSpec::new(confidence, horizon, interpolation, "sqrt").unwrap();
                assert_matches_separate(x.view(), &spec);
                assert!(close(
                    &tail_risk(x.view(), &spec).unwrap(),
                    &by_sorting(&x, &spec)
                ));
            }
        }
    }

    #[test]
    fn every_layout_gives_the_same_figures() {
        let x = returns(700, 40, 11);
        let f = {
            let mut f = Array2::zeros((700, 40).f());
            f.assign(&x);
            f
        };
        let spec = TailSpec::new(0.95, 1, "linear", "sqrt").unwrap();
        let want = tail_risk(x.view(), &spec).unwrap();
        assert_eq!(tail_risk(f.view(), &spec).unwrap(), want);
        let strided = x.slice(s![.., ..;2]);
        let every_other: Vec<_> = want.iter().step_by(2).copied().collect();
        assert_eq!(tail_risk(strided, &spec).unwrap(), every_other);
    }

    #[test]
    fn columns_with_nan_are_those_of_their_finite_values() {
        let mut x = returns(800, 150, 3);
        for t in (0..800).step_by(3) {
            x[(t, 5)] = f64::NAN;
        }
        x.column_mut(140).fill(f64::NAN);
        x[(799, 141)] = f64::NAN;
        let spec = TailSpec::new(0.95, 1, "linear", "sqrt").unwrap();
        assert_matches_separate(x.view(), &spec);
        let got = tail_risk(x.view(), &spec).unwrap();
        assert!(got[140].0.is_nan() && got[140].1.is_nan());
        assert!(close(&got, &by_sorting(&x, &spec)));
    }

    #[test]
    fn a_threshold_that_misses_redoes_the_column() {
        // Column 0: the sampled rows hold the smallest values, so the threshold is too low;
        // column 1: they hold the largest, so nearly every value is a candidate.
        let n = 1024;
        let step = n / SAMPLE;
        let mut x = returns(n, 2, 5);
        for t in (0..n).step_by(step) {
            x[(t, 0)] = -1.0 - t as f64;
            x[(t, 1)] = 1.0 + t as f64;
        }
        let spec = TailSpec::new(0.95, 1, "linear", "sqrt").unwrap();
        assert_matches_separate(x.view(), &spec);
        assert!(close(
            &tail_risk(x.view(), &spec).unwrap(),
            &by_sorting(&x, &spec)
        ));
    }

    #[test]
    fn errors_are_those_of_the_separate_calls() {
        let mut x = returns(600, 200, 9);
        x[(17, 150)] = f64::NEG_INFINITY;
        let spec = TailSpec::new(0.95, 1, "linear", "sqrt").unwrap();
        let err = tail_risk(x.view(), &spec).unwrap_err().to_string();
        assert_eq!(
            err,
            var_historical(x.view(), &spec).unwrap_err().to_string()
        );
        assert!(
            err.contains("returns") && err.contains("row 17 of column 150"),
            "{err}"
        );

        let spec = TailSpec::new(0.95, 601, "linear", "overlapping").unwrap();
        let err = tail_risk(returns(600, 2, 1).view(), &spec)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("horizon must not exceed the 600 rows"),
            "{err}"
        );
    }

    #[test]
    fn no_rows_give_nan() {
        let x = Array2::<f64>::zeros((0, 3));
        let spec = TailSpec::new(0.95, 1, "linear", "sqrt").unwrap();
        let got = tail_risk(x.view(), &spec).unwrap();
        assert!(got.iter().all(|(v, c)| v.is_nan() && c.is_nan()));
    }

    fn spec_strategy() -> impl Strategy<Value = TailSpec> {
        (
            0.5f64..0.999,
            1i64..4,
            prop::sample::select(vec!["linear", "lower"]),
            prop::sample::select(vec!["sqrt", "overlapping"]),
        )
            .prop_map(|(c, h, i, s)| TailSpec::new(c, h, i, s).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn one_pass_equals_the_separate_kernels(
            rows in 1usize..1200,
            cols in 1usize..20,
            seed in any::<u64>(),
            spec in spec_strategy(),
            ties in any::<bool>(),
            nan in 0.0f64..0.2,
            fortran in any::<bool>(),
        ) {
            let mut x = returns(rows, cols, seed);
            if ties {
                // Coarse values make ties at the quantile and at the threshold likely.
                x.mapv_inplace(|v| (v * 200.0).round() / 200.0);
            }
            let mut state = seed ^ 0xA5A5;
            x.mapv_inplace(|v| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if ((state >> 11) as f64 / (1u64 << 53) as f64) < nan { f64::NAN } else { v }
            });
            if fortran {
                let mut f = Array2::zeros((rows, cols).f());
                f.assign(&x);
                x = f;
            }
            prop_assume!(spec.scaling == Scaling::Sqrt || spec.horizon <= rows);
            assert_matches_separate(x.view(), &spec);
        }
    }
}
