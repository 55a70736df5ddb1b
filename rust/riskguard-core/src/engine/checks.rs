//! The gate's checks (docs/gate.md): each group of rules that can refuse a signal or an order,
//! and the reasons they give. decision.rs runs them in the documented order; a check only adds
//! reasons and never stops the others, so that a decision lists every failure at once.

use crate::error::num;

use super::breakers::ratio;
use super::policy::Knob;
use super::signal::Signal;
use super::state::{OrderRecord, RiskEngine};
use super::vocab::{Action, Breaker, Code, TradingState};

/// Relative tolerance of every limit comparison: a value at its limit passes however the
/// arithmetic that produced it rounded.
const TOL: f64 = 1e-9;

fn exceeds(x: f64, limit: f64) -> bool {
    x > limit + TOL * limit.abs()
}

fn falls_short(x: f64, limit: f64) -> bool {
    x < limit - TOL * limit.abs()
}

/// One failed check: its code, the value checked and the limit it broke (NaN where none
/// applies), and a message for people.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    pub code: Code,
    pub value: f64,
    pub limit: f64,
    pub message: String,
}

/// The new exposure a check looks at.
pub(crate) struct Candidate {
    pub idx: Option<usize>,
    /// +1 for a long or a buy, −1 for a short or a sell.
    pub s: f64,
    /// The quantity, ≥ 0.
    pub q: f64,
    pub entry: f64,
    /// Risk per unit, when there is a stop.
    pub d: Option<f64>,
}

/// The reasons of one decision, in the order the checks ran.
pub(crate) struct Reasons(pub Vec<Reason>);

impl Reasons {
    pub(crate) fn add(
        &mut self,
        code: Code,
        value: f64,
        limit: f64,
        message: impl FnOnce() -> String,
    ) {
        self.0.push(Reason {
            code,
            value,
            limit,
            message: message(),
        });
    }

    /// A share of equity `x` that exceeds `limit` (when on), reported as "`what` would be x%".
    pub(crate) fn share(&mut self, code: Code, what: &str, x: f64, limit: Option<f64>) {
        if let Some(max) = limit
            && exceeds(x, max)
        {
            self.add(code, x, max, || {
                format!(
                    "{what} would be {:.2}% of equity; the limit is {:.2}%",
                    100.0 * x,
                    100.0 * max
                )
            });
        }
    }

    pub(crate) fn missing(&mut self, what: &str) {
        self.add(Code::MissingMarketData, f64::NAN, f64::NAN, || {
            format!("{what} is required and was not given")
        });
    }
}

const SECOND: i64 = 1_000_000_000;

/// `seconds` in nanoseconds; `as` saturates, so a huge window means "forever".
fn nanos(seconds: f64) -> i64 {
    (seconds * 1e9).round() as i64
}

impl RiskEngine {
    /// The trading-state group: a pause, the state, then each tripped breaker that stops new
    /// risk.
    pub(crate) fn state_checks(&self, r: &mut Reasons) {
        if self.paused {
            r.add(Code::TradingPaused, f64::NAN, f64::NAN, || {
                if self.pause_reason.is_empty() {
                    "trading is paused: no new risk".into()
                } else {
                    format!("trading is paused: no new risk ({})", self.pause_reason)
                }
            });
        }
        match self.state {
            TradingState::Halted => r.add(Code::TradingHalted, f64::NAN, f64::NAN, || {
                "trading is halted: no new risk".into()
            }),
            TradingState::Reducing => r.add(Code::ReduceOnly, f64::NAN, f64::NAN, || {
                "only risk-reducing orders are allowed".into()
            }),
            TradingState::Active => {}
        }
        const CAUSES: [(Breaker, Code); 8] = [
            (Breaker::DailyLoss, Code::DailyLossLimit),
            (Breaker::WeeklyLoss, Code::WeeklyLossLimit),
            (Breaker::MonthlyLoss, Code::MonthlyLossLimit),
            (Breaker::MaxDrawdown, Code::DrawdownLimit),
            (Breaker::ConsecutiveLosses, Code::LosingStreakPause),
            (Breaker::VolatilitySpike, Code::VolatilityTooHigh),
            (Breaker::Leverage, Code::LeverageExceeded),
            (Breaker::KillSwitch, Code::KillSwitch),
        ];
        for (b, code) in CAUSES {
            if !self.breakers[b.index()].tripped {
                continue;
            }
            let (action, threshold) = match self.limits.spec(b) {
                Some(s) => (s.action, s.threshold),
                None => (Action::CloseAllHalt, f64::NAN),
            };
            if action.state() == TradingState::Active {
                continue;
            }
            let value = if b == Breaker::KillSwitch {
                f64::NAN
            } else {
                self.metric(b)
            };
            r.add(code, value, threshold, || {
                format!("{b} is tripped ({action})")
            });
        }
    }

