//! One replay: the engine and the paper account driven by an instrument's bars and signals,
//! step for step as `riskguard.app.backtest.run_guarded` drives a Guard and its paper broker
//! (the rules are in the module docs of `replay`).

use std::collections::BTreeMap;

use crate::engine::{Event, EventKind, Limits, RiskEngine, Side, Signal, SymbolRef, Trade};
use crate::error::Result;

use super::fills::{AccountSettings, Fill, Order, OrderType, Outcome, PaperAccount};
use super::input::Instrument;
use super::planner::{Book, Planned, execute, must_be_flat, plan};

const SYMBOL: SymbolRef<'static> = SymbolRef::Id(0);

/// The venue and the engine's start: the paper account's settings, and the engine's starting
/// equity (`guard.equity`; `None`: the account's cash, as a fresh Guard starts).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReplaySettings {
    pub account: AccountSettings,
    pub equity: Option<f64>,
}

/// A breaker trip or the kill switch, as a backtest reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Trip {
    pub ts: i64,
    pub breaker: &'static str,
    pub message: String,
}

/// A fill and the index of the bar it happened in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarFill {
    pub bar: usize,
    pub fill: Fill,
}

/// What a replay gives: the account's equity after every bar, the engine's trades (open ones
/// included), and, for a detailed replay, the fills, the decisions by reason code (`APPROVED`
/// for the approved, `INVALID_SIGNAL` for signals that are not valid) and the trips.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    pub equity: Vec<f64>,
    pub trades: Vec<Trade>,
    pub fills: Vec<BarFill>,
    pub decisions: BTreeMap<&'static str, u64>,
    pub trips: Vec<Trip>,
    /// Reducing orders the account ended unfilled (planner.rs: the Guard would resend them).
    pub dropped: u64,
}

/// Replays every bar of `inst` under `limits` and `settings`, with the details.
///
/// Errors: invalid limits or settings; an engine call the engine refuses (a fill beyond its
/// bounds), which a Guard would quarantine.
pub fn replay(inst: &Instrument, limits: &Limits, settings: &ReplaySettings) -> Result<Replay> {
    replay_range(inst, 0, inst.len(), limits, settings, true)
}

/// Replays the bars `start..end` of `inst` (and their signals) from a fresh engine and account;
/// `detail` collects the fills, decisions and trips.
pub fn replay_range(
    inst: &Instrument,
    start: usize,
    end: usize,
    limits: &Limits,
    settings: &ReplaySettings,
    detail: bool,
) -> Result<Replay> {
    let account = PaperAccount::new(settings.account)?;
    let equity = settings.equity.unwrap_or(settings.account.cash);
    let mut engine = RiskEngine::new(limits.clone(), equity, 0)?;
    engine.symbol_id(&inst.symbol)?;
    let mut run = Run {
        inst,
        engine,
        account,
        book: Book::default(),
        events: Vec::new(),
        outcomes: Vec::new(),
        actions: Vec::new(),
        detail,
        out: Replay {
            equity: Vec::with_capacity(end - start),
            ..Replay::default()
        },
    };
    let signals = inst.signals_in(start, end);
    let mut next = 0;
    for i in start..end {
        run.bar(i)?;
        while next < signals.len() && signals[next].bar == i {
            run.signal(signals[next].signal.as_ref())?;
            next += 1;
        }
        run.out.equity.push(run.account.equity());
    }
    run.out.trades = run.engine.trades();
    run.out.dropped = run.book.dropped;
    Ok(run.out)
}

struct Run<'a> {
    inst: &'a Instrument,
    engine: RiskEngine,
    account: PaperAccount,
    book: Book,
    events: Vec<Event>,
    outcomes: Vec<Outcome>,
    actions: Vec<Planned>,
    detail: bool,
    out: Replay,
}

