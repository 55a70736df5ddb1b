"""Named profiles: documented sets of ``[limits]`` for a kind of strategy and a timeframe,
selected with ``profile = "..."`` in the configuration, ``RG_PROFILE``, or ``--profile`` on the
command line. The user's own ``[limits]`` apply over the profile's, key by key, and
``riskguard config show`` names the profile as the source of each value it set.

Each profile states its intent and every value it sets; anything it does not set keeps the
engine's default (docs/gate.md, docs/engine.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["PROFILES", "Profile", "profile_limits"]


@dataclass(frozen=True)
class Profile:
    """A named set of ``[limits]``: ``intent`` says what it is for, ``limits`` every value it
    sets (as ``riskguard.Limits`` takes them: a breaker as a table, None for off)."""

    name: str
    intent: str
    limits: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "limits", MappingProxyType(dict(self.limits)))


# The signal filters a daily strategy's signals do not carry (confidence, consensus, volume,
# spread) and the volatility gate: off, the trend check kept.
_FILTERS_BUT_TREND = {
    "min_confidence": None,
    "high_vol_confidence": None,
    "high_vol_atr_ratio": None,
    "max_atr_ratio": None,
    "allowed_consensus": None,
    "min_volume_24h": None,
    "max_spread_bps": None,
    "require_trend": True,
}

# Breakers a daily or volatility-sized book does not want on every bar: one daily bar can move
# more than an intraday loss limit, and the stops bound a single position's loss.
_NO_INTRADAY_BREAKERS = {
    "daily_loss": None,
    "weekly_loss": None,
    "monthly_loss": None,
    "position_loss": None,
    "volatility_spike": None,
    "consecutive_losses": None,
}

PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        p.name: p
        for p in (
            Profile(
                "conservative",
                "The engine's defaults, unchanged: every breaker armed, the signal filters and "
                "the volatility gate on, ATR exits with breakeven and a partial take-profit, "
                "and a time exit after 24 bars without progress. For a first live run.",
                {},
            ),
            Profile(
                "intraday",
                "Minute bars, as the seed defaults: ATR exits, breakeven at 1 R, half taken at "
                "2 R, a trailing stop, every signal filter, and a time exit after 24 hours "
                "without progress (hours, not bars, on minute data).",
                {"max_hours_no_progress": 24.0, "max_bars_no_progress": None},
            ),
            Profile(
                "swing",
                "Daily bars: a stop of 2 ATR trailed at 3 ATR from 1 R on, no breakeven and no "
                "partial take-profit (they cut the winners of a trend), no signal filters but "
                "the trend, a time exit after 60 bars without progress, 2 % risk per trade up "
                "to the whole equity in one position, and on the equity one breaker: a 25 % "
                "drawdown halves the book (not latched).",
                {
                    **_FILTERS_BUT_TREND,
                    **_NO_INTRADAY_BREAKERS,
                    "sl_atr": 2.0,
                    "tp_atr": None,
                    "breakeven_r": None,
                    "partial_tp_fraction": None,
                    "trail_start_r": 1.0,
                    "trail_atr": 3.0,
                    "max_bars_no_progress": 60,
                    "risk_per_trade": 0.02,
                    "max_risk_per_trade": 0.02,
                    "max_position_pct": 1.0,
                    "max_exposure": 1.0,
                    "max_heat": None,
                    "min_reward_risk": None,
                    "max_drawdown": {
                        "threshold": 0.25,
                        "action": "reduce",
                        "fraction": 0.5,
                        "latched": False,
                        "cooldown_s": 20 * 86_400,
                    },
                },
            ),
            Profile(
                "vol-target",
                "Any timeframe: each position sized so that one ATR (a Wilder EWMA of the true "
                "range) moves 1 % of equity, the strategy's own exits kept (no engine exit but "
                "its stop at 3 ATR as a backstop), gross exposure capped at 1x equity, no "
                "signal filters, and one breaker as a backstop: a 35 % drawdown halves the "
                "book (not latched).",
                {
                    **_NO_INTRADAY_BREAKERS,
                    "signal_filters": False,
                    "sizing": "volatility_target",
                    "target_volatility": 0.01,
                    "sl_atr": 3.0,
                    "tp_atr": None,
                    "breakeven_r": None,
                    "partial_tp_fraction": None,
                    "trail_atr": None,
                    "max_bars_no_progress": None,
                    "max_risk_per_trade": None,
                    "max_position_pct": 1.0,
                    "max_exposure": 1.0,
                    "max_heat": None,
                    "min_reward_risk": None,
                    "max_drawdown": {
                        "threshold": 0.35,
                        "action": "reduce",
                        "fraction": 0.5,
                        "latched": False,
                        "cooldown_s": 20 * 86_400,
                    },
                },
            ),
        )
    }
)
"""Every profile by name."""


def profile_limits(name: str) -> dict[str, Any]:
    """The ``[limits]`` the profile ``name`` sets.

    Raises KeyError: an unknown name (its message lists the known ones).
    """
    if name not in PROFILES:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    return dict(PROFILES[name].limits)
