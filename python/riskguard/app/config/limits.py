"""``[limits]``: the engine's breakers and its gate, sizing and exit settings, as a typed
section whose fields are ``riskguard.Limits``' keyword arguments (docs/engine.md,
docs/gate.md), with the engine's defaults.

The engine is the one judge of what it accepts: a table given to :class:`LimitsConfig` is
checked whole by ``Limits.problems`` before any field is read, so that every problem is named
at once, with the engine's own message, at ``limits.<name>``::

    limits.daily_loss: daily_loss.threshold: must be in (0, 1], got 1.5
    limits.sizng: unknown limit "sizng"; known: ...

and then normalised by the engine (``Limits.from_dict(...).to_dict()``): a breaker given as a
number is its threshold, the other fields of its :class:`BreakerLimit` keeping the engine's
defaults. In a file or a variable, ``"off"`` switches a setting off (None), and a variable's
value is read as JSON when it parses. ``reset_time`` and ``utc_offset`` belong under
``[sessions]``, and are refused here with exactly that message.

:meth:`LimitsConfig.given` is what was set (the rest being the engine's defaults).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, model_validator

from riskguard._core import BreakerSpec, Limits
from riskguard.app.config.checks import SESSION_KEYS, Section, plain

__all__ = ["BreakerLimit", "LimitsConfig"]

# The engine's defaults, the one source of truth of every default below (a test holds the
# fields and their defaults equal to Limits()).
_D = Limits().to_dict()


class BreakerLimit(Section):
    """One breaker's settings, ``riskguard.BreakerSpec``'s fields: ``threshold``, ``action``
    (``close_all_halt``, ``halt``, ``close_position``, ``reduce``, ``alert``), ``cooldown_s``,
    ``latched`` and ``fraction`` (of a position a ``reduce`` takes off). Checked by the engine
    as a part of :class:`LimitsConfig`."""

    _path = "limits"
    threshold: float
    action: str
    cooldown_s: float = 0.0
    latched: bool = False
    fraction: float = 0.5

    def to_spec(self) -> BreakerSpec:
        """The engine's ``BreakerSpec``."""
        return BreakerSpec(**self.model_dump())


def _breaker(name: str) -> BreakerLimit:
    return BreakerLimit(**_D[name])


