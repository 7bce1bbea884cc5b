"""The store: WAL, foreign keys, migrations, clear errors for bad files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.errors import NotFoundError, StoreError
from mailer.store import SCHEMA_VERSION, Store, open_store, schema
from mailer.store.events import dump
from tests.conftest import Invoke


def test_new_database_is_wal_with_foreign_keys(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db", create=True)
    assert store.one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
    assert store.one("PRAGMA foreign_keys")[0] == 1  # type: ignore[index]
    assert store.one("PRAGMA user_version")[0] == SCHEMA_VERSION  # type: ignore[index]
    assert store.one("PRAGMA busy_timeout")[0] > 0  # type: ignore[index]
    store.close()


def test_missing_database_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="mailer init"):
        open_store(tmp_path / "none.db")


def test_older_database_is_migrated_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.db"
    open_store(path, create=True).close()
    extra = "ALTER TABLE lists ADD COLUMN colour TEXT NOT NULL DEFAULT 'red';"
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, extra])
    from mailer.store import database

    monkeypatch.setattr(database, "MIGRATIONS", schema.MIGRATIONS)
    monkeypatch.setattr(database, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    store = open_store(path)
    columns = [r["name"] for r in store.all("PRAGMA table_info(lists)")]
    assert "colour" in columns
    assert store.one("PRAGMA user_version")[0] == SCHEMA_VERSION + 1  # type: ignore[index]
    store.close()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    open_store(path, create=True).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer mailer"):
        open_store(path)


def test_transaction_rolls_back_everything_on_error(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.db", create=True)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute("INSERT INTO lists (name, created_at) VALUES ('a', 'now')")
        with store.transaction() as inner:
            inner.execute("INSERT INTO lists (name, created_at) VALUES ('b', 'now')")
        raise RuntimeError("boom")
    assert store.all("SELECT * FROM lists") == []
    store.close()


def test_corrupt_file_gets_a_clear_error(tmp_path: Path, invoke: Invoke) -> None:
    bad = tmp_path / "junk.db"
    bad.write_bytes(b"this is not a database at all" * 100)
    result = invoke("--db", str(bad), "lists", "ls")
    assert result.exit_code == 1
    assert "junk.db" in result.output
    assert "not a mailer database" in result.output
    assert "Traceback" not in result.output


def test_locked_database_gives_up_with_a_clear_error(db_path: Path) -> None:
    from mailer.store.lists import create_list

    store = open_store(db_path, busy_timeout=0.2)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked"):
            create_list(store, "members")
        store.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_unwritable_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "no" / "such" / "m.db", create=True)


def test_another_programs_database_is_refused_and_left_alone(
    tmp_path: Path, invoke: Invoke
) -> None:
    other = tmp_path / "notes.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    result = invoke("--db", str(other), "lists", "ls")
    assert result.exit_code == 1
    assert f"{other}: an SQLite database, but not mailer's" in result.output
    assert other.read_bytes() == before


def test_reading_does_not_wait_for_another_writer(db_path: Path) -> None:
    from mailer.store.lists import all_lists

    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        store = open_store(db_path, busy_timeout=0.1)
        assert all_lists(store) == []
        store.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_ids_named_in_tokens_are_never_reused(invoke: Invoke, store: Store) -> None:
    """An old letter's unsubscribe link must never come to name somebody else."""
    invoke("lists", "create", "members")
    invoke("subscribers", "add", "ana@example.org", "--list", "members")
    first = store.one("SELECT id FROM subscribers")[0]  # type: ignore[index]
    list_id = store.one("SELECT id FROM lists")[0]  # type: ignore[index]
    assert invoke("subscribers", "forget", "ana@example.org", "--yes").exit_code == 0
    assert invoke("lists", "rm", "members", "--yes").exit_code == 0
    invoke("lists", "create", "members")
    invoke("subscribers", "add", "luis@example.org", "--list", "members")
    assert store.one("SELECT id FROM subscribers")[0] > first  # type: ignore[index]
    assert store.one("SELECT id FROM lists")[0] > list_id  # type: ignore[index]


def test_an_import_never_reuses_the_id_of_someone_forgotten(
    invoke: Invoke, store: Store, tmp_path: Path
) -> None:
    invoke("lists", "create", "members")
    invoke("subscribers", "add", "ana@example.org", "--list", "members")
    first = store.one("SELECT id FROM subscribers")[0]  # type: ignore[index]
    assert invoke("subscribers", "forget", "ana@example.org", "--yes").exit_code == 0
    contacts = tmp_path / "c.csv"
    contacts.write_text("email\nluis@example.org\n")
    assert invoke("subscribers", "import", str(contacts), "--list", "members").exit_code == 0
    assert store.one("SELECT id FROM subscribers")[0] > first  # type: ignore[index]


