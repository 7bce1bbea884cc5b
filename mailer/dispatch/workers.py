"""Sending one campaign with several workers, one process each, so every core builds messages.

Building a personalised message is Python work, and one process uses one
core. ``deliver`` therefore splits a campaign's due recipients into shares
(the subscriber id modulo the number of workers, ``deliveries.Share``) and
starts one worker process per share (``python -m mailer.dispatch.share``).
Each worker is an ordinary ``Sender`` over its share: its own connections,
its own part of the journal (``journal.Journal(part=...)``), the same
outcomes. The limits hold in total: each worker gets the global rate and the
per-domain rate divided by the number of workers, and its part of the
connections (``share_policy``); recipients of one domain are spread evenly
over the shares by their ids, so a domain's rate is kept within rounding.

The parent holds the campaign's lock for the whole run, replays what workers
of a dead run left before starting its own, and after they end. It passes
SIGINT and SIGTERM on (as SIGTERM: a worker stops cleanly, finishing the
messages in flight; a second one stops it at once), adds up the workers'
progress lines for the caller, and reports the first worker's failure. A
worker notices its parent's death by the end of its standard input and stops
as if told to; its part's lock keeps a new run of the campaign waiting until
it has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import pickle
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from mailer import clock
from mailer.config import Config
from mailer.dispatch.assemble import StopFlag, run_senders, sender_for
from mailer.dispatch.guards import Pause
from mailer.dispatch.journal import Journal
from mailer.dispatch.sender import Progress, SendPolicy, Sleep
from mailer.dispatch.spares import Spare, Spares
from mailer.dispatch.transports.base import Transport
from mailer.errors import TransportError
from mailer.store import Store
from mailer.store.deliveries import Share
from mailer.store.models import Campaign


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least one."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def worker_count(config: Config, asked: int | None = None) -> int:
    """How many workers send a campaign: ``--workers``, else ``[sending] workers``, else
    (0) one per core available."""
    return max(1, asked or config.sending.workers or available_cores())


def share_policy(policy: SendPolicy, share: Share) -> SendPolicy:
    """One worker's part of the limits: the rates divided, the connections shared out."""
    count = share.count
    connections = policy.concurrency // count + (1 if share.index < policy.concurrency % count
                                                 else 0)
    return dataclasses.replace(
        policy,
        rate=policy.rate / count,
        domain_rate=policy.domain_rate / count,
        concurrency=max(1, connections),
    )


@dataclass(frozen=True)
class ShareJob:
    """What one worker process is given, pickled on its standard input."""

    config: Config
    db_path: Path
    campaign_id: int
    share: Share
    policy: SendPolicy
    #: The parent's process id: a worker whose parent has died sends nothing.
    parent: int


@dataclass(frozen=True)
class WorkerEnd:
    """How one worker ended: the signal that stopped it, or the error that did."""

    stopped: int | None = None
    error: str = ""
    code: int | None = None
    #: The worker ended without saying how (killed, or crashed): its exit status.
    died: int | None = None
    #: Why a guard of this worker's share paused it (``guards.Pause``'s fields), or None.
    pause: dict[str, Any] | None = None


class Tally:
    """The whole campaign's progress from each worker's: what the caller is shown."""

    def __init__(self, count: int, report: Callable[[Progress], None] | None) -> None:
        self._parts = [Progress(due=0) for _ in range(count)]
        self._report = report
        self._started = time.monotonic()

    def update(self, index: int, progress: Progress) -> None:
        """Worker ``index`` has got this far; show the sum."""
        self._parts[index] = progress
        if self._report is not None:
            self._report(self.total())

    def total(self) -> Progress:
        """The sum of the workers' counts, timed from the start of the run."""
        parts = self._parts
        return Progress(
            due=sum(p.due for p in parts),
            sent=sum(p.sent for p in parts),
            deferred=sum(p.deferred for p in parts),
            failed=sum(p.failed for p in parts),
            started=self._started,
        )


def progress_line(progress: Progress) -> bytes:
    """A worker's progress as one line for its parent."""
    counts = [progress.due, progress.sent, progress.deferred, progress.failed]
    return json.dumps({"progress": counts}).encode() + b"\n"


def end_line(end: WorkerEnd) -> bytes:
    """A worker's last line for its parent: how it ended."""
    return json.dumps({"end": dataclasses.asdict(end)}).encode() + b"\n"


