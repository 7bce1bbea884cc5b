"""Families of real notices the reader must read in general, each from our own samples.

Each test names the family and what is easy to get wrong about it. Tests
whose answer may be an ``unknown`` event call :func:`read_bounce`, the
reader without the catch-all, so that an error in it fails here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailer import tokens
from mailer.bounces import BounceEvent
from mailer.bounces.parse import parse_message, read_bounce
from tests import bounce_families as families
from tests import bounce_old_servers as old_servers
from tests import bounce_returned as returned
from tests import bounce_samples as samples

#: A sample builder called with its defaults.
Builder = Callable[[], bytes]


def events_of(raw: bytes) -> list[tuple[str, str, str]]:
    """(recipient, kind, reason) of every event the message gives."""
    return [(e.recipient, e.kind, e.reason) for e in read_bounce(raw).events]


def only(raw: bytes) -> BounceEvent:
    """The one event a message is expected to give."""
    events = read_bounce(raw).events
    assert len(events) == 1, events
    return events[0]


@pytest.mark.parametrize(
    "builder", [samples.exim, samples.postfix_dsn_user_unknown, samples.qmail, samples.arf]
)
def test_old_mac_line_ends_are_read_like_any_other(builder: Builder) -> None:
    raw = builder()
    assert events_of(families.carriage_returns_only(raw)) == events_of(raw)


@pytest.mark.parametrize(
    ("builder", "recipient"),
    [
        (families.google_address_not_found, "amelie@example.org"),
        (families.gmail_plain_no_such_user, "bruno@example.org"),
    ],
)
def test_google_address_not_found_is_a_dead_address_whatever_try_again_says(
    builder: Builder, recipient: str
) -> None:
    event = only(builder())
    assert (event.recipient, event.kind, event.reason) == (recipient, "hard", "userunknown")
    assert event.status == "5.1.1"


def test_interscan_unable_to_deliver_is_a_dead_address() -> None:
    event = only(families.interscan())
    assert (event.recipient, event.kind, event.reason) == ("vera@example.org", "hard",
                                                           "userunknown")


def test_interscan_names_the_cause_when_its_transcript_gives_one() -> None:
    event = only(families.interscan_transcript())
    assert (event.recipient, event.kind, event.reason, event.status) == (
        "willy@example.org", "soft", "mailboxfull", "5.2.2")


@pytest.mark.parametrize(
    ("reply", "kind", "reason"),
    [
        ("550 5.1.1 Benutzer unbekannt", "hard", "userunknown"),
        ("552 Postfach voll", "soft", "mailboxfull"),
        ("550 Destinataire inconnu", "hard", "userunknown"),
        ("552 Boîte aux lettres pleine", "soft", "mailboxfull"),
        ("550 Usuario desconocido", "hard", "userunknown"),
        ("552 Buzón lleno", "soft", "mailboxfull"),
        ("550 Usuário desconhecido", "hard", "userunknown"),
        ("552 Caixa postal cheia", "soft", "mailboxfull"),
        ("550 宛先不明です", "hard", "userunknown"),
        ("550 ユーザが存在しません", "hard", "userunknown"),
    ],
)
def test_notices_in_other_languages(reply: str, kind: str, reason: str) -> None:
    event = only(families.notice_in_words("zoe@example.org", reply))
    assert (event.recipient, event.kind, event.reason) == ("zoe@example.org", kind, reason)


@pytest.mark.parametrize(
    ("diagnostic", "status"),
    [("550 #5.1.0 Address rejected", "5.1.0"), ("550 5.1.1 <chloe@example.org>...", "5.1.1")],
)
def test_a_generic_report_status_gives_way_to_the_diagnostic_code(
    diagnostic: str, status: str
) -> None:
    event = only(families.generic_status_report(diagnostic=diagnostic))
    assert (event.recipient, event.kind, event.status) == ("chloe@example.org", "hard", status)


def test_the_returned_letters_own_headers_are_not_the_servers_answer() -> None:
    event = only(families.notice_with_inline_copy())
    assert event.recipient == "emma@example.org"
    assert (event.kind, event.reason) == ("soft", "undefined")
    assert "DKIM" not in event.diagnostic


def test_an_antivirus_footer_is_not_the_servers_answer() -> None:
    event = only(families.report_with_virus_footer())
    assert (event.recipient, event.kind, event.reason) == ("david@example.org", "hard",
                                                           "userunknown")
    assert "virus" not in event.diagnostic


def test_a_virus_the_server_found_is_still_its_answer() -> None:
    raw = families.notice_in_words(
        "zoe@example.org", "554 5.7.1 Message rejected: a virus was detected (scanned by "
        "ExampleAV)")
    assert events_of(raw) == [("zoe@example.org", "soft", "virusdetected")]


def test_addresses_quoted_to_explain_are_not_recipients() -> None:
    assert events_of(families.notice_with_help_address()) == [
        ("felix@example.org", "hard", "userunknown")
    ]


def test_a_recipient_named_only_in_the_inline_copy_of_the_letter() -> None:
    assert events_of(families.inline_original_only()) == [
        ("rosa@example.org", "hard", "userunknown")
    ]


def test_the_letters_text_returned_inline_is_not_read_as_the_answer() -> None:
    letter = samples.original("zoe@example.org").replace(
        "Hello, here is our November letter.",
        "Our mailbox is full of news: one address does not exist any more, see below.")
    raw = samples._crlf(f"""From: MAILER-DAEMON@mx.example.com
