"""``riskguard optimize``: risk settings chosen out of sample.

A grid of ``[limits]`` settings (or random samples of it) is searched with walk-forward
validation. The time span of the prices is cut into ``windows`` consecutive windows of equal
length; each window's first ``train`` share is its training part, the rest its test part. In
each window every setting is replayed (the engine-speed replay of
:mod:`riskguard.app.backtest.replay`, which gives what a backtest gives) on the training part,
the best by the objective is chosen, and that choice is scored on the test part, which took no
part in choosing it. The report shows each window's in-sample score against its out-of-sample
one, so that overfitting shows as the gap between them, and the last window's choice is written
as a TOML profile that ``riskguard backtest --config`` (and ``rg.Config.load``) takes.

Every part (a window's training or test part of each instrument) is replayed on its own, from
a fresh engine and account with the configuration's cash, as a backtest of those bars alone
would run; signals come from the whole series (a built-in strategy looks back only, so a
signal in a part uses no later bar). Each symbol of the prices is an instrument of its own; a
setting's score in a part is the mean of its instruments' scores.

**Objectives**, on a part's equity curve (``riskguard.performance.summary``'s figures):

- ``sharpe``: the Sharpe ratio (annualised at the bars' median spacing);
- ``calmar``: CAGR over max drawdown;
- ``return_at_dd``: the total return when the max drawdown stays within the cap
  (``drawdown_cap``, default 0.25), else minus infinity (the cap breached).

A score that is undefined (no trade, so no variance; no drawdown for Calmar) is NaN and never
chosen over a defined one; ties go to the first setting in grid order.

**The grid file** (TOML)::

    profile = "swing"        # the base profile (default: the configuration's own)
    objective = "sharpe"     # sharpe, calmar or return_at_dd
    drawdown_cap = 0.25      # return_at_dd's cap on the max drawdown
    windows = 4              # walk-forward windows
    train = 0.75             # each window's share used for choosing
    samples = 50             # random search: this many settings drawn instead of every one
    seed = 0                 # of the random search

    [grid]                   # [limits] keys, each a list of values: every combination
    sl_atr = [1.5, 2.0, 3.0]
    trail_atr = [2.0, 3.0, "off"]
    max_drawdown = [0.2, 0.3]     # a breaker's threshold: its other fields are kept

    [ranges]                 # with samples: [low, high], drawn uniformly (integers if both are)
    risk_per_trade = [0.005, 0.02]

The command line's options win over the file's, which win over the configuration's profile
and the defaults. Only ``[grid]`` or ``[ranges]`` is required; ``[ranges]`` needs
``samples``. With ``samples`` each setting draws every ``[grid]`` key from its list and every
``[ranges]`` key from its range, seeded, so the same file gives the same settings.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from riskguard._core import Limits, RiskError, replay_sweep
from riskguard.app.backtest.data import DEFAULT_COLUMNS, Columns, read_prices, read_signals
from riskguard.app.backtest.replay import broker_settings, instruments, replay_limits
from riskguard.app.config import Config, ConfigError
from riskguard.app.config.limits import LimitsConfig
from riskguard.app.config.profiles import profile_limits
from riskguard.redact import printable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (tomli is a dependency there)
    import tomli as tomllib  # type: ignore[import-not-found]

__all__ = [
    "OBJECTIVES",
    "Grid",
    "OptimizeResult",
    "Window",
    "WindowResult",
    "objective_scores",
    "optimize_frames",
    "point_config",
    "read_grid",
    "run_optimize",
    "windows_of",
    "write_profile",
]

OBJECTIVES = ("sharpe", "calmar", "return_at_dd")
DEFAULT_CAP = 0.25
DEFAULT_WINDOWS = 4
DEFAULT_TRAIN = 0.75
# More settings than this is a typo in the grid, not a search: refused before any work.
MAX_SETTINGS = 100_000
_GRID_OPTIONS = ("profile", "objective", "drawdown_cap", "windows", "train", "samples", "seed")


@dataclass(frozen=True)
class Grid:
    """A search: ``values`` (``[grid]``: each key's list), ``ranges`` (``[ranges]``: each
    key's low and high), ``samples`` and ``seed`` (random search when ``samples`` is set), and
    the file's options (None when it does not give them)."""

    values: Mapping[str, Sequence[Any]]
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    samples: int | None = None
    seed: int = 0
    profile: str | None = None
    objective: str | None = None
    drawdown_cap: float | None = None
    windows: int | None = None
    train: float | None = None

    def settings(self) -> list[dict[str, Any]]:
        """The settings to try, in order: every combination of ``values`` (the last key
        varying fastest), or ``samples`` seeded draws."""
        keys = list(self.values)
        if self.samples is None:
            return [
                dict(zip(keys, combo, strict=True))
                for combo in itertools.product(*(self.values[k] for k in keys))
            ]
        rng = np.random.default_rng(self.seed)
        out = []
        for _ in range(self.samples):
            point = {k: self.values[k][int(rng.integers(len(self.values[k])))] for k in keys}
            for key, (low, high) in self.ranges.items():
                if isinstance(low, int) and isinstance(high, int):
                    point[key] = int(rng.integers(low, high + 1))
                else:
                    point[key] = float(rng.uniform(low, high))
            out.append(point)
        return out


def read_grid(path: str | Path) -> Grid:
    """The grid file at ``path`` (the module's docstring).

    Raises ConfigError: no such file, not TOML, an unknown key, a key that is not a
    ``[limits]`` setting, an empty list, a bad range, ``[ranges]`` without ``samples``, more
    than 100,000 settings.
    """
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text())
    except FileNotFoundError:
        raise ConfigError([(str(file), "no such file")]) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError([(str(file), f"not a TOML grid: {e}")]) from None
    problems: list[tuple[str, str]] = []
    known = set(LimitsConfig.model_fields)
    for key in data:
        if key not in (*_GRID_OPTIONS, "grid", "ranges"):
            problems.append((key, "unknown key; known: grid, ranges, " + ", ".join(_GRID_OPTIONS)))
    values: dict[str, list[Any]] = {}
    for key, value in _table(data, "grid", problems).items():
        if key not in known:
            problems.append((f"grid.{key}", "not a [limits] setting"))
        elif not isinstance(value, list) or not value:
            problems.append((f"grid.{key}", f"must be a non-empty list of values, got {value!r}"))
        else:
            values[key] = value
    ranges: dict[str, tuple[float, float]] = {}
    for key, value in _table(data, "ranges", problems).items():
        ok = (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            and value[0] < value[1]
        )
        if key not in known:
            problems.append((f"ranges.{key}", "not a [limits] setting"))
        elif not ok:
            problems.append((f"ranges.{key}", f"must be [low, high] numbers, got {value!r}"))
        elif key in values:
            problems.append((f"ranges.{key}", "is in [grid] too"))
        else:
            ranges[key] = (value[0], value[1])
    samples = data.get("samples")
    if samples is not None and (
        isinstance(samples, bool)
        or not isinstance(samples, int)
        or not 1 <= samples <= MAX_SETTINGS
    ):
        problems.append(("samples", f"must be an integer in [1, {MAX_SETTINGS}], got {samples!r}"))
        samples = None
    if ranges and "samples" not in data:
        problems.append(("ranges", "needs samples = N (ranges are drawn from, not gridded)"))
    if not values and not ranges:
        problems.append(("grid", "give at least one setting to search, e.g. sl_atr = [1.5, 2.0]"))
    options = _options(data, problems)
    if samples is None and values and math.prod(len(v) for v in values.values()) > MAX_SETTINGS:
        problems.append(("grid", f"more than {MAX_SETTINGS} combinations: use samples = N"))
    if problems:
        raise ConfigError([(f"{file}: {where}", what) for where, what in problems])
    return Grid(values, ranges, samples, **options)


