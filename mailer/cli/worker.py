"""``mailer worker``: start scheduled campaigns and resume due work, round after round."""

from __future__ import annotations

import sqlite3

import click

from mailer import tokens
from mailer.cli.app import App, cli, echo, pass_app, shown
from mailer.cli.campaigns import RunReport
from mailer.dispatch import run as runner
from mailer.dispatch import worker as rounds
from mailer.dispatch.worker import Stop, stopped_by_signals


@cli.command()
@click.option(
    "--interval",
    type=click.IntRange(1, 86400),
    default=60,
    show_default=True,
    metavar="SECONDS",
    help="Seconds from one round to the next (a campaign scheduled sooner starts on time).",
)
@pass_app
def worker(app: App, interval: int) -> None:
    """Start scheduled campaigns and resume due work every --interval seconds, until stopped.

    What `campaigns run` does, as a long-running service (systemd) instead of
    a cron job. Logs a line per campaign to stderr; SIGTERM or Ctrl-C stop it
    once the messages in flight are finished.
    """
    tokens.signer_for(app.config, missing="error")  # no key: say so now, not every round
    runner.make_transport(app.config)  # nor a bad relay setting
    store = app.store()
    report = RunReport(app, err=True)

    def round_failed(exc: Exception) -> None:
        text = f"database error: {exc}" if isinstance(exc, sqlite3.Error) else str(exc)
        echo(f"worker: this round failed: {shown(text)}; trying again in {interval} s", err=True)

    stop = Stop()
    try:
        with stopped_by_signals(stop):
            echo(f"worker: a round every {interval} s on {app.config.db_path}; "
                 "SIGTERM or Ctrl-C stops it", err=True)
            rounds.serve(app.config, store, interval=interval, stop=stop, sleep=stop.wait,
                         on_start=report.started, on_result=report.result,
                         on_error=round_failed)
    finally:
        stop.close()
    echo("worker: stopped", err=True)
