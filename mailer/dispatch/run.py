"""Running campaigns: deliver, resume what is due, rehearse, test, and send one message.

Everything a run needs is put together here from the configuration (the
transport, the signer, the compiled letter, the sending policy), so that the
command line only parses options and prints. A run that stops early raises
``CampaignStopped`` (or ``Interrupted``) carrying the campaign and how many
are left; the command line says how to resume.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from mailer import clock, tokens
from mailer.config import Config
from mailer.dispatch import guards, schedule
from mailer.dispatch.plan import LanguageShare, SendPlan, campaign_editions
from mailer.dispatch.schedule import Started
from mailer.dispatch.sender import Progress, Sender, SendPolicy, Sleep
from mailer.dispatch.status import settle_journal
from mailer.dispatch.transports.base import Reply, Transport
from mailer.dispatch.transports.outbox import OutboxTransport
from mailer.dispatch.transports.smtp import SmtpTransport
from mailer.errors import (
    ConflictError,
    Interrupted,
    MailerError,
    RelayFailed,
    TransportError,
)
from mailer.letters.editions import CompiledEditions, Editions
from mailer.letters.mime import OutgoingMessage
from mailer.letters.sender import sender_of
from mailer.store import Store, campaigns, deliveries
from mailer.store.lists import find_list_by_id
from mailer.store.models import Campaign, CampaignState, MailingList, Recipient
from mailer.store.subscribers import find_subscriber

#: What ``signal.getsignal`` hands back: a function, ``SIG_DFL`` or ``SIG_IGN``, or None.
Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

#: How often (in recipients) a long walk over a list reports its progress.
PROGRESS_EVERY = 500


def make_transport(config: Config) -> Transport:
    """SMTP when a host or relays are configured, else the Maildir outbox."""
    if config.smtp.host or config.smtp.relays:
        helo = sender_of(None, config)[1].rpartition("@")[2]
        return SmtpTransport(config.smtp, helo=helo)
    return OutboxTransport(config.outbox_path)


def send_policy(
    config: Config, *, concurrency: int | None = None, rate: float | None = None
) -> SendPolicy:
    """The sending settings, with the command line's ``--concurrency`` and ``--rate`` on top.

    How many connections to keep and how many times in a row to try opening
    one come from ``[smtp]``. ``load_config`` has already refused values out
    of range (no connections would let the queue grow with the list; a zero
    batch interval would keep the journal committing in a tight loop).
    """
    settings = dataclasses.asdict(config.sending)
    if rate is not None:
        settings["rate"] = rate
    return SendPolicy(
        **settings,
        concurrency=concurrency or config.smtp.connections,
        open_attempts=config.smtp.connect_attempts,
    )


def check_first(config: Config, store: Store, plan: SendPlan) -> None:
    """Compile every edition and build the letter for the first recipient before a campaign
    is made.

    A letter that does not compile, or names a variable that is misspelt (and
    so missing for everyone), would otherwise fail every recipient of a
    campaign that can then no longer be sent; this way it makes none.
    """
    compiled = CompiledEditions(
        plan.editions,
        config=config,
        lists=plan.lists,
        signer=tokens.signer_for(config, missing="error"),
    )
    compiled.compile_all()
    for recipient in deliveries.iter_recipients(
        store, plan.list_ids, plan.conditions, page_size=1
    ):
        compiled.build(recipient)
        break


def campaign_lists(store: Store, campaign: Campaign) -> list[MailingList]:
    """The lists a campaign goes to that still exist, in the order they were given."""
    found = []
    for entry in campaigns.lists_of(store, campaign.id):
        mailing_list = find_list_by_id(store, entry.list_id) if entry.list_id else None
        if mailing_list is not None:
            found.append(mailing_list)
    return found


class StopFlag(Protocol):
    """A request to stop that a signal handler may make at any moment (``threading.Event``
    is one): a long-running caller's way to end runs it did not start itself."""

    def is_set(self) -> bool:
        """Whether stopping was asked for."""
        ...

    def set(self) -> None:
        """Ask for stopping."""
        ...


@dataclass(frozen=True)
class RunResult:
    """What one delivery run did, and where the campaign stands after it."""

    campaign: int
    recipients: int
    sent: int
    deferred: int
    failed: int
    pending: int
    seconds: float
    state: CampaignState
    #: Why a guard paused the campaign in this run ("" when none did).
    paused: str = ""