    /// The signal-quality group, when `signal_filters` is on: consensus, confidence (with the
    /// high-volatility floor), a volatility spike on the symbol, the trend, volume and spread.
    /// `atr` and `ema` are the signal's, else the engine's.
    pub(crate) fn signal_checks(
        &self,
        sig: &Signal,
        atr: Option<f64>,
        ema: Option<f64>,
        idx: Option<usize>,
        r: &mut Reasons,
    ) {
        let pol = &self.limits.policy;
        if !pol.signal_filters {
            return;
        }
        let (s, entry) = (sig.side.sign(), sig.entry);
        if pol.consensus_check() {
            match sig.consensus {
                None => r.missing("consensus"),
                Some(c) if !pol.allows(c) => {
                    r.add(Code::ConsensusTooWeak, f64::NAN, f64::NAN, || {
                        format!("consensus {c} is not among the allowed")
                    })
                }
                Some(_) => {}
            }
        }
        // The volatility gate: ATR / entry above max_atr_ratio is refused; above the lower
        // high_vol_atr_ratio, the confidence floor rises to high_vol_confidence.
        let mut floor = pol.get(Knob::MinConfidence);
        let max_ratio = pol.get(Knob::MaxAtrRatio);
        let high = pol
            .get(Knob::HighVolConfidence)
            .zip(pol.get(Knob::HighVolAtrRatio));
        if max_ratio.is_some() || high.is_some() {
            match atr {
                None => r.missing("atr"),
                Some(a) => {
                    let ratio = a / entry;
                    if let Some(m) = max_ratio
                        && exceeds(ratio, m)
                    {
                        r.add(Code::VolatilityTooHigh, ratio, m, || {
                            format!("ATR / entry {ratio:.4} is above max_atr_ratio {m}")
                        });
                    }
                    if let Some((confidence, m)) = high
                        && exceeds(ratio, m)
                    {
                        floor = Some(confidence);
                    }
                }
            }
        }
        if let Some(floor) = floor {
            match sig.confidence {
                None => r.missing("confidence"),
                Some(c) if falls_short(c, floor) => r.add(Code::ConfidenceTooLow, c, floor, || {
                    format!("confidence {c} is below {floor}")
                }),
                Some(_) => {}
            }
        }
        if let (Some(spec), Some(i)) = (self.limits.spec(Breaker::VolatilitySpike), idx)
            && self.positions[i].spiking
        {
            let z = self.positions[i].z();
            r.add(Code::VolatilityTooHigh, z, spec.threshold, || {
                format!("{} is in a volatility spike: {z:.2}σ", sig.symbol)
            });
        }
        if pol.require_trend {
            match ema {
                None => r.missing("ema"),
                Some(e) if !(s * (entry - e) > 0.0) => {
                    r.add(Code::TrendMisaligned, entry, e, || {
                        format!(
                            "a {} at {} is against the EMA at {}",
                            sig.side.name(),
                            num(entry),
                            num(e)
                        )
                    })
                }
                Some(_) => {}
            }
        }
        if let Some(min) = pol.get(Knob::MinVolume24h) {
            match sig.volume_24h {
                None => r.missing("volume_24h"),
                Some(v) if falls_short(v, min) => r.add(Code::VolumeTooLow, v, min, || {
                    format!("24 h volume {} is below {}", num(v), num(min))
                }),
                Some(_) => {}
            }
        }
        if let Some(max) = pol.get(Knob::MaxSpreadBps) {
            match sig.spread_bps {
                None => r.missing("spread_bps"),
                Some(v) if exceeds(v, max) => r.add(Code::SpreadTooWide, v, max, || {
                    format!("spread {v} bps is above {max} bps")
                }),
                Some(_) => {}
            }
        }
    }

