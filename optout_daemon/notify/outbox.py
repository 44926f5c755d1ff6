"""The outbox: sends queued notices, retries temporary failures, never sends one twice.

A notice is marked `sending` (committed) before it is handed over. If the daemon dies during the
hand-over, the notice is found `sending` with an expired lease; the Maildir sender can tell whether
it was written (the file name is derived from the key), the SMTP relay cannot, so such a notice is
marked `uncertain` and queued for a person instead of being sent again.
"""

from __future__ import annotations

import hashlib
import os
import random
import smtplib
import socket
import ssl
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, and_, bindparam, select, update

from optout_daemon.logs import get_logger
from optout_daemon.metrics import Metrics
from optout_daemon.notify.compose import FORWARD_KIND, ComposeSettings, NoticeContent, compose, compose_forward
from optout_daemon.settings import NoticeSettings, Settings
from optout_daemon.store import ledger
from optout_daemon.store.db import is_postgres
from optout_daemon.store.tables import InboundMessage, Notice, NoticeStatus, utcnow
from optout_daemon.worker import holder_is_dead

NT = Notice.__table__
_MARK_SENT = update(NT).where(NT.c.id == bindparam("notice_id")).values(
    status=NoticeStatus.SENT, attempts=bindparam("attempts"), sent_at=bindparam("sent_at"), claimed_by="",
    claim_expires_at=None, last_error="")
log = get_logger("optout.outbox")


class TemporaryFailure(Exception):
    """Try again later (4xx, connection refused, timeout)."""


class PermanentFailure(Exception):
    """Will never succeed as it is (5xx): a person must look."""


class Sender(Protocol):
    knows_what_it_sent: bool
    """already_sent() answers True or False, never None."""

    def send(self, key: str, sender: str, recipient: str, message: bytes) -> None: ...

    def already_sent(self, key: str) -> bool | None:
        """True/False when the sender can tell; None when it cannot."""

    def flush(self) -> None:
        """End of a batch: make everything sent so far durable (before it is marked sent), close
        what the batch held open."""


