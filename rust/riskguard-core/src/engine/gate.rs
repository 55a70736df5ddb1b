//! The pre-trade gate: signals are checked, sized and approved or refused with every reason;
//! raw orders get the order-level checks (docs/gate.md).

use std::fmt;
use std::str::FromStr;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

use crate::error::{Result, RiskError, num};

use super::breakers::ratio;
use super::events::TradingState;
use super::limits::{Action, Breaker};
use super::market::correlation;
use super::policy::{Consensus, Knob, Method};
use super::risk_engine::{
    MAX_PRICE, MAX_QTY, MIN_PRICE, RiskEngine, SymbolRef, check_price, check_qty, in_range,
};
use super::sizing;
use super::trades::{Approval, SizedBy};

/// Relative tolerance of every limit comparison: a value at its limit passes however the
/// arithmetic that produced it rounded.
const TOL: f64 = 1e-9;

fn exceeds(x: f64, limit: f64) -> bool {
    x > limit + TOL * limit.abs()
}

fn falls_short(x: f64, limit: f64) -> bool {
    x < limit - TOL * limit.abs()
}

/// A stable denial code; a code never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::enum_variant_names)]
pub enum Code {
    TradingPaused,
    TradingHalted,
    ReduceOnly,
    LosingStreakPause,
    DailyLossLimit,
    WeeklyLossLimit,
    MonthlyLossLimit,
    DrawdownLimit,
    KillSwitch,
    ConsensusTooWeak,
    ConfidenceTooLow,
    TrendMisaligned,
    VolatilityTooHigh,
    VolumeTooLow,
    SpreadTooWide,
    PositionSizeExceeded,
    RiskPerTradeExceeded,
    RewardRiskTooLow,
    PortfolioHeatExceeded,
    MaxPositions,
    ExposureExceeded,
    LeverageExceeded,
    ConcentrationExceeded,
    CorrelationTooHigh,
    NotionalTooSmall,
    NotionalTooLarge,
    PriceCollar,
    RateLimited,
    DuplicateOrder,
    MissingMarketData,
}

impl Code {
    /// The SCREAMING_SNAKE name callers branch on.
    pub fn name(self) -> &'static str {
        match self {
            Self::TradingPaused => "TRADING_PAUSED",
            Self::TradingHalted => "TRADING_HALTED",
            Self::ReduceOnly => "REDUCE_ONLY",
            Self::LosingStreakPause => "LOSING_STREAK_PAUSE",
            Self::DailyLossLimit => "DAILY_LOSS_LIMIT",
            Self::WeeklyLossLimit => "WEEKLY_LOSS_LIMIT",
            Self::MonthlyLossLimit => "MONTHLY_LOSS_LIMIT",
            Self::DrawdownLimit => "DRAWDOWN_LIMIT",
            Self::KillSwitch => "KILL_SWITCH",
            Self::ConsensusTooWeak => "CONSENSUS_TOO_WEAK",
            Self::ConfidenceTooLow => "CONFIDENCE_TOO_LOW",
            Self::TrendMisaligned => "TREND_MISALIGNED",
            Self::VolatilityTooHigh => "VOLATILITY_TOO_HIGH",
            Self::VolumeTooLow => "VOLUME_TOO_LOW",
            Self::SpreadTooWide => "SPREAD_TOO_WIDE",
            Self::PositionSizeExceeded => "POSITION_SIZE_EXCEEDED",
            Self::RiskPerTradeExceeded => "RISK_PER_TRADE_EXCEEDED",
            Self::RewardRiskTooLow => "REWARD_RISK_TOO_LOW",
            Self::PortfolioHeatExceeded => "PORTFOLIO_HEAT_EXCEEDED",
            Self::MaxPositions => "MAX_POSITIONS",
            Self::ExposureExceeded => "EXPOSURE_EXCEEDED",
            Self::LeverageExceeded => "LEVERAGE_EXCEEDED",
            Self::ConcentrationExceeded => "CONCENTRATION_EXCEEDED",
            Self::CorrelationTooHigh => "CORRELATION_TOO_HIGH",
            Self::NotionalTooSmall => "NOTIONAL_TOO_SMALL",
            Self::NotionalTooLarge => "NOTIONAL_TOO_LARGE",
            Self::PriceCollar => "PRICE_COLLAR",
            Self::RateLimited => "RATE_LIMITED",
            Self::DuplicateOrder => "DUPLICATE_ORDER",
            Self::MissingMarketData => "MISSING_MARKET_DATA",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
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

/// Long or short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    Long,
    Short,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Self::Long => "long",
            Self::Short => "short",
        }
    }

    /// +1 for a long, −1 for a short.
    pub fn sign(self) -> f64 {
        match self {
            Self::Long => 1.0,
            Self::Short => -1.0,
        }
    }
}

