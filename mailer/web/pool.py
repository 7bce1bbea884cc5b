"""Database connections for the web app: one per worker thread, opened once.

Handlers run their queries in Starlette's threadpool. Each thread keeps its
own connection, so no connection is ever used by two threads at once, and a
request never pays for opening the file (and the schema check ``open_store``
does under a write lock). Reads never wait for writers (WAL); writes go through
``Store.transaction()`` (``BEGIN IMMEDIATE`` with a busy timeout), so ``mailer
serve`` queues politely behind ``mailer send`` or an import on the same file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from mailer.store import Store, open_store

T = TypeVar("T")


class StorePool:
    """Per-thread ``Store`` objects on one database file."""

    def __init__(self, path: Path, *, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[Store] = []

    def get(self) -> Store:
        """This thread's store, opened on first use."""
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = open_store(self.path, busy_timeout=self.busy_timeout)
            self._local.store = store
            with self._lock:
                self._opened.append(store)
        return store

    async def run(self, work: Callable[[Store], T]) -> T:
        """Run ``work(store)`` in the threadpool, off the event loop."""
        return await run_in_threadpool(lambda: work(self.get()))

    def close_all(self) -> None:
        """Close every connection (at shutdown); threads that ask again reopen."""
        with self._lock:
            opened, self._opened = self._opened, []
        for store in opened:
            store.close()
        self._local = threading.local()
