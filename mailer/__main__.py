"""``python -m mailer`` runs the command line."""

from mailer.cli import main

main()
