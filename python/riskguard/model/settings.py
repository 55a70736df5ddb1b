"""The settings a Guard runs with: a plain frozen record that the configuration (``[guard]``,
``[limits]``, ``[sessions]``, ``[journal]``, ``[broker]``) is turned into when a Guard is
composed, so that the Guard reads values, never the configuration's schema."""

from __future__ import annotations

from dataclasses import dataclass

from riskguard._core import Limits

__all__ = ["GuardSettings"]


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """How a Guard runs (see ``riskguard.Config``'s ``[guard]`` for each field's bounds).

    - ``limits``: the engine's limits of a fresh engine (a restored one keeps its own);
    - ``equity``: a fresh engine's starting equity, or None for the venue's;
    - ``action_queue``: bound of the queue of venue actions;
    - ``broker_retries``, ``retry_backoff_s``, ``retry_max_backoff_s``: retries of a failed
      venue call, exponential backoff with jitter;
    - ``call_timeout_s``: the longest a venue call may take (a timeout is an ambiguous outcome);
    - ``control_poll_s``: seconds between polls for control actions;
    - ``max_clock_skew_s``: how far ahead of the wall clock a live tick may be stamped, or None;
    - ``snapshot_interval_ns``: data time between checkpoints of the marks, or None for none;
    - ``symbols``: the only symbols accepted, or None for any;
    - ``stale_feed_s``: seconds without market data before :meth:`Guard.run` pauses new risk,
      or None (a simulated venue: its data has no wall-clock pace).

    The values were checked where they were read (``Config.check``); this record checks none.
    """

    limits: Limits
    equity: float | None = None
    action_queue: int = 1024
    broker_retries: int = 5
    retry_backoff_s: float = 0.1
    retry_max_backoff_s: float = 5.0
    call_timeout_s: float = 10.0
    control_poll_s: float = 0.5
    max_clock_skew_s: float | None = 300.0
    snapshot_interval_ns: int | None = None
    symbols: frozenset[str] | None = None
    stale_feed_s: float | None = None