To: {samples.SENDER}
Subject: Undelivered Mail
Message-ID: <copy-1@mx.example.com>

Your message could not be delivered to the following recipient:

    zoe@example.org

Reason: refused by the remote server.

--- Below this line is a copy of the message.

{letter}""")
    assert events_of(raw) == [("zoe@example.org", "soft", "blocked")]


def test_sendmail_two_hosts_each_recipient_reads_its_own_session() -> None:
    assert events_of(families.sendmail_two_hosts()) == [
        ("gina@example.org", "hard", "userunknown"),
        ("hugo@example.net", "soft", "blocked"),
    ]


def test_sendmail_v5_reply_lines_name_every_recipient() -> None:
    assert events_of(families.sendmail_v5()) == [
        ("jules@nohost.example.net", "hard", "hostunknown"),
        ("ines@example.org", "hard", "userunknown"),
    ]


def test_the_next_hosts_transcript_does_not_change_a_dead_host() -> None:
    event = only(families.sendmail_host_unknown_single())
    assert (event.recipient, event.kind, event.reason, event.status) == (
        "karl@nohost.example.net", "hard", "hostunknown", "5.1.2")


def test_user_unknown_at_data_after_another_hosts_rcpt_stays_a_filter() -> None:
    raw = samples._crlf(f"""From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.com>
To: {samples.SENDER}
Subject: Returned mail: see transcript for details
Message-ID: <sm-data@mx.example.com>

   ----- Transcript of session follows -----
... while talking to mx1.example.org.:
>>> RCPT To:<lola@example.org>
<<< 450 try later
... while talking to mx2.example.org.:
>>> DATA
<<< 550 Unknown user lola@example.org
554 5.0.0 Service unavailable
""")
    assert events_of(raw) == [("lola@example.org", "soft", "filtered")]


@pytest.mark.parametrize(
    ("builder", "recipient"),
    [
        (families.exim_mail_from_refused, "lena@example.org"),
        (families.sendmail_mail_from_refused, "marc@example.org"),
        (families.postfix_mail_from_refused, "nina@example.org"),
    ],
)
def test_a_refusal_at_mail_from_is_our_senders_not_the_recipients(
    builder: Builder, recipient: str
) -> None:
    assert events_of(builder()) == [(recipient, "soft", "rejected")]


@pytest.mark.parametrize(
    "reply",
    [
        "553 5.1.8 <news@example.com>... Domain of sender address news@example.com does not "
        "exist",
        "550 5.1.7 <news@example.com>: bad sender mailbox",
        "554 5.7.1 <news@example.com>: Sender address rejected: Access denied",
        "550 Sender domain example.com is not permitted here",
        "550 5.7.1 Unknown user (in reply to MAIL FROM command)",
    ],
)
def test_wording_and_codes_that_refuse_the_sender(reply: str) -> None:
    assert events_of(families.notice_in_words("zoe@example.org", reply)) == [
        ("zoe@example.org", "soft", "rejected")
    ]


def test_a_refusal_of_our_name_at_the_greeting_is_not_a_dead_address() -> None:
    raw = samples._crlf(f"""From: MAILER-DAEMON@mx.example.com
To: {samples.SENDER}
Subject: failure notice
Message-ID: <qm-helo@mx.example.com>

