//! Scenario and property tests of the engine's contract (docs/engine.md). The Python suite
//! holds it to an independent reference model; these pin the core on its own.

use proptest::prelude::*;

use super::*;
use crate::RiskError;

const DAY: i64 = 86_400_000_000_000;
const HOUR: i64 = 3_600_000_000_000;

fn kinds(events: &[Event]) -> Vec<(&'static str, Option<&'static str>)> {
    events
        .iter()
        .map(|e| (e.kind.name(), e.breaker.map(Breaker::name)))
        .collect()
}

fn only(names: &[(&str, LimitValue)]) -> Limits {
    let off = Breaker::CONFIGURABLE
        .iter()
        .map(|b| (b.name(), LimitValue::Off));
    Limits::build(off.chain(names.iter().cloned())).unwrap()
}

fn fill(e: &mut RiskEngine, s: &str, qty: f64, price: f64, ts: i64) -> Vec<Event> {
    let mut out = vec![];
    e.on_fill(SymbolRef::Name(s), qty, price, ts, 0.0, &mut out)
        .unwrap();
    out
}

fn tick(e: &mut RiskEngine, s: &str, price: f64, ts: i64) -> Vec<Event> {
    let mut out = vec![];
    e.on_tick(SymbolRef::Name(s), price, ts, &mut out).unwrap();
    out
}

#[test]
fn daily_loss_trips_once_flattens_and_rearms_next_day() {
    let mut e =
        RiskEngine::new(only(&[("daily_loss", LimitValue::Number(0.05))]), 1000.0, 0).unwrap();
    fill(&mut e, "A", 10.0, 50.0, 1);
    fill(&mut e, "B", -5.0, 20.0, 2);
    assert!(tick(&mut e, "A", 46.0, 3).is_empty()); // −40: a 4 % loss
    let ev = tick(&mut e, "A", 45.0, 4); // −50: exactly 5 %
    assert_eq!(
        kinds(&ev),
        [
            ("breaker_tripped", Some("daily_loss")),
            ("state_changed", Some("daily_loss")),
            ("flatten_requested", Some("daily_loss")),
            ("flatten_requested", Some("daily_loss")),
        ]
    );
    assert_eq!(ev[0].value, 0.05);
    assert_eq!(ev[2].symbol, Some(0));
    assert_eq!((ev[3].symbol, ev[3].value), (Some(1), -5.0));
    assert_eq!(e.state(), TradingState::Halted);
    assert!(
        tick(&mut e, "A", 40.0, 5).is_empty(),
        "reported once per transition"
    );
    // The next day opens at the equity carried in (900), so the same mark is no loss.
    let ev = tick(&mut e, "A", 40.0, DAY);
    assert_eq!(
        kinds(&ev),
        [
            ("breaker_recovered", Some("daily_loss")),
            ("state_changed", Some("daily_loss"))
        ]
    );
    assert_eq!(e.state(), TradingState::Active);
    assert_eq!(e.snapshot().day_open_equity, 900.0);
}

#[test]
fn max_drawdown_stays_latched_across_restore_until_reset() {
    let mut e = RiskEngine::new(
        only(&[("max_drawdown", LimitValue::Number(0.1))]),
        1000.0,
        0,
    )
    .unwrap();
    fill(&mut e, "A", 10.0, 100.0, 0);
    tick(&mut e, "A", 120.0, 1); // peak 1200
    let ev = tick(&mut e, "A", 108.0, 2); // 1080: 10 % off the peak
    assert_eq!(ev[0].kind, EventKind::BreakerTripped);
    let mut r = RiskEngine::from_bytes(&e.to_bytes()).unwrap();
    assert!(
        tick(&mut r, "A", 130.0, 3).is_empty(),
        "latched: a new high does not re-arm"
    );
    assert_eq!(r.state(), TradingState::Halted);
    let mut out = vec![];
    assert!(matches!(
        r.reset("max_drawdown", 4, false, &mut out),
        Err(RiskError::Refused(_))
    ));
    r.reset("max_drawdown", 4, true, &mut out).unwrap();
    assert_eq!(kinds(&out)[0], ("breaker_recovered", Some("max_drawdown")));
    assert_eq!(r.snapshot().peak_equity, 1300.0);
    assert_eq!(r.state(), TradingState::Active);
}

