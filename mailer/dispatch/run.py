"""Running campaigns: deliver, resume what is due, rehearse, test, and send one message.

Everything a run needs is put together here from the configuration (the
transport, the signer, the compiled letter, the sending policy), so that the
command line only parses options and prints. A run that stops early raises
``CampaignStopped`` (or ``Interrupted``) carrying the campaign and how many
are left; the command line says how to resume.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mailer import clock, tokens
from mailer.config import Config
from mailer.dispatch import guards, schedule
from mailer.dispatch.assemble import (
    StopFlag,
    builder_for,
    campaign_lists,
    make_transport,
    run_senders,
    send_policy,
    sender_for,
)
from mailer.dispatch.plan import LanguageShare, SendPlan
from mailer.dispatch.schedule import Started
from mailer.dispatch.sender import Progress, Sleep
from mailer.dispatch.spares import Spares
from mailer.dispatch.status import settle_journal
from mailer.dispatch.transports.base import Reply, Transport
from mailer.dispatch.workers import SharedRun, worker_count
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
from mailer.posting.digests import make_due as make_due_digests
from mailer.posting.distribute import expire_held
from mailer.store import Store, campaigns, deliveries
from mailer.store.models import Campaign, CampaignState, MailingList, Recipient
from mailer.store.subscribers import find_subscriber

__all__ = ["StopFlag", "campaign_lists", "make_transport", "send_policy"]

#: How often (in recipients) a long walk over a list reports its progress.
PROGRESS_EVERY = 500


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
    workers: int | None = None,
    force: bool = False,
    spares: Spares | None = None,
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
    caller's next start instead of pausing it. ``workers`` share the
    recipients (``dispatch.workers``; default ``[sending] workers``). A guard
    that trips pauses the campaign, the result saying why; ``force`` goes
    past its last reason. ``spares``: worker processes the caller forked ahead
    (``dispatch.spares``), taken before any is started.
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
    policy = send_policy(config, concurrency=concurrency, rate=rate)
    run = SharedRun(config, store, campaign, policy, transport, on_progress, sleep, stop,
                    spares)
    count = _workers(run, workers)
    sender = None
    if count == 1:
        sender = sender_for(config, store, campaign, transport, on_progress, policy, sleep)
    guards.resuming(store, campaign, force=force)
    campaigns.set_state(store, campaign.id, CampaignState.SENDING)
    try:
        if sender is not None:
            stopped_by, tripped = run_senders([sender], stop), sender.guard.pause
        else:
            stopped_by, tripped = run.shared(count)
    except TransportError as exc:
        left = deliveries.remaining(store, campaign.id)
        raise RelayFailed(str(exc), campaign_id=campaign.id, left=left, code=exc.code) from None
    return _ended(store, campaign, started, stopped_by, tripped, by_caller=stop is not None)


def _ended(
    store: Store,
    campaign: Campaign,
    started: float,
    stopped_by: int | None,
    tripped: guards.Pause | None,
    *,
    by_caller: bool,
) -> RunResult:
    """The campaign's state after its senders ended: interrupted, paused by a guard, or done.

    ``by_caller``: a long-running caller owns the stop, and the campaign stays
    ``sending`` for its next start whatever the signal.
    """
    left = deliveries.remaining(store, campaign.id)
    if stopped_by is not None:
        # Ctrl-C is a person deciding to stop: the campaign waits for `resume`.
        # SIGTERM is a machine shutting the process down: the campaign stays
        # `sending`, so the next `campaigns run` from cron carries on with it.
        if stopped_by == signal.SIGINT and not by_caller:
            campaigns.set_state(store, campaign.id, CampaignState.PAUSED)
        raise Interrupted("interrupted (the journal is saved)", campaign_id=campaign.id, left=left)
    if tripped is not None and left > 0:
        guards.pause(store, campaign.id, tripped)
        return _result(store, campaign, started, tripped.reason)
    if left == 0 and campaign.kind != "welcome":  # a welcome letter waits for the next member
        campaigns.set_state(store, campaign.id, CampaignState.DONE)
    return _result(store, campaign, started)


def fork_spares(
    config: Config, *, concurrency: int | None, rate: float | None, workers: int | None
) -> Spares:
    """As many worker processes as a run with these settings may use, forked now
    (``dispatch.spares``: before the database is opened)."""
    policy = send_policy(config, concurrency=concurrency, rate=rate)
    return Spares.fork(min(worker_count(config, workers), policy.concurrency))


def _workers(run: SharedRun, asked: int | None) -> int:
    """How many workers send this run: no more than connections (each needs one, and
    ``[smtp] connections`` holds in total), nor than recipients due (a welcome letter's
    one new member needs no process). With several, the letter is compiled here first,
    so that one that cannot compile fails nobody."""
    due = deliveries.count_due(run.store, run.campaign.id, clock.now_iso())
    count = min(worker_count(run.config, asked), run.policy.concurrency, max(1, due))
    if count > 1:
        builder_for(run.config, run.store, run.campaign)
    return count


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


def run_due(
    config: Config,
    store: Store,
    *,
    on_result: Callable[[RunResult | MailerError, int], None] | None = None,
    on_start: Callable[[Started], None] | None = None,
    stop: StopFlag | None = None,
    spares: Spares | None = None,
) -> list[RunResult]:
    """Start every scheduled campaign whose time has come, then resume every campaign
    with work due now (what a cron job and the worker call).

    A campaign another process is sending is reported as ``CampaignBusy``:
    that process delivers it, so it is no failure of this run. A campaign
    that cannot be started or resumed (no relay, a letter that fails) is
    reported and the others still get their turn; only Ctrl-C (or ``stop``)
    ends the whole run. Posts held past ``[inbound] held_days`` are discarded first, and
    the digests due are made (``posting.digests``), to go out in this run. ``spares``:
    worker processes the caller forked ahead, taken by the campaigns in turn.
    """
    expire_held(config, store)
    make_due_digests(store)
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
            result = deliver(config, store, campaign_id, stop=stop, spares=spares)
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
                    sender, message.recipient, message.data, message.smtputf8,
                    stuffed=message.stuffed, relaxed=message.relaxed,
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
        reply = await channel.send(
            sender, message.recipient, message.data, message.smtputf8,
            stuffed=message.stuffed, relaxed=message.relaxed,
        )
    finally:
        await channel.close()
    if not reply.accepted:
        raise TransportError(f"message refused: {reply.code} {reply.text}", code=reply.code)
