"""Reading the human-readable notice: who failed, and what the server said.

Most mail servers that do not send a standard report (and many that do, with
an empty diagnostic) write a notice for people: Exim lists each address on
its own line with the SMTP dialogue under it, Postfix and qmail start a line
with ``<address>:``, Sendmail quotes ``RCPT To:<address>`` and ``address...
User unknown``, Exchange and Domino write ``address on <date>`` or
``was not delivered to: address``. Rather than one parser per server, this
reads those shapes directly: an address in a recipient position is a
recipient; the lines under it, up to the next recipient or a blank gap, are
its diagnostic. The returned original (after its marker line) is never read.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from mailer.bounces.addresses import ADDRESS, is_role, normalise
from mailer.bounces.model import Finding

#: A notice longer than this is not read further: what a server says about
#: its recipients comes first, and a longer text is a quoted original or junk.
MAX_NOTICE: Final = 256_000
#: No bounce reports on more recipients than this; beyond it is not a bounce.
MAX_RECIPIENTS: Final = 500

# Where the notice ends and the copy of the original message begins.
_CUT: Final = re.compile(
    r"^[ \t>]*(?:-{2,}|={2,}|_{2,}|\*{2,}|#{2,})?[ \t]*"
    r"(?:(?:the |a )?original message(?! (?:was|to|could|sent|from|is))"
    r"|below this line is a copy of the message"
    r"|this is a copy of the message|(?:the )?original message (?:follows|headers?)"
    r"|message header follows|(?:the )?headers? of (?:the )?(?:original|returned) message"
    r"|undelivered message (?:follows|headers)|unsent message follows"
    r"|returned (?:message|mail|content) (?:follows|below)|original message headers"
    r"|copy of (?:the )?(?:original )?message|included is a copy of the (?:original )?message"
    r"|original mail (?:follows|headers?)|following is a copy of"
    r"|the header of the original message is following|content-type: message/rfc822"
    r"|message text follows|message header and text follow|headers are as follows"
    r"|the text you sent follows|original text follows|the original message is attached"
    r"|(?:original|returned|your) (?:mail|message) (?:as follows|is as follows|follows)"
    r")[^\n]*$"
    r"|^[ \t]*(?:Return-Path|Received|DKIM-Signature|Delivered-To|X-Original-To)[ \t]*:[ \t]*\S"
    # A header folds over a few lines, never hundreds: the bound keeps a long
    # run of indented lines from being rescanned from each of its lines.
    r"[^\n]*\n(?:[ \t][^\n]*\n){0,40}+(?:[A-Za-z][A-Za-z0-9\-]*:[^\n]*\n)",
    re.I | re.M,
)

# Boilerplate that describes every bounce, not this recipient's problem;
# removed before the wording is classified.
_BOILERPLATE: Final = re.compile(
    r"this is a permanent error[^.\n]*[.\n]?|i(?:'ve| have) given up[^.\n]*[.\n]?"
    r"|sorry it didn'?t work out\.?|(?:could|can) ?not be delivered to one or more"
    r"|delivery (?:to the following recipients? )?(?:has )?failed permanently:?"
    r"|the mail system|this message was created automatically by mail delivery software\.?"
    r"|eventually the mail delivery software will give up[^.\n]*\.?"
    r"|(?:i'?m|we are) sorry to (?:have to )?inform you[^.\n]*\.?"
    r"|no action is required on your part\.?|delivery attempts will continue[^.\n]*\.?"
    r"|this warning may be repeated[^.\n]*\.?|remains undelivered\.?"
    r"|for further assistance[^.\n]*\.?|please contact your (?:system )?administrator[^.\n]*"
    r"|ihre nachricht konnte nicht|message could not be delivered",
    re.I,
)

# Wording that says delivery is late, not failed (matched against lower-cased text).
DELAY: Final = re.compile(
    r"will (?:continue|keep) (?:trying|to try)|still (?:being )?retr(?:y|ied|ying)"
    r"|delivery (?:has been |is )?delayed|has not (?:yet )?been delivered|not yet been delivered"
    r"|this is (?:just )?a warning(?: message)?(?: only)?|warning: (?:message|could not send)"
    r"|will (?:be )?retr(?:y|ied)|delivery attempts will continue|still on the queue"
    r"|do not need to resend|delivery status notification \(delay\)|delayed mail"
    r"|will try again|temporarily (?:deferred|delayed)",
)
PERMANENT: Final = re.compile(
    r"permanent(?:ly)? (?:error|fail)|(?:i've |have |has )given up|will not be retried"
    r"|could not be delivered|undeliverable|delivery (?:has )?failed|failed permanently"
    r"|was not delivered|returned mail|delivery failure|rejected",
)

_NOT_RECIPIENT_PREFIX: Final = re.compile(
    r"(?:^|\b)(?:from|sender|reply-to|return-path|message-id|mail from|envelope-from"
    r"|references|in-reply-to|errors-to|resent-from|x-[a-z\-]+|id|posted by|sent by"
    r"|author|submitter|contact|smtp\.mailfrom|header\.from|header\.i|mailfrom"
    r"|dkim-signature|d|s|by)\s*[:=]?\s*[<\"'(\[]?\s*$",
    re.I,
)
_RECIPIENT_PREFIX: Final = re.compile(
    r"(?:rcpt to|recipient(?:\s+address)?|addressee|to|for|user|mailbox|address"
    r"|delivered to|deliver(?:y)? to|delivering to|failed to|rejected|original-recipient"
    r"|final-recipient|rfc822|failed recipient|e-?mail|account|forward to)"
    r"\s*(?:\([^)]*\))?\s*[:;=]?\s*[<\"'(\[]?\s*$",
    re.I,
)
_HEADER_TO: Final = re.compile(r"^\s*(?:to|cc)\s*:\s*[<\"'(\[]?\s*$", re.I)
_ALONE: Final = re.compile(r"^[\s<\"'(\[]*$")
# Matched from the end of an address on (``match(line, pos)`` anchors there).
_ALONE_AFTER: Final = re.compile(r"[>\"')\]]*\s*[:,.;]?\s*$")
_LINE_START_AFTER: Final = re.compile(r">?\s*(?::|\.\.\.|\s+on\s|\s*\(|\s*-\s|\s+\S)", re.I)


@dataclass(frozen=True)
class Mention:
    """One address at one place in the notice, and whether the place names a recipient."""

    address: str
    line: int
    strong: bool


def cut_original(text: str) -> str:
    """The notice without the copy of the original message that often follows it."""
    match = _CUT.search(text)
    return text[: match.start()] if match else text


# A ">>> " that starts a line is a session transcript's command, not quoting.
_QUOTED: Final = re.compile(r"^(?:[ \t]?>(?!>> ))+[ \t]?", re.M)


def unquote(text: str) -> str:
    """Line ends made plain and ``> `` quoting removed (a bounce forwarded inline).

    The ``>>>`` of a session transcript (the command sent) is kept.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if ">" in text:
        text = _QUOTED.sub("", text)
    return text


