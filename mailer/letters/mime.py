"""The MIME message: headers and bodies assembled by hand, as bytes.

``email.message.EmailMessage`` is correct but slow (about 600 messages/s); a
campaign builds one message per recipient, so everything that is the same
for every recipient is encoded once into a ``MessageFrame`` and only the
recipient's own parts (To, Date, Message-ID, List-Unsubscribe, the two
bodies, and a Reply-To whose token names the reader when replies are
gathered) are filled in per message. Bodies are quoted-printable through
``binascii`` (C speed), so no line is ever longer than 76 octets. Files
(attachments, the images the HTML shows) are encoded in base64 once per
letter; a message refers to those bytes instead of copying them
(``OutgoingMessage.parts``).

Header safety: a value that reaches a header never carries a line break. The
letter's own values (subject, from, reply-to) are refused with
``HeaderInjectionError`` when they do; a subscriber's display name is folded
to one line (control characters become spaces), because one odd name in an
imported list must not stop a campaign; an address that is not a plain
dot-atom ``local@domain`` is refused. Nothing here reads the configuration:
``letters.sender`` checks the configured values that go into headers
(``web.base_url``, the unsubscribe address, ``feedback_id``), once per letter.
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import format_datetime, getaddresses

import idna

from mailer import clock
from mailer.errors import HeaderInjectionError
from mailer.letters import multipart
from mailer.letters.multipart import CRLF, FilePart

#: Printable ASCII that may stand in a phrase unquoted (RFC 5322 atext plus space).
_ATOM_PHRASE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+( [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")
#: RFC 5322 dot-atom-text, with UTF-8 allowed as RFC 6532 does: what an address may be here.
_ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\-\u0080-\U0010ffff]"
_DOT_ATOM = re.compile(rf"^{_ATEXT}+(?:\.{_ATEXT}+)*$")
#: One character of a quoted-printable line: an escape (``=XX``) or a single octet.
_QP_TOKEN = re.compile(rb"=[0-9A-F]{2}|.", re.DOTALL)
#: A block of up to eight lines, each with its line break, or the last line without one.
_QP_BLOCK = re.compile(r"(?:[^\n]*\n){1,8}|[^\n]+\Z")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
#: Encoded words stay under 75 characters: 45 UTF-8 octets → 60 base64 characters.
_WORD_OCTETS = 45
#: What a reader that knows no MIME shows of a multipart message.
_PREAMBLE = b"This is a multi-part message in MIME format.\r\n"
#: The first word shares its line with the header name (up to ``Organization: ``).
_FIRST_WORD_OCTETS = 39


@dataclass(frozen=True)
class OutgoingMessage:
    """One message ready to hand to a transport.

    ``parts`` are its bytes in order: the recipient's own, and the letter's
    constant parts that every message of the letter shares (an attachment is
    one bytes object, encoded once, that each message refers to). ``data``
    joins them when the whole message is needed; ``size`` counts without
    joining. ``files_size`` is how much of it the files (attachments,
    embedded images) take.
    """

    recipient: str
    message_id: str
    parts: tuple[bytes, ...]
    smtputf8: bool
    files_size: int = 0
    #: Every line ends in CRLF and none starts with a dot: SMTP takes it as it is.
    stuffed: bool = False
    #: The body holds no tab, no run of spaces and no space that ends a line: it is in
    #: DKIM's relaxed form already but for empty lines at its end.
    relaxed: bool = False

    @functools.cached_property
    def data(self) -> bytes:
        """The message as one bytes object (joined once, on first use)."""
        return b"".join(self.parts)

    @property
    def size(self) -> int:
        """The message's length in bytes."""
        return sum(map(len, self.parts))


def reject_line_breaks(name: str, value: str) -> str:
    """Return ``value`` unchanged, or raise if it could start a new header line."""
    if any(ch in value for ch in "\r\n\0"):
        raise HeaderInjectionError(f"{name}: {value[:60]!r} contains a line break")
    return value


