//! The paper fill model of one instrument on bars: the execution and accounting rules of
//! `riskguard.venues.paper.PaperBroker` (its module docstring is the contract) for market,
//! limit and stop orders, good till cancelled.
//!
//! - Nothing fills on submission: an order is first considered at the next bar.
//! - A bar is a path of four points, straight lines between them: with a long position at
//!   the start of the bar, open → low → high → close; with a short one, open → high → low →
//!   close; flat, open → low → high → close when close ≥ open, else open → high → low →
//!   close. The adverse extreme of a position comes first, so a stop fills before a target.
//! - At the first point (a gap) every marketable order fills at that point's price, in
//!   submission order. Between points a limit fills at its limit, a stop at its stop level,
//!   in the order the price meets them: stops first at equal levels, then submission order.
//! - Taker fills (market, stop, a limit marketable at its first point) pay the slippage,
//!   never beyond a limit price; a limit that rested past its first point is a maker fill.
//!   Every fill pays the commission.
//! - Cash moves by `-(qty × price + fee)`; equity is cash plus the position at the last close.
//!   A fill that adds to the position is refused unless gross exposure stays within
//!   `max_leverage × equity` after it, and one that would leave a short position unless
//!   shorts are allowed; both are checked at submission (against the last close, or the
//!   order's level) and again at the fill. A refused order ends (`Outcome::Rejected`).
//!
//! The arithmetic is the Python broker's, operation for operation, so that both give the same
//! floats.

use crate::engine::{MAX_PRICE, MAX_QTY, MIN_PRICE};
use crate::error::{Result, RiskError, num};

use super::costs::{Commission, Liquidity, Slippage};

/// Relative tolerance of quantity and money comparisons (the broker's `_EPS`): sums of
/// fractional quantities leave dust that must not read as a position or a breached limit.
pub const EPS: f64 = 1e-9;

/// How an order executes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OrderType {
    /// At the first point of the next bar.
    Market,
    /// At the limit price or better.
    Limit(f64),
    /// A market order once the price reaches the stop level (a buy stop from below, a sell
    /// stop from above).
    Stop(f64),
}

/// An order of signed `qty` (+ buy, − sell); `id` is the caller's, echoed in its fills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Order {
    pub id: u64,
    pub qty: f64,
    pub kind: OrderType,
}

/// One execution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fill {
    pub order: u64,
    pub qty: f64,
    pub price: f64,
    pub fee: f64,
    pub liquidity: Liquidity,
}

/// What became of a working order during a bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    Filled(Fill),
    /// Refused when it came to fill (funds, margin or shorting): it ended unfilled.
    Rejected(u64),
}

/// The account's settings (`[broker]` of the configuration, paper broker).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AccountSettings {
    /// Starting cash, quote currency, > 0.
    pub cash: f64,
    pub slippage: Slippage,
    pub commission: Commission,
    pub allow_short: bool,
    /// Non-whole quantities are accepted.
    pub fractional: bool,
    /// Bound of gross exposure over equity, ≥ 1.
    pub max_leverage: f64,
}

impl Default for AccountSettings {
    fn default() -> Self {
        Self {
            cash: 100_000.0,
            slippage: Slippage::None,
            commission: Commission::None,
            allow_short: false,
            fractional: true,
            max_leverage: 1.0,
        }
    }
}

impl AccountSettings {
    /// Errors: cash not finite and in (0, 1e20]; `max_leverage` not finite and ≥ 1; a bad
    /// slippage or commission rate.
    pub fn validate(self) -> Result<Self> {
        if !(self.cash > 0.0 && self.cash <= crate::engine::MAX_AMOUNT) {
            return Err(RiskError::invalid(
                "cash",
                format!("must be finite, > 0 and ≤ 1e20, got {}", num(self.cash)),
            ));
        }
        if !(self.max_leverage.is_finite() && self.max_leverage >= 1.0) {
            return Err(RiskError::invalid(
                "max_leverage",
                format!("must be finite and ≥ 1, got {}", num(self.max_leverage)),
            ));
        }
        self.slippage.validate()?;
        self.commission.validate()?;
        Ok(self)
    }
}

