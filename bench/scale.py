"""Benchmark: a list of N subscribers through import, check, send and listing.

    python bench/scale.py [--subscribers 100000] [--connections 16] [--compare-ls PATH]

Generates a contact file of N people, then runs each step as a child
process on one fresh database in a temporary folder and prints a table of
each step's wall time, CPU time and peak resident memory (that child's
``ru_maxrss``, read by ``os.wait4``: the memory of that command alone):

- ``subscribers import`` of the N rows into one list;
- ``letters check letters/example.md --list`` (every recipient's message built);
- ``send`` of that letter to Postfix's ``smtp-sink`` (as ``bench/send.py``);
- ``subscribers ls --list --json`` read to the end, with the time to its first byte.

``--compare-ls PATH`` also imports and lists with the mailer package found
in PATH (another checkout, say the code before the listing streamed), in
the same run, on a database of its own made from the same contact file.
``--skip STEP`` leaves a step out. The targets (docs/benchmarks.md): an
import of 10,000,000 in under 5 minutes, the send and the listing under
150 MB each. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from send import LETTER, at_least_one, clean_up, sink_env, start_sink

STEPS = ("import", "check", "send", "ls")
CITIES = ["Lima", "La Paz", "Quito", "Bogotá", "Santiago", "Recife", "Hamburg", "Lyon"]


@dataclass
class Measured:
    """One step: its wall time, its child's peak RSS, bytes written, time to first byte."""

    step: str
    seconds: float
    rss_mb: float
    #: User and system CPU time: on a shared machine it moves far less than the wall time.
    cpu: float = 0.0
    output_bytes: int = 0
    first_byte: float | None = None
    #: What the command printed, when it is a summary (not a listing).
    summary: str = ""


def write_contacts(path: Path, count: int) -> None:
    """N distinct people with a name and two attributes, written a block at a time."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write("email,name,city,member_since\n")
        for start in range(0, count, 100_000):
            handle.write("".join(
                f"member{n:08d}@example.com,Member {n},{CITIES[n % len(CITIES)]},"
                f"{2000 + n % 26}\n"
                for n in range(start, min(start + 100_000, count))
            ))


def run_step(step: str, args: list[str], folder: Path, env: dict[str, str]) -> Measured:
    """``python -m mailer ARGS`` in ``folder``; standard output read as it comes."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "mailer", *args], cwd=folder, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    first_byte: float | None = None
    size = 0
    kept = bytearray()
    while chunk := process.stdout.read1(1 << 16):
        if first_byte is None:
            first_byte = time.monotonic() - started
        size += len(chunk)
        if len(kept) < 1 << 20:
            kept += chunk
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # check: 1 for errors in the letter
        raise SystemExit(f"{step} failed:\n{errors.decode(errors='replace')[-2000:]}")
    summary = kept.decode(errors="replace") if size < 1 << 20 else ""
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(step, seconds, usage.ru_maxrss / 1024, cpu, size, first_byte, summary)


def setup(folder: Path, env: dict[str, str]) -> None:
    """A database in ``folder`` with the list ``members``."""
    for args in (["init"], ["lists", "create", "members"]):
        subprocess.run([sys.executable, "-m", "mailer", *args], cwd=folder, env=env,
                       check=True, stdout=subprocess.DEVNULL)


def outcome(row: Measured) -> str:
    """The counts a step's JSON summary gives (added, sent, checked...), in brief."""
    data = json.loads(row.summary) if row.summary else None
    if not isinstance(data, dict):
        return f"({row.output_bytes / 1e6:,.1f} MB written)"
    keys = ("added", "invalid", "checked", "error_count", "sent", "failed", "deferred")
    return ", ".join(f"{k} {data[k]:,}" for k in keys if isinstance(data.get(k), int))


def print_table(rows: list[Measured], count: int) -> None:
    print(f"{'step':<22}{'wall s':>10}{'per s':>12}{'CPU s':>10}{'peak RSS MB':>14}"
          f"{'first byte s':>14}")
    for row in rows:
        first = f"{row.first_byte:.2f}" if row.first_byte is not None else "-"
        print(f"{row.step:<22}{row.seconds:>10.1f}{count / row.seconds:>12,.0f}{row.cpu:>10.1f}"
              f"{row.rss_mb:>14.1f}{first:>14}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=at_least_one, default=100_000)
    parser.add_argument("--connections", type=at_least_one, default=16)
    parser.add_argument("--skip", action="append", choices=STEPS, default=[])
    parser.add_argument("--compare-ls", type=Path, metavar="PATH",
                        help="Also list with the mailer package in this folder.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder.")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="mailer-bench-scale-"))
    sink, port, kind = start_sink("auto")
    env = sink_env(port)
    count = args.subscribers
    rows: list[Measured] = []
    try:
        started = time.monotonic()
        write_contacts(folder / "contacts.csv", count)
        print(f"{count:,} subscribers; contact file written in {time.monotonic() - started:.1f} s;"
              f" sink: {kind}; connections: {args.connections}", flush=True)
        commands = {
            "import": ["subscribers", "import", "contacts.csv", "--list", "members", "--json"],
            "check": ["letters", "check", str(LETTER), "--list", "members", "--json"],
            "send": ["send", str(LETTER), "--list", "members", "--yes", "--json",
                     "--concurrency", str(args.connections)],
            "ls": ["subscribers", "ls", "--list", "members", "--json"],
        }
        setup(folder, env)
        for step in STEPS:
            if step not in args.skip:
                rows.append(run_step(step, commands[step], folder, env))
                print(f"  {step}: {rows[-1].seconds:.1f} s {outcome(rows[-1])}", flush=True)
        if args.compare_ls is not None:
            # The other code may not open a database of a newer schema: it gets its own,
            # imported from the same contact file by itself.
            other = {**env, "PYTHONPATH": str(args.compare_ls.resolve())}
            second = folder / "other"
            second.mkdir()
            (folder / "contacts.csv").rename(second / "contacts.csv")
            setup(second, other)
            for step in ("import", "ls"):
                rows.append(run_step(f"{step} ({args.compare_ls.name})", commands[step], second,
                                     other))
        print_table(rows, count)
        database = sum(p.stat().st_size for p in folder.glob("mailer.db*")) / 1e6
        print(f"database: {database:,.0f} MB")
    finally:
        clean_up(sink, folder, keep=args.keep)


if __name__ == "__main__":
    main()
