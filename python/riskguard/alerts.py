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
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import httpx
import structlog

from riskguard._core import RiskError
from riskguard.model.alerts import SEVERITIES, Alert
from riskguard.redact import REDACTED, redact, safe_url

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


class _Clock:
    """The time rate limits and deduplication are measured on, in seconds."""

    def __init__(self, clock: Callable[[], float] | str | None) -> None:
        if clock is not None and clock != "alert" and not callable(clock):
            raise RiskError(f"clock: must be None, 'alert' or a callable, got {clock!r}")
        self._clock = clock

    def now(self, alert: Alert) -> float:
        """The current time for ``alert``, in seconds."""
        if self._clock is None:
            return time.monotonic()
        if self._clock == "alert":
            return alert.ts / 1e9
        return float(self._clock())  # type: ignore[operator]


class _SinkLane:
    """One sink with its queue and worker."""

    def __init__(self, sink: Sink, name: str, queue_size: int) -> None:
        self.sink = sink
        self.name = name
        self.queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=queue_size)
        self.task: asyncio.Task[None] | None = None


class Alerter:
    """Delivers alerts to sinks without ever blocking or raising into the caller.

    - :meth:`notify` is synchronous and returns at once; call it from the event loop's thread.
    - ``rate_limit_per_kind=(n, per_seconds)``: a token bucket per alert kind, holding ``n``
      and refilled at ``n / per_seconds`` per second; ``None`` disables it.
    - ``dedup_seconds``: an alert with the same ``(kind, title, message)`` as one accepted less
      than this long ago is dropped and counted; ``0`` disables it.
    - ``clock``: the time both are measured on: ``None`` for ``time.monotonic``, ``"alert"`` for
      each alert's own ``ts``, or any zero-argument callable returning seconds (tests).
    - ``retries``: extra attempts after a failure, waiting ``backoff * 2**attempt`` seconds
      (capped at ``max_backoff``, scaled by a random factor in [0.5, 1], at least a 429's
      ``Retry-After`` up to the cap); ``seed`` makes the jitter reproducible.
    - ``timeout``: the most one attempt may take, whatever the sink does.
    - ``queue_size``: bound of each sink's queue; an alert that does not fit is counted in
      ``overflowed`` and written to the log as ``alert_overflow`` with its content.
    - ``log``: the :class:`LogSink` diagnostics go to; by default the first log sink in
      ``sinks``, else one writing to stderr.

    Use ``async with Alerter(...)`` or :meth:`start` / :meth:`aclose`; :meth:`run` starts and
    waits until closed.
    """

    def __init__(
        self,
        sinks: Iterable[Sink],
        *,
        rate_limit_per_kind: tuple[int, float] | None = (10, 60.0),
        dedup_seconds: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
        queue_size: int = 1000,
        clock: Callable[[], float] | str | None = None,
        seed: int | None = None,
        log: LogSink | None = None,
    ) -> None:
        sinks = list(sinks)
        if rate_limit_per_kind is not None:
            try:
                n, per = rate_limit_per_kind
            except (TypeError, ValueError):
                raise RiskError(
                    f"rate_limit_per_kind: must be (n, per_seconds) or None, "
                    f"got {rate_limit_per_kind!r}"
                ) from None
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise RiskError(f"rate_limit_per_kind: n must be an integer >= 1, got {n!r}")
            if not _positive(per):
                raise RiskError(f"rate_limit_per_kind: per_seconds must be > 0, got {per!r}")
            self._rate: tuple[int, float] | None = (n, float(per))
        else:
            self._rate = None
        for name, value in (("dedup_seconds", dedup_seconds), ("backoff", backoff)):
            if not _positive(value, allow_zero=True):
                raise RiskError(f"{name}: must be a number >= 0, got {value!r}")
        if not _positive(max_backoff, allow_zero=True):
            raise RiskError(f"max_backoff: must be a number >= 0, got {max_backoff!r}")
        if not _positive(timeout):
            raise RiskError(f"timeout: must be a positive number of seconds, got {timeout!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise RiskError(f"retries: must be an integer >= 0, got {retries!r}")
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 1:
            raise RiskError(f"queue_size: must be an integer >= 1, got {queue_size!r}")
        self._dedup = float(dedup_seconds)
        self._retries = retries
        self._backoff = float(backoff)
        self._max_backoff = float(max_backoff)
        self._timeout = float(timeout)
        self._clock = _Clock(clock)
        self._random = random.Random(seed)
        self._log = log or next((s for s in sinks if isinstance(s, LogSink)), None) or LogSink()

        self._lanes: list[_SinkLane] = []
        seen: Counter[str] = Counter()
        for sink in sinks:
            base = getattr(sink, "name", None) or type(sink).__name__
            seen[base] += 1
            # Two webhooks are both "webhook" by default; stats need a key for each.
            name = base if seen[base] == 1 else f"{base}#{seen[base]}"
            self._lanes.append(_SinkLane(sink, name, queue_size))

        self._buckets: dict[str, tuple[float, float]] = {}
        self._last_seen: dict[tuple[str, str, str], float] = {}
        self._closed = False
        self._started = False
        self._sent: Counter[str] = Counter()
        self._failed: Counter[str] = Counter()
        self._retried: Counter[str] = Counter()
        self._overflowed: Counter[str] = Counter()
        self._deduplicated: Counter[str] = Counter()
        self._rate_limited: Counter[str] = Counter()
        self._after_close = 0

    @property
    def sink_names(self) -> list[str]:
        """The names the sinks are counted under in :meth:`stats`, in order."""
        return [lane.name for lane in self._lanes]

    def __repr__(self) -> str:
        return f"Alerter(sinks={[lane.sink for lane in self._lanes]!r})"

    # -- the caller's side -------------------------------------------------------------------

    def notify(self, alert: Alert) -> bool:
        """Queue ``alert`` for every sink and return at once.

        Returns True when the alert was accepted (queued for at least one sink), False when it
        was deduplicated, rate limited, could not be queued anywhere, or the alerter is closed.
        Never raises and never waits.
        """
        try:
            return self._notify(alert)
        except Exception as exc:  # the risk path must never see an alert failure
            self._diagnose("alert_notify_error", "critical", error=type(exc).__name__)
            return False

    def _notify(self, alert: Alert) -> bool:
        if not isinstance(alert, Alert):
            self._diagnose("alert_invalid", "critical", type=type(alert).__name__)
            return False
        if self._closed:
            self._after_close += 1
            self._diagnose("alert_after_close", "warning", alert=alert.to_dict())
            return False
        now = self._clock.now(alert)
        key = (alert.kind, alert.title, alert.message)
        if self._dedup > 0:
            last = self._last_seen.get(key)
            if last is not None and 0 <= now - last < self._dedup:
                self._deduplicated[alert.kind] += 1
                return False
        if not self._take_token(alert.kind, now):
            self._rate_limited[alert.kind] += 1
            return False
        if self._dedup > 0:
            self._remember(key, now)
        queued = False
        for lane in self._lanes:
            try:
                lane.queue.put_nowait(alert)
                queued = True
            except asyncio.QueueFull:
                self._overflowed[lane.name] += 1
                self._diagnose(
                    "alert_overflow",
                    "critical",
                    sink=lane.name,
                    overflowed=self._overflowed[lane.name],
                    alert=alert.to_dict(),
                )
        return queued

    def _take_token(self, kind: str, now: float) -> bool:
        if self._rate is None:
            return True
        capacity, per = self._rate
        tokens, last = self._buckets.get(kind, (float(capacity), now))
        # An alert stamped earlier than the previous one (clock="alert") refills nothing.
        tokens = min(float(capacity), tokens + max(0.0, now - last) * capacity / per)
        if tokens >= 1.0:
            self._buckets[kind] = (tokens - 1.0, max(now, last))
            return True
        self._buckets[kind] = (tokens, max(now, last))
        return False

    def _remember(self, key: tuple[str, str, str], now: float) -> None:
        self._last_seen[key] = now
        # Bound the memory a stream of distinct messages can take.
        if len(self._last_seen) > 4096:
            self._last_seen = {
                k: t for k, t in self._last_seen.items() if 0 <= now - t < self._dedup
            }

    def _diagnose(self, event: str, level: str, **values: Any) -> None:
        """Write a diagnostic line; a broken log must not break the caller either."""
        try:
            self._log.emit(event, level, **values)
        except Exception:
            pass

    def stats(self) -> dict[str, dict[str, int]]:
        """Counts so far, as plain dicts: ``sent``, ``failed`` (after all retries), ``retried``
        (extra attempts), ``overflowed`` and ``queued`` per sink name; ``deduplicated`` and
        ``rate_limited`` per alert kind; ``closed`` with ``after_close``, alerts given to
        :meth:`notify` after :meth:`aclose`."""
        names = self.sink_names
        return {
            "sent": {n: self._sent[n] for n in names},
            "failed": {n: self._failed[n] for n in names},
            "retried": {n: self._retried[n] for n in names},
            "overflowed": {n: self._overflowed[n] for n in names},
            "queued": {lane.name: lane.queue.qsize() for lane in self._lanes},
            "deduplicated": dict(self._deduplicated),
            "rate_limited": dict(self._rate_limited),
            "closed": {"after_close": self._after_close},
        }

    # -- the worker's side -------------------------------------------------------------------

    async def start(self) -> Alerter:
        """Start one delivery task per sink in the running loop; idempotent."""
        if self._closed:
            raise RiskError("alerter: already closed")
        if not self._started:
            self._started = True
            for lane in self._lanes:
                lane.task = asyncio.create_task(self._work(lane), name=f"alerter:{lane.name}")
        return self

    async def run(self) -> None:
        """Start, then wait until :meth:`aclose` stops the workers (or this is cancelled)."""
        await self.start()
        tasks = [lane.task for lane in self._lanes if lane.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self, timeout: float | None = 10.0) -> None:
        """Deliver what is queued (waiting at most ``timeout`` seconds), stop the workers and
        close the sinks. Alerts still undelivered are logged as ``alert_undelivered`` and
        counted as failed."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            joins = asyncio.gather(*(lane.queue.join() for lane in self._lanes))
            try:
                await asyncio.wait_for(joins, timeout)
            except asyncio.TimeoutError:
                pass
        for lane in self._lanes:
            if lane.task is not None:
                lane.task.cancel()
        for lane in self._lanes:
            if lane.task is not None:
                try:
                    await lane.task
                except asyncio.CancelledError:
                    pass
            while not lane.queue.empty():
                alert = lane.queue.get_nowait()
                lane.queue.task_done()
                self._give_up(lane, alert, "closed before delivery", attempts=0)
        for lane in self._lanes:
            try:
                await lane.sink.aclose()
            except Exception as exc:
                self._diagnose("alert_sink_close_error", "warning", sink=lane.name, error=str(exc))

    async def __aenter__(self) -> Alerter:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        base = min(self._max_backoff, self._backoff * 2.0**attempt)
        delay = base * (0.5 + 0.5 * self._random.random())
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._max_backoff))
        return delay

    async def _work(self, lane: _SinkLane) -> None:
        while True:
            alert = await lane.queue.get()
            try:
                await self._deliver(lane, alert)
            except asyncio.CancelledError:
                self._give_up(lane, alert, "closed during delivery", attempts=None)
                raise
            except Exception as exc:  # a bug in one delivery must not kill the lane
                self._give_up(lane, alert, type(exc).__name__, attempts=None)
            finally:
                lane.queue.task_done()

    async def _deliver(self, lane: _SinkLane, alert: Alert) -> None:
        error = ""
        for attempt in range(self._retries + 1):
            retry_after = None
            try:
                await asyncio.wait_for(lane.sink.send(alert), self._timeout)
            except asyncio.TimeoutError:
                error = f"no answer within {self._timeout:g} s"
            except SinkError as exc:
                error, retry_after = str(exc), exc.retry_after
            except Exception as exc:
                # Only the type: an arbitrary sink's message could carry anything.
                error = type(exc).__name__
            else:
                self._sent[lane.name] += 1
                return
            if attempt < self._retries:
                self._retried[lane.name] += 1
                await asyncio.sleep(self._delay(attempt, retry_after))
        self._give_up(lane, alert, error, attempts=self._retries + 1)

    def _give_up(self, lane: _SinkLane, alert: Alert, error: str, attempts: int | None) -> None:
        self._failed[lane.name] += 1
        event = "alert_delivery_failed" if attempts else "alert_undelivered"
        self._diagnose(
            event, "critical", sink=lane.name, error=error, attempts=attempts, alert=alert.to_dict()
        )


def _positive(value: Any, allow_zero: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return value >= 0 if allow_zero else value > 0
