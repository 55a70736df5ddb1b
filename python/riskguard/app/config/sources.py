"""Where the configuration's values come from, and which source gave each.

Values come from, in increasing precedence: the defaults (those of the code that uses them);
a TOML file, ``riskguard.toml`` in the working directory unless :meth:`Config.load` is given
another; ``RG_*`` environment variables, ``__`` separating levels (``RG_LIMITS__DAILY_LOSS=
0.03``, ``RG_BROKER__SLIPPAGE__BPS=3``); and arguments given in code. Tables merge key by key
across sources, except that a tagged table (slippage, commission) naming another ``model``
replaces the lower one whole.

:func:`provenance` lists every effective setting with its source (``riskguard config show``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pydantic_settings import EnvSettingsSource, TomlConfigSettingsSource

from riskguard.app.config.checks import SESSION_KEYS
from riskguard.app.config.profiles import profile_limits
from riskguard.app.config.registry import REGISTRY
from riskguard.redact import REDACTED, safe_url

if TYPE_CHECKING:
    from riskguard.app.config.settings import Config

__all__ = ["DEFAULT_FILE", "Setting", "provenance", "read_toml"]

DEFAULT_FILE = Path("riskguard.toml")
# The file the next Config reads; Config.load sets it for the duration of one construction.
toml_file: ContextVar[Path] = ContextVar("riskguard_toml_file", default=DEFAULT_FILE)
SECTIONS = ("sessions", "broker", "journal", "alerts", "guard", "batch")


def yield_to(lower: dict[str, Any], higher: Mapping[str, Any]) -> dict[str, Any]:
    """``lower`` without the slippage and commission tables that ``higher`` replaces: one that
    names a different ``model``, or gives the whole value otherwise (a string, a model)."""
    broker = lower.get("broker")
    above = higher.get("broker")
    if not isinstance(broker, dict) or not isinstance(above, Mapping):
        return lower
    kept = dict(broker)
    for table in REGISTRY.tagged:
        if table not in kept or table not in above:
            continue
        new, old = above[table], kept[table]
        if not isinstance(new, Mapping) or not isinstance(old, Mapping):
            del kept[table]
        elif "model" in new and new.get("model") != old.get("model"):
            del kept[table]
    return {**lower, "broker": kept}


class TomlSource(TomlConfigSettingsSource):
    def __call__(self) -> dict[str, Any]:
        return yield_to(super().__call__(), self.current_state)


class EnvSource(EnvSettingsSource):
    def __call__(self) -> dict[str, Any]:
        return yield_to(super().__call__(), self.current_state)


class Setting(NamedTuple):
    """One effective setting from :meth:`Config.sources`: its ``value``; its ``source``,
    ``"default"``, ``"profile"``, ``"file"`` or ``"env"``; and its ``origin``, the file's
    path, the variable's name or the profile's name (``""`` for a default)."""

    value: Any
    source: Literal["default", "profile", "file", "env"]
    origin: str


def provenance(cls: type[Config], path: str | Path | None = None) -> dict[str, Setting]:
    """:meth:`Config.sources`: every effective setting of ``cls.load(path)`` by dotted path,
    with the source that gave it.

    Raises ConfigError: as :meth:`Config.load`.
    """
    from riskguard.app.config.schema import masked_sink

    config = cls.load(path)
    file = DEFAULT_FILE if path is None else Path(path)
    env = EnvSource(cls)()
    toml = yield_to(TomlSource(cls, toml_file=file)(), env)
    limits = config.to_limits().to_dict()
    for key in SESSION_KEYS:
        del limits[key]
    effective: dict[str, Any] = {"profile": config.profile, "limits": limits}
    for name in SECTIONS:
        effective[name] = getattr(config, name).model_dump()
    journal = effective["journal"]
    journal["url"] = safe_url(journal["url"])
    broker = effective["broker"]
    for key in ("api_key", "secret", "password"):
        if broker.get(key) is not None:
            broker[key] = REDACTED  # shown as set, never shown
    for key in ("base_url", "ws_url"):
        if broker.get(key) is not None:
            broker[key] = safe_url(broker[key])  # a gateway's password masked
    effective["alerts"]["sinks"] = [masked_sink(s) for s in config.alerts.sinks]
    # A breaker given as a number is its threshold: its other fields keep their defaults.
    for raw in (env, toml):
        given = raw.get("limits")
        if isinstance(given, dict):
            raw["limits"] = {
                k: {"threshold": v}
                if isinstance(limits.get(k), dict) and not isinstance(v, Mapping)
                else v
                for k, v in given.items()
            }
    from_env, from_file = list(leaves(env)), list(leaves(toml))
    from_profile = []
    # A profile that sets nothing (conservative) is the source of no setting.
    given = profile_limits(config.profile) if config.profile is not None else {}
    if given:
        from_profile = list(leaves({"limits": given}))
    names = {name.upper(): name for name in os.environ}
    out = {}
    for leaf, value in leaves(effective).items():
        # A source gives this leaf if it sets it, a table above it, or a key inside it.
        env_hits = [p for p in from_env if p[: len(leaf)] == leaf[: len(p)]]
        if env_hits:
            variables = dict.fromkeys(_variable(p, names) for p in env_hits)
            setting = Setting(value, "env", ", ".join(variables))
        elif any(p[: len(leaf)] == leaf[: len(p)] for p in from_file):
            setting = Setting(value, "file", str(file))
        elif any(p[: len(leaf)] == leaf[: len(p)] for p in from_profile):
            setting = Setting(value, "profile", str(config.profile))
        else:
            setting = Setting(value, "default", "")
        out[".".join(leaf)] = setting
    return out


def leaves(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """The single values of nested tables by path; lists and empty tables are single values,
    tuples become lists."""
    out: dict[tuple[str, ...], Any] = {}
    for key, value in tree.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            out.update(leaves(value, path))
        else:
            out[path] = list(value) if isinstance(value, tuple) else value
    return out


def _variable(path: tuple[str, ...], names: Mapping[str, str]) -> str:
    """The ``RG_*`` variable that gave ``path``: its own, or a table's above it (JSON)."""
    for n in range(len(path), 0, -1):
        name = "RG_" + "__".join(path[:n]).upper()
        if name in names:
            return names[name]
    return "RG_" + "__".join(path).upper()


def read_toml(path: str | Path) -> dict[str, Any]:
    """The TOML file at ``path``, parsed.

    Raises OSError: it cannot be read. ValueError: it is not TOML.
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 (tomli is a dependency there)
        import tomli as tomllib  # type: ignore[import-not-found]
    with open(path, "rb") as f:
        return tomllib.load(f)
