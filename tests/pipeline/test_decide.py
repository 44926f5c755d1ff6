"""decide: the policy of issue 4, wrong only in the safe direction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from optout_daemon.pipeline.decide import (
    CustomerContext,
    DecidePolicy,
    decide,
    is_authenticated,
)
from optout_daemon.pipeline.parse import parse
from optout_daemon.pipeline.types import (
    Action,
    Candidate,
    Classification,
    ConsentStateValue,
    Evidence,
    Intent,
    Resolution,
    Screening,
)

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
TRUSTED = "mx.carrier.example"
POLICY = DecidePolicy(trusted_authserv_ids=(TRUSTED,))
JANE = Candidate(1, "1234567890", (Evidence("address_of_record", "jane@example.net"),))
PASS = f"{TRUSTED}; spf=pass smtp.mailfrom=example.net; dkim=pass header.d=example.net; dmarc=pass header.from=example.net"


def message(auth: list[str] | None = None, sender: str = "jane@example.net"):
    head = f"From: Jane <{sender}>\nTo: m@carrier.example\nSubject: privacy\nMessage-ID: <1@example.net>\n"
    head += "".join(f"Authentication-Results: {a}\n" for a in (auth or []))
    return parse((head + "\nbody\n").encode())


def cls(intent: Intent, confidence: float = 0.95, opt_out: float | None = None,
        opt_in: float | None = None) -> Classification:
    scores = {i.value: (1 - confidence) / 3 for i in (Intent.OPT_OUT, Intent.OPT_IN, Intent.AMBIGUOUS, Intent.UNRELATED)}
    scores[intent.value] = confidence
    if opt_out is not None:
        scores[Intent.OPT_OUT.value] = opt_out
    if opt_in is not None:
        scores[Intent.OPT_IN.value] = opt_in
    return Classification(intent, confidence, scores, "test")


def found(of_record: bool = True) -> Resolution:
    return Resolution(customer=JANE, candidates=(JANE,), sender_is_address_of_record=of_record)


def ctx(state=ConsentStateValue.OPTED_IN, confirmed: datetime | None = None) -> CustomerContext:
    return CustomerContext(state, confirmed, ("jane@example.net", "jane@work.example"))


def test_opt_out_with_one_customer_is_applied_and_confirmed_to_sender_and_record_addresses():
    d = decide(message(), Screening(None), cls(Intent.OPT_OUT), found(), ctx(), POLICY, NOW)
    assert d.action is Action.APPLY and d.new_state is ConsentStateValue.OPTED_OUT
    assert [(n.kind, n.recipient) for n in d.notices] == [("opt_out_confirmation", "jane@example.net"),
                                                          ("opt_out_confirmation", "jane@work.example")]


def test_opt_out_needs_no_authentication():
    d = decide(message([f"{TRUSTED}; dmarc=fail header.from=example.net"]), Screening(None), cls(Intent.OPT_OUT),
               found(of_record=False), ctx(), POLICY, NOW)
    assert d.action is Action.APPLY and d.new_state is ConsentStateValue.OPTED_OUT


@pytest.mark.parametrize(("resolution", "reason"), [
    (Resolution(customer=None), "no_customer"),
    (Resolution(customer=None, candidates=(JANE, Candidate(2, "2"))), "several_candidates"),
])
def test_opt_out_without_exactly_one_customer_goes_to_review(resolution, reason):
    d = decide(message(), Screening(None), cls(Intent.OPT_OUT), resolution, None, POLICY, NOW)
    assert d.action is Action.REVIEW and d.review_reasons == (reason,)


def test_opt_out_below_threshold_goes_to_review():
    d = decide(message(), Screening(None), cls(Intent.OPT_OUT, 0.55), found(), ctx(), POLICY, NOW)
    assert d.action is Action.REVIEW and d.review_reasons == ("low_confidence",)


def test_repeated_opt_out_changes_nothing_and_is_confirmed_at_most_once_a_day():
    out = ConsentStateValue.OPTED_OUT
    d = decide(message(), Screening(None), cls(Intent.OPT_OUT), found(), ctx(out, NOW - timedelta(hours=2)), POLICY, NOW)
    assert d.action is Action.APPLY and d.new_state is None and d.notices == ()
    assert "confirmed_recently" in d.reasons
    d = decide(message(), Screening(None), cls(Intent.OPT_OUT), found(), ctx(out, NOW - timedelta(hours=25)), POLICY, NOW)
    assert d.new_state is None and {n.kind for n in d.notices} == {"opt_out_reconfirmation"}


def test_authenticated_opt_in_from_address_of_record_is_applied():
    d = decide(message([PASS]), Screening(None), cls(Intent.OPT_IN), found(), ctx(ConsentStateValue.OPTED_OUT),
               POLICY, NOW)
    assert d.action is Action.APPLY and d.new_state is ConsentStateValue.OPTED_IN
    assert "dmarc_pass" in d.reasons


def test_opt_in_with_aligned_dkim_pass_only():
    auth = f"{TRUSTED}; dkim=pass header.d=example.net; dmarc=none"
    d = decide(message([auth]), Screening(None), cls(Intent.OPT_IN), found(), ctx(ConsentStateValue.OPTED_OUT),
               POLICY, NOW)
    assert d.action is Action.APPLY and "dkim_pass_aligned" in d.reasons


@pytest.mark.parametrize(("auth", "of_record", "why"), [
    ([f"{TRUSTED}; dmarc=fail header.from=example.net"], True, "dmarc_fail"),
    (["evil.example; dmarc=pass header.from=example.net"], True, "no_trusted_authentication_results"),
    ([], True, "no_trusted_authentication_results"),
    ([f"{TRUSTED}; dkim=pass header.d=other.example; spf=pass"], True, "authentication_not_passed"),
    ([f"{TRUSTED}; dmarc=pass header.from=other.example"], True, "authentication_not_passed"),
    # a forged header below ours: only the topmost trusted one counts
    ([f"{TRUSTED}; dmarc=none", PASS], True, "authentication_not_passed"),
    ([f"{TRUSTED}; none", PASS], True, "authentication_not_passed"),
    ([PASS], False, None),
])
def test_opt_in_without_authentication_or_record_goes_to_review(auth, of_record, why):
    d = decide(message(auth), Screening(None), cls(Intent.OPT_IN), found(of_record), ctx(ConsentStateValue.OPTED_OUT),
               POLICY, NOW)
    assert d.action is Action.REVIEW and d.new_state is None
    if why:
        assert why in d.reasons and d.review_reasons == ("opt_in_not_authenticated",)
    else:
        assert d.review_reasons == ("opt_in_sender_not_address_of_record",)


def test_no_trusted_authserv_configured_means_no_automatic_opt_in():
    d = decide(message([PASS]), Screening(None), cls(Intent.OPT_IN), found(), ctx(), DecidePolicy(), NOW)
    assert d.action is Action.REVIEW and "no_trusted_authserv_configured" in d.reasons


def test_opt_in_with_a_real_opt_out_score_goes_to_review():
    d = decide(message([PASS]), Screening(None), cls(Intent.OPT_IN, 0.7, opt_out=0.25), found(), ctx(), POLICY, NOW)
    assert d.action is Action.REVIEW and d.review_reasons == ("possible_opt_out",)


def test_unrelated_is_ignored_only_when_confident_and_no_opt_out_score():
    d = decide(message(), Screening(None), cls(Intent.UNRELATED, 0.9), found(), ctx(), POLICY, NOW)
    assert d.action is Action.IGNORE and not d.notices
    d = decide(message(), Screening(None), cls(Intent.UNRELATED, 0.5), found(), ctx(), POLICY, NOW)
    assert d.action is Action.REVIEW
    d = decide(message(), Screening(None), cls(Intent.UNRELATED, 0.7, opt_out=0.5), found(), ctx(), POLICY, NOW)
    assert d.action is Action.REVIEW and d.review_reasons == ("possible_opt_out",)


def test_unrelated_mail_with_a_real_opt_in_score_goes_to_a_person_not_ignored():
    # "Can you explain this fee? Opt my mother back in.": an opt-in request is never dropped silently
    d = decide(message(), Screening(None), cls(Intent.UNRELATED, 0.7, opt_out=0.05, opt_in=0.25), found(), ctx(), POLICY,
               NOW)
    assert d.action is Action.REVIEW and d.review_reasons == ("possible_opt_in",)
    d = decide(message(), Screening(None), cls(Intent.UNRELATED, 0.7, opt_out=0.05, opt_in=0.15), found(), ctx(), POLICY,
               NOW)
    assert d.action is Action.IGNORE


def test_ambiguous_goes_to_review():
    d = decide(message(), Screening(None), cls(Intent.AMBIGUOUS, 0.9, opt_out=0.0), found(), ctx(), POLICY, NOW)
    assert d.action is Action.REVIEW and d.review_reasons == ("ambiguous",)


@pytest.mark.parametrize(("kind", "intent"), [("bounce", Intent.BOUNCE), ("feedback_report", Intent.BOUNCE),
                                              ("auto_reply", Intent.AUTO_REPLY), ("own_notice", Intent.AUTO_REPLY),
                                              ("read_receipt", Intent.AUTO_REPLY), ("challenge", Intent.AUTO_REPLY)])
def test_screened_mail_is_ignored_and_never_answered(kind, intent):
    d = decide(message(), Screening(kind, "rule"), None, None, None, POLICY, NOW)
    assert (d.action, d.intent, d.notices) == (Action.IGNORE, intent, ())


def test_unreadable_mail_goes_to_a_person():
    p = parse(b"\x00\x01 not an email at all")
    d = decide(p, Screening(None), cls(Intent.UNRELATED, 0.99), Resolution(None), None, POLICY, NOW)
    assert d.action is Action.REVIEW and d.review_reasons == ("unparseable",)


def test_is_authenticated_needs_a_sender_domain():
    assert is_authenticated(message([PASS], sender=""), (TRUSTED,))[0] is False