class MaildirSender:
    """Writes each notice as a file in a Maildir; the file name comes from the notice key."""

    knows_what_it_sent = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        for sub in ("tmp", "new", "cur"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        # Plain strings: a notice costs three path joins, and pathlib's cost more than the writes.
        self._tmp, self._new, self._cur = (os.path.join(self.path, sub) for sub in ("tmp", "new", "cur"))
        self._host = socket.gethostname()[:30]
        self._unflushed = False

    def _name(self, key: str) -> str:
        return f"notice-{hashlib.sha256(key.encode()).hexdigest()[:40]}.{self._host}"

    def already_sent(self, key: str) -> bool:
        """In new/ as written, or in cur/ once a mail client has seen it (renamed `name:2,FLAGS`)."""
        return self._sent(self._name(key))

    def _sent(self, name: str) -> bool:
        if os.path.exists(os.path.join(self._new, name)):
            return True
        with os.scandir(self._cur) as entries:
            return any(e.name.split(":", 1)[0] == name for e in entries)

    def send(self, key: str, sender: str, recipient: str, message: bytes) -> None:
        name = self._name(key)
        if self._sent(name):
            return
        tmp = os.path.join(self._tmp, f"{name}.{os.getpid()}")
        try:
            with open(tmp, "wb") as fh:
                fh.write(f"Return-Path: <{sender}>\nDelivered-To: {recipient}\n".encode())
                fh.write(message.replace(b"\r\n", b"\n"))
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, os.path.join(self._new, name))  # fails if it exists: never two copies
        except FileExistsError:
            pass
        except OSError as exc:
            raise TemporaryFailure(f"maildir write failed: {exc.strerror}") from exc
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        self._unflushed = True

    def flush(self) -> None:
        """One fsync of new/ for the whole batch: the links made since the last flush are durable."""
        if not self._unflushed:
            return
        dir_fd = os.open(self._new, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._unflushed = False


class SmtpRelaySender:
    """Hands notices to the carrier's relay, over one connection for a whole batch."""

    knows_what_it_sent = False

    def __init__(self, cfg: NoticeSettings) -> None:
        self.cfg = cfg
        self._client: smtplib.SMTP | None = None

    def already_sent(self, key: str) -> None:
        return None

    def flush(self) -> None:
        """End of a batch: say QUIT. A message is the relay's once it has answered 250."""
        client, self._client = self._client, None
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    def _connect(self) -> smtplib.SMTP:
        cfg = self.cfg
        if cfg.relay_tls_implicit:
            client: smtplib.SMTP = smtplib.SMTP_SSL(cfg.relay_host, cfg.relay_port, timeout=cfg.relay_timeout_seconds,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(cfg.relay_host, cfg.relay_port, timeout=cfg.relay_timeout_seconds)
        try:
            client.ehlo()
            if cfg.relay_starttls and not cfg.relay_tls_implicit:
                if client.has_extn("starttls"):
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                elif cfg.relay_username:
                    raise PermanentFailure("relay offers no STARTTLS; refusing to send the password in clear")
            if cfg.relay_username:
                client.login(cfg.relay_username, cfg.relay_password)
        except BaseException:
            client.close()
            raise
        return client

    def _reusable(self) -> smtplib.SMTP | None:
        """The batch's open connection if the relay still answers on it (it may have timed it out)."""
        client = self._client
        if client is None:
            return None
        try:
            if client.noop()[0] == 250:
                return client
        except (smtplib.SMTPException, OSError):
            pass
        client.close()
        self._client = None
        return None

    def send(self, key: str, sender: str, recipient: str, message: bytes) -> None:
        try:
            client = self._reusable() or self._connect()
            self._client = client
            client.sendmail(sender, [recipient], message)
        # A refusal ends the transaction, not the connection (smtplib has sent RSET); the next send
        # checks with NOOP that the relay still answers on it.
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise (PermanentFailure if code >= 500 else TemporaryFailure)(f"{code} {_text(text)}") from exc
        except smtplib.SMTPResponseException as exc:
            raise (PermanentFailure if exc.smtp_code >= 500 else TemporaryFailure)(
                f"{exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc
        except PermanentFailure:
            self._drop()
            raise

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def make_sender(settings: Settings) -> Sender:
    if settings.relay_configured:
        return SmtpRelaySender(settings.notices)
    return MaildirSender(settings.notices.maildir)


@dataclass
class DrainResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0


class Outbox:
    def __init__(self, engine: Engine, settings: Settings, sender: Sender, metrics: Metrics | None = None,
                 ident: str = "outbox", template_dir: str = "") -> None:
        self.engine = engine
        self.settings = settings
        self.sender = sender
        self.metrics = metrics or Metrics()
        self.ident = ident
        n = settings.notices
        self.compose_settings = ComposeSettings(n.from_address, n.from_name, n.carrier_name, n.loop_header,
                                                template_dir)

    def recover(self) -> int:
        """Notices left `sending` by a dead process: sent, or uncertain and queued for a person."""
        now = utcnow()
        fixed = 0
        with self.engine.begin() as conn:
            sending = conn.execute(select(NT.c.id, NT.c.key, NT.c.claimed_by, NT.c.claim_expires_at).where(
                NT.c.status == NoticeStatus.SENDING)).all()
            stale = [r for r in sending if r.claim_expires_at < now or holder_is_dead(r.claimed_by, self.ident)]
            for row in stale:
                known = self.sender.already_sent(row.key)
                if known is False:
                    conn.execute(update(NT).where(NT.c.id == row.id).values(
                        status=NoticeStatus.PENDING, claimed_by="", claim_expires_at=None))
                elif known is True:
                    conn.execute(update(NT).where(NT.c.id == row.id).values(
                        status=NoticeStatus.SENT, sent_at=now, claimed_by="", claim_expires_at=None))
                else:
                    conn.execute(update(NT).where(NT.c.id == row.id).values(
                        status=NoticeStatus.UNCERTAIN, claimed_by="", claim_expires_at=None,
                        last_error="the daemon stopped while handing this notice to the relay"))
                    ledger.open_review(conn, inbound_message_id=None, notice_id=row.id,
                                       reasons=["notice_delivery_uncertain"], now=now)
                fixed += 1
        return fixed

    def claim(self, limit: int) -> list:
        now = utcnow()
        with self.engine.begin() as conn:
            query = (select(NT.c.id).where(and_(NT.c.status == NoticeStatus.PENDING, NT.c.next_attempt_at <= now))
                     .order_by(NT.c.next_attempt_at, NT.c.id).limit(limit))
            if is_postgres(self.engine):
                query = query.with_for_update(skip_locked=True)
            ids = conn.execute(query).scalars().all()
            if not ids:
                return []
            conn.execute(update(NT).where(NT.c.id.in_(ids)).values(
                status=NoticeStatus.SENDING, claimed_by=self.ident,
                claim_expires_at=now + timedelta(seconds=self.settings.notices.relay_timeout_seconds * 3 + 30)))
            return conn.execute(select(NT).where(NT.c.id.in_(ids)).order_by(NT.c.id)).all()

    def drain_once(self) -> DrainResult:
        """Send one batch. Where the sender can tell afterwards what it sent (the Maildir), the batch
        is made durable once and marked sent in one transaction: a crash in between is repaired by
        recover(). Where it cannot (a relay), each notice is marked sent as soon as it is handed over,
        so that at most the one in flight can be left uncertain."""
        result = DrainResult()
        rows = self.claim(self.settings.notices.batch_size)
        deferred = self.sender.knows_what_it_sent
        sent: list = []
        try:
            for row in rows:
                if self._send_one(row, result):
                    sent.append(row)
                    if not deferred:
                        self._mark_sent(sent)
                        sent = []
        finally:
            self.sender.flush()
        if sent:
            self._mark_sent(sent)
        return result

    def _original(self, inbound_message_id: int | None) -> bytes | None:
        if inbound_message_id is None:
            return None
        with self.engine.execution_options(readonly=True).connect() as conn:
            return conn.execute(select(InboundMessage.__table__.c.raw).where(
                InboundMessage.__table__.c.id == inbound_message_id)).scalar()

    def _mark_sent(self, rows: list) -> None:
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(_MARK_SENT, [{"notice_id": r.id, "attempts": r.attempts + 1, "sent_at": now} for r in rows])
        for row in rows:
            self.metrics.notices.labels(result="sent").inc()
            log.info("notice_sent", notice=row.id, kind=row.kind, language=row.language, recipient=row.recipient)

    def _send_one(self, row, result: DrainResult) -> bool:  # noqa: ANN001
        """Hand one notice to the sender; True when it was handed over (to be marked sent)."""
        n = self.settings.notices
        content = NoticeContent(row.key, row.kind, row.language, row.recipient, row.in_reply_to, row.references)
        now = utcnow()
        try:
            if row.kind == FORWARD_KIND:
                message = compose_forward(row.key, row.recipient, row.subject, self._original(row.inbound_message_id),
                                          self.compose_settings)
            else:
                message = compose(content, self.compose_settings)
            self.sender.send(row.key, n.from_address, row.recipient, message)
        except TemporaryFailure as exc:
            attempts = row.attempts + 1
            if attempts >= n.max_attempts:
                self._fail(row, f"gave up after {attempts} attempts: {exc}", result)
                return
            delay = min(n.backoff_max_seconds, n.backoff_base_seconds * 2 ** (attempts - 1))
            delay = delay * random.uniform(0.5, 1.0)
            with self.engine.begin() as conn:
                conn.execute(update(NT).where(NT.c.id == row.id).values(
                    status=NoticeStatus.PENDING, attempts=attempts, last_error=str(exc)[:2000],
                    next_attempt_at=now + timedelta(seconds=delay), claimed_by="", claim_expires_at=None))
            self.metrics.notices.labels(result="retry").inc()
            result.retried += 1
            log.warning("notice_retry", notice=row.id, attempt=attempts, delay_s=round(delay, 1), error=str(exc))
            return False
        except PermanentFailure as exc:
            self._fail(row, str(exc), result)
            return False
        except Exception as exc:  # noqa: BLE001 - a template or compose bug: a person must look
            self._fail(row, f"{type(exc).__name__}: {exc}", result)
            return False
        result.sent += 1
        return True

    def _fail(self, row, error: str, result: DrainResult) -> None:  # noqa: ANN001
        with self.engine.begin() as conn:
            conn.execute(update(NT).where(NT.c.id == row.id).values(
                status=NoticeStatus.FAILED, attempts=row.attempts + 1, last_error=error[:2000], claimed_by="",
                claim_expires_at=None))
            ledger.open_review(conn, inbound_message_id=row.inbound_message_id, notice_id=row.id,
                               reasons=["notice_failed", error[:300]],
                               deadline=timedelta(hours=self.settings.policy.review_deadline_hours))
        self.metrics.notices.labels(result="failed").inc()
        result.failed += 1
        log.error("notice_failed", notice=row.id, kind=row.kind, error=error)
