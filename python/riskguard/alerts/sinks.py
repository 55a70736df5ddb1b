"""Alert sinks: the :class:`Sink` base, :class:`LogSink` (structlog JSON lines),
:class:`WebhookSink` and :class:`TelegramSink` (httpx), and :func:`sink_from_dict`, which builds
any of them from a config file's table.

A sink only delivers: it raises :class:`SinkError` (or anything else) on failure, and the
dispatcher (:mod:`riskguard.alerts.dispatcher`) retries, times out and logs. Secrets (a bot token,
a webhook's key) never appear in a sink's repr, its errors, or httpx's log records.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import httpx
import structlog

from riskguard._core import RiskError
from riskguard.model.alerts import SEVERITIES, Alert
from riskguard.redact import REDACTED, redact, safe_url

__all__ = [
    "MAX_TIMEOUT_S",
    "TELEGRAM_MAX_TEXT",
    "LogSink",
    "Sink",
    "SinkError",
    "TelegramSink",
    "WebhookSink",
    "sink_from_dict",
]

# The longest a sink's own timeout may be: a delivery that may take longer is not an alert.
MAX_TIMEOUT_S = 3_600.0
# Telegram rejects longer messages outright; a truncated alert is better than none.
TELEGRAM_MAX_TEXT = 4096


class SinkError(Exception):
    """A delivery that failed. ``retry_after`` is the delay in seconds the receiver asked for
    (HTTP 429), if any. The message never contains a secret."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _SecretFilter(logging.Filter):
    """Redacts registered secrets from records of the logger it is attached to.

    httpx logs every request's full URL at INFO, and a Telegram URL embeds the bot token.
    """

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        """Redact ``secret`` from now on."""
        with self._lock:
            self._secrets.add(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message without secrets; never drops a record."""
        secrets = tuple(self._secrets)
        if secrets:
            message = record.getMessage()
            clean = redact(message, *secrets)
            if clean != message:
                record.msg, record.args = clean, ()
        return True


_SECRET_FILTER = _SecretFilter()
_SECRET_FILTER_INSTALLED = False


def _protect_secret(secret: str) -> None:
    """Keep ``secret`` out of httpx's own log records."""
    global _SECRET_FILTER_INSTALLED
    _SECRET_FILTER.add(secret)
    if not _SECRET_FILTER_INSTALLED:
        logging.getLogger("httpx").addFilter(_SECRET_FILTER)
        _SECRET_FILTER_INSTALLED = True


class Sink:
    """Base class of alert sinks: an async :meth:`send` and an async :meth:`aclose`.

    ``send`` raises :class:`SinkError` (or anything else) on failure; the :class:`Alerter`
    retries, times out and logs. A sink needs a ``name`` unique within its alerter.
    """

    name: str = "sink"

    async def send(self, alert: Alert) -> None:
        """Deliver one alert, or raise."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release the sink's resources (connections, files)."""


class LogSink(Sink):
    """Structured log sink: each alert becomes one JSON line written by structlog.

    ``stream`` is a text stream; ``path`` a file opened for appending; with neither, the current
    ``sys.stderr`` at the time of each write. The :class:`Alerter` also writes its own
    diagnostics (overflows, failed deliveries) through a log sink with :meth:`emit`.
    """

    def __init__(
        self, stream: IO[str] | None = None, path: str | Path | None = None, name: str = "log"
    ) -> None:
        if stream is not None and path is not None:
            raise RiskError("path: give either a stream or a path, not both")
        self.name = name
        self._path = Path(path) if path is not None else None
        self._stream = stream
        self._owned: IO[str] | None = None
        # Lines from several threads (the alerter, a caller logging an overflow) never interleave.
        self._lock = threading.Lock()
        self._logger = structlog.wrap_logger(
            structlog.ReturnLogger(),
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True, key="logged_at"),
                structlog.processors.JSONRenderer(sort_keys=True, default=str),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET),
            cache_logger_on_first_use=False,
        )

    def __repr__(self) -> str:
        target = (
            str(self._path)
            if self._path is not None
            else ("stream" if self._stream is not None else "stderr")
        )
        return f"LogSink(name={self.name!r}, target={target!r})"

    def _target(self) -> IO[str]:
        if self._stream is not None:
            return self._stream
        if self._path is not None:
            if self._owned is None or self._owned.closed:
                self._owned = open(self._path, "a", encoding="utf-8")
            return self._owned
        return sys.stderr

    def emit(self, event: str, level: str = "info", **values: Any) -> None:
        """Write one JSON line ``{"event": event, "level": level, ...values}`` synchronously."""
        log_method = getattr(self._logger, level if level in SEVERITIES else "info")
        line = log_method(event, **values)
        with self._lock:
            target = self._target()
            target.write(line + "\n")
            target.flush()

    async def send(self, alert: Alert) -> None:
        """Write the alert as one JSON line at its severity's level."""
        self.emit("alert", alert.severity, **alert.to_dict())

    async def aclose(self) -> None:
        """Close the file this sink opened, if any."""
        with self._lock:
            if self._owned is not None:
                self._owned.close()
                self._owned = None


