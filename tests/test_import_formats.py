"""Importing what people have: other encodings, other programs' exports, other languages'
column names, columns named on the command line, and a language column."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from mailer.contacts.importer import import_csv
from mailer.errors import InputError, UndecodableText
from mailer.store import Store
from mailer.store.lists import create_list
from mailer.store.models import MailingList
from mailer.store.subscribers import find_subscriber
from tests.conftest import Invoke


def dump(path: Path) -> list[Any]:
    """Every row of every table: what a failed import must leave as it was."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables]
    finally:
        conn.close()


def write_bytes(folder: Path, data: bytes, name: str = "contacts.csv") -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def write(folder: Path, text: str, name: str = "contacts.csv") -> Path:
    return write_bytes(folder, text.encode("utf-8"), name)


def names(store: Store) -> dict[str, str]:
    return {r["email"]: r["name"] for r in store.all("SELECT email, name FROM subscribers")}


def show(invoke: Invoke, email: str) -> dict[str, Any]:
    result = invoke("subscribers", "show", email, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


@pytest.fixture
def news(store: Store) -> MailingList:
    return create_list(store, "news")


# Encodings.

#: Excel's "CSV (semicolon-delimited)" on a German or Spanish Windows: cp1252, no BOM, CRLF.
EXCEL_CP1252 = (
    b"Vorname;Nachname;E-Mail;Stadt\r\n"
    b"J\xfcrgen;M\xfcller;juergen.mueller@example.org;K\xf6ln\r\n"
    b"Mar\xeda;N\xfa\xf1ez;maria.nunez@example.org;Le\xf3n\r\n"
    b"Fran\xe7ois;Lef\xe8vre;francois@example.org;Orl\xe9ans\r\n"
)


def test_a_cp1252_file_is_refused_naming_the_line_and_suggesting_the_encoding(
    invoke: Invoke, db_path: Path, tmp_path: Path
) -> None:
    invoke("lists", "create", "news")
    before = dump(db_path)
    path = write_bytes(tmp_path, EXCEL_CP1252)
    result = invoke("subscribers", "import", str(path), "--list", "news")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: {path}:2: not UTF-8 text (byte 0xFC); "
        "save the file as UTF-8 or pass --encoding cp1252"
    )
    assert dump(db_path) == before


