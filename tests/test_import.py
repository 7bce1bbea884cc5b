"""CSV import: exact counts on crafted files, suppression, idempotence, strictness."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import email_validator
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer import membership
from mailer.contacts.addresses import _fast_normalize, normalize_address
from mailer.contacts.importer import ImportReport, import_csv, sniff_delimiter
from mailer.errors import InputError
from mailer.store import Store, subscriptions
from mailer.store.lists import create_list
from mailer.store.models import Consent, MailingList
from mailer.store.subscribers import find_subscriber
from mailer.store.subscriptions import of_subscriber as subscriptions_of
from mailer.store.suppressions import suppress
from tests.conftest import Invoke

EXAMPLE = Path(__file__).parent.parent / "lists" / "example.csv"


def dump(path: Path) -> dict[str, Any]:
    """Every row of every table, in a stable order: the database's content."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        content: dict[str, Any] = {"user_version": conn.execute("PRAGMA user_version").fetchone()}
        for table in tables:
            content[table] = sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
        return content
    finally:
        conn.close()


def write(folder: Path, text: str, name: str = "contacts.csv", encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def counts(report: ImportReport) -> dict[str, int]:
    data = report.counts()
    del data["created"], data["status_changed"]
    return data


def outcome(
    rows: int = 0,
    added: int = 0,
    already_subscribed: int = 0,
    updated: int = 0,
    suppressed: int = 0,
    invalid: int = 0,
    duplicates: int = 0,
) -> dict[str, int]:
    assert rows == added + already_subscribed + updated + suppressed + invalid + duplicates
    return {
        "rows": rows,
        "added": added,
        "already_subscribed": already_subscribed,
        "updated": updated,
        "suppressed": suppressed,
        "invalid": invalid,
        "duplicates": duplicates,
    }


@pytest.fixture
def news(store: Store) -> MailingList:
    return create_list(store, "news")


CRAFTED = (
    "\ufeffE-Mail;Name;City\n"
    "ann@example.org;Ann;Lima\n"
    "\n"
    "ANN@Example.org;Ann Again;Cusco\n"
    'bob@example.org;Bob;"Arequipa; Cercado"\n'
    "not-an-address;Nobody;Lima\n"
    ";;\n"
    "carol@example.org;Carol;Puno\n"
    "blocked@example.org;Blocked;Lima\n"
    ";Empty;Lima\n"
    "Bob@EXAMPLE.ORG;Bob Twice;Lima\n"
)


def test_crafted_file_gives_exact_counts(store: Store, news: MailingList, tmp_path: Path) -> None:
    membership.block(store, "blocked@example.org")
    report = import_csv(store, write(tmp_path, CRAFTED), news)
    # The line of only delimiters is blank, like the empty one: neither is a row.
    assert counts(report) == outcome(rows=8, added=3, suppressed=1, invalid=2, duplicates=2)
    assert [(r.line, r.email) for r in report.invalid_rows] == [(6, "not-an-address"), (10, "")]
    assert report.invalid_rows[1].reason == "the address is empty"
    ann = find_subscriber(store, "ann@example.org")
    assert ann is not None and ann.name == "Ann" and ann.attributes == {"City": "Lima"}
    bob = find_subscriber(store, "bob@example.org")
    assert bob is not None and bob.attributes == {"City": "Arequipa; Cercado"}
    blocked = find_subscriber(store, "blocked@example.org")
    assert blocked is None or blocked.status == "blocked"


def test_tab_delimited_file_with_first_and_last_names(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    text = "First Name\tLast Name\tEmail Address\tJoined\nRosa\tQuispe\trosa@example.org\t2024\n"
    report = import_csv(store, write(tmp_path, text), news)
    assert counts(report) == outcome(rows=1, added=1)
    rosa = find_subscriber(store, "rosa@example.org")
    assert rosa is not None and rosa.name == "Rosa Quispe" and rosa.attributes == {"Joined": "2024"}


def test_quoted_commas_and_line_breaks_stay_in_one_cell(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    text = 'email,name,note\na@example.org,"Lee, Ann","two\nlines"\nbad,"x, y",z\n'
    report = import_csv(store, write(tmp_path, text), news)
    assert counts(report) == outcome(rows=2, added=1, invalid=1)
    assert report.invalid_rows[0].line == 4  # the line the row starts on
    ann = find_subscriber(store, "a@example.org")
    assert ann is not None and ann.name == "Lee, Ann" and ann.attributes == {"note": "two\nlines"}


def test_delimiter_is_the_one_that_finds_the_email_column() -> None:
    assert sniff_delimiter("email;name;city\n") == ";"
    assert sniff_delimiter("email\tname\n") == "\t"
    assert sniff_delimiter("email,name,status,;;;;\n") == ","
    assert sniff_delimiter("email\n") == ","


def test_row_with_more_cells_than_the_header_is_invalid(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    text = "email,name\na@example.org,Ann,extra\nb@example.org,Bob,,\n"
    report = import_csv(store, write(tmp_path, text), news)
    assert counts(report) == outcome(rows=2, added=1, invalid=1)
    assert report.invalid_rows[0].reason == "3 fields but the header has 2"


def test_missing_email_column_fails_naming_the_line_and_changes_nothing(
    store: Store, news: MailingList, db_path: Path, tmp_path: Path
) -> None:
    before = dump(db_path)
    path = write(tmp_path, "\n\nname,city\nAnn,Lima\n")
    with pytest.raises(InputError) as caught:
        import_csv(store, path, news)
    assert caught.value.line == 3
    assert "no email column" in str(caught.value)
    assert dump(db_path) == before


def test_empty_file_needs_a_header(store: Store, news: MailingList, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="header row is required"):
        import_csv(store, write(tmp_path, ""), news)


def test_file_in_another_encoding_fails_naming_the_line(
    store: Store, news: MailingList, db_path: Path, tmp_path: Path
) -> None:
    rows = "".join(f"p{i}@example.org,Person {i}\n" for i in range(10))
    path = write(tmp_path, "email,name\n" + rows + "jose@example.org,José\n", encoding="latin-1")
    before = dump(db_path)
    with pytest.raises(InputError) as caught:
        import_csv(store, path, news, batch_size=2)
    assert caught.value.line == 12
    assert "UTF-8" in str(caught.value) and "0xE9" in str(caught.value)
    assert dump(db_path) == before


def test_utf16_file_is_refused(store: Store, news: MailingList, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="UTF-16"):
        import_csv(store, write(tmp_path, "\ufeffemail\na@example.org\n", encoding="utf-16"), news)


def test_strict_aborts_on_an_invalid_row_and_changes_nothing(
    store: Store, news: MailingList, db_path: Path, tmp_path: Path
) -> None:
    rows = "".join(f"p{i}@example.org\n" for i in range(7))
    path = write(tmp_path, "email\n" + rows + "broken@\nlate@example.org\n")
    before = dump(db_path)
    with pytest.raises(InputError) as caught:
        import_csv(store, path, news, strict=True, batch_size=2)
    assert caught.value.line == 9
    assert dump(db_path) == before
    assert not store.conn.in_transaction


def test_strict_with_a_clean_file_imports_everything(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    path = write(tmp_path, "email\n" + "".join(f"p{i}@example.org\n" for i in range(5)))
    report = import_csv(store, path, news, strict=True, batch_size=2)
    assert counts(report) == outcome(rows=5, added=5)


def test_reimport_changes_nothing(
    store: Store, news: MailingList, db_path: Path, tmp_path: Path
) -> None:
    path = write(tmp_path, CRAFTED)
    import_csv(store, path, news, batch_size=3)
    before = dump(db_path)
    again = import_csv(store, path, news, batch_size=3)
    assert counts(again) == outcome(rows=8, already_subscribed=4, invalid=2, duplicates=2)
    assert dump(db_path) == before
    import_csv(store, path, news, update=True)
    assert dump(db_path) == before


def test_unsubscribed_address_stays_unsubscribed(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    path = write(tmp_path, "email,name\nann@example.org,Ann\nbob@example.org,Bob\n")
    import_csv(store, path, news)
    ann = find_subscriber(store, "ann@example.org")
    assert ann is not None
    with store.transaction() as conn:
        subscriptions.leave(conn, ann.id, news.id, method="test")
    for update in (False, True):
        report = import_csv(store, path, news, update=update)
        assert counts(report) == outcome(rows=2, already_subscribed=1, suppressed=1)
    after = find_subscriber(store, "ann@example.org")
    assert after is not None and after.status == "unsubscribed"
    assert [s.status for s in subscriptions_of(store.conn, ann.id)] == ["unsubscribed"]


def test_leaving_one_list_does_not_keep_an_address_off_another(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    other = create_list(store, "other")
    path = write(tmp_path, "email\nann@example.org\n")
    import_csv(store, path, news)
    import_csv(store, path, other)
    ann = find_subscriber(store, "ann@example.org")
    assert ann is not None
    with store.transaction() as conn:
        subscriptions.leave(conn, ann.id, news.id, method="test")
    assert counts(import_csv(store, path, news)) == outcome(rows=1, suppressed=1)
    third = create_list(store, "third")
    assert counts(import_csv(store, path, third)) == outcome(rows=1, added=1)


def test_forgotten_address_is_not_brought_back(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    path = write(tmp_path, "email\nAnn@Example.org\n")
    import_csv(store, path, news)
    membership.forget(store, "ann@example.org", replies_folder=tmp_path / "replies")
    report = import_csv(store, path, news)
    assert counts(report) == outcome(rows=1, suppressed=1)
    assert find_subscriber(store, "ann@example.org") is None


@pytest.mark.parametrize("status", ["bounced", "complained", "blocked"])
def test_subscriber_status_suppresses(
    store: Store, news: MailingList, tmp_path: Path, status: str
) -> None:
    path = write(tmp_path, "email\nann@example.org\n")
    import_csv(store, path, news)
    with store.transaction() as conn:
        conn.execute("UPDATE subscribers SET status = ?", (status,))
    other = create_list(store, "other")
    assert counts(import_csv(store, path, other)) == outcome(rows=1, suppressed=1)


def test_suppressed_domain(store: Store, news: MailingList, tmp_path: Path) -> None:
    with store.transaction() as conn:
        suppress(conn, "domain", "spam.example", "abuse")
    path = write(tmp_path, "email\na@spam.example\nb@example.org\n")
    assert counts(import_csv(store, path, news)) == outcome(rows=2, added=1, suppressed=1)


def test_existing_subscriber_keeps_their_data_without_update(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    other = create_list(store, "other")
    membership.add(
        store,
        other,
        normalize_address("ann@example.org"),
        name="Ann",
        attributes={"city": "Lima"},
        consent=Consent(method="cli"),
    )
    path = write(tmp_path, "email,name,city,country\nann@example.org,Annie,Cusco,PE\n")
    report = import_csv(store, path, news)
    assert counts(report) == outcome(rows=1, added=1)
    ann = find_subscriber(store, "ann@example.org")
    assert ann is not None and ann.name == "Ann" and ann.attributes == {"city": "Lima"}
    assert {s.list for s in subscriptions_of(store.conn, ann.id)} == {"news", "other"}


def test_update_overwrites_name_and_merges_attributes(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    write(tmp_path, "email,name,city,joined\nann@example.org,Ann,Lima,2023\n", "first.csv")
    import_csv(store, tmp_path / "first.csv", news)
    path = write(tmp_path, "email,name,city\nann@example.org,Ann Lee,Cusco\nb@example.org,B,\n")
    report = import_csv(store, path, news, update=True)
    assert counts(report) == outcome(rows=2, added=1, updated=1)
    ann = find_subscriber(store, "ann@example.org")
    assert ann is not None and ann.name == "Ann Lee"
    assert ann.attributes == {"city": "Cusco", "joined": "2023"}
    kinds = [
        r["kind"] for r in store.all("SELECT kind FROM events WHERE subscriber_id = ?", (ann.id,))
    ]
    assert kinds == ["updated"]


def test_dry_run_counts_like_a_real_run_and_writes_nothing(
    store: Store, news: MailingList, db_path: Path, tmp_path: Path
) -> None:
    membership.block(store, "blocked@example.org")
    path = write(tmp_path, CRAFTED)
    before = dump(db_path)
    dry = import_csv(store, path, news, dry_run=True, batch_size=2)
    assert dump(db_path) == before
    real = import_csv(store, path, news, batch_size=2)
    assert counts(dry) == counts(real)


def test_status_column_keeps_opt_outs_from_another_system(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    text = (
        "email,status\n"
        "gone@example.org,unsubscribed\n"
        "here@example.org,active\n"
        "odd@example.org,sleeping\n"
        "plain@example.org,\n"
    )
    report = import_csv(store, write(tmp_path, text), news)
    assert counts(report) == outcome(rows=4, added=2, suppressed=1, invalid=1)
    assert report.invalid_rows[0].reason == "unknown status 'sleeping'"
    gone = find_subscriber(store, "gone@example.org")
    assert gone is not None and gone.status == "unsubscribed"
    assert subscriptions_of(store.conn, gone.id) == []


def test_status_column_changes_an_existing_subscriber_only_with_update(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    import_csv(store, write(tmp_path, "email\nann@example.org\n", "first.csv"), news)
    path = write(tmp_path, "email,status\nann@example.org,complained\n")
    assert counts(import_csv(store, path, news)) == outcome(rows=1, suppressed=1)
    ann = find_subscriber(store, "ann@example.org")
    assert ann is not None and ann.status == "active"
    report = import_csv(store, path, news, update=True)
    assert report.status_changed == 1
    ann = find_subscriber(store, "ann@example.org")
    assert ann is not None and ann.status == "complained"


def test_consent_proof_and_one_event_per_run(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    path = write(tmp_path, "email\na@example.org\nb@example.org\n", "spring.csv")
    import_csv(store, path, news, batch_size=1)
    a = find_subscriber(store, "a@example.org")
    assert a is not None
    [subscription] = subscriptions_of(store.conn, a.id)
    assert subscription.status == "confirmed"
    assert subscription.consent.method == "import"
    assert subscription.consent.source == "spring.csv"
    assert subscription.consent.detail == {"line": 2}
    events = store.all("SELECT kind, list_id, detail FROM events")
    assert [(e["kind"], e["list_id"]) for e in events] == [("imported", news.id)]
    assert json.loads(events[0]["detail"])["added"] == 2


def test_double_optin_list_imports_unconfirmed(store: Store, tmp_path: Path) -> None:
    careful = create_list(store, "careful", double_optin=True)
    import_csv(store, write(tmp_path, "email\na@example.org\n"), careful)
    a = find_subscriber(store, "a@example.org")
    assert a is not None
    assert subscriptions_of(store.conn, a.id)[0].status == "unconfirmed"


def test_progress_is_reported_per_batch(store: Store, news: MailingList, tmp_path: Path) -> None:
    path = write(tmp_path, "email\n" + "".join(f"p{i}@example.org\n" for i in range(10)))
    seen: list[tuple[int, int]] = []
    import_csv(
        store, path, news, batch_size=3, progress=lambda done, total: seen.append((done, total))
    )
    assert len(seen) == 4
    assert all(total == path.stat().st_size for _, total in seen)


def test_invalid_rows_go_to_the_callback(store: Store, news: MailingList, tmp_path: Path) -> None:
    got: list[int] = []
    import_csv(store, write(tmp_path, CRAFTED), news, on_invalid=lambda row: got.append(row.line))
    assert got == [6, 10]


def test_example_list_has_something_to_report(store: Store, news: MailingList) -> None:
    report = import_csv(store, EXAMPLE, news)
    assert counts(report) == outcome(rows=21, added=16, invalid=3, duplicates=2)
    cities = {r[0] for r in store.all("SELECT attributes ->> 'city' FROM subscribers")}
    assert {"Lima", "Cusco", "Arequipa"} <= cities


# The command line.


def test_cli_prints_the_summary(invoke: Invoke, tmp_path: Path) -> None:
    assert invoke("lists", "create", "news").exit_code == 0
    result = invoke("subscribers", "import", str(write(tmp_path, CRAFTED)), "--list", "news")
    assert result.exit_code == 0, result.output
    lines = {ln.strip().split("  ")[0]: ln.split()[-1] for ln in result.output.splitlines() if ln}
    assert lines["rows read"] == "8"
    assert lines["added"] == "4"
    assert lines["invalid"] == "2"
    assert lines["duplicates"] == "2"
    assert "line 6: not-an-address" in result.output


def test_cli_json_and_report(invoke: Invoke, tmp_path: Path) -> None:
    invoke("lists", "create", "news")
    out = tmp_path / "invalid.csv"
    result = invoke(
        "subscribers",
        "import",
        str(write(tmp_path, CRAFTED)),
        "--list",
        "news",
        "--report",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["rows"], data["added"], data["invalid"], data["duplicates"]) == (8, 4, 2, 2)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "line,email,reason"
    assert [line.split(",")[:2] for line in lines[1:]] == [["6", "not-an-address"], ["10", ""]]


def test_cli_strict_fails_with_the_line(invoke: Invoke, db_path: Path, tmp_path: Path) -> None:
    invoke("lists", "create", "news")
    before = dump(db_path)
    path = write(tmp_path, "email\na@example.org\nbroken@\n")
    result = invoke("subscribers", "import", str(path), "--list", "news", "--strict")
    assert result.exit_code == 1
    assert f"{path}:3:" in result.output and "Traceback" not in result.output
    assert dump(db_path) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv", "--list", "news"], "no such file"),
        (["contacts.csv", "--list", "nope"], "no list named"),
    ],
)
def test_cli_failures_are_one_line(
    invoke: Invoke, tmp_path: Path, args: list[str], message: str
) -> None:
    invoke("lists", "create", "news")
    write(tmp_path, "email\na@example.org\n")
    result = invoke("subscribers", "import", *args)
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_dry_run_says_so(invoke: Invoke, db_path: Path, tmp_path: Path) -> None:
    invoke("lists", "create", "news")
    before = dump(db_path)
    result = invoke(
        "subscribers", "import", str(write(tmp_path, CRAFTED)), "--list", "news", "--dry-run"
    )
    assert result.exit_code == 0 and "dry run" in result.output
    assert dump(db_path) == before


# The fast path for plain addresses must agree with email-validator wherever it answers.

_ADDRESS_CHARS = "abcXYZ019.-_+@'!~"


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=_ADDRESS_CHARS, min_size=1, max_size=30),
        st.builds(
            lambda local, labels, tld: f"{local}@{'.'.join(labels)}.{tld}",
            st.text(alphabet="abcXY09.-_+", min_size=1, max_size=70),
            st.lists(st.text(alphabet="abcXY09-", min_size=1, max_size=66), min_size=1, max_size=3),
            st.sampled_from(["org", "COM", "pe", "x1", "1", "test", "local", "Arpa", "x--y"]),
        ),
    )
)
def test_fast_path_agrees_with_email_validator(text: str) -> None:
    fast = _fast_normalize(text)
    if fast is None:
        return
    slow = email_validator.validate_email(text, check_deliverability=False, allow_smtputf8=True)
    assert fast.email == slow.normalized
    assert fast.key == slow.normalized.lower()


def test_fast_path_takes_plain_addresses_and_leaves_the_rest() -> None:
    assert _fast_normalize("Ann.Lee+news@Example.ORG") is not None
    for text in ("Info@example.org", "a@xn--bcher-kva.example", "a@b.test", "ñ@example.org", "a@b"):
        assert _fast_normalize(text) is None
    assert normalize_address("Info@Example.org").email == "info@example.org"


def test_deliverability_is_checked_only_when_asked(
    store: Store, news: MailingList, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def undeliverable(domain: str) -> str | None:
        asked.append(domain)
        return "The domain name dead.example does not accept email." if "dead" in domain else None

    monkeypatch.setattr("mailer.contacts.addresses._undeliverable", undeliverable)
    path = write(tmp_path, "email\na@dead.example\nb@live.example\nc@live.example\n")
    assert counts(import_csv(store, path, news)) == outcome(rows=3, added=3)
    assert asked == []
    other = create_list(store, "other")
    report = import_csv(store, path, other, check_deliverability=True)
    assert counts(report) == outcome(rows=3, added=2, invalid=1)
    assert report.invalid_rows[0].reason == "The domain name dead.example does not accept email."


def test_cli_check_deliverability_flag(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mailer.contacts.addresses._undeliverable", lambda domain: "no MX")
    invoke("lists", "create", "news")
    path = write(tmp_path, "email\na@example.org\n")
    result = invoke(
        "subscribers", "import", str(path), "--list", "news", "--check-deliverability", "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["invalid_rows"][0]["reason"] == "no MX"


def test_unreadable_csv_late_in_the_file_changes_nothing(
    store: Store, news: MailingList, db_path: Path, tmp_path: Path
) -> None:
    rows = "".join(f"p{i}@example.org,x\n" for i in range(6))
    path = write(tmp_path, "email,note\n" + rows + "late@example.org," + "y" * 200_000 + "\n")
    before = dump(db_path)
    with pytest.raises(InputError) as caught:
        import_csv(store, path, news, batch_size=2)
    assert caught.value.line == 8
    assert "unreadable CSV" in str(caught.value)
    assert dump(db_path) == before


def test_windows_line_endings(store: Store, news: MailingList, tmp_path: Path) -> None:
    path = write(tmp_path, "email,name\r\na@example.org,Ann\r\n\r\nbad,Bob\r\n")
    report = import_csv(store, path, news)
    assert counts(report) == outcome(rows=2, added=1, invalid=1)
    assert report.invalid_rows[0].line == 4
    ann = find_subscriber(store, "a@example.org")
    assert ann is not None and ann.name == "Ann"


@pytest.mark.parametrize("dry_run", [False, True])
def test_duplicates_are_found_across_batches_whatever_became_of_the_first(
    store: Store, news: MailingList, tmp_path: Path, dry_run: bool
) -> None:
    import_csv(store, write(tmp_path, "email\nold@example.org\n", "first.csv"), news)
    membership.block(store, "blocked@example.org")
    text = (
        "email,status\n"
        "new@example.org,\nold@example.org,\nblocked@example.org,\ngone@example.org,unsubscribed\n"
        "NEW@example.org,\nOLD@example.org,\nBLOCKED@example.org,\nGONE@example.org,\n"
    )
    report = import_csv(store, write(tmp_path, text), news, batch_size=1, dry_run=dry_run)
    assert counts(report) == outcome(
        rows=8, added=1, already_subscribed=1, suppressed=2, duplicates=4
    )


def test_report_keeps_a_bounded_number_of_invalid_rows(
    store: Store, news: MailingList, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mailer.contacts.importer.KEEP_INVALID", 2)
    got: list[int] = []
    path = write(tmp_path, "email\n" + "broken\n" * 5)
    report = import_csv(store, path, news, on_invalid=lambda row: got.append(row.line))
    assert report.invalid == 5
    assert [row.line for row in report.invalid_rows] == [2, 3]
    assert got == [2, 3, 4, 5, 6]


_pieces = [*'aB@.x,;\t"\n\r -', "\ufeff", "é", "@example.org", "ann@example.org", "unsubscribed"]
_body = st.lists(st.sampled_from(_pieces), max_size=40).map("".join)


@settings(max_examples=150, deadline=None)
@given(_body, st.booleans())
def test_any_text_either_imports_with_every_row_counted_or_fails_cleanly(
    body: str, update: bool
) -> None:
    import tempfile

    from mailer.store import open_store

    with tempfile.TemporaryDirectory() as folder:
        store = open_store(Path(folder) / "fuzz.db", create=True)
        try:
            mailing_list = create_list(store, "news")
            path = write(Path(folder), "email,name,x\n" + body)
            try:
                first = import_csv(store, path, mailing_list, update=update, batch_size=2)
            except InputError:
                return
            assert first.rows == sum(v for k, v in counts(first).items() if k != "rows")
            before = dump(Path(folder) / "fuzz.db")
            again = import_csv(store, path, mailing_list, update=update, batch_size=3)
            assert again.added == again.updated == 0
            assert dump(Path(folder) / "fuzz.db") == before
        finally:
            store.close()


def test_cli_report_may_not_overwrite_the_file_imported(
    invoke: Invoke, db_path: Path, tmp_path: Path
) -> None:
    invoke("lists", "create", "news")
    before = dump(db_path)
    path = write(tmp_path, "email\na@example.org\n")
    result = invoke("subscribers", "import", str(path), "--list", "news", "--report", str(path))
    assert result.exit_code == 2
    assert "refusing to write over the input" in result.output
    assert path.read_text(encoding="utf-8") == "email\na@example.org\n"
    assert dump(db_path) == before


def test_nul_in_an_address_is_named_as_such(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    report = import_csv(store, write(tmp_path, "email\na\x00b@example.org\n"), news)
    [row] = report.invalid_rows
    assert "NUL" in row.reason


def test_cli_report_shows_formula_cells_as_text(invoke: Invoke, tmp_path: Path) -> None:
    invoke("lists", "create", "news")
    out = tmp_path / "refused.csv"
    path = write(tmp_path, 'email\n"=HYPERLINK(""http://x"")"\n')
    result = invoke("subscribers", "import", str(path), "--list", "news", "--report", str(out))
    assert result.exit_code == 0, result.output
    [_, row] = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert row[:2] == ["2", '\'=HYPERLINK("http://x")']


def test_an_unclosed_quote_stops_the_import_at_the_line_where_it_opened(
    invoke: Invoke, db_path: Path, tmp_path: Path
) -> None:
    invoke("lists", "create", "news")
    before = dump(db_path)
    rows = [f"p{i}@example.org,Person {i}" for i in range(1000)]
    rows[9] = 'p9@example.org,"Person 9'  # line 11: the quote is never closed
    path = write(tmp_path, "email,name\n" + "\n".join(rows) + "\n")
    result = invoke("subscribers", "import", str(path), "--list", "news")
    assert result.exit_code == 1
    assert f"{path}:11: a quoted field that starts on this line is never closed" in result.output
    assert dump(db_path) == before


def test_a_line_break_inside_the_email_or_name_cell_makes_the_row_invalid(
    invoke: Invoke, tmp_path: Path
) -> None:
    invoke("lists", "create", "news")
    path = write(
        tmp_path,
        'email,name,notes\nann@example.org,"Ann\nSmith",x\n"bob@example.org\nx",Bob,y\n'
        'cy@example.org,Cy,"two\nlines"\n',
    )
    result = invoke("subscribers", "import", str(path), "--list", "news", "--json")
    report = json.loads(result.output)
    assert (report["added"], report["invalid"]) == (1, 2)  # a line break in notes is fine
    reasons = {(r["line"], r["reason"]) for r in report["invalid_rows"]}
    assert reasons == {
        (2, "the name cell holds a line break (a quote left open?)"),
        (4, "the email cell holds a line break (a quote left open?)"),
    }


def test_a_strict_import_on_a_full_disk_says_the_disk_is_full(
    invoke: Invoke, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite rolls a transaction back itself when the disk fills; the error must say so."""
    from mailer.store import database

    invoke("lists", "create", "news")
    before = dump(db_path)
    pages = sqlite3.connect(db_path).execute("PRAGMA page_count").fetchone()[0]
    connect = database._connect

    def small_disk(path: Path, busy_timeout: float) -> sqlite3.Connection:
        conn = connect(path, busy_timeout)
        conn.execute(f"PRAGMA max_page_count = {pages + 20}")
        return conn

    monkeypatch.setattr(database, "_connect", small_disk)
    rows = "".join(f"person{i}@example.org,Person {i} with a long name\n" for i in range(20_000))
    path = write(tmp_path, "email,name\n" + rows)
    result = invoke("subscribers", "import", str(path), "--list", "news", "--strict")
    assert result.exit_code == 1
    assert "disk is full" in result.output
    assert "cannot rollback" not in result.output and "Traceback" not in result.output
    monkeypatch.setattr(database, "_connect", connect)
    assert dump(db_path) == before


def test_special_use_domains_are_refused_unless_allowed(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke("lists", "create", "news")
    path = write(tmp_path, "email\nann@lists.test\nbob@box.local\ncy@localhost\nok@example.org\n")
    refused = json.loads(invoke("subscribers", "import", str(path), "--list", "news",
                                "--json").output)
    assert (refused["added"], refused["invalid"]) == (1, 3)
    assert "special-use or reserved name" in refused["invalid_rows"][0]["reason"]
    added = invoke("subscribers", "add", "dee@lists.test", "--list", "news")
    assert added.exit_code == 1 and "special-use" in added.output

    monkeypatch.setenv("MAILER_IMPORT_ALLOW_SPECIAL_USE_DOMAINS", "true")
    allowed = json.loads(invoke("subscribers", "import", str(path), "--list", "news",
                                "--json").output)
    assert (allowed["added"], allowed["invalid"]) == (3, 0)
    assert invoke("subscribers", "add", "Dee@Lists.TEST", "--list", "news").exit_code == 0
    emails = {row["email"] for row in json.loads(invoke("subscribers", "ls", "--json").output)}
    assert emails == {"ann@lists.test", "bob@box.local", "cy@localhost", "ok@example.org",
                      "Dee@lists.test"}
    bad = invoke("subscribers", "add", "eve@-bad-.test", "--list", "news")
    assert bad.exit_code == 1  # allowed is not unchecked: the domain's labels still count
