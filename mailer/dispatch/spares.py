"""Worker processes forked ahead of a send, before the database is opened, so they start at once.

A worker started as ``python -m mailer.dispatch.share`` imports mailer
afresh: about half a second of each core before it sends anything, a tenth
of a 20,000-recipient campaign on a two-core machine (``bench/send.py``). A
process forked from the command has all of it already. It has to be forked
before the command opens the database: SQLite keeps its lock bookkeeping per
process, and a child that inherited it would believe it holds locks it does
not (SQLite's own advice: never carry an open connection across a fork). So
``mailer send`` and ``campaigns resume`` fork their spares first, each
waiting on a pipe for its job; ``dispatch.workers`` hands a spare the job it
would write to a started worker, and the spares not needed read the end of
their pipe and exit. ``campaigns run`` forks them too before it looks for
work due (about ten milliseconds when there is none); its campaigns take them in
turn.

Only on Linux, and only from a process with one thread (a fork copies the
locks other threads hold, never their work); anywhere else, for the
campaigns of a ``campaigns run`` after the spares are taken, and in ``mailer
worker`` (which keeps its database open between runs), workers are started
as new interpreters, as they always can be.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
from typing import BinaryIO, NoReturn


class Spare:
    """One forked worker waiting for its job, as the parent sees it: what of ``Popen`` the
    parent uses (``pid``, ``poll``, ``wait``, ``kill``) and the two ends of its pipes."""

    def __init__(self, pid: int, job: int, out: int) -> None:
        self.pid = pid
        #: The parent's ends: the worker's job is written to ``job``; its lines come from ``out``.
        self.job_fd, self.out_fd = job, out
        self.returncode: int | None = None

    def pipes(self) -> tuple[BinaryIO, BinaryIO]:
        """The parent's ends as files (made only once every spare is forked: a child must
        hold no file object over another's descriptors, whose closing could hit its own)."""
        return os.fdopen(self.job_fd, "wb"), os.fdopen(self.out_fd, "rb")

    def poll(self) -> int | None:
        """The exit status once the worker has ended (reaped), else None."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        """Wait for the worker to end; its exit status (minus the signal that killed it)."""
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        """End the worker at once (when the parent itself is failing)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


class Spares:
    """The spares of one command: taken one per worker, the rest dismissed at its end."""

    def __init__(self, spares: list[Spare] | None = None) -> None:
        self._waiting = spares or []

    @classmethod
    def fork(cls, count: int) -> Spares:
        """``count`` spares, or none where forking is not safe (see the module's docstring)."""
        if count < 2 or not sys.platform.startswith("linux") or threading.active_count() > 1:
            return cls()
        # What this process has written but not yet flushed would be written twice.
        sys.stdout.flush()
        sys.stderr.flush()
        spares: list[Spare] = []
        for _ in range(count):
            job_read, job_write = os.pipe()
            out_read, out_write = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # no more processes for now: the workers are started later
                for fd in (job_read, job_write, out_read, out_write):
                    os.close(fd)
                break
            if pid == 0:
                # The parent's ends, of this pipe and of every spare forked before.
                theirs = [job_write, out_read]
                theirs += [fd for spare in spares for fd in (spare.job_fd, spare.out_fd)]
                _child(job_read, out_write, theirs)
            os.close(job_read)
            os.close(out_write)
            spares.append(Spare(pid, job_write, out_read))
        return cls(spares)

    def __len__(self) -> int:
        """How many spares wait for a job."""
        return len(self._waiting)

    def take(self) -> Spare | None:
        """A waiting spare, or None when there is none left (one that has died since it
        was forked, killed while the command asked its question, say, is passed over)."""
        while self._waiting:
            spare = self._waiting.pop(0)
            if spare.poll() is None:
                return spare
            os.close(spare.job_fd)
            os.close(spare.out_fd)
        return None

    def dismiss(self) -> None:
        """End the spares no worker took: each reads the end of its pipe and exits."""
        waiting, self._waiting = self._waiting, []
        for spare in waiting:
            os.close(spare.job_fd)
            os.close(spare.out_fd)
        for spare in waiting:
            spare.wait()


def _child(job: int, out: int, theirs: list[int]) -> NoReturn:
    """A spare's life: its own session (a terminal's Ctrl-C reaches the parent, who passes
    it on), none of the parent's pipes, nothing on standard input or output; then the
    worker's (``share.serve``). It ends with ``os._exit``: the parent's exit handlers and
    open files are the parent's to finish, not a copy's."""
    status = 1
    try:
        os.setsid()
        for fd in theirs:
            os.close(fd)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        from mailer.dispatch import share

        status = share.serve(os.fdopen(job, "rb"), os.fdopen(out, "wb"))
    except BaseException:  # a copy of the parent must never return into its code
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(status)
