"""IMAP intake against a real Dovecot: each message stored once and moved, push by IDLE, reconnects,
crashes between commit and move, UIDVALIDITY resets, malformed mail, refused logins, XOAUTH2."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from optout_daemon.intake.imap import CHUNK, Backoff, natural_key, store_imap_messages
from optout_daemon.store.db import Arrival, make_engine, upgrade
from optout_daemon.store.tables import ImapMailboxState, InboundMessage, ReviewItem
from tests.conftest import make_settings
from tests.dovecot import Dovecot, HoldingProxy, require_dovecot, running_dovecot
from tests.helpers import make_message, wait_for

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    yield from running_dovecot()


def write_config(tmp_path: Path, server: Dovecot, *, poll: float = 300.0, idle: float = 600.0,
                 auth: str = "", retry: float = 600.0, port: int = 0, tls: str = "none") -> Path:
    auth = auth or f'password = "{server.password}"'
    cfg = tmp_path / "optout.toml"
    cfg.write_text(f"""
[imap]
enabled = true
backoff_base_seconds = 0.1
backoff_max_seconds = 1.0
auth_failure_retry_seconds = {retry}

[[imap.accounts]]
name = "test"
host = "127.0.0.1"
port = {port or server.port}
tls = "{tls}"
ca_file = "{server.cert if tls != "none" else ""}"
username = "{server.user}"
{auth}
mailboxes = ["INBOX"]
processed_folder = "Processed"
poll_interval_seconds = {poll}
idle_timeout_seconds = {idle}
""")
    return cfg


def imap_settings(tmp_path: Path, server: Dovecot, database_url: str = "", **kwargs):
    cfg = write_config(tmp_path, server, **kwargs)
    env = {"OPTOUT_DATABASE_URL": database_url} if database_url else {}
    return make_settings(tmp_path, OPTOUT_CONFIG=str(cfg), OPTOUT_SMTP_ENABLED="false", OPTOUT_IMAP_ENABLED="true",
                         OPTOUT_CONSOLE_ENABLED="false", **env)


def opt_outs(n: int, tag: str = "m") -> list[bytes]:
    return [make_message(sender=f"Customer {i} <c{i}.{tag}@example.net>", message_id=f"<{tag}{i}@example.net>",
                         body=f"Please stop using my information for marketing. Ref {tag}{i}").as_bytes()
            .replace(b"\n", b"\r\n") for i in range(n)]  # IMAP stores lines ending in CRLF


def rows(settings) -> list:
    engine = make_engine(settings.database.url)
    with engine.connect() as conn:
        result = conn.execute(select(InboundMessage.__table__.c.natural_key, InboundMessage.__table__.c.sha256,
                                     InboundMessage.__table__.c.message_id, InboundMessage.__table__.c.status,
                                     InboundMessage.__table__.c.source)).all()
    engine.dispose()
    return result


def review_counts(settings) -> dict[int, int]:
    engine = make_engine(settings.database.url)
    ri = ReviewItem.__table__
    with engine.connect() as conn:
        result = dict(conn.execute(select(ri.c.inbound_message_id, func.count()).group_by(ri.c.inbound_message_id)).all())
    engine.dispose()
    return result


def assert_each_once(settings, server: Dovecot, expected_ids: set[str]) -> None:
    stored = rows(settings)
    assert sorted(r.message_id for r in stored) == sorted(expected_ids), "a message missing or stored twice"
    assert len({r.sha256 for r in stored}) == len(stored)
    assert all(r.source == "imap" for r in stored)
    assert server.count("INBOX") == 0
    assert server.count("Processed") == len(expected_ids)


def all_done(settings, n: int) -> bool:
    stored = rows(settings)
    return len(stored) == n and all(r.status != "received" for r in stored)


def test_each_appended_message_is_stored_once_processed_and_moved(tmp_path, dovecot, daemon_thread):
    dovecot.append(opt_outs(450))  # more than one fetch-commit-move round
    settings = imap_settings(tmp_path, dovecot)
    daemon_thread(settings)
    wait_for(lambda: all_done(settings, 450), timeout=120, what="450 messages processed")
    wait_for(lambda: dovecot.count("INBOX") == 0, what="inbox emptied")
    assert_each_once(settings, dovecot, {f"<m{i}@example.net>" for i in range(450)})
    stored = rows(settings)
    uidvalidity = dovecot.uidvalidity("INBOX")
    assert all(r.natural_key.startswith(f"imap:test:INBOX:{uidvalidity}:") for r in stored)
    # Moved untouched: the processed copies are byte for byte what was appended, still unseen.
    assert sorted(dovecot.bodies("Processed")) == sorted(opt_outs(450))
    c = dovecot.client()
    c.select_folder("Processed", readonly=True)
    assert c.search(["SEEN"]) == []
    c.logout()
    assert set(review_counts(settings).values()) == {1}  # unknown senders: one review item each


def test_a_message_appended_while_idling_is_picked_up_without_a_poll(tmp_path, dovecot, daemon_thread):
    settings = imap_settings(tmp_path, dovecot, poll=3000.0, idle=1500.0)
    d = daemon_thread(settings)
    first, second = opt_outs(2, "idle")
    dovecot.append(first)
    wait_for(lambda: len(rows(settings)) == 1, timeout=30, what="first message")
    wait_for(lambda: dovecot.count("INBOX") == 0, what="first message moved")
    time.sleep(1.0)  # let the watcher settle into IDLE
    assert d.daemon.health.problems.get("imap:test") is None
    dovecot.append(second)
    wait_for(lambda: len(rows(settings)) == 2, timeout=60, what="second message pushed by IDLE")
    wait_for(lambda: dovecot.count("INBOX") == 0, what="second message moved")
    assert_each_once(settings, dovecot, {"<idle0@example.net>", "<idle1@example.net>"})


@pytest.mark.parametrize("capability", ["IMAP4rev1 LITERAL+ UIDPLUS", "IMAP4rev1 LITERAL+"])
def test_without_idle_or_move_it_polls_and_copies(tmp_path, daemon_thread, capability):
    require_dovecot()
    server = Dovecot(capability=capability).start()
    try:
        caps = server.client().capabilities()
        assert b"IDLE" not in caps and b"MOVE" not in caps
        server.append(opt_outs(5, "poll"))
        settings = imap_settings(tmp_path, server, poll=0.2)
        daemon_thread(settings)
        wait_for(lambda: len(rows(settings)) == 5 and server.count("INBOX") == 0, timeout=60, what="first five")
        server.append(opt_outs(3, "later"))
        wait_for(lambda: len(rows(settings)) == 8 and server.count("INBOX") == 0, timeout=60, what="polled")
        c = server.client()
        c.select_folder("INBOX", readonly=True)
        assert c.search("ALL") == []  # copied, flagged \Deleted and expunged
        c.logout()
        assert_each_once(settings, server, {f"<poll{i}@example.net>" for i in range(5)}
                         | {f"<later{i}@example.net>" for i in range(3)})
    finally:
        server.close()


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_over_tls_with_the_certificate_verified(tmp_path, daemon_thread, tls):
    require_dovecot()
    server = Dovecot(tls=True).start()
    try:
        server.append(opt_outs(3, "tls"))
        port = server.tls_port if tls == "implicit" else server.port
        settings = imap_settings(tmp_path, server, tls=tls, port=port)
        daemon_thread(settings)
        wait_for(lambda: len(rows(settings)) == 3 and server.count("INBOX") == 0, timeout=60, what="over TLS")
        assert_each_once(settings, server, {f"<tls{i}@example.net>" for i in range(3)})
        assert ", TLS," in server.log()  # only the daemon logs in over TLS here
    finally:
        server.close()


def test_dovecot_stopped_and_restarted_mid_run(tmp_path, dovecot, daemon_thread):
    dovecot.append(opt_outs(800, "r"))
    settings = imap_settings(tmp_path, dovecot)
    d = daemon_thread(settings)
    wait_for(lambda: len(rows(settings)) > 0, timeout=60, what="ingestion under way")
    dovecot.stop()
    wait_for(lambda: "reconnecting" in d.daemon.health.problems.get("imap:test", ""), timeout=30,
             what="the daemon notices")
    dovecot.start()
    dovecot.append(opt_outs(20, "after"))
    wait_for(lambda: len(rows(settings)) == 820 and dovecot.count("INBOX") == 0, timeout=120, what="reconnected")
    wait_for(lambda: "imap:test" not in d.daemon.health.problems, what="health clear again")
    assert_each_once(settings, dovecot, {f"<r{i}@example.net>" for i in range(800)}
                     | {f"<after{i}@example.net>" for i in range(20)})


def test_committed_but_not_moved_is_moved_without_storing_again(tmp_path, dovecot, daemon_thread, store_url):
    """The state a crash between commit and move leaves behind, set up exactly (SQLite and PostgreSQL)."""
    messages = opt_outs(4, "crash")
    dovecot.append(messages)
    settings = imap_settings(tmp_path, dovecot, database_url=store_url)
    engine = make_engine(settings.database.url)
    upgrade(engine)
    uv = dovecot.uidvalidity()
    c = dovecot.client()
    c.select_folder("INBOX", readonly=True)
    uids = sorted(c.search("ALL"))
    c.logout()
    first = store_imap_messages(engine, [Arrival(raw=messages[i], source="imap",
                                                 natural_key=natural_key("test", "INBOX", uv, uids[i]))
                                         for i in range(2)])
    assert first.stored == 2
    engine.dispose()
    daemon_thread(settings)
    wait_for(lambda: all_done(settings, 4) and dovecot.count("INBOX") == 0, timeout=60, what="all four")
    assert_each_once(settings, dovecot, {f"<crash{i}@example.net>" for i in range(4)})
    assert set(review_counts(settings).values()) == {1}


def stored_count(db: sqlite3.Connection) -> int:
    return db.execute("SELECT count(*) FROM inbound_messages").fetchone()[0]


def test_sigkill_at_random_moments_processes_nothing_twice(tmp_path, dovecot):
    total = 8 * CHUNK
    dovecot.append(opt_outs(total, "k"))
    proxy = HoldingProxy(dovecot.port)
    settings = imap_settings(tmp_path, dovecot, port=proxy.port)
    env = {**os.environ, "OPTOUT_CONFIG": str(tmp_path / "optout.toml"), "OPTOUT_SMTP_ENABLED": "false",
           "OPTOUT_CONSOLE_ENABLED": "false", "OPTOUT_DATABASE_URL": settings.database.url,
           "OPTOUT_CLASSIFIER_KIND": "keywords", "OPTOUT_NOTICES_MAILDIR": str(tmp_path / "notices"),
           "OPTOUT_LOGGING_FORMAT": "json", "PYTHONFAULTHANDLER": "1"}
    cmd = [sys.executable, "-m", "optout_daemon", "--config", str(tmp_path / "optout.toml")]
    subprocess.run([*cmd, "db", "upgrade"], env=env, cwd=REPO, check=True, capture_output=True)
    db = sqlite3.connect(settings.database.url.split("///", 1)[1])
    rng = random.Random(3)

    def start() -> subprocess.Popen:
        before = stored_count(db)
        proc = subprocess.Popen([*cmd, "run"], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wait_for(lambda: stored_count(db) > before, timeout=60, interval=0.001, what="a commit")
        return proc

    def kill(proc: subprocess.Popen) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)

    caught_between = 0
    while caught_between < 2 and stored_count(db) < total:
        # Killed between a commit and its move, for certain: hold the relay at a random moment; a
        # commit that becomes visible while it holds has a MOVE that cannot have reached the server.
        proc = start()
        try:
            while stored_count(db) < total:
                time.sleep(rng.uniform(0.0, 0.02))
                proxy.hold.set()
                n = stored_count(db)
                deadline = time.monotonic() + 0.3
                while time.monotonic() < deadline and stored_count(db) == n:
                    time.sleep(0.002)
                if stored_count(db) > n:
                    kill(proc)
                    proxy.drop()
                    proxy.hold.clear()
                    caught_between += 1
                    break
                proxy.hold.clear()
        finally:
            kill(proc)
            proxy.hold.clear()
        assert stored_count(db) + dovecot.count("INBOX") > total or stored_count(db) == total
    for _ in range(3):  # killed at a random moment while ingesting, while there is something left to store
        if stored_count(db) >= total:  # a fast run can store everything before a kill lands
            break
        proc = start()
        time.sleep(rng.uniform(0.0, 0.05))
        kill(proc)
    db.close()
    log_path = tmp_path / "daemon.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen([*cmd, "run"], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: all_done(settings, total) and dovecot.count("INBOX") == 0, timeout=300, what="the rest")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(60) == 0, log_path.read_text()[-3000:]
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: every thread's stack into the log
            proc.wait(10)
            raise AssertionError("no clean stop after SIGTERM:\n" + log_path.read_text()[-3000:]) from None
    assert caught_between >= 1, "no kill landed between a commit and its move; the test proved nothing"
    proxy.close()
    assert_each_once(settings, dovecot, {f"<k{i}@example.net>" for i in range(total)})
    assert set(review_counts(settings).values()) == {1}


def test_uidvalidity_change_loses_nothing_and_repeats_nothing(tmp_path, dovecot, daemon_thread, store_url):
    old = opt_outs(3, "old")
    dovecot.append(old)
    settings = imap_settings(tmp_path, dovecot, database_url=store_url)
    d = daemon_thread(settings)
    wait_for(lambda: all_done(settings, 3) and dovecot.count("INBOX") == 0, timeout=60, what="first three")
    d.stop()
    # The mailbox is reset (a server migration): two old messages come back, two new ones arrive, and
    # every UID means something new.
    dovecot.append(old[:2] + opt_outs(2, "new"))
    before = dovecot.uidvalidity()
    dovecot.set_uidvalidity(before + 1000)
    d = daemon_thread(settings)
    wait_for(lambda: all_done(settings, 5) and dovecot.count("INBOX") == 0, timeout=60, what="after the reset")
    stored = rows(settings)
    assert sorted(r.message_id for r in stored) == sorted(
        [f"<old{i}@example.net>" for i in range(3)] + [f"<new{i}@example.net>" for i in range(2)])
    assert dovecot.count("Processed") == 7  # everything moved out of the inbox, the two copies included
    assert set(review_counts(settings).values()) == {1}
    assert sum(1 for r in stored if f":{before + 1000}:" in r.natural_key) == 2
    engine = make_engine(settings.database.url)
    with engine.connect() as conn:
        assert conn.execute(select(ImapMailboxState.__table__.c.uidvalidity)).scalar_one() == before + 1000
    engine.dispose()


def test_a_malformed_message_is_stored_moved_and_queued_for_review(tmp_path, dovecot, daemon_thread):
    garbage = b"\x01\x02 this is not\xff\xfe an email\r\nat all: \x80\x81\r\n"
    dovecot.append(garbage)
    settings = imap_settings(tmp_path, dovecot)
    daemon_thread(settings)
    wait_for(lambda: all_done(settings, 1) and dovecot.count("INBOX") == 0, timeout=60, what="stored and moved")
    (row,) = rows(settings)
    assert row.status in ("review", "failed")
    assert list(review_counts(settings).values()) == [1]
    assert dovecot.bodies("Processed") == [garbage]


def test_a_refused_login_is_reported_and_retried_slowly(tmp_path, dovecot, daemon_thread):
    secret = tmp_path / "imap-password"
    secret.write_text("wrong-password\n")
    dovecot.append(opt_outs(1, "auth"))
    settings = imap_settings(tmp_path, dovecot, auth=f'password_file = "{secret}"', retry=2.0)
    d = daemon_thread(settings)
    wait_for(lambda: "login refused" in d.daemon.health.problems.get("imap:test", ""), timeout=30,
             what="the refusal in health")
    started = time.monotonic()
    time.sleep(3.0)
    failures = dovecot.log().count("auth failed") + dovecot.log().count("Authentication failed")
    # Safe direction: a slow machine makes fewer attempts, never more.
    assert 1 <= failures <= 2 + (time.monotonic() - started) / 2.0
    secret.write_text(dovecot.password + "\n")
    wait_for(lambda: len(rows(settings)) == 1 and dovecot.count("INBOX") == 0, timeout=30, what="recovered")
    assert "imap:test" not in d.daemon.health.problems


def test_while_it_waits_to_retry_a_login_the_watcher_keeps_its_heartbeat(tmp_path, dovecot, daemon_thread):
    """An IMAP outage is a health problem; it must not look like a hung loop to the watchdog."""
    settings = imap_settings(tmp_path, dovecot, auth='password = "wrong"', retry=600.0)
    d = daemon_thread(settings)
    health = d.daemon.health
    wait_for(lambda: "login refused" in health.problems.get("imap:test", ""), timeout=30, what="refusal")
    first = health.heartbeats["imap:test:INBOX"]
    wait_for(lambda: health.heartbeats["imap:test:INBOX"] > first, timeout=30, what="a heartbeat while waiting")
    assert "login refused" in health.problems["imap:test"]


def test_xoauth2_token_is_refreshed_when_rejected(tmp_path, dovecot, daemon_thread):
    # This Dovecot checks an XOAUTH2 bearer token like a password; the command prints a stale token
    # first and the valid one when run again.
    counter = tmp_path / "token-runs"
    script = tmp_path / "token.py"
    script.write_text(f"""import pathlib
