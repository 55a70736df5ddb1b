//! Per-column evaluation of a `(T, N)` return matrix of any memory layout.
//!
//! Columns are copied block by block into a contiguous scratch buffer, reading the source in its
//! own memory order, so C-ordered, F-ordered and strided inputs all stream through the cache once.
//! Large inputs are split across rayon's pool; the result is the same whatever the thread count.

use ndarray::{ArrayView2, s};
use rayon::prelude::*;

use crate::error::{Result, RiskError};

/// Inputs with at least this many elements are evaluated in parallel.
pub const PARALLEL_MIN: usize = 1 << 14;

/// Columns gathered together: 16 doubles fill two cache lines of a C-ordered row.
const BLOCK: usize = 16;

/// Applies `f(column_index, column)` to every column of `x`, in column order.
///
/// `column` is an owned contiguous copy that `f` may reorder freely.
pub fn map_columns<T, F>(x: ArrayView2<'_, f64>, f: F) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(usize, &mut [f64]) -> Result<T> + Sync,
{
    let (rows, cols) = x.dim();
    let run = |block: usize| -> Result<Vec<T>> {
        let lo = block * BLOCK;
        let hi = (lo + BLOCK).min(cols);
        let mut buf = vec![0.0; rows * (hi - lo)];
        gather(x.slice(s![.., lo..hi]), &mut buf);
        buf.chunks_mut(rows.max(1))
            .enumerate()
            .map(|(j, c)| f(lo + j, c))
            .collect()
    };
    let blocks = cols.div_ceil(BLOCK);
    let parts: Vec<Vec<T>> = if rows * cols >= PARALLEL_MIN {
        (0..blocks)
            .into_par_iter()
            .map(run)
            .collect::<Result<_>>()?
    } else {
        (0..blocks).map(run).collect::<Result<_>>()?
    };
    Ok(parts.into_iter().flatten().collect())
}

/// Copies the columns of `x` into `buf`, one after another, reading `x` in its memory order.
fn gather(x: ArrayView2<'_, f64>, buf: &mut [f64]) {
    let rows = x.nrows();
    if x.strides()[0].unsigned_abs() >= x.strides()[1].unsigned_abs() {
        for (t, row) in x.rows().into_iter().enumerate() {
            match row.as_slice() {
                Some(r) => {
                    for (j, v) in r.iter().enumerate() {
                        buf[j * rows + t] = *v;
                    }
                }
                None => {
                    for (j, v) in row.iter().enumerate() {
                        buf[j * rows + t] = *v;
                    }
                }
            }
        }
    } else {
        for (col, dst) in x.columns().into_iter().zip(buf.chunks_mut(rows)) {
            match col.as_slice() {
                Some(c) => dst.copy_from_slice(c),
                None => dst.iter_mut().zip(col.iter()).for_each(|(d, v)| *d = *v),
            }
        }
    }
}

/// Moves the finite values of `buf` to its front, in order, and returns how many there are.
///
/// NaN marks a missing observation and is dropped; an infinity is an error naming `arg`.
pub fn finite_prefix(arg: &'static str, buf: &mut [f64], column: usize) -> Result<usize> {
    let mut n = 0;
    for i in 0..buf.len() {
        let v = buf[i];
        if v.is_nan() {
            continue;
        }
        if v.is_infinite() {
            return Err(RiskError::invalid(
                arg,
                format!("must be finite or NaN, got {v} at row {i} of column {column}"),
            ));
        }
        buf[n] = v;
        n += 1;
    }
    Ok(n)
}

/// Checks that no value of `x` is infinite (NaN is allowed: it marks a missing observation).
pub fn reject_infinite(arg: &'static str, x: ArrayView2<'_, f64>) -> Result<()> {
    match x.indexed_iter().find(|(_, v)| v.is_infinite()) {
        Some(((t, j), v)) => Err(RiskError::invalid(
            arg,
            format!("must be finite or NaN, got {v} at row {t} of column {j}"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, ShapeBuilder};

    #[test]
    fn every_layout_yields_the_same_columns() {
        let c = Array2::from_shape_fn((7, 37), |(t, j)| (t * 100 + j) as f64);
        let f = Array2::from_shape_fn((7, 37).f(), |(t, j)| (t * 100 + j) as f64);
        let sum = |_: usize, col: &mut [f64]| Ok(col.iter().sum::<f64>());
        let expect: Vec<f64> = (0..37)
            .map(|j| (0..7).map(|t| (t * 100 + j) as f64).sum())
            .collect();
        assert_eq!(map_columns(c.view(), sum).unwrap(), expect);
        assert_eq!(map_columns(f.view(), sum).unwrap(), expect);
        let strided = c.slice(s![..;2, ..;3]);
        let got = map_columns(strided, sum).unwrap();
        assert_eq!(got.len(), 13);
        assert_eq!(
            got[1],
            (0..7).step_by(2).map(|t| (t * 100 + 3) as f64).sum::<f64>()
        );
    }

    #[test]
    fn finite_prefix_drops_nan_and_rejects_inf() {
        let mut v = [1.0, f64::NAN, 2.0, f64::NAN];
        assert_eq!(finite_prefix("returns", &mut v, 0).unwrap(), 2);
        assert_eq!(&v[..2], &[1.0, 2.0]);
        let mut w = [1.0, f64::INFINITY];
        let err = finite_prefix("returns", &mut w, 3).unwrap_err().to_string();
        assert!(
            err.contains("returns") && err.contains("inf") && err.contains("column 3"),
            "{err}"
        );
    }
}
