//! Risk of many portfolios in one call: exposures, concentration, VaR, CVaR and the top
//! contributor of each portfolio, over one shared matrix of scenario returns.
//!
//! Positions arrive as three parallel columns (portfolio id, symbol column, exposure), one row
//! per position, in any order. A table sorted by portfolio takes a linear pass to group; any
//! other order costs one stable parallel sort of row indices. Each portfolio is then evaluated
//! on its own, in parallel, with per-thread scratch: its scenario P&L vector (length T) is built
//! and its quantile found in that one buffer, so no (portfolios × scenarios) matrix ever exists.

use ndarray::ArrayView2;
use rayon::prelude::*;

use crate::analytics::args;
use crate::analytics::correlation::{CovMethod, covariance};
use crate::analytics::parametric::{normal_density, normal_quantile};
use crate::analytics::quantile::{Interpolation, lerp, quantile_position};
use crate::error::{Result, RiskError};

/// The symbol column of a row that names a portfolio but holds no position (an account
/// without positions, as a left join of accounts and positions gives).
pub const NO_POSITION: u32 = u32::MAX;

/// VaR, CVaR and top contributor of a portfolio whose P&L overflowed float64: infinite, so that
/// [`portfolio_risk`] reports the overflow.
const OVERFLOW: (f64, f64, i64) = (f64::INFINITY, f64::INFINITY, -1);

/// Tails this deep or shallower are found by a bounded insertion pass over the P&L vector;
/// deeper ones by sorting it.
const INSERTION_TAIL_MAX: usize = 64;

/// How VaR and CVaR are estimated from the scenarios.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// From the portfolio's scenario P&L, with the analytics' quantile conventions.
    Historical(Interpolation),
    /// Zero-mean normal: `z * sqrt(eᵀΣe)` with the sample covariance (ddof 1) of the scenarios.
    Parametric,
}

/// The validated arguments of [`portfolio_risk`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchSpec {
    pub confidence: f64,
    pub method: Method,
}

impl BatchSpec {
    /// Parses `method` ("historical" or "parametric") and `interpolation` ("linear" or
    /// "lower"; historical only).
    pub fn new(confidence: f64, method: &str, interpolation: &str) -> Result<Self> {
        let interpolation: Interpolation = interpolation.parse()?;
        let method = match method {
            "historical" => Method::Historical(interpolation),
            "parametric" => Method::Parametric,
            _ => {
                return Err(RiskError::invalid(
                    "method",
                    format!("must be \"historical\" or \"parametric\", got {method:?}"),
                ));
            }
        };
        Ok(Self {
            confidence: args::confidence(confidence)?,
            method,
        })
    }
}

/// Positions as parallel columns. `symbol[i]` is a column of the returns matrix when below its
/// width; a larger value is a symbol with no returns, held but riskless; [`NO_POSITION`] marks
/// a row that only names its portfolio. Duplicate (portfolio, symbol) rows are summed.
#[derive(Clone, Copy, Debug)]
pub struct Positions<'a> {
    pub portfolio: &'a [i64],
    pub symbol: &'a [u32],
    pub exposure: &'a [f64],
}

/// One entry per portfolio, in ascending order of portfolio id.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchRisk {
    /// The index of the portfolio's first row in the input, to name it.
    pub first_row: Vec<u64>,
    /// Symbols with a non-zero net exposure.
    pub n_positions: Vec<u32>,
    pub gross_exposure: Vec<f64>,
    pub net_exposure: Vec<f64>,
    /// Largest absolute exposure over gross exposure; 0 for a flat portfolio.
    pub max_weight: Vec<f64>,
    /// `1 / sum(w**2)` of the absolute weights; 0 for a flat portfolio.
    pub effective_positions: Vec<f64>,
    pub var: Vec<f64>,
    pub cvar: Vec<f64>,
    /// The returns column with the largest component VaR, or -1 when the portfolio holds no
    /// symbol of the returns matrix (with a non-zero exposure).
    pub top_contributor: Vec<i64>,
}

/// One portfolio's figures.
#[derive(Clone, Copy, Debug)]
struct Figures {
    first_row: u64,
    n_positions: u32,
    gross: f64,
    net: f64,
    max_weight: f64,
    effective: f64,
    var: f64,
    cvar: f64,
    top: i64,
}

