"""DKIM signatures (RFC 6376), relaxed/relaxed, with RSA-SHA256 and Ed25519-SHA256 (RFC 8463).

Every message leaves through a transport, and ``transports.signing`` signs
it there, so letters, confirmations, welcome letters, test sends and the
copies of replies the intake forwards are all signed by this one piece of
code, whatever built them.

Why not dkimpy: it canonicalises and signs in pure Python, about 130 RSA-2048
signatures a second, far below the rate mailer sends at. Here the work per
message is one SHA-256 pass of C over the body (``dkim_canon``: a letter's
body is written in canonical form already) and one signature: RSA in
OpenSSL, which ``cryptography`` makes without holding the GIL, so the
signing transport can make it beside the event loop; Ed25519 in libsodium
(PyNaCl), 15 µs a signature here against 27 µs through ``cryptography``
(docs/benchmarks.md). Ed25519 is deterministic (RFC 8032), so both give the
same signature; ``cryptography`` still reads and writes the keys. What is the
same for every message (the tags naming the domain, selector and algorithm,
the key, the ``h=`` list of a letter's headers) is prepared once per signer.
The tests check every signature with two independent verifiers, dkimpy and
OpenDKIM.

Signed: From and the headers below that are present, each listed once more
than it occurs (over-signing), so that a header of these added later, such
as a second From or List-Unsubscribe, breaks the signature instead of
riding on it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import nacl.signing
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, utils
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from mailer import clock
from mailer.dispatch.dkim_canon import CRLF, MessageCanon, with_crlf
from mailer.dispatch.dkim_keys import DkimKey

#: The headers signed when present, each over-signed; From is always signed.
SIGNED_HEADERS = (
    "from", "reply-to", "sender", "to", "cc", "subject", "date", "message-id",
    "in-reply-to", "references", "mime-version", "content-type",
    "content-transfer-encoding", "content-language", "list-id", "list-archive",
    "list-post", "list-unsubscribe", "list-unsubscribe-post", "feedback-id",
)
_SIGNED = frozenset(name.encode("ascii") for name in SIGNED_HEADERS)
#: Columns at which the signature header's long values are folded.
_FOLD = 72
#: Orders of header names remembered before the memory starts again (one a letter, mostly).
_LISTS_LIMIT = 256


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
        self._signers = [_signing(key) for key in self.keys]
        #: The canonical header fields a letter's messages share, each made once.
        self._canon = MessageCanon(_SIGNED)
        #: The ``h=`` list for each order of signed header names (a letter's messages
        #: have one): as written (folded), in relaxed form, and the order of the fields.
        self._lists: dict[tuple[bytes, ...], _HeaderList] = {}

    def sign(self, data: bytes, *, crlf: bool = False, relaxed: bool = False) -> bytes:
        """The message with a DKIM-Signature per key in front of its headers."""
        return self.finish(self.prepare(data, crlf=crlf, relaxed=relaxed))

    def prepare(self, data: bytes, *, crlf: bool = False, relaxed: bool = False) -> Unsigned:
        """Everything but the private-key operations: canonical forms and their hashes.

        This part needs the GIL; ``finish`` mostly does not, which is why the
        two are apart. ``crlf``: every line of ``data`` is known to end in CRLF
        and no CR stands alone (mailer's own messages, ``stuffed``), so the
        search for other line ends (a fifth of the work) is skipped. ``relaxed``
        (with ``crlf``): the body is in relaxed form already, and is hashed as
        it is (``OutgoingMessage.relaxed``).
        """
        if not crlf:
            data = with_crlf(data)
        elif not data.endswith(CRLF):
            data += CRLF
        fields, digest = self._canon.message(data, relaxed=crlf and relaxed)
        names = tuple([name for name, canonical in fields if canonical is not None])
        lines = [canonical for _, canonical in fields if canonical is not None]
        listed = self._lists.get(names)
        if listed is None:
            if len(self._lists) > _LISTS_LIMIT:
                self._lists.clear()
            listed = self._lists[names] = _HeaderList.of(names)
        signed = b"".join([lines[index] for index in listed.order])
        when = int(clock.now().timestamp())
        encoded = base64.b64encode(digest).decode()
        tags, digests = [], []
        for opening in self._openings:
            tags.append(f"{opening}\r\n\tt={when}; h={listed.folded};\r\n\tbh={encoded};\r\n\tb=")
            # The field's relaxed form, written directly: each fold (CRLF, a tab and
            # maybe a space) is one space once unfolded and reduced.
            canonical = f"dkim-signature:{opening} t={when}; h={listed.relaxed}; bh={encoded}; b="
            digests.append(hashlib.sha256(signed + canonical.encode("ascii")).digest())
        return Unsigned(data, tuple(t.encode("ascii") for t in tags), tuple(digests))

    def finish(self, unsigned: Unsigned) -> bytes:
        """The signatures made over the prepared hashes, in front of the message."""
        head = [
            b"DKIM-Signature: " + tags + _folded_base64(signing(digest)) + CRLF
            for signing, tags, digest in zip(
                self._signers, unsigned.tags, unsigned.digests, strict=True
            )
        ]
        return b"".join(head) + unsigned.data


@dataclass(frozen=True)
class _HeaderList:
    """The ``h=`` list for the signed header names of a message, in their order."""

    #: As written, folded; and in relaxed form (each fold one space).
    folded: str
    relaxed: str
    #: Which of the signed fields, by index, the signed data holds, in ``h=`` order.
    order: tuple[int, ...]

    @classmethod
    def of(cls, names: tuple[bytes, ...]) -> _HeaderList:
        """From first, then each name in the order it first occurs, listed once more than it
        occurs; its fields from the bottom up.

        A verifier takes the fields of one name from the bottom up, and a name
        listed once more than it occurs finds none (an empty string): so a
        name occurring twice is listed three times, its lowest field first.
        """
        found: dict[bytes, list[int]] = {b"from": []}
        for index, name in enumerate(names):
            found.setdefault(name, []).append(index)
        listed: list[str] = []
        order: list[int] = []
        for name, indexes in found.items():
            listed.extend([name.decode("ascii")] * (len(indexes) + 1))
            order.extend(reversed(indexes))
        folded, relaxed = _fold(listed)
        return cls(folded, relaxed, tuple(order))


def _signing(key: DkimKey) -> Callable[[bytes], bytes]:
    """The key's signature over a SHA-256 hash of the signed data, as a function."""
    private = key.private_key
    if isinstance(private, ed25519.Ed25519PrivateKey):
        seed = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        sodium = nacl.signing.SigningKey(seed)
        # RFC 8463: Ed25519 signs the SHA-256 hash itself.
        return lambda digest: sodium.sign(digest).signature
    pad, prehashed = padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())
    return lambda digest: private.sign(digest, pad, prehashed)


def _folded_base64(signature: bytes) -> bytes:
    """The ``b=`` value, in base64 folded into lines that mail servers keep."""
    encoded = base64.b64encode(signature)
    return b"\r\n\t ".join(encoded[i : i + _FOLD] for i in range(0, len(encoded), _FOLD))


def _fold(names: list[str]) -> tuple[str, str]:
    """The ``h=`` list folded after a colon before a line grows past the fold column,
    and the same in relaxed form (each fold one space)."""
    lines = [""]
    for index, name in enumerate(names):
        piece = name if index == len(names) - 1 else f"{name}:"
        if lines[-1] and len(lines[-1]) + len(piece) > _FOLD:
            lines.append("")
        lines[-1] += piece
    return "\r\n\t ".join(lines), " ".join(lines)
