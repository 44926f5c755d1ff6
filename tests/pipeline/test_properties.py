"""Property tests: malformed MIME, broken charsets and huge headers through parse -> decide.

Whatever the bytes, no exception escapes and every message ends applied, queued for review or
ignored; an opt-in is never applied without authentication.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optout_daemon.pipeline.classify import KeywordClassifier
from optout_daemon.pipeline.decide import CustomerContext, DecidePolicy
from optout_daemon.pipeline.evaluate_policy import MemoryDirectory, _Customer
from optout_daemon.pipeline.resolve import CustomerRecord, ResolvePolicy
from optout_daemon.pipeline.run import Pipeline
from optout_daemon.pipeline.types import Action, ConsentStateValue, Intent
from optout_daemon.settings import PolicySettings

NOW = datetime(2026, 11, 2, tzinfo=UTC)
OLD = datetime(1970, 1, 1, tzinfo=UTC)
PIPELINE = Pipeline(KeywordClassifier(), ResolvePolicy(PolicySettings().account_pattern),
                    DecidePolicy(trusted_authserv_ids=("mx.carrier.example",)))
DIRECTORY = MemoryDirectory([_Customer(CustomerRecord(1, "1234567890", "Jane Roe", "60601"),
                                       {"jane@example.net": OLD}, ("+14158675309",))])
CHARSETS = ["utf-8", "iso-8859-1", "windows-1252", "koi8-r", "shift_jis", "gb2312", "utf-16", "x-unknown",
            "us-ascii", "", "utf-8\"; x=\"", "=?", "iso-2022-jp"]
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "binary", "x-uuencode", "bogus", ""]
TYPES = ["text/plain", "text/html", "multipart/mixed", "multipart/alternative", "message/rfc822",
         "multipart/report; report-type=delivery-status", "message/delivery-status", "application/octet-stream",
         "text", "/", "multipart/mixed; boundary=", "text/plain; charset"]
WORDS = ["opt me out", "STOP", "unsubscribe", "dejen de usar mis datos", "opt me back in", "hello", "Acct 1234-5678-90",
         "(415) 867-5309", "> quoted", "On Mon, Jan 5, 2026 wrote:", "-- ", "=?utf-8?B?w7E=?=", "\udcff", "\x00",
         "<html><blockquote>x", "--B", "Content-Type: text/plain"]

text = st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=40)), max_size=12).map(" \n".join)
raw_bytes = st.binary(max_size=400)


@st.composite
def part(draw, depth: int = 0) -> bytes:
    ctype = draw(st.sampled_from(TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    head = f"Content-Type: {ctype}; charset=\"{charset}\"; boundary=\"B{depth}\"\n"
    head += f"Content-Transfer-Encoding: {draw(st.sampled_from(ENCODINGS))}\n"
    body = draw(text).encode(draw(st.sampled_from(["utf-8", "latin-1", "utf-16"])), "replace") \
        if draw(st.booleans()) else draw(raw_bytes)
    if depth < 2 and ctype.startswith("multipart") and draw(st.booleans()):
        children = draw(st.lists(part(depth + 1), max_size=3))
        body = b"".join(f"--B{depth}\n".encode() + c + b"\n" for c in children)
        body += f"--B{depth}--\n".encode() if draw(st.booleans()) else b""
    return head.encode() + b"\n" + body


@st.composite
def message(draw) -> bytes:
    sender = draw(st.sampled_from(["Jane Roe <jane@example.net>", "jane@example.net", "<>", "", "\"a\" <",
                                   "=?utf-8?Q?J=C3=A9?= <x@y.example>", "a@b@c", "x" * 3000]))
    headers = [f"From: {sender}", f"Subject: {draw(text)[:200]}", "To: m@carrier.example"]
    if draw(st.booleans()):
        headers.append(f"Authentication-Results: {draw(st.sampled_from(['mx.carrier.example', 'evil', '']))}; "
                       f"dmarc={draw(st.sampled_from(['pass', 'fail', 'none']))} header.from=example.net")
    if draw(st.booleans()):  # huge headers: long, folded, many
        headers.append("X-Huge: " + "a" * draw(st.integers(0, 200_000)))
        headers += [f"Received: from h{i}\n\tby mx" for i in range(draw(st.integers(0, 300)))]
    if draw(st.booleans()):
        headers.append(draw(st.sampled_from(["Auto-Submitted: auto-replied", "Precedence: bulk", "Return-Path: <>",
                                             "X-Optout-Daemon-Notice: x", "no colon here", " leading space: x"])))
    head = "\n".join(headers).encode("utf-8", "replace")
    sep = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
    head = head.replace(b"\n", sep)
    return head + sep + draw(part())


def check(raw: bytes, state: ConsentStateValue) -> None:
    analysis = PIPELINE.analyze(raw, DIRECTORY, NOW)
    customer = analysis.resolution.customer if analysis.resolution else None
    context = CustomerContext(state, None, ("jane@example.net",)) if customer else None
    decision = PIPELINE.decide(analysis, context, NOW)
    assert decision.action in (Action.APPLY, Action.REVIEW, Action.IGNORE)
    if decision.action is Action.APPLY:
        assert decision.customer is not None and decision.intent in (Intent.OPT_OUT, Intent.OPT_IN)
    if decision.action is Action.APPLY and decision.intent is Intent.OPT_IN:
        assert analysis.resolution.sender_is_address_of_record
        assert any(r.authserv_id == "mx.carrier.example" and r.result == "pass" for r in analysis.parsed.auth_results)
    if analysis.screening.screened_out:
        assert decision.action is Action.IGNORE and not decision.notices


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(message(), st.sampled_from(list(ConsentStateValue)))
def test_malformed_mime_ends_applied_queued_or_ignored(raw, state):
    check(raw, state)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_end_applied_queued_or_ignored(raw):
    check(raw, ConsentStateValue.OPTED_IN)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=2000))
def test_arbitrary_text_after_valid_headers(body):
    raw = b"From: jane@example.net\nSubject: x\n\n" + body.encode("utf-8", "surrogatepass")
    check(raw, ConsentStateValue.OPTED_OUT)