def clean_display_name(name: str) -> str:
    """A subscriber's name as it may appear in a header: one line, trimmed."""
    return " ".join(_CONTROLS.sub(" ", name).split(" ")).strip()


def encoded_words(text: str) -> list[str]:
    """RFC 2047 encoded words (UTF-8, base64) for ``text``, never splitting a character."""
    words: list[str] = []
    chunk: list[bytes] = []
    size = 0
    for char in text:
        octets = char.encode("utf-8", "surrogatepass")
        limit = _WORD_OCTETS if words else _FIRST_WORD_OCTETS
        if size + len(octets) > limit and chunk:
            words.append(_word(b"".join(chunk)))
            chunk, size = [], 0
        chunk.append(octets)
        size += len(octets)
    if chunk:
        words.append(_word(b"".join(chunk)))
    return words


def _word(octets: bytes) -> str:
    return "=?utf-8?b?" + base64.b64encode(octets).decode("ascii") + "?="


def encode_unstructured(text: str) -> str:
    """An unstructured header value (Subject): plain if short ASCII, else encoded words."""
    text = reject_line_breaks("header", text)
    if _PRINTABLE.match(text) and len(text) <= 900 and "=?" not in text and "  " not in text:
        return _fold_plain(text)
    return "\r\n ".join(encoded_words(text))


def _fold_plain(text: str, width: int = 76) -> str:
    """Fold plain ASCII at spaces so header lines stay short (a space starts each fold)."""
    if len(text) <= width:
        return text
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return "\r\n ".join(lines)


def encode_phrase(name: str) -> str:
    """A display name as a phrase: atoms, a quoted string, or encoded words."""
    if not name:
        return ""
    if "=?" in name:  # would read as an encoded word: encode it, so it reads back as written
        return "\r\n ".join(encoded_words(name))
    if _ATOM_PHRASE.match(name) and len(name) <= 60:
        return name
    if _PRINTABLE.match(name) and len(name) <= 60 and "=?" not in name:
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "\r\n ".join(encoded_words(name))


def ascii_domain(domain: str) -> str:
    """The A-label form of a domain (``bücher.example`` → ``xn--bcher-kva.example``)."""
    if domain.isascii():
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise HeaderInjectionError(f"domain {domain!r} is not a valid name: {exc}") from None


def mail_address(address: str) -> tuple[str, bool]:
    """(address as written in headers and RCPT TO, whether it needs SMTPUTF8)."""
    address = reject_line_breaks("address", address.strip())
    local, _, domain = address.rpartition("@")
    if (
        not address.isprintable()  # tabs and other controls: no header parser reads them
        or not _DOT_ATOM.match(local)
        or not _DOT_ATOM.match(domain)
        or "=?" in address  # would be decoded as an RFC 2047 encoded word
    ):
        raise HeaderInjectionError(f"{address!r} is not a plain e-mail address")
    if len(address) > 254:  # RFC 5321's limit; it also keeps the header line short
        raise HeaderInjectionError(f"{address[:60]!r}... is longer than 254 characters")
    if local.isascii():
        return f"{local}@{ascii_domain(domain)}", False
    return address, True


def format_address(name: str, address: str) -> tuple[str, bool]:
    """``Name <addr>`` ready for a header, and whether the address needs SMTPUTF8."""
    addr, utf8 = mail_address(address)
    phrase = encode_phrase(clean_display_name(name))
    if not phrase:
        return addr, utf8
    return phrase_and_angle(phrase, addr), utf8


def phrase_and_angle(phrase: str, inner: str) -> str:
    """``phrase <inner>``, folded before the bracket when the line would run past 78."""
    if not phrase:
        return f"<{inner}>"
    last = phrase.rpartition("\n")[2]
    gap = "\r\n " if len(last) + len(inner) + 12 > 78 else " "
    return f"{phrase}{gap}<{inner}>"


