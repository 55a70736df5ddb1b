//! Scenario P&L and historical stress windows.

use ndarray::ArrayView2;

use super::args;
use crate::error::{Result, RiskError};

/// P&L of `exposures` under each scenario row of `shocks` (K × N): `shocks @ exposures`.
/// Both must be finite.
pub fn stress_pnl(exposures: &[f64], shocks: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
    args::all_finite("exposures", exposures.iter().copied())?;
    if shocks.ncols() != exposures.len() {
        return Err(RiskError::invalid(
            "scenarios",
            format!(
                "must have one shock per exposure ({}), got {}",
                exposures.len(),
                shocks.ncols()
            ),
        ));
    }
    if let Some(((k, j), v)) = shocks.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(RiskError::invalid(
            "scenarios",
            format!("must be finite, got {v} for scenario {k}, position {j}"),
        ));
    }
    Ok(shocks
        .rows()
        .into_iter()
        .map(|row| row.iter().zip(exposures).map(|(s, e)| s * e).sum())
        .collect())
}

/// A window of `horizon` consecutive periods and its compounded loss.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StressWindow {
    /// Compounded loss over the window, a positive fraction.
    pub loss: f64,
    /// First and last position of the window (inclusive).
    pub start: usize,
    pub end: usize,
}

/// The `count` worst non-overlapping `horizon`-period compounded losses of `r`, worst first.
/// NaN periods contribute no return. Windows that did not lose are not reported.
pub fn worst_periods(r: &[f64], horizon: i64, count: i64) -> Result<Vec<StressWindow>> {
    let h = args::count("horizon", horizon, 1)?;
    let count = args::count("n", count, 1)?;
    if let Some((i, v)) = r.iter().enumerate().find(|(_, v)| v.is_infinite()) {
        return Err(RiskError::invalid(
            "returns",
            format!("must be finite or NaN, got {v} at row {i}"),
        ));
    }
    if h > r.len() {
        return Err(RiskError::invalid(
            "horizon",
            format!(
                "must not exceed the {} periods of returns, got {h}",
                r.len()
            ),
        ));
    }
    let mut windows: Vec<StressWindow> = (0..=r.len() - h)
        .map(|s| {
            let growth = r[s..s + h]
                .iter()
                .filter(|v| !v.is_nan())
                .fold(1.0, |g, x| g * (1.0 + x));
            StressWindow {
                loss: 1.0 - growth,
                start: s,
                end: s + h - 1,
            }
        })
        .filter(|w| w.loss > 0.0)
        .collect();
    windows.sort_by(|a, b| b.loss.total_cmp(&a.loss).then(a.start.cmp(&b.start)));
    let mut chosen: Vec<StressWindow> = Vec::with_capacity(count.min(windows.len()));
    for w in windows {
        if chosen.len() == count {
            break;
        }
        if chosen.iter().all(|c| w.end < c.start || w.start > c.end) {
            chosen.push(w);
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn scenario_pnl_is_a_dot_product() {
        let pnl = stress_pnl(&[100.0, -50.0], array![[-0.1, -0.2], [0.0, 0.1]].view()).unwrap();
        assert_eq!(pnl, vec![0.0, -5.0]);
        assert!(stress_pnl(&[1.0], array![[1.0, 2.0]].view()).is_err());
    }

    #[test]
    fn worst_windows_do_not_overlap() {
        let r = [0.0, -0.1, -0.1, 0.05, -0.2, 0.3];
        let w = worst_periods(&r, 2, 3).unwrap();
        assert_eq!((w[0].start, w[0].end), (1, 2));
        assert!((w[0].loss - 0.19).abs() < 1e-12);
        assert_eq!((w[1].start, w[1].end), (3, 4));
        assert!(w.iter().all(|x| x.loss > 0.0));
        assert!(worst_periods(&r, 7, 1).is_err());
        assert_eq!(worst_periods(&r, 1, i64::MAX).unwrap().len(), 3);
    }
}
