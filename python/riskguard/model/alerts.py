"""An alert: one thing a person should hear about, as the Guard raises it and the sinks of
:mod:`riskguard.alerts` deliver it. ``ts`` is integer ns since the epoch, UTC. Secrets never
travel in an alert: its text is redacted when it is made (:mod:`riskguard.redact`, the one
redaction helper, a leaf module of plain string functions).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from riskguard._core import RiskError
from riskguard.redact import redact

__all__ = ["SEVERITIES", "Alert"]

SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Alert:
    """One thing a person should hear about.

    ``kind`` is the engine event's kind (``"breaker_tripped"``, ``"flatten_requested"``, ...) or
    ``"control"`` / ``"escalation"``; rate limits are per kind. ``severity`` is one of
    :data:`SEVERITIES`. ``fields`` carries structured details (symbol, value, limit...). ``ts`` is
    the time of the underlying event in nanoseconds since the epoch (now by default).

    Secrets never travel in an alert: ``title``, ``message`` and the string values of
    ``fields`` are redacted when the alert is made (:func:`riskguard.redact.redact`: a URL's
    password, ``token=...``, a bearer token), as an alert often quotes a driver's error.
    """

    kind: str
    severity: str = "warning"
    title: str = ""
    message: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    ts: int = field(default_factory=time.time_ns)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise RiskError(f"kind: must be a non-empty string, got {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise RiskError(
                f"severity: must be one of {', '.join(SEVERITIES)}, got {self.severity!r}"
            )
        for name in ("title", "message"):
            if not isinstance(getattr(self, name), str):
                raise RiskError(f"{name}: must be a string, got {getattr(self, name)!r}")
        if not isinstance(self.fields, dict):
            raise RiskError(f"fields: must be a dict, got {type(self.fields).__name__}")
        if isinstance(self.ts, bool) or not isinstance(self.ts, int):
            raise RiskError(f"ts: must be an integer number of nanoseconds, got {self.ts!r}")
        object.__setattr__(self, "title", redact(self.title))
        object.__setattr__(self, "message", redact(self.message))
        if any(isinstance(v, str) for v in self.fields.values()):
            object.__setattr__(
                self,
                "fields",
                {k: redact(v) if isinstance(v, str) else v for k, v in self.fields.items()},
            )

    def to_dict(self) -> dict[str, Any]:
        """The alert as a JSON-ready dict: exactly the body a webhook receives."""
        return {
            "kind": self.kind,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "fields": dict(self.fields),
            "ts": self.ts,
        }

    def to_json(self) -> str:
        """The alert as JSON text; values JSON cannot encode (Decimal, datetime...) become
        strings rather than failing the delivery."""
        return json.dumps(self.to_dict(), default=str, separators=(",", ":"))