def parse_sender(value: str, what: str) -> tuple[str, str]:
    """Split a configured ``Name <addr>`` into its parts; refuse line breaks and lists."""
    reject_line_breaks(what, value)
    found = getaddresses([value])
    # parseaddr would silently keep the first of several; and Python versions differ in
    # what they make of trailing words (one more entry, or an empty one): refuse both.
    if len(found) != 1 or "@" not in found[0][1]:
        raise HeaderInjectionError(
            f"{what}: {value!r} must be one e-mail address, as Name <address@domain>"
        )
    return found[0]


def header(name: str, value: str) -> bytes:
    """One header line, CRLF-terminated; the value must already be encoded."""
    return f"{name}: {value}\r\n".encode()


def qp(text: str) -> bytes:
    """Quoted-printable body with CRLF line ends (text uses ``\\n``); no line starts with a
    dot, and white space comes only as single spaces within a line (``_wire_form``)."""
    return CRLF.join([_qp_line(line) for line in text.split("\n")])


def _qp_line(line: str) -> bytes:
    """One line of text in quoted-printable (soft breaks in CRLF), in ``_wire_form``."""
    return _wire_form(binascii.b2a_qp(line.encode("utf-8"), istext=True)).replace(b"\n", CRLF)


def _wire_form(encoded: bytes) -> bytes:
    """``encoded`` (one line, soft breaks as ``=\\n``) with no line starting with a dot and
    no tab or run of spaces.

    Either is written as its ``=XX`` code, which decodes to the same text.
    A dot that starts a line: a message of mailer's then needs no
    dot-stuffing on its way through SMTP, so one compiled letter's bytes go
    on the wire as they are. A tab, or a space after a space: the body is
    then already in DKIM's relaxed form (``OutgoingMessage.relaxed``), which
    the signer hashes as it is. (``b2a_qp`` already codes white space at the
    end of a line.) Rare enough (columns of a plain-text table, indented
    HTML), and the caller caches the line.
    """
    if not (
        encoded.startswith(b".") or b"\n." in encoded or b"  " in encoded or b"\t" in encoded
    ):
        return encoded
    lines: list[bytes] = []
    current = b""
    for token in _QP_TOKEN.findall(encoded.replace(b"=\n", b"")):
        if token == b"\t" or (token == b" " and current.endswith(b" ")):
            token = b"=09" if token == b"\t" else b"=20"
        if len(current) + len(token) > 75:  # room for the soft break's "="
            lines.append(current + b"=")
            current = b""
        current += b"=2E" if token == b"." and not current else token
    lines.append(current)
    return b"\n".join(lines)


class LineCachedQP:
    """Quoted-printable encoding that remembers the blocks and lines it has encoded.

    Every hard line break resets quoted-printable's line length, so a body can
    be encoded piece by piece. The messages of one letter share almost all
    their lines, so the body is cut into blocks of a few lines (by a regular
    expression, in C) and each block is looked up whole: a message costs a
    dozen look-ups instead of one per line, and only a block that holds a
    recipient's data is encoded again, line by line, its constant lines from
    the line cache.
    """

    def __init__(self, limit: int = 20_000) -> None:
        self._cache: dict[str, bytes] = {}
        self._blocks: dict[str, bytes] = {}
        self._limit = limit

    def _remember(self, cache: dict[str, bytes], text: str, encoded: bytes) -> bytes:
        """Keep ``encoded`` for ``text``; a full cache starts again (memory stays flat)."""
        if len(cache) >= self._limit:
            cache.clear()
        cache[text] = encoded
        return encoded

    def _miss(self, line: str) -> bytes:
        return self._remember(self._cache, line, _qp_line(line))

    def _lines(self, text: str) -> bytes:
        get, miss = self._cache.get, self._miss
        lines = text.split("\n")
        return CRLF.join([hit if (hit := get(line)) is not None else miss(line) for line in lines])

    def _block_miss(self, block: str) -> bytes:
        ends = block.endswith("\n")
        encoded = self._lines(block[:-1]) + CRLF if ends else self._lines(block)
        return self._remember(self._blocks, block, encoded)

    def encode(self, text: str) -> bytes:
        """Same bytes as ``qp(text)``."""
        get, miss = self._blocks.get, self._block_miss
        blocks = _QP_BLOCK.findall(text)
        if text.endswith("\n") or not text:
            blocks.append("")  # the empty last line after a final line break
        return b"".join([hit if (hit := get(b)) is not None else miss(b) for b in blocks])