#[test]
fn kill_switch_is_latched_and_idempotent() {
    let mut e = RiskEngine::new(Limits::default(), 1e6, 0).unwrap();
    fill(&mut e, "A", 1.0, 10.0, 0);
    let mut out = vec![];
    e.kill("operator", 5, &mut out).unwrap();
    assert_eq!(
        kinds(&out),
        [
            ("kill_switch", Some("kill_switch")),
            ("state_changed", Some("kill_switch")),
            ("flatten_requested", Some("kill_switch")),
        ]
    );
    assert_eq!(e.describe(&out[0]), "kill switch engaged: operator");
    out.clear();
    e.kill("again", 6, &mut out).unwrap();
    assert!(out.is_empty());
    let mut r = RiskEngine::from_bytes(&e.to_bytes()).unwrap();
    assert_eq!(r.state(), TradingState::Halted);
    r.reset("kill_switch", 7, true, &mut out).unwrap();
    assert_eq!(r.state(), TradingState::Active);
}

fn pause(e: &mut RiskEngine, reason: &str, ts: i64) -> Vec<Event> {
    let mut out = vec![];
    e.pause(reason, ts, &mut out).unwrap();
    out
}

fn resume(e: &mut RiskEngine, ts: i64) -> Vec<Event> {
    let mut out = vec![];
    e.resume(ts, &mut out).unwrap();
    out
}

fn gate_codes(e: &mut RiskEngine, ts: i64) -> Vec<Code> {
    let sig = Signal {
        stop: Some(95.0),
        target: Some(110.0),
        quantity: Some(1.0),
        ..Signal::new("B", Side::Long, 100.0)
    };
    let d = e.evaluate_signal(&sig, ts).unwrap();
    assert_eq!(d.approved, d.reasons.is_empty());
    d.reasons.iter().map(|r| r.code).collect()
}

fn no_filters() -> Limits {
    Limits::build([
        ("signal_filters", LimitValue::Bool(false)),
        ("max_correlation", LimitValue::Off),
    ])
    .unwrap()
}

#[test]
fn pause_reports_once_and_resume_once() {
    let mut e = RiskEngine::new(Limits::default(), 1e6, 0).unwrap();
    fill(&mut e, "A", 1.0, 10.0, 0);
    let ev = pause(&mut e, "news", 5);
    assert_eq!(kinds(&ev), [("paused", None)]);
    let p = ev[0];
    assert_eq!((p.symbol, p.action, p.reason, p.ts), (None, None, None, 5));
    assert!(p.value.is_nan() && p.threshold.is_nan());
    assert_eq!(p.state, TradingState::Active);
    assert_eq!(e.describe(&p), "trading paused: news");
    assert!(e.paused() && e.snapshot().paused);
    assert_eq!(e.pause_reason(), "news");
    assert!(pause(&mut e, "again", 6).is_empty(), "already paused");
    assert_eq!(e.pause_reason(), "news", "the first reason stands");
    assert_eq!((e.state(), e.ts()), (TradingState::Active, 6));
    let ev = resume(&mut e, 7);
    assert_eq!(kinds(&ev), [("resumed", None)]);
    assert_eq!((ev[0].ts, ev[0].state), (7, TradingState::Active));
    assert!(ev[0].value.is_nan() && ev[0].threshold.is_nan() && ev[0].action.is_none());
    assert_eq!(e.describe(&ev[0]), "trading resumed");
    assert!(!e.paused() && e.pause_reason().is_empty());
    assert!(resume(&mut e, 8).is_empty(), "not paused");
    assert_eq!(e.ts(), 8);
    let ev = pause(&mut e, "", 9);
    assert_eq!(e.describe(&ev[0]), "trading paused");
}

#[test]
fn pause_and_resume_refuse_time_going_backwards_and_change_nothing() {
    let mut e = RiskEngine::new(Limits::default(), 1e6, 10).unwrap();
    let before = e.to_bytes();
    let mut out = vec![];
    let err = e.pause("x", 9, &mut out).unwrap_err();
    assert!(err.to_string().contains("ts"), "{err}");
    assert!(out.is_empty() && !e.paused());
    assert_eq!(e.to_bytes(), before);
    pause(&mut e, "x", 10);
    let before = e.to_bytes();
    assert!(e.resume(9, &mut out).is_err());
    assert!(out.is_empty() && e.paused());
    assert_eq!(e.to_bytes(), before);
    assert!(
        e.pause("y", 9, &mut out).is_err(),
        "even when it would do nothing"
    );
}

