//! The deterministic risk state machine: portfolio accounting, session clock, circuit
//! breakers, trading states, the kill switch, the pre-trade gate, sizing, exit policies and
//! trades, events and exact snapshots.
//!
//! docs/engine.md and docs/gate.md are the contract. Every call takes its timestamp; nothing reads a clock. The
//! tick path allocates nothing unless it reports an event, and its work does not grow with the
//! number of positions.

mod breakers;
pub mod events;
pub mod exits;
pub mod gate;
pub mod limits;
mod market;
pub mod policy;
mod portfolio;
mod risk_engine;
pub mod session;
pub mod sizing;
mod snapshot;
pub mod trades;

pub use events::{Event, EventKind, TradingState};
pub use exits::ExitReason;
pub use gate::{Code, Decision, Reason, Side, Signal};
pub use limits::{Action, Breaker, BreakerSpec, LimitValue, Limits, PartialSpec};
pub use policy::{Combine, Consensus, Knob, Method, SettingValue};
pub use risk_engine::{RiskEngine, SymbolRef};
pub use snapshot::{BreakerStatus, PositionSnapshot, Snapshot, Status};
pub use trades::{Trade, TradeState};

#[cfg(test)]
mod tests;
