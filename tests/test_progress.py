"""Progress lines: drawn on a terminal past a second, never off one, never into --json."""

from __future__ import annotations

import os
import pty
import select
import sys
from collections.abc import Iterator

import pytest

from mailer.cli.progress import counting, ticking, working
from mailer.store import Store
from tests.clocks import FakeClock


class Terminal:
    """A pseudo-terminal to put in place of standard error, and what was drawn on it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reader, writer = pty.openpty()
        self.stderr = os.fdopen(writer, "w", encoding="utf-8")
        self.monkeypatch = monkeypatch

    def attach(self) -> None:
        """Standard error is the terminal from now on (pytest's capture is set per phase)."""
        self.monkeypatch.setattr(sys, "stderr", self.stderr)

    def drawn(self) -> str:
        """Everything drawn so far: read until the terminal has nothing more to give."""
        self.stderr.flush()
        text = b""
        while select.select([self.reader], [], [], 0.2)[0]:
            text += os.read(self.reader, 65536)
        return text.decode()


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Terminal]:
    opened = Terminal(monkeypatch)
    yield opened
    monkeypatch.undo()
    opened.stderr.close()
    os.close(opened.reader)


def test_a_count_draws_only_once_it_has_run_a_second(
    terminal: Terminal, fake_clock: FakeClock
) -> None:
    terminal.attach()
    with counting("listing", 3000, monotonic=fake_clock.monotonic) as tick:
        assert tick is not None
        fake_clock.advance(0.5)
        tick(500)
        assert "counting" not in terminal.drawn()
        fake_clock.advance(1.0)
        tick(1500)
        assert "listing: 1,500/3,000 (1,000/s)" in terminal.drawn()
    assert terminal.drawn().endswith("\n")


def test_a_walk_ticks_every_thousand_rows_and_at_the_end() -> None:
    seen: list[int] = []
    assert list(ticking(range(2500), seen.append)) == list(range(2500))
    assert seen == [1000, 2000, 2500]
    assert list(ticking(range(3), None)) == [0, 1, 2]


def test_quiet_or_off_a_terminal_nothing_is_drawn(fake_clock: FakeClock) -> None:
    with counting("listing", quiet=True) as tick:
        assert tick is None
    with counting("listing") as tick:  # standard error is not a terminal here
        assert tick is None


def test_a_long_statement_beats_the_line(
    terminal: Terminal, fake_clock: FakeClock, store: Store
) -> None:
    terminal.attach()
    beats: list[None] = []
    with store.beating(lambda: beats.append(None), every=1000):
        store.one("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                  "WHERE i < 100000) SELECT count(*) FROM n")
    assert len(beats) > 10
    with working(store, "counting", monotonic=fake_clock.monotonic):
        fake_clock.advance(2)
        store.one("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                  "WHERE i < 1000000) SELECT count(*) FROM n")
    assert "counting... 2 s" in terminal.drawn()
    store.one("SELECT 1")  # the handler is gone: nothing more is drawn
    assert "counting" not in terminal.drawn()
