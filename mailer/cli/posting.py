"""``mailer lists posters|moderators`` and ``mailer held``: who posts, who moderates, and
the posts that wait for a decision."""

from __future__ import annotations

import click

from mailer.cli.app import App, cli, echo, json_option, pass_app, print_json, print_table, shorten
from mailer.cli.lists import lists
from mailer.contacts.addresses import normalize_address
from mailer.posting import moderation
from mailer.posting.distribute import expire_held
from mailer.store import roles
from mailer.store.lists import get_list
from mailer.store.models import ListRole


def _role_group(role: ListRole, plural: str, about: str) -> None:
    """``lists <plural> add|rm|ls``: the addresses that have ``role`` on a list."""

    @lists.group(plural, help=about)
    def group() -> None:
        pass

    @group.command("add", help=f"Make ADDRESS one of the {plural} of the list NAME.")
    @click.argument("name")
    @click.argument("address")
    @pass_app
    def add(app: App, name: str, address: str) -> None:
        store = app.store()
        mailing_list = get_list(store, name)
        email = normalize_address(address).email
        new = roles.add(store, mailing_list.id, role, email)
        echo(f"{email} {'is now' if new else 'was already'} a {role} of list {name}")

    @group.command("rm", help=f"ADDRESS is no longer one of the {plural} of the list NAME.")
    @click.argument("name")
    @click.argument("address")
    @pass_app
    def rm(app: App, name: str, address: str) -> None:
        store = app.store()
        mailing_list = get_list(store, name)
        gone = roles.remove(store, mailing_list.id, role, address)
        echo(f"{address} {'is no longer' if gone else 'was not'} a {role} of list {name}")

    @group.command("ls", help=f"Show the {plural} of the list NAME.")
    @click.argument("name")
    @json_option
    @pass_app
    def ls(app: App, name: str, as_json: bool) -> None:
        store = app.store()
        found = roles.of_list(store, get_list(store, name).id, role)
        if as_json:
            print_json(found)
            return
        for address in found:
            echo(address)


_role_group(ListRole.POSTER, "posters",
            "The addresses that may post to an announce list (and to a members list).")
_role_group(ListRole.MODERATOR, "moderators",
            "The addresses told of each held post, with a link to decide on it.")


@cli.group()
def held() -> None:
    """The posts to lists that wait for a decision: read, approve, reject, discard."""


@held.command("ls")
@click.option("--list", "list_name", default=None, help="Only posts to this list.")
@json_option
@pass_app
def held_ls(app: App, list_name: str | None, as_json: bool) -> None:
    """Show the posts that wait for a moderator or their poster, oldest first."""
    store = app.store()
    list_id = get_list(store, list_name).id if list_name else None
    found = moderation.held(store, list_id)
    if as_json:
        print_json(found)
        return
    rows = [
        {"id": p.id, "received_at": p.received_at, "list": p.list_name, "from": p.sender,
         "subject": shorten(p.subject, 40), "status": p.status, "why": shorten(p.reason, 40)}
        for p in found
    ]
    print_table(rows, ["id", "received_at", "list", "from", "subject", "status", "why"])


@held.command("show")
@click.argument("post_id", type=int, metavar="ID")
@json_option
@pass_app
def held_show(app: App, post_id: int, as_json: bool) -> None:
    """Show one post: who sent it, why it waits, its text and its files."""
    found = moderation.read(app.store(), post_id)
    if as_json:
        print_json(found)
        return
    post = found.post
    for key, value in (("post", post.id), ("list", post.list_name), ("from", post.sender),
                       ("name", post.sender_name), ("subject", post.subject),
                       ("received_at", post.received_at), ("status", post.status),
                       ("why", post.reason)):
        echo(f"{key:12} {value}")
    for name in found.attachments:
        echo(f"{'file':12} {name}")
    echo()
    echo(found.text)


@held.command("approve")
@click.argument("post_id", type=int, metavar="ID")
@click.option("--always", is_flag=True, help="Also make the poster one of the list's posters.")
@pass_app
def held_approve(app: App, post_id: int, always: bool) -> None:
    """Send the post to the list (queued for `campaigns run` or the worker)."""
    post = moderation.approve(app.store(), post_id, always=always)
    echo(f"post {post.id} approved: campaign {post.campaign_id} sends it to list "
         f"{post.list_name} (mailer campaigns run, or the worker)")
    if always:
        echo(f"{post.sender} is now a poster of list {post.list_name}")


@held.command("reject")
@click.argument("post_id", type=int, metavar="ID")
@click.option("--reason", default="", help="Told to the poster in the answer.")
@pass_app
def held_reject(app: App, post_id: int, reason: str) -> None:
    """Refuse the post, and answer its poster politely (with the reason, if given)."""
    post, told = moderation.reject(app.config, app.store(), post_id, reason)
    echo(f"post {post.id} rejected; " + ("the poster was told" if told else
                                         "the answer to the poster could not be sent"))


@held.command("discard")
@click.argument("post_id", type=int, metavar="ID")
@pass_app
def held_discard(app: App, post_id: int) -> None:
    """Drop the post without telling anyone (spam, say)."""
    post = moderation.discard(app.store(), post_id)
    echo(f"post {post.id} discarded")


@held.command("expire")
@pass_app
def held_expire(app: App) -> None:
    """Discard the posts that waited longer than [inbound] held_days."""
    echo(f"{expire_held(app.config, app.store())} post(s) expired")
