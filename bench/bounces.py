"""Measure the bounce parser on a corpus: accuracy (by the corpus's scorer) and speed.

    python bench/bounces.py [DIR]

DIR defaults to ``<repo>/../shared/bounces`` and must hold ``messages/``,
``expected.json`` and ``score.py``. Without it there is nothing to measure,
which is said plainly and is not an error.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

PASSES = 5
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mailer.bounces import parse_message  # noqa: E402
from mailer.bounces.wording import forget_wordings  # noqa: E402


def main(argv: list[str]) -> int:
    """Parse the corpus, time it, score it; exit status 0 even without a corpus."""
    if len(argv) > 1 and argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    corpus = Path(argv[1]) if len(argv) > 1 else REPO.parent / "shared" / "bounces"
    messages = corpus / "messages"
    if not messages.is_dir() or not (corpus / "score.py").exists():
        print(f"no bounce corpus at {corpus} (want messages/, expected.json, score.py); "
              "nothing to measure")
        return 0
    files = sorted(p for p in messages.iterdir() if p.is_file())
    raws = [(p, p.read_bytes()) for p in files]
    # Several passes: the best is the parser's speed, the median what a busy
    # machine gave; both are printed.
    timings = []
    for _ in range(PASSES):
        forget_wordings()
        start = time.perf_counter()
        for _path, raw in raws:
            parse_message(raw)
        timings.append(time.perf_counter() - start)
    elapsed = min(timings)
    median = sorted(timings)[len(timings) // 2]
    # What is scored is what a user gets: the command's own JSON output.
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as out:
        subprocess.run(
            [sys.executable, "-m", "mailer", "bounces", "parse", "--json", str(messages)],
            stdout=out, check=True, cwd=REPO,
        )
    score = subprocess.run(
        [sys.executable, str(corpus / "score.py"), str(corpus / "expected.json"), out.name,
         *argv[2:]],
        capture_output=True, text=True, check=False,
    )
    Path(out.name).unlink()
    print(score.stdout.rstrip())
    if score.stderr.strip():
        print(score.stderr.rstrip(), file=sys.stderr)
    rate = len(files) / elapsed if elapsed else float("inf")
    median_rate = len(files) / median if median else float("inf")
    print(
        f"parsed {len(files)} messages in {elapsed:.3f} s: {rate:,.0f} messages/s "
        f"(best of {PASSES} passes; median {median_rate:,.0f} messages/s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
