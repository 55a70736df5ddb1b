"""The rule groups an attribution switches off one at a time (:data:`RULE_GROUPS`): the one
table of each group's name, the ``[limits]`` settings that switch it off, and what it does, in
words a trader reads.

- **sizing**: the configured sizing method (by default, risking ``risk_per_trade`` of equity
  at the stop) is replaced by a fixed fraction of equity. The engine has no "fixed fraction"
  method; the caps make one: ``fixed_fractional`` at ``risk_per_trade = 1`` sizes far above
  any position cap, and with ``max_risk_per_trade`` and ``max_heat`` off the cap that binds is
  the position-value cap, so every entry takes ``max_position_pct`` of equity in notional
  (the engine's default 10 % when the configuration has that cap off), within the exposure
  caps that stay on (``max_exposure``, and the leverage and concentration thresholds). The
  engine's size adjusters (confidence, losing streak, drawdown: at most × 1.5, at least ×
  0.125) act before the caps, and so no longer matter while a stop is nearer than 12.5 % of
  the entry. A signal's own ``quantity`` is kept as it was.
- **signal_filters**: ``signal_filters = false`` (consensus, confidence, volatility, trend,
  volume and spread).
- **reward_risk**, **portfolio_limits**: the gate's other entry checks.
- each exit rule: **breakeven**, **partial_take_profit**, **trailing_stop**, **time_exit**.
- each breaker, by its name: **daily_loss** ... **consecutive_losses**.

The stop and the target are no group: sizing and the reward:risk check need them (a signal
without a stop is sized 0 and refused), so switching them off is no run a strategy would trade.

A group is *off already* when switching it off changes no setting of the configuration
(:func:`switched_off` returns None); an attribution reports it as such and does not run it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from riskguard._core import Limits, RiskError

__all__ = ["BREAKERS", "GROUP_NAMES", "RULE_GROUPS", "RuleGroup", "group", "switched_off"]

# The engine's defaults (the sizing group's fixed fraction when the configuration has no
# position cap).
_D = Limits().to_dict()

BREAKERS = (
    "daily_loss",
    "weekly_loss",
    "monthly_loss",
    "max_drawdown",
    "position_loss",
    "volatility_spike",
    "leverage",
    "concentration",
    "portfolio_heat",
    "consecutive_losses",
)
"""The engine's breakers, each a group of its own, in the engine's evaluation order."""


@dataclass(frozen=True)
class RuleGroup:
    """One group: its ``name``, its ``kind`` (``sizing``, ``filter``, ``exit`` or
    ``breaker``), its ``title`` in a sentence ("the time exit"), the ``off`` settings
    (``[limits]`` keys to values, or to a function of the configured value) and ``words``,
    which say what the group does given the configured limits (``Limits.to_dict()``: a
    dict)."""

    name: str
    kind: str
    title: str
    off: Mapping[str, Any]
    words: Callable[[dict[str, Any]], str]
    # For a rule that needs all of its settings (the engine runs it only when each is on):
    # off as soon as one of them is.
    needs_all: bool = False

    def describe(self, limits: Mapping[str, Any]) -> str:
        """What the group does under ``limits`` (``LimitsConfig.to_dict()``), one line; for a
        group that is off there, the settings that are off."""
        if self.is_off(limits):
            return "off in the configuration (" + ", ".join(self.off) + ")"
        return self.words(dict(limits))

    def overrides(self, limits: Mapping[str, Any]) -> dict[str, Any]:
        """The ``[limits]`` changes that switch the group off under ``limits``."""
        return {k: v(limits.get(k)) if callable(v) else v for k, v in self.off.items()}

    def is_off(self, limits: Mapping[str, Any]) -> bool:
        """Whether the group does nothing under ``limits``: switching it off changes no
        setting, or (a rule that needs all its settings) one of them is off already."""
        if self.needs_all and any(limits.get(k) is None for k in self.off):
            return True
        return all(limits.get(k) == v for k, v in self.overrides(limits).items())


def _pct(x: float | None) -> str:
    return "off" if x is None else f"{100 * x:g} %"


def _g(x: float | None) -> str:
    """A setting for the words: ``off`` for None (one of two settings a rule needs)."""
    return "off" if x is None else f"{x:g}"


def _cap_or_default(value: float | None) -> float:
    """The fixed fraction of the sizing group: the configured position cap, else the
    engine's default one."""
    return value if value is not None else _D["max_position_pct"]


def _sizing(d: dict[str, Any]) -> str:
    how = (
        f"risks {_pct(d['risk_per_trade'])} of equity at the stop"
        if d["sizing"] == "fixed_fractional"
        else f"is sized by {d['sizing']}"
    )
    fixed = _pct(_cap_or_default(d["max_position_pct"]))
    return f"each entry {how}; off: a fixed {fixed} of equity per position instead"


_ACTIONS = {
    "close_all_halt": "closes every position and halts",
    "halt": "halts new entries",
    "reduce": "cuts positions",
    "close_position": "closes the position",
    "alert": "alerts only",
}

