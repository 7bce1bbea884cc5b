"""The multipart skeleton around a letter's two bodies, and the files in it.

A letter without files is a ``multipart/alternative`` of its text and its
HTML. The images the HTML shows go with it into a ``multipart/related``
(RFC 2387), each named by a Content-ID its ``cid:`` reference gives;
attachments make the whole a ``multipart/mixed`` with the alternative first.
Every file is base64 (RFC 2045) with its name in its headers: plain when it
is short ASCII, else per RFC 2231 (``filename*=utf-8''...``), with an ASCII
spelling in the ``Content-Type``'s ``name=`` for readers that know no RFC
2231. All of it is bytes made once per letter (``Layout``); ``MessageFrame``
puts each recipient's bodies in between.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from text_unidecode import unidecode

CRLF = b"\r\n"


@dataclass(frozen=True)
class FilePart:
    """A file a message carries: attached, or (with a ``content_id``) an image the HTML shows.

    ``body`` is the file in base64 (``base64_body``), encoded once per letter
    and shared by every message of it.
    """

    filename: str
    content_type: str
    body: bytes
    content_id: str = ""


def base64_body(content: bytes) -> bytes:
    """``content`` in base64, in lines of 76 characters joined by CRLF (RFC 2045)."""
    encoded = base64.b64encode(content)
    return CRLF.join([encoded[i : i + 76] for i in range(0, len(encoded), 76)])


#: What may not stand in a quoted file name: anything but printable ASCII, quotes, backslashes.
_UNQUOTABLE = re.compile(r'[^\x20-\x7e]|["\\]')
#: RFC 2231 attribute-char beyond letters and digits (``quote`` keeps ``_.-~`` anyway).
_ATTRIBUTE_CHARS = "!#$&+^`|"
#: A quoted name or an encoded piece of one stays this short, so header lines stay short.
_PARAMETER_PIECE = 60


def ascii_filename(name: str) -> str:
    """The file name in plain ASCII for readers that know no RFC 2231 (``Resolución`` →
    ``Resolucion``)."""
    return _UNQUOTABLE.sub("_", unidecode(name)).strip() or "file"


def file_parameter(key: str, name: str) -> str:
    """``key="name"`` for a short ASCII name, else RFC 2231's ``key*=utf-8''...``.

    A long encoded name is continued (``key*0*=``, ``key*1*=``, ...), one piece a line.
    """
    if ascii_filename(name) == name and len(name) <= _PARAMETER_PIECE:
        return f'{key}="{name}"'
    encoded = urllib.parse.quote(name, safe=_ATTRIBUTE_CHARS)
    if len(encoded) <= _PARAMETER_PIECE:
        return f"{key}*=utf-8''{encoded}"
    pieces = [""]
    for char in name:  # readers decode each piece alone: never cut a character in two
        octets = urllib.parse.quote(char, safe=_ATTRIBUTE_CHARS)
        if len(pieces[-1]) + len(octets) > _PARAMETER_PIECE:
            pieces.append("")
        pieces[-1] += octets
    pieces[0] = "utf-8''" + pieces[0]
    return ";\r\n ".join(f"{key}*{n}*={piece}" for n, piece in enumerate(pieces))


def _file_head(boundary: str, part: FilePart) -> bytes:
    """The boundary and headers in front of a file's base64 body."""
    lines = [
        f"\r\n--{boundary}",
        f'Content-Type: {part.content_type};\r\n name="{ascii_filename(part.filename)}"',
        "Content-Transfer-Encoding: base64",
    ]
    if part.content_id:
        lines.append(f"Content-ID: <{part.content_id}>")
    disposition = "inline" if part.content_id else "attachment"
    lines.append(
        f"Content-Disposition: {disposition};\r\n {file_parameter('filename', part.filename)}"
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


@dataclass(frozen=True)
class Layout:
    """The multipart skeleton of a letter's messages: what stands around the two bodies."""

    content_type: str
    text_open: bytes
    html_open: bytes
    tail: tuple[bytes, ...]
    files_size: int


_BODY_PART = 'Content-Type: text/{kind}; charset="utf-8"\r\n' + (
    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
)


def layout(token: str, attachments: Sequence[FilePart], images: Sequence[FilePart]) -> Layout:
    """The parts around the text and the HTML body.

    Without files: ``multipart/alternative`` (text, HTML). Images the HTML
    shows go with it into a ``multipart/related``; attachments make the
    whole a ``multipart/mixed`` with the alternative first. Every file's
    head and body are bytes made here, once.
    """
    alternative = ("=_a" if attachments else "=_m") + token
    text_open = f"\r\n--{alternative}\r\n" + _BODY_PART.format(kind="plain")
    html_open = f"\r\n--{alternative}\r\n"
    tail: list[bytes] = []
    files: list[bytes] = []
    if images:
        related = "=_r" + token
        html_open += (
            f'Content-Type: multipart/related; type="text/html";\r\n boundary="{related}"'
            f"\r\n\r\n\r\n--{related}\r\n"
        )
        files += [chunk for image in images for chunk in (_file_head(related, image), image.body)]
        tail += [*files, f"\r\n--{related}--\r\n".encode("ascii")]
    tail.append(f"\r\n--{alternative}--\r\n".encode("ascii"))
    content_type = f'multipart/alternative; boundary="{alternative}"'
    if attachments:
        mixed = "=_m" + token
        text_open = (
            f'\r\n--{mixed}\r\nContent-Type: multipart/alternative;\r\n boundary="{alternative}"'
            f"\r\n\r\n{text_open}"
        )
        attached = [c for each in attachments for c in (_file_head(mixed, each), each.body)]
        files += attached
        tail += [*attached, f"\r\n--{mixed}--\r\n".encode("ascii")]
        content_type = f'multipart/mixed; boundary="{mixed}"'
    return Layout(
        content_type=content_type,
        text_open=text_open.encode("ascii"),
        html_open=(html_open + _BODY_PART.format(kind="html")).encode("ascii"),
        tail=tuple(tail),
        files_size=sum(map(len, files)),
    )
