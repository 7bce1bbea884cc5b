"""Running campaigns: what the command line calls to create, deliver, resume and test.

Everything a run needs is put together here from the configuration (the
transport, the signer, the compiled letter, the sending policy), so that the
command-line layer only parses options and prints.
"""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailer.config import Config
from mailer.dispatch import status
from mailer.dispatch.journal import Journal
from mailer.dispatch.plan import Campaign, get_campaign, iter_recipients
from mailer.dispatch.sender import Progress, Sender, SendPolicy
from mailer.dispatch.transports.base import Reply, Transport
from mailer.dispatch.transports.outbox import OutboxTransport
from mailer.dispatch.transports.smtp import SmtpTransport
from mailer.errors import (
    ConfigError,
    ConflictError,
    Interrupted,
    MailerError,
    TransportError,
)
from mailer.letters.compile import CompiledLetter, compile_letter
from mailer.letters.mime import OutgoingMessage, parse_sender
from mailer.letters.source import Letter, parse_letter
from mailer.store import Store
from mailer.store.lists import get_list_by_id
from mailer.store.models import MailingList, Recipient
from mailer.store.subscribers import find_subscriber
from mailer.tokens import Signer


def signer_for(config: Config, *, throwaway: bool = False) -> Signer:
    """The signing key's signer; refuse to send without one (a dry run may use a throwaway)."""
    if config.web.secret_key:
        return Signer(config.web.secret_key)
    if throwaway:
        return Signer(secrets.token_hex(32))
    raise ConfigError(
        "no signing key: set MAILER_SECRET_KEY (it signs the unsubscribe links and "
        "bounce addresses) before sending"
    )


def make_transport(config: Config) -> Transport:
    """SMTP when a host or relays are configured, else the Maildir outbox."""
    if config.smtp.host or config.smtp.relays:
        helo = envelope_domain(config)
        return SmtpTransport(config.smtp, helo=helo)
    return OutboxTransport(config.outbox_path)


def envelope_domain(config: Config) -> str:
    """The domain the sender greets relays with (the sender address's domain)."""
    return parse_sender(config.sender.from_address, "sender.from")[1].rpartition("@")[2]


def envelope_from(config: Config, letter: Letter | None) -> str:
    """The plain envelope sender: the letter's From when it sets one, else the configured one."""
    value = str((letter.meta.get("from") if letter else None) or config.sender.from_address)
    return parse_sender(value, "from")[1]


def send_policy(
    config: Config, *, concurrency: int | None = None, rate: float | None = None
) -> SendPolicy:
    """The sending settings, with the command line's ``--concurrency`` and ``--rate`` on top.

    ``load_config`` has already refused values out of range (no connections
    would let the queue grow with the list; a zero batch interval would keep
    the journal committing in a tight loop).
    """
    sending = config.sending
    return SendPolicy(
        concurrency=concurrency or config.smtp.connections,
        rate=sending.rate if rate is None else rate,
        domain_rate=sending.domain_rate,
        retry_first=sending.retry_first,
        retry_max=sending.retry_max,
        deadline=sending.deadline,
        batch_size=sending.batch_size,
        batch_seconds=sending.batch_seconds,
    )


def check_letter(
    config: Config, store: Store, letter: Letter, mailing_list: MailingList, segment: str
) -> None:
    """Compile ``letter`` and build it for the first recipient before a campaign is made.

    A letter that does not compile, or names a variable that is misspelt (and
    so missing for everyone), would otherwise fail every recipient of a
    campaign that can then no longer be sent; this way it makes none.
    """
    compiled = compile_letter(
        letter, config=config, mailing_list=mailing_list, signer=signer_for(config)
    )
    for row in iter_recipients(store, mailing_list.id, segment, page_size=1):
        compiled.build(_recipient(row["id"], row["email"], row["name"], row["attributes"]))
        break


def campaign_letter(campaign: Campaign) -> Letter:
    """The letter as it was when the campaign was created (its stored source)."""
    return parse_letter(campaign.letter_source, Path(campaign.letter_path or "letter.md"))


