"""Files that ship with mailer: the default templates and the example configuration.

In a wheel they live inside the package (``mailer/templates``,
``mailer/config.example.toml``); in a source checkout they sit at the top of
the repository, where people edit them. This finds either.
"""

from __future__ import annotations

from pathlib import Path

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
