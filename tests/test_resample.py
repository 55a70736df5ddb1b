"""The stationary bootstrap (riskguard.app.backtest.resample): its block structure, known answers
on synthetic data (the mean of a bootstrap mean, the coverage of a paired interval), and arch's
StationaryBootstrap and optimal_block_length as outside oracles."""

from __future__ import annotations

import numpy as np
import pytest
import riskguard as rg
from arch.bootstrap import StationaryBootstrap
from arch.bootstrap import optimal_block_length as arch_block_length
from riskguard.app.backtest import resample
from riskguard.app.backtest.resample import (
    optimal_block_length,
    paired_bootstrap,
    paired_difference,
    percentile_interval,
    stationary_indices,
)
from scipy import stats


def ar1(phi: float, n: int, rng: np.random.Generator) -> np.ndarray:
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0] / np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def continued(indices: np.ndarray, n: int) -> np.ndarray:
    """Whether each step of each resample continues a block (the next position, wrapping)."""
    return np.diff(indices, axis=1) % n == 1


def mean_of_rows(sample: np.ndarray) -> np.ndarray:
    return sample.mean(axis=0)


def test_block_length_one_is_the_iid_bootstrap():
    n = 400
    idx = stationary_indices(n, 1.0, 500, np.random.default_rng(1))
    # Each position is drawn afresh: a step continues a block only by chance (1 in n), and
    # every position is equally likely.
    assert continued(idx, n).mean() == pytest.approx(1 / n, abs=1.5e-3)
    counts = np.bincount(idx.ravel(), minlength=n)
    assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("block", [2.0, 5.0, 20.0])
def test_blocks_have_the_mean_length_asked_for(block):
    n = 500
    idx = stationary_indices(n, block, 400, np.random.default_rng(2))
    assert idx.shape == (400, n) and idx.min() >= 0 and idx.max() < n
    # A new block starts with probability 1 / block after each observation.
    assert continued(idx, n).mean() == pytest.approx(1 - 1 / block, abs=0.01)


def test_the_mean_of_the_bootstrapped_mean_is_the_sample_mean():
    rng = np.random.default_rng(3)
    x = ar1(0.5, 300, rng) + 0.2
    idx = stationary_indices(x.size, 8.0, 4000, rng)
    means = x[idx].mean(axis=1)
    # Circular blocks use every observation equally often on average: unbiased for the mean.
    assert abs(means.mean() - x.mean()) < 4 * means.std() / np.sqrt(means.size)


def test_the_interval_of_a_paired_difference_covers_the_truth_at_the_nominal_rate():
    rng = np.random.default_rng(4)
    n, reps, truth = 250, 200, 0.1
    covered = 0
    for seed in range(reps):
        common = rng.standard_normal(n)  # the runs share a market: paired, correlated
        a = common + truth + 0.5 * rng.standard_normal(n)
        b = common + 0.5 * rng.standard_normal(n)
        diffs = paired_bootstrap(
            a, b, mean_of_rows, block_length=optimal_block_length(a - b), resamples=400, seed=seed
        )
        low, high = percentile_interval(diffs, 0.95)
        covered += low <= truth <= high
    assert 0.89 <= covered / reps <= 0.99


def test_the_bootstrapped_mean_matches_arch_stationary_bootstrap():
    rng = np.random.default_rng(5)
    x = ar1(0.6, 500, rng)
    mine = x[stationary_indices(x.size, 10.0, 4000, np.random.default_rng(0))].mean(axis=1)
    theirs = np.array(
        [data[0][0].mean() for data in StationaryBootstrap(10.0, x, seed=1).bootstrap(4000)]
    )
    # Two independent draws of one distribution: compared statistically, not draw by draw.
    assert stats.ks_2samp(mine, theirs).pvalue > 1e-3
    assert mine.std() == pytest.approx(theirs.std(), rel=0.08)
    spread = theirs.std()
    for q in (0.025, 0.5, 0.975):
        assert abs(np.quantile(mine, q) - np.quantile(theirs, q)) < 0.15 * spread


def test_a_wrong_block_length_gives_another_distribution_than_arch():
    """The oracle comparison can fail: i.i.d. resampling of a persistent series is too narrow."""
    rng = np.random.default_rng(6)
    x = ar1(0.6, 500, rng)
    mine = x[stationary_indices(x.size, 1.0, 4000, np.random.default_rng(0))].mean(axis=1)
    theirs = np.array(
        [data[0][0].mean() for data in StationaryBootstrap(10.0, x, seed=1).bootstrap(4000)]
    )
    assert stats.ks_2samp(mine, theirs).pvalue < 1e-6


