"""The worker: claims received messages, runs the pipeline, commits each outcome atomically.

A batch is claimed in one short transaction (status stays `received`, a lease is set); the stages
run outside any write transaction; then the consent event, state change, review item, notices and
the message's new status are written in one transaction, guarded by the lease. A crash at any
point leaves the message `received`: when the lease expires (or at once, when the claiming
process is known to be dead) it is claimed again, and replays write nothing twice.
"""

from __future__ import annotations

import json
import os
import socket
import traceback
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from sqlalchemy import Connection, Engine, and_, bindparam, or_, select, update

from optout_daemon.logs import get_logger
from optout_daemon.metrics import Metrics
from optout_daemon.pipeline.run import Analysis, Pipeline, customer_context, outcome
from optout_daemon.notify.compose import FORWARD_KIND
from optout_daemon.pipeline.types import Action, Decision, Intent, NoticeRequest
from optout_daemon.settings import Settings
from optout_daemon.store import ledger
from optout_daemon.store.customers import DbDirectory
from optout_daemon.store.db import is_postgres
from optout_daemon.store.fast import execute
from optout_daemon.store.tables import InboundMessage, MessageStatus, utcnow

IM = InboundMessage.__table__
log = get_logger("optout.worker")
# The message's new status, guarded by our lease; built once (see store/ledger.py).
_FINISH = update(IM).where(IM.c.id == bindparam("b_id"), IM.c.claimed_by == bindparam("b_me"),
                           IM.c.status == MessageStatus.RECEIVED).values(
    status=bindparam("b_status"), processed_at=bindparam("b_now"), claimed_by="", claim_expires_at=None,
    outcome=bindparam("b_outcome"))


def worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}"


@dataclass
class Claimed:
    id: int
    raw: bytes
    sha256: str
    received_at: Any
    attempts: int


