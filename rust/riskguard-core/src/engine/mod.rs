//! The deterministic risk state machine: portfolio accounting, session clock, circuit
//! breakers, trading states, the kill switch, the pre-trade gate, sizing, exit policies and
//! trades, events and exact snapshots.
//!
//! docs/engine.md and docs/gate.md are the contract. Every call takes its timestamp; nothing reads a clock. The
//! tick path allocates nothing unless it reports an event, and its work does not grow with the
//! number of positions.
//!
//! The files import one way (`tests/engine_layering.rs` checks that they form no cycle):
//! - vocab.rs: the shared names and types; it imports nothing else of the engine;
//! - events, policy, session, sizing, signal, exits, limits, portfolio: plain types and rules
//!   over them;
//! - state.rs: the `RiskEngine` struct and the records it stores;
//! - the files that `impl RiskEngine`, one job each: risk_engine (construction, fills, ticks,
//!   controls), breakers, trades, market (market-data intake), checks, gate_sizing and decision
//!   (the pre-trade gate), snapshot. They call each other's methods, which needs no import.

mod breakers;
mod checks;
mod decision;
pub mod events;
pub mod exits;
mod gate_sizing;
pub mod limits;
mod market;
pub mod policy;
mod portfolio;
mod risk_engine;
pub mod session;
mod signal;
pub mod sizing;
mod snapshot;
mod state;
pub mod trades;
mod vocab;

pub use checks::Reason;
pub use decision::Decision;
pub use events::Event;
pub use exits::ExitReason;
pub use limits::{BreakerSpec, Limits};
pub use policy::{Combine, Consensus, Knob, Method, SettingValue};
pub use signal::{Side, Signal};
pub use snapshot::{BreakerStatus, PositionSnapshot, Snapshot, Status};
pub use state::RiskEngine;
pub use trades::{Trade, TradeState};
pub use vocab::{
    Action, Breaker, Code, EventKind, LimitValue, MAX_AMOUNT, MAX_PRICE, MAX_QTY, MIN_PRICE,
    PartialSpec, SymbolRef, TradingState,
};

/// The pre-trade gate's types at their old path (`engine::gate::Signal`): the gate is now
/// signal.rs, checks.rs, gate_sizing.rs and decision.rs.
pub mod gate {
    pub use super::checks::Reason;
    pub use super::decision::Decision;
    pub use super::signal::{Side, Signal};
    pub use super::vocab::Code;
}

#[cfg(test)]
mod tests;