class _Worker:
    """One worker process as the parent sees it."""

    def __init__(self, job: ShareJob, spare: Spare | None = None) -> None:
        """The worker of ``job``: a ``spare`` forked ahead, else a new interpreter."""
        self.index = job.share.index
        self.process: Spare | subprocess.Popen[bytes]
        self.stdin: IO[bytes]
        self.stdout: IO[bytes]
        if spare is not None:
            self.process = spare
            self.stdin, self.stdout = spare.pipes()
        else:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mailer.dispatch.share"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                start_new_session=True,  # a terminal's Ctrl-C reaches the parent, who passes it on
            )
            assert self.process.stdin is not None and self.process.stdout is not None
            self.stdin, self.stdout = self.process.stdin, self.process.stdout
        try:
            self.stdin.write(pickle.dumps(job))
            self.stdin.flush()  # the pipe stays open: its end tells the worker its parent is gone
        except BrokenPipeError:
            pass  # it died before reading its job: ``finish`` reports how
        self.end: WorkerEnd | None = None
        self._partial = b""

    def lines(self) -> list[dict[str, Any]]:
        """The complete lines the worker has written since last asked; [] at its end."""
        chunk = os.read(self.stdout.fileno(), 65536)
        if not chunk:
            return []
        data = self._partial + chunk
        *complete, self._partial = data.split(b"\n")
        return [json.loads(line) for line in complete if line.strip()] or [{}]

    def signal(self, sig: int) -> None:
        """Pass a signal on, unless the worker has already ended."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, sig)

    def finish(self) -> WorkerEnd:
        """Wait for the worker to exit; how it ended."""
        status = self.process.wait()
        with contextlib.suppress(BrokenPipeError):  # the job never reached a worker that died
            self.stdin.close()
        self.stdout.close()
        return self.end or WorkerEnd(died=status)


def run_processes(
    jobs: list[ShareJob],
    tally: Tally,
    stop: StopFlag | None = None,
    spares: Spares | None = None,
) -> tuple[int | None, list[WorkerEnd]]:
    """Run one worker process per job until all have ended, in ``spares`` while they last.

    Returns the signal that stopped the run (SIGINT or SIGTERM to this
    process, or ``stop`` set), and how each worker ended.
    """
    stopped: int | None = None
    workers: list[_Worker] = []

    def on_signal(sig: int, frame: FrameType | None) -> None:
        nonlocal stopped
        stopped = stopped or sig
        if stop is not None:
            stop.set()  # a long-running caller (the worker) ends its rounds too
        for worker in workers:
            worker.signal(signal.SIGTERM)  # a second one stops in-flight messages too

    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: signals are not ours
            previous[sig] = signal.signal(sig, on_signal)
    try:
        workers.extend(_Worker(job, spares.take() if spares else None) for job in jobs)
        asked = lambda: stop is not None and stop.is_set() and stopped is None  # noqa: E731
        _follow(workers, tally, asked, lambda: on_signal(signal.SIGTERM, None))
        return stopped, [worker.finish() for worker in workers]
    finally:
        for worker in workers:
            if worker.process.poll() is None:  # only when this process itself is failing
                worker.process.kill()
                worker.process.wait()
        for number, handler in previous.items():
            signal.signal(number, handler)


def _follow(
    workers: list[_Worker],
    tally: Tally,
    asked: Callable[[], bool],
    stop_all: Callable[[], None],
) -> None:
    """Read every worker's lines until each has closed its output; ``stop_all`` once if a
    caller ``asked`` for a stop that no signal has brought yet."""
    with selectors.DefaultSelector() as selector:
        for worker in workers:
            selector.register(worker.stdout, selectors.EVENT_READ, worker)
        while selector.get_map():
            if asked():
                stop_all()
            for key, _ in selector.select(timeout=0.2):
                worker = key.data
                lines = worker.lines()
                if not lines:
                    selector.unregister(worker.stdout)
                for line in lines:
                    _take(worker, line, tally)


def _take(worker: _Worker, line: dict[str, Any], tally: Tally) -> None:
    """One line of a worker's: its progress, or how it ended."""
    if "progress" in line:
        due, sent, deferred, failed = line["progress"]
        tally.update(worker.index, Progress(due, sent, deferred, failed))
    elif "end" in line:
        worker.end = WorkerEnd(**line["end"])


@dataclass(frozen=True)
class SharedRun:
    """One run of a campaign by several workers: what they share, and how they are run."""

    config: Config
    store: Store
    campaign: Campaign
    policy: SendPolicy
    transport: Transport | None
    on_progress: Callable[[Progress], None] | None
    sleep: Sleep
    stop: StopFlag | None
    #: Worker processes forked ahead by the command (``dispatch.spares``), if any.
    spares: Spares | None = None

    def shared(self, count: int) -> tuple[int | None, Pause | None]:
        """Send with ``count`` workers, holding the campaign's lock; the signal that stopped
        them, or None, and why a guard paused a share (each worker's guards watch its
        share; the first to trip pauses the campaign once the run ends).

        Worker processes, unless the caller gave a transport, a sleep or a
        clock (``clock.set_clock``) of its own (a test's), which cannot cross
        into another process: then the workers are senders in this one, with
        the same shares and journals.
        """
        shares = [Share(index, count) for index in range(count)]
        tally = Tally(count, self.on_progress)
        lock = Journal(self.store, self.campaign.id)
        lock.open()  # the campaign's lock; what the workers of a dead run left is replayed
        try:
            if self.transport is None and self.sleep is asyncio.sleep and not clock.replaced():
                jobs = [
                    ShareJob(self.config, self.store.path, self.campaign.id, share,
                             share_policy(self.policy, share), os.getpid())
                    for share in shares
                ]
                return _ended(*run_processes(jobs, tally, self.stop, self.spares))
            senders = [
                sender_for(self.config, self.store, self.campaign, self.transport,
                           functools.partial(tally.update, share.index),
                           share_policy(self.policy, share), self.sleep, share=share)
                for share in shares
            ]
            stopped = run_senders(senders, self.stop)
            return stopped, next((s.guard.pause for s in senders if s.guard.pause), None)
        finally:
            lock.settle_parts()
            lock.close()


def _ended(stopped: int | None, ends: list[WorkerEnd]) -> tuple[int | None, Pause | None]:
    """The run's end from its workers': the signal that stopped it, or the first failure;
    and the first guard's pause."""
    for end in ends:
        if end.error:
            raise TransportError(end.error, code=end.code)
    died = [end.died for end in ends if end.died is not None]
    if died and stopped is None:
        raise TransportError(f"a sending worker ended unexpectedly (exit status {died[0]})")
    pauses = [Pause(**end.pause) for end in ends if end.pause]
    return stopped, pauses[0] if pauses else None


