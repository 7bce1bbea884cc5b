"""The assembled message: headers, encodings, and that nothing can forge a header."""

from __future__ import annotations

import email
import email.errors
import email.policy
import re
from email.header import decode_header, make_header
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mailer.cli import cli
from mailer.config import BouncesConfig, Config, SenderConfig, WebConfig
from mailer.errors import ConfigError, HeaderInjectionError, InputError
from mailer.letters.compile import CompiledLetter, compile_letter
from mailer.letters.mime import clean_display_name, encode_phrase, encode_unstructured
from mailer.letters.source import parse_letter
from mailer.store.models import MailingList, Recipient
from mailer.tokens import UNSUBSCRIBE, Signer
from tests.messages import all_defects, parse

SIGNER = Signer("test-secret")
MEMBERS = MailingList(3, "members", "Members of the Union", "", False, True, "")  # public
CONFIG = Config(
    sender=SenderConfig(
        from_address="Strike Office <office@union.example>",
        reply_to="Coordinator <coord@union.example>",
        organization="Regional Union",
        contact_address="contact@union.example",
        feedback_id="union",
    ),
    web=WebConfig(base_url="https://news.union.example", secret_key="test-secret"),
    bounces=BouncesConfig(unsubscribe_address="leave@union.example"),
)
BODY = """Dear {{ subscriber.name or "member" }},

your branch: {{ subscriber.attributes.city }}. Read [the call](https://union.example/call).
"""


def letter_text(subject: str, body: str = BODY, **meta: Any) -> str:
    front = yaml.safe_dump({"subject": subject, **meta}, allow_unicode=True)
    return f"---\n{front}---\n\n{body}"


def compiled(subject: str = "Strike news", body: str = BODY, **meta: Any) -> CompiledLetter:
    letter = parse_letter(letter_text(subject, body, **meta), Path("letter.md"))
    return compile_letter(
        letter, config=CONFIG, mailing_list=MEMBERS, signer=SIGNER, campaign_id=42
    )


def header_lines(data: bytes) -> list[bytes]:
    head = data.split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\n")


def display_name(data: bytes) -> str:
    """The To display name as an RFC 2047 reader sees it.

    RFC 2047 says whitespace between two encoded words is ignored; Python's
    address parser keeps it as a space, so long encoded names are decoded
    here with ``email.header``, which follows the RFC.
    """
    raw = re.search(rb"^To: (.*?)\r\n(?! )", data, re.M | re.S)
    assert raw is not None
    value = re.sub(r"\r\n[ \t]", " ", raw[1].decode("utf-8"))
    if "<" not in value:
        return ""
    phrase = value.rsplit("<", 1)[0].strip()
    if phrase.startswith('"'):
        return re.sub(r"\\(.)", r"\1", phrase[1:-1])
    return str(make_header(decode_header(phrase)))


def body_text(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


RECIPIENT = Recipient("ana@example.org", "Ana Lima", {"city": "Hamburg"}, subscriber_id=7)


def test_message_has_every_header_a_bulk_sender_needs() -> None:
    message = compiled().build(RECIPIENT)
    parsed = parse(message.data)
    assert parsed["From"] == "Strike Office <office@union.example>"
    assert parsed["To"] == "Ana Lima <ana@example.org>"
    assert parsed["Reply-To"] == "Coordinator <coord@union.example>"
    assert parsed["Subject"] == "Strike news"
    assert parsed["Date"].datetime is not None
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["Message-ID"] == f"<{message.message_id}>"
    assert message.message_id.endswith("@union.example")
    assert parsed["List-Id"] == "Members of the Union <members.union.example>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Precedence"] == "bulk"
    assert parsed["Feedback-ID"] == "42:members:union"
    assert parsed["List-Archive"] == "<https://news.union.example/archive/42>"
    assert parsed.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in parsed.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    for part in parsed.iter_parts():
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.get_content_charset() == "utf-8"
    assert all_defects(parsed) == []
    assert message.recipient == "ana@example.org"
    assert message.smtputf8 is False


def test_list_unsubscribe_carries_a_verifiable_token_in_url_and_mailto() -> None:
    parsed = parse(compiled().build(RECIPIENT).data)
    url, mailto = re.findall(r"<([^>]+)>", str(parsed["List-Unsubscribe"]))
    assert url.startswith("https://news.union.example/u/")
    token = url.rsplit("/", 1)[1]
    claim = SIGNER.verify(token, UNSUBSCRIBE)
    assert claim.fields == ("7", "3", "42")
    assert mailto.startswith(f"mailto:leave+{token}@union.example")
    assert url in body_text(parsed, "plain")
    assert f'href="{url}"' in body_text(parsed, "html")


