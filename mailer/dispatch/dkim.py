"""DKIM signatures (RFC 6376), relaxed/relaxed, with RSA-SHA256 and Ed25519-SHA256 (RFC 8463).

Every message leaves through a transport, and ``transports.signing`` signs
it there, so letters, confirmations, welcome letters, test sends and the
copies of replies the intake forwards are all signed by this one piece of
code, whatever built them.

Why not dkimpy: it canonicalises and signs in pure Python, about 130 RSA-2048
signatures a second, far below the rate mailer sends at. Here the work per
message is two passes of C over the bytes (a regular expression and
``hashlib``) and one OpenSSL signature, which ``cryptography`` makes without
holding the GIL, so the signing transport can make it beside the event loop.
What is the same for every message (the tags naming the domain, selector and
algorithm, the key) is prepared once per signer. The tests check every
signature with two independent verifiers, dkimpy and OpenDKIM.

Canonicalisation, relaxed for header and body (RFC 6376 3.4.2, 3.4.4):

- a header field's name in lower case, unfolded, runs of spaces and tabs
  made one space, and no space at the end of the value or around the colon;
- in the body, runs of spaces and tabs made one space, none at the end of a
  line, empty lines at the end dropped, and a body that is not empty ending
  in CRLF.

Signed: From and the headers below that are present, each listed once more
than it occurs (over-signing), so that a header of these added later, such
as a second From or List-Unsubscribe, breaks the signature instead of
riding on it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, utils

from mailer import clock
from mailer.dispatch.dkim_keys import DkimKey

#: The headers signed when present, each over-signed; From is always signed.
SIGNED_HEADERS = (
    "from", "reply-to", "sender", "to", "cc", "subject", "date", "message-id",
    "in-reply-to", "references", "mime-version", "content-type",
    "content-transfer-encoding", "content-language", "list-id", "list-archive",
    "list-post", "list-unsubscribe", "list-unsubscribe-post", "feedback-id",
)
_SIGNED = frozenset(name.encode("ascii") for name in SIGNED_HEADERS)
_WSP_RUN = re.compile(rb"[ \t]+")
#: Runs of spaces alone: ten times faster to find than runs of spaces and tabs, and
#: the only runs in most bodies (quoted-printable keeps tabs only inside a line).
_SPACES = re.compile(rb"  +")
#: A header field ends at a line break that no space or tab follows.
_FIELD_END = re.compile(rb"\r\n(?![ \t])")
#: What SMTP clients (aiosmtplib among them) send as a line end: CRLF, and a lone
#: CR or LF made one. Found by a regular expression: a literal search in ``re`` is
#: faster here than ``bytes.find`` for a pattern of more than one byte.
_LINE_END = re.compile(rb"\r\n|\n|\r")
_LONE_CR = re.compile(rb"\r(?!\n)")
_SPACE_AT_END = re.compile(rb" \r\n")
#: Canonical header fields remembered before the memory starts again.
_CACHE_LIMIT = 4096
#: Columns at which the signature header's long values are folded.
_FOLD = 72


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """One header field in relaxed form, without its line end."""
    if b"\r\n" in value:
        value = value.replace(b"\r\n", b"")
    if b"\t" in value or b"  " in value:
        value = _WSP_RUN.sub(b" ", value)
    return name.rstrip(b" \t").lower() + b":" + value.strip(b" ")


def relaxed_body(body: bytes) -> bytes:
    """The body in relaxed form; ``body`` uses CRLF line ends."""
    reduced, end = _reduced_body(body)
    return reduced[:end] + b"\r\n" if end else b""


def body_hash(body: bytes) -> bytes:
    """SHA-256 of the relaxed body, without copying it once more to add the last CRLF."""
    reduced, end = _reduced_body(body)
    digest = hashlib.sha256(memoryview(reduced)[:end])
    if end:
        digest.update(b"\r\n")
    return digest.digest()


def _reduced_body(body: bytes) -> tuple[bytes, int]:
    """The body with white space reduced, and where it ends without its empty last lines."""
    if b"\t" in body:
        body = _WSP_RUN.sub(b" ", body)
    elif b"  " in body:
        body = _SPACES.sub(b" ", body)
    if _SPACE_AT_END.search(body):
        body = body.replace(b" \r\n", b"\r\n")
    end = len(body)
    while body.endswith(b"\r\n", 0, end):
        end -= 2
    return body, end


def split_message(data: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The header fields as (name, value) in order, and the body; CRLF line ends."""
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator and head.endswith(b"\r\n"):
        head = head[:-2]
    fields = []
    for field in _FIELD_END.split(head):
        name, _, value = field.partition(b":")
        fields.append((name, value))
    return fields, body


