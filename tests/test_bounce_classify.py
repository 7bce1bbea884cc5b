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


@pytest.mark.parametrize(
    ("diagnostic", "kind", "reason"),
    [
        # Google's user-unknown answer, beside the notice's "try again".
        ("550 5.1.1 The email account that you tried to reach does not exist. Check for typos "
         "or unnecessary spaces and try again.", "hard", "userunknown"),
        ("Your message wasn't delivered because the address couldn't be found. Check for "
         "typos or unnecessary spaces and try again.", "hard", "userunknown"),
        ("451 4.4.3 Host not found, try again", "soft", "networkerror"),
        ("Unable to deliver message to <a@example.org> (and other recipients in the same "
         "domain).", "hard", "userunknown"),
        ("Unable to deliver message to <a@example.org>: 552 mailbox full", "soft",
         "mailboxfull"),
        ("550 no mail box here", "hard", "userunknown"),
        ("550 mail-box not found", "hard", "userunknown"),
        ("550 5.1.1 BAD_RECIPIENT", "hard", "userunknown"),
        ("550 <a@example.org> is not an active address at this host", "hard", "userunknown"),
        ("550 5.1.1 <a@example.org>: inactive email address", "hard", "userunknown"),
        ("550 the address a@example.org is no longer valid", "hard", "userunknown"),
        ("550 5.2.1 The email account that you tried to reach is inactive.", "soft",
         "suspended"),
        # German.
        ("550 5.1.1 Benutzer unbekannt", "hard", "userunknown"),
        ("550 Empfänger unbekannt", "hard", "userunknown"),
        ("550 Unbekannter Empfaenger", "hard", "userunknown"),
        ("550 Die Adresse existiert nicht", "hard", "userunknown"),
        ("552 Postfach voll", "soft", "mailboxfull"),
        ("452 Das Postfach ist voll", "soft", "mailboxfull"),
        # French.
        ("550 utilisateur inconnu", "hard", "userunknown"),
        ("550 Destinataire inconnu", "hard", "userunknown"),
        ("550 5.1.1 Adresse d au moins un destinataire invalide", "hard", "userunknown"),
        ("550 Cette adresse n'existe pas", "hard", "userunknown"),
        ("552 boîte pleine", "soft", "mailboxfull"),
        ("552 La boite aux lettres est pleine", "soft", "mailboxfull"),
        ("550 Domaine inconnu", "hard", "hostunknown"),
        # Spanish.
        ("550 Usuario desconocido", "hard", "userunknown"),
        ("550 La dirección no existe", "hard", "userunknown"),
        ("552 buzón lleno", "soft", "mailboxfull"),
        ("552 El buzon esta lleno", "soft", "mailboxfull"),
        # Portuguese.
        ("550 Usuário desconhecido", "hard", "userunknown"),
        ("550 usuario desconhecido", "hard", "userunknown"),
        ("550 Destinatário inexistente", "hard", "userunknown"),
        ("552 caixa postal cheia", "soft", "mailboxfull"),
        ("552 Caixa de correio lotada", "soft", "mailboxfull"),
        # Italian and Dutch.
        ("550 utente sconosciuto", "hard", "userunknown"),
        ("552 casella piena", "soft", "mailboxfull"),
        ("550 gebruiker onbekend", "hard", "userunknown"),
        # Japanese.
        ("550 宛先不明", "hard", "userunknown"),
        ("550 指定されたユーザが存在しません", "hard", "userunknown"),
        ("550 該当ユーザーがいません", "hard", "userunknown"),
        ("552 メールボックスがいっぱいです", "soft", "mailboxfull"),
        ("552 メールボックスの容量が超過しています", "soft", "mailboxfull"),
        # Chinese, Korean, Russian.
        ("550 收件人不存在", "hard", "userunknown"),
        ("552 邮箱空间不足", "soft", "mailboxfull"),
        ("550 존재하지 않는 사용자입니다", "hard", "userunknown"),
        ("550 пользователь не найден", "hard", "userunknown"),
        ("552 почтовый ящик переполнен", "soft", "mailboxfull"),
    ],
)
def test_wording_families(diagnostic: str, kind: str, reason: str) -> None:
    assert classify("", diagnostic)[:2] == (kind, reason)


def test_a_domain_google_could_not_find_is_a_dead_host() -> None:
    diagnostic = ("Your message wasn't delivered to a@nohost.example because the domain "
                  "nohost.example couldn't be found. Check for typos and try again.")
    assert classify("", diagnostic)[:2] == ("hard", "hostunknown")


@pytest.mark.parametrize(
    ("status", "diagnostic", "expected"),
    [
        ("5.0.0", "550 #5.1.0 Address rejected", ("hard", "userunknown", "5.1.0")),
        ("5.0.0", "550 5.1.1 <a@example.org>... User unknown", ("hard", "userunknown", "5.1.1")),
        ("", "550 5.0.0 <a@example.org>... 5.1.1 no such user", ("hard", "userunknown", "5.1.1")),
        ("5.1.1", "550 5.1.0 rejected", ("hard", "userunknown", "5.1.1")),
        ("5.0.0", "250 2.1.5 ok; 550 5.0.0 rejected", ("soft", "filtered", "5.0.0")),
    ],
)
def test_the_most_specific_code_given_is_used(
    status: str, diagnostic: str, expected: tuple[str, str, str]
) -> None:
    assert classify(status, diagnostic) == expected


@pytest.mark.parametrize(
    ("stage", "reason"),
    [
        (">>> MAIL From:<news@example.com> SIZE=100\n<<< 550 5.1.1 Unknown user", "rejected"),
        (">>> RCPT To:<a@example.org>\n<<< 550 5.1.1 Unknown user", "userunknown"),
        ("SMTP error from remote mail server after MAIL FROM:<news@example.com>:", "rejected"),
        ("SMTP error from remote mail server after RCPT TO:<a@example.org>:", "userunknown"),
        ("(in reply to MAIL FROM command)", "rejected"),
        ("did not like our MAIL FROM:", "rejected"),
        ("Sent <<< MAIL FROM:<news@example.com>\nReceived >>> 550 5.1.1 Unknown user",
         "rejected"),
        ("... while talking to mx.example.org.:\n<<< 554 5.1.1 Unknown user", "blocked"),
    ],
)
def test_the_refused_command_decides_whose_problem_it_is(stage: str, reason: str) -> None:
    assert classify("", "550 5.1.1 Unknown user", stage)[1] == reason


def test_a_session_whose_command_line_is_missing_is_no_greeting_refusal() -> None:
    stage = "... while talking to mx.example.org.:\n<<< 550 <a@example.org>... User unknown"
    assert classify("", "550 <a@example.org>... User unknown", stage)[:2] == (
        "hard", "userunknown")
