//! How the gate sizes a signal (docs/gate.md, "Sizing"): the signal's own quantity, or the
//! configured method's size from the engine's equity, closed trades and market data, then the
//! adjusters and the caps that keep every size check passing. The formulas themselves are the
//! plain functions of sizing.rs, which the bindings also expose.

use crate::error::num;

use super::breakers::loss;
use super::checks::Reasons;
use super::policy::{Knob, Method};
use super::signal::Signal;
use super::sizing;
use super::state::{RiskEngine, SizedBy};
use super::vocab::{Breaker, Code};

impl RiskEngine {
    /// The sizing group of `evaluate_signal`: the quantity and how it was chosen. Without a
    /// stop a computed size is 0 (a given one is kept) and a reason names the stop;
    /// `stop_too_far` says the ATR placed it beyond any price.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn size_signal(
        &self,
        sig: &Signal,
        stop: Option<f64>,
        stop_too_far: bool,
        atr: Option<f64>,
        ema: Option<f64>,
        idx: Option<usize>,
        r: &mut Reasons,
    ) -> (f64, SizedBy) {
        let pol = &self.limits.policy;
        let s = sig.side.sign();
        let (q, method) = match (sig.quantity, stop) {
            (Some(q), _) => (q, SizedBy::Given),
            (None, Some(st)) => self.size(sig, s, st, atr, ema, idx, r),
            (None, None) => (0.0, SizedBy::Method(pol.sizing)),
        };
        if stop.is_none() {
            if stop_too_far {
                let a = atr.unwrap_or(f64::NAN);
                r.add(Code::VolatilityTooHigh, a, f64::NAN, || {
                    format!("an ATR of {} puts the stop beyond any price", num(a))
                });
            } else if pol.get(Knob::SlAtr).is_none() {
                r.missing("stop (sl_atr is off, so the ATR cannot place one)");
            } else {
                r.missing("stop (or an ATR large enough to place one)");
            }
        }
        (q, method)
    }

    /// The configured method's size, adjusted and capped (docs/gate.md, "Sizing").
    #[allow(clippy::too_many_arguments)]
    fn size(
        &self,
        sig: &Signal,
        s: f64,
        stop: f64,
        atr: Option<f64>,
        ema: Option<f64>,
        idx: Option<usize>,
        r: &mut Reasons,
    ) -> (f64, SizedBy) {
        let pol = &self.limits.policy;
        let method = match pol.sizing {
            Method::Kelly if !self.kelly_ready() => Method::FixedFractional,
            m => m,
        };
        let raw = match method {
            Method::Consensus => {
                let mut sizes = Vec::with_capacity(pol.consensus_methods.len());
                for &m in &pol.consensus_methods {
                    match self.raw_size(m, sig, s, stop, atr, ema, idx) {
                        Ok(x) => sizes.push(x),
                        Err(what) => {
                            r.missing(what);
                            sizes.clear();
                            break;
                        }
                    }
                }
                if sizes.is_empty() {
                    0.0
                } else {
                    sizing::consensus(&sizes, pol.consensus_mode, None).unwrap_or(0.0)
                }
            }
            m => self
                .raw_size(m, sig, s, stop, atr, ema, idx)
                .unwrap_or_else(|what| {
                    r.missing(what);
                    0.0
                }),
        };
        // NaN would slip through every cap (`min` ignores it): no size instead.
        let raw = if raw.is_nan() { 0.0 } else { raw };
        let drawdown = loss(self.peak, self.equity).clamp(0.0, 1.0);
        let q = sizing::adjust(raw, sig.confidence, self.streak, drawdown);
        (
            self.cap(q, s, sig.entry, (sig.entry - stop).abs(), idx),
            SizedBy::Method(method),
        )
    }

    /// Whether enough trades have closed for Kelly sizing; until then it sizes as
    /// fixed-fractional.
    fn kelly_ready(&self) -> bool {
        self.recent.len() >= self.limits.policy.req(Knob::KellyMinTrades) as usize
    }

    /// One method's size before the adjusters, or what it lacked.
    #[allow(clippy::too_many_arguments)]
    fn raw_size(
        &self,
        m: Method,
        sig: &Signal,
        s: f64,
        stop: f64,
        atr: Option<f64>,
        ema: Option<f64>,
        idx: Option<usize>,
    ) -> std::result::Result<f64, &'static str> {
        let pol = &self.limits.policy;
        let (equity, entry) = (self.equity, sig.entry);
        let risk = pol.req(Knob::RiskPerTrade);
        let ff = || equity * risk / (entry - stop).abs();
        Ok(match m {
            // Validation keeps consensus out of its own list.
            Method::FixedFractional | Method::Consensus => ff(),
            Method::Kelly if !self.kelly_ready() => ff(),
            Method::FixedAmount => pol.req(Knob::TradeAmount) / entry,
            Method::Kelly => {
                let (mut wins, mut losses, mut n_win, mut n) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
                for &pnl in &self.recent {
                    n += 1.0;
                    if pnl > 0.0 {
                        wins += pnl;
                        n_win += 1.0;
                    } else {
                        losses -= pnl;
                    }
                }
                let p = n_win / n;
                let (mean_win, mean_loss) = (wins / n_win.max(1.0), losses / (n - n_win).max(1.0));
                // No money lost (no losses, or only flat trades): the ratio is infinite.
                let b = if mean_loss > 0.0 {
                    mean_win / mean_loss
                } else {
                    f64::INFINITY
                };
                let f = if n_win == 0.0 {
                    0.0
                } else {
                    let (fraction, cap) = (pol.req(Knob::KellyFraction), pol.req(Knob::KellyCap));
                    sizing::kelly(p, b, fraction, cap).unwrap_or(0.0)
                };
                f * equity / entry
            }
            Method::VolatilityTarget => {
                equity * pol.req(Knob::TargetVolatility) / atr.ok_or("atr")?
            }
            Method::Atr => {
                let k = pol.get(Knob::SlAtr).ok_or("sl_atr (the ATR multiple)")?;
                equity * risk / (k * atr.ok_or("atr")?)
            }
            Method::RiskParity => {
                let inv_new = entry / atr.ok_or("atr")?;
                let mut total = inv_new;
                for (j, p) in self.positions.iter().enumerate() {
                    if p.is_open() && Some(j) != idx {
                        let atr_j = self.markets[j].atr.value().filter(|a| *a > 0.0);
                        total += p.mark / atr_j.ok_or("the ATR of every open position")?;
                    }
                }
                let exposure = pol.get(Knob::MaxExposure).unwrap_or(1.0);
                inv_new / total * exposure * equity / entry
            }
            Method::RegimeBased => {
                let trend = ema.is_some_and(|e| s * (entry - e) > 0.0);
                // High volatility starts where the gate raises the confidence floor.
                let high = pol
                    .get(Knob::HighVolAtrRatio)
                    .or(pol.get(Knob::MaxAtrRatio));
                let vol = match (atr, high) {
                    (Some(a), Some(m)) if a / entry > m => sizing::VolRegime::High,
                    (Some(a), Some(m)) if a / entry < m / 2.0 => sizing::VolRegime::Low,
                    _ => sizing::VolRegime::Normal,
                };
                let recent: Vec<f64> = self.recent.iter().rev().take(20).copied().collect();
                let performance = if recent.len() >= 10 {
                    let wins = recent.iter().filter(|p| **p > 0.0).count() as f64;
                    (2.0 * wins / recent.len() as f64).clamp(0.5, 1.5)
                } else {
                    1.0
                };
                sizing::regime_based(ff(), sig.regime.unwrap_or(1.0), trend, vol, performance)
                    .unwrap_or(0.0)
            }
        })
    }

    /// `q` capped so that no size check fails, then rounded down to the lot size.
    fn cap(&self, q: f64, s: f64, entry: f64, d: f64, idx: Option<usize>) -> f64 {
        let pol = &self.limits.policy;
        let equity = self.equity;
        let (q0, v0) = idx.map_or((0.0, 0.0), |i| {
            (self.positions[i].qty, self.positions[i].notional())
        });
        let g = (self.gross - v0).max(0.0);
        // The most the position may hold after the trade, in value.
        let mut v_max = f64::INFINITY;
        let mut cap_v = |v: Option<f64>| v_max = v_max.min(v.unwrap_or(f64::INFINITY));
        cap_v(pol.get(Knob::MaxPositionPct).map(|x| x * equity));
        cap_v(pol.get(Knob::MaxPositionNotional));
        cap_v(
            self.limits
                .spec(Breaker::Concentration)
                .map(|c| c.threshold * equity),
        );
        cap_v(pol.get(Knob::MaxExposure).map(|x| x * equity - g));
        cap_v(
            self.limits
                .spec(Breaker::Leverage)
                .map(|l| l.threshold * equity - g),
        );
        let held = q0.abs();
        let same = q0 * s > 0.0;
        let by_value = v_max / entry + if same { -held } else { held };
        let mut q = q.min(by_value);
        if let Some(max) = pol.get(Knob::MaxRiskPerTrade) {
            q = q.min(max * equity / d);
        }
        if let Some(max) = pol.get(Knob::MaxHeat) {
            q = q.min((max * equity - self.heat) / d);
        }
        let q = q.max(0.0);
        match idx.and_then(|i| self.markets[i].lot) {
            Some(lot) => (q / lot + 1e-9).floor() * lot,
            None => q,
        }
    }
}
