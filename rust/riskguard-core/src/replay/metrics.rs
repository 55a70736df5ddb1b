//! The figures a sweep scores a replay by: those of `riskguard.performance.summary` for an
//! equity curve, computed the same way (the same analytics kernels on the same returns), so
//! that a backtest of the same settings reports the same numbers.

use ndarray::ArrayView2;

use crate::analytics::{drawdown, ratios};

/// Nanoseconds in a year of 365.25 days.
pub const NS_PER_YEAR: f64 = 365.25 * 86_400.0 * 1e9;

/// A curve's figures; NaN where `summary` gives NaN (fewer than two points, no variance, no
/// drawdown for Calmar), and for a curve `summary` refuses (equity not finite and > 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// `equity[-1] / equity[0] - 1`.
    pub total_return: f64,
    /// Over calendar time, 365.25-day years.
    pub cagr: f64,
    /// A positive fraction.
    pub max_drawdown: f64,
    /// Of the per-point returns, annualised at the median spacing of the points.
    pub sharpe: f64,
    /// `cagr / max_drawdown`.
    pub calmar: f64,
    /// Closed trades.
    pub trades: f64,
}

impl Scores {
    fn curve_nan(trades: f64) -> Self {
        Self {
            total_return: f64::NAN,
            cagr: f64::NAN,
            max_drawdown: f64::NAN,
            sharpe: f64::NAN,
            calmar: f64::NAN,
            trades,
        }
    }
}

/// The figures of the curve `(ts, equity)` (one point per bar; of bars sharing a time, the
/// last counts, as a backtest keeps the equity after the last bar of each time) with `trades`
/// closed trades.
pub fn scores(ts: &[i64], equity: &[f64], trades: usize) -> Scores {
    let trades = trades as f64;
    let mut t = Vec::with_capacity(ts.len());
    let mut e = Vec::with_capacity(ts.len());
    for k in 0..ts.len() {
        if k + 1 < ts.len() && ts[k + 1] == ts[k] {
            continue;
        }
        t.push(ts[k]);
        e.push(equity[k]);
    }
    if e.len() < 2 || !e.iter().all(|x| x.is_finite() && *x > 0.0) {
        return Scores::curve_nan(trades);
    }
    let returns: Vec<f64> = e.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
    let view = ArrayView2::from_shape((returns.len(), 1), &returns).expect("one column");
    let growth = e[e.len() - 1] / e[0];
    let years = (t[t.len() - 1] - t[0]) as f64 / NS_PER_YEAR;
    let cagr = (growth.ln() / years).exp() - 1.0;
    let mdd = drawdown::max_drawdown(view).map_or(f64::NAN, |v| v[0]);
    let sharpe = ratios::sharpe_ratio(view, 0.0, periods_per_year(&t)).map_or(f64::NAN, |v| v[0]);
    Scores {
        total_return: growth - 1.0,
        cagr,
        max_drawdown: mdd,
        sharpe,
        calmar: if mdd > 0.0 { cagr / mdd } else { f64::NAN },
        trades,
    }
}

/// `NS_PER_YEAR / median(diff(ts))`, the median as numpy takes it (the mean of the two middle
/// values of an even count).
fn periods_per_year(ts: &[i64]) -> f64 {
    let mut d: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    d.sort_unstable();
    let n = d.len();
    let median = if n % 2 == 1 {
        d[n / 2] as f64
    } else {
        (d[n / 2 - 1] as f64 + d[n / 2] as f64) / 2.0
    };
    NS_PER_YEAR / median
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_doubling_over_a_year_of_days() {
        let day = 86_400_000_000_000i64;
        let ts: Vec<i64> = (0..366).map(|k| k * day).collect();
        let equity: Vec<f64> = (0..366)
            .map(|k| 100.0 * 2f64.powf(k as f64 / 365.0))
            .collect();
        let s = scores(&ts, &equity, 3);
        assert!((s.total_return - 1.0).abs() < 1e-12);
        assert!((s.cagr - (2f64.powf(365.25 / 365.0) - 1.0)).abs() < 1e-12);
        assert_eq!((s.max_drawdown, s.trades), (0.0, 3.0));
        assert!(s.calmar.is_nan() && s.sharpe.is_finite());
    }

    #[test]
    fn bars_of_one_time_count_once_and_a_short_curve_is_nan() {
        let s = scores(&[0, 1, 1], &[100.0, 50.0, 110.0], 0);
        assert!((s.total_return - 0.1).abs() < 1e-12 && s.max_drawdown == 0.0);
        assert!(scores(&[5], &[100.0], 0).sharpe.is_nan());
        assert!(scores(&[1, 2], &[100.0, -1.0], 0).total_return.is_nan());
    }
}
