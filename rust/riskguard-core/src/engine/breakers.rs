//! Breaker evaluation: trips, recoveries, the actions they request and the trading state they
//! hold (docs/engine.md, "Breakers").

use super::events::Event;
use super::limits::BreakerSpec;
use super::state::{BreakerState, RiskEngine};
use super::vocab::{Action, Breaker, CloseCause, EventKind, TradingState};

/// Relative slack of the evaluation filter's thresholds.
const MARGIN: f64 = 1e-9;

/// `amount / equity`: 0 for no amount, infinite when equity is gone.
#[inline]
pub(crate) fn ratio(amount: f64, equity: f64) -> f64 {
    if amount == 0.0 {
        0.0
    } else if equity <= 0.0 {
        f64::INFINITY
    } else {
        amount / equity
    }
}

/// The fractional loss from `base` to `equity`: infinite when the base is gone.
#[inline]
pub(crate) fn loss(base: f64, equity: f64) -> f64 {
    if base <= 0.0 {
        f64::INFINITY
    } else {
        (base - equity) / base
    }
}

impl RiskEngine {
    /// Runs every breaker in order after a fill or tick on position `sym`. `start` is where
    /// this call's events begin in `out`.
    // Inlined into the tick so that the filter reads the values the tick just computed from
    // registers: reloading them as wide vectors from fresh narrow stores stalls the CPU.
    #[inline(always)]
    pub(crate) fn evaluate(&mut self, sym: usize, ts: i64, out: &mut Vec<Event>, start: usize) {
        if (self.rearm_pending != 0 && ts >= self.rearm_after) || self.may_trip(sym) {
            self.evaluate_each(sym, ts, out, start);
        }
    }

    /// Whether any armed breaker's metric could be at its threshold. A cheap, conservative
    /// filter: when it says no, [`Self::evaluate_each`] would do nothing. It multiplies instead
    /// of dividing, against thresholds shrunk by [`MARGIN`], which is far wider than the
    /// rounding of either form, so a metric it clears is certainly below its threshold.
    #[inline(always)]
    fn may_trip(&self, sym: usize) -> bool {
        let [day, week, month, dd, pos, vol, lev, conc, heat, streak] = self.armed;
        let eq = self.equity;
        let [d, w, m] = self.sessions.map(|s| s.open_equity);
        // `base - eq` is the numerator the exact metric divides by `base`.
        let clear_loss = |base: f64, t: f64| base > 0.0 && base - eq < t * base;
        let clear_ratio = |amount: f64, t: f64| amount == 0.0 || (eq > 0.0 && amount < t * eq);
        let p = &self.positions[sym];
        let clear_position = !p.is_open()
            | p.loss_tripped
            | (-(p.qty * (p.mark - p.avg)) < pos * (p.qty.abs() * p.avg));
        !(clear_loss(d, day)
            & clear_loss(w, week)
            & clear_loss(m, month)
            & clear_loss(self.peak, dd)
            & clear_position
            & (self.spiking == 0 || vol.is_infinite())
            & clear_ratio(self.gross, lev)
            & clear_ratio(self.max_notional, conc)
            & clear_ratio(self.heat, heat)
            & (f64::from(self.streak) < streak))
    }

    /// Recomputes the evaluation filter's inputs after a breaker changes state.
    pub(crate) fn refresh_breakers(&mut self) {
        let threshold = |b| self.limits.spec(b).map(|s: &BreakerSpec| s.threshold);
        self.position_loss_t = threshold(Breaker::PositionLoss);
        self.spike_t = threshold(Breaker::VolatilitySpike).unwrap_or(f64::INFINITY);
        self.spike_t2 = self.spike_t * self.spike_t * (1.0 - MARGIN);
        self.rearm_pending = 0;
        self.rearm_after = i64::MAX;
        for (k, b) in Breaker::CONFIGURABLE.into_iter().enumerate() {
            let spec = self.limits.spec(b);
            let st = self.breakers[b.index()];
            let tripped = st.tripped && b != Breaker::PositionLoss;
            self.armed[k] = match spec {
                Some(s) if !tripped => s.threshold * (1.0 - MARGIN),
                _ => f64::INFINITY,
            };
            if tripped && spec.is_some_and(|s| !s.latched) {
                self.rearm_pending |= 1 << k;
                // A session breaker still in the session it tripped in cannot re-arm before
                // the next session day starts.
                let earliest = match b.session() {
                    Some(s) if self.sessions[s].key == st.trip_key => {
                        st.cooldown_until.max(self.next_day_start)
                    }
                    _ => st.cooldown_until,
                };
                self.rearm_after = self.rearm_after.min(earliest);
            }
        }
    }