def deliver(
    config: Config,
    store: Store,
    campaign_id: int,
    *,
    concurrency: int | None = None,
    rate: float | None = None,
    transport: Transport | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    sleep: Sleep = asyncio.sleep,
    start_now: bool = False,
    stop: StopFlag | None = None,
    force: bool = False,
) -> RunResult:
    """Send every recipient of the campaign that is due now; stop cleanly on Ctrl-C.

    A scheduled campaign is started first (its recipients snapshotted) when
    its time has come, or whatever its time with ``start_now``; before that
    it is ``NotDueYet``. Raises ``Interrupted`` after Ctrl-C or SIGTERM and
    ``CampaignStopped`` when no relay takes the messages; either way the
    journal is committed. ``sleep`` waits out the run's pauses (see
    ``Sender``). ``stop`` is a long-running caller's (the worker's): a
    signal sets it as well, it stops the run when it was set before, and a
    run stopped by any signal then leaves the campaign ``sending`` for the
    caller's next start instead of pausing it. A guard that trips pauses the
    campaign, the result saying why; ``force`` goes past its last reason.
    """
    started = time.monotonic()
    schedule.start(store, campaign_id, early=start_now)
    campaign = campaigns.get(store, campaign_id)
    if campaign.state is CampaignState.CANCELLED:
        settle_journal(store, campaign_id)
        raise ConflictError(f"campaign {campaign_id} was cancelled")
    if campaign.state is CampaignState.DONE and deliveries.remaining(store, campaign_id) == 0:
        settle_journal(store, campaign_id)
        return _result(store, campaign, started)
    sender = _sender(config, store, campaign, transport, on_progress,
                     send_policy(config, concurrency=concurrency, rate=rate), sleep)
    guards.resuming(store, campaign, force=force)
    campaigns.set_state(store, campaign.id, CampaignState.SENDING)
    try:
        stopped_by = _run(sender, stop)
    except TransportError as exc:
        left = deliveries.remaining(store, campaign.id)
        raise RelayFailed(str(exc), campaign_id=campaign.id, left=left, code=exc.code) from None
    left = deliveries.remaining(store, campaign.id)
    if stopped_by is not None:
        # Ctrl-C is a person deciding to stop: the campaign waits for `resume`.
        # SIGTERM is a machine shutting the process down: the campaign stays
        # `sending`, so the next `campaigns run` from cron carries on with it.
        if stopped_by == signal.SIGINT and stop is None:
            campaigns.set_state(store, campaign.id, CampaignState.PAUSED)
        raise Interrupted("interrupted (the journal is saved)", campaign_id=campaign.id, left=left)
    if (pause := sender.guard.pause) is not None and left > 0:
        guards.pause(store, campaign.id, pause)
        return _result(store, campaign, started, pause.reason)
    if left == 0 and campaign.kind != "welcome":  # a welcome letter waits for the next member
        campaigns.set_state(store, campaign.id, CampaignState.DONE)
    return _result(store, campaign, started)


def _sender(
    config: Config,
    store: Store,
    campaign: Campaign,
    transport: Transport | None,
    on_progress: Callable[[Progress], None] | None,
    policy: SendPolicy,
    sleep: Sleep,
) -> Sender:
    """A sender for the campaign's letter as stored, each edition compiled once."""
    signer = tokens.signer_for(config, missing="error")
    editions = campaign_editions(store, campaign)
    lists = campaign_lists(store, campaign)
    compiled = CompiledEditions(
        editions, config=config, lists=lists, signer=signer, campaign_id=campaign.id
    )
    compiled.compile_all()  # a letter that cannot compile stops here, failing nobody
    return Sender(
        store,
        campaign.id,
        compiled,
        transport or make_transport(config),
        policy=policy,
        envelope_from=sender_of(editions.original, config)[1],
        return_path=config.bounces.return_path,
        signer=signer,
        list_id=campaign.list_id,
        on_progress=on_progress,
        bounces=config.bounces,
        sleep=sleep,
        guards=config.guards,
    )


def _result(store: Store, campaign: Campaign, started: float, paused: str = "") -> RunResult:
    counts = deliveries.counters(store, campaign.id)
    return RunResult(
        campaign=campaign.id,
        recipients=campaign.recipients,
        sent=counts["sent"],
        deferred=counts["deferred"],
        failed=counts["failed"],
        pending=counts["pending"],
        seconds=round(time.monotonic() - started, 2),
        state=campaigns.get(store, campaign.id).state,
        paused=paused,
    )


