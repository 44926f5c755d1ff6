"""The database tables. Times are timezone-aware UTC.

The schema is created and changed only by the Alembic migrations in store/migrations/.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Optional

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class MessageStatus:
    RECEIVED = "received"  # stored, waiting for a worker
    PROCESSED = "processed"  # consent applied (or re-confirmed)
    REVIEW = "review"  # a person must decide: a ReviewItem is open
    IGNORED = "ignored"  # bounce, auto-reply, unrelated
    FAILED = "failed"  # raised max_attempts times; a ReviewItem is open


class NoticeStatus:
    PENDING = "pending"
    SENDING = "sending"  # handed to the relay; set before the attempt so a crash never resends
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"  # a crash during the hand-over: a person checks, nothing is resent


class Customer(SQLModel, table=True):
    __tablename__ = "customers"
    id: Optional[int] = Field(default=None, primary_key=True)
    account_number: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(default="", max_length=200)
    postal_zip: str = Field(default="", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class CustomerEmail(SQLModel, table=True):
    """An email address on a customer's account, with since-when (address of record after 30 days)."""

    __tablename__ = "customer_emails"
    __table_args__ = (UniqueConstraint("customer_id", "email"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    email: str = Field(max_length=320, index=True)  # lower-cased
    on_record_since: datetime = Field(default_factory=utcnow)


class CustomerPhone(SQLModel, table=True):
    __tablename__ = "customer_phones"
    __table_args__ = (UniqueConstraint("customer_id", "e164"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    e164: str = Field(max_length=20, index=True)
    on_record_since: datetime = Field(default_factory=utcnow)


class InboundMessage(SQLModel, table=True):
    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_messages_status_id", "status", "id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    natural_key: str = Field(max_length=600, unique=True)
    """smtp: 'smtp:<Message-ID>:<sha256>'; imap: 'imap:<account>:<mailbox>:<uidvalidity>:<uid>'."""
    sha256: str = Field(max_length=64, index=True)
    message_id: str = Field(default="", max_length=998)
    source: str = Field(default="smtp", max_length=16)  # smtp, lmtp, imap
    mail_from: str = Field(default="", max_length=320)
    rcpt_to: str = Field(default="", max_length=2000)
    size: int = 0
    raw: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    raw_purged_at: Optional[datetime] = None
    received_at: datetime = Field(default_factory=utcnow, index=True)
    status: str = Field(default=MessageStatus.RECEIVED, max_length=16)
    attempts: int = 0
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    claimed_by: str = Field(default="", max_length=64)
    claim_expires_at: Optional[datetime] = None
    processed_at: Optional[datetime] = None
    outcome: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    """JSON: intent, confidence, decision, customer, candidates, reasons (the analyze contract)."""


class ConsentState(SQLModel, table=True):
    """The current consent of one customer; changed only together with a ConsentEvent."""

    __tablename__ = "consent_states"
    customer_id: int = Field(foreign_key="customers.id", primary_key=True)
    state: str = Field(max_length=16)  # opted_in / opted_out
    since: datetime = Field(default_factory=utcnow)
    last_event_id: Optional[int] = None
    last_confirmed_at: Optional[datetime] = None


class ConsentEvent(SQLModel, table=True):
    """Append-only ledger of consent changes (47 CFR 64.2007(a)(3)); triggers refuse UPDATE/DELETE."""

    __tablename__ = "consent_events"
    id: Optional[int] = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customers.id", index=True)
    old_state: str = Field(max_length=16)
    new_state: str = Field(max_length=16)
    occurred_at: datetime = Field(default_factory=utcnow, index=True)
    method: str = Field(max_length=16)  # email, operator, api
    inbound_message_id: Optional[int] = Field(default=None, foreign_key="inbound_messages.id", index=True)
    message_sha256: str = Field(default="", max_length=64)
    decided_by: str = Field(max_length=200)  # "daemon" or "operator:<name>"
    evidence: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    note: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class ReviewItem(SQLModel, table=True):
    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_status_created", "status", "created_at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    inbound_message_id: Optional[int] = Field(default=None, foreign_key="inbound_messages.id", index=True)
    notice_id: Optional[int] = Field(default=None, foreign_key="notices.id")
    status: str = Field(default="open", max_length=16)  # open, resolved
    intent: str = Field(default="", max_length=16)
    confidence: float = 0.0
    reasons: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))  # JSON list
    candidates: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))  # JSON
    language: str = Field(default="en", max_length=8)
    created_at: datetime = Field(default_factory=utcnow)
    due_at: datetime = Field(default_factory=utcnow, index=True)
    claimed_by: str = Field(default="", max_length=200)
    claim_expires_at: Optional[datetime] = None
    resolved_at: Optional[datetime] = None
    resolved_by: str = Field(default="", max_length=200)
    resolution: str = Field(default="", max_length=16)  # opt_out, opt_in, unrelated, no_action
    resolution_customer_id: Optional[int] = Field(default=None, foreign_key="customers.id")
    consent_event_id: Optional[int] = Field(default=None, foreign_key="consent_events.id")
    note: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    scores: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    """JSON: the classifier's score per intent when the item was opened (what the person is shown)."""
    classifier: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})


class Notice(SQLModel, table=True):
    """The outbox: a confirmation to send. `key` is unique so a notice is never queued twice."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_status_next", "status", "next_attempt_at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(max_length=400, unique=True)
    kind: str = Field(max_length=40)
    language: str = Field(default="en", max_length=8)
    recipient: str = Field(max_length=320)
    customer_id: Optional[int] = Field(default=None, foreign_key="customers.id", index=True)
    inbound_message_id: Optional[int] = Field(default=None, foreign_key="inbound_messages.id")
    consent_event_id: Optional[int] = Field(default=None, foreign_key="consent_events.id")
    in_reply_to: str = Field(default="", max_length=998)
    references: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    subject: str = Field(default="", max_length=998)
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    claimed_by: str = Field(default="", max_length=64)
    claim_expires_at: Optional[datetime] = None
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: Optional[datetime] = None


class Operator(SQLModel, table=True):
    __tablename__ = "operators"
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    password_hash: str = Field(max_length=400)
    created_at: datetime = Field(default_factory=utcnow)
    disabled: bool = False


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    token_hash: str = Field(max_length=128, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: Optional[datetime] = None
    revoked_at: Optional[datetime] = None


class ImapMailboxState(SQLModel, table=True):
    """Per IMAP account and mailbox: the UIDVALIDITY seen last."""

    __tablename__ = "imap_mailbox_states"
    __table_args__ = (UniqueConstraint("account", "mailbox"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    account: str = Field(max_length=200)
    mailbox: str = Field(max_length=500)
    uidvalidity: int = 0
    updated_at: datetime = Field(default_factory=utcnow)
