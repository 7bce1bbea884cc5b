"""The bounce parser: each family of format gives the right events, and nothing crashes.

Where the expected answer is an ``unknown`` event, or no particular answer at
all, the tests call :func:`read_bounce`, the reader without
:func:`parse_message`'s catch-all: through the catch-all, a reader that raised
would pass them too.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer import tokens
from mailer.bounces import BounceEvent, mime, parse
from mailer.bounces.dsn import automatic
from mailer.bounces.notice import MAX_RECIPIENTS
from mailer.bounces.parse import is_failure_notice, parse_message, read_bounce
from tests import bounce_samples as samples


def only(raw: bytes) -> BounceEvent:
    """The one event a message is expected to give."""
    events = parse_message(raw).events
    assert len(events) == 1, events
    return events[0]


def test_standard_report_user_unknown_is_hard() -> None:
    event = only(samples.postfix_dsn_user_unknown())
    assert (event.recipient, event.kind, event.status) == ("alice@example.org", "hard", "5.1.1")
    assert event.reason == "userunknown"
    assert "User unknown" in event.diagnostic


def test_message_id_is_returned() -> None:
    assert read_bounce(samples.postfix_dsn_user_unknown()).message_id == "<dsn-1@mx.example.org>"


@pytest.mark.parametrize(
    ("builder", "recipient", "kind", "reason"),
    [
        (samples.exim, "bob@example.org", "hard", "userunknown"),
        (samples.postfix_plain, "carol@example.org", "soft", "mailboxfull"),
        (samples.qmail, "dave@example.org", "hard", "userunknown"),
        (samples.sendmail_plain, "erin@example.org", "hard", "userunknown"),
        (samples.exchange_2003, "frank@example.org", "hard", "userunknown"),
        (samples.domino, "grace@example.org", "hard", "userunknown"),
        (samples.gmail, "heidi@example.org", "soft", "mailboxfull"),
        (samples.yahoo, "ivan@example.org", "hard", "userunknown"),
        (samples.courier, "judy@example.org", "hard", "userunknown"),
        (samples.office365, "kim@example.org", "hard", "userunknown"),
        (samples.messagelabs, "leo@example.org", "soft", "blocked"),
        (samples.ses_bounce, "mia@example.org", "hard", "userunknown"),
        (samples.exchange_2010, "zoe@example.org", "hard", "userunknown"),
        (samples.gmail_address_not_found, "amy@example.org", "hard", "userunknown"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_each_format_family_names_its_recipient_and_cause(
    builder: object, recipient: str, kind: str, reason: str
) -> None:
    assert callable(builder)
    event = only(builder())
    assert (event.recipient, event.kind, event.reason) == (recipient, kind, reason)
    assert event.status.startswith("5.")


def test_delay_warning_is_delayed_not_a_failure() -> None:
    event = only(samples.exim_delay())
    assert (event.recipient, event.kind) == ("bob@example.org", "delayed")


def test_arf_report_is_a_complaint_about_the_original_recipient() -> None:
    event = only(samples.arf())
    assert (event.recipient, event.kind) == ("olga@example.org", "complaint")
    assert event.reason == "feedback"


def test_arf_without_original_rcpt_to_falls_back_to_the_returned_letter() -> None:
    assert only(samples.arf(with_rcpt_to=False)).recipient == "olga@example.org"


def test_microsoft_jmrp_is_a_complaint() -> None:
    event = only(samples.jmrp())
    assert (event.recipient, event.kind) == ("paul@example.org", "complaint")


def test_ses_complaint_notification_is_a_complaint() -> None:
    event = only(samples.ses_complaint())
    assert (event.recipient, event.kind) == ("nick@example.org", "complaint")


def test_vacation_reply_is_an_auto_reply_from_its_sender() -> None:
    event = only(samples.vacation())
    assert (event.recipient, event.kind) == ("quinn@example.org", "auto-reply")


def test_multi_recipient_report_gives_one_event_each() -> None:
    events = {e.recipient: e for e in parse_message(samples.multi_recipient()).events}
    assert set(events) == {"sam@example.org", "tina@example.net", "uma@example.org"}
    assert events["sam@example.org"].kind == "hard"
    assert (events["tina@example.net"].kind, events["tina@example.net"].reason) == (
        "soft",
        "mailboxfull",
    )
    assert events["uma@example.org"].kind == "delayed"


def test_notice_without_report_names_each_recipient_with_its_own_cause() -> None:
    events = parse_message(samples.postfix_plain_three()).events
    assert [(e.recipient, e.kind, e.reason) for e in events] == [
        ("b1@example.org", "hard", "userunknown"),
        ("b2@example.net", "soft", "mailboxfull"),
        ("b3@nowhere.example", "hard", "hostunknown"),
    ]


def test_success_notice_reports_no_failure() -> None:
    raw = samples.dsn(
        [("ada@example.org", "delivered", "2.0.0", "250 2.0.0 OK")],
        human="Your message was successfully delivered to ada@example.org.",
    )
    assert [e.kind for e in read_bounce(raw).events] == ["unknown"]


def test_bounce_of_a_bounce_reports_only_the_outer_recipient() -> None:
    events = parse_message(samples.bounce_of_bounce()).events
    assert [(e.recipient, e.kind) for e in events] == [("victor@example.org", "hard")]


def test_broken_mime_still_gives_the_report_recipient() -> None:
    events = parse_message(samples.broken_mime()).events
    assert any(e.recipient == "wendy@example.org" and e.kind == "hard" for e in events), events


def test_unknown_charset_is_read_as_far_as_possible() -> None:
    event = only(samples.unknown_charset())
    assert (event.recipient, event.kind, event.status) == ("xavier@example.org", "hard", "5.1.1")


def test_ten_megabyte_message_is_read() -> None:
    parsed = parse_message(samples.huge(10))
    assert [(e.recipient, e.kind, e.reason) for e in parsed.events] == [
        ("yara@example.org", "soft", "mailboxfull")
    ]


@pytest.mark.parametrize("raw", [b"", b"\x00" * 100, samples.junk(), b"From: \r\n\r\n--"])
def test_junk_gives_one_unknown_event(raw: bytes) -> None:
    events = read_bounce(raw).events
    assert [e.kind for e in events] == ["unknown"]


def test_a_notice_listing_thousands_of_addresses_is_capped() -> None:
    lines = b"".join(b"<u%d@example.org>: 550 5.1.1 user unknown\r\n" % i for i in range(5000))
    raw = b"From: MAILER-DAEMON@mx.example.com\r\nSubject: Undelivered Mail\r\n\r\n" + lines
    events = parse_message(raw).events
    assert len(events) == MAX_RECIPIENTS
    assert events[0] == BounceEvent(
        recipient="u0@example.org", kind="hard", status="5.1.1", reason="userunknown",
        diagnostic="<u0@example.org>: 550 5.1.1 user unknown",
    )


def test_ordinary_mail_is_unknown() -> None:
    raw = b"From: a@example.org\r\nTo: news@example.com\r\nSubject: hi\r\n\r\nThanks!\r\n"
    assert [e.kind for e in read_bounce(raw).events] == ["unknown"]


def test_an_error_in_the_reader_becomes_one_unknown_event_keeping_the_message_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(raw: bytes, **_: object) -> parse.ParsedBounce:
        raise IndexError("a shape nobody foresaw")

    monkeypatch.setattr(parse, "read_bounce", broken)
    parsed = parse_message(samples.postfix_dsn_user_unknown())
    assert parsed.message_id == "<dsn-1@mx.example.org>"
    assert [(e.recipient, e.kind) for e in parsed.events] == [("", "unknown")]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000))
def test_parser_never_raises_on_any_bytes(raw: bytes) -> None:
    parsed = read_bounce(raw)
    assert parsed.events
    assert all(e.kind in {"hard", "soft", "complaint", "delayed", "auto-reply", "unknown"}
               for e in parsed.events)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=4000), st.binary(max_size=200))
def test_parser_never_raises_on_damaged_reports(cut: int, noise: bytes) -> None:
    raw = samples.multi_recipient()
    assert read_bounce(raw[:cut] + noise + raw[cut:]).events


# VERP: the token in the return path names campaign and subscriber exactly.

RETURN_PATH = "bounces@example.com"


def test_verp_token_with_a_good_signature_fills_campaign_and_subscriber() -> None:
    signer = tokens.Signer("test-secret")
    address = tokens.verp_address(RETURN_PATH, signer.verp(12, 34))
    event = parse_message(
        samples.verp_dsn(address), return_path=RETURN_PATH, signer=signer
    ).events[0]
    assert (event.campaign, event.subscriber) == (12, 34)
    assert event.kind == "hard"


def test_forged_verp_token_is_ignored() -> None:
    forger = tokens.Signer("not-our-secret")
    address = tokens.verp_address(RETURN_PATH, forger.verp(12, 34))
    event = parse_message(
        samples.verp_dsn(address), return_path=RETURN_PATH, signer=tokens.Signer("test-secret")
    ).events[0]
    assert (event.campaign, event.subscriber) == (None, None)
    assert event.recipient == "rita@example.org"


def test_forged_verp_token_marks_the_message_as_tampered() -> None:
    forger = tokens.Signer("not-our-secret")
    address = tokens.verp_address(RETURN_PATH, forger.verp(12, 34))
    signer = tokens.Signer("test-secret")
    forged = parse_message(samples.verp_dsn(address), return_path=RETURN_PATH, signer=signer)
    assert forged.tampered and forged.proof == ""
    good = tokens.verp_address(RETURN_PATH, signer.verp(12, 34))
    genuine = parse_message(samples.verp_dsn(good), return_path=RETURN_PATH, signer=signer)
    assert not genuine.tampered and genuine.proof == "verp"
    plain = parse_message(samples.postfix_dsn_user_unknown(), return_path=RETURN_PATH,
                          signer=signer)
    assert not plain.tampered and plain.proof == ""


def test_the_envelope_recipient_given_by_the_mta_carries_the_verp_token() -> None:
    signer = tokens.Signer("test-secret")
    address = tokens.verp_address(RETURN_PATH, signer.verp(12, 34))
    parsed = parse_message(
        samples.postfix_dsn_user_unknown(), return_path=RETURN_PATH, signer=signer,
        envelope_to=address,
    )
    assert parsed.proof == "verp"
    assert (parsed.events[0].campaign, parsed.events[0].subscriber) == (12, 34)


def test_a_signed_message_id_quoted_back_proves_the_letter() -> None:
    signer = tokens.Signer("test-secret")
    message_id = f"<{signer.message_id(5, 77, 'ab12')}@lists.example.org>"
    for raw in (
        samples.arf("alice@example.org", message_id=message_id),
        samples.dsn([("alice@example.org", "failed", "5.1.1", "550 5.1.1 no such user")],
                    attach=samples.original("alice@example.org", message_id)),
    ):
        parsed = parse_message(raw, return_path=RETURN_PATH, signer=signer)
        assert parsed.proof == "message-id", raw
        assert (parsed.events[0].campaign, parsed.events[0].subscriber) == (5, 77)
        forged = parse_message(raw, return_path=RETURN_PATH, signer=tokens.Signer("forger"))
        assert forged.proof == "" and forged.events[0].subscriber is None


def test_verp_token_of_another_purpose_is_ignored() -> None:
    signer = tokens.Signer("test-secret")
    address = tokens.verp_address(RETURN_PATH, signer.unsubscribe(34, 1, 12))
    event = parse_message(
        samples.verp_dsn(address), return_path=RETURN_PATH, signer=signer
    ).events[0]
    assert (event.campaign, event.subscriber) == (None, None)
    assert event.recipient == "rita@example.org"


def test_without_a_signer_verp_is_not_read() -> None:
    signer = tokens.Signer("test-secret")
    address = tokens.verp_address(RETURN_PATH, signer.verp(12, 34))
    event = parse_message(samples.verp_dsn(address), return_path=RETURN_PATH).events[0]
    assert (event.campaign, event.subscriber) == (None, None)
    assert event.recipient == "rita@example.org"


def test_a_delay_without_a_status_code_gets_a_transient_one() -> None:
    raw = samples.exim_delay().replace(b"Connection timed out", b"Connection refused")
    event = only(raw)
    assert event.kind == "delayed"
    assert event.status.startswith("4."), event


@pytest.mark.parametrize(
    "sample",
    ["postfix_dsn_user_unknown", "exim", "qmail", "courier", "exchange_2010", "gmail",
     "office365", "arf", "jmrp", "ses_bounce", "ses_complaint", "exim_delay"],
)
def test_every_kind_of_bounce_the_reader_knows_is_a_failure_notice(sample: str) -> None:
    assert is_failure_notice(getattr(samples, sample)())


def test_a_vacation_message_is_no_failure_notice_but_a_programs_message() -> None:
    raw = samples.vacation()
    read_bounce(raw)  # the reader takes it without raising, so "no" is its own answer
    assert not is_failure_notice(raw)
    assert automatic(mime.load(raw, headers_only=True))


def _quoting(subject: str) -> bytes:
    return (
        f"From: Ana <ana@union.example>\r\nSubject: {subject}\r\n\r\n"
        "Your letter to our old address failed:\r\n"
        "> 550 5.1.1 <old@union.example>: Recipient address rejected: User unknown\r\n"
    ).encode()


@pytest.mark.parametrize("subject", ["Re: Undeliverable: the call", "AW: Mail delivery failed"])
def test_an_answer_quoting_an_error_is_no_failure_notice(subject: str) -> None:
    raw = _quoting(subject)
    assert [e.kind for e in read_bounce(raw).events] == ["unknown"]
    assert not is_failure_notice(raw)


def test_a_bounce_a_person_forwards_is_one() -> None:
    """A forward under a bounce's own subject carries the bounce: the reader reads it."""
    raw = _quoting("Fwd: failure notice")
    assert [e.kind for e in read_bounce(raw).events] == ["hard"]
    assert is_failure_notice(raw)


def test_automatic_names_what_shows_a_program_wrote_it() -> None:
    def head(extra: str) -> mime.Part:
        return mime.load(f"From: a@union.example\r\n{extra}\r\n\r\nhi".encode())

    assert automatic(head("Auto-Submitted: auto-generated")).startswith("auto-submitted")
    assert automatic(head("Precedence: list")) == "precedence: list"
    assert automatic(head("Subject: Abwesenheitsnotiz")).startswith("subject")
    assert automatic(head("Auto-Submitted: no")) == ""
    assert automatic(head("Precedence: first-class")) == ""
