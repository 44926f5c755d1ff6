"""IMAP ingestion rate: the daemon beside a bare imapclient loop, on one private Dovecot, in one run.

    .venv/bin/python bench/imap_ingest.py [--messages 5000]

Both sides get the same N messages, put into INBOX by one server-side MOVE from a staging folder
(so appending is not timed); the clock starts when the mailbox is selected (for the daemon: the
moment it records the mailbox's UIDVALIDITY) and stops when INBOX is empty.
- bare: one imapclient connection that only does UID SEARCH, FETCH BODY.PEEK[] and MOVE, 200 at a time.
- daemon: `python -m optout_daemon run` (SQLite store, worker on, SMTP and console off), already
  started with the messages waiting; done when all N are committed and moved.
Also printed: how long until the worker had processed them all, and the same daemon with its worker
off (the intake no longer shares the cores with the classifier).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from optout_daemon.intake.imap import CHUNK
from tests.dovecot import Dovecot, dovecot_available


def messages(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        msg = EmailMessage()
        msg["From"] = f"Customer {i} <customer{i}@example.net>"
        msg["To"] = "marketing@example.com"
        msg["Subject"] = "Please stop" if i % 2 else "Marketing preferences"
        msg["Message-ID"] = f"<bench{i}.{time.time_ns()}@example.net>"
        msg.set_content(f"Hello,\n\nPlease stop using my account information for marketing. Account 1000-{i:04d}.\n"
                        + "Thank you for your help with this request.\n" * 40 + "\n-- \nA customer\n")
        out.append(msg.as_bytes().replace(b"\n", b"\r\n"))
    return out


def stage(server: Dovecot, raws: list[bytes]) -> None:
    c = server.client()
    if not c.folder_exists("Staging"):
        c.create_folder("Staging")
    for i in range(0, len(raws), 500):
        c.multiappend("Staging", raws[i:i + 500])
    c.logout()


def release(server: Dovecot) -> None:
    """Move everything staged into INBOX in one server-side command."""
    c = server.client()
    c.select_folder("Staging")
    c.move(c.search("ALL"), "INBOX")
    c.logout()


def wait_inbox_empty(server: Dovecot, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while server.count("INBOX"):
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for INBOX to empty")
        time.sleep(0.02)


def bare_loop(server: Dovecot, n: int) -> float:
    c = server.client()
    c.create_folder("BareDone")
    release(server)
    started = time.perf_counter()
    c.select_folder("INBOX")
    done = 0
    while True:
        uids = sorted(c.search("ALL"))[:CHUNK]
        if not uids:
            break
        fetched = c.fetch(uids, ["BODY.PEEK[]"])
        done += sum(1 for u in uids if b"BODY[]" in fetched.get(u, {}))
        c.move(uids, "BareDone")
    elapsed = time.perf_counter() - started
    c.logout()
    assert done == n, (done, n)
    return elapsed


def write_config(root: Path, server: Dovecot, worker: bool) -> Path:
    cfg = root / "optout.toml"
    cfg.write_text(f"""
[database]
url = "sqlite:///{root}/optout.db"
[smtp]
enabled = false
[console]
enabled = false
secret_key_file = "{root}/console.key"
[notices]
maildir = "{root}/notices"
[worker]
enabled = {str(worker).lower()}
[logging]
level = "warning"
format = "json"
[imap]
enabled = true
[[imap.accounts]]
name = "bench"
host = "127.0.0.1"
port = {server.port}
tls = "none"
username = "{server.user}"
password = "{server.password}"
mailboxes = ["INBOX"]
processed_folder = "Processed"
""")
    return cfg


def daemon_run(server: Dovecot, root: Path, n: int, worker: bool = True) -> tuple[float, float]:
    cfg = write_config(root, server, worker)
    cmd = [sys.executable, "-m", "optout_daemon", "--config", str(cfg)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTOUT_")}
    subprocess.run([*cmd, "db", "upgrade"], cwd=REPO, env=env, check=True, capture_output=True)
    moved_before = server.count("Processed")
    release(server)  # the messages wait in INBOX; the clock starts when the daemon has selected it
    proc = subprocess.Popen([*cmd, "run"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = sqlite3.connect(f"{root}/optout.db")
    try:
        deadline = time.monotonic() + 120
        while not db.execute("SELECT count(*) FROM imap_mailbox_states").fetchone()[0]:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the daemon did not connect: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.001)
        selected = db.execute("SELECT updated_at FROM imap_mailbox_states").fetchone()[0]
        started = datetime.fromisoformat(selected).replace(tzinfo=UTC).timestamp()
        while db.execute("SELECT count(*) FROM inbound_messages").fetchone()[0] < n:
            time.sleep(0.005)
        wait_inbox_empty(server)
        ingested = time.time() - started
        while worker and db.execute("SELECT count(*) FROM inbound_messages WHERE status = 'received'").fetchone()[0]:
            time.sleep(0.05)
        processed = time.time() - started
        stored = db.execute("SELECT count(*), count(DISTINCT sha256) FROM inbound_messages").fetchone()
        assert stored == (n, n), stored
        assert server.count("Processed") - moved_before == n
        return ingested, processed
    finally:
        db.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()
    if not dovecot_available():
        print("dovecot is not installed: apt-get install -y dovecot-imapd", file=sys.stderr)
        return 1
    n = args.messages
    raws = messages(n)
    size = sum(map(len, raws)) // n
    server = Dovecot().start()
    try:
        stage(server, raws)
        bare = bare_loop(server, n)
        with tempfile.TemporaryDirectory(prefix="optout-imap-bench-") as root:
            stage(server, raws)
            ingested, processed = daemon_run(server, Path(root), n)
        with tempfile.TemporaryDirectory(prefix="optout-imap-bench-") as root:
            stage(server, raws)
            alone, _ = daemon_run(server, Path(root), n, worker=False)
    finally:
        server.close()
    print(f"IMAP ingestion, {n} messages of {size} bytes, Dovecot {server.port} on loopback, {os.cpu_count()} cores")
    print(f"  bare imapclient loop (SEARCH, FETCH BODY.PEEK[], MOVE; {CHUNK} at a time): "
          f"{bare:6.2f} s  {n / bare:8.0f} msg/s")
    print(f"  daemon: fetched, committed (SQLite, fsync) and moved:                 "
          f"{ingested:6.2f} s  {n / ingested:8.0f} msg/s  = {bare / ingested:.2f}x the bare loop")
    print(f"  daemon with the worker off (the intake alone on the 2 cores):         "
          f"{alone:6.2f} s  {n / alone:8.0f} msg/s  = {bare / alone:.2f}x the bare loop")
    print(f"  daemon: all {n} processed by the worker:                             "
          f"{processed:6.2f} s  {n / processed:8.0f} msg/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
