"""Export: CSV and JSON Lines, the round trip through import, and the GDPR access export."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailer import clock, membership
from mailer.cli import cli
from mailer.contacts.addresses import normalize_address
from mailer.contacts.exporter import attribute_column, export_person, export_subscribers
from mailer.contacts.importer import import_csv
from mailer.errors import NotFoundError
from mailer.store import Store, open_store, subscriptions
from mailer.store.lists import create_list
from mailer.store.models import SUBSCRIBER_STATUSES, Consent, MailingList
from mailer.store.subscribers import find_subscriber
from tests.conftest import Invoke


def put(
    store: Store,
    email: str,
    *,
    name: str = "",
    attributes: dict[str, Any] | None = None,
    status: str = "active",
    language: str = "",
) -> int:
    """A subscriber as any part of mailer may have stored it."""
    address = normalize_address(email)
    now = clock.now_iso()
    with store.transaction() as conn:
        cursor = conn.execute(
            "INSERT INTO subscribers (email, email_key, name, attributes, status, created_at, "
            "updated_at, language) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (address.email, address.key, name, json.dumps(attributes or {}), status, now, now,
             language),
        )
    return int(cursor.lastrowid or 0)


def export_text(store: Store, **options: Any) -> str:
    out = io.StringIO()
    export_subscribers(store, out, **options)
    return out.getvalue()


def people(store: Store) -> set[tuple[str, str, str, str, str]]:
    """What a round trip must keep: address, name, status, language and attributes of everyone."""
    return {
        (
            r["email"],
            r["name"],
            r["status"],
            r["language"],
            json.dumps(json.loads(r["attributes"]), sort_keys=True),
        )
        for r in store.all("SELECT email, name, status, language, attributes FROM subscribers")
    }


@pytest.fixture
def news(store: Store) -> MailingList:
    return create_list(store, "news")


def test_csv_columns_are_email_name_status_language_then_attributes(store: Store) -> None:
    put(store, "ann@example.org", name="Ann", attributes={"city": "Lima", "age": 41},
        language="es")
    put(store, "bob@example.org", status="bounced", attributes={"country": "PE"})
    rows = list(csv.reader(io.StringIO(export_text(store))))
    assert rows == [
        ["email", "name", "status", "language", "age", "city", "country"],
        ["ann@example.org", "Ann", "active", "es", "41", "Lima", ""],
        ["bob@example.org", "", "bounced", "", "", "", "PE"],
    ]


def test_list_export_shows_who_left_the_list(store: Store, news: MailingList) -> None:
    other = create_list(store, "other")
    for email in ("ann@example.org", "bob@example.org"):
        for mailing_list in (news, other):
            membership.add(
                store, mailing_list, normalize_address(email), consent=Consent(method="cli")
            )
    put(store, "outsider@example.org")
    bob = find_subscriber(store, "bob@example.org")
    assert bob is not None
    with store.transaction() as conn:
        subscriptions.leave(conn, bob.id, news.id, method="test")
    rows = list(csv.DictReader(io.StringIO(export_text(store, list_id=news.id))))
    assert [(r["email"], r["status"]) for r in rows] == [
        ("ann@example.org", "active"),
        ("bob@example.org", "unsubscribed"),
    ]
    whole = list(csv.DictReader(io.StringIO(export_text(store))))
    assert [(r["email"], r["status"]) for r in whole][1] == ("bob@example.org", "active")


def test_awkward_attribute_names_are_prefixed_and_read_back(
    store: Store, news: MailingList
) -> None:
    awkward = {
        "Email": "x", "status": "y", "first_name": "z", " padded": "w", "attribute:a": "v",
        "Language": "u", "Prénom": "t", "OPTIN_TIME": "s", "E-mail 1 - Value": "r",
    }
    put(store, "ann@example.org", attributes=awkward)
    text = export_text(store)
    header = next(csv.reader(io.StringIO(text)))
    assert header[:4] == ["email", "name", "status", "language"]
    assert sorted(header[4:]) == sorted(attribute_column(k) for k in awkward)
    assert attribute_column("city") == "city"
    assert attribute_column("Email") == "attribute:Email"
    assert attribute_column("Prénom") == "attribute:Prénom"
    with tempfile.TemporaryDirectory() as folder:
        target = open_store(Path(folder) / "copy.db", create=True)
        path = Path(folder) / "export.csv"
        path.write_text(text, encoding="utf-8")
        import_csv(target, path, create_list(target, "news"))
        assert people(target) == people(store)
        target.close()


def test_jsonl_has_one_object_per_subscriber(store: Store, news: MailingList) -> None:
    membership.add(
        store,
        news,
        normalize_address("ann@example.org"),
        name="Ann",
        attributes={"city": "Cusco"},
        consent=Consent(method="cli", source="test"),
    )
    lines = export_text(store, list_id=news.id, fmt="jsonl").splitlines()
    [item] = [json.loads(line) for line in lines]
    assert item["email"] == "ann@example.org"
    assert item["attributes"] == {"city": "Cusco"}
    assert item["status"] == "active"
    assert item["subscription"]["consent_method"] == "cli"


def test_person_export_holds_everything_stored(store: Store, news: MailingList) -> None:
    membership.add(
        store,
        news,
        normalize_address("Ann@example.org"),
        name="Ann",
        consent=Consent(method="web", source="https://example.org/join"),
    )
    ann = find_subscriber(store, "ann@example.org")
    assert ann is not None
    now = clock.now_iso()
    with store.transaction() as conn:
        campaign = conn.execute(
            "INSERT INTO campaigns (list_id, list_name, subject, letter_source, letter_hash, "
            "created_at) VALUES (?, 'news', 'Paro en Cusco', 'body', 'h', ?)",
            (news.id, now),
        ).lastrowid
        conn.execute(
            "INSERT INTO deliveries (campaign_id, subscriber_id, email, state, sent_at) "
            "VALUES (?, ?, ?, 'sent', ?)",
            (campaign, ann.id, ann.email, now),
        )
        conn.execute(
            "INSERT INTO bounces (received_at, recipient, subscriber_id, campaign_id, kind, "
            "status) VALUES (?, ?, ?, ?, 'soft', '4.2.2')",
            (now, ann.email, ann.id, campaign),
        )
    data = export_person(store, "ANN@example.org")
    assert data["subscriber"]["email"] == "Ann@example.org"
    assert data["subscriber"]["name"] == "Ann"
    [subscription] = data["subscriptions"]
    assert subscription["list"] == "news"
    assert subscription["consent"]["source"] == "https://example.org/join"
    assert [e["kind"] for e in data["events"]][:2] == ["created", "subscribed"]
    assert [d["campaign_subject"] for d in data["deliveries"]] == ["Paro en Cusco"]
    assert [b["status"] for b in data["bounces"]] == ["4.2.2"]
    assert data["suppressions"] == []
    json.dumps(data)


def test_person_export_of_a_blocked_stranger_shows_the_block(store: Store) -> None:
    membership.block(store, "stranger@example.org")
    data = export_person(store, "stranger@example.org")
    assert data["subscriber"] is None
    assert [(s["kind"], s["value"]) for s in data["suppressions"]] == [
        ("email", "stranger@example.org")
    ]


def test_person_export_of_an_unknown_address(store: Store) -> None:
    with pytest.raises(NotFoundError):
        export_person(store, "nobody@example.org")


# The command line.


def test_cli_export_to_a_file(invoke: Invoke, tmp_path: Path) -> None:
    invoke("lists", "create", "news")
    invoke("subscribers", "add", "ann@example.org", "--list", "news", "--name", "Ann")
    out = tmp_path / "out.csv"
    result = invoke("subscribers", "export", "--list", "news", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").splitlines() == [
        "email,name,status,language",
        "ann@example.org,Ann,active,",
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.csv")] == []


def test_languages_go_out_and_come_back_in_with_the_csv(
    invoke: Invoke, tmp_path: Path
) -> None:
    invoke("lists", "create", "news")
    for email, language in (("ana@example.org", "pt-BR"), ("bob@example.org", "")):
        args = ["--language", language] if language else []
        assert invoke("subscribers", "add", email, "--list", "news", *args).exit_code == 0
    out = tmp_path / "news.csv"
    assert invoke("subscribers", "export", "--list", "news", "-o", str(out)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [(r["email"], r["language"]) for r in rows] == [
        ("ana@example.org", "pt-BR"), ("bob@example.org", "")
    ]
    other = tmp_path / "other.db"
    for args in (["init"], ["lists", "create", "news"], ["subscribers", "import", str(out),
                                                          "--list", "news"]):
        result = CliRunner().invoke(cli, ["--db", str(other), *args])
        assert result.exit_code == 0, result.output
    copied = open_store(other)
    try:
        languages = dict(copied.all("SELECT email, language FROM subscribers"))
    finally:
        copied.close()
    assert languages == {"ana@example.org": "pt-BR", "bob@example.org": ""}


def test_cli_export_to_standard_output_as_jsonl(invoke: Invoke) -> None:
    invoke("lists", "create", "news")
    invoke("subscribers", "add", "ann@example.org", "--list", "news")
    result = invoke("subscribers", "export", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["email"] == "ann@example.org"


def test_cli_person_export(invoke: Invoke) -> None:
    invoke("lists", "create", "news")
    invoke("subscribers", "add", "ann@example.org", "--list", "news")
    result = invoke("subscribers", "export", "--email", "Ann@Example.org")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["subscriber"]["email"] == "ann@example.org"
    assert data["subscriptions"][0]["consent"]["method"] == "cli"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--email", "a@example.org", "--list", "news"], 2, "cannot be combined"),
        (["--email", "a@example.org", "--format", "csv"], 2, "JSON Lines"),
        (["--email", "nobody@example.org"], 1, "nothing is stored"),
        (["--list", "nope"], 1, "no list named"),
        (["-o", "/nonexistent-folder/x.csv"], 1, "/nonexistent-folder/x.csv: cannot write"),
    ],
)
def test_cli_export_failures(invoke: Invoke, args: list[str], code: int, message: str) -> None:
    invoke("lists", "create", "news")
    result = invoke("subscribers", "export", *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


# The round trip: export, then import into a fresh database, gives back the same people.

# Any character but NUL and lone surrogates, with the ones CSV must quote made likely.
_char = st.one_of(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    st.sampled_from(list('\n\r\t,;" ')),
)
_text = st.text(alphabet=_char, max_size=12).map(str.strip)
_value = _text.filter(bool)
# A name is one line: the importer refuses a name cell holding a line break.
_name = _text.map(lambda name: " ".join(name.splitlines()).strip())
_key = st.text(alphabet=_char, max_size=10)
_local = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9+_-]{0,8}(\.[a-zA-Z0-9]{1,4})?", fullmatch=True)
_domain = st.sampled_from(["example.org", "Example.COM", "correo.example.pe", "münchen.example"])
_person = st.fixed_dictionaries(
    {
        "email": st.builds(lambda a, b: f"{a}@{b}", _local, _domain),
        "name": _name,
        "status": st.sampled_from(SUBSCRIBER_STATUSES),
        "language": st.sampled_from(["", "es", "pt-BR", "de", "zh-Hant", "fr-CA"]),
        "attributes": st.dictionaries(_key, _value, max_size=4),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_person, max_size=8, unique_by=lambda p: p["email"].lower()))
def test_export_then_import_gives_back_the_same_people(crowd: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = open_store(Path(folder) / "source.db", create=True)
        target = open_store(Path(folder) / "target.db", create=True)
        try:
            for person in crowd:
                put(
                    source,
                    person["email"],
                    name=person["name"],
                    attributes=person["attributes"],
                    status=person["status"],
                    language=person["language"],
                )
            path = Path(folder) / "export.csv"
            with path.open("w", encoding="utf-8", newline="") as out:
                export_subscribers(source, out)
            report = import_csv(target, path, create_list(target, "news"), strict=True)
            assert report.rows == len(crowd)
            assert people(target) == people(source)
            active = sum(1 for p in crowd if p["status"] == "active")
            assert report.added == active and report.suppressed == len(crowd) - active
        finally:
            source.close()
            target.close()


def test_formula_cells_are_shown_as_text_and_read_back_exactly(
    store: Store, news: MailingList
) -> None:
    tricky = {"=cmd": '=HYPERLINK("http://x")', "total": "-5", "at": "@SUM(A1)", "q": "'=x"}
    put(store, "=ann@example.org", name="+51 Ann", attributes=tricky)
    put(store, "bob@example.org", name="'quoted", attributes={"total": "'"})
    text = export_text(store)
    rows = list(csv.reader(io.StringIO(text)))
    spreadsheet_formulas = [c for row in rows for c in row if c[:1] in ("=", "+", "-", "@")]
    assert spreadsheet_formulas == []
    assert "'=ann@example.org" in rows[1]
    assert "''=x" in rows[1]
    assert rows[2][:2] == ["bob@example.org", "'quoted"]
    with tempfile.TemporaryDirectory() as folder:
        target = open_store(Path(folder) / "copy.db", create=True)
        path = Path(folder) / "export.csv"
        path.write_text(text, encoding="utf-8")
        import_csv(target, path, create_list(target, "news"), strict=True)
        assert people(target) == people(store)
        target.close()


def test_a_pending_double_optin_stays_pending_through_export_and_import(store: Store) -> None:
    careful = create_list(store, "careful", double_optin=True)
    for email, confirmed in (("ann@example.org", False), ("bob@example.org", True)):
        membership.add(
            store,
            careful,
            normalize_address(email),
            consent=Consent(method="web"),
            confirmed=confirmed,
        )
    text = export_text(store, list_id=careful.id)
    assert [(r["email"], r["status"]) for r in csv.DictReader(io.StringIO(text))] == [
        ("ann@example.org", "unconfirmed"),
        ("bob@example.org", "active"),
    ]
    with tempfile.TemporaryDirectory() as folder:
        target = open_store(Path(folder) / "copy.db", create=True)
        path = Path(folder) / "export.csv"
        path.write_text(text, encoding="utf-8")
        plain = create_list(target, "plain")
        report = import_csv(target, path, plain, strict=True)
        assert (report.added, report.suppressed) == (2, 0)
        memberships = {
            r["email"]: r["status"]
            for r in target.all(
                "SELECT p.email, s.status FROM subscriptions s "
                "JOIN subscribers p ON p.id = s.subscriber_id"
            )
        }
        assert memberships == {"ann@example.org": "unconfirmed", "bob@example.org": "confirmed"}
        again = import_csv(target, path, plain)
        assert (again.added, again.already_subscribed) == (0, 2)
        target.close()
