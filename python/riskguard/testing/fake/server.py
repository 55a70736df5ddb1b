"""The fake venue's server: an aiohttp application on 127.0.0.1, in a thread of its own, that
serves one or more dialects (each venue's REST and WebSocket subset) over fake exchanges.

A dialect named ``binanceusdm`` answers REST at ``http://127.0.0.1:<port>/binanceusdm`` followed
by the path its client calls (``/fapi/v1/order``), and WebSockets at
``ws://127.0.0.1:<port>/binanceusdm-ws`` followed by the client's path: point a client's
``base_url``/``ws_url`` there (``FakeVenue.base_url(name)``, ``FakeVenue.ws_url(name)``).

Every request passes through the venue's :class:`~riskguard.testing.fake.faults.Faults` first,
so a test scripts 429s, 5xx, stalls, accepted-then-504s and dropped connections by operation.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from riskguard.testing.fake.exchange import Exchange
from riskguard.testing.fake.faults import Faults, Rule

__all__ = ["Dialect", "FakeVenue", "Socket"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Socket:
    """One client WebSocket of a dialect: ``topics`` it subscribed to, ``user`` when it carries
    the account's order and fill events (duplicated and reordered by the fault script)."""

    def __init__(self, ws: web.WebSocketResponse, *, user: bool = False) -> None:
        self.ws = ws
        self.user = user
        self.topics: set[str] = set()
        self.held: list[str] = []


class Dialect:
    """A venue's REST and WebSocket subset over one :class:`Exchange`. Subclasses set ``name``
    and fill :meth:`routes` (``(method, path, op, handler)``, ``op`` the fault operation) and
    :meth:`sockets` (``(path, handler)``); :meth:`error` shapes a scripted error's body."""

    name = ""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.venue: FakeVenue | None = None
        self.socks: set[Socket] = set()

    def routes(self) -> list[tuple[str, str, str, Handler]]:
        return []

    def sockets(self) -> list[tuple[str, Handler]]:
        return []

    def error(self, status: int, rule: Rule) -> web.Response:
        """The body of a scripted ``status`` (a JSON error by default)."""
        return web.json_response({"code": -status, "msg": f"scripted {status}"}, status=status)

    def attach(self, exchange_listener: Callable[..., None]) -> None:
        self.exchange.listeners.append(exchange_listener)

    # -- streaming -----------------------------------------------------------------------------

    def publish(self, payload: Any, *, topic: str | None = None, user: bool = False) -> None:
        """Sends ``payload`` (JSON-encoded) to the sockets subscribed to ``topic`` (or the user
        sockets), from any thread. User events follow the fault script: duplicated, or held
        back and sent after the next one (reordered)."""
        venue = self.venue
        if venue is None or venue.loop is None:
            return
        text = payload if isinstance(payload, str) else json.dumps(payload)
        faults = venue.faults
        for sock in list(self.socks):
            if sock.user != user or (topic is not None and topic not in sock.topics):
                continue
            if not user and faults.silent:
                continue
            out = [text]
            if user:
                if faults.reorder_events > 0 and not sock.held:
                    faults.reorder_events -= 1
                    sock.held.append(text)
                    continue
                out = [text, *sock.held]
                sock.held.clear()
                if faults.duplicate_events > 0:
                    faults.duplicate_events -= 1
                    out.append(text)
            for message in out:
                venue.loop.call_soon_threadsafe(_send, sock.ws, message)

    async def serve_socket(
        self,
        request: web.Request,
        on_message: Callable[[Socket, Any], Awaitable[None]],
        *,
        user: bool = False,
        on_open: Callable[[Socket], Awaitable[None]] | None = None,
    ) -> web.WebSocketResponse:
        """Runs one client WebSocket until it closes: ``on_message`` gets each JSON message
        (text that is not JSON is given as is)."""
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        sock = Socket(ws, user=user)
        self.socks.add(sock)
        try:
            if on_open is not None:
                await on_open(sock)
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    data = msg.data
                await on_message(sock, data)
        finally:
            self.socks.discard(sock)
        return ws

    def drop_sockets(self, *, user: bool | None = None) -> int:
        """Closes the client sockets (only the user ones, or the market ones, when ``user`` is
        given); returns how many."""
        venue = self.venue
        n = 0
        for sock in list(self.socks):
            if user is None or sock.user == user:
                n += 1
                if venue is not None and venue.loop is not None:
                    venue.loop.call_soon_threadsafe(_close, sock.ws)
        return n


