"""Every command has help text and is documented in the README."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from mailer.cli import cli

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "mailer") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


COMMANDS = list(_commands(cli))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_command_has_help_text(path: str, command: click.Command) -> None:
    assert (command.help or "").strip(), f"{path} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), f"{path} {param.opts[0]} has no help text"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_command_is_in_readme(path: str, command: click.Command) -> None:
    assert f"`{path}" in README, f"{path} is not documented in README.md"


def test_every_command_answers_help() -> None:
    from click.testing import CliRunner

    runner = CliRunner()
    for path, _command in COMMANDS:
        result = runner.invoke(cli, [*path.split()[1:], "--help"])
        assert result.exit_code == 0, f"{path} --help failed: {result.output}"
        assert "Usage:" in result.output
