"""Benchmark: ``mailer send`` against a local SMTP sink, beside a raw aiosmtplib baseline.

    python bench/send.py [--recipients 20000] [--connections 16] [--rounds 1]
                         [--sink auto|smtp-sink|aiosmtpd] [--dkim rsa] [--dkim ed25519]
                         [--profile]

Creates a fresh database in a temporary folder, imports N subscribers,
starts a local sink (Postfix's ``smtp-sink`` when installed, which accepts
far more than any Python sender can offer; else aiosmtpd in a child process,
which then limits the figures), and in each round measures, in turn:

- the baseline: raw aiosmtplib with the same number of reused connections
  sending the same number of pre-rendered messages, in this process;
- ``mailer send letters/example.md`` as a child process with the default
  settings (a worker per core, pipelining), its delivery rate, wall time,
  CPU time per message (its own and its workers') and peak resident memory;
- the same with one worker and no pipelining (``--workers 1``,
  ``MAILER_SMTP_PIPELINING=false``): one process, one command at a time.

``--dkim rsa`` (or ``ed25519``, or both) adds, in each round, the default
send DKIM-signed with a new key of that algorithm, and its rate against the
unsigned default send of the same round.

It prints every figure and the ratios to the baseline of the same round.
Several ``--rounds`` on a machine shared with other work show the spread.
``--profile`` then runs the one-worker pipelined send under cProfile and
prints the 15 functions with the most cumulative time (the worker's hot
path). Use ``--recipients 200000`` for the memory figure. A benchmark, not
a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pstats
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiosmtplib

ROOT = Path(__file__).resolve().parent.parent
LETTER = ROOT / "letters" / "example.md"
SMTP_SINK = "/usr/sbin/smtp-sink"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_sink(kind: str) -> tuple[subprocess.Popen[bytes], int, str]:
    """A sink in a child process (so it never competes with the measured process's loop)."""
    port = free_port()
    if kind == "auto":
        kind = "smtp-sink" if Path(SMTP_SINK).exists() else "aiosmtpd"
    if kind == "smtp-sink":
        command = [SMTP_SINK, "-c", f"127.0.0.1:{port}", "1000"]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "nobody"]
    else:
        command = [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return process, port, kind
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"the {kind} sink did not start")


def sink_env(port: int) -> dict[str, str]:
    """The environment of a mailer child: this checkout's code, the sink as its relay."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILER_")},
        "MAILER_SECRET_KEY": "bench-secret",
        "MAILER_SMTP_HOST": "127.0.0.1",
        "MAILER_SMTP_PORT": str(port),
        "MAILER_SMTP_TLS": "none",
        "PYTHONPATH": str(ROOT),
    }


def clean_up(sink: subprocess.Popen[bytes], folder: Path, *, keep: bool) -> None:
    """Stop the sink; remove the run's folder unless it is to be kept."""
    sink.terminate()
    sink.wait()
    if keep:
        print(f"kept {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)


def make_database(
    folder: Path, recipients: int, env: dict[str, str], domain: Callable[[int], str] = (
        lambda number: "example.com")
) -> None:
    """A fresh database with one list of N confirmed subscribers (through the real import),
    ``member<number>@`` the number's ``domain``."""
    contacts = folder / "contacts.csv"
    with contacts.open("w", encoding="utf-8") as handle:
        handle.write("email,name,branch\n")
        for number in range(recipients):
            handle.write(f"member{number:07d}@{domain(number)},Member {number},"
                         f"Branch {number % 7}\n")
    mailer = [sys.executable, "-m", "mailer"]
    for args in (
        ["init"],
        ["lists", "create", "members"],
        ["subscribers", "import", str(contacts), "--list", "members"],
    ):
        subprocess.run([*mailer, *args], cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL)


def run_mailer(
    folder: Path, env: dict[str, str], connections: int, *extra: str
) -> dict[str, float]:
    """``mailer send`` as a child; its summary, wall time, CPU time and peak RSS.

    The CPU time is the child's and its workers' (``wait4`` counts the
    children a process has waited for).
    """
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailer",
            "send",
            str(LETTER),
            "--list",
            "members",
            "--yes",
            "--json",
            "--again",
            "--concurrency",
            str(connections),
            *extra,
        ],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    output = process.stdout.read()
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"mailer send failed:\n{errors.decode()}")
    summary = json.loads(output)
    return {
        "sent": summary["sent"],
        "failed": summary["failed"],
        "deferred": summary["deferred"],
        "seconds": summary["seconds"],
        "wall": wall,
        **_usage(usage),
    }


