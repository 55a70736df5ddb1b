//! Views of the engine's state (snapshot, breaker statuses) and its exact binary image.

use rustc_hash::FxHashMap;

use crate::error::{Result, RiskError};

use super::breakers::{loss, ratio};
use super::exits::Exit;
use super::policy::Knob;
use super::portfolio::Position;
use super::state::{Market, RiskEngine, TradeRecord};
use super::vocab::{
    Action, Breaker, MAX_QTY, NO_TRADE, RECENT_TRADES, TradingState, check_qty, in_range,
};

/// One open position.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionSnapshot {
    pub symbol: String,
    pub qty: f64,
    pub avg_price: f64,
    pub mark: f64,
    pub unrealized_pnl: f64,
    /// Since the position opened, net of fees.
    pub realized_pnl: f64,
    pub stop: Option<f64>,
}

/// The engine's state at its last timestamp (docs/engine.md, "Metrics").
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub ts: i64,
    pub equity: f64,
    pub cash: f64,
    pub peak_equity: f64,
    pub drawdown: f64,
    pub day_open_equity: f64,
    pub day_loss: f64,
    pub week_open_equity: f64,
    pub week_loss: f64,
    pub month_open_equity: f64,
    pub month_loss: f64,
    pub gross_exposure: f64,
    pub net_exposure: f64,
    pub leverage: f64,
    pub concentration: f64,
    pub heat: f64,
    pub state: TradingState,
    /// New risk is paused (`pause` until `resume`); the state does not show it.
    pub paused: bool,
    pub consecutive_losses: u32,
    /// Every closing P&L less every fee since the engine started.
    pub realized_pnl: f64,
    /// Open positions, in symbol-id order.
    pub positions: Vec<PositionSnapshot>,
}

/// Whether a breaker is switched off, armed or tripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Off,
    Armed,
    Tripped,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Armed => "armed",
            Self::Tripped => "tripped",
        }
    }
}

/// One breaker's status.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerStatus {
    pub breaker: Breaker,
    pub status: Status,
    /// The current metric (NaN for the kill switch).
    pub value: f64,
    /// NaN when off, and for the kill switch.
    pub threshold: f64,
    pub action: Option<Action>,
    pub latched: bool,
    pub tripped_at: Option<i64>,
    /// Present while tripped with a cooldown.
    pub cooldown_until: Option<i64>,
}

const MAGIC: &[u8; 8] = b"RGENGINE";
/// Format 4 added `max_bars_no_progress` and `high_vol_atr_ratio`; a format-3 image is still
/// read (`Policy::upgrade_from_3`).
const VERSION: u16 = 4;
const HEADER: usize = MAGIC.len() + 2;

impl RiskEngine {
    /// The state as a [`Snapshot`].
    pub fn snapshot(&self) -> Snapshot {
        let [day, week, month] = self.sessions;
        let concentration = self.metric(Breaker::Concentration);
        Snapshot {
            ts: self.ts,
            equity: self.equity,
            cash: self.cash,
            peak_equity: self.peak,
            drawdown: loss(self.peak, self.equity),
            day_open_equity: day.open_equity,
            day_loss: loss(day.open_equity, self.equity),
            week_open_equity: week.open_equity,
            week_loss: loss(week.open_equity, self.equity),
            month_open_equity: month.open_equity,
            month_loss: loss(month.open_equity, self.equity),
            gross_exposure: self.gross,
            net_exposure: self.net,
            leverage: ratio(self.gross, self.equity),
            concentration,
            heat: ratio(self.heat, self.equity),
            state: self.state,
            paused: self.paused,
            consecutive_losses: self.streak,
            realized_pnl: self.realized,
            positions: (self.positions.iter().zip(&self.symbols))
                .filter(|(p, _)| p.is_open())
                .map(|(p, s)| PositionSnapshot {
                    symbol: s.clone(),
                    qty: p.qty,
                    avg_price: p.avg,
                    mark: p.mark,
                    unrealized_pnl: p.unrealized(),
                    realized_pnl: p.realized,
                    stop: p.stop,
                })
                .collect(),
        }
    }

