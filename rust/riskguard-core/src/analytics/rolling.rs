//! Rolling historical VaR / CVaR and rolling pairwise correlation, updated incrementally.

use ndarray::{Array2, Array3, ArrayView2, Axis};
use rayon::prelude::*;

use super::args;
use super::columns::{PARALLEL_MIN, reject_infinite};
use super::quantile::{Interpolation, quantile_sorted};
use crate::error::{Result, RiskError};

/// Which tail statistic a rolling window reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TailStat {
    Var,
    Cvar,
}

fn window_args(rows: usize, window: i64, min_periods: Option<i64>) -> Result<(usize, usize)> {
    let w = args::count("window", window, 1)?;
    if w > rows {
        return Err(RiskError::invalid(
            "window",
            format!("must not exceed the {rows} rows of returns, got {w}"),
        ));
    }
    let m = match min_periods {
        None => w,
        Some(m) => {
            let m = args::count("min_periods", m, 1)?;
            if m > w {
                return Err(RiskError::invalid(
                    "min_periods",
                    format!("must not exceed window ({w}), got {m}"),
                ));
            }
            m
        }
    };
    Ok((w, m))
}

/// A window's finite values kept in ascending order: insertion and removal are a binary search
/// and a short memmove, the quantile is an index.
struct SortedWindow(Vec<f64>);

impl SortedWindow {
    fn insert(&mut self, v: f64) {
        let i = self.0.partition_point(|x| x.total_cmp(&v).is_lt());
        self.0.insert(i, v);
    }
    fn remove(&mut self, v: f64) {
        let i = self.0.partition_point(|x| x.total_cmp(&v).is_lt());
        self.0.remove(i);
    }
    /// Removes `old` and inserts `new` with one move of the values between them.
    fn replace(&mut self, old: f64, new: f64) {
        let v = &mut self.0;
        let i = v.partition_point(|x| x.total_cmp(&old).is_lt());
        let j = v.partition_point(|x| x.total_cmp(&new).is_lt());
        if j <= i {
            v.copy_within(j..i, j + 1);
            v[j] = new;
        } else {
            v.copy_within(i + 1..j, i);
            v[j - 1] = new;
        }
    }
}

fn rolling_column(
    col: impl Iterator<Item = f64> + Clone,
    out: &mut [f64],
    w: usize,
    min: usize,
    p: f64,
    interp: Interpolation,
    stat: TailStat,
) {
    let mut win = SortedWindow(Vec::with_capacity(w));
    let mut lagged = col.clone();
    for (t, v) in col.enumerate() {
        let old = if t >= w {
            lagged.next().unwrap_or(f64::NAN)
        } else {
            f64::NAN
        };
        match (old.is_nan(), v.is_nan()) {
            (false, false) => win.replace(old, v),
            (false, true) => win.remove(old),
            (true, false) => win.insert(v),
            (true, true) => {}
        }
        out[t] = if t + 1 < w || win.0.len() < min {
            f64::NAN
        } else {
            let q = quantile_sorted(&win.0, p, interp);
            match stat {
                TailStat::Var => -q,
                TailStat::Cvar => {
                    let k = win.0.partition_point(|x| *x <= q);
                    -win.0[..k].iter().sum::<f64>() / k as f64
                }
            }
        };
    }
}

/// Historical VaR or CVaR over each trailing `window`, one value per row and column, NaN until
/// the window is full or while it holds fewer than `min_periods` finite values (default: window).
pub fn rolling_tail(
    returns: ArrayView2<'_, f64>,
    window: i64,
    confidence: f64,
    min_periods: Option<i64>,
    interpolation: Interpolation,
    stat: TailStat,
) -> Result<Array2<f64>> {
    let c = args::confidence(confidence)?;
    let (w, min) = window_args(returns.nrows(), window, min_periods)?;
    reject_infinite("returns", returns)?;
    let (rows, cols) = returns.dim();
    // Column-major output so each column is written contiguously by one task.
    let mut out = Array2::<f64>::zeros((cols, rows));
    let run = |(col, mut dst): (
        ndarray::ArrayView1<'_, f64>,
        ndarray::ArrayViewMut1<'_, f64>,
    )| {
        let dst = dst
            .as_slice_mut()
            .expect("rows of a standard-layout array are contiguous");
        rolling_column(
            col.iter().copied(),
            dst,
            w,
            min,
            1.0 - c,
            interpolation,
            stat,
        );
    };
    let pairs = returns.axis_iter(Axis(1)).zip(out.axis_iter_mut(Axis(0)));
    if rows * cols >= PARALLEL_MIN {
        pairs.collect::<Vec<_>>().into_par_iter().for_each(run);
    } else {
        pairs.for_each(run);
    }
    Ok(out.reversed_axes())
}

