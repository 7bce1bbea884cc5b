"""``mailer bounces ingest -`` as an MTA pipe: the exit status tells the MTA what to do.

0 means the message is taken (stored, even when nothing in it could be
read); 75 (EX_TEMPFAIL) means "keep it and try again later", which is what
any failure on our side must say, since any other non-zero status makes the
MTA return the bounce to its (empty) sender. Run as a real process, as the
MTA runs it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from mailer.store import open_store
from tests import bounce_samples as samples

EX_TEMPFAIL = 75


def _pipe(db: Path, message: bytes, **env: str) -> subprocess.CompletedProcess[bytes]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    return subprocess.run(
        [sys.executable, "-m", "mailer", "--db", str(db), "bounces", "ingest", "-"],
        input=message,
        capture_output=True,
        env={**clean, **env},
        timeout=120,
        check=False,
    )


def _stored(db: Path) -> list[tuple[str, str]]:
    with open_store(db) as store:
        return [(r["recipient"], r["kind"]) for r in store.all("SELECT * FROM bounces")]


def test_a_bounce_piped_in_is_stored_and_exits_0(db_path: Path) -> None:
    done = _pipe(db_path, samples.postfix_dsn_user_unknown("alice@example.org"))
    assert done.returncode == 0, done.stderr
    assert _stored(db_path) == [("alice@example.org", "hard")]


def test_a_message_nothing_can_be_read_from_is_taken_not_returned(db_path: Path) -> None:
    done = _pipe(db_path, b"\x00\xff\xfe junk \x00" * 100)
    assert done.returncode == 0, done.stderr
    assert _stored(db_path) == [("", "unknown")]


def test_a_locked_database_asks_the_mta_to_retry(db_path: Path) -> None:
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        done = _pipe(
            db_path,
            samples.postfix_dsn_user_unknown("alice@example.org"),
            MAILER_DATABASE_BUSY_TIMEOUT="0.1",
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == EX_TEMPFAIL
    err = done.stderr.decode()
    assert "locked" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert _stored(db_path) == []


def test_a_missing_database_asks_the_mta_to_retry(tmp_path: Path) -> None:
    done = _pipe(tmp_path / "absent.db", samples.arf("bob@example.org"))
    assert done.returncode == EX_TEMPFAIL
    assert "absent.db" in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()


def test_a_broken_configuration_asks_the_mta_to_retry(db_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("[bounces\n")
    done = _pipe(db_path, samples.arf("bob@example.org"), MAILER_CONFIG=str(config))
    assert done.returncode == EX_TEMPFAIL
    assert "broken.toml" in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()


def test_a_file_that_cannot_be_ingested_is_still_an_ordinary_error(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILER_")}
    done = subprocess.run(
        [sys.executable, "-m", "mailer", "--db", str(tmp_path / "absent.db"),
         "bounces", "ingest", str(tmp_path / "x.eml")],
        capture_output=True, env=clean, timeout=120, check=False,
    )
    assert done.returncode == 1


def test_a_fifty_megabyte_bounce_is_taken_whole(db_path: Path) -> None:
    raw = samples.postfix_dsn_user_unknown("alice@example.org")
    done = _pipe(db_path, raw + b"A" * 50_000_000)
    assert done.returncode == 0, done.stderr
    assert _stored(db_path) == [("alice@example.org", "hard")]