def with_crlf(data: bytes) -> bytes:
    """``data`` with every line ending in CRLF, the last one too, as SMTP sends it.

    What is signed must be what arrives: an SMTP client turns a lone CR or LF
    into CRLF and ends the last line itself (a text part can hold a lone CR
    from a subscriber's attribute, which quoted-printable keeps as it is).
    """
    # With no lone CR, every CR begins a CRLF: the line ends are all CRLF when there
    # are as many LFs as CRs. Counting single bytes is quick; counting pairs is not.
    if _LONE_CR.search(data) or data.count(b"\n") != data.count(b"\r"):
        data = _LINE_END.sub(b"\r\n", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


@dataclass(frozen=True)
class Unsigned:
    """A message ready to be signed: its bytes, each signature's tags up to ``b=``, and
    the hash each signature is made over."""

    data: bytes
    tags: tuple[bytes, ...]
    digests: tuple[bytes, ...]


class DkimSigner:
    """Signs messages with one key, or two (RSA and Ed25519: two signatures, RFC 8463).

    ``sign`` returns the message with its DKIM-Signature fields in front,
    signed at ``clock.now()`` (``t=``); ``slow`` says whether signing
    is worth moving off the event loop (an RSA key: a fraction of a
    millisecond each, made without the GIL), which it is only where a core
    is left for it (``offload``): a process that is one of several workers
    signs inline, because the workers already keep every core busy and the
    hand-over to a thread then costs more than it saves (docs/benchmarks.md).
    """

    def __init__(self, keys: Sequence[DkimKey], *, offload: bool = True) -> None:
        if not keys:
            raise ValueError("a signer needs at least one key")
        self.keys = tuple(keys)
        self._openings = [
            f"v=1; a={key.algorithm}; c=relaxed/relaxed; d={key.domain}; s={key.selector};"
            for key in self.keys
        ]
        self.slow = offload and any(key.algorithm == "rsa-sha256" for key in self.keys)
        #: Header fields in relaxed form, by their raw bytes: most fields of a
        #: letter (From, Subject, List-Id, Content-Type ...) are the same in every
        #: message, and are canonicalised once.
        self._canonical: dict[bytes, tuple[bytes, bytes | None]] = {}
        #: The ``h=`` value for each list of names: as written (folded) and in relaxed form.
        self._folded: dict[tuple[str, ...], tuple[str, str]] = {}

    def sign(self, data: bytes, *, crlf: bool = False) -> bytes:
        """The message with a DKIM-Signature per key in front of its headers."""
        return self.finish(self.prepare(data, crlf=crlf))

    def prepare(self, data: bytes, *, crlf: bool = False) -> Unsigned:
        """Everything but the private-key operations: canonical forms and their hashes.

        This part needs the GIL; ``finish`` mostly does not, which is why the
        two are apart. ``crlf``: every line of ``data`` is known to end in CRLF
        and no CR stands alone (mailer's own messages, ``stuffed``), so the
        search for other line ends (a fifth of the work) is skipped.
        """
        if not crlf:
            data = with_crlf(data)
        elif not data.endswith(b"\r\n"):
            data += b"\r\n"
        fields, body = split_message(data)
        names, signed = self._signed_fields(fields)
        folded = self._folded.get(names)
        if folded is None:
            folded = self._folded[names] = _fold(names)
        when = int(clock.now().timestamp())
        encoded = base64.b64encode(body_hash(body)).decode()
        tags, digests = [], []
        for opening in self._openings:
            tags.append(f"{opening}\r\n\tt={when}; h={folded[0]};\r\n\tbh={encoded};\r\n\tb=")
            # The field's relaxed form, written directly: each fold (CRLF, a tab and
            # maybe a space) is one space once unfolded and reduced.
            canonical = f"dkim-signature:{opening} t={when}; h={folded[1]}; bh={encoded}; b="
            digests.append(hashlib.sha256(signed + canonical.encode("ascii")).digest())
        return Unsigned(data, tuple(t.encode("ascii") for t in tags), tuple(digests))

    def finish(self, unsigned: Unsigned) -> bytes:
        """The signatures made over the prepared hashes, in front of the message."""
        head = [
            b"DKIM-Signature: " + tags + _folded_base64(_signed_digest(key, digest)) + b"\r\n"
            for key, tags, digest in zip(self.keys, unsigned.tags, unsigned.digests, strict=True)
        ]
        return b"".join(head) + unsigned.data

    def _signed_fields(self, fields: list[tuple[bytes, bytes]]) -> tuple[tuple[str, ...], bytes]:
        """The ``h=`` names and the canonical fields they sign, in that order.

        A verifier takes the fields of one name from the bottom up, and a name
        listed once more than it occurs finds none (an empty string): so a name
        occurring twice is listed three times, its lowest field first.
        """
        cache = self._canonical
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        found: dict[bytes, list[bytes]] = {b"from": []}
        for name, value in fields:
            known = cache.get(name + value)
            if known is None:
                key = name.rstrip(b" \t").lower()
                known = cache[name + value] = (
                    key, relaxed_header(key, value) + b"\r\n" if key in _SIGNED else None
                )
            if known[1] is not None:
                found.setdefault(known[0], []).append(known[1])
        names: list[str] = []
        lines: list[bytes] = []
        for key, canonical in found.items():
            names.extend([key.decode("ascii")] * (len(canonical) + 1))
            lines.extend(reversed(canonical))
        return tuple(names), b"".join(lines)



def _signed_digest(key: DkimKey, digest: bytes) -> bytes:
    """The key's signature over the SHA-256 hash of the signed data."""
    private = key.private_key
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.sign(digest)  # RFC 8463: Ed25519 signs the SHA-256 hash itself
    return private.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


def _folded_base64(signature: bytes) -> bytes:
    """The ``b=`` value, in base64 folded into lines that mail servers keep."""
    encoded = base64.b64encode(signature)
    return b"\r\n\t ".join(encoded[i : i + _FOLD] for i in range(0, len(encoded), _FOLD))


def _fold(names: tuple[str, ...]) -> tuple[str, str]:
    """The ``h=`` list folded after a colon before a line grows past the fold column,
    and the same in relaxed form (each fold one space)."""
    lines = [""]
    for index, name in enumerate(names):
        piece = name if index == len(names) - 1 else f"{name}:"
        if lines[-1] and len(lines[-1]) + len(piece) > _FOLD:
            lines.append("")
        lines[-1] += piece
    return "\r\n\t ".join(lines), " ".join(lines)