/// Co-moments of one pair of columns over the rows both are finite in, with Welford updates.
#[derive(Clone, Copy, Default)]
struct Pair {
    n: f64,
    mx: f64,
    my: f64,
    sxx: f64,
    syy: f64,
    sxy: f64,
}

impl Pair {
    #[inline]
    fn add(&mut self, x: f64, y: f64) {
        self.n += 1.0;
        let dx = x - self.mx;
        self.mx += dx / self.n;
        let dy = y - self.my;
        self.my += dy / self.n;
        self.sxx += dx * (x - self.mx);
        self.syy += dy * (y - self.my);
        self.sxy += dx * (y - self.my);
    }

    /// Takes a point out. Returns false when the removal cancelled so much of a sum of squares
    /// that the rest is no longer accurate to about 1e-10; the pair must then be rebuilt.
    #[inline]
    fn remove(&mut self, x: f64, y: f64) -> bool {
        if self.n <= 1.0 {
            *self = Self::default();
            return true;
        }
        let n = self.n - 1.0;
        let mx = self.mx - (x - self.mx) / n;
        let my = self.my - (y - self.my) / n;
        let (dxx, dyy) = ((x - mx) * (x - self.mx), (y - my) * (y - self.my));
        self.sxx -= dxx;
        self.syy -= dyy;
        self.sxy -= (x - mx) * (y - self.my);
        *self = Self { n, mx, my, ..*self };
        const KEPT: f64 = 1e-6;
        self.sxx >= KEPT * dxx && self.syy >= KEPT * dyy
    }

    fn correlation(&self, min: f64) -> f64 {
        let den = (self.sxx * self.syy).sqrt();
        if self.n < min || !(den > 0.0) {
            f64::NAN
        } else {
            (self.sxy / den).clamp(-1.0, 1.0)
        }
    }
}

