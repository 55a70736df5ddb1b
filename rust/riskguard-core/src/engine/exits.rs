//! The exit policy of a managed trade, run on each of its ticks (docs/gate.md, "Trades and
//! exits"). Prices are in favourable coordinates `f = side × price`, so that one set of
//! comparisons serves longs and shorts.

use serde::{Deserialize, Serialize};

use super::events::{Event, EventKind, TradingState};
use super::policy::{Knob, Policy};

/// Why an exit was requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ExitReason {
    StopLoss,
    BreakevenStop,
    TrailingStop,
    TakeProfit,
    PartialTakeProfit,
    Time,
}

impl ExitReason {
    /// The stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::StopLoss => "stop_loss",
            Self::BreakevenStop => "breakeven_stop",
            Self::TrailingStop => "trailing_stop",
            Self::TakeProfit => "take_profit",
            Self::PartialTakeProfit => "partial_take_profit",
            Self::Time => "time",
        }
    }
}

/// The first cause of a trade's close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CloseCause {
    Exit(ExitReason),
    /// A breaker's (or the kill switch's) flatten request.
    Breaker,
    /// The stop of an unmanaged position was hit.
    Stop,
}

/// How far a managed trade has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Stage {
    Open,
    Breakeven,
    PartialTp,
    Trailing,
}

/// The tick-path state of a position's trade.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Exit {
    /// A trade is open on the position.
    pub open: bool,
    /// The trade follows the exit policy.
    pub managed: bool,
    /// A full exit or a flatten was requested: no further exits.
    pub exiting: bool,
    pub side: f64,
    /// `side × entry` at the open.
    pub entry_f: f64,
    /// Risk per unit at the open.
    pub r: f64,
    /// Best and worst favourable prices seen.
    pub best: f64,
    pub worst: f64,
    pub stop_f: f64,
    pub target_f: f64,
    /// Pending levels; infinity once reached or off.
    pub be_f: f64,
    pub partial_f: f64,
    pub trail_f: f64,
    /// The lowest pending level or target: below it, a tick has nothing to do but track.
    pub next_f: f64,
    pub trail_dist: f64,
    pub trailing: bool,
    /// The breakeven level was reached.
    pub be_done: bool,
    pub stage: Stage,
    /// No progress by this time exits the trade.
    pub deadline: i64,
    pub window: i64,
    pub cause: Option<CloseCause>,
}

impl Exit {
    pub const NONE: Exit = Exit {
        open: false,
        managed: false,
        exiting: false,
        side: 1.0,
        entry_f: f64::NAN,
        r: f64::NAN,
        best: f64::NAN,
        worst: f64::NAN,
        stop_f: f64::NEG_INFINITY,
        target_f: f64::INFINITY,
        be_f: f64::INFINITY,
        partial_f: f64::INFINITY,
        trail_f: f64::INFINITY,
        next_f: f64::INFINITY,
        trail_dist: f64::NAN,
        trailing: false,
        be_done: false,
        stage: Stage::Open,
        deadline: i64::MAX,
        window: i64::MAX,
        cause: None,
    };

    /// An unmanaged trade opened at `price`: excursions are tracked, nothing exits.
    pub fn unmanaged(side: f64, price: f64) -> Self {
        Exit {
            open: true,
            side,
            entry_f: side * price,
            best: side * price,
            worst: side * price,
            ..Self::NONE
        }
    }

