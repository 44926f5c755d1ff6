"""The consent ledger: every change of consent goes through `apply_consent`, whoever decides.

All functions take the caller's connection, so that the event, the state change, the review item,
the notices and the message's new status commit in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from optout_daemon.pipeline.types import ConsentStateValue, NoticeRequest
from optout_daemon.store.fast import execute
from optout_daemon.store.tables import (
    ConsentEvent,
    ConsentState,
    InboundMessage,
    Notice,
    ReviewItem,
    utcnow,
)

S = ConsentState.__table__
EV = ConsentEvent.__table__
RI = ReviewItem.__table__
NT = Notice.__table__
IM = InboundMessage.__table__


@dataclass(frozen=True)
class CurrentConsent:
    state: ConsentStateValue
    since: datetime | None
    last_confirmed_at: datetime | None
    explicit: bool  # False when no event was ever recorded and the default applies


# Statements built once: building them per message costs more than running them (SQLAlchemy
# generates a cache key from every .values() call).
_SELECT_STATE = select(S.c.state, S.c.since, S.c.last_confirmed_at).where(S.c.customer_id == bindparam("b_cid"))
_SELECT_STATE_LOCKED = _SELECT_STATE.with_for_update()
_INSERT_EVENT = insert(EV).returning(EV.c.id)
_INSERT_STATE = insert(S)
_UPDATE_STATE = update(S).where(S.c.customer_id == bindparam("b_cid")).values(
    state=bindparam("b_state"), since=bindparam("b_since"), last_event_id=bindparam("b_event"))
_UPDATE_STATE_CONFIRMED = _UPDATE_STATE.values(last_confirmed_at=bindparam("b_since"))
_UPDATE_CONFIRMED = update(S).where(S.c.customer_id == bindparam("b_cid")).values(
    last_confirmed_at=bindparam("b_now"))
_OPEN_REVIEW_OF_MESSAGE = select(RI.c.id).where(RI.c.inbound_message_id == bindparam("b_msg"),
                                               RI.c.notice_id.is_(None))
_INSERT_REVIEW = insert(RI).returning(RI.c.id)
_INSERT_NOTICE = {
    "postgresql": pg_insert(NT).on_conflict_do_nothing(index_elements=["key"]).returning(NT.c.id),
    "sqlite": sqlite_insert(NT).on_conflict_do_nothing(index_elements=["key"]).returning(NT.c.id),
}


def current_consent(conn: Connection, customer_id: int, default: str, lock: bool = False) -> CurrentConsent:
    query = _SELECT_STATE_LOCKED if lock and conn.dialect.name == "postgresql" else _SELECT_STATE
    row = execute(conn, query, {"b_cid": customer_id}).first()
    if row is None:
        return CurrentConsent(ConsentStateValue(default), None, None, explicit=False)
    return CurrentConsent(ConsentStateValue(row.state), row.since, row.last_confirmed_at, explicit=True)


def apply_consent(conn: Connection, *, customer_id: int, new_state: ConsentStateValue, method: str,
                  decided_by: str, default: str, inbound_message_id: int | None = None,
                  message_sha256: str = "", evidence: Any = None, note: str = "",
                  now: datetime | None = None, current: CurrentConsent | None = None,
                  confirmed: bool = False) -> int | None:
    """Record a change of consent; return the new ConsentEvent id, or None when nothing changes.

    `current` is the state the caller read (and locked) in this transaction, if it did; `confirmed`
    records that a confirmation is queued with this change.
    """
    now = now or utcnow()
    current = current or current_consent(conn, customer_id, default, lock=True)
    if current.state is new_state and current.explicit:
        return None
    if current.state is new_state and not current.explicit and new_state is ConsentStateValue.OPTED_IN:
        return None  # an opt-in to the default state changes nothing
    event_id = execute(conn, _INSERT_EVENT, {
        "customer_id": customer_id, "old_state": current.state.value, "new_state": new_state.value,
        "occurred_at": now, "method": method, "inbound_message_id": inbound_message_id,
        "message_sha256": message_sha256, "decided_by": decided_by,
        "evidence": json.dumps(evidence, sort_keys=True, default=str) if evidence is not None else "",
        "note": note}).scalar_one()
    if current.explicit:
        execute(conn, _UPDATE_STATE_CONFIRMED if confirmed else _UPDATE_STATE,
                {"b_cid": customer_id, "b_state": new_state.value, "b_since": now, "b_event": event_id})
    else:
        execute(conn, _INSERT_STATE, {"customer_id": customer_id, "state": new_state.value, "since": now,
                                      "last_event_id": event_id, "last_confirmed_at": now if confirmed else None})
    return event_id


def mark_confirmed(conn: Connection, customer_id: int, default: str, now: datetime) -> None:
    """Remember when the customer was last sent a confirmation (re-confirmations are rate-limited)."""
    result = execute(conn, _UPDATE_CONFIRMED, {"b_cid": customer_id, "b_now": now})
    if result.rowcount == 0:
        execute(conn, _INSERT_STATE, {"customer_id": customer_id, "state": default, "since": now,
                                      "last_event_id": None, "last_confirmed_at": now})


def queue_notices(conn: Connection, requests: Iterable[NoticeRequest], *, origin: str,
                  customer_id: int | None, inbound_message_id: int | None, consent_event_id: int | None,
                  in_reply_to: str = "", references: str = "", subject: str = "",
                  now: datetime | None = None) -> list[int]:
    """Put notices in the outbox. The key (origin, kind, recipient) makes a replay queue nothing.

    Returns the ids of the notices queued now (not those a replay found already queued).
    """
    now = now or utcnow()
    statement = _INSERT_NOTICE[conn.dialect.name]
    ids = []
    for req in requests:
        new_id = execute(conn, statement, {
            "key": f"{origin}:{req.kind}:{req.recipient}", "kind": req.kind, "language": req.language,
            "recipient": req.recipient, "customer_id": customer_id, "inbound_message_id": inbound_message_id,
            "consent_event_id": consent_event_id, "in_reply_to": in_reply_to[:998], "references": references,
            "subject": subject[:998], "status": "pending", "attempts": 0, "next_attempt_at": now,
            "last_error": "", "claimed_by": "", "created_at": now}).scalar()
        if new_id is not None:
            ids.append(new_id)
    return ids


def open_review(conn: Connection, *, inbound_message_id: int | None, reasons: Iterable[str], intent: str = "",
                confidence: float = 0.0, candidates: Any = (), language: str = "en",
                deadline: timedelta = timedelta(hours=48), received_at: datetime | None = None,
                notice_id: int | None = None, now: datetime | None = None,
                scores: dict[str, float] | None = None, classifier: str = "") -> int:
    """Open a review item, unless one is already open for the same message (replays do nothing)."""
    now = now or utcnow()
    if inbound_message_id is not None and notice_id is None:
        existing = execute(conn, _OPEN_REVIEW_OF_MESSAGE, {"b_msg": inbound_message_id}).first()
        if existing:
            return existing.id
    return execute(conn, _INSERT_REVIEW, {
        "inbound_message_id": inbound_message_id, "notice_id": notice_id, "status": "open", "intent": intent,
        "confidence": float(confidence), "reasons": json.dumps(list(reasons)),
        "candidates": json.dumps(list(candidates), default=str), "language": language, "created_at": now,
        "due_at": (received_at or now) + deadline, "claimed_by": "", "resolved_by": "", "resolution": "", "note": "",
        "scores": json.dumps({k: round(float(v), 4) for k, v in (scores or {}).items()}),
        "classifier": classifier[:64]}).scalar_one()


def consent_history(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(EV).where(EV.c.customer_id == customer_id).order_by(EV.c.id)).mappings().all()
    return [dict(r) for r in rows]
