"""alpaca-py's REST clients made safe to call from an event loop: each call runs in a thread of
the venue's own pool, bounded by ``broker.call_timeout_s``, within Alpaca's rate limit, its
failures mapped onto :mod:`riskguard.errors`.

alpaca-py's ``RESTClient`` is synchronous (``requests``), sets no timeout on its requests, and
retries HTTP 429 and 504 three times, 3 s apart, by itself, on every call, order submission
included; ``TradingClient`` has no constructor argument for either. So:

- each client's ``requests`` session gets a default timeout (an adapter, the ``requests``
  idiom), so that a stalled answer frees its thread soon after riskguard gave up on it;
- the library's own retry is turned off (``_retry = 0``; its 3 s sleeps ignore ``Retry-After``
  and run where riskguard cannot see them): a 429 is waited out here, through the
  :class:`~riskguard.venues.ratelimit.RateLimiter`, honouring the venue's wait. Should a later
  alpaca-py rename that attribute, its retries come back, and stay harmless: every order
  carries a client order id and the venue answers a duplicate by looking the order up;
- every call is bounded by ``asyncio.wait`` in the loop: no answer in time is
  :class:`~riskguard.errors.AmbiguousOutcome` for a write and
  :class:`~riskguard.errors.VenueUnavailable` for a read.

Alpaca's documented limit is 200 requests a minute per account (trading API); its answers carry
``X-RateLimit-Limit``/``X-RateLimit-Remaining``, which feed the bucket.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from alpaca.common.rest import RESTClient
from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from requests.adapters import HTTPAdapter

from riskguard.errors import AmbiguousOutcome, AuthFailed, RateLimited, VenueUnavailable
from riskguard.model.venue import VenueSettings
from riskguard.redact import redact
from riskguard.venues.alpaca.errors import VENUE, classify, http_status
from riskguard.venues.ratelimit import Bucket, RateLimiter

__all__ = ["LIMITS", "AlpacaRest"]

LIMITS = {"rest": [Bucket("requests_1m", 200.0, 60.0)]}
"""Alpaca's documented REST limit: 200 requests a minute per account, every endpoint alike."""

# A 429 whose wait fits in what is left of the call's time is waited out and the call sent
# again (a 429 is a refusal before anything was done, so resending is safe, orders included:
# they carry their client order id); at most this many times per call.
_RESENDS_ON_429 = 2


class _TimeoutAdapter(HTTPAdapter):
    """A ``requests`` transport adapter with a default timeout (``requests`` has none)."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self._timeout = timeout

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().send(request, **kwargs)


class AlpacaRest:
    """The REST side of one Alpaca account: ``trading`` (a ``TradingClient``), ``stocks`` and
    ``crypto`` (the historical data clients, for the latest trade), and :meth:`call`.

    Raises AuthFailed: no API key or secret (alpaca-py refuses to build its clients)."""

    def __init__(
        self,
        settings: VenueSettings,
        *,
        on_ban: Callable[[float, str], None] | None = None,
        workers: int = 4,
    ) -> None:
        self.timeout = settings.call_timeout_s
        self.secrets = tuple(s for s in (settings.api_key, settings.secret) if s)
        key, secret = settings.api_key or None, settings.secret or None
        base = settings.base_url.rstrip("/") if settings.base_url else None
        try:
            self.trading = TradingClient(key, secret, paper=settings.testnet, url_override=base)
            self.stocks = StockHistoricalDataClient(key, secret, url_override=base)
            self.crypto = CryptoHistoricalDataClient(key, secret, url_override=base)
        except ValueError as e:  # alpaca-py's own check of the credentials
            raise AuthFailed(redact(f"alpaca: {e}", *self.secrets), venue=VENUE) from None
        self.limiter = RateLimiter(VENUE, LIMITS, on_ban=on_ban)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alpaca-rest")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # Connect within the call's time; read a little longer than riskguard waits, so that
        # the timeout that fires first is riskguard's own (a stalled thread ends soon after).
        timeout = (self.timeout, self.timeout * 2.0 + 1.0)
        for client in (self.trading, self.stocks, self.crypto):
            self._tame(client, timeout)

    def _tame(self, client: RESTClient, timeout: tuple[float, float]) -> None:
        if hasattr(client, "_retry"):
            client._retry = 0
        session: requests.Session | None = getattr(client, "_session", None)
        if session is None:
            return
        adapter = _TimeoutAdapter(timeout)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.hooks["response"].append(self._on_response)

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Feeds the bucket from Alpaca's usage headers (in the worker thread: hands over to
        the loop)."""
        limit = response.headers.get("X-RateLimit-Limit")
        remaining = response.headers.get("X-RateLimit-Remaining")
        loop = self._loop
        if limit is None or remaining is None or loop is None:
            return
        try:
            used = (float(limit) - float(remaining)) / float(limit) * LIMITS["rest"][0].capacity
        except (ValueError, ZeroDivisionError):
            return
        try:
            loop.call_soon_threadsafe(self.limiter.observe, "requests_1m", used)
        except RuntimeError:
            pass  # the loop is closed: nothing left to pace

    async def call(self, what: str, fn: Callable[..., Any], *args: Any, write: bool = False) -> Any:
        """``fn(*args)`` (an alpaca-py method) in a worker thread, after the rate limiter lets
        it go, within ``call_timeout_s``; returns what it returns (alpaca-py's models: its
        clients are built without ``raw_data``). ``what`` names the call in messages; ``write``
        for a call that changes something (submit, cancel).

        Raises AmbiguousOutcome: a write with no answer in time, or cut off after sending.
        VenueUnavailable, RateLimited, AuthFailed, UnknownOrder, OrderRejected
        (DuplicateClientOrderId), VenueError: as :mod:`.errors` maps the failure.
        """
        if self._closed:
            raise VenueUnavailable(f"alpaca {what}: the venue is closed", venue=VENUE)
        loop = asyncio.get_running_loop()
        self._loop = loop
        started = time.monotonic()
        resends = 0
        while True:
            await self.limiter.acquire("rest")
            future = loop.run_in_executor(self._pool, functools.partial(fn, *args))
            done, _ = await asyncio.wait((future,), timeout=self.timeout)
            if not done:
                future.cancel()  # the thread runs on until its own timeout; its answer is dropped
                cls = AmbiguousOutcome if write else VenueUnavailable
                raise cls(
                    f"alpaca {what}: no answer within {self.timeout:g} s (broker.call_timeout_s)",
                    venue=VENUE,
                )
            try:
                return future.result()
            except Exception as e:
                error = classify(e, what=what, write=write, secrets=self.secrets)
                if not isinstance(error, RateLimited):
                    raise error from None
                self.limiter.penalize(http_status(e) or 429, error.retry_after)
                wait = max(0.0, self.limiter.blocked_until - time.monotonic())
                left = self.timeout - (time.monotonic() - started)
                if resends >= _RESENDS_ON_429 or wait >= left:
                    raise error from None
                resends += 1

    def close(self) -> None:
        """Stops the worker threads (a stalled one ends at its request timeout) and closes the
        HTTP sessions."""
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        for client in (self.trading, self.stocks, self.crypto):
            session = getattr(client, "_session", None)
            if session is not None:
                session.close()

    def __repr__(self) -> str:
        base = redact(str(getattr(self.trading, "_base_url", "")), *self.secrets)
        return f"AlpacaRest(timeout={self.timeout:g}, base_url={base!r})"
