"""SMTP load: durable acceptance beside a bare aiosmtpd server, then end-to-end throughput.

    .venv/bin/python bench/smtp_load.py [--messages 20000] [--sessions 10] [--accept-messages 4000]

1. Acceptance: the same load (4 KB messages, N concurrent sessions, a new connection per message
   unless --keep) against (a) a bare aiosmtpd server whose handler only answers 250 and (b) the
   daemon (SQLite, WAL, synchronous=FULL, 250 only after the commit), both as separate processes.
   The load comes from Postfix's smtp-source when installed, else from an asyncio client here.
2. End to end: --messages opt-outs from as many distinct customers through the daemon: the time
   from the first message sent until every one is accepted, has its consent event recorded and
   its notice queued; and the daemon's peak RSS (VmHWM).
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

BARE_SERVER = """
import asyncio, sys
from aiosmtpd.smtp import SMTP
class H:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(H(), hostname="bench", enable_SMTPUTF8=True),
                                      "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def message(i: int, sender: str, size: int = 4096) -> bytes:
    head = (f"From: {sender}\r\nTo: marketing@example.com\r\nSubject: Marketing preferences\r\n"
            f"Message-ID: <bench-{i}-{time.time_ns()}@example.net>\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\n"
            "Please stop using my information for marketing. I do not consent to the use of my CPNI.\r\n")
    # Filled up to the size with the carrier's notice quoted below the request, as replies are.
    filler = "\r\nOn Mon, Nov 2, 2026 at 9:14 AM Example Communications <marketing@example.com> wrote:\r\n" + "".join(
        "> You may tell us not to use your customer proprietary network information to market services.\r\n"
        for _ in range(60))
    return (head + filler)[:size].encode() + b"\r\n"