/// The scenarios, laid out for the per-portfolio loops.
struct Scenarios {
    t: usize,
    s: usize,
    /// `(S, T)`: each symbol's scenario returns contiguous, so building a P&L vector streams
    /// one row per position.
    by_symbol: Vec<f64>,
    /// `(S, S)` sample covariance, for the parametric method.
    cov: Vec<f64>,
    /// `T` zeros: the returns of an absent position, so that every group adds four.
    zeros: Vec<f64>,
    /// The largest absolute return of each symbol, to bound a portfolio's P&L.
    max_abs: Vec<f64>,
    /// The normal quantile `z` of the confidence, and `φ(z) / (1 - confidence)`: VaR and CVaR
    /// per unit of sigma, for the parametric method.
    z: f64,
    shortfall: f64,
}

/// Per-thread buffers, reused across portfolios.
struct Scratch {
    book: Vec<(u32, f64)>,
    pnl: Vec<f64>,
    tail: Vec<(f64, u32)>,
    marginal: Vec<f64>,
}

/// Exposures, concentration, VaR, CVaR and top contributor of every portfolio in `positions`,
/// over the `(T, S)` scenario `returns`.
///
/// Scenario P&L of a portfolio: `sum_i exposure_i * returns[t, symbol_i]`. VaR and CVaR are
/// positive losses in the exposures' currency. Historical: `-quantile(pnl, 1 - confidence)`
/// and `-mean(pnl[pnl <= quantile])`. Parametric (zero mean): `z * sigma` and
/// `sigma * φ(z) / (1 - confidence)`, with `sigma = sqrt(eᵀΣe)`.
///
/// The top contributor is the Euler allocation's largest component: `-e_i * r_i` at the VaR
/// scenario (interpolated as the quantile is; ties in P&L go to the earlier scenario), or
/// `z * e_i * (Σe)_i / sigma`. Ties go to the lower returns column.
///
/// # Errors
/// Columns of different lengths, a non-finite exposure or return, too few scenarios (one for
/// historical, two for parametric), or more than `u32::MAX` rows.
pub fn portfolio_risk(
    positions: Positions<'_>,
    returns: ArrayView2<'_, f64>,
    spec: &BatchSpec,
) -> Result<BatchRisk> {
    let Positions {
        portfolio,
        symbol,
        exposure,
    } = positions;
    let n = portfolio.len();
    if symbol.len() != n || exposure.len() != n {
        return Err(RiskError::invalid(
            "positions",
            format!(
                "columns must have equal lengths, got portfolio {n}, symbol {}, exposure {}",
                symbol.len(),
                exposure.len()
            ),
        ));
    }
    if u32::try_from(n).is_err() {
        return Err(RiskError::invalid(
            "positions",
            format!("must have at most {} rows, got {n}", u32::MAX),
        ));
    }
    if let Some(i) = exposure.iter().position(|e| !e.is_finite()) {
        return Err(RiskError::invalid(
            "exposure",
            format!("must be finite, got {} at row {i}", exposure[i]),
        ));
    }
    let scenarios = Scenarios::new(returns, spec)?;
    let order = row_order(portfolio);
    let starts = group_starts(portfolio, order.as_deref());
    let row = |k: usize| order.as_ref().map_or(k, |o| o[k] as usize);

    let figures: Vec<Figures> = starts
        .par_windows(2)
        .map_init(
            || Scratch::new(scenarios.t),
            |scratch, w| {
                let book = &mut scratch.book;
                book.clear();
                book.extend(
                    (w[0]..w[1])
                        .map(row)
                        .filter(|&i| symbol[i] != NO_POSITION)
                        .map(|i| (symbol[i], exposure[i])),
                );
                let mut f = evaluate(scratch, &scenarios, spec);
                f.first_row = row(w[0]) as u64;
                f
            },
        )
        .collect();

    // Finite exposures can still sum, or scale scenario returns, past f64's range.
    if let Some(f) = figures
        .iter()
        .find(|f| !(f.gross.is_finite() && f.var.is_finite() && f.cvar.is_finite()))
    {
        return Err(RiskError::invalid(
            "exposure",
            format!(
                "overflows float64 in the portfolio of row {}: gross exposure {}, VaR {}",
                f.first_row, f.gross, f.var
            ),
        ));
    }
    let n = figures.len();
    let mut out = BatchRisk {
        first_row: Vec::with_capacity(n),
        n_positions: Vec::with_capacity(n),
        gross_exposure: Vec::with_capacity(n),
        net_exposure: Vec::with_capacity(n),
        max_weight: Vec::with_capacity(n),
        effective_positions: Vec::with_capacity(n),
        var: Vec::with_capacity(n),
        cvar: Vec::with_capacity(n),
        top_contributor: Vec::with_capacity(n),
    };
    for f in figures {
        out.first_row.push(f.first_row);
        out.n_positions.push(f.n_positions);
        out.gross_exposure.push(f.gross);
        out.net_exposure.push(f.net);
        out.max_weight.push(f.max_weight);
        out.effective_positions.push(f.effective);
        out.var.push(f.var);
        out.cvar.push(f.cvar);
        out.top_contributor.push(f.top);
    }
    Ok(out)
}

