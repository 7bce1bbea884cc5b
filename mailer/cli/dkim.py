"""``mailer dkim``: make a signing key, and print the DNS record its public half needs."""

from __future__ import annotations

from pathlib import Path

import click

from mailer.cli.app import App, cli, echo, json_option, output_option, pass_app, print_json
from mailer.dispatch.dkim_keys import DkimKey, load_keys, new_key_file, txt_strings
from mailer.errors import ConfigError


@cli.group()
def dkim() -> None:
    """DKIM keys: make one (keygen) and print the DNS record to publish (record)."""


@dkim.command()
@click.option(
    "--domain", required=True, envvar="MAILER_DKIM_DOMAIN", show_envvar=True,
    help="The signing domain (d=), e.g. lists.example.org.",
)
@click.option(
    "--selector", required=True, envvar="MAILER_DKIM_SELECTOR", show_envvar=True,
    help="The key's name in DNS, e.g. s2026.",
)
@click.option(
    "--algorithm",
    type=click.Choice(["rsa", "ed25519"]),
    default="rsa",
    show_default=True,
    help="rsa: 2048 bits, checked by every receiver; ed25519: RFC 8463.",
)
@output_option(
    help="Where to write the private key (default: dkim-SELECTOR.key here).",
    envvar="MAILER_DKIM_KEY_FILE",
)
@json_option
@pass_app
def keygen(
    app: App, domain: str, selector: str, algorithm: str, output: Path | None, as_json: bool
) -> None:
    """Make a private key (a new file of mode 0600, never over another) and print the
    settings that use it and the TXT record to publish.

    The domain, selector and file can come from the environment that will sign with
    them (MAILER_DKIM_DOMAIN, MAILER_DKIM_SELECTOR, MAILER_DKIM_KEY_FILE)."""
    path = (output or Path(f"dkim-{selector}.key")).absolute()
    app.check_output(path)
    key = new_key_file(domain, selector, algorithm, path)
    settings = _settings(key, path)
    if as_json:
        print_json({"key_file": str(path), "settings": settings, **_record(key)})
        return
    echo(f"wrote the private key to {path} (mode 0600); set in mailer.toml:")
    echo("  [dkim]")
    for name, value in settings.items():
        echo(f'  {name} = "{value}"')
    if key.algorithm == "ed25519-sha256":
        echo("(or, to sign with it beside an RSA key: selector_ed25519 and key_file_ed25519)")
    echo()
    _show_record(key)


@dkim.command()
@json_option
@pass_app
def record(app: App, as_json: bool) -> None:
    """Print the DNS TXT record of each configured key, as receivers must find it."""
    keys = load_keys(app.config)
    if not keys:
        raise ConfigError(
            "dkim: not configured: set [dkim] domain, selector and key_file "
            "(`mailer dkim keygen` makes a key)"
        )
    if as_json:
        print_json([_record(key) for key in keys])
        return
    for number, key in enumerate(keys):
        if number:
            echo()
        _show_record(key)


def _settings(key: DkimKey, path: Path) -> dict[str, str]:
    settings = {"domain": key.domain, "selector": key.selector, "key_file": str(path)}
    if key.algorithm != "rsa-sha256":
        settings["algorithm"] = key.algorithm
    return settings


def _record(key: DkimKey) -> dict[str, object]:
    return {
        "algorithm": key.algorithm,
        "name": key.record_name,
        "value": key.record_value,
        "strings": txt_strings(key.record_value),
    }


def _show_record(key: DkimKey) -> None:
    echo(f"publish this TXT record ({key.algorithm}):")
    echo(f"  name:  {key.record_name}")
    echo(f"  value: {key.record_value}")
    echo("  in a zone file (strings of at most 255 characters):")
    echo(f"  {key.zone_line()}")
