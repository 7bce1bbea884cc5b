"""A letter and its translations, and the compiled edition each reader gets.

The original is ``letters/2026-12-01-strike.md``; its translations lie beside
it as ``2026-12-01-strike.es.md``, ``2026-12-01-strike.pt-BR.md``, ... Each
translation has its own subject, preheader and body, and shares the
original's other front matter unless it sets a key itself.

Each reader gets the edition in their language, else the closest one
(``pt-BR`` reads ``pt``), else the one in their list's default language, else
the original (``mailer.languages.choose``). ``CompiledEditions`` compiles an
edition for a list the first time a reader needs it and keeps it: a letter in
three languages to two lists is compiled at most six times, however many
people it goes to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mailer.config import Config
from mailer.errors import InputError
from mailer.languages import choose, normalize_tag
from mailer.letters.compile import CompiledLetter, compile_letter
from mailer.letters.files import LetterFile, file_name, read_files
from mailer.letters.mime import OutgoingMessage
from mailer.letters.source import Letter, load_letter, parse_letter, yaml_quoted
from mailer.store.models import MailingList, Recipient
from mailer.tokens import Signer

#: Front-matter keys a translation always has of its own (never the original's).
OWN_KEYS = ("subject", "preheader", "language")


def _stem(path: Path) -> str:
    """``2026-12-01-strike.md`` → ``2026-12-01-strike``."""
    return path.name[: -len(path.suffix)] if path.suffix else path.name


def translation_path(original: Path, language: str) -> Path:
    """Where the translation of ``original`` into ``language`` lies."""
    return original.with_name(f"{_stem(original)}.{language}{original.suffix or '.md'}")


def _tag_of(path: Path, original: Path) -> str | None:
    """The language tag in a sibling's name (``x.es.md`` → ``es``), or None if it has none."""
    stem, prefix = _stem(path), _stem(original) + "."
    if not stem.startswith(prefix) or path.suffix != original.suffix:
        return None
    try:
        return normalize_tag(stem[len(prefix) :]) or None
    except InputError:
        return None  # ``x.draft.md`` is a file of its own, not a translation


def original_of(path: Path) -> Path | None:
    """The original a file is a translation of (``x.es.md`` → ``x.md``), if that exists."""
    stem = _stem(path)
    base, dot, tag = stem.rpartition(".")
    if not dot:
        return None
    try:
        if not normalize_tag(tag):
            return None
    except InputError:
        return None
    candidate = path.with_name(base + path.suffix)
    return candidate if candidate.is_file() else None


def merge(original: Letter, translation: Letter, language: str) -> Letter:
    """The translation as a whole letter: its own keys, the original's for the rest."""
    own = translation.meta
    if own.get("language") and own["language"] != language:
        raise InputError(
            f"language: {own['language']!r}, but the file name says {language!r}",
            path=translation.path,
        )
    meta = {k: v for k, v in original.meta.items() if k not in OWN_KEYS}
    meta.update({k: v for k, v in own.items() if k in OWN_KEYS or k in translation.written})
    meta["language"] = language
    list_name = str(meta.get("list") or "").strip() or None
    return Letter(
        path=translation.path,
        subject=translation.subject,
        list_name=list_name,
        meta=meta,
        body=translation.body,
        source=translation.source,
        body_line=translation.body_line,
        written=translation.written,
    )


@dataclass(frozen=True)
class Editions:
    """A letter in every language it was written in: the original and its translations.

    ``files`` are the files they bring along (attachments, local images and
    linked files), by name, read once for all of them.
    """

    original: Letter
    translations: Mapping[str, Letter] = field(default_factory=dict)
    files: Mapping[str, LetterFile] = field(default_factory=dict)

    @property
    def languages(self) -> list[str]:
        """Every language on offer, the original's first (when it says which it is)."""
        own = [self.original.language] if self.original.language else []
        return own + sorted(self.translations)

    def choose(self, reader: str, default: str = "") -> str:
        """The edition for a reader of ``reader`` on a list whose default is ``default``.

        The key of a translation, the original's language, or "" for the
        original when it does not say its language.
        """
        return choose(reader, self.languages, default) or self.original.language

    def edition(self, language: str) -> Letter:
        """The letter in ``language`` (a key ``choose`` returned)."""
        if language and language in self.translations:
            return self.translations[language]
        return self.original

    def attached(self) -> set[str]:
        """The names of the files some edition attaches (the rest it shows or links)."""
        letters = [self.original, *self.translations.values()]
        return {file_name(each) for letter in letters for each in letter.attachments}

    def sources(self) -> dict[str, tuple[str, str]]:
        """Each translation's file name and text, by language (what a campaign stores)."""
        return {tag: (t.path.name, t.source) for tag, t in self.translations.items()}

    @classmethod
    def from_sources(
        cls,
        original: Letter,
        translations: Mapping[str, tuple[str, str]],
        files: Mapping[str, LetterFile] | None = None,
    ) -> Editions:
        """The editions from stored texts: ``{language: (file name, text)}``, and their files."""
        found = {
            tag: merge(original, parse_letter(text, original.path.with_name(name)), tag)
            for tag, (name, text) in translations.items()
        }
        return cls(original, found, files or {})