impl Scenarios {
    fn new(returns: ArrayView2<'_, f64>, spec: &BatchSpec) -> Result<Self> {
        let method = spec.method;
        let (t, s) = returns.dim();
        let min_t = if method == Method::Parametric { 2 } else { 1 };
        if t < min_t {
            return Err(RiskError::invalid(
                "returns",
                format!("must have at least {min_t} scenario rows, got {t}"),
            ));
        }
        if let Some(((row, col), v)) = returns.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(RiskError::invalid(
                "returns",
                format!("must be finite, got {v} at scenario {row}, column {col}"),
            ));
        }
        let by_symbol = returns.t().iter().copied().collect();
        let cov = match method {
            Method::Parametric => covariance(returns, CovMethod::Sample)?
                .into_iter()
                .collect(),
            Method::Historical(_) => Vec::new(),
        };
        Ok(Self {
            t,
            s,
            by_symbol,
            cov,
            zeros: vec![0.0; t],
            max_abs: returns
                .columns()
                .into_iter()
                .map(|c| c.fold(0.0f64, |m, r| m.max(r.abs())))
                .collect(),
            z: normal_quantile(spec.confidence),
            shortfall: normal_density(normal_quantile(spec.confidence)) / (1.0 - spec.confidence),
        })
    }

    fn column(&self, c: u32) -> &[f64] {
        let c = c as usize;
        &self.by_symbol[c * self.t..(c + 1) * self.t]
    }
}

impl Scratch {
    fn new(t: usize) -> Self {
        Self {
            book: Vec::new(),
            pnl: vec![0.0; t],
            tail: Vec::new(),
            marginal: Vec::new(),
        }
    }
}

/// `None` when `ids` is already grouped in ascending order; else the rows in ascending id
/// order, rows of one portfolio in input order (the sort is stable).
fn row_order(ids: &[i64]) -> Option<Vec<u32>> {
    if ids.windows(2).all(|w| w[0] <= w[1]) {
        return None;
    }
    let mut order: Vec<u32> = (0..ids.len() as u32).collect();
    order.par_sort_by_key(|&i| ids[i as usize]);
    Some(order)
}

/// Offsets into the (ordered) rows where each portfolio starts, plus the end.
fn group_starts(ids: &[i64], order: Option<&[u32]>) -> Vec<usize> {
    let id = |k: usize| ids[order.map_or(k, |o| o[k] as usize)];
    let mut starts = vec![0];
    starts.extend((1..ids.len()).filter(|&k| id(k) != id(k - 1)));
    if !ids.is_empty() {
        starts.push(ids.len());
    }
    starts
}

