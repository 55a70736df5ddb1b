""":class:`RiskStatus`: the one status projection. The Guard's ``status()``, ``riskguard
status`` (from the journal) and the API all show this record, built by one function."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from riskguard._core import RiskEngine
from riskguard.model.controls import Control

__all__ = ["RiskStatus"]


@dataclass(frozen=True)
class RiskStatus:
    """What a person checking on a Guard wants to see.

    ``state`` is the engine's trading state (``ACTIVE``, ``REDUCING``, ``HALTED``); ``paused``
    and ``kill_switch`` are the manual controls. Money is in quote currency; ``drawdown`` and
    the session losses are fractions of equity (0.02 is 2 %), ``heat`` of equity at risk,
    ``leverage`` gross exposure over equity. ``breakers`` lists every breaker in the engine's
    order (``BreakerStatus.to_dict()``: its ``status`` is ``armed``, ``tripped`` or ``off``),
    ``positions`` each open position (``PositionSnapshot.to_dict()``). ``ts`` is the engine's
    clock (ns, UTC).

    What only a running Guard knows (zero or empty when read from a journal):
    ``pending_actions`` counts venue actions queued or under way; ``escalations`` the
    risk-reducing orders that keep failing; ``failure`` why new risk is refused (the journal
    failed, the lease was lost, the journal file was replaced), since ``failure_since`` (ns);
    ``undurable_controls`` the control actions acted on in memory but not yet committed.

    ``pending_controls`` are control actions recorded but not yet acted on; ``lease`` is the
    journal's writer (holder, host, pid, since, epoch) or None.
    """

    ts: int
    state: str
    paused: bool
    kill_switch: bool
    equity: float
    cash: float
    peak_equity: float
    drawdown: float
    day_loss: float
    week_loss: float
    month_loss: float
    heat: float
    leverage: float
    gross_exposure: float
    net_exposure: float
    realized_pnl: float
    consecutive_losses: int
    breakers: list[dict[str, Any]]
    positions: dict[str, dict[str, Any]]
    pending_actions: int = 0
    escalations: list[str] = field(default_factory=list)
    failure: str | None = None
    failure_since: int | None = None
    undurable_controls: list[str] = field(default_factory=list)
    pending_controls: list[dict[str, Any]] = field(default_factory=list)
    lease: dict[str, Any] | None = None

    @classmethod
    def of(
        cls,
        engine: RiskEngine,
        *,
        pending_actions: int = 0,
        escalations: Iterable[str] = (),
        failure: str | None = None,
        failure_since: int | None = None,
        undurable_controls: Iterable[str] = (),
        pending_controls: Iterable[Control] = (),
        lease: Mapping[str, Any] | None = None,
    ) -> RiskStatus:
        """The status of ``engine`` with what its owner adds."""
        snap = engine.snapshot()
        breakers = [b.to_dict() for b in engine.breakers()]
        return cls(
            ts=snap.ts,
            state=snap.state.name,
            paused=engine.paused,
            kill_switch=any(
                b["name"] == "kill_switch" and b["status"] == "tripped" for b in breakers
            ),
            equity=snap.equity,
            cash=snap.cash,
            peak_equity=snap.peak_equity,
            drawdown=snap.drawdown,
            day_loss=snap.day_loss,
            week_loss=snap.week_loss,
            month_loss=snap.month_loss,
            heat=snap.heat,
            leverage=snap.leverage,
            gross_exposure=snap.gross_exposure,
            net_exposure=snap.net_exposure,
            realized_pnl=snap.realized_pnl,
            consecutive_losses=snap.consecutive_losses,
            breakers=breakers,
            positions={s: p.to_dict() for s, p in snap.positions.items()},
            pending_actions=pending_actions,
            escalations=sorted(escalations),
            failure=failure,
            failure_since=failure_since,
            undurable_controls=list(undurable_controls),
            pending_controls=[asdict(c) for c in pending_controls],
            lease=None if lease is None else dict(lease),
        )

    @property
    def tripped(self) -> list[str]:
        """The names of the tripped breakers."""
        return [b["name"] for b in self.breakers if b["status"] == "tripped"]

    def to_dict(self) -> dict[str, Any]:
        """The status as a JSON-ready dict (floats may be NaN or infinite: a drawdown of an
        account at zero equity)."""
        return asdict(self)
