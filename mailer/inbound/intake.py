"""Taking mail in, one message at a time: route it, keep noise out, let the route act.

For each message:

1. find the address it came to (``arrival``) and its route (``routes``);
2. the bounce route hands it to the bounce code as it is, the very
   ``bounces.ingest.ingest`` that ``bounces ingest`` runs (bounces are what
   it wants: nothing is kept out of it);
3. a guarded route (replies, posts) first drops what ``noise`` names: too
   large, a loop, a program's message, a bounce;
4. the route stores the message (or drops it, for an address that is none
   of ours), in one transaction with its line in the ``inbound`` log.

A message and recipient already logged are taken once: reading a Maildir
twice, or an MTA delivering a message again after a failure, stores
nothing twice. Adding a route is one entry in ``ROUTES`` (and its rule in
``routes``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mailer import tokens
from mailer.bounces.ingest import ingest
from mailer.bounces.sources import MAX_KEPT, Incoming
from mailer.config import Config
from mailer.inbound import noise, posts, replies
from mailer.inbound.arrival import UNKNOWN_RECIPIENT, Arrival, Intake, Received, arrive
from mailer.inbound.routes import Destination, RouteKind, router_for
from mailer.store.database import Store
from mailer.store.lists import all_lists
from mailer.store.models import Outcome

Handler = Callable[[Intake, Arrival, Destination], Received]


@dataclass(frozen=True)
class Route:
    """How the intake serves one kind of address: what it does, and whether noise is
    kept out of it first."""

    take: Handler
    guarded: bool


def _to_bounces(intake: Intake, arrival: Arrival, destination: Destination) -> Received:
    """The bounce code's own ingest, in one transaction with the intake's log line."""
    incoming = dataclasses.replace(arrival.incoming, envelope_to=arrival.recipient)
    with intake.store.transaction() as conn:
        report = ingest(intake.store, [incoming], intake.config)
        if report.duplicates:
            reason = "already seen"
        elif report.unsubscribes:
            reason = "request to leave"
        else:
            reason = f"{report.events} event(s), {report.unverified} unverified"
        intake.record(conn, arrival, destination, Outcome.STORED, reason)
    outcome = None if report.duplicates else Outcome.STORED
    return Received(destination.kind, outcome, reason, changes=tuple(report.changes))


def _drop(intake: Intake, arrival: Arrival, destination: Destination, reason: str) -> Received:
    """Log a message as dropped, and why (once)."""
    with intake.store.transaction() as conn:
        if intake.seen(conn, arrival):
            return Received(destination.kind, None)
        return intake.record(conn, arrival, destination, Outcome.DROPPED, reason)


def _unknown(intake: Intake, arrival: Arrival, destination: Destination) -> Received:
    return _drop(intake, arrival, destination, UNKNOWN_RECIPIENT)


ROUTES: dict[RouteKind, Route] = {
    RouteKind.BOUNCE: Route(_to_bounces, guarded=False),
    RouteKind.REPLY: Route(replies.take, guarded=True),
    RouteKind.POST: Route(posts.take, guarded=True),
    RouteKind.UNKNOWN: Route(_unknown, guarded=False),
}


def open_intake(store: Store, config: Config) -> Intake:
    """What one run needs, read once: the lists, our addresses, the signing key."""
    names = [mailing_list.name for mailing_list in all_lists(store)]
    return Intake(
        store=store,
        config=config,
        router=router_for(config, names),
        us=noise.ours(config, names),
        signer=tokens.signer_for(config, missing="none"),
        root=config.replies_path,
    )


def receive(intake: Intake, incoming: Incoming, *, to: str = "") -> Received:
    """Take one message in (the module's docstring has the steps)."""
    arrival = arrive(incoming, to)
    destination = intake.router.route(arrival.recipient)
    route = ROUTES[destination.kind]
    if route.guarded:
        reason = noise.reason_to_drop(arrival.raw, arrival.head, arrival.size, intake.us)
        if reason:
            return _drop(intake, arrival, destination, reason)
    return route.take(intake, arrival, destination)


def read_limit(config: Config) -> int:
    """How much of each message to keep: all of one the intake may store."""
    return max(MAX_KEPT, int(config.inbound.max_size * noise.MB) + 1)


@dataclass
class IntakeReport:
    """What a run did (``--json`` prints it as it is)."""

    messages: int = 0
    replies: int = 0
    unverified: int = 0
    posts: int = 0
    bounces: int = 0
    duplicates: int = 0
    forwarded: int = 0
    #: Dropped messages by the kind of reason (``unknown recipient``, ``loop``, ...).
    dropped: dict[str, int] = field(default_factory=dict)
    #: What the bounce policy changed.
    changes: list[str] = field(default_factory=list)

    def add(self, received: Received) -> None:
        """Count one message."""
        self.messages += 1
        self.forwarded += received.forwarded
        self.changes += received.changes
        if received.outcome is None:
            self.duplicates += 1
        elif received.outcome is Outcome.DROPPED:
            kind = noise.category(received.reason)
            self.dropped[kind] = self.dropped.get(kind, 0) + 1
        elif received.route is RouteKind.REPLY:
            self.replies += 1
            self.unverified += not received.verified
        elif received.route is RouteKind.POST:
            self.posts += 1
        elif received.route is RouteKind.BOUNCE:
            self.bounces += 1


def take_in(
    store: Store,
    items: Iterable[Incoming],
    config: Config,
    *,
    to: str = "",
    done: Callable[[Incoming], None] | None = None,
) -> IntakeReport:
    """Take in every message; ``done`` is called after each one is committed."""
    intake = open_intake(store, config)
    report = IntakeReport()
    for incoming in items:
        report.add(receive(intake, incoming, to=to))
        if done is not None:
            done(incoming)
    return report