/// The figures of the portfolio in `scratch.book` (rows as given, duplicates not yet summed).
fn evaluate(scratch: &mut Scratch, sc: &Scenarios, spec: &BatchSpec) -> Figures {
    let book = &mut scratch.book;
    // Stable, so duplicates are summed in input order and the result does not depend on how
    // the table was partitioned.
    book.sort_by_key(|&(c, _)| c);
    book.dedup_by(|next, kept| {
        let same = next.0 == kept.0;
        if same {
            kept.1 += next.1;
        }
        same
    });
    book.retain(|&(_, e)| e != 0.0);

    // Folds from +0.0: an empty f64 sum is -0.0, which would print as a negative zero.
    let gross = book.iter().fold(0.0, |s, &(_, e)| s + e.abs());
    let net = book.iter().fold(0.0, |s, &(_, e)| s + e);
    let (max_weight, effective) = if gross > 0.0 {
        let largest = book.iter().fold(0.0f64, |m, &(_, e)| m.max(e.abs()));
        let squares: f64 = book.iter().map(|&(_, e)| (e / gross) * (e / gross)).sum();
        (largest / gross, 1.0 / squares)
    } else {
        (0.0, 0.0)
    };
    let n_positions = book.len() as u32;
    let known = book.partition_point(|&(c, _)| (c as usize) < sc.s);
    let (var, cvar, top) = match spec.method {
        Method::Historical(interp) => historical(scratch, known, sc, spec.confidence, interp),
        Method::Parametric => parametric(scratch, known, sc),
    };
    Figures {
        first_row: 0,
        n_positions,
        gross,
        net,
        max_weight,
        effective,
        var,
        cvar,
        top,
    }
}

/// Historical VaR, CVaR and top contributor of the first `known` positions of the book.
fn historical(
    scratch: &mut Scratch,
    known: usize,
    sc: &Scenarios,
    confidence: f64,
    interp: Interpolation,
) -> (f64, f64, i64) {
    let Scratch {
        book, pnl, tail, ..
    } = scratch;
    let book = &book[..known];
    pnl.fill(0.0);
    for group in book.chunks(4) {
        accumulate(pnl, group, sc);
    }
    // Every partial sum is bounded by sum(|e_i| * max|r_i|): only when that bound is huge can
    // a scenario's P&L have overflowed, and only then are the scenarios checked one by one.
    let bound = book
        .iter()
        .fold(0.0, |b, &(c, e)| b + e.abs() * sc.max_abs[c as usize]);
    if !(bound < f64::MAX / 4.0) && pnl.iter().any(|p| !p.is_finite()) {
        return OVERFLOW;
    }
    let (k, gamma) = quantile_position(sc.t, 1.0 - confidence);
    let interpolate = interp == Interpolation::Linear && k + 1 < sc.t && gamma != 0.0;
    smallest(pnl, (k + 2).min(sc.t), tail);
    let at = |x: &[f64]| {
        let lo = x[tail[k].1 as usize];
        if interpolate {
            lerp(lo, x[tail[k + 1].1 as usize], gamma)
        } else {
            lo
        }
    };
    let q = at(pnl);
    // Every value at or below q is in the tail, unless the tail's largest is itself at or
    // below q: then values equal to it may lie beyond, and only a full pass finds them all.
    let below = |(s, n): (f64, usize), p: f64| if p <= q { (s + p, n + 1) } else { (s, n) };
    let (sum, count) = if tail.last().is_some_and(|&(v, _)| v > q) {
        tail.iter().map(|&(v, _)| v).fold((0.0, 0), below)
    } else {
        pnl.iter().copied().fold((0.0, 0), below)
    };
    let top = top_by(book, |&(c, e)| -e * at(sc.column(c)));
    // 0 - x rather than -x: a flat book's zero loss is +0.0, not -0.0.
    (0.0 - q, 0.0 - sum / count as f64, top)
}

/// Adds up to four positions' scenario P&L to `pnl`. Four at once, so that `pnl` is loaded
/// and stored once per four positions rather than once per position.
fn accumulate(pnl: &mut [f64], group: &[(u32, f64)], sc: &Scenarios) {
    let t = pnl.len();
    let col = |k: usize| group.get(k).map_or(&sc.zeros[..t], |&(c, _)| sc.column(c));
    let e = |k: usize| group.get(k).map_or(0.0, |&(_, e)| e);
    // Sliced to `t` so that the loop's indexing needs no bounds checks and vectorises.
    let (r0, r1, r2, r3) = (&col(0)[..t], &col(1)[..t], &col(2)[..t], &col(3)[..t]);
    let (e0, e1, e2, e3) = (e(0), e(1), e(2), e(3));
    for i in 0..t {
        pnl[i] += ((e0 * r0[i] + e1 * r1[i]) + e2 * r2[i]) + e3 * r3[i];
    }
}

