"""The journal: outcomes survive a crash before their commit; one sender per campaign."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.dispatch.journal import FAILED, SENT, Journal, Outcome, journal_path
from mailer.errors import ConflictError
from mailer.store import Store, open_store
from mailer.store.campaigns import create as create_campaign
from mailer.store.lists import get_list
from tests.smtp_sink import LETTER, populate


@pytest.fixture
def campaign_id(store: Store) -> int:
    populate(store, "members", 5)
    campaign = create_campaign(
        store,
        lists=[get_list(store, "members")],
        subject="s",
        letter_path="l.md",
        letter_source=LETTER,
    )
    return campaign.id


def sent(subscriber_id: int) -> Outcome:
    return Outcome(
        subscriber_id,
        f"member{subscriber_id - 1:05d}@example.com",
        SENT,
        1,
        code=250,
        text="ok",
        message_id=f"m{subscriber_id}@example.org",
        sent_at="2026-12-01T09:00:00Z",
        first_attempt_at="2026-12-01T09:00:00Z",
    )


def states(store: Store) -> list[str]:
    return [r[0] for r in store.all("SELECT state FROM deliveries ORDER BY subscriber_id")]


def test_outcomes_are_committed_in_batches(store: Store, campaign_id: int) -> None:
    journal = Journal(store, campaign_id, batch_size=3, batch_seconds=60)
    journal.open()
    journal.record(sent(1))
    journal.record(sent(2))
    assert states(store) == ["pending"] * 5
    journal.record(sent(3))
    assert states(store) == ["sent"] * 3 + ["pending"] * 2
    journal.close()
    assert not journal.path.exists()


def test_a_crash_before_the_commit_loses_nothing(store: Store, campaign_id: int) -> None:
    crashed = Journal(store, campaign_id, batch_size=100, batch_seconds=60)
    crashed.open()
    crashed.record(sent(1))
    crashed.record(sent(4))
    assert states(store) == ["pending"] * 5
    # The process dies here: no flush, no close. Another process opens the journal.
    import os

    os.close(crashed._fd)  # type: ignore[arg-type]
    with open_store(store.path) as other:
        journal = Journal(other, campaign_id)
        assert journal.open() == 2
        journal.close()
    assert states(store) == ["sent", "pending", "pending", "sent", "pending"]


def test_replaying_a_log_twice_changes_nothing(store: Store, campaign_id: int) -> None:
    refused = Outcome(
        2,
        "member00001@example.com",
        FAILED,
        1,
        code=550,
        text="5.1.1 user unknown",
        message_id="m2@example.org",
        bounce=("hard", "5.1.1", "userunknown"),
    )
    path = journal_path(store.path, campaign_id)
    path.write_bytes(sent(1).line() + refused.line() + sent(1).line() + b'[3, "torn')
    for _ in range(2):
        path.write_bytes(sent(1).line() + refused.line())
        journal = Journal(store, campaign_id)
        journal.open()
        journal.close()
    assert states(store)[:2] == ["sent", "failed"]
    assert store.one("SELECT count(*) FROM bounces")[0] == 1


def test_a_torn_last_line_is_ignored(store: Store, campaign_id: int) -> None:
    path = journal_path(store.path, campaign_id)
    path.write_bytes(sent(1).line() + b'[3,"member00002@exa')
    journal = Journal(store, campaign_id)
    assert journal.open() == 1
    journal.close()
    assert states(store)[:3] == ["sent", "pending", "pending"]


def test_a_campaign_is_sent_by_one_process_at_a_time(store: Store, campaign_id: int) -> None:
    first = Journal(store, campaign_id)
    first.open()
    with open_store(store.path) as other, pytest.raises(ConflictError, match="another"):
        Journal(other, campaign_id).open()
    first.close()
    second = Journal(store, campaign_id)
    second.open()
    second.close()


def test_a_lock_won_on_a_log_its_holder_just_removed_is_taken_again(
    store: Store, campaign_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fcntl

    finishing = Journal(store, campaign_id)
    finishing.open()
    late = Journal(store, campaign_id)
    real_flock = fcntl.flock

    def holder_finishes_first(fd: int, operation: int) -> None:
        # The holder closes (and removes its log) between the late one's open and its lock.
        if finishing._fd is not None:
            finishing.close()
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", holder_finishes_first)
    late.open()
    monkeypatch.undo()
    try:
        with pytest.raises(ConflictError, match="being sent by another mailer process"):
            Journal(store, campaign_id).open()
    finally:
        late.close()


def test_a_sent_recipient_is_never_set_back(store: Store, campaign_id: int) -> None:
    journal = Journal(store, campaign_id, batch_size=1)
    journal.open()
    journal.record(sent(1))
    journal.record(Outcome(1, "member00000@example.com", "deferred", 2, code=451))
    journal.close()
    assert states(store)[0] == "sent"


@given(
    subscriber_id=st.integers(min_value=1, max_value=2**40),
    state=st.sampled_from(["sent", "deferred", "failed"]),
    attempts=st.integers(min_value=0, max_value=1000),
    code=st.none() | st.integers(min_value=200, max_value=599),
    text=st.text(),
    stamp=st.none() | st.just("2026-12-01T09:00:00Z"),
    bounce=st.none() | st.tuples(st.text(), st.text(), st.text()),
)
def test_a_log_line_reads_back_as_the_same_outcome(
    subscriber_id: int,
    state: str,
    attempts: int,
    code: int | None,
    text: str,
    stamp: str | None,
    bounce: tuple[str, str, str] | None,
) -> None:
    outcome = Outcome(
        subscriber_id,
        "ann@example.org",
        state,
        attempts,
        code=code,
        text=text,
        message_id="m@example.org",
        queue_id="Q1",
        first_attempt_at=stamp,
        next_attempt_at=stamp,
        sent_at=stamp,
        bounce=bounce,
    )
    line = outcome.line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert Outcome.from_line(line) == outcome
