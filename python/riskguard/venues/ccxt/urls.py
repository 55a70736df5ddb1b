"""Pointing a ccxt client elsewhere: ``broker.base_url`` and ``broker.ws_url`` replace the scheme
and host of every REST and WebSocket endpoint the client calls, keeping their paths (for tests
against the fake venue of :mod:`riskguard.testing`, and for private gateways)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["rewrite"]

_ORIGIN = re.compile(r"^(https?|wss?)://[^/]+")


def rewrite(urls: Any, base_url: str | None, ws_url: str | None) -> Any:
    """``urls`` (a ccxt ``urls['api']`` tree of dicts and strings) with every ``http(s)://host``
    origin replaced by ``base_url`` and every ``ws(s)://host`` by ``ws_url`` (each left alone
    when None). Paths, and placeholders in them, are kept."""
    if isinstance(urls, dict):
        return {k: rewrite(v, base_url, ws_url) for k, v in urls.items()}
    if isinstance(urls, list):
        return [rewrite(v, base_url, ws_url) for v in urls]
    if not isinstance(urls, str):
        return urls
    match = _ORIGIN.match(urls)
    if match is None:
        return urls
    target = base_url if match.group(1).startswith("http") else ws_url
    if target is None:
        return urls
    return target.rstrip("/") + urls[match.end() :]
