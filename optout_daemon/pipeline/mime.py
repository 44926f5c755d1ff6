"""The standard library's email parser, without a regular expression compiled per multipart message.

`email.feedparser` compiles a pattern for each multipart boundary it meets. Boundaries are random
strings, so every multipart message misses `re`'s cache and pays for the pattern parser, which is
written in Python: about 0.4 ms a message, as much as the rest of parsing it. `parsebytes` here runs
a private copy of `email.feedparser` (loaded from the standard library, not copied) whose `re` hands
boundary patterns to `_Boundary`: a prefix test, then one pattern per boundary *length* (a handful,
cached) with the same named groups. Every other pattern goes to `re` unchanged, and nothing outside
this module is touched.

Most messages are one part (not multipart/*, not message/*) with a clean header block. For those,
`parsebytes` does what the feed parser does, without its line-by-line generator machinery (about two
thirds of its time on such a message): the header lines go through the policy's `header_source_parse`
into `set_raw`, and the text after the empty line becomes the payload. Anything else the feed parser
would treat specially (a defect, an mbox `From ` line, a container, odd line ends) takes the feed
parser.
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


# The first empty line: "\n\n", or "\n\r\n" in CRLF text.
_BLANK_LINE = re.compile(r"\n\r?\n")
_CONTAINERS = ("multipart", "message")
_CONTAINER_HINT = re.compile(r"multipart/|message/", re.I)


def parsebytes(raw: bytes, policy: Policy) -> Message:
    """What email.parser.BytesParser(policy=policy).parsebytes(raw) returns."""
    text = raw.decode("ASCII", errors="surrogateescape")
    msg = _one_part(text, policy)
    if msg is not None:
        return msg
    parser = _feedparser.FeedParser(policy=policy)
    parser.feed(text)
    return parser.close()


def _one_part(text: str, policy: Policy) -> Message | None:
    """The feed parser's result for a one-part message whose header block it reads without a defect,
    or None when the feed parser must read the message."""
    blank = _BLANK_LINE.search(text)
    if not blank:
        return None
    block = text[:blank.start() + 1]  # the header lines, each ending in "\n"
    if "\r" in block and block.count("\r") != block.count("\r\n"):
        return None  # a CR alone ends a line for the feed parser
    if _CONTAINER_HINT.search(block):
        return None  # most likely a container: spare reading its header lines twice
    msg = (policy.message_factory or Message)(policy=policy)  # the feed parser's choice of class
    source: list[str] = []  # the lines of one header field
    for line in block.split("\n")[:-1]:
        line += "\n"
        if line[0] in " \t":  # a continuation line
            if not source:
                return None  # a first line that is a continuation: a defect
            source.append(line)
            continue
        if line[0] == ":" or line.startswith("From ") or not _feedparser.headerRE.match(line):
            return None  # a defect, an envelope line or a line that starts the body
        if source:
            msg.set_raw(*policy.header_source_parse(source))
        source = [line]
    if source:
        msg.set_raw(*policy.header_source_parse(source))
    if msg.get_content_maintype() in _CONTAINERS:
        return None
    # The feed parser reads the rest line by line and joins the lines: the text as it is.
    msg.set_payload(text[blank.end():])
    return msg