@dataclass(frozen=True)
class Notice:
    """A notice split in two: what the reporting server wrote, and what it returned.

    Only ``written`` is read for recipients and causes: the returned
    letter's headers (a ``DKIM-Signature``), its text, and the reporting
    server's own footers (an antivirus stamp, a disclaimer) are not the
    server's answer. ``returned`` is the inline copy of the letter, from its
    marker line on, read only for its headers.
    """

    written: str
    returned: str


#: Of an inline copy of the returned letter, only its head is kept.
_RETURNED: Final = 20_000


def split_notice(texts: list[str]) -> Notice:
    """The notice's own words and the inline copy of the letter it returns.

    ``texts`` are the message's text parts in order. A later part that
    starts with a header block is the returned letter sent as text (some
    servers attach it as ``text/plain``), whatever header comes first.
    """
    for index, text in enumerate(texts[1:], start=1):
        if _starts_with_headers(text):
            written, returned = "\n".join(texts[:index]), "\n".join(texts[index:])
            break
    else:
        written, returned = "\n".join(texts), ""
    body = unquote(written[:MAX_NOTICE])
    match = _CUT.search(body)
    if match is not None:
        body, returned = body[: match.start()], body[match.start():] + "\n" + returned
    return Notice(_without_footers(body), returned[:_RETURNED])


_HEADER_START: Final = re.compile(
    r"(?:[A-Za-z][A-Za-z0-9\-]*:[ \t]*\S[^\n]*\n(?:[ \t][^\n]*\n)*){3}"
)
# Fields of a message (not of a report, whose parts also start with fields).
_MESSAGE_FIELD: Final = re.compile(
    r"^(?:from|to|subject|date|message-id|received|return-path):", re.I | re.M
)