class LimitsConfig(Section):
    """``[limits]`` (see the module's docstring): every field is the keyword argument of
    ``riskguard.Limits`` of the same name, with its default. A breaker is a
    :class:`BreakerLimit` or None (off); in a table it takes a threshold, ``"off"``, or a
    table of ``BreakerSpec`` fields.

    Raises :class:`~riskguard.errors.ConfigError`, each problem at ``limits.<name>``.
    """

    _path = "limits"

    # Breakers (docs/engine.md).
    daily_loss: BreakerLimit | None = _breaker("daily_loss")
    weekly_loss: BreakerLimit | None = _breaker("weekly_loss")
    monthly_loss: BreakerLimit | None = _breaker("monthly_loss")
    max_drawdown: BreakerLimit | None = _breaker("max_drawdown")
    position_loss: BreakerLimit | None = _breaker("position_loss")
    volatility_spike: BreakerLimit | None = _breaker("volatility_spike")
    leverage: BreakerLimit | None = _breaker("leverage")
    concentration: BreakerLimit | None = _breaker("concentration")
    portfolio_heat: BreakerLimit | None = _breaker("portfolio_heat")
    consecutive_losses: BreakerLimit | None = _breaker("consecutive_losses")
    volatility_lambda: float = _D["volatility_lambda"]
    volatility_warmup: int = _D["volatility_warmup"]

    # Sizing (docs/gate.md).
    sizing: str = _D["sizing"]
    risk_per_trade: float = _D["risk_per_trade"]
    trade_amount: float = _D["trade_amount"]
    kelly_fraction: float = _D["kelly_fraction"]
    kelly_cap: float = _D["kelly_cap"]
    kelly_min_trades: int = _D["kelly_min_trades"]
    target_volatility: float = _D["target_volatility"]
    consensus_methods: tuple[str, ...] = tuple(_D["consensus_methods"])
    consensus_mode: Literal["min", "median", "mean"] = _D["consensus_mode"]

    # The gate's checks.
    max_risk_per_trade: float | None = _D["max_risk_per_trade"]
    max_position_pct: float | None = _D["max_position_pct"]
    max_position_notional: float | None = _D["max_position_notional"]
    min_notional: float | None = _D["min_notional"]
    min_reward_risk: float | None = _D["min_reward_risk"]
    max_heat: float | None = _D["max_heat"]
    max_positions: int | None = _D["max_positions"]
    max_exposure: float | None = _D["max_exposure"]
    max_correlation: float | None = _D["max_correlation"]
    correlation_window: int = _D["correlation_window"]
    correlation_min_obs: int = _D["correlation_min_obs"]
    signal_filters: bool = _D["signal_filters"]
    min_confidence: float | None = _D["min_confidence"]
    high_vol_confidence: float | None = _D["high_vol_confidence"]
    max_atr_ratio: float | None = _D["max_atr_ratio"]
    high_vol_atr_ratio: float | None = _D["high_vol_atr_ratio"]
    allowed_consensus: tuple[str, ...] | None = tuple(_D["allowed_consensus"])
    require_trend: bool = _D["require_trend"]
    min_volume_24h: float | None = _D["min_volume_24h"]
    max_spread_bps: float | None = _D["max_spread_bps"]
    price_collar: float | None = _D["price_collar"]
    max_orders_per_second: int | None = _D["max_orders_per_second"]
    duplicate_window_s: float | None = _D["duplicate_window_s"]

    # Indicators and exits.
    atr_period: int = _D["atr_period"]
    ema_period: int = _D["ema_period"]
    sl_atr: float | None = _D["sl_atr"]
    tp_atr: float | None = _D["tp_atr"]
    breakeven_r: float | None = _D["breakeven_r"]
    breakeven_offset: float | None = _D["breakeven_offset"]
    partial_tp_r: float | None = _D["partial_tp_r"]
    partial_tp_fraction: float | None = _D["partial_tp_fraction"]
    trail_start_r: float | None = _D["trail_start_r"]
    trail_atr: float | None = _D["trail_atr"]
    max_hours_no_progress: float | None = _D["max_hours_no_progress"]
    max_bars_no_progress: int | None = _D["max_bars_no_progress"]

    @model_validator(mode="before")
    @classmethod
    def _checked_by_the_engine(cls, value: Any) -> Any:
        """The table as the engine reads it, once the engine finds no problem in it: only the
        keys given (so that :meth:`given` knows them), each normalised."""
        if isinstance(value, BaseModel):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"must be a table of limits, got {type(value).__name__}")
        value = plain(value)
        moved = [f"{key}: set it under [sessions]" for key in SESSION_KEYS if key in value]
        rest = {k: v for k, v in value.items() if k not in SESSION_KEYS}
        problems = moved + Limits.problems(rest)
        if problems:
            raise ValueError("\n".join(problems))
        normalised = Limits.from_dict(rest).to_dict()
        return {key: normalised[key] for key in rest}

    def to_dict(self) -> dict[str, Any]:
        """Every setting as ``Limits.from_dict`` takes it (breakers as dicts, lists as
        lists), the sessions' keys left out."""
        return {name: _engine_value(getattr(self, name)) for name in type(self).model_fields}

    def given(self) -> dict[str, Any]:
        """The settings given (by a file, a variable or code), as :meth:`to_dict` shows
        them; an empty dict when every setting is the engine's default."""
        every, given = self.to_dict(), self.model_fields_set
        return {name: value for name, value in every.items() if name in given}

    def to_limits(self, *, reset_time: str = "00:00", utc_offset: str = "+00:00") -> Limits:
        """The engine's ``Limits``, with the session clock given.

        Raises RiskError: a setting changed (``model_copy``) past the engine's checks.
        """
        return Limits.from_dict(
            {**self.to_dict(), "reset_time": reset_time, "utc_offset": utc_offset}
        )

    def replace(self, **changes: Any) -> LimitsConfig:
        """A copy with ``changes`` (checked as a table is), the settings given so far kept.

        Raises ConfigError: a change the engine refuses.
        """
        return type(self)(**{**self.given(), **changes})


def _engine_value(value: Any) -> Any:
    if isinstance(value, BreakerLimit):
        return value.model_dump()
    if isinstance(value, tuple):
        return list(value)
    return value