#[test]
fn pause_rolls_the_session_and_keeps_the_trading_state() {
    let mut e =
        RiskEngine::new(only(&[("daily_loss", LimitValue::Number(0.05))]), 1000.0, 0).unwrap();
    fill(&mut e, "A", 10.0, 50.0, 1);
    tick(&mut e, "A", 45.0, 2);
    assert_eq!(e.state(), TradingState::Halted);
    tick(&mut e, "A", 40.0, 3);
    let ev = pause(&mut e, "desk", DAY);
    assert_eq!(
        ev[0].state,
        TradingState::Halted,
        "a pause is not a breaker"
    );
    assert_eq!(e.state(), TradingState::Halted);
    assert_eq!(
        e.snapshot().day_open_equity,
        900.0,
        "the new day opened at the pause"
    );
    assert_eq!(e.ts(), DAY);
    // a breaker's recovery leaves the pause in force
    let ev = tick(&mut e, "A", 40.0, DAY + 1);
    assert_eq!(kinds(&ev)[0], ("breaker_recovered", Some("daily_loss")));
    assert_eq!(e.state(), TradingState::Active);
    assert!(e.paused());
}

#[test]
fn the_gate_refuses_new_risk_while_paused() {
    let mut e = RiskEngine::new(no_filters(), 10_000.0, 0).unwrap();
    assert_eq!(gate_codes(&mut e, 1), []);
    pause(&mut e, "fomc", 2);
    assert_eq!(gate_codes(&mut e, 3), [Code::TradingPaused]);
    let sig = Signal {
        stop: Some(95.0),
        target: Some(110.0),
        quantity: Some(1.0),
        ..Signal::new("B", Side::Long, 100.0)
    };
    let d = e.evaluate_signal(&sig, 3).unwrap();
    let r = &d.reasons[0];
    assert!(r.value.is_nan() && r.limit.is_nan());
    assert_eq!(r.message, "trading is paused: no new risk (fomc)");
    let d = e
        .check_order(SymbolRef::Name("B"), 1.0, 100.0, 4, false)
        .unwrap();
    let codes: Vec<_> = d.reasons.iter().map(|r| r.code).collect();
    assert_eq!(codes, [Code::TradingPaused]);
    resume(&mut e, 5);
    assert_eq!(gate_codes(&mut e, 6), []);
    let d = e
        .check_order(SymbolRef::Name("B"), 1.0, 100.0, 7, false)
        .unwrap();
    assert!(d.approved, "{:?}", d.reasons);
}

#[test]
fn a_pause_comes_first_in_the_state_group_and_lets_exits_through() {
    let mut e = RiskEngine::new(no_filters(), 10_000.0, 0).unwrap();
    fill(&mut e, "A", 5.0, 100.0, 0);
    pause(&mut e, "", 1);
    let mut out = vec![];
    e.kill("test", 2, &mut out).unwrap();
    assert_eq!(
        gate_codes(&mut e, 3),
        [Code::TradingPaused, Code::TradingHalted, Code::KillSwitch]
    );
    for (qty, reduce_only) in [(-1.0, true), (-2.0, false)] {
        let d = e
            .check_order(SymbolRef::Name("A"), qty, 100.0, 4, reduce_only)
            .unwrap();
        assert!(d.approved, "an exit while paused: {:?}", d.reasons);
        e.on_fill(SymbolRef::Name("A"), qty, 100.0, 4, 0.0, &mut out)
            .unwrap();
    }
    let d = e
        .check_order(SymbolRef::Name("A"), 1.0, 100.0, 5, true)
        .unwrap();
    let codes: Vec<_> = d.reasons.iter().map(|r| r.code).collect();
    assert_eq!(
        codes,
        [
            Code::ReduceOnly,
            Code::TradingPaused,
            Code::TradingHalted,
            Code::KillSwitch
        ]
    );
    // the kill switch's reset leaves the pause alone
    e.reset("kill_switch", 6, true, &mut out).unwrap();
    assert!(e.paused());
    assert_eq!(gate_codes(&mut e, 7), [Code::TradingPaused]);
    assert!(e.reset("pause", 8, true, &mut out).is_err());
    assert!(e.paused());
}

#[test]
fn a_pause_survives_a_restore_with_its_reason() {
    let mut e = RiskEngine::new(no_filters(), 10_000.0, 0).unwrap();
    fill(&mut e, "A", 1.0, 100.0, 0);
    pause(&mut e, "maintenance", 1);
    let mut r = RiskEngine::from_bytes(&e.to_bytes()).unwrap();
    assert!(r.paused() && r.snapshot().paused);
    assert_eq!(r.pause_reason(), "maintenance");
    assert_eq!(r.to_bytes(), e.to_bytes());
    assert_eq!(gate_codes(&mut r, 2), [Code::TradingPaused]);
    assert!(pause(&mut r, "other", 3).is_empty());
    let ev = resume(&mut r, 4);
    assert_eq!(kinds(&ev), [("resumed", None)]);
    let r = RiskEngine::from_bytes(&r.to_bytes()).unwrap();
    assert!(!r.paused() && r.pause_reason().is_empty());
}

