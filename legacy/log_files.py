"""logs/agents/{project}.log: an agent's log, one `agent.log` event per line.

Lines are free text, written by several ADT versions. A line's timestamp is
read from its start (ISO-8601, optionally in brackets, or epoch seconds); its
level from a level word near that start; JSON lines give both as fields.
What a line does not show comes from the file (its mtime) or the default
(info). Every line keeps its text whole, so nothing is lost by a guess.
"""

import hashlib
import json
import re
from dataclasses import dataclass

from legacy.values import Malformed, mtime, when

TIMESTAMP = re.compile(
    r"""^\s*[\[(]?(?P<ts>
        \d{4}-\d{2}-\d{2}[T\ ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?
      | \d{10}(?:\.\d+)?(?=[\s\])]|$)
    )[\])]?""",
    re.X,
)
LEVEL = re.compile(
    r"""\[(?P<bracketed>[A-Za-z]+)\]          # [info]
      | \blevel[=:]\s*"?(?P<keyed>[A-Za-z]+)  # level=warn
      | (?<![\w-])(?P<upper>[A-Z]{3,8})(?![\w-])  # WARNING, but not Warning or warning
      | ^\s*(?P<colon>[A-Za-z]+):             # info: at the start""",
    re.X,
)
LEVEL_WORDS = {
    "trace": "debug", "debug": "debug",
    "info": "info", "notice": "info",
    "warn": "warn", "warning": "warn",
    "error": "error", "err": "error", "critical": "error", "fatal": "error",
}
# How far after the timestamp a level word may stand and still be the line's level.
LEVEL_WITHIN = 40


@dataclass
class LogLine:
    line: int
    key: str
    text: str
    timestamp: object
    level: str


def project_of(path):
    return path.name[: -len(".log")]


def read(path, warn):
    """Every non-blank line of the file. Bytes that are not UTF-8 are kept as
    \\xNN escapes (logs are history: one bad byte should not drop a file)."""
    data = path.read_bytes()
    fallback = mtime(path)
    lines, escaped = [], []
    for number, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.rstrip(b"\r")
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "backslashreplace")
            escaped.append(number)
        if not text.strip():
            continue
        timestamp, level = parse_line(text)
        lines.append(LogLine(number, line_key(number, raw), text, timestamp or fallback, level))
    if escaped:
        shown = ", ".join(map(str, escaped[:5])) + (" …" if len(escaped) > 5 else "")
        warn(f"{len(escaped)} line(s) are not UTF-8 (line {shown}); their odd bytes are kept as \\xNN escapes")
    return lines


def line_key(number, raw):
    """A line's identity: its number and a hash of its bytes. Appending to a
    log keeps the keys of the lines already there; rewriting one changes it."""
    return f"{number}:{hashlib.sha256(raw).hexdigest()[:16]}"


def parse_line(text):
    """(timestamp or None, level) as far as the line shows them."""
    if text.lstrip().startswith("{"):
        fields = _json_fields(text)
        if fields is not None:
            return fields
    match = TIMESTAMP.match(text)
    timestamp = _when(match.group("ts")) if match else None
    rest = text[match.end():] if match else text
    return timestamp, _level(rest[:LEVEL_WITHIN])


def _level(head):
    for match in LEVEL.finditer(head):
        word = next(group for group in match.groups() if group).lower()
        if word in LEVEL_WORDS:
            return LEVEL_WORDS[word]
    return "info"


def _json_fields(text):
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    stamp = next((doc[k] for k in ("ts", "time", "timestamp") if k in doc), None)
    level = next((doc[k] for k in ("level", "severity", "lvl") if k in doc), None)
    level = LEVEL_WORDS.get(level.lower(), "info") if isinstance(level, str) else "info"
    return _when(stamp), level


def _when(value):
    try:
        return when(value, "timestamp")
    except Malformed:
        return None
