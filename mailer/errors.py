"""One exception hierarchy for everything mailer can foresee going wrong.

Each subclass carries the data a user needs to fix the problem (the file, the
line, the address, the SMTP code) and its ``str()`` is the one-line message the
command line prints. Where an error resembles a built-in, it inherits it too,
so callers that only know the built-in still catch it.
"""

from __future__ import annotations

from pathlib import Path


class MailerError(Exception):
    """Base of every error mailer raises on purpose."""

    #: Exit status the command line uses: 1 failed operation, 2 bad usage.
    exit_code = 1


class UsageError(MailerError):
    """The command was called in a way that cannot work (exit status 2)."""

    exit_code = 2


class ConfigError(MailerError):
    """The configuration file or an environment override is wrong."""

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class StoreError(MailerError):
    """The database could not be opened, read or written."""


class NotFoundError(MailerError, LookupError):
    """A list, subscriber, campaign or letter that was named does not exist."""


class ListNotFound(NotFoundError):
    """No list has this name; ``suggestion`` is the closest name there is, if any."""

    def __init__(self, name: str, suggestion: str | None = None) -> None:
        self.name = name
        self.suggestion = suggestion
        hint = f"did you mean {suggestion!r}?" if suggestion else "see `mailer lists ls`"
        super().__init__(f"no list named {name!r} ({hint})")


class SubscriberNotFound(NotFoundError):
    """No subscriber has this address."""

    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__(f"no subscriber {email!r}")


class CampaignNotFound(NotFoundError):
    """No campaign has this id."""

    def __init__(self, campaign_id: int) -> None:
        self.campaign_id = campaign_id
        super().__init__(f"no campaign {campaign_id} (see `mailer campaigns ls`)")


class ReplyNotFound(NotFoundError):
    """No reply has this id."""

    def __init__(self, reply_id: int) -> None:
        self.reply_id = reply_id
        super().__init__(f"no reply {reply_id} (see `mailer replies ls`)")


class PostNotFound(NotFoundError):
    """No post has this id (or none that still waits for a decision)."""

    def __init__(self, post_id: int, reason: str = "") -> None:
        self.post_id = post_id
        super().__init__(reason or f"no post {post_id} (see `mailer held ls`)")


class NothingStored(NotFoundError):
    """Nothing at all is held about this address (to forget or to hand out)."""

    def __init__(self, email: str) -> None:
        self.email = email
        super().__init__(f"nothing is stored about {email!r}")


class ConflictError(MailerError):
    """The change asked for contradicts what is stored (e.g. a duplicate list)."""


class NotOnList(ConflictError):
    """The person is not on the list named (for a change that only a member can have)."""

    def __init__(self, email: str, list_name: str) -> None:
        self.email = email
        self.list_name = list_name
        super().__init__(f"{email} is not on the list {list_name!r}")


class CampaignKept(ConflictError):
    """A campaign whose deliveries ``campaigns prune`` may not drop, and why."""

    def __init__(self, campaign_id: int, reason: str) -> None:
        self.campaign_id = campaign_id
        self.reason = reason
        super().__init__(f"campaign {campaign_id} {reason}")


class InputError(MailerError, ValueError):
    """Bad input in a file the user gave us; names the file and line when known."""

    def __init__(
        self, message: str, *, path: str | Path | None = None, line: int | None = None
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = message
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(f"{where}{message}")


class UndecodableText(InputError):
    """A file's bytes are not text in the encoding it is read with.

    ``encoding`` is the one it was read with, ``byte`` the first byte (in hex,
    or "end" for a file cut off inside a character) that it cannot decode.
    """

    def __init__(
        self, message: str, *, encoding: str, byte: str, path: str | Path, line: int | None
    ) -> None:
        self.encoding = encoding
        self.byte = byte
        super().__init__(message, path=path, line=line)


class ColumnNotFound(UsageError):
    """An option names a column the file's header does not have; ``header`` lists those it has."""

    def __init__(self, option: str, column: str, header: list[str], *, path: str | Path) -> None:
        self.option = option
        self.column = column
        self.header = header
        self.path = str(path)
        shown = ", ".join(repr(title) for title in header if title.strip())
        super().__init__(
            f"{option} {column!r}: {path} has no such column (its columns: {shown})"
        )


class AddressError(InputError):
    """An e-mail address is not valid."""

    def __init__(
        self,
        address: str,
        reason: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
    ) -> None:
        self.address = address
        super().__init__(f"invalid address {address!r}: {reason}", path=path, line=line)


class TemplateError(InputError):
    """A letter or template failed to compile or render."""

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        subscriber: str | None = None,
    ) -> None:
        self.subscriber = subscriber
        suffix = f" (subscriber {subscriber})" if subscriber else ""
        super().__init__(f"{message}{suffix}", path=path, line=line)


class HeaderInjectionError(InputError):
    """A value bound for a mail header contains a line break."""


class TokenError(MailerError, ValueError):
    """A signed token is forged, expired, or meant for another purpose."""


class TransportError(MailerError, ConnectionError):
    """Handing a message to the relay or the outbox failed."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


class CannotListen(MailerError, OSError):
    """``mailer serve`` could not open its port (busy, not allowed, unknown host)."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        self.host = host
        self.port = port
        self.reason = reason
        super().__init__(f"cannot listen on {host}:{port}: {reason}")


class Suppressed(ConflictError):
    """The address may not be subscribed: it opted out, bounced, complained or was blocked."""

    def __init__(self, email: str, list_name: str, reason: str) -> None:
        self.email = email
        self.list_name = list_name
        self.reason = reason
        super().__init__(f"{email}: not subscribed to {list_name}: {reason}")


class CampaignStopped(MailerError):
    """A delivery run stopped before everyone due was tried; the campaign can be resumed.

    ``left`` recipients are still to be tried; the command line adds how to resume.
    """

    def __init__(
        self, reason: str, *, campaign_id: int, left: int, code: int | None = None
    ) -> None:
        super().__init__(f"{reason}; {left} recipients not yet sent")
        self.reason = reason
        self.campaign_id = campaign_id
        self.left = left
        self.code = code


class RelayFailed(CampaignStopped, TransportError):
    """No relay took the campaign's messages (unreachable, our sender refused, login refused)."""

    def __init__(
        self, reason: str, *, campaign_id: int, left: int, code: int | None = None
    ) -> None:
        CampaignStopped.__init__(self, reason, campaign_id=campaign_id, left=left, code=code)


class CampaignPaused(CampaignStopped):
    """A guard paused the campaign: the relay refuses us, or too many bounce or complain."""


class Interrupted(CampaignStopped):
    """Ctrl-C or SIGTERM stopped a run; the journal is saved and the campaign resumable."""


class WebhookError(MailerError):
    """A provider's report was not taken; ``provider`` names whose, ``reason`` says why."""

    def __init__(self, provider: str, reason: str) -> None:
        self.provider = provider
        self.reason = reason
        super().__init__(f"{provider} webhook: {reason}")


class Unverified(WebhookError):
    """Its signature, credentials or freshness do not verify: it proves nothing."""


class Refused(WebhookError):
    """A genuine-looking request mailer will not act on (another SNS topic, a foreign URL)."""


class MalformedReport(WebhookError, ValueError):
    """The request is not what the provider sends (not JSON, fields missing)."""


class FetchFailed(WebhookError, ConnectionError):
    """A certificate or confirmation URL could not be fetched just now: it may pass."""
