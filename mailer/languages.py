"""Language tags (BCP 47), written one way, and the rule that picks a reader's language.

People, lists and translations carry tags such as ``es``, ``pt-BR`` or
``zh-Hant``. A tag is checked for its shape only (a language of two or three
letters, then an optional script, region or variant), so that a typo such as
``spanish`` is refused where it is typed, and is written in the one casing
BCP 47 recommends (``pt-br`` → ``pt-BR``), so that comparing tags is
comparing strings.

The choice of a language for a reader is one rule, used by letters, the
mails mailer writes itself and the web pages: their own language, else the
closest one on offer (``pt-BR`` → ``pt``, ``pt`` → ``pt-BR``), else the
default, else nothing (the caller's own fallback: the original letter, or
English).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mailer.errors import InputError

_TAG = re.compile(
    r"^(?P<language>[a-z]{2,3})"
    r"(?:-(?P<script>[a-z]{4}))?"
    r"(?:-(?P<region>[a-z]{2}|[0-9]{3}))?"
    r"(?P<variants>(?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*)$"
)


def normalize_tag(tag: str) -> str:
    """The tag in its standard casing (``PT_br`` → ``pt-BR``); ``InputError`` if malformed.

    An empty tag stays empty: it means "not known".
    """
    text = tag.strip().replace("_", "-").lower()
    if not text:
        return ""
    match = _TAG.match(text)
    if match is None:
        raise InputError(
            f"{tag!r} is not a language tag (write it as e.g. en, es, pt-BR, zh-Hant)"
        )
    parts = [match["language"]]
    if match["script"]:
        parts.append(match["script"].title())
    if match["region"]:
        parts.append(match["region"].upper())
    if match["variants"]:
        parts.append(match["variants"].lstrip("-"))
    return "-".join(parts)


def normalize_tags(text: str) -> tuple[str, ...]:
    """A comma-separated list of tags, each normalised once, in the order given."""
    tags: list[str] = []
    for part in text.split(","):
        tag = normalize_tag(part)
        if tag and tag not in tags:
            tags.append(tag)
    return tuple(tags)


def primary(tag: str) -> str:
    """The language part of a tag (``pt-BR`` → ``pt``)."""
    return tag.split("-", 1)[0]


def closest(wanted: str, offered: Iterable[str]) -> str | None:
    """The offered tag that serves a reader of ``wanted`` best, or None.

    The same tag first; then the same language without a region or script
    (``pt-BR`` reads ``pt``); then the same language in any form (``pt``
    reads ``pt-BR``), the first such offered.
    """
    if not wanted:
        return None
    tags = list(offered)
    if wanted in tags:
        return wanted
    language = primary(wanted)
    if language in tags:
        return language
    for tag in tags:
        if primary(tag) == language:
            return tag
    return None


def choose(wanted: str, offered: Iterable[str], default: str = "") -> str | None:
    """The reader's language among ``offered``: theirs or the closest, else the default's."""
    return choose_first([wanted], offered, default)


def choose_first(wanted: Iterable[str], offered: Iterable[str], default: str = "") -> str | None:
    """The same for a reader of several languages, most wanted first (a browser's list):
    the first that has one on offer, else the default's."""
    tags = list(offered)
    for tag in wanted:
        found = closest(tag, tags)
        if found is not None:
            return found
    return closest(default, tags)
