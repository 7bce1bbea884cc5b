"""Benchmark: time ``mailer subscribers import`` on a generated contact file.

    python bench/import.py [--rows 1000000] [--invalid 0.01] [--duplicates 0.01]

Generates a CSV of N rows (email, name, city, country, joined; a share of the
addresses invalid, a share repeating an earlier address in another case),
creates a fresh database and list in a temporary folder, runs the import as a
child process and prints its wall time, rows per second and peak resident
memory (the child's ``ru_maxrss``). ``--rerun`` imports the same file a
second time, which must change nothing. It is a benchmark, not a test: the
figures depend on the machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CITIES = [
    ("Lima", "PE"),
    ("Cusco", "PE"),
    ("Arequipa", "PE"),
    ("Trujillo", "PE"),
    ("La Paz", "BO"),
    ("Quito", "EC"),
    ("Bogotá", "CO"),
    ("Santiago", "CL"),
    ("Buenos Aires", "AR"),
    ("Montevideo", "UY"),
]
DOMAINS = ["example.org", "example.com", "example.net", "correo.example.pe", "mail.example.bo"]
FIRST = ["Ana", "Luis", "María", "José", "Rosa", "Jorge", "Carmen", "Pedro", "Lucía", "Raúl"]
LAST = ["Quispe", "Mamani", "Flores", "García", "Huamán", "Rojas", "Torres", "Díaz", "Vargas"]
INVALID = [
    "no-at-sign.example.org",
    "two@@example.org",
    "trailing.dot.@example.org",
    "space in@example.org",
    "x@nodot",
    "",
    "a@b.c1",
    "@example.org",
]


def generate(path: Path, rows: int, invalid: float, duplicates: float, seed: int) -> None:
    """Write the CSV: unique addresses, with the asked shares of invalid and repeated rows."""
    rng = random.Random(seed)
    recent: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "city", "country", "joined"])
        for number in range(rows):
            draw = rng.random()
            if draw < invalid:
                email = rng.choice(INVALID)
            elif draw < invalid + duplicates and recent:
                email = rng.choice(recent).upper()
            else:
                first, last = rng.choice(FIRST), rng.choice(LAST)
                email = f"{first[0].lower()}.{last.lower()}{number}@{rng.choice(DOMAINS)}"
                email = email.encode("ascii", "ignore").decode()
                if len(recent) < 1000:
                    recent.append(email)
                else:
                    recent[number % 1000] = email
            city, country = rng.choice(CITIES)
            joined = f"20{rng.randint(10, 26)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            writer.writerow(
                [email, f"{rng.choice(FIRST)} {rng.choice(LAST)}", city, country, joined]
            )


def mailer(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the mailer command line in ``folder`` (its own mailer.toml and database)."""
    command = [sys.executable, "-m", "mailer", "--db", str(folder / "bench.db"), *args]
    return subprocess.run(command, cwd=folder, check=True, capture_output=True, text=True)


def timed_import(folder: Path, csv_path: Path) -> tuple[float, float, dict[str, object]]:
    """Wall time, CPU time (user + system) and the JSON report of one import run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = mailer(folder, "subscribers", "import", str(csv_path), "--list", "bench", "--json")
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--invalid", type=float, default=0.01)
    parser.add_argument("--duplicates", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rerun", action="store_true", help="import the same file again")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mailer-bench-") as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        csv_path = folder / "contacts.csv"
        started = time.perf_counter()
        generate(csv_path, args.rows, args.invalid, args.duplicates, args.seed)
        size = csv_path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows ({size:.1f} MB) in {time.perf_counter() - started:.1f} s"
        )
        (folder / "bench.db").unlink(missing_ok=True)
        mailer(folder, "init")
        mailer(folder, "lists", "create", "bench")
        seconds, cpu, report = timed_import(folder, csv_path)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        counts = {
            k: report[k]
            for k in ("rows", "added", "already_subscribed", "suppressed", "invalid", "duplicates")
        }
        print(
            f"import: {seconds:.1f} s, {args.rows / seconds:,.0f} rows/s, "
            f"CPU {cpu:.1f} s, peak RSS {peak:.0f} MB"
        )
        print(f"counts: {counts}")
        if args.rerun:
            seconds, cpu, report = timed_import(folder, csv_path)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(
                f"re-import: {seconds:.1f} s, {args.rows / seconds:,.0f} rows/s, CPU {cpu:.1f} s, "
                f"peak RSS {peak:.0f} MB; added {report['added']}, "
                f"already subscribed {report['already_subscribed']}"
            )


if __name__ == "__main__":
    main()
