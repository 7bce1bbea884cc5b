"""The asyncio sender: K workers, each with its own reused connection, fed page by page.

One producer reads the campaign's due recipients from ``deliveries`` in pages
(by subscriber id, so memory does not grow with the list) into a short queue;
K workers take a recipient, build its message with the compiled letter, wait
for the rate limits, hand the message to their channel and record the
outcome in the journal. A ticker commits the journal every fraction of a
second and reports progress.

Outcomes: a 2xx reply is ``sent``; a 4xx reply or a broken connection is
``deferred`` with exponential backoff (``retry_first`` doubling up to
``retry_max``) until ``deadline`` after the first attempt, then ``failed``
as expired; a 5xx reply is ``failed`` and becomes a bounce (hard when the
address does not exist, soft otherwise).

Each outcome goes through the campaign's guards (``dispatch.guards``) on its
way to the journal: a refusal that is the relay's, not the recipient's,
leaves the recipient due and pauses the run, and so does a hard-bounce or
complaint rate past its limit (``guard.pause`` says why).

Stopping (Ctrl-C, or ``stop`` set by a caller): no new message is started,
the ones in flight finish, the journal is committed; the recipients not
reached are still pending and ``campaigns resume`` takes them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Protocol, cast

from mailer import clock
from mailer.bounces.classify import classify, find_status
from mailer.config import BouncesConfig, GuardsConfig, SendingConfig
from mailer.dispatch.backoff import backoff
from mailer.dispatch.guards import Guard
from mailer.dispatch.journal import DEFERRED, FAILED, SENT, Journal, Outcome
from mailer.dispatch.ratelimit import RateLimits
from mailer.dispatch.transports.base import (
    ChainingChannel,
    Channel,
    RelayAuthFailed,
    Reply,
    SenderRefused,
    Transport,
    Undeliverable,
    Upcoming,
    chaining,
)
from mailer.errors import MailerError, TransportError
from mailer.letters.mime import OutgoingMessage
from mailer.store import Store, campaigns, deliveries
from mailer.store.deliveries import Due, Share
from mailer.store.models import Recipient
from mailer.tokens import Signer, verp_address

#: How a run waits out a pause: ``asyncio.sleep``, or a fake clock's that only counts.
Sleep = Callable[[float], Awaitable[None]]


class Builder(Protocol):
    """What the sender needs of a compiled letter: one message per recipient."""

    def build(self, recipient: Recipient) -> OutgoingMessage:
        """The complete message for one recipient."""
        ...


@dataclass(frozen=True)
class SendPolicy(SendingConfig):
    """How fast, how many at once, and how patiently to send.

    The ``[sending]`` settings, and what a run adds to them: the connections
    at once (``[smtp] connections`` or ``--concurrency``), the page size of
    the producer, and how patiently a broken connection is reopened
    (``[smtp] connect_attempts``).
    """

    concurrency: int = 8
    page_size: int = 500
    #: Opening a channel is tried this many times in a row, backing off, before
    #: the run stops; the waits double from ``open_backoff_first`` to the max.
    open_attempts: int = 6
    open_backoff_first: float = 0.1
    open_backoff_max: float = 5.0


@dataclass
class Progress:
    """Counts of this run so far, handed to the progress callback."""

    due: int
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        """Recipients attempted so far in this run."""
        return self.sent + self.deferred + self.failed

    @property
    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Recipients attempted per second, on average so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True)
class _Ahead:
    """The next recipient of a connection, its message built and its envelope written."""

    due: Due
    message: OutgoingMessage
    envelope: Upcoming


@dataclass
class _Link:
    """One worker's connection, and how many times in a row it broke."""

    channel: Channel | None = None
    breaks: int = 0
    #: The channel again, when it chains envelopes (``ChainingChannel``).
    chaining: ChainingChannel | None = None
    #: The message whose envelope the channel has written ahead: it is sent next.
    ahead: _Ahead | None = None

    def take(self, due: Due) -> _Ahead | None:
        """The message announced for ``due``, if it was (then it is no longer ahead)."""
        ahead, self.ahead = self.ahead, None
        return ahead if ahead is not None and ahead.due is due else None

    def use(self, channel: Channel | None) -> None:
        """Send on ``channel`` from now on (None: the last one was closed)."""
        self.channel, self.ahead = channel, None
        self.chaining = chaining(channel)


