//! One symbol's position and market state, and the fill accounting.

use serde::{Deserialize, Serialize};

use crate::stream::{EwmaVariance, z_score};

use super::exits::Exit;
use super::vocab::NO_TRADE;

/// A symbol's position, mark and volatility state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Position {
    /// Signed quantity.
    pub qty: f64,
    /// Average entry price of the open position (0 when flat).
    pub avg: f64,
    /// Last tick or fill price; NaN before either.
    pub mark: f64,
    /// Realized P&L of the open position since it opened, net of fees.
    pub realized: f64,
    pub stop: Option<f64>,
    pub stop_hit: bool,
    /// The position-loss breaker has tripped for this position.
    pub loss_tripped: bool,
    /// This position's current heat money, kept so a tick can update the total in O(1).
    pub heat: f64,
    /// Last tick price; 0 before the first tick.
    pub last_tick: f64,
    pub vol: EwmaVariance,
    /// The latest scored return and the variance it was scored against (NaN before any), kept
    /// instead of the score so the tick path can skip the square root when far from the
    /// threshold.
    pub scored: (f64, f64),
    /// The latest score is at or above the volatility-spike threshold.
    pub spiking: bool,
    /// Index of the open trade in the engine's records, or `NO_TRADE`.
    pub trade: u32,
    pub exit: Exit,
}

/// What a fill did to a position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FillOutcome {
    /// The P&L of the trade the fill closed, net of its fees, if it closed one.
    pub closed_trade: Option<f64>,
    /// Closing price P&L realized by the fill (before fees).
    pub realized_piece: f64,
}

impl Position {
    pub fn new() -> Self {
        Self {
            qty: 0.0,
            avg: 0.0,
            mark: f64::NAN,
            realized: 0.0,
            stop: None,
            stop_hit: false,
            loss_tripped: false,
            heat: 0.0,
            last_tick: 0.0,
            vol: EwmaVariance::default(),
            scored: (f64::NAN, f64::NAN),
            spiking: false,
            trade: NO_TRADE,
            exit: Exit::NONE,
        }
    }

    /// The latest volatility score; 0 before the first.
    pub fn z(&self) -> f64 {
        let (r, var) = self.scored;
        if r.is_nan() { 0.0 } else { z_score(r, var) }
    }

    #[inline]
    pub fn is_open(&self) -> bool {
        self.qty != 0.0
    }

    /// Applies a fill of signed `qty` at `price` with `fee` (docs/engine.md, "Accounting").
    pub fn apply_fill(&mut self, qty: f64, price: f64, fee: f64) -> FillOutcome {
        let q = self.qty;
        self.mark = price;
        if q == 0.0 {
            self.open(qty, price, 0.0 - fee);
            return FillOutcome {
                closed_trade: None,
                realized_piece: 0.0,
            };
        }
        if (q > 0.0) == (qty > 0.0) {
            self.avg = (q * self.avg + qty * price) / (q + qty);
            self.qty = q + qty;
            self.realized -= fee;
            return FillOutcome {
                closed_trade: None,
                realized_piece: 0.0,
            };
        }
        let closed = qty.abs().min(q.abs());
        let piece = closed * (price - self.avg) * q.signum();
        self.realized += piece - fee;
        let outcome = |trade| FillOutcome {
            closed_trade: trade,
            realized_piece: piece,
        };
        if qty.abs() < q.abs() {
            self.qty = q + qty;
            outcome(None)
        } else {
            let trade = self.realized;
            if qty.abs() == q.abs() {
                self.qty = 0.0;
                self.avg = 0.0;
                self.realized = 0.0;
            } else {
                self.open(q + qty, price, 0.0);
            }
            self.stop = None;
            self.stop_hit = false;
            outcome(Some(trade))
        }
    }

    fn open(&mut self, qty: f64, price: f64, realized: f64) {
        self.qty = qty;
        self.avg = price;
        self.realized = realized;
    }

    #[inline]
    pub fn unrealized(&self) -> f64 {
        if self.is_open() {
            self.qty * (self.mark - self.avg)
        } else {
            0.0
        }
    }

    /// `-unrealized / (|qty| × avg)`; 0 when flat.
    #[inline]
    pub fn loss(&self) -> f64 {
        if self.is_open() {
            -(self.qty * (self.mark - self.avg)) / (self.qty.abs() * self.avg)
        } else {
            0.0
        }
    }

    #[inline]
    pub fn notional(&self) -> f64 {
        if self.is_open() {
            (self.qty * self.mark).abs()
        } else {
            0.0
        }
    }

    /// Money lost if the stop were hit now. Without a stop the position-loss threshold `t`
    /// stands in for one, at `avg × (1 ∓ t)`; without either, the whole notional is at risk.
    /// 0 when flat.
    ///
    /// Long and short, stopped and unstopped positions interleave on the tick path, so this
    /// selects instead of branching: mispredicted branches would cost more than the arithmetic.
    /// `1 - sign × t` is exactly `1 - t` or `1 + t`.
    #[inline]
    pub fn heat_money(&self, position_loss: Option<f64>) -> f64 {
        let implicit = position_loss.map_or(f64::NAN, |t| self.avg * (1.0 - self.qty.signum() * t));
        let stop = self.stop.unwrap_or(implicit);
        if stop.is_nan() {
            return self.notional();
        }
        // A flat position has qty 0 (and perhaps no mark): `max` drops the NaN of 0 × NaN.
        ((self.mark - stop) * self.qty).max(0.0)
    }

    /// Whether the mark has crossed the stop (long: at or below; short: at or above). Branch
    /// free for the same reason as [`Position::heat_money`].
    #[inline]
    pub fn stop_crossed(&self) -> bool {
        let s = self.stop.unwrap_or(f64::NAN);
        ((self.qty > 0.0) & (self.mark <= s)) | ((self.qty < 0.0) & (self.mark >= s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_price_partial_close_and_flip() {
        let mut p = Position::new();
        p.apply_fill(2.0, 100.0, 1.0);
        p.apply_fill(2.0, 110.0, 1.0);
        assert_eq!((p.qty, p.avg, p.realized), (4.0, 105.0, -2.0));
        let o = p.apply_fill(-1.0, 115.0, 0.5);
        assert_eq!(
            (p.qty, p.avg, o.realized_piece, o.closed_trade),
            (3.0, 105.0, 10.0, None)
        );
        assert_eq!(p.realized, 7.5);
        // Flip: closes 3 at 95 (−30), the fee goes to the closing trade, 2 short open at 95.
        let o = p.apply_fill(-5.0, 95.0, 1.0);
        assert_eq!(o.closed_trade, Some(7.5 - 30.0 - 1.0));
        assert_eq!((p.qty, p.avg, p.realized), (-2.0, 95.0, 0.0));
        // A short loses as the price rises.
        p.mark = 100.0;
        assert!((p.loss() - 5.0 / 95.0).abs() < 1e-15);
        // Without a stop, the 10 % position-loss level (104.5) stands in: 9 at risk.
        assert_eq!(p.heat_money(Some(0.1)), (100.0 - 95.0 * 1.1) * -2.0);
        p.stop = Some(101.0);
        assert_eq!(p.heat_money(None), 2.0);
        assert!(!p.stop_crossed());
        p.mark = 101.0;
        assert!(p.stop_crossed());
    }
}
