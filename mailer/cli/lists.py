"""``mailer lists``: create, show and remove mailing lists."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import click

from mailer.cli.app import (
    App,
    cli,
    confirm_or_refuse,
    echo,
    json_option,
    pass_app,
    print_json,
    print_table,
)
from mailer.cli.progress import working
from mailer.dispatch.welcome import remove_welcome, set_welcome
from mailer.errors import UsageError
from mailer.letters.editions import load_editions
from mailer.posting.policy import change_policy
from mailer.store.lists import (
    ListChanges,
    all_lists,
    create_list,
    get_list,
    posting_policy,
    remove_list,
    summary,
    update_list,
)
from mailer.store.models import DmarcAction, OnRefused, Posting, Verify


def language_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--language`` and ``--languages``, shared by ``lists create`` and ``lists update``."""
    command = click.option(
        "--languages",
        default=None,
        metavar="TAGS",
        help="The languages the list offers, comma-separated (e.g. es,en,de).",
    )(command)
    return click.option(
        "--language",
        default=None,
        metavar="TAG",
        help="The list's default language (e.g. es): who reads none on offer gets it.",
    )(command)


def posting_options(command: Callable[..., None]) -> Callable[..., None]:
    """The posting settings of ``lists update`` (docs/inbound.md)."""
    options = [
        click.option("--subject-prefix", default=None, metavar="TEXT",
                     help='Put before the subject of each post, e.g. "[members]" ("" for none).'),
        click.option("--reply-to", default=None, metavar="poster|list|ADDRESS",
                     help="Where answers to a post go (default: poster)."),
        click.option("--dmarc", type=click.Choice([a.value for a in DmarcAction]), default=None,
                     help="A poster whose domain's DMARC says quarantine or reject: From the "
                     "list (munge, default), the post attached (wrap), or as it came (none)."),
        click.option("--verify", type=click.Choice([v.value for v in Verify]), default=None,
                     help="How a poster proves the From address: the mail server's "
                     "Authentication-Results, a link mailed back, or either."),
        click.option("--on-refused", type=click.Choice([o.value for o in OnRefused]),
                     default=None, help="A post the policy refuses: held for a moderator, "
                     "or rejected with a polite answer."),
        click.option("--posting", type=click.Choice([p.value for p in Posting]), default=None,
                     help="Who may post by mail: nobody (closed), the posters (announce), "
                     "members and posters, anyone (open)."),
    ]
    for option in options:
        command = option(command)
    return command


@cli.group()
def lists() -> None:
    """Create, list, show and remove mailing lists."""


@lists.command("create")
@click.argument("name")
@click.option("--title", default="", help="Human title shown in letters and pages.")
@click.option("--description", default="", help="What the list is about (shown on its pages).")
@click.option(
    "--double-optin/--no-double-optin",
    default=None,
    help="New subscribers must confirm by e-mail (default: on for public lists).",
)
@click.option("--public", is_flag=True, help="Offer a subscribe form and an archive.")
@language_options
@pass_app
def create(
    app: App,
    name: str,
    title: str,
    description: str,
    double_optin: bool | None,
    public: bool,
    language: str | None,
    languages: str | None,
) -> None:
    """Create the list NAME."""
    if public and double_optin is False:
        echo(
            "warning: a public list without double opt-in lets anyone subscribe anyone "
            "(with any name, which every letter then greets)",
            err=True,
        )
    created = create_list(
        app.store(),
        name,
        title=title,
        description=description,
        double_optin=double_optin,
        public=public,
        language=language or "",
        languages=tuple((languages or "").split(",")),
    )
    echo(f"created list {created.name}")


