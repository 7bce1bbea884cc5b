"""Files that ship with mailer: the default templates and the example configuration.

In a wheel they live inside the package (``mailer/templates``,
``mailer/config.example.toml``); in a source checkout they sit at the top of
the repository, where people edit them. This finds either.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailer.errors import TemplateError

_PACKAGE = Path(__file__).resolve().parent


def shipped(name: str) -> Path:
    """Path of a shipped file or folder, inside the installed package or the checkout."""
    inside = _PACKAGE / name
    if inside.exists():
        return inside
    return _PACKAGE.parent / name


def default_templates() -> Path:
    """The folder of default letter and page templates."""
    return shipped("templates")


def page_environment(
    user_templates: Path, *, extensions: Sequence[str | type[jinja2.ext.Extension]] = ()
) -> jinja2.Environment:
    """The templates of the pages mailer makes itself (the web app's, the reports).

    A file of the same name under ``user_templates`` wins over the one mailer
    ships. Sandboxed, autoescaped, and strict about undefined names, like
    the letters' environments. The web app adds its translation
    ``extensions``; the reports, written in English, need none.
    """
    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(str(user_templates)),
            jinja2.FileSystemLoader(str(default_templates())),
        ]
    )
    return ImmutableSandboxedEnvironment(
        loader=loader,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=list(extensions),
    )


def render_page(env: jinja2.Environment, name: str, /, **context: Any) -> str:
    """Template ``name`` of ``env`` rendered; a broken one (an override with a typo, say)
    is a ``TemplateError`` naming its file and line."""
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateError as exc:
        where = getattr(exc, "filename", None) or name
        line = getattr(exc, "lineno", None)
        raise TemplateError(f"page template failed: {exc}", path=where, line=line) from None