def _tokened_reply_to(name: str, address: str) -> tuple[bytes, bytes]:
    """The Reply-To line of a replies address, in the two pieces around its token.

    ``("News", "replies@x.org")`` gives ``Reply-To: News\r\n <replies+`` and
    ``@x.org>\r\n``: the line is folded before the bracket whatever the
    name, so that the token's length never decides where a line breaks.
    """
    if not address:
        return b"", b""
    local, _, domain = mail_address(address)[0].rpartition("@")
    phrase = encode_phrase(clean_display_name(name))
    opening = f"{phrase}\r\n <" if phrase else "<"
    return f"Reply-To: {opening}{local}+".encode(), f"@{domain}>\r\n".encode("ascii")


def _dot_free(constant: Sequence[bytes]) -> bool:
    """Whether no line of a letter's constant parts starts with a dot.

    The recipient's own headers never do, nor do the bodies (``qp``), so when
    the constant parts do not either, every message of the letter goes
    through SMTP as it is, with no dot-stuffing: looked at once per letter.
    """
    return not any(part.startswith(b".") or b"\n." in part for part in constant)


def _relaxed(constant: Sequence[bytes]) -> bool:
    """Whether a letter's constant body parts hold white space only as single spaces within a
    line, and end in none: with the bodies (``qp``), every message's body is then in DKIM's
    relaxed form as it is. Looked at once per letter (a file name with two spaces is not)."""
    return not any(
        b"  " in part or b"\t" in part or b" \r\n" in part or part.endswith(b" ")
        for part in constant
    )