impl FromStr for Side {
    type Err = RiskError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "long" => Ok(Self::Long),
            "short" => Ok(Self::Short),
            _ => Err(RiskError::invalid(
                "side",
                format!("must be \"long\" or \"short\", got {s:?}"),
            )),
        }
    }
}

/// A trade idea for the gate; see docs/gate.md for each field's domain.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub symbol: String,
    pub side: Side,
    pub entry: f64,
    pub stop: Option<f64>,
    pub target: Option<f64>,
    pub confidence: Option<f64>,
    pub consensus: Option<Consensus>,
    pub atr: Option<f64>,
    pub ema: Option<f64>,
    pub volume_24h: Option<f64>,
    pub spread_bps: Option<f64>,
    pub regime: Option<f64>,
    pub quantity: Option<f64>,
}

impl Signal {
    /// A signal with only the required fields.
    pub fn new(symbol: &str, side: Side, entry: f64) -> Self {
        Self {
            symbol: symbol.to_owned(),
            side,
            entry,
            stop: None,
            target: None,
            confidence: None,
            consensus: None,
            atr: None,
            ema: None,
            volume_24h: None,
            spread_bps: None,
            regime: None,
            quantity: None,
        }
    }

    /// Errors: see docs/gate.md, "`evaluate_signal`".
    pub fn validate(&self) -> Result<()> {
        if self.symbol.is_empty() {
            return Err(RiskError::invalid("symbol", "must not be empty"));
        }
        check_price("entry", self.entry)?;
        let s = self.side.sign();
        if let Some(stop) = self.stop {
            check_price("stop", stop)?;
            if !(s * (self.entry - stop) > 0.0) {
                return Err(RiskError::invalid(
                    "stop",
                    format!(
                        "must be {} entry {} for a {}, got {}",
                        if s > 0.0 { "below" } else { "above" },
                        num(self.entry),
                        self.side.name(),
                        num(stop)
                    ),
                ));
            }
        }
        if let Some(target) = self.target {
            check_price("target", target)?;
            if !(s * (target - self.entry) > 0.0) {
                return Err(RiskError::invalid(
                    "target",
                    format!(
                        "must be {} entry {} for a {}, got {}",
                        if s > 0.0 { "above" } else { "below" },
                        num(self.entry),
                        self.side.name(),
                        num(target)
                    ),
                ));
            }
        }
        let check = |arg: &'static str, x: Option<f64>, ok: fn(f64) -> bool, domain: &str| match x {
            Some(v) if !ok(v) => Err(RiskError::invalid(
                arg,
                format!("must be {domain}, got {}", num(v)),
            )),
            _ => Ok(()),
        };
        check(
            "confidence",
            self.confidence,
            |c| (0.0..=1.0).contains(&c),
            "in [0, 1]",
        )?;
        check("atr", self.atr, in_range, "finite and in [1e-15, 1e15]")?;
        check("ema", self.ema, in_range, "finite and in [1e-15, 1e15]")?;
        check(
            "volume_24h",
            self.volume_24h,
            |v| v.is_finite() && v >= 0.0,
            "finite and ≥ 0",
        )?;
        check(
            "spread_bps",
            self.spread_bps,
            |v| v.is_finite() && v >= 0.0,
            "finite and ≥ 0",
        )?;
        check(
            "regime",
            self.regime,
            |r| r.is_finite() && r > 0.0,
            "finite and > 0",
        )?;
        check(
            "quantity",
            self.quantity,
            |q| q > 0.0 && q <= MAX_QTY,
            "finite, > 0 and ≤ 1e15",
        )?;
        Ok(())
    }
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub approved: bool,
    pub symbol: String,
    /// `long`/`short` for a signal, `buy`/`sell` for an order.
    pub side: &'static str,
    pub quantity: f64,
    pub entry: f64,
    /// NaN when none.
    pub stop: f64,
    /// NaN when none.
    pub target: f64,
    pub risk_amount: f64,
    pub risk_pct: f64,
    pub reward_risk: f64,
    pub method: &'static str,
    pub reasons: Vec<Reason>,
}

/// An accepted order, kept for the rate and duplicate checks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct OrderRecord {
    pub ts: i64,
    pub symbol: u32,
    pub qty: f64,
    pub price: f64,
}