    /// The breakers in evaluation order, each re-armed or tripped as its rules say.
    fn evaluate_each(&mut self, sym: usize, ts: i64, out: &mut Vec<Event>, start: usize) {
        for b in Breaker::CONFIGURABLE {
            let Some(&spec) = self.limits.spec(b) else {
                continue;
            };
            if b == Breaker::PositionLoss {
                let p = &self.positions[sym];
                if p.is_open() && !p.loss_tripped && p.loss() >= spec.threshold {
                    let value = p.loss();
                    self.positions[sym].loss_tripped = true;
                    self.tripped_positions += 1;
                    self.trip(b, &spec, Some(sym), value, ts, out, start);
                }
                continue;
            }
            let st = self.breakers[b.index()];
            if st.tripped {
                if spec.latched || ts < st.cooldown_until || !self.may_rearm(b, &spec, &st) {
                    continue;
                }
                let value = self.metric(b);
                if b == Breaker::ConsecutiveLosses {
                    self.streak = 0;
                }
                self.recover(b, None, value, ts, out);
            }
            if self.exceeds(b, &spec) {
                let value = self.metric(b);
                self.trip(b, &spec, None, value, ts, out, start);
            }
        }
    }

    /// The re-arm rule of a tripped breaker, cooldown aside.
    fn may_rearm(&mut self, b: Breaker, spec: &BreakerSpec, st: &BreakerState) -> bool {
        match b.session() {
            Some(s) => self.sessions[s].key != st.trip_key,
            None if b == Breaker::ConsecutiveLosses => true,
            None => !self.exceeds(b, spec),
        }
    }

    /// Whether the metric is at or above the threshold, without computing it exactly when a
    /// cheaper bound decides.
    #[inline]
    fn exceeds(&mut self, b: Breaker, spec: &BreakerSpec) -> bool {
        let t = spec.threshold;
        match b {
            Breaker::VolatilitySpike => self.spiking > 0,
            Breaker::Concentration => {
                if ratio(self.max_notional, self.equity) < t {
                    return false;
                }
                self.exact_max_notional();
                ratio(self.max_notional, self.equity) >= t
            }
            Breaker::ConsecutiveLosses => f64::from(self.streak) >= t,
            _ => self.metric(b) >= t,
        }
    }

    fn exact_max_notional(&mut self) {
        if !self.max_exact {
            (self.max_notional, self.max_arg) = self.scan_max_notional();
            self.max_exact = true;
        }
    }

    /// The largest notional and its position, by a scan.
    fn scan_max_notional(&self) -> (f64, usize) {
        let (mut max, mut arg) = (0.0, 0);
        for (i, p) in self.positions.iter().enumerate() {
            if p.notional() > max {
                (max, arg) = (p.notional(), i);
            }
        }
        (max, arg)
    }

    /// A breaker's current metric (docs/engine.md, "Metrics"). Position loss gives the largest
    /// over open positions; the kill switch has none (NaN).
    pub(crate) fn metric(&self, b: Breaker) -> f64 {
        match b {
            Breaker::DailyLoss | Breaker::WeeklyLoss | Breaker::MonthlyLoss => {
                let s = b.session().expect("session breaker");
                loss(self.sessions[s].open_equity, self.equity)
            }
            Breaker::MaxDrawdown => loss(self.peak, self.equity),
            Breaker::PositionLoss => (self.positions.iter())
                .filter(|p| p.is_open())
                .map(|p| p.loss())
                .fold(0.0, f64::max),
            Breaker::VolatilitySpike => self.positions.iter().map(|p| p.z()).fold(0.0, f64::max),
            Breaker::Leverage => ratio(self.gross, self.equity),
            Breaker::Concentration if self.max_exact => ratio(self.max_notional, self.equity),
            Breaker::Concentration => ratio(self.scan_max_notional().0, self.equity),
            Breaker::PortfolioHeat => ratio(self.heat, self.equity),
            Breaker::ConsecutiveLosses => f64::from(self.streak),
            Breaker::KillSwitch => f64::NAN,
        }
    }

    /// The most severe action among tripped breakers.
    pub(crate) fn held_state(&self) -> TradingState {
        Breaker::ALL
            .iter()
            .filter(|b| self.breakers[b.index()].tripped)
            .map(|&b| match self.limits.spec(b) {
                Some(spec) => spec.action.state(),
                None => Action::CloseAllHalt.state(),
            })
            .max()
            .unwrap_or(TradingState::Active)
    }

