"""decide: what to do with a message -> Decision.

The policy, wrong only in the safe direction (an opt-out is never lost; an opt-in is never applied
on a message that could be forged). In order:
- bounces, auto-replies, feedback reports, read receipts, challenges and our own notices (screen)
  are ignored and never answered;
- a message that is not readable as an email goes to a person ("unparseable");
- an opt-out with exactly one customer and confidence >= `policy.opt_out_threshold` is applied
  and confirmed to the sender and the addresses of record. A repeated opt-out records no new state
  change; it is confirmed again at most once per `notices.reconfirm_interval_hours` per customer.
  An opt-out with no customer or several candidates, or below the threshold, goes to review;
- any message whose opt-out score reaches `policy.opt_out_floor` and was not applied as an opt-out
  goes to review ("possible_opt_out"): it is never ignored and never applied as an opt-in;
- an opt-in is applied only when ALL hold: exactly one customer; the sender is an address of record
  of that customer (on the account for `policy.address_of_record_days`, first import counts as of
  record: store/customers.py); the topmost Authentication-Results header whose authserv-id is in
  `policy.trusted_authserv_ids` shows DMARC pass (or DKIM pass aligned with the From domain) and no
  trusted header shows DMARC fail; confidence >= `policy.opt_in_threshold`. Otherwise review;
- ambiguous requests go to review; unrelated mail is ignored when its confidence reaches
  `policy.ignore_unrelated_threshold` and its opt-in score stays below `policy.opt_in_floor`,
  otherwise a person looks ("possible_opt_in": "Can you explain this fee? Opt my mother back in").

Keys (config/optout.example.toml, section [policy] unless named):
  opt_out_threshold = 0.7          # apply an opt-out with one customer at this confidence or more
  opt_in_threshold = 0.8           # ... an authenticated opt-in from an address of record
  opt_out_floor = 0.2              # an opt-out score this high is never ignored or applied otherwise
  ignore_unrelated_threshold = 0.6 # unrelated mail below this confidence goes to a person
  opt_in_floor = 0.2               # ... and so does unrelated mail whose opt-in score is this high
  trusted_authserv_ids = []        # authserv-id of YOUR inbound MTA's Authentication-Results;
                                   # empty = no opt-in is ever applied automatically
  address_of_record_days = 30      # 47 CFR 64.2003(b)
  [notices] reconfirm_interval_hours = 24  # a repeated opt-out is confirmed again at most this often
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from optout_daemon.pipeline.parse import parse_authentication_results
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
    opt_out_threshold: float = 0.7
    opt_in_threshold: float = 0.8
    opt_out_floor: float = 0.2
    ignore_unrelated_threshold: float = 0.6
    opt_in_floor: float = 0.2
    trusted_authserv_ids: tuple[str, ...] = ()
    reconfirm_interval: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class CustomerContext:
    """What decide needs to know about the resolved customer."""

    state: ConsentStateValue
    last_confirmed_at: datetime | None = None
    record_addresses: tuple[str, ...] = field(default_factory=tuple)  # addresses of record


def is_authenticated(message: ParsedMessage, trusted: tuple[str, ...]) -> tuple[bool, str]:
    """DMARC pass, or DKIM pass aligned with the From domain, in a trusted Authentication-Results.

    Only the topmost header whose authserv-id is trusted counts: receiving MTAs prepend theirs, so
    one further down with the same id was written by someone else (RFC 8601 section 5). A DMARC
    fail in any trusted header wins over a pass.
    """
    if not trusted:
        return False, "no_trusted_authserv_configured"
    domain = message.from_address.rsplit("@", 1)[-1] if "@" in message.from_address else ""
    trusted_lower = {t.lower() for t in trusted}
    per_header = [parse_authentication_results([value]) for value in message.headers.get("authentication-results", [])
                  if _authserv_id(value) in trusted_lower]
    if not per_header:
        return False, "no_trusted_authentication_results"
    if any(r.method == "dmarc" and r.result in ("fail", "permerror") for results in per_header for r in results):
        return False, "dmarc_fail"
    if not domain:
        return False, "no_sender_domain"
    for r in per_header[0]:
        if r.method == "dmarc" and r.result == "pass" and r.domain in ("", domain):
            return True, "dmarc_pass"
    for r in per_header[0]:
        if r.method == "dkim" and r.result == "pass" and r.domain and (
                r.domain == domain or domain.endswith("." + r.domain) or r.domain.endswith("." + domain)):
            return True, "dkim_pass_aligned"
    return False, "authentication_not_passed"


def _authserv_id(value: str) -> str:
    value = re.sub(r"\([^)]*\)", " ", value).split(";", 1)[0].split()
    return value[0].lower() if value else ""


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

    if intent is Intent.UNRELATED and classification.scores.get(Intent.OPT_IN.value, 0.0) >= policy.opt_in_floor:
        return review("possible_opt_in")
    if intent is Intent.UNRELATED and confidence >= policy.ignore_unrelated_threshold:
        return Decision(Action.IGNORE, intent, confidence, customer, None, reasons=(*reasons, "unrelated"))
    return review("ambiguous" if intent is Intent.AMBIGUOUS else "low_confidence")
