//! What the engine reports: trading states and events.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::exits::ExitReason;
use super::limits::{Action, Breaker};

/// The engine's trading state, in increasing severity (NautilusTrader's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TradingState {
    /// Normal trading.
    Active,
    /// Only risk-reducing orders.
    Reducing,
    /// No new risk; exits allowed.
    Halted,
}

impl TradingState {
    /// `"ACTIVE"`, `"REDUCING"` or `"HALTED"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Reducing => "REDUCING",
            Self::Halted => "HALTED",
        }
    }
}

impl fmt::Display for TradingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kind of an [`Event`]; its name is a stable snake_case string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    BreakerTripped,
    BreakerRecovered,
    StateChanged,
    StopHit,
    KillSwitch,
    FlattenRequested,
    ReduceRequested,
    /// The exit policy asks to close some or all of a trade.
    ExitSignal,
    /// New risk is paused by hand; the trading state is unchanged.
    Paused,
    Resumed,
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::BreakerTripped => "breaker_tripped",
            Self::BreakerRecovered => "breaker_recovered",
            Self::StateChanged => "state_changed",
            Self::StopHit => "stop_hit",
            Self::KillSwitch => "kill_switch",
            Self::FlattenRequested => "flatten_requested",
            Self::ReduceRequested => "reduce_requested",
            Self::ExitSignal => "exit_signal",
            Self::Paused => "paused",
            Self::Resumed => "resumed",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One thing that happened. Plain data, so the tick path can report without allocating;
/// [`super::RiskEngine::describe`] gives the human message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    /// The breaker concerned, or the cause of a state change or request.
    pub breaker: Option<Breaker>,
    /// The symbol id concerned, if any.
    pub symbol: Option<u32>,
    /// The metric, mark, quantity or fraction; NaN where none applies.
    pub value: f64,
    /// The threshold or stop; NaN where none applies.
    pub threshold: f64,
    pub action: Option<Action>,
    pub ts: i64,
    /// The trading state after this event.
    pub state: TradingState,
    /// Why an exit was requested (`exit_signal` only).
    pub reason: Option<ExitReason>,
}