def _run(sender: Sender, stop: StopFlag | None = None) -> signal.Signals | None:
    """Run the sender in an event loop; the signal that stopped it, or None.

    While it runs, SIGINT and SIGTERM stop the sender (and set ``stop``);
    afterwards the handlers the process had before are put back, so a
    worker's own handlers survive its runs.
    """
    stopped: signal.Signals | None = None

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        installed: list[tuple[signal.Signals, Handler]] = []

        def on_signal(sig: signal.Signals) -> None:
            nonlocal stopped
            if stopped is not None and task is not None:
                task.cancel()  # a second Ctrl-C: do not wait for the messages in flight
            stopped = stopped or sig
            sender.stop.set()
            if stop is not None:
                stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, on_signal, sig)
                installed.append((sig, previous))
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        if stop is not None and stop.is_set():
            sender.stop.set()  # asked before the run began: start nothing
        try:
            await sender.run()
        finally:
            for sig, previous in installed:
                loop.remove_signal_handler(sig)
                if previous is not None:
                    signal.signal(sig, previous)

    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        stopped = stopped or signal.SIGINT
    return stopped


def run_due(
    config: Config,
    store: Store,
    *,
    on_result: Callable[[RunResult | MailerError, int], None] | None = None,
    on_start: Callable[[Started], None] | None = None,
    stop: StopFlag | None = None,
) -> list[RunResult]:
    """Start every scheduled campaign whose time has come, then resume every campaign
    with work due now (what a cron job and the worker call).

    A campaign another process is sending is reported as ``CampaignBusy``:
    that process delivers it, so it is no failure of this run. A campaign
    that cannot be started or resumed (no relay, a letter that fails) is
    reported and the others still get their turn; only Ctrl-C (or ``stop``)
    ends the whole run.
    """
    for campaign_id in campaigns.scheduled_due(store, clock.now_iso()):
        if stop is not None and stop.is_set():
            return []
        try:
            started = schedule.start(store, campaign_id)
        except MailerError as exc:
            if on_result is not None:
                on_result(exc, campaign_id)
            continue
        if started is not None and on_start is not None:
            on_start(started)
    results = []
    for campaign_id in campaigns.due_ids(store):
        if stop is not None and stop.is_set():
            break
        try:
            result = deliver(config, store, campaign_id, stop=stop)
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
    languages: tuple[LanguageShare, ...] = ()
    campaign: int | None = None  # none is made
    dry_run: bool = True
    sent: int = 0
    deferred: int = 0
    failed: int = 0


def dry_run(
    config: Config,
    store: Store,
    plan: SendPlan,
    *,
    progress: Callable[[int], None] | None = None,
) -> DryRun:
    """Render every recipient's message (so template errors show now) and send nothing."""
    started = time.monotonic()
    compiled = CompiledEditions(
        plan.editions,
        config=config,
        lists=plan.lists,
        signer=tokens.signer_for(config, missing="throwaway"),
    )
    count = size = 0
    examples: list[str] = []
    for recipient in deliveries.iter_recipients(store, plan.list_ids, plan.conditions):
        message = compiled.build(recipient)
        count += 1
        size += message.size
        if len(examples) < 5:
            examples.append(message.recipient)
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count)
    seconds = round(time.monotonic() - started, 2)
    return DryRun(compiled.subject, count, size, seconds, examples, plan.languages)


@dataclass(frozen=True)
class TestSend:
    """What the relay said to one test message."""

    email: str
    code: int
    text: str

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300


def send_test(
    config: Config,
    store: Store,
    editions: Editions,
    lists: list[MailingList],
    addresses: Iterable[str],
    *,
    transport: Transport | None = None,
) -> list[TestSend]:
    """Send the letter only to ``addresses`` (subscribers or not); no campaign is made.

    A subscriber gets the edition in their language; anyone else the original.
    """
    signer = tokens.signer_for(config, missing="error")
    compiled = CompiledEditions(editions, config=config, lists=lists, signer=signer)
    first = lists[0].id if lists else None
    recipients = []
    for address in addresses:
        known = find_subscriber(store.conn, address)
        recipients.append(known.as_recipient(first) if known else Recipient(address))
    sender = sender_of(editions.original, config)[1]
    channels = transport or make_transport(config)
    return asyncio.run(_send_each(compiled, channels, sender, recipients))


async def _send_each(
    compiled: CompiledEditions, transport: Transport, sender: str, recipients: list[Recipient]
) -> list[TestSend]:
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
            results.append(TestSend(recipient.email, reply.code, reply.text))
    finally:
        await channel.close()
    return results


async def send_one(config: Config, message: OutgoingMessage) -> None:
    """Hand one message outside any campaign (a confirmation) to the configured transport.

    The envelope sender is the return path, else the configured From; a refusal
    is a ``TransportError`` with the server's code.
    """
    sender = config.bounces.return_path or sender_of(None, config)[1]
    channel = await make_transport(config).open()
    try:
        reply = await channel.send(sender, message.recipient, message.data, message.smtputf8)
    finally:
        await channel.close()
    if not reply.accepted:
        raise TransportError(f"message refused: {reply.code} {reply.text}", code=reply.code)