def test_mailto_falls_back_to_unsubscribe_at_the_sender_domain() -> None:
    letter = parse_letter(letter_text("Hi"), Path("l.md"))
    plain = compile_letter(letter, config=Config(), mailing_list=None, signer=SIGNER)
    parsed = parse(plain.build(RECIPIENT).data)
    assert "mailto:unsubscribe+" in str(parsed["List-Unsubscribe"])
    assert "@example.org" in str(parsed["List-Unsubscribe"])
    assert parsed["List-Id"] is None
    assert parsed["Feedback-ID"] is None


def test_message_ids_are_unique() -> None:
    first, second = compiled(), compiled()
    ids = {first.build(RECIPIENT).message_id for _ in range(50)}
    ids |= {second.build(RECIPIENT).message_id for _ in range(50)}
    assert len(ids) == 100


def test_no_header_line_is_longer_than_78_and_body_lines_fit_998() -> None:
    long_name = "Maximiliane Théodora von Überlänge-Schwanenburg " * 4
    subject = "Ein sehr langer Betreff über den Streik bei Nordhafen " * 3
    message = compiled(subject.strip()).build(Recipient("m@example.org", long_name, {"city": "x"}))
    for line in header_lines(message.data):
        # Only an unbreakable URL may run past 78 (RFC 5322 says should, not must).
        assert len(line) <= 78 or re.search(rb"<(https?|mailto):\S+>", line), line
    for line in message.data.split(b"\r\n"):
        assert len(line) <= 998
    parsed = parse(message.data)
    assert parsed["Subject"] == " ".join(subject.split())
    assert display_name(message.data) == clean_display_name(long_name)


def test_international_domain_is_sent_as_a_labels() -> None:
    message = compiled().build(Recipient("anna@bücher.example", "Anna", {"city": "x"}))
    assert message.recipient == "anna@xn--bcher-kva.example"
    assert message.smtputf8 is False
    assert parse(message.data)["To"].addresses[0].domain == "xn--bcher-kva.example"


def test_non_ascii_local_part_is_flagged_smtputf8() -> None:
    message = compiled().build(Recipient("jörg@example.org", "Jörg", {"city": "x"}))
    assert message.smtputf8 is True
    assert message.recipient == "jörg@example.org"
    parsed = email.message_from_string(message.data.decode(), policy=email.policy.SMTPUTF8)
    assert parsed["To"].addresses[0].addr_spec == "jörg@example.org"


# --- header injection -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["Ana\r\nBcc: victim@example.net", "Ana\nBcc: victim@example.net", "Ana\rX-Evil: 1"],
)
def test_line_breaks_in_a_name_are_folded_never_a_new_header(name: str) -> None:
    message = compiled().build(Recipient("ana@example.org", name, {"city": "x"}))
    parsed = parse(message.data)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert parsed["To"].addresses[0].display_name == clean_display_name(name)
    assert "\n" not in clean_display_name(name) and "\r" not in clean_display_name(name)
    assert all_defects(parsed) == []


@pytest.mark.parametrize(
    "address",
    ["ana@example.org\r\nBcc: victim@example.net", "ana@example.org\nX: 1", "a <b@example.org>"],
)
def test_an_address_that_could_forge_a_header_is_refused(address: str) -> None:
    with pytest.raises(HeaderInjectionError):
        compiled().build(Recipient(address, "Ana", {"city": "x"}))


def test_attributes_with_line_breaks_stay_in_the_body() -> None:
    recipient = Recipient("a@example.org", "A", {"city": "Kiel\r\nBcc: victim@example.net"})
    parsed = parse(compiled().build(recipient).data)
    assert parsed["Bcc"] is None
    assert "Kiel" in body_text(parsed, "plain")


@pytest.mark.parametrize("key", ["subject", "from", "reply_to"])
def test_line_breaks_in_front_matter_headers_are_refused_with_file_and_line(key: str) -> None:
    meta = {"subject": "Fine", "list": "members"}
    meta[key] = "Name <x@example.org>\nBcc: victim@example.net"
    text = "---\n" + yaml.safe_dump(meta) + "---\n\nBody\n"
    with pytest.raises(HeaderInjectionError) as raised:
        parse_letter(text, Path("bad.md"))
    assert raised.value.path == "bad.md"
    assert raised.value.line is not None and raised.value.line >= 2