def _starts_with_headers(text: str) -> bool:
    """Whether a text begins with a message's header block (three fields or more)."""
    head = _HEADER_START.match(text.lstrip("\r\n")[:4000].replace("\r\n", "\n"))
    return head is not None and _MESSAGE_FIELD.search(head.group(0)) is not None


# A paragraph that vouches for the mail (an antivirus stamp) or warns about it
# (a disclaimer), written under every message a server sends. Matched against
# lower-cased text, as case-blind alternations are slow.
_FOOTER: Final = re.compile(
    r"scanned (?:for viruses|by|with)|checked for viruses|virus[- ]free|no virus found"
    r"|believed to be clean|protected by [^\n]{0,40}anti-?virus|disclaimer"
    r"|(?:is|are|may (?:be|contain)) (?:strictly )?(?:confidential|privileged)"
    r"|intended (?:solely |only )?for the (?:use of the )?(?:named |intended )?"
    r"(?:recipient|addressee|individual)"
)
# What a paragraph says when it is a server's answer, footer words or not.
_ANSWER: Final = re.compile(
    r"\b[245]\d\d\b|\b[245]\.\d{1,3}\.\d{1,3}\b|detected|infected|contains? a virus"
    r"|found a virus|rejected|refused|blocked"
)


def _without_footers(text: str) -> str:
    """The text without its signature (after a "-- " line) and its footer paragraphs."""
    signature = text.find("\n-- \n")
    if signature != -1:
        text = text[: signature + 1]
    if _FOOTER.search(text.lower()) is None:
        return text
    paragraphs = re.split(r"\n[ \t]*\n", text)
    return "\n\n".join(p for p in paragraphs if not _is_footer(p.lower()))


def _is_footer(paragraph: str) -> bool:
    return bool(_FOOTER.search(paragraph)) and not _ANSWER.search(paragraph)


_HEADER_LINE: Final = re.compile(r"[A-Za-z][A-Za-z0-9\-]*:[ \t]")


def inline_headers(returned: str) -> str:
    """The header block of an inline copy of the returned letter (``""`` if none)."""
    lines = returned.split("\n", 400)[:400]
    start = 0
    while start < len(lines) and not _HEADER_LINE.match(lines[start]):
        start += 1
        if start > 5:
            return ""  # a marker line and a blank or two, then headers, or nothing
    block: list[str] = []
    for line in lines[start:]:
        if not line.strip():
            break
        if not (_HEADER_LINE.match(line) or line[:1] in (" ", "\t")):
            break
        block.append(line)
    return "\n".join(block)


def strip_boilerplate(text: str) -> str:
    """The wording without the sentences every bounce carries."""
    return _BOILERPLATE.sub(" ", text)


def mentions(lines: Sequence[str], excluded: set[str]) -> list[Mention]:
    """Every address in the notice that could be a recipient, with its strength."""
    found: list[Mention] = []
    for index, line in enumerate(lines):
        if "@" not in line:
            continue
        # Most lines explain nothing: the sentence of each address is looked at
        # only on a line (or after one) that has words of explanation.
        previous = lines[index - 1] if index else ""
        explaining = _ADVICE_WORDS.search(f"{previous[-120:]}\n{line}".lower()) is not None
        for match in ADDRESS.finditer(line):
            address = normalise(match.group(1))
            if address in excluded:
                continue
            # The text around the address is looked at in place, not copied:
            # a line of thousands of addresses would be copied thousands of times.
            start, end = match.start(), match.end()
            near = line[max(0, start - 40): start]
            if _NOT_RECIPIENT_PREFIX.search(near):
                continue
            alone = _ALONE.match(line, 0, start) is not None
            if explaining and _explains(previous if alone else "", line, start):
                continue
            strong = bool(
                (alone and _ALONE_AFTER.match(line, end))
                or (_RECIPIENT_PREFIX.search(near) and not _HEADER_TO.match(line, 0, start))
                or line.startswith(("...", ">..."), end)
                or (alone and _LINE_START_AFTER.match(line, end))
            )
            found.append(Mention(address=address, line=index, strong=strong))
    return found


