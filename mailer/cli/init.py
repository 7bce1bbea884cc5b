"""``mailer init``: create the database and a configuration file to edit."""

from __future__ import annotations

from mailer.cli.app import App, cli, echo, pass_app
from mailer.config import config_file
from mailer.resources import shipped


def example_config() -> str:
    """The commented example configuration that ships with the package."""
    return shipped("config.example.toml").read_text("utf-8")


@cli.command()
@pass_app
def init(app: App) -> None:
    """Create the database and write mailer.toml from the example (if absent).

    Running it again changes nothing: an existing database is only migrated
    to the current schema and an existing mailer.toml is left alone.
    """
    config_path = config_file(app.config_path)
    wrote = not config_path.exists()
    if wrote:
        # Written first: the database's place is read from it.
        config_path.write_text(example_config(), encoding="utf-8")
    try:
        existed = app.config.db_path.exists()
        app.store(create=True)
    except BaseException:
        if wrote:  # a failed init leaves nothing behind
            config_path.unlink(missing_ok=True)
        raise
    if wrote:
        echo(f"wrote {config_path} (edit it; secrets go in MAILER_* environment variables)")
    else:
        echo(f"kept {config_path}")
    echo(f"{'kept' if existed else 'created'} database {app.config.db_path}")
