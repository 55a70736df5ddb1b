//! Drawdowns of compounded wealth, anchored at 1.0 before the first return so that a loss in the
//! first period counts.

use ndarray::ArrayView2;

use super::columns::{
    LANES, block_finite_or_nan, finite_prefix, map_columns, map_row_blocks, reject_infinite,
};
use crate::error::Result;

/// The largest peak-to-trough loss of compounded wealth, as a positive fraction. NaN returns are
/// skipped; a series with no finite return gives NaN.
pub fn max_drawdown_of(r: &[f64]) -> f64 {
    if r.iter().all(|x| x.is_nan()) {
        return f64::NAN;
    }
    // An episode's depth is known once it ends (a new peak) or the series does, so the division
    // happens once per peak, not once per period.
    let (mut wealth, mut peak, mut low, mut worst) = (1.0f64, 1.0f64, 1.0f64, 0.0f64);
    for &x in r {
        if x.is_nan() {
            continue;
        }
        wealth *= 1.0 + x;
        if wealth > peak {
            worst = worst.max((peak - low) / peak);
            peak = wealth;
            low = wealth;
        } else if wealth < low {
            low = wealth;
        }
    }
    worst.max((peak - low) / peak)
}

/// Max drawdown per column, all columns of a row block advancing together.
pub fn max_drawdown(returns: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
    map_row_blocks(returns, |first, block| {
        block_finite_or_nan("returns", block, first)?;
        let mut wealth = [1.0f64; LANES];
        let mut peak = [1.0f64; LANES];
        let mut worst = [0.0f64; LANES];
        let mut seen = [false; LANES];
        for row in block.chunks_exact(LANES) {
            for j in 0..LANES {
                let r = row[j];
                seen[j] |= !r.is_nan();
                wealth[j] *= if r.is_nan() { 1.0 } else { 1.0 + r };
                peak[j] = peak[j].max(wealth[j]);
                worst[j] = worst[j].max((peak[j] - wealth[j]) / peak[j]);
            }
        }
        Ok(std::array::from_fn(|j| {
            if seen[j] { worst[j] } else { f64::NAN }
        }))
    })
}

/// One episode under water. Indices are positions in the input series, NaN positions included.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DrawdownPeriod {
    /// Peak-to-trough loss as a positive fraction of the peak.
    pub depth: f64,
    /// Position whose return set the high-water mark; `None` when the mark is the starting
    /// capital, before the first return.
    pub peak: Option<usize>,
    /// Position of the lowest wealth in the episode.
    pub trough: usize,
    /// First position at which wealth is back at or above the peak; `None` if still under water.
    pub recovery: Option<usize>,
    /// Periods under water: from the first losing position up to the recovery, or to the end of
    /// the series when not recovered.
    pub duration: usize,
}

/// Every drawdown episode of `r`, in time order. Infinite returns are an error.
pub fn drawdown_periods(r: &[f64]) -> Result<Vec<DrawdownPeriod>> {
    let mut probe = r.to_vec();
    finite_prefix("returns", &mut probe, 0)?;
    let mut out = Vec::new();
    let (mut wealth, mut peak_w, mut trough_w) = (1.0f64, 1.0f64, 1.0f64);
    let mut peak: Option<usize> = None;
    let mut open: Option<(usize, usize)> = None; // (first position under water, trough)
    for (i, &x) in r.iter().enumerate() {
        if x.is_nan() {
            continue;
        }
        wealth *= 1.0 + x;
        if wealth >= peak_w {
            if let Some((start, trough)) = open.take() {
                let depth = (peak_w - trough_w) / peak_w;
                out.push(DrawdownPeriod {
                    depth,
                    peak,
                    trough,
                    recovery: Some(i),
                    duration: i - start,
                });
            }
            peak_w = wealth;
            peak = Some(i);
        } else {
            match open {
                None => {
                    open = Some((i, i));
                    trough_w = wealth;
                }
                Some((start, _)) if wealth < trough_w => {
                    open = Some((start, i));
                    trough_w = wealth;
                }
                Some(_) => {}
            }
        }
    }
    if let Some((start, trough)) = open {
        let depth = (peak_w - trough_w) / peak_w;
        out.push(DrawdownPeriod {
            depth,
            peak,
            trough,
            recovery: None,
            duration: r.len() - start,
        });
    }
    Ok(out)
}

/// Drawdown episodes of every column.
pub fn drawdown_details(returns: ArrayView2<'_, f64>) -> Result<Vec<Vec<DrawdownPeriod>>> {
    reject_infinite("returns", returns)?;
    map_columns(returns, |_, col| drawdown_periods(col))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_period_loss_counts() {
        assert!((max_drawdown_of(&[-0.1, 0.05]) - 0.1).abs() < 1e-15);
        assert!(max_drawdown_of(&[f64::NAN]).is_nan());
        assert_eq!(max_drawdown_of(&[0.1, 0.2]), 0.0);
    }

    #[test]
    fn episodes_have_peak_trough_and_recovery() {
        let r = [0.1, -0.1, -0.1, 0.5, f64::NAN, -0.2];
        let p = drawdown_periods(&r).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].peak, p[0].trough, p[0].recovery, p[0].duration),
            (Some(0), 2, Some(3), 2)
        );
        assert!((p[0].depth - 0.19).abs() < 1e-12);
        assert_eq!(
            (p[1].peak, p[1].trough, p[1].recovery, p[1].duration),
            (Some(3), 5, None, 1)
        );
        let first = drawdown_periods(&[-0.5]).unwrap();
        assert_eq!(first[0].peak, None);
    }

    proptest! {
        #[test]
        fn deepest_episode_is_the_max_drawdown(r in prop::collection::vec(-0.5f64..0.5, 1..100)) {
            let deepest = drawdown_periods(&r).unwrap().iter().map(|p| p.depth).fold(0.0, f64::max);
            prop_assert!((deepest - max_drawdown_of(&r)).abs() < 1e-12);
        }

        #[test]
        fn row_blocks_match_one_column_at_a_time(
            v in prop::collection::vec(prop::option::weighted(0.9, -0.5f64..0.5), 40..200),
        ) {
            let cols = 19;
            let rows = v.len() / cols;
            let x = ndarray::Array2::from_shape_fn((rows, cols), |(t, j)| v[t * cols + j].unwrap_or(f64::NAN));
            let got = max_drawdown(x.view()).unwrap();
            for j in 0..cols {
                let want = max_drawdown_of(&x.column(j).to_vec());
                prop_assert!(want.is_nan() && got[j].is_nan() || (want - got[j]).abs() < 1e-12);
            }
        }
    }
}