    /// A managed trade opened at `price` with the decision's stop, target and ATR.
    pub fn managed(side: f64, price: f64, stop: f64, target: f64, atr: f64, ts: i64, p: &Policy) -> Self {
        let entry_f = side * price;
        let r = (price - stop).abs();
        let level = |k: Knob| match p.get(k) {
            Some(m) if r > 0.0 => entry_f + m * r,
            _ => f64::INFINITY,
        };
        let trail_dist = p.get(Knob::TrailAtr).map_or(f64::NAN, |k| k * atr);
        let window = p
            .get(Knob::MaxHoursNoProgress)
            .map_or(i64::MAX, |h| (h * 3.6e12).round() as i64);
        let mut e = Exit {
            open: true,
            managed: true,
            side,
            entry_f,
            r,
            best: entry_f,
            worst: entry_f,
            stop_f: side * stop,
            target_f: if target.is_nan() { f64::INFINITY } else { side * target },
            be_f: level(Knob::BreakevenR),
            partial_f: level(Knob::PartialTpR),
            trail_f: if trail_dist.is_nan() { f64::INFINITY } else { level(Knob::TrailStartR) },
            trail_dist,
            deadline: ts.saturating_add(window),
            window,
            ..Self::NONE
        };
        e.relevel();
        e
    }

    fn relevel(&mut self) {
        self.next_f = self.target_f.min(self.be_f).min(self.partial_f).min(self.trail_f);
    }

    /// The stop as a price.
    pub fn stop(&self) -> f64 {
        self.side * self.stop_f
    }

    /// One tick at `price` for a position holding `qty` (docs/gate.md, steps 1–4). Returns
    /// whether the stop moved.
    #[inline(always)]
    pub fn on_tick(&mut self, price: f64, ts: i64, qty: f64, p: &Policy, sym: u32, state: TradingState, out: &mut Vec<Event>) -> bool {
        let f = self.side * price;
        let worse = f < self.worst;
        self.worst = if worse { f } else { self.worst };
        let better = f > self.best;
        if better {
            self.best = f;
            self.deadline = ts.saturating_add(self.window);
        }
        if !self.managed | self.exiting {
            return false;
        }
        let stop_before = self.stop_f;
        if (f <= self.stop_f) | (f >= self.next_f) | (ts >= self.deadline) {
            self.decide(f, ts, qty, p, sym, state, out);
        }
        if self.trailing {
            self.stop_f = self.stop_f.max(self.best - self.trail_dist);
        }
        self.stop_f != stop_before
    }

    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn decide(&mut self, f: f64, ts: i64, qty: f64, p: &Policy, sym: u32, state: TradingState, out: &mut Vec<Event>) {
        let exit = |reason: ExitReason, value: f64, threshold: f64, out: &mut Vec<Event>| {
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
            } else if self.be_done {
                ExitReason::BreakevenStop
            } else {
                ExitReason::StopLoss
            };
            self.finish(reason);
            exit(reason, all, self.stop(), out);
            return;
        }
        if f >= self.target_f {
            self.finish(ExitReason::TakeProfit);
            exit(ExitReason::TakeProfit, all, self.side * self.target_f, out);
            return;
        }
        if f >= self.be_f {
            self.be_f = f64::INFINITY;
            self.be_done = true;
            let offset = p.get(Knob::BreakevenOffset).unwrap_or(0.0);
            let entry = self.side * self.entry_f;
            let be = self.side * (entry * (1.0 + self.side * offset));
            self.stop_f = self.stop_f.max(be);
            self.stage = self.stage.max(Stage::Breakeven);
        }
        if f >= self.partial_f {
            let level = self.side * self.partial_f;
            self.partial_f = f64::INFINITY;
            self.stage = self.stage.max(Stage::PartialTp);
            let fraction = p.get(Knob::PartialTpFraction).unwrap_or(0.0);
            exit(ExitReason::PartialTakeProfit, fraction * all, level, out);
        }
        if f >= self.trail_f {
            self.trail_f = f64::INFINITY;
            self.trailing = true;
            self.stage = Stage::Trailing;
        }
        self.relevel();
        if ts >= self.deadline {
            self.finish(ExitReason::Time);
            exit(ExitReason::Time, all, f64::NAN, out);
        }
    }

    fn finish(&mut self, reason: ExitReason) {
        self.exiting = true;
        self.cause.get_or_insert(CloseCause::Exit(reason));
    }
}
