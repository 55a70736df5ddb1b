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
/// than `min_obs` of them or no variance.
pub(crate) fn correlation(
    a: &VecDeque<(i64, f64)>,
    b: &VecDeque<(i64, f64)>,
    min_obs: usize,
) -> Option<f64> {
    let (mut i, mut j) = (0, 0);
    let mut pairs = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        let (ta, tb) = (a[i].0, b[j].0);
        if ta == tb {
            pairs.push((a[i].1, b[j].1));
            i += 1;
            j += 1;
        } else if ta < tb {
            i += 1;
        } else {
            j += 1;
        }
    }
    if pairs.len() < min_obs {
        return None;
    }
    let n = pairs.len() as f64;
    let (mx, my) = pairs
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p.0, y + p.1));
    let (mx, my) = (mx / n, my / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in &pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    let r = sxy / (sxx * syy).sqrt();
    r.is_finite().then(|| r.clamp(-1.0, 1.0))
}
