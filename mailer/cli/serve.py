"""``mailer serve``: the web app subscribers touch, under uvicorn."""

from __future__ import annotations

import secrets
import socket

import click

from mailer.cli.app import App, cli, echo, pass_app
from mailer.errors import CannotListen, ConfigError
from mailer.tokens import Signer

#: Below this many characters a key is guessable enough to warn about.
_SHORT_KEY = 16


@cli.command()
@click.option("--host", help="Address to listen on (default [web] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port (default [web] port, 8025).")
@click.option(
    "--dev",
    is_flag=True,
    help="Without MAILER_SECRET_KEY, sign with a throwaway key (links die with the process).",
)
@click.option(
    "--forwarded-allow-ips",
    default="127.0.0.1",
    show_default=True,
    help="Proxies whose X-Forwarded-For / -Proto are trusted ('*' for any).",
)
@pass_app
def serve(
    app: App, host: str | None, port: int | None, dev: bool, forwarded_allow_ips: str
) -> None:
    """Run the web app: one-click unsubscribe, subscribe and confirm pages, archive.

    Links in letters point at [web] base_url; put `mailer serve` behind a
    reverse proxy that terminates HTTPS there (see docs/deployment.md). It
    also takes the bounce and complaint reports of the email service
    providers configured in [webhooks] at /hooks/ses, /hooks/postmark,
    /hooks/mailgun and /hooks/sendgrid.
    """
    from mailer.web import create_app, server
    from mailer.web.server import ServerLimits

    config = app.config
    key = config.web.secret_key
    if key and not key.strip():
        raise ConfigError("MAILER_SECRET_KEY is blank: set it to a long random string")
    if key and len(key) < _SHORT_KEY:
        echo(
            f"warning: MAILER_SECRET_KEY is short ({len(key)} characters): whoever guesses "
            "it can forge links. A long random string is safer (changing it breaks the "
            "links in letters already sent).",
            err=True,
        )
    if not key:
        if not dev:
            raise ConfigError(
                "MAILER_SECRET_KEY is not set: the links in letters are signed with it "
                "(set it in the environment, or pass --dev to try things out)"
            )
        key = secrets.token_urlsafe(32)
        echo(
            "--dev: signing with a throwaway key; links made now stop working when "
            "this process ends. Set MAILER_SECRET_KEY for real use.",
            err=True,
        )
    web_app = create_app(config, store_path=config.db_path, signer=Signer(key))
    host = host or config.web.host
    port = config.web.port if port is None else port
    listening = _listen(host, port)
    bound_host, bound_port = listening.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    echo(
        f"listening on http://{shown}:{bound_port} (links point at {config.web.base_url}); "
        "Ctrl+C stops",
        err=True,
    )
    limits = ServerLimits(
        request_timeout=config.web.request_timeout,
        keepalive_timeout=config.web.keepalive_timeout,
        max_connections=config.web.max_connections,
    )
    server.run(web_app, listening, forwarded_allow_ips=forwarded_allow_ips, limits=limits)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a busy port or unknown host is one line."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listening = socket.socket(family, kind, proto)
    except OSError as exc:
        raise CannotListen(host, port, exc.strerror or str(exc)) from None
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
    except OSError as exc:
        listening.close()
        raise CannotListen(host, port, exc.strerror or str(exc)) from None
    return listening
