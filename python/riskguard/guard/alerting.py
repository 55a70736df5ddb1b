"""Alerts: the severity of each event kind, alerts for the events of a committed step,
escalations.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from typing import Any

from riskguard._core import Event
from riskguard.errors import JournalError
from riskguard.model.alerts import Alert
from riskguard.oms.book import _Action, _Step

__all__ = ["AlertingMixin", "_SEVERITY", "_utc"]

# Alert severity of each event kind; anything else is "info".
_SEVERITY = {
    "kill_switch": "critical",
    "flatten_requested": "critical",
    "breaker_tripped": "warning",
    "reduce_requested": "warning",
    "stop_hit": "warning",
    "paused": "warning",
}


def _utc(ns: int) -> str:
    """Ns since the epoch as an ISO 8601 UTC time, to the second ("out of range" beyond what
    a datetime holds)."""
    try:
        return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):
        return "out of range"


class AlertingMixin:
    """The alerting part of the Guard (a mixin: it works on the Guard's own state)."""

    def _escalate(self, action: _Action, error: str) -> None:
        """A risk-reducing action that keeps failing: stop new risk and say so; the caller
        tries again."""
        what = f"{action.purpose} of {action.symbol or 'every order'}"
        if action.fresh_id and action.attempt <= self.gateway.retries:
            # Refused by the broker a few times: say so, and try again before escalating.
            self._alert("order_failed", "warning", f"{what} refused", error)
            return
        self._raise_escalation(
            action.symbol or "*",
            f"{what} failing: {error}",
            f"{what} still failing",
            f"attempt {action.attempt}",
        )

    def _raise_escalation(self, key: str, reason: str, title: str, detail: str) -> None:
        """Something that must happen keeps failing (a risk-reducing order, the broker's answer
        about an order in doubt): new risk stops (paused, committed when the journal can), a
        critical alert, and ``status().escalations`` says why until it is resolved. The
        caller keeps trying."""
        engine = self._engine
        assert engine is not None
        if key not in self._escalations and not engine.paused:
            events = engine.pause(reason, engine.ts)
            self._notify(events)
            try:
                self._commit(_Step(events=events))
            except JournalError:
                pass  # _commit has stopped new risk and alerted
        self._escalations[key] = reason
        self._alert(
            "escalation",
            "critical",
            title,
            f"{detail}: {reason}; new risk is refused (paused) and it is tried again",
        )

    def _notify(self, events: list[Event]) -> None:
        if not self.alerter.sink_names:  # nobody to tell (a backtest)
            return
        for e in events:
            severity = _SEVERITY.get(e.kind, "info")
            if e.kind == "breaker_tripped" and e.action == "close_all_halt":
                severity = "critical"
            fields = {
                k: None if isinstance(v, float) and not math.isfinite(v) else v
                for k, v in e.to_dict().items()
            }
            self.alerter.notify(
                Alert(e.kind, severity, e.kind.replace("_", " "), e.message, fields, e.ts)
            )

    def _alert(
        self,
        kind: str,
        severity: str,
        title: str,
        message: str,
        ts: int | None = None,
        **fields: Any,
    ) -> None:
        self.alerter.notify(
            Alert(kind, severity, title, message, fields, time.time_ns() if ts is None else ts)
        )