#[derive(Debug, Clone, Copy)]
struct Working {
    order: Order,
    /// Submission order, for ties.
    seq: u64,
    /// A limit that has seen a price point: it fills as a maker from then on.
    rested: bool,
    /// Filled or refused during the bar being walked.
    done: bool,
}

/// One instrument's paper account: cash, the position, the last close and the working orders.
#[derive(Debug, Clone)]
pub struct PaperAccount {
    settings: AccountSettings,
    cash: f64,
    qty: f64,
    avg: f64,
    /// The last close; NaN before the first bar.
    last: f64,
    working: Vec<Working>,
    seq: u64,
    /// Reused between bars: the hits of one segment.
    hits: Vec<(f64, u8, u64, f64, usize)>,
}

impl PaperAccount {
    /// A flat account holding `settings.cash`.
    ///
    /// Errors: see [`AccountSettings::validate`].
    pub fn new(settings: AccountSettings) -> Result<Self> {
        let settings = settings.validate()?;
        Ok(Self {
            settings,
            cash: settings.cash,
            qty: 0.0,
            avg: 0.0,
            last: f64::NAN,
            working: Vec::new(),
            seq: 0,
            hits: Vec::new(),
        })
    }

    pub fn settings(&self) -> &AccountSettings {
        &self.settings
    }

    pub fn cash(&self) -> f64 {
        self.cash
    }

    /// The signed position (exactly 0 when flat: dust within `EPS` is closed).
    pub fn position(&self) -> f64 {
        self.qty
    }

    /// Cash plus the position at the last close (at its average price before any bar).
    #[inline]
    pub fn equity(&self) -> f64 {
        if self.qty == 0.0 {
            return self.cash;
        }
        let mark = if self.last.is_nan() {
            self.avg
        } else {
            self.last
        };
        self.cash + self.qty * mark
    }

    /// The working orders, in submission order.
    pub fn working(&self) -> impl Iterator<Item = &Order> {
        self.working.iter().map(|w| &w.order)
    }

    pub fn has_working(&self) -> bool {
        !self.working.is_empty()
    }

    /// `qty` as the account takes it: whole units toward zero unless it takes fractions.
    #[inline]
    pub fn tradable(&self, qty: f64) -> f64 {
        if self.settings.fractional {
            qty
        } else {
            qty.trunc()
        }
    }

    /// Accepts `order` (true) or refuses it (false): a fractional quantity the account does
    /// not take, or a fill at its reference price (the last close for a market order, the
    /// level otherwise) that the funds, margin or shorting rules refuse.
    ///
    /// Errors: a quantity zero or beyond ±1e15, a level outside [1e-15, 1e15].
    pub fn submit(&mut self, order: Order) -> Result<bool> {
        if !(order.qty != 0.0 && order.qty.abs() <= MAX_QTY) {
            return Err(RiskError::invalid(
                "qty",
                format!(
                    "must be finite, non-zero and within ±1e15, got {}",
                    num(order.qty)
                ),
            ));
        }
        let reference = match order.kind {
            OrderType::Limit(level) | OrderType::Stop(level) => {
                if !(MIN_PRICE..=MAX_PRICE).contains(&level) {
                    return Err(RiskError::invalid(
                        "price",
                        format!("must be finite and in [1e-15, 1e15], got {}", num(level)),
                    ));
                }
                Some(level)
            }
            OrderType::Market => (!self.last.is_nan()).then_some(self.last),
        };
        self.seq += 1;
        if !self.settings.fractional && order.qty.fract() != 0.0 {
            return Ok(false);
        }
        let refused = match reference {
            // No price known yet: only the short-selling rule can be checked.
            None => !self.settings.allow_short && self.qty + order.qty < -EPS * order.qty.abs(),
            Some(price) => {
                let fee = self
                    .settings
                    .commission
                    .fee(order.qty, price, Liquidity::Taker);
                self.refused(order.qty, price, fee)
            }
        };
        if !refused {
            self.working.push(Working {
                order,
                seq: self.seq,
                rested: false,
                done: false,
            });
        }
        Ok(!refused)
    }