    /// The size and risk group on the candidate. A signal passes `reward`: whether it has a
    /// target, and its reward:risk; it adds the per-trade risk and reward:risk checks.
    pub(crate) fn size_checks(&self, c: &Candidate, reward: Option<(bool, f64)>, r: &mut Reasons) {
        let pol = &self.limits.policy;
        let equity = self.equity;
        let (q0, v0) = c.idx.map_or((0.0, 0.0), |i| {
            let p = &self.positions[i];
            (p.qty, p.notional())
        });
        let v1 = (q0 + c.s * c.q).abs() * c.entry;
        let g = (self.gross - v0).max(0.0);
        // A trade against its open position that shrinks it cannot break a limit on the
        // position's value: only risk-increasing trades are held to them.
        let reduces = q0 * c.s < 0.0 && v1 <= v0;
        let share = |x: f64| if reduces { 0.0 } else { ratio(x, equity) };
        let max_pct = pol.get(Knob::MaxPositionPct);
        r.share(
            Code::PositionSizeExceeded,
            "the position",
            share(v1),
            max_pct,
        );
        if let Some(max) = pol.get(Knob::MaxPositionNotional)
            && !reduces
            && exceeds(v1, max)
        {
            r.add(Code::NotionalTooLarge, v1, max, || {
                format!(
                    "the position would be worth {}; the limit is {}",
                    num(v1),
                    num(max)
                )
            });
        }
        let risk_amount = c.d.map(|d| c.q * d);
        if let (Some(risk_amount), Some(_)) = (risk_amount, reward) {
            let (x, max) = (ratio(risk_amount, equity), pol.get(Knob::MaxRiskPerTrade));
            r.share(Code::RiskPerTradeExceeded, "the trade's risk", x, max);
        }
        match (reward, pol.get(Knob::MinRewardRisk)) {
            (Some((false, _)), Some(_)) => r.missing("target (or an ATR to place one)"),
            (Some((true, rr)), Some(min)) if c.d.is_some() && falls_short(rr, min) => {
                r.add(Code::RewardRiskTooLow, rr, min, || {
                    format!("reward:risk {rr:.2} is below {min}")
                })
            }
            _ => {}
        }
        if let Some(risk_amount) = risk_amount {
            let heat = ratio(self.heat + risk_amount, equity);
            r.share(
                Code::PortfolioHeatExceeded,
                "heat",
                heat,
                pol.get(Knob::MaxHeat),
            );
        }
        if let Some(max) = pol.get(Knob::MaxPositions)
            && q0 == 0.0
        {
            let open = self.positions.iter().filter(|p| p.is_open()).count() as f64;
            if open >= max {
                r.add(Code::MaxPositions, open, max, || {
                    format!("{open} positions are open; the limit is {max}")
                });
            }
        }
        let x = share(g + v1);
        r.share(
            Code::ExposureExceeded,
            "gross exposure",
            x,
            pol.get(Knob::MaxExposure),
        );
        if let Some(spec) = self.limits.spec(Breaker::Leverage)
            && exceeds(x, spec.threshold)
        {
            r.add(Code::LeverageExceeded, x, spec.threshold, || {
                format!(
                    "leverage would be {x:.2}x; the limit is {}x",
                    spec.threshold
                )
            });
        }
        let concentration = self
            .limits
            .spec(Breaker::Concentration)
            .map(|s| s.threshold);
        r.share(
            Code::ConcentrationExceeded,
            "the position",
            share(v1),
            concentration,
        );
    }

    /// The correlation group: same-direction exposure to correlated open positions.
    pub(crate) fn correlation_check(&self, c: &Candidate, name: &str, r: &mut Reasons) {
        let Some(max) = self.limits.policy.get(Knob::MaxCorrelation) else {
            return;
        };
        let mut worst: Option<(f64, usize)> = None;
        let mut unknown = Vec::new();
        for (j, p) in self.positions.iter().enumerate() {
            if !p.is_open() || Some(j) == c.idx {
                continue;
            }
            match c.idx.and_then(|i| self.correlation_of(i, j)) {
                Some(rho) => {
                    let x = rho * c.s * p.qty.signum();
                    if worst.is_none_or(|(w, _)| x > w) {
                        worst = Some((x, j));
                    }
                }
                None => unknown.push(self.symbols[j].as_str()),
            }
        }
        if let Some((x, j)) = worst
            && exceeds(x, max)
        {
            r.add(Code::CorrelationTooHigh, x, max, || {
                format!("{name} moves with the open {} position (correlation {x:.2}); the limit is {max}", self.symbols[j])
            });
        }
        if !unknown.is_empty() {
            r.missing(&format!(
                "the correlation of {name} with {}",
                unknown.join(", ")
            ));
        }
    }

