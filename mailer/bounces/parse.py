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
from dataclasses import dataclass
from typing import Final

from mailer import tokens
from mailer.bounces import mime
from mailer.bounces.addresses import addresses_in
from mailer.bounces.classify import (
    classify,
    find_status,
    kind_of,
    precise_reason,
    reason_from_text,
)
from mailer.bounces.dsn import (
    auto_reply,
    looks_like_delivery_status,
    original_recipients,
    read_delivery_status,
    read_feedback,
)
from mailer.bounces.families import hotmail_complaint, ses_notification
from mailer.bounces.mime import Part
from mailer.bounces.model import (
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
    DELAY,
    MAX_RECIPIENTS,
    PERMANENT,
    context_for,
    read_notice,
    strip_boilerplate,
)
from mailer.errors import TokenError
from mailer.tokens import Signer

# Reading the notice again for each recipient is worth it for the usual few;
# a report listing hundreds carries its own diagnostics.
_CONTEXT_LIMIT: Final = 50
_NOT_FAILED: Final = frozenset({"delivered", "relayed", "expanded"})
_BOUNCE_SENDER: Final = re.compile(
    r"mailer-daemon|postmaster|mail ?delivery|mail administrator|mail system|mdaemon"
    r"|post_master|-admin@|bounce",
    re.I,
)
_BOUNCE_SUBJECT: Final = re.compile(
    r"undeliver|undelivered|delivery (?:status|failure|failed|notification|problem)"
    r"|returned mail|mail delivery|failure notice|non.?delivery|could not be delivered"
    r"|delivery has failed|not delivered|mail system error|rejected|failed|error|bounce"
    r"|returning message|warning|delayed|not member|loop|unzustellbar|nicht zustellbar"
    r"|non remis|no entregado|エラー|不達|返送",
    re.I,
)
_VERP_HEADERS: Final = (
    "to", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to", "x-rcpt-to",
    "original-recipient", "x-original-rcpt-to",
)


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
    proof = _proof(msg, parts, return_path, signer, envelope_to)
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


#: How a person's answer or forward begins its subject (Re:, AW:, SV:, Fwd:, WG:, ...).
_ANSWER_SUBJECT: Final = re.compile(
    r"^\s*(?:re|aw|sv|vs|antw|ref|rif|fwd?|wg|tr|rv)\s*(?:\[\d+\])?\s*:", re.I
)


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
    subject = mime.header(msg, "subject")
    return_path = mime.header(msg, "return-path")
    from_system = (
        bool(_BOUNCE_SENDER.search(mime.header(msg, "from") + " " + return_path))
        or return_path.strip() == "<>"
        or bool(_BOUNCE_SUBJECT.search(subject) and not _ANSWER_SUBJECT.match(subject))
    )
    return from_system and any(event.kind in _FAILURES for event in parse_message(raw).events)


def _addressed_to(msg: Part) -> tuple[str, ...]:
    found: list[str] = []
    for name in _VERP_HEADERS:
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


def _looks_like_bounce(msg: Part, parts: mime.Parts) -> bool:
    if parts.delivery_status or mime.header(msg, "x-failed-recipients"):
        return True
    sender = mime.header(msg, "from") + " " + mime.header(msg, "return-path")
    if _BOUNCE_SENDER.search(sender) or mime.header(msg, "return-path").strip() == "<>":
        return True
    if _BOUNCE_SUBJECT.search(mime.header(msg, "subject")):
        return True
    notice = "\n".join(parts.notice or parts.html)[:5000].lower()
    return bool(PERMANENT.search(notice) or DELAY.search(notice))


