"""The files a letter brings along: its attachments, and the local files its body links or shows.

A letter names files three ways, each path relative to the letter file:
``attachments:`` in its front matter, an image in its body
(``![logo](logo.png)``), and a link to a file (``[the resolution](resolution.pdf)``).
``read_files`` reads them once, when the letter is loaded, and keeps them by
file name; a campaign stores them (``campaign_files``), so that a resume sends
the bytes that were checked even if the files on disk changed or went away.

A file's type comes from its name and is checked against its first bytes
(``file_type``); where the two disagree the content wins and ``note`` says so.
``place_files`` then points the body's links and images at the files for
one compiled letter: an image becomes a ``cid:`` reference to a part of the
message, or, with ``images: link`` in a letter that is in the public
archive, a link to the archive's copy; a link to an attached file points at
the archive's copy too, or, where there is none, keeps its text and loses
its address (a mail client cannot link to an attachment).
"""

from __future__ import annotations

import functools
import io
import mimetypes
import re
import secrets
import urllib.parse
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath

from markdown_it.token import Token

from mailer.errors import InputError
from mailer.letters.multipart import FilePart, base64_body
from mailer.letters.source import Letter
from mailer.letters.templates import markdown
from mailer.store.campaigns import CampaignFile

#: Images every mail client shows (SVG is not one of them, and may carry scripts).
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_ZIP = "application/zip"
_OOXML = "application/vnd.openxmlformats-officedocument."
#: OOXML files by the folder their main part lies in.
_OOXML_KINDS = {
    "word/": _OOXML + "wordprocessingml.document",
    "xl/": _OOXML + "spreadsheetml.sheet",
    "ppt/": _OOXML + "presentationml.presentation",
}
#: The types the letters of a federation mostly carry, by extension (the system's table
#: answers for the rest): fixed here, so a message does not depend on the machine.
_BY_EXTENSION = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".zip": _ZIP,
    ".docx": _OOXML_KINDS["word/"],
    ".xlsx": _OOXML_KINDS["xl/"],
    ".pptx": _OOXML_KINDS["ppt/"],
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odp": "application/vnd.oasis.opendocument.presentation",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".md": "text/markdown",
    ".ics": "text/calendar",
}
#: The types whose content can be told from their first bytes.
_MAGIC = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", _ZIP),
    (b"PK\x05\x06", _ZIP),  # an empty archive
)
_OCTETS = "application/octet-stream"
_TEXT = "text/plain"
#: A scheme (``https:``, ``mailto:``, ``cid:``, ``data:``...): not a file beside the letter.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
#: A megabyte as the settings and the reports count it.
MB = 1 << 20
#: The forms of size ``human_size`` writes.
_UNITS = ((MB, "MB"), (1 << 10, "KB"))


def type_by_name(name: str) -> str:
    """The type a file's name says it has (``application/octet-stream`` if it says none)."""
    suffix = PurePath(name).suffix.lower()
    return _BY_EXTENSION.get(suffix) or mimetypes.guess_type(f"x{suffix}")[0] or _OCTETS


