"""Alerts: tell a person when something trips, without ever slowing the risk path down.

An :class:`Alert` goes to :meth:`Alerter.notify`, which returns at once: it deduplicates, applies
a per-kind rate limit, and puts the alert on one bounded queue per sink. A worker task per sink
delivers it, with a per-attempt timeout and bounded retries (exponential backoff with jitter). A
sink that fails, hangs or is slow only delays its own queue; a full queue is counted and written
to the structured log, never dropped silently. Nothing a sink does raises into ``notify``.

Sinks:

- :class:`LogSink`: structlog JSON lines to a stream or a file;
- :class:`WebhookSink`: an HTTP POST of the alert as JSON (httpx);
- :class:`TelegramSink`: Telegram's ``sendMessage``; the bot token is read from the environment
  and never appears in logs, reprs or exception messages.

Each can be built from a plain dict with :func:`sink_from_dict`, as a config file gives it::

    sink_from_dict({"type": "webhook", "url": "https://hooks.example/risk", "timeout": 3})

The alerter is bound to one event loop: call ``notify`` from that loop's thread.

The package's modules:

- :mod:`.sinks`: :class:`Sink`, :class:`SinkError`, the log, webhook and Telegram sinks, and
  :func:`sink_from_dict`;
- :mod:`.dispatcher`: :class:`Alerter` (deduplication, rate limits, queues, retries).
"""

from __future__ import annotations

from riskguard.model.alerts import SEVERITIES, Alert

from .dispatcher import Alerter
from .sinks import MAX_TIMEOUT_S as MAX_TIMEOUT_S
from .sinks import TELEGRAM_MAX_TEXT as TELEGRAM_MAX_TEXT
from .sinks import (
    LogSink,
    Sink,
    SinkError,
    TelegramSink,
    WebhookSink,
    sink_from_dict,
)

# The public names of the module this package replaced, unchanged. MAX_TIMEOUT_S and
# TELEGRAM_MAX_TEXT were importable from it without being listed, and stay so (the redundant
# aliases above mark them as re-exports).
__all__ = [
    "SEVERITIES",
    "Alert",
    "Alerter",
    "LogSink",
    "Sink",
    "SinkError",
    "TelegramSink",
    "WebhookSink",
    "sink_from_dict",
]
