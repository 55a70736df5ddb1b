//! Two-pass sample moments of finite values; two passes keep the variance accurate when the mean
//! is large relative to the spread.

use super::columns::LANES;

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

/// Per column of a row block (see `columns::map_row_blocks`): mean and ddof-1 standard
/// deviation of the finite values of `x - shift`, exactly 0 for a constant column, NaN below two values.
pub fn lane_mean_std(block: &[f64], shift: f64) -> ([f64; LANES], [f64; LANES]) {
    let mut n = [0.0f64; LANES];
    let mut sum = [0.0f64; LANES];
    let mut lo = [f64::INFINITY; LANES];
    let mut hi = [f64::NEG_INFINITY; LANES];
    for row in block.chunks_exact(LANES) {
        for j in 0..LANES {
            let v = row[j] - shift;
            let ok = !v.is_nan();
            n[j] += if ok { 1.0 } else { 0.0 };
            sum[j] += if ok { v } else { 0.0 };
            lo[j] = if ok { lo[j].min(v) } else { lo[j] };
            hi[j] = if ok { hi[j].max(v) } else { hi[j] };
        }
    }
    let mean: [f64; LANES] = std::array::from_fn(|j| match n[j] {
        0.0 => f64::NAN,
        _ if lo[j] == hi[j] => lo[j],
        k => sum[j] / k,
    });
    let mut s2 = [0.0f64; LANES];
    for row in block.chunks_exact(LANES) {
        for j in 0..LANES {
            let d = row[j] - shift - mean[j];
            s2[j] += if d.is_nan() { 0.0 } else { d * d };
        }
    }
    let std = std::array::from_fn(|j| {
        if n[j] < 2.0 {
            f64::NAN
        } else {
            (s2[j] / (n[j] - 1.0)).sqrt()
        }
    });
    (mean, std)
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
        assert_eq!(mean([1.0 / 3.0; 37].into_iter()), 1.0 / 3.0);
        let mut block = vec![f64::NAN; 4 * LANES];
        for (t, v) in [1.0, 2.0, 3.0, 4.0].into_iter().enumerate() {
            block[t * LANES] = v;
            block[t * LANES + 1] = 0.25;
        }
        block[2 * LANES + 1] = f64::NAN;
        let (mean, std) = lane_mean_std(&block, 0.5);
        assert_eq!((mean[0], std[0]), (2.0, (5.0f64 / 3.0).sqrt()));
        assert_eq!((mean[1], std[1]), (-0.25, 0.0));
        assert!(mean[2].is_nan() && std[2].is_nan());
    }
}
