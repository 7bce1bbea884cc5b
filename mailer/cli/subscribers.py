"""``mailer subscribers``: add, inspect, unsubscribe, block and forget people."""

from __future__ import annotations

import sys

import click

from mailer import membership
from mailer.cli.app import (
    App,
    cli,
    confirm_or_refuse,
    details,
    echo,
    json_option,
    pass_app,
    plural,
    print_csv,
    print_json,
    print_json_rows,
    print_table,
)
from mailer.cli.progress import counting, ticking
from mailer.contacts.addresses import normalize_address
from mailer.dispatch.welcome import welcome as send_welcome
from mailer.errors import Suppressed, UsageError
from mailer.posting.digests import choose_digest
from mailer.store import suppressions
from mailer.store.digests import DIGEST_MODES
from mailer.store.lists import get_list
from mailer.store.models import SUBSCRIBER_STATUSES, Consent
from mailer.store.people import describe
from mailer.store.subscribers import (
    SubscriberQuery,
    find_subscriber,
    get_subscriber,
    iter_subscribers,
)


def parse_attributes(pairs: tuple[str, ...]) -> dict[str, str]:
    """``--attr city=Lima`` pairs into a dict; a pair without '=' is a usage error."""
    attributes: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--attr {pair!r}: expected KEY=VALUE")
        attributes[key.strip()] = value
    return attributes


@cli.group()
def subscribers() -> None:
    """Add, list, show, unsubscribe, block, forget, import and export subscribers."""


@subscribers.command("add")
@click.argument("email")
@click.option("--list", "list_name", required=True, help="The list to subscribe to.")
@click.option("--name", default="", help="The subscriber's name.")
@click.option("--attr", "attrs", multiple=True, metavar="KEY=VALUE", help="An attribute (repeat).")
@click.option(
    "--language", default="", metavar="TAG", help="The language they read (e.g. es, pt-BR)."
)
@click.option(
    "--update", is_flag=True, help="Overwrite name, attributes and language of a known address."
)
@click.option(
    "--welcome", is_flag=True, help="Send the list's welcome letter if they are new to the list."
)
@pass_app
def add(
    app: App,
    email: str,
    list_name: str,
    name: str,
    attrs: tuple[str, ...],
    language: str,
    update: bool,
    welcome: bool,
) -> None:
    """Subscribe EMAIL to a list (an address that opted out is never resubscribed)."""
    attributes = parse_attributes(attrs)
    address = normalize_address(
        email, allow_special_use=app.config.import_.allow_special_use_domains
    )
    store = app.store()
    mailing_list = get_list(store, list_name)
    result = membership.add(
        store,
        mailing_list,
        address,
        name=name,
        attributes=attributes,
        update=update,
        consent=Consent(method="cli", source="mailer subscribers add"),
        language=language,
    )
    if result.outcome == "suppressed":
        raise Suppressed(address.email, list_name, result.reason)
    messages = {
        "added": "added",
        "subscribed": "subscribed",
        "exists": "already subscribed to",
        "updated": "updated on",
    }
    echo(f"{address.email}: {messages[result.outcome]} {list_name}")
    joined = result.outcome in ("added", "subscribed") and result.subscriber is not None
    if welcome and joined and result.subscriber is not None:
        if mailing_list.welcome_campaign_id is None:
            echo(f"note: list {list_name} has no welcome letter (lists update --welcome)", err=True)
        elif send_welcome(app.config, store, mailing_list.id, result.subscriber.id):
            echo(f"{address.email}: welcome letter sent")


#: What ``subscribers ls`` shows of each subscriber, as a table or CSV.
LS_COLUMNS = ["id", "email", "name", "status", "bounce_score"]


