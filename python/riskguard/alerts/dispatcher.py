"""The alert dispatcher: :class:`Alerter` takes alerts on the caller's side without ever
blocking or raising (deduplication, a per-kind rate limit, one bounded queue per sink) and
delivers them from one worker task per sink (a per-attempt timeout, bounded retries with
exponential backoff and jitter, overflows and failures written to the structured log).
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from riskguard._core import RiskError
from riskguard.model.alerts import Alert

from .sinks import LogSink, Sink, SinkError

__all__ = ["Alerter"]


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
