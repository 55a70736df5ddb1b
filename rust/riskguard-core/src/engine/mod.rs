//! The deterministic risk state machine: portfolio accounting, session clock, circuit
//! breakers, trading states, the kill switch, events and exact snapshots.
//!
//! docs/engine.md is the contract. Every call takes its timestamp; nothing reads a clock. The
//! tick path allocates nothing unless it reports an event, and its work does not grow with the
//! number of positions.

mod breakers;
pub mod events;
pub mod limits;
mod portfolio;
mod risk_engine;
pub mod session;
mod snapshot;

pub use events::{Event, EventKind, TradingState};
pub use limits::{Action, Breaker, BreakerSpec, LimitValue, Limits, PartialSpec};
pub use risk_engine::{RiskEngine, SymbolRef};
pub use snapshot::{BreakerStatus, PositionSnapshot, Snapshot, Status};

#[cfg(test)]
mod tests;
