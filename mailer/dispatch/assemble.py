"""A campaign's run put together from the configuration: transport, policy, letter, senders.

What ``deliver`` (``dispatch.run``) and a worker process (``dispatch.share``)
both need, so that a sender made in either is the same: the transport
(SMTP or the outbox), the sending policy with the command line's settings on
top, the campaign's letter compiled once per edition, and the event loop
that runs senders until they end or a signal stops them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

from mailer import tokens
from mailer.config import Config, GuardsConfig
from mailer.dispatch.dkim import DkimSigner
from mailer.dispatch.dkim_keys import load_keys
from mailer.dispatch.plan import campaign_editions
from mailer.dispatch.sender import Builder, Progress, Sender, SendPolicy, Sleep
from mailer.dispatch.transports.base import Transport
from mailer.dispatch.transports.outbox import OutboxTransport
from mailer.dispatch.transports.signing import SigningTransport
from mailer.dispatch.transports.smtp import SmtpTransport
from mailer.letters.editions import CompiledEditions
from mailer.letters.sender import sender_of
from mailer.posting.digest_mime import DigestBuilder
from mailer.posting.distribute import post_builder
from mailer.store import Store, campaigns
from mailer.store.deliveries import Share
from mailer.store.lists import find_list_by_id
from mailer.store.models import Campaign, MailingList

#: What ``signal.getsignal`` hands back: a function, ``SIG_DFL`` or ``SIG_IGN``, or None.
Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class StopFlag(Protocol):
    """A request to stop that a signal handler may make at any moment (``threading.Event``
    is one): a long-running caller's way to end runs it did not start itself."""

    def is_set(self) -> bool:
        """Whether stopping was asked for."""
        ...

    def set(self) -> None:
        """Ask for stopping."""
        ...


def make_transport(config: Config, *, offload_signing: bool = True) -> Transport:
    """SMTP when a host or relays are configured, else the Maildir outbox; DKIM-signing
    every message when ``[dkim]`` is set (its keys read, and checked, now), RSA
    signatures beside the event loop unless ``offload_signing`` is off (``DkimSigner``)."""
    transport: Transport
    if config.smtp.host or config.smtp.relays:
        helo = sender_of(None, config)[1].rpartition("@")[2]
        transport = SmtpTransport(config.smtp, helo=helo)
    else:
        transport = OutboxTransport(config.outbox_path)
    keys = load_keys(config)
    if not keys:
        return transport
    return SigningTransport(transport, DkimSigner(keys, offload=offload_signing))


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


def campaign_lists(store: Store, campaign: Campaign) -> list[MailingList]:
    """The lists a campaign goes to that still exist, in the order they were given."""
    found = []
    for entry in campaigns.lists_of(store, campaign.id):
        mailing_list = find_list_by_id(store, entry.list_id) if entry.list_id else None
        if mailing_list is not None:
            found.append(mailing_list)
    return found


def compiled_editions(config: Config, store: Store, campaign: Campaign) -> CompiledEditions:
    """The campaign's letter as stored, each edition compiled once (or a ``MailerError``)."""
    signer = tokens.signer_for(config, missing="error")
    compiled = CompiledEditions(
        campaign_editions(store, campaign), config=config,
        lists=campaign_lists(store, campaign), signer=signer, campaign_id=campaign.id,
    )
    compiled.compile_all()  # a letter that cannot compile stops here, failing nobody
    return compiled


def builder_for(config: Config, store: Store, campaign: Campaign) -> tuple[Builder, str]:
    """What builds the campaign's messages, and its envelope sender: the letter compiled
    once per edition, or, for a campaign of kind ``post``, the post as each member gets it,
    and for one of kind ``digest``, each member's digest."""
    if campaign.kind == "post":
        signer = tokens.signer_for(config, missing="error")
        return post_builder(config, store, campaign, signer), sender_of(None, config)[1]
    if campaign.kind == "digest":
        signer = tokens.signer_for(config, missing="error")
        return DigestBuilder(config, store, campaign, signer), sender_of(None, config)[1]
    compiled = compiled_editions(config, store, campaign)
    return compiled, sender_of(compiled.editions.original, config)[1]


def share_guards(limits: GuardsConfig, share: Share | None) -> GuardsConfig:
    """The guards of one worker's share: the counts they wait for divided among the
    workers (each sees its share's outcomes), the rates and the domains as they are (the
    shares, by subscriber id, spread every domain and every kind of outcome evenly)."""
    if share is None or share.count == 1:
        return limits
    return dataclasses.replace(
        limits,
        min_tried=max(1, math.ceil(limits.min_tried / share.count)),
        same_refusal_recipients=max(2, math.ceil(limits.same_refusal_recipients / share.count)),
    )


def sender_for(
    config: Config,
    store: Store,
    campaign: Campaign,
    transport: Transport | None,
    on_progress: Callable[[Progress], None] | None,
    policy: SendPolicy,
    sleep: Sleep = asyncio.sleep,
    *,
    share: Share | None = None,
    alive: Callable[[], bool] | None = None,
) -> Sender:
    """A sender for the campaign's letter or post as stored (of ``share`` of its recipients)."""
    builder, envelope_from = builder_for(config, store, campaign)
    signer = tokens.signer_for(config, missing="error")
    return Sender(
        store,
        campaign.id,
        builder,
        # A worker among several signs inline: the workers keep every core busy.
        transport or make_transport(config, offload_signing=share is None),
        policy=policy,
        envelope_from=envelope_from,
        return_path=config.bounces.return_path,
        signer=signer,
        list_id=campaign.list_id,
        on_progress=on_progress,
        bounces=config.bounces,
        sleep=sleep,
        share=share,
        alive=alive,
        guards=share_guards(config.guards, share),
    )


def run_senders(senders: list[Sender], stop: StopFlag | None = None) -> int | None:
    """Run the senders in one event loop; the signal that stopped them, or None.

    While they run, SIGINT and SIGTERM stop every sender (and set ``stop``);
    afterwards the handlers the process had before are put back, so a
    worker's own handlers survive its runs. The first sender's failure is
    raised once all have ended.
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
            for sender in senders:
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
            for sender in senders:
                sender.stop.set()  # asked before the run began: start nothing
        try:
            ends = await asyncio.gather(*(s.run() for s in senders), return_exceptions=True)
        finally:
            for sig, previous in installed:
                loop.remove_signal_handler(sig)
                if previous is not None:
                    signal.signal(sig, previous)
        for end in ends:
            if isinstance(end, BaseException):
                raise end

    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt):
        stopped = stopped or signal.SIGINT
    return stopped