    /// Every breaker's status, the kill switch last.
    pub fn breaker_statuses(&self) -> Vec<BreakerStatus> {
        Breaker::ALL
            .into_iter()
            .map(|b| {
                let st = self.breakers[b.index()];
                let spec = self.limits.spec(b).copied();
                let status = match (spec, st.tripped) {
                    (_, true) => Status::Tripped,
                    (None, false) if b != Breaker::KillSwitch => Status::Off,
                    _ => Status::Armed,
                };
                BreakerStatus {
                    breaker: b,
                    status,
                    value: self.metric(b),
                    threshold: spec.map_or(f64::NAN, |s| s.threshold),
                    action: match (b, spec) {
                        (Breaker::KillSwitch, _) => Some(Action::CloseAllHalt),
                        (_, s) => s.map(|s| s.action),
                    },
                    latched: b == Breaker::KillSwitch || spec.is_some_and(|s| s.latched),
                    tripped_at: st.tripped.then_some(st.tripped_at),
                    cooldown_until: (st.tripped && st.cooldown_until > st.tripped_at)
                        .then_some(st.cooldown_until),
                }
            })
            .collect()
    }

    /// The whole state as versioned, CRC-32-checked bytes; floats are kept bit for bit.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + 160 * self.positions.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        let mut out = postcard::to_extend(self, out).expect("serialising to a Vec cannot fail");
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// An image of format 3, as the previous build wrote it, for the tests of reading it.
    #[cfg(test)]
    pub(crate) fn to_bytes_of_format_3(&self) -> Vec<u8> {
        let mut old = self.clone();
        old.limits.policy.downgrade_to_3();
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&3u16.to_le_bytes());
        let mut out = postcard::to_extend(&old, out).expect("serialising to a Vec cannot fail");
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Restores an engine from [`RiskEngine::to_bytes`]. It answers every later call exactly as
    /// the original would.
    ///
    /// Errors ([`RiskError::CorruptSnapshot`]): truncated or corrupt bytes, a checksum
    /// mismatch, another format or version, or an inconsistent state.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let corrupt = |m: String| RiskError::CorruptSnapshot(m);
        if bytes.len() < HEADER + 4 {
            return Err(corrupt(format!("{} bytes is too short", bytes.len())));
        }
        if &bytes[..MAGIC.len()] != MAGIC {
            return Err(corrupt("not a riskguard engine snapshot".into()));
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != VERSION && version != 3 {
            return Err(corrupt(format!(
                "format version {version}, this build reads 3 and {VERSION}"
            )));
        }
        let (body, tail) = bytes.split_at(bytes.len() - 4);
        let stored = u32::from_le_bytes(tail.try_into().expect("4 bytes"));
        if crc32fast::hash(body) != stored {
            return Err(corrupt("checksum mismatch".into()));
        }
        let (mut engine, rest): (Self, _) = postcard::take_from_bytes(&body[HEADER..])
            .map_err(|e| corrupt(format!("undecodable state ({e})")))?;
        if !rest.is_empty() {
            return Err(corrupt(format!("{} trailing bytes", rest.len())));
        }
        if version == 3 {
            // Format 4 only added knobs at the end of the policy's list.
            engine.limits.policy.upgrade_from_3();
        }
        engine.limits = engine
            .limits
            .clone()
            .validate()
            .map_err(|e| corrupt(e.to_string()))?;
        engine.check_consistency().map_err(corrupt)?;
        Ok(engine)
    }