# Words of a sentence that tells people where to write or what an address
# looks like: the address it quotes is not a recipient.
#
# Advice only: "please contact", "you can write to", a sentence or clause that
# starts with "Contact" or "Send"; never a report's "could not contact the
# server for".
_EXPLAINING: Final = re.compile(
    r"(?:^|[,;])\s*(?:contact|write|send|reply)\b"
    r"|(?:please|kindly|you (?:can|may|should|could|might)) (?:\w+ ){0,2}"
    r"(?:contact|write|send|reply|mail|reach)\b"
    r"|for (?:more |further )?(?:information|help|assistance|details|questions)"
    r"|help ?desk|\be\.g\.|for (?:example|instance)|such as|(?:of|in) the form"
)
# Words without which no sentence is advice: a line without any is not looked
# at address by address.
_ADVICE_WORDS: Final = re.compile(
    r"contact|write|send|reply|mail|reach|information|help|assistance|details|questions"
    r"|e\.g\.|example|instance|such as|the form"
)
_SENTENCE_END: Final = re.compile(r"[.!?]\s+(?=[A-Z(\"'])")


def _explains(previous: str, line: str, start: int) -> bool:
    """Whether the sentence up to ``start`` explains rather than reports.

    An address at the start of its line continues the previous line's
    sentence (unless that line ended one), so that line's end is read too.
    """
    if previous.rstrip().endswith((".", "!", "?", ":")):
        previous = ""
    before = f"{previous[-120:]} {line[max(0, start - 160): start]}"
    ends = list(_SENTENCE_END.finditer(before))
    if ends:
        before = before[ends[-1].end():]
    return _EXPLAINING.search(before.lower()) is not None


def _block(lines: Sequence[str], start: int, stops: set[int], own: int = -1) -> str:
    """The lines from ``start`` to the next recipient line (not ``own``) or a blank gap.

    A transcript's session with the next host ("... while talking to") is
    another recipient's: the block ends there too.
    """
    out = [lines[start].strip()]
    blank = 0
    for index in range(start + 1, min(len(lines), start + 12)):
        if index in stops and index != own:
            break
        text = lines[index].strip()
        if text.startswith(("... while talking to", "while talking to")):
            break
        if not text:
            blank += 1
            if blank >= 2 or (blank == 1 and len(out) > 1):
                break
            continue
        blank = 0
        out.append(text)
    return " ".join(out)


def read_notice(written: str, excluded: set[str]) -> list[Finding]:
    """Recipients a notice names, with the lines about each.

    Strong mentions (an address alone on its line, after ``RCPT TO:``, before
    ``...``) are trusted alone; weak ones (an address anywhere else) are
    used only when nothing strong is found and they are not a mail system's
    own address.
    """
    lines = written.split("\n")
    found = mentions(lines, excluded)
    if not found and excluded:
        # The recipient may also be the sender (mail to oneself, or addresses
        # that look alike): trust only the strong positions then.
        found = [m for m in mentions(lines, set()) if m.strong]
    strong = [m for m in found if m.strong]
    chosen = strong or [m for m in found if not is_role(m.address)]
    starts = {m.line for m in chosen}
    wanted = {c.address for c in chosen}
    by_address: dict[str, list[str]] = {}
    for mention in found:
        if mention.address not in wanted:
            continue
        if mention.address not in by_address and len(by_address) >= MAX_RECIPIENTS:
            continue
        block = _block(lines, mention.line, starts, mention.line)
        blocks = by_address.setdefault(mention.address, [])
        if block not in blocks:
            blocks.append(block)
    return [
        Finding(recipient=address, diagnostic=" ".join(blocks))
        for address, blocks in by_address.items()
    ]


def context_for(address: str, written: str) -> str:
    """The notice's lines about ``address`` (for a recipient a report already named)."""
    lines, every = _lines_and_mentions(written)
    found = [m for m in every if m.address == address]
    starts = {m.line for m in every if m.strong and m.address != address}
    return " ".join(_block(lines, m.line, starts) for m in found[:20])


@functools.lru_cache(maxsize=2)
def _lines_and_mentions(written: str) -> tuple[tuple[str, ...], tuple[Mention, ...]]:
    # Asked once for each recipient of a report about the same notice: read it once.
    lines = written.split("\n")
    return tuple(lines), tuple(mentions(lines, set()))

