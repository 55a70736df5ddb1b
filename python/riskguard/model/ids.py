"""Identifiers: client order ids the Guard gives its orders, and the key a fill is known by.

A client order id is unique across restarts without coordination and is reused for every retry
of one submission, which is what makes a retried submission idempotent at the venue. Venues
bound its length and alphabet (Binance: 36 characters of ``[.A-Z:/a-z0-9_-]``), so the ids are
short and use only letters, digits and ``-``.
"""

from __future__ import annotations

import uuid

__all__ = ["new_client_order_id"]


def new_client_order_id(purpose: str) -> str:
    """A fresh client order id for an order of ``purpose`` (``entry``, ``exit``, ``flatten``,
    ``reduce``, ``reconcile``): ``rg-<purpose>-<16 hex digits>``, at most 29 characters."""
    return f"rg-{purpose}-{uuid.uuid4().hex[:16]}"
