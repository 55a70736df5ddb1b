//! What the Guard does with the engine's events in a backtest, for one instrument: the orders
//! its planner (`riskguard.guard.planner`) makes of them and how its book
//! (`riskguard.oms.book`) and action worker (`riskguard.guard.actions`) send them.
//!
//! - `kill_switch`, `paused`, and a `state_changed` to HALTED cancel the working orders
//!   but the reducing ones the Guard has in flight (once per step);
//! - `flatten_requested` and `stop_hit` close the position (`-held`), after cancelling the
//!   instrument's other working orders; `exit_signal` closes the event's quantity; a
//!   `reduce_requested` cuts the position by its fraction (`-held × fraction`);
//! - a step with fills while the kill switch or a close-all breaker is tripped, and no
//!   flatten asked, closes what is left net of the orders in flight;
//! - every such order is a market order, reduce-only: clipped to the engine's position net of
//!   the reducing orders in flight, nothing when it would add to it, whole units when the
//!   account takes no fractions;
//! - `held` is the engine's position once the whole step (fills and the bar's ticks) is
//!   done, as the Guard reads it when it plans.
//!
//! The Guard resends a reducing order the venue ended unfilled after a wall-clock backoff;
//! a replay has no wall clock, so it drops it and counts it (`dropped`). With the paper
//! account this happens only when a reducing order would leave a short position the account
//! does not allow, which clipping prevents.

use crate::engine::{Action, Event, EventKind, RiskEngine, Status, TradingState};

use super::fills::{EPS, Order, OrderType, PaperAccount};

/// Why a planned order is sent (the Guard's `purpose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    CancelOrders,
    Flatten,
    Exit,
    Reduce,
}

/// A planned action: `qty` is the order's signed quantity before clipping.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Planned {
    pub purpose: Purpose,
    pub qty: f64,
}

/// A reducing order in flight: sent, neither filled nor ended.
#[derive(Debug, Clone, Copy)]
struct Sent {
    id: u64,
    qty: f64,
    /// What of it can still fill in all when the venue ended it.
    cap: Option<f64>,
    applied: f64,
}

impl Sent {
    fn remaining(&self) -> f64 {
        self.cap.unwrap_or(self.qty) - self.applied
    }
}

/// The Guard's book for one instrument: the position its fills made (a plain sum, dust and
/// all, which picks the bar's path for the engine) and its reducing orders in flight.
#[derive(Debug, Clone, Default)]
pub struct Book {
    /// The sum of the fills applied.
    pub qty: f64,
    sent: Vec<Sent>,
    /// Sent orders the venue ended during the bar, settled once the bar's actions are done.
    ended: Vec<u64>,
    next_id: u64,
    /// Reducing orders ended unfilled and not resent (see the module's docs).
    pub dropped: u64,
}

impl Book {
    /// A fresh client order id.
    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A fill of order `id` was applied to the engine.
    pub fn applied(&mut self, id: u64, qty: f64) {
        self.qty += qty;
        if let Some(k) = self.sent.iter().position(|s| s.id == id) {
            self.sent[k].applied += qty;
            self.settle(k);
        }
    }

    /// The venue refused order `id` when it came to fill.
    pub fn ended(&mut self, id: u64) {
        if self.sent.iter().any(|s| s.id == id) {
            self.ended.push(id);
        }
    }

    /// After the bar's actions (the Guard's sweep): the orders the venue ended are forgotten.
    pub fn sweep(&mut self) {
        for id in std::mem::take(&mut self.ended) {
            if let Some(k) = self.sent.iter().position(|s| s.id == id) {
                self.sent[k].cap = Some(self.sent[k].applied);
                self.settle(k);
                self.dropped += 1;
            }
        }
    }

    fn settle(&mut self, k: usize) {
        let s = self.sent[k];
        if s.remaining().abs() <= EPS * s.qty.abs().max(1.0) {
            self.sent.remove(k);
        }
    }

    fn in_flight(&self) -> f64 {
        self.sent.iter().fold(0.0, |acc, s| acc + s.remaining())
    }

    fn is_sent(&self, id: u64) -> bool {
        self.sent.iter().any(|s| s.id == id)
    }
}

