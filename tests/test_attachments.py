"""Attachments and images: what a message carries, how it reads back, what the check says."""

from __future__ import annotations

import io
import json
import re
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailer.config import Config, LettersConfig, WebConfig
from mailer.errors import InputError
from mailer.letters.compile import sample_recipient
from mailer.letters.editions import CompiledEditions, load_editions
from mailer.letters.files import LetterFile, file_type
from mailer.store.models import MailingList, Recipient
from mailer.tokens import Signer
from tests.conftest import SECRET, Invoke
from tests.messages import all_defects, parse
from tests.sample_files import pdf, png
from tests.web_helpers import read_outbox

RESOLUTION = "Resolución final.pdf"
CONFIG = Config(web=WebConfig(base_url="https://lists.example.org"))
PUBLIC = MailingList(1, "members", "Members", "", False, True, "")
LETTER = """---
subject: The assembly's resolution
attachments: [Resolución final.pdf]
---

Dear {{ subscriber.name or "member" }},

![Our logo](logo.png)

Read [the resolution](<Resolución final.pdf>) before Friday.
"""


def write_letter(folder: Path, text: str = LETTER, name: str = "letter.md") -> Path:
    (folder / RESOLUTION).write_bytes(pdf())
    (folder / "logo.png").write_bytes(png())
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def compiled(path: Path, lists: tuple[MailingList, ...] = (), config: Config = CONFIG,
             campaign_id: int | None = None) -> CompiledEditions:
    return CompiledEditions(
        load_editions(path), config=config, lists=lists, signer=Signer("s"),
        campaign_id=campaign_id,
    )


def attachment_of(message: EmailMessage) -> EmailMessage:
    (found,) = [
        part for part in message.iter_attachments()
        if part.get_content_disposition() == "attachment"
    ]
    assert isinstance(found, EmailMessage)
    return found


# --- the message --------------------------------------------------------------------------


def test_a_message_with_an_attachment_and_an_image_parses_back_without_defects(
    tmp_path: Path,
) -> None:
    path = write_letter(tmp_path)
    message = parse(compiled(path).build(sample_recipient(load_editions(path).original)).data)
    assert all_defects(message) == []
    shape = [part.get_content_type() for part in message.walk()]
    assert shape == [
        "multipart/mixed", "multipart/alternative", "text/plain", "multipart/related",
        "text/html", "image/png", "application/pdf",
    ]
    attachment = attachment_of(message)
    assert attachment.get_filename() == RESOLUTION
    assert attachment.get_content() == pdf()
    assert attachment["Content-Transfer-Encoding"] == "base64"
    # Readers without RFC 2231 find a plain ASCII name in the Content-Type.
    assert attachment.get_param("name") == "Resolucion final.pdf"


def test_the_image_s_cid_in_the_html_names_a_related_part(tmp_path: Path) -> None:
    path = write_letter(tmp_path)
    message = parse(compiled(path).build(sample_recipient(load_editions(path).original)).data)
    html_part = message.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    (cid,) = re.findall(r'<img src="cid:([^"]+)"', html)
    related = [p for p in message.walk() if p.get_content_type() == "multipart/related"]
    (image,) = [p for p in related[0].iter_parts() if p["Content-ID"] == f"<{cid}>"]
    assert image.get_content_disposition() == "inline"
    assert image.get_content() == png()
    assert 'alt="Our logo"' in html


def test_the_text_part_reads_the_image_as_its_alt_text_and_keeps_the_link_s_words(
    tmp_path: Path,
) -> None:
    path = write_letter(tmp_path)
    message = parse(compiled(path).build(sample_recipient(load_editions(path).original)).data)
    text_part = message.get_body(("plain",))
    assert text_part is not None
    text = text_part.get_content()
    assert "Our logo" in text
    assert "Read the resolution before Friday." in text
    assert "cid:" not in text and "logo.png" not in text
    html_part = message.get_body(("html",))
    assert html_part is not None
    # No archive copy to point at (no campaign): the words stay, not as a dead link.
    assert re.search(r"<span[^>]*>the resolution</span>", html_part.get_content())


