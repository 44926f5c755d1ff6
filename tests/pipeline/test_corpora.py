"""The real mail in ../shared/corpora (README.md + index.csv) through the whole pipeline.

Every bounce, auto-reply and feedback report is screened out and ignored; so are the extra
auto-replies, challenges and read receipts the README lists under `other`; no file raises anywhere
in parse -> screen -> classify -> resolve -> decide; and the person-written `normal` messages are
mostly not screened out (a screen that drops people's mail would drop their opt-outs).
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from optout_daemon.pipeline.classify import KeywordClassifier
from optout_daemon.pipeline.decide import DecidePolicy
from optout_daemon.pipeline.evaluate_policy import MemoryDirectory
from optout_daemon.pipeline.resolve import ResolvePolicy
from optout_daemon.pipeline.run import Pipeline
from optout_daemon.pipeline.types import Action, Intent
from optout_daemon.settings import PolicySettings

CORPORA = Path(__file__).resolve().parents[2].parent / "shared" / "corpora"
NOW = datetime(2026, 11, 2, tzinfo=UTC)
# The README's "Notes for test writers": automatic mail that its source files under `other`.
EXTRA_AUTOMATIC = [
    "getoutreach-bounce-email/non_bounces/tt_1234210666.txt",
    "getoutreach-bounce-email/non_bounces/tt_1234211024.txt",
    "php-mime-mail-parser/issue212",
    "rjbs-mail-deliverystatus-bounceparser/bluebottle.msg",
    "rjbs-mail-deliverystatus-bounceparser/boxbe-cr.msg",
    "rjbs-mail-deliverystatus-bounceparser/boxbe-cr2.msg",
    "rjbs-mail-deliverystatus-bounceparser/whitelist.msg",
    "mailgun-flanker/disposition-notification.eml",
    "mimekit/disposition-notification.txt",
]
# Filed as `arf` by its source, but it is Apple Mail's Unsubscribe button (a List-Unsubscribe mailto:
# that a person pressed): screening it out would drop an opt-out, so it must reach classification.
UNSUBSCRIBE_BUTTON = "sisimai-set-of-emails/maildir/bsd/arf-26.eml"
# `normal` files that are in fact machine mail (a DSN filed under mime_emails/ by its source).
NORMAL_BUT_AUTOMATIC = {"mikel-mail/mime_emails/raw_email_with_mimepart_without_content_type.eml"}

pytestmark = pytest.mark.skipif(not (CORPORA / "index.csv").exists(), reason=f"no corpora at {CORPORA}")


def _index() -> list[dict[str, str]]:
    with open(CORPORA / "index.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def outcomes():
    """(path, kind) -> (analysis, decision) for every file; an exception fails the test that reads it."""
    settings = PolicySettings(trusted_authserv_ids=["mx.carrier.example"])
    pipeline = Pipeline(KeywordClassifier(), ResolvePolicy(settings.account_pattern),
                        DecidePolicy(trusted_authserv_ids=("mx.carrier.example",)))
    directory = MemoryDirectory([])
    results, errors = {}, []
    for row in _index():
        raw = (CORPORA / row["path"]).read_bytes()
        try:
            analysis = pipeline.analyze(raw, directory, NOW)
            results[row["path"]] = (row["kind"], analysis, pipeline.decide(analysis, None, NOW))
        except Exception as exc:  # noqa: BLE001 - collected, then the test fails naming them
            errors.append(f"{row['path']}: {type(exc).__name__}: {exc}")
    return results, errors


def test_index_lists_every_file(outcomes):
    results, errors = outcomes
    assert len(results) + len(errors) == len(_index()) >= 1498


def test_no_file_raises_anywhere_in_the_pipeline(outcomes):
    _, errors = outcomes
    assert errors == []


def test_every_decision_is_apply_review_or_ignore(outcomes):
    results, _ = outcomes
    assert {d.action for _, _, d in results.values()} <= {Action.APPLY, Action.REVIEW, Action.IGNORE}


@pytest.mark.parametrize("kind", ["bounce", "autoreply", "arf"])
def test_every_bounce_autoreply_and_feedback_report_is_screened_out_and_ignored(outcomes, kind):
    results, _ = outcomes
    files = {p: (a, d) for p, (k, a, d) in results.items() if k == kind and p != UNSUBSCRIBE_BUTTON}
    assert files
    missed = [p for p, (a, d) in files.items() if not a.screening.screened_out]
    assert missed == []
    assert {d.intent for _, d in files.values()} <= {Intent.AUTO_REPLY, Intent.BOUNCE}
    if kind != "autoreply":  # most are recognised for what they are
        assert sum(d.intent is Intent.BOUNCE for _, d in files.values()) >= 0.99 * len(files)
    assert {d.action for _, d in files.values()} == {Action.IGNORE}
    assert all(not d.notices for _, d in files.values())


def test_a_mail_clients_unsubscribe_button_reaches_classification_as_an_opt_out(outcomes):
    kind, analysis, decision = outcomes[0][UNSUBSCRIBE_BUTTON]
    assert kind == "arf" and not analysis.screening.screened_out
    assert analysis.classification.intent is Intent.OPT_OUT
    assert decision.action is Action.REVIEW  # no customer in the empty directory: a person looks


def test_readme_listed_auto_replies_challenges_and_receipts_are_screened_out(outcomes):
    results, _ = outcomes
    not_screened = [p for p in EXTRA_AUTOMATIC if not results[p][1].screening.screened_out]
    assert not_screened == []
    assert all(results[p][2].action is Action.IGNORE for p in EXTRA_AUTOMATIC)


def test_person_written_normal_mail_is_mostly_not_screened_out(outcomes):
    results, _ = outcomes
    normal = {p: a for p, (k, a, _) in results.items() if k == "normal" and p not in NORMAL_BUT_AUTOMATIC}
    screened = sorted(p for p, a in normal.items() if a.screening.screened_out)
    print(f"\nnormal messages screened out: {len(screened)} of {len(normal)}: {screened}")
    assert len(normal) >= 100
    assert len(screened) <= len(normal) // 50  # at most 2%: today none


def test_no_automatic_consent_change_from_corpus_mail(outcomes):
    """Nothing in the corpora is a customer of the (empty) directory: nothing may be applied."""
    results, _ = outcomes
    assert [p for p, (_, _, d) in results.items() if d.action is Action.APPLY] == []