p = pathlib.Path({str(counter)!r})
n = int(p.read_text()) if p.exists() else 0
p.write_text(str(n + 1))
print("expired-token" if n == 0 else {dovecot.password!r})
""")
    dovecot.append(opt_outs(1, "oauth"))
    settings = imap_settings(tmp_path, dovecot, auth=f'oauth2_token_command = "{sys.executable} {script}"')
    d = daemon_thread(settings)
    wait_for(lambda: len(rows(settings)) == 1 and dovecot.count("INBOX") == 0, timeout=30, what="XOAUTH2 login")
    assert counter.read_text() == "2"
    assert "method=XOAUTH2" in dovecot.log()
    assert "imap:test" not in d.daemon.health.problems


def test_backoff_grows_with_jitter_and_resets():
    b = Backoff(1.0, 8.0)
    delays = [b.next() for _ in range(6)]
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 8, 8]):
        assert ceiling * 0.5 <= delay <= ceiling
    b.reset()
    assert b.next() <= 1.0


def test_mail_appended_between_search_and_idle_is_fetched_at_once(tmp_path, dovecot):
    """A message appended between the watcher's SEARCH and its IDLE: Dovecot's IDLE does not report
    it when it starts (only what changes during IDLE), so the watcher asks (NOOP) before idling."""
    import threading

    from optout_daemon.intake.imap import MailboxSession

    settings = imap_settings(tmp_path, dovecot, poll=3000.0, idle=30.0)
    engine = make_engine(settings.database.url)
    upgrade(engine)
    session = MailboxSession(settings.imap.accounts[0], "INBOX", engine, threading.Event())
    session.open()
    try:
        assert session.drain().moved == 0
        session.client.noop()  # what SELECT reported has been read
        session.client._imap.untagged_responses.clear()  # noqa: SLF001
        dovecot.append(opt_outs(1, "between"))  # after our SEARCH, before our IDLE
        started = time.monotonic()
        session.wait()
        assert time.monotonic() - started < 15, "it idled instead of fetching what had come"
        assert session.drain().moved == 1
    finally:
        session.close()
    assert [r.message_id for r in rows(settings)] == ["<between0@example.net>"]