def test_the_database_and_its_side_files_are_readable_by_the_owner_only(
    tmp_path: Path, invoke: Invoke, db_path: Path
) -> None:
    import os
    import stat

    from mailer.dispatch.journal import Journal

    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
    with open_store(db_path) as store:
        store.execute("SELECT count(*) FROM subscribers")
        for end in ("-wal", "-shm"):
            side = db_path.with_name(db_path.name + end)
            assert stat.S_IMODE(os.stat(side).st_mode) == 0o600, end
        journal = Journal(store, 1)
        journal.open()
        try:
            assert stat.S_IMODE(os.stat(journal.path).st_mode) == 0o600
        finally:
            journal.close()


def _database_at(version: int, path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A database as schema ``version`` made it, from its own migrations, with one subscriber.

    The migrations after it come back when the test undoes ``monkeypatch``.
    """
    from mailer.store import database

    monkeypatch.setattr(database, "MIGRATIONS", schema.MIGRATIONS[:version])
    monkeypatch.setattr(database, "SCHEMA_VERSION", version)
    old = open_store(path, create=True)
    old.execute(
        "INSERT INTO subscribers (email, email_key, created_at, updated_at) "
        "VALUES ('ann@example.org', 'ann@example.org', 'now', 'now')"
    )
    return old


def test_a_campaign_with_deliveries_survives_the_migration_that_remakes_its_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Remaking ``campaigns`` must not cascade into the deliveries and bounces that name it."""
    path = tmp_path / "old.db"
    with _database_at(4, path, monkeypatch) as old:
        old.execute("INSERT INTO lists (name, created_at) VALUES ('members', 'now')")
        old.execute(
            "INSERT INTO campaigns (list_id, list_name, subject, letter_source, letter_hash, "
            "state, recipients, created_at) VALUES (1, 'members', 'Hi', 'x', 'h', 'done', 1, 'now')"
        )
        old.execute(
            "INSERT INTO deliveries (campaign_id, subscriber_id, email, state) "
            "VALUES (1, 1, 'ann@example.org', 'sent')"
        )
        old.execute(
            "INSERT INTO bounces (received_at, campaign_id, subscriber_id, kind) "
            "VALUES ('now', 1, 1, 'soft')"
        )
    monkeypatch.undo()
    with open_store(path) as store:
        assert store.one("PRAGMA user_version")[0] == SCHEMA_VERSION  # type: ignore[index]
        assert store.one("SELECT count(*) FROM deliveries")[0] == 1  # type: ignore[index]
        assert store.one("SELECT campaign_id FROM bounces")[0] == 1  # type: ignore[index]
        lists = store.all("SELECT campaign_id, position, list_name FROM campaign_lists")
        assert [tuple(row) for row in lists] == [(1, 0, "members")]
        assert store.one("PRAGMA foreign_keys")[0] == 1  # type: ignore[index]


def test_bounces_keep_their_rows_and_take_the_provider_proof_after_schema_6(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 6 remakes ``bounces`` for a wider CHECK: old rows and their proof stay."""
    path = tmp_path / "old.db"
    with _database_at(5, path, monkeypatch) as old:
        old.execute(
            "INSERT INTO bounces (received_at, message_id, recipient, subscriber_id, kind, proof) "
            "VALUES ('now', '<b1@example.org>', 'ann@example.org', 1, 'hard', 'verp')"
        )
        with pytest.raises(sqlite3.IntegrityError):
            old.execute("INSERT INTO bounces (received_at, kind, proof) "
                        "VALUES ('now', 'hard', 'provider')")
    monkeypatch.undo()
    with open_store(path) as store:
        row = store.one("SELECT message_id, subscriber_id, kind, proof FROM bounces")
        assert row is not None and tuple(row) == ("<b1@example.org>", 1, "hard", "verp")
        store.execute("INSERT INTO bounces (received_at, message_id, recipient, kind, proof) "
                      "VALUES ('now', 'ses:feedback-1', 'ann@example.org', 'hard', 'provider')")
        assert store.one("SELECT count(*) FROM bounces")[0] == 2  # type: ignore[index]
        with pytest.raises(sqlite3.IntegrityError):  # still once per message, address and kind
            store.execute("INSERT INTO bounces (received_at, message_id, recipient, kind) "
                          "VALUES ('now', '<b1@example.org>', 'ann@example.org', 'hard')")


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(st.text(), _json_values, max_size=5))
def test_the_stores_json_is_what_json_dumps_writes(mapping: dict[str, Any]) -> None:
    """``dump`` reuses one C encoder; its text must be ``json.dumps``'s, sorted and UTF-8."""
    text = dump(mapping)
    assert text == json.dumps(mapping, ensure_ascii=False, sort_keys=True)
    assert dump(mapping) == text  # and the same again: the encoder keeps no state