Hi. This is the qmail-send program at mx.example.com.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<zoe@example.org>:
Connected to 192.0.2.30 but my name was rejected.
Remote host said: 501 5.0.0 Invalid domain name
""")
    assert events_of(raw) == [("zoe@example.org", "soft", "blocked")]


def test_a_quoted_local_part_is_read_with_its_quotes() -> None:
    event = only(families.quoted_local_part())
    assert (event.recipient, event.kind) == ('"olga petit"@example.org', "hard")


def test_a_local_part_with_two_dots_is_read_and_auto_submitted_keeps_it_a_bounce() -> None:
    assert events_of(families.exim_double_dot()) == [
        ("paul..martin@example.net", "hard", "userunknown")
    ]


def test_a_bounce_marked_auto_replied_whose_recipient_is_unreadable_stays_a_bounce() -> None:
    raw = families.exim_double_dot().replace(b"paul..martin@example.net", b"paul@[192.0.2.9]")
    assert [(e.recipient, e.kind) for e in read_bounce(raw).events] == [("", "unknown")]


def test_an_auto_reply_from_the_null_sender_is_still_an_auto_reply() -> None:
    raw = samples.vacation().replace(b"Subject: Out of Office: November letter",
                                     b"Subject: Re: November letter\r\nReturn-Path: <>")
    assert events_of(raw) == [("quinn@example.org", "auto-reply", "vacation")]


def test_an_address_verification_report_is_no_failure() -> None:
    assert [e.kind for e in read_bounce(families.postfix_verify()).events] == ["unknown"]


def test_a_success_code_beside_failed_is_still_a_failure() -> None:
    raw = samples.dsn([("zoe@example.org", "failed", "2.0.0", "550 not permitted to post")])
    assert [e.kind for e in read_bounce(raw).events] == ["soft"]


def test_a_success_code_without_an_action_is_no_failure() -> None:
    raw = samples.dsn([("zoe@example.org", "", "2.0.0", "250 2.0.0 ok")])
    assert [e.kind for e in read_bounce(raw).events] == ["unknown"]


@pytest.mark.parametrize(
    ("builder", "recipient"),
    [
        (returned.hotmail_outer_complaint, "xena@example.org"),
        (returned.feedback_headers_on_top, "yann@example.org"),
    ],
)
def test_a_complaint_whose_report_is_on_the_outer_message(
    builder: Builder, recipient: str
) -> None:
    assert events_of(builder()) == [(recipient, "complaint", "feedback")]


def test_a_report_forwarded_as_an_attachment_is_read() -> None:
    assert events_of(families.forwarded_report()) == [
        ("quentin@example.org", "hard", "userunknown")
    ]


def test_old_exchange_names_the_recipient_as_smtp_equals() -> None:
    assert events_of(families.exchange_55()) == [("simon@example.org", "hard", "userunknown")]


@pytest.mark.parametrize(
    ("refused", "kind", "reason"), [(False, "hard", "userunknown"), (True, "soft", "filtered")]
)
def test_aol_names_its_member_by_screen_name(refused: bool, kind: str, reason: str) -> None:
    raw = families.aol_screen_name("Tina Example", refused=refused)
    assert events_of(raw) == [("tinaexample@aol.com", kind, reason)]


def test_a_bare_name_is_an_address_only_in_aols_notices() -> None:
    raw = families.aol_screen_name().replace(b"MAILER-DAEMON@aol.com", b"MAILER-DAEMON@example.net")
    assert [e.kind for e in read_bounce(raw).events] == ["unknown"]


def test_a_list_post_returned_by_a_notice_naming_nobody_names_nobody() -> None:
    events = read_bounce(returned.no_recipient_notice(returned.list_post())).events
    assert [(e.recipient, e.kind) for e in events] == [("", "unknown")]


def test_our_letter_returned_by_a_notice_naming_nobody_names_its_subscriber() -> None:
    raw = returned.no_recipient_notice(returned.our_letter("zed@example.org"))
    assert events_of(raw) == [("zed@example.org", "hard", "userunknown")]


def test_a_letter_to_several_people_names_nobody() -> None:
    letter = returned.our_letter("zed@example.org, amy@example.net")
    events = read_bounce(returned.no_recipient_notice(letter)).events
    assert [(e.recipient, e.kind) for e in events] == [("", "unknown")]


def test_the_returned_letters_envelope_header_names_its_recipient_even_on_a_list() -> None:
    post = returned.list_post().replace("To: talk@lists.example.net",
                                        "To: talk@lists.example.net\nX-Original-To: "
                                        "zed@example.org")
    assert [e.recipient for e in read_bounce(returned.no_recipient_notice(post)).events] == [
        "zed@example.org"
    ]


def test_a_list_whose_id_names_the_to_address_is_not_one_person() -> None:
    post = returned.list_post().replace("List-Post: <mailto:talk@lists.example.net>\n", "")
    post = post.replace("Precedence: list\n", "")
    events = read_bounce(returned.no_recipient_notice(post)).events
    assert [(e.recipient, e.kind) for e in events] == [("", "unknown")]


def test_a_forwarded_report_proves_the_letter_its_own_copy_names() -> None:
    signer = tokens.Signer("test-secret")
    message_id = f"<{signer.message_id(5, 77, 'ab12')}@example.com>"
    inner = samples.dsn(
        [("quentin@example.org", "failed", "5.1.1", "550 5.1.1 user unknown")],
        attach=samples.original("quentin@example.org", message_id), boundary="INNER",
    ).decode("utf-8").replace("\r\n", "\n")
    raw = samples._crlf(f"""From: Help Desk <helpdesk@example.net>
