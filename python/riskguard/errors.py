"""riskguard's exceptions: one tree under :class:`RiskError`, which subclasses ``ValueError``.

Callers branch on the class, never on the message:

- :class:`ConfigError`: a configuration that fails validation; its message lists every problem
  with its path.
- :class:`JournalError`: the journal cannot be opened, read or written, or holds state that
  fails its checks. Trading stops (fail closed).
- :class:`GuardError`: the Guard cannot do what was asked (closed, not started, another Guard
  holds the journal's lease, new risk refused).
- :class:`VenueError`: a venue (broker, exchange) call failed. Its subclasses say what the
  caller may do next:

  - :class:`VenueUnavailable`: the venue did not take the request (5xx, network down before
    sending); reads may be retried with backoff.
  - :class:`RateLimited`: the venue refused for load (HTTP 429/418); ``retry_after`` seconds,
    when the venue said, before the next call.
  - :class:`OrderRejected`: the venue refused a well-formed order (funds, filters); not retried.
  - :class:`UnknownOrder`: the venue does not know the order asked for.
  - :class:`AuthFailed`: the credentials were refused; nothing will work until they change.
  - :class:`AmbiguousOutcome`: the request may or may not have been carried out (a timeout, a
    connection dropped after sending). An order in this state stays in flight and is settled by
    asking the venue for it by client order id, never by sending it again blindly.

No message carries a secret: URLs and tokens go through :mod:`riskguard.redact` first.
"""

from __future__ import annotations

from riskguard._core import RiskError

__all__ = [
    "AmbiguousOutcome",
    "AuthFailed",
    "ConfigError",
    "GuardError",
    "JournalError",
    "OrderRejected",
    "RateLimited",
    "RiskError",
    "UnknownOrder",
    "VenueError",
    "VenueUnavailable",
]


class ConfigError(RiskError):
    """A configuration that fails validation. The message lists every problem, one per line,
    each as ``path: problem`` (``journal.batch: must be an integer >= 1, got 0``); ``problems``
    holds them as ``(path, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {path}: {message}" for path, message in problems)
        super().__init__(f"invalid configuration:\n{lines}")


class JournalError(RiskError):
    """The journal cannot be opened, read or written, or holds state that fails its checks.
    Trading must stop (fail closed)."""


class GuardError(RiskError):
    """The Guard cannot do what was asked: it is closed or not started, another Guard holds its
    journal's lease, or it has stopped taking new risk (its journal failed, its lease was
    lost)."""


class VenueError(RiskError):
    """A call to a venue failed. ``venue`` names it (``"paper"``, ``"binance"``...)."""

    def __init__(self, message: str, *, venue: str = "") -> None:
        super().__init__(message)
        self.venue = venue


class VenueUnavailable(VenueError):
    """The venue did not take the request: a 5xx answer, or the network failed before the
    request was sent. Safe to retry a read; an order is looked up by client order id first."""


class RateLimited(VenueError):
    """The venue refused the request for load (HTTP 429, or 418 for an IP ban).
    ``retry_after`` is the wait in seconds the venue asked for, or None."""

    def __init__(self, message: str, *, venue: str = "", retry_after: float | None = None) -> None:
        super().__init__(message, venue=venue)
        self.retry_after = retry_after


class OrderRejected(VenueError):
    """The venue refused a well-formed order (insufficient funds, a filter, a closed market).
    Sending it again unchanged would be refused again."""


class UnknownOrder(VenueError):
    """The venue does not know the order asked for (by client order id or venue id)."""


class AuthFailed(VenueError):
    """The venue refused the credentials. Nothing works until they are changed."""


class AmbiguousOutcome(VenueError):
    """The request may or may not have been carried out: it timed out, or the connection dropped
    after it was sent. An order in this state stays in flight; it is settled by asking the venue
    for it by client order id, by the venue's order stream, or by reconciliation."""


# Not in __all__: the journal's own refusal (riskguard.journal.LeaseHeld), kept here so that the
# Guard can catch it without importing the journal.
class LeaseHeld(JournalError):
    """Another writer holds the journal's lease: ``holder``, ``host``, ``pid`` and ``since``
    (ns since the epoch, UTC) name it, as far as the journal knows them (None when it does not).
    """

    def __init__(
        self,
        message: str,
        *,
        holder: str | None = None,
        host: str | None = None,
        pid: int | None = None,
        since: int | None = None,
    ) -> None:
        super().__init__(message)
        self.holder = holder
        self.host = host
        self.pid = pid
        self.since = since
