//! What the engine stores: the [`RiskEngine`] struct and the records it holds.
//!
//! Data only. What the engine does with it is in the files that `impl RiskEngine`, one job each:
//! risk_engine.rs (construction, fills, ticks, controls), breakers.rs, trades.rs, market.rs,
//! decision.rs, checks.rs, gate_sizing.rs and snapshot.rs. They depend on this file and this
//! file on none of them, which is what keeps the engine's files free of cycles.
//!
//! Every type here is part of the snapshot image (`to_bytes`, postcard): its fields are encoded
//! in declaration order, so reordering, adding or removing one changes the format and needs a
//! new `VERSION` in snapshot.rs.

use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU32;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::stream::{Atr, Ema};

use super::exits::Plan;
use super::limits::Limits;
use super::policy::Method;
use super::portfolio::Position;
use super::session::SessionClock;
use super::vocab::{TradeState, TradingState};

/// Open equity of one session (day, week or month).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Session {
    pub key: i64,
    pub open_equity: f64,
}

/// One breaker's trip state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct BreakerState {
    pub tripped: bool,
    pub tripped_at: i64,
    pub cooldown_until: i64,
    /// The session key a session-loss breaker tripped in.
    pub trip_key: i64,
}

/// Per-symbol market data fed by `on_bar` (market.rs): ATR, EMA, the bar returns behind the
/// streaming correlation, and the lot size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Market {
    pub atr: Atr,
    pub ema: Ema,
    pub last_close: f64,
    /// `(bar ts, ln(close / previous close))`, oldest first.
    pub returns: VecDeque<(i64, f64)>,
    pub lot: Option<f64>,
    /// The pending approval of the symbol's next trade.
    pub approval: Option<Approval>,
}

impl Market {
    pub fn new(atr_period: u32, ema_period: u32) -> Self {
        let nz = |n: u32| NonZeroU32::new(n.max(1)).expect("at least 1");
        Self {
            atr: Atr::new(nz(atr_period)),
            ema: Ema::new(nz(ema_period)),
            last_close: f64::NAN,
            returns: VecDeque::new(),
            lot: None,
            approval: None,
        }
    }

    /// The symbol's bar length in ns: the shortest interval between consecutive bars of the
    /// return window (a gap, a weekend or a halt, is longer, never shorter); None before three
    /// bars.
    pub fn bar_ns(&self) -> Option<i64> {
        let ts = self.returns.iter().map(|&(t, _)| t);
        ts.clone()
            .zip(ts.skip(1))
            .map(|(a, b)| b - a)
            .filter(|&d| d > 0)
            .min()
    }
}

/// How a decision's quantity was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SizedBy {
    Method(Method),
    /// The signal carried its quantity.
    Given,
    /// A raw order (`check_order`).
    Order,
    /// A fill without an approval.
    Manual,
}

impl SizedBy {
    pub fn name(self) -> &'static str {
        match self {
            Self::Method(m) => m.name(),
            Self::Given => "given",
            Self::Order => "order",
            Self::Manual => "manual",
        }
    }
}

/// An approved signal waiting for its fill.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Approval {
    pub side: f64,
    pub stop: f64,
    /// NaN when none.
    pub target: f64,
    /// NaN when none.
    pub atr: f64,
    pub method: SizedBy,
}

/// One trade's stored record; the open trade's live fields are in its position.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct TradeRecord {
    pub symbol: u32,
    pub side: f64,
    pub method: SizedBy,
    pub entry_ts: i64,
    pub entry_price: f64,
    pub quantity: f64,
    pub initial_stop: f64,
    pub target: f64,
    /// Set when closed, with the final state, stop, P&L and excursions.
    pub closed: Option<Closed>,
    pub closed_qty: f64,
    pub closed_value: f64,
    pub plan: Plan,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Closed {
    pub ts: i64,
    pub state: TradeState,
    pub stop: f64,
    pub pnl: f64,
    pub best: f64,
    pub worst: f64,
}

/// An accepted order, kept for the rate and duplicate checks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct OrderRecord {
    pub ts: i64,
    pub symbol: u32,
    pub qty: f64,
    pub price: f64,
}

/// The deterministic risk state machine. Every call takes its timestamp (ns since the Unix
/// epoch, UTC); a call that fails leaves the engine unchanged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RiskEngine {
    pub(crate) limits: Limits,
    pub(crate) clock: SessionClock,
    pub(crate) symbols: Vec<String>,
    #[serde(skip)]
    pub(crate) index: FxHashMap<String, u32>,
    pub(crate) positions: Vec<Position>,
    pub(crate) cash: f64,
    pub(crate) equity: f64,
    pub(crate) peak: f64,
    pub(crate) gross: f64,
    pub(crate) net: f64,
    pub(crate) heat: f64,
    /// Positions with heat money above zero: when none, heat is exactly 0 however the running
    /// sum has rounded.
    #[serde(skip)]
    pub(crate) heated: u32,
    /// An upper bound of the largest notional, exact when `max_exact`; the holder is `max_arg`.
    pub(crate) max_notional: f64,
    pub(crate) max_arg: usize,
    pub(crate) max_exact: bool,
    pub(crate) realized: f64,
    pub(crate) sessions: [Session; 3],
    pub(crate) next_day_start: i64,
    pub(crate) breakers: [BreakerState; 11],
    /// Per configurable breaker: its threshold (shrunk by the filter's margin) while it could
    /// trip, else infinity. Derived from `limits` and `breakers` by `refresh_breakers`.
    #[serde(skip)]
    pub(crate) armed: [f64; 10],
    /// Bit per configurable breaker that is tripped and may re-arm during evaluation.
    #[serde(skip)]
    pub(crate) rearm_pending: u16,
    /// No pending breaker can re-arm before this timestamp.
    #[serde(skip)]
    pub(crate) rearm_after: i64,
    /// From `limits`: the position-loss threshold, the volatility-spike threshold (infinite
    /// when off) and its square shrunk by the filter's margin.
    #[serde(skip)]
    pub(crate) position_loss_t: Option<f64>,
    #[serde(skip)]
    pub(crate) spike_t: f64,
    #[serde(skip)]
    pub(crate) spike_t2: f64,
    pub(crate) tripped_positions: u32,
    /// Symbols whose latest volatility score is at or above the spike threshold.
    pub(crate) spiking: u32,
    pub(crate) streak: u32,
    pub(crate) state: TradingState,
    pub(crate) kill_reason: String,
    /// Set by `pause`, cleared only by `resume`: the gate refuses new risk meanwhile.
    pub(crate) paused: bool,
    pub(crate) pause_reason: String,
    pub(crate) ts: i64,
    /// Per symbol: indicators, bar returns and lot size.
    pub(crate) markets: Vec<Market>,
    pub(crate) trades: Vec<TradeRecord>,
    /// P&L of the last closed trades, in closing order, oldest first.
    pub(crate) recent: VecDeque<f64>,
    /// Caller-supplied correlations by (lower id, higher id); ordered, so that the image is
    /// the same bytes however it was built.
    pub(crate) correlations: BTreeMap<(u32, u32), f64>,
    /// Accepted orders within the rate and duplicate windows, oldest first.
    pub(crate) orders: VecDeque<OrderRecord>,
}
