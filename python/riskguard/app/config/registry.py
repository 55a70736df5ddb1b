"""One registry of named implementations: what a name in the configuration stands for.

A configuration names its parts: ``[broker] type = "paper"``, ``[broker] slippage = { model =
"fixed_bps", ... }``, ``[alerts] sinks = [{ type = "webhook", ... }]``. Each such name is an
:class:`Implementation` of one *kind*, registered once in :data:`REGISTRY`:

========== ============================================ ============================================
kind       named by                                     its factory is called with
========== ============================================ ============================================
broker     ``[broker] type``                            the ``[broker]`` section (a BrokerConfig)
sink       ``type`` of each table of ``[alerts] sinks`` the sink's table (a dict)
slippage   ``model`` of ``[broker] slippage``           the model's settings, as keyword arguments
commission ``model`` of ``[broker] commission``         the model's settings, as keyword arguments
========== ============================================ ============================================

The configuration validates every name against the registry (an unknown one is reported with
the names it knows), the tagged tables (slippage, commission) take their schema from it, and
:mod:`riskguard.app.bootstrap` builds every part through it. The built-in implementations are
registered by :mod:`riskguard.app.config.schema`, beside the schema of their settings.

A factory is named by its import path (``"riskguard.brokers:FixedBps"``), loaded on first use:
registering a name imports nothing, so that the configuration loads without the brokers, the
alert sinks or their HTTP client.

Brokers and sinks may be registered later, by an application, before its configuration is
loaded. The tagged tables' schemas form a pydantic union fixed when the configuration's module
is imported: a slippage or commission model registered after that is known by name but cannot
be configured from a file.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["KINDS", "REGISTRY", "Implementation", "Registry"]

KINDS = {
    "broker": "the venue a Guard trades through: [broker] type",
    "sink": "a destination of alerts: type of a table of [alerts] sinks",
    "slippage": "a paper broker's slippage model: model of [broker] slippage",
    "commission": "a paper broker's commission model: model of [broker] commission",
}
"""The kinds of implementations, each with where the configuration names one."""

T = TypeVar("T", bound=type)


@dataclass(frozen=True)
class Implementation:
    """One named implementation: its ``kind`` (a key of :data:`KINDS`), its ``name`` in the
    configuration, its ``factory`` as ``"module:attribute"``, the ``schema`` of its settings
    (a pydantic model) when it has its own, and a one-line ``summary``."""

    kind: str
    name: str
    factory: str
    schema: type | None = None
    summary: str = ""

    def load(self) -> Callable[..., Any]:
        """The factory, imported on first use.

        Raises ImportError or AttributeError: a factory path that names nothing.
        """
        module, _, attribute = self.factory.partition(":")
        return getattr(importlib.import_module(module), attribute)  # type: ignore[no-any-return]


class Registry:
    """Implementations by kind and name, in the order they were registered."""

    # The kinds whose tables are tagged by a ``model`` key and validated by each
    # implementation's own schema.
    tagged = ("slippage", "commission")

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Implementation]] = {kind: {} for kind in KINDS}

    def register(
        self, kind: str, name: str, factory: str, *, schema: type | None = None, summary: str = ""
    ) -> Implementation:
        """Registers ``name`` as an implementation of ``kind`` built by ``factory``
        (``"module:attribute"``). Registering the same implementation twice does nothing.

        Raises ValueError: an unknown kind, a factory that is not ``"module:attribute"``, a
        tagged kind without a schema, or a name already registered as something else.
        """
        if kind not in self._entries:
            raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
        module, sep, attribute = factory.partition(":")
        if not (module and sep and attribute):
            raise ValueError(f"factory must be 'module:attribute', got {factory!r}")
        if kind in self.tagged and schema is None:
            raise ValueError(f"a {kind} model needs the schema of its settings")
        entry = Implementation(kind, name, factory, schema, summary)
        known = self._entries[kind].get(name)
        if known is not None and known != entry:
            raise ValueError(f"{kind} {name!r} is already registered as {known.factory}")
        self._entries[kind][name] = entry
        return entry

    def implementation(
        self, kind: str, name: str, factory: str, *, summary: str = ""
    ) -> Callable[[T], T]:
        """A class decorator: registers the decorated settings model as the schema of
        ``name``, an implementation of ``kind`` built by ``factory``."""

        def register(schema: T) -> T:
            self.register(kind, name, factory, schema=schema, summary=summary)
            return schema

        return register

    def unregister(self, kind: str, name: str) -> None:
        """Forgets ``name`` of ``kind`` (a test's registration, say).

        Raises KeyError: an unknown name.
        """
        self.get(kind, name)
        del self._entries[kind][name]

    def names(self, kind: str) -> tuple[str, ...]:
        """The names of ``kind``'s implementations, in registration order."""
        return tuple(self._entries[kind])

    def get(self, kind: str, name: str) -> Implementation:
        """The implementation ``name`` of ``kind``.

        Raises KeyError: an unknown name, with the known ones.
        """
        try:
            return self._entries[kind][name]
        except KeyError:
            known = ", ".join(self._entries.get(kind, {})) or "none"
            raise KeyError(f"unknown {kind} {name!r}; known: {known}") from None

    def schemas(self, kind: str) -> tuple[type, ...]:
        """The settings models of ``kind``'s implementations, in registration order."""
        return tuple(e.schema for e in self._entries[kind].values() if e.schema is not None)

    def build(self, kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
        """What the factory of ``name`` (a ``kind``) builds from ``args`` and ``kwargs``.

        Raises KeyError: an unknown name; whatever the factory raises.
        """
        return self.get(kind, name).load()(*args, **kwargs)

    def __iter__(self) -> Iterator[Implementation]:
        for entries in self._entries.values():
            yield from entries.values()

    def __repr__(self) -> str:
        kinds = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in self._entries.items())
        return f"Registry({kinds})"


REGISTRY = Registry()
"""The one registry of the configuration's named implementations."""
