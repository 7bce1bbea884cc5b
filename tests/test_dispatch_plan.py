"""The campaign snapshot: confirmed, active, not suppressed, in the segment; made once."""

from __future__ import annotations

from mailer import membership
from mailer.contacts.addresses import normalize_address
from mailer.dispatch.segment import parse_segment
from mailer.store import Store, subscriptions
from mailer.store.campaigns import create as create_campaign
from mailer.store.campaigns import earlier as earlier_campaigns
from mailer.store.campaigns import letter_hash
from mailer.store.lists import get_list
from mailer.store.models import Consent
from mailer.store.subscribers import set_status
from mailer.store.suppressions import suppress
from tests.smtp_sink import LETTER, populate


def snapshot(store: Store, segment: str = "") -> list[str]:
    campaign = create_campaign(
        store,
        lists=[get_list(store, "members")],
        subject="s",
        letter_path="l.md",
        letter_source=LETTER,
        segment=segment,
        conditions=parse_segment(segment),
    )
    rows = store.all(
        "SELECT email FROM deliveries WHERE campaign_id = ? ORDER BY subscriber_id",
        (campaign.id,),
    )
    assert campaign.recipients == len(rows)
    return [r[0] for r in rows]


def test_only_confirmed_active_unsuppressed_members_are_snapshotted(store: Store) -> None:
    emails = populate(store, "members", 6)
    populate(store, "others", 2, domain="elsewhere.org")
    members = get_list(store, "members")
    membership.add(
        store,
        get_list(store, "members"),
        normalize_address("pending@example.com"),
        consent=Consent(method="test"),
    )
    store.conn.execute(
        "UPDATE subscriptions SET status = 'unconfirmed' WHERE subscriber_id = "
        "(SELECT id FROM subscribers WHERE email = 'pending@example.com')"
    )
    with store.transaction() as conn:
        subscriptions.leave(conn, 1, members.id, method="test")
        set_status(conn, 2, "bounced", reason="test")
        suppress(conn, "email", emails[3], "test")
    membership.block(store, emails[4])
    assert snapshot(store) == [emails[2], emails[5]]


def test_a_suppressed_domain_is_left_out(store: Store) -> None:
    populate(store, "members", 2)
    populate(store, "members", 2, domain="blocked.example")
    with store.transaction() as conn:
        suppress(conn, "domain", "blocked.example", "test")
    assert snapshot(store) == ["member00000@example.com", "member00001@example.com"]


def test_the_snapshot_does_not_change_when_the_list_does(store: Store) -> None:
    populate(store, "members", 3)
    snapshot(store)
    populate(store, "members", 5)
    assert store.one("SELECT count(*) FROM deliveries WHERE campaign_id = 1")[0] == 3


def test_earlier_campaigns_find_the_same_letter_on_the_same_list(store: Store) -> None:
    populate(store, "members", 1)
    populate(store, "others", 1, domain="elsewhere.org")
    members = get_list(store, "members")
    assert earlier_campaigns(store, members.id, letter_hash(LETTER)) == []
    snapshot(store)
    assert [c.id for c in earlier_campaigns(store, members.id, letter_hash(LETTER))] == [1]
    assert earlier_campaigns(store, members.id, letter_hash(LETTER + "x")) == []
    others = get_list(store, "others")
    assert earlier_campaigns(store, others.id, letter_hash(LETTER)) == []