#[test]
fn an_image_of_the_previous_format_is_refused() {
    let e = RiskEngine::new(Limits::default(), 1e6, 0).unwrap();
    let mut b = e.to_bytes();
    b.truncate(b.len() - 4);
    b[8..10].copy_from_slice(&2u16.to_le_bytes());
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    let err = RiskEngine::from_bytes(&b).unwrap_err();
    assert!(
        matches!(&err, RiskError::CorruptSnapshot(m) if m.contains("version 2")),
        "{err}"
    );
}

#[test]
fn losing_streak_halts_for_its_cooldown() {
    let mut e = RiskEngine::new(
        only(&[("consecutive_losses", LimitValue::Number(2.0))]),
        1e6,
        0,
    )
    .unwrap();
    fill(&mut e, "A", 1.0, 10.0, 0);
    assert!(fill(&mut e, "A", -1.0, 9.0, 1).is_empty());
    fill(&mut e, "A", -1.0, 10.0, 2);
    let ev = fill(&mut e, "A", 1.0, 11.0, 3); // the short loses: the second loss
    assert_eq!(
        kinds(&ev)[0],
        ("breaker_tripped", Some("consecutive_losses"))
    );
    assert!(tick(&mut e, "A", 11.0, 3 + 4 * HOUR - 1).is_empty());
    let ev = tick(&mut e, "A", 11.0, 3 + 4 * HOUR);
    assert_eq!(
        kinds(&ev)[0],
        ("breaker_recovered", Some("consecutive_losses"))
    );
    assert_eq!(e.snapshot().consecutive_losses, 0);
}

#[test]
fn every_corrupted_byte_is_an_error() {
    let mut e = RiskEngine::new(Limits::default(), 1e6, 0).unwrap();
    fill(&mut e, "A", 1.0, 10.0, 0);
    let bytes = e.to_bytes();
    for i in 0..bytes.len() {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        assert!(RiskEngine::from_bytes(&b).is_err(), "byte {i}");
        assert!(
            RiskEngine::from_bytes(&bytes[..i]).is_err(),
            "truncated at {i}"
        );
    }
}

#[derive(Debug, Clone)]
enum Op {
    Fill(u32, f64, f64),
    Tick(u32, f64),
    Stop(u32, f64),
    Wait(i64),
    Kill,
    Reset(usize),
    Pause,
    Resume,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..3u32, -4i32..=4, 1..400i32)
            .prop_map(|(s, q, p)| Op::Fill(s, f64::from(q), f64::from(p) / 4.0)),
        6 => (0..3u32, 1..400i32).prop_map(|(s, p)| Op::Tick(s, f64::from(p) / 4.0)),
        1 => (0..3u32, 1..400i32).prop_map(|(s, p)| Op::Stop(s, f64::from(p) / 4.0)),
        2 => (0..3 * DAY).prop_map(Op::Wait),
        1 => Just(Op::Kill),
        1 => (0..Breaker::ALL.len()).prop_map(Op::Reset),
        1 => Just(Op::Pause),
        1 => Just(Op::Resume),
    ]
}

/// Applies `op`, returning the events, or None when the engine refused it.
fn apply(e: &mut RiskEngine, ts: &mut i64, op: &Op) -> Option<Vec<Event>> {
    let mut out = vec![];
    let names = ["A", "B", "C"];
    let ok = match *op {
        Op::Fill(s, q, p) => e
            .on_fill(
                SymbolRef::Name(names[s as usize]),
                q,
                p,
                *ts,
                0.25,
                &mut out,
            )
            .is_ok(),
        Op::Tick(s, p) => e
            .on_tick(SymbolRef::Name(names[s as usize]), p, *ts, &mut out)
            .is_ok(),
        Op::Stop(s, p) => e
            .set_stop(SymbolRef::Name(names[s as usize]), Some(p))
            .is_ok(),
        Op::Wait(d) => {
            *ts += d;
            true
        }
        Op::Kill => e.kill("test", *ts, &mut out).is_ok(),
        Op::Reset(b) => e.reset(Breaker::ALL[b].name(), *ts, true, &mut out).is_ok(),
        Op::Pause => e.pause("test", *ts, &mut out).is_ok(),
        Op::Resume => e.resume(*ts, &mut out).is_ok(),
    };
    ok.then_some(out)
}