    /// Cancels the working order `id`; false when there is none.
    pub fn cancel(&mut self, id: u64) -> bool {
        let before = self.working.len();
        self.working.retain(|w| w.order.id != id);
        self.working.len() != before
    }

    /// One bar (prices checked by the caller: > 0, low ≤ open, close ≤ high): the working
    /// orders fill along the bar's path, each outcome appended to `out` in order; then the
    /// close becomes the last price.
    pub fn on_bar(&mut self, open: f64, high: f64, low: f64, close: f64, out: &mut Vec<Outcome>) {
        if !self.working.is_empty() {
            let low_first = self.qty > 0.0 || (self.qty == 0.0 && close >= open);
            let path = if low_first {
                [open, low, high, close]
            } else {
                [open, high, low, close]
            };
            self.walk(&path, out);
        }
        self.last = close;
    }

    /// The orders along `path`: marketable ones at its first point, then each segment.
    fn walk(&mut self, path: &[f64], out: &mut Vec<Outcome>) {
        let mut orders = std::mem::take(&mut self.working);
        let p0 = path[0];
        for w in orders.iter_mut() {
            self.at_point(w, p0, out);
        }
        rest(&mut orders);
        for seg in path.windows(2) {
            self.segment(&mut orders, seg[0], seg[1], out);
            rest(&mut orders);
        }
        orders.retain(|w| !w.done);
        self.working = orders;
    }

    /// An order at a point where it may be marketable at once: it fills at that price.
    fn at_point(&mut self, w: &mut Working, p: f64, out: &mut Vec<Outcome>) {
        let buy = w.order.qty > 0.0;
        match w.order.kind {
            OrderType::Market => self.fill(w, p, Liquidity::Taker, out),
            OrderType::Stop(stop) => {
                if if buy { p >= stop } else { p <= stop } {
                    self.fill(w, p, Liquidity::Taker, out);
                }
            }
            OrderType::Limit(limit) => {
                if if buy { p <= limit } else { p >= limit } {
                    let liquidity = if w.rested {
                        Liquidity::Maker
                    } else {
                        Liquidity::Taker
                    };
                    self.fill(w, p, liquidity, out);
                }
            }
        }
    }

    /// The orders the segment from `a` to `b` meets, filled in the order the price meets
    /// them: a buy stop or a sell limit on the way up, a sell stop or a buy limit on the way
    /// down; at equal distance stops first, then submission order.
    fn segment(&mut self, orders: &mut [Working], a: f64, b: f64, out: &mut Vec<Outcome>) {
        if a == b {
            return;
        }
        let up = b > a;
        let mut hits = std::mem::take(&mut self.hits);
        hits.clear();
        for (k, w) in orders.iter().enumerate() {
            if w.done {
                continue;
            }
            let buy = w.order.qty > 0.0;
            let (level, stop) = match w.order.kind {
                OrderType::Stop(level) => (level, true),
                OrderType::Limit(level) => (level, false),
                OrderType::Market => continue,
            };
            // A buy stop is met by a rising price, a buy limit by a falling one.
            let met_going = if stop { buy == up } else { buy != up };
            if met_going && (if up { b >= level } else { b <= level }) {
                let at = if up { level.max(a) } else { level.min(a) };
                hits.push(((at - a).abs(), u8::from(!stop), w.seq, at, k));
            }
        }
        hits.sort_by(|x, y| {
            (x.0, x.1, x.2)
                .partial_cmp(&(y.0, y.1, y.2))
                .expect("levels are finite")
        });
        for &(_, _, _, at, k) in &hits {
            let w = &mut orders[k];
            if w.done {
                continue;
            }
            let liquidity = match w.order.kind {
                OrderType::Limit(_) => Liquidity::Maker,
                _ => Liquidity::Taker,
            };
            self.fill(w, at, liquidity, out);
        }
        self.hits = hits;
    }

