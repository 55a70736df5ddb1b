//! Per-symbol market data fed by `on_bar`: ATR, EMA, the bar returns behind the streaming
//! correlation, and the lot size (docs/gate.md, "Market data").

use std::collections::VecDeque;
use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

use crate::stream::{Atr, Ema};

use super::trades::Approval;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Market {
    pub atr: Atr,
    pub ema: Ema,
    pub last_close: f64,
    /// `(bar ts, ln(close / previous close))`, oldest first.
    pub returns: VecDeque<(i64, f64)>,
    pub lot: Option<f64>,
    /// The pending approval of the symbol's next trade.
    pub approval: Option<Approval>,
}

impl Market {
    pub fn new(atr_period: u32, ema_period: u32) -> Self {
        let nz = |n: u32| NonZeroU32::new(n.max(1)).expect("at least 1");
        Self {
            atr: Atr::new(nz(atr_period)),
            ema: Ema::new(nz(ema_period)),
            last_close: f64::NAN,
            returns: VecDeque::new(),
            lot: None,
            approval: None,
        }
    }

    pub fn on_bar(&mut self, high: f64, low: f64, close: f64, ts: i64, window: usize) {
        self.atr.update(high, low, close);
        self.ema.update(close);
        if self.last_close.is_finite() {
            while self.returns.len() >= window {
                self.returns.pop_front();
            }
            self.returns.push_back((ts, (close / self.last_close).ln()));
        }
        self.last_close = close;
    }
}

/// Pearson correlation of the returns `a` and `b` share timestamps on, or `None` with fewer
/// than `min_obs` of them or no variance. One merge pass with Welford's updates: no allocation
/// and no cancellation.
pub(crate) fn correlation(
    a: &VecDeque<(i64, f64)>,
    b: &VecDeque<(i64, f64)>,
    min_obs: usize,
) -> Option<f64> {
    let (mut i, mut j) = (0, 0);
    let (mut n, mut mx, mut my, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    while i < a.len() && j < b.len() {
        let (ta, tb) = (a[i].0, b[j].0);
        if ta == tb {
            let (x, y) = (a[i].1, b[j].1);
            n += 1.0;
            let dx = x - mx;
            let dy = y - my;
            mx += dx / n;
            my += dy / n;
            sxx += dx * (x - mx);
            syy += dy * (y - my);
            sxy += dx * (y - my);
            i += 1;
            j += 1;
        } else if ta < tb {
            i += 1;
        } else {
            j += 1;
        }
    }
    if n < min_obs as f64 {
        return None;
    }
    let r = sxy / (sxx * syy).sqrt();
    r.is_finite().then(|| r.clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Equals the two-pass Pearson correlation over the shared timestamps.
        #[test]
        fn correlation_matches_two_pass(
            xs in proptest::collection::vec((0i64..60, -0.05..0.05f64), 0..80),
            ys in proptest::collection::vec((0i64..60, -0.05..0.05f64), 0..80),
        ) {
            let window = |v: &Vec<(i64, f64)>| {
                let mut v = v.clone();
                v.sort_by_key(|p| p.0);
                v.dedup_by_key(|p| p.0);
                v.into_iter().collect::<VecDeque<_>>()
            };
            let (a, b) = (window(&xs), window(&ys));
            let pairs: Vec<(f64, f64)> = a
                .iter()
                .filter_map(|&(t, x)| b.iter().find(|p| p.0 == t).map(|p| (x, p.1)))
                .collect();
            let got = correlation(&a, &b, 3);
            if pairs.len() < 3 {
                prop_assert!(got.is_none());
                return Ok(());
            }
            let n = pairs.len() as f64;
            let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
            let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
            let sxy: f64 = pairs.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
            let sxx: f64 = pairs.iter().map(|p| (p.0 - mx).powi(2)).sum();
            let syy: f64 = pairs.iter().map(|p| (p.1 - my).powi(2)).sum();
            let want = sxy / (sxx * syy).sqrt();
            match got {
                Some(r) => prop_assert!((r - want.clamp(-1.0, 1.0)).abs() < 1e-9, "{r} vs {want}"),
                None => prop_assert!(!want.is_finite()),
            }
        }
    }
}
