"""One worker process of a campaign sent by several (``dispatch.workers``): its share, sent.

The parent writes a pickled ``ShareJob`` on the worker's standard input and
keeps the pipe open; the worker writes progress lines and, last, how it
ended on its standard output. When the pipe ends (the parent died, however)
the worker stops as on SIGTERM: the messages in flight finish, the journal
is committed, the rest stays pending for ``campaigns resume``.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import signal
import sys
import threading
from typing import BinaryIO

from mailer.dispatch.assemble import run_senders, sender_for
from mailer.dispatch.sender import Progress
from mailer.dispatch.workers import ShareJob, WorkerEnd, end_line, progress_line
from mailer.errors import MailerError, TransportError
from mailer.store import campaigns
from mailer.store.database import open_store


def _watch_parent(stdin: int) -> None:
    """Read the parent's pipe until it ends, then stop this worker as SIGTERM would."""
    while os.read(stdin, 4096):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def _send(job: ShareJob, out: BinaryIO) -> WorkerEnd:
    """Send the job's share of the campaign, its progress lines on ``out``; how it ended."""

    def report(progress: Progress) -> None:
        out.write(progress_line(progress))
        out.flush()

    with open_store(job.db_path, busy_timeout=job.config.database.busy_timeout) as store:
        campaign = campaigns.get(store, job.campaign_id)
        sender = sender_for(
            job.config, store, campaign, None, report, job.policy, share=job.share,
            alive=lambda: os.getppid() == job.parent,
        )
        try:
            stopped = run_senders([sender])
        except TransportError as exc:
            return WorkerEnd(error=str(exc), code=exc.code)
        pause = sender.guard.pause
        return WorkerEnd(stopped=stopped, pause=dataclasses.asdict(pause) if pause else None)


def serve(job_in: BinaryIO, out: BinaryIO) -> int:
    """The worker's life: read the job, watch the parent, send, say how it ended.

    ``job_in`` carries the pickled job and then stays open as long as the
    parent lives; a spare (``dispatch.spares``) whose pipe ends before any job
    was not needed, and exits.
    """
    # Until the sender's own handlers are in place, a stop ends the worker quietly.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        job: ShareJob = pickle.load(job_in)
    except EOFError:
        return 0
    threading.Thread(target=_watch_parent, args=(job_in.fileno(),), daemon=True).start()
    try:
        end = _send(job, out)
    except MailerError as exc:
        end = WorkerEnd(error=str(exc))
    out.write(end_line(end))
    out.flush()
    return 0


def main() -> int:
    """A worker started as ``python -m mailer.dispatch.share``: its pipes are its standard
    input and output."""
    return serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
