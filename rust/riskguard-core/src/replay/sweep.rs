//! Many replays at once: every set of limits on every segment of every instrument, in
//! parallel (rayon), each from a fresh engine and account. The result depends on the inputs
//! only, never on the number of threads or the order they finish in.

use rayon::prelude::*;

use crate::engine::Limits;
use crate::error::{Result, RiskError};

use super::input::Instrument;
use super::metrics::{Scores, scores};
use super::replay::{ReplaySettings, replay_range};

/// The scores of a sweep, indexed `[limits][instrument][segment]`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    pub shape: (usize, usize, usize),
    pub scores: Vec<Scores>,
}

/// Replays `instruments` under each of `limits` on each instrument's `segments` (half-open bar
/// ranges `start..end`; every instrument has as many), and scores each replay
/// ([`scores`]).
///
/// Errors: invalid limits (named by index) or settings; a segment count that differs between
/// instruments; a segment outside its instrument's bars; what a replay raises (the first in
/// index order).
pub fn sweep(
    instruments: &[&Instrument],
    limits: &[Limits],
    settings: &ReplaySettings,
    segments: &[Vec<(usize, usize)>],
) -> Result<Sweep> {
    if segments.len() != instruments.len() {
        return Err(RiskError::invalid(
            "segments",
            format!(
                "must hold one list per instrument ({}), got {}",
                instruments.len(),
                segments.len()
            ),
        ));
    }
    let per = segments.first().map_or(0, Vec::len);
    for (i, (segs, inst)) in segments.iter().zip(instruments).enumerate() {
        if segs.len() != per {
            return Err(RiskError::invalid(
                "segments",
                format!(
                    "[{i}] must hold {per} segments as the first does, got {}",
                    segs.len()
                ),
            ));
        }
        if let Some(&(a, b)) = segs.iter().find(|&&(a, b)| a > b || b > inst.len()) {
            return Err(RiskError::invalid(
                "segments",
                format!(
                    "[{i}] must be bar ranges start ≤ end ≤ {} of {:?}, got ({a}, {b})",
                    inst.len(),
                    inst.symbol
                ),
            ));
        }
    }
    let limits: Vec<Limits> = (limits.iter().enumerate())
        .map(|(k, l)| {
            l.clone()
                .validate()
                .map_err(|e| RiskError::invalid("limits", format!("[{k}] are invalid: {e}")))
        })
        .collect::<Result<_>>()?;
    super::fills::PaperAccount::new(settings.account)?;
    let (nl, ni) = (limits.len(), instruments.len());
    let outcomes: Vec<Result<Scores>> = (0..nl * ni * per)
        .into_par_iter()
        .map(|k| {
            let (l, rest) = (k / (ni * per), k % (ni * per));
            let (i, s) = (rest / per, rest % per);
            let inst = instruments[i];
            let (a, b) = segments[i][s];
            let run = replay_range(inst, a, b, &limits[l], settings, false)?;
            let closed = run.trades.iter().filter(|t| t.exit_ts.is_some()).count();
            Ok(scores(&inst.ts[a..b], &run.equity, closed))
        })
        .collect();
    let scores = outcomes.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(Sweep {
        shape: (nl, ni, per),
        scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::LimitValue;
    use crate::replay::input::{BarColumns, SignalColumns};

    /// A seeded random walk of daily bars with a signal every 25 bars, alternating sides.
    fn walk(seed: u64, n: usize) -> Instrument {
        let mut x = seed;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let mut close = vec![100.0];
        for _ in 1..n {
            let last = close[close.len() - 1];
            close.push(last * (1.0 + 0.03 * next()));
        }
        let open: Vec<f64> = (0..n).map(|k| close[k.saturating_sub(1)]).collect();
        let high: Vec<f64> = (0..n).map(|k| open[k].max(close[k]) * 1.005).collect();
        let low: Vec<f64> = (0..n).map(|k| open[k].min(close[k]) * 0.995).collect();
        let ts: Vec<i64> = (0..n as i64).map(|k| k * 86_400_000_000_000).collect();
        let bar: Vec<i64> = (30..n as i64).step_by(25).collect();
        let side: Vec<i8> = (0..bar.len())
            .map(|k| if k % 2 == 0 { 1 } else { -1 })
            .collect();
        let atr: Vec<f64> = bar.iter().map(|&b| close[b as usize] * 0.02).collect();
        let bars = BarColumns {
            ts: &ts,
            open: &open,
            high: &high,
            low: &low,
            close: &close,
            volume: &vec![0.0; n],
        };
        let signals = SignalColumns {
            bar: &bar,
            side: &side,
            atr: Some(&atr),
            ..Default::default()
        };
        Instrument::new(&format!("S{seed}"), bars, signals).unwrap()
    }

    #[test]
    fn a_sweep_is_its_replays_scored_in_index_order() {
        let insts = [walk(1, 600), walk(2, 500)];
        let refs: Vec<&Instrument> = insts.iter().collect();
        let limits: Vec<Limits> = [1.0, 2.0, 3.0]
            .iter()
            .map(|&sl| {
                Limits::build([
                    ("signal_filters", LimitValue::Bool(false)),
                    ("sl_atr", LimitValue::Number(sl)),
                ])
                .unwrap()
            })
            .collect();
        let segments = vec![vec![(0, 300), (300, 600)], vec![(0, 250), (250, 500)]];
        let settings = ReplaySettings::default();
        let got = sweep(&refs, &limits, &settings, &segments).unwrap();
        assert_eq!(got.shape, (3, 2, 2));
        for (l, lim) in limits.iter().enumerate() {
            for (i, inst) in insts.iter().enumerate() {
                for (s, &(a, b)) in segments[i].iter().enumerate() {
                    let run = replay_range(inst, a, b, lim, &settings, false).unwrap();
                    let closed = run.trades.iter().filter(|t| t.exit_ts.is_some()).count();
                    let want = scores(&inst.ts[a..b], &run.equity, closed);
                    let have = got.scores[(l * 2 + i) * 2 + s];
                    assert_eq!(format!("{have:?}"), format!("{want:?}"), "{l} {i} {s}");
                }
            }
        }
        assert!(got.scores.iter().any(|s| s.trades > 0.0));
        // Again, bit for bit (NaN included, which == would not see as equal).
        let again = sweep(&refs, &limits, &settings, &segments).unwrap();
        assert_eq!(format!("{again:?}"), format!("{got:?}"));
    }

    #[test]
    fn bad_segments_and_limits_are_named() {
        let inst = walk(3, 100);
        let settings = ReplaySettings::default();
        let e = sweep(
            &[&inst],
            &[Limits::default()],
            &settings,
            &[vec![(50, 101)]],
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("segments [0] must be bar ranges"),
            "{e}"
        );
        let e = sweep(&[&inst], &[], &settings, &[]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("segments must hold one list per instrument"),
            "{e}"
        );
    }
}