def _table(data: dict[str, Any], name: str, problems: list[tuple[str, str]]) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        problems.append((name, f"must be a table, got {table!r}"))
        return {}
    return table


def _options(data: dict[str, Any], problems: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "seed" in data:
        seed = data["seed"]
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            problems.append(("seed", f"must be an integer >= 0, got {seed!r}"))
        else:
            out["seed"] = seed
    if "profile" in data:
        if not isinstance(data["profile"], str):
            problems.append(("profile", f"must be a profile's name, got {data['profile']!r}"))
        else:
            out["profile"] = data["profile"]
    for key, check in (
        ("objective", lambda v: v in OBJECTIVES),
        ("drawdown_cap", lambda v: isinstance(v, int | float) and 0 < v <= 1),
        ("windows", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1),
        ("train", lambda v: isinstance(v, int | float) and 0 < v < 1),
    ):
        if key in data:
            if check(data[key]):
                out[key] = data[key]
            else:
                problems.append((key, f"invalid value {data[key]!r}"))
    return out


@dataclass(frozen=True)
class Window:
    """One walk-forward window: its training part ``[train_start, train_end)`` and its test
    part ``[train_end, test_end)``, in ns since the epoch (the last window's end takes the last
    bar)."""

    index: int
    train_start: int
    train_end: int
    test_end: int


def windows_of(first: int, last: int, n: int, train: float) -> list[Window]:
    """``n`` consecutive windows of equal length over ``[first, last]`` (ns), each split at
    its ``train`` share.

    Raises RiskError: ``n`` < 1, ``train`` outside (0, 1).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise RiskError(f"windows must be an integer >= 1, got {n!r}")
    if not 0.0 < train < 1.0:
        raise RiskError(f"train must be in (0, 1), got {train!r}")
    end = last + 1
    cuts = [first + (end - first) * k // n for k in range(n + 1)]
    return [
        Window(k + 1, a, a + int((b - a) * train), b)
        for k, (a, b) in enumerate(itertools.pairwise(cuts))
    ]


def objective_scores(
    figures: Mapping[str, np.ndarray], objective: str, cap: float = DEFAULT_CAP
) -> np.ndarray:
    """The objective of every replay from ``replay_sweep``'s figures (same shape).

    Raises RiskError: an unknown objective.
    """
    if objective == "sharpe":
        return np.asarray(figures["sharpe"], dtype=np.float64)
    if objective == "calmar":
        return np.asarray(figures["calmar"], dtype=np.float64)
    if objective == "return_at_dd":
        r, mdd = figures["total_return"], figures["max_drawdown"]
        return np.where(np.isnan(mdd), np.nan, np.where(mdd <= cap, r, -np.inf))
    raise RiskError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")


@dataclass
class WindowResult:
    """One window: the setting chosen on its training part (its index and values), its
    in-sample and out-of-sample scores, and the best out-of-sample score of any setting."""

    window: Window
    chosen: int
    settings: dict[str, Any]
    in_sample: float
    out_of_sample: float
    best_out_of_sample: float


@dataclass
class OptimizeResult:
    """A walk-forward search: the objective, every setting tried, each window's result, the
    scores of every setting (``in_sample`` and ``out_of_sample``, shape (settings, windows)),
    the base configuration (profile included) and the instruments."""

    objective: str
    drawdown_cap: float
    settings: list[dict[str, Any]]
    windows: list[WindowResult]
    in_sample: np.ndarray
    out_of_sample: np.ndarray
    config: Config
    symbols: list[str]
    bars: int
    random: bool
    notes: list[str] = field(default_factory=list)
    profile_path: Path | None = None

    @property
    def chosen(self) -> dict[str, Any]:
        """The last window's choice: the settings the profile gets."""
        return self.windows[-1].settings

    def to_dict(self) -> dict[str, Any]:
        """Plain data (NaN as None, infinities as ``"inf"``/``"-inf"``)."""

        def num(x: float) -> Any:
            if math.isnan(x):
                return None
            return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")

        return {
            "objective": self.objective,
            "drawdown_cap": self.drawdown_cap,
            "profile": self.config.profile,
            "symbols": self.symbols,
            "bars": self.bars,
            "settings_tried": len(self.settings),
            "random": self.random,
            "windows": [
                {
                    "window": w.window.index,
                    "train_start": w.window.train_start,
                    "train_end": w.window.train_end,
                    "test_end": w.window.test_end,
                    "chosen": w.settings,
                    "in_sample": num(w.in_sample),
                    "out_of_sample": num(w.out_of_sample),
                    "best_out_of_sample": num(w.best_out_of_sample),
                }
                for w in self.windows
            ],
            "mean_in_sample": num(_mean([w.in_sample for w in self.windows])),
            "mean_out_of_sample": num(_mean([w.out_of_sample for w in self.windows])),
            "profile_path": None if self.profile_path is None else str(self.profile_path),
            "notes": self.notes,
        }

    def render(self, console: Any) -> None:
        """The in-sample against out-of-sample table, window by window, and where the
        profile went."""
        from rich.markup import escape
        from rich.table import Table

        kind = "random samples" if self.random else "grid"
        table = Table(
            title=f"walk-forward, {self.objective}: {len(self.settings):,} settings ({kind}), "
            f"{len(self.symbols)} instrument(s), {self.bars:,} bars",
            caption="train and test are [start, end) in UTC; scores are means over instruments",
        )
        for name in (
            "window",
            "train",
            "test",
            "chosen",
            "in-sample",
            "out-of-sample",
            "best out-of-sample",
        ):
            table.add_column(
                name, justify="right" if "sample" in name or name == "window" else "left"
            )
        for w in self.windows:
            win = w.window
            table.add_row(
                str(win.index),
                f"{_day(win.train_start)} → {_day(win.train_end)}",
                f"{_day(win.train_end)} → {_day(win.test_end)}",
                escape(printable(_settings_text(w.settings))),
                _score(w.in_sample),
                _score(w.out_of_sample),
                _score(w.best_out_of_sample),
            )
        ins = _mean([w.in_sample for w in self.windows])
        oos = _mean([w.out_of_sample for w in self.windows])
        table.add_row("mean", "", "", "", _score(ins), _score(oos), "")
        console.print(table)
        if math.isfinite(ins) and math.isfinite(oos):
            console.print(
                f"in-sample minus out-of-sample: {ins - oos:.4g} (overfitting shows here)"
            )
        for note in self.notes:
            console.print(f"note: {escape(printable(note))}")
        if self.profile_path is not None:
            console.print(
                f"profile written to {escape(printable(str(self.profile_path)))} "
                f"(window {self.windows[-1].window.index}'s choice)"
            )


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def _score(x: float) -> str:
    if math.isnan(x):
        return "—"
    if x == -math.inf:
        return "cap breached"
    return f"{x:.4g}"


def _day(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%d")


def _settings_text(settings: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={'off' if v is None else _short(v)}" for k, v in settings.items())


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _over(given: Mapping[str, Any], point: Mapping[str, Any]) -> dict[str, Any]:
    """``point`` over the settings ``given``, as a configuration's sources merge: a breaker
    given as a number keeps its other fields."""
    out = {}
    for key, value in point.items():
        value = None if isinstance(value, str) and value.strip().lower() == "off" else value
        base = given.get(key)
        if (
            isinstance(base, dict)
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            value = {**base, "threshold": value}
        elif isinstance(base, dict) and isinstance(value, dict):
            value = {**base, **value}
        out[key] = value
    return out


def point_config(config: Config, point: Mapping[str, Any]) -> Config:
    """``config`` with the ``[limits]`` of ``point`` over its own.

    Raises ConfigError: a value the engine refuses, at ``limits.<key>``.
    """
    changes = _over(config.limits.given(), point)
    return config.model_copy(update={"limits": config.limits.replace(**changes)})


def optimize_frames(
    bars: pl.DataFrame,
    signals: pl.DataFrame,
    grid: Grid,
    *,
    config: Config,
    profile: str | None = None,
    objective: str | None = None,
    drawdown_cap: float | None = None,
    windows: int | None = None,
    train: float | None = None,
) -> OptimizeResult:
    """The walk-forward search (the module's docstring) on bars and signals already read.
    The arguments given win over the grid file's options, which win over ``config`` (the
    base configuration) for the profile and over the defaults (sharpe, a cap of 0.25, 4
    windows, a train share of 0.75) for the rest. Another profile keeps the ``[limits]``
    ``config`` gives beyond its own profile, over the new one.

    Raises ConfigError: a grid value the engine refuses (named with its setting). RiskError:
    a bad objective, window count or train share; a configuration the replay cannot
    reproduce; bad bars or signals.
    """
    base = profile or grid.profile
    if base is not None and base != config.profile:
        config = _with_profile(config, base)
    objective = objective or grid.objective or "sharpe"
    if objective not in OBJECTIVES:
        raise RiskError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    cap = drawdown_cap if drawdown_cap is not None else (grid.drawdown_cap or DEFAULT_CAP)
    if not 0.0 < cap <= 1.0:
        raise RiskError(f"drawdown_cap must be in (0, 1], got {cap!r}")
    n = windows if windows is not None else (grid.windows or DEFAULT_WINDOWS)
    share = train if train is not None else (grid.train or DEFAULT_TRAIN)
    if bars.height == 0:
        raise RiskError("the prices hold no bar")
    ts = bars["ts"].to_numpy()
    wins = windows_of(int(ts.min()), int(ts.max()), n, share)
    settings = grid.settings()
    limits: list[Limits] = []
    notes: list[str] = []
    for point in settings:
        try:
            chosen = point_config(config, point)
        except ConfigError as e:
            raise ConfigError(
                [(f"grid setting {_settings_text(point)}: {p}", m) for p, m in e.problems]
            ) from None
        lim, notes = replay_limits(chosen, signals)
        limits.append(lim)
    insts = instruments(bars, signals)
    symbols = [i.symbol for i in insts]
    segments = np.zeros((len(insts), 2 * len(wins), 2), dtype=np.int64)
    for i, (symbol,) in enumerate(bars.select("symbol").unique(maintain_order=True).iter_rows()):
        bar_ts = bars.filter(pl.col("symbol") == symbol)["ts"].to_numpy()
        for k, w in enumerate(wins):
            a, b, c = np.searchsorted(bar_ts, [w.train_start, w.train_end, w.test_end])
            segments[i, 2 * k] = (a, b)
            segments[i, 2 * k + 1] = (b, c)
    figures = replay_sweep(insts, limits, segments, **broker_settings(config))
    per_instrument = objective_scores(figures, objective, cap)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a part no instrument scores: NaN
        # A setting's score in a part: the mean over the instruments it has a score on (an
        # instrument that never trades in the part has none); a breached cap's -inf carries.
        scores = np.nanmean(per_instrument, axis=1)
    if len(symbols) > 1:
        notes.append(
            f"{len(symbols)} instruments, each replayed on an account of its own and scored by "
            "the mean: a backtest of the chosen profile trades them on one account, so its "
            "figures differ"
        )
    in_sample, out_of_sample = scores[:, 0::2], scores[:, 1::2]
    results = []
    for k, w in enumerate(wins):
        ranked = np.where(np.isnan(in_sample[:, k]), -np.inf, in_sample[:, k])
        if np.isnan(in_sample[:, k]).all():
            notes.append(
                f"window {w.index}: no setting has a score in its training part (no trade); "
                "the first setting stands"
            )
        best = int(np.argmax(ranked))
        oos = out_of_sample[:, k]
        results.append(
            WindowResult(
                w,
                best,
                settings[best],
                float(in_sample[best, k]),
                float(oos[best]),
                float(np.nanmax(oos)) if not np.isnan(oos).all() else math.nan,
            )
        )
    return OptimizeResult(
        objective,
        cap,
        settings,
        results,
        in_sample,
        out_of_sample,
        config,
        symbols,
        bars.height,
        grid.samples is not None,
        notes,
    )


def _with_profile(config: Config, profile: str) -> Config:
    """``config`` on another profile: the ``[limits]`` it gives beyond its own profile, over
    the new profile's (merged as a configuration's sources merge). Once merged, a value the
    configuration gives that equals its old profile's cannot be told from the profile's, and
    is taken as the profile's; ``--profile`` on the command line loads the file on the new
    profile instead, which keeps it.

    Raises ConfigError: an unknown profile, or limits the engine refuses on it.
    """
    try:
        base = profile_limits(profile)
    except KeyError as e:
        raise ConfigError([("profile", str(e.args[0]))]) from None
    limits = LimitsConfig(**{**base, **_over(base, _own_limits(config))})
    return config.model_copy(update={"profile": profile, "limits": limits})


def _own_limits(config: Config) -> dict[str, Any]:
    """The ``[limits]`` ``config`` gives beyond its profile's values."""
    base = profile_limits(config.profile) if config.profile is not None else {}
    missing = object()
    return {k: v for k, v in config.limits.given().items() if base.get(k, missing) != v}


def write_profile(result: OptimizeResult, path: str | Path) -> Path:
    """Writes the last window's choice as a configuration file: ``profile``, the ``[limits]``
    that differ from the profile's (the base configuration's own and the chosen ones), and
    the ``[sessions]``, ``[broker]`` and ``guard.equity`` the scores were replayed with.
    ``rg.Config.load(path)`` reads back exactly these limits.

    Raises RiskError: the file cannot be written.
    """
    chosen = point_config(result.config, result.chosen)
    limits = _own_limits(chosen)
    w = result.windows[-1]
    lines = [
        f"# riskguard optimize: objective {result.objective}"
        + (f" (drawdown cap {result.drawdown_cap:g})" if result.objective == "return_at_dd" else "")
        + f", {len(result.settings)} settings, {', '.join(result.symbols)}",
        f"# chosen in window {w.window.index} on [{_day(w.window.train_start)}, "
        f"{_day(w.window.train_end)}): in-sample {_score(w.in_sample)}, out-of-sample "
        f"{_score(w.out_of_sample)} on [{_day(w.window.train_end)}, {_day(w.window.test_end)})",
    ]
    if chosen.profile is not None:
        lines.append(f"profile = {_toml(chosen.profile)}")
    lines += ["", "[limits]"] + [f"{k} = {_toml(v)}" for k, v in limits.items()]
    sessions = chosen.sessions
    lines += [
        "",
        "[sessions]",
        f"reset_time = {_toml(sessions.reset_time)}",
        f"utc_offset = {_toml(sessions.utc_offset)}",
    ]
    broker = chosen.broker
    lines += [
        "",
        "[broker]",
        f"cash = {_toml(broker.cash)}",
        f"allow_short = {_toml(broker.allow_short)}",
        f"fractional = {_toml(broker.fractional)}",
        f"max_leverage = {_toml(broker.max_leverage)}",
        f"slippage = {_toml(broker.slippage.model_dump())}",
        f"commission = {_toml(broker.commission.model_dump())}",
    ]
    if chosen.guard.equity is not None:
        lines += ["", "[guard]", f"equity = {_toml(chosen.guard.equity)}"]
    out = Path(path)
    try:
        out.write_text("\n".join(lines) + "\n")
    except OSError as e:
        raise RiskError(f"cannot write the profile to {out}: {e}") from None
    # What was written must load as what was scored: a profile that reads back otherwise
    # would report a score it does not have.
    if Config.load(out).to_limits() != chosen.to_limits():
        raise RiskError(f"the profile written to {out} does not read back as the chosen limits")
    result.profile_path = out
    return out


def _toml(value: Any) -> str:
    """``value`` as a TOML value; None is ``"off"``."""
    if value is None:
        return '"off"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    raise RiskError(f"cannot write {value!r} to TOML")


def run_optimize(
    prices: str | Path,
    grid: str | Path,
    *,
    signals: str | Path | None = None,
    strategy: str | None = None,
    config: Config | None = None,
    profile: str | None = None,
    objective: str | None = None,
    drawdown_cap: float | None = None,
    windows: int | None = None,
    train: float | None = None,
    out: str | Path | None = "optimized.toml",
    symbol: str | None = None,
    timestamp_format: str | None = None,
    columns: Columns = DEFAULT_COLUMNS,
    console: Any = None,
) -> OptimizeResult:
    """Reads the prices, the signals (a file or a built-in strategy) and the grid, runs
    :func:`optimize_frames`, writes the chosen profile to ``out`` (None: not written) and,
    with ``console``, prints the result.

    Raises DataError: a bad prices or signals file. ConfigError: a bad grid. RiskError:
    neither or both of ``signals`` and ``strategy``; as :func:`optimize_frames`.
    """
    from riskguard.strategies import strategy as builtin

    if (signals is None) == (strategy is None):
        raise RiskError("give one of signals (a file) and strategy (a built-in)")
    spec = read_grid(grid)
    config = config if config is not None else Config.load()
    bars = read_prices(prices, columns=columns, symbol=symbol, timestamp_format=timestamp_format)
    if signals is not None:
        sig = read_signals(signals, timestamp_format=timestamp_format)
    else:
        sig = builtin(strategy or "")(bars)
    result = optimize_frames(
        bars,
        sig,
        spec,
        config=config,
        profile=profile,
        objective=objective,
        drawdown_cap=drawdown_cap,
        windows=windows,
        train=train,
    )
    if out is not None:
        write_profile(result, out)
    if console is not None:
        result.render(console)
    return result
