//! The exit policy of a managed trade, run on each of its ticks (docs/gate.md, "Trades and
//! exits"). Prices are in favourable coordinates `f = side × price`, so that one set of
//! comparisons serves longs and shorts.

use serde::{Deserialize, Serialize};

use super::events::Event;
use super::policy::{Knob, Policy};
use super::vocab::{EventKind, TradingState};
// In vocab.rs, and here too so that `engine::exits::ExitReason` still names them.
pub use super::vocab::{CloseCause, ExitReason};

/// How far a managed trade has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Stage {
    Open,
    Breakeven,
    PartialTp,
    Trailing,
}

/// The tick-path state of a position's trade: only what every tick reads.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Exit {
    /// A trade is open on the position.
    pub open: bool,
    /// The trade follows the exit policy.
    pub managed: bool,
    /// A full exit or a flatten was requested: no further exits.
    pub exiting: bool,
    pub trailing: bool,
    pub side: f64,
    /// Best and worst favourable prices seen.
    pub best: f64,
    pub worst: f64,
    pub stop_f: f64,
    /// The lowest pending level or target: below it, a tick has nothing to do but track.
    pub next_f: f64,
    pub trail_dist: f64,
    /// No progress by this time exits the trade.
    pub deadline: i64,
    pub window: i64,
}

/// The rest of a trade's exit state, read only when a tick reaches a level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Plan {
    /// `side × entry` at the open.
    pub entry_f: f64,
    /// Risk per unit at the open.
    pub r: f64,
    pub target_f: f64,
    /// Pending levels; infinity once reached or off.
    pub be_f: f64,
    pub partial_f: f64,
    pub trail_f: f64,
    /// The breakeven level was reached.
    pub be_done: bool,
    pub stage: Stage,
    pub cause: Option<CloseCause>,
}

impl Plan {
    pub const NONE: Plan = Plan {
        entry_f: f64::NAN,
        r: f64::NAN,
        target_f: f64::INFINITY,
        be_f: f64::INFINITY,
        partial_f: f64::INFINITY,
        trail_f: f64::INFINITY,
        be_done: false,
        stage: Stage::Open,
        cause: None,
    };

    fn next(&self) -> f64 {
        self.target_f
            .min(self.be_f)
            .min(self.partial_f)
            .min(self.trail_f)
    }
}

impl Exit {
    pub const NONE: Exit = Exit {
        open: false,
        managed: false,
        exiting: false,
        trailing: false,
        side: 1.0,
        best: f64::NAN,
        worst: f64::NAN,
        stop_f: f64::NEG_INFINITY,
        next_f: f64::INFINITY,
        trail_dist: f64::NAN,
        deadline: i64::MAX,
        window: i64::MAX,
    };

    /// An unmanaged trade opened at `price`: excursions are tracked, nothing exits.
    pub fn unmanaged(side: f64, price: f64) -> (Self, Plan) {
        let exit = Exit {
            open: true,
            side,
            best: side * price,
            worst: side * price,
            ..Self::NONE
        };
        let plan = Plan {
            entry_f: side * price,
            ..Plan::NONE
        };
        (exit, plan)
    }

    /// A managed trade opened at `price` with the decision's stop, target and ATR; `bar_ns`
    /// is the symbol's bar length, when known, which `max_bars_no_progress` counts in.
    #[allow(clippy::too_many_arguments)]
    pub fn managed(
        side: f64,
        price: f64,
        stop: f64,
        target: f64,
        atr: f64,
        ts: i64,
        bar_ns: Option<i64>,
        p: &Policy,
    ) -> (Self, Plan) {
        let entry_f = side * price;
        let r = (price - stop).abs();
        let level = |k: Knob| match p.get(k) {
            Some(m) if r > 0.0 => entry_f + m * r,
            _ => f64::INFINITY,
        };
        let trail_dist = p.get(Knob::TrailAtr).map_or(f64::NAN, |k| k * atr);
        // At least 1 ns, so that a tick making progress never times out. Bars are counted as
        // their length in time; without a known bar length only the hours apply.
        let hours = p
            .get(Knob::MaxHoursNoProgress)
            .map_or(i64::MAX, |h| ((h * 3.6e12).round() as i64).max(1));
        let bars = match (p.get(Knob::MaxBarsNoProgress), bar_ns) {
            (Some(n), Some(len)) => (n as i64).saturating_mul(len).max(1),
            _ => i64::MAX,
        };
        let window = hours.min(bars);
        let plan = Plan {
            entry_f,
            r,
            target_f: if target.is_nan() {
                f64::INFINITY
            } else {
                side * target
            },
            be_f: level(Knob::BreakevenR),
            partial_f: match p.get(Knob::PartialTpFraction) {
                Some(_) => level(Knob::PartialTpR),
                None => f64::INFINITY,
            },
            trail_f: if trail_dist.is_nan() {
                f64::INFINITY
            } else {
                level(Knob::TrailStartR)
            },
            ..Plan::NONE
        };
        let exit = Exit {
            open: true,
            managed: true,
            side,
            best: entry_f,
            worst: entry_f,
            stop_f: side * stop,
            next_f: plan.next(),
            trail_dist,
            deadline: ts.saturating_add(window),
            window,
            ..Self::NONE
        };
        (exit, plan)
    }

    /// The stop as a price; NaN when there is none.
    pub fn stop(&self) -> f64 {
        if self.stop_f.is_finite() {
            self.side * self.stop_f
        } else {
            f64::NAN
        }
    }

