"""Helpers of the property tests that drive a ``riskguard.RiskEngine`` and a plain Python model
side by side with hypothesis (test_engine_reference.py, test_exits.py, test_gate.py)."""

from __future__ import annotations

from typing import Any

import riskguard as rg
from hypothesis import HealthCheck, Phase, settings

try:
    from .engine_reference import BREAKERS
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from engine_reference import BREAKERS


def fast(n: int) -> settings:
    """``n`` examples, no deadline, and no shrinking.

    Each draw depends on the engine state the earlier ones built (a call sequence, a tick path
    whose exits depend on every earlier tick), which hypothesis shrinks slowly and badly, taking
    minutes. A failure reports the example as generated instead: its message names the failing
    call and shows both sides (the event lists, the calls as made), which is enough to cut it
    down by hand."""
    return settings(
        max_examples=n,
        deadline=None,
        report_multiple_bugs=False,
        phases=[p for p in Phase if p is not Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def breaker_actions(name: str) -> list[str]:
    """The actions breaker ``name`` may take: ``close_position`` is ``position_loss``'s alone."""
    actions = ["close_all_halt", "halt", "reduce", "alert"]
    return actions + (["close_position"] if name == "position_loss" else [])


def make_limits(kw: dict[str, Any]) -> rg.Limits:
    """``rg.Limits(**kw)``, with a breaker given as a plain dict made a ``BreakerSpec``."""
    args = {
        k: rg.BreakerSpec(**v) if isinstance(v, dict) and k in BREAKERS else v
        for k, v in kw.items()
    }
    return rg.Limits(**args)
