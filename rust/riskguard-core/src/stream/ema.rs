//! Exponential moving average seeded with a simple average (TA-Lib's convention).

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

/// EMA over `period` values: `alpha = 2 / (period + 1)`. The first `period` values seed it with
/// their mean; each later value `x` gives `alpha * x + (1 - alpha) * ema`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ema {
    period: u32,
    count: u32,
    sum: f64,
    value: f64,
}

impl Ema {
    pub fn new(period: NonZeroU32) -> Self {
        Self {
            period: period.get(),
            count: 0,
            sum: 0.0,
            value: f64::NAN,
        }
    }

    pub fn period(&self) -> u32 {
        self.period
    }

    /// The average, or `None` until `period` values have been seen.
    pub fn value(&self) -> Option<f64> {
        (self.count >= self.period).then_some(self.value)
    }

    #[inline]
    pub fn update(&mut self, x: f64) {
        if self.count < self.period {
            self.sum += x;
            self.count += 1;
            if self.count == self.period {
                self.value = self.sum / f64::from(self.period);
            }
        } else {
            let alpha = 2.0 / (f64::from(self.period) + 1.0);
            self.value = alpha * x + (1.0 - alpha) * self.value;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The definition, recomputed from the whole series.
    fn reference(xs: &[f64], n: usize) -> Option<f64> {
        if xs.len() < n {
            return None;
        }
        let alpha = 2.0 / (n as f64 + 1.0);
        let seed = xs[..n].iter().sum::<f64>() / n as f64;
        Some(
            xs[n..]
                .iter()
                .fold(seed, |e, &x| alpha * x + (1.0 - alpha) * e),
        )
    }

    proptest! {
        #[test]
        fn matches_the_definition(
            xs in prop::collection::vec(1.0f64..1e5, 0..300),
            n in 1usize..50,
        ) {
            let mut e = Ema::new(NonZeroU32::new(n as u32).unwrap());
            for (k, &x) in xs.iter().enumerate() {
                e.update(x);
                match (e.value(), reference(&xs[..=k], n)) {
                    (Some(a), Some(b)) => prop_assert!((a - b).abs() <= 1e-9 * b.abs()),
                    (a, b) => prop_assert_eq!(a, b),
                }
            }
        }
    }

    #[test]
    fn a_constant_series_is_its_own_average() {
        let mut e = Ema::new(NonZeroU32::new(3).unwrap());
        for _ in 0..10 {
            e.update(7.0);
        }
        assert_eq!(e.value(), Some(7.0));
    }
}
