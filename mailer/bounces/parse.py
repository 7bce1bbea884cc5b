"""The public entry: one raw message in, its bounce events out, never an exception.

Readers are tried from the most to the least reliable: a feedback report
(complaint), a provider's own machine format, the standard delivery-status
report, then the wording of the notice. Whatever names the recipients, the
notice's wording is still read for each of them, because a standard report's
diagnostic is so often empty or generic. A VERP token in the address the
bounce came back to names the campaign and subscriber exactly.
"""

from __future__ import annotations

import re
from typing import Final

from mailer.bounces import mime
from mailer.bounces.addresses import addresses_in
from mailer.bounces.classify import classify, find_status, kind_of
from mailer.bounces.dsn import (
    auto_reply,
    looks_like_delivery_status,
    read_delivery_status,
    read_feedback,
)
from mailer.bounces.families import (
    aol_screen_names,
    feedback_on_top,
    hotmail_complaint,
    ses_notification,
)
from mailer.bounces.mime import Part
from mailer.bounces.model import (
    AUTO_REPLY,
    COMPLAINT,
    DELAYED,
    HARD,
    SOFT,
    UNKNOWN,
    BounceEvent,
    Finding,
    ParsedBounce,
)
from mailer.bounces.notice import (
    MAX_RECIPIENTS,
    context_for,
    inline_headers,
    read_notice,
    split_notice,
    strip_boilerplate,
)
from mailer.bounces.proof import VERP_HEADERS, prove
from mailer.bounces.returned import returned_heads, returned_recipients
from mailer.bounces.triage import from_mail_system, looks_like_bounce, says_bounce, says_delayed
from mailer.bounces.wording import precise_reason, reason_from_text
from mailer.tokens import Signer

# Reading the notice again for each recipient is worth it for the usual few;
# a report listing hundreds carries its own diagnostics.
_CONTEXT_LIMIT: Final = 50
# Actions of a report that say nothing failed: delivery done, passed on,
# or (an address-verification probe, Postfix's "sendmail -bv") possible.
_NOT_FAILED: Final = frozenset({"delivered", "relayed", "expanded", "deliverable"})


def parse_message(
    raw: bytes, *, return_path: str = "", signer: Signer | None = None, envelope_to: str = ""
) -> ParsedBounce:
    """Read one message (bytes as received) into its bounce events.

    ``envelope_to`` is the address the message was delivered to, when the
    mail system says so (a pipe's ``ORIGINAL_RECIPIENT``). Never raises: a
    message that cannot be read at all gives one ``unknown`` event, so that a
    caller storing it will not read it again.
    """
    try:
        return read_bounce(raw, return_path=return_path, signer=signer, envelope_to=envelope_to)
    except Exception:  # the promise is "never raises", whatever the input holds
        unknown = (BounceEvent(recipient="", kind=UNKNOWN),)
        return ParsedBounce(message_id=_message_id(raw), events=unknown)


def _message_id(raw: bytes) -> str:
    """The Message-ID alone, for a message the parser failed on (``""`` if none)."""
    try:
        return mime.header(mime.load(raw, headers_only=True), "message-id").strip()
    except Exception:  # as above: whatever the input holds
        return ""


def read_bounce(
    raw: bytes, *, return_path: str = "", signer: Signer | None = None, envelope_to: str = ""
) -> ParsedBounce:
    """Read one message into its bounce events, letting an unforeseen error through.

    This is the reader itself, without :func:`parse_message`'s safety net:
    every shape of input it was written for (junk, damaged MIME, hostile
    sizes) must come out as events here, so that an error in it shows up
    where it happens instead of as a silent ``unknown`` event. Callers that
    store what they read use :func:`parse_message`.
    """
    msg = mime.load(raw)
    message_id = mime.header(msg, "message-id").strip()
    parts = mime.split(msg)
    findings = _findings(msg, parts)
    proof = prove(msg, parts, return_path, signer, envelope_to)
    events = tuple(_event(f, proof.campaign, proof.subscriber) for f in findings)
    if not events:
        subject = mime.header(msg, "subject")
        events = (BounceEvent(recipient="", kind=UNKNOWN, diagnostic=subject[:200]),)
    return ParsedBounce(
        message_id=message_id,
        events=events,
        addressed_to=tuple(dict.fromkeys([*addresses_in(envelope_to), *_addressed_to(msg)])),
        proof=proof.how,
        tampered=proof.tampered,
    )


#: Kinds of event that say a delivery failed (or a complaint was made).
_FAILURES: Final = frozenset({HARD, SOFT, DELAYED, COMPLAINT})


