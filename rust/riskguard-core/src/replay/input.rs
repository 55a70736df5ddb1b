//! A replay's input: one instrument's bars and the signals issued at their closes, checked once
//! and kept, so that a sweep replays them under many limits without checking them again.

use crate::engine::{Consensus, MAX_PRICE, MIN_PRICE, Side, Signal};
use crate::error::{Result, RiskError, num};

/// Bar columns of one length: `ts` (ns since the epoch, UTC, never decreasing), `open`,
/// `high`, `low`, `close` (in [1e-15, 1e15], low ≤ open, close ≤ high) and `volume` (finite,
/// ≥ 0; 0 when unknown).
#[derive(Debug, Clone, Copy)]
pub struct BarColumns<'a> {
    pub ts: &'a [i64],
    pub open: &'a [f64],
    pub high: &'a [f64],
    pub low: &'a [f64],
    pub close: &'a [f64],
    pub volume: &'a [f64],
}

/// Signal columns of one length. `bar` is the index of the bar whose close issues the signal
/// (its entry is that close); signals of one bar are submitted in their given order. `side` is
/// +1 (long) or −1 (short). The optional columns hold NaN (or `None`) where a signal has no
/// value; a column left out is absent from every signal.
#[derive(Debug, Clone, Copy, Default)]
pub struct SignalColumns<'a> {
    pub bar: &'a [i64],
    pub side: &'a [i8],
    pub stop: Option<&'a [f64]>,
    pub target: Option<&'a [f64]>,
    pub confidence: Option<&'a [f64]>,
    pub consensus: Option<&'a [Option<Consensus>]>,
    pub atr: Option<&'a [f64]>,
    pub ema: Option<&'a [f64]>,
    pub volume_24h: Option<&'a [f64]>,
    pub spread_bps: Option<&'a [f64]>,
    pub quantity: Option<&'a [f64]>,
}

/// One signal at its bar. `None`: the signal is invalid as a `riskguard.Signal` (a stop on the
/// wrong side of the entry, say); a backtest counts it as `INVALID_SIGNAL` and skips it.
#[derive(Debug, Clone)]
pub struct BarSignal {
    pub bar: usize,
    pub signal: Option<Signal>,
}

/// One instrument, checked: its bars and its signals in bar order.
#[derive(Debug, Clone)]
pub struct Instrument {
    pub symbol: String,
    pub ts: Vec<i64>,
    pub open: Vec<f64>,
    pub high: Vec<f64>,
    pub low: Vec<f64>,
    pub close: Vec<f64>,
    pub volume: Vec<f64>,
    pub signals: Vec<BarSignal>,
}

impl Instrument {
    /// Checks and keeps the bars and signals of `symbol`.
    ///
    /// Errors, naming the column and the index: columns of different lengths; a bad bar
    /// (prices out of range, high below low, open or close outside [low, high], a bad volume,
    /// `ts` going backwards); a signal bar outside the bars; a side other than ±1; an empty
    /// symbol. A signal whose fields do not make a valid `Signal` is kept as invalid, not an
    /// error.
    pub fn new(symbol: &str, bars: BarColumns<'_>, signals: SignalColumns<'_>) -> Result<Self> {
        if symbol.is_empty() {
            return Err(RiskError::invalid("symbol", "must not be empty"));
        }
        check_bars(&bars)?;
        let n = signals.bar.len();
        let column = |name: &'static str, len: usize| {
            if len == n {
                Ok(())
            } else {
                Err(RiskError::invalid(
                    name,
                    format!("must have one value per signal ({n}), got {len}"),
                ))
            }
        };
        column("signal_side", signals.side.len())?;
        let optional = [
            ("stop", signals.stop),
            ("target", signals.target),
            ("confidence", signals.confidence),
            ("atr", signals.atr),
            ("ema", signals.ema),
            ("volume_24h", signals.volume_24h),
            ("spread_bps", signals.spread_bps),
            ("quantity", signals.quantity),
        ];
        for (name, col) in optional {
            if let Some(c) = col {
                column(name, c.len())?;
            }
        }
        if let Some(c) = signals.consensus {
            column("consensus", c.len())?;
        }
        let mut out = Vec::with_capacity(n);
        for k in 0..n {
            let bar = signals.bar[k];
            if !(0..bars.ts.len() as i64).contains(&bar) {
                return Err(RiskError::invalid(
                    "signal_bar",
                    format!(
                        "[{k}] must index a bar (0 ≤ bar < {}), got {bar}",
                        bars.ts.len()
                    ),
                ));
            }
            let side = match signals.side[k] {
                1 => Side::Long,
                -1 => Side::Short,
                s => {
                    return Err(RiskError::invalid(
                        "signal_side",
                        format!("[{k}] must be 1 (long) or -1 (short), got {s}"),
                    ));
                }
            };
            let bar = bar as usize;
            let get = |col: Option<&[f64]>| col.map(|c| c[k]).filter(|x| !x.is_nan());
            let signal = Signal {
                stop: get(signals.stop),
                target: get(signals.target),
                confidence: get(signals.confidence),
                consensus: signals.consensus.and_then(|c| c[k]),
                atr: get(signals.atr),
                ema: get(signals.ema),
                volume_24h: get(signals.volume_24h),
                spread_bps: get(signals.spread_bps),
                quantity: get(signals.quantity),
                ..Signal::new(symbol, side, bars.close[bar])
            };
            let signal = signal.validate().is_ok().then_some(signal);
            out.push(BarSignal { bar, signal });
        }
        // Stable: the signals of one bar keep their order.
        out.sort_by_key(|s| s.bar);
        Ok(Self {
            symbol: symbol.to_owned(),
            ts: bars.ts.to_vec(),
            open: bars.open.to_vec(),
            high: bars.high.to_vec(),
            low: bars.low.to_vec(),
            close: bars.close.to_vec(),
            volume: bars.volume.to_vec(),
            signals: out,
        })
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// The signals of the bars in `start..end`.
    pub fn signals_in(&self, start: usize, end: usize) -> &[BarSignal] {
        let a = self.signals.partition_point(|s| s.bar < start);
        let b = self.signals.partition_point(|s| s.bar < end);
        &self.signals[a..b]
    }
}

