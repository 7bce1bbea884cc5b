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

Stopping (Ctrl-C, or ``stop`` set by a caller): no new message is started,
the ones in flight finish, the journal is committed; the recipients not
reached are still pending and ``campaigns resume`` takes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Protocol

from mailer import clock
from mailer.bounces.classify import classify, find_status
from mailer.config import BouncesConfig
from mailer.dispatch.journal import DEFERRED, FAILED, SENT, Journal, Outcome
from mailer.dispatch.ratelimit import RateLimits
from mailer.dispatch.transports.base import (
    Channel,
    RelayAuthFailed,
    Reply,
    SenderRefused,
    Transport,
    Undeliverable,
)
from mailer.errors import MailerError, TransportError
from mailer.letters.mime import OutgoingMessage
from mailer.store import Store
from mailer.store.models import Recipient
from mailer.tokens import Signer, verp_address

#: Opening a channel is retried this many times in a row, backing off, before the run stops.
OPEN_ATTEMPTS = 6
OPEN_BACKOFF_FIRST = 0.1
OPEN_BACKOFF_MAX = 5.0


class Builder(Protocol):
    """What the sender needs of a compiled letter: one message per recipient."""

    def build(self, recipient: Recipient) -> OutgoingMessage:
        """The complete message for one recipient."""
        ...


@dataclass(frozen=True)
class SendPolicy:
    """How fast, how many at once, and how patiently to send."""

    concurrency: int = 8
    rate: float = 0.0
    domain_rate: float = 0.0
    retry_first: float = 60.0
    retry_max: float = 3600.0
    deadline: float = 259200.0
    batch_size: int = 500
    batch_seconds: float = 0.25
    page_size: int = 500


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


@dataclass(frozen=True, slots=True)
class _Due:
    """One recipient to attempt, as read from ``deliveries`` and ``subscribers``."""

    subscriber_id: int
    email: str
    attempts: int
    first_attempt_at: str | None
    name: str
    attributes: str
    status: str | None