class Worker:
    def __init__(self, engine: Engine, pipeline: Pipeline, settings: Settings, metrics: Metrics | None = None,
                 ident: str | None = None, observer: Callable[..., None] | None = None) -> None:
        self.engine = engine
        self.reader = engine.execution_options(readonly=True)
        self.pipeline = pipeline
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.ident = ident or worker_id()
        # observer(status, new_state, timings, failed_stage): metrics, here or in the parent process.
        self.observer = observer or (lambda *obs: apply_observation(self.metrics, *obs))

    # --- claims ---------------------------------------------------------------------------------

    def release_dead_claims(self) -> int:
        """Release claims held by processes of this host that no longer exist (after a crash)."""
        with self.engine.begin() as conn:
            holders = conn.execute(select(IM.c.claimed_by).where(
                IM.c.status == MessageStatus.RECEIVED, IM.c.claimed_by != "").distinct()).scalars().all()
            dead = [h for h in holders if holder_is_dead(h, self.ident)]
            if not dead:
                return 0
            return conn.execute(update(IM).where(IM.c.claimed_by.in_(dead), IM.c.status == MessageStatus.RECEIVED)
                                .values(claimed_by="", claim_expires_at=None)).rowcount

    def claim(self, limit: int) -> list[Claimed]:
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.worker.lease_seconds)
        claimable = and_(IM.c.status == MessageStatus.RECEIVED,
                         or_(IM.c.claim_expires_at.is_(None), IM.c.claim_expires_at < now))
        with self.engine.begin() as conn:
            query = select(IM.c.id).where(claimable).order_by(IM.c.id).limit(limit)
            if is_postgres(self.engine):
                query = query.with_for_update(skip_locked=True)
            ids = conn.execute(query).scalars().all()
            if not ids:
                return []
            conn.execute(update(IM).where(IM.c.id.in_(ids)).values(claimed_by=self.ident, claim_expires_at=lease))
            rows = conn.execute(select(IM.c.id, IM.c.raw, IM.c.sha256, IM.c.received_at, IM.c.attempts)
                                .where(IM.c.id.in_(ids)).order_by(IM.c.id)).all()
        return [Claimed(r.id, r.raw or b"", r.sha256, r.received_at, r.attempts) for r in rows]

    # --- the loop body ----------------------------------------------------------------------------

    def run_batch(self) -> int:
        """Claim and process one batch; return how many messages were claimed."""
        claimed = self.claim(self.settings.worker.batch_size)
        if not claimed:
            return 0
        now = utcnow()
        analyzed: list[tuple[Claimed, Analysis]] = []
        with self.reader.connect() as conn:
            directory = DbDirectory(conn)
            for item in claimed:
                try:
                    analyzed.append((item, self.pipeline.analyze(item.raw, directory, now)))
                except Exception as exc:  # noqa: BLE001 - a bad message never stops the worker
                    self._failed(item, "analyze", exc)
        if not analyzed:
            return len(claimed)
        try:
            with self.engine.begin() as conn:
                results = [self._record(conn, item, analysis, now) for item, analysis in analyzed]
        except Exception:  # noqa: BLE001 - find the one that fails, commit the others
            results = []
            for item, analysis in analyzed:
                try:
                    with self.engine.begin() as conn:
                        results.append(self._record(conn, item, analysis, now))
                except Exception as exc:  # noqa: BLE001
                    self._failed(item, "record", exc)
        for item, analysis, decision, status in (r for r in results if r is not None):
            self._observe(item, analysis, decision, status)
        return len(claimed)

    def _record(self, conn: Connection, item: Claimed, analysis: Analysis, now: Any) -> tuple | None:
        s = self.settings
        default = s.policy.default_consent
        resolution = analysis.resolution
        customer = resolution.customer if resolution else None
        context = current = None
        if customer is not None:
            current = ledger.current_consent(conn, customer.customer_id, default, lock=True)
            context = customer_context(DbDirectory(conn), current.state, current.last_confirmed_at,
                                       customer.customer_id, now, s.policy.address_of_record_days)
        decision = self.pipeline.decide(analysis, context, now)
        parsed = analysis.parsed
        event_id = None
        if decision.action is Action.APPLY and customer is not None:
            if decision.new_state is not None:
                event_id = ledger.apply_consent(
                    conn, customer_id=customer.customer_id, new_state=decision.new_state, method="email",
                    decided_by="daemon", default=default, inbound_message_id=item.id,
                    message_sha256=item.sha256, evidence=_evidence(analysis, decision), now=now,
                    current=current, confirmed=bool(decision.notices))
            if decision.notices:
                ledger.queue_notices(
                    conn, decision.notices, origin=f"msg{item.id}", customer_id=customer.customer_id,
                    inbound_message_id=item.id, consent_event_id=event_id, in_reply_to=parsed.message_id,
                    references=f"{parsed.references} {parsed.message_id}".strip(), now=now)
                if event_id is None:  # a re-confirmation: the state row only learns the time
                    ledger.mark_confirmed(conn, customer.customer_id, default, now)
            status = MessageStatus.PROCESSED
        elif decision.action is Action.REVIEW:
            ledger.open_review(
                conn, inbound_message_id=item.id, reasons=decision.review_reasons or decision.reasons,
                intent=decision.intent.value, confidence=decision.confidence,
                candidates=_candidates(analysis), language=parsed.language,
                deadline=timedelta(hours=s.policy.review_deadline_hours), received_at=item.received_at, now=now,
                scores=analysis.classification.scores if analysis.classification else None,
                classifier=analysis.classification.classifier if analysis.classification else "")
            status = MessageStatus.REVIEW
        else:
            status = MessageStatus.IGNORED
            forward_to = s.policy.support_forward_address
            if forward_to and decision.intent is Intent.UNRELATED:  # never a bounce or an auto-reply
                ledger.queue_notices(
                    conn, [NoticeRequest(FORWARD_KIND, forward_to, parsed.language)], origin=f"msg{item.id}",
                    customer_id=customer.customer_id if customer else None, inbound_message_id=item.id,
                    consent_event_id=None, subject=parsed.subject, now=now)
        result = execute(conn, _FINISH, {"b_id": item.id, "b_me": self.ident, "b_status": status, "b_now": now,
                                         "b_outcome": json.dumps(outcome(analysis, decision))})
        if result.rowcount != 1:
            raise LeaseLost(f"message {item.id} was claimed by another worker")
        return item, analysis, decision, status

    def _failed(self, item: Claimed, stage: str, exc: Exception) -> None:
        """A stage raised: count the attempt; after max_attempts queue the message for a person."""
        attempts = item.attempts + 1
        error = f"{stage}: {type(exc).__name__}: {exc}"[:2000]
        final = attempts >= self.settings.worker.max_attempts
        log.error("message_failed", message=item.id, stage=stage, attempt=attempts, final=final,
                  error=type(exc).__name__, exc_info=not isinstance(exc, LeaseLost))
        with self.engine.begin() as conn:
            values: dict[str, Any] = {"attempts": attempts, "last_error": error, "claimed_by": "",
                                      "claim_expires_at": None}
            if final:
                values.update(status=MessageStatus.FAILED, processed_at=utcnow(), outcome=json.dumps(
                    {"intent": "ambiguous", "confidence": 0.0, "customer": None, "candidates": [],
                     "decision": "review", "reasons": ["processing_failed", stage]}))
                ledger.open_review(conn, inbound_message_id=item.id, reasons=["processing_failed", error],
                                   deadline=timedelta(hours=self.settings.policy.review_deadline_hours),
                                   received_at=item.received_at)
            conn.execute(update(IM).where(IM.c.id == item.id, IM.c.status == MessageStatus.RECEIVED).values(**values))
        self.observer(MessageStatus.FAILED if final else "", None, {}, stage)

    def _observe(self, item: Claimed, analysis: Analysis, decision: Decision, status: str) -> None:
        changed = decision.new_state.value if decision.new_state is not None and decision.action is Action.APPLY else None
        self.observer(status, changed, analysis.timings, None)
        log.info("message_processed", message=item.id, status=status, intent=decision.intent.value,
                 confidence=round(decision.confidence, 3), action=decision.action.value,
                 customer=decision.customer.customer_id if decision.customer else None,
                 reasons=list(decision.reasons),
                 ms={k: round(v * 1000, 2) for k, v in analysis.timings.items()})