def _zip_kind(content: bytes) -> str:
    """A ZIP archive, or the office document (OOXML, ODF) it is."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
            if "mimetype" in names:  # ODF and EPUB name their type in their first member
                kind = archive.read("mimetype").decode("ascii", "replace").strip()
                return kind if re.fullmatch(r"application/[\w.+-]+", kind) else _ZIP
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        return _ZIP
    if "[Content_Types].xml" in names:
        for folder, kind in _OOXML_KINDS.items():
            if any(name.startswith(folder) for name in names):
                return kind
    return _ZIP


def sniff(content: bytes) -> str | None:
    """The type the content shows, or ``text/plain`` for text, or None when it shows none."""
    for magic, kind in _MAGIC:
        if content.startswith(magic):
            return _zip_kind(content) if kind == _ZIP else kind
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return _TEXT if b"\0" not in content[:8192] else None


def _checkable(kind: str) -> bool:
    """Whether ``sniff`` can confirm a file of this type."""
    return kind.startswith("text/") or kind in _BY_EXTENSION.values()


def file_type(name: str, content: bytes) -> tuple[str, str]:
    """The type to send a file as, and a note when its name says otherwise.

    The content wins: a ``photo.jpg`` that is a PNG goes out as ``image/png``.
    Text passes for any text type its name gives (``.csv``, ``.ics``); a name
    that the check does not know (``.epub``, or none at all) is no conflict,
    and neither is ``.zip`` for an office document (which is a ZIP archive).
    """
    declared = type_by_name(name)
    found = sniff(content)
    if found == _TEXT:
        if declared == _OCTETS:
            return _TEXT, ""
        if declared.startswith("text/") or not _checkable(declared):
            return declared, ""
    elif found is None:
        if not _checkable(declared):
            return declared, ""
        found = _OCTETS
    elif found == declared or declared == _OCTETS:
        return found, ""
    elif content.startswith(b"PK") and (declared == _ZIP or not _checkable(declared)):
        return declared, ""  # a .zip that is an office document, an .epub, a .jar
    what = "of no type the check knows" if found == _OCTETS else found
    return found, f"{name}: its name says {declared}, but its content is {what}; sent as {found}"


def human_size(size: int) -> str:
    """``812 bytes``, ``12 KB``, ``1.2 MB`` (1 KB = 1,024 bytes)."""
    for unit, label in _UNITS:
        if size >= unit:
            value = size / unit
            return f"{value:.1f} {label}" if value < 10 else f"{value:.0f} {label}"
    return f"{size} bytes"


@dataclass(frozen=True)
class FileSummary:
    """A file as a report or a page lists it: its size and type, and how messages carry it
    (``attached``, or ``embedded`` for an image the HTML shows)."""

    name: str
    size: int
    content_type: str
    how: str = "attached"

    @property
    def size_text(self) -> str:
        return human_size(self.size)


@dataclass(frozen=True)
class LetterFile:
    """One file a letter brings along, as read when the letter was loaded."""

    name: str
    content: bytes
    content_type: str
    #: Why the type differs from what the name says ("" when they agree).
    note: str = ""

    @classmethod
    def of(cls, name: str, content: bytes) -> LetterFile:
        """The file ``name`` with this content, its type checked (``file_type``)."""
        content_type, note = file_type(name, content)
        return cls(name, content, content_type, note)

    @property
    def is_image(self) -> bool:
        """Whether mail clients show it in the letter (PNG, JPEG, GIF, WebP)."""
        return self.content_type in IMAGE_TYPES

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def charset(self) -> str:
        """``utf-8`` for a text file that is UTF-8, else "" (a text file in some other code)."""
        if not self.content_type.startswith("text/"):
            return ""
        try:
            self.content.decode("utf-8")
        except UnicodeDecodeError:
            return ""
        return "utf-8"

    def summary(self, how: str = "attached") -> FileSummary:
        """The file without its content, for a report or a page."""
        return FileSummary(self.name, self.size, self.content_type, how)

    @functools.cached_property
    def encoded(self) -> bytes:
        """The content in base64 lines: encoded the first time a message needs it, then kept."""
        return base64_body(self.content)

    def part(self, content_id: str = "") -> FilePart:
        """The file as a MIME part (an inline image when it has a ``content_id``)."""
        charset = self.charset
        content_type = f'{self.content_type}; charset="{charset}"' if charset else self.content_type
        return FilePart(self.name, content_type, self.encoded, content_id)


def kept_files(stored: Iterable[CampaignFile]) -> dict[str, LetterFile]:
    """A campaign's attachments and images, by name, as they were when it was made."""
    return {
        each.name: LetterFile.of(each.name, each.content)
        for each in stored
        if each.role in ("attachment", "image")
    }


