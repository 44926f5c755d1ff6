"""evaluate_policy: the scenarios are what they claim, and the shipped model keeps the must-hold figures."""

from __future__ import annotations

import json

import pytest

from optout_daemon.pipeline import evaluate_policy as ev
from optout_daemon.pipeline.classify import KeywordClassifier, load_classifier, shipped_model_dir
from optout_daemon.pipeline.decide import is_authenticated
from optout_daemon.pipeline.parse import parse
from optout_daemon.pipeline.resolve import ResolvePolicy, resolve
from optout_daemon.settings import PolicySettings

EXAMPLE = {"id": "t-1", "lang": "en", "label": "opt_in", "subject": "Re: privacy",
           "body": "Please opt me back in.\n\nOn Mon, Jan 5, 2026 at 9:14 AM Carrier <m@c.example> wrote:\n> To opt out, reply",
           "tags": []}


def examples(limit: int | None = None) -> list[dict]:
    lines = ev.HELDOUT.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[:limit] if line.strip()]


def test_scenarios_are_built_as_described():
    by_name = {c.scenario: c for c in ev.cases(EXAMPLE, 41)}
    assert list(by_name) == list(ev.SCENARIOS)
    policy = ResolvePolicy(PolicySettings().account_pattern)
    seen = {}
    for name, case in by_name.items():
        parsed = parse(case.raw)
        resolution = resolve(parsed, case.directory, policy, ev.NOW)
        seen[name] = (resolution.customer.customer_id if resolution.customer else None,
                      resolution.sender_is_address_of_record, is_authenticated(parsed, (ev.TRUSTED,)),
                      case.authenticated_record)
        assert parsed.new_text.startswith("Please opt me back in.")
    assert seen == {
        "record_dmarc": (42, True, (True, "dmarc_pass"), True),
        "unknown_account": (42, False, (True, "dmarc_pass"), False),  # found by the account number written
        "spoofed_record": (42, True, (False, "dmarc_fail"), False),
        "recent_address": (42, False, (True, "dmarc_pass"), False),
    }


def test_html_only_scenario_keeps_the_quote_apart():
    case = ev.cases(EXAMPLE, 5)[0]  # n % 6 == 5: HTML only
    parsed = parse(case.raw)
    assert parsed.parts[-1] == "text/html"
    assert parsed.new_text.startswith("Please opt me back in.") and "To opt out" not in parsed.new_text


def test_keyword_baseline_never_applies_an_unauthenticated_opt_in_and_the_table_prints():
    tally = ev.evaluate(KeywordClassifier(), examples(150))
    assert tally.cases == 600 and tally.opt_in_unauthenticated == 0
    table = ev.table({"keyword baseline": tally})
    assert "| **opt-ins applied without authentication** (must be 0) | 0 |" in table


def test_main_without_model_says_so(capsys):
    assert ev.main(["--keywords-only", "--show", "0", "--heldout", str(ev.HELDOUT)]) == 0
    out = capsys.readouterr().out
    assert "no model column" in out and "| measure | keyword baseline |" in out


@pytest.mark.skipif(not (shipped_model_dir() / "meta.json").exists(), reason="no trained model in models/intent")
def test_shipped_model_misses_no_opt_out_and_applies_no_unauthenticated_opt_in():
    data = examples()
    model = ev.evaluate(load_classifier("model"), data)
    baseline = ev.evaluate(KeywordClassifier(), data)
    print("\n" + ev.table({"model": model, "keyword baseline": baseline}))
    assert model.opt_out_missed == 0, model.examples[:20]
    assert model.opt_in_unauthenticated == 0
    # clearly better than the keyword baseline on the measures that are not already zero for both
    assert model.wrong_automatic < baseline.wrong_automatic / 2
    assert model.automated_share > baseline.automated_share + 0.3
