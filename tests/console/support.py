"""Helpers for the console tests: a daemon with customers and an operator, review items sent by SMTP."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from optout_daemon.console.auth import add_operator
from optout_daemon.store.customers import import_rows, read_csv
from optout_daemon.store.db import make_engine
from optout_daemon.store.tables import InboundMessage, ReviewItem
from tests.conftest import make_settings
from tests.helpers import make_message, send, wait_for

OPERATOR, PASSWORD = "alice", "correct horse battery"
RI, IM = ReviewItem.__table__, InboundMessage.__table__


def start_console(daemon_thread: Any, tmp_path: Path, customers_csv: Path, **env: str) -> tuple[Any, Any]:
    """A real daemon (SMTP + worker + console on free ports), the test customers and one operator."""
    settings = make_settings(tmp_path, **env)
    d = daemon_thread(settings)
    engine = make_engine(settings.database.url)
    import_rows(engine, read_csv(customers_csv, "US"))
    add_operator(engine, OPERATOR, PASSWORD)
    return d, engine


def review_via_smtp(d: Any, engine: Any, **message: Any) -> int:
    """Send a message that the daemon cannot decide alone; return the review item it opens."""
    msg = make_message(**message)
    send(d.smtp_port, msg)

    def item() -> int | None:
        with engine.connect() as conn:
            return conn.execute(select(RI.c.id).join(IM, IM.c.id == RI.c.inbound_message_id).where(
                IM.c.message_id == msg["Message-ID"], IM.c.status == "review")).scalar()
    # (a worker in its own process first imports spaCy and loads the model: seconds, more on a busy machine)
    return wait_for(item, timeout=60.0, what="the message to reach the review queue")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(base_url: str, name: str = OPERATOR, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
    page = client.get("/sign-in")
    answer = client.post("/sign-in", data={"csrf": csrf_of(page.text), "name": name, "password": password})
    assert answer.status_code == 303, answer.text
    return client
