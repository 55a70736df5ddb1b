//! Replays at engine speed: the risk engine and a paper fill model driven by one instrument's
//! bars and signals, with no journal, no broker calls and no event loop, giving the trades and
//! the equity curve that `riskguard.app.backtest.run_guarded` (a Guard on the paper broker)
//! gives for the same configuration. docs/engine.md ("Replay") states the same rules.
//!
//! Each bar, in order (`Guard.on_bar` with the simulation driver):
//! 1. the engine takes the bar (`on_bar`: ATR, EMA, bar returns);
//! 2. the paper account fills its working orders along the bar's path (fills.rs) and the
//!    fills go to the engine (`on_fill` at the engine's clock), in the order they happened;
//! 3. the engine is marked along the bar: at the close only when the book (the sum of the
//!    fills applied) is flat, else open, low, high, close for a long and open, high, low,
//!    close for a short, every point at the bar's time;
//! 4. when the step had events or fills, the planner (planner.rs) turns the events into
//!    market orders and sends them, reduce-only; the account fills them at a later bar;
//! 5. the signals of the bar, in their order, go to `evaluate_signal` at the engine's clock
//!    with the bar's close as entry (a signal that is not a valid `Signal` is skipped and
//!    counted, as a backtest does); an approval's market order (± the decision's quantity,
//!    whole units when the account takes no fractions) goes to the account, which fills it at
//!    the next bar's open with the slippage and commission;
//! 6. the account's equity (cash plus the position at the close) is the bar's point of the
//!    curve.
//!
//! One instrument per replay: an account and an engine hold it alone, as a backtest of a
//! prices file with one symbol does. The engine starts flat at `ReplaySettings::equity`, or
//! the account's cash, at time 0.

pub mod costs;
pub mod fills;
pub mod input;
pub mod metrics;
pub mod planner;
// The replay of one instrument, named as its module: the file the module exists for.
#[allow(clippy::module_inception)]
pub mod replay;
pub mod sweep;

pub use costs::{Commission, Liquidity, Slippage};
pub use fills::{AccountSettings, Fill, Order, OrderType, Outcome, PaperAccount};
pub use input::{BarColumns, BarSignal, Instrument, SignalColumns};
pub use metrics::{NS_PER_YEAR, Scores, scores};
pub use replay::{BarFill, Replay, ReplaySettings, Trip, replay, replay_range};
pub use sweep::{Sweep, sweep};