fn check_bars(b: &BarColumns<'_>) -> Result<()> {
    let n = b.ts.len();
    for (name, len) in [
        ("open", b.open.len()),
        ("high", b.high.len()),
        ("low", b.low.len()),
        ("close", b.close.len()),
        ("volume", b.volume.len()),
    ] {
        if len != n {
            return Err(RiskError::invalid(
                name,
                format!("must have one value per bar ({n}, the length of ts), got {len}"),
            ));
        }
    }
    let in_range = |x: f64| (MIN_PRICE..=MAX_PRICE).contains(&x);
    for k in 0..n {
        let (o, h, l, c, v) = (b.open[k], b.high[k], b.low[k], b.close[k], b.volume[k]);
        for (name, x) in [("open", o), ("high", h), ("low", l), ("close", c)] {
            if !in_range(x) {
                return Err(RiskError::invalid(
                    name,
                    format!("[{k}] must be finite and in [1e-15, 1e15], got {}", num(x)),
                ));
            }
        }
        if h < l || !(l..=h).contains(&o) || !(l..=h).contains(&c) {
            return Err(RiskError::invalid(
                "high, low",
                format!(
                    "[{k}] must bound open and close: open {}, high {}, low {}, close {}",
                    num(o),
                    num(h),
                    num(l),
                    num(c)
                ),
            ));
        }
        if !(v.is_finite() && v >= 0.0) {
            return Err(RiskError::invalid(
                "volume",
                format!("[{k}] must be finite and ≥ 0, got {}", num(v)),
            ));
        }
        if k > 0 && b.ts[k] < b.ts[k - 1] {
            return Err(RiskError::invalid(
                "ts",
                format!(
                    "[{k}] must not go backwards: got {}, previous {}",
                    b.ts[k],
                    b.ts[k - 1]
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars<'a>(ts: &'a [i64], px: &'a [f64], vol: &'a [f64]) -> BarColumns<'a> {
        BarColumns {
            ts,
            open: px,
            high: px,
            low: px,
            close: px,
            volume: vol,
        }
    }

    #[test]
    fn bad_columns_are_named_with_their_index() {
        let px = [100.0, 101.0, f64::NAN];
        let e =
            Instrument::new("X", bars(&[0, 1, 2], &px, &[0.0; 3]), Default::default()).unwrap_err();
        assert!(e.to_string().starts_with("open [2] must be finite"), "{e}");
        let px = [100.0, 101.0];
        let e =
            Instrument::new("X", bars(&[5, 1], &px, &[0.0; 2]), Default::default()).unwrap_err();
        assert!(
            e.to_string().starts_with("ts [1] must not go backwards"),
            "{e}"
        );
        let sig = SignalColumns {
            bar: &[0, 2],
            side: &[1, 1],
            ..Default::default()
        };
        let e = Instrument::new("X", bars(&[0, 1], &px, &[0.0; 2]), sig).unwrap_err();
        assert!(
            e.to_string().starts_with("signal_bar [1] must index a bar"),
            "{e}"
        );
    }

    #[test]
    fn an_invalid_signal_is_kept_as_invalid_and_signals_go_in_bar_order() {
        let px = [100.0, 101.0];
        let sig = SignalColumns {
            bar: &[1, 0, 1],
            side: &[1, -1, 1],
            stop: Some(&[99.0, 99.0, f64::NAN]),
            ..Default::default()
        };
        let inst = Instrument::new("X", bars(&[0, 1], &px, &[0.0; 2]), sig).unwrap();
        let order: Vec<(usize, bool)> = (inst.signals.iter())
            .map(|s| (s.bar, s.signal.is_some()))
            .collect();
        // The short's stop lies below its entry: invalid.
        assert_eq!(order, vec![(0, false), (1, true), (1, true)]);
        assert_eq!(inst.signals[1].signal.as_ref().unwrap().stop, Some(99.0));
        assert_eq!(inst.signals_in(1, 2).len(), 2);
    }
}