@dataclass
class RunResult:
    """What one delivery run did, and where the campaign stands after it."""

    campaign: int
    recipients: int
    sent: int
    deferred: int
    failed: int
    pending: int
    seconds: float
    state: str
    this_run: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` summary of ``send`` and ``campaigns resume``."""
        return {
            "campaign": self.campaign,
            "recipients": self.recipients,
            "sent": self.sent,
            "deferred": self.deferred,
            "failed": self.failed,
            "pending": self.pending,
            "seconds": self.seconds,
            "state": self.state,
        }


def resume_hint(campaign_id: int, prefix: str = "mailer") -> str:
    """The command that picks a campaign up again (``prefix`` carries ``--db`` if one was given)."""
    return f"{prefix} campaigns resume {campaign_id}"


def settle_journal(store: Store, campaign_id: int) -> None:
    """Commit what a crashed sender left in the campaign's log (no-op while one is sending)."""
    journal = Journal(store, campaign_id)
    try:
        journal.open()
    except ConflictError:
        return  # a live sender commits its own log
    journal.close()


def cancel(store: Store, campaign_id: int) -> dict[str, Any]:
    """Cancel a campaign, first committing any outcomes a crashed run left behind."""
    get_campaign(store, campaign_id)
    settle_journal(store, campaign_id)
    return status.cancel(store, campaign_id)


def retry(store: Store, campaign_id: int) -> int:
    """Put expired recipients back, first committing what a crashed run left in its journal."""
    get_campaign(store, campaign_id)
    settle_journal(store, campaign_id)
    return status.retry_failed(store, campaign_id)


def deliver(
    config: Config,
    store: Store,
    campaign_id: int,
    *,
    concurrency: int | None = None,
    rate: float | None = None,
    transport: Transport | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    command: str = "mailer",
) -> RunResult:
    """Send every recipient of the campaign that is due now; stop cleanly on Ctrl-C.

    Raises ``Interrupted`` after a Ctrl-C and ``TransportError`` when no relay
    can be reached; in both cases the journal is committed and the message
    says how to resume.
    """
    started = time.monotonic()
    campaign = get_campaign(store, campaign_id)
    if campaign.state == "cancelled":
        settle_journal(store, campaign_id)
        raise ConflictError(f"campaign {campaign_id} was cancelled")
    if campaign.state == "done" and status.remaining(store, campaign_id) == 0:
        settle_journal(store, campaign_id)
        return _result(store, campaign, started, {})
    signer = signer_for(config)
    letter = campaign_letter(campaign)
    mailing_list = get_list_by_id(store, campaign.list_id) if campaign.list_id else None
    compiled = compile_letter(
        letter, config=config, mailing_list=mailing_list, signer=signer, campaign_id=campaign.id
    )
    sender = Sender(
        store,
        campaign.id,
        compiled,
        transport or make_transport(config),
        policy=send_policy(config, concurrency=concurrency, rate=rate),
        envelope_from=envelope_from(config, letter),
        return_path=config.bounces.return_path,
        signer=signer,
        list_id=campaign.list_id,
        on_progress=on_progress,
        bounces=config.bounces,
    )
    status.set_state(store, campaign.id, "sending")
    interrupted: signal.Signals | None = None
    try:
        interrupted = _run(sender)
    except TransportError as exc:
        left = status.remaining(store, campaign.id)
        raise TransportError(
            f"{exc}; {left} recipients not yet sent: "
            f"resume with `{resume_hint(campaign.id, command)}`",
            code=exc.code,
        ) from None
    left = status.remaining(store, campaign.id)
    if interrupted is not None:
        # Ctrl-C is a person deciding to stop: the campaign waits for `resume`.
        # SIGTERM is a machine shutting the process down: the campaign stays
        # `sending`, so the next `campaigns run` from cron carries on with it.
        if interrupted == signal.SIGINT:
            status.set_state(store, campaign.id, "paused")
        raise Interrupted(
            f"interrupted: {left} recipients not yet sent; the journal is saved. "
            f"Resume with: {resume_hint(campaign.id, command)}"
        )
    if left == 0:
        status.set_state(store, campaign.id, "done")
    this_run = {
        "sent": sender.progress.sent,
        "deferred": sender.progress.deferred,
        "failed": sender.progress.failed,
    }
    return _result(store, campaign, started, this_run)


def _result(
    store: Store, campaign: Campaign, started: float, this_run: dict[str, int]
) -> RunResult:
    counts = status.counters(store, campaign.id)
    return RunResult(
        campaign=campaign.id,
        recipients=campaign.recipients,
        sent=counts["sent"],
        deferred=counts["deferred"],
        failed=counts["failed"],
        pending=counts["pending"],
        seconds=round(time.monotonic() - started, 2),
        state=get_campaign(store, campaign.id).state,
        this_run=this_run,
    )


def _run(sender: Sender) -> signal.Signals | None:
    """Run the sender in an event loop; the signal that stopped it, or None."""
    stopped: signal.Signals | None = None

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        installed: list[signal.Signals] = []

        def on_signal(sig: signal.Signals) -> None:
            nonlocal stopped
            if stopped is not None and task is not None:
                task.cancel()  # a second Ctrl-C: do not wait for the messages in flight
            stopped = stopped or sig
            sender.stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        try:
            await sender.run()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        stopped = stopped or signal.SIGINT
    return stopped


def run_due(
    config: Config,
    store: Store,
    *,
    on_result: Callable[[RunResult | Exception, int], None] | None = None,
    command: str = "mailer",
) -> list[RunResult]:
    """Resume every campaign with work due now (what a cron job calls).

    A campaign another process is sending is reported as ``CampaignBusy``:
    that process delivers it, so it is no failure of this run. A campaign
    that cannot be resumed (no relay, a letter that fails) is reported and
    the others still get their turn; only Ctrl-C stops the whole run.
    """
    results = []
    for campaign_id in status.due_campaigns(store):
        try:
            result = deliver(config, store, campaign_id, command=command)
        except Interrupted:
            raise
        except MailerError as exc:
            if on_result is not None:
                on_result(exc, campaign_id)
            continue
        results.append(result)
        if on_result is not None:
            on_result(result, campaign_id)
    return results


@dataclass(frozen=True)
class DryRun:
    """What a campaign would send: how many messages, how many bytes, a few examples."""

    subject: str
    recipients: int
    bytes: int
    seconds: float
    examples: list[str]

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` report of ``send --dry-run``."""
        return {
            "campaign": None,
            "dry_run": True,
            "subject": self.subject,
            "recipients": self.recipients,
            "sent": 0,
            "deferred": 0,
            "failed": 0,
            "bytes": self.bytes,
            "seconds": self.seconds,
            "examples": self.examples,
        }


#: How often (in recipients) a long walk over a list reports its progress.
PROGRESS_EVERY = 500


def dry_run(
    config: Config,
    store: Store,
    letter: Letter,
    mailing_list: MailingList,
    segment: str,
    *,
    progress: Callable[[int], None] | None = None,
) -> DryRun:
    """Render every recipient's message (so template errors show now) and send nothing."""
    started = time.monotonic()
    compiled = compile_letter(
        letter, config=config, mailing_list=mailing_list, signer=signer_for(config, throwaway=True)
    )
    count = size = 0
    examples: list[str] = []
    for row in iter_recipients(store, mailing_list.id, segment):
        message = compiled.build(
            _recipient(row["id"], row["email"], row["name"], row["attributes"])
        )
        count += 1
        size += len(message.data)
        if len(examples) < 5:
            examples.append(message.recipient)
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    return DryRun(compiled.subject, count, size, round(time.monotonic() - started, 2), examples)