/// The `m` smallest values of `x` with their indices, ascending, ties in index order (the
/// first `m` of a stable argsort).
fn smallest(x: &[f64], m: usize, tail: &mut Vec<(f64, u32)>) {
    tail.clear();
    if m > INSERTION_TAIL_MAX || m >= x.len() {
        tail.extend(x.iter().enumerate().map(|(i, &v)| (v, i as u32)));
        tail.sort_by(|a, b| a.0.total_cmp(&b.0));
        tail.truncate(m);
        return;
    }
    tail.extend(x[..m].iter().enumerate().map(|(i, &v)| (v, i as u32)));
    tail.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Most values fail this one comparison, so the scan costs about one compare per value.
    // Strict: an equal later value never displaces an earlier one.
    let mut cutoff = tail[m - 1].0;
    for (i, &v) in x.iter().enumerate().skip(m) {
        if v < cutoff {
            // Shift the larger values up over the dropped largest; v lands after its equals.
            let mut j = m - 1;
            while j > 0 && tail[j - 1].0 > v {
                tail[j] = tail[j - 1];
                j -= 1;
            }
            tail[j] = (v, i as u32);
            cutoff = tail[m - 1].0;
        }
    }
}

/// Parametric VaR, CVaR and top contributor of the first `known` positions of the book.
fn parametric(scratch: &mut Scratch, known: usize, sc: &Scenarios) -> (f64, f64, i64) {
    let Scratch { book, marginal, .. } = scratch;
    let book = &book[..known];
    // (Σe)_i for each held symbol: the marginal risk before scaling by z / sigma. Σ is
    // symmetric, so each pair is read once and feeds both of its sums.
    marginal.clear();
    marginal.resize(book.len(), 0.0);
    for (i, &(ci, ei)) in book.iter().enumerate() {
        let row = &sc.cov[ci as usize * sc.s..(ci as usize + 1) * sc.s];
        let mut own = row[ci as usize] * ei;
        for (j, &(cj, ej)) in book.iter().enumerate().skip(i + 1) {
            let c = row[cj as usize];
            own += c * ej;
            marginal[j] += c * ei;
        }
        marginal[i] += own;
    }
    let variance: f64 = book
        .iter()
        .zip(marginal.iter())
        .map(|(&(_, e), &m)| e * m)
        .sum();
    if !variance.is_finite() {
        return OVERFLOW;
    }
    let sigma = variance.max(0.0).sqrt();
    let z = sc.z;
    let scale = if sigma > 0.0 { z / sigma } else { 0.0 };
    let mut k = 0;
    let top = top_by(book, |&(_, e)| {
        let v = scale * e * marginal[k];
        k += 1;
        v
    });
    // + 0.0: a flat book's zero is +0.0 even when z < 0 (confidence below one half).
    (z * sigma + 0.0, sigma * sc.shortfall, top)
}

