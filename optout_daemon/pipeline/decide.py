"""decide: what to do with a message -> Decision.

The policy, wrong only in the safe direction (docs and thresholds in config/optout.example.toml):
- bounces, auto-replies, feedback reports and our own notices are ignored and never answered;
- an opt-out with exactly one customer and confidence >= opt_out_threshold is applied; a repeated
  opt-out changes nothing but is confirmed again, at most once per reconfirm interval;
- an opt-in is applied only when the sender is an address of record of that customer (on the
  account for address_of_record_days) AND a trusted Authentication-Results header shows DMARC
  pass (or DKIM pass aligned with the sender's domain) AND confidence >= opt_in_threshold;
- unrelated mail is ignored only when the classifier is confident and the opt-out score is below
  opt_out_floor; everything else goes to a person with the reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from optout_daemon.pipeline.types import (
    Action,
    Classification,
    ConsentStateValue,
    Decision,
    Intent,
    NoticeRequest,
    ParsedMessage,
    Resolution,
    Screening,
)


@dataclass(frozen=True)
class DecidePolicy:
    opt_out_threshold: float = 0.6
    opt_in_threshold: float = 0.8
    opt_out_floor: float = 0.2
    ignore_unrelated_threshold: float = 0.6
    trusted_authserv_ids: tuple[str, ...] = ()
    reconfirm_interval: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class CustomerContext:
    """What decide needs to know about the resolved customer."""

    state: ConsentStateValue
    last_confirmed_at: datetime | None = None
    record_addresses: tuple[str, ...] = field(default_factory=tuple)  # addresses of record


def is_authenticated(message: ParsedMessage, trusted: tuple[str, ...]) -> tuple[bool, str]:
    """DMARC pass, or DKIM pass aligned with the From domain, in a trusted Authentication-Results."""
    if not trusted:
        return False, "no_trusted_authserv_configured"
    domain = message.from_address.rsplit("@", 1)[-1] if message.from_address else ""
    trusted_lower = {t.lower() for t in trusted}
    results = [r for r in message.auth_results if r.authserv_id in trusted_lower]
    if not results:
        return False, "no_trusted_authentication_results"
    for r in results:
        if r.method == "dmarc" and r.result == "pass" and (not r.domain or r.domain == domain):
            return True, "dmarc_pass"
    for r in results:
        if r.method == "dkim" and r.result == "pass" and domain and (
                r.domain == domain or domain.endswith("." + r.domain)):
            return True, "dkim_pass_aligned"
    return False, "authentication_not_passed"


def _notices(kind: str, message: ParsedMessage, ctx: CustomerContext) -> tuple[NoticeRequest, ...]:
    recipients: list[str] = []
    if message.from_address:
        recipients.append(message.from_address)
    for addr in ctx.record_addresses:
        if addr not in recipients:
            recipients.append(addr)
    return tuple(NoticeRequest(kind=kind, recipient=r, language=message.language) for r in recipients)


def decide(message: ParsedMessage, screening: Screening, classification: Classification | None,
           resolution: Resolution | None, context: CustomerContext | None, policy: DecidePolicy,
           now: datetime) -> Decision:
    if screening.screened_out:
        intent = Intent.BOUNCE if screening.kind in ("bounce", "feedback_report") else Intent.AUTO_REPLY
        return Decision(Action.IGNORE, intent, 1.0, None, None, reasons=(f"screened:{screening.rule}",))
    assert classification is not None and resolution is not None
    intent, confidence = classification.intent, classification.confidence
    reasons = [*classification.reasons, *resolution.reasons]
    customer = resolution.customer
    opt_out_score = classification.scores.get(Intent.OPT_OUT.value, 0.0)

    def review(*why: str) -> Decision:
        return Decision(Action.REVIEW, intent, confidence, customer, None,
                        reasons=(*reasons, *why), review_reasons=why)

    if not message.headers or any(d.startswith("unparseable") for d in message.defects):
        return review("unparseable")  # not readable as an email: a person looks, it is never ignored

    if intent is Intent.OPT_OUT:
        if customer is None or context is None:
            return review("several_candidates" if resolution.candidates else "no_customer")
        if confidence < policy.opt_out_threshold:
            return review("low_confidence")
        if context.state is ConsentStateValue.OPTED_OUT:
            due = context.last_confirmed_at is None or now - context.last_confirmed_at >= policy.reconfirm_interval
            notices = _notices("opt_out_reconfirmation", message, context) if due else ()
            return Decision(Action.APPLY, intent, confidence, customer, None, notices=notices,
                            reasons=(*reasons, "already_opted_out",
                                     "reconfirmed" if due else "confirmed_recently"))
        return Decision(Action.APPLY, intent, confidence, customer, ConsentStateValue.OPTED_OUT,
                        notices=_notices("opt_out_confirmation", message, context),
                        reasons=(*reasons, "opt_out_applied"))

    if opt_out_score >= policy.opt_out_floor:
        return review("possible_opt_out")

    if intent is Intent.OPT_IN:
        if customer is None or context is None:
            return review("several_candidates" if resolution.candidates else "no_customer")
        if not resolution.sender_is_address_of_record:
            return review("opt_in_sender_not_address_of_record")
        authenticated, how = is_authenticated(message, policy.trusted_authserv_ids)
        reasons.append(how)
        if not authenticated:
            return review("opt_in_not_authenticated")
        if confidence < policy.opt_in_threshold:
            return review("low_confidence")
        if context.state is ConsentStateValue.OPTED_IN:
            return Decision(Action.APPLY, intent, confidence, customer, None,
                            reasons=(*reasons, "already_opted_in"))
        return Decision(Action.APPLY, intent, confidence, customer, ConsentStateValue.OPTED_IN,
                        notices=_notices("opt_in_confirmation", message, context),
                        reasons=(*reasons, "opt_in_applied"))

    if intent is Intent.UNRELATED and confidence >= policy.ignore_unrelated_threshold:
        return Decision(Action.IGNORE, intent, confidence, customer, None, reasons=(*reasons, "unrelated"))
    return review("ambiguous" if intent is Intent.AMBIGUOUS else "low_confidence")
