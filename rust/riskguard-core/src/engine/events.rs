//! What the engine reports: events.

use super::vocab::{Action, Breaker, ExitReason};
// In vocab.rs, and here too so that `engine::events::TradingState` still names them.
pub use super::vocab::{EventKind, TradingState};

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