/// The column of the position with the largest `component`, first on ties; -1 for none.
fn top_by(book: &[(u32, f64)], mut component: impl FnMut(&(u32, f64)) -> f64) -> i64 {
    let mut best: Option<(f64, u32)> = None;
    for p in book {
        let v = component(p);
        if best.is_none_or(|(b, _)| v > b) {
            best = Some((v, p.0));
        }
    }
    best.map_or(-1, |(_, c)| i64::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};
    use proptest::prelude::*;

    fn spec(method: &str) -> BatchSpec {
        BatchSpec::new(0.95, method, "linear").unwrap()
    }

    fn risk(
        ids: &[i64],
        syms: &[u32],
        exp: &[f64],
        r: ArrayView2<'_, f64>,
        spec: &BatchSpec,
    ) -> Result<BatchRisk> {
        let positions = Positions {
            portfolio: ids,
            symbol: syms,
            exposure: exp,
        };
        portfolio_risk(positions, r, spec)
    }

    /// Straightforward per-portfolio evaluation: a map of summed exposures, a full sort.
    fn reference(
        ids: &[i64],
        syms: &[u32],
        exp: &[f64],
        r: &Array2<f64>,
        c: f64,
    ) -> Vec<(i64, f64, f64, f64)> {
        let mut groups: std::collections::BTreeMap<i64, std::collections::BTreeMap<u32, f64>> =
            Default::default();
        for i in 0..ids.len() {
            let g = groups.entry(ids[i]).or_default();
            if syms[i] != NO_POSITION {
                *g.entry(syms[i]).or_default() += exp[i];
            }
        }
        groups
            .into_iter()
            .map(|(id, book)| {
                let mut pnl: Vec<f64> = (0..r.nrows())
                    .map(|t| {
                        book.iter()
                            .filter(|&(&c, _)| (c as usize) < r.ncols())
                            .map(|(&c, &e)| e * r[(t, c as usize)])
                            .sum()
                    })
                    .collect();
                pnl.sort_by(f64::total_cmp);
                let pos = (pnl.len() - 1) as f64 * (1.0 - c);
                let k = pos.floor() as usize;
                let g = pos - k as f64;
                let q = if k + 1 < pnl.len() {
                    pnl[k] + (pnl[k + 1] - pnl[k]) * g
                } else {
                    pnl[k]
                };
                let tail: Vec<f64> = pnl.iter().copied().filter(|&p| p <= q).collect();
                let gross = book.values().map(|e| e.abs()).sum();
                (id, gross, -q, -tail.iter().sum::<f64>() / tail.len() as f64)
            })
            .collect()
    }

    #[test]
    fn two_portfolios_by_hand() {
        // Scenario P&L: portfolio 1 holds 100 of column 0 -> [1, -2, 3, -4];
        // portfolio 2 holds 10 of column 0 and -10 of column 1 -> [0, 0, 0, 0].
        let r = array![[0.01, 0.01], [-0.02, -0.02], [0.03, 0.03], [-0.04, -0.04]];
        let ids = [2, 1, 2];
        let syms = [0, 0, 1];
        let exp = [10.0, 100.0, -10.0];
        let spec = BatchSpec::new(0.75, "historical", "linear").unwrap();
        let out = risk(&ids, &syms, &exp, r.view(), &spec).unwrap();
        assert_eq!(out.first_row, vec![1, 0]);
        assert_eq!(out.n_positions, vec![1, 2]);
        assert_eq!(out.gross_exposure, vec![100.0, 20.0]);
        assert_eq!(out.net_exposure, vec![100.0, 0.0]);
        assert_eq!(out.max_weight, vec![1.0, 0.5]);
        assert_eq!(out.effective_positions, vec![1.0, 2.0]);
        // quantile at 0.25 of [-4, -2, 1, 3]: position 0.75 between -4 and -2 -> -2.5.
        assert!((out.var[0] - 2.5).abs() < 1e-12);
        assert!((out.cvar[0] - 4.0).abs() < 1e-12);
        assert!(out.var[1].abs() < 1e-12 && out.cvar[1].abs() < 1e-12);
        assert_eq!(out.top_contributor[0], 0);
    }

    #[test]
    fn missing_symbols_and_empty_portfolios_are_riskless() {
        let r = array![[0.01], [-0.02], [0.03]];
        let ids = [7, 7, 8];
        let syms = [0, 5, NO_POSITION];
        let exp = [100.0, 50.0, 0.0];
        let out = risk(&ids, &syms, &exp, r.view(), &spec("historical")).unwrap();
        assert_eq!(out.n_positions, vec![2, 0]);
        assert_eq!(out.gross_exposure, vec![150.0, 0.0]);
        assert_eq!(out.top_contributor, vec![0, -1]);
        assert_eq!((out.var[1], out.cvar[1]), (0.0, 0.0));
        // Positive zeros: an empty portfolio prints no "-0.0".
        for v in [
            out.var[1],
            out.cvar[1],
            out.gross_exposure[1],
            out.net_exposure[1],
        ] {
            assert!(v.is_sign_positive());
        }
    }

    #[test]
    fn parametric_components_sum_to_var() {
        let r = array![[0.01, 0.02], [-0.02, 0.01], [0.03, -0.01], [0.0, 0.02]];
        let ids = [1, 1];
        let syms = [0, 1];
        let exp = [100.0, 300.0];
        let out = risk(&ids, &syms, &exp, r.view(), &spec("parametric")).unwrap();
        let cov = covariance(r.view(), CovMethod::Sample).unwrap();
        let e = [100.0, 300.0];
        let var: f64 = (0..2)
            .map(|i| (0..2).map(|j| e[i] * cov[(i, j)] * e[j]).sum::<f64>())
            .sum();
        let z = normal_quantile(0.95);
        assert!((out.var[0] - z * var.sqrt()).abs() < 1e-9);
        assert_eq!(out.top_contributor[0], 1);
    }

    #[test]
    fn bad_input_is_an_error() {
        let r = array![[0.01], [0.02]];
        let ok = |ids: &[i64], syms: &[u32], exp: &[f64], r: ArrayView2<'_, f64>, m: &str| {
            risk(ids, syms, exp, r, &spec(m))
        };
        assert!(ok(&[1], &[0], &[f64::NAN], r.view(), "historical").is_err());
        assert!(ok(&[1], &[0], &[f64::INFINITY], r.view(), "historical").is_err());
        // Finite rows whose sum overflows.
        assert!(
            ok(
                &[1, 1],
                &[0, 1],
                &[1.5e308, 1.5e308],
                r.view(),
                "historical"
            )
            .is_err()
        );
        // A hedged book whose scenario P&L or variance overflows (inf - inf is NaN).
        let huge = array![[1e200, 1e200], [-1e200, -1e200], [0.0, 0.0]];
        for m in ["historical", "parametric"] {
            assert!(ok(&[1, 1], &[0, 1], &[1e300, -1e300], huge.view(), m).is_err());
        }
        let wide = array![[0.01, 0.01], [10.0, 10.0], [-0.02, -0.01], [0.0, 0.03]];
        assert!(
            ok(
                &[1, 1],
                &[0, 1],
                &[6e307, -6e307],
                wide.view(),
                "historical"
            )
            .is_err()
        );
        assert!(ok(&[1, 2], &[0], &[1.0], r.view(), "historical").is_err());
        let bad = array![[0.01], [f64::NAN]];
        assert!(ok(&[1], &[0], &[1.0], bad.view(), "historical").is_err());
        let one = array![[0.01]];
        assert!(ok(&[1], &[0], &[1.0], one.view(), "parametric").is_err());
        let none = Array2::<f64>::zeros((0, 1));
        assert!(ok(&[1], &[0], &[1.0], none.view(), "historical").is_err());
        assert!(BatchSpec::new(1.0, "historical", "linear").is_err());
        assert!(BatchSpec::new(0.9, "monte_carlo", "linear").is_err());
        let empty = ok(&[], &[], &[], r.view(), "historical").unwrap();
        assert!(empty.var.is_empty());
    }

    proptest! {
        /// The tail is the head of a stable argsort, ties included, at every depth.
        #[test]
        fn smallest_is_a_stable_argsort_prefix(
            x in proptest::collection::vec(-3i8..3, 1..200),
            m in 1usize..100,
        ) {
            let x: Vec<f64> = x.into_iter().map(f64::from).collect();
            let m = m.min(x.len());
            let mut order: Vec<usize> = (0..x.len()).collect();
            order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
            let mut tail = Vec::new();
            smallest(&x, m, &mut tail);
            let got: Vec<usize> = tail.iter().map(|&(_, i)| i as usize).collect();
            prop_assert_eq!(got, order[..m].to_vec());
        }

        #[test]
        fn matches_reference(
            rows in proptest::collection::vec((0i64..6, 0u32..5, -1e3f64..1e3), 0..60),
            scen in proptest::collection::vec(-0.1f64..0.1, 4 * 7),
            c in 0.5f64..0.995,
        ) {
            let r = Array2::from_shape_vec((7, 4), scen).unwrap();
            let ids: Vec<i64> = rows.iter().map(|x| x.0).collect();
            let syms: Vec<u32> = rows.iter().map(|x| x.1).collect();
            let exp: Vec<f64> = rows.iter().map(|x| x.2).collect();
            let spec = BatchSpec::new(c, "historical", "linear").unwrap();
            let out = risk(&ids, &syms, &exp, r.view(), &spec).unwrap();
            let want = reference(&ids, &syms, &exp, &r, c);
            prop_assert_eq!(out.var.len(), want.len());
            for (g, (id, gross, var, cvar)) in want.into_iter().enumerate() {
                prop_assert_eq!(ids[out.first_row[g] as usize], id);
                prop_assert!((out.gross_exposure[g] - gross).abs() <= 1e-9 * (1.0 + gross));
                prop_assert!((out.var[g] - var).abs() <= 1e-9 * (1.0 + var.abs()));
                prop_assert!((out.cvar[g] - cvar).abs() <= 1e-9 * (1.0 + cvar.abs()));
            }
        }
    }
}
