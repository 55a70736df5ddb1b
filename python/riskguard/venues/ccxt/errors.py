"""ccxt's exceptions, mapped onto :mod:`riskguard.errors` by what the caller may do next.

ccxt maps a venue's error codes to its classes by the URL host the request went to (Binance
keeps one table per market: spot, USD-M...). With ``broker.base_url`` pointing at a gateway or
the fake venue, the host is not one ccxt knows and a USD-M ``-4116`` arrives as a plain
``ExchangeError``. So the venue's own code, which ccxt keeps in the message
(``binanceusdm {"code":-4116,"msg":"..."}``), is read first, and ccxt's class only when no code
is known.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

import ccxt

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

__all__ = ["DuplicateOrder", "venue_code", "venue_error"]


class DuplicateOrder(VenueError):
    """The venue already holds an order with this client order id: the submission is answered
    by looking that order up, never refused (not a riskguard error a caller sees)."""


_CODE = re.compile(r"""["']?code["']?\s*:\s*["']?(-?\d+)""")


def venue_code(message: str) -> str | None:
    """The venue's own error code in a ccxt message (``-4116``, ``"400100"``), or None."""
    start = message.find("{")
    if start >= 0:
        try:
            body = json.loads(message[start:])
            if isinstance(body, dict) and body.get("code") not in (None, "", 0, "0", "200000"):
                return str(body["code"])
        except ValueError:
            pass
    match = _CODE.search(message)
    return match.group(1) if match else None


def venue_error(
    e: BaseException,
    venue: str,
    *,
    codes: Mapping[str, type[VenueError] | Callable[[str], type[VenueError]]] = {},
    creating: bool = False,
    secrets: tuple[str, ...] = (),
    retry_after: float | None = None,
) -> VenueError:
    """The riskguard error for ccxt's ``e`` on ``venue``: by the venue's code in ``codes`` when
    the message holds one (a class, or a function of the message giving one), else by ccxt's
    class. ``creating``: the call created an order, so an
    answer that says nothing certain (a timeout, a dropped connection, a 5xx) is an
    :class:`AmbiguousOutcome`, never a refusal nor a plain unavailability that invites a resend.
    A read's timeout is a :class:`VenueUnavailable` (retried): it changed nothing. The message
    is redacted of ``secrets`` and of anything that looks like a credential."""
    message = redact(f"{venue}: {type(e).__name__}: {e}", *secrets)
    code = venue_code(str(e))
    kind = codes.get(code) if code is not None else None
    if kind is not None and not isinstance(kind, type):
        kind = kind(str(e))  # a code whose meaning depends on its message
    if kind is None:
        kind = _by_class(e)
    if kind is DuplicateOrder:
        return DuplicateOrder(message, venue=venue)
    if creating and kind in (VenueUnavailable, AmbiguousOutcome):
        return AmbiguousOutcome(message, venue=venue)
    if kind is AmbiguousOutcome:
        # A read that timed out changed nothing: it is retried like any unavailability.
        kind = VenueUnavailable
    if kind is RateLimited:
        return RateLimited(message, venue=venue, retry_after=retry_after)
    return kind(message, venue=venue)


def _by_class(e: BaseException) -> type[VenueError]:
    if isinstance(e, ccxt.DuplicateOrderId):
        return DuplicateOrder
    if isinstance(e, ccxt.OrderNotFound):
        return UnknownOrder
    if isinstance(e, (ccxt.AuthenticationError, ccxt.AccountSuspended)):
        return AuthFailed
    if isinstance(e, (ccxt.InsufficientFunds, ccxt.InvalidOrder, ccxt.BadRequest)):
        return OrderRejected
    if isinstance(e, ccxt.OperationRejected):
        return OrderRejected
    if isinstance(e, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):  # Binance's 429: the first
        return RateLimited
    if isinstance(e, ccxt.RequestTimeout):
        return AmbiguousOutcome
    if isinstance(e, (ccxt.NetworkError, ccxt.OperationFailed)):
        # ExchangeNotAvailable (5xx, maintenance), a dropped connection, Binance's -1001
        # (OperationFailed: neither an exchange error nor a network one).
        return VenueUnavailable
    if isinstance(e, (OSError, ConnectionError)):
        return VenueUnavailable
    return VenueError
