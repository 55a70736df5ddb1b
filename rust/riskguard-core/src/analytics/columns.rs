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

/// Columns gathered together: 32 doubles are four cache lines of a C-ordered row, which
/// amortises the TLB miss each row costs.
const BLOCK: usize = 32;

/// Applies `f(column_index, column)` to every column of `x`, in column order.
///
/// `column` is an owned contiguous copy that `f` may reorder freely.
pub fn map_columns<T, F>(x: ArrayView2<'_, f64>, f: F) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(usize, &mut [f64]) -> Result<T> + Sync,
{
    let (rows, cols) = x.dim();
    let run = |buf: &mut Vec<f64>, block: usize| -> Result<Vec<T>> {
        let lo = block * BLOCK;
        let hi = (lo + BLOCK).min(cols);
        if rows == 0 {
            return (lo..hi).map(|j| f(j, &mut [])).collect();
        }
        let buf = &mut buf[..rows * (hi - lo)];
        gather(x.slice(s![.., lo..hi]), buf);
        buf.chunks_mut(rows)
            .enumerate()
            .map(|(j, c)| f(lo + j, c))
            .collect()
    };
    over_blocks(
        rows * cols,
        cols.div_ceil(BLOCK),
        rows * BLOCK.min(cols),
        run,
    )
}

/// Runs `run(scratch, block)` for every block, in parallel for inputs of `size` at least
/// [`PARALLEL_MIN`], and concatenates the results in block order. Each worker reuses one
/// scratch buffer of `scratch_len` values: fresh large allocations would be mapped and faulted
/// in page by page on every block.
pub fn over_blocks<T, F>(size: usize, blocks: usize, scratch_len: usize, run: F) -> Result<Vec<T>>
where
    T: Send,
    F: Fn(&mut Vec<f64>, usize) -> Result<Vec<T>> + Sync,
{
    let scratch = || vec![0.0; scratch_len];
    let parts: Vec<Vec<T>> = if size >= PARALLEL_MIN {
        (0..blocks)
            .into_par_iter()
            .map_init(scratch, &run)
            .collect::<Result<_>>()?
    } else {
        let mut buf = scratch();
        (0..blocks)
            .map(|b| run(&mut buf, b))
            .collect::<Result<_>>()?
    };
    Ok(parts.into_iter().flatten().collect())
}

/// The columns of `x` one after another in a new buffer, copied in parallel block by block.
pub fn to_column_major(x: ArrayView2<'_, f64>) -> Vec<f64> {
    let (rows, cols) = x.dim();
    let mut buf = vec![0.0; rows * cols];
    if rows > 0 {
        let fill = |(b, chunk): (usize, &mut [f64])| {
            let lo = b * BLOCK;
            gather(x.slice(s![.., lo..(lo + BLOCK).min(cols)]), chunk);
        };
        if rows * cols >= PARALLEL_MIN {
            buf.par_chunks_mut(rows * BLOCK).enumerate().for_each(fill);
        } else {
            buf.chunks_mut(rows * BLOCK).enumerate().for_each(fill);
        }
    }
    buf
}

/// Copies the columns of `x` into `buf`, one after another, reading `x` in its memory order.
/// `x` must have at least one row.
fn gather(x: ArrayView2<'_, f64>, buf: &mut [f64]) {
    let rows = x.nrows();
    if x.strides()[0].unsigned_abs() < x.strides()[1].unsigned_abs() {
        for (col, dst) in x.columns().into_iter().zip(buf.chunks_mut(rows)) {
            match col.as_slice() {
                Some(c) => dst.copy_from_slice(c),
                None => dst.iter_mut().zip(col.iter()).for_each(|(d, v)| *d = *v),
            }
        }
        return;
    }
    // Row-major source: transpose tiles of TILE rows so that each column receives a whole cache
    // line per visit instead of one value.
    const TILE: usize = 8;
    let full = if x.row(0).as_slice().is_some() {
        rows - rows % TILE
    } else {
        0
    };
    for t in (0..full).step_by(TILE) {
        let tile: [&[f64]; TILE] =
            std::array::from_fn(|d| x.row(t + d).to_slice().expect("rows are contiguous"));
        for j in 0..x.ncols() {
            let dst = &mut buf[j * rows + t..j * rows + t + TILE];
            for d in 0..TILE {
                dst[d] = tile[d][j];
            }
        }
    }
    for t in full..rows {
        for (j, v) in x.row(t).iter().enumerate() {
            buf[j * rows + t] = *v;
        }
    }
}

/// Columns evaluated side by side by the row-block kernels: four AVX2 vectors of f64.
pub const LANES: usize = 16;

/// Applies `f(first_column, block)` to row-major blocks of `LANES` columns: `block` holds the
/// rows one after another, `LANES` values each, with NaN in the lanes past the last column.
///
/// Kernels that keep a running state per column (wealth, sums) advance all lanes of a row at
/// once, which the compiler turns into vector instructions.
pub fn map_row_blocks<T, F>(x: ArrayView2<'_, f64>, f: F) -> Result<Vec<T>>
where
    T: Send + Copy,
    F: Fn(usize, &[f64]) -> Result<[T; LANES]> + Sync,
{
    let (rows, cols) = x.dim();
    let run = |buf: &mut Vec<f64>, block: usize| -> Result<Vec<T>> {
        let lo = block * LANES;
        let hi = (lo + LANES).min(cols);
        let sub = x.slice(s![.., lo..hi]);
        if hi - lo < LANES {
            buf.fill(f64::NAN);
        }
        if sub.strides()[0].unsigned_abs() >= sub.strides()[1].unsigned_abs() {
            for (row, dst) in sub.rows().into_iter().zip(buf.chunks_exact_mut(LANES)) {
                match row.as_slice() {
                    Some(r) => dst[..r.len()].copy_from_slice(r),
                    None => dst.iter_mut().zip(row.iter()).for_each(|(d, v)| *d = *v),
                }
            }
        } else {
            for (j, col) in sub.columns().into_iter().enumerate() {
                for (t, v) in col.iter().enumerate() {
                    buf[t * LANES + j] = *v;
                }
            }
        }
        Ok(f(lo, buf)?[..hi - lo].to_vec())
    };
    over_blocks(rows * cols, cols.div_ceil(LANES), rows * LANES, run)
}

/// Refuses a row block holding an infinity, naming its row and column.
pub fn block_finite_or_nan(arg: &'static str, block: &[f64], first_column: usize) -> Result<()> {
    if !block.iter().fold(false, |bad, v| bad | v.is_infinite()) {
        return Ok(());
    }
    let i = block
        .iter()
        .position(|v| v.is_infinite())
        .expect("an infinity was seen");
    Err(RiskError::invalid(
        arg,
        format!(
            "must be finite or NaN, got {} at row {} of column {}",
            block[i],
            i / LANES,
            first_column + i % LANES
        ),
    ))
}

/// Moves the finite values of `buf` to its front, in order, and returns how many there are.
///
/// NaN marks a missing observation and is dropped; an infinity is an error naming `arg`.
pub fn finite_prefix(arg: &'static str, buf: &mut [f64], column: usize) -> Result<usize> {
    if !buf.iter().fold(false, |bad, v| bad | !v.is_finite()) {
        return Ok(buf.len());
    }
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
    if !x.fold(false, |bad, v| bad | v.is_infinite()) {
        return Ok(());
    }
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
    fn row_blocks_see_every_layout_alike() {
        let c = Array2::from_shape_fn((5, 21), |(t, j)| (t * 100 + j) as f64);
        let f = Array2::from_shape_fn((5, 21).f(), |(t, j)| (t * 100 + j) as f64);
        let sums = |_: usize, b: &[f64]| {
            let mut out = [0.0; LANES];
            for row in b.chunks_exact(LANES) {
                for j in 0..LANES {
                    out[j] += row[j];
                }
            }
            Ok(out)
        };
        let expect: Vec<f64> = (0..21)
            .map(|j| (0..5).map(|t| (t * 100 + j) as f64).sum())
            .collect();
        assert_eq!(map_row_blocks(c.view(), sums).unwrap(), expect);
        assert_eq!(map_row_blocks(f.view(), sums).unwrap(), expect);
        let mut b = vec![0.0; 2 * LANES];
        b[LANES + 3] = f64::NEG_INFINITY;
        let e = block_finite_or_nan("returns", &b, 32)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "returns must be finite or NaN, got -inf at row 1 of column 35"
        );
    }

    #[test]
    fn no_rows_is_no_values_not_a_panic() {
        let x = Array2::<f64>::zeros((0, 40));
        let n = map_columns(x.view(), |_, c| Ok(c.len())).unwrap();
        assert_eq!(n, vec![0; 40]);
        assert!(to_column_major(x.view()).is_empty());
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