def is_failure_notice(raw: bytes) -> bool:
    """Whether this is a bounce or a complaint, and so no answer a person wrote.

    A report (RFC 3464 delivery status, RFC 5965 feedback, ``X-Failed-Recipients``)
    or a provider's machine format is one outright. A notice in words is one
    when it looks like a mail system's (its sender, an empty return path, or
    a subject such as "Undeliverable" that is no answer's "Re: ...") and the
    reader finds a failed recipient in it: the wording alone would take a
    member's answer that quotes an error message for a bounce.
    """
    msg = mime.load(raw)
    parts = mime.split(msg)
    if parts.delivery_status or parts.feedback or mime.header(msg, "x-failed-recipients"):
        return True
    if hotmail_complaint(parts.original, msg) or ses_notification(parts.notice or parts.html):
        return True
    from_system = (
        says_bounce(msg, parts) or mime.header(msg, "return-path").strip() == "<>"
    )
    return from_system and any(event.kind in _FAILURES for event in parse_message(raw).events)


def _addressed_to(msg: Part) -> tuple[str, ...]:
    found: list[str] = []
    for name in VERP_HEADERS:
        for value in mime.headers(msg, name):
            found += addresses_in(value)
    return tuple(dict.fromkeys(found))


def _event(finding: Finding, campaign: int | None, subscriber: int | None) -> BounceEvent:
    diagnostic = " ".join(finding.diagnostic.split())[:1000]
    if finding.kind:
        return BounceEvent(
            recipient=finding.recipient, kind=finding.kind, status=finding.status,
            reason=finding.reason, diagnostic=diagnostic, campaign=campaign,
            subscriber=subscriber,
        )
    kind, reason, status = classify(finding.status, finding.diagnostic, finding.stage)
    if finding.reason and kind != DELAYED:
        reason = finding.reason
        kind = kind_of(reason, status)
    if finding.action == DELAYED:
        kind = DELAYED
        if status.startswith("5") and not (finding.status or find_status(finding.diagnostic)):
            status = "4" + status[1:]  # inferred from the wording: a delay is transient
    return BounceEvent(
        recipient=finding.recipient, kind=kind, status=status, reason=reason,
        diagnostic=diagnostic, campaign=campaign, subscriber=subscriber,
    )


def _excluded(msg: Part, parts: mime.Parts) -> set[str]:
    """Addresses that are never the failed recipient: the sender's, the message ids."""
    out: set[str] = set()
    for name in ("from", "to", "cc", "reply-to", "return-path", "sender", "delivered-to",
                 "message-id", "in-reply-to", "references"):
        out.update(addresses_in(mime.header(msg, name)))
    for original in parts.original:
        for name in ("from", "sender", "reply-to", "return-path", "message-id"):
            out.update(addresses_in(mime.header(original, name)))
    for text in parts.original_headers:
        for match in re.finditer(
            r"^(?:from|sender|reply-to|return-path|message-id)\s*:(.*)$", text, re.I | re.M
        ):
            out.update(addresses_in(match.group(1)))
    return out


def _findings(msg: Part, parts: mime.Parts, depth: int = 0) -> list[Finding]:
    """Every recipient the message reports on, from the most reliable reader on."""
    notice_parts = parts.notice or parts.html
    notice = split_notice(notice_parts)
    if notice.returned:
        parts.original_headers.append(inline_headers(notice.returned))
    machine = _machine_readable(msg, parts, notice_parts)
    if machine is not None:
        return machine
    findings = _reported(parts, notice_parts)
    if findings is None:
        return []  # a success notice (delivered, relayed, deliverable): nothing failed
    if not findings:
        bounce_like = says_bounce(msg, parts)
        vacation = auto_reply(msg, reads_like_bounce=bounce_like)
        if vacation:
            return [vacation]
        if not looks_like_bounce(msg, bounce_like, notice.written):
            return _nested_report(parts, depth)  # a person may forward one
        excluded = _excluded(msg, parts)
        findings = _named_by_notice(msg, notice.written, excluded)
        if not findings:
            nested = _nested_report(parts, depth)
            if nested:
                return nested
            heads = returned_heads(parts.original, parts.original_headers)
            findings = [Finding(recipient=r) for r in returned_recipients(heads, excluded)]
        if says_delayed(msg, notice.written):
            for finding in findings:
                finding.action = finding.action or DELAYED
    findings = findings[:MAX_RECIPIENTS]
    if len(findings) <= _CONTEXT_LIMIT:
        _add_context(findings, notice.written)
    return findings