@lists.command("update")
@click.argument("name")
@click.option("--title", default=None, help="Human title shown in letters and pages.")
@click.option("--description", default=None, help="What the list is about.")
@click.option(
    "--double-optin/--no-double-optin",
    default=None,
    help="New subscribers must confirm by e-mail.",
)
@click.option(
    "--public/--private", default=None, help="Offer a subscribe form and an archive, or not."
)
@language_options
@click.option(
    "--welcome",
    "welcome_letter",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="LETTER",
    help="A letter (with its translations) sent to each new member once.",
)
@click.option("--no-welcome", is_flag=True, help="Send new members no welcome letter.")
@posting_options
@pass_app
def update(
    app: App,
    name: str,
    title: str | None,
    description: str | None,
    double_optin: bool | None,
    public: bool | None,
    language: str | None,
    languages: str | None,
    welcome_letter: Path | None,
    no_welcome: bool,
    posting: str | None,
    on_refused: str | None,
    verify: str | None,
    dmarc: str | None,
    reply_to: str | None,
    subject_prefix: str | None,
) -> None:
    """Change the settings of the list NAME; what is not given stays as it is."""
    if welcome_letter is not None and no_welcome:
        raise UsageError("--welcome and --no-welcome cannot be used together")
    changes = ListChanges(
        title=title,
        description=description,
        double_optin=double_optin,
        public=public,
        language=language,
        languages=tuple(languages.split(",")) if languages is not None else None,
    )
    editions = load_editions(welcome_letter) if welcome_letter is not None else None
    updated = update_list(app.store(), name, changes)
    if updated.public and not updated.double_optin:
        echo("warning: a public list without double opt-in lets anyone subscribe anyone", err=True)
    if editions is not None:
        campaign = set_welcome(app.config, app.store(), updated, editions)
        echo(
            f"welcome letter of list {updated.name}: {campaign.subject!r} "
            f"(campaign {campaign.id})"
        )
    elif no_welcome:
        remove_welcome(app.store(), updated)
        echo(f"list {updated.name} sends no welcome letter")
    settings = {"posting": posting, "on_refused": on_refused, "verify": verify, "dmarc": dmarc,
                "reply_to": reply_to, "subject_prefix": subject_prefix}
    if any(value is not None for value in settings.values()):
        policy = change_policy(app.store(), updated.id, settings)
        echo(f"posting to {updated.name}: {policy.posting} (refused: {policy.on_refused}, "
             f"verify: {policy.verify}, dmarc: {policy.dmarc}, reply-to: {policy.reply_to})")
    echo(f"updated list {updated.name}")


@lists.command("ls")
@json_option
@pass_app
def ls(app: App, as_json: bool) -> None:
    """Show every list with its subscriber counts by status."""
    store = app.store()
    with working(store, "counting", quiet=as_json):
        summaries = [summary(store, item) for item in all_lists(store)]
    if as_json:
        print_json(summaries)
        return
    print_table(
        [{"name": s.name, "title": s.title, **s.counts} for s in summaries],
        ["name", "title", "confirmed", "unconfirmed", "unsubscribed", "sendable"],
    )


@lists.command("show")
@click.argument("name")
@json_option
@pass_app
def show(app: App, name: str, as_json: bool) -> None:
    """Show one list: its settings and subscriber counts."""
    store = app.store()
    with working(store, "counting", quiet=as_json):
        found = summary(store, get_list(store, name))
    if as_json:
        print_json(found)
        return
    for key in ("name", "title", "description", "double_optin", "public", "created_at"):
        echo(f"{key:13} {getattr(found, key)}")
    if found.languages:
        echo(f"{'language':13} {found.language}")
        echo(f"{'languages':13} {', '.join(found.languages)}")
    for key, count in found.counts.items():
        echo(f"{key:13} {count}")
    policy = posting_policy(store, get_list(store, name).id)
    for key, value in dataclasses.asdict(policy).items():
        echo(f"{key:13} {value}")


@lists.command("rm")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_app
def rm(app: App, name: str, yes: bool) -> None:
    """Remove a list and its subscriptions (subscribers and their history stay)."""
    store = app.store()
    with working(store, "counting"):
        found = summary(store, get_list(store, name))
    members = sum(v for k, v in found.counts.items() if k != "sendable")
    confirm_or_refuse(f"Remove list {name} and its {members} subscriptions?", yes=yes)
    with working(store, "removing"):
        remove_list(store, name)
    echo(f"removed list {name}")
