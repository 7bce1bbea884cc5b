"""Benchmark: ``mailer campaigns report`` on a campaign of 100,000 deliveries.

    python bench/report.py [--recipients 100000] [--rounds 3]

Makes a fresh database in a temporary folder: N subscribers through the real
import, spread over 400 domains (a few large mailbox providers, many small
ones), a fifth of them reading German and a tenth Spanish; a letter with
both translations sent to them as one campaign (the recipients snapshotted
by the planner, as ``mailer send`` does). Then it writes the outcomes a
send over 50 minutes might leave, through the store's own writes: most
taken by the relay, some refused (5xx), some deferred (4xx, a few given
up), a few never tried; proven hard and soft bounces, delays and
complaints (these as a provider's reports that name no campaign); a few
unverified reports.

In the same run it measures, as child processes, the best of ``--rounds``:

- ``mailer campaigns report 1 -o report.html`` (what a user waits for);
- the baseline: ``mailer campaigns show 1`` on the same database (the same
  process start and configuration, and the campaign's counters);
- ``mailer report`` (the lists' weeks, all N members having joined this week);

and, in this process, the report's two halves: gathering the figures
(``campaign_report``: the SQL, the letter built again per edition) and the
page (``campaign_page``: the charts drawn by matplotlib, the templates). It
prints each, the ratio of the report to the baseline, and the page's size.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from send import make_database  # noqa: E402  (bench/send.py: the list, by the real import)

from mailer import clock  # noqa: E402
from mailer.config import load_config  # noqa: E402
from mailer.dispatch.plan import create_campaign, plan_send  # noqa: E402
from mailer.letters.editions import load_editions  # noqa: E402
from mailer.reports.campaign import campaign_report  # noqa: E402
from mailer.reports.campaign_page import campaign_page  # noqa: E402
from mailer.store import (  # noqa: E402
    Store,
    bounces,
    campaigns,
    deliveries,
    lists,
    open_store,
    subscribers,
)
from mailer.store.models import CampaignState, Proof  # noqa: E402

#: The large providers and their share of the recipients; the rest go to small domains.
LARGE = [("gmail.com", 30), ("yahoo.com", 8), ("outlook.com", 8), ("hotmail.com", 5),
         ("gmx.de", 5), ("web.de", 4), ("t-online.de", 3), ("orange.fr", 3),
         ("free.fr", 2), ("icloud.com", 2)]
SMALL = 390
SENT_OVER_MINUTES = 50
LETTER = """---
subject: "Circular: the assembly in spring"
language: en
---

Dear {{ subscriber.name }},

the assembly meets on **14 March**. The agenda and the motions follow.

1. Reports of the federations
2. The budget
3. Elections
"""
TRANSLATIONS = {
    "de": '---\nsubject: "Rundschreiben: die Versammlung im Frühjahr"\n---\n\n'
          "Liebe {{ subscriber.name }},\n\ndie Versammlung tagt am **14. März**.\n",
    "es": '---\nsubject: "Circular: la asamblea de primavera"\n---\n\n'
          "Estimada {{ subscriber.name }},\n\nla asamblea se reúne el **14 de marzo**.\n",
}


def domain_of(number: int) -> str:
    """Recipient ``number``'s domain: the large providers by their share, then small ones."""
    slot = number % 100
    for domain, share in LARGE:
        if slot < share:
            return domain
        slot -= share
    return f"federation-{number % SMALL:03d}.example"


def make_campaign(store: Store, folder: Path) -> int:
    """The letter and its translations as one campaign to the list."""
    (folder / "spring.md").write_text(LETTER, encoding="utf-8")
    for tag, text in TRANSLATIONS.items():
        (folder / f"spring.{tag}.md").write_text(text, encoding="utf-8")
    members = lists.get_list(store, "members")
    plan = plan_send(store, load_editions(folder / "spring.md"), [members], "")
    campaign_id = create_campaign(store, plan).id
    campaigns.set_state(store, campaign_id, CampaignState.SENDING)
    return campaign_id


def outcome(
    number: int, subscriber_id: int, campaign_id: int, start: datetime
) -> tuple[object, ...] | None:
    """What became of recipient ``number`` (``record_outcomes``' parameters) in a send
    that began at ``start``; None: never tried."""
    at = clock.iso(start + timedelta(minutes=number * SENT_OVER_MINUTES // 100_000,
                                     seconds=number % 60))
    roll = number % 1000
    if roll < 10:
        return None  # 1%: never tried (the send was stopped)
    if roll < 30:  # 2%: refused outright
        return ("failed", 1, 550, "5.1.1 user unknown", f"<{number}@bench>", "", at, None,
                None, 0, campaign_id, subscriber_id)
    if roll < 50:  # 2%: deferred; one in four of them given up on
        code = (421, 451, 452)[number % 3]
        expired = 1 if number % 4 == 0 else 0
        return ("failed" if expired else "deferred", 3, code, "try again later",
                f"<{number}@bench>", "", at, None if expired else at, None, expired,
                campaign_id, subscriber_id)
    attempts = 2 if roll < 60 else 1  # 1% taken only at a later attempt
    return ("sent", attempts, 250, "ok", f"<{number}@bench>", "q", at, None, at, 0,
            campaign_id, subscriber_id)


