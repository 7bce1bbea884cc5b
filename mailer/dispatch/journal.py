"""The journal: what happened to each recipient, durable at once, written to SQLite in batches.

Committing one SQLite transaction per message would cap sending at a few
hundred messages a second; committing only every few hundred would, after a
``kill -9``, forget a few hundred messages the relay had already accepted,
and resume would send them again. So each outcome is first appended to a
small log file beside the database (one ``write`` per outcome: the kernel
keeps it even when the process is killed), and the rows in ``deliveries``
are updated in batches (``sending.batch_size`` outcomes or
``sending.batch_seconds``, whichever comes first). After each commit the log
is emptied. Opening the journal replays a log left by a crash first. Each
log line carries the recipient's whole new state, so replaying a line twice
changes nothing.

The log is also the campaign's lock: it is held with ``flock`` while a
sender works on the campaign, so two processes never send it at once; the
kernel drops the lock when its holder dies, however it dies.

A campaign sent by several workers (``dispatch.workers``) has one more log per
worker, its *part*, locked by that worker while it sends. Whoever holds the
campaign's lock replays every part left behind before the workers start and
after they end, waiting for the lock of a part whose worker (of a run whose
parent died) is still finishing its messages in flight.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailer.bounces import policy
from mailer.bounces.model import BounceEvent
from mailer.config import BouncesConfig
from mailer.errors import ConflictError, StoreError
from mailer.store import Store, bounces, deliveries
from mailer.store.models import DeliveryState, Proof

SENT = DeliveryState.SENT
DEFERRED = DeliveryState.DEFERRED
FAILED = DeliveryState.FAILED


@dataclass(frozen=True, slots=True)
class Outcome:
    """One recipient's new state after one attempt (the whole row, not a change to it)."""

    subscriber_id: int
    email: str
    state: str
    attempts: int
    code: int | None = None
    text: str = ""
    message_id: str = ""
    queue_id: str = ""
    first_attempt_at: str | None = None
    next_attempt_at: str | None = None
    sent_at: str | None = None
    #: For a permanent failure: (kind, status, reason) of the bounce it becomes.
    bounce: tuple[str, str, str] | None = None
    #: Failed because its retries ran out (``campaigns retry`` puts these back).
    expired: bool = False

    def line(self) -> bytes:
        """The log line for this outcome (compact JSON)."""
        return (
            json.dumps(
                [
                    self.subscriber_id,
                    self.email,
                    self.state,
                    self.attempts,
                    self.code,
                    self.text,
                    self.message_id,
                    self.queue_id,
                    self.first_attempt_at,
                    self.next_attempt_at,
                    self.sent_at,
                    self.bounce,
                    self.expired,
                ],
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode("utf-8")
            + b"\n"
        )

    @classmethod
    def from_line(cls, line: bytes) -> Outcome:
        """Read a log line back; ``ValueError`` (or kin) for a torn one."""
        f: list[Any] = json.loads(line)
        bounce = (str(f[11][0]), str(f[11][1]), str(f[11][2])) if f[11] else None
        return cls(
            subscriber_id=int(f[0]),
            email=str(f[1]),
            state=str(f[2]),
            attempts=int(f[3]),
            code=f[4],
            text=str(f[5]),
            message_id=str(f[6]),
            queue_id=str(f[7]),
            first_attempt_at=f[8],
            next_attempt_at=f[9],
            sent_at=f[10],
            bounce=bounce,
            # A line written before the expired field: its text carried the mark.
            expired=bool(f[12]) if len(f) > 12 else str(f[5]).startswith("expired: "),
        )


class CampaignBusy(ConflictError):
    """Another process holds the campaign's lock: it is being sent right now."""


def journal_path(db_path: Path, campaign_id: int, part: int | None = None) -> Path:
    """Where campaign ``campaign_id``'s log (or a worker's ``part`` of it) lives: beside the
    database."""
    if part is None:
        return db_path.with_name(f"{db_path.name}.campaign-{campaign_id}.journal")
    return db_path.with_name(f"{db_path.name}.campaign-{campaign_id}.part-{part}.journal")


def part_paths(db_path: Path, campaign_id: int) -> list[Path]:
    """The workers' logs of a campaign that are on disk (of this run or one that died)."""
    return sorted(db_path.parent.glob(f"{db_path.name}.campaign-{campaign_id}.part-*.journal"))


class Journal:
    """Outcomes of one campaign's run: logged at once, committed in batches."""

    def __init__(
        self,
        store: Store,
        campaign_id: int,
        *,
        batch_size: int = 500,
        batch_seconds: float = 0.25,
        bounces: BouncesConfig | None = None,
        part: int | None = None,
    ) -> None:
        self.store = store
        self.bounces = bounces or BouncesConfig()
        self.campaign_id = campaign_id
        #: A worker's part of the campaign's log (None: the campaign's own log and lock).
        self.part = part
        self.path = journal_path(store.path, campaign_id, part)
        self.batch_size = max(1, batch_size)
        self.batch_seconds = batch_seconds
        self._pending: list[Outcome] = []
        self._fd: int | None = None
        self._flushed_at = time.monotonic()

    def open(self) -> int:
        """Lock the campaign (or this worker's part) and replay any log a crash left,
        every part too for the campaign's own log; returns outcomes replayed."""
        fd = self._lock(wait=self.part is not None)
        while not self._still_linked(fd):
            # The holder removed the log between our open and our lock: the lock we won is
            # on a file nobody else will find, so take it again on the file at the path.
            os.close(fd)
            fd = self._lock(wait=self.part is not None)
        self._fd = fd
        try:
            replayed = self._replay()
            if self.part is None:
                replayed += self.settle_parts(remove=False)
            return replayed
        except BaseException:
            # The log stays as it is for the next attempt; let go of the lock.
            os.close(fd)
            self._fd = None
            raise

    def _lock(self, path: Path | None = None, *, wait: bool = False) -> int:
        """Open the log (creating it) and lock it; ``CampaignBusy`` if another process holds
        it, unless ``wait``: a part's worker is only finishing what it has in flight."""
        path = path or self.path
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            raise StoreError(f"{path}: cannot open the journal ({exc.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CampaignBusy(
                f"campaign {self.campaign_id} is being sent by another mailer process"
            ) from None
        return fd

    def _still_linked(self, fd: int) -> bool:
        """Whether ``fd`` is the file at the log's path (not one removed since it was opened)."""
        return _same_file(self.path, fd)

    def settle_parts(self, *, remove: bool = True) -> int:
        """Replay every worker's log left on disk (each once its worker has let go of it),
        and with ``remove`` delete them; the caller holds the campaign's lock."""
        replayed = 0
        for path in part_paths(self.store.path, self.campaign_id):
            fd = self._lock(path, wait=True)
            try:
                # Read through the descriptor locked: a worker of a dying run may have
                # removed its part while we waited for its lock.
                replayed += self._replay(fd)
                if remove and _same_file(path, fd):
                    with contextlib.suppress(OSError):
                        os.unlink(path)
            finally:
                os.close(fd)
        return replayed

    def _replay(self, fd: int | None = None) -> int:
        fd = self._fd if fd is None else fd
        assert fd is not None
        raw = _read_all(fd)
        outcomes = []
        for line in raw.splitlines():
            try:
                outcomes.append(Outcome.from_line(line))
            except (ValueError, TypeError, IndexError):
                # Only the last line can be torn, and only by a crash mid-write.
                continue
        if outcomes:
            self._commit(outcomes)
        os.ftruncate(fd, 0)
        return len(outcomes)

    def record(self, outcome: Outcome) -> None:
        """Make one outcome durable now; commit the batch when it is full or old enough."""
        if self._fd is None:
            raise StoreError("the journal is not open")
        os.write(self._fd, outcome.line())
        self._pending.append(outcome)
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush_if_due(self) -> None:
        """Commit what waits if the oldest of it has waited ``batch_seconds``."""
        if self._pending and time.monotonic() - self._flushed_at >= self.batch_seconds:
            self.flush()

    def flush(self) -> None:
        """Write every waiting outcome to ``deliveries`` in one transaction, then empty the log."""
        self._flushed_at = time.monotonic()
        if not self._pending:
            return
        self._commit(self._pending)
        self._pending = []
        if self._fd is not None:
            os.ftruncate(self._fd, 0)

    def _commit(self, outcomes: list[Outcome]) -> None:
        campaign = self.campaign_id
        with self.store.transaction() as conn:
            deliveries.record_outcomes(
                conn,
                (
                    (
                        o.state, o.attempts, o.code, o.text, o.message_id, o.queue_id,
                        o.first_attempt_at, o.next_attempt_at, o.sent_at, int(o.expired),
                        campaign, o.subscriber_id,
                    )
                    for o in outcomes
                ),
            )
            for outcome in outcomes:
                if outcome.bounce is not None:
                    self._bounce(conn, outcome)

    def _bounce(self, conn: sqlite3.Connection, outcome: Outcome) -> None:
        """A permanent refusal becomes a bounce row (once, even when the log is replayed).

        Our own SMTP session heard the refusal, so it is proven (``smtp``) and
        the bounce policy weighs it like any other.
        """
        assert outcome.bounce is not None
        kind, status, reason = outcome.bounce
        diagnostic = f"{outcome.code} {outcome.text}".strip()
        subscriber = (
            outcome.subscriber_id
            if bounces.subscriber_exists(conn, outcome.subscriber_id)
            else None
        )
        stored = bounces.insert(
            conn,
            bounces.NewBounce(
                message_id=outcome.message_id, recipient=outcome.email, kind=kind,
                status=status, reason=reason, diagnostic=diagnostic, source="smtp",
                subscriber_id=subscriber, campaign_id=self.campaign_id, proof=Proof.SMTP,
            ),
        )
        if stored is not None:
            event = BounceEvent(
                recipient=outcome.email, kind=kind, status=status, reason=reason,
                diagnostic=diagnostic, campaign=self.campaign_id, subscriber=subscriber,
            )
            policy.apply(conn, event, subscriber, self.bounces, source="smtp")

    def close(self, *, remove: bool = True) -> None:
        """Commit what waits, release the lock, and drop the (now empty) log."""
        if self._fd is None:
            return
        try:
            self.flush()
            if remove and not self._pending:
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
        finally:
            os.close(self._fd)
            self._fd = None


def _same_file(path: Path, fd: int) -> bool:
    """Whether ``fd`` is the file at ``path`` (not one removed, or replaced, since)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def _read_all(fd: int) -> bytes:
    """The whole file behind ``fd``, from its start, whatever its name is now."""
    chunks = []
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)