To: {samples.SENDER}
Subject: FW: Undelivered Mail Returned to Sender
Message-ID: <fwd-proof@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="OUTER"

--OUTER
Content-Type: message/rfc822

{inner}
--OUTER--
""")
    parsed = parse_message(raw, return_path="bounces@example.com", signer=signer)
    assert parsed.proof == "message-id"
    assert [(e.recipient, e.kind, e.subscriber) for e in parsed.events] == [
        ("quentin@example.org", "hard", 77)
    ]


@pytest.mark.parametrize(
    ("name", "recipient", "kind", "reason"),
    [
        ("netscape", "alice@example.org", "hard", "userunknown"),
        ("iplanet_quota", "alice@example.org", "soft", "mailboxfull"),
        ("imail", "alice@example.org", "hard", "userunknown"),
        ("smtpsvc", "alice@nohost.example.org", "soft", "networkerror"),
        ("yahoo_old", "alice@example.org", "soft", "suspended"),
        ("eudora", "alice@example.org", "hard", "userunknown"),
        ("groupwise", "alice@example.org", "hard", "userunknown"),
        ("exim3", "alice@example.org", "hard", "userunknown"),
        ("chinese", "alice@example.cn", "hard", "userunknown"),
        ("russian", "alice@example.ru", "hard", "userunknown"),
        ("simple_warning", "alice@example.org", "delayed", "expired"),
    ],
)
def test_plain_notices_of_older_servers_and_other_languages(
    name: str, recipient: str, kind: str, reason: str
) -> None:
    assert events_of(old_servers.old_server_notice(name)) == [(recipient, kind, reason)]


def test_a_letter_returned_as_a_text_part_is_not_the_servers_answer() -> None:
    letter = samples.original("zoe@example.org").replace(
        "Return-Path: <news@example.com>\n", "").replace(
        "Hello, here is our November letter.", "Our shop's mailbox is full of offers.")
    raw = returned.no_recipient_notice(
        letter, text="Your message could not be delivered to the following recipient:\n\n"
        "    zoe@example.org", content_type="text/plain")
    assert events_of(raw) == [("zoe@example.org", "soft", "undefined")]


@pytest.mark.parametrize(
    "sentence",
    [
        "Could not contact the mail server for <zoe@example.org>: 550 5.1.1 user unknown",
        "It looks like <zoe@example.org> does not exist: 550 5.1.1 user unknown",
        "The recipient in question, <zoe@example.org>, is unknown: 550 5.1.1",
    ],
)
def test_a_sentence_that_reports_keeps_its_recipient(sentence: str) -> None:
    raw = samples._crlf(f"""From: MAILER-DAEMON@mx.example.com
To: {samples.SENDER}
Subject: Undelivered Mail
Message-ID: <report-sentence@mx.example.com>

{sentence}
""")
    assert events_of(raw) == [("zoe@example.org", "hard", "userunknown")]


def test_a_person_forwarding_a_report_under_a_subject_of_their_own() -> None:
    raw = families.forwarded_report().replace(
        b"Subject: FW: Undelivered Mail Returned to Sender", b"Subject: Fwd: what is this?")
    assert events_of(raw) == [("quentin@example.org", "hard", "userunknown")]


def test_a_person_forwarding_our_letter_as_an_attachment_reports_nothing() -> None:
    raw = returned.no_recipient_notice(
        returned.our_letter("zed@example.org"), text="Look at this!").replace(
        b"Subject: Undeliverable message", b"Subject: Fwd: November letter").replace(
        b"Mail Delivery System <MAILER-DAEMON@mx.example.com>", b"Tom <tom@example.net>")
    assert [(e.recipient, e.kind) for e in read_bounce(raw).events] == [("", "unknown")]
