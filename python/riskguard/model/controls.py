"""Control actions: what an operator (the CLI, the API, the Guard's own caller) asks a running
Guard to do, as recorded in the control channel."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Control", "ControlAction"]


class ControlAction(str, Enum):
    """``kill`` engages the latched kill switch (flatten, halt); ``pause`` stops new risk;
    ``resume`` lifts a pause; ``reset`` re-arms a named breaker (or the kill switch)."""

    KILL = "kill"
    PAUSE = "pause"
    RESUME = "resume"
    RESET = "reset"


@dataclass(frozen=True)
class Control:
    """A recorded control action: ``action`` (a :class:`ControlAction` value), the breaker
    ``name`` of a reset, who asked (``actor``) and why, at ``ts`` (wall-clock ns, UTC);
    ``handled_ts`` once a Guard acted on it, else None.

    ``id`` is the handle ``Journal.write(handled=...)`` and ``Journal.mark_handled`` take. On a
    SQLite file it is the control channel's id; a negative id names an action stored in the
    journal itself (one the Guard took, or one an older riskguard recorded there)."""

    id: int
    ts: int
    action: str
    name: str | None
    reason: str
    actor: str
    handled_ts: int | None