@dataclass(frozen=True)
class Reference:
    """A file a letter names: in ``attachments:`` or as a link or image in its body."""

    target: str
    #: ``attachment`` (the front matter), ``image`` or ``link`` (the body).
    kind: str
    line: int

    @property
    def name(self) -> str:
        """The file's own name: how the message and the archive call it."""
        return file_name(self.target)


def file_name(target: str) -> str:
    """``docs/resolution.pdf`` → ``resolution.pdf``."""
    return PurePosixPath(target).name


def local_target(address: str) -> str | None:
    """The file a link or image in the body points at, or None when it is no local file.

    Web and mail addresses, anchors (``#top``), ``cid:`` and ``data:``
    references, and anything holding a template expression are left alone.
    """
    if not address or address.startswith(("#", "//")) or _SCHEME.match(address):
        return None
    path = urllib.parse.unquote(address.partition("#")[0].partition("?")[0])
    if not path or "{{" in path or "{%" in path:
        return None
    return path


def inline_tokens(tokens: Sequence[Token]) -> Iterator[Token]:
    """Every inline token of a parsed body (links, images, text), in order."""
    for token in tokens:
        yield from token.children or ()


def _body_references(letter: Letter) -> list[Reference]:
    """The local links and images of the letter's body, with the lines they stand on."""
    lines = letter.body.split("\n")
    found = []
    for block in markdown().parse(letter.body):
        start, end = block.map or (0, 0)
        for token in block.children or ():
            attribute = {"image": "src", "link_open": "href"}.get(token.type)
            address = str(token.attrGet(attribute) or "") if attribute else ""
            target = local_target(address)
            if target is None:
                continue
            raw = address.partition("#")[0].partition("?")[0]
            offset = next(
                (n for n in range(start, end) if target in lines[n] or raw in lines[n]), start
            )
            kind = "image" if token.type == "image" else "link"
            found.append(Reference(target, kind, letter.body_line + offset))
    return found


def references(letter: Letter) -> list[Reference]:
    """Every file the letter names: its ``attachments:``, then its body's links and images."""
    attached = [
        Reference(name, "attachment", letter.line_of("attachments", name))
        for name in letter.attachments
    ]
    return attached + _body_references(letter)


def _read(letter: Letter, reference: Reference) -> tuple[Path, bytes]:
    """Read one named file; ``InputError`` naming the letter's line when it cannot be."""
    what = {"attachment": "attachment", "image": "image", "link": "linked file"}[reference.kind]
    if reference.kind == "attachment" and _SCHEME.match(reference.target):
        raise InputError(
            f"attachments: {reference.target!r} is an address, not a file beside the letter "
            "(link to it in the text instead)",
            path=letter.path,
            line=reference.line,
        )
    path = letter.path.parent / reference.target
    try:
        return path.resolve(), path.read_bytes()
    except FileNotFoundError:
        reason = f"{what} {reference.target!r} not found (looked for {path})"
    except IsADirectoryError:
        reason = f"{what} {reference.target!r} is a folder, not a file"
    except OSError as exc:
        reason = f"cannot read the {what} {reference.target!r}: {exc.strerror or exc}"
    raise InputError(reason, path=letter.path, line=reference.line)


def _check_use(letter: Letter, reference: Reference, file: LetterFile) -> None:
    """An image must be one; a linked file that is no image must be attached."""
    if reference.kind == "image" and not file.is_image:
        raise InputError(
            f"image {reference.target!r} is {file.content_type}, not an image mail "
            "clients show (PNG, JPEG, GIF or WebP); link to it and attach it instead",
            path=letter.path,
            line=reference.line,
        )
    attached = {file_name(name) for name in letter.attachments}
    if reference.kind == "link" and not file.is_image and file.name not in attached:
        raise InputError(
            f"the link to {reference.target!r} points at a local file that is not attached: "
            "list it under attachments: (or link to a web address)",
            path=letter.path,
            line=reference.line,
        )