    /// Fills `w` at `reference` (slipped when taker, never beyond its limit), or refuses it.
    fn fill(
        &mut self,
        w: &mut Working,
        reference: f64,
        liquidity: Liquidity,
        out: &mut Vec<Outcome>,
    ) {
        let o = w.order;
        let side = if o.qty > 0.0 { 1.0 } else { -1.0 };
        let mut price = reference;
        if liquidity == Liquidity::Taker {
            price = reference * (1.0 + side * self.settings.slippage.fraction());
            if let OrderType::Limit(limit) = o.kind {
                price = if side > 0.0 {
                    price.min(limit)
                } else {
                    price.max(limit)
                };
            }
        }
        let fee = self.settings.commission.fee(o.qty, price, liquidity);
        w.done = true;
        if self.refused(o.qty, price, fee) {
            out.push(Outcome::Rejected(o.id));
            return;
        }
        self.book(o.qty, price, fee);
        out.push(Outcome::Filled(Fill {
            order: o.id,
            qty: o.qty,
            price,
            fee,
            liquidity,
        }));
    }

    /// Whether a fill of `qty` at `price` paying `fee` breaks the shorting, funds or margin
    /// rule. Reducing or closing is always allowed: a breached limit must not trap a position.
    fn refused(&self, qty: f64, price: f64, fee: f64) -> bool {
        let pos = self.qty;
        let new = pos + qty;
        let tol = EPS * pos.abs().max(qty.abs());
        if !self.settings.allow_short && new < -tol {
            return true;
        }
        if new.abs() <= pos.abs() + tol && pos * new >= 0.0 {
            return false;
        }
        let cash = self.cash - qty * price - fee;
        let gross = new.abs() * price;
        let equity = cash + new * price;
        let limit = self.settings.max_leverage * equity;
        gross > limit + EPS * gross.max(1.0)
    }

    fn book(&mut self, qty: f64, price: f64, fee: f64) {
        self.cash -= qty * price + fee;
        let (pos, avg) = (self.qty, self.avg);
        let mut new = pos + qty;
        if new.abs() <= EPS * pos.abs().max(qty.abs()) {
            new = 0.0;
        }
        let mut next = avg;
        if pos == 0.0 || pos * qty > 0.0 {
            next = (pos * avg + qty * price) / new;
        } else if new != 0.0 && new * pos < 0.0 {
            next = price;
        }
        (self.qty, self.avg) = if new == 0.0 { (0.0, 0.0) } else { (new, next) };
        if self.last.is_nan() {
            // Bars before the first fill leave no mark; the fill price is the best one known.
            self.last = price;
        }
    }
}