def _retry_after(response: httpx.Response) -> float | None:
    """The delay a 429 asked for, from the ``Retry-After`` header (seconds only)."""
    value = response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def _shown_url(url: str) -> str:
    """A webhook URL fit to show: its scheme and host only, as its path, query and user part
    often hold a key (``https://hooks.slack.com/services/T0/B0/KEY``)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # a malformed port or IPv6 literal
        return REDACTED
    if not parts.scheme or not host:
        return REDACTED
    rest = "/..." if (parts.path.strip("/") or parts.query or parts.netloc != host) else ""
    return redact(f"{parts.scheme}://{host}{rest}")


def _check_url(url: Any, name: str) -> str:
    if not isinstance(url, str):
        raise RiskError(f"{name}: must be a string URL, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # a malformed port or IPv6 literal
        ok = False
    if not ok:
        # Only the scheme and host are repeated: the rest may hold a key.
        raise RiskError(f"{name}: must be an http(s) URL with a host, got {_shown_url(url)!r}")
    return url


def _check_timeout(timeout: Any) -> float:
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
        or timeout > MAX_TIMEOUT_S
    ):
        raise RiskError(
            f"timeout: must be a positive number of seconds, at most {MAX_TIMEOUT_S:g}, "
            f"got {timeout!r}"
        )
    return float(timeout)


def _error_text(exc: BaseException) -> str:
    """A short description of a transport error that does not repeat the request URL, which may
    carry a secret (a bot token, a webhook's key)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    return type(exc).__name__


class _HttpSink(Sink):
    """Shared httpx plumbing: one client per sink, created in the running loop on first use."""

    def __init__(self, timeout: float, headers: Mapping[str, str] | None) -> None:
        self.timeout = _check_timeout(timeout)
        if headers is not None and (
            not isinstance(headers, Mapping)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
        ):
            raise RiskError("headers: must be a mapping of strings to strings")
        self._headers = dict(headers or {})
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, headers=self._headers)
        return self._client

    async def _post(self, url: str, content: str) -> httpx.Response:
        """POST JSON text; any transport failure becomes a :class:`SinkError` without the URL."""
        problem: str | None = None
        try:
            response = await self._http().post(
                url, content=content, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            problem = _error_text(exc)
        if problem is not None:
            # Raised outside the handler so the original exception, whose text may hold the
            # URL, is not chained onto this one.
            raise SinkError(f"{self.name}: {problem}")
        if response.status_code == 429:
            raise SinkError(f"{self.name}: HTTP 429", retry_after=_retry_after(response))
        if not response.is_success:
            raise SinkError(f"{self.name}: HTTP {response.status_code}")
        return response

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


class WebhookSink(_HttpSink):
    """Generic webhook: POSTs :meth:`Alert.to_dict` as JSON to ``url``; any 2xx is success.

    ``headers`` (an ``Authorization``, say) are sent with every request; the repr shows only
    their names, and errors never include the URL, as webhook URLs often embed a key.
    """

    def __init__(
        self,
        url: str,
        timeout: float = 5.0,
        headers: Mapping[str, str] | None = None,
        name: str = "webhook",
    ) -> None:
        self.url = _check_url(url, "url")
        self.name = name
        super().__init__(timeout, headers)
        # httpx logs each request's URL: keep its credentials, path and query out of the logs.
        parts = urlsplit(self.url)
        for secret in (parts.password, parts.username, parts.path.strip("/"), parts.query):
            if secret:
                _protect_secret(secret)

    def __repr__(self) -> str:
        return (
            f"WebhookSink(name={self.name!r}, url={_shown_url(self.url)!r}, "
            f"timeout={self.timeout}, headers={sorted(self._headers)})"
        )

    async def send(self, alert: Alert) -> None:
        """POST the alert; raise :class:`SinkError` on a transport error or a non-2xx answer."""
        await self._post(self.url, alert.to_json())


class TelegramSink(_HttpSink):
    """Telegram bot sink: ``POST {api_base}/bot{token}/sendMessage`` with ``chat_id`` and a plain
    text rendering of the alert.

    The token is read from the environment variable ``token_env`` when the sink is built; it is
    redacted from httpx's log records and never appears in this sink's repr, its errors or the
    alerter's logs. ``api_base`` can point at a local server for tests.
    """

    def __init__(
        self,
        chat_id: int | str,
        token_env: str = "RG_TELEGRAM_TOKEN",
        api_base: str = "https://api.telegram.org",
        timeout: float = 5.0,
        name: str = "telegram",
    ) -> None:
        if isinstance(chat_id, bool) or not isinstance(chat_id, (int, str)) or chat_id == "":
            raise RiskError(f"chat_id: must be an integer or a non-empty string, got {chat_id!r}")
        if not isinstance(token_env, str) or not token_env:
            raise RiskError(f"token_env: must be an environment variable name, got {token_env!r}")
        token = os.environ.get(token_env, "")
        if not token:
            raise RiskError(f"token_env: environment variable {token_env} is not set or empty")
        if any(ch.isspace() or ch in "/?#" for ch in token):
            raise RiskError(f"token_env: the value of {token_env} is not a valid bot token")
        _protect_secret(token)
        self.chat_id = chat_id
        self.token_env = token_env
        self.api_base = _check_url(api_base, "api_base").rstrip("/")
        self.name = name
        self.__token = token
        super().__init__(timeout, None)

    def __repr__(self) -> str:
        return (
            f"TelegramSink(name={self.name!r}, chat_id={self.chat_id!r}, "
            f"token_env={self.token_env!r}, api_base={safe_url(self.api_base)!r}, "
            f"timeout={self.timeout})"
        )

    @staticmethod
    def format(alert: Alert) -> str:
        """The message text: severity, kind and title, then the message and each field."""
        lines = [f"[{alert.severity.upper()}] {alert.kind}: {alert.title}".rstrip(": ")]
        if alert.message:
            lines.append(alert.message)
        lines.extend(f"{key}: {value}" for key, value in alert.fields.items())
        text = "\n".join(lines)
        return text if len(text) <= TELEGRAM_MAX_TEXT else text[: TELEGRAM_MAX_TEXT - 1] + "…"

    async def send(self, alert: Alert) -> None:
        """Send the alert; raise :class:`SinkError` (token-free) on any failure, including a
        200 answer whose body says ``"ok": false``."""
        body = json.dumps({"chat_id": self.chat_id, "text": self.format(alert)})
        try:
            response = await self._post(f"{self.api_base}/bot{self.__token}/sendMessage", body)
        except SinkError as exc:
            # Belt and braces: whatever a future change puts in the message, not the token.
            exc.args = (redact(str(exc), self.__token),)
            raise
        try:
            ok = response.json().get("ok", True)
        except (ValueError, AttributeError):
            ok = True
        if ok is False:
            raise SinkError(f"{self.name}: Telegram answered ok=false")


_SINK_FIELDS: dict[str, dict[str, bool]] = {
    # field -> required
    "log": {"name": False, "path": False},
    "webhook": {"name": False, "url": True, "timeout": False, "headers": False},
    "telegram": {
        "name": False,
        "chat_id": True,
        "token_env": False,
        "api_base": False,
        "timeout": False,
    },
}


def sink_from_dict(spec: Mapping[str, Any]) -> Sink:
    """Build a sink from a plain dict such as a config file gives: ``{"type": "log" | "webhook" |
    "telegram", ...}`` with the keyword arguments of :class:`LogSink` (``path``, ``name``),
    :class:`WebhookSink` or :class:`TelegramSink`.

    Raises :class:`riskguard.RiskError` naming the field for an unknown type, an unknown or
    missing field, or a bad value.
    """
    if not isinstance(spec, Mapping):
        raise RiskError(f"sink: must be a table/dict, got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in _SINK_FIELDS:
        known = ", ".join(sorted(_SINK_FIELDS))
        raise RiskError(f"type: unknown sink type {kind!r}; known: {known}")
    allowed = _SINK_FIELDS[kind]
    options = {k: v for k, v in spec.items() if k != "type"}
    unknown = sorted(str(k) for k in options if k not in allowed)
    if unknown:
        raise RiskError(
            f"{unknown[0]}: unknown field for a {kind} sink; known: {', '.join(sorted(allowed))}"
        )
    missing = [k for k, required in allowed.items() if required and k not in options]
    if missing:
        raise RiskError(f"{missing[0]}: required for a {kind} sink")
    if "name" in options and (not isinstance(options["name"], str) or not options["name"]):
        raise RiskError(f"name: must be a non-empty string, got {options['name']!r}")
    if kind == "log":
        path = options.get("path")
        if path is not None and not isinstance(path, str):
            raise RiskError(f"path: must be a string, got {type(path).__name__}")
        return LogSink(**options)
    if kind == "webhook":
        return WebhookSink(**options)
    return TelegramSink(**options)