    /// Moves to the state the breakers hold, reporting a change caused by `cause`.
    fn update_state(&mut self, cause: Breaker, ts: i64, out: &mut Vec<Event>) {
        let state = self.held_state();
        if state != self.state {
            self.state = state;
            out.push(Event {
                kind: EventKind::StateChanged,
                breaker: Some(cause),
                symbol: None,
                value: f64::NAN,
                threshold: f64::NAN,
                action: None,
                ts,
                state,
                reason: None,
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn trip(
        &mut self,
        b: Breaker,
        spec: &BreakerSpec,
        sym: Option<usize>,
        value: f64,
        ts: i64,
        out: &mut Vec<Event>,
        start: usize,
    ) {
        let st = &mut self.breakers[b.index()];
        st.cooldown_until = ts.saturating_add(spec.cooldown_ns());
        st.trip_key = b.session().map_or(0, |s| self.sessions[s].key);
        self.engage(b, EventKind::BreakerTripped, sym, value, ts, out, start);
    }

    /// Marks `b` tripped, reports `kind`, updates the state and requests its action.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn engage(
        &mut self,
        b: Breaker,
        kind: EventKind,
        sym: Option<usize>,
        value: f64,
        ts: i64,
        out: &mut Vec<Event>,
        start: usize,
    ) {
        let st = &mut self.breakers[b.index()];
        st.tripped = true;
        st.tripped_at = ts;
        self.refresh_breakers();
        let (action, fraction) = self.report(kind, b, sym, value, ts, out);
        let request = |kind, symbol: Option<usize>, value| Event {
            kind,
            breaker: Some(b),
            symbol: symbol.map(|i| i as u32),
            value,
            threshold: f64::NAN,
            action: Some(action),
            ts,
            state: self.state,
            reason: None,
        };
        let done = |out: &[Event], kind, symbol: Option<usize>| {
            out[start..]
                .iter()
                .any(|e| e.kind == kind && e.symbol == symbol.map(|i| i as u32))
        };
        match action {
            Action::CloseAllHalt => {
                for (i, p) in self.positions.iter().enumerate() {
                    if p.is_open() && !done(out, EventKind::FlattenRequested, Some(i)) {
                        out.push(request(EventKind::FlattenRequested, Some(i), p.qty));
                    }
                }
            }
            Action::ClosePosition => {
                if let Some(i) = sym.filter(|&i| self.positions[i].is_open())
                    && !done(out, EventKind::FlattenRequested, Some(i))
                {
                    out.push(request(
                        EventKind::FlattenRequested,
                        Some(i),
                        self.positions[i].qty,
                    ));
                }
            }
            Action::Reduce => {
                if !done(out, EventKind::ReduceRequested, None) {
                    out.push(request(EventKind::ReduceRequested, None, fraction));
                }
            }
            Action::Halt | Action::Alert => {}
        }
        // A flattened trade exits for the breaker: its own exits stop.
        let flattened = |i: usize| match action {
            Action::CloseAllHalt => true,
            Action::ClosePosition => sym == Some(i),
            _ => false,
        };
        for i in 0..self.positions.len() {
            if self.positions[i].is_open() && flattened(i) {
                self.positions[i].exit.exiting = true;
                self.mark_cause(i, CloseCause::Breaker);
            }
        }
    }

    /// Re-arms `b`, reporting `value` (NaN for an explicit reset or a closed position).
    pub(crate) fn recover(
        &mut self,
        b: Breaker,
        sym: Option<usize>,
        value: f64,
        ts: i64,
        out: &mut Vec<Event>,
    ) {
        self.breakers[b.index()].tripped = match b {
            Breaker::PositionLoss => self.tripped_positions > 0,
            _ => false,
        };
        self.refresh_breakers();
        self.report(EventKind::BreakerRecovered, b, sym, value, ts, out);
    }

    /// Reports `kind` for breaker `b`, then the state change it causes if any; the event
    /// carries the state after it. Returns the breaker's action and reduce fraction.
    fn report(
        &mut self,
        kind: EventKind,
        b: Breaker,
        sym: Option<usize>,
        value: f64,
        ts: i64,
        out: &mut Vec<Event>,
    ) -> (Action, f64) {
        // The kill switch has no spec: it always flattens and halts.
        let (threshold, action, fraction) = match self.limits.spec(b) {
            Some(s) => (s.threshold, s.action, s.fraction),
            None => (f64::NAN, Action::CloseAllHalt, 1.0),
        };
        let event = out.len();
        out.push(Event {
            kind,
            breaker: Some(b),
            symbol: sym.map(|i| i as u32),
            value,
            threshold,
            action: Some(action),
            ts,
            state: self.state,
            reason: None,
        });
        self.update_state(b, ts, out);
        out[event].state = self.state;
        (action, fraction)
    }

    /// Re-arms the position-loss breaker of position `i`.
    pub(crate) fn rearm_position(&mut self, i: usize, value: f64, ts: i64, out: &mut Vec<Event>) {
        self.positions[i].loss_tripped = false;
        self.tripped_positions -= 1;
        self.recover(Breaker::PositionLoss, Some(i), value, ts, out);
    }
}