@subscribers.command("ls")
@click.option("--list", "list_name", help="Only members of this list.")
@click.option(
    "--status", type=click.Choice(SUBSCRIBER_STATUSES), help="Only subscribers with this status."
)
@click.option(
    "--search", default="", metavar="TEXT",
    help="Only those whose address, name or an attribute holds TEXT (in any case).",
)
@click.option("--limit", type=click.IntRange(0), help="At most N subscribers.")
@click.option("--offset", type=click.IntRange(0), default=0, help="Skip the first N matches.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV instead of a table.")
@json_option
@pass_app
def ls(
    app: App,
    list_name: str | None,
    status: str | None,
    search: str,
    limit: int | None,
    offset: int,
    as_csv: bool,
    as_json: bool,
) -> None:
    """List subscribers in id order, optionally of one list, one status or a search.

    The listing streams: the first lines come at once, however long the list.
    """
    if as_csv and as_json:
        raise UsageError("--csv and --json cannot be combined")
    store = app.store()
    query = SubscriberQuery(
        list_id=get_list(store, list_name).id if list_name else None, status=status, search=search
    )
    found = iter_subscribers(store, query, offset=offset, limit=limit)
    # The rows themselves show the progress on a terminal; piped away, a line on stderr does.
    with counting("listing", quiet=as_json or sys.stdout.isatty()) as tick:
        rows = ticking(found, tick)
        if as_json:
            print_json_rows(rows)
        elif as_csv:
            print_csv(rows, LS_COLUMNS)
        else:
            print_table(rows, LS_COLUMNS)


@subscribers.command("show")
@click.argument("email")
@json_option
@pass_app
def show(app: App, email: str, as_json: bool) -> None:
    """Show a subscriber: lists with consent proof, and the history of events."""
    person = describe(app.store(), email)
    if as_json:
        print_json(person)
        return
    for key in ("email", "name", "language", "status", "bounce_score", "created_at"):
        echo(f"{key:13} {getattr(person, key)}")
    for key, value in person.attributes.items():
        echo(f"  {key}: {value}")
    for entry in person.suppressions:
        echo(f"suppressed by {entry.kind} {entry.value}: {entry.reason} (since {entry.created_at})")
    echo("subscriptions:")
    for sub in person.subscriptions:
        consent = sub.consent
        digest = f", {sub.digest} digest" if sub.digest != "off" else ""
        echo(
            f"  {sub.list}: {sub.status}{digest} (consent {consent.at or '-'} "
            f"via {consent.method} {consent.source})".rstrip()
        )
    echo("history:")
    for event in person.history:
        where = f" [{event.list}]" if event.list else ""
        echo(f"  {event.at} {event.kind}{where} {details(event.detail)}".rstrip())
    if person.reports:
        echo("bounces and complaints:")
        for report in person.reports:
            proof = report.proof or "UNVERIFIED (changed nothing)"
            campaign = f" campaign {report.campaign_id}" if report.campaign_id else ""
            echo(f"  {report.received_at} {report.kind} {report.reason}{campaign} [{proof}]"
                 .replace("  [", " ["))


@subscribers.command("unsubscribe")
@click.argument("email")
@click.option("--list", "list_name", help="Only this list (default: every list).")
@pass_app
def unsubscribe_command(app: App, email: str, list_name: str | None) -> None:
    """Unsubscribe EMAIL from one list, or from every list."""
    store = app.store()
    subscriber = get_subscriber(store, email)
    list_id = get_list(store, list_name).id if list_name else None
    left = membership.leave(store, subscriber.id, list_id, method="cli")
    if left:
        echo(f"{subscriber.email}: unsubscribed from {len(left)} list(s)")
    elif get_subscriber(store, email).status != subscriber.status:
        # On no list any more (a removed list), yet the opt-out itself is kept.
        echo(f"{subscriber.email}: on no list; status set to unsubscribed")
    else:
        echo(f"{subscriber.email}: was not subscribed (nothing changed)")


