"""Letter sources: a front matter block and a Markdown body → ``Letter``.

A letter is a text file the coordinator writes by hand, so every error names
the file and the line to fix. The front matter is YAML between ``---`` lines
(TOML between ``+++`` is accepted too); the body is Markdown that may hold
Jinja2 expressions for personalisation. Nothing here knows about subscribers
or rendering: campaigns store ``Letter.source`` and re-parse it later, so
parsing must depend on the text alone.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml
import yaml.reader
from slugify import slugify as python_slugify

from mailer import clock
from mailer.errors import HeaderInjectionError, InputError
from mailer.languages import normalize_tag
from mailer.store.lists import validate_list_name

#: Front-matter keys with a meaning of their own; any other key is passed through.
KNOWN_KEYS = (
    "subject",
    "list",
    "from",
    "reply_to",
    "date",
    "author",
    "organization",
    "preheader",
    "template",
    "language",
    "images",
    "attachments",
)
#: Keys that take a list (of file names) instead of text.
LIST_KEYS = ("attachments",)
#: What ``images:`` may say: embed the letter's images in the message, or link them.
IMAGE_MODES = ("embed", "link")
#: Keys whose values end up in a mail header, where a line break would forge headers.
HEADER_KEYS = ("subject", "from", "reply_to", "organization")
DEFAULT_TEMPLATE = "letter"
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FENCES = {"---": "yaml", "+++": "toml"}
_TOML_AT = re.compile(r"\s*\(at line (\d+), column \d+\)")


@dataclass(frozen=True)
class Letter:
    """A parsed letter source."""

    path: Path
    subject: str
    list_name: str | None
    meta: dict[str, Any]
    body: str
    source: str
    body_line: int
    #: The front-matter keys the file itself sets (the rest are defaults).
    written: frozenset[str] = frozenset()

    @property
    def template(self) -> str:
        """Base name of the layout templates (``letter`` → ``letter.html.j2``)."""
        return str(self.meta.get("template") or DEFAULT_TEMPLATE)

    @property
    def language(self) -> str:
        """The language the letter is written in (front matter ``language``; "" if not said)."""
        return str(self.meta.get("language") or "")

    @property
    def attachments(self) -> tuple[str, ...]:
        """The files the letter attaches, as written in ``attachments:`` (relative to it)."""
        return tuple(self.meta.get("attachments") or ())

    @property
    def images(self) -> str:
        """``embed`` (the default) or ``link``: how the letter's own images reach the reader."""
        return str(self.meta.get("images") or "embed")

    def line_of(self, key: str, value: str | None = None) -> int:
        """The line of the letter file that sets ``key`` (or, in a list, its ``value``)."""
        lines = self.source.removeprefix("\ufeff").splitlines()
        fence = lines[0].strip() if lines else ""
        end = next((n for n in range(1, len(lines)) if lines[n].strip() == fence), len(lines))
        line = _key_line(lines[1:end], key, 2, fence)
        if value is not None:
            found = (n + 1 for n in range(line - 1, end) if value in lines[n])
            return next(found, line)
        return line

    @property
    def date(self) -> dt.date:
        """The date printed on the letter (front matter ``date``, else today)."""
        value = self.meta.get("date")
        return value if isinstance(value, dt.date) else clock.now().date()


def load_letter(path: Path) -> Letter:
    """Read and parse the letter at ``path``; ``InputError`` naming the file if it can't."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("letter file not found", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the letter: {exc.strerror or exc}", path=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError("the letter is not UTF-8 text", path=path, line=line) from None
    return parse_letter(text, path)


def _key_line(lines: list[str], key: str, first: int, fence: str) -> int:
    """Line number (1-based, in the file) where ``key`` is set in the front matter."""
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*[:=]")
    for offset, line in enumerate(lines):
        if pattern.match(line):
            return first + offset
    return first - 1 if fence else 1


def _split(text: str, path: Path) -> tuple[str, str, list[str], int]:
    """Cut the text into (fence kind, front matter, body lines, first body line number)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n").strip() not in _FENCES:
        raise InputError(
            "a letter starts with front matter between '---' lines (at least a subject:)",
            path=path,
            line=1,
        )
    fence = lines[0].strip()
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n").strip() == fence:
            front = "".join(lines[1:index])
            return _FENCES[fence], front, lines[index + 1 :], index + 2
    raise InputError(f"the front matter is not closed by a '{fence}' line", path=path, line=1)


