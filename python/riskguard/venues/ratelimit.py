"""Rate limits of a live venue: weighted token buckets per endpoint class, fed by the venue's
usage headers, and the venue's own refusals (a 429 with ``Retry-After``, a 418 IP ban).

Each venue declares its documented limits as :class:`Bucket` specs (Binance spot: 6,000 request
weight per minute; USD-M: 2,400 weight per minute and 300 orders per 10 s; ...), grouped by the
endpoint class a call belongs to (``"rest"``, ``"order"``). :meth:`RateLimiter.acquire` waits
until every bucket of the class has room for the call's weight, so a burst is spread out rather
than refused. Shared by every live venue (a helper of the venues room, not a venue).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Bucket", "RateLimiter"]


@dataclass(frozen=True, slots=True)
class Bucket:
    """A limit of ``capacity`` weight units per ``window_s`` seconds, named as the venue names
    it (``"weight_1m"``, ``"orders_10s"``). Tokens refill continuously, ``capacity / window_s``
    per second. ``headroom`` (a fraction in (0, 1]) is the share of the limit riskguard lets
    itself use, leaving the rest to the venue's own accounting and to clock drift."""

    name: str
    capacity: float
    window_s: float
    headroom: float = 0.9

    @property
    def usable(self) -> float:
        return self.capacity * self.headroom


class _State:
    def __init__(self, spec: Bucket, now: float) -> None:
        self.spec = spec
        self.tokens = spec.usable
        self.at = now

    def refill(self, now: float) -> None:
        rate = self.spec.usable / self.spec.window_s
        self.tokens = min(self.spec.usable, self.tokens + (now - self.at) * rate)
        self.at = now

    def wait_for(self, weight: float) -> float:
        """Seconds until ``weight`` tokens are there (0 when they are)."""
        missing = min(weight, self.spec.usable) - self.tokens
        return 0.0 if missing <= 0 else missing * self.spec.window_s / self.spec.usable


class RateLimiter:
    """The rate limits of one venue (``venue`` names it in messages).

    - ``buckets``: endpoint class -> the buckets a call of that class draws from (a class not
      listed draws from none);
    - ``clock``/``sleep``: monotonic seconds and how to wait (replaced by tests);
    - ``on_ban``: called with ``(seconds, reason)`` when the venue bans this client (HTTP 418),
      to raise a critical alert.

    Callers ``await acquire(kind, weight)`` before each call, ``observe(bucket, used)`` with
    the venue's usage header after it, and ``penalize(status, retry_after)`` on a refusal for
    load. While a ban or a ``Retry-After`` lasts, ``acquire`` waits it out (every class).
    """

    def __init__(
        self,
        venue: str,
        buckets: Mapping[str, Sequence[Bucket]],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        on_ban: Callable[[float, str], None] | None = None,
    ) -> None:
        self.venue = venue
        self._clock = clock
        self._sleep = sleep
        self._on_ban = on_ban
        now = clock()
        self._states: dict[str, _State] = {}
        self._classes: dict[str, list[_State]] = {}
        for kind, specs in buckets.items():
            states = []
            for spec in specs:
                state = self._states.setdefault(spec.name, _State(spec, now))
                states.append(state)
            self._classes[kind] = states
        self.blocked_until = 0.0
        self.banned = False
        self.waited_s = 0.0  # total time spent waiting for room (reported in status)
        self._lock = asyncio.Lock()

    async def acquire(self, kind: str, weight: float = 1.0) -> None:
        """Waits until a call of class ``kind`` costing ``weight`` fits every bucket of its
        class and no ban or ``Retry-After`` is in force, then takes its tokens. Calls are
        served in arrival order."""
        async with self._lock:
            while True:
                now = self._clock()
                wait = max(0.0, self.blocked_until - now)
                states = self._classes.get(kind, ())
                for state in states:
                    state.refill(now)
                    wait = max(wait, state.wait_for(weight))
                if wait <= 0.0:
                    for state in states:
                        state.tokens -= weight
                    self.banned = False
                    return
                self.waited_s += wait
                await self._sleep(wait)

    def observe(self, name: str, used: float) -> None:
        """The venue says ``used`` units of bucket ``name`` are spent in its current window
        (``X-MBX-USED-WEIGHT-1M``): the bucket holds no more than what is left of that."""
        state = self._states.get(name)
        if state is None or not used >= 0:
            return
        state.refill(self._clock())
        state.tokens = min(state.tokens, state.spec.usable - used)

    def penalize(self, status: int, retry_after: float | None) -> None:
        """The venue refused for load: every call waits ``retry_after`` seconds (or a default:
        a second for a 429, two minutes for a 418, Binance's shortest ban). A 418 is a ban of
        this address: ``on_ban`` is told."""
        default = 120.0 if status == 418 else 1.0
        seconds = retry_after if retry_after is not None and retry_after > 0 else default
        self.blocked_until = max(self.blocked_until, self._clock() + seconds)
        if status == 418:
            self.banned = True
            if self._on_ban is not None:
                self._on_ban(seconds, f"{self.venue} banned this address (HTTP 418)")
