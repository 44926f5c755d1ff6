"""The standard library's email parser, without a regular expression compiled per multipart message.

`email.feedparser` compiles a pattern for each multipart boundary it meets. Boundaries are random
strings, so every multipart message misses `re`'s cache and pays for the pattern parser, which is
written in Python: about 0.4 ms a message, as much as the rest of parsing it. `parsebytes` here runs
a private copy of `email.feedparser` (loaded from the standard library, not copied) whose `re` hands
boundary patterns to `_Boundary`: a prefix test, then one pattern per boundary *length* (a handful,
cached) with the same named groups. Every other pattern goes to `re` unchanged, and nothing outside
this module is touched.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from email.message import Message
from email.policy import Policy

# What email.feedparser passes to re.compile for a boundary (Python 3.11-3.13): the escaped boundary
# line between these two parts.
_BEFORE = "(?P<sep>"
_AFTER = r")(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$"
_UNESCAPE = re.compile(r"\\(.)", re.DOTALL)


@functools.lru_cache(maxsize=256)
def _tail(length: int) -> re.Pattern[str]:
    return re.compile(_BEFORE + f"[\\s\\S]{{{length}}}" + _AFTER)  # the same groups, any text of that length


class _Boundary:
    """Matches what re.compile(_BEFORE + re.escape(separator) + _AFTER) matches, with the same groups."""

    __slots__ = ("pattern", "separator")

    def __init__(self, separator: str) -> None:
        self.separator = separator
        self.pattern = _tail(len(separator))

    def match(self, line: str) -> re.Match[str] | None:
        return self.pattern.match(line) if line.startswith(self.separator) else None


class _FeedparserRe:
    """The `re` module as the private feedparser sees it."""

    def __getattr__(self, name: str):  # noqa: ANN204 - everything else is re's own
        return getattr(re, name)

    @staticmethod
    def compile(pattern, flags=0):  # noqa: ANN001, ANN205 - re.compile's signature
        if (flags == 0 and isinstance(pattern, str) and pattern.startswith(_BEFORE)
                and pattern.endswith(_AFTER)):
            escaped = pattern[len(_BEFORE):-len(_AFTER)]
            if escaped == re.escape(separator := _UNESCAPE.sub(r"\1", escaped)):
                return _Boundary(separator)
        return re.compile(pattern, flags)


def _load_feedparser():  # noqa: ANN202 - a module object
    spec = importlib.util.find_spec("email.feedparser")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.re = _FeedparserRe()
    return module


_feedparser = _load_feedparser()


def parsebytes(raw: bytes, policy: Policy) -> Message:
    """What email.parser.BytesParser(policy=policy).parsebytes(raw) returns."""
    text = raw.decode("ASCII", errors="surrogateescape")
    parser = _feedparser.FeedParser(policy=policy)
    parser.feed(text)
    return parser.close()