def _constant_head(
    *,
    from_header: str,
    reply_to: str,
    subject: str | None,
    organization: str,
    language: str,
    list_id: str,
    archive_url: str,
    feedback_id: str,
    content_type: str,
) -> bytes:
    """The headers every message of a letter shares, encoded once, in their order.

    ``subject`` is None when each message has its own; an empty value leaves
    its optional header out.
    """
    head = [header("From", from_header)]
    if reply_to:
        head.append(header("Reply-To", reply_to))
    if subject is not None:
        head.append(header("Subject", encode_unstructured(subject)))
    if organization:
        head.append(header("Organization", encode_unstructured(organization)))
    head.append(header("MIME-Version", "1.0"))
    if language:
        head.append(header("Content-Language", language))
    if list_id:
        head.append(header("List-Id", list_id))
    if archive_url:
        head.append(header("List-Archive", f"<{reject_line_breaks('archive', archive_url)}>"))
    head.append(header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    head.append(header("Precedence", "bulk"))
    if feedback_id:
        head.append(header("Feedback-ID", reject_line_breaks("feedback_id", feedback_id)))
    head.append(header("Content-Type", content_type))
    return b"".join(head)


class MessageFrame:
    """The constant parts of every message of one letter, encoded once.

    ``build`` only formats the recipient's own headers and joins byte strings.
    """

    def __init__(
        self,
        *,
        from_header: str,
        subject: str,
        domain: str,
        reply_to: str = "",
        list_id: str = "",
        organization: str = "",
        feedback_id: str = "",
        archive_url: str = "",
        campaign_id: int | None = None,
        identify: Callable[[int, int, str], str] | None = None,
        language: str = "",
        subject_varies: bool = False,
        attachments: Sequence[FilePart] = (),
        images: Sequence[FilePart] = (),
        replies: tuple[str, str] = ("", ""),
        reply_token: Callable[[int, int], str] | None = None,
    ) -> None:
        """``subject_varies``: each message gets its own Subject (``build(subject=...)``),
        so the constant head leaves it out; ``language`` is the Content-Language;
        ``attachments`` and ``images`` (those the HTML shows) are the files it carries;
        ``replies`` (name, address) makes each Reply-To that address plus ``+`` and
        ``reply_token(campaign, subscriber)``, in place of a constant ``reply_to``."""
        self.domain = ascii_domain(domain)
        self.subject_varies = subject_varies
        self._campaign = campaign_id or 0
        #: Signs the left part of each Message-ID (campaign, subscriber, a nonce).
        self._identify = identify
        self._layout = layout = multipart.layout(secrets.token_hex(12), attachments, images)
        self._nonce = secrets.token_hex(4)
        self._prefix = f"m{self._campaign}.{self._nonce}."
        self._counter = itertools.count(1)
        self._reply_token = reply_token if replies[1] else None
        self._reply_open, self._reply_close = _tokened_reply_to(*replies)
        self._head = _constant_head(
            from_header=from_header,
            reply_to="" if self._reply_token is not None else reply_to,
            subject=None if subject_varies else subject,
            organization=organization,
            language=language,
            list_id=list_id,
            archive_url=archive_url,
            feedback_id=feedback_id,
            content_type=layout.content_type,
        )
        # A sender address with a non-ASCII local part stays UTF-8 (RFC 6532): every
        # message of the letter then needs SMTPUTF8, whoever receives it.
        self._head_utf8 = not (self._head + self._reply_open).isascii()
        self._qp = LineCachedQP()
        self._stuffed = _dot_free((self._head, layout.text_open, layout.html_open, *layout.tail))
        self._relaxed = _relaxed((_PREAMBLE, layout.text_open, layout.html_open, *layout.tail))
        self._date_second = -1
        self._date_header = b""

    def _date(self) -> bytes:
        """The Date header, formatted at most once a second."""
        moment = clock.now()
        second = int(moment.timestamp())
        if second != self._date_second:
            self._date_second = second
            self._date_header = header("Date", format_datetime(moment.replace(microsecond=0)))
        return self._date_header

    def next_message_id(self, subscriber_id: int | None) -> str:
        """A Message-ID unique across campaigns and runs, at the sender's domain.

        With a signer (``identify``) its left part is a signed token naming the
        campaign and the subscriber, which a complaint quoting it carries back.
        """
        count = next(self._counter)
        if self._identify is not None:
            token = self._identify(self._campaign, subscriber_id or 0, f"{self._nonce}{count}")
            return f"{token}@{self.domain}"
        return f"{self._prefix}{subscriber_id or 0}.{count}@{self.domain}"

    def build(
        self,
        *,
        to_header: str,
        rcpt: str,
        smtputf8: bool,
        unsubscribe: str,
        text: str,
        html: str,
        subscriber_id: int | None = None,
        subject: str = "",
    ) -> OutgoingMessage:
        """Assemble one message; ``text``/``html`` use ``\\n`` line ends.

        ``subject`` is this message's own Subject, for a frame whose subject varies.
        """
        message_id = self.next_message_id(subscriber_id)
        layout = self._layout
        own_subject = (
            header("Subject", encode_unstructured(subject)) if self.subject_varies else b""
        )
        reply_to = b""
        if self._reply_token is not None:
            token = self._reply_token(self._campaign, subscriber_id or 0)
            reply_to = self._reply_open + token.encode("ascii") + self._reply_close
        parts = (
            b"To: ",
            to_header.encode("utf-8"),
            CRLF,
            reply_to,
            own_subject,
            self._date(),
            b"Message-ID: <",
            message_id.encode("ascii"),
            b">\r\nList-Unsubscribe: ",
            unsubscribe.encode("ascii"),
            CRLF,
            self._head,
            CRLF,
            _PREAMBLE,
            layout.text_open,
            self._qp.encode(text),
            layout.html_open,
            self._qp.encode(html),
            *layout.tail,
        )
        return OutgoingMessage(
            recipient=rcpt,
            message_id=message_id,
            parts=parts,
            smtputf8=smtputf8 or self._head_utf8,
            files_size=layout.files_size,
            stuffed=self._stuffed,
            relaxed=self._relaxed,
        )