class _FrontMatterLoader(yaml.SafeLoader):
    """YAML's safe loader, with dates left as text.

    YAML turns ``2026-11-27`` into a date by itself, and ``2026-13-45`` into
    an exception without a line number; mailer reads the dates it needs
    (``date:``) itself, so that a wrong one is reported with its line.
    """


_FrontMatterLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load_front(kind: str, front: str, path: Path) -> dict[str, Any]:
    try:
        data = (
            yaml.load(front, Loader=_FrontMatterLoader)  # a safe loader, see above
            if kind == "yaml"
            else tomllib.loads(front)
        )
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 2 if exc.problem_mark is not None else 1
        raise InputError(
            f"front matter is not valid YAML: {exc.problem}", path=path, line=line
        ) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = front[: exc.position].count("\n") + 2
        raise InputError(
            f"front matter is not valid YAML: character #x{exc.character:04x} is not allowed",
            path=path,
            line=line,
        ) from None
    except yaml.YAMLError as exc:
        message = " ".join(str(exc).split())
        raise InputError(f"front matter is not valid YAML: {message}", path=path, line=1) from None
    except tomllib.TOMLDecodeError as exc:
        at = _TOML_AT.search(str(exc))  # "(at line 3, column 9)", counted in the front matter
        raise InputError(
            f"front matter is not valid TOML: {_TOML_AT.sub('', str(exc)).strip()}",
            path=path,
            line=int(at[1]) + 1 if at else 1,
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError("front matter must be a set of 'key: value' lines", path=path, line=2)
    return {str(k): v for k, v in data.items()}


def _check_meta(meta: dict[str, Any], lines: list[str], path: Path, fence: str) -> None:
    """Types and header safety of the keys mailer itself uses."""

    def fail(key: str, message: str, cls: type[InputError] = InputError) -> NoReturn:
        raise cls(message, path=path, line=_key_line(lines, key, 2, fence))

    subject = meta.get("subject")
    if subject is None or (isinstance(subject, str) and not subject.strip()):
        raise InputError("the front matter needs a subject:", path=path, line=1)
    for key in KNOWN_KEYS:
        value = meta.get(key)
        if key == "date" or key in LIST_KEYS or value is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            meta[key] = value = str(value)  # ``subject: 2026`` is meant as text
        if not isinstance(value, str):
            fail(key, f"{key}: must be text, not {type(value).__name__}")
    for key in HEADER_KEYS:
        value = meta.get(key)
        if isinstance(value, str) and any(ch in value for ch in "\r\n\0"):
            fail(
                key,
                f"{key}: contains a line break (it goes into a mail header)",
                HeaderInjectionError,
            )
        if isinstance(value, str) and any(unicodedata.category(ch) == "Cc" for ch in value):
            fail(
                key,
                f"{key}: contains a control character (it goes into a mail header)",
                HeaderInjectionError,
            )
    language = meta.get("language")
    if language:
        try:
            meta["language"] = normalize_tag(language)
        except InputError as exc:
            fail("language", f"language: {exc.reason}")
    _check_files(meta, fail)
    template = meta.get("template")
    if template is not None and not _TEMPLATE_NAME.match(template):
        fail("template", f"template: {template!r} is not a template name")
    date = meta.get("date")
    if date is not None and not isinstance(date, dt.date):
        try:
            meta["date"] = dt.date.fromisoformat(str(date).strip()[:10])
        except ValueError:
            fail("date", f"date: {date!r} is not a date (write YYYY-MM-DD)")
    elif isinstance(date, dt.datetime):
        meta["date"] = date.date()


def _check_files(meta: dict[str, Any], fail: Callable[[str, str], NoReturn]) -> None:
    """``attachments:`` is a file name or a list of them; ``images:`` is embed or link."""
    attachments = meta.get("attachments")
    if attachments is not None:
        names = [attachments] if isinstance(attachments, str) else attachments
        if not isinstance(names, list) or not all(
            isinstance(name, str) and name.strip() for name in names
        ):
            fail("attachments", "attachments: must be a file name or a list of file names")
        meta["attachments"] = [name.strip() for name in names]
    images = meta.get("images")
    if images is not None and images not in IMAGE_MODES:
        fail("images", f"images: must be embed or link, not {images!r}")


def parse_letter(text: str, path: Path) -> Letter:
    """Parse a letter from its text; ``path`` is only used to name it in errors."""
    text = text.removeprefix("\ufeff")
    kind, front, body_lines, body_line = _split(text, path)
    meta = _load_front(kind, front, path)
    written = frozenset(meta)
    front_lines = front.splitlines()
    _check_meta(meta, front_lines, path, kind)
    meta["subject"] = " ".join(str(meta["subject"]).split())
    meta.setdefault("template", DEFAULT_TEMPLATE)
    for key in ("list", "from", "reply_to", "author", "organization", "preheader", "language"):
        meta.setdefault(key, "")
    # Blank lines between the fence and the text are not part of the letter.
    while body_lines and not body_lines[0].strip():
        body_lines = body_lines[1:]
        body_line += 1
    body = "".join(body_lines).replace("\r\n", "\n").replace("\r", "\n")
    list_name = str(meta["list"]).strip() or None
    return Letter(
        path=path,
        subject=meta["subject"],
        list_name=list_name,
        meta=meta,
        body=body,
        source=text,
        body_line=body_line,
        written=written,
    )


def slugify(title: str) -> str:
    """A file-name-safe slug: the title transliterated to ASCII words joined by dashes.

    python-slugify (with text-unidecode) transliterates every script:
    "Информационное письмо" → "informatsionnoe-pismo", "情報" → "qing-bao",
    "Großer" → "grosser".
    """
    return python_slugify(title, max_length=60, word_boundary=True) or "letter"


def yaml_quoted(text: str) -> str:
    """``text`` as a YAML double-quoted scalar, for front matter mailer writes."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def skeleton(title: str, *, list_name: str | None, today: dt.date) -> str:
    """The text of a new letter: front matter and a circular-letter body to fill in."""
    return f"""---
subject: {yaml_quoted(title)}
list: {list_name or '""'}
date: {today.isoformat()}
author: ""
preheader: ""
---

Dear {{{{ subscriber.name or "members" }}}},

Say in one or two sentences why you are writing.

## What happened

The facts: what, when, where, who is affected.

## What we ask of you

- The first thing members can do
- The second thing, with a date

With best regards,

Your name\\
Your role

---

**Contact**\\
Name\\
Phone\\
E-mail address
"""


def new_letter(
    title: str, *, directory: Path, list_name: str | None = None, today: dt.date | None = None
) -> Path:
    """Write ``directory/YYYY-MM-DD-<slug>.md`` from the skeleton; never overwrite a file."""
    if not title.strip() or any(unicodedata.category(ch) == "Cc" for ch in title):
        raise InputError("the title must be one non-empty line without control characters")
    if list_name is not None:
        validate_list_name(list_name)  # written unquoted into the front matter
    day = today or clock.now().date()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{day.isoformat()}-{slugify(title)}.md"
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(skeleton(" ".join(title.split()), list_name=list_name, today=day))
    except FileExistsError:
        raise InputError("a letter of that name exists already", path=path) from None
    return path