@pytest.mark.parametrize(
    "name",
    ["report.pdf", "Informe de la asamblea — versión definitiva.pdf", "Резолюция " * 12 + ".pdf",
     'quote " and back\\slash.pdf'],
)
def test_file_names_round_trip_and_header_lines_stay_short(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(pdf())
    path = tmp_path / "letter.md"
    path.write_text(f"---\nsubject: Names\nattachments: ['{name}']\n---\n\nHello.\n",
                    encoding="utf-8")
    data = compiled(path).build(Recipient("ann@example.org")).data
    message = parse(data)
    assert all_defects(message) == []
    assert attachment_of(message).get_filename() == name
    head = data.split(b"\r\n\r\n--=_m", 1)[0]
    assert max(len(line) for line in data.split(b"\r\n") if not line.startswith(b"<")) <= 998
    assert all(len(line) <= 78 for line in head.split(b"\r\n") if b"filename" in line)


def test_the_files_are_encoded_once_and_every_message_refers_to_the_same_bytes(
    tmp_path: Path,
) -> None:
    path = write_letter(tmp_path)
    letter = compiled(path, (PUBLIC,))
    first = letter.build(Recipient("ann@example.org", list_id=1))
    second = letter.build(Recipient("bob@example.org", "Bob", list_id=1))
    shared = [part for part in first.parts if len(part) > 100 and part in second.parts]
    encoded = {id(part) for part in first.parts} & {id(part) for part in second.parts}
    pdf_part = letter.editions.files[RESOLUTION].encoded
    png_part = letter.editions.files["logo.png"].encoded
    assert {id(pdf_part), id(png_part)} <= encoded
    assert shared
    assert first.data != second.data
    assert first.files_size > len(pdf_part) + len(png_part)


def test_a_letter_without_files_is_built_as_before(tmp_path: Path) -> None:
    path = tmp_path / "plain.md"
    path.write_text("---\nsubject: Plain\n---\n\nSee [the site](https://example.org).\n",
                    encoding="utf-8")
    message = compiled(path).build(Recipient("ann@example.org"))
    assert message.files_size == 0
    assert parse(message.data).get_content_type() == "multipart/alternative"


def test_a_translation_may_attach_its_own_files(tmp_path: Path) -> None:
    (tmp_path / "informe.pdf").write_bytes(pdf("Informe"))
    (tmp_path / "report.pdf").write_bytes(pdf("Report"))
    (tmp_path / "news.md").write_text(
        "---\nsubject: News\nlanguage: en\nattachments: report.pdf\n---\n\nHello.\n",
        encoding="utf-8",
    )
    (tmp_path / "news.es.md").write_text(
        "---\nsubject: Noticias\nattachments: [informe.pdf]\n---\n\nHola.\n", encoding="utf-8"
    )
    letter = compiled(tmp_path / "news.md")
    for language, name, content in (("en", "report.pdf", pdf("Report")),
                                    ("es", "informe.pdf", pdf("Informe"))):
        message = parse(letter.build(Recipient("ann@example.org", language=language)).data)
        attachment = attachment_of(message)
        assert (attachment.get_filename(), attachment.get_content()) == (name, content)


# --- types ----------------------------------------------------------------------------------


def office(folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr(f"{folder}main.xml", "<x/>")
    return buffer.getvalue()


def odf(kind: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", kind)
        archive.writestr("content.xml", "<x/>")
    return buffer.getvalue()


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.parametrize(
    ("name", "content", "sent_as", "disagrees"),
    [
        ("a.pdf", pdf(), "application/pdf", False),
        ("a.png", png(), "image/png", False),
        ("a.jpg", b"\xff\xd8\xff\xe0\0\x10JFIF", "image/jpeg", False),
        ("a.gif", b"GIF89a\x01\0\x01\0", "image/gif", False),
        ("a.webp", b"RIFF\x10\0\0\0WEBPVP8 ", "image/webp", False),
        ("a.docx", office("word/"), DOCX, False),
        ("a.zip", office("word/"), "application/zip", False),
        ("a.odt", odf("application/vnd.oasis.opendocument.text"),
         "application/vnd.oasis.opendocument.text", False),
        ("a.csv", "name;ciudad\nAna;León\n".encode(), "text/csv", False),
        ("notes", b"plain words", "text/plain", False),
        ("a.jpg", png(), "image/png", True),
        ("a.docx", office("xl/"), XLSX, True),
        ("a.pdf", b"not a pdf at all", "text/plain", True),
        ("a.png", b"\0\1\2\3", "application/octet-stream", True),
        ("a.txt", pdf(), "application/pdf", True),
    ],
)
def test_the_content_decides_the_type_and_a_disagreeing_name_is_noted(
    name: str, content: bytes, sent_as: str, disagrees: bool
) -> None:
    found, note = file_type(name, content)
    assert found == sent_as
    assert bool(note) == disagrees


def test_text_attachments_say_their_charset() -> None:
    assert LetterFile.of("a.csv", "León".encode()).part().content_type == (
        'text/csv; charset="utf-8"'
    )
    assert LetterFile.of("a.csv", "León".encode("latin-1")).part().content_type == "text/csv"


# --- errors and the check -------------------------------------------------------------------


def check(invoke: Invoke, path: Path, *args: str) -> tuple[int, str]:
    result = invoke("letters", "check", str(path), *args)
    return result.exit_code, result.output


def test_a_missing_local_file_fails_the_check_naming_the_letter_and_line(
    tmp_path: Path, invoke: Invoke
) -> None:
    path = write_letter(tmp_path)
    (tmp_path / "logo.png").unlink()
    code, output = check(invoke, path)
    assert code == 1
    assert f"{path}:8: image 'logo.png' not found" in output
    write_letter(tmp_path)
    (tmp_path / RESOLUTION).unlink()
    code, output = check(invoke, path)
    assert code == 1
    assert f"{path}:3: attachment {RESOLUTION!r} not found" in output


def test_a_link_to_a_local_file_that_is_not_attached_is_an_error(
    tmp_path: Path, invoke: Invoke
) -> None:
    path = write_letter(tmp_path, LETTER.replace("attachments: [Resolución final.pdf]\n", ""))
    code, output = check(invoke, path)
    assert code == 1
    assert f"{path}:9: the link to {RESOLUTION!r} points at a local file that is not attached" in (
        output
    )


def test_an_image_that_is_no_image_is_an_error(tmp_path: Path) -> None:
    path = write_letter(tmp_path, LETTER.replace("(logo.png)", "(<Resolución final.pdf>)"))
    with pytest.raises(InputError, match="is application/pdf, not an image") as caught:
        load_editions(path)
    assert (caught.value.path, caught.value.line) == (str(path), 8)


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("attachments: 12", "attachments: must be a file name or a list of file names"),
        ("attachments: [a.pdf, [b]]", "attachments: must be a file name or a list"),
        ("images: maybe", "images: must be embed or link"),
    ],
)
def test_the_front_matter_s_file_keys_are_checked(
    tmp_path: Path, front: str, message: str
) -> None:
    path = tmp_path / "letter.md"
    path.write_text(f"---\nsubject: Files\n{front}\n---\n\nHello.\n", encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(message)) as caught:
        load_editions(path)
    assert caught.value.line == 3


def test_an_address_is_no_attachment(tmp_path: Path) -> None:
    path = tmp_path / "letter.md"
    path.write_text("---\nsubject: Files\nattachments:\n  - https://example.org/a.pdf\n---\n\nHi.\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match="is an address, not a file") as caught:
        load_editions(path)
    assert caught.value.line == 4


def test_the_check_reports_each_file_s_size_and_the_total(tmp_path: Path, invoke: Invoke) -> None:
    path = write_letter(tmp_path)
    code, output = check(invoke, path)
    assert code == 0, output
    assert f"attached {RESOLUTION}: {len(pdf())} bytes (application/pdf)" in output
    assert f"embedded logo.png: {len(png())} bytes (image/png)" in output
    assert f"files in each message: {len(pdf()) + len(png())} bytes" in output
    report = json.loads(invoke("letters", "check", str(path), "--json").stdout)
    assert report["files_size"] == len(pdf()) + len(png())
    assert {f["name"]: f["how"] for f in report["files"]} == {
        RESOLUTION: "attached", "logo.png": "embedded"
    }


def test_files_over_the_warning_threshold_are_a_warning_suggesting_a_link(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_LETTERS_ATTACHMENTS_WARN_MB", "0.0001")  # about 100 bytes
    code, output = check(invoke, write_letter(tmp_path))
    assert code == 0, output
    assert "warning: each message carries" in output
    assert "attachments_warn_mb" in output and "link to them instead" in output


def test_files_over_the_limit_stop_the_check_and_the_send(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_LETTERS_ATTACHMENTS_WARN_MB", "0")
    monkeypatch.setenv("MAILER_LETTERS_ATTACHMENTS_MAX_MB", "0.0001")
    path = write_letter(tmp_path)
    assert invoke("lists", "create", "members").exit_code == 0
    assert invoke("subscribers", "add", "ana@example.org", "--list", "members").exit_code == 0
    code, output = check(invoke, path, "--list", "members")
    assert code == 1
    assert re.search(rf"error: {re.escape(str(path))}:3: attachments: each message would carry "
                     r".* over the limit of 0.0001 MB \(\[letters\] attachments_max_mb\)", output)
    assert "1 error(s)" in output
    sent = invoke("send", str(path), "--list", "members", "--yes")
    assert sent.exit_code == 1
    assert "attachments_max_mb" in sent.output
    assert json.loads(invoke("campaigns", "ls", "--json").stdout) == []


def test_the_limits_must_agree(tmp_path: Path) -> None:
    from mailer.config import load_config
    from mailer.errors import ConfigError

    with pytest.raises(ConfigError, match="attachments_warn_mb must not be above"):
        load_config(env={"MAILER_LETTERS_ATTACHMENTS_WARN_MB": "20"})
    assert load_config(env={}).letters == LettersConfig(10.0, 2.0)


# --- campaigns --------------------------------------------------------------------------------


def test_a_resume_sends_the_files_as_they_were_when_the_campaign_was_made(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    assert invoke("lists", "create", "members").exit_code == 0
    assert invoke("subscribers", "add", "ana@example.org", "--list", "members").exit_code == 0
    from mailer.dispatch.plan import create_campaign, plan_send
    from mailer.store import open_store
    from mailer.store.lists import get_list

    path = write_letter(tmp_path)
    with open_store(tmp_path / "mailer.db") as store:
        plan = plan_send(store, load_editions(path), [get_list(store, "members")], "")
        campaign = create_campaign(store, plan)
    (tmp_path / RESOLUTION).unlink()
    (tmp_path / "logo.png").write_bytes(png(rgb=(0, 0, 0)))  # changed since
    resumed = invoke("campaigns", "resume", str(campaign.id))
    assert resumed.exit_code == 0, resumed.output
    (message,) = read_outbox(tmp_path / "outbox")
    assert attachment_of(message).get_content() == pdf()
    (image,) = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert image.get_content() == png()


def test_images_link_points_at_the_archive_copy_in_a_campaign_to_a_public_list(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAILER_SECRET_KEY", SECRET)
    monkeypatch.setenv("MAILER_WEB_BASE_URL", "https://lists.example.org")
    assert invoke("lists", "create", "members", "--public", "--no-double-optin").exit_code == 0
    assert invoke("lists", "create", "board").exit_code == 0
    assert invoke("subscribers", "add", "ana@example.org", "--list", "members").exit_code == 0
    assert invoke("subscribers", "add", "bo@example.org", "--list", "board").exit_code == 0
    path = write_letter(tmp_path, LETTER.replace("---\n\n", "images: link\n---\n\n", 1))
    code, output = check(invoke, path, "--list", "board")
    assert code == 0, output
    assert "list board is not public" in output and "images embedded" in output
    for name in ("members", "board"):
        assert invoke("send", str(path), "--list", name, "--yes").exit_code == 0
    public, private = read_outbox(tmp_path / "outbox")
    if public["To"] != "ana@example.org":
        public, private = private, public
    files = "https://lists.example.org/archive/1/files"
    html_part = public.get_body(("html",))
    assert html_part is not None
    html = html_part.get_content()
    assert f'<img src="{files}/logo.png"' in html
    assert f'href="{files}/Resoluci%C3%B3n%20final.pdf"' in html
    assert [p for p in public.walk() if p.get_content_maintype() == "image"] == []
    text_part = public.get_body(("plain",))
    assert text_part is not None
    assert f"{files}/Resoluci%C3%B3n%20final.pdf" in text_part.get_content()
    # The private list's letter is not in the archive: its image travels with it.
    assert "image/png" in [p.get_content_type() for p in private.walk()]


def test_letters_render_html_shows_the_images_inline(tmp_path: Path, invoke: Invoke) -> None:
    path = write_letter(tmp_path)
    result = invoke("letters", "render", str(path), "--format", "html")
    assert result.exit_code == 0, result.output
    assert "data:image/png;base64," in result.stdout
    assert "cid:" not in result.stdout


def test_without_a_database_images_link_is_no_cause_for_a_warning(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mailer.cli import cli

    front = "list: members\nimages: link\n---\n\n"
    path = write_letter(tmp_path, LETTER.replace("---\n\n", front, 1))
    no_database = str(tmp_path / "none.db")
    result = CliRunner().invoke(cli, ["--db", no_database, "letters", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "embedded logo.png" in result.output  # a preview carries the image
    assert "not public" not in result.output