    /// Rebuilds the symbol index and checks what the engine relies on to never panic.
    fn check_consistency(&mut self) -> std::result::Result<(), String> {
        if self.positions.len() != self.symbols.len() {
            return Err("positions and symbols differ in length".into());
        }
        let mut index = FxHashMap::default();
        for (i, s) in self.symbols.iter().enumerate() {
            if s.is_empty() || index.insert(s.clone(), i as u32).is_some() {
                return Err(format!("bad or duplicate symbol {s:?}"));
            }
        }
        self.index = index;
        self.heated = self.positions.iter().map(|p| u32::from(p.heat > 0.0)).sum();
        self.refresh_breakers();
        let flagged = self.positions.iter().filter(|p| p.loss_tripped).count();
        let totals = [
            self.cash,
            self.equity,
            self.peak,
            self.gross,
            self.net,
            self.heat,
            self.max_notional,
            self.realized,
        ];
        let sane = |p: &Position| {
            [
                p.qty,
                p.avg,
                p.realized,
                p.heat,
                p.last_tick,
                p.vol.variance(),
            ]
            .iter()
            .all(|x| x.is_finite())
                && (p.mark.is_finite() || (p.mark.is_nan() && !p.is_open()))
                && !p.vol.variance().is_nan()
                && p.stop.is_none_or(f64::is_finite)
        };
        let spiking = self.positions.iter().filter(|p| p.spiking).count();
        let n = self.symbols.len();
        let trades_ok = self.markets.len() == n
            && self.recent.len() <= RECENT_TRADES
            && self.recent.iter().all(|x| x.is_finite())
            && self.trades.iter().all(|t| (t.symbol as usize) < n)
            && self.orders.iter().all(|o| (o.symbol as usize) < n)
            && self
                .correlations
                .keys()
                .all(|&(a, b)| a < b && (b as usize) < n)
            && self.markets.iter().all(|m| self.market_sane(m))
            && self.correlations.values().all(|r| (-1.0..=1.0).contains(r))
            && self
                .orders
                .iter()
                .zip(self.orders.iter().skip(1))
                .all(|(a, b)| a.ts <= b.ts)
            && self
                .orders
                .iter()
                .all(|o| o.ts <= self.ts && check_qty(o.qty).is_ok() && in_range(o.price))
            && self.trades.iter().all(trade_sane)
            && self.positions.iter().enumerate().all(|(i, p)| {
                (p.trade == NO_TRADE && !p.exit.open)
                    || self.trades.get(p.trade as usize).is_some_and(|t| {
                        t.symbol as usize == i
                            && t.closed.is_none()
                            && p.exit.open
                            && p.is_open()
                            && exit_sane(&p.exit, t)
                    })
            });
        let max_arg_ok = self.max_arg < self.positions.len() || self.max_arg == 0;
        if flagged != self.tripped_positions as usize
            || spiking != self.spiking as usize
            || !max_arg_ok
            || self.state != self.held_state()
            || !totals.iter().all(|x| x.is_finite())
            || !self.sessions.iter().all(|s| s.open_equity.is_finite())
            || !self.positions.iter().all(sane)
            || !trades_ok
            || (!self.paused && !self.pause_reason.is_empty())
        {
            return Err("inconsistent state".into());
        }
        Ok(())
    }
}

impl RiskEngine {
    /// A symbol's market data as its setters and `on_bar` keep it.
    fn market_sane(&self, m: &Market) -> bool {
        let pol = &self.limits.policy;
        let window = pol.req(Knob::CorrelationWindow) as usize;
        let optional = |x: f64, ok: fn(f64) -> bool| x.is_nan() || ok(x);
        m.atr.period() == pol.req(Knob::AtrPeriod) as u32
            && m.ema.period() == pol.req(Knob::EmaPeriod) as u32
            && optional(m.last_close, in_range)
            && m.returns.len() <= window
            && m.returns
                .iter()
                .all(|(ts, r)| *ts <= self.ts && r.is_finite())
            && m.lot
                .is_none_or(|l| l.is_finite() && l > 0.0 && l <= MAX_QTY)
            && m.approval.is_none_or(|a| {
                a.side.abs() == 1.0
                    && in_range(a.stop)
                    && optional(a.target, in_range)
                    && optional(a.atr, in_range)
            })
    }
}

fn trade_sane(t: &TradeRecord) -> bool {
    t.side.abs() == 1.0
        && in_range(t.entry_price)
        && t.quantity > 0.0
        && t.quantity <= MAX_QTY
        && t.closed_qty.is_finite()
        && t.closed_value.is_finite()
        && t.closed
            .is_none_or(|c| c.pnl.is_finite() && c.best.is_finite() && c.worst.is_finite())
        && t.plan.entry_f.is_finite()
        && (t.plan.r.is_nan() || (t.plan.r.is_finite() && t.plan.r >= 0.0))
        && [
            t.plan.target_f,
            t.plan.be_f,
            t.plan.partial_f,
            t.plan.trail_f,
        ]
        .iter()
        .all(|x| !x.is_nan())
}

/// An open trade's tick-path state, as `book_fill` and the exit policy keep it.
fn exit_sane(e: &Exit, t: &TradeRecord) -> bool {
    e.side == t.side
        && e.best.is_finite()
        && e.worst.is_finite()
        && !e.stop_f.is_nan()
        && e.stop_f < f64::INFINITY
        && !e.next_f.is_nan()
        && (e.trail_dist.is_nan() || (e.trail_dist.is_finite() && e.trail_dist > 0.0))
        && e.window >= 1
}