#: The queue had nothing ready: the next recipient is to be waited for.
_LATER = object()


class Sender:
    """Sends one campaign's due recipients once through; ``run`` returns this run's counts.

    ``sleep`` waits out the pauses of a run (between tries to open a
    connection, and for the rate limits). It is a parameter so that a run
    against a relay that cannot be reached can be checked, backoff and all,
    without waiting the seconds the backoff adds up to.
    """

    def __init__(
        self,
        store: Store,
        campaign_id: int,
        letter: Builder,
        transport: Transport,
        *,
        policy: SendPolicy,
        envelope_from: str,
        return_path: str = "",
        signer: Signer | None = None,
        list_id: int | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        bounces: BouncesConfig | None = None,
        sleep: Sleep = asyncio.sleep,
        share: Share | None = None,
        alive: Callable[[], bool] | None = None,
        guards: GuardsConfig | None = None,
    ) -> None:
        """``share``: only these recipients, journalled in the share's own part of the
        log (a worker of several); None: all of them, in the campaign's log.
        ``alive``: whether whoever started the run still wants it (a worker's parent
        lives), asked once the journal is locked; if not, nothing is sent."""
        self._alive = alive
        self.store = store
        self.campaign_id = campaign_id
        self.letter = letter
        self.transport = transport
        self.policy = policy
        self.envelope_from = envelope_from
        self.return_path = return_path if signer is not None else ""
        self.signer = signer
        self.list_id = list_id
        self.on_progress = on_progress
        self.stop = asyncio.Event()
        self.share = share or Share()
        self.journal = Journal(
            store,
            campaign_id,
            batch_size=policy.batch_size,
            batch_seconds=policy.batch_seconds,
            bounces=bounces,
            part=None if share is None else share.index,
        )
        self.limits = RateLimits(policy.rate, policy.domain_rate)
        self.progress = Progress(due=0)
        self.guard_limits = guards or GuardsConfig()
        #: This run's guards (read from the store when the run begins).
        self.guard = Guard(self.guard_limits)
        self._transport_error: TransportError | None = None
        self._sleep = sleep

    # -- the run ----------------------------------------------------------------------

    async def run(self) -> Progress:
        """Attempt every recipient due now, once; the journal is committed on every exit."""
        self.journal.open()
        if self._alive is not None and not self._alive():
            self.stop.set()
        try:
            self.guard = Guard.start(self.store, self.campaign_id, self.guard_limits)
            if self.guard.pause is not None:
                self.stop.set()  # already past a limit: send nothing
            due = deliveries.count_due(self.store, self.campaign_id, clock.now_iso(), self.share)
            self.progress = Progress(due=due)
            queue: asyncio.Queue[Due | None] = asyncio.Queue(maxsize=self.policy.concurrency * 4)
            ticker = asyncio.create_task(self._tick())
            try:
                async with asyncio.TaskGroup() as group:
                    workers = [
                        group.create_task(self._work(queue))
                        for _ in range(max(1, self.policy.concurrency))
                    ]
                    await self._produce(queue, len(workers))
            finally:
                ticker.cancel()
            for outcome in self.guard.settle(finished=not self.stop.is_set()):
                self._journal(outcome)
            self._report()
        finally:
            self.journal.close()
        if self._transport_error is not None:
            raise self._transport_error
        return self.progress

    async def _produce(self, queue: asyncio.Queue[Due | None], workers: int) -> None:
        """Feed due recipients page by page; then one ``None`` per worker to end them."""
        as_of = clock.now_iso()
        last = 0
        while not self.stop.is_set():
            page = deliveries.due_page(
                self.store, self.campaign_id, self.list_id,
                after=last, as_of=as_of, limit=self.policy.page_size, share=self.share,
            )
            if not page:
                break
            for due in page:
                if self.stop.is_set():
                    break
                await queue.put(due)
            last = page[-1].subscriber_id
            if campaigns.is_cancelled(self.store, self.campaign_id):
                self.stop.set()
        if self.stop.is_set():
            # Recipients queued but not started stay pending; make room for the end marks.
            while not queue.empty():
                queue.get_nowait()
        for _ in range(workers):
            await queue.put(None)

    async def _tick(self) -> None:
        """Commit the journal and report progress every ``batch_seconds``."""
        while True:
            await asyncio.sleep(self.policy.batch_seconds)
            self.journal.flush_if_due()
            self.guard.poll(self.store, self.campaign_id)
            if self.guard.pause is not None:
                self.stop.set()
            self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)

    async def _work(self, queue: asyncio.Queue[Due | None]) -> None:
        """Send what the queue gives until the producer's end mark.

        Once the run is stopping, what the queue still gives is left pending
        (not started), but the worker keeps taking until its end mark: the
        producer may be waiting for room in a full queue, and a worker that
        returned early would leave it waiting for ever.
        """
        link = _Link()
        try:
            due = await queue.get()
            while due is not None:
                # The next recipient, if one is ready: its envelope may go with this body.
                following = queue.get_nowait() if not queue.empty() else _LATER
                upcoming = following if isinstance(following, Due) else None
                # Once stopping, a message whose envelope went ahead is not sent either: the
                # channel's close drops the connection, and with it the unfinished transaction.
                if not self.stop.is_set():
                    await self._attempt(due, link, upcoming)
                due = await queue.get() if following is _LATER else cast(Due | None, following)
        finally:
            if link.channel is not None:
                await link.channel.close()

    async def _attempt(self, due: Due, link: _Link, upcoming: Due | None = None) -> None:
        """One recipient: build, wait for the rate limits, send, record the outcome.

        ``upcoming``: the recipient this worker sends next, whose envelope the
        channel may write with this body (``_ahead``).
        """
        ahead = link.take(due)
        if ahead is not None:
            message, sender, channel = ahead.message, ahead.envelope.sender, link.channel
            assert channel is not None  # the envelope went out on it
        else:
            if due.standing != "active":
                self._record(self._skipped(due))
                return
            try:
                message = self.letter.build(self._recipient(due))
            except MailerError as exc:
                self._record(self._failed(due, f"not built: {exc}"))
                return
            # Waited out with _pause, not a plain sleep: Ctrl-C must not sit out a slow rate.
            await self._pause(self.limits.delay(message.recipient))
            if self.stop.is_set():
                return  # stopped while waiting for the rate limit: not started
            channel = await self._channel(link)
            if channel is None:
                return  # the run is stopping (no relay, or Ctrl-C)
            sender = self._envelope(due)
        following = self._ahead(upcoming, link)
        try:
            if following is not None and link.chaining is not None:
                reply = await link.chaining.send(
                    sender, message.recipient, message.data, message.smtputf8,
                    stuffed=message.stuffed, relaxed=message.relaxed, then=following.envelope,
                )
                if link.chaining.announced is not None:
                    link.ahead = following
            else:
                reply = await channel.send(
                    sender, message.recipient, message.data, message.smtputf8,
                    stuffed=message.stuffed, relaxed=message.relaxed,
                )
        except SenderRefused as exc:
            # Our fault, not the recipient's: they stay pending and the campaign pauses.
            self.guard.refused(exc)
            self.stop.set()
            return
        except Undeliverable as exc:
            self._record(self._failed(due, str(exc)))
            return
        except TransportError as exc:
            await channel.close()
            link.use(None)
            link.breaks += 1
            self._record(self._outcome(due, message, None, exc))
            return
        link.breaks = 0
        self._record(self._outcome(due, message, reply, None))

    async def _channel(self, link: _Link) -> Channel | None:
        """The worker's open channel, or a new one after a pause that grows with each break."""
        if link.channel is None:
            if link.breaks:
                policy = self.policy
                await self._pause(
                    backoff(link.breaks, policy.open_backoff_first, policy.open_backoff_max)
                )
            link.use(await self._open())
        return link.channel

    def _ahead(self, upcoming: Due | None, link: _Link) -> _Ahead | None:
        """``upcoming``'s message, built now so that its envelope can follow this body, when
        the channel chains and nothing would hold the message back: no rate to wait for,
        the run going on, the recipient still subscribed and the message buildable (if not,
        its own attempt says why)."""
        if (
            upcoming is None
            or link.chaining is None
            or upcoming.standing != "active"
            or not self.limits.unlimited
            or self.stop.is_set()
        ):
            return None
        try:
            message = self.letter.build(self._recipient(upcoming))
        except MailerError:
            return None
        envelope = Upcoming(self._envelope(upcoming), message.recipient, message.smtputf8)
        return _Ahead(upcoming, message, envelope)

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` with ``sleep``, or less if the run is being stopped."""
        if seconds <= 0 or self.stop.is_set():
            return
        stopped = asyncio.ensure_future(self.stop.wait())
        slept = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait((stopped, slept), return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            slept.cancel()
        if slept.done() and not slept.cancelled():
            slept.result()  # an error of the sleep itself is not to pass unseen

    async def _open(self) -> Channel | None:
        """A new channel, backing off between tries; None (and the run stops) if none opens."""
        policy = self.policy
        for attempt in range(1, policy.open_attempts + 1):
            if self.stop.is_set():
                return None
            try:
                return await self.transport.open()
            except RelayAuthFailed as exc:
                self.guard.refused(exc)  # a setting of ours: the campaign pauses
                self.stop.set()
                return None
            except TransportError as exc:
                if attempt == policy.open_attempts:
                    self._transport_error = exc
                    self.stop.set()
                    return None
            await self._pause(backoff(attempt, policy.open_backoff_first, policy.open_backoff_max))
        return None

    # -- one recipient -------------------------------------------------------------------

    def _recipient(self, due: Due) -> Recipient:
        return Recipient.from_row(
            (due.subscriber_id, due.email, due.name, due.attributes, due.language, due.list_id)
        )

    def _envelope(self, due: Due) -> str:
        """The envelope sender: a VERP address naming campaign and subscriber, when configured."""
        if self.return_path and self.signer is not None:
            token = self.signer.verp(self.campaign_id, due.subscriber_id)
            return verp_address(self.return_path, token)
        return self.envelope_from

    def _record(self, outcome: Outcome) -> None:
        """Hand the outcome to the guards, and journal what they let through."""
        for admitted in self.guard.admit(outcome):
            self._journal(admitted)
        if self.guard.pause is not None:
            self.stop.set()

    def _journal(self, outcome: Outcome) -> None:
        self.journal.record(outcome)
        if outcome.state == SENT:
            self.progress.sent += 1
        elif outcome.state == DEFERRED:
            self.progress.deferred += 1
        elif outcome.state == FAILED:
            self.progress.failed += 1  # (a recipient the guards left due counts as neither)

    def _skipped(self, due: Due) -> Outcome:
        return Outcome(
            due.subscriber_id,
            due.email,
            FAILED,
            due.attempts,
            text=f"skipped: no longer subscribed ({due.standing or 'gone'})",
            first_attempt_at=due.first_attempt_at,
        )

    def _failed(self, due: Due, text: str) -> Outcome:
        """Failed for a reason of ours (not built, not deliverable here): no bounce."""
        return Outcome(
            due.subscriber_id,
            due.email,
            FAILED,
            due.attempts,
            text=text,
            first_attempt_at=due.first_attempt_at,
        )

    def _outcome(
        self,
        due: Due,
        message: OutgoingMessage,
        reply: Reply | None,
        error: TransportError | None,
    ) -> Outcome:
        """The recipient's new state after one attempt that got ``reply`` or ``error``."""
        now = clock.now()
        now_iso = clock.iso(now)
        first = due.first_attempt_at or now_iso
        attempts = due.attempts + 1
        base = Outcome(
            due.subscriber_id,
            due.email,
            DEFERRED,
            attempts,
            message_id=message.message_id,
            first_attempt_at=first,
        )
        if reply is not None and reply.accepted:
            return replace(
                base,
                state=SENT,
                code=reply.code,
                text=reply.text,
                queue_id=reply.queue_id,
                sent_at=now_iso,
            )
        if reply is not None and reply.permanent:
            kind, reason, status = classify(find_status(reply.text), f"{reply.code} {reply.text}")
            return replace(
                base,
                state=FAILED,
                code=reply.code,
                text=reply.text,
                bounce=(kind, status, reason),
            )
        code = reply.code if reply is not None else (error.code if error else None)
        text = reply.text if reply is not None else str(error)
        delay = backoff(attempts, self.policy.retry_first, self.policy.retry_max)
        next_at = now + timedelta(seconds=max(delay, self.policy.retry_first))
        if (next_at - clock.parse_iso(first)).total_seconds() > self.policy.deadline:
            return replace(base, state=FAILED, code=code, text=text, expired=True)
        return replace(base, code=code, text=text, next_attempt_at=clock.iso(next_at))
