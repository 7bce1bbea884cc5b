"""DKIM signatures as mailer makes them, checked by dkimpy and by OpenDKIM.

The messages cover what mailer sends: a letter from the MIME writer with
non-ASCII names and a long folded subject, a message with folded and
spaced-out headers and a body of CRLF lines with trailing white space, a
multipart/mixed message with an attachment, the MIME writer's letter with a
resolution attached and an image embedded, a UTF-8 (SMTPUTF8) header, and
one written with bare LF line ends. Each is signed with RSA, with Ed25519 and
with both (two signatures, RFC 8463).
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from aiosmtplib.protocol import LINE_ENDINGS_REGEX
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from dkim.canonicalization import Relaxed
from hypothesis import given
from hypothesis import strategies as st

from mailer.config import load_config
from mailer.dispatch.dkim import DkimSigner
from mailer.dispatch.dkim_canon import body_hash, relaxed_body, relaxed_header, with_crlf
from mailer.dispatch.dkim_keys import DkimKey
from mailer.letters.compile import compile_letter
from mailer.letters.editions import CompiledEditions, load_editions
from mailer.letters.source import load_letter
from mailer.store.models import Recipient
from mailer.tokens import Signer
from tests import sample_files
from tests.clocks import FakeClock
from tests.dkim_helpers import (
    MIXED,
    dkimpy_results,
    new_key,
    opendkim_verdicts,
    without_signature,
)

LETTER = """---
subject: "Einladung zur Jahresversammlung – Straße, Ärger und Öffnungszeiten, ein Betreff, der über mehrere Zeilen gefaltet werden muss"
---

Liebe {{ subscriber.name }},

die Versammlung ist am Samstag.   Drei Leerzeichen, ein	Tab.

| Wer | Wann |
| --- | --- |
| Zoë | 10:00 |
"""  # noqa: E501

FOLDED = (
    b"From: \"F\xc3\xb6\xc3\xb6 Verein\" <news@example.org>\r\n"
    b"To: member@example.com\r\n"
    b"Subject:   a subject\t with   spaces \r\n\t and a fold   \r\n"
    b"Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <m1.folded@example.org>\r\n"
    b"X-Long: " + b" ".join(b"word%d" % n for n in range(40)) + b"\r\n"
    b"List-Unsubscribe: <https://lists.example.org/u/abc>,\r\n"
    b" <mailto:unsubscribe+abc@example.org?subject=unsubscribe>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"a line with  two  spaces \t \r\n"
    b"\r\n"
    b"\ta tab first, and one\tinside\r\n"
    b"trailing blank lines follow\r\n"
    b"\r\n"
    b"\r\n"
)

UTF8_HEADERS = (
    "From: Zoë <zoë@example.org>\r\n"
    "To: Jürgen <jürgen@exämple.org>\r\n"
    "Subject: Grüße aus Köln\r\n"
    "Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
    "Message-ID: <m3.utf8@example.org>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Grüße!\r\n"
).encode()

BARE_LF = MIXED.replace(b"\r\n", b"\n")
#: A text part with a lone CR and a lone LF, as an attribute with a line break can leave.
LONE_CR = FOLDED.replace(b"trailing blank lines follow", b"a line\rbroken\nthen")


@pytest.fixture(scope="module")
def keys() -> dict[str, DkimKey]:
    return {
        "rsa-sha256": new_key("rsa-sha256", "rsa2026"),
        "ed25519-sha256": new_key("ed25519-sha256", "ed2026"),
    }


@pytest.fixture(scope="module")
def letter(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The letter above, built for one recipient by the MIME writer (non-ASCII name)."""
    path = tmp_path_factory.mktemp("letter") / "versammlung.md"
    path.write_text(LETTER, encoding="utf-8")
    compiled = compile_letter(
        load_letter(path), config=load_config(env={}), mailing_list=None, signer=Signer("k")
    )
    recipient = Recipient("zoe@example.com", "Zoë Ünal-Ørsted, Ortsgruppe Nord", {}, 7)
    return compiled.build(recipient).data