@subscribers.command("update")
@click.argument("email")
@click.option("--list", "list_name", required=True, help="The list whose membership changes.")
@click.option(
    "--digest", type=click.Choice(DIGEST_MODES), required=True,
    help="Take the list's posts as a daily or weekly digest, or each as it is sent (off).",
)
@pass_app
def update_command(app: App, email: str, list_name: str, digest: str) -> None:
    """Take a list's posts as a daily or weekly digest, or each as it is sent.

    The period counts from when a digest is first chosen; turning it off sends what was
    queued in one last digest (docs/inbound.md#digests).
    """
    store = app.store()
    subscriber = get_subscriber(store, email)
    before = choose_digest(store, subscriber, get_list(store, list_name), digest)
    if before == digest:
        echo(f"{subscriber.email}: digest on {list_name} was already {digest} (nothing changed)")
    else:
        echo(f"{subscriber.email}: digest on {list_name} {before} -> {digest}")


#: What makes an argument a pattern rather than one address.
_WILDCARDS = ("*", "?")


@subscribers.command("block")
@click.argument("email", required=False)
@click.option(
    "--domain", metavar="DOMAIN", help="Block every address at DOMAIN (nobody is deleted)."
)
@pass_app
def block_command(app: App, email: str | None, domain: str | None) -> None:
    """Suppress EMAIL, or every address at a --domain, everywhere: no list will mail it,
    nor an import or a subscribe form add it."""
    if (email is None) == (domain is None):
        raise UsageError("give one address, or --domain DOMAIN")
    if domain is not None:
        blocked = membership.block_domain(app.store(), domain)
        done = "blocked" if blocked.changed else "was already blocked"
        echo(
            f"{blocked.domain}: domain {done}; {plural(blocked.subscribers, 'subscriber')} "
            "at it will not be mailed (none deleted)"
        )
        return
    assert email is not None
    _refuse_pattern(email)
    address = normalize_address(
        email, allow_special_use=app.config.import_.allow_special_use_domains
    )
    membership.block(app.store(), address.email)
    echo(f"{address.email}: blocked")


def _refuse_pattern(email: str) -> None:
    """A usage error for ``*@example.net``, ``@example.net`` or ``example.net``: a domain
    is blocked with ``--domain``, never by a pattern read as an address."""
    text = email.strip()
    domain = text.rpartition("@")[2]
    if any(wildcard in domain for wildcard in _WILDCARDS) or not domain:
        domain = "example.net"
    if any(wildcard in text for wildcard in _WILDCARDS):
        raise UsageError(
            f"{text!r} is a pattern, not an address: to block a whole domain, "
            f"use --domain {domain}"
        )
    if "@" not in text[1:]:
        raise UsageError(
            f"{text!r} is not an address: to block a whole domain, use --domain {domain}"
        )


@subscribers.command("unblock")
@click.option("--domain", metavar="DOMAIN", required=True, help="The domain to unblock.")
@pass_app
def unblock_command(app: App, domain: str) -> None:
    """Lift the block of a whole --domain (addresses blocked one by one stay blocked)."""
    lifted = membership.unblock_domain(app.store(), domain)
    if not lifted.changed:
        echo(f"{lifted.domain}: was not blocked (nothing changed)")
        return
    echo(
        f"{lifted.domain}: domain unblocked; {plural(lifted.subscribers, 'subscriber')} at it "
        "may be mailed again as their own standing allows"
    )


@subscribers.command("blocked")
@json_option
@pass_app
def blocked_command(app: App, as_json: bool) -> None:
    """List the blocked domains and addresses, with why and since when."""
    entries = suppressions.listing(app.store())
    if as_json:
        print_json(entries)
        return
    print_table(entries, ["kind", "value", "reason", "created_at"])


@subscribers.command("forget")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def forget_command(app: App, email: str, yes: bool) -> None:
    """Erase EMAIL's personal data (GDPR); a one-way hash keeps it suppressed."""
    store = app.store()
    subscriber = find_subscriber(store, email)
    shown = subscriber.email if subscriber is not None else email.strip()
    confirm_or_refuse(f"Erase everything stored about {shown}?", yes=yes)
    # An address that is not a subscriber (blocked, or named in a bounce) can be
    # forgotten too; ``forget`` says so when nothing at all is held about it.
    membership.forget(store, email, replies_folder=app.config.replies_path)
    echo(f"{shown}: forgotten (only a hash remains, to keep it suppressed)")