/// The engine's position in its one instrument (0 when flat).
pub fn engine_position(engine: &RiskEngine) -> f64 {
    engine.snapshot().positions.first().map_or(0.0, |p| p.qty)
}

/// The kill switch or a close-all breaker is tripped: the Guard must be flat.
pub fn must_be_flat(engine: &RiskEngine) -> bool {
    engine
        .breaker_statuses()
        .iter()
        .any(|b| b.status == Status::Tripped && b.action == Some(Action::CloseAllHalt))
}

/// The actions one step's `events` call for (`filled`: the step applied fills), appended to
/// `out` in the order the Guard plans them.
pub fn plan(
    engine: &RiskEngine,
    book: &Book,
    events: &[Event],
    filled: bool,
    out: &mut Vec<Planned>,
) {
    let mut held = None;
    let mut flattened = false;
    let mut cancelled = false;
    let intend = |out: &mut Vec<Planned>, purpose, qty: f64| {
        if qty != 0.0 && qty.is_finite() {
            out.push(Planned { purpose, qty });
        }
    };
    for e in events {
        match e.kind {
            EventKind::KillSwitch | EventKind::Paused => {}
            EventKind::StateChanged if e.state == TradingState::Halted => {}
            EventKind::FlattenRequested
            | EventKind::StopHit
            | EventKind::ExitSignal
            | EventKind::ReduceRequested => {
                let h = *held.get_or_insert_with(|| engine_position(engine));
                match e.kind {
                    EventKind::ReduceRequested => {
                        if h != 0.0 {
                            intend(out, Purpose::Reduce, -h * e.value);
                        }
                    }
                    EventKind::ExitSignal => intend(out, Purpose::Exit, -e.value.copysign(h)),
                    _ => {
                        intend(out, Purpose::Flatten, -h);
                        flattened = true;
                    }
                }
                continue;
            }
            _ => continue,
        }
        // New risk is refused from now on: working entries are taken back.
        if !cancelled {
            out.push(Planned {
                purpose: Purpose::CancelOrders,
                qty: 0.0,
            });
            cancelled = true;
        }
    }
    if filled && !flattened && must_be_flat(engine) {
        // A fill that leaves a position open while trading must be flat: close it.
        let rest = engine_position(engine) + book.in_flight();
        if rest.abs() > EPS * rest.abs().max(1.0) {
            intend(out, Purpose::Flatten, -rest);
        }
    }
}

/// Sends the planned actions in order, as the Guard's action worker does.
pub fn execute(
    engine: &RiskEngine,
    book: &mut Book,
    account: &mut PaperAccount,
    actions: &[Planned],
) {
    for a in actions {
        if matches!(a.purpose, Purpose::CancelOrders | Purpose::Flatten) {
            // The Guard's own reducing orders stay: closes are netted against them.
            let others: Vec<u64> = (account.working())
                .map(|o| o.id)
                .filter(|&id| !book.is_sent(id))
                .collect();
            for id in others {
                account.cancel(id);
            }
        }
        if a.purpose == Purpose::CancelOrders {
            continue;
        }
        let qty = clip(engine, book, account, a.qty);
        if qty == 0.0 {
            continue; // nothing left to reduce
        }
        let id = book.new_id();
        book.sent.push(Sent {
            id,
            qty,
            cap: None,
            applied: 0.0,
        });
        let order = Order {
            id,
            qty,
            kind: OrderType::Market,
        };
        // A quantity out of the account's bounds is not an order it can take: ended at once.
        let accepted = account.submit(order).unwrap_or(false);
        let k = book.sent.len() - 1;
        if !accepted {
            book.sent[k].cap = Some(0.0);
            book.dropped += 1;
        }
        book.settle(k);
    }
}

/// `qty` reduce-only: no bigger than the position net of the orders in flight, and nothing when
/// it would add to it.
fn clip(engine: &RiskEngine, book: &Book, account: &PaperAccount, qty: f64) -> f64 {
    let held = engine_position(engine) + book.in_flight();
    if held.abs() <= EPS * qty.abs().max(1.0) || qty * held > 0.0 {
        return 0.0;
    }
    account.tradable(qty.abs().min(held.abs()).copysign(qty))
}
