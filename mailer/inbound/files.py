"""A reply's files on disk: the message as it came, and each attachment.

Each reply has a folder of its own under the replies folder, named by its
id: ``replies/17/message.eml``, ``replies/17/1-photo-of-the-assembly.jpg``.
An attachment's file name is made here, from its position and a slug of
the name it was sent with: the sender's name is shown, never used as a path,
so no name (``../../.ssh/authorized_keys``, ``CON``, a name of control
characters) can write anywhere else. The files hold personal data, so they
and their folders are readable by their owner only, like the database.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import re
import shutil
from pathlib import Path
from typing import Final

from slugify import slugify

from mailer.errors import StoreError
from mailer.inbound.message import Attachment
from mailer.store.models import ReplyAttachment

#: The message of a reply, as it arrived, in the reply's folder.
MESSAGE: Final = "message.eml"
#: Why an attachment was not saved.
TOO_LARGE: Final = "not saved: larger than [replies] max_attachment_mb"

_EXTENSION = re.compile(r"[^a-z0-9]")


def safe_name(position: int, filename: str, content_type: str) -> str:
    """The file name an attachment is saved under: ``<position>-<slug>.<extension>``."""
    base = filename.replace("\\", "/").rpartition("/")[2]
    stem, dot, extension = base.rpartition(".")
    if not dot:
        stem, extension = base, ""
    extension = _EXTENSION.sub("", extension.lower())[:10]
    if not extension:
        guessed = mimetypes.guess_extension(content_type) or ".bin"
        extension = guessed.lstrip(".")
    slug = slugify(stem, max_length=60, word_boundary=True) or "attachment"
    return f"{position}-{slug}.{extension}"


def save(
    root: Path, reply_id: int, raw: bytes, attachments: tuple[Attachment, ...], max_bytes: int
) -> tuple[str, list[ReplyAttachment]]:
    """Write the message and its attachments; the folder's name and what was saved.

    A folder already there for this id is left over from a reply whose
    transaction never committed (ids of rolled-back rows are given again):
    it is removed first, so no stale file joins the new reply.
    """
    folder = str(reply_id)
    where = root / folder
    try:
        _private_folder(root)
        if where.exists():
            shutil.rmtree(where)
        _private_folder(where)
        _write(where / MESSAGE, raw)
        saved = [_save_one(where, i, a, max_bytes) for i, a in enumerate(attachments, 1)]
    except OSError as exc:
        remove(root, [folder])
        reason = exc.strerror or str(exc)
        raise StoreError(f"{where}: cannot save the reply's files ({reason})") from None
    return folder, saved


def _save_one(where: Path, position: int, item: Attachment, max_bytes: int) -> ReplyAttachment:
    size = len(item.data)
    if size > max_bytes:
        return ReplyAttachment(position, item.filename, item.content_type, size, "", TOO_LARGE)
    name = safe_name(position, item.filename, item.content_type)
    _write(where / name, item.data)
    return ReplyAttachment(
        position, item.filename, item.content_type, size, f"{where.name}/{name}", ""
    )


def _private_folder(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def _write(path: Path, data: bytes) -> None:
    """A new file readable by its owner only; never through a link planted there."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def remove(root: Path, folders: list[str]) -> None:
    """Remove replies' folders (a forgotten person's replies, a reply not stored after all)."""
    for folder in folders:
        if folder and folder.isdigit():
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(root / folder)


def message_path(root: Path, folder: str) -> Path:
    """Where a reply's message is kept."""
    return root / folder / MESSAGE
