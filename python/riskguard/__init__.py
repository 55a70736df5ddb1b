"""riskguard: the risk layer between a trading strategy and the market.

A Rust core (``riskguard._core``) holds the kernels and the risk engine; this package is the
public Python API.
Every error riskguard raises for bad input is a :class:`RiskError`, a ``ValueError``; the whole
tree is in :mod:`riskguard.errors`.

The heavy parts (:class:`Config`, :class:`Guard` and what they bring: pydantic-settings,
SQLAlchemy, httpx) load on first use, so that ``import riskguard; riskguard.var_historical(...)``
costs only numpy and the core.
"""

from typing import TYPE_CHECKING, Any

from riskguard import sizing
from riskguard._core import (
    BreakerSpec,
    BreakerStatus,
    Decision,
    Event,
    Limits,
    PositionSnapshot,
    Reason,
    RiskEngine,
    RiskError,
    Signal,
    Snapshot,
    Trade,
    TradingState,
    __version__,
)
from riskguard.analytics import (
    DrawdownPeriod,
    RiskContributions,
    StressWindow,
    TailRisk,
    annual_volatility,
    cagr,
    calmar_ratio,
    correlation,
    covariance,
    cvar_historical,
    cvar_parametric,
    diversification_ratio,
    drawdown_details,
    effective_positions,
    herfindahl,
    information_ratio,
    max_drawdown,
    risk_contributions,
    rolling_correlation,
    rolling_cvar,
    rolling_var,
    sharpe_ratio,
    sortino_ratio,
    stress_test,
    tail_risk,
    var_historical,
    var_monte_carlo,
    var_parametric,
    worst_periods,
)
from riskguard.errors import (
    AmbiguousOutcome,
    AuthFailed,
    ConfigError,
    GuardError,
    JournalError,
    OrderRejected,
    RateLimited,
    UnknownOrder,
    VenueError,
    VenueUnavailable,
)

if TYPE_CHECKING:
    from riskguard.app.config import BatchLimits, Config
    from riskguard.guard import Guard, GuardStatus

# Public names that live in modules with heavy imports, by the module that defines them.
_LAZY = {
    "BatchLimits": "riskguard.app.config",
    "Config": "riskguard.app.config",
    "Guard": "riskguard.guard",
    "GuardStatus": "riskguard.guard",
}
# The Guard reaches its journal, broker and alert sinks through riskguard.ports; the defaults it
# builds (`rg.Guard()` opens the configured journal and broker) load with it, as they did when
# riskguard.guard imported them itself.
_WITH = {
    "Guard": ("riskguard.journal", "riskguard.brokers", "riskguard.alerts"),
    "GuardStatus": ("riskguard.journal", "riskguard.brokers", "riskguard.alerts"),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'riskguard' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    for extra in _WITH.get(name, ()):
        importlib.import_module(extra)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AmbiguousOutcome",
    "AuthFailed",
    "BatchLimits",
    "BreakerSpec",
    "BreakerStatus",
    "Config",
    "ConfigError",
    "Decision",
    "DrawdownPeriod",
    "Event",
    "Guard",
    "GuardError",
    "GuardStatus",
    "JournalError",
    "Limits",
    "OrderRejected",
    "PositionSnapshot",
    "RateLimited",
    "Reason",
    "RiskContributions",
    "RiskEngine",
    "RiskError",
    "Signal",
    "Snapshot",
    "StressWindow",
    "TailRisk",
    "Trade",
    "TradingState",
    "UnknownOrder",
    "VenueError",
    "VenueUnavailable",
    "__version__",
    "annual_volatility",
    "cagr",
    "calmar_ratio",
    "correlation",
    "covariance",
    "cvar_historical",
    "cvar_parametric",
    "diversification_ratio",
    "drawdown_details",
    "effective_positions",
    "herfindahl",
    "information_ratio",
    "max_drawdown",
    "risk_contributions",
    "rolling_correlation",
    "rolling_cvar",
    "rolling_var",
    "sharpe_ratio",
    "sizing",
    "sortino_ratio",
    "stress_test",
    "tail_risk",
    "var_historical",
    "var_monte_carlo",
    "var_parametric",
    "worst_periods",
]