def _recipient(subscriber_id: int, email: str, name: str, attributes: str) -> Recipient:
    import json

    try:
        attrs = json.loads(attributes or "{}")
    except ValueError:
        attrs = {}
    return Recipient(email=email, name=name or "", attributes=attrs, subscriber_id=subscriber_id)


def send_test(
    config: Config,
    store: Store,
    letter: Letter,
    mailing_list: MailingList | None,
    addresses: Iterable[str],
    *,
    transport: Transport | None = None,
) -> list[tuple[str, Reply]]:
    """Send the letter only to ``addresses`` (subscribers or not); no campaign is made."""
    signer = signer_for(config)
    compiled = compile_letter(letter, config=config, mailing_list=mailing_list, signer=signer)
    recipients = []
    for address in addresses:
        known = find_subscriber(store.conn, address)
        recipients.append(
            Recipient(
                email=address,
                name=known.name if known else "",
                attributes=known.attributes if known else {},
                subscriber_id=known.id if known else None,
            )
        )
    return asyncio.run(
        _send_each(
            compiled, transport or make_transport(config), envelope_from(config, letter), recipients
        )
    )


async def _send_each(
    compiled: CompiledLetter, transport: Transport, sender: str, recipients: list[Recipient]
) -> list[tuple[str, Reply]]:
    channel = await transport.open()
    results = []
    try:
        for recipient in recipients:
            message = compiled.build(recipient)
            try:
                reply = await channel.send(
                    sender, message.recipient, message.data, message.smtputf8
                )
            except TransportError as exc:
                await channel.close()
                channel = await transport.open()
                reply = Reply(exc.code or 0, str(exc))
            results.append((recipient.email, reply))
    finally:
        await channel.close()
    return results


async def send_one(config: Config, message: OutgoingMessage) -> None:
    """Hand one message outside any campaign (a confirmation) to the configured transport.

    The envelope sender is the return path, else the configured From; a refusal
    is a ``TransportError`` with the server's code.
    """
    sender = config.bounces.return_path or envelope_from(config, None)
    channel = await make_transport(config).open()
    try:
        reply = await channel.send(sender, message.recipient, message.data, message.smtputf8)
    finally:
        await channel.close()
    if not reply.accepted:
        raise TransportError(f"message refused: {reply.code} {reply.text}", code=reply.code)
