"""Render and assemble N personalised messages of a letter on one core; print messages/s.

Run: ``python bench/render.py [--count 20000] [--letter letters/example.md]``.
Also times a naive baseline on a smaller sample: rendering the same HTML and
text per recipient, then building an ``email.message.EmailMessage`` and
serialising it, which is how a message is usually made, for the ratio.

In the same run it builds the letter again with a 1 MB PDF attached (made in
the run by the tests' sample-file writer) and prints that case's messages/s
and its ratio to the plain letter's, two ways: the message as its parts (what
``build`` makes: the attachment's base64 is encoded once and every message
refers to it) and as one bytes object (``data``: the copy a transport takes).
It also builds the letter in three languages (the example as the English
original, and Spanish and German translations made from it in the run) for a
list whose members read English, Spanish, German, Brazilian Portuguese or
nothing known, each getting their edition (``letters.editions``: each edition
is compiled once), and prints its messages/s and ratio to the plain letter.
Each case runs ``--rounds`` times, alternating, and the best round counts.
Rates are per second of the process's CPU time: the work of one core, which
other work on a shared machine moves far less than it moves the wall clock.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

from mailer.config import Config
from mailer.errors import MailerError
from mailer.letters.compile import CompiledLetter, MessageBuilder, compile_letter
from mailer.letters.editions import CompiledEditions, Editions, merge
from mailer.letters.files import LetterFile
from mailer.letters.source import Letter, load_letter, parse_letter
from mailer.store.models import MailingList, Recipient
from mailer.tokens import Signer

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["Ana Lima", "Jörg Schäfer", "Zoë O'Neill", "李雷", "Fatima Zahra", "", "Miguel Ángel"]


#: The languages the members of the three-language case read ("" = not known).
READERS = ["en", "es", "de", "pt-BR", ""]


def recipients(count: int) -> list[Recipient]:
    """Varied recipients: ASCII and non-ASCII names, some without a name, several languages."""
    return [
        Recipient(
            email=f"member{i}@example.org",
            name=NAMES[i % len(NAMES)],
            attributes={"branch": f"Branch {i % 17}"},
            subscriber_id=i + 1,
            language=READERS[i % len(READERS)],
            list_id=1,
        )
        for i in range(count)
    ]


def three_languages(letter: Letter) -> Editions:
    """The letter as the English original with a Spanish and a German translation."""
    original = parse_letter(letter.source.replace("\n", "\nlanguage: en\n", 1), letter.path)
    translations = {}
    for tag, subject in (("es", "Carta circular"), ("de", "Rundschreiben")):
        text = f'---\nsubject: "{subject}"\n---\n\n{letter.body}'
        translations[tag] = merge(
            original, parse_letter(text, letter.path.with_name(f"example.{tag}.md")), tag
        )
    return Editions(original, translations)


def naive(compiled: CompiledLetter, people: list[Recipient]) -> float:
    """Messages/s when each message is an EmailMessage built and serialised per recipient."""
    start = time.process_time()
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
    return len(people) / (time.process_time() - start)


def large_pdf(size: int = 1 << 20) -> bytes:
    """A valid one-page PDF with an image of ``size`` random bytes: the tests' sample PDF."""
    sys.path.insert(0, str(ROOT))
    from tests.sample_files import pdf

    return pdf("Resolution of the assembly", noise=size)


def with_attachment(letter: Letter, name: str) -> Letter:
    """The same letter with ``attachments: [name]`` in its front matter."""
    source = letter.source.replace("\n", f"\nattachments: [{name}]\n", 1)
    return parse_letter(source, letter.path)


def rate(compiled: MessageBuilder, people: list[Recipient], joined: bool) -> float:
    """Messages/s building each person's message (and joining it into one bytes object)."""
    start = time.process_time()
    if joined:
        for person in people:
            len(compiled.build(person).data)
    else:
        for person in people:
            compiled.build(person).size  # noqa: B018 - the parts, as build returns them
    return len(people) / (time.process_time() - start)


def best_rates(
    cases: dict[str, MessageBuilder], people: list[Recipient], rounds: int
) -> dict[tuple[str, bool], float]:
    """The best of ``rounds`` alternating runs of every case, as parts and joined."""
    best: dict[tuple[str, bool], float] = {}
    for _ in range(rounds):
        for name, compiled in cases.items():
            for joined in (True, False):
                found = rate(compiled, people, joined)
                best[(name, joined)] = max(best.get((name, joined), 0.0), found)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="messages to build")
    parser.add_argument("--baseline", type=int, default=2_000, help="messages for the baseline")
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs of each case")
    parser.add_argument("--letter", type=Path, default=ROOT / "letters" / "example.md")
    args = parser.parse_args()
    if args.count < 1 or args.baseline < 1 or args.rounds < 1:
        parser.error("--count, --baseline and --rounds must be at least 1")
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
    document = LetterFile.of("resolution.pdf", large_pdf())
    attached = compile_letter(
        with_attachment(letter, document.name),
        config=Config(),
        mailing_list=mailing_list,
        signer=Signer("bench"),
        campaign_id=1,
        files={document.name: document},
    )
    editions = CompiledEditions(
        three_languages(letter),
        config=Config(),
        lists=[dataclasses.replace(mailing_list, language="es", languages=("es", "de", "en"))],
        signer=Signer("bench"),
        campaign_id=1,
    )
    people = recipients(args.count)
    cases: dict[str, MessageBuilder] = {"plain": compiled, "pdf": attached, "three": editions}
    best = best_rates(cases, people, args.rounds)
    sizes = [compiled.build(people[0]).size, attached.build(people[0]).size]
    baseline = naive(compiled, people[: args.baseline])
    plain = best[("plain", True)]
    print(f"letter: {args.letter.name}, compiled once in {compile_ms:.1f} ms")
    print(f"mailer: {args.count} messages, best of {args.rounds}: {plain:,.0f} messages/s")
    print(f"        average message {sizes[0] / 1024:.1f} KB")
    print(f"naive EmailMessage per recipient: {baseline:,.0f} messages/s")
    verdict = "met" if plain >= 5000 else "NOT met"
    print(f"ratio: {plain / baseline:.1f}x  (target 5,000 messages/s: {verdict})")
    print(f"        as parts, without the join a transport does: {best[('plain', False)]:,.0f}"
          " messages/s")
    print(f"with a {document.size / (1 << 20):.1f} MB PDF attached ({sizes[1] / (1 << 20):.2f} MB "
          "a message):")
    for joined, what in ((False, "as parts (what build makes)"), (True, "joined into one bytes")):
        found, ratio = best[("pdf", joined)], best[("pdf", joined)] / best[("plain", joined)]
        verdict = "met" if ratio >= 0.8 else "NOT met"
        print(f"        {what}: {found:,.0f} messages/s, ratio to the plain letter {ratio:.2f}"
              f" (target 0.8: {verdict})")
    three, ratio = best[("three", True)], best[("three", True)] / plain
    verdict = "met" if ratio >= 0.8 else "NOT met"
    print(f"in three languages (en, es, de; readers of en, es, de, pt-BR and none): {three:,.0f}"
          f" messages/s, ratio to the plain letter {ratio:.2f} (target 0.8: {verdict})")


if __name__ == "__main__":
    main()