fn small_limits() -> Limits {
    Limits::build([("volatility_warmup", LimitValue::Number(2.0))]).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn refused_calls_change_nothing_and_restores_replay_exactly(
        ops in prop::collection::vec(op(), 1..60),
        cut in 0usize..60,
    ) {
        let mut e = RiskEngine::new(small_limits(), 10_000.0, 0).unwrap();
        let mut restored: Option<RiskEngine> = None;
        let mut ts = 0;
        for (k, op) in ops.iter().enumerate() {
            if k == cut {
                restored = Some(RiskEngine::from_bytes(&e.to_bytes()).unwrap());
            }
            let before = e.to_bytes();
            let got = apply(&mut e, &mut ts, op);
            if got.is_none() {
                prop_assert_eq!(&before, &e.to_bytes());
            }
            if let Some(r) = restored.as_mut() {
                let mut ts_r = ts;
                if let Op::Wait(d) = op { ts_r -= d; }
                let again = apply(r, &mut ts_r, op);
                prop_assert_eq!(got.is_some(), again.is_some());
                prop_assert_eq!(format!("{:?}", got), format!("{:?}", again));
            }
        }
        if let Some(r) = restored {
            prop_assert_eq!(e.to_bytes(), r.to_bytes());
        }
    }

    #[test]
    fn on_ticks_equals_on_tick_in_a_loop(
        prices in prop::collection::vec((0..3u32, 1..400i32, 0..2 * HOUR), 1..200),
    ) {
        let mut a = RiskEngine::new(small_limits(), 10_000.0, 0).unwrap();
        let mut out = vec![];
        for (s, q) in [("A", 10.0), ("B", -20.0), ("C", 5.0)] {
            a.on_fill(SymbolRef::Name(s), q, 50.0, 0, 0.0, &mut out).unwrap();
        }
        let mut b = a.clone();
        let (mut ids, mut px, mut ts, mut t) = (vec![], vec![], vec![], 0);
        for &(s, p, d) in &prices {
            t += d;
            ids.push(s);
            px.push(f64::from(p) / 4.0);
            ts.push(t);
        }
        let mut one = vec![];
        for k in 0..ids.len() {
            a.on_tick(SymbolRef::Id(ids[k]), px[k], ts[k], &mut one).unwrap();
        }
        let mut batch = vec![];
        b.on_ticks(&ids, &px, &ts, &mut batch).unwrap();
        prop_assert_eq!(format!("{one:?}"), format!("{batch:?}"));
        prop_assert_eq!(a.to_bytes(), b.to_bytes());
    }
}

/// A managed long on "D" filled at 100 after `bars` daily bars, with the given limits.
fn daily_trade(limits: Limits, bars: i64) -> (RiskEngine, i64) {
    let mut e = RiskEngine::new(limits, 1e6, 0).unwrap();
    for i in 0..bars {
        let p = 100.0 + (i % 3) as f64 * 0.5;
        e.on_bar(SymbolRef::Name("D"), p, p + 1.0, p - 1.0, p, 1e6, i * DAY)
            .unwrap();
    }
    let ts = bars * DAY;
    let sig = Signal {
        stop: Some(95.0),
        target: Some(200.0),
        quantity: Some(1.0),
        ..Signal::new("D", Side::Long, 100.0)
    };
    let d = e.evaluate_signal(&sig, ts).unwrap();
    assert!(d.approved, "{:?}", d.reasons);
    fill(&mut e, "D", 1.0, 100.0, ts);
    (e, ts)
}

fn time_exits(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| {
            e.kind.name() == "exit_signal" && e.reason.map(ExitReason::name) == Some("time")
        })
        .count()
}

#[test]
fn a_daily_trade_is_not_timed_out_after_one_bar_but_after_its_bars() {
    let limits = Limits::build([
        ("signal_filters", LimitValue::Bool(false)),
        ("require_trend", LimitValue::Bool(false)),
        ("max_correlation", LimitValue::Off),
        ("max_bars_no_progress", LimitValue::Number(5.0)),
    ])
    .unwrap();
    let (mut e, t0) = daily_trade(limits, 30);
    // No progress at all: four days later nothing, the fifth day the time exit.
    for day in 1..5 {
        assert_eq!(
            time_exits(&tick(&mut e, "D", 99.5, t0 + day * DAY)),
            0,
            "day {day}"
        );
    }
    assert_eq!(time_exits(&tick(&mut e, "D", 99.5, t0 + 5 * DAY)), 1);
}

