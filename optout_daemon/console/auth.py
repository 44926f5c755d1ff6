"""Operators, sign-in and sessions for the review console.

- Operators are rows of `operators` with an Argon2 hash (argon2-cffi); `add_operator` is what
  `optout-daemon operators add` calls.
- A session is a cookie holding `name|expiry|nonce`, signed with HMAC-SHA256 by the key in
  console.secret_key_file (32 random bytes, created 0600 when missing). HttpOnly, SameSite=Strict,
  Secure when the request came over TLS or console.behind_tls_proxy is set. The operator must still
  exist and be enabled on every request.
- CSRF: every form carries a token. Signed in, it is an HMAC of the session nonce; on the sign-in
  page, a random value also set as a cookie (double submit).
- Sign-in attempts: at most console.login_attempts_per_minute failures per client address and per
  name in the last minute; beyond that the answer is 429 without checking the password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response

from optout_daemon.settings import ConsoleSettings
from optout_daemon.store.tables import Operator, utcnow

OP = Operator.__table__
SESSION_COOKIE = "optout_session"
LOGIN_CSRF_COOKIE = "optout_signin_csrf"
_hasher = PasswordHasher()
# verified against when the name is unknown, so that timing does not reveal which names exist
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class OperatorError(Exception):
    """An operator that cannot be added or changed; str() says why."""


def valid_name(name: str) -> bool:
    return bool(name) and len(name) <= 100 and all(ch.isalnum() or ch in "._-@" for ch in name)


def add_operator(engine: Engine, name: str, password: str) -> int:
    if not valid_name(name):
        raise OperatorError(f"operator name {name!r} is not allowed: use letters, digits, '.', '_', '-', '@' "
                            f"(at most 100)")
    if len(password) < 10:
        raise OperatorError("the password is too short: use at least 10 characters")
    try:
        with engine.begin() as conn:
            return conn.execute(insert(OP).values(name=name, password_hash=_hasher.hash(password),
                                                  created_at=utcnow(), disabled=False)
                                .returning(OP.c.id)).scalar_one()
    except IntegrityError:
        raise OperatorError(f"operator {name} already exists: choose another name") from None


def set_disabled(engine: Engine, name: str, disabled: bool) -> None:
    with engine.begin() as conn:
        if conn.execute(update(OP).where(OP.c.name == name).values(disabled=disabled)).rowcount != 1:
            raise OperatorError(f"no operator named {name}: see 'optout-daemon operators list'")


def list_operators(engine: Engine) -> list[tuple[str, bool, object]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(OP.c.name, OP.c.disabled, OP.c.created_at).order_by(OP.c.name))]


def verify_operator(engine: Engine, name: str, password: str) -> bool:
    with engine.connect() as conn:
        row = conn.execute(select(OP.c.password_hash, OP.c.disabled).where(OP.c.name == name)).first()
    try:
        ok = _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        ok = False
    return ok and row is not None and not row.disabled


def operator_active(engine: Engine, name: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(OP.c.id).where(OP.c.name == name, OP.c.disabled.is_(False))).first() is not None


def load_secret_key(path: str) -> bytes:
    """Read the signing key; create it (0600, 32 random bytes) when the file does not exist."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = p.read_bytes().strip()
        if len(key) < 32:
            raise OperatorError(f"{p} holds too short a key: delete it and restart to create a new one") from None
        return key
    except FileNotFoundError:
        p.parent.mkdir(parents=True, exist_ok=True)
        return load_secret_key(path)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_hex(32).encode())
    return p.read_bytes().strip()


@dataclass(frozen=True)
class Session:
    operator: str
    nonce: str
    csrf: str


class SessionSigner:
    def __init__(self, key: bytes, hours: float) -> None:
        self.key = key
        self.seconds = int(hours * 3600)

    def _mac(self, data: str) -> str:
        return hmac.new(self.key, data.encode(), hashlib.sha256).hexdigest()

    def issue(self, operator: str) -> str:
        payload = f"{operator}|{int(time.time()) + self.seconds}|{secrets.token_hex(16)}"
        return base64.urlsafe_b64encode(payload.encode()).decode() + "." + self._mac(payload)

    def read(self, cookie: str | None) -> Session | None:
        if not cookie or "." not in cookie:
            return None
        encoded, mac = cookie.rsplit(".", 1)
        try:
            payload = base64.urlsafe_b64decode(encoded.encode()).decode()
            operator, expires, nonce = payload.split("|")
        except (ValueError, UnicodeDecodeError):
            return None
        if not hmac.compare_digest(mac, self._mac(payload)) or int(expires) < time.time():
            return None
        return Session(operator, nonce, self._mac("csrf|" + nonce))


def csrf_ok(expected: str, given: object) -> bool:
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(expected, given)


def secure_cookies(request: Request, settings: ConsoleSettings) -> bool:
    return settings.behind_tls_proxy or request.url.scheme == "https"


def set_cookie(response: Response, request: Request, settings: ConsoleSettings, name: str, value: str,
               max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=secure_cookies(request, settings))


class LoginLimiter:
    """Failed sign-ins per key (client address, operator name) in a sliding minute."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.failures: dict[str, deque[float]] = {}
        self.lock = Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self.failures.setdefault(key, deque())
        while q and q[0] <= now - 60:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> float:
        """Seconds to wait before another attempt, 0 when allowed."""
        now = time.monotonic()
        with self.lock:
            waits = [60 - (now - q[0]) for q in (self._recent(k, now) for k in keys) if len(q) >= self.per_minute]
        return max(waits, default=0.0)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self.lock:
            for k in keys:
                self._recent(k, now).append(now)
            if len(self.failures) > 10_000:  # forget idle keys
                for k in [k for k, q in self.failures.items() if not q]:
                    del self.failures[k]