@pytest.mark.parametrize("phi", [0.5, 0.8])
def test_the_block_length_is_politis_whites(phi):
    rng = np.random.default_rng(7)
    series = [ar1(phi, 1000, rng) for _ in range(10)]
    mine = np.array([optimal_block_length(x) for x in series])
    theirs = arch_block_length(np.column_stack(series))["stationary"].to_numpy()
    # arch picks the bandwidth from autocorrelations computed a little differently; on
    # average the two agree closely, and both near the AR(1) optimum.
    assert mine.mean() == pytest.approx(theirs.mean(), rel=0.15)
    optimum = (4 * phi**2 / (1 - phi**2) ** 2) ** (1 / 3) * 1000 ** (1 / 3)
    assert mine.mean() == pytest.approx(optimum, rel=0.3)


def test_the_block_length_of_independent_or_constant_data_is_short():
    rng = np.random.default_rng(8)
    assert np.mean([optimal_block_length(rng.standard_normal(500)) for _ in range(10)]) < 3
    assert optimal_block_length(np.zeros(100)) == 1.0
    assert optimal_block_length(np.array([1.0, 2.0])) == 1.0
    assert optimal_block_length(np.arange(30.0)) <= np.ceil(min(3 * np.sqrt(30), 10))


def test_the_same_seed_gives_the_same_resamples():
    x = np.random.default_rng(9).standard_normal(100)
    y = x + 0.1
    one = paired_bootstrap(x, y, mean_of_rows, block_length=4.0, resamples=200, seed=5)
    assert np.array_equal(
        one, paired_bootstrap(x, y, mean_of_rows, block_length=4.0, resamples=200, seed=5)
    )
    z = np.random.default_rng(10).standard_normal(100)
    other = paired_bootstrap(x, z, mean_of_rows, block_length=4.0, resamples=200, seed=6)
    assert not np.array_equal(
        other, paired_bootstrap(x, z, mean_of_rows, block_length=4.0, resamples=200, seed=5)
    )


def test_resamples_drawn_in_chunks_are_those_drawn_at_once(monkeypatch):
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((2, 120, 2))
    whole = paired_bootstrap(x, y, lambda s: s.sum(axis=0), block_length=3.0, resamples=50)
    monkeypatch.setattr(resample, "_CHUNK_VALUES", 7 * x.size)
    chunked = paired_bootstrap(x, y, lambda s: s.sum(axis=0), block_length=3.0, resamples=50)
    assert chunked.shape == (50, 2) and np.array_equal(whole, chunked)


def test_a_series_against_itself_differs_by_exactly_zero():
    r = np.random.default_rng(12).normal(0.0, 0.01, 300)
    r[:10] = 0.0  # some resamples are flat: a NaN Sharpe on both sides is the same figure

    def sharpe(sample: np.ndarray) -> np.ndarray:
        return rg.sharpe_ratio(sample, periods_per_year=365.25)

    diffs = paired_bootstrap(r, r.copy(), sharpe, block_length=300.0, resamples=300)
    assert np.array_equal(diffs, np.zeros(300))
    assert percentile_interval(diffs) == (0.0, 0.0)
    assert paired_difference(r, r.copy(), sharpe) == 0.0
    assert paired_difference(r, r + 0.001, sharpe) != 0.0


def test_percentile_interval():
    assert percentile_interval(np.arange(101.0), 0.9) == (5.0, 95.0)
    assert percentile_interval(np.array([np.nan, 1.0, np.nan, 3.0]), 0.5) == (1.5, 2.5)
    low, high = percentile_interval(np.full(3, np.nan))
    assert np.isnan(low) and np.isnan(high)


def test_bad_arguments_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(rg.RiskError, match="block_length"):
        stationary_indices(10, 0.5, 10, rng)
    with pytest.raises(rg.RiskError, match="block_length"):
        stationary_indices(10, np.inf, 10, rng)
    with pytest.raises(rg.RiskError, match="n and resamples"):
        stationary_indices(0, 2.0, 10, rng)
    with pytest.raises(rg.RiskError, match="one shape"):
        paired_bootstrap(np.zeros(5), np.zeros(6), mean_of_rows, block_length=1.0)
    with pytest.raises(rg.RiskError, match="confidence"):
        percentile_interval(np.zeros(3), 1.0)
