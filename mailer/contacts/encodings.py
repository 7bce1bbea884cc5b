"""The text encoding of a contact file: which codec reads it, and where it stops being text.

Contact files come from spreadsheets and address books. Excel on Windows
saves "CSV" in the machine's code page (cp1252 in western Europe and the
Americas) and "Unicode text" as UTF-16 with a byte-order mark; everything
else writes UTF-8, often with a BOM. mailer reads UTF-8 unless it is told
another encoding, because guessing an 8-bit code page from the bytes picks
the wrong one often enough to turn "Müller" into "M³ller" in thousands of
greetings at once. So a file that is not UTF-8 is refused, naming the line
and the byte, and the user names the encoding.

A byte-order mark is proof of the encoding, so it is checked against the
one asked for: a UTF-16 file read as anything but UTF-16 (or a UTF-8 file
with its BOM read as cp1252) is refused before a single row is read.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path

from mailer.errors import InputError, UndecodableText, UsageError

#: How a file is read when no encoding is given: UTF-8, with or without a BOM.
UTF8 = "utf-8-sig"
_CHUNK = 1 << 20
#: Byte-order marks, longest first (UTF-32 LE begins with the UTF-16 LE mark).
_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def codec_named(encoding: str | None) -> str:
    """The codec that reads a file said to be in ``encoding`` (None: UTF-8, BOM or not).

    ``UsageError`` for a name Python does not know, or for a codec that does
    not turn bytes into text (``base64``, ``rot13``).
    """
    if encoding is None or not encoding.strip():
        return UTF8
    try:
        name = codecs.lookup(encoding.strip()).name
        io.TextIOWrapper(io.BytesIO(), encoding=name)
    except LookupError:
        raise UsageError(
            f"--encoding {encoding!r}: not a text encoding (e.g. utf-8, cp1252, latin-1, utf-16)"
        ) from None
    return UTF8 if name in ("utf-8", "utf-8-sig") else name


def _family(codec: str) -> str:
    """``utf-16-le`` → ``utf-16``: what a byte-order mark can be checked against."""
    for family in ("utf-32", "utf-16", "utf-8"):
        if codec.startswith(family):
            return family
    return codec


def _check_mark(path: Path, codec: str, asked: str | None) -> None:
    """Refuse a file whose byte-order mark says it is in another encoding than ``codec``."""
    with path.open("rb") as handle:
        head = handle.read(4)
    for mark, family in _MARKS:
        if not head.startswith(mark):
            continue
        if family == _family(codec):
            return
        if family == "utf-8":
            raise InputError(
                f"the file starts with a UTF-8 byte-order mark, so it is UTF-8, not {asked}: "
                "import it without --encoding",
                path=path,
            )
        name = family.upper()
        raise InputError(
            f"the file is {name} (it starts with a byte-order mark); pass --encoding {family} "
            "or save it as UTF-8",
            path=path,
        )


def check_encoding(path: Path, encoding: str | None = None) -> str:
    """Read the whole file once and fail, naming the line, where it is not text in
    ``encoding``; returns the codec to read it with.

    The line is counted in the decoded text, so it is right for UTF-16 too.
    """
    codec = codec_named(encoding)
    _check_mark(path, codec, encoding)
    decoder = codecs.getincrementaldecoder(codec)()
    lines_before = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            state = decoder.getstate()
            try:
                text = decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                line = lines_before + _lines_before_error(codec, state, exc) + 1
                raise _undecodable(path, encoding, codec, exc, line) from None
            if not chunk:
                return codec
            lines_before += text.count("\n")


def _lines_before_error(codec: str, state: tuple[bytes, int], exc: UnicodeDecodeError) -> int:
    """How many line breaks the chunk holds before the byte that could not be decoded.

    The bytes before it are decoded again from the state the decoder had at
    the chunk's start (the error's ``object`` holds any bytes carried over from
    the chunk before too). Should a codec not allow that, the bytes are counted.
    """
    before = exc.object[: exc.start]
    try:
        probe = codecs.getincrementaldecoder(codec)()
        probe.setstate((b"", state[1]))
        return probe.decode(before).count("\n")
    except (UnicodeDecodeError, TypeError, ValueError):
        return bytes(before).count(b"\n")


def _undecodable(
    path: Path, asked: str | None, codec: str, exc: UnicodeDecodeError, line: int
) -> UndecodableText:
    """The error for a byte the codec cannot read, with what to do about it."""
    cut_off = "end of data" in exc.reason or "truncated" in exc.reason
    byte = "end" if cut_off else f"0x{bytes(exc.object[exc.start : exc.start + 1]).hex().upper()}"
    where = "the file ends inside a character" if cut_off else f"byte {byte}"
    if asked is None or codec == UTF8:
        message = f"not UTF-8 text ({where}); save the file as UTF-8 or pass --encoding cp1252"
    else:
        message = (
            f"not {asked} text ({where}); pass the file's own encoding with --encoding, "
            "or save it as UTF-8"
        )
    return UndecodableText(message, encoding=codec, byte=byte, path=path, line=line)
