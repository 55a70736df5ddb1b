"""riskguard's configuration: one schema, three sources.

Values come from, in increasing precedence:

1. the defaults, which are the engine's own (``Limits()``): there is one source of truth;
2. a TOML file, ``riskguard.toml`` in the working directory unless :meth:`Config.load` is given
   another;
3. ``RG_*`` environment variables, ``__`` separating levels: ``RG_LIMITS__DAILY_LOSS=0.03``;

and arguments given in code override all three.

In a file or a variable, a setting that can be switched off takes ``"off"`` (TOML has no null);
a variable's value is read as JSON when it parses (``0.03``, ``false``, ``["STRONG"]``), else as a
string (``17:00``). Every problem is reported at once, each with its path::

    ConfigError: invalid configuration:
      limits.daily_loss: daily_loss.threshold: must be in (0, 1], got 1.5
      limits.sizng: unknown limit "sizng"; known: ...
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from riskguard._core import Limits, RiskError

__all__ = ["Config", "ConfigError"]

DEFAULT_FILE = Path("riskguard.toml")
# The file the next Config reads; Config.load sets it for the duration of one construction.
_toml_file: ContextVar[Path] = ContextVar("riskguard_toml_file", default=DEFAULT_FILE)
OFF = "off"


class ConfigError(RiskError):
    """A configuration that fails validation; the message lists every problem with its path.
    ``problems`` holds them as ``(path, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {path}: {message}" for path, message in problems)
        super().__init__(f"invalid configuration:\n{lines}")


def _plain(value: Any) -> Any:
    """A value from a file or a variable as ``Limits`` takes it: ``"off"`` is None, and a
    variable's JSON text is parsed."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if not isinstance(value, str):
        return value
    if value.strip().lower() in (OFF, "none", "null"):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    # JSON strings stay strings; only numbers, booleans, lists and objects are read.
    return _plain(parsed) if not isinstance(parsed, str) else value


class Config(BaseSettings):
    """riskguard's configuration (see the module's docstring for its sources).

    ``limits``: every breaker and every gate, sizing and exit setting, by the names
    ``riskguard.Limits`` takes (docs/engine.md, docs/gate.md). Anything not given keeps the
    engine's default. A breaker takes a threshold, ``"off"``, or a table of ``BreakerSpec``
    fields (``threshold``, ``action``, ``cooldown_s``, ``latched``, ``fraction``).

    Raises :class:`ConfigError`, listing every problem with its path.
    """

    model_config = SettingsConfigDict(
        env_prefix="RG_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    limits: dict[str, Any] = {}

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as e:
            raise ConfigError(_problems(e)) from None

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> Config:
        """The configuration from ``path`` (default ``riskguard.toml``, if it exists), the
        environment and ``overrides``.

        Raises ConfigError: a file that is named but missing, or not valid TOML; any invalid
        value.
        """
        file = DEFAULT_FILE if path is None else Path(path)
        if path is not None and not file.is_file():
            raise ConfigError([(str(file), "no such file")])
        token = _toml_file.set(file)
        try:
            return cls(**overrides)
        finally:
            _toml_file.reset(token)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        file = _toml_file.get()
        try:
            toml = TomlConfigSettingsSource(settings_cls, toml_file=file)
        except ValueError as e:  # tomllib.TOMLDecodeError
            raise ConfigError([(str(file), f"not valid TOML: {e}")]) from None
        return (init_settings, env_settings, toml)

    @field_validator("limits", mode="before")
    @classmethod
    def _check_limits(cls, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValueError(f"must be a table of limits, got {type(value).__name__}")
        value = _plain(value)
        problems = Limits.problems(value)
        if problems:
            raise ValueError("\n".join(problems))
        return value

    def to_limits(self) -> Limits:
        """The engine's ``Limits``: the defaults overridden by ``limits``."""
        return Limits.from_dict(self.limits)


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    """Each problem of a pydantic error with its dotted path; a limits problem gets the name
    it starts with (``daily_loss.threshold: ...`` is at ``limits.daily_loss``)."""
    out = []
    for e in error.errors(include_url=False):
        path = ".".join(str(part) for part in e["loc"]) or "config"
        message = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            message = "unknown setting"
        for line in message.split("\n"):
            out.append((_limit_path(path, line), line))
    return out


def _limit_path(path: str, line: str) -> str:
    """``limits.<name>`` for a limits problem that names its limit, else ``path``."""
    if path != "limits":
        return path
    if line.startswith('unknown limit "'):
        name = line.split('"', 2)[1]
    else:
        name = line.split(":", 1)[0].split(".", 1)[0]
    return f"limits.{name}" if name.isidentifier() else path
