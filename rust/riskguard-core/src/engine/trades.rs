//! The trade lifecycle (docs/gate.md, "Trades and exits"): a fill opens a trade, managed when
//! it follows an approval, and the fills against it close it; `trades()` reports them. Their
//! records are in state.rs.

use super::exits::{Exit, Stage};
use super::state::{Closed, RiskEngine, TradeRecord};
use super::vocab::{CloseCause, ExitReason, NO_TRADE, RECENT_TRADES};
// In vocab.rs and state.rs, and here too so that `engine::trades::TradeState` still names them.
pub use super::state::SizedBy;
pub use super::vocab::TradeState;

/// A trade's state from how it closed, or from its exit stage while open.
impl TradeState {
    fn closed(cause: Option<CloseCause>) -> Self {
        match cause {
            Some(CloseCause::Exit(ExitReason::TakeProfit)) => Self::ClosedTp,
            Some(CloseCause::Exit(ExitReason::TrailingStop)) => Self::ClosedTrailing,
            Some(CloseCause::Exit(ExitReason::Time)) => Self::ClosedTime,
            Some(CloseCause::Exit(_) | CloseCause::Stop) => Self::ClosedSl,
            Some(CloseCause::Breaker) => Self::ClosedBreaker,
            None => Self::ClosedManual,
        }
    }

    fn open(stage: Stage) -> Self {
        match stage {
            Stage::Open => Self::Open,
            Stage::Breakeven => Self::Breakeven,
            Stage::PartialTp => Self::PartialTp,
            Stage::Trailing => Self::Trailing,
        }
    }
}

/// A trade as `trades()` reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Trade {
    pub id: u64,
    pub symbol: String,
    pub side: &'static str,
    pub state: TradeState,
    pub method: &'static str,
    pub entry_ts: i64,
    pub entry_price: f64,
    pub quantity: f64,
    pub initial_stop: f64,
    pub stop: f64,
    pub target: f64,
    pub exit_ts: Option<i64>,
    pub exit_price: f64,
    pub pnl: f64,
    pub r_multiple: f64,
    pub mfe: f64,
    pub mae: f64,
    pub holding_ns: i64,
}

impl RiskEngine {
    /// Books a fill of `qty` at `price` that took position `i` from `before`, stopped at
    /// `last_stop`, to its current quantity, closing `pnl` if it closed a trade.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn book_fill(
        &mut self,
        i: usize,
        before: f64,
        last_stop: Option<f64>,
        qty: f64,
        price: f64,
        ts: i64,
        pnl: Option<f64>,
    ) {
        let approval = self.markets[i].approval.take();
        let t = self.positions[i].trade;
        if before != 0.0 && t != NO_TRADE {
            let rec = &mut self.trades[t as usize];
            if (before > 0.0) == (qty > 0.0) {
                rec.quantity = rec.quantity.max(self.positions[i].qty.abs());
                rec.entry_price = self.positions[i].avg;
            } else {
                let c = qty.abs().min(before.abs());
                rec.closed_qty += c;
                rec.closed_value += c * price;
            }
            if let Some(pnl) = pnl {
                let e = self.positions[i].exit;
                rec.closed = Some(Closed {
                    ts,
                    state: TradeState::closed(rec.plan.cause),
                    stop: if e.managed {
                        e.stop()
                    } else {
                        last_stop.unwrap_or(f64::NAN)
                    },
                    pnl,
                    best: e.best,
                    worst: e.worst,
                });
                self.positions[i].trade = NO_TRADE;
                self.positions[i].exit = Exit::NONE;
                if self.recent.len() == RECENT_TRADES {
                    self.recent.pop_front();
                }
                self.recent.push_back(pnl);
            }
        }
        let p = &self.positions[i];
        if p.is_open() && p.trade == NO_TRADE {
            let side = p.qty.signum();
            let managed = approval.filter(|a| a.side == side);
            let method = managed.map_or(SizedBy::Manual, |a| a.method);
            let (exit, plan) = match managed {
                Some(a) => Exit::managed(
                    side,
                    price,
                    a.stop,
                    a.target,
                    a.atr,
                    ts,
                    self.markets[i].bar_ns(),
                    &self.limits.policy,
                ),
                None => Exit::unmanaged(side, price),
            };
            self.trades.push(TradeRecord {
                symbol: i as u32,
                side,
                method,
                entry_ts: ts,
                entry_price: price,
                quantity: p.qty.abs(),
                initial_stop: managed.map_or(f64::NAN, |a| a.stop),
                target: managed.map_or(f64::NAN, |a| a.target),
                closed: None,
                closed_qty: 0.0,
                closed_value: 0.0,
                plan,
            });
            let p = &mut self.positions[i];
            p.trade = (self.trades.len() - 1) as u32;
            p.exit = exit;
            if let Some(a) = managed {
                p.stop = Some(a.stop);
            }
        }
    }

    /// Records the first cause of the close of position `i`'s open trade.
    pub(crate) fn mark_cause(&mut self, i: usize, cause: CloseCause) {
        let t = self.positions[i].trade;
        if t != NO_TRADE {
            self.trades[t as usize].plan.cause.get_or_insert(cause);
        }
    }

    /// Every trade in opening order.
    pub fn trades(&self) -> Vec<Trade> {
        (self.trades.iter().enumerate())
            .map(|(id, rec)| self.trade_view(id, rec))
            .collect()
    }

    fn trade_view(&self, id: usize, rec: &TradeRecord) -> Trade {
        let p = &self.positions[rec.symbol as usize];
        let r = rec.plan.r;
        let (state, stop, pnl, best, worst, exit_ts, end) = match rec.closed {
            Some(c) => (c.state, c.stop, c.pnl, c.best, c.worst, Some(c.ts), c.ts),
            None => {
                let e = &p.exit;
                let stop = if e.managed {
                    e.stop()
                } else {
                    p.stop.unwrap_or(f64::NAN)
                };
                (
                    TradeState::open(rec.plan.stage),
                    stop,
                    p.realized,
                    e.best,
                    e.worst,
                    None,
                    self.ts,
                )
            }
        };
        let entry_f = rec.side * rec.entry_price;
        Trade {
            id: id as u64,
            symbol: self.symbols[rec.symbol as usize].clone(),
            side: if rec.side > 0.0 { "long" } else { "short" },
            state,
            method: rec.method.name(),
            entry_ts: rec.entry_ts,
            entry_price: rec.entry_price,
            quantity: rec.quantity,
            initial_stop: rec.initial_stop,
            stop,
            target: rec.target,
            exit_ts,
            exit_price: if exit_ts.is_some() {
                rec.closed_value / rec.closed_qty
            } else {
                f64::NAN
            },
            pnl,
            // Without a positive risk per unit there is no R to measure in.
            r_multiple: if r > 0.0 {
                pnl / (rec.quantity * r)
            } else {
                f64::NAN
            },
            mfe: ((best - entry_f) * rec.quantity).max(0.0),
            mae: ((entry_f - worst) * rec.quantity).max(0.0),
            holding_ns: end.saturating_sub(rec.entry_ts),
        }
    }
}