def _machine_readable(msg: Part, parts: mime.Parts, notice: list[str]) -> list[Finding] | None:
    """Complaints (ARF, Microsoft's JMRP) and a provider's own format (Amazon SES)."""
    for text in parts.feedback or [feedback_on_top(msg)]:
        if text:
            return read_feedback(text, parts.original, parts.original_headers)
    jmrp = hotmail_complaint(parts.original, msg)
    if jmrp is not None:
        return jmrp
    return ses_notification(notice)


def _reported(parts: mime.Parts, notice: list[str]) -> list[Finding] | None:
    """The failed recipients of a standard report; ``None`` when it reports only success."""
    findings: list[Finding] = []
    for text in parts.delivery_status:
        findings += read_delivery_status(text)
    if not findings:
        for text in notice:
            if looks_like_delivery_status(text):
                findings += read_delivery_status(text)
    findings = _merge(findings)
    if findings and all(_succeeded(f) for f in findings):
        return None
    return [f for f in findings if not _succeeded(f)]


def _named_by_notice(msg: Part, written: str, excluded: set[str]) -> list[Finding]:
    """Recipients the notice names: X-Failed-Recipients, its wording, AOL's screen names."""
    failed = addresses_in(mime.header(msg, "x-failed-recipients"))
    from_notice = read_notice(written, excluded)
    if failed:
        known = {f.recipient: f for f in from_notice}
        return [known.get(r) or Finding(recipient=r) for r in failed]
    if from_notice:
        return from_notice
    return [Finding(recipient=r) for r in aol_screen_names(msg, written)]


#: A notice forwarded inside a notice is read; one inside that too, no further.
_MAX_NESTING: Final = 2
# An attached message that is itself a report, by its type or its sender.
_REPORT_TYPES: Final = ("multipart/report", "message/delivery-status")


def _nested_report(parts: mime.Parts, depth: int) -> list[Finding]:
    """What a report attached to a message that names nobody says (a forwarded bounce)."""
    if depth >= _MAX_NESTING:
        return []
    for head, raw in zip(parts.original, parts.original_raw, strict=False):
        if head.content_type not in _REPORT_TYPES and not from_mail_system(head):
            continue
        inner = mime.load(raw)
        found = _findings(inner, mime.split(inner), depth + 1)
        if any(f.kind != AUTO_REPLY for f in found):
            return found
    return []


def _succeeded(finding: Finding) -> bool:
    """Whether a report's block says the recipient's mail went (or would go) through.

    A success code (2.x.x) counts when no action says otherwise: some servers
    put 2.0.0 beside "Action: failed", and the action is then what counts.
    """
    if finding.action in _NOT_FAILED:
        return True
    return finding.status.startswith("2.") and finding.action not in ("failed", "delayed")


def _merge(findings: list[Finding]) -> list[Finding]:
    """One finding per recipient (reports repeat a recipient across blocks)."""
    merged: dict[str, Finding] = {}
    for finding in findings:
        seen = merged.get(finding.recipient)
        if seen is None:
            merged[finding.recipient] = finding
            continue
        if not seen.status:
            seen.status = finding.status
        if finding.diagnostic and finding.diagnostic not in seen.diagnostic:
            seen.diagnostic = f"{seen.diagnostic} {finding.diagnostic}".strip()
        if seen.action != "failed" and finding.action:
            seen.action = finding.action
    return list(merged.values())


def _add_context(findings: list[Finding], notice: str) -> None:
    """Give each recipient the notice's words about it when its own are vague.

    ``notice`` is what the reporting server wrote, without the letter it returns.
    """
    if not notice:
        return
    single = len(findings) == 1
    for finding in findings:
        if finding.kind:
            continue
        context = context_for(finding.recipient, notice)
        # The refused SMTP command may be said anywhere near the answer.
        finding.stage = f"{finding.diagnostic}\n{context}\n{notice[:4000] if single else ''}"
        if precise_reason(finding.diagnostic):
            continue
        vague = reason_from_text(finding.diagnostic)
        # A report's Diagnostic-Code is the server's own answer: trust it. A
        # notice's lines may be boilerplate around the answer.
        if vague and (finding.action or not single):
            continue
        if not vague and reason_from_text(context):
            finding.diagnostic = f"{finding.diagnostic} {context}".strip()
        elif single:
            # Some servers put the remote answer paragraphs away from the
            # address (Gmail: "The error that the other server returned was").
            cleaned = strip_boilerplate(notice[:4000])
            if not vague or precise_reason(cleaned):
                finding.diagnostic = f"{finding.diagnostic} {cleaned}".strip()
        if not finding.status:
            finding.status = find_status(finding.diagnostic)


__all__ = ["ParsedBounce", "is_failure_notice", "parse_message", "read_bounce"]
