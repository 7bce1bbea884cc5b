"""Providers' words as reports: hard or soft, and the HTTPS fetch SNS's checks use.

The fetch is tested against a real HTTPS server on loopback whose
certificate the test CA issued, so the TLS check is the real one.
"""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from mailer.bounces.providers.https import certificates_in, https_get, system_anchors
from mailer.bounces.providers.mailgun import mailgun_reports
from mailer.bounces.providers.report import SUPPRESSED, failure
from mailer.bounces.providers.sendgrid import sendgrid_reports
from mailer.bounces.providers.ses import ses_reports
from mailer.errors import FetchFailed
from tests.provider_helpers import Authority, pki, server_certificate, ses_bounce


@pytest.mark.parametrize(
    ("permanent", "diagnostic", "fallback", "expected"),
    [
        (True, "550 5.1.1 user unknown", "", ("hard", "userunknown")),
        (True, "", "", ("hard", "undefined")),
        (True, "", SUPPRESSED, ("hard", SUPPRESSED)),
        # The words name a cause that may pass: the provider's "permanent" does not make it dead.
        (True, "552 5.2.2 mailbox full", "", ("soft", "mailboxfull")),
        (True, "550 5.7.1 message rejected as spam", "", ("soft", "spamdetected")),
        # A provider that will try again is never reporting a dead address.
        (False, "550 5.1.1 user unknown", "", ("soft", "userunknown")),
        (False, "", "blocked", ("soft", "blocked")),
        # No verdict: the words decide, then the provider's type.
        (None, "550 5.1.1 user unknown", "", ("hard", "userunknown")),
        (None, "", "userunknown", ("hard", "userunknown")),
        (None, "", "", ("soft", "onhold")),
    ],
)
def test_the_verdict_and_the_words_are_weighed(
    permanent: bool | None, diagnostic: str, fallback: str, expected: tuple[str, str]
) -> None:
    report = failure("ses", "e-1", "ann@example.org", permanent=permanent,
                     diagnostic=diagnostic, fallback=fallback)
    assert (report.kind, report.reason) == expected


def test_a_temporary_failure_without_a_code_gets_a_temporary_one() -> None:
    report = failure("mailgun", "e-1", "a@example.org", permanent=False, diagnostic="try later")
    assert report.status.startswith("4.")
    stated = failure("mailgun", "e-1", "a@example.org", permanent=False, status="5.7.1")
    assert stated.status == "5.7.1"


def test_ses_subtypes_name_the_reason_the_words_do_not() -> None:
    person = {"emailAddress": "ann@example.org"}
    suppressed = ses_reports(ses_bounce([person], subtype="Suppressed"), "sns-1")
    no_email = ses_reports(ses_bounce([person], subtype="NoEmail"), "sns-1")
    too_large = ses_reports(ses_bounce([person], bounce_type="Transient",
                                       subtype="MessageTooLarge"), "sns-1")
    assert [(r.kind, r.reason) for r in suppressed.events] == [("hard", SUPPRESSED)]
    assert [(r.kind, r.reason) for r in no_email.events] == [("hard", "userunknown")]
    assert [(r.kind, r.reason) for r in too_large.events] == [("soft", "toolarge")]


def test_ses_reports_each_recipient_under_the_feedback_id() -> None:
    people = [{"emailAddress": "ann@example.org"}, {"emailAddress": "bo@example.org"}]
    found = ses_reports(ses_bounce(people, feedback_id="fb-9"), "sns-1")
    assert [(r.key, r.recipient) for r in found.events] == [
        ("ses:fb-9", "ann@example.org"), ("ses:fb-9", "bo@example.org")
    ]


def test_a_not_spam_report_from_ses_is_read_as_one() -> None:
    text = json.dumps({"notificationType": "Complaint", "complaint": {
        "feedbackId": "c-1", "complaintFeedbackType": "not-spam",
        "complainedRecipients": [{"emailAddress": "ann@example.org"}]}})
    [report] = ses_reports(text, "sns-1").events
    assert (report.kind, report.reason) == ("complaint", "notspam")


def test_mailgun_suppressions_are_read_by_their_reason() -> None:
    def event(reason: str) -> dict[str, object]:
        return {"event-data": {"event": "failed", "id": "e", "recipient": "a@example.org",
                               "severity": "permanent", "reason": reason,
                               "delivery-status": {"code": 605, "message": "",
                                                   "description": "Not delivering"}}}

    [bounced] = mailgun_reports(event("suppress-bounce")).events
    [complained] = mailgun_reports(event("suppress-complaint")).events
    assert (bounced.kind, bounced.reason) == ("hard", SUPPRESSED)
    assert complained.kind == "complaint"
    assert mailgun_reports({"event-data": {"event": "opened"}}).ignored == 1


def test_sendgrid_dropped_reasons() -> None:
    def dropped(reason: str) -> bytes:
        return json.dumps([{"event": "dropped", "reason": reason, "sg_event_id": "d",
                            "email": "a@example.org"}]).encode()

    assert [(r.kind, r.reason) for r in sendgrid_reports(dropped("Bounced Address")).events] == [
        ("hard", SUPPRESSED)
    ]
    assert [r.kind for r in sendgrid_reports(dropped("Spam Reporting Address")).events] == [
        "complaint"
    ]
    assert [r.kind for r in sendgrid_reports(dropped("Spam Content")).events] == ["soft"]


# -- the HTTPS fetch -------------------------------------------------------------------


class _Pages(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/cert.pem":
            body, status = pki().sns_pem, 200
        elif self.path == "/big":
            body, status = b"x" * 300_000, 200
        else:
            body, status = b"no", 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server on loopback with a certificate for localhost from the test CA."""
    leaf: Authority = server_certificate("localhost")
    (tmp_path / "server.pem").write_bytes(leaf.pem + pki().intermediate.pem)
    (tmp_path / "server.key").write_bytes(leaf.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _trusting_the_test_ca() -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=pki().root.pem.decode("ascii"))
    return context


def test_the_fetch_reads_a_page_over_verified_tls(https_server: str) -> None:
    body = https_get(f"{https_server}/cert.pem", context=_trusting_the_test_ca())
    assert certificates_in(body)[0] == pki().sns.certificate


def test_the_fetch_refuses_what_it_should_not_read(https_server: str) -> None:
    with pytest.raises(FetchFailed, match="HTTP 404"):
        https_get(f"{https_server}/missing", context=_trusting_the_test_ca())
    with pytest.raises(FetchFailed, match="more than"):
        https_get(f"{https_server}/big", context=_trusting_the_test_ca())
    with pytest.raises(FetchFailed, match="only https"):
        https_get(https_server.replace("https:", "http:") + "/cert.pem")
    with pytest.raises(FetchFailed, match="certificate"):
        https_get(f"{https_server}/cert.pem")  # the system does not trust the test CA


def test_the_systems_anchors_are_read_from_its_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"junk\n" + pki().root.pem + b"-----BEGIN CERTIFICATE-----\nAA==\n"
                       b"-----END CERTIFICATE-----\n" + pki().intermediate.pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert system_anchors() == [pki().root.certificate, pki().intermediate.certificate]
