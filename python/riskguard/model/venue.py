"""How to reach a live venue: a plain frozen record that ``[broker]`` is turned into when a
live venue is composed, so that a venue reads values, never the configuration's schema."""

from __future__ import annotations

from dataclasses import dataclass, field

from riskguard.redact import REDACTED, safe_url

__all__ = ["VenueSettings"]


@dataclass(frozen=True, slots=True)
class VenueSettings:
    """A live venue's connection settings (``[broker]``; see ``riskguard.Config`` for bounds).

    - ``type``: the venue (``"binance"``, ``"binanceusdm"``, ``"kucoinfutures"``, ``"bingx"``,
      ``"alpaca"``);
    - ``api_key``, ``secret``, ``password`` (KuCoin's passphrase): the credentials, never
      printed (the repr masks them);
    - ``testnet``: the venue's sandbox where it has one (the default);
    - ``symbols``: what the Guard trades and subscribes to, in ccxt's unified form
      (``BTC/USDT``, ``BTC/USDT:USDT``) or Alpaca's (``AAPL``, ``BTC/USD``);
    - ``base_url``, ``ws_url``: replace the scheme and host of every REST and WebSocket
      endpoint the client calls, keeping their paths (tests, private gateways), or None;
    - ``call_timeout_s``: the longest one venue call may take (a timeout is an ambiguous
      outcome for an order);
    - ``stale_feed_s``: seconds without market data after which the feed is stale;
    - ``bar_timeframe``: the bars the market stream follows (``"1m"``), or None for none;
    - ``dead_man_s``: the venue-side countdown that cancels every order if the Guard stops
      refreshing it (where the venue has one), or None for off.
    """

    type: str
    api_key: str = field(default="", repr=False)
    secret: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    testnet: bool = True
    symbols: tuple[str, ...] = ()
    base_url: str | None = None
    ws_url: str | None = None
    call_timeout_s: float = 10.0
    stale_feed_s: float = 30.0
    bar_timeframe: str | None = "1m"
    dead_man_s: float | None = 60.0

    def __repr__(self) -> str:
        key = REDACTED if self.api_key else "''"
        urls = ", ".join(
            f"{name}={safe_url(url) if url else None!r}"
            for name, url in (("base_url", self.base_url), ("ws_url", self.ws_url))
        )
        return (
            f"VenueSettings(type={self.type!r}, api_key={key}, testnet={self.testnet}, "
            f"symbols={self.symbols!r}, {urls})"
        )
