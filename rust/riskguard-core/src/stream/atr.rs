//! Average true range with Wilder's smoothing (TA-Lib's convention).

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

/// Wilder's ATR over `period` bars. The true range of a bar is
/// `max(high - low, |high - prev_close|, |low - prev_close|)`; the first bar has no previous
/// close and only sets it. The first `period` true ranges seed the ATR with their mean; each
/// later one gives `(atr * (period - 1) + tr) / period`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Atr {
    period: u32,
    count: u32,
    prev_close: f64,
    sum: f64,
    value: f64,
}

impl Atr {
    pub fn new(period: NonZeroU32) -> Self {
        Self {
            period: period.get(),
            count: 0,
            prev_close: f64::NAN,
            sum: 0.0,
            value: f64::NAN,
        }
    }

    pub fn period(&self) -> u32 {
        self.period
    }

    /// The ATR, or `None` until `period` true ranges have been seen.
    pub fn value(&self) -> Option<f64> {
        (self.count >= self.period).then_some(self.value)
    }

    /// Adds one bar; `high >= low` is the caller's check.
    #[inline]
    pub fn update(&mut self, high: f64, low: f64, close: f64) {
        let prev = std::mem::replace(&mut self.prev_close, close);
        if prev.is_nan() {
            return;
        }
        let tr = (high - low)
            .max((high - prev).abs())
            .max((low - prev).abs());
        let n = f64::from(self.period);
        if self.count < self.period {
            self.sum += tr;
            self.count += 1;
            if self.count == self.period {
                self.value = self.sum / n;
            }
        } else {
            self.value = (self.value * (n - 1.0) + tr) / n;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The definition, recomputed from the whole series of (high, low, close) bars.
    fn reference(bars: &[(f64, f64, f64)], n: usize) -> Option<f64> {
        let tr: Vec<f64> = bars
            .windows(2)
            .map(|w| {
                let (prev, (h, l, _)) = (w[0].2, w[1]);
                (h - l).max((h - prev).abs()).max((l - prev).abs())
            })
            .collect();
        if tr.len() < n {
            return None;
        }
        let seed = tr[..n].iter().sum::<f64>() / n as f64;
        Some(
            tr[n..]
                .iter()
                .fold(seed, |a, &t| (a * (n as f64 - 1.0) + t) / n as f64),
        )
    }

    fn bar() -> impl Strategy<Value = (f64, f64, f64)> {
        (1.0f64..1e4, 0.0f64..0.1, 0.0f64..1.0)
            .prop_map(|(low, spread, at)| (low * (1.0 + spread), low, low * (1.0 + spread * at)))
    }

    proptest! {
        #[test]
        fn matches_the_definition(
            bars in prop::collection::vec(bar(), 0..200),
            n in 1usize..30,
        ) {
            let mut a = Atr::new(NonZeroU32::new(n as u32).unwrap());
            for (k, &(h, l, c)) in bars.iter().enumerate() {
                a.update(h, l, c);
                match (a.value(), reference(&bars[..=k], n)) {
                    (Some(x), Some(y)) => prop_assert!((x - y).abs() <= 1e-9 * y.abs().max(1e-12)),
                    (x, y) => prop_assert_eq!(x, y),
                }
            }
        }
    }

    #[test]
    fn a_gap_counts_in_the_true_range() {
        let mut a = Atr::new(NonZeroU32::MIN);
        a.update(10.0, 9.0, 10.0);
        a.update(15.0, 14.0, 14.5); // gap up: the true range is 15 - 10
        assert_eq!(a.value(), Some(5.0));
    }
}
