"""Bearer tokens for the consent API. Only the SHA-256 of a token is stored; the token itself is
shown once, when it is created. A token is 32 random bytes, so a plain hash is enough (no salt or
slow hash is needed against guessing, unlike a password)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, insert, select, update

from optout_daemon.store.tables import ApiToken, utcnow

T = ApiToken.__table__
TOKEN_PREFIX = "odt_"
_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,100}$")
LAST_USED_EVERY = timedelta(minutes=1)  # write last_used_at at most this often per token


class TokenError(Exception):
    """A token command that cannot be done; str() says what to do."""


@dataclass(frozen=True)
class TokenInfo:
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def add_token(engine: Engine, name: str) -> str:
    if not _NAME.match(name):
        raise TokenError(f"token name {name!r} is not allowed: use 1-100 letters, digits, '.', '_', '-', '@'")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        old = conn.execute(select(T.c.id, T.c.revoked_at).where(T.c.name == name)).first()
        if old is not None and old.revoked_at is None:
            raise TokenError(f"a token named {name} is in use: revoke it first ('optout-daemon tokens revoke "
                             f"{name}') or choose another name")
        if old is not None:  # the revoked one stays listed, under a name of its own
            conn.execute(update(T).where(T.c.id == old.id).values(name=f"{name}.revoked-{old.id}"[:100]))
        conn.execute(insert(T).values(name=name, token_hash=hash_token(token), created_at=utcnow()))
    return token


def list_tokens(engine: Engine) -> list[TokenInfo]:
    with engine.execution_options(readonly=True).connect() as conn:
        rows = conn.execute(select(T.c.name, T.c.created_at, T.c.last_used_at, T.c.revoked_at).order_by(T.c.name))
        return [TokenInfo(*row) for row in rows]


def revoke_token(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        row = conn.execute(select(T.c.id, T.c.revoked_at).where(T.c.name == name)).first()
        if row is None:
            raise TokenError(f"no token named {name}: see 'optout-daemon tokens list'")
        if row.revoked_at is not None:
            raise TokenError(f"token {name} is already revoked")
        conn.execute(update(T).where(T.c.id == row.id).values(revoked_at=utcnow()))


def check_token(conn: Connection, presented: str) -> tuple[int, str, datetime | None] | None:
    """(id, name, last_used_at) of the live token whose hash matches, else None.

    The look-up is by hash (an index), then the stored hash is compared in constant time, so the
    answer's timing says nothing about how much of a guess was right."""
    if not presented:
        return None
    digest = hash_token(presented)
    row = conn.execute(select(T.c.id, T.c.name, T.c.token_hash, T.c.last_used_at)
                       .where(T.c.token_hash == digest, T.c.revoked_at.is_(None))).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return row.id, row.name, row.last_used_at


def touch(engine: Engine, token_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(update(T).where(T.c.id == token_id).values(last_used_at=utcnow()))