/// After a point: the working limits have rested (maker from now on).
fn rest(orders: &mut [Working]) {
    for w in orders.iter_mut() {
        if !w.done && matches!(w.order.kind, OrderType::Limit(_)) {
            w.rested = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn account(cash: f64, allow_short: bool, bps: f64) -> PaperAccount {
        PaperAccount::new(AccountSettings {
            cash,
            slippage: Slippage::FixedBps(bps),
            commission: Commission::MakerTaker {
                maker: 0.0002,
                taker: 0.0005,
            },
            allow_short,
            fractional: true,
            max_leverage: 1.0,
        })
        .unwrap()
    }

    /// The plain reference: the bar walked tick by tick. Its ticks are the four points and,
    /// inside each segment, every working order's level that the segment crosses, in the
    /// order the price reaches them. At the first tick every marketable order fills at the
    /// tick's price in submission order; at a later tick, stops then limits, each in
    /// submission order, and only an order the segment can meet (a stop or a limit in its
    /// direction). Nothing is sorted by distance: the ticks are.
    fn reference(acc: &mut PaperAccount, bar: [f64; 4]) -> Vec<Outcome> {
        let [open, high, low, close] = bar;
        let mut out = Vec::new();
        if acc.working.is_empty() {
            acc.last = close;
            return out;
        }
        let low_first = acc.qty > 0.0 || (acc.qty == 0.0 && close >= open);
        let path = if low_first {
            [open, low, high, close]
        } else {
            [open, high, low, close]
        };
        let mut orders = std::mem::take(&mut acc.working);
        for w in orders.iter_mut() {
            acc.at_point(w, open, &mut out);
        }
        rest(&mut orders);
        for seg in path.windows(2) {
            let (a, b) = (seg[0], seg[1]);
            if a != b {
                let up = b > a;
                let mut ticks: Vec<f64> = orders
                    .iter()
                    .filter_map(|w| match w.order.kind {
                        OrderType::Limit(l) | OrderType::Stop(l) => Some(l),
                        OrderType::Market => None,
                    })
                    .filter(|&l| if up { l > a && l < b } else { l < a && l > b })
                    .collect();
                ticks.push(b);
                ticks.sort_by(|x, y| {
                    let (x, y) = if up { (x, y) } else { (y, x) };
                    x.partial_cmp(y).unwrap()
                });
                ticks.dedup();
                // A level already passed at the segment's start is met at once, at `a`.
                for p in std::iter::once(a).chain(ticks) {
                    for stops in [true, false] {
                        for w in orders.iter_mut() {
                            if w.done {
                                continue;
                            }
                            let buy = w.order.qty > 0.0;
                            let (level, is_stop) = match w.order.kind {
                                OrderType::Stop(l) => (l, true),
                                OrderType::Limit(l) => (l, false),
                                OrderType::Market => continue,
                            };
                            let direction = if is_stop { buy == up } else { buy != up };
                            let through = if up { p >= level } else { p <= level };
                            if is_stop == stops && direction && through {
                                let liquidity = if is_stop {
                                    Liquidity::Taker
                                } else {
                                    Liquidity::Maker
                                };
                                acc.fill(w, p, liquidity, &mut out);
                            }
                        }
                    }
                }
            }
            rest(&mut orders);
        }
        orders.retain(|w| !w.done);
        acc.working = orders;
        acc.last = close;
        out
    }

    #[test]
    fn a_market_order_fills_at_the_next_open_with_slippage_and_fee() {
        let mut acc = account(10_000.0, false, 10.0);
        let mut out = Vec::new();
        acc.on_bar(100.0, 101.0, 99.0, 100.5, &mut out);
        assert!(
            acc.submit(Order {
                id: 1,
                qty: 2.0,
                kind: OrderType::Market
            })
            .unwrap()
        );
        acc.on_bar(101.0, 102.0, 100.0, 101.5, &mut out);
        let price = 101.0 * (1.0 + 0.001);
        let Outcome::Filled(f) = out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(
            (f.price, f.fee, f.liquidity),
            (price, 0.0005 * 2.0 * price, Liquidity::Taker)
        );
        assert_eq!(acc.equity(), 10_000.0 - (2.0 * price + f.fee) + 2.0 * 101.5);
    }

    #[test]
    fn a_long_positions_stop_fills_before_its_target() {
        let mut acc = account(10_000.0, false, 0.0);
        let mut out = Vec::new();
        acc.on_bar(100.0, 100.0, 100.0, 100.0, &mut out);
        acc.submit(Order {
            id: 1,
            qty: 10.0,
            kind: OrderType::Market,
        })
        .unwrap();
        acc.on_bar(100.0, 100.0, 100.0, 100.0, &mut out);
        acc.submit(Order {
            id: 2,
            qty: -10.0,
            kind: OrderType::Limit(105.0),
        })
        .unwrap();
        acc.submit(Order {
            id: 3,
            qty: -10.0,
            kind: OrderType::Stop(95.0),
        })
        .unwrap();
        out.clear();
        acc.on_bar(100.0, 106.0, 94.0, 104.0, &mut out);
        let Outcome::Filled(stop) = out[0] else {
            panic!("{out:?}")
        };
        assert_eq!((stop.order, stop.price), (3, 95.0));
        // The target would now open a short, which the account does not allow.
        assert_eq!(out[1], Outcome::Rejected(2));
        assert_eq!(acc.position(), 0.0);
    }

    #[test]
    fn an_order_beyond_the_cash_is_refused() {
        let mut acc = account(1_000.0, false, 0.0);
        let mut out = Vec::new();
        acc.on_bar(100.0, 100.0, 100.0, 100.0, &mut out);
        assert!(
            !acc.submit(Order {
                id: 1,
                qty: 20.0,
                kind: OrderType::Market
            })
            .unwrap()
        );
        assert!(
            acc.submit(Order {
                id: 2,
                qty: 9.0,
                kind: OrderType::Market
            })
            .unwrap()
        );
        acc.on_bar(120.0, 120.0, 120.0, 120.0, &mut out);
        assert_eq!(
            out,
            vec![Outcome::Rejected(2)],
            "9 × 120 is more than the cash"
        );
        let e = acc
            .submit(Order {
                id: 3,
                qty: 0.0,
                kind: OrderType::Market,
            })
            .unwrap_err();
        assert!(e.to_string().starts_with("qty must be"), "{e}");
    }

    fn order_strategy() -> impl Strategy<Value = (f64, u8, f64)> {
        (
            prop_oneof![-3.0..-0.1f64, 0.1..3.0f64],
            0u8..3,
            80.0..120.0f64,
        )
    }

    proptest! {
        /// A bar's fills, their order and the account after them equal the bar walked tick by
        /// tick (the reference above), whatever the orders, the position and the bar.
        #[test]
        fn a_bar_equals_its_path_walked_tick_by_tick(
            position in prop_oneof![Just(0.0), -2.0..2.0f64],
            cash in 50.0..1_000.0f64,
            allow_short in any::<bool>(),
            bps in 0.0..20.0f64,
            previous in proptest::collection::vec((0u8..3, 80.0..120.0f64), 0..3),
            orders in proptest::collection::vec(order_strategy(), 0..8),
            prices in proptest::collection::vec(80.0..120.0f64, 4),
            round in any::<bool>(),
        ) {
            let mut prices = prices;
            // Rounded, levels and prices fall on a coarse grid: ties between orders, and
            // between orders and the bar's points.
            let grid = |x: f64| if round { (x / 10.0).round() * 10.0 } else { x };
            if round {
                for p in prices.iter_mut() {
                    *p = (*p / 5.0).round() * 5.0;
                }
            }
            let (open, close) = (prices[0], prices[1]);
            let high = prices[2].max(open).max(close);
            let low = prices[3].min(open).min(close);
            let mut acc = account(cash.max(10.0 * position.abs() * 120.0), allow_short, bps);
            let mut out = Vec::new();
            acc.on_bar(100.0, 100.0, 100.0, 100.0, &mut out);
            if position != 0.0 {
                acc.book(position, 100.0, 0.0);
            }
            let kind = |k: u8, level: f64| match k {
                0 => OrderType::Market,
                1 => OrderType::Limit(grid(level)),
                _ => OrderType::Stop(grid(level)),
            };
            // Orders that have seen a bar already (limits rested), then fresh ones.
            for (i, &(k, level)) in previous.iter().enumerate() {
                let qty = if i % 2 == 0 { 0.5 } else { -0.5 };
                acc.submit(Order { id: 100 + i as u64, qty, kind: kind(k.max(1), level) }).unwrap();
            }
            acc.on_bar(100.0, 100.0, 100.0, 100.0, &mut out);
            for (i, &(qty, k, level)) in orders.iter().enumerate() {
                acc.submit(Order { id: i as u64, qty, kind: kind(k, level) }).unwrap();
            }
            let mut twin = acc.clone();
            out.clear();
            acc.on_bar(open, high, low, close, &mut out);
            let want = reference(&mut twin, [open, high, low, close]);
            prop_assert_eq!(&out, &want);
            prop_assert_eq!(acc.cash.to_bits(), twin.cash.to_bits());
            prop_assert_eq!(acc.qty.to_bits(), twin.qty.to_bits());
            let left: Vec<u64> = acc.working().map(|o| o.id).collect();
            let twin_left: Vec<u64> = twin.working().map(|o| o.id).collect();
            prop_assert_eq!(left, twin_left);
        }
    }
}
