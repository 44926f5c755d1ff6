"""Shared fixtures: settings on temporary paths, migrated SQLite and PostgreSQL stores, a daemon
running in a thread on free ports, a real SMTP server that captures what the outbox relays."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text

from optout_daemon.settings import Settings, load_settings
from optout_daemon.store.db import make_engine, upgrade
from tests.helpers import DaemonThread, SmtpSink, require_server

POSTGRES_URL = os.environ.get("OPTOUT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
CUSTOMERS_CSV = """account_number,name,emails,phones,postal_zip
1000-2000-01,Jane Doe,jane@example.net,(415) 867-5309,94105
1000-2000-02,Juan Pérez,juan.perez@example.org;jp@example.com,+1 646 555 3890,10001
1000-2000-03,Mary Major,mary@example.net,312-555-0143,60601
"""


def make_settings(tmp_path: Path, **env: str) -> Settings:
    """Settings for a test: everything under tmp_path, free ports, the keyword classifier."""
    base = {
        "OPTOUT_DATABASE_URL": f"sqlite:///{tmp_path}/optout.db",
        "OPTOUT_SMTP_PORT": "0",
        "OPTOUT_CONSOLE_PORT": "0",
        "OPTOUT_NOTICES_MAILDIR": str(tmp_path / "notices"),
        "OPTOUT_CONSOLE_SECRET_KEY_FILE": str(tmp_path / "console.key"),
        "OPTOUT_CLASSIFIER_KIND": "keywords",
        "OPTOUT_MAILBOX_ADDRESSES": "marketing@example.com",
        "OPTOUT_WORKER_IDLE_POLL_SECONDS": "0.05",
        "OPTOUT_WORKER_PROCESSES": "0",  # in-thread: fast start; tests/test_crash.py runs the processes
        "OPTOUT_NOTICES_BACKOFF_BASE_SECONDS": "0.2",
        "OPTOUT_LOGGING_FORMAT": "json",
    }
    base.update(env)
    return load_settings(None, environ=base)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def sqlite_engine(settings: Settings):
    engine = make_engine(settings.database.url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    require_server("postgres", "PostgreSQL at OPTOUT_TEST_POSTGRES_URL (apt-get install postgresql, then start it)",
                   lambda: _pg_available())
    name = f"optout_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _pg_available() -> bool:
    try:
        engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path: Path) -> str:
    """Both stores: the same test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/optout.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def customers_csv(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text(CUSTOMERS_CSV, encoding="utf-8")
    return path


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def daemon_thread():
    """Start a daemon (in-process, own event loop in a thread); stopped at the end of the test."""
    started: list[DaemonThread] = []

    def start(settings: Settings, **kwargs) -> DaemonThread:
        d = DaemonThread(settings, **kwargs)
        d.start()
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()
