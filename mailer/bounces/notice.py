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


_QUOTED: Final = re.compile(r"^(?:[ \t]?>)+[ \t]?", re.M)


def unquote(text: str) -> str:
    """Line ends made plain and ``> `` quoting removed (a bounce forwarded inline)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if ">" in text:
        text = _QUOTED.sub("", text)
    return text


def strip_boilerplate(text: str) -> str:
    """The wording without the sentences every bounce carries."""
    return _BOILERPLATE.sub(" ", text)


def mentions(lines: Sequence[str], excluded: set[str]) -> list[Mention]:
    """Every address in the notice that could be a recipient, with its strength."""
    found: list[Mention] = []
    for index, line in enumerate(lines):
        if "@" not in line:
            continue
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
            strong = bool(
                (alone and _ALONE_AFTER.match(line, end))
                or (_RECIPIENT_PREFIX.search(near) and not _HEADER_TO.match(line, 0, start))
                or line.startswith("...", end)
                or (alone and _LINE_START_AFTER.match(line, end))
            )
            found.append(Mention(address=address, line=index, strong=strong))
    return found


def _block(lines: Sequence[str], start: int, stops: set[int], own: int = -1) -> str:
    """The lines from ``start`` to the next recipient line (not ``own``) or a blank gap."""
    out = [lines[start].strip()]
    blank = 0
    for index in range(start + 1, min(len(lines), start + 12)):
        if index in stops and index != own:
            break
        text = lines[index].strip()
        if not text:
            blank += 1
            if blank >= 2 or (blank == 1 and len(out) > 1):
                break
            continue
        blank = 0
        out.append(text)
    return " ".join(out)


def read_notice(text: str, excluded: set[str]) -> tuple[list[Finding], str]:
    """Recipients a notice names, with the lines about each; also the cleaned wording.

    Strong mentions (an address alone on its line, after ``RCPT TO:``, before
    ``...``) are trusted alone; weak ones (an address anywhere else) are
    used only when nothing strong is found and they are not a mail system's
    own address.
    """
    body = cut_original(unquote(text[:MAX_NOTICE]))
    lines = body.split("\n")
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
    findings = [
        Finding(recipient=address, diagnostic=" ".join(blocks))
        for address, blocks in by_address.items()
    ]
    return findings, body


def context_for(address: str, text: str) -> str:
    """The notice's lines about ``address`` (for a recipient a report already named)."""
    lines, every = _lines_and_mentions(text)
    found = [m for m in every if m.address == address]
    starts = {m.line for m in every if m.strong and m.address != address}
    return " ".join(_block(lines, m.line, starts) for m in found[:20])


@functools.lru_cache(maxsize=2)
def _lines_and_mentions(text: str) -> tuple[tuple[str, ...], tuple[Mention, ...]]:
    # Asked once for each recipient of a report about the same notice: read it once.
    lines = cut_original(unquote(text[:MAX_NOTICE])).split("\n")
    return tuple(lines), tuple(mentions(lines, set()))

