"""Transaction cost analysis: what each order attempt asked for and what its fills got.

The Guard journals, with every order attempt, the venue, the price it asked for, the latency of
the submission (ms, wall clock), the retries before it and the error when it failed; with every
fill, the price its order asked for, the slippage in basis points and the time from the order's
first submission to the fill. :func:`quality` sums those rows up by venue and symbol for the
report.

Conventions: ``slippage_bps = (executed - requested) / requested * 10_000 * sign(qty)``,
positive a cost (bought dearer or sold cheaper than asked), negative an improvement. The price
asked is the signal's entry for an entry, the engine's mark for a close or a reduction, the
limit price of a limit order. Pure arithmetic over plain values: no I/O.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from riskguard.model.orders import Fill

__all__ = ["Executions", "quality", "slippage_bps"]

_KEEP = 100_000  # orders whose asked price a Guard remembers for their fills


def slippage_bps(requested: float, executed: float, qty: float) -> float:
    """The slippage of a fill of ``qty`` (signed) at ``executed`` against ``requested``, in
    basis points of ``requested``: positive is a cost. NaN when ``requested`` is not a positive
    finite price."""
    if not (requested > 0.0 and math.isfinite(requested)):
        return math.nan
    return (executed - requested) / requested * 10_000.0 * (1.0 if qty > 0 else -1.0)


class Executions:
    """The attempts of one Guard on one ``venue``: the price each order asked for and when it
    was first sent, by client order id; and the details each journaled attempt and fill
    carries. ``clock`` gives wall-clock ns."""

    def __init__(self, venue: str, clock: Any = time.time_ns) -> None:
        self.venue = venue
        self._clock = clock
        self._asked: dict[str, tuple[float | None, int]] = {}

    def sending(self, cid: str, requested: float | None) -> None:
        """Order ``cid`` is about to be sent asking ``requested`` (kept from its first send)."""
        if cid not in self._asked:
            price = requested if requested is not None and math.isfinite(requested) else None
            self._asked[cid] = (price, self._clock())
            if len(self._asked) > _KEEP:
                del self._asked[next(iter(self._asked))]  # the oldest: long settled

    def attempt(
        self, cid: str, latency_s: float, retries: int, error: str | None = None
    ) -> dict[str, Any]:
        """The details of one attempt of ``cid`` that took ``latency_s`` seconds after
        ``retries`` earlier ones (and failed with ``error``)."""
        asked = self._asked.get(cid, (None, 0))[0]
        details: dict[str, Any] = {
            "venue": self.venue,
            "requested_price": asked,
            "latency_ms": round(latency_s * 1e3, 3),
            "retries": retries,
        }
        if error is not None:
            details["error"] = error
        return details

    def fill(self, fill: Fill) -> dict[str, Any]:
        """The details of ``fill``: its order's asked price, the slippage, and the ms from the
        order's first submission to now (none for an order this Guard did not send)."""
        known = self._asked.get(fill.client_order_id)
        if known is None:
            return {"venue": self.venue}
        asked, sent = known
        details: dict[str, Any] = {
            "venue": self.venue,
            "fill_latency_ms": round((self._clock() - sent) / 1e6, 3),
        }
        if asked is not None:
            details["requested_price"] = asked
            details["slippage_bps"] = round(slippage_bps(asked, fill.price, fill.qty), 4)
        return details

    def forget(self, cid: str) -> None:
        self._asked.pop(cid, None)


def _details(row: Mapping[str, Any]) -> dict[str, Any]:
    raw = row.get("details")
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def quality(
    orders: Iterable[Mapping[str, Any]], fills: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Execution quality by venue and symbol, from journal rows (``rg_orders`` and
    ``rg_fills`` as the journal returns them): order attempts, how many were rejected, failed
    or ambiguous, the median and 95th percentile of the submission latency (ms), the fills,
    the filled quantity (absolute), the fees, and the median, 95th percentile and mean of
    the slippage (bps) over the fills with an asked price. Rows sorted by venue and symbol;
    none for a journal without attempts or fills."""
    table: dict[tuple[str, str], dict[str, Any]] = {}

    def entry(venue: str, symbol: str) -> dict[str, Any]:
        return table.setdefault(
            (venue, symbol),
            {
                "attempts": 0,
                "rejected": 0,
                "failed": 0,
                "ambiguous": 0,
                "latency": [],
                "fills": 0,
                "filled": 0.0,
                "fees": 0.0,
                "slippage": [],
            },
        )

    for row in orders:
        d = _details(row)
        if "latency_ms" not in d:
            continue  # an intent or a state, not a submission
        e = entry(str(d.get("venue") or "?"), str(row.get("symbol") or ""))
        e["attempts"] += 1
        status = str(row.get("status") or "")
        if status in ("rejected", "failed", "ambiguous"):
            e[status] += 1
        e["latency"].append(float(d["latency_ms"]))
    for row in fills:
        d = _details(row)
        if d.get("quarantined") or d.get("adopted") or "venue" not in d:
            continue
        e = entry(str(d["venue"]), str(row.get("symbol") or ""))
        e["fills"] += 1
        e["filled"] += abs(float(row.get("qty") or 0.0))
        e["fees"] += float(row.get("fee") or 0.0)
        slip = d.get("slippage_bps")
        if isinstance(slip, (int, float)) and math.isfinite(slip):
            e["slippage"].append(float(slip))
    out = []
    for (venue, symbol), e in sorted(table.items()):
        out.append(
            {
                "venue": venue,
                "symbol": symbol,
                "attempts": e["attempts"],
                "rejected": e["rejected"],
                "failed": e["failed"],
                "ambiguous": e["ambiguous"],
                "latency_ms_median": _pct(e["latency"], 50),
                "latency_ms_p95": _pct(e["latency"], 95),
                "fills": e["fills"],
                "filled_qty": e["filled"],
                "fees": e["fees"],
                "slippage_bps_median": _pct(e["slippage"], 50),
                "slippage_bps_p95": _pct(e["slippage"], 95),
                "slippage_bps_mean": float(np.mean(e["slippage"])) if e["slippage"] else math.nan,
            }
        )
    return out
