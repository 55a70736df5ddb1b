"""The whole configuration: :class:`Config`, its sections, its sources and its one validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from riskguard._core import Limits, RiskError
from riskguard.app.config import checks
from riskguard.app.config.checks import SESSION_KEYS, located, problems_of, settings_problem
from riskguard.app.config.limits import LimitsConfig
from riskguard.app.config.profiles import PROFILES, profile_limits
from riskguard.app.config.schema import (
    AlertsConfig,
    BatchLimits,
    BrokerConfig,
    GuardConfig,
    JournalConfig,
    SessionsConfig,
    journal_driver,
)
from riskguard.app.config.sources import (
    DEFAULT_FILE,
    EnvSource,
    Setting,
    TomlSource,
    provenance,
    read_toml,
    toml_file,
)
from riskguard.errors import ConfigError
from riskguard.redact import redact

__all__ = ["Config"]


class Config(BaseSettings):
    """riskguard's configuration (see :mod:`riskguard.app.config` for its sources). Frozen.

    ``limits`` (:class:`~riskguard.app.config.limits.LimitsConfig`): every breaker and every
    gate, sizing and exit setting, by the names ``riskguard.Limits`` takes (docs/engine.md,
    docs/gate.md). Anything not given keeps the engine's default. A breaker takes a threshold,
    ``"off"``, or a table of ``BreakerSpec`` fields (``threshold``, ``action``,
    ``cooldown_s``, ``latched``, ``fraction``). ``reset_time`` and ``utc_offset`` belong
    under ``sessions``, not here.

    ``profile``: a named set of ``[limits]`` (:data:`~riskguard.app.config.profiles.PROFILES`:
    ``conservative``, ``intraday``, ``swing``, ``vol-target``), or None (the default) for the
    engine's defaults alone. The ``[limits]`` given apply over the profile's, key by key, and a
    breaker given as a number (or a table of some of its fields) keeps the profile's other
    fields for it; a ``LimitsConfig`` passed in code is complete, and replaces them.

    ``sessions`` (:class:`SessionsConfig`), ``broker`` (:class:`BrokerConfig`), ``journal``
    (:class:`JournalConfig`), ``alerts`` (:class:`AlertsConfig`), ``guard``
    (:class:`GuardConfig`) and ``batch`` (:class:`BatchLimits`): the other sections, each
    with its defaults; in code, each takes a dict or the section's model.

    Every value is checked twice over: each field on its own (type, range, upper bound), then,
    once they all pass, the configuration as a whole by :meth:`problems`, which builds what a
    Guard builds from it (the engine's limits and engine, the broker, the alerter, the
    journal's driver, the snapshot interval in nanoseconds). A Config that exists is one a
    Guard can be built on, and ``riskguard config validate`` reports exactly these problems.

    Raises :class:`ConfigError`, listing every problem with its path.
    """

    model_config = SettingsConfigDict(
        env_prefix="RG_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    profile: str | None = None
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    sessions: SessionsConfig = Field(default_factory=SessionsConfig)
    broker: BrokerConfig = Field(default_factory=BrokerConfig)
    journal: JournalConfig = Field(default_factory=JournalConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    guard: GuardConfig = Field(default_factory=GuardConfig)
    batch: BatchLimits = Field(default_factory=BatchLimits)

    @field_validator("profile", mode="before")
    @classmethod
    def _known_profile(cls, value: Any) -> Any:
        if value is None or checks.is_off(value):
            return None
        if not isinstance(value, str) or value not in PROFILES:
            raise ValueError(f"unknown profile {value!r}; known: {', '.join(PROFILES)}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _profile_under_limits(cls, data: Any) -> Any:
        """The profile's ``[limits]`` under those given, key by key (an unknown profile is
        left for its field to report)."""
        if not isinstance(data, dict):
            return data
        name = data.get("profile")
        if not isinstance(name, str) or name not in PROFILES:
            return data
        given = data.get("limits")
        if isinstance(given, LimitsConfig):
            given = given.given()
        if given is None:
            given = {}
        if not isinstance(given, dict):
            return data  # the field reports it
        merged = profile_limits(name)
        for key, value in checks.plain(given).items():
            base = merged.get(key)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if isinstance(base, dict) and isinstance(value, dict):
                merged[key] = {**base, **value}
            elif isinstance(base, dict) and number:  # a breaker's threshold alone
                merged[key] = {**base, "threshold": value}
            else:
                merged[key] = value
        return {**data, "limits": merged}

    def __init__(self, **values: Any) -> None:
        token = checks._nested.set(True)
        try:
            super().__init__(**values)
        except ValidationError as e:
            raise ConfigError(problems_of(e)) from None
        except SettingsError as e:
            raise ConfigError([settings_problem(e)]) from None
        finally:
            checks._nested.reset(token)
        # The fields are each valid: now what a Guard would refuse of them together.
        self.check()

    def problems(self) -> list[tuple[str, str]]:
        """Every problem a Guard built on this configuration would meet, as ``(path,
        message)`` pairs; empty when there is none. The one validation: the Config runs it
        when it is made, ``riskguard config validate`` reports it, and it does what building
        and starting a Guard does with the configuration, without connecting to anything:

        - ``limits`` and ``sessions``: the engine's ``Limits`` (:meth:`to_limits`);
        - ``guard.equity``, or ``broker.cash`` when it is off (a fresh paper broker's balance
          is its cash): a ``RiskEngine`` on those limits at that starting equity;
        - ``broker``: :meth:`BrokerConfig.build`;
        - ``alerts``: :meth:`AlertsConfig.build`, every sink (a telegram sink's token read);
        - ``journal.url``: its database and driver load (not connected: a server that is down
          is the journal's error when the Guard opens it);
        - ``journal.snapshot_interval_s``: in nanoseconds, as the Guard keeps it
          (:attr:`JournalConfig.snapshot_interval_ns`).

        Messages are redacted (:mod:`riskguard.redact`). Never raises.
        """
        from riskguard._core import RiskEngine

        out: list[tuple[str, str]] = []
        merged = {
            **self.limits.to_dict(),
            "reset_time": self.sessions.reset_time,
            "utc_offset": self.sessions.utc_offset,
        }
        limits = None
        try:
            found = Limits.problems(merged)
            if not found:
                limits = self.to_limits()
        except RiskError as e:
            found = [str(e).removeprefix("invalid limits: ")]
        for line in found:
            name = line.split(":", 1)[0].split(".", 1)[0]
            if name in SESSION_KEYS:
                out.append((f"sessions.{name}", line.removeprefix(f"{name}: ")))
            else:
                out.append(located("limits", line))
        if limits is not None:
            equity, path = self.guard.equity, "guard.equity"
            if equity is None:
                equity, path = self.broker.cash, "broker.cash"
            try:
                RiskEngine(limits, equity)
            except RiskError as e:
                out.append((path, f"the engine refuses it as its starting equity: {e}"))
        for section in (self.broker, self.alerts):
            try:
                section.build()
            except ConfigError as e:
                out.extend(e.problems)
            except RiskError as e:
                out.append((section._path, str(e)))
        driver = journal_driver(self.journal.url)
        if driver is not None:
            out.append(("journal.url", driver))
        try:
            self.journal.snapshot_interval_ns  # noqa: B018 (the conversion is the check)
        except ConfigError as e:
            out.extend(e.problems)
        return [(path, redact(message)) for path, message in out]

    def check(self) -> Config:
        """This configuration, once :meth:`problems` finds none: call it on a Config changed
        with ``model_copy(update=...)``, which skips validation.

        Raises ConfigError: every problem :meth:`problems` found, each with its path.
        """
        problems = self.problems()
        if problems:
            raise ConfigError(problems)
        return self

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> Config:
        """The configuration from ``path`` (default ``riskguard.toml``, if it exists), the
        environment and ``overrides`` (keyword arguments by section: ``broker={"cash": 5e4}``,
        merged key by key over the other sources).

        A venue's credentials (``broker.api_key``, ``secret``, ``password``) come from the
        environment or ``broker.secrets_file``; the file itself may hold them only with
        ``broker.secrets_in_config = true``, since configuration files are shared and
        committed.

        Raises ConfigError: a file that is named but missing, or not valid TOML; any invalid
        value; credentials in the file without ``secrets_in_config``.
        """
        file = DEFAULT_FILE if path is None else Path(path)
        if path is not None and not file.is_file():
            raise ConfigError([(str(file), "no such file")])
        token = toml_file.set(file)
        try:
            config = cls(**overrides)
        finally:
            toml_file.reset(token)
        in_file = _secrets_in(file)
        if in_file and not config.broker.secrets_in_config:
            raise ConfigError(
                [
                    (
                        f"broker.{name}",
                        f"credentials do not belong in {file}: set RG_BROKER__{name.upper()} "
                        "or broker.secrets_file (or broker.secrets_in_config = true)",
                    )
                    for name in in_file
                ]
            )
        return config

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file = toml_file.get()
        try:
            toml = TomlSource(settings_cls, toml_file=file)
        except ValueError as e:  # tomllib.TOMLDecodeError
            raise ConfigError([(str(file), f"not valid TOML: {e}")]) from None
        return (init_settings, EnvSource(settings_cls), toml)

    def compose(self, *, broker: Any = None, journal: Any = None, alerter: Any = None) -> Any:
        """The parts of a Guard on this configuration (a :class:`riskguard.ports.GuardParts`):
        its plain settings, the ``broker``, ``journal`` and ``alerter`` given or else built
        from this configuration, and the driver between its data and its broker (the
        simulation driver for a simulated one). A Guard calls it; see
        :func:`riskguard.app.bootstrap.compose_guard`.

        Raises ConfigError: an invalid configuration. JournalError: the journal cannot be
        opened.
        """
        from riskguard.app.bootstrap import compose_guard

        return compose_guard(self, broker=broker, journal=journal, alerter=alerter)

    def to_limits(self) -> Limits:
        """The engine's ``Limits``: the defaults overridden by ``limits``, with the session
        clock of ``sessions``."""
        return self.limits.to_limits(
            reset_time=self.sessions.reset_time, utc_offset=self.sessions.utc_offset
        )

    @classmethod
    def sources(cls, path: str | Path | None = None) -> dict[str, Setting]:
        """Every effective setting of ``Config.load(path)`` by dotted path, with its source.

        The paths go down through tables to single values: ``limits.daily_loss.threshold``,
        ``broker.slippage.bps``, ``guard.control_poll_s``; a list (``alerts.sinks``) is one
        setting, and so is a switched-off one (``limits.portfolio_heat``: None). ``[limits]``
        lists every engine setting, the defaults included; a breaker given as a number sets
        its ``threshold``. A setting comes from the highest source that gives it, a table
        holding it or a key inside it: an ``RG_*`` variable (``source="env"``, ``origin`` its
        name), the file (``"file"``, its path), else the defaults (``"default"``, ``""``).
        Secrets are masked as in the reprs (a journal URL's password, a webhook's URL and
        header values).

        Raises ConfigError: as :meth:`load`.
        """
        return provenance(cls, path)


def _secrets_in(file: Path) -> list[str]:
    """The credentials ``[broker]`` of the TOML ``file`` sets (none when there is no file)."""
    try:
        broker = read_toml(file).get("broker")
    except (OSError, ValueError):
        return []  # no file, or one the TOML source already refused
    if not isinstance(broker, dict):
        return []
    return [name for name in ("api_key", "secret", "password") if name in broker]