async def _session(port: int, items: list[tuple[str, bytes]], keep: bool, counts: list[int]) -> None:
    reader = writer = None

    async def cmd(line: bytes) -> bytes:
        writer.write(line)
        await writer.drain()
        reply = await reader.readline()
        while reply[3:4] == b"-":
            reply = await reader.readline()
        return reply

    for sender, data in items:
        if writer is None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await reader.readline()
            reply = await cmd(b"EHLO bench\r\n")
        await cmd(f"MAIL FROM:<{sender}>\r\n".encode())
        await cmd(b"RCPT TO:<marketing@example.com>\r\n")
        await cmd(b"DATA\r\n")
        reply = await cmd(data.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        if reply.startswith(b"250"):
            counts[0] += 1
        else:
            counts[1] += 1
        if not keep:
            await cmd(b"QUIT\r\n")
            writer.close()
            writer = None
    if writer is not None:
        await cmd(b"QUIT\r\n")
        writer.close()


def python_load(port: int, messages: list[tuple[str, bytes]], sessions: int, keep: bool) -> tuple[float, int, int]:
    counts = [0, 0]
    shares = [messages[i::sessions] for i in range(sessions)]

    async def run() -> None:
        await asyncio.gather(*(_session(port, share, keep, counts) for share in shares))

    start = time.perf_counter()
    asyncio.run(run())
    return time.perf_counter() - start, counts[0], counts[1]


def smtp_source_load(port: int, count: int, sessions: int, keep: bool) -> tuple[float, int, int]:
    args = ["smtp-source", "-s", str(sessions), "-m", str(count), "-l", "4096", "-f", "c0@example.net",
            "-t", "marketing@example.com", "-c"]
    if keep:
        args.append("-d")  # don't disconnect after each message (a new connection is the default)
    start = time.perf_counter()
    proc = subprocess.run(args + [f"127.0.0.1:{port}"], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    ok = proc.returncode == 0
    return elapsed, count if ok else 0, 0 if ok else count


def load(port: int, count: int, sessions: int, keep: bool, use_smtp_source: bool, first: int = 0):
    if use_smtp_source:
        return smtp_source_load(port, count, sessions, keep)
    msgs = [(f"c{(first + i) % 1_000_000}@example.net", message(first + i, f"c{(first + i)}@example.net"))
            for i in range(count)]
    return python_load(port, msgs, sessions, keep)


WORKER_PROCESSES = "1"


def daemon_env(workdir: Path, port: int, worker: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTOUT_")}
    env["OPTOUT_WORKER_PROCESSES"] = WORKER_PROCESSES
    env.update({
        "OPTOUT_DATABASE_URL": f"sqlite:///{workdir}/optout.db", "OPTOUT_SMTP_PORT": str(port),
        "OPTOUT_CONSOLE_ENABLED": "false", "OPTOUT_NOTICES_MAILDIR": str(workdir / "notices"),
        "OPTOUT_LOGGING_LEVEL": "warning", "OPTOUT_WORKER_ENABLED": "true" if worker else "false",
    })
    return env


def cli(env: dict[str, str], *args: str) -> None:
    subprocess.run([PY, "-m", "optout_daemon", *args], env=env, check=True, capture_output=True, cwd=ROOT)


def start_daemon(env: dict[str, str], port: int) -> subprocess.Popen:
    proc = subprocess.Popen([PY, "-m", "optout_daemon", "run"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    wait_port(port)
    return proc


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def children(pid: int) -> list[int]:
    """Child processes of every thread (worker processes are started from a thread)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def acceptance(args, use_smtp_source: bool) -> None:
    rounds = args.rounds
    print(f"# Acceptance: {args.accept_messages} messages of 4 KB, {args.sessions} concurrent sessions, "
          f"{'connections reused' if args.keep else 'a new connection per message'}, load from "
          f"{'smtp-source' if use_smtp_source else 'the asyncio client in bench/smtp_load.py'}, "
          f"median of {rounds} rounds")
    bare_rates, daemon_rates, daemon_idle_rates = [], [], []
    for r in range(rounds):
        port = free_port()
        bare = subprocess.Popen([PY, "-c", BARE_SERVER, str(port)], stdout=subprocess.PIPE)
        wait_port(port)
        elapsed, ok, bad = load(port, args.accept_messages, args.sessions, args.keep, use_smtp_source)
        bare.kill()
        bare.wait()
        bare_rates.append(ok / elapsed)
        for worker, rates in ((True, daemon_rates), (False, daemon_idle_rates)):
            with tempfile.TemporaryDirectory() as tmp:
                port = free_port()
                env = daemon_env(Path(tmp), port, worker=worker)
                cli(env, "db", "upgrade")
                proc = start_daemon(env, port)
                elapsed, ok, bad = load(port, args.accept_messages, args.sessions, args.keep, use_smtp_source,
                                        first=r * args.accept_messages)
                stop(proc)
                rates.append(ok / elapsed)
                if bad:
                    print(f"  daemon refused {bad} messages")
    b, d, i = (statistics.median(x) for x in (bare_rates, daemon_rates, daemon_idle_rates))
    print(f"bare aiosmtpd (250 only):                   {b:8.0f} msg/s")
    print(f"daemon, durable 250 (worker running too):   {d:8.0f} msg/s  = {d / b:.2f}x bare")
    print(f"daemon, durable 250 (worker disabled):      {i:8.0f} msg/s  = {i / b:.2f}x bare")


def end_to_end(args) -> None:
    n = args.messages
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        env = daemon_env(workdir, port)
        cli(env, "db", "upgrade")
        csv = workdir / "customers.csv"
        with open(csv, "w") as fh:
            fh.write("account_number,name,emails,phones,postal_zip\n")
            for i in range(n):
                fh.write(f"{7000000000 + i},Customer {i},c{i}@example.net,,\n")
        cli(env, "customers", "import", str(csv))
        proc = start_daemon(env, port)
        msgs = [(f"c{i}@example.net", message(i, f"Customer {i} <c{i}@example.net>")) for i in range(n)]
        db = sqlite3.connect(f"{workdir}/optout.db")
        start = time.perf_counter()
        elapsed_send, ok, bad = python_load(port, msgs, args.sessions, keep=True)
        while True:
            waiting = db.execute("select count(*) from inbound_messages where status = 'received'").fetchone()[0]
            if waiting == 0:
                break
            time.sleep(0.05)
        total = time.perf_counter() - start
        events = db.execute("select count(*) from consent_events").fetchone()[0]
        notices = db.execute("select count(*) from notices").fetchone()[0]
        rss = {"daemon": peak_rss_mb(proc.pid)}
        cpu = {"daemon": cpu_seconds(proc.pid), "load generator": time.process_time()}
        for c in children(proc.pid):
            cmdline = Path(f"/proc/{c}/cmdline").read_bytes()
            name = f"{'resource tracker' if b'resource_tracker' in cmdline else 'worker'} {c}"
            rss[name], cpu[name] = peak_rss_mb(c), cpu_seconds(c)
        stop(proc)
        db.close()
    print(f"# End to end: {n} opt-outs from {n} customers, {args.sessions} sessions (connections reused), "
          f"SQLite, the shipped model, {WORKER_PROCESSES} worker process(es)")
    print(f"accepted {ok} (refused {bad}) in {elapsed_send:.1f} s = {ok / elapsed_send:.0f} msg/s")
    print(f"accepted -> consent recorded -> notice queued: {n} in {total:.1f} s = {n / total:.0f} msg/s "
          f"({events} consent events, {notices} notices queued)")
    print("peak RSS (VmHWM): " + ", ".join(f"{k} {v:.0f} MB" for k, v in rss.items())
          + f"; all processes {sum(rss.values()):.0f} MB")
    print("CPU seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()) + f" (wall {total:.1f} s, 2 cores here)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000, help="end-to-end messages (default 20000)")
    parser.add_argument("--accept-messages", type=int, default=4000, help="messages per acceptance round")
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="reuse connections in the acceptance rounds")
    parser.add_argument("--python-load", action="store_true", help="use the asyncio client even if smtp-source exists")
    parser.add_argument("--worker-processes", type=int, default=1, help="the daemon's worker.processes (default 1)")
    parser.add_argument("--skip-acceptance", action="store_true")
    parser.add_argument("--skip-end-to-end", action="store_true")
    args = parser.parse_args()
    global WORKER_PROCESSES
    WORKER_PROCESSES = str(args.worker_processes)
    use_smtp_source = bool(shutil.which("smtp-source")) and not args.python_load
    if not args.skip_acceptance:
        acceptance(args, use_smtp_source)
    if not args.skip_end_to_end:
        end_to_end(args)


if __name__ == "__main__":
    main()