    /// The stop as the position holds it.
    pub fn stop_price(&self) -> Option<f64> {
        self.stop_f.is_finite().then(|| self.side * self.stop_f)
    }

    /// Step 1 of a tick at `price` (docs/gate.md): tracks the excursions and progress. Returns
    /// whether the tick reaches the stop, a level, the target or the time limit, so that
    /// [`Exit::decide`] must run, and whether it made a new best.
    #[inline(always)]
    pub fn track(&mut self, price: f64, ts: i64) -> (bool, bool) {
        // Selects, not branches: whether a tick of a random walk makes a new best is a coin
        // toss the branch predictor would lose.
        let f = self.side * price;
        self.worst = self.worst.min(f);
        let better = f > self.best;
        self.best = self.best.max(f);
        let renewed = ts.saturating_add(self.window);
        self.deadline = if better { renewed } else { self.deadline };
        let due = (f <= self.stop_f) | (f >= self.next_f) | (ts >= self.deadline);
        (self.managed & !self.exiting & due, better)
    }

    /// Step 4's trailing stop after a new best (the only time it can move). Returns whether
    /// it moved.
    #[inline(always)]
    pub fn trail(&mut self) -> bool {
        if !self.trailing || self.exiting {
            return false;
        }
        let stop = self.stop_f.max(self.best - self.trail_dist);
        let moved = stop != self.stop_f;
        self.stop_f = stop;
        moved
    }

    /// Steps 2–4 for a tick at `price` of a position holding `qty`.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub fn decide(
        &mut self,
        plan: &mut Plan,
        price: f64,
        ts: i64,
        qty: f64,
        p: &Policy,
        sym: u32,
        state: TradingState,
        out: &mut Vec<Event>,
    ) {
        let f = self.side * price;
        let mut exit = |reason: ExitReason, value: f64, threshold: f64| {
            out.push(Event {
                kind: EventKind::ExitSignal,
                breaker: None,
                symbol: Some(sym),
                value,
                threshold,
                action: None,
                ts,
                state,
                reason: Some(reason),
            });
        };
        let all = qty.abs();
        if f <= self.stop_f {
            let reason = if self.trailing {
                ExitReason::TrailingStop
            } else if plan.be_done {
                ExitReason::BreakevenStop
            } else {
                ExitReason::StopLoss
            };
            self.finish(plan, reason);
            exit(reason, all, self.stop());
            return;
        }
        if f >= plan.target_f {
            self.finish(plan, ExitReason::TakeProfit);
            exit(ExitReason::TakeProfit, all, self.side * plan.target_f);
            return;
        }
        if f >= plan.be_f {
            plan.be_f = f64::INFINITY;
            plan.be_done = true;
            let offset = p.get(Knob::BreakevenOffset).unwrap_or(0.0);
            let entry = self.side * plan.entry_f;
            let be = self.side * (entry * (1.0 + self.side * offset));
            self.stop_f = self.stop_f.max(be);
            plan.stage = plan.stage.max(Stage::Breakeven);
        }
        if f >= plan.partial_f {
            let level = self.side * plan.partial_f;
            plan.partial_f = f64::INFINITY;
            plan.stage = plan.stage.max(Stage::PartialTp);
            let fraction = p.get(Knob::PartialTpFraction).unwrap_or(0.0);
            exit(ExitReason::PartialTakeProfit, fraction * all, level);
        }
        if f >= plan.trail_f {
            plan.trail_f = f64::INFINITY;
            self.trailing = true;
            plan.stage = Stage::Trailing;
        }
        self.next_f = plan.next();
        if ts >= self.deadline {
            self.finish(plan, ExitReason::Time);
            exit(ExitReason::Time, all, f64::NAN);
        }
    }

    fn finish(&mut self, plan: &mut Plan, reason: ExitReason) {
        self.exiting = true;
        plan.cause.get_or_insert(CloseCause::Exit(reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Along any path: the stop never loosens, stays on the loss side of the best price,
        /// and the exits requested never exceed the quantity held when the caller fills each.
        #[test]
        fn stops_only_tighten_and_exits_never_exceed_the_position(
            long in any::<bool>(),
            steps in proptest::collection::vec(-3.0..3.2f64, 1..300),
        ) {
            let side = if long { 1.0 } else { -1.0 };
            let policy = Policy::default();
            let (entry, atr) = (100.0, 2.0);
            let stop = entry - side * 1.5 * atr;
            let target = entry + side * 3.75 * atr;
            let (mut exit, mut plan) = Exit::managed(side, entry, stop, target, atr, 0, None, &policy);
            let mut qty = side * 8.0;
            let mut price = entry;
            let mut out = Vec::new();
            for (k, step) in steps.iter().enumerate() {
                price = (price + step).max(1.0);
                let before = exit.stop_f;
                let ts = (k as i64 + 1) * 60_000_000_000;
                if exit.track(price, ts).0 {
                    exit.decide(&mut plan, price, ts, qty, &policy, 0, TradingState::Active, &mut out);
                }
                exit.trail();
                prop_assert!(exit.stop_f >= before, "the stop loosened: {before} → {}", exit.stop_f);
                prop_assert!(exit.stop_f < exit.best, "stop {} not below best {}", exit.stop_f, exit.best);
                for e in out.drain(..) {
                    prop_assert!(e.value <= qty.abs() + 1e-12, "exit {} of {}", e.value, qty);
                    qty -= side * e.value;
                }
                if exit.exiting {
                    prop_assert!(qty.abs() < 1e-12);
                    break;
                }
            }
        }
    }
}
