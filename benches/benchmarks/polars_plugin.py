"""asv benchmarks for the polars plugin, ``riskguard_polars`` (``pl.col(...).risk.*``).

The data are a long-format panel, as polars users hold returns: one row per (date, asset), the
assets interleaved, ``make_returns``' one-factor model with 2 % of the returns missing (null).
Each benchmark is skipped when riskguard-polars is not installed: asv's environments build the
main package only, so run these with ``asv run --python=same`` after
``pip install -e rust/riskguard-polars``. The peer comparison lives in ``benches/compare.py``
(row ``polars_groupby_var``).
"""

from __future__ import annotations

import numpy as np

from .analytics import make_returns

try:
    import polars as pl
    import riskguard_polars  # noqa: F401  (registers the ``risk`` namespace)
except ImportError:  # pragma: no cover - every benchmark is then skipped
    pl = None


def make_panel(t: int, n: int) -> pl.DataFrame:
    """``t`` dates × ``n`` assets in long format: columns ``g`` (asset) and ``r`` (return)."""
    x = make_returns(t, n, nan_fraction=0.02)
    return pl.DataFrame({"g": np.tile(np.arange(n), t), "r": x.ravel()}).with_columns(
        pl.col("r").fill_nan(None)
    )


class PolarsGroupBy:
    """One risk figure per asset through ``group_by("g").agg(...)``."""

    params = ([100, 10_000], [250, 2520])
    param_names = ["n_groups", "rows_per_group"]
    timeout = 300

    def setup(self, n, t):
        if pl is None:
            raise NotImplementedError("riskguard-polars is not installed")
        if n * t > 5_000_000:  # keep --quick runs quick; 10000 × 2520 is compare.py's job
            raise NotImplementedError("too large for the asv suite")
        self.df = make_panel(t, n)

    def time_var(self, n, t):
        self.df.group_by("g").agg(pl.col("r").risk.var(0.99))

    def time_cvar(self, n, t):
        self.df.group_by("g").agg(pl.col("r").risk.cvar(0.99))

    def time_max_drawdown(self, n, t):
        self.df.group_by("g").agg(pl.col("r").risk.max_drawdown())

    def time_all_three(self, n, t):
        r = pl.col("r")
        self.df.group_by("g").agg(
            var=r.risk.var(0.99), cvar=r.risk.cvar(0.99), mdd=r.risk.max_drawdown()
        )


class PolarsOver:
    """The per-asset VaR broadcast back to every row with ``over("g")``."""

    def setup(self):
        if pl is None:
            raise NotImplementedError("riskguard-polars is not installed")
        self.df = make_panel(250, 2_000)

    def time_var_over(self):
        self.df.with_columns(v=pl.col("r").risk.var(0.99).over("g"))


class PolarsSelect:
    """One long column reduced in ``select``: the plugin's per-call cost is negligible here."""

    def setup(self):
        if pl is None:
            raise NotImplementedError("riskguard-polars is not installed")
        self.df = make_panel(1_000_000, 1)

    def time_var_select(self):
        self.df.select(pl.col("r").risk.var(0.99))

    def time_max_drawdown_select(self):
        self.df.select(pl.col("r").risk.max_drawdown())
