"""mime.parsebytes gives what the standard library's parser gives, without a pattern per boundary."""

from __future__ import annotations

import re
from email.parser import BytesParser
from email.policy import compat32

from hypothesis import given, settings
from hypothesis import strategies as st

from optout_daemon.pipeline import mime


def _shape(msg):  # noqa: ANN001, ANN202
    return [(part.get_content_type(), part.items(), [type(d).__name__ for d in part.defects],
             None if part.is_multipart() else part.get_payload(), part.preamble, part.epilogue)
            for part in msg.walk()]


def _multipart(boundary: str, inner: str = "") -> bytes:
    nested = (f"--{boundary}\r\nContent-Type: multipart/mixed; boundary=\"{inner}\"\r\n\r\n"
              f"--{inner}\r\nContent-Type: text/plain\r\n\r\ninner part\r\n--{inner}--\r\n") if inner else ""
    return (f"From: a@example.com\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\npreamble\r\n"
            f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplease opt me out\r\n"
            f"--{boundary}  \r\nContent-Type: text/html\r\n\r\n<p>please opt me out</p>\r\n"
            f"{nested}--{boundary}--\r\nepilogue\r\n").encode()


def test_multipart_messages_parse_as_the_standard_library_parses_them() -> None:
    for boundary, inner in [("b1", ""), ("==_(x)+?.*[0]$^|", "b1"), ("a b", "a"), ("x", "x-y")]:
        raw = _multipart(boundary, inner)
        assert _shape(mime.parsebytes(raw, compat32)) == _shape(BytesParser(policy=compat32).parsebytes(raw))
    broken = _multipart("b1").replace(b"--b1--", b"")  # no closing boundary: a defect, same either way
    assert _shape(mime.parsebytes(broken, compat32)) == _shape(BytesParser(policy=compat32).parsebytes(broken))
    assert mime.parsebytes(broken, compat32).defects


def test_a_boundary_is_matched_without_compiling_a_pattern_for_it() -> None:
    pattern = mime._BEFORE + re.escape("--unique-7f3a9c") + mime._AFTER
    assert isinstance(mime._FeedparserRe.compile(pattern), mime._Boundary)
    assert not isinstance(mime._FeedparserRe.compile(r"\r\n|\r|\n"), mime._Boundary)


@settings(max_examples=300, deadline=None)
@given(boundary=st.text(min_size=1, max_size=20), tail=st.text(alphabet="-\t \r\nx", max_size=6))
def test_boundary_matches_are_the_compiled_patterns_matches(boundary: str, tail: str) -> None:
    separator = "--" + boundary
    reference = re.compile(mime._BEFORE + re.escape(separator) + mime._AFTER)
    fast = mime._FeedparserRe.compile(mime._BEFORE + re.escape(separator) + mime._AFTER)
    for line in (separator + tail, separator[:-1] + tail, "x" + separator + tail):
        expected, got = reference.match(line), fast.match(line)
        assert (expected is None) == (got is None)
        if expected:
            assert (expected.span(), expected.groupdict()) == (got.span(), got.groupdict())


_LINES = ["Subject: opt me out", "From: Sam <sam@example.com>", "Content-Type: text/plain; charset=utf-8",
          "Content-Type: text/html", "content-type: multipart/mixed; boundary=b", "Content-Type: message/rfc822",
          " folded", "\tfolded", ":no name", "From sam@example.com Mon Nov  2 14:55:00 2026", "no colon here",
          "X-Empty:", "X-8bit: caf\xe9", "", "\r", "Subject: a\rb"]


@settings(max_examples=500, deadline=None)
@given(lines=st.lists(st.sampled_from(_LINES), max_size=8),
       body=st.lists(st.sampled_from(_LINES + ["--b"]), max_size=5),
       ending=st.sampled_from(["\n", "\r\n", "\r"]))
def test_one_part_messages_parse_as_the_standard_library_parses_them(lines: list[str], body: list[str],
                                                                     ending: str) -> None:
    raw = (ending.join(lines) + ending + ending + ending.join(body)).encode("latin-1")
    got, expected = mime.parsebytes(raw, compat32), BytesParser(policy=compat32).parsebytes(raw)
    assert _shape(got) == _shape(expected)
    assert (got.get_unixfrom(), list(got.raw_items())) == (expected.get_unixfrom(), list(expected.raw_items()))
