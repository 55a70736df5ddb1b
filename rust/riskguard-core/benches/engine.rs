//! The tick path without Python: `cargo bench -p riskguard-core --bench engine`.
//! 100 open positions, every breaker armed, a random walk of ticks over all of them.

use riskguard_core::engine::{Limits, RiskEngine, SymbolRef};

fn main() {
    divan::main();
}

const TICKS: usize = 1_000_000;

fn engine(positions: usize) -> (RiskEngine, Vec<u32>, Vec<f64>, Vec<i64>) {
    let mut e = RiskEngine::new(Limits::default(), 1e9, 0).unwrap();
    let mut out = Vec::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // Longs and shorts, half of them stopped 5 % away, as a real book interleaves them.
    for i in 0..positions {
        let name = format!("S{i}");
        let side = if next() % 2 == 0 { 1.0 } else { -1.0 };
        e.on_fill(
            SymbolRef::Name(&name),
            side * 1000.0,
            100.0,
            0,
            0.0,
            &mut out,
        )
        .unwrap();
        if i % 2 == 0 {
            e.set_stop(SymbolRef::Name(&name), Some(100.0 * (1.0 - 0.05 * side)))
                .unwrap();
        }
    }
    let mut prices = vec![100.0; positions];
    let (mut ids, mut px, mut ts) = (vec![], vec![], vec![]);
    for k in 0..TICKS {
        let i = (next() % positions as u64) as usize;
        prices[i] *= 1.0 + ((next() >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.0005;
        ids.push(i as u32);
        px.push(prices[i]);
        ts.push(1 + k as i64 * 1_000_000);
    }
    (e, ids, px, ts)
}

#[divan::bench(args = [1, 100, 1000], sample_count = 10)]
fn on_ticks_1m(bencher: divan::Bencher, positions: usize) {
    let (e, ids, px, ts) = engine(positions);
    let mut out = Vec::with_capacity(1024);
    bencher.with_inputs(|| e.clone()).bench_local_refs(|e| {
        out.clear();
        e.on_ticks(&ids, &px, &ts, &mut out).unwrap();
    });
}