@pytest.fixture(scope="module")
def attached(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A letter with a resolution attached (a file name not in ASCII) and an image embedded,
    as the MIME writer builds it: base64 parts shared by every message of the letter."""
    folder = tmp_path_factory.mktemp("attached")
    (folder / "Resolución 12.pdf").write_bytes(sample_files.pdf())
    (folder / "logo.png").write_bytes(sample_files.png())
    path = folder / "resolution.md"
    path.write_text(
        '---\nsubject: "Resolution 12"\nattachments: ["Resolución 12.pdf"]\n---\n\n'
        "![Our logo](logo.png)\n\nDear {{ subscriber.name }}, the resolution is attached.\n",
        encoding="utf-8",
    )
    compiled = CompiledEditions(
        load_editions(path), config=load_config(env={}), lists=[], signer=Signer("k")
    )
    data = compiled.build(Recipient("ana@example.com", "Ana Lima", {}, 8)).data
    assert b"multipart/mixed" in data and b"multipart/related" in data
    return data


@pytest.fixture(scope="module")
def messages(letter: bytes, attached: bytes) -> dict[str, bytes]:
    return {
        "letter": letter, "folded": FOLDED, "mixed": MIXED, "utf8": UTF8_HEADERS,
        "bare-lf": BARE_LF, "lone-cr": LONE_CR, "attached": attached,
    }


ALGORITHMS = {
    "rsa": ("rsa-sha256",),
    "ed25519": ("ed25519-sha256",),
    "both": ("rsa-sha256", "ed25519-sha256"),
}


def signer_for(keys: dict[str, DkimKey], algorithms: str) -> DkimSigner:
    return DkimSigner([keys[name] for name in ALGORITHMS[algorithms]])


@pytest.mark.parametrize("algorithms", ALGORITHMS)
@pytest.mark.parametrize(
    "name", ["letter", "folded", "mixed", "utf8", "bare-lf", "lone-cr", "attached"]
)
def test_dkimpy_verifies_every_signature(
    keys: dict[str, DkimKey], messages: dict[str, bytes], name: str, algorithms: str
) -> None:
    signed = signer_for(keys, algorithms).sign(messages[name])
    assert dkimpy_results(signed, list(keys.values())) == [True] * len(ALGORITHMS[algorithms])


def test_opendkim_verifies_every_signature_and_refuses_a_changed_message(
    keys: dict[str, DkimKey], messages: dict[str, bytes], tmp_path: Path
) -> None:
    """One batch through OpenDKIM: every message with each key, each signature of a
    message signed twice on its own, and changed copies that must fail."""
    batch: list[tuple[str, bytes, str]] = []
    for name, message in messages.items():
        for algorithm in ("rsa", "ed25519"):
            batch.append((f"{name} {algorithm}", signer_for(keys, algorithm).sign(message), "pass"))
        both = signer_for(keys, "both").sign(message)
        batch.append((f"{name} both, RSA alone", without_signature(both, 1), "pass"))
        batch.append((f"{name} both, Ed25519 alone", without_signature(both, 0), "pass"))
    letter = signer_for(keys, "rsa").sign(messages["letter"])
    batch.append(("changed body", letter.replace(b"Versammlung ist", b"Versammlung war"), "bad"))
    batch.append(("second From", b"From: mallory@example.net\r\n" + letter, "bad"))
    verdicts = opendkim_verdicts(tmp_path, [m for _, m, _ in batch], list(keys.values()))
    for (label, _, expected), verdict in zip(batch, verdicts, strict=True):
        assert (verdict == "pass") == (expected == "pass"), f"{label}: {verdict}"


def test_a_changed_body_fails(keys: dict[str, DkimKey], letter: bytes) -> None:
    signed = signer_for(keys, "both").sign(letter)
    assert dkimpy_results(signed.replace(b"Samstag", b"Sonntag"), list(keys.values())) == [
        False, False,
    ]


@pytest.mark.parametrize(
    "added",
    [
        b"From: mallory@example.net\r\n",
        b"List-Unsubscribe: <https://evil.example.net/u>\r\n",
        b"Subject: Something else\r\n",
    ],
)
def test_a_signed_header_added_later_breaks_the_signature(
    keys: dict[str, DkimKey], letter: bytes, added: bytes
) -> None:
    """Over-signing: each signed name is listed once more than it occurs."""
    signed = signer_for(keys, "rsa").sign(letter)
    assert dkimpy_results(signed, list(keys.values())) == [True]
    assert dkimpy_results(added + signed, list(keys.values())) == [False]


def test_an_unsigned_header_added_later_does_not(keys: dict[str, DkimKey], letter: bytes) -> None:
    signed = signer_for(keys, "rsa").sign(letter)
    received = b"Received: from relay.example.org by mx.example.com; Mon, 30 Nov 2026\r\n"
    assert dkimpy_results(received + signed, list(keys.values())) == [True]


def _tags(signed: bytes) -> dict[str, str]:
    field = re.match(rb"DKIM-Signature: (.*?)\r\n(?![ \t])", signed, re.S)
    assert field is not None
    text = re.sub(r"\s+", "", field.group(1).decode())
    return dict(tag.split("=", 1) for tag in text.split(";") if tag)


def test_the_signature_names_domain_selector_time_and_the_over_signed_headers(
    keys: dict[str, DkimKey], letter: bytes, fake_clock: FakeClock
) -> None:
    signed = DkimSigner([keys["rsa-sha256"]]).sign(letter)
    tags = _tags(signed)
    assert (tags["v"], tags["a"], tags["c"]) == ("1", "rsa-sha256", "relaxed/relaxed")
    assert (tags["d"], tags["s"]) == ("example.org", "rsa2026")
    assert int(tags["t"]) == int(fake_clock.now.timestamp())
    names = tags["h"].split(":")
    for name in ("from", "to", "subject", "date", "message-id", "mime-version",
                 "content-type", "list-unsubscribe", "list-unsubscribe-post", "reply-to"):
        if name != "reply-to" or b"\r\nReply-To:" in letter:
            assert names.count(name) == 2, name
    assert "precedence" not in names and "dkim-signature" not in names


def test_the_signature_header_keeps_lines_short(keys: dict[str, DkimKey], letter: bytes) -> None:
    signed = signer_for(keys, "both").sign(letter)
    head = signed.partition(b"\r\n\r\n")[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    signature_lines = head.split(b"\r\nTo:")[0].split(b"\r\n")
    assert max(len(line) for line in signature_lines) <= 100


# -- canonicalisation against dkimpy's, on arbitrary input ------------------------------------

_BODY_PIECES = st.sampled_from([b"a", b"bc", b" ", b"  ", b"\t", b"\r\n", b"\xc3\xa9", b"x "])
_VALUE_PIECES = st.sampled_from([b"a", b"b c", b" ", b"\t", b"\r\n ", b"\r\n\t", b"\xc3\xa9"])
_NAMES = st.sampled_from([b"Subject", b"SUBJECT ", b"List-Unsubscribe\t", b"x-Y"])


@given(st.lists(_BODY_PIECES, max_size=60).map(b"".join))
def test_relaxed_body_and_its_hash_are_what_dkimpy_computes(body: bytes) -> None:
    theirs = Relaxed.canonicalize_body(body)
    assert relaxed_body(body) == theirs
    assert body_hash(body) == hashlib.sha256(theirs).digest()


@given(_NAMES, st.lists(_VALUE_PIECES, max_size=30).map(b"".join))
def test_relaxed_header_is_what_dkimpy_computes(name: bytes, value: bytes) -> None:
    [(theirs_name, theirs_value)] = Relaxed.canonicalize_headers([(name, value)])
    assert relaxed_header(name, value) + b"\r\n" == theirs_name + b":" + theirs_value


@given(st.lists(st.sampled_from([b"a", b" ", b"\r", b"\n", b"\r\n", b"\n\r"]), max_size=40)
       .map(b"".join))
def test_line_ends_are_signed_as_an_smtp_client_sends_them(data: bytes) -> None:
    """aiosmtplib makes a lone CR or LF a CRLF and ends the last line: what is signed
    must be what it sends, or the receiver's body hash differs."""
    sent = LINE_ENDINGS_REGEX.sub(b"\r\n", data)
    assert with_crlf(data) == (sent if sent.endswith(b"\r\n") else sent + b"\r\n")


def test_a_letters_message_is_signed_alike_without_the_line_end_search(
    keys: dict[str, DkimKey], tmp_path: Path, fake_clock: FakeClock
) -> None:
    """``crlf`` (a message of mailer's own, ``stuffed``) skips looking for other line ends,
    and ``relaxed`` hashes the body as it is: the same signature, even for a subscriber
    whose data holds a CR, an LF, a tab and runs of spaces."""
    path = tmp_path / "versammlung.md"
    path.write_text(LETTER.replace("{{ subscriber.name }}", "{{ subscriber.name }} "
                                   "{{ subscriber.attributes.note }}"), encoding="utf-8")
    compiled = compile_letter(
        load_letter(path), config=load_config(env={}), mailing_list=None, signer=Signer("k")
    )
    note = "a\rb\nc\r\nd  e\t\tf   "
    message = compiled.build(Recipient("zoe@example.com", "Zoë  \t Ünal", {"note": note}, 7))
    assert message.stuffed and message.relaxed
    assert b"\r" not in message.data.replace(b"\r\n", b"")
    body = message.data.partition(b"\r\n\r\n")[2]
    assert relaxed_body(body) == body.rstrip(b"\r\n") + b"\r\n"  # in relaxed form already
    signer = signer_for(keys, "both")
    signed = signer.sign(message.data, crlf=True, relaxed=True)
    assert signed == signer.sign(message.data, crlf=True) == signer.sign(message.data)
    assert dkimpy_results(signed, list(keys.values())) == [True, True]


def test_a_letter_whose_constant_parts_hold_a_run_of_spaces_is_not_taken_as_relaxed(
    keys: dict[str, DkimKey], tmp_path: Path
) -> None:
    """A file name with two spaces stands in the attachment's headers, which no quoted-
    printable codes: the letter's messages are then reduced before hashing, as any."""
    (tmp_path / "Agenda  2027.pdf").write_bytes(sample_files.pdf())
    path = tmp_path / "agenda.md"
    path.write_text('---\nsubject: "Agenda"\nattachments: ["Agenda  2027.pdf"]\n---\n\n'
                    "Dear {{ subscriber.name }}, the agenda is attached.\n", encoding="utf-8")
    compiled = CompiledEditions(
        load_editions(path), config=load_config(env={}), lists=[], signer=Signer("k")
    )
    message = compiled.build(Recipient("ana@example.com", "Ana Lima", {}, 8))
    assert message.stuffed and not message.relaxed
    signer = signer_for(keys, "both")
    signed = signer.sign(message.data, crlf=True, relaxed=message.relaxed)
    assert dkimpy_results(signed, list(keys.values())) == [True, True]


def test_libsodium_makes_the_ed25519_signature_openssl_makes(keys: dict[str, DkimKey]) -> None:
    """Ed25519 is deterministic (RFC 8032): the signer's libsodium signature over the hash
    is the one ``cryptography`` (OpenSSL) makes with the same key."""
    key = keys["ed25519-sha256"]
    signed = DkimSigner([key]).sign(FOLDED)
    signature = base64.b64decode(re.sub(r"\s+", "", _tags(signed)["b"]))
    unsigned = DkimSigner([key]).prepare(FOLDED)
    private = key.private_key
    assert isinstance(private, Ed25519PrivateKey)
    assert signature == private.sign(unsigned.digests[0])