impl Run<'_> {
    /// One bar, as `Guard.on_bar` with the simulation driver: the engine takes the bar, the
    /// account fills its working orders along the bar's path, the fills go to the engine, the
    /// engine is marked along the path its book's position picks, and the step's events
    /// become orders.
    fn bar(&mut self, i: usize) -> Result<()> {
        let inst = self.inst;
        let (o, h, l, c) = (inst.open[i], inst.high[i], inst.low[i], inst.close[i]);
        let ts = inst.ts[i];
        self.engine.on_bar(SYMBOL, o, h, l, c, inst.volume[i], ts)?;
        self.events.clear();
        self.outcomes.clear();
        self.account.on_bar(o, h, l, c, &mut self.outcomes);
        let mut filled = false;
        for k in 0..self.outcomes.len() {
            match self.outcomes[k] {
                Outcome::Filled(f) => {
                    let at = self.engine.ts();
                    (self.engine).on_fill(SYMBOL, f.qty, f.price, at, f.fee, &mut self.events)?;
                    self.book.applied(f.order, f.qty);
                    filled = true;
                    if self.detail {
                        self.out.fills.push(BarFill { bar: i, fill: f });
                    }
                }
                Outcome::Rejected(id) => self.book.ended(id),
            }
        }
        // Flat: the close only (one return a bar for the volatility estimate); with a
        // position, the adverse extreme first.
        let held = self.book.qty;
        let path = if held == 0.0 {
            &[c][..]
        } else if held > 0.0 {
            &[o, l, h, c][..]
        } else {
            &[o, h, l, c][..]
        };
        for &p in path {
            self.engine.on_tick(SYMBOL, p, ts, &mut self.events)?;
        }
        if !self.events.is_empty() || filled {
            if self.detail {
                self.trips();
            }
            self.actions.clear();
            plan(
                &self.engine,
                &self.book,
                &self.events,
                filled,
                &mut self.actions,
            );
            execute(
                &self.engine,
                &mut self.book,
                &mut self.account,
                &self.actions,
            );
        }
        self.book.sweep();
        Ok(())
    }

    /// One signal at the bar's close, as `Guard.submit`: the engine decides at its clock; an
    /// approval's market order goes to the account (in whole units when it takes no
    /// fractions), unless new risk is refused.
    fn signal(&mut self, signal: Option<&Signal>) -> Result<()> {
        let Some(sig) = signal else {
            if self.detail {
                self.count("INVALID_SIGNAL");
            }
            return Ok(());
        };
        let d = self.engine.evaluate_signal(sig, self.engine.ts())?;
        if self.detail {
            if d.approved {
                self.count("APPROVED");
            }
            let mut seen = Vec::with_capacity(d.reasons.len());
            for r in &d.reasons {
                if !seen.contains(&r.code) {
                    seen.push(r.code);
                    self.count(r.code.name());
                }
            }
        }
        if !d.approved {
            return Ok(());
        }
        let qty = match sig.side {
            Side::Long => d.quantity,
            Side::Short => -d.quantity,
        };
        let units = self.account.tradable(qty);
        // An approval implies an active, unpaused engine; the Guard checks again all the same.
        if units == 0.0 || self.engine.paused() || must_be_flat(&self.engine) {
            return Ok(());
        }
        let id = self.book.new_id();
        self.account.submit(Order {
            id,
            qty: units,
            kind: OrderType::Market,
        })?;
        Ok(())
    }

    fn count(&mut self, key: &'static str) {
        *self.out.decisions.entry(key).or_default() += 1;
    }

    fn trips(&mut self) {
        for e in &self.events {
            if matches!(e.kind, EventKind::BreakerTripped | EventKind::KillSwitch) {
                self.out.trips.push(Trip {
                    ts: e.ts,
                    breaker: e.breaker.map_or("", |b| b.name()),
                    message: self.engine.describe(e),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{LimitValue, TradeState};
    use crate::replay::costs::{Commission, Slippage};
    use crate::replay::input::{BarColumns, SignalColumns};

    const DAY: i64 = 86_400_000_000_000;

    /// Daily bars through `closes`, each opening at the previous close and ranging 1 % around
    /// its open and close; one long signal at the close of bar 0, stop 95, target 110.
    fn instrument(closes: &[f64]) -> Instrument {
        let n = closes.len();
        let ts: Vec<i64> = (0..n as i64).map(|k| k * DAY).collect();
        let open: Vec<f64> = (0..n)
            .map(|k| if k == 0 { closes[0] } else { closes[k - 1] })
            .collect();
        let high: Vec<f64> = (0..n).map(|k| open[k].max(closes[k]) * 1.01).collect();
        let low: Vec<f64> = (0..n).map(|k| open[k].min(closes[k]) * 0.99).collect();
        let volume = vec![0.0; n];
        let bars = BarColumns {
            ts: &ts,
            open: &open,
            high: &high,
            low: &low,
            close: closes,
            volume: &volume,
        };
        let signals = SignalColumns {
            bar: &[0],
            side: &[1],
            stop: Some(&[95.0]),
            target: Some(&[110.0]),
            ..Default::default()
        };
        Instrument::new("X", bars, signals).unwrap()
    }

    fn limits() -> Limits {
        Limits::build([
            ("signal_filters", LimitValue::Bool(false)),
            ("volatility_spike", LimitValue::Off),
        ])
        .unwrap()
    }

    #[test]
    fn an_entry_fills_at_the_next_open_and_its_target_exits_at_the_open_after() {
        let inst = instrument(&[100.0, 101.0, 103.0, 112.0, 113.0, 114.0]);
        let settings = ReplaySettings {
            account: AccountSettings {
                slippage: Slippage::FixedBps(10.0),
                commission: Commission::Percent(0.001),
                ..AccountSettings::default()
            },
            equity: None,
        };
        let out = replay(&inst, &limits(), &settings).unwrap();
        assert_eq!(out.decisions.get("APPROVED"), Some(&1));
        let (entry, exit) = (out.fills[0], out.fills[1]);
        // Bought at bar 1's open (bar 0's close) plus 10 bp; the target, crossed in bar 3,
        // sold at bar 4's open less 10 bp.
        assert_eq!((entry.bar, entry.fill.price), (1, 100.0 * 1.001));
        assert_eq!((exit.bar, exit.fill.price), (4, 112.0 * (1.0 - 0.001)));
        assert_eq!(exit.fill.qty, -entry.fill.qty);
        let trade = &out.trades[0];
        assert_eq!(trade.state, TradeState::ClosedTp);
        assert_eq!(trade.exit_ts, Some(4 * DAY));
        let fees = entry.fill.fee + exit.fill.fee;
        let pnl = entry.fill.qty * (exit.fill.price - entry.fill.price) - fees;
        assert!((trade.pnl - pnl).abs() < 1e-9, "{} vs {pnl}", trade.pnl);
        assert!((out.equity[5] - (100_000.0 + pnl)).abs() < 1e-9);
        assert_eq!(out.equity[0], 100_000.0);
    }

    #[test]
    fn a_stop_hit_inside_a_bar_exits_at_the_next_open() {
        // Bar 3 trades down through 95 (its low is 0.99 × 94): the stop's exit signal fires
        // on that bar's low, and the order fills at bar 4's open.
        let inst = instrument(&[100.0, 101.0, 100.0, 94.0, 93.0]);
        let out = replay(&inst, &limits(), &ReplaySettings::default()).unwrap();
        let trade = &out.trades[0];
        assert_eq!(trade.state, TradeState::ClosedSl);
        assert_eq!(out.fills[1].bar, 4);
        assert_eq!(out.fills[1].fill.price, 94.0);
        assert_eq!(out.dropped, 0);
    }

    #[test]
    fn a_range_starts_from_a_fresh_account() {
        let inst = instrument(&[100.0, 101.0, 103.0, 112.0, 113.0, 114.0]);
        let part = replay_range(&inst, 2, 6, &limits(), &ReplaySettings::default(), false).unwrap();
        // The signal is at bar 0, outside the range: nothing trades.
        assert_eq!(part.equity, vec![100_000.0; 4]);
        assert!(part.trades.is_empty() && part.fills.is_empty());
    }
}