#[test]
fn hours_and_bars_together_the_shorter_window_applies_and_without_bars_only_hours() {
    let both = Limits::build([
        ("signal_filters", LimitValue::Bool(false)),
        ("require_trend", LimitValue::Bool(false)),
        ("max_correlation", LimitValue::Off),
        ("max_bars_no_progress", LimitValue::Number(5.0)),
        ("max_hours_no_progress", LimitValue::Number(48.0)),
    ])
    .unwrap();
    let (mut e, t0) = daily_trade(both.clone(), 30);
    assert_eq!(time_exits(&tick(&mut e, "D", 99.5, t0 + DAY)), 0);
    assert_eq!(time_exits(&tick(&mut e, "D", 99.5, t0 + 2 * DAY)), 1);
    // Two bars only: no bar length is known yet, so the 48 hours alone apply.
    let (mut e, t0) = daily_trade(both, 2);
    assert_eq!(time_exits(&tick(&mut e, "D", 99.5, t0 + 47 * HOUR)), 0);
    assert_eq!(time_exits(&tick(&mut e, "D", 99.5, t0 + 48 * HOUR)), 1);
}

#[test]
fn the_default_time_exit_counts_bars() {
    let limits = Limits::default();
    assert_eq!(limits.policy.get(Knob::MaxHoursNoProgress), None);
    assert_eq!(limits.policy.get(Knob::MaxBarsNoProgress), Some(24.0));
}

fn vol_codes(atr: f64, confidence: f64) -> Vec<Code> {
    let limits = Limits::build([
        ("require_trend", LimitValue::Bool(false)),
        ("max_correlation", LimitValue::Off),
        ("allowed_consensus", LimitValue::Off),
        ("min_volume_24h", LimitValue::Off),
        ("max_spread_bps", LimitValue::Off),
    ])
    .unwrap();
    let mut e = RiskEngine::new(limits, 1e6, 0).unwrap();
    let sig = Signal {
        stop: Some(90.0),
        target: Some(130.0),
        quantity: Some(1.0),
        atr: Some(atr),
        confidence: Some(confidence),
        ..Signal::new("V", Side::Long, 100.0)
    };
    let d = e.evaluate_signal(&sig, 0).unwrap();
    d.reasons.iter().map(|r| r.code).collect()
}

#[test]
fn the_volatility_gate_refuses_above_max_atr_ratio_and_raises_the_floor_above_the_lower_one() {
    // Defaults: max_atr_ratio 0.05, high_vol_atr_ratio 0.03, high_vol_confidence 0.80,
    // min_confidence 0.70.
    assert_eq!(vol_codes(2.0, 0.75), vec![]);
    assert_eq!(vol_codes(4.0, 0.75), vec![Code::ConfidenceTooLow]);
    assert_eq!(vol_codes(4.0, 0.85), vec![]);
    // A chaotic market is refused at any confidence.
    assert_eq!(vol_codes(6.0, 0.99), vec![Code::VolatilityTooHigh]);
}

#[test]
fn a_format_3_image_is_read_and_answers_as_it_did() {
    // A format-3 engine with the defaults of then: one ATR ratio of 0.05, a 24-hour exit.
    let limits = Limits::build([
        ("max_hours_no_progress", LimitValue::Number(24.0)),
        ("high_vol_atr_ratio", LimitValue::Number(0.05)),
        ("max_atr_ratio", LimitValue::Off),
    ])
    .unwrap();
    let e = RiskEngine::new(limits, 1e6, 0).unwrap();
    let restored = RiskEngine::from_bytes(&e.to_bytes_of_format_3()).unwrap();
    let p = &restored.limits().policy;
    // Format 3 had one ATR ratio, which only raised the confidence floor.
    assert_eq!(p.get(Knob::MaxAtrRatio), None);
    assert_eq!(p.get(Knob::HighVolAtrRatio), Some(0.05));
    assert_eq!(p.get(Knob::MaxBarsNoProgress), None);
    assert_eq!(p.get(Knob::MaxHoursNoProgress), Some(24.0));
    // Written again, it is an image of the current format, read back the same.
    let again = RiskEngine::from_bytes(&restored.to_bytes()).unwrap();
    assert_eq!(again.to_bytes(), restored.to_bytes());
}