def _findings(msg: Part, parts: mime.Parts) -> list[Finding]:
    notice_parts = parts.notice or parts.html
    notice = "\n".join(notice_parts)
    # 1. Complaints.
    for text in parts.feedback:
        return read_feedback(text, parts.original, parts.original_headers)
    jmrp = hotmail_complaint(parts.original, msg)
    if jmrp is not None:
        return jmrp
    # 2. A provider's machine format.
    ses = ses_notification(notice_parts)
    if ses is not None:
        return ses
    # 3. The standard report.
    findings: list[Finding] = []
    for text in parts.delivery_status:
        findings += read_delivery_status(text)
    if not findings:
        for text in notice_parts:
            if looks_like_delivery_status(text):
                findings += read_delivery_status(text)
    findings = _merge(findings)
    if findings and all(f.action in _NOT_FAILED for f in findings):
        return []  # a success notice (delivered, relayed, expanded): nothing failed
    findings = [f for f in findings if f.action not in _NOT_FAILED]
    is_bounce = _looks_like_bounce(msg, parts)
    excluded = _excluded(msg, parts)
    # 4. The notice's wording: recipients when nothing else named them, and
    # what went wrong for each.
    if not findings:
        vacation = auto_reply(msg)
        if vacation and not _BOUNCE_SENDER.search(mime.header(msg, "from")):
            return [vacation]
        if not is_bounce:
            return []
        failed = addresses_in(mime.header(msg, "x-failed-recipients"))
        from_notice, _ = read_notice(notice, excluded)
        if failed:
            known = {f.recipient: f for f in from_notice}
            findings = [known.get(r) or Finding(recipient=r) for r in failed]
        else:
            findings = from_notice
        if not findings:
            findings = [Finding(recipient=r) for r in original_recipients(
                parts.original, parts.original_headers) if r not in excluded]
        delayed = _says_delayed(msg, notice)
        for finding in findings:
            if delayed and not finding.action:
                finding.action = DELAYED
    findings = findings[:MAX_RECIPIENTS]
    if len(findings) <= _CONTEXT_LIMIT:
        _add_context(findings, notice)
    if not findings:
        vacation = auto_reply(msg)
        if vacation:
            return [vacation]
    return findings


def _says_delayed(msg: Part, notice: str) -> bool:
    """Whether the notice as a whole reports a delay rather than a failure."""
    text = (mime.header(msg, "subject") + "\n" + notice[:5000]).lower()
    return bool(DELAY.search(text)) and not PERMANENT.search(strip_boilerplate(text))


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
    """Give each recipient the notice's words about it when its own are vague."""
    if not notice:
        return
    single = len(findings) == 1
    for finding in findings:
        if finding.kind:
            continue
        precise = precise_reason(finding.diagnostic)
        if precise and precise != "userunknown":
            continue  # nothing to add; the SMTP stage matters only for "user unknown"
        context = context_for(finding.recipient, notice)
        finding.stage = f"{finding.diagnostic}\n{context}\n{notice[:4000] if single else ''}"
        if precise:
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


@dataclass(frozen=True)
class _Proof:
    """What the signed tokens in a message prove: which letter to whom, and how."""

    campaign: int | None = None
    subscriber: int | None = None
    how: str = ""  # "verp", "message-id" or "" (nothing proven)
    tampered: bool = False


#: Text of a message read for tokens: enough for the headers of a returned letter
#: however long the notice in front of it.
_TOKEN_TEXT: Final = 200_000


def _proof(
    msg: Part, parts: mime.Parts, return_path: str, signer: Signer | None, envelope_to: str
) -> _Proof:
    """The campaign and subscriber a signed token of ours names, and where it was.

    A VERP address (the envelope recipient the bounce came back to) is the
    first proof; a Message-ID that mailer signed, quoted anywhere in the
    report (the returned letter's headers, an inline copy, a provider's
    JSON), is the second. Anything else proves nothing. ``tampered`` says a
    token was there but its signature failed: mail that claims to answer our
    letter but cannot show it.
    """
    if signer is None:
        return _Proof()
    envelope: list[str] = addresses_in(envelope_to)
    for name in _VERP_HEADERS:
        for value in mime.headers(msg, name):
            envelope += addresses_in(value)
    for original in parts.original:
        envelope += addresses_in(mime.header(original, "return-path"))
    for text in parts.original_headers:
        match = re.search(r"^return-path\s*:(.*)$", text, re.I | re.M)
        if match:
            envelope += addresses_in(match.group(1))
    tampered = False
    if return_path:
        for address in dict.fromkeys(envelope):
            token = tokens.verp_token(address, return_path)
            if not token:
                continue
            try:
                claim = signer.verify(token, tokens.VERP)
                return _Proof(claim.integer(0), claim.integer(1), "verp")
            except TokenError:
                tampered = True
    quoted = [mime.header(msg, "in-reply-to"), mime.header(msg, "references")]
    quoted += [mime.header(original, "message-id") for original in parts.original]
    quoted += parts.original_headers + parts.feedback + parts.delivery_status
    quoted += parts.notice + parts.html
    text = "\n".join(quoted)[:_TOKEN_TEXT]
    for candidate in tokens.tokens_in(text):
        try:
            claim = signer.verify(candidate, tokens.MESSAGE_ID)
            return _Proof(claim.integer(0) or None, claim.integer(1) or None, "message-id")
        except TokenError:
            continue
    return _Proof(tampered=tampered)


__all__ = ["ParsedBounce", "is_failure_notice", "parse_message", "read_bounce"]
