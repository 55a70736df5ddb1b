"""The Guard: the engine's decisions and events turned into broker actions, journal rows and
alerts.

A Guard owns one :class:`~riskguard.RiskEngine`, one broker, one
:class:`~riskguard.journal.Journal` and one :class:`~riskguard.alerts.Alerter`. It is
asynchronous and single-threaded: use it from one event loop. It names none of them: the
configuration composes them (:meth:`riskguard.Config.compose`) into a
:class:`~riskguard.ports.GuardParts`, with the plain settings the Guard reads and the
:class:`~riskguard.ports.Driver` between its data and its venue (the simulation driver of
:mod:`riskguard.venues.paper` for a simulated one).

**The signal path.** :meth:`Guard.submit` asks the engine; a refusal is group-committed to the
journal and returned once committed. An approval is committed durably together with its order
(status ``pending``) before the order is sent; the fill comes back later, on a tick (paper) or
through the broker's fill stream, and is applied to the engine, which opens the managed trade.
An entry still on its way when the kill switch or a close-all breaker trips, or when trading is
paused, is taken back.

**The tick path.** :meth:`Guard.on_tick` feeds the engine (and, through the
Guard's :class:`~riskguard.ports.Driver`, a simulated venue). When events
come out, the Guard alerts, commits them, the engine's snapshot and the orders they call for in
one durable transaction, and only then queues the orders:

- ``flatten_requested`` and an unmanaged ``stop_hit``: cancel the symbol's working orders, then
  close the position at market;
- ``kill_switch`` and a ``close_all_halt`` trip: cancel every working order;
- ``reduce_requested``: cut every position by the fraction;
- ``exit_signal``: the exit order;
- a fill that leaves a position open while the kill switch or a close-all breaker holds (an
  entry that was already on the wire): close it.

Orders that reduce risk are reduce-only: at sending time each is clipped to what is held, net of
the reducing orders in flight (sent, neither filled nor ended), and dropped when nothing is left.

**Failure.** Every broker call is bounded by ``guard.call_timeout_s``. A call that fails is
retried (``broker_retries`` times, exponential backoff with jitter); one that times out raises
:class:`~riskguard.errors.AmbiguousOutcome` and is not retried in place, since the order may be
working: a timeout is an ambiguous outcome, never a refusal.

An entry that still fails is given up, alerted and taken back in case only its answers were
lost. An entry whose submission timed out is journaled ``ambiguous`` and settled in the
background: asked for by its client order id (a broker implementing
:class:`~riskguard.brokers.OrderLookup`), else looked for among the working orders with the
positions reconciled; taken back if new risk was refused meanwhile; escalated (a critical
alert, new risk paused) while the broker stays silent. :meth:`Guard.submit` returns meanwhile,
and the entry holds neither the Guard's lock nor the action worker, so a kill goes out at once.

A risk-reducing order that still fails, or gets no answer, escalates: a critical alert, the
engine paused (no new risk; resume once resolved), and it is asked for again later while other
actions go on: looked up by its id and sent again under the same client order id when its
answers were lost (the broker deduplicates it), as a new order committed before it is sent when
the broker ended it unfilled. Actions go through a bounded queue: a full queue is an alert and
makes the tick path wait (backpressure); no action is dropped. When the driver replays data into
a simulated venue, the tick path also waits for its own actions, so that a replay is
deterministic. A journal that fails stops new risk (the engine is paused in memory) while
risk-reducing actions go on; what it could not write is written, with the pause, by the next
write that succeeds. A write failure is never sticky: the next write that succeeds lifts it, and
:attr:`GuardStatus.failure` says what failed and since when while it lasts. A control action
(kill, pause, resume, reset) is acted on in memory at once; when it cannot be committed it is
kept, reported in :attr:`GuardStatus.undurable_controls`, written alone (with the engine's
snapshot) when the rest of what is owed cannot be, and retried by the control poll until it is
committed.

**Fills.** Fills are identified by their ``fill_id`` (per symbol): one seen before, in this run
or in the journal, is ignored; two look-alike fills with different ids are both applied; a fill
without an id falls back to its order id, time, quantity and price. A fill that cannot be valid
(a NaN, infinite or non-positive price, a zero or non-finite quantity, a negative fee, no
symbol, or one the engine refuses) is quarantined: journaled as a zero fill marked
``quarantined`` with its raw values, alerted critical, and skipped, so it blocks nothing behind
it; the positions are then reconciled with the broker (its fill history, then its positions).
A fill whose order the Guard never sent is not invalid: it may be a manual trade.

**Time.** A live Guard refuses a tick, bar, batch or signal stamped more than
``guard.max_clock_skew_s`` ahead of the wall clock, as bad input, before the engine's clock
moves. A Guard whose driver replays data into a simulated venue (backtests, the demo) does
not look at the wall clock; the ``clock_check`` argument overrides either way.

**Restart.** Every step that changes the engine (events, fills, control actions, approvals) is
committed with the engine's snapshot, and marks in between are checkpointed every
``journal.snapshot_interval_s`` of data time. A Guard on an existing journal restores the
newest snapshot, then, before any order goes out: applies the broker's fills it has not
journaled, picks up the orders of the last run (reducing orders still in flight are tracked
again, those never answered are asked for again under their id, entries never answered are
taken back), applies the control actions recorded since (``riskguard kill`` from another
process, say) and reconciles what is left with the broker's positions. With the kill switch or
a close-all breaker tripped, it cancels working orders and closes what is open again. A fresh
journal starts at the broker's equity and adopts its positions. A journal that cannot be read
or fails its checksum raises :class:`~riskguard.journal.JournalError`: the Guard never starts
afresh over it.

Timestamps are integer nanoseconds since the epoch, UTC, in the data's time. Control actions and
broker fills take the engine's clock (the last ``ts`` it saw), so a replay of old data and a
broker whose clock runs ahead of the market feed both stay consistent; the journal keeps each
fill's own time.

The Guard is split by job (DESIGN.md, "Layout"): :mod:`.guard` (the facade), :mod:`.intake`,
:mod:`.planner` (pure), :mod:`.actions`, :mod:`.writeahead`, :mod:`.recovery`, :mod:`.controls`,
:mod:`.alerting`, with the order book and the venue gateway in :mod:`riskguard.oms`. The names
tests and older code import from ``riskguard.guard`` are re-exported here.
"""

from riskguard.errors import GuardError
from riskguard.guard.guard import Guard, GuardStatus

__all__ = ["Guard", "GuardError", "GuardStatus"]