def dkim_environment(folder: Path, algorithm: str) -> dict[str, str]:
    """A new key of ``algorithm`` (``rsa``, 2048 bits, or ``ed25519``) and the settings
    that make ``mailer send`` sign with it."""
    from mailer.dispatch.dkim_keys import generate, write_key

    key_file = folder / f"dkim-{algorithm}.key"
    write_key(key_file, generate(algorithm))
    return {
        "MAILER_DKIM_DOMAIN": "example.org",
        "MAILER_DKIM_SELECTOR": "bench",
        "MAILER_DKIM_KEY_FILE": str(key_file),
        "MAILER_DKIM_ALGORITHM": f"{algorithm}-sha256",
    }


def _usage(usage: resource.struct_rusage) -> dict[str, float]:
    """CPU seconds and peak RSS (MB) from a ``wait4`` rusage."""
    return {"cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


def prerendered(count: int) -> list[bytes]:
    """A few distinct messages of the example letter, rendered before the clock starts."""
    from mailer.config import load_config
    from mailer.letters.compile import compile_letter
    from mailer.letters.source import load_letter
    from mailer.store.models import Recipient
    from mailer.tokens import Signer

    compiled = compile_letter(
        load_letter(LETTER),
        config=load_config(env={}),
        mailing_list=None,
        signer=Signer("bench"),
    )
    return [
        compiled.build(Recipient(f"member{n:07d}@example.com", f"Member {n}", {}, n)).data
        for n in range(count)
    ]


async def baseline(port: int, recipients: int, connections: int) -> tuple[float, float]:
    """Raw aiosmtplib: K connections, each reused, sending pre-rendered messages; seconds
    and CPU seconds."""
    messages = prerendered(min(recipients, 500))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for number in range(recipients):
        queue.put_nowait(number)

    async def worker() -> None:
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=port, start_tls=False, local_hostname="example.org"
        )
        await client.connect()
        try:
            while not queue.empty():
                number = queue.get_nowait()
                await client.sendmail(
                    "newsletter@example.org",
                    [f"member{number:07d}@example.com"],
                    messages[number % len(messages)],
                )
        finally:
            await client.quit()

    started, cpu = time.monotonic(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.monotonic() - started, time.process_time() - cpu


def at_least_one(text: str) -> int:
    """An argparse type: a whole number of at least 1 (a rate needs something to count)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


#: The two ways ``mailer send`` is measured: its defaults, and one process sending one
#: command at a time (what it was before workers and pipelining).
DEFAULTS = "mailer send (defaults)"
CASES: tuple[tuple[str, tuple[str, ...], dict[str, str]], ...] = (
    (DEFAULTS, (), {}),
    ("mailer send --workers 1, no pipelining", ("--workers", "1"),
     {"MAILER_SMTP_PIPELINING": "false"}),
)


def one_round(
    folder: Path, env: dict[str, str], port: int, args: argparse.Namespace,
    cases: tuple[tuple[str, tuple[str, ...], dict[str, str]], ...],
) -> dict[str, float]:
    """The baseline and each case once; prints them; the rates by name."""
    rates: dict[str, float] = {}
    if not args.skip_baseline:
        seconds, cpu = asyncio.run(baseline(port, args.recipients, args.connections))
        rates["baseline"] = args.recipients / seconds
        print(
            f"  baseline (raw aiosmtplib, {args.connections} connections, pre-rendered): "
            f"{seconds:.2f} s = {rates['baseline']:,.0f} msg/s; "
            f"CPU {cpu / args.recipients * 1e6:.0f} us/msg"
        )
    for name, extra, settings in cases:
        got = run_mailer(folder, {**env, **settings}, args.connections, *extra)
        rate = got["sent"] / max(got["seconds"], 0.01)  # the summary rounds to 0.01 s
        rates[name] = rate
        ratio = f"; ratio to baseline {rate / rates['baseline']:.2f}" if "baseline" in rates else ""
        if "DKIM" in name:
            ratio += f"; ratio to unsigned {rate / rates[DEFAULTS]:.2f}"
        print(
            f"  {name}: {int(got['sent']):,} sent, {int(got['failed'])} failed, "
            f"{int(got['deferred'])} deferred; delivery {got['seconds']:.2f} s = "
            f"{rate:,.0f} msg/s (whole command {got['wall']:.2f} s){ratio}; "
            f"CPU {got['cpu'] / max(got['sent'], 1) * 1e6:.0f} us/msg; "
            f"peak RSS {got['rss_mb']:.1f} MB"
        )
    return rates


def profile(folder: Path, env: dict[str, str], connections: int) -> None:
    """The one-worker pipelined send under cProfile: its 15 most costly functions."""
    stats = folder / "send.prof"
    subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(stats), "-m", "mailer", "send",
         str(LETTER), "--list", "members", "--yes", "--again", "--json",
         "--concurrency", str(connections), "--workers", "1"],
        cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    # The hot path below the sender's loop: building, sending, journalling.
    hot = r"dispatch/(sender|transports|journal)|letters/|tokens|jinja2|socket|sqlite3|epoll"
    for order in ("cumulative", "tottime"):
        print(f"profile of one worker (pipelining), top 15 of the hot path by {order} time:")
        pstats.Stats(str(stats)).sort_stats(order).print_stats(hot, 15)


def summary(rounds: list[dict[str, float]]) -> None:
    """The spread over the rounds: each rate and ratio, lowest to highest."""
    if len(rounds) < 2:
        return
    print(f"over {len(rounds)} rounds (lowest-highest):")
    for name in rounds[0]:
        rates = sorted(r[name] for r in rounds)
        line = f"  {name}: {rates[0]:,.0f}-{rates[-1]:,.0f} msg/s"
        if name != "baseline" and "baseline" in rounds[0]:
            ratios = sorted(r[name] / r["baseline"] for r in rounds)
            middle = statistics.median(ratios)
            line += f", ratio {ratios[0]:.2f}-{ratios[-1]:.2f} (median {middle:.2f})"
        if "DKIM" in name:
            signed = statistics.median(r[name] / r[DEFAULTS] for r in rounds)
            line += f", signed/unsigned median {signed:.2f}"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=at_least_one, default=20_000)
    parser.add_argument("--connections", type=at_least_one, default=16)
    parser.add_argument("--rounds", type=at_least_one, default=1)
    parser.add_argument("--sink", choices=["auto", "smtp-sink", "aiosmtpd"], default="auto")
    parser.add_argument(
        "--dkim", action="append", choices=["rsa", "ed25519"], default=[],
        help="Also send DKIM-signed with this algorithm (repeatable).",
    )
    parser.add_argument("--skip-baseline", action="store_true", help="Only run mailer send.")
    parser.add_argument("--profile", action="store_true", help="Profile one worker after.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder.")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="mailer-bench-send-"))
    sink, port, kind = start_sink(args.sink)
    env = sink_env(port)
    try:
        print(
            f"sink: {kind} on 127.0.0.1:{port}; recipients: {args.recipients:,}; "
            f"connections: {args.connections}; cores: {len(os.sched_getaffinity(0))}"
        )
        started = time.monotonic()
        make_database(folder, args.recipients, env)
        print(f"import: {time.monotonic() - started:.1f} s")
        cases = CASES + tuple(
            (f"{DEFAULTS}, DKIM {algorithm}", (), dkim_environment(folder, algorithm))
            for algorithm in dict.fromkeys(args.dkim)
        )
        rounds = []
        for number in range(1, args.rounds + 1):
            print(f"round {number}:")
            rounds.append(one_round(folder, env, port, args, cases))
        summary(rounds)
        if args.profile:
            profile(folder, env, args.connections)
    finally:
        clean_up(sink, folder, keep=args.keep)


if __name__ == "__main__":
    main()