class Sender:
    """Sends one campaign's due recipients once through; ``run`` returns this run's counts."""

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
    ) -> None:
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
        self.journal = Journal(
            store,
            campaign_id,
            batch_size=policy.batch_size,
            batch_seconds=policy.batch_seconds,
            bounces=bounces,
        )
        self.limits = RateLimits(policy.rate, policy.domain_rate)
        self.progress = Progress(due=0)
        self.cancelled = False
        self._transport_error: TransportError | None = None

    # -- the run ----------------------------------------------------------------------

    async def run(self) -> Progress:
        """Attempt every recipient due now, once; the journal is committed on every exit."""
        self.journal.open()
        try:
            self.progress = Progress(due=self._count_due(clock.now_iso()))
            queue: asyncio.Queue[_Due | None] = asyncio.Queue(maxsize=self.policy.concurrency * 4)
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
            self._report()
        finally:
            self.journal.close()
        if self._transport_error is not None:
            raise self._transport_error
        return self.progress

    def _count_due(self, as_of: str) -> int:
        row = self.store.one(
            "SELECT count(*) FROM deliveries WHERE campaign_id = ? AND (state = 'pending' "
            "OR (state = 'deferred' AND next_attempt_at <= ?))",
            (self.campaign_id, as_of),
        )
        return int(row[0]) if row else 0

    async def _produce(self, queue: asyncio.Queue[_Due | None], workers: int) -> None:
        """Feed due recipients page by page; then one ``None`` per worker to end them."""
        as_of = clock.now_iso()
        last = 0
        while not self.stop.is_set():
            rows = self.store.all(
                "SELECT d.subscriber_id, d.email, d.attempts, d.first_attempt_at, "
                "p.name, p.attributes, CASE WHEN s.status = 'confirmed' THEN p.status "
                "ELSE coalesce(s.status, 'gone') END AS status "
                "FROM deliveries d LEFT JOIN subscribers p ON p.id = d.subscriber_id "
                "LEFT JOIN subscriptions s ON s.subscriber_id = d.subscriber_id "
                "AND s.list_id = ? "
                "WHERE d.campaign_id = ? AND d.subscriber_id > ? AND (d.state = 'pending' "
                "OR (d.state = 'deferred' AND d.next_attempt_at <= ?)) "
                "ORDER BY d.subscriber_id LIMIT ?",
                (self.list_id, self.campaign_id, last, as_of, self.policy.page_size),
            )
            if not rows:
                break
            for row in rows:
                if self.stop.is_set():
                    break
                await queue.put(
                    _Due(
                        row[0],
                        row[1],
                        row[2],
                        row[3],
                        row[4] or "",
                        row[5] or "{}",
                        # A campaign whose list was removed has no subscriptions: "gone".
                        row[6],
                    )
                )
            last = rows[-1][0]
            if self._campaign_cancelled():
                self.cancelled = True
                self.stop.set()
        if self.stop.is_set():
            # Recipients queued but not started stay pending; make room for the end marks.
            while not queue.empty():
                queue.get_nowait()
        for _ in range(workers):
            await queue.put(None)

    def _campaign_cancelled(self) -> bool:
        row = self.store.one("SELECT state FROM campaigns WHERE id = ?", (self.campaign_id,))
        return row is None or row[0] == "cancelled"

    async def _tick(self) -> None:
        """Commit the journal and report progress every ``batch_seconds``."""
        while True:
            await asyncio.sleep(self.policy.batch_seconds)
            self.journal.flush_if_due()
            self._report()

    def _report(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress)

    async def _work(self, queue: asyncio.Queue[_Due | None]) -> None:
        """Send what the queue gives until the producer's end mark.

        Once the run is stopping, what the queue still gives is left pending
        (not started), but the worker keeps taking until its end mark: the
        producer may be waiting for room in a full queue, and a worker that
        returned early would leave it waiting for ever.
        """
        channel: Channel | None = None
        breaks = 0  # connections lost in a row: each reopening waits twice as long
        try:
            while True:
                due = await queue.get()
                if due is None:
                    return
                if self.stop.is_set():
                    continue
                if due.status != "active":
                    self._record(self._skipped(due))
                    continue
                try:
                    message = self.letter.build(self._recipient(due))
                except MailerError as exc:
                    self._record(self._failed(due, f"not built: {exc}"))
                    continue
                # Waited out with _pause, not a plain sleep: Ctrl-C must not sit out a slow rate.
                await self._pause(self.limits.delay(message.recipient))
                if self.stop.is_set():
                    continue  # stopped while waiting for the rate limit: not started
                if channel is None:
                    if breaks:
                        await self._pause(
                            min(OPEN_BACKOFF_FIRST * 2 ** (breaks - 1), OPEN_BACKOFF_MAX)
                        )
                    channel = await self._open()
                    if channel is None:
                        continue  # the run is stopping (no relay, or Ctrl-C)
                try:
                    reply = await channel.send(
                        self._envelope(due), message.recipient, message.data, message.smtputf8
                    )
                except SenderRefused as exc:
                    # Our fault, not the recipient's: they stay pending and the run stops.
                    self._transport_error = exc
                    self.stop.set()
                    continue
                except Undeliverable as exc:
                    self._record(self._failed(due, str(exc)))
                    continue
                except TransportError as exc:
                    await channel.close()
                    channel = None
                    breaks += 1
                    self._record(self._outcome(due, message, None, exc))
                    continue
                breaks = 0
                self._record(self._outcome(due, message, reply, None))
        finally:
            if channel is not None:
                await channel.close()

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the run is being stopped."""
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    async def _open(self) -> Channel | None:
        """A new channel, backing off between tries; None (and the run stops) if none opens."""
        delay = OPEN_BACKOFF_FIRST
        for attempt in range(OPEN_ATTEMPTS):
            if self.stop.is_set():
                return None
            try:
                return await self.transport.open()
            except RelayAuthFailed as exc:
                self._transport_error = exc
                self.stop.set()
                return None
            except TransportError as exc:
                if attempt == OPEN_ATTEMPTS - 1:
                    self._transport_error = exc
                    self.stop.set()
                    return None
            await self._pause(delay)
            delay = min(delay * 2, OPEN_BACKOFF_MAX)
        return None

    # -- one recipient -------------------------------------------------------------------

    def _recipient(self, due: _Due) -> Recipient:
        try:
            attributes: dict[str, Any] = json.loads(due.attributes)
        except ValueError:
            attributes = {}
        return Recipient(
            email=due.email, name=due.name, attributes=attributes, subscriber_id=due.subscriber_id
        )

    def _envelope(self, due: _Due) -> str:
        """The envelope sender: a VERP address naming campaign and subscriber, when configured."""
        if self.return_path and self.signer is not None:
            token = self.signer.verp(self.campaign_id, due.subscriber_id)
            return verp_address(self.return_path, token)
        return self.envelope_from

    def _record(self, outcome: Outcome) -> None:
        self.journal.record(outcome)
        if outcome.state == SENT:
            self.progress.sent += 1
        elif outcome.state == DEFERRED:
            self.progress.deferred += 1
        else:
            self.progress.failed += 1

    def _skipped(self, due: _Due) -> Outcome:
        return Outcome(
            due.subscriber_id,
            due.email,
            FAILED,
            due.attempts,
            text=f"skipped: no longer subscribed ({due.status or 'gone'})",
            first_attempt_at=due.first_attempt_at,
        )

    def _failed(self, due: _Due, text: str) -> Outcome:
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
        due: _Due,
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
        # The exponent is capped: retried often enough, 2 ** n no longer fits in a float.
        delay = min(self.policy.retry_first * 2 ** min(attempts - 1, 64), self.policy.retry_max)
        next_at = now + timedelta(seconds=max(delay, self.policy.retry_first))
        if (next_at - clock.parse_iso(first)).total_seconds() > self.policy.deadline:
            return replace(base, state=FAILED, code=code, text=f"expired: {text}")
        return replace(base, code=code, text=text, next_attempt_at=clock.iso(next_at))
