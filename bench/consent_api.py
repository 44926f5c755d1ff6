"""Consent API latency with 1,000,000 customers.

Builds a temporary SQLite store (migrated schema; customers and consent states written with raw
executemany, a tenth of them opted out), starts the real daemon as a subprocess
(`python -m optout_daemon run`: uvicorn on loopback), creates a token with `optout-daemon tokens
add`, and times GET /api/v1/customers/{account}/consent for random accounts (known opted-in, known
opted-out, unknown) with one keep-alive httpx client. Prints median, p95 and p99.

    .venv/bin/python bench/consent_api.py            # --customers 1000000 --requests 5000
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def account(i: int) -> str:
    return f"{i:012d}"


def build(db: Path, env: dict[str, str], customers: int, opted_out_every: int) -> float:
    subprocess.run([sys.executable, "-m", "optout_daemon", "db", "upgrade"], env=env, check=True,
                   capture_output=True, cwd=ROOT)
    t0 = time.perf_counter()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # a throw-away store: the build needs no durability
    batch = 100_000
    with conn:
        for start in range(1, customers + 1, batch):
            ids = range(start, min(start + batch, customers + 1))
            conn.executemany("INSERT INTO customers (id, account_number, name, postal_zip, created_at, updated_at) "
                             "VALUES (?, ?, '', '', ?, ?)", ((i, account(i), now, now) for i in ids))
            conn.executemany("INSERT INTO consent_states (customer_id, state, since) VALUES (?, 'opted_out', ?)",
                             ((i, now) for i in ids if i % opted_out_every == 0))
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - t0


def start_daemon(env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "optout_daemon", "run"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{env['OPTOUT_CONSOLE_PORT']}/healthz"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the daemon did not start: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")


def measure(port: int, token: str, customers: int, requests: int, opted_out_every: int) -> list[float]:
    rng = random.Random(7)
    timings = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"},
                      timeout=10) as client:
        for n in range(requests + 200):
            i = rng.randint(1, customers) if rng.random() > 0.05 else customers + rng.randint(1, 10**6)
            t0 = time.perf_counter()
            r = client.get(f"/api/v1/customers/{account(i)}/consent")
            elapsed = time.perf_counter() - t0
            body = r.json()
            expected = i <= customers and i % opted_out_every != 0
            if body["marketing_allowed"] is not expected:
                raise SystemExit(f"wrong answer for {account(i)}: {body}")
            if n >= 200:  # the first 200 warm the connection and the page cache
                timings.append(elapsed * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--opted-out-every", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "optout.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPTOUT_")}
        env.update({"OPTOUT_DATABASE_URL": f"sqlite:///{db}", "OPTOUT_SMTP_PORT": str(free_port()),
                    "OPTOUT_CONSOLE_PORT": str(free_port()), "OPTOUT_CLASSIFIER_KIND": "keywords",
                    "OPTOUT_NOTICES_MAILDIR": f"{tmp}/notices", "OPTOUT_CONSOLE_SECRET_KEY_FILE": f"{tmp}/key",
                    "OPTOUT_WORKER_PROCESSES": "1", "OPTOUT_LOGGING_LEVEL": "warning"})
        built = build(db, env, args.customers, args.opted_out_every)
        print(f"built {args.customers:,} customers ({args.customers // args.opted_out_every:,} opted out) "
              f"in {built:.1f} s; database {db.stat().st_size / 1e6:.0f} MB")
        token = subprocess.run([sys.executable, "-m", "optout_daemon", "tokens", "add", "bench"], env=env,
                               check=True, capture_output=True, text=True, cwd=ROOT).stdout.strip()
        proc = start_daemon(env)
        try:
            t = measure(int(env["OPTOUT_CONSOLE_PORT"]), token, args.customers, args.requests, args.opted_out_every)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    q = statistics.quantiles(t, n=100)
    print(f"GET /api/v1/customers/{{account}}/consent, {len(t)} requests, one keep-alive client over loopback:")
    print(f"  median {statistics.median(t):.2f} ms   p95 {q[94]:.2f} ms   p99 {q[98]:.2f} ms   "
          f"max {max(t):.2f} ms   ({len(t) / (sum(t) / 1000):.0f} requests/s sequential)")
    print(f"target: median <= 5 ms: {'met' if statistics.median(t) <= 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