def read_files(letters: Iterable[Letter]) -> dict[str, LetterFile]:
    """Read every file the letters (an original and its translations) name, by file name.

    A translation's inherited ``attachments:`` were read with the original. A
    file that is missing, an image that is none, a linked file that is not
    attached, or two files of one name are errors naming the letter and line.
    """
    files: dict[str, LetterFile] = {}
    origins: dict[str, Path] = {}
    for letter in letters:
        own = references(letter)
        if "attachments" not in letter.written:
            own = [each for each in own if each.kind != "attachment"]
        for reference in own:
            path, content = _read(letter, reference)
            name = reference.name
            if name in origins and origins[name] != path:
                raise InputError(
                    f"two files are called {name!r} ({origins[name]} and {path}); "
                    "a message cannot tell them apart: rename one",
                    path=letter.path,
                    line=reference.line,
                )
            origins[name] = path
            file = files.setdefault(name, LetterFile.of(name, content))
            _check_use(letter, reference, file)
    return files


@dataclass
class Carried:
    """The files one compiled letter takes along, and where its body's links to them point.

    ``images`` are the images the HTML shows from inside the message, each
    with the Content-ID its ``cid:`` reference names.
    """

    attachments: list[LetterFile] = field(default_factory=list)
    images: list[tuple[LetterFile, str]] = field(default_factory=list)
    #: The letter says ``images: link``: its images are not counted (see ``size``).
    images_linked: bool = False

    @property
    def size(self) -> int:
        """The files' own bytes (before base64) each message carries, as the limits count them.

        A letter that links its images (``images: link``) is counted without
        them: it is sent that way where it is in the archive, and embeds them
        only where it cannot be (a private list, a preview).
        """
        images = 0 if self.images_linked else sum(f.size for f, _ in self.images)
        return sum(f.size for f in self.attachments) + images

    def parts(self) -> tuple[list[FilePart], list[FilePart]]:
        """The attachments and the images, as MIME parts."""
        return [f.part() for f in self.attachments], [f.part(cid) for f, cid in self.images]


def place_files(
    tokens: Sequence[Token],
    letter: Letter,
    files: Mapping[str, LetterFile],
    *,
    files_url: str,
    link_images: bool,
    domain: str,
) -> Carried:
    """Point the parsed body's local links and images at the files; say what the message carries.

    ``files_url`` is where the archive serves the letter's files ("" when the
    letter is not in the public archive); ``link_images`` links the images
    there instead of carrying them. A name ``files`` does not hold is left as
    written: a campaign made before files were kept with it sends as it did.
    """
    names = dict.fromkeys(file_name(each) for each in letter.attachments)
    carried = Carried([files[name] for name in names if name in files], images_linked=link_images)
    nonce = secrets.token_hex(4)
    content_ids: dict[str, str] = {}
    unlinked = False
    for token in inline_tokens(tokens):
        if token.type == "link_close" and unlinked:
            token.tag, unlinked = "span", False
        attribute = {"image": "src", "link_open": "href"}.get(token.type)
        target = local_target(str(token.attrGet(attribute) or "")) if attribute else None
        file = files.get(file_name(target)) if target is not None else None
        if attribute is None or file is None:
            continue
        token.meta["local"] = True
        if token.type == "image" and not (link_images and files_url):
            if file.name not in content_ids:
                content_ids[file.name] = f"{len(content_ids) + 1}.{nonce}@{domain}"
                carried.images.append((file, content_ids[file.name]))
            token.attrSet("src", f"cid:{content_ids[file.name]}")
        elif files_url:
            token.attrSet(attribute, f"{files_url}/{urllib.parse.quote(file.name)}")
        else:  # the text stays, not as a link: a mail client cannot link to an attachment
            del token.attrs["href"]
            token.tag, unlinked = "span", True
    return carried
