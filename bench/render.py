"""Render and assemble N personalised messages of a letter on one core; print messages/s.

Run: ``python bench/render.py [--count 20000] [--letter letters/example.md]``.
Also times a naive baseline on a smaller sample: rendering the same HTML and
text per recipient, then building an ``email.message.EmailMessage`` and
serialising it, which is how a message is usually made, for the ratio.
"""

from __future__ import annotations

import argparse
import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from mailer.config import Config
from mailer.errors import MailerError
from mailer.letters.compile import CompiledLetter, compile_letter
from mailer.letters.source import load_letter
from mailer.store.models import MailingList, Recipient
from mailer.tokens import Signer

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["Ana Lima", "Jörg Schäfer", "Zoë O'Neill", "李雷", "Fatima Zahra", "", "Miguel Ángel"]


def recipients(count: int) -> list[Recipient]:
    """Varied recipients: ASCII and non-ASCII names, some without a name."""
    return [
        Recipient(
            email=f"member{i}@example.org",
            name=NAMES[i % len(NAMES)],
            attributes={"branch": f"Branch {i % 17}"},
            subscriber_id=i + 1,
        )
        for i in range(count)
    ]


def naive(compiled: CompiledLetter, people: list[Recipient]) -> float:
    """Messages/s when each message is an EmailMessage built and serialised per recipient."""
    start = time.perf_counter()
    for person in people:
        html, text = compiled.render(person)
        message = EmailMessage()
        message["From"] = Address("Newsletter", addr_spec="newsletter@example.org")
        message["To"] = Address(person.name, addr_spec=person.email)
        message["Subject"] = compiled.subject
        message["List-Unsubscribe"] = f"<{compiled.unsubscribe_url(person)}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(text, cte="quoted-printable")
        message.add_alternative(html, subtype="html", cte="quoted-printable")
        message.as_bytes(policy=SMTP)
    return len(people) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="messages to build")
    parser.add_argument("--baseline", type=int, default=2_000, help="messages for the baseline")
    parser.add_argument("--letter", type=Path, default=ROOT / "letters" / "example.md")
    args = parser.parse_args()
    if args.count < 1 or args.baseline < 1:
        parser.error("--count and --baseline must be at least 1")
    try:
        letter = load_letter(args.letter)
    except MailerError as exc:
        raise SystemExit(f"error: {exc}") from None
    mailing_list = MailingList(1, "members", "Members of the union", "", False, False, "")
    started = time.perf_counter()
    compiled = compile_letter(
        letter, config=Config(), mailing_list=mailing_list, signer=Signer("bench"), campaign_id=1
    )
    compile_ms = (time.perf_counter() - started) * 1000
    people = recipients(args.count)

    start = time.perf_counter()
    total = 0
    for person in people:
        total += len(compiled.build(person).data)
    elapsed = time.perf_counter() - start
    rate = args.count / elapsed
    baseline = naive(compiled, people[: args.baseline])
    print(f"letter: {args.letter.name}, compiled once in {compile_ms:.1f} ms")
    print(f"mailer: {args.count} messages in {elapsed:.2f} s = {rate:,.0f} messages/s")
    print(f"        average message {total / args.count / 1024:.1f} KB")
    print(f"naive EmailMessage per recipient: {baseline:,.0f} messages/s")
    verdict = "met" if rate >= 5000 else "NOT met"
    print(f"ratio: {rate / baseline:.1f}x  (target 5,000 messages/s: {verdict})")


if __name__ == "__main__":
    main()
