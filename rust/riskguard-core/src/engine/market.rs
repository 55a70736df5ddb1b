//! Market-data intake (docs/gate.md, "Market data"): bars feed each symbol's ATR, EMA and
//! return window, lot sizes round sized quantities, and correlations come from the caller or
//! from the bar returns. The gate reads what is kept here; the per-symbol record is `Market`
//! in state.rs.

use std::collections::VecDeque;

use ndarray::ArrayView2;

use crate::error::{Result, RiskError, num};

use super::policy::Knob;
use super::state::{Market, RiskEngine};
use super::vocab::{MAX_QTY, SymbolRef, check_price};

impl Market {
    /// One bar: the indicators, and the bar's log return into a window of `window` returns.
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

impl RiskEngine {
    /// Feeds a bar of `symbol` to its ATR, EMA and return window; `ts` is the bar's close
    /// time. Marks nothing.
    ///
    /// Errors: a price outside [1e-15, 1e15]; `high < low`, or open or close outside [low,
    /// high]; volume not finite and ≥ 0; `ts` earlier than the last; an unknown id or empty
    /// name.
    #[allow(clippy::too_many_arguments)]
    pub fn on_bar(
        &mut self,
        symbol: SymbolRef<'_>,
        open: f64,
        high: f64,
        low: f64,
        close: f64,
        volume: f64,
        ts: i64,
    ) -> Result<()> {
        for (arg, x) in [
            ("open", open),
            ("high", high),
            ("low", low),
            ("close", close),
        ] {
            check_price(arg, x)?;
        }
        if high < low || !(low..=high).contains(&open) || !(low..=high).contains(&close) {
            return Err(RiskError::invalid(
                "high, low",
                format!(
                    "must bound open and close: open {}, high {}, low {}, close {}",
                    num(open),
                    num(high),
                    num(low),
                    num(close)
                ),
            ));
        }
        if !(volume.is_finite() && volume >= 0.0) {
            return Err(RiskError::invalid(
                "volume",
                format!("must be finite and ≥ 0, got {}", num(volume)),
            ));
        }
        self.check_ts(ts)?;
        let i = self.resolve(symbol)?;
        self.roll(ts);
        self.ts = ts;
        let window = self.limits.policy.req(Knob::CorrelationWindow) as usize;
        self.markets[i].on_bar(high, low, close, ts, window);
        Ok(())
    }

    /// The id of `symbol`, interning a new name.
    fn resolve(&mut self, symbol: SymbolRef<'_>) -> Result<usize> {
        match symbol {
            SymbolRef::Name(name) => Ok(self.symbol_id(name)? as usize),
            id => self.lookup(id),
        }
    }

    /// The engine's ATR and EMA of `symbol`, each `None` until ready.
    ///
    /// Errors: an unknown symbol.
    pub fn indicators(&self, symbol: SymbolRef<'_>) -> Result<(Option<f64>, Option<f64>)> {
        let m = &self.markets[self.lookup(symbol)?];
        Ok((m.atr.value(), m.ema.value()))
    }

    /// Sets (or clears, with `None`) the lot size sizing rounds `symbol`'s quantities down to.
    ///
    /// Errors: a lot not finite and > 0; an unknown id or empty name.
    pub fn set_lot_size(&mut self, symbol: SymbolRef<'_>, lot: Option<f64>) -> Result<()> {
        if let Some(l) = lot
            && !(l.is_finite() && l > 0.0 && l <= MAX_QTY)
        {
            return Err(RiskError::invalid(
                "lot_size",
                format!("must be finite, > 0 and ≤ {MAX_QTY:e}, got {}", num(l)),
            ));
        }
        let i = self.resolve(symbol)?;
        self.markets[i].lot = lot;
        Ok(())
    }

    /// Correlations the gate uses instead of its own for these pairs: `matrix[i][j]` is the
    /// correlation of `symbols[i]` and `symbols[j]`.
    ///
    /// Errors: a shape other than (n, n) for n symbols; a duplicate or empty symbol; an entry
    /// outside [−1, 1]; an asymmetric matrix; a diagonal other than 1.
    pub fn set_correlation(&mut self, symbols: &[&str], matrix: ArrayView2<'_, f64>) -> Result<()> {
        let n = symbols.len();
        if matrix.dim() != (n, n) {
            return Err(RiskError::invalid(
                "matrix",
                format!("must be ({n}, {n}) for {n} symbols, got {:?}", matrix.dim()),
            ));
        }
        for (k, s) in symbols.iter().enumerate() {
            if s.is_empty() || symbols[..k].contains(s) {
                return Err(RiskError::invalid(
                    "symbols",
                    format!("must be distinct and non-empty, got {s:?}"),
                ));
            }
        }
        for i in 0..n {
            if (matrix[[i, i]] - 1.0).abs() > 1e-9 {
                return Err(RiskError::invalid(
                    "matrix",
                    format!(
                        "must have 1 on the diagonal, got {} at [{i}, {i}]",
                        num(matrix[[i, i]])
                    ),
                ));
            }
            for j in 0..n {
                let x = matrix[[i, j]];
                if !(-1.0..=1.0).contains(&x) || (x - matrix[[j, i]]).abs() > 1e-12 {
                    return Err(RiskError::invalid(
                        "matrix",
                        format!(
                            "must be symmetric with entries in [-1, 1], got {} at [{i}, {j}]",
                            num(x)
                        ),
                    ));
                }
            }
        }
        let ids: Vec<u32> = symbols
            .iter()
            .map(|s| self.symbol_id(s))
            .collect::<Result<_>>()?;
        for i in 0..n {
            for j in 0..i {
                let key = (ids[i].min(ids[j]), ids[i].max(ids[j]));
                self.correlations.insert(key, matrix[[i, j]]);
            }
        }
        Ok(())
    }

    /// The correlation of symbols `i` and `j`: the caller's, else from bar returns.
    pub(crate) fn correlation_of(&self, i: usize, j: usize) -> Option<f64> {
        let key = (i.min(j) as u32, i.max(j) as u32);
        if let Some(&rho) = self.correlations.get(&key) {
            return Some(rho);
        }
        let min_obs = self.limits.policy.req(Knob::CorrelationMinObs) as usize;
        correlation(&self.markets[i].returns, &self.markets[j].returns, min_obs)
    }
}

/// Pearson correlation of the returns `a` and `b` share timestamps on, or `None` with fewer
/// than `min_obs` of them or no variance. One merge pass with Welford's updates: no allocation
/// and no cancellation.
fn correlation(a: &VecDeque<(i64, f64)>, b: &VecDeque<(i64, f64)>, min_obs: usize) -> Option<f64> {
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
