//! The risk engine's life and hot paths: construction, symbols, fills and ticks (marking the
//! portfolio to market and running the breakers in the same step), the kill switch, pause and
//! reset, and event messages. The contract is docs/engine.md; the state is in state.rs.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap;

use crate::error::{Result, RiskError, num};
use crate::stream::z_score;

use super::events::Event;
use super::limits::Limits;
use super::policy::Knob;
use super::portfolio::Position;
use super::session::{SessionClock, SessionKeys};
use super::state::{BreakerState, Market, RiskEngine, Session};
use super::vocab::{
    Action, Breaker, CloseCause, EventKind, MAX_AMOUNT, MAX_PRICE, MAX_QTY, MIN_PRICE, NO_TRADE,
    SymbolRef, TradingState, check_price, check_qty, in_range,
};

impl RiskEngine {
    /// A flat account holding `equity` in cash at `ts`.
    ///
    /// Errors: `equity` not in (0, `MAX_AMOUNT`]; invalid limits.
    pub fn new(limits: Limits, equity: f64, ts: i64) -> Result<Self> {
        if !(equity > 0.0 && equity <= MAX_AMOUNT) {
            return Err(RiskError::invalid(
                "equity",
                format!(
                    "must be finite, > 0 and ≤ {MAX_AMOUNT:e}, got {}",
                    num(equity)
                ),
            ));
        }
        let limits = limits.validate()?;
        let clock = SessionClock::new(limits.reset_s, limits.utc_offset_s);
        let keys = clock.keys(ts);
        let session = |key| Session {
            key,
            open_equity: equity,
        };
        Ok(Self {
            limits,
            clock,
            symbols: Vec::new(),
            index: FxHashMap::default(),
            positions: Vec::new(),
            cash: equity,
            equity,
            peak: equity,
            gross: 0.0,
            net: 0.0,
            heat: 0.0,
            heated: 0,
            max_notional: 0.0,
            max_arg: 0,
            max_exact: true,
            realized: 0.0,
            sessions: [session(keys.day), session(keys.week), session(keys.month)],
            next_day_start: clock.next_day_start(keys.day),
            breakers: [BreakerState::default(); 11],
            armed: [f64::INFINITY; 10],
            rearm_pending: 0,
            rearm_after: i64::MAX,
            position_loss_t: None,
            spike_t: f64::INFINITY,
            spike_t2: f64::INFINITY,
            tripped_positions: 0,
            spiking: 0,
            streak: 0,
            state: TradingState::Active,
            kill_reason: String::new(),
            paused: false,
            pause_reason: String::new(),
            ts,
            markets: Vec::new(),
            trades: Vec::new(),
            recent: VecDeque::new(),
            correlations: BTreeMap::new(),
            orders: VecDeque::new(),
        }
        .refreshed())
    }