/// Pearson correlation of every pair of columns over each trailing `window`, shape `(T, N, N)`.
///
/// Each step adds the new row and removes the one leaving the window (O(N²) per step). The state
/// is rebuilt exactly once per `window` steps, so rounding cannot build up over a long series.
pub fn rolling_correlation(
    returns: ArrayView2<'_, f64>,
    window: i64,
    min_periods: Option<i64>,
) -> Result<Array3<f64>> {
    let (rows, n) = returns.dim();
    let (w, min) = window_args(rows, window, min_periods)?;
    reject_infinite("returns", returns)?;
    let x: Array2<f64> = returns.as_standard_layout().into_owned();
    let row = |t: usize| {
        x.row(t)
            .to_slice()
            .expect("standard layout rows are contiguous")
    };
    let index: Vec<(usize, usize)> = (0..n).flat_map(|i| (i..n).map(move |j| (i, j))).collect();
    let mut pairs = vec![Pair::default(); index.len()];
    let add = |pairs: &mut [Pair], r: &[f64]| {
        for (p, &(i, j)) in pairs.iter_mut().zip(&index) {
            let (a, b) = (r[i], r[j]);
            if !a.is_nan() && !b.is_nan() {
                p.add(a, b);
            }
        }
    };
    let mut rebuild: Vec<usize> = Vec::new();
    // A column whose finite values have not changed inside the window has no variance; the
    // running sums could leave rounding dust there, so constancy is tracked exactly.
    let mut last_value = vec![f64::NAN; n];
    let mut last_change: Vec<Option<usize>> = vec![None; n];
    let mut out = Array3::<f64>::from_elem((rows, n, n), f64::NAN);
    for t in 0..rows {
        if t >= w && t % w == 0 {
            pairs.iter_mut().for_each(|p| *p = Pair::default());
            for s in t + 1 - w..t {
                add(&mut pairs, row(s));
            }
        } else if t >= w {
            let r = row(t - w);
            for (k, (p, &(i, j))) in pairs.iter_mut().zip(&index).enumerate() {
                let (a, b) = (r[i], r[j]);
                if !a.is_nan() && !b.is_nan() && !p.remove(a, b) {
                    rebuild.push(k);
                }
            }
            for k in rebuild.drain(..) {
                let (i, j) = index[k];
                pairs[k] = Pair::default();
                for s in t + 1 - w..t {
                    let (a, b) = (row(s)[i], row(s)[j]);
                    if !a.is_nan() && !b.is_nan() {
                        pairs[k].add(a, b);
                    }
                }
            }
        }
        let r = row(t);
        add(&mut pairs, r);
        for (i, &v) in r.iter().enumerate() {
            if !v.is_nan() {
                if !last_value[i].is_nan() && v != last_value[i] {
                    last_change[i] = Some(t);
                }
                last_value[i] = v;
            }
        }
        if t + 1 >= w {
            let start = t + 1 - w;
            let varies: Vec<bool> = last_change
                .iter()
                .map(|c| c.is_some_and(|c| c > start))
                .collect();
            let mut slab = out.index_axis_mut(Axis(0), t);
            for (p, &(i, j)) in pairs.iter().zip(&index) {
                let c = match p.correlation(min as f64) {
                    _ if !(varies[i] && varies[j]) => f64::NAN,
                    c if i == j && c.is_finite() => 1.0,
                    c => c,
                };
                slab[(i, j)] = c;
                slab[(j, i)] = c;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::quantile::{TailSpec, cvar_historical, var_historical};
    use ndarray::s;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn rolling_tail_equals_a_fresh_window(
            v in prop::collection::vec(prop::option::weighted(0.9, -1.0f64..1.0), 5..80),
            w in 1usize..5,
            c in 0.05f64..0.95,
        ) {
            let x = Array2::from_shape_fn((v.len(), 1), |(t, _)| v[t].unwrap_or(f64::NAN));
            let spec = TailSpec::new(c, 1, "linear", "sqrt").unwrap();
            let var = rolling_tail(x.view(), w as i64, c, Some(1), Interpolation::Linear, TailStat::Var).unwrap();
            let cvar = rolling_tail(x.view(), w as i64, c, Some(1), Interpolation::Linear, TailStat::Cvar).unwrap();
            for t in w - 1..v.len() {
                let win = x.slice(s![t + 1 - w..=t, ..]);
                let want = var_historical(win, &spec).unwrap()[0];
                let want_c = cvar_historical(win, &spec).unwrap()[0];
                prop_assert!(want.is_nan() && var[(t, 0)].is_nan() || (want - var[(t, 0)]).abs() < 1e-12);
                prop_assert!(want_c.is_nan() && cvar[(t, 0)].is_nan() || (want_c - cvar[(t, 0)]).abs() < 1e-12);
            }
        }

        #[test]
        fn rolling_correlation_equals_a_fresh_window(
            v in prop::collection::vec(prop::option::weighted(0.9, -1.0f64..1.0), 30..90),
            w in 3usize..9,
        ) {
            let rows = v.len() / 3;
            let x = Array2::from_shape_fn((rows, 3), |(t, j)| v[t * 3 + j].unwrap_or(f64::NAN));
            let got = rolling_correlation(x.view(), w as i64, Some(2)).unwrap();
            for t in w - 1..rows {
                let want = crate::analytics::correlation::correlation(
                    x.slice(s![t + 1 - w..=t, ..]),
                    crate::analytics::correlation::CovMethod::Sample,
                ).unwrap();
                let win = x.slice(s![t + 1 - w..=t, ..]);
                // The smaller variance of the pair over the rows where both are present.
                let pair_var = |i: usize, j: usize| {
                    let rows: Vec<(f64, f64)> = win
                        .rows()
                        .into_iter()
                        .map(|r| (r[i], r[j]))
                        .filter(|(a, b)| a.is_finite() && b.is_finite())
                        .collect();
                    let var = |f: &dyn Fn(&(f64, f64)) -> f64| {
                        let m = rows.iter().map(f).sum::<f64>() / rows.len() as f64;
                        rows.iter().map(|p| (f(p) - m).powi(2)).sum::<f64>() / rows.len() as f64
                    };
                    var(&|p| p.0).min(var(&|p| p.1))
                };
                for i in 0..3 {
                    for j in 0..3 {
                        let (a, b) = (got[(t, i, j)], want[(i, j)]);
                        // Pairwise windows with too little variance may round either way to
                        // NaN; and running sums lose about eps * scale² / variance, so a pair
                        // whose values (in [-1, 1]) barely differ is held to that bound.
                        if a.is_finite() && b.is_finite() && pair_var(i, j) > 1e-6 {
                            prop_assert!((a - b).abs() < 1e-8, "t={} ({},{}) {} vs {}", t, i, j, a, b);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_constant_window_has_no_correlation() {
        let x = ndarray::array![
            [0.01, 0.02],
            [-0.02, 0.01],
            [0.03125, -0.01],
            [0.03125, 0.02]
        ];
        let c = rolling_correlation(x.view(), 2, None).unwrap();
        assert!(c[(3, 0, 0)].is_nan() && c[(3, 0, 1)].is_nan());
        assert_eq!(c[(3, 1, 1)], 1.0);
        assert_eq!(c[(2, 0, 0)], 1.0);
    }

    #[test]
    fn windows_longer_than_the_series_are_refused() {
        let x = Array2::<f64>::zeros((3, 1));
        let e = rolling_tail(
            x.view(),
            4,
            0.95,
            None,
            Interpolation::Linear,
            TailStat::Var,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "window must not exceed the 3 rows of returns, got 4"
        );
    }
}
