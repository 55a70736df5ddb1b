"""asv benchmarks for ``riskguard.batch.portfolio_risk``: many portfolios over one scenario
matrix, by both methods, from a polars table to the result.

The book is seeded: ``portfolios`` accounts of ``positions`` distinct symbols each (drawn from a
universe of ``symbols``), long and short exposures of a few thousand to a few hundred thousand,
in a table sorted by account as a positions export is; the scenarios are daily returns from a
one-factor model with fat tails. ``benches/compare.py`` times the full-size case (a million
portfolios) against a sparse-matrix numpy reference.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from riskguard.batch import portfolio_risk

from .analytics import make_returns


def make_book(
    portfolios: int, positions: int = 20, symbols: int = 500, scenarios: int = 250, seed: int = 7
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``(positions, returns)``: the positions table (``portfolio_id``, ``symbol``,
    ``exposure``) and a returns table with one column per symbol."""
    rng = np.random.default_rng([seed, portfolios, positions, symbols])
    names = [f"S{k:04d}" for k in range(symbols)]
    # Distinct symbols per account: the first `positions` of a random key per (account, symbol)
    # would cost P×S memory, so draw with a stride that never repeats within an account.
    start = rng.integers(0, symbols, portfolios)[:, None]
    step = rng.choice(np.array([k for k in range(1, symbols) if np.gcd(k, symbols) == 1]))
    codes = (start + step * np.arange(positions)[None, :]) % symbols
    size = np.exp(rng.normal(9.5, 1.0, (portfolios, positions)))
    side = np.where(rng.random((portfolios, positions)) < 0.8, 1.0, -1.0)
    book = pl.DataFrame(
        {
            "portfolio_id": np.repeat(np.arange(portfolios, dtype=np.int64), positions),
            "symbol": np.asarray(names)[codes.ravel()],
            "exposure": (size * side).ravel(),
        }
    )
    returns = pl.DataFrame(make_returns(scenarios, symbols, seed=seed), schema=names)
    return book, returns


class PortfolioRisk:
    """``portfolio_risk`` over a sorted positions table of 20 positions per portfolio."""

    params = ([10_000, 100_000], ["historical", "parametric"])
    param_names = ["portfolios", "method"]
    timeout = 120

    def setup(self, portfolios: int, method: str) -> None:
        self.book, self.returns = make_book(portfolios)

    def time_portfolio_risk(self, portfolios: int, method: str) -> None:
        portfolio_risk(self.book, self.returns, confidence=0.99, method=method)

    def peakmem_portfolio_risk(self, portfolios: int, method: str) -> None:
        portfolio_risk(self.book, self.returns, confidence=0.99, method=method)
