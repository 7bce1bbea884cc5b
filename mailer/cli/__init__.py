"""The command line: thin click commands over the core modules."""

from __future__ import annotations

import mailer.cli.bounces
import mailer.cli.campaigns
import mailer.cli.inbound
import mailer.cli.init
import mailer.cli.letters
import mailer.cli.lists
import mailer.cli.replies
import mailer.cli.report
import mailer.cli.send
import mailer.cli.serve
import mailer.cli.subscribers
import mailer.cli.transfer
import mailer.cli.worker  # noqa: F401  (each module registers its commands)
from mailer.cli.app import cli


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="mailer")


__all__ = ["cli", "main"]