# What each breaker watches, given its threshold.
_WATCHES: dict[str, Callable[[float], str]] = {
    "daily_loss": lambda t: f"at a loss of {_pct(t)} in a day",
    "weekly_loss": lambda t: f"at a loss of {_pct(t)} in a week",
    "monthly_loss": lambda t: f"at a loss of {_pct(t)} in a month",
    "max_drawdown": lambda t: f"at a drawdown of {_pct(t)} from the peak",
    "position_loss": lambda t: f"when it is {_pct(t)} under water",
    "volatility_spike": lambda t: f"when a move is {t:g} standard deviations",
    "leverage": lambda t: f"at a leverage of {t:g}× (and caps entries there)",
    "concentration": lambda t: f"when one position is {_pct(t)} of equity (and caps entries)",
    "portfolio_heat": lambda t: f"when the risk to the stops is {_pct(t)} of equity",
    "consecutive_losses": lambda t: f"after {t:g} losing trades in a row",
}


def _time_window(d: dict[str, Any]) -> str:
    """The time exit's window in words: the shorter of its hours and its bars applies."""
    parts = []
    if d.get("max_bars_no_progress") is not None:
        parts.append(f"{d['max_bars_no_progress']:g} bars")
    if d.get("max_hours_no_progress") is not None:
        parts.append(f"{d['max_hours_no_progress']:g} hours")
    return " or ".join(parts) if parts else "no time"


def _breaker_words(name: str) -> Callable[[dict[str, Any]], str]:
    def words(d: dict[str, Any]) -> str:
        spec = d[name]
        text = f"{_ACTIONS[spec['action']]} {_WATCHES[name](spec['threshold'])}"
        return text + (", until reset" if spec["latched"] else "")

    return words


RULE_GROUPS: tuple[RuleGroup, ...] = (
    RuleGroup(
        "sizing",
        "sizing",
        "risk sizing",
        {
            "sizing": "fixed_fractional",
            "risk_per_trade": 1.0,
            "max_risk_per_trade": None,
            "max_heat": None,
            "max_position_pct": _cap_or_default,
        },
        _sizing,
    ),
    RuleGroup(
        "signal_filters",
        "filter",
        "the signal filters",
        {"signal_filters": False},
        lambda d: (
            "refuses signals of weak consensus or confidence, against the trend, or in "
            "thin or wild markets"
        ),
    ),
    RuleGroup(
        "reward_risk",
        "filter",
        "the reward:risk check",
        {"min_reward_risk": None},
        lambda d: (
            f"refuses entries whose target is under {d['min_reward_risk']:g}× the stop distance"
        ),
    ),
    RuleGroup(
        "portfolio_limits",
        "filter",
        "the portfolio limits",
        {"max_positions": None, "max_exposure": None, "max_correlation": None},
        lambda d: (
            "limits the open positions, the gross exposure and same-direction correlated positions"
        ),
    ),
    RuleGroup(
        "breakeven",
        "exit",
        "the breakeven stop",
        {"breakeven_r": None},
        lambda d: f"moves the stop to the entry once a trade is {d['breakeven_r']:g} R up",
    ),
    RuleGroup(
        "partial_take_profit",
        "exit",
        "the partial take-profit",
        {"partial_tp_r": None, "partial_tp_fraction": None},
        lambda d: f"takes {_pct(d['partial_tp_fraction'])} off at {_g(d['partial_tp_r'])} R",
        needs_all=True,
    ),
    RuleGroup(
        "trailing_stop",
        "exit",
        "the trailing stop",
        {"trail_start_r": None, "trail_atr": None},
        lambda d: (
            f"trails the stop {_g(d['trail_atr'])} ATR behind the best price from "
            f"{_g(d['trail_start_r'])} R up"
        ),
        needs_all=True,
    ),
    RuleGroup(
        "time_exit",
        "exit",
        "the time exit",
        {"max_hours_no_progress": None, "max_bars_no_progress": None},
        lambda d: f"closes a trade after {_time_window(d)} without a new best price",
    ),
    *(
        RuleGroup(
            name,
            "breaker",
            f"the {name.replace('_', '-')} breaker",
            {name: None},
            _breaker_words(name),
        )
        for name in BREAKERS
    ),
)
"""Every group, in the order an attribution reports them."""

GROUP_NAMES = tuple(g.name for g in RULE_GROUPS)
"""The groups' names, in :data:`RULE_GROUPS`' order."""


def group(name: str) -> RuleGroup:
    """The group called ``name``.

    Raises RiskError: an unknown name (the known ones are listed)."""
    for g in RULE_GROUPS:
        if g.name == name:
            return g
    raise RiskError(f"unknown rule group {name!r}; known: {', '.join(GROUP_NAMES)}")


def switched_off(config: Any, g: RuleGroup) -> Any | None:
    """``config`` (a :class:`~riskguard.Config`) with the group ``g`` switched off, or None
    when it is off already (nothing would change).

    Raises ConfigError: a change the engine refuses (none of the table's)."""
    limits = config.limits.to_dict()
    if g.is_off(limits):
        return None
    changed = config.limits.replace(**g.overrides(limits))
    return config.model_copy(update={"limits": changed})
