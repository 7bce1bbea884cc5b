"""Benchmark: ``mailer send`` against a local SMTP sink, beside a raw aiosmtplib baseline.

    python bench/send.py [--recipients 20000] [--connections 16] [--sink auto|smtp-sink|aiosmtpd]

Creates a fresh database in a temporary folder, imports N subscribers,
starts a local sink (Postfix's ``smtp-sink`` when installed, which accepts
far more than any Python sender can offer; else aiosmtpd in a child process,
which then limits both figures), and in the same run measures:

- ``mailer send letters/example.md`` as a child process (personalised
  messages, journal, rate limits and all), its delivery rate, wall time and
  peak resident memory (the child's ``ru_maxrss``);
- the baseline: raw aiosmtplib with the same number of reused connections
  sending the same number of pre-rendered messages.

It prints both rates, their ratio and the peak RSS. Use ``--recipients
200000`` for the memory figure. A benchmark, not a test: the figures depend
on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
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


def run_mailer(folder: Path, env: dict[str, str], connections: int) -> dict[str, float]:
    """``mailer send`` as a child; its summary, wall time and peak RSS."""
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
            "--concurrency",
            str(connections),
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
        "rss_mb": usage.ru_maxrss / 1024,
    }


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


async def baseline(port: int, recipients: int, connections: int) -> float:
    """Raw aiosmtplib: K connections, each reused, sending pre-rendered messages; seconds."""
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

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.monotonic() - started


def at_least_one(text: str) -> int:
    """An argparse type: a whole number of at least 1 (a rate needs something to count)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=at_least_one, default=20_000)
    parser.add_argument("--connections", type=at_least_one, default=16)
    parser.add_argument("--sink", choices=["auto", "smtp-sink", "aiosmtpd"], default="auto")
    parser.add_argument("--skip-baseline", action="store_true", help="Only run mailer send.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder.")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="mailer-bench-send-"))
    sink, port, kind = start_sink(args.sink)
    env = sink_env(port)
    try:
        print(
            f"sink: {kind} on 127.0.0.1:{port}; recipients: {args.recipients:,}; "
            f"connections: {args.connections}"
        )
        started = time.monotonic()
        make_database(folder, args.recipients, env)
        print(f"import: {time.monotonic() - started:.1f} s")
        mailer = run_mailer(folder, env, args.connections)
        rate = mailer["sent"] / max(mailer["seconds"], 0.01)  # the summary rounds to 0.01 s
        wall_rate = mailer["sent"] / mailer["wall"]
        print(
            f"mailer send: {int(mailer['sent']):,} sent, {int(mailer['failed'])} failed, "
            f"{int(mailer['deferred'])} deferred; delivery {mailer['seconds']:.2f} s = "
            f"{rate:,.0f} msg/s (whole command {mailer['wall']:.2f} s = {wall_rate:,.0f} msg/s)"
        )
        print(f"mailer send peak RSS: {mailer['rss_mb']:.1f} MB")
        if not args.skip_baseline:
            seconds = asyncio.run(baseline(port, args.recipients, args.connections))
            base_rate = args.recipients / seconds
            print(
                f"baseline (raw aiosmtplib, {args.connections} connections, pre-rendered): "
                f"{seconds:.2f} s = {base_rate:,.0f} msg/s"
            )
            print(
                f"ratio mailer/baseline: {rate / base_rate:.2f} "
                f"(whole command: {wall_rate / base_rate:.2f})"
            )
    finally:
        clean_up(sink, folder, keep=args.keep)


if __name__ == "__main__":
    main()