def test_line_breaks_in_the_configured_sender_are_refused() -> None:
    letter = parse_letter(letter_text("Hi"), Path("l.md"))
    config = Config(sender=SenderConfig(from_address="A <a@example.org>\r\nBcc: v@example.net"))
    with pytest.raises(HeaderInjectionError):
        compile_letter(letter, config=config, mailing_list=None, signer=SIGNER)


def test_encoders_never_emit_a_bare_line_break() -> None:
    assert "\n" not in encode_phrase("x" * 200).replace("\r\n ", "")
    with pytest.raises(HeaderInjectionError):
        encode_unstructured("a\nb")


# --- round trip over arbitrary data -----------------------------------------------------

names = st.one_of(
    st.text(max_size=80),
    st.sampled_from(['O"Brien', "<script>", "a\r\nBcc: x@y.z", "=?utf-8?q?x?=", "  ", "Zoë"]),
)
values = st.text(max_size=60)
# A subject is a template (it may vary by reader): here only the text that is not one.
subjects = st.text(min_size=1, max_size=150).filter(
    lambda s: s.strip()
    and not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in s)
    and not any(mark in s for mark in ("{{", "{%", "{#"))
)
addresses = st.sampled_from(
    ["ana@example.org", "x.y+tag@sub.example.com", "anna@bücher.example", "o'neil@example.org"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names, city=values, extra=values, subject=subjects, address=addresses)
def test_every_message_parses_back_without_defects_and_with_the_rendered_text(
    name: str, city: str, extra: str, subject: str, address: str
) -> None:
    front = yaml.safe_dump({"subject": subject}, allow_unicode=True)
    try:
        reloaded = yaml.safe_load(front)["subject"]
    except yaml.YAMLError:
        reloaded = None
    assume(reloaded == subject)
    body = BODY + "\n> {{ subscriber.attributes.extra }} and {{ subscriber.email }}\n"
    letter = parse_letter(f"---\n{front}---\n\n{body}", Path("p.md"))
    letter_obj = compile_letter(letter, config=CONFIG, mailing_list=MEMBERS, signer=SIGNER)
    recipient = Recipient(address, name, {"city": city, "extra": extra}, subscriber_id=1)
    html, text = letter_obj.render(recipient)
    message = letter_obj.build(recipient)
    parsed = parse(message.data)
    assert all_defects(parsed) == []
    assert parsed["Subject"] == letter.subject
    to = parsed["To"].addresses[0]
    assert display_name(message.data) == clean_display_name(name)
    # The standard library's parser folds any whitespace (a no-break space too) away.
    assert "".join(to.display_name.split()) == "".join(clean_display_name(name).split())
    assert to.addr_spec == message.recipient
    assert body_text(parsed, "plain") == text
    assert body_text(parsed, "html") == html
    assert parsed["Bcc"] is None
    assert [k for k in parsed if k.lower() == "to"] == ["To"]
    for line in header_lines(message.data):
        assert re.match(rb"^([A-Za-z-]+: |[ \t])", line), line


def test_a_list_title_with_a_line_break_cannot_break_the_list_id_header() -> None:
    letter = parse_letter(letter_text("Hi"), Path("l.md"))
    odd = MailingList(4, "odd", "Odd\r\nBcc: victim@example.net", "", False, False, "")
    built = compile_letter(letter, config=CONFIG, mailing_list=odd, signer=SIGNER)
    parsed = parse(built.build(RECIPIENT).data)
    assert parsed["Bcc"] is None
    assert parsed["List-Id"] == '"Odd Bcc: victim@example.net" <odd.union.example>'
    assert all_defects(parsed) == []


def test_an_international_sender_domain_is_written_as_a_labels() -> None:
    letter = parse_letter(letter_text("Hi", **{"from": "Büro <post@bücher.example>"}), Path("l.md"))
    built = compile_letter(letter, config=CONFIG, mailing_list=MEMBERS, signer=SIGNER)
    message = built.build(RECIPIENT)
    parsed = parse(message.data)
    assert parsed["From"].addresses[0].domain == "xn--bcher-kva.example"
    assert parsed["List-Id"] == "Members of the Union <members.xn--bcher-kva.example>"
    assert message.message_id.endswith("@xn--bcher-kva.example")
    assert message.data.split(b"\r\n\r\n", 1)[0].isascii()


# --- values from the configuration and the letter that reach a header -------------------

STRICT = email.policy.default.clone(raise_on_defect=True)


def head_of(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


@pytest.mark.parametrize(
    "base_url",
    [
        "https://news.example.org\r\nBcc: victim@example.net",
        "https://news.example.org/a b",
        "https://nachrichten.bücher.example",
        "news.example.org",
        "ftp://news.example.org",
        "https://news.example.org/<x>",
    ],
)
def test_a_web_base_url_that_is_no_plain_url_is_refused(base_url: str) -> None:
    letter = parse_letter(letter_text("Hi"), Path("l.md"))
    config = Config(web=WebConfig(base_url=base_url))
    with pytest.raises(ConfigError, match=r"web\.base_url"):
        compile_letter(letter, config=config, mailing_list=None, signer=SIGNER)


def test_a_list_name_that_is_no_list_name_cannot_reach_the_list_id() -> None:
    letter = parse_letter(letter_text("Hi"), Path("l.md"))
    odd = MailingList(0, "members>\r\nBcc: victim@example.net\r\nX: <x", "t", "", False, False, "")
    with pytest.raises(InputError, match="list") as raised:
        compile_letter(letter, config=CONFIG, mailing_list=odd, signer=SIGNER)
    assert raised.value.path == "l.md"


def test_rendering_a_letter_whose_list_is_no_list_name_is_one_line_naming_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "l.md"
    path.write_text(
        '---\nsubject: Hi\nlist: "members>\\r\\nBcc: victim@example.net"\n---\n\nHello\n'
    )
    result = CliRunner().invoke(cli, ["letters", "render", str(path)])
    assert result.exit_code == 1
    assert "Bcc: victim" not in result.stdout
    assert f"{path}" in result.output and "Traceback" not in result.output


def test_a_non_ascii_sender_address_flags_the_message_smtputf8() -> None:
    letter = parse_letter(letter_text("Hi", **{"from": "Jörg <jörg@union.example>"}), Path("l.md"))
    built = compile_letter(letter, config=CONFIG, mailing_list=MEMBERS, signer=SIGNER)
    message = built.build(RECIPIENT)
    assert message.smtputf8 is True
    parsed = email.message_from_string(message.data.decode(), policy=email.policy.SMTPUTF8)
    assert parsed["From"].addresses[0].addr_spec == "jörg@union.example"


@pytest.mark.parametrize(
    ("address", "local", "domain"),
    [
        ("jörg@bücher.example", "j%C3%B6rg", "xn--bcher-kva.example"),
        ("leave?now%x@union.example", "leave%3Fnow%25x", "union.example"),
    ],
)
def test_the_unsubscribe_mailto_is_an_ascii_uri(address: str, local: str, domain: str) -> None:
    letter = parse_letter(letter_text("Hi"), Path("l.md"))
    config = Config(
        web=WebConfig(base_url="https://news.union.example"),
        bounces=BouncesConfig(unsubscribe_address=address),
    )
    built = compile_letter(letter, config=config, mailing_list=MEMBERS, signer=SIGNER)
    message = built.build(RECIPIENT)
    assert head_of(message.data).isascii()
    header_value = str(parse(message.data)["List-Unsubscribe"])
    mailto = re.findall(r"<(mailto:[^>]+)>", header_value)[0]
    assert re.fullmatch(
        rf"mailto:{re.escape(local)}\+[a-z0-9-]+@{domain}\?subject=unsubscribe", mailto
    )


def test_a_feedback_id_that_is_not_printable_ascii_is_refused() -> None:
    letter = parse_letter(letter_text("Hi"), Path("l.md"))
    config = Config(sender=SenderConfig(feedback_id="Gewerkschaft ü"))
    with pytest.raises(ConfigError, match=r"feedback_id"):
        compile_letter(letter, config=config, mailing_list=MEMBERS, signer=SIGNER)


@pytest.mark.parametrize(
    "address",
    ["ana\t@example.org", "a\x0bna@example.org", "ana@exa\x85mple.org", "ana@ex ample.org"],
)
def test_an_address_with_a_control_character_or_space_is_refused(address: str) -> None:
    with pytest.raises(HeaderInjectionError):
        compiled().build(Recipient(address, "Ana", {"city": "x"}))


def test_a_sample_address_from_the_front_matter_is_checked_like_any_other(tmp_path: Path) -> None:
    path = tmp_path / "l.md"
    path.write_text('---\nsubject: Hi\nsample:\n  email: "ana\\t@example.org"\n---\n\nHello\n')
    result = CliRunner().invoke(cli, ["letters", "render", str(path)])
    assert result.exit_code == 1
    assert "ana\\t@example.org" in result.output and "Traceback" not in result.output


def test_the_example_letter_parses_under_a_policy_that_raises_on_any_defect() -> None:
    example = Path(__file__).resolve().parent.parent / "letters" / "example.md"
    letter = parse_letter(example.read_text(encoding="utf-8"), example)
    built = compile_letter(
        letter, config=CONFIG, mailing_list=MEMBERS, signer=SIGNER, campaign_id=9
    )
    for recipient in (RECIPIENT, Recipient("z@bücher.example", 'Zoë "Z" <O\'Neill>', {}, 8)):
        parsed = email.message_from_bytes(built.build(recipient).data, policy=STRICT)
        for name, value in parsed.items():
            assert not getattr(value, "defects", ()), name
        assert body_text(parsed, "html").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    "sender", ["a@union.example, b@union.example", "Ana <a@union.example> trailing words"]
)
def test_a_sender_that_is_not_exactly_one_address_is_refused(sender: str) -> None:
    letter = parse_letter(letter_text("Hi", **{"from": sender}), Path("l.md"))
    with pytest.raises(HeaderInjectionError, match="one e-mail address"):
        compile_letter(letter, config=CONFIG, mailing_list=MEMBERS, signer=SIGNER)


def test_a_long_list_title_and_name_fold_the_list_id_before_the_angle_bracket() -> None:
    letter = parse_letter(letter_text("Hi"), Path("l.md"))
    wide = MailingList(5, "regional-" + "m" * 50, "Regional Committee North", "", False, False, "")
    message = compile_letter(letter, config=CONFIG, mailing_list=wide, signer=SIGNER).build(
        RECIPIENT
    )
    lines = [line for line in header_lines(message.data) if b"<regional-" in line]
    assert lines and all(len(line) <= 78 for line in lines)
    parsed = parse(message.data)
    assert parsed["List-Id"] == f"Regional Committee North <regional-{'m' * 50}.union.example>"


def test_values_too_long_for_one_header_line_are_refused() -> None:
    letter = parse_letter(letter_text("Hi"), Path("l.md"))
    long_url = Config(web=WebConfig(base_url="https://news.example.org/" + "p" * 1000))
    with pytest.raises(ConfigError, match=r"web\.base_url"):
        compile_letter(letter, config=long_url, mailing_list=None, signer=SIGNER)
    long_feedback = Config(sender=SenderConfig(feedback_id="f" * 1000))
    with pytest.raises(ConfigError, match="feedback_id"):
        compile_letter(letter, config=long_feedback, mailing_list=MEMBERS, signer=SIGNER)
    with pytest.raises(HeaderInjectionError, match="254"):
        compiled().build(Recipient("a" * 1000 + "@example.org", "Ana", {"city": "x"}))


@pytest.mark.parametrize(
    "address",
    [
        "a@b@example.org",
        ".a@example.org",
        "a..b@example.org",
        "a.@example.org",
        "a@example..org",
        "a@.example.org",
        "a@example.org.",
    ],
)
def test_an_address_that_is_not_a_dot_atom_is_refused(address: str) -> None:
    with pytest.raises(HeaderInjectionError):
        compiled().build(Recipient(address, "Ana", {"city": "x"}))


@pytest.mark.parametrize(
    "address",
    [
        "o'neil@example.org",
        "x.y+tag@sub.example.com",
        "a_b-c=d@ex-ample.org",
        "zoë.ü@bücher.example",
    ],
)
def test_unusual_but_valid_addresses_pass_without_defects(address: str) -> None:
    message = compiled().build(Recipient(address, "Ana", {"city": "x"}))
    parsed = email.message_from_string(message.data.decode(), policy=email.policy.SMTPUTF8)
    to = parsed["To"]
    assert not [d for d in to.defects if not isinstance(d, email.errors.NonASCIILocalPartDefect)]
