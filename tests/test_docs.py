"""The documentation stays true: help texts, the generated pages, the links, the README's size."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from cogapp import Cog

from mailer.cli import cli

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"
#: Pages whose parts between cog markers are generated from the code.
GENERATED = [DOCS / "cli.md", DOCS / "configuration.md"]
#: A Markdown link to a relative path: [text](path) or [text](path#anchor).
_LINK = re.compile(r"\]\((?!https?://|mailto:|#)([^)#\s]+)(?:#[^)]*)?\)")
#: Code (fenced blocks, `spans`) shows Markdown as a letter's author writes it: no page links.
_CODE = re.compile(r"^```.*?^```|`[^`\n]*`", re.MULTILINE | re.DOTALL)


def _commands(group: click.Group, prefix: str = "mailer") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, path)


COMMANDS = list(_commands(cli))
PAGES = [README, *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_command_has_help_text(path: str, command: click.Command) -> None:
    assert (command.help or "").strip(), f"{path} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), f"{path} {param.opts[0]} has no help text"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_command_is_explained_on_a_page_besides_the_reference(
    path: str, command: click.Command
) -> None:
    """The generated reference lists everything; each command also needs prose somewhere."""
    prose = "\n".join(
        page.read_text(encoding="utf-8") for page in PAGES if page.name != "cli.md"
    )
    assert path in prose, f"{path} is explained on no page of docs/ or the README"


def test_every_command_answers_help() -> None:
    runner = CliRunner()
    for path, _command in COMMANDS:
        result = runner.invoke(cli, [*path.split()[1:], "--help"])
        assert result.exit_code == 0, f"{path} --help failed: {result.output}"
        assert "Usage:" in result.output


@pytest.mark.parametrize("page", GENERATED, ids=[p.name for p in GENERATED])
def test_generated_pages_are_in_step_with_the_code(page: Path) -> None:
    """``make docs`` regenerates these; a change to a command or a setting must do so too."""
    status = Cog().main(["cog", "--check", str(page)])
    assert status == 0, f"{page.name} is out of step: run `make docs`"


def test_the_reference_has_every_command() -> None:
    reference = (DOCS / "cli.md").read_text(encoding="utf-8")
    for path, _command in COMMANDS:
        assert f"\n## {path}\n" in reference, f"{path} is missing from docs/cli.md"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_point_at_files_that_exist(page: Path) -> None:
    for target in _LINK.findall(_CODE.sub("", page.read_text(encoding="utf-8"))):
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_the_readme_is_a_front_door() -> None:
    """What it is, install, the two commands, a tour and links; the rest lives in docs/."""
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 150
    for heading in ("## Install", "## Two commands", "## A tour", "## Documentation"):
        assert heading in text
    for page in DOCS.glob("*.md"):
        assert f"(docs/{page.name})" in text, f"the README does not link docs/{page.name}"
