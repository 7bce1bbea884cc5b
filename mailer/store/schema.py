"""The schema, as an ordered list of migrations.

``PRAGMA user_version`` records how many have run. A database made by an
older mailer is brought up to date when it is opened; a database made by a
newer one is refused rather than misread. Append new migrations; never edit
one that has shipped.

A migration is SQL text, or a function given the sqlite-utils ``Database``:
sqlite-utils adds columns and rebuilds tables (``add_column``,
``transform``) more safely than hand-written ``ALTER TABLE`` steps. Where a
table's CHECK constraints change, the SQL rebuild is written out, because
``transform`` does not carry CHECK constraints over.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlite_utils

from mailer.errors import StoreError


def _expired_column(db: sqlite_utils.Database) -> None:
    """4: a delivery given up because its retries ran out says so in a column of its own.

    Until now the reply text carried an ``expired:`` prefix, which ``campaigns
    retry`` looked for with ``LIKE``; the text is now the server's own again.
    """
    db.table("deliveries").add_column("expired", int, not_null_default=0)
    db.execute(
        "UPDATE deliveries SET expired = 1, last_text = substr(last_text, 10) "
        "WHERE state = 'failed' AND last_text LIKE 'expired: %'"
    )


def _remake_table(db: sqlite_utils.Database, table: str, old: str, new: str) -> None:
    """Make ``table`` anew from its own CREATE statement with ``old`` replaced by ``new``.

    SQLite cannot change a CHECK constraint in place (and ``transform`` drops
    them): the table is created under another name from the stored statement,
    the rows copied, the old table dropped, the new one renamed and its
    indexes made again from their stored statements.
    """
    create = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()[0]
    if old not in create:
        raise StoreError(f"cannot remake {table}: its schema does not hold {old!r}")
    indexes = [row[0] for row in db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (table,),
    )]
    columns = ", ".join(f'"{row[1]}"' for row in db.execute(f'PRAGMA table_info("{table}")'))
    remade = re.sub(r'^CREATE TABLE\s+("?)\w+\1', f"CREATE TABLE {table}_new", create, count=1)
    db.execute(remade.replace(old, new, 1))
    db.execute(f'INSERT INTO {table}_new ({columns}) SELECT {columns} FROM "{table}"')
    db.execute(f'DROP TABLE "{table}"')
    db.execute(f'ALTER TABLE {table}_new RENAME TO "{table}"')
    for index in indexes:
        db.execute(index)


def _provider_proof(db: sqlite_utils.Database) -> None:
    """6: a report an email service provider signed proves itself: proof ``provider``.

    A webhook whose signature or credentials verified is the provider's word
    for what became of a letter; the ``proof`` CHECK constraint widens for it.
    """
    _remake_table(db, "bounces", "'address', 'mailto')", "'address', 'mailto', 'provider')")


def _posting(db: sqlite_utils.Database) -> None:
    """8: posting to a list by mail.

    A list says who may post (``posting``: closed, announce, members, open),
    what becomes of a post it refuses (``on_refused``: held or rejected), how
    a poster proves the From address (``verify``), what is done for a poster
    whose domain's DMARC policy would have the post refused (``dmarc``), where
    answers go (``reply_to``) and a ``subject_prefix``. ``list_roles`` names a
    list's posters and moderators. An accepted post is a campaign of kind
    ``post``; the post names it, says how it was accepted (``proof``) and what
    was done for DMARC; a post may wait for its poster's confirmation
    (``unconfirmed``). Both tables are made anew for their CHECK constraints,
    and keep the ids they have handed out (``sqlite_sequence``).
    """
    sequence = dict(db.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    _remake_table(db, "campaigns", "CHECK (kind IN ('letter', 'welcome'))",
                  "CHECK (kind IN ('letter', 'welcome', 'post'))")
    _remake_table(db, "posts", "CHECK (status IN ('held', 'approved'",
                  "CHECK (status IN ('held', 'unconfirmed', 'approved'")
    _keep_ids(db, sequence, ("campaigns", "posts"))
    lists = db.table("lists")
    for column, default in (
        ("posting", "closed"), ("on_refused", "hold"), ("verify", "auth-results"),
        ("dmarc", "munge"), ("reply_to", "poster"), ("subject_prefix", ""),
    ):
        lists.add_column(column, str, not_null_default=default)
    posts = db.table("posts")
    posts.add_column("campaign_id", int)
    for column in ("proof", "dmarc", "note"):
        posts.add_column(column, str, not_null_default="")
    db.execute(
        "CREATE TABLE list_roles ("
        " list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
        " role TEXT NOT NULL CHECK (role IN ('poster', 'moderator')),"
        " email TEXT NOT NULL,"
        " email_key TEXT NOT NULL,"
        " added_at TEXT NOT NULL,"
        " PRIMARY KEY (list_id, role, email_key)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX posts_campaign ON posts (campaign_id) WHERE campaign_id IS NOT NULL")


def _keep_ids(db: sqlite_utils.Database, sequence: dict[str, int], tables: tuple[str, ...]) -> None:
    """Give remade AUTOINCREMENT tables back the highest id they ever handed out
    (``sequence``, read before they were remade), so that no id is handed out twice."""
    for table in tables:
        now = db.execute("SELECT MAX(seq) FROM sqlite_sequence WHERE name = ?", (table,))
        highest = max(sequence.get(table) or 0, now.fetchone()[0] or 0)
        db.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        if highest:
            db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, highest))


def _digests(db: sqlite_utils.Database) -> None:
    """10: digests of a list's posts.

    A member may take a list's posts as a ``daily`` or ``weekly`` digest
    (``subscriptions.digest``; ``off`` is each post as it is sent), counted
    from ``digest_since``: when they chose it, then the time their last digest
    was due. Each accepted post is queued for each digest member
    (``digest_queue``); a digest is a campaign of kind ``digest`` that claims
    the queued posts it carries (``campaign_id``), so what a member's digest
    holds is fixed when it is made and a resumed send builds the same one.
    """
    sequence = dict(db.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    _remake_table(db, "campaigns", "CHECK (kind IN ('letter', 'welcome', 'post'))",
                  "CHECK (kind IN ('letter', 'welcome', 'post', 'digest'))")
    _keep_ids(db, sequence, ("campaigns",))
    db.execute(
        "ALTER TABLE subscriptions ADD COLUMN digest TEXT NOT NULL DEFAULT 'off' "
        "CHECK (digest IN ('off', 'daily', 'weekly'))"
    )
    db.execute("ALTER TABLE subscriptions ADD COLUMN digest_since TEXT")
    db.execute(
        "CREATE TABLE digest_queue ("
        " list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,"
        " subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,"
        " post_id INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,"
        " campaign_id INTEGER REFERENCES campaigns (id) ON DELETE SET NULL,"
        " PRIMARY KEY (list_id, subscriber_id, post_id)) WITHOUT ROWID"
    )
    db.execute("CREATE INDEX digest_queue_campaign ON digest_queue (campaign_id, subscriber_id)")


Migration = str | Callable[[sqlite_utils.Database], None]

MIGRATIONS: list[Migration] = [
    # 1: the first schema. Lists, subscribers and campaigns never reuse an id
    # (AUTOINCREMENT): their ids live on in signed tokens inside letters already
    # sent, which must never come to name somebody else after a deletion.
    """
    CREATE TABLE lists (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL DEFAULT '',
        description TEXT NOT NULL DEFAULT '',
        double_optin INTEGER NOT NULL DEFAULT 0,
        public INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        email TEXT NOT NULL,
        email_key TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL DEFAULT '',
        attributes TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL DEFAULT 'active'
            CHECK (status IN ('active', 'unsubscribed', 'bounced', 'complained', 'blocked')),
        bounce_score INTEGER NOT NULL DEFAULT 0,
        bounce_scored_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX subscribers_status ON subscribers (status);
    CREATE TABLE subscriptions (
        list_id INTEGER NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
        subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
        status TEXT NOT NULL
            CHECK (status IN ('unconfirmed', 'confirmed', 'unsubscribed')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        consent_at TEXT,
        consent_method TEXT NOT NULL DEFAULT '',
        consent_source TEXT NOT NULL DEFAULT '',
        consent_detail TEXT NOT NULL DEFAULT '{}',
        unsubscribed_at TEXT,
        PRIMARY KEY (list_id, subscriber_id)
    ) WITHOUT ROWID;
    CREATE INDEX subscriptions_subscriber ON subscriptions (subscriber_id);
    CREATE TABLE campaigns (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        list_id INTEGER REFERENCES lists (id) ON DELETE SET NULL,
        list_name TEXT NOT NULL DEFAULT '',
        subject TEXT NOT NULL,
        letter_path TEXT NOT NULL DEFAULT '',
        letter_source TEXT NOT NULL,
        letter_hash TEXT NOT NULL,
        segment TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'created'
            CHECK (state IN ('created', 'sending', 'paused', 'done', 'cancelled')),
        recipients INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT
    );
    CREATE TABLE deliveries (
        campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
        subscriber_id INTEGER NOT NULL,
        email TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'sent', 'deferred', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        last_code INTEGER,
        last_text TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL DEFAULT '',
        queue_id TEXT NOT NULL DEFAULT '',
        first_attempt_at TEXT,
        sent_at TEXT,
        PRIMARY KEY (campaign_id, subscriber_id)
    ) WITHOUT ROWID;
    CREATE INDEX deliveries_due ON deliveries (campaign_id, state, next_attempt_at);
    CREATE TABLE bounces (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        message_id TEXT NOT NULL DEFAULT '',
        recipient TEXT NOT NULL DEFAULT '',
        subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
        campaign_id INTEGER REFERENCES campaigns (id) ON DELETE SET NULL,
        kind TEXT NOT NULL
            CHECK (kind IN ('hard', 'soft', 'complaint', 'delayed', 'auto-reply', 'unknown')),
        status TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        diagnostic TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX bounces_subscriber ON bounces (subscriber_id);
    CREATE INDEX bounces_campaign ON bounces (campaign_id);
    CREATE UNIQUE INDEX bounces_once ON bounces (message_id, recipient, kind)
        WHERE message_id != '';
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE CASCADE,
        list_id INTEGER REFERENCES lists (id) ON DELETE SET NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_subscriber ON events (subscriber_id);
    CREATE TABLE suppressions (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('email', 'domain', 'hash')),
        value TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        UNIQUE (kind, value)
    );
    """,
    # 2: opt-outs outlive the list they were given to. A list of the same name
    # created later starts with these people unsubscribed, so re-importing the
    # old contact file into it cannot bring them back.
    """
    CREATE TABLE list_optouts (
        list_name TEXT NOT NULL,
        subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
        unsubscribed_at TEXT,
        PRIMARY KEY (list_name, subscriber_id)
    ) WITHOUT ROWID;
    """,
    # 3: a bounce row says how it proved itself (``proof``: a VERP token, a signed
    # Message-ID, our own SMTP session, a recent letter to the address, a mailto
    # token; empty when it proved nothing and acted on nobody), and a request to
    # leave that came by mail is a kind of its own. SQLite cannot change a CHECK
    # constraint in place, so the table is made anew and the rows copied.
    """
    CREATE TABLE bounces_new (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        message_id TEXT NOT NULL DEFAULT '',
        recipient TEXT NOT NULL DEFAULT '',
        subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
        campaign_id INTEGER REFERENCES campaigns (id) ON DELETE SET NULL,
        kind TEXT NOT NULL
            CHECK (kind IN ('hard', 'soft', 'complaint', 'delayed', 'auto-reply', 'unknown',
                            'unsubscribe')),
        status TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT '',
        diagnostic TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL DEFAULT '',
        proof TEXT NOT NULL DEFAULT ''
            CHECK (proof IN ('', 'verp', 'message-id', 'smtp', 'address', 'mailto'))
    );
    INSERT INTO bounces_new (id, received_at, message_id, recipient, subscriber_id,
        campaign_id, kind, status, reason, diagnostic, source, proof)
    SELECT id, received_at, message_id, recipient, subscriber_id, campaign_id,
        CASE WHEN reason = 'unsubscribe-request' THEN 'unsubscribe' ELSE kind END,
        status, reason, diagnostic, source,
        CASE WHEN reason = 'unsubscribe-request' THEN 'mailto'
             WHEN source = 'smtp' THEN 'smtp'
             WHEN campaign_id IS NOT NULL THEN 'verp'
             WHEN subscriber_id IS NOT NULL THEN 'address'
             ELSE '' END
    FROM bounces;
    DROP TABLE bounces;
    ALTER TABLE bounces_new RENAME TO bounces;
    CREATE INDEX bounces_subscriber ON bounces (subscriber_id);
    CREATE INDEX bounces_campaign ON bounces (campaign_id);
    CREATE UNIQUE INDEX bounces_once ON bounces (message_id, recipient, kind)
        WHERE message_id != '';
    """,
    _expired_column,
    # 5: the international circular. People and lists have languages (BCP 47
    # tags; a list's default and the set it offers, comma-separated); a campaign
    # may go to several lists (``campaign_lists``, in the order given; each
    # delivery names the list its recipient is on), may wait for a set time
    # (state ``scheduled``, ``scheduled_at`` in UTC and the zone it was given
    # in), may be a list's welcome letter (kind ``welcome``: it never finishes,
    # and each new member is added to it), and keeps the files that came with
    # its letter (translations, attachments, images) so that a resume sends
    # what was checked even if the files change. The campaigns table is made
    # anew for its CHECK constraints; the foreign keys that point at it are off
    # while it is (``store.database.migrate``).
    """
    CREATE TABLE campaigns_new (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        list_id INTEGER REFERENCES lists (id) ON DELETE SET NULL,
        list_name TEXT NOT NULL DEFAULT '',
        subject TEXT NOT NULL,
        letter_path TEXT NOT NULL DEFAULT '',
        letter_source TEXT NOT NULL,
        letter_hash TEXT NOT NULL,
        segment TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'created'
            CHECK (state IN ('created', 'scheduled', 'sending', 'paused', 'done', 'cancelled')),
        kind TEXT NOT NULL DEFAULT 'letter' CHECK (kind IN ('letter', 'welcome')),
        recipients INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        scheduled_at TEXT,
        scheduled_zone TEXT NOT NULL DEFAULT '',
        started_at TEXT,
        finished_at TEXT
    );
    INSERT INTO campaigns_new (id, list_id, list_name, subject, letter_path, letter_source,
        letter_hash, segment, state, recipients, created_at, started_at, finished_at)
    SELECT id, list_id, list_name, subject, letter_path, letter_source, letter_hash, segment,
        state, recipients, created_at, started_at, finished_at
    FROM campaigns;
    DROP TABLE campaigns;
    ALTER TABLE campaigns_new RENAME TO campaigns;
    CREATE INDEX campaigns_due ON campaigns (state, scheduled_at);
    CREATE TABLE campaign_lists (
        campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        list_id INTEGER REFERENCES lists (id) ON DELETE SET NULL,
        list_name TEXT NOT NULL,
        PRIMARY KEY (campaign_id, position)
    ) WITHOUT ROWID;
    INSERT INTO campaign_lists (campaign_id, position, list_id, list_name)
    SELECT id, 0, list_id, list_name FROM campaigns;
    CREATE TABLE campaign_files (
        campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('translation', 'attachment', 'image')),
        name TEXT NOT NULL,
        language TEXT NOT NULL DEFAULT '',
        content BLOB NOT NULL,
        PRIMARY KEY (campaign_id, role, name)
    ) WITHOUT ROWID;
    ALTER TABLE deliveries ADD COLUMN list_id INTEGER;
    ALTER TABLE subscribers ADD COLUMN language TEXT NOT NULL DEFAULT '';
    ALTER TABLE lists ADD COLUMN language TEXT NOT NULL DEFAULT '';
    ALTER TABLE lists ADD COLUMN languages TEXT NOT NULL DEFAULT '';
    ALTER TABLE lists ADD COLUMN welcome_campaign_id INTEGER
        REFERENCES campaigns (id) ON DELETE SET NULL;
    """,
    _provider_proof,
    # 7: mail that arrives. ``inbound`` logs every message the intake took or
    # dropped (no message kept: the route, the outcome and why), and a message
    # and recipient are taken once. ``posts`` are messages to a list's posting
    # address, kept whole with their status for moderation. ``replies`` are
    # answers to a circular, with the campaign and subscriber their signed
    # address proved (none when it proved nothing), their text, and the
    # message and attachments in files under the replies folder
    # (``reply_attachments`` names them). The route is not a CHECKed word:
    # new routes come without rebuilding the table.
    """
    CREATE TABLE inbound (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        message_id TEXT NOT NULL,
        recipient TEXT NOT NULL DEFAULT '',
        route TEXT NOT NULL,
        sender TEXT NOT NULL DEFAULT '',
        size INTEGER NOT NULL DEFAULT 0,
        outcome TEXT NOT NULL CHECK (outcome IN ('stored', 'dropped')),
        reason TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX inbound_once ON inbound (message_id, recipient);
    CREATE INDEX inbound_received ON inbound (received_at);
    CREATE TABLE posts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at TEXT NOT NULL,
        list_id INTEGER REFERENCES lists (id) ON DELETE SET NULL,
        list_name TEXT NOT NULL,
        sender TEXT NOT NULL DEFAULT '',
        sender_name TEXT NOT NULL DEFAULT '',
        subject TEXT NOT NULL DEFAULT '',
        message_id TEXT NOT NULL DEFAULT '',
        raw BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'held'
            CHECK (status IN ('held', 'approved', 'rejected', 'discarded')),
        reason TEXT NOT NULL DEFAULT '',
        decided_at TEXT
    );
    CREATE INDEX posts_list ON posts (list_id, status);
    CREATE TABLE replies (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at TEXT NOT NULL,
        message_id TEXT NOT NULL,
        recipient TEXT NOT NULL DEFAULT '',
        campaign_id INTEGER REFERENCES campaigns (id) ON DELETE SET NULL,
        subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
        verified INTEGER NOT NULL DEFAULT 0,
        sender TEXT NOT NULL DEFAULT '',
        sender_name TEXT NOT NULL DEFAULT '',
        subject TEXT NOT NULL DEFAULT '',
        sent_at TEXT,
        text TEXT NOT NULL DEFAULT '',
        folder TEXT NOT NULL DEFAULT '',
        forward TEXT NOT NULL DEFAULT ''
            CHECK (forward IN ('', 'pending', 'sent', 'failed')),
        forward_note TEXT NOT NULL DEFAULT '',
        forwarded_at TEXT
    );
    CREATE INDEX replies_campaign ON replies (campaign_id);
    CREATE INDEX replies_subscriber ON replies (subscriber_id);
    CREATE INDEX replies_forward ON replies (forward) WHERE forward = 'pending';
    CREATE TABLE reply_attachments (
        reply_id INTEGER NOT NULL REFERENCES replies (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        filename TEXT NOT NULL DEFAULT '',
        content_type TEXT NOT NULL DEFAULT '',
        size INTEGER NOT NULL DEFAULT 0,
        path TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (reply_id, position)
    ) WITHOUT ROWID;
    """,
    _posting,
    # 9: a finished campaign's rows per recipient may be pruned (``campaigns
    # prune``). Its counts are kept on the campaign first: when it was
    # pruned, its recipients by delivery state and those tried at least once,
    # its first and last letter sent;
    # each of its lists keeps its count of recipients (``campaign_lists``). The
    # failures stay rows, and the bounces are untouched.
    """
    ALTER TABLE campaigns ADD COLUMN pruned_at TEXT;
    ALTER TABLE campaigns ADD COLUMN pending_total INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE campaigns ADD COLUMN sent_total INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE campaigns ADD COLUMN deferred_total INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE campaigns ADD COLUMN failed_total INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE campaigns ADD COLUMN tried_total INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE campaigns ADD COLUMN first_sent_at TEXT;
    ALTER TABLE campaigns ADD COLUMN last_sent_at TEXT;
    ALTER TABLE campaign_lists ADD COLUMN recipients INTEGER;
    """,
    _digests,
]
