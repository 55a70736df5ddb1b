"""alpaca-py's failures mapped onto :mod:`riskguard.errors`, by HTTP status and Alpaca's error
code, never by host or by the library's exception class alone (alpaca-py raises one
``APIError`` for everything the venue refuses, and lets ``requests`` exceptions through).

- 429 (``42910000``) and 418: :class:`RateLimited`, with the wait the venue asked for
  (``Retry-After``, else ``X-RateLimit-Reset``);
- 401, and 403 ``forbidden.``/``40110000``: :class:`AuthFailed`;
- 404 / ``40410000``: :class:`UnknownOrder`;
- a refused order (403 ``40310000``: buying power, quantity available, minimum order size;
  400/422: a malformed order): :class:`OrderRejected`, whose message starts with a stable
  reason code (``INSUFFICIENT_FUNDS: ...``); a reused client order id is the subclass
  :class:`DuplicateClientOrderId`, which the venue answers by looking the order up;
- 5xx (:class:`ServerError`), a connection refused: :class:`VenueUnavailable`;
- no answer, a connection lost after sending, an answer that cannot be read: for a write
  (submit, cancel) :class:`AmbiguousOutcome`, for a read :class:`VenueUnavailable`.

Every message goes through :func:`riskguard.redact.redact` with the credentials.
"""

from __future__ import annotations

import json
import time
from typing import Any

import requests
from alpaca.common.exceptions import APIError

from riskguard.errors import (
    AmbiguousOutcome,
    AuthFailed,
    OrderRejected,
    RateLimited,
    UnknownOrder,
    VenueError,
    VenueUnavailable,
)
from riskguard.redact import redact

__all__ = ["DuplicateClientOrderId", "ServerError", "classify", "http_status", "retry_after"]

VENUE = "alpaca"

# Alpaca's code 40010001 covers many malformed requests (and a reused client order id): the
# message tells them apart. Matched lower-cased, first match wins.
_REASONS = (
    ("client_order_id must be unique", "DUPLICATE_CLIENT_ORDER_ID"),
    ("buying power", "INSUFFICIENT_FUNDS"),
    ("insufficient balance", "INSUFFICIENT_FUNDS"),
    ("insufficient qty", "INSUFFICIENT_QTY"),
    ("cost basis must be", "BELOW_MIN_NOTIONAL"),
    ("sub-penny", "BAD_PRICE"),
    ("limit_price", "BAD_PRICE"),
    ("stop_price", "BAD_PRICE"),
    ("time_in_force", "BAD_TIME_IN_FORCE"),
    ("day orders", "BAD_TIME_IN_FORCE"),
    ("fractional", "BAD_QTY"),
    ("qty", "BAD_QTY"),
    ("order type", "BAD_ORDER_TYPE"),
    ("not found", "UNKNOWN_SYMBOL"),
    ("not tradable", "NOT_TRADABLE"),
    ("rejected by user request", "TRADING_SUSPENDED"),
    ("already in", "ORDER_FINAL"),
)


class DuplicateClientOrderId(OrderRejected):
    """Alpaca refused an order because its client order id was used before (422 ``client_order_id
    must be unique``), whatever became of the first order: an order accepted, answered with a 504
    and sent again gets this answer for an order that filled. Not a refusal of the order: the
    venue looks the first one up and answers with its state."""


class ServerError(VenueUnavailable):
    """The venue answered 5xx. A read may be retried; a write may have been carried out before
    the error (an order accepted, then a 504 from Alpaca's gateway), so the venue looks an
    order up by its client order id before calling it unavailable."""


def _body(e: APIError) -> dict[str, Any]:
    try:
        parsed = json.loads(str(e))
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def http_status(e: BaseException) -> int | None:
    """The HTTP status of an ``APIError`` (None for anything else or when it has none)."""
    if not isinstance(e, APIError):
        return None
    try:
        return e.status_code
    except Exception:
        return None


def retry_after(e: BaseException, *, clock: Any = time.time) -> float | None:
    """The wait in seconds a refusal for load asked for: ``Retry-After``, else the time left
    until ``X-RateLimit-Reset`` (epoch seconds; Alpaca's own header), else None."""
    response = getattr(e, "response", None) if isinstance(e, APIError) else None
    headers = getattr(response, "headers", None) or {}
    for name in ("Retry-After", "X-RateLimit-Reset"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value)
        except ValueError:
            continue
        if name == "X-RateLimit-Reset":
            seconds -= clock()
        if seconds > 0:
            return min(seconds, 3_600.0)
    return None


def _reason(message: str) -> str:
    low = message.lower()
    for needle, code in _REASONS:
        if needle in low:
            return code
    return "VENUE_REFUSED"


def classify(e: BaseException, *, what: str, write: bool, secrets: tuple[str, ...]) -> VenueError:
    """The riskguard error for ``e``, raised by alpaca-py (or ``requests`` under it) during
    ``what`` (``"submit AAPL"``); ``write`` for a call that changes something at the venue (an
    unanswered write is ambiguous, an unanswered read is not)."""
    if isinstance(e, APIError):
        return _api_error(e, what=what, write=write, secrets=secrets)
    text = redact(f"alpaca {what}: {type(e).__name__}: {e}", *secrets)
    if isinstance(e, requests.exceptions.ConnectTimeout) or _before_sending(e):
        return VenueUnavailable(text, venue=VENUE)
    if isinstance(e, requests.exceptions.RequestException):
        # A read timeout or a connection lost mid-answer: the request may have been carried out.
        return AmbiguousOutcome(text, venue=VENUE) if write else VenueUnavailable(text, venue=VENUE)
    # An answer the client could not parse (pydantic, JSON): the venue did answer, so for a
    # write we cannot tell what it did.
    text = redact(f"alpaca {what}: unexpected answer: {type(e).__name__}: {e}", *secrets)
    return AmbiguousOutcome(text, venue=VENUE) if write else VenueError(text, venue=VENUE)


def _before_sending(e: BaseException) -> bool:
    """True when the connection was never made (so the request was never sent)."""
    if not isinstance(e, requests.exceptions.ConnectionError):
        return False
    reason = getattr(e.args[0], "reason", None) if e.args else None
    name = type(reason).__name__ if reason is not None else ""
    return name in ("NewConnectionError", "ConnectTimeoutError", "NameResolutionError")


def _api_error(e: APIError, *, what: str, write: bool, secrets: tuple[str, ...]) -> VenueError:
    status = http_status(e) or 0
    body = _body(e)
    code = body.get("code")
    message = str(body.get("message") or str(e)[:200] or f"HTTP {status}")
    detail = redact(f"{message} (HTTP {status}" + (f", code {code})" if code else ")"), *secrets)
    text = f"alpaca {what}: {detail}"
    if status in (429, 418) or code == 42910000:
        return RateLimited(text, venue=VENUE, retry_after=retry_after(e))
    if status == 401 or code == 40110000 or (status == 403 and code is None):
        return AuthFailed(text, venue=VENUE)
    if status == 404 or code == 40410000:
        return UnknownOrder(text, venue=VENUE)
    if status >= 500:
        return ServerError(text, venue=VENUE)
    if status in (400, 403, 422) and write:
        reason = _reason(message)
        cls = DuplicateClientOrderId if reason == "DUPLICATE_CLIENT_ORDER_ID" else OrderRejected
        return cls(f"{reason}: {detail}", venue=VENUE)
    if status == 403:
        return AuthFailed(text, venue=VENUE)
    return VenueError(text, venue=VENUE)