def _send(ws: web.WebSocketResponse, text: str) -> None:
    if not ws.closed:
        asyncio.ensure_future(_safe(ws.send_str(text)))


def _close(ws: web.WebSocketResponse) -> None:
    asyncio.ensure_future(_safe(ws.close()))


async def _safe(aw: Awaitable[Any]) -> None:
    try:
        await aw
    except Exception:
        pass  # the client went away: nothing to deliver to


class FakeVenue:
    """A fake venue on 127.0.0.1 serving ``dialects`` (by name), in its own thread: use it as a
    context manager (``with FakeVenue([dialect]) as venue: ...``) or call :meth:`start` and
    :meth:`stop`. ``port`` 0 takes a free port."""

    def __init__(self, dialects: list[Dialect], *, port: int = 0) -> None:
        self.dialects = {d.name: d for d in dialects}
        self.faults = Faults()
        self.port = port
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        for d in dialects:
            d.venue = self

    # -- addresses -----------------------------------------------------------------------------

    def base_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def ws_url(self, name: str) -> str:
        return f"ws://127.0.0.1:{self.port}/{name}-ws"

    def exchange(self, name: str) -> Exchange:
        return self.dialects[name].exchange

    # -- life ----------------------------------------------------------------------------------

    def __enter__(self) -> FakeVenue:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FakeVenue:
        self._thread = threading.Thread(target=self._serve, name="fake-venue", daemon=True)
        self._thread.start()
        if not self._ready.wait(10.0):
            raise RuntimeError("the fake venue did not start within 10 s")
        if self._error is not None:
            raise RuntimeError(f"the fake venue did not start: {self._error}")
        return self

    def stop(self) -> None:
        loop = self.loop
        if loop is None or self._thread is None:
            return
        for d in self.dialects.values():
            d.drop_sockets()
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10.0)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10.0)
        self.loop = None

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._open())
        except BaseException as e:  # reported by start()
            self._error = e
            self._ready.set()
            return
        self.loop = loop
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _open(self) -> None:
        app = web.Application()
        for name, d in self.dialects.items():
            for method, path, op, handler in d.routes():
                app.router.add_route(method, f"/{name}{path}", self._faulted(d, op, handler))
            for path, handler in d.sockets():
                app.router.add_get(f"/{name}-ws{path}", handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _faulted(self, dialect: Dialect, op: str, handler: Handler) -> Handler:
        faults = self.faults

        async def serve(request: web.Request) -> web.StreamResponse:
            rule = faults.take(op, time.monotonic())
            if rule is None:
                return await handler(request)
            answer: web.StreamResponse | None = None
            if rule.execute:
                answer = await handler(request)
            if rule.stall:
                await asyncio.sleep(rule.stall)
            if rule.drop:
                if request.transport is not None:
                    request.transport.abort()
                raise ConnectionResetError("scripted drop")
            if rule.status is not None:
                if rule.body is not None:
                    return web.Response(
                        text=rule.body,
                        status=rule.status,
                        headers=rule.headers,
                        content_type="text/html"
                        if rule.body.lstrip().startswith("<")
                        else "application/json",
                    )
                response = dialect.error(rule.status, rule)
                response.headers.update(rule.headers)
                return response
            return answer if answer is not None else await handler(request)

        return serve