#: After the send: (every n-th sent recipient, kind, reason, proof).
REPORTS = [(97, "hard", "user_unknown", Proof.VERP), (131, "soft", "mailbox_full", Proof.VERP),
           (173, "delayed", "greylisted", Proof.MESSAGE_ID), (211, "hard", "no_domain", Proof.VERP),
           (1999, "complaint", "abuse", Proof.PROVIDER), (503, "hard", "", Proof.NONE)]


def recipients(store: Store, campaign_id: int) -> list[tuple[int, str]]:
    """The campaign's recipients (subscriber id, address), as the sender pages them."""
    found: list[tuple[int, str]] = []
    while page := deliveries.due_page(store, campaign_id, None, after=found[-1][0] if found
                                      else 0, as_of="9999", limit=10_000):
        found += [(due.subscriber_id, due.email) for due in page]
    return found


def record(store: Store, campaign_id: int, start: datetime) -> int:
    """The readers' languages, every recipient's outcome, then the reports that came back
    (now, after the send); how many recipients."""
    rows = recipients(store, campaign_id)
    with store.transaction() as conn:
        for sid, email in rows:
            if int(email[6:13]) % 10 < 3:
                subscribers.set_language(conn, sid, "de" if int(email[6:13]) % 10 < 2 else "es")
        found = [outcome(int(email[6:13]), sid, campaign_id, start) for sid, email in rows]
        deliveries.record_outcomes(conn, [row for row in found if row is not None])
        for sid, email in rows:
            number = int(email[6:13])
            if number % 1000 < 50:
                continue
            for every, kind, reason, proof in REPORTS:
                if number % every == 0:
                    # A provider's report names the person; the letter only if it quotes
                    # our Message-ID, which these do not: the report puts them down to it.
                    named = None if proof is Proof.PROVIDER else campaign_id
                    bounces.insert(conn, bounces.NewBounce(
                        f"<{kind}-{number}@bench>", email, kind, "5.0.0", reason, "", "bench",
                        sid, named, proof))
    return len(rows)


def best(command: list[str], folder: Path, env: dict[str, str], rounds: int) -> Timing:
    """The shortest wall and CPU times of ``rounds`` runs of ``mailer COMMAND`` as a child
    process (the CPU time is the child's own, user and system)."""
    wall = cpu = float("inf")
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mailer", *command], cwd=folder, env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = min(wall, time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = min(cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return Timing(wall, cpu)


@dataclass(frozen=True)
class Timing:
    """Seconds by the wall clock and of CPU time (which a busy machine moves far less)."""

    wall: float
    cpu: float

    def __str__(self) -> str:
        return f"{self.wall:.2f} s wall, {self.cpu:.2f} s CPU"


def halves(folder: Path, campaign_id: int, rounds: int) -> tuple[float, float, int]:
    """The best CPU times of gathering the report and of making its page, and the page's
    size (the first round, which imports matplotlib, counts too)."""
    config = load_config(folder / "mailer.toml", db=folder / "mailer.db")
    store = open_store(config.db_path)
    gather = page = float("inf")
    size = 0
    for _ in range(rounds):
        start = time.process_time()
        report = campaign_report(config, store, campaign_id)
        middle = time.process_time()
        size = len(campaign_page(config, report).encode("utf-8"))
        end = time.process_time()
        gather, page = min(gather, middle - start), min(page, end - middle)
    store.close()
    return gather, page, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="make the database in this new folder, "
                        "and keep it (to look at the report, or profile it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mailer-bench-report-") as name:
        folder = args.keep or Path(name)
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MAILER_SECRET_KEY": "bench-" + "k" * 40,
               "PYTHONPATH": str(ROOT)}
        os.environ["MAILER_SECRET_KEY"] = env["MAILER_SECRET_KEY"]
        started = time.perf_counter()
        make_database(folder, args.recipients, env, domain_of)
        store = open_store(folder / "mailer.db")
        # The send began two hours ago and took 50 minutes; the reports came since.
        start = clock.now().replace(second=0, microsecond=0) - timedelta(hours=2)
        clock.set_clock(lambda: start)
        campaign_id = make_campaign(store, folder)
        clock.set_clock(None)
        count = record(store, campaign_id, start)
        campaigns.set_state(store, campaign_id, CampaignState.DONE)
        store.close()
        print(f"made a campaign of {count:,} deliveries in {time.perf_counter() - started:.1f} s "
              f"({clock.now_iso()})")
        report = best(["campaigns", "report", str(campaign_id), "-o", "report.html"], folder,
                      env, args.rounds)
        show = best(["campaigns", "show", str(campaign_id)], folder, env, args.rounds)
        lists_report = best(["report", "-o", "list-report.html"], folder, env, args.rounds)
        gather, page, size = halves(folder, campaign_id, args.rounds)
        print(f"campaigns report: {report} (best of {args.rounds}, a child process)")
        print(f"campaigns show (baseline): {show}; the report takes {report.wall / show.wall:.1f}x "
              f"by the wall clock, {report.cpu / show.cpu:.1f}x in CPU time")
        print(f"mailer report (the lists' weeks; {args.recipients:,} joins): {lists_report}")
        print(f"in process, CPU time: figures gathered in {gather:.2f} s, page drawn in "
              f"{page:.2f} s; the page is {size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