def apply_observation(m: Metrics, status: str, new_state: str | None, timings: dict[str, float],
                      failed_stage: str | None) -> None:
    if failed_stage:
        m.message_failures.labels(stage=failed_stage).inc()
    if status:
        m.messages_processed.labels(outcome=status).inc()
    if new_state:
        m.consent_changes.labels(state=new_state).inc()
    for stage, seconds in timings.items():
        m.stage_seconds.labels(stage=stage).observe(seconds)


class LeaseLost(Exception):
    pass


def holder_is_dead(holder: str, me: str) -> bool:
    """A claim holder ('<prefix:>host:pid') is a process of this host that no longer runs."""
    host_pid = holder.rsplit(":", 2)[-2:]
    my_host = me.rsplit(":", 2)[-2]
    return holder != me and len(host_pid) == 2 and host_pid[0] == my_host and not _pid_alive(host_pid[1])


def _pid_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _candidates(analysis: Analysis) -> list[dict[str, Any]]:
    if analysis.resolution is None:
        return []
    return [{"customer_id": c.customer_id, "account_number": c.account_number,
             "evidence": [{"kind": e.kind, "value": e.value, "strength": e.strength} for e in c.evidence]}
            for c in analysis.resolution.candidates]


def _evidence(analysis: Analysis, decision: Decision) -> dict[str, Any]:
    c = analysis.classification
    return {
        "intent": decision.intent.value, "confidence": round(decision.confidence, 4),
        "classifier": c.classifier if c else "", "scores": c.scores if c else {},
        "customer_evidence": _candidates(analysis), "reasons": list(decision.reasons),
        "message_id": analysis.parsed.message_id,
    }


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()