def test_a_cp1252_excel_file_imports_with_its_names_given_the_encoding(
    invoke: Invoke, store: Store, tmp_path: Path
) -> None:
    invoke("lists", "create", "news")
    path = write_bytes(tmp_path, EXCEL_CP1252)
    result = invoke(
        "subscribers", "import", str(path), "--list", "news", "--encoding", "cp1252", "--json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["added"], report["invalid"], report["encoding"]) == (3, 0, "cp1252")
    assert names(store) == {
        "juergen.mueller@example.org": "Jürgen Müller",
        "maria.nunez@example.org": "María Núñez",
        "francois@example.org": "François Lefèvre",
    }
    jurgen = find_subscriber(store, "juergen.mueller@example.org")
    assert jurgen is not None and jurgen.attributes == {"Stadt": "Köln"}


def test_a_byte_the_named_encoding_cannot_decode_is_an_error_with_its_line(
    store: Store, news: MailingList, db_path: Path, tmp_path: Path
) -> None:
    # 0x81 is one of the five bytes cp1252 leaves undefined.
    data = b"email,name\na@example.org,Ann\r\nb@example.org,B\x81b\r\n"
    before = dump(db_path)
    with pytest.raises(UndecodableText) as caught:
        import_csv(store, write_bytes(tmp_path, data), news, encoding="cp1252")
    assert (caught.value.line, caught.value.byte, caught.value.encoding) == (3, "0x81", "cp1252")
    assert "not cp1252 text (byte 0x81)" in str(caught.value)
    assert dump(db_path) == before


def test_latin_1_is_read_as_named(store: Store, news: MailingList, tmp_path: Path) -> None:
    path = write_bytes(tmp_path, "email,name\nze@example.org,José Conceição\n".encode("latin-1"))
    report = import_csv(store, path, news, encoding="latin-1")
    assert report.added == 1 and names(store) == {"ze@example.org": "José Conceição"}


#: Excel's "Unicode text": UTF-16 with a byte-order mark, tab-delimited.
UTF16_TEXT = "E-mail\tNome\tSobrenome\nleticia@example.org\tLetícia\tAraújo\n"


def test_a_utf16_file_with_a_bom_is_read_with_encoding_utf16(
    invoke: Invoke, store: Store, tmp_path: Path
) -> None:
    invoke("lists", "create", "news")
    path = write_bytes(tmp_path, UTF16_TEXT.encode("utf-16"))
    refused = invoke("subscribers", "import", str(path), "--list", "news")
    assert refused.exit_code == 1 and "pass --encoding utf-16" in refused.output
    result = invoke("subscribers", "import", str(path), "--list", "news", "--encoding", "utf-16")
    assert result.exit_code == 0, result.output
    assert names(store) == {"leticia@example.org": "Letícia Araújo"}


def test_a_utf16_file_counts_its_lines_in_characters_not_bytes(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    data = ("email\nok@example.org\n".encode("utf-16-le") + b"\x00\xd8"  # a lone surrogate
            + "\n".encode("utf-16-le"))
    with pytest.raises(UndecodableText) as caught:
        import_csv(store, write_bytes(tmp_path, data), news, encoding="utf-16-le")
    assert caught.value.line == 3


def test_a_utf8_file_with_its_bom_is_not_read_as_another_encoding(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    path = write_bytes(tmp_path, "\ufeffemail\na@example.org\n".encode())
    with pytest.raises(InputError, match=r"UTF-8 byte-order mark.*without --encoding"):
        import_csv(store, path, news, encoding="cp1252")
    assert import_csv(store, path, news, encoding="utf-8").added == 1


@pytest.mark.parametrize("name", ["klingon", "base64"])
def test_an_unknown_encoding_is_a_usage_error(invoke: Invoke, tmp_path: Path, name: str) -> None:
    invoke("lists", "create", "news")
    path = write(tmp_path, "email\na@example.org\n")
    result = invoke("subscribers", "import", str(path), "--list", "news", "--encoding", name)
    assert result.exit_code == 2
    assert f"--encoding '{name}': not a text encoding" in result.output


# Other programs' exports.

GOOGLE = (
    "First Name,Middle Name,Last Name,Phonetic First Name,Nickname,File As,Labels,"
    "E-mail 1 - Label,E-mail 1 - Value,E-mail 2 - Label,E-mail 2 - Value,"
    "Phone 1 - Label,Phone 1 - Value\n"
    "Ana,María,Quispe,,Anita,,* myContacts,* Home,ana.quispe@example.org,* Work,"
    "aquispe@example.net,Mobile,+51 987 654 321\n"
    "Tomás,,Núñez,,,,* myContacts,* Other,tomas@example.org,,,,\n"
    ",,,,,,* myContacts,* Other,a@example.org ::: b@example.org,,,,\n"
)


def test_a_google_contacts_export_imports_with_names_and_its_other_columns_as_attributes(
    invoke: Invoke, store: Store, tmp_path: Path
) -> None:
    invoke("lists", "create", "news")
    result = invoke("subscribers", "import", str(write(tmp_path, GOOGLE)), "--list", "news")
    assert result.exit_code == 0, result.output
    assert "read as a Google Contacts export" in result.output
    assert "line 4: a@example.org ::: b@example.org: the cell holds several addresses" in (
        result.output
    )
    assert names(store) == {
        "ana.quispe@example.org": "Ana María Quispe",
        "tomas@example.org": "Tomás Núñez",
    }
    ana = show(invoke, "ana.quispe@example.org")
    assert ana["attributes"] == {
        "Nickname": "Anita",
        "Labels": "* myContacts",
        "E-mail 1 - Label": "* Home",
        "E-mail 2 - Label": "* Work",
        "E-mail 2 - Value": "aquispe@example.net",
        "Phone 1 - Label": "Mobile",
        "Phone 1 - Value": "+51 987 654 321",
    }
    [subscription] = ana["subscriptions"]
    assert subscription["consent"]["method"] == "import"
    assert subscription["consent"]["detail"] == {"line": 2, "export": "google"}


def test_the_older_google_export_takes_its_full_name_column(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    text = (
        "Name,Given Name,Additional Name,Family Name,Language,E-mail 1 - Type,E-mail 1 - Value\n"
        "Rosa Elena Mamani,Rosa,Elena,Mamani,,* Home,rosa@example.org\n"
    )
    report = import_csv(store, write(tmp_path, text), news)
    assert (report.added, report.export) == (1, "google")
    rosa = find_subscriber(store, "rosa@example.org")
    assert rosa is not None and rosa.name == "Rosa Elena Mamani"
    assert rosa.attributes == {
        "Given Name": "Rosa", "Additional Name": "Elena", "Family Name": "Mamani",
        "E-mail 1 - Type": "* Home",
    }


def test_an_outlook_export_is_recognised(store: Store, news: MailingList, tmp_path: Path) -> None:
    text = (
        "First Name,Middle Name,Last Name,Title,E-mail Address,E-mail 2 Address,"
        "E-mail Display Name,Business Phone\n"
        "Jean,,Dupont,M.,jean.dupont@example.fr,,Jean Dupont (jean.dupont@example.fr),"
        "+33 1 23 45 67 89\n"
    )
    report = import_csv(store, write(tmp_path, text), news)
    assert (report.added, report.export) == (1, "outlook")
    jean = find_subscriber(store, "jean.dupont@example.fr")
    assert jean is not None and jean.name == "Jean Dupont"
    assert jean.attributes["Business Phone"] == "+33 1 23 45 67 89"


MAILCHIMP_HEADER = (
    '"Email Address","First Name","Last Name",MEMBER_RATING,OPTIN_TIME,OPTIN_IP,'
    "CONFIRM_TIME,CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,"
    "LAST_CHANGED,LEID,EUID,NOTES,TAGS\n"
)


def test_a_mailchimp_export_brings_its_consent_time_and_evidence(
    invoke: Invoke, tmp_path: Path
) -> None:
    text = MAILCHIMP_HEADER + (
        "ines@example.org,Inês,Sousa,4,\"2021-03-04 10:11:12\",198.51.100.7,"
        "\"2021-03-04 10:15:00\",198.51.100.7,,,,,,PT,,\"2022-01-01 00:00:00\",123,abc,,\n"
        "otto@example.org,Otto,Krause,2,\"2019-11-30 23:59:59\",,,,,,,,,DE,,,124,abd,,\n"
        "pia@example.org,Pia,Berg,2,,,,,,,,,,,,,125,abe,,\n"
        "bad@example.org,Bad,Time,2,30/11/2019,,,,,,,,,,,,126,abf,,\n"
    )
    invoke("lists", "create", "news")
    path = write(tmp_path, text, "subscribed_members_export_1a2b3c.csv")
    result = invoke("subscribers", "import", str(path), "--list", "news", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["added"], report["invalid"], report["export"]) == (3, 1, "mailchimp")
    assert report["invalid_rows"][0]["reason"] == (
        "OPTIN_TIME '30/11/2019' is not a time written YYYY-MM-DD HH:MM:SS"
    )
    ines = show(invoke, "ines@example.org")
    [subscription] = ines["subscriptions"]
    assert subscription["consent"]["at"] == "2021-03-04T10:15:00Z"  # confirmed then
    assert subscription["consent"]["method"] == "import"
    assert subscription["consent"]["source"] == "subscribed_members_export_1a2b3c.csv"
    assert subscription["consent"]["detail"] == {
        "line": 2,
        "export": "mailchimp",
        "optin_time": "2021-03-04 10:11:12",
        "optin_ip": "198.51.100.7",
        "confirm_time": "2021-03-04 10:15:00",
        "confirm_ip": "198.51.100.7",
    }
    assert ines["name"] == "Inês Sousa"
    assert ines["attributes"] == {
        "MEMBER_RATING": "4", "CC": "PT", "LAST_CHANGED": "2022-01-01 00:00:00",
        "LEID": "123", "EUID": "abc",
    }
    [otto] = show(invoke, "otto@example.org")["subscriptions"]
    assert otto["consent"]["at"] == "2019-11-30T23:59:59Z"  # opted in, no confirmation
    [pia] = show(invoke, "pia@example.org")["subscriptions"]
    assert pia["consent"]["at"] != ""  # no time in the file: the time of the import
    assert pia["consent"]["detail"] == {"line": 4, "export": "mailchimp"}


def test_mailchimp_exports_of_unsubscribed_and_cleaned_members_subscribe_nobody(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    unsubscribed = (
        '"Email Address","First Name",OPTIN_TIME,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,UNSUB_REASON\n'
        'left@example.org,Lea,"2020-01-01 00:00:00","2023-05-06 07:08:09",Spring,"No longer"\n'
    )
    cleaned = (
        '"Email Address",OPTIN_TIME,CLEAN_TIME,CLEAN_CAMPAIGN_TITLE\n'
        'dead@example.org,"2020-01-01 00:00:00","2023-05-06 07:08:09",Spring\n'
    )
    for text, email, status in (
        (unsubscribed, "left@example.org", "unsubscribed"),
        (cleaned, "dead@example.org", "bounced"),
    ):
        report = import_csv(store, write(tmp_path, text), news)
        assert (report.added, report.suppressed, report.created) == (0, 1, 1)
        person = find_subscriber(store, email)
        assert person is not None and person.status == status
    assert store.one("SELECT count(*) FROM subscriptions")[0] == 0


# Column names in several languages.


@pytest.mark.parametrize(
    ("header", "row", "name"),
    [
        ("Vorname;Nachname;E-Mail-Adresse", "Jürgen;Müller;{email}", "Jürgen Müller"),
        ("Vorname;Name;E-Mail", "Jürgen;Müller;{email}", "Jürgen Müller"),
        ("Nombre,Apellidos,Correo electrónico", "María,Núñez Soto,{email}", "María Núñez Soto"),
        ("Nombre,Apellido(s),Correo", "María,Núñez,{email}", "María Núñez"),
        ("Nombre completo,Correo", "María Núñez,{email}", "María Núñez"),
        ("Nombre,Correo", "María Núñez,{email}", "María Núñez"),
        ("PRÉNOM;NOM;COURRIEL", "François;Lefèvre;{email}", "François Lefèvre"),
        ("Prenom;Nom de famille;Adresse e-mail", "François;Lefèvre;{email}", "François Lefèvre"),
        ("Nom complet;Adresse électronique", "François Lefèvre;{email}", "François Lefèvre"),
        ("Nome,Sobrenome,E-mail", "João,Conceição,{email}", "João Conceição"),
        ("Nome,Apelido,Endereço de e-mail", "João,Conceição,{email}", "João Conceição"),
        ("Nome completo,Email", "João Conceição,{email}", "João Conceição"),
    ],
)
def test_name_and_email_columns_in_other_languages(
    store: Store, news: MailingList, tmp_path: Path, header: str, row: str, name: str
) -> None:
    text = f"{header}\n{row.format(email='p@example.org')}\n"
    report = import_csv(store, write(tmp_path, text), news)
    assert (report.added, report.invalid) == (1, 0)
    person = find_subscriber(store, "p@example.org")
    assert person is not None and person.name == name and person.attributes == {}


# Columns named on the command line.

ODD = (
    "Persona;Correo principal;Correo alternativo;Email\n"
    "Ana Lima;ana@example.org;al@example.net;x\n"
)


def test_email_and_name_columns_named_on_the_command_line(
    invoke: Invoke, store: Store, tmp_path: Path
) -> None:
    invoke("lists", "create", "news")
    path = write(tmp_path, ODD)
    result = invoke(
        "subscribers", "import", str(path), "--list", "news",
        "--email-column", "correo PRINCIPAL", "--name-column", "persona",
    )
    assert result.exit_code == 0, result.output
    ana = find_subscriber(store, "ana@example.org")
    assert ana is not None and ana.name == "Ana Lima"
    # The column the names would have made the email column is an attribute now.
    assert ana.attributes == {"Correo alternativo": "al@example.net", "Email": "x"}


def test_a_column_the_header_does_not_have_is_a_usage_error_listing_those_it_has(
    invoke: Invoke, db_path: Path, tmp_path: Path
) -> None:
    invoke("lists", "create", "news")
    before = dump(db_path)
    path = write(tmp_path, ODD)
    result = invoke(
        "subscribers", "import", str(path), "--list", "news", "--email-column", "Mail"
    )
    assert result.exit_code == 2
    assert result.output.startswith(
        f"Error: --email-column 'Mail': {path} has no such column (its columns: 'Persona', "
        "'Correo principal', 'Correo alternativo', 'Email')"
    )
    assert len(result.output.strip().splitlines()) == 1
    assert dump(db_path) == before


def test_an_unrecognised_header_says_how_to_name_the_email_column(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match=r"no email column.*--email-column"):
        import_csv(store, write(tmp_path, "Persona;Dirección\nAna;ana@example.org\n"), news)
    report = import_csv(
        store, write(tmp_path, "Persona;Dirección\nAna;ana@example.org\n"), news,
        email_column="Dirección", name_column="Persona",
    )
    assert report.added == 1 and names(store) == {"ana@example.org": "Ana"}


# The language column.


def test_a_language_column_sets_each_persons_language(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    text = (
        "email;idioma\n"
        "ana@example.org;es\n"
        "joao@example.org;PT_br\n"
        "eve@example.org;spanish\n"
        "kim@example.org;\n"
    )
    report = import_csv(store, write(tmp_path, text), news)
    assert (report.added, report.invalid) == (3, 1)
    [invalid] = report.invalid_rows
    assert (invalid.line, invalid.email) == (4, "eve@example.org")
    assert invalid.reason == (
        "'spanish' is not a language tag (write it as e.g. en, es, pt-BR, zh-Hant)"
    )
    languages = {r[0]: r[1] for r in store.all("SELECT email, language FROM subscribers")}
    assert languages == {
        "ana@example.org": "es", "joao@example.org": "pt-BR", "kim@example.org": ""
    }


@pytest.mark.parametrize("title", ["Language", "lang", "Locale", "Sprache", "Langue", "Língua"])
def test_language_column_names(
    store: Store, news: MailingList, tmp_path: Path, title: str
) -> None:
    import_csv(store, write(tmp_path, f"email,{title}\nana@example.org,de-AT\n"), news)
    ana = find_subscriber(store, "ana@example.org")
    assert ana is not None and ana.language == "de-AT" and ana.attributes == {}


def test_a_known_subscribers_language_changes_only_with_update(
    store: Store, news: MailingList, tmp_path: Path
) -> None:
    import_csv(store, write(tmp_path, "email,language\nana@example.org,es\n", "first.csv"), news)
    path = write(tmp_path, "email,language\nana@example.org,pt\nbob@example.org,\n")
    kept = import_csv(store, path, news)
    assert (kept.already_subscribed, kept.added, kept.updated) == (1, 1, 0)
    ana = find_subscriber(store, "ana@example.org")
    assert ana is not None and ana.language == "es"
    updated = import_csv(store, path, news, update=True)
    assert (updated.updated, updated.already_subscribed) == (1, 1)
    ana = find_subscriber(store, "ana@example.org")
    assert ana is not None and ana.language == "pt"
    kinds = [r[0] for r in store.all("SELECT kind FROM events WHERE subscriber_id = ?", (ana.id,))]
    assert kinds == ["updated"]
    # An empty cell says nothing: it does not erase a language.
    again = import_csv(store, write(tmp_path, "email,language\nana@example.org,\n"), news,
                       update=True)
    assert again.already_subscribed == 1
    ana = find_subscriber(store, "ana@example.org")
    assert ana is not None and ana.language == "pt"
