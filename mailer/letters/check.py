"""``letters check``: render a letter for every recipient and report what would go wrong.

Errors stop a letter from going out (a template that fails for some
subscriber, an address that cannot be put into a header); warnings are the
things mailbox providers and readers punish (Gmail clips messages over
102 KB, missing unsubscribe links, images without alt text, plain http
links, long subjects). The check runs the same code as the sender, so what
passes here renders the same way there.
"""

from __future__ import annotations

import email
import email.errors
import email.policy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser

from mailer.errors import InputError
from mailer.letters.compile import MessageBuilder
from mailer.letters.editions import CompiledEditions, edition_warnings
from mailer.letters.files import MB, FileSummary, human_size
from mailer.letters.mime import OutgoingMessage
from mailer.store.models import Recipient

SIZE_LIMIT = 100 * 1024
SUBJECT_LIMIT = 80
SHOWN_ERRORS = 5


class _Links(HTMLParser):
    """Collects the links and images of a rendered letter."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.hrefs.append(str(values["href"]))
        elif tag == "img":
            self.images.append(values)


@dataclass
class CheckReport:
    """What ``check_letter`` found: errors (first few, and their count) and warnings.

    ``files`` are the files the messages carry, and ``files_size`` the most
    that one message carries, as ``[letters]`` limits count it.
    """

    checked: int = 0
    error_count: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[FileSummary] = field(default_factory=list)
    files_size: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0



def _static_warnings(html: str, unsubscribe_url: str) -> list[str]:
    """Warnings that depend on the letter and layout, not on who receives it."""
    parser = _Links()
    parser.feed(html)
    warnings: list[str] = []
    missing_alt = [img.get("src") or "?" for img in parser.images if not (img.get("alt") or "")]
    if missing_alt:
        warnings.append(
            f"{len(missing_alt)} image(s) without alt text (shown when images are off): "
            + ", ".join(str(src) for src in missing_alt[:3])
        )
    # The unsubscribe URL's scheme comes from web.base_url and has a warning of its own.
    plain = sorted(
        {h for h in parser.hrefs if h.lower().startswith("http://") and h != unsubscribe_url}
    )
    plain += sorted(
        {str(img.get("src")) for img in parser.images if str(img.get("src")).startswith("http://")}
    )
    if plain:
        warnings.append(
            f"{len(plain)} plain http:// link(s), use https://: " + ", ".join(plain[:3])
        )
    if unsubscribe_url not in parser.hrefs:
        warnings.append("no unsubscribe link in the body of the HTML part")
    return warnings


def mime_defects(message: OutgoingMessage) -> list[str]:
    """What Python's own mail parser objects to in one built message (normally nothing).

    A message sent with SMTPUTF8 may carry UTF-8 addresses (RFC 6532); the parser
    marks every non-ASCII local part as a defect, which there it is not.
    """
    ignored: tuple[type[Exception], ...] = ()
    if message.smtputf8:
        text = message.data.decode("utf-8")
        parsed = email.message_from_string(text, policy=email.policy.SMTPUTF8)
        ignored = (email.errors.NonASCIILocalPartDefect,)
    else:
        parsed = email.message_from_bytes(message.data, policy=email.policy.default)
    found = [str(defect) for part in parsed.walk() for defect in part.defects]
    found += [
        f"{name}: {defect}"
        for name, value in parsed.items()
        for defect in getattr(value, "defects", ())
        if not isinstance(defect, ignored)
    ]
    return [f"the message has a MIME defect: {text}" for text in found[:3]]


def check_letter(
    compiled: MessageBuilder,
    recipients: Iterable[Recipient],
    *,
    shown: int = SHOWN_ERRORS,
    progress: Callable[[int], None] | None = None,
) -> CheckReport:
    """Build the message for every recipient; collect errors and warnings.

    ``progress(checked)`` is called every few hundred recipients.
    """
    report = CheckReport()
    oversized, largest = 0, (0, "")  # a count, not a list: flat over millions of messages
    missing_text_unsubscribe = 0
    first_html: tuple[str, str] | None = None
    for recipient in recipients:
        report.checked += 1
        if progress is not None and report.checked % 500 == 0:
            progress(report.checked)
        try:
            message, html, text = compiled.build_rendered(recipient)
        except InputError as exc:
            report.error_count += 1
            if len(report.errors) < shown:
                report.errors.append(str(exc))
            continue
        url = compiled.unsubscribe_url(recipient)
        if first_html is None:
            first_html = (html, url)
            report.warnings.extend(mime_defects(message))
        if url not in text:
            missing_text_unsubscribe += 1
        # Gmail clips the message's text, not its attachments.
        if (size := message.size - message.files_size) > SIZE_LIMIT:
            oversized, largest = oversized + 1, max(largest, (size, recipient.email))
    if report.checked == 0:
        report.warnings.append("no active recipients: no message was rendered or checked")
    if len(compiled.subject) > SUBJECT_LIMIT:
        report.warnings.append(
            f"the subject is {len(compiled.subject)} characters long "
            f"(over {SUBJECT_LIMIT} are cut off in most inboxes)"
        )
    if first_html is not None:
        report.warnings.extend(_static_warnings(*first_html))
        if first_html[1].startswith("http://"):
            report.warnings.append(
                "the unsubscribe URL is plain http:// (set web.base_url to an https:// address; "
                "one-click unsubscribe needs HTTPS)"
            )
    if missing_text_unsubscribe:
        report.warnings.append(
            f"no unsubscribe link in the text part ({missing_text_unsubscribe} message(s))"
        )
    if oversized:
        report.warnings.append(
            f"{oversized} message(s) over {SIZE_LIMIT // 1024} KB (Gmail clips at 102 KB); "
            f"largest {largest[0] // 1024} KB for {largest[1]}"
        )
    return report


def _file_report(compiled: CompiledEditions) -> tuple[list[FileSummary], int, list[str]]:
    """The files every compiled edition carries, the most one message carries, and warnings."""
    files: dict[str, FileSummary] = {}
    notes: dict[str, str] = {}
    largest = 0
    links_images = False
    for letter in compiled.compiled_letters():
        carried = letter.carried
        largest = max(largest, carried.size)
        links_images = links_images or bool(carried.images and carried.images_linked)
        shown = [(f, "attached") for f in carried.attachments]
        shown += [(f, "embedded") for f, _ in carried.images]
        for file, how in shown:
            files.setdefault(file.name, file.summary(how))
            if file.note:
                notes[file.name] = file.note
    warnings = list(notes.values())
    warn = compiled.config.letters.attachments_warn_mb
    if largest > warn * MB:
        warnings.append(
            f"each message carries {human_size(largest)} of files (over {warn:g} MB, "
            "[letters] attachments_warn_mb): every recipient downloads them; put large files "
            "on a web page and link to them instead (images: link does that for images)"
        )
    # A list only named in the letter (no database yet, id 0) is neither public nor private.
    private = [each.name for each in compiled.lists if each.id and not each.public]
    if links_images and private:
        warnings.append(
            f"images: link, but list {', '.join(private)} is not public, so its letters are "
            "not in the archive: its readers get the images embedded"
        )
    return list(files.values()), largest, warnings


def check_editions(
    compiled: CompiledEditions,
    recipients: Iterable[Recipient],
    *,
    progress: Callable[[int], None] | None = None,
) -> CheckReport:
    """``letters check``: compile every edition, report the files, check every recipient.

    A letter that does not compile (a template error, files over the limit)
    is one error, not one for each recipient.
    """
    try:
        compiled.compile_all()
    except InputError as exc:
        return CheckReport(error_count=1, errors=[str(exc)])
    report = check_letter(compiled, recipients, progress=progress)
    report.files, report.files_size, warnings = _file_report(compiled)
    report.warnings.extend(warnings)
    report.warnings.extend(edition_warnings(compiled.editions))
    return report
