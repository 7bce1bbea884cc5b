"""Opening the one SQLite file: WAL, foreign keys, a busy timeout, migrations.

Writers take the write lock up front (``BEGIN IMMEDIATE``) so that two mailer
processes on one database queue behind each other for up to the busy timeout
instead of one failing with "database is locked" halfway through.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from mailer.contacts.addresses import address_hash, address_key
from mailer.errors import NotFoundError, StoreError
from mailer.store.schema import MIGRATIONS

SCHEMA_VERSION = len(MIGRATIONS)


def _explain(exc: sqlite3.Error, path: Path) -> StoreError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreError(f"{path}: database is locked by another process (gave up waiting)")
    if "not a database" in text or "malformed" in text:
        return StoreError(f"{path}: not a mailer database or the file is damaged ({text})")
    if "readonly" in text or "unable to open" in text:
        return StoreError(f"{path}: cannot write the database ({text})")
    if "full" in text:
        return StoreError(f"{path}: the disk is full ({text}); nothing of this step was written")
    return StoreError(f"{path}: database error: {text}")


class Store:
    """An open database. ``db`` is the sqlite-utils view; ``conn`` the raw one."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn
        self.db = sqlite_utils.Database(conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (nested calls become savepoints); all or nothing."""
        if self.conn.in_transaction:
            with self.db.atomic():
                yield self.conn
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from None
        try:
            yield self.conn
        except sqlite3.Error as exc:
            self._rollback()
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            # A read-only file, a full disk, a lock given up on: one line naming the file.
            raise _explain(exc, self.path) from None
        except BaseException:
            self._rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise _explain(exc, self.path) from None

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A deferred transaction: one consistent view for reads, without the write lock.

        Used for reading many rows at once (an export: its header and rows
        agree while others write) and for writes only to TEMP tables. Inside
        another transaction it simply joins it.
        """
        if self.conn.in_transaction:
            yield self.conn
            return
        self.execute("BEGIN")
        try:
            yield self.conn
        finally:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def beating(self, beat: Callable[[], None] | None, *, every: int = 1_000_000) -> Iterator[None]:
        """Call ``beat`` every ``every`` steps of SQLite's machine while statements run.

        A count or delete over a list of millions is one statement that runs
        for seconds; SQLite's progress handler is the only way to hear from
        inside it (a progress line on a terminal, say). ``beat`` must not
        touch the database.
        """
        if beat is None:
            yield
            return

        def handler() -> int:
            beat()
            return 0  # go on

        self.conn.set_progress_handler(handler, every)
        try:
            yield
        finally:
            self.conn.set_progress_handler(None, 0)

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not undone it already.

        After some errors (a full disk, out of memory) SQLite rolls the
        transaction back itself; a second ROLLBACK would fail and hide the
        error that matters ("cannot rollback - no transaction is active").
        """
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def schema_version(self) -> int:
        """The schema version of the open database (``PRAGMA user_version``)."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        """Run one statement, turning SQLite's errors into ``StoreError``."""
        try:
            return self.conn.execute(sql, params)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise _explain(exc, self.path) from None

    def one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        """The first row of a query, or None."""
        row: sqlite3.Row | None = self.execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        """Every row of a query."""
        return list(self.execute(sql, params).fetchall())


def _contains(value: Any, folded: str) -> bool:
    """Whether ``value`` holds ``folded`` (already case-folded) in any case, as Python folds
    it: the search of text beyond ASCII, whose case SQLite's ``LIKE`` does not fold."""
    return value is not None and folded in str(value).casefold()


def pages(
    store: Store,
    sql: str,
    params: Sequence[Any],
    key: str,
    *,
    after: int = 0,
    limit: int | None = None,
    page_size: int = 1000,
) -> Iterator[sqlite3.Row]:
    """The rows of ``sql`` (ending in its WHERE clause) in order of the integer ``key``,
    past ``after``, at most ``limit``, read a page at a time.

    Keyset pagination: each page starts where the last ended, found through
    the index on ``key`` (which the query selects as ``id``), so memory stays
    flat, every page is one short read, and no read transaction stays open
    while the caller works (or writes) between pages.
    """
    left = limit
    while left is None or left > 0:
        size = page_size if left is None else min(page_size, left)
        rows = store.all(f"{sql} AND {key} > ? ORDER BY {key} LIMIT ?", [*params, after, size])
        yield from rows
        if len(rows) < size:
            return
        after = int(rows[-1]["id"])
        if left is not None:
            left -= len(rows)


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    # The address rules, for queries that compare addresses however they are written.
    conn.create_function("mailer_address_key", 1, address_key, deterministic=True)
    conn.create_function("mailer_address_hash", 1, address_hash, deterministic=True)
    conn.create_function("mailer_contains", 2, _contains, deterministic=True)
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def migrate(store: Store) -> int:
    """Bring the schema up to date; returns the number of migrations applied.

    Foreign keys are off while the migrations run (SQLite ignores the pragma
    inside a transaction, so it is set before): a migration that makes a
    table anew drops the old one, and with them on, dropping ``campaigns``
    would cascade into every delivery. ``PRAGMA foreign_key_check`` runs
    before the commit instead, so a migration cannot leave a dangling row.
    """
    if int(store.conn.execute("PRAGMA user_version").fetchone()[0]) == SCHEMA_VERSION:
        # Up to date: no write lock, so opening never waits behind another writer.
        return 0
    store.conn.execute("PRAGMA foreign_keys = OFF")
    try:
        with store.transaction() as conn:
            return _apply_migrations(store, conn)
    finally:
        store.conn.execute("PRAGMA foreign_keys = ON")


def _apply_migrations(store: Store, conn: sqlite3.Connection) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{store.path}: made by a newer mailer (schema {version}, "
            f"this one knows {SCHEMA_VERSION}); upgrade mailer"
        )
    if version == 0 and store.db.table_names():
        # Another program's database (a wrong --db): refuse rather than add our tables to it.
        raise StoreError(
            f"{store.path}: an SQLite database, but not mailer's; nothing was changed"
        )
    for number in range(version, SCHEMA_VERSION):
        step = MIGRATIONS[number]
        if callable(step):
            step(store.db)
            continue
        for statement in _statements(step):
            conn.execute(statement)
    if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
        raise StoreError(f"{store.path}: the schema update would leave dangling references")
    if version < SCHEMA_VERSION:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return SCHEMA_VERSION - version


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements (``executescript`` would commit our transaction)."""
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""
    if buffer.strip():
        yield buffer.strip()


def _create_private(path: Path) -> None:
    """Make the empty database file readable by its owner only: it holds personal data.

    SQLite gives the ``-wal`` and ``-shm`` files the database file's mode, so
    they are private too.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the database ({exc.strerror})") from None


def open_store(path: Path, *, create: bool = False, busy_timeout: float = 30.0) -> Store:
    """Open (and, with ``create``, make) the database at ``path``, migrated to date."""
    path = Path(path)
    if not create and not path.exists():
        raise NotFoundError(f"{path}: no database here (run `mailer init` first, or pass --db)")
    if create and not path.parent.exists():
        raise StoreError(f"{path}: folder {path.parent} does not exist")
    if create and not path.exists():
        _create_private(path)
    try:
        conn = _connect(path, busy_timeout)
        store = Store(path, conn)
        migrate(store)  # first: it refuses another program's database before any change
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.Error as exc:
        raise _explain(exc, path) from None
    return store