def load_editions(path: Path) -> Editions:
    """The letter at ``path`` with every translation beside it.

    A translation given in place of its original is refused, naming the
    original: the original is what a campaign is made of. The files they
    name are read now (``letters.files.read_files``).
    """
    original_path = original_of(path)
    if original_path is not None:
        raise InputError(
            f"this is a translation; pass the original letter, {original_path.name}", path=path
        )
    original = load_letter(path)
    translations: dict[str, Letter] = {}
    siblings = sorted(path.parent.glob(f"{_stem(path)}.*{path.suffix}")) if path.suffix else []
    for sibling in siblings:
        tag = _tag_of(sibling, path)
        if tag is None:
            continue
        if tag == original.language:
            raise InputError(
                f"the original is in {tag} already (language: {tag}); remove one of the two",
                path=sibling,
            )
        translations[tag] = merge(original, load_letter(sibling), tag)
    return Editions(original, translations, read_files([original, *translations.values()]))


def edition_warnings(editions: Editions) -> list[str]:
    """What a coordinator should know about the editions before sending."""
    warnings = []
    if editions.translations and not editions.original.language:
        warnings.append(
            "the original does not say its language (front matter language:), so readers of "
            "that language get the list's default language or a translation"
        )
    for tag, translation in editions.translations.items():
        if translation.body.strip() == editions.original.body.strip():
            warnings.append(f"the {tag} translation's body is still the original's")
    return warnings


def translation_skeleton(original: Letter, language: str) -> str:
    """A translation to fill in: the language, the subject, preheader and body to translate."""
    preheader = str(original.meta.get("preheader") or "")
    return (
        "---\n"
        f"language: {language}\n"
        f"subject: {yaml_quoted(original.subject)}\n"
        f"preheader: {yaml_quoted(preheader)}\n"
        "---\n\n"
        f"{original.body}"
    )


def new_translation(editions: Editions, language: str) -> Path:
    """Write the skeleton of the translation into ``language`` beside the original."""
    original = editions.original
    if language == original.language:
        raise InputError(f"the original is in {language} already", path=original.path)
    path = translation_path(original.path, language)
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(translation_skeleton(original, language))
    except FileExistsError:
        raise InputError("the translation exists already", path=path) from None
    return path


class CompiledEditions:
    """Every edition of a letter, compiled for each list the first time it is needed.

    It builds messages like a ``CompiledLetter`` does, choosing for each
    recipient the edition in their language and the list they are on.
    """

    def __init__(
        self,
        editions: Editions,
        *,
        config: Config,
        lists: Iterable[MailingList],
        signer: Signer,
        campaign_id: int | None = None,
        templates: Path | None = None,
    ) -> None:
        self.editions = editions
        self.subject = editions.original.subject
        self._lists = {each.id: each for each in lists}
        self._first = next(iter(self._lists.values()), None)
        self.config = config
        self._signer = signer
        self._campaign_id = campaign_id
        self._templates = templates
        self._compiled: dict[tuple[str, int | None], CompiledLetter] = {}

    def _list(self, recipient: Recipient) -> MailingList | None:
        if recipient.list_id is not None and recipient.list_id in self._lists:
            return self._lists[recipient.list_id]
        return self._first

    def language_for(self, recipient: Recipient) -> str:
        """The edition's language for this recipient ("" for an original that does not say)."""
        mailing_list = self._list(recipient)
        return self.editions.choose(recipient.language, mailing_list.language if mailing_list
                                    else "")

    def compiled(self, language: str, mailing_list: MailingList | None) -> CompiledLetter:
        """The edition in ``language`` compiled for ``mailing_list`` (once, then kept)."""
        key = (language, mailing_list.id if mailing_list else None)
        found = self._compiled.get(key)
        if found is None:
            found = compile_letter(
                self.editions.edition(language),
                config=self.config,
                mailing_list=mailing_list,
                signer=self._signer,
                campaign_id=self._campaign_id,
                templates=self._templates,
                language=language,
                files=self.editions.files,
            )
            self._compiled[key] = found
        return found

    def for_recipient(self, recipient: Recipient) -> CompiledLetter:
        """The compiled edition this recipient gets."""
        return self.compiled(self.language_for(recipient), self._list(recipient))

    def build(self, recipient: Recipient) -> OutgoingMessage:
        return self.for_recipient(recipient).build(recipient)

    def build_rendered(self, recipient: Recipient) -> tuple[OutgoingMessage, str, str]:
        return self.for_recipient(recipient).build_rendered(recipient)

    def render(self, recipient: Recipient) -> tuple[str, str]:
        return self.for_recipient(recipient).render(recipient)

    def unsubscribe_url(self, recipient: Recipient) -> str:
        return self.for_recipient(recipient).unsubscribe_url(recipient)

    def viewable(self, recipient: Recipient, html: str) -> str:
        """This recipient's HTML with its embedded images as ``data:`` URLs (for a browser)."""
        return self.for_recipient(recipient).viewable(html)

    @property
    def lists(self) -> list[MailingList]:
        """The lists the letter is compiled for."""
        return list(self._lists.values())

    def compiled_letters(self) -> list[CompiledLetter]:
        """The editions compiled so far (all of them after ``compile_all``)."""
        return list(self._compiled.values())

    def compile_all(self) -> None:
        """Compile every edition for every list now, so that an error shows before sending."""
        for mailing_list in self._lists.values() or [None]:
            for language in self.editions.languages or [""]:
                self.compiled(language, mailing_list)
            self.compiled(self.editions.original.language, mailing_list)
