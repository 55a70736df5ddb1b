"""Alpaca's WebSocket streams, one connection at a time, for
:class:`~riskguard.venues.live.Reconnecting` to run again after each failure:

- :class:`TradeUpdates`, the account's ``trade_updates`` (alpaca-py's ``TradingStream``: JSON,
  ``authenticate`` then ``listen``): order events and fills;
- :class:`MarketData`, trades and one-minute bars (alpaca-py's ``StockDataStream`` or
  ``CryptoDataStream``: msgpack frames, ``auth`` then ``subscribe``).

alpaca-py's own ``run()`` owns an event loop of its own and reconnects silently, so nobody
hears that the stream was down and nothing reconciles what was missed. Here each session
connects, authenticates and subscribes with alpaca-py's own steps (``_start_ws``,
``_send_subscribe_msg``) and parses with its models (``_dispatch``), then reads until the socket
fails; the venue's :class:`Reconnecting` waits with backoff and starts the next one.

The order stream has a gap to close: an event sent between a drop and the next ``listen`` is
lost. So after each ``listen`` is acknowledged the session first runs ``resync`` (the venue's
REST reconciliation: fills and working orders) and only then reads on; events that arrive
meanwhile wait in the socket's buffer, and a fill seen on both paths is applied once (its id).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import msgpack  # type: ignore[import-untyped]
from alpaca.data.live import CryptoDataStream, StockDataStream
from alpaca.trading.models import TradeUpdate
from alpaca.trading.stream import TradingStream

from riskguard.errors import AuthFailed, VenueError
from riskguard.redact import redact
from riskguard.venues.alpaca.convert import ns

__all__ = ["MarketData", "TradeUpdates", "socket_params"]

log = logging.getLogger("riskguard.venues.alpaca")


class _QuietLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets' logger for Alpaca's sockets: its DEBUG lines print each frame, the
    authentication message with the key and secret among them, so they are dropped; what is
    left is redacted."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__(logging.getLogger("riskguard.venues.alpaca.ws"), {})
        self._secrets = secrets

    def isEnabledFor(self, level: int) -> bool:
        return level >= logging.INFO and self.logger.isEnabledFor(level)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = str(msg)
        kwargs.pop("extra", None)
        self.logger.log(level, "%s", redact(text, *self._secrets), **kwargs)


def socket_params(timeout: float, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """websockets' settings for Alpaca's sockets: a ping every 10 s answered within 20 s
    (alpaca-py waits 180 s, so a half-open socket went unnoticed for three minutes), a
    connection opened within ``timeout``, and a logger that never prints a frame (the first one
    carries the credentials)."""
    return {
        "ping_interval": 10,
        "ping_timeout": 20,
        "max_queue": 1024,
        "open_timeout": timeout,
        "close_timeout": 1,
        "logger": _QuietLogger(secrets),
    }


class TradeUpdates:
    """The account's ``trade_updates`` through alpaca-py's ``TradingStream`` at ``url`` (None:
    Alpaca's, paper or live). ``on_update`` gets each parsed update; ``resync`` runs after each
    ``listen`` is acknowledged, before the stream is read on; ``on_listening`` hears that the
    stream is live again."""

    def __init__(
        self,
        api_key: str,
        secret: str,
        *,
        paper: bool,
        url: str | None,
        timeout: float,
        on_update: Callable[[TradeUpdate], Awaitable[None]],
        resync: Callable[[], Awaitable[None]],
        on_listening: Callable[[], None] | None = None,
    ) -> None:
        self._secrets = (api_key, secret)
        self._timeout = timeout
        self._on_update = on_update
        self._resync = resync
        self._on_listening = on_listening
        self.client = TradingStream(
            api_key,
            secret,
            paper=paper,
            url_override=url,  # type: ignore[arg-type]  # None: Alpaca's own
            websocket_params=socket_params(timeout, self._secrets),
        )
        self.client.subscribe_trade_updates(self._handle)  # stored only: the stream is not running
        self.listening = asyncio.Event()

    async def _handle(self, update: TradeUpdate) -> None:
        await self._on_update(update)

    async def session(self) -> None:
        """One connection: connect, authenticate, listen, resync, then read until it fails.

        Raises AuthFailed: the stream refused the credentials. Whatever the socket raises."""
        client = self.client
        try:
            try:
                await asyncio.wait_for(client._start_ws(), self._timeout)
            except ValueError as e:  # alpaca-py's "failed to authenticate"
                raise AuthFailed(
                    redact(f"alpaca trade_updates: {e}", *self._secrets), venue="alpaca"
                ) from None
            ws = client._ws
            assert ws is not None
            await asyncio.wait_for(self._until_listening(ws), self._timeout)
            await self._resync()
            self.listening.set()
            if self._on_listening is not None:
                self._on_listening()
            while True:
                await self._dispatch(await ws.recv())
        finally:
            self.listening.clear()
            await client.close()

    async def _until_listening(self, ws: Any) -> None:
        while True:
            raw = await ws.recv()
            message = json.loads(raw)
            if isinstance(message, dict) and message.get("stream") == "listening":
                return
            await self._dispatch(raw)

    async def _dispatch(self, raw: str | bytes) -> None:
        try:
            await self.client._dispatch(json.loads(raw))
        except Exception as e:  # a malformed event: skipped here, the REST resync has it
            log.warning(
                "alpaca trade_updates: unreadable event skipped: %s", redact(e, *self._secrets)
            )


class MarketData:
    """Trades (and, with ``bars``, one-minute bars) of ``symbols`` through ``stream`` (an
    alpaca-py ``StockDataStream`` or ``CryptoDataStream`` made with ``raw_data=True``):
    ``on_trade(symbol, price, ts)`` and ``on_bar(symbol, o, h, l, c, v, ts)``, ``ts`` in ns
    (a bar's start: Alpaca stamps bars by their start)."""

    def __init__(
        self,
        stream: StockDataStream | CryptoDataStream,
        symbols: list[str],
        *,
        bars: bool,
        timeout: float,
        secrets: tuple[str, ...],
        on_trade: Callable[[str, float, int], None],
        on_bar: Callable[[str, float, float, float, float, float, int], None],
    ) -> None:
        self.stream = stream
        self._timeout = timeout
        self._secrets = secrets
        self._on_trade = on_trade
        self._on_bar = on_bar
        stream.subscribe_trades(self._trade, *symbols)  # stored only: the stream is not running
        if bars:
            stream.subscribe_bars(self._bar, *symbols)
        self.live = asyncio.Event()

    async def _trade(self, m: Any) -> None:  # a raw dict: the stream has raw_data=True
        self._on_trade(m["S"], float(m["p"]), _ns(m["t"]))

    async def _bar(self, m: Any) -> None:
        self._on_bar(
            m["S"],
            float(m["o"]),
            float(m["h"]),
            float(m["l"]),
            float(m["c"]),
            float(m.get("v") or 0.0),
            _ns(m["t"]),
        )

    async def session(self) -> None:
        """One connection: connect, authenticate, subscribe, then read until it fails.

        Raises AuthFailed: the credentials were refused. VenueError: the stream reported an
        error (a connection limit, a subscription the plan does not include)."""
        stream = self.stream
        try:
            try:
                await asyncio.wait_for(stream._start_ws(), self._timeout)
            except ValueError as e:  # alpaca-py's "auth failed" / "failed to authenticate"
                raise AuthFailed(
                    redact(f"alpaca market data: {e}", *self._secrets), venue="alpaca"
                ) from None
            await stream._send_subscribe_msg()
            ws = stream._ws
            assert ws is not None
            self.live.set()
            while True:
                for message in msgpack.unpackb(await ws.recv()):
                    if message.get("T") == "error":
                        text = redact(
                            f"alpaca market data: {message.get('msg')} ({message.get('code')})",
                            *self._secrets,
                        )
                        raise VenueError(text, venue="alpaca")
                    try:
                        await stream._dispatch(message)
                    except Exception as e:  # one malformed message: skipped, the feed goes on
                        log.warning(
                            "alpaca market data: unreadable message skipped: %s",
                            redact(e, *self._secrets),
                        )
        finally:
            self.live.clear()
            await stream.close()


def _ns(t: Any) -> int:
    """A market-data time (msgpack's Timestamp, or RFC 3339 text) as ns since the epoch."""
    if isinstance(t, msgpack.Timestamp):
        return int(t.to_unix_nano())
    return ns(datetime.fromisoformat(str(t).replace("Z", "+00:00"))) or 0
