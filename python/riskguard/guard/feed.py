"""Driving a Guard from a market feed: :meth:`FeedMixin.run` applies each tick and bar, hands it
to a strategy and submits the strategy's signals; a feed silent for ``broker.stale_feed_s``
pauses new risk (risk-reducing orders still go out) until data flows again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from typing import Any

from riskguard._core import RiskError, Signal
from riskguard.errors import GuardError
from riskguard.model.market import Bar, Tick

__all__ = ["FeedMixin"]

_YIELD_EVERY = 256  # records drained between two turns of the event loop

STALE_ACTOR = "feed"
"""The actor of the pauses and resumes a stale feed makes (an operator's are never undone)."""


class FeedMixin:
    """The feed part of the Guard (a mixin: it drives the Guard's own paths)."""

    def _init_feed(self) -> None:
        self._stale_paused = False  # this Guard paused new risk for a stale feed
        self.feed_stats = {"ticks": 0, "bars": 0, "signals": 0, "stale": 0, "refused": 0}

    async def run(
        self, feed: Any, *, strategy: Any = None, stale_feed_s: float | None = None
    ) -> None:
        """Drives the Guard from ``feed`` (a :class:`riskguard.ports.MarketFeed`: ticks and bars)
        until it ends or this task is cancelled, starting the Guard first.

        ``strategy`` (optional) has ``on_tick(tick)`` and/or ``on_bar(bar)``, each returning
        signals (:class:`riskguard.Signal`, an iterable of them, or None); each is submitted
        at the data's time. With ``stale_feed_s`` seconds (default ``broker.stale_feed_s`` of
        a live venue; none for a replay) without data, new risk is paused (``stale_feed``:
        journaled and alerted as a pause by the actor ``feed``) and resumed once data flows;
        a pause an operator made meanwhile is left for the operator to lift.

        A record older than the engine's clock (a bar stamped at its close arrives after
        later trades) is applied at the engine's time; a record the Guard refuses (a NaN
        price, an unknown symbol, a record that is neither a Tick nor a Bar) is alerted and
        skipped.

        Raises GuardError: the Guard is closed. Whatever the feed raises.
        """
        await self.start()
        stale_s = stale_feed_s if stale_feed_s is not None else self.settings.stale_feed_s
        items = feed.__aiter__()
        # A feed that can hand over what it holds without waiting (a live venue's queue) is
        # drained so, one record after another; the timed wait is only for an empty feed.
        ready = getattr(feed, "get_nowait", None)
        pending: asyncio.Future[Any] | None = None
        drained = 0
        try:
            while True:
                if ready is not None and pending is None:
                    try:
                        item = ready()
                    except asyncio.QueueEmpty:
                        pass
                    else:
                        if item is None:
                            return  # closed
                        await self._feed_one(item, strategy)
                        drained += 1
                        if drained % _YIELD_EVERY == 0:
                            await asyncio.sleep(0)  # the fill pump and the controls run too
                        continue
                if pending is None:
                    pending = asyncio.ensure_future(items.__anext__())
                done, _ = await asyncio.wait({pending}, timeout=stale_s)
                if not done:
                    await self._feed_stale(stale_s)
                    continue
                fut, pending = pending, None
                try:
                    item = fut.result()
                except StopAsyncIteration:
                    return
                await self._feed_one(item, strategy)
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending

    async def _feed_one(self, item: Any, strategy: Any) -> None:
        if self._stale_paused:
            await self._feed_flows()
        try:
            await self._feed_item(item, strategy)
        except GuardError:
            raise
        except RiskError as e:
            # One bad record (a NaN price, an unknown symbol) is refused and said; the Guard
            # goes on with the next.
            self.feed_stats["refused"] += 1
            self._alert("feed", "warning", "a market record was refused", str(e))

    async def _feed_item(self, item: Any, strategy: Any) -> None:
        # A live feed interleaves streams: a bar stamped at its close arrives after trades
        # stamped later, and trades of two streams cross by a few ms. A record older than the
        # engine's clock is applied at the engine's time, when it became known.
        if not isinstance(item, (Tick, Bar)):
            raise RiskError(f"a feed yields Tick and Bar records, got {type(item).__name__}")
        ts = max(item.ts, self.engine.ts)
        if isinstance(item, Tick):
            self.feed_stats["ticks"] += 1
            await self.on_tick(item.symbol, item.price, ts)
            hook = getattr(strategy, "on_tick", None)
        else:
            self.feed_stats["bars"] += 1
            await self.on_bar(
                item.symbol, item.open, item.high, item.low, item.close, item.volume, ts
            )
            hook = getattr(strategy, "on_bar", None)
        if hook is None:
            return
        for signal in _signals(hook(item)):
            self.feed_stats["signals"] += 1
            await self.submit(signal, ts)

    async def _feed_stale(self, seconds: float) -> None:
        if self._stale_paused or self.engine.paused:
            return
        self.feed_stats["stale"] += 1
        self._stale_paused = True
        await self.pause(
            f"STALE_FEED: no market data for {seconds:g} s (broker.stale_feed_s)",
            actor=STALE_ACTOR,
        )
        self._alert(
            "stale_feed",
            "warning",
            "market data stale: new risk paused",
            f"no data for {seconds:g} s; risk-reducing orders still go out; resumes when data "
            f"flows (since {time.strftime('%H:%M:%S', time.gmtime())} UTC)",
        )

    async def _feed_flows(self) -> None:
        self._stale_paused = False
        if not self.engine.paused:
            return
        held = self._pause_holders()
        if held:
            # The pause is the feed's no longer only: an escalation or a failed journal met it
            # (and did not pause again). It stays until that is resolved or lifted by hand.
            self._alert("stale_feed", "warning", "market data flows again; still paused", held)
            return
        await self.resume("market data flows again", actor=STALE_ACTOR)
        self._alert("stale_feed", "info", "market data flows again", "new risk resumed")

    def _pause_holders(self) -> str:
        """What besides the feed keeps new risk paused (escalations, a journal failure)."""
        reasons = list(self._escalations.values())
        if self._failure is not None:
            reasons.append(self._failure)
        return "; ".join(reasons)

    def _operator_control(self, action: str, actor: str) -> None:
        """An operator's pause or resume (from code, the CLI or the API) takes over from the
        feed's: the feed never lifts it."""
        if action in ("pause", "resume") and actor != STALE_ACTOR:
            self._stale_paused = False


def _signals(answer: Any) -> Iterable[Signal]:
    if answer is None:
        return ()
    if isinstance(answer, Signal):
        return (answer,)
    return tuple(answer)
