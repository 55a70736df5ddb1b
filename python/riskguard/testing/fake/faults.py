"""Scripted faults of the fake venue: what the next requests of an operation answer instead of
(or after) being carried out, and what the user streams do to their events.

Operations are named the same in every dialect, so that one test scripts every venue:
``markets``, ``time``, ``balance``, ``positions``, ``create``, ``lookup``, ``cancel``,
``cancel_all``, ``open_orders``, ``trades``, ``ticker``, ``listen_key``, ``countdown``, and
``*`` for any request. A rule is taken by the next matching request; ``times`` rules of one
script are taken one after the other.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["Faults", "Rule"]


@dataclass
class Rule:
    """One scripted answer.

    - ``status``: answer with this HTTP status (``body`` and ``headers`` as given; a JSON error
      of the dialect's shape when ``body`` is None), or None to answer normally;
    - ``execute``: carry the request out first (an order accepted, then answered with the
      fault), else refuse it untouched;
    - ``stall``: seconds to wait before answering (after carrying it out when ``execute``);
    - ``drop``: close the connection instead of answering.
    """

    op: str
    status: int | None = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    execute: bool = False
    stall: float = 0.0
    drop: bool = False


class Faults:
    """The fault script of one fake venue, and the log of the requests it served (``log``:
    ``(op, monotonic seconds)`` pairs, to check a client's pace)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self.log: list[tuple[str, float]] = []
        self.duplicate_events = 0
        self.reorder_events = 0
        self.silent = False  # the market stream sends nothing while set

    def fail(
        self,
        op: str,
        status: int,
        *,
        times: int = 1,
        body: str | None = None,
        headers: dict[str, str] | None = None,
        execute: bool = False,
    ) -> None:
        """The next ``times`` requests of ``op`` answer ``status``; with ``execute`` they are
        carried out first (``fail("create", 504, execute=True)``: accepted, then a 504)."""
        for _ in range(times):
            self._add(Rule(op, status, body, dict(headers or {}), execute))

    def stall(self, op: str, seconds: float, *, times: int = 1, execute: bool = True) -> None:
        """The next ``times`` requests of ``op`` answer after ``seconds`` (carried out first
        unless ``execute`` is false)."""
        for _ in range(times):
            self._add(Rule(op, execute=execute, stall=seconds))

    def drop(self, op: str, *, times: int = 1, execute: bool = True) -> None:
        """The next ``times`` requests of ``op`` lose their connection (after being carried
        out unless ``execute`` is false)."""
        for _ in range(times):
            self._add(Rule(op, execute=execute, drop=True))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self.duplicate_events = self.reorder_events = 0
            self.silent = False

    def take(self, op: str, now: float) -> Rule | None:
        """The rule the next request of ``op`` follows (and logs the request)."""
        with self._lock:
            self.log.append((op, now))
            for i, rule in enumerate(self._rules):
                if rule.op in (op, "*"):
                    return self._rules.pop(i)
        return None

    def count(self, op: str) -> int:
        """How many requests of ``op`` were served."""
        with self._lock:
            return sum(1 for o, _ in self.log if o == op)

    def _add(self, rule: Rule) -> None:
        with self._lock:
            self._rules.append(rule)