    fn refreshed(mut self) -> Self {
        self.refresh_breakers();
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn state(&self) -> TradingState {
        self.state
    }

    /// Whether new risk is paused (`pause` until `resume`).
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Why new risk is paused; empty when it is not, or when no reason was given.
    pub fn pause_reason(&self) -> &str {
        &self.pause_reason
    }

    /// The last timestamp seen.
    pub fn ts(&self) -> i64 {
        self.ts
    }

    /// Interned symbols, by id.
    pub fn symbols(&self) -> &[String] {
        &self.symbols
    }

    /// The id of `symbol`, interning it on first use.
    ///
    /// Errors: an empty name; more than 2³² symbols.
    pub fn symbol_id(&mut self, symbol: &str) -> Result<u32> {
        if let Some(&id) = self.index.get(symbol) {
            return Ok(id);
        }
        if symbol.is_empty() {
            return Err(RiskError::invalid("symbol", "must not be empty"));
        }
        let id = u32::try_from(self.symbols.len())
            .map_err(|_| RiskError::invalid("symbol", "table is full (2^32 symbols)"))?;
        self.symbols.push(symbol.to_owned());
        self.index.insert(symbol.to_owned(), id);
        self.positions.push(Position::new());
        let pol = &self.limits.policy;
        self.markets.push(Market::new(
            pol.req(Knob::AtrPeriod) as u32,
            pol.req(Knob::EmaPeriod) as u32,
        ));
        Ok(id)
    }

    /// The id of an interned symbol.
    ///
    /// Errors: an unknown name or id.
    pub fn lookup(&self, symbol: SymbolRef<'_>) -> Result<usize> {
        match symbol {
            SymbolRef::Id(id) if (id as usize) < self.symbols.len() => Ok(id as usize),
            SymbolRef::Id(id) => Err(RiskError::invalid(
                "symbol",
                format!("is not a known symbol id, got {id}"),
            )),
            SymbolRef::Name(name) => self.index.get(name).map(|&i| i as usize).ok_or_else(|| {
                RiskError::invalid("symbol", format!("is not a known symbol, got {name:?}"))
            }),
        }
    }

    pub(crate) fn check_ts(&self, ts: i64) -> Result<()> {
        if ts < self.ts {
            Err(RiskError::invalid(
                "ts",
                format!("must not go backwards: got {ts}, last {}", self.ts),
            ))
        } else {
            Ok(())
        }
    }

    /// Records a fill of signed `qty` (+ buy, − sell) at `price`, paying `fee`, then runs the
    /// breakers. A name is interned on first use.
    ///
    /// Errors: `qty` zero or beyond ±`MAX_QTY` (alone or with the position); `price` outside
    /// [`MIN_PRICE`, `MAX_PRICE`]; `fee` outside [0, `MAX_AMOUNT`]; `ts` earlier than the last;
    /// an unknown id.
    pub fn on_fill(
        &mut self,
        symbol: SymbolRef<'_>,
        qty: f64,
        price: f64,
        ts: i64,
        fee: f64,
        out: &mut Vec<Event>,
    ) -> Result<()> {
        check_qty(qty)?;
        check_price("price", price)?;
        if !(0.0..=MAX_AMOUNT).contains(&fee) {
            return Err(RiskError::invalid(
                "fee",
                format!("must be finite, ≥ 0 and ≤ {MAX_AMOUNT:e}, got {}", num(fee)),
            ));
        }
        self.check_ts(ts)?;
        let existing = match symbol {
            SymbolRef::Name(name) if !self.index.contains_key(name) => {
                if name.is_empty() {
                    return Err(RiskError::invalid("symbol", "must not be empty"));
                }
                None
            }
            s => Some(self.lookup(s)?),
        };
        let mut after = existing.map_or_else(Position::new, |i| self.positions[i]);
        let outcome = after.apply_fill(qty, price, fee);
        let cash = self.cash - qty * price - fee;
        // Equity is bounded by |cash| + gross, so a finite bound means every aggregate stays
        // finite too.
        let others: f64 = (self.positions.iter().enumerate())
            .filter(|&(j, _)| Some(j) != existing)
            .map(|(_, p)| p.notional())
            .sum();
        if after.qty.abs() > MAX_QTY {
            return Err(RiskError::invalid(
                "qty",
                format!(
                    "would take the position beyond ±{MAX_QTY:e}: {} + {}",
                    num(after.qty - qty),
                    num(qty)
                ),
            ));
        }
        if !(after.realized.is_finite() && (cash.abs() + others + after.notional()).is_finite()) {
            return Err(RiskError::invalid(
                "qty",
                format!("overflows the account: {} at {}", num(qty), num(price)),
            ));
        }
        let i = match (existing, symbol) {
            (Some(i), _) => i,
            (None, SymbolRef::Name(name)) => self.symbol_id(name)? as usize,
            (None, SymbolRef::Id(_)) => unreachable!("ids are looked up"),
        };
        let start = out.len();
        self.roll(ts);
        self.ts = ts;
        self.cash = cash;
        self.realized = self.realized + outcome.realized_piece - fee;
        let (before, last_stop) = (self.positions[i].qty, self.positions[i].stop);
        self.positions[i] = after;
        self.book_fill(i, before, last_stop, qty, price, ts, outcome.closed_trade);
        if let Some(trade) = outcome.closed_trade {
            self.streak = if trade < 0.0 { self.streak + 1 } else { 0 };
            if self.positions[i].loss_tripped {
                self.rearm_position(i, f64::NAN, ts, out);
            }
        }
        self.revalue();
        self.evaluate(i, ts, out, start);
        Ok(())
    }

    /// Recomputes equity, exposures, heat and the largest notional from every position.
    pub(crate) fn revalue(&mut self) {
        let t = self.limits.spec(Breaker::PositionLoss).map(|s| s.threshold);
        let (mut value, mut gross, mut net, mut heat) = (0.0, 0.0, 0.0, 0.0);
        let mut heated = 0;
        let (mut max, mut arg) = (0.0, 0);
        for (i, p) in self.positions.iter_mut().enumerate() {
            p.heat = p.heat_money(t);
            if p.is_open() {
                let v = p.qty * p.mark;
                value += v;
                net += v;
                gross += v.abs();
                heat += p.heat;
                heated += u32::from(p.heat > 0.0);
                if v.abs() > max {
                    (max, arg) = (v.abs(), i);
                }
            }
        }
        self.equity = self.cash + value;
        self.gross = gross;
        self.net = net;
        self.heat = heat;
        self.heated = heated;
        (self.max_notional, self.max_arg, self.max_exact) = (max, arg, true);
        self.peak = self.peak.max(self.equity);
    }

    /// Sets the stop of an open position, or clears it with `None`. Heat changes at once; the
    /// breakers see it on the next tick or fill.
    ///
    /// Errors: an unknown symbol; no open position; a stop outside [`MIN_PRICE`, `MAX_PRICE`].
    pub fn set_stop(&mut self, symbol: SymbolRef<'_>, stop: Option<f64>) -> Result<()> {
        let i = self.lookup(symbol)?;
        if let Some(s) = stop {
            check_price("price", s)?;
        }
        if !self.positions[i].is_open() {
            return Err(RiskError::invalid(
                "symbol",
                format!("has no open position to stop: {:?}", self.symbols[i]),
            ));
        }
        let t = self.limits.spec(Breaker::PositionLoss).map(|s| s.threshold);
        let p = &mut self.positions[i];
        p.stop = stop;
        p.stop_hit = false;
        // A managed trade exits at the stop it is given; its policy may tighten it later.
        if p.exit.managed {
            p.exit.stop_f = stop.map_or(f64::NEG_INFINITY, |s| p.exit.side * s);
        }
        let old = p.heat;
        p.heat = p.heat_money(t);
        move_heat(&mut self.heat, &mut self.heated, old, p.heat);
        Ok(())
    }

    /// Marks `symbol` to `price` at `ts`, updates every metric and runs every breaker.
    ///
    /// Errors: an unknown symbol; `price` outside [`MIN_PRICE`, `MAX_PRICE`]; `ts` earlier than
    /// the last.
    pub fn on_tick(
        &mut self,
        symbol: SymbolRef<'_>,
        price: f64,
        ts: i64,
        out: &mut Vec<Event>,
    ) -> Result<()> {
        let i = self.lookup(symbol)?;
        check_price("price", price)?;
        self.check_ts(ts)?;
        self.tick(i, price, ts, out);
        Ok(())
    }

    /// [`RiskEngine::on_tick`] over arrays of ids, prices and timestamps. The whole batch is
    /// checked before any of it is applied; the result equals `on_tick` in a loop.
    ///
    /// Errors: lengths that differ; any bad id, price or timestamp (the first bad id is named,
    /// else the first bad price, else the first timestamp going backwards).
    pub fn on_ticks(
        &mut self,
        ids: &[u32],
        prices: &[f64],
        ts: &[i64],
        out: &mut Vec<Event>,
    ) -> Result<()> {
        if ids.len() != prices.len() || ids.len() != ts.len() {
            return Err(RiskError::invalid(
                "symbol_ids, prices, ts",
                format!(
                    "must have equal lengths, got {}, {}, {}",
                    ids.len(),
                    prices.len(),
                    ts.len()
                ),
            ));
        }
        let n = self.symbols.len();
        // One pass decides; the detailed passes below only name the first culprit.
        let mut last = self.ts;
        let mut valid = true;
        for k in 0..ids.len() {
            valid &= (ids[k] as usize) < n && in_range(prices[k]) && ts[k] >= last;
            last = ts[k];
        }
        if valid {
            for k in 0..ids.len() {
                self.tick(ids[k] as usize, prices[k], ts[k], out);
            }
            return Ok(());
        }
        if let Some(k) = ids.iter().position(|&id| id as usize >= n) {
            return Err(RiskError::invalid(
                "symbol_ids",
                format!("[{k}] is not a known symbol id, got {}", ids[k]),
            ));
        }
        if let Some(k) = prices.iter().position(|p| !in_range(*p)) {
            return Err(RiskError::invalid(
                "prices",
                format!(
                    "[{k}] must be finite and in [{MIN_PRICE:e}, {MAX_PRICE:e}], got {}",
                    num(prices[k])
                ),
            ));
        }
        let mut last = self.ts;
        for (k, &t) in ts.iter().enumerate() {
            if t < last {
                return Err(RiskError::invalid(
                    "ts",
                    format!("[{k}] must not go backwards: got {t}, previous {last}"),
                ));
            }
            last = t;
        }
        unreachable!("the first pass found a bad tick")
    }

    /// One validated tick (docs/engine.md, "Ticks").
    #[inline]
    fn tick(&mut self, i: usize, price: f64, ts: i64, out: &mut Vec<Event>) {
        let start = out.len();
        self.roll(ts);
        self.ts = ts;
        let (lambda, warmup) = (self.limits.volatility_lambda, self.limits.volatility_warmup);
        let t = self.position_loss_t;
        let p = &mut self.positions[i];
        if p.last_tick > 0.0 {
            let r = (price / p.last_tick).ln();
            if p.vol.count() >= warmup {
                let var = p.vol.variance();
                p.scored = (r, var);
                // r² clearly under t²·var puts the score clearly under t without the square
                // root and the division; the margin dwarfs their rounding.
                let spiking = r * r >= self.spike_t2 * var && z_score(r, var) >= self.spike_t;
                if spiking != p.spiking {
                    p.spiking = spiking;
                    if spiking {
                        self.spiking += 1;
                    } else {
                        self.spiking -= 1;
                    }
                }
            }
            p.vol.update(r, lambda, warmup);
        }
        p.last_tick = price;
        let m0 = p.mark;
        p.mark = price;
        if p.exit.open {
            let (due, better) = p.exit.track(price, ts);
            if due {
                let plan = &mut self.trades[p.trade as usize].plan;
                let (pol, state) = (&self.limits.policy, self.state);
                p.exit
                    .decide(plan, price, ts, p.qty, pol, i as u32, state, out);
                p.exit.trail();
                p.stop = p.exit.stop_price();
            } else if p.exit.trailing && better && p.exit.trail() {
                p.stop = p.exit.stop_price();
            }
        }
        if p.is_open() {
            let q = p.qty;
            let d = price - m0;
            self.equity += q * d;
            self.net += q * d;
            self.gross += q.abs() * d;
            let old = p.heat;
            p.heat = p.heat_money(t);
            move_heat(&mut self.heat, &mut self.heated, old, p.heat);
            // The bound stays exact when this position takes the lead, and becomes loose when
            // the leader shrinks. Selects, not branches: which one happens is a coin toss.
            let notional = (q * price).abs();
            let leads = notional >= self.max_notional;
            self.max_exact = leads | (self.max_exact & (i != self.max_arg));
            self.max_arg = if leads { i } else { self.max_arg };
            self.max_notional = self.max_notional.max(notional);
            self.peak = self.peak.max(self.equity);
            if !p.exit.managed && p.stop_crossed() && !p.stop_hit {
                p.stop_hit = true;
                let t = p.trade;
                if t != NO_TRADE {
                    self.trades[t as usize]
                        .plan
                        .cause
                        .get_or_insert(CloseCause::Stop);
                }
                let stop = p.stop.unwrap_or(f64::NAN);
                out.push(Event {
                    kind: EventKind::StopHit,
                    breaker: None,
                    symbol: Some(i as u32),
                    value: price,
                    threshold: stop,
                    action: Some(Action::ClosePosition),
                    ts,
                    state: self.state,
                    reason: None,
                });
            }
        }
        self.evaluate(i, ts, out, start);
    }

    /// Starts new sessions when `ts` crosses a day boundary: their open equity is the equity
    /// carried in.
    #[inline]
    pub(crate) fn roll(&mut self, ts: i64) {
        if ts < self.next_day_start {
            return;
        }
        let SessionKeys { day, week, month } = self.clock.keys(ts);
        for (session, key) in self.sessions.iter_mut().zip([day, week, month]) {
            if session.key != key {
                *session = Session {
                    key,
                    open_equity: self.equity,
                };
            }
        }
        self.next_day_start = self.clock.next_day_start(day);
    }

    /// Engages the latched kill switch: HALTED, and a flatten request for every open position.
    /// A second kill while engaged does nothing.
    ///
    /// Errors: `ts` earlier than the last.
    pub fn kill(&mut self, reason: &str, ts: i64, out: &mut Vec<Event>) -> Result<()> {
        self.check_ts(ts)?;
        let start = out.len();
        self.roll(ts);
        self.ts = ts;
        if self.breakers[Breaker::KillSwitch.index()].tripped {
            return Ok(());
        }
        self.kill_reason = reason.to_owned();
        self.engage(
            Breaker::KillSwitch,
            EventKind::KillSwitch,
            None,
            f64::NAN,
            ts,
            out,
            start,
        );
        Ok(())
    }

    /// Pauses new risk: the gate refuses it with `TRADING_PAUSED` until `resume`. Unlike a
    /// breaker it leaves the trading state alone and requests no flatten, so exits still pass.
    /// Pausing a paused engine does nothing (the first reason is kept).
    ///
    /// Errors: `ts` earlier than the last.
    pub fn pause(&mut self, reason: &str, ts: i64, out: &mut Vec<Event>) -> Result<()> {
        self.check_ts(ts)?;
        self.roll(ts);
        self.ts = ts;
        if self.paused {
            return Ok(());
        }
        self.paused = true;
        self.pause_reason = reason.to_owned();
        out.push(self.control_event(EventKind::Paused, ts));
        Ok(())
    }

    /// Lifts a `pause`. Resuming an engine that is not paused does nothing.
    ///
    /// Errors: `ts` earlier than the last.
    pub fn resume(&mut self, ts: i64, out: &mut Vec<Event>) -> Result<()> {
        self.check_ts(ts)?;
        self.roll(ts);
        self.ts = ts;
        if !self.paused {
            return Ok(());
        }
        self.paused = false;
        self.pause_reason.clear();
        out.push(self.control_event(EventKind::Resumed, ts));
        Ok(())
    }

    fn control_event(&self, kind: EventKind, ts: i64) -> Event {
        Event {
            kind,
            breaker: None,
            symbol: None,
            value: f64::NAN,
            threshold: f64::NAN,
            action: None,
            ts,
            state: self.state,
            reason: None,
        }
    }

    /// Re-arms breaker `name` (or the kill switch, `"kill_switch"`). Refused unless `confirm`.
    /// A breaker that is not tripped gives no event. Resetting `max_drawdown` re-bases the peak
    /// to the current equity; `consecutive_losses` clears the streak; `position_loss` re-arms
    /// every position.
    ///
    /// Errors: no `confirm`; an unknown name; `ts` earlier than the last.
    pub fn reset(
        &mut self,
        name: &str,
        ts: i64,
        confirm: bool,
        out: &mut Vec<Event>,
    ) -> Result<()> {
        let b: Breaker = name.parse()?;
        if !confirm {
            return Err(RiskError::Refused(format!(
                "reset of {b} refused: pass confirm=True to re-arm it"
            )));
        }
        self.check_ts(ts)?;
        self.roll(ts);
        self.ts = ts;
        if b == Breaker::PositionLoss {
            for i in 0..self.positions.len() {
                if self.positions[i].loss_tripped {
                    self.rearm_position(i, f64::NAN, ts, out);
                }
            }
            return Ok(());
        }
        if !self.breakers[b.index()].tripped {
            return Ok(());
        }
        match b {
            Breaker::MaxDrawdown => self.peak = self.equity,
            Breaker::ConsecutiveLosses => self.streak = 0,
            Breaker::KillSwitch => self.kill_reason.clear(),
            _ => {}
        }
        self.recover(b, None, f64::NAN, ts, out);
        Ok(())
    }

    /// The human message of an event this engine emitted.
    pub fn describe(&self, e: &Event) -> String {
        let sym = e
            .symbol
            .and_then(|i| self.symbols.get(i as usize))
            .map_or("", String::as_str);
        let cause = e.breaker.map_or("", Breaker::name);
        let action = e.action.map_or("", Action::name);
        // Rounded down, so that a value just under its threshold never prints equal to it.
        let down = |x: f64| (x * 100.0).floor() / 100.0;
        let show = |b: Option<Breaker>, x: f64| match b {
            Some(Breaker::VolatilitySpike) => format!("{:.2}σ", down(x)),
            Some(Breaker::Leverage) => format!("{:.2}x", down(x)),
            Some(Breaker::ConsecutiveLosses) => format!("{x}"),
            _ => format!("{:.2}%", down(100.0 * x)),
        };
        let on = if sym.is_empty() {
            String::new()
        } else {
            format!(" on {sym}")
        };
        match e.kind {
            EventKind::BreakerTripped => format!(
                "{cause} tripped{on}: {} ≥ {} ({action})",
                show(e.breaker, e.value),
                show(e.breaker, e.threshold)
            ),
            EventKind::BreakerRecovered if e.value.is_nan() => {
                format!("{cause} re-armed{on}")
            }
            EventKind::BreakerRecovered => format!(
                "{cause} re-armed{on}: {} against {}",
                show(e.breaker, e.value),
                show(e.breaker, e.threshold)
            ),
            EventKind::StateChanged => format!("trading state is now {} ({cause})", e.state),
            EventKind::StopHit => {
                format!("stop hit on {sym}: mark {}, stop {}", e.value, e.threshold)
            }
            EventKind::KillSwitch if self.kill_reason.is_empty() => "kill switch engaged".into(),
            EventKind::KillSwitch => format!("kill switch engaged: {}", self.kill_reason),
            EventKind::Paused if self.pause_reason.is_empty() => "trading paused".into(),
            EventKind::Paused => format!("trading paused: {}", self.pause_reason),
            EventKind::Resumed => "trading resumed".into(),
            EventKind::FlattenRequested => {
                format!("flatten {sym} ({} held) for {cause}", e.value)
            }
            EventKind::ReduceRequested => format!(
                "reduce every position by {:.0}% for {cause}",
                100.0 * e.value
            ),
            EventKind::ExitSignal => {
                let reason = e.reason.map_or("", |r| r.name());
                if e.threshold.is_nan() {
                    format!("exit {} of {sym}: {reason}", e.value)
                } else {
                    format!("exit {} of {sym}: {reason} at {}", e.value, e.threshold)
                }
            }
        }
    }
}

/// Moves the running heat sum by one position's change from `old` to `new`.
#[inline]
fn move_heat(heat: &mut f64, heated: &mut u32, old: f64, new: f64) {
    *heated = *heated + u32::from(new > 0.0) - u32::from(old > 0.0);
    *heat = if *heated == 0 {
        0.0
    } else {
        (*heat + (new - old)).max(0.0)
    };
}