    /// The order group shared by signals and orders: notional floor and price collar.
    pub(crate) fn order_checks(&self, c: &Candidate, r: &mut Reasons) {
        let notional = c.q * c.entry;
        let min = self.limits.policy.get(Knob::MinNotional);
        if c.q == 0.0 {
            r.add(Code::NotionalTooSmall, 0.0, min.unwrap_or(0.0), || {
                "the quantity is 0".into()
            });
        } else if let Some(m) = min
            && falls_short(notional, m)
        {
            r.add(Code::NotionalTooSmall, notional, m, || {
                format!(
                    "the order is worth {}; the minimum is {}",
                    num(notional),
                    num(m)
                )
            });
        }
        self.collar_check(c, r);
    }

    pub(crate) fn collar_check(&self, c: &Candidate, r: &mut Reasons) {
        if let (Some(max), Some(i)) = (self.limits.policy.get(Knob::PriceCollar), c.idx) {
            let mark = self.positions[i].mark;
            let x = (c.entry - mark).abs() / mark;
            if mark.is_finite() && exceeds(x, max) {
                r.add(Code::PriceCollar, x, max, || {
                    format!(
                        "price {} is {:.2}% from the mark {}; the collar is {:.2}%",
                        num(c.entry),
                        100.0 * x,
                        num(mark),
                        100.0 * max
                    )
                });
            }
        }
    }

    /// `REDUCE_ONLY`: a reduce-only order of `qty` that would not reduce the position `q0`.
    pub(crate) fn reduce_only_check(
        &self,
        qty: f64,
        q0: f64,
        reduce_only: bool,
        reducing: bool,
        r: &mut Reasons,
    ) {
        if reduce_only && !reducing {
            r.add(Code::ReduceOnly, qty, f64::NAN, || {
                format!(
                    "a reduce-only order of {} would not reduce the position of {}",
                    num(qty),
                    num(q0)
                )
            });
        }
    }

    /// The order-flow checks of a raw order of `qty` at `price` on symbol `id` (`None`: not
    /// interned yet): the rate limit, which a reducing order is exempt from, and duplicates.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn flow_checks(
        &self,
        id: Option<u32>,
        qty: f64,
        price: f64,
        ts: i64,
        reducing: bool,
        r: &mut Reasons,
    ) {
        let pol = &self.limits.policy;
        if !reducing && let Some(max) = pol.get(Knob::MaxOrdersPerSecond) {
            let recent = self
                .orders
                .iter()
                .filter(|o| o.ts > ts.saturating_sub(SECOND))
                .count();
            if recent as f64 >= max {
                r.add(Code::RateLimited, recent as f64, max, || {
                    format!("{recent} orders in the last second; the limit is {max}")
                });
            }
        }
        if let (Some(window), Some(id)) = (pol.get(Knob::DuplicateWindowS), id) {
            let since = ts.saturating_sub(nanos(window));
            if self
                .orders
                .iter()
                .any(|o| o.symbol == id && o.qty == qty && o.price == price && o.ts > since)
            {
                r.add(Code::DuplicateOrder, qty, f64::NAN, || {
                    format!(
                        "the same order ({} at {}) was accepted {window} s ago or less",
                        num(qty),
                        num(price)
                    )
                });
            }
        }
    }

    /// Records an accepted order for the rate and duplicate checks, dropping those older than
    /// both windows.
    pub(crate) fn record_order(&mut self, symbol: u32, qty: f64, price: f64, ts: i64) {
        let window = self
            .limits
            .policy
            .get(Knob::DuplicateWindowS)
            .map_or(0, nanos);
        let since = ts.saturating_sub(SECOND.max(window));
        while self.orders.front().is_some_and(|o| o.ts <= since) {
            self.orders.pop_front();
        }
        self.orders.push_back(OrderRecord {
            ts,
            symbol,
            qty,
            price,
        });
    }
}
