"""resolve: one customer when the evidence agrees, candidates when it conflicts, none when nothing matches.

The directory is the in-memory one evaluate_policy uses; store/customers.DbDirectory answers the same
protocol from the database (tests/store/test_customers.py covers it against SQLite and PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optout_daemon.pipeline import resolve as resolve_module
from optout_daemon.pipeline.evaluate_policy import MemoryDirectory, _Customer
from optout_daemon.pipeline.parse import parse
from optout_daemon.pipeline.resolve import (
    CustomerRecord,
    ResolvePolicy,
    blank_out,
    find_account_numbers,
    find_phones,
    resolve,
)
from optout_daemon.settings import PolicySettings

NOW = datetime(2026, 11, 2, tzinfo=UTC)
OLD = datetime(1970, 1, 1, tzinfo=UTC)
POLICY = ResolvePolicy(PolicySettings().account_pattern)


def directory() -> MemoryDirectory:
    return MemoryDirectory([
        _Customer(CustomerRecord(1, "1234567890", "Jane Roe", "60601"), {"jane@example.net": OLD}, ("+13125552368",)),
        _Customer(CustomerRecord(2, "5555000011", "John Roe", "60601"),
                  {"john@example.net": NOW - timedelta(days=3)}, ("+13125552368", "+14158675309")),
        _Customer(CustomerRecord(3, "987654321012", "Ana Pérez", "33101"), {"ana@example.org": OLD}),
    ])


def msg(body: str, sender: str = "Someone <someone@elsewhere.example>", subject: str = "privacy") -> bytes:
    return f"From: {sender}\nTo: m@carrier.example\nSubject: {subject}\n\n{body}\n".encode()


def run(body: str, **kw):
    return resolve(parse(msg(body, **kw)), directory(), POLICY, NOW)


@pytest.mark.parametrize("written", ["1234567890", "1234-5678-90", "1234 5678 90", "acct #1234-5678-90"])
def test_account_number_in_any_common_form(written):
    r = run(f"Opt me out. {written}")
    assert r.customer and r.customer.customer_id == 1
    assert [e.kind for e in r.customer.evidence] == ["account_number"]
    assert not r.sender_is_address_of_record


def test_account_pattern_is_configurable():
    policy = ResolvePolicy(r"\bAC-\d{6}\b")
    d = MemoryDirectory([_Customer(CustomerRecord(7, "AC123456", "X Y"), {})])
    r = resolve(parse(msg("stop, account AC-123456")), d, policy, NOW)
    assert r.customer and r.customer.customer_id == 7
    assert find_account_numbers("AC-123456 and 1234567890", r"\bAC-\d{6}\b") == ["AC123456"]


@pytest.mark.parametrize("written", ["(415) 867-5309", "415.867.5309", "+1 415 867 5309", "4158675309",
                                     "1-415-867-5309"])
def test_phone_in_any_format(written):
    r = run(f"please stop, my cell is {written}")
    assert r.customer and r.customer.customer_id == 2
    assert r.customer.evidence[0].kind == "phone"


def test_address_of_record_and_address_on_account():
    r = run("stop", sender="Jane Roe <jane@example.net>")
    assert r.customer.customer_id == 1 and r.sender_is_address_of_record
    r = run("stop", sender="john@example.net")  # added 3 days ago: on the account, not yet of record
    assert r.customer.customer_id == 2 and not r.sender_is_address_of_record
    assert r.customer.evidence[0].kind == "address_on_account"


def test_agreeing_evidence_and_supporting_name_and_zip():
    r = run("Stop. Account 1234-5678-90. Jane Roe, Chicago 60601", sender="Jane Roe <jane@example.net>")
    kinds = {e.kind: e.strength for e in r.customer.evidence}
    assert kinds == {"address_of_record": "strong", "account_number": "strong", "name": "supporting",
                     "postal_zip": "supporting"}
    assert r.reasons[-1] == "customer_found_by_account_number+address_of_record+name+postal_zip"


def test_conflicting_evidence_gives_candidates_never_a_guess():
    r = run("opt me out, account 987654321012", sender="jane@example.net")
    assert r.customer is None
    assert [c.customer_id for c in r.candidates] == [1, 3]
    assert "conflicting_customers" in r.reasons


def test_shared_phone_alone_gives_candidates_but_agrees_with_an_address():
    r = run("stop, 312-555-2368")
    assert r.customer is None and [c.customer_id for c in r.candidates] == [1, 2]
    assert "several_customers_match" in r.reasons
    r = run("stop, 312-555-2368", sender="jane@example.net")
    assert r.customer.customer_id == 1


def test_name_alone_gives_candidates():
    r = run("please opt me out", sender="Ana Pérez <ana.new@elsewhere.example>")
    assert r.customer is None and [c.customer_id for c in r.candidates] == [3]
    assert r.reasons == ("name_only_candidates",)


def test_nothing_matches():
    r = run("opt me out, account 1111-2222-33")
    assert r.customer is None and not r.candidates
    assert r.reasons == ("account_number_not_found", "no_customer_found")


def test_numbers_in_quoted_or_forwarded_text_are_not_read():
    body = ("opt me out\n\nOn Mon, Jan 5, 2026 at 9:14 AM Carrier <m@c.example> wrote:\n"
            "> Call us at (415) 867-5309 about account 1234-5678-90\n")
    assert run(body).candidates == ()
    fwd = "opt me out\n\n---------- Forwarded message ---------\nFrom: Carrier\nCall 415-867-5309\n"
    assert run(fwd).candidates == ()


def test_account_digits_are_not_also_a_phone_but_unknown_ten_digits_may_be_one():
    r = run("stop 1234567890")
    assert r.customer.customer_id == 1 and [e.kind for e in r.customer.evidence] == ["account_number"]
    r = run("stop 4158675309")  # fits the account pattern, is no account: read as a phone
    assert r.customer.customer_id == 2 and r.customer.evidence[0].kind == "phone"


def test_find_phones_prefilter_and_hostile_text():
    assert find_phones("no digits here at all", "US") == []
    assert find_phones("order 12 items, 3 times", "US") == []
    assert find_phones("9" * 5000, "US") == []
    assert find_phones("9" * 3000 + "x", "US") == []  # no catastrophic backtracking
    assert find_phones("9 " * 2000 + "x", "US") == []
    assert find_phones("ref A4158675309, 4158675309x", "US") == []
    assert find_phones("+44 20 7946 0958", "US") == ["+442079460958"]
    # phonenumbers' own cases that the digit count alone does not rule out
    assert find_phones("call 310-1234", "US") == ["+13101234"]  # Canada's UAN, valid from the US too
    assert find_phones("or 011 44 20 7946 0958", "US") == ["+442079460958"]
    assert find_phones("or 1 1 415 867 5309", "CA") == ["+14158675309"]


@pytest.mark.parametrize(("text", "number", "expected"), [
    ("stop 1234-5678-90 thanks, call 4158675309", "1234567890", "stop   thanks, call 4158675309"),
    ("acct 1 2 3 4 5 6 7 8 9 0 and 1234567890", "1234567890", "acct   and  "),
    ("AC-77.12 ac7712", "AC7712", "  ac7712"),  # letters as written, like the account pattern
    ("12--34 1234", "1234", "12--34  "),  # two separators in a row are not one number
])
def test_an_account_number_is_blanked_out_in_any_common_form(text: str, number: str, expected: str) -> None:
    assert blank_out(text, number) == expected


def test_valid_nanp_numbers_have_ten_digits_or_seven_starting_310() -> None:
    """What resolve._phonenumbers_could_accept relies on, read from phonenumbers' metadata."""
    types = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number", "voip",
             "pager", "uan", "voicemail")
    for region in phonenumbers.region_codes_for_country_code(1):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        general = metadata.general_desc.possible_length
        assert set(general) <= {7, 10}, region
        for name in types:
            desc = getattr(metadata, name)
            if desc is None or not desc.national_number_pattern:
                continue
            lengths = set(desc.possible_length or general)
            assert lengths <= {10} or (lengths == {7} and desc.national_number_pattern == r"310\d{4}"), (region, name)
    for region in ("US", "CA"):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        assert (metadata.international_prefix, metadata.national_prefix_for_parsing) == ("011", "1")
        assert not metadata.national_prefix_transform_rule


_PIECES = ["0", "1", "2", "3", "5", "9", "011", "310", "1 ", "-", ".", " ", "(", ")", "44", "555", "867", "0199",
           "\u0663"]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=12).map("".join), st.sampled_from(["US", "CA"]))
def test_spans_skipped_before_phonenumbers_are_never_phone_numbers(span: str, region: str) -> None:
    digits = "".join(ch for ch in span if ch.isdigit())
    if not resolve_module._phonenumbers_could_accept(span, digits, region):
        assert resolve_module._slow_e164(span, region) == ""
