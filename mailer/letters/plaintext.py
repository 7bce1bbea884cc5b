"""The text part of a letter, made from the Markdown source (not from the HTML).

Paragraphs are wrapped at 72 columns, lists and quotes keep a hanging indent,
and links become numbered references (``text [1]``) listed at the end. Most
paragraphs are the same for every recipient and are wrapped once here; a
paragraph holding a template expression can only be wrapped after it is
rendered, so it is emitted between marker characters and ``rewrap`` finishes
it per recipient (cheap: only those paragraphs are touched).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markdown_it.token import Token

WIDTH = 72
#: Marks a paragraph to wrap after rendering: START first SEP rest TEXT body END.
START, SEP, TEXT, END = "\x02", "\x1e", "\x1f", "\x03"
#: A hard line break inside a paragraph that is wrapped later.
BREAK = "\x0b"
MARKERS = START + SEP + TEXT + END + BREAK
_BLANK_LINES = re.compile(r"\n{3,}")
_TAGS = re.compile(r"<[^>]*>")
_BR = re.compile(r"<br\s*/?>", re.I)


def wrap_block(text: str, first: str, rest: str, width: int = WIDTH) -> str:
    """Wrap one paragraph; hard breaks start a new line with the continuation indent."""
    if (
        len(first) + len(text) <= width
        and text.isprintable()  # no tabs, line breaks or BREAK: nothing for textwrap to do
        and "  " not in text
        and text == text.strip(" ")
    ):
        return first + text if text else ""
    lines: list[str] = []
    for index, segment in enumerate(text.split(BREAK)):
        initial = first if index == 0 else rest
        wrapped = textwrap.wrap(
            segment.lstrip(" ") if index else segment,  # the space after a <br>
            width=width,
            initial_indent=initial,
            subsequent_indent=rest,
            break_long_words=False,
            break_on_hyphens=False,
        )
        lines.extend(wrapped or ([initial.rstrip()] if index else []))
    return "\n".join(lines)


def rewrap(text: str) -> str:
    """Finish a rendered text: wrap the marked paragraphs, drop the empty ones."""
    parts: list[str] = []
    position = 0
    emptied = False
    while (start := text.find(START, position)) != -1:
        end = text.find(END, start)
        sep = text.find(SEP, start, end)
        body = text.find(TEXT, sep, end)
        if end == -1 or sep == -1 or body == -1:  # not one of ours: leave the rest alone
            break
        parts.append(text[position:start])
        wrapped = wrap_block(text[body + 1 : end], text[start + 1 : sep], text[sep + 1 : body])
        emptied = emptied or not wrapped
        parts.append(wrapped)
        position = end + 1
    parts.append(text[position:])
    result = "".join(parts)
    return _BLANK_LINES.sub("\n\n", result) if emptied else result


@dataclass
class _Level:
    first: str
    rest: str
    used: bool = False


@dataclass
class _List:
    ordered: bool
    number: int
    tight: bool
    items: int = 0


@dataclass
class TextBody:
    """A letter body as text, with markers where wrapping waits for rendering."""

    text: str


class _Writer:
    def __init__(self, is_dynamic: Callable[[str], bool]) -> None:
        self.is_dynamic = is_dynamic
        self.out: list[str] = []
        self.levels: list[_Level] = []
        self.links: list[str] = []
        self.lists: list[_List] = []
        self.item_started = False

    def prefixes(self) -> tuple[str, str]:
        first = "".join(level.rest if level.used else level.first for level in self.levels)
        rest = "".join(level.rest for level in self.levels)
        for level in self.levels:
            level.used = True
        return first, rest

    def separate(self) -> None:
        """A blank line between blocks, except between items of a tight list."""
        if not self.out:
            return
        if self.item_started and self.lists and self.lists[-1].tight:
            self.item_started = False
            return
        self.item_started = False
        # A level that has not printed yet (a quote just opened) is not part of the gap.
        quote = "".join(level.rest for level in self.levels if level.used).rstrip()
        self.out.append(quote)

    def paragraph(self, text: str) -> None:
        text = text.strip(" ")
        if not text:
            return
        self.separate()
        first, rest = self.prefixes()
        if self.is_dynamic(text):
            self.out.append(f"{START}{first}{SEP}{rest}{TEXT}{text}{END}")
        else:
            self.out.append(wrap_block(text, first, rest))

    def verbatim(self, lines: Sequence[str]) -> None:
        self.separate()
        first, rest = self.prefixes()
        for index, line in enumerate(lines):
            self.out.append(((first if index == 0 else rest) + line).rstrip())

    def link(self, href: str) -> int:
        if href not in self.links:
            self.links.append(href)
        return self.links.index(href) + 1

    def inline(self, tokens: Sequence[Token]) -> str:
        parts: list[str] = []
        link_starts: list[tuple[int, str]] = []
        for token in tokens:
            kind = token.type
            if kind in ("text", "code_inline"):
                parts.append(token.content)
            elif kind == "softbreak":
                parts.append(" ")
            elif kind == "hardbreak":
                parts.append(BREAK)
            elif kind == "html_inline":
                if _BR.fullmatch(token.content.strip()):
                    parts.append(BREAK)
            elif kind == "link_open":
                link_starts.append((len(parts), str(token.attrGet("href") or "")))
            elif kind == "link_close" and link_starts:
                start, href = link_starts.pop()
                label = "".join(parts[start:]).strip()
                target = href.removeprefix("mailto:")
                if href and label not in (href, target) and not href.startswith("#"):
                    parts.append(f" [{self.link(href)}]")
            elif kind == "image" and token.meta.get("local"):
                # One of the letter's own images: the reader of the text has its words.
                parts.append("".join(child.content for child in token.children or []))
            elif kind == "image":
                alt = "".join(child.content for child in token.children or [])
                src = str(token.attrGet("src") or "")
                parts.append(f"[{alt or 'image'}]" + (f" [{self.link(src)}]" if src else ""))
        return "".join(parts)

    def table(self, tokens: Sequence[Token]) -> None:
        rows: list[list[str]] = []
        header_rows = 0
        for token in tokens:
            if token.type == "tr_open":
                rows.append([])
            elif token.type == "inline" and rows:
                rows[-1].append(self.inline(token.children or []).replace(BREAK, " "))
            elif token.type == "thead_close":
                header_rows = len(rows)
        if header_rows and not any(cell.strip() for row in rows[:header_rows] for cell in row):
            rows, header_rows = rows[header_rows:], 0
        if not rows:
            return
        columns = max(len(r) for r in rows)
        widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(columns)]
        first, _ = self.prefixes()
        if len(first) + sum(widths) + 3 * (columns - 1) > WIDTH:
            self.records(rows[header_rows:], rows[0] if header_rows else [])
            return
        lines = []
        for index, row in enumerate(rows):
            cells = [(row[i] if i < len(row) else "").ljust(widths[i]) for i in range(columns)]
            lines.append(" | ".join(cells).rstrip())
            if index + 1 == header_rows:
                lines.append("-+-".join("-" * w for w in widths))
        self.verbatim(lines)


    def records(self, rows: list[list[str]], header: list[str]) -> None:
        """A table too wide for 72 columns: each row as a block of ``Header: value`` lines."""
        for row in rows:
            self.separate()
            first, rest = self.prefixes()
            lines: list[str] = []
            for index, cell in enumerate(row):
                if not cell.strip():
                    continue
                label = header[index].strip() if index < len(header) else ""
                text = f"{label}: {cell.strip()}" if label else cell.strip()
                lines.append(wrap_block(text, first if not lines else rest, rest + "  "))
            self.out.append("\n".join(lines))


def _strip_html(html: str) -> str:
    return _TAGS.sub("", _BR.sub(BREAK, html)).strip()


def markdown_to_text(tokens: Sequence[Token], is_dynamic: Callable[[str], bool]) -> TextBody:
    """Turn markdown-it block tokens into wrapped text with numbered link references."""
    writer = _Writer(is_dynamic)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            start = int(token.attrGet("start") or 1)
            writer.lists.append(_List(kind == "ordered_list_open", start, tight=False))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            writer.lists.pop()
        elif kind == "list_item_open":
            current = writer.lists[-1]
            marker = f"{current.number}. " if current.ordered else "* "
            current.number += 1
            current.items += 1
            writer.levels.append(_Level(marker, " " * len(marker)))
            # markdown-it hides the paragraphs of a tight list: no blank lines there.
            current.tight = index + 1 < len(tokens) and tokens[index + 1].hidden
            # A list nested in a tight item follows its text without a blank line too.
            nested_in_tight = len(writer.lists) > 1 and writer.lists[-2].tight
            writer.item_started = current.items > 1 or nested_in_tight
        elif kind == "list_item_close":
            writer.levels.pop()
        elif kind == "blockquote_open":
            writer.levels.append(_Level("> ", "> "))
        elif kind == "blockquote_close":
            writer.levels.pop()
        elif kind == "inline":
            text = writer.inline(token.children or [])
            if index > 0 and tokens[index - 1].type == "heading_open":
                writer.paragraph(text.replace(BREAK, " "))
                level_no = int(tokens[index - 1].tag[1])
                if not writer.is_dynamic(text) and level_no <= 2:
                    rule = "=" if level_no == 1 else "-"
                    writer.out.append(rule * min(len(text.strip()), WIDTH))
            else:
                writer.paragraph(text)
        elif kind in ("fence", "code_block"):
            writer.verbatim(token.content.rstrip("\n").split("\n"))
        elif kind == "hr":
            writer.verbatim(["-" * 24])
        elif kind == "html_block":
            writer.paragraph(_strip_html(token.content))
        elif kind == "table_open":
            end = index
            while end < len(tokens) and tokens[end].type != "table_close":
                end += 1
            writer.table(tokens[index:end])
            index = end
        index += 1
    text = "\n".join(writer.out)
    if writer.links:
        refs = "\n".join(f"[{n}] {url}" for n, url in enumerate(writer.links, start=1))
        text = f"{text}\n\n{refs}"
    return TextBody(text=text.strip("\n") + "\n")
