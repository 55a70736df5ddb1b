"""riskguard's configuration: one schema, three sources, one registry of named implementations.

Values come from, in increasing precedence:

1. the defaults, which are those of the code that uses them (``Limits()``, ``PaperBroker``,
   ``Journal``, ``Alerter``): there is one source of truth, and a test holds them equal;
2. a TOML file, ``riskguard.toml`` in the working directory unless :meth:`Config.load` is given
   another;
3. ``RG_*`` environment variables, ``__`` separating levels: ``RG_LIMITS__DAILY_LOSS=0.03``,
   ``RG_BROKER__CASH=5000``, ``RG_BROKER__SLIPPAGE__BPS=3``;

and arguments given in code override all three. Tables merge key by key across sources, except
that a slippage or commission table naming another ``model`` replaces the lower one whole
(:mod:`~riskguard.app.config.sources`).

The sections, each a frozen model that refuses unknown keys:

- ``[limits]``: :class:`LimitsConfig`, the engine's breakers and gate, sizing and exit settings,
  typed as ``riskguard.Limits``' keyword arguments and checked by the engine
  (:mod:`~riskguard.app.config.limits`);
- ``[sessions]``: the daily session clock (``reset_time``, ``utc_offset``), merged into
  :meth:`Config.to_limits`;
- ``[broker]``: :class:`BrokerConfig`, built with :meth:`BrokerConfig.build`;
- ``[journal]``: :class:`JournalConfig`, opened with :meth:`JournalConfig.open`;
- ``[alerts]``: :class:`AlertsConfig`, built with :meth:`AlertsConfig.build`;
- ``[guard]``: :class:`GuardConfig`, plain data for a Guard;
- ``[batch]``: :class:`BatchLimits`, the limits of :func:`riskguard.batch.portfolio_risk`.

Every name a configuration gives a part (a broker ``type``, a sink ``type``, a slippage or
commission ``model``) is looked up in one registry (:mod:`~riskguard.app.config.registry`), and
what it names is built by :mod:`riskguard.app.bootstrap`.

In a file or a variable, a setting that can be switched off takes ``"off"`` (TOML has no null);
a variable's value is read as JSON when it parses (``0.03``, ``false``, ``["STRONG"]``), else as a
string (``17:00``). Times are in seconds (``_s``), money in quote currency. Every problem is
reported at once, each with its dotted path::

    ConfigError: invalid configuration:
      limits.daily_loss: daily_loss.threshold: must be in (0, 1], got 1.5
      limits.sizng: unknown limit "sizng"; known: ...
      broker.cash: must be > 0, got -5
      alerts.sinks.1.url: must be an http(s) URL with a host, got 'ftp://x'

``riskguard.config`` is the old path of this package, and the same module object.
"""

from riskguard.app.config.checks import nanoseconds
from riskguard.app.config.limits import BreakerLimit, LimitsConfig
from riskguard.app.config.registry import REGISTRY, Implementation, Registry
from riskguard.app.config.schema import (
    BROKER_TYPES,
    AlertsConfig,
    BatchLimits,
    BrokerConfig,
    FixedBpsConfig,
    GuardConfig,
    JournalConfig,
    MakerTakerConfig,
    NoCommissionConfig,
    NoSlippageConfig,
    PercentOfNotionalConfig,
    PerShareConfig,
    SessionsConfig,
    VolatilityATRConfig,
    VolumeLinearConfig,
)
from riskguard.app.config.settings import Config
from riskguard.app.config.sources import DEFAULT_FILE, Setting
from riskguard.errors import ConfigError

__all__ = [
    "BROKER_TYPES",
    "DEFAULT_FILE",
    "REGISTRY",
    "AlertsConfig",
    "BatchLimits",
    "BreakerLimit",
    "BrokerConfig",
    "Config",
    "ConfigError",
    "FixedBpsConfig",
    "GuardConfig",
    "Implementation",
    "JournalConfig",
    "LimitsConfig",
    "MakerTakerConfig",
    "NoCommissionConfig",
    "NoSlippageConfig",
    "PerShareConfig",
    "PercentOfNotionalConfig",
    "Registry",
    "SessionsConfig",
    "Setting",
    "VolatilityATRConfig",
    "VolumeLinearConfig",
    "nanoseconds",
]
