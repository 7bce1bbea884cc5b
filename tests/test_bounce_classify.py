"""Status codes and server wording to kind and reason."""

from __future__ import annotations

import pytest

from mailer.bounces.classify import classify, find_status


@pytest.mark.parametrize(
    ("status", "diagnostic", "kind", "reason"),
    [
        ("5.1.1", "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown",
         "hard", "userunknown"),
        ("", "550 Requested action not taken: mailbox unavailable", "hard", "userunknown"),
        ("", "550 No such user here", "hard", "userunknown"),
        ("", "450 Requested mail action not taken: mailbox unavailable", "soft", "onhold"),
        ("4.1.1", "450 4.1.1 <a@example.org>: Recipient address rejected: User unknown",
         "hard", "userunknown"),
        ("5.1.2", "Host or domain name not found. Name service error for name=x type=A",
         "hard", "hostunknown"),
        ("5.1.10", "556 5.1.10 Domain does not accept mail (null MX)", "hard", "notaccept"),
        ("4.1.10", "456 4.1.10 Domain does not accept mail", "soft", "notaccept"),
        ("5.1.6", "551 5.1.6 User has moved; please try <b@example.org>", "hard", "hasmoved"),
        ("5.2.2", "552 5.2.2 Mailbox full", "soft", "mailboxfull"),
        ("", "452 4.2.2 The email account that you tried to reach is over quota", "soft",
         "mailboxfull"),
        ("5.3.4", "552 5.3.4 Message size exceeds fixed limit", "soft", "toolarge"),
        ("5.7.1", "554 5.7.1 <a@example.org>: Relay access denied", "soft", "norelaying"),
        ("5.7.1", "550 5.7.1 Service unavailable; client [192.0.2.1] blocked using "
         "zen.spamhaus.org", "soft", "blocked"),
        ("5.7.1", "550 5.7.1 Message rejected as spam by Content Filtering", "soft",
         "spamdetected"),
        ("4.4.7", "Connection timed out", "soft", "expired"),
        ("5.2.1", "550 5.2.1 The email account that you tried to reach is disabled", "soft",
         "suspended"),
        ("5.1.8", "553 5.1.8 Domain of sender address news@example.com does not exist",
         "soft", "rejected"),
        ("4.4.3", "Host not found, try again", "soft", "networkerror"),
        ("5.7.26", "550 5.7.26 Unauthenticated email is not accepted (DMARC)", "soft",
         "securityerror"),
        ("5.0.0", "", "soft", "onhold"),
    ],
)
def test_wording_and_status_give_kind_and_reason(
    status: str, diagnostic: str, kind: str, reason: str
) -> None:
    assert classify(status, diagnostic)[:2] == (kind, reason)


def test_user_unknown_in_answer_to_data_is_a_filter_not_a_dead_address() -> None:
    stage = ">>> DATA\n<<< 550 Unknown user a@example.org\n"
    assert classify("5.0.0", "550 Unknown user a@example.org", stage)[:2] == ("soft", "filtered")
    stage = ">>> RCPT To:<a@example.org>\n<<< 550 Unknown user a@example.org\n"
    assert classify("5.0.0", "550 Unknown user a@example.org", stage)[:2] == (
        "hard",
        "userunknown",
    )


def test_a_precise_status_overrules_vague_wording() -> None:
    assert classify("5.1.1", "550 5.1.1 rejected")[:2] == ("hard", "userunknown")


def test_status_is_found_in_the_text_or_inferred() -> None:
    assert classify("", "550 5.1.1 user unknown")[2] == "5.1.1"
    assert classify("", "mailbox full")[2] == "5.2.2"
    assert find_status("version 1.2.3.4 then 4.4.1 timeout") == "4.4.1"
