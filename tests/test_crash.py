"""Killed at any instant, the daemon restarts and processes every accepted message exactly once."""

from __future__ import annotations

import email
import os
import random
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from optout_daemon.store.db import make_engine
from optout_daemon.store.tables import ConsentEvent, InboundMessage, Notice
from tests.helpers import free_port, make_message, wait_for

pytestmark = pytest.mark.slow

CUSTOMERS = 40
MESSAGES = 200


def daemon_env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTOUT_")}
    env.update({
        "OPTOUT_DATABASE_URL": f"sqlite:///{tmp_path}/optout.db",
        "OPTOUT_SMTP_PORT": str(port),
        "OPTOUT_CONSOLE_ENABLED": "false",
        "OPTOUT_NOTICES_MAILDIR": str(tmp_path / "notices"),
        "OPTOUT_CLASSIFIER_KIND": "keywords",
        "OPTOUT_WORKER_BATCH_SIZE": "7",
        "OPTOUT_WORKER_LEASE_SECONDS": "3",
        "OPTOUT_LOGGING_FORMAT": "json",
    })
    return env


def cli(env, *args) -> None:
    subprocess.run([sys.executable, "-m", "optout_daemon", *args], env=env, check=True, capture_output=True,
                   timeout=120)


def listening(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            return client.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
        return False


def start(env, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "optout_daemon", "run"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def test_sigkill_at_random_points_loses_and_repeats_nothing(tmp_path):
    port = free_port()
    env = daemon_env(tmp_path, port)
    csv = tmp_path / "customers.csv"
    csv.write_text("account_number,name,emails,phones,postal_zip\n" + "".join(
        f"5000-0000-{i:02d},Customer {i},c{i}@example.net,,\n" for i in range(CUSTOMERS)))
    cli(env, "db", "upgrade")
    cli(env, "customers", "import", str(csv))

    rng = random.Random(7)
    messages = [make_message(sender=f"c{rng.randrange(CUSTOMERS)}@example.net", subject="Marketing",
                             body=f"Please stop using my data for marketing. ({i})", message_id=f"<crash-{i}@example.net>")
                for i in range(MESSAGES)]
    accepted: set[str] = set()
    done = threading.Event()

    def stream() -> None:
        # Like an MTA: a message that got no 250 is sent again later.
        for msg in messages:
            while True:
                try:
                    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                        client.send_message(msg)
                    accepted.add(msg["Message-ID"])
                    break
                except (OSError, smtplib.SMTPException):
                    time.sleep(0.05)
        done.set()

    log = open(tmp_path / "daemon.log", "ab")
    proc = start(env, log)
    sender = threading.Thread(target=stream, daemon=True)
    sender.start()
    kills = 0
    while kills < 6 or not done.is_set():
        time.sleep(rng.uniform(0.2, 1.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        proc = start(env, log)
        if kills > 40:
            break
    sender.join(120)
    assert done.is_set() and len(accepted) == MESSAGES

    engine = make_engine(env["OPTOUT_DATABASE_URL"])

    def settled() -> bool:
        with engine.connect() as conn:
            waiting = conn.execute(select(func.count()).select_from(InboundMessage)
                                   .where(InboundMessage.status == "received")).scalar_one()
            unsent = conn.execute(select(func.count()).select_from(Notice)
                                  .where(Notice.status.in_(["pending", "sending"]))).scalar_one()
        return waiting == 0 and unsent == 0

    wait_for(settled, timeout=60, what="every message processed and every notice sent")
    wait_for(lambda: listening(port), what="the daemon listening")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    log.close()

    with engine.connect() as conn:
        rows = conn.execute(select(InboundMessage.message_id, InboundMessage.status)).all()
        events = conn.execute(select(ConsentEvent.customer_id, ConsentEvent.new_state)).all()
        notices = conn.execute(select(Notice.recipient, Notice.kind, Notice.status)).all()
    # Every accepted message stored and processed exactly once.
    assert Counter(mid for mid, _ in rows) == Counter({mid: 1 for mid in accepted})
    assert {status for _, status in rows} == {"processed"}
    # One consent event per change: each customer who wrote opted out exactly once.
    writers = {m["From"] for m in messages}
    assert Counter(cid for cid, _ in events) == Counter({cid: 1 for cid, _ in events})
    assert len(events) == len(writers) and {s for _, s in events} == {"opted_out"}
    # No recipient got a notice twice: one confirmation each (re-confirmations wait a day).
    assert {s for *_, s in notices} == {"sent"}
    files = list((tmp_path / "notices" / "new").iterdir())
    delivered = Counter((email.message_from_bytes(f.read_bytes())["To"],
                         email.message_from_bytes(f.read_bytes())["X-Optout-Daemon-Notice"]) for f in files)
    assert all(n == 1 for n in delivered.values()), delivered.most_common(3)
    assert set(delivered) == {(w, "opt_out_confirmation") for w in writers}
    assert kills >= 5
