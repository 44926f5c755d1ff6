"""Engine, migrations and the durable acceptance of inbound messages.

SQLite runs in WAL mode with synchronous=FULL (every commit reaches the disk); PostgreSQL is used
by URL. Everything that claims work lives in store/claims.py.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from optout_daemon.store import fast
from optout_daemon.store.tables import InboundMessage, MessageStatus, utcnow

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class StoreUnavailable(Exception):
    """The database cannot be reached or written: a temporary failure (SMTP 451)."""


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL or an in-memory database."""
    path = url.split("///", 1)[1] if url.startswith("sqlite") and "///" in url else ""
    return Path(path) if path and path != ":memory:" else None


def make_engine(url: str, pool_size: int = 5, busy_timeout: float = 10.0) -> Engine:
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        in_memory = url.endswith("///:memory:")
        engine = create_engine(url, connect_args={"timeout": busy_timeout, "check_same_thread": False},
                               poolclass=NullPool if in_memory else None)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            # Let SQLAlchemy manage transactions (BEGIN IMMEDIATE below), not the sqlite3 module.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            # Writers take the write lock at the start, so two writers queue instead of failing
            # half-way; readers (engine.execution_options(readonly=True)) never block a writer.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("readonly") else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def alembic_config(engine_url: str):  # noqa: ANN201
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine_url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision` (idempotent)."""
    from alembic import command

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head() or ""


@dataclass(frozen=True)
class Arrival:
    """One message as received at an intake, before it is stored."""

    raw: bytes
    source: str  # smtp, lmtp, imap
    mail_from: str = ""
    rcpt_to: tuple[str, ...] = ()
    natural_key: str = ""  # set by IMAP; SMTP derives it from Message-ID and content


def sha256_hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def message_id_of(raw: bytes) -> str:
    """The Message-ID header, read cheaply from the raw header block ('' when absent)."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    for i, line in enumerate(lines):
        if line[:11].lower() == b"message-id:":
            value = line[11:]
            j = i + 1
            while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
                value += lines[j]
                j += 1
            return value.decode("ascii", "replace").strip()[:900]
    return ""


def natural_key_for(arrival: Arrival, digest: str) -> str:
    if arrival.natural_key:
        return arrival.natural_key
    return f"smtp:{message_id_of(arrival.raw)[:500]}:{digest}"


def store_arrivals(engine: Engine, arrivals: Iterable[Arrival]) -> list[int | None]:
    """Commit every arrival in one transaction (a group commit); return each row's id.

    A message already stored under the same natural key (the same Message-ID and content delivered
    twice, or the same IMAP UID) is not stored again (ON CONFLICT DO NOTHING): its existing id is
    returned. Raises StoreUnavailable when nothing could be committed.
    """
    arrivals = list(arrivals)
    now = utcnow()
    rows = []
    for a in arrivals:
        digest = sha256_hex(a.raw)
        rows.append({
            "natural_key": natural_key_for(a, digest), "sha256": digest,
            "message_id": message_id_of(a.raw), "source": a.source, "mail_from": a.mail_from[:320],
            "rcpt_to": ",".join(a.rcpt_to)[:2000], "size": len(a.raw), "raw": a.raw,
            "received_at": now, "status": MessageStatus.RECEIVED, "attempts": 0, "last_error": "",
            "claimed_by": "", "outcome": "",
        })
    if engine.dialect.name == "sqlite":
        return _store_arrivals_sqlite(engine, rows)
    table = InboundMessage.__table__
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert

    dialect_insert = postgresql_insert if engine.dialect.name == "postgresql" else sqlite_insert
    statement = dialect_insert(table).on_conflict_do_nothing(index_elements=["natural_key"])
    keys = [r["natural_key"] for r in rows]
    try:
        with engine.begin() as conn:
            conn.execute(statement, rows)
            found = dict(conn.execute(select(table.c.natural_key, table.c.id)
                                      .where(table.c.natural_key.in_(set(keys)))).all())
            return [found.get(k) for k in keys]
    except DBAPIError as exc:  # the server is down, the disk is full, the lock is held...
        raise StoreUnavailable(str(exc.orig) if exc.orig else str(exc)) from exc


# The group commit's INSERT, run by store/fast.py on the raw sqlite3 cursor (compiled once).
_SQLITE_INSERT = sqlite_insert(InboundMessage.__table__).on_conflict_do_nothing(index_elements=["natural_key"])


def _store_arrivals_sqlite(engine: Engine, rows: list[dict]) -> list[int | None]:
    """The same transaction on the sqlite3 connection itself: this is the SMTP hot path, and the
    ORM layer's per-statement cost would otherwise hold the GIL that the event loop needs."""
    keys = [r["natural_key"] for r in rows]
    found: dict[str, int] = {}
    try:
        conn = engine.raw_connection()  # a pooled connection, with the pragmas of make_engine
        try:
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                fast.executemany(cur, engine.dialect, _SQLITE_INSERT, rows)
                for i in range(0, len(keys), 500):
                    chunk = keys[i:i + 500]
                    found.update(cur.execute(
                        f"SELECT natural_key, id FROM inbound_messages WHERE natural_key IN "
                        f"({', '.join('?' * len(chunk))})", chunk).fetchall())
                cur.execute("COMMIT")
            except BaseException:
                conn.rollback()
                raise
            finally:
                cur.close()
        finally:
            conn.close()
    except DBAPIError as exc:  # the pool could not connect
        raise StoreUnavailable(str(exc.orig) if exc.orig else str(exc)) from exc
    except sqlite3.Error as exc:  # the disk is full, the lock is held, the file is gone...
        raise StoreUnavailable(str(exc)) from exc
    return [found.get(k) for k in keys]
