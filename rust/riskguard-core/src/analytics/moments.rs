//! Two-pass sample moments of finite values; two passes keep the variance accurate when the mean
//! is large relative to the spread.

/// Count, mean and central moment sums of a finite sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    pub n: usize,
    pub mean: f64,
    /// Sums of squared, cubed and fourth-power deviations from the mean.
    pub s2: f64,
    pub s3: f64,
    pub s4: f64,
}

impl Moments {
    /// Moments of `a`, whose values must all be finite.
    pub fn of(a: &[f64]) -> Self {
        let n = a.len();
        let mean = if n == 0 {
            f64::NAN
        } else {
            a.iter().sum::<f64>() / n as f64
        };
        let (mut s2, mut s3, mut s4) = (0.0, 0.0, 0.0);
        for &v in a {
            let d = v - mean;
            let d2 = d * d;
            s2 += d2;
            s3 += d2 * d;
            s4 += d2 * d2;
        }
        Self {
            n,
            mean,
            s2,
            s3,
            s4,
        }
    }

    /// Standard deviation with `ddof` delta degrees of freedom; NaN when `n <= ddof`.
    pub fn std(&self, ddof: usize) -> f64 {
        if self.n <= ddof {
            f64::NAN
        } else {
            (self.s2 / (self.n - ddof) as f64).sqrt()
        }
    }

    /// Population skewness `m3 / m2^1.5` (scipy's default, `bias=True`); 0 for a constant sample.
    pub fn skewness(&self) -> f64 {
        let n = self.n as f64;
        let m2 = self.s2 / n;
        if m2 == 0.0 {
            0.0
        } else {
            (self.s3 / n) / m2.powf(1.5)
        }
    }

    /// Population excess kurtosis `m4 / m2^2 - 3`; 0 for a constant sample.
    pub fn excess_kurtosis(&self) -> f64 {
        let n = self.n as f64;
        let m2 = self.s2 / n;
        if m2 == 0.0 {
            0.0
        } else {
            (self.s4 / n) / (m2 * m2) - 3.0
        }
    }
}

/// Mean of finite values, exact when they are all equal, so that a constant series has
/// deviations of exactly zero rather than rounding noise.
pub fn mean(a: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut n, mut lo, mut hi) = (0.0, 0usize, f64::INFINITY, f64::NEG_INFINITY);
    for v in a {
        sum += v;
        n += 1;
        lo = lo.min(v);
        hi = hi.max(v);
    }
    match n {
        0 => f64::NAN,
        _ if lo == hi => lo,
        _ => sum / n as f64,
    }
}

/// Mean and ddof-1 standard deviation of finite values: `(n, mean, std)`. A constant sample
/// has a standard deviation of exactly 0.
pub fn mean_std(a: &[f64]) -> (usize, f64, f64) {
    let n = a.len();
    let mean = mean(a.iter().copied());
    if n < 2 {
        return (n, mean, f64::NAN);
    }
    let s2: f64 = a.iter().map(|v| (v - mean) * (v - mean)).sum();
    (n, mean, (s2 / (n - 1) as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_moments() {
        let m = Moments::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.mean, 2.5);
        assert!((m.std(1) - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!(m.skewness().abs() < 1e-15);
        // population excess kurtosis of 1..4 is -1.36
        assert!((m.excess_kurtosis() + 1.36).abs() < 1e-12);
        assert!(Moments::of(&[1.0]).std(1).is_nan());
        assert_eq!(mean_std(&[1.0 / 3.0; 37]).2, 0.0);
    }
}
