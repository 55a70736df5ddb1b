//! Core kernels without Python in the way: `cargo bench -p riskguard-core`.

use ndarray::Array2;
use riskguard_core::analytics::{
    correlation, drawdown, montecarlo, quantile, ratios, rolling, tail,
};

fn main() {
    divan::main();
}

/// Deterministic pseudo-returns in roughly ±2 %, so benches need no RNG crate.
fn returns(rows: usize, cols: usize) -> Array2<f64> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    Array2::from_shape_fn((rows, cols), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.04
    })
}

#[divan::bench(args = [100, 1000])]
fn var_historical_2520(bencher: divan::Bencher, cols: usize) {
    let x = returns(2520, cols);
    let spec = quantile::TailSpec::new(0.95, 1, "linear", "sqrt").unwrap();
    bencher.bench(|| quantile::var_historical(divan::black_box(x.view()), &spec).unwrap());
}

#[divan::bench(args = [100, 1000])]
fn tail_risk_2520(bencher: divan::Bencher, cols: usize) {
    let x = returns(2520, cols);
    let spec = quantile::TailSpec::new(0.95, 1, "linear", "sqrt").unwrap();
    bencher.bench(|| tail::tail_risk(divan::black_box(x.view()), &spec).unwrap());
}

#[divan::bench(args = [100, 1000])]
fn max_drawdown_2520(bencher: divan::Bencher, cols: usize) {
    let x = returns(2520, cols);
    bencher.bench(|| drawdown::max_drawdown(divan::black_box(x.view())).unwrap());
}

#[divan::bench(args = [100, 1000])]
fn sharpe_2520(bencher: divan::Bencher, cols: usize) {
    let x = returns(2520, cols);
    bencher.bench(|| ratios::sharpe_ratio(divan::black_box(x.view()), 0.0, 252.0).unwrap());
}

#[divan::bench]
fn rolling_var_252_over_100k(bencher: divan::Bencher) {
    let x = returns(100_000, 1);
    bencher.bench(|| {
        rolling::rolling_tail(
            x.view(),
            252,
            0.95,
            None,
            quantile::Interpolation::Linear,
            rolling::TailStat::Var,
        )
        .unwrap()
    });
}

#[divan::bench]
fn rolling_correlation_60_1000x50(bencher: divan::Bencher) {
    let x = returns(1000, 50);
    bencher.bench(|| rolling::rolling_correlation(x.view(), 60, None).unwrap());
}

#[divan::bench]
fn correlation_2520x200(bencher: divan::Bencher) {
    let x = returns(2520, 200);
    bencher.bench(|| correlation::correlation(x.view(), correlation::CovMethod::Sample).unwrap());
}

#[divan::bench]
fn monte_carlo_10k_paths_50_assets(bencher: divan::Bencher) {
    let x = returns(2520, 50);
    let w = vec![1.0 / 50.0; 50];
    let spec = montecarlo::McSpec::new(0.99, 1, 10_000, 0, "normal", false).unwrap();
    bencher.bench(|| montecarlo::var_monte_carlo(x.view(), &w, None, &spec).unwrap());
}