/// The new exposure a check looks at.
struct Candidate {
    idx: Option<usize>,
    s: f64,
    q: f64,
    entry: f64,
    /// Risk per unit, when there is a stop.
    d: Option<f64>,
}

struct Reasons(Vec<Reason>);

impl Reasons {
    fn add(&mut self, code: Code, value: f64, limit: f64, message: impl FnOnce() -> String) {
        self.0.push(Reason {
            code,
            value,
            limit,
            message: message(),
        });
    }

    /// A share of equity `x` that exceeds `limit` (when on), reported as "`what` would be x%".
    fn share(&mut self, code: Code, what: &str, x: f64, limit: Option<f64>) {
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

    fn missing(&mut self, what: &str) {
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
    /// Checks, sizes and approves or refuses `signal` (docs/gate.md). An approved signal
    /// becomes its symbol's pending approval.
    ///
    /// Errors: an invalid signal; `ts` earlier than the last.
    pub fn evaluate_signal(&mut self, sig: &Signal, ts: i64) -> Result<Decision> {
        sig.validate()?;
        self.check_ts(ts)?;
        let pol = &self.limits.policy;
        let s = sig.side.sign();
        let entry = sig.entry;
        let idx = self.index.get(sig.symbol.as_str()).map(|&i| i as usize);
        let market = idx.map(|i| &self.markets[i]);
        let atr = sig
            .atr
            .or_else(|| market.and_then(|m| m.atr.value()).filter(|a| *a > 0.0));
        let ema = sig.ema.or_else(|| market.and_then(|m| m.ema.value()));
        let mut r = Reasons(Vec::new());
        // A computed level must lie in range and strictly on its side: an ATR too small to
        // move a price rounds it back onto the entry.
        let placed = |level: f64, side: f64| in_range(level) && side * (level - entry) > 0.0;
        let mut stop_too_far = false;
        let stop = sig.stop.or_else(|| {
            let st = entry - s * pol.get(Knob::SlAtr)? * atr?;
            stop_too_far = st < MIN_PRICE || st > MAX_PRICE;
            placed(st, -s).then_some(st)
        });
        let target = sig.target.or_else(|| {
            let t = entry + s * pol.get(Knob::TpAtr)? * atr?;
            placed(t, s).then_some(t)
        });
        let d = stop.map(|st| (entry - st).abs());
        let reward_risk = match (target, d) {
            (Some(t), Some(d)) => (t - entry).abs() / d,
            _ => f64::NAN,
        };

        self.state_checks(&mut r);
        if pol.signal_filters {
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
            let mut floor = pol.get(Knob::MinConfidence);
            if let (Some(high), Some(max_ratio)) =
                (pol.get(Knob::HighVolConfidence), pol.get(Knob::MaxAtrRatio))
            {
                match atr {
                    None => r.missing("atr"),
                    Some(a) if exceeds(a / entry, max_ratio) => floor = Some(high),
                    Some(_) => {}
                }
            }
            if let Some(floor) = floor {
                match sig.confidence {
                    None => r.missing("confidence"),
                    Some(c) if falls_short(c, floor) => {
                        r.add(Code::ConfidenceTooLow, c, floor, || {
                            format!("confidence {c} is below {floor}")
                        })
                    }
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

        let (q, method) = match (sig.quantity, stop) {
            (Some(q), _) => (q, SizedBy::Given),
            (None, Some(st)) => self.size(sig, s, st, atr, ema, idx, &mut r),
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
        let c = Candidate {
            idx,
            s,
            q,
            entry,
            d,
        };
        self.size_checks(&c, Some((target.is_some(), reward_risk)), &mut r);
        self.correlation_check(&c, &sig.symbol, &mut r);
        self.order_checks(&c, &mut r);
        let approved = r.0.is_empty() && q > 0.0 && q.is_finite();
        let risk_amount = d.map_or(f64::NAN, |d| q * d);
        // Every reason is in: an approved signal has its stop.
        if let (true, Some(stop)) = (approved, stop) {
            let i = self.symbol_id(&sig.symbol)? as usize;
            self.markets[i].approval = Some(Approval {
                side: s,
                stop,
                target: target.unwrap_or(f64::NAN),
                atr: atr.unwrap_or(f64::NAN),
                method,
            });
        }
        self.roll(ts);
        self.ts = ts;
        Ok(Decision {
            approved,
            symbol: sig.symbol.clone(),
            side: sig.side.name(),
            quantity: q,
            entry,
            stop: stop.unwrap_or(f64::NAN),
            target: target.unwrap_or(f64::NAN),
            risk_amount,
            risk_pct: ratio(risk_amount, self.equity),
            reward_risk,
            method: method.name(),
            reasons: r.0,
        })
    }

    /// The order-level checks on a raw order of signed `qty` at `price` (docs/gate.md). An
    /// approved order is recorded for the rate and duplicate checks.
    ///
    /// Errors: an unknown symbol id or an empty name; `qty` zero or beyond ±1e15; `price`
    /// outside [1e-15, 1e15]; `ts` earlier than the last.
    pub fn check_order(
        &mut self,
        symbol: SymbolRef<'_>,
        qty: f64,
        price: f64,
        ts: i64,
        reduce_only: bool,
    ) -> Result<Decision> {
        check_qty(qty)?;
        check_price("price", price)?;
        self.check_ts(ts)?;
        let idx = match symbol {
            SymbolRef::Name("") => return Err(RiskError::invalid("symbol", "must not be empty")),
            SymbolRef::Name(name) => self.index.get(name).map(|&i| i as usize),
            id => Some(self.lookup(id)?),
        };
        let q0 = idx.map_or(0.0, |i| self.positions[i].qty);
        let reducing = q0 != 0.0 && (qty > 0.0) != (q0 > 0.0) && qty.abs() <= q0.abs();
        let pol = &self.limits.policy;
        let d = price
            * self
                .limits
                .spec(Breaker::PositionLoss)
                .map_or(1.0, |s| s.threshold);
        let c = Candidate {
            idx,
            s: qty.signum(),
            q: qty.abs(),
            entry: price,
            d: Some(d),
        };
        let mut r = Reasons(Vec::new());
        if reduce_only && !reducing {
            r.add(Code::ReduceOnly, qty, f64::NAN, || {
                format!(
                    "a reduce-only order of {} would not reduce the position of {}",
                    num(qty),
                    num(q0)
                )
            });
        }
        if !reducing {
            self.state_checks(&mut r);
            self.size_checks(&c, None, &mut r);
            self.order_checks(&c, &mut r);
        } else {
            self.collar_check(&c, &mut r);
        }
        let id = idx.map(|i| i as u32);
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
        let approved = r.0.is_empty();
        if approved {
            let symbol = match (id, symbol) {
                (Some(id), _) => id,
                (None, SymbolRef::Name(name)) => self.symbol_id(name)?,
                (None, SymbolRef::Id(_)) => unreachable!("ids are looked up"),
            };
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
        self.roll(ts);
        self.ts = ts;
        let risk_amount = if reducing { 0.0 } else { qty.abs() * d };
        let name = match symbol {
            SymbolRef::Name(n) => n.to_owned(),
            SymbolRef::Id(i) => self.symbols[i as usize].clone(),
        };
        Ok(Decision {
            approved,
            symbol: name,
            side: if qty > 0.0 { "buy" } else { "sell" },
            quantity: qty.abs(),
            entry: price,
            stop: f64::NAN,
            target: f64::NAN,
            risk_amount,
            risk_pct: ratio(risk_amount, self.equity),
            reward_risk: f64::NAN,
            method: SizedBy::Order.name(),
            reasons: r.0,
        })
    }

    /// The trading-state group: a pause, the state, then each tripped breaker that stops new
    /// risk.
    fn state_checks(&self, r: &mut Reasons) {
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

    /// The size and risk group on the candidate. A signal passes `reward`: whether it has a
    /// target, and its reward:risk; it adds the per-trade risk and reward:risk checks.
    fn size_checks(&self, c: &Candidate, reward: Option<(bool, f64)>, r: &mut Reasons) {
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
    fn correlation_check(&self, c: &Candidate, name: &str, r: &mut Reasons) {
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

    /// The correlation of symbols `i` and `j`: the caller's, else from bar returns.
    pub(crate) fn correlation_of(&self, i: usize, j: usize) -> Option<f64> {
        let key = (i.min(j) as u32, i.max(j) as u32);
        if let Some(&rho) = self.correlations.get(&key) {
            return Some(rho);
        }
        let min_obs = self.limits.policy.req(Knob::CorrelationMinObs) as usize;
        correlation(&self.markets[i].returns, &self.markets[j].returns, min_obs)
    }

    /// The order group shared by signals and orders: notional floor and price collar.
    fn order_checks(&self, c: &Candidate, r: &mut Reasons) {
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

    fn collar_check(&self, c: &Candidate, r: &mut Reasons) {
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
        let drawdown = super::breakers::loss(self.peak, self.equity).clamp(0.0, 1.0);
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
                let vol = match (atr, pol.get(Knob::MaxAtrRatio)) {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Limits;
    use crate::engine::limits::LimitValue;

    fn engine(entries: Vec<(&str, LimitValue)>) -> RiskEngine {
        RiskEngine::new(Limits::build(entries).unwrap(), 10_000.0, 0).unwrap()
    }

    #[test]
    fn example_a() {
        let mut e = engine(vec![("max_position_notional", LimitValue::Number(500.0))]);
        let sig = Signal {
            confidence: Some(0.75),
            consensus: Some(Consensus::Strong),
            atr: Some(1500.0),
            ema: Some(48_000.0),
            volume_24h: Some(5e9),
            spread_bps: Some(10.0),
            ..Signal::new("BTCUSDT", Side::Long, 50_000.0)
        };
        let d = e.evaluate_signal(&sig, 1).unwrap();
        assert!(d.approved, "{:?}", d.reasons);
        assert!((d.quantity - 0.01).abs() < 1e-15);
        assert_eq!((d.stop, d.target, d.reward_risk), (47_750.0, 55_625.0, 2.5));
        assert!((d.risk_amount - 22.5).abs() < 1e-9 && (d.risk_pct - 0.00225).abs() < 1e-12);
    }

    #[test]
    fn example_b() {
        let mut e = engine(vec![("signal_filters", LimitValue::Bool(false))]);
        let sig = |q| Signal {
            stop: Some(49_000.0),
            target: Some(52_000.0),
            quantity: Some(q),
            ..Signal::new("BTCUSDT", Side::Long, 50_000.0)
        };
        let d = e.evaluate_signal(&sig(0.02), 1).unwrap();
        assert!(d.approved, "{:?}", d.reasons);
        assert_eq!((d.risk_amount, d.reward_risk), (20.0, 2.0));
        let d = e.evaluate_signal(&sig(0.03), 1).unwrap();
        let codes: Vec<_> = d.reasons.iter().map(|r| r.code).collect();
        assert_eq!(codes, [Code::PositionSizeExceeded]);
    }

    proptest::proptest! {
        /// A sized quantity passes every size check, whatever the book holds.
        #[test]
        fn sizing_never_exceeds_a_cap(
            held in proptest::collection::vec((-50.0..50.0f64, 10.0..200.0f64), 0..6),
            entry in 1.0..500.0f64,
            stop_frac in 0.001..0.5f64,
            long in proptest::bool::ANY,
            conf in 0.0..=1.0f64,
            method in 0usize..5,
        ) {
            let methods = ["fixed_fractional", "fixed_amount", "volatility_target", "atr", "regime_based"];
            let mut e = engine(vec![
                ("signal_filters", LimitValue::Bool(false)),
                ("max_correlation", LimitValue::Off),
                ("max_positions", LimitValue::Off),
                ("min_notional", LimitValue::Off),
                ("sizing", LimitValue::Text(methods[method].into())),
            ]);
            for (k, (q, p)) in held.iter().enumerate() {
                if *q != 0.0 {
                    e.on_fill(SymbolRef::Name(&format!("S{k}")), *q, *p, 1, 0.0, &mut Vec::new()).unwrap();
                }
            }
            let side = if long { Side::Long } else { Side::Short };
            let s = side.sign();
            let stop = entry * (1.0 - s * stop_frac);
            let sig = Signal {
                stop: Some(stop),
                atr: Some(entry * stop_frac),
                confidence: Some(conf),
                ..Signal::new("NEW", side, entry)
            };
            let d = e.evaluate_signal(&sig, 2).unwrap();
            let size_codes = [
                Code::PositionSizeExceeded,
                Code::NotionalTooLarge,
                Code::RiskPerTradeExceeded,
                Code::PortfolioHeatExceeded,
                Code::ExposureExceeded,
                Code::LeverageExceeded,
                Code::ConcentrationExceeded,
            ];
            proptest::prop_assert!(d.quantity >= 0.0);
            proptest::prop_assert!(s * (d.entry - d.stop) > 0.0, "stop on the profit side: {d:?}");
            // A book already over a limit leaves no room: the size is 0 and the check names it.
            proptest::prop_assert!(
                d.quantity == 0.0 || !d.reasons.iter().any(|r| size_codes.contains(&r.code)),
                "a sized quantity failed a size check: {:?}", d.reasons
            );
            proptest::prop_assert!(!d.approved || d.quantity > 0.0);
        }
    }
}
