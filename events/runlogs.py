"""A run's log file (agent_runs.log_path) for the run's page: its tail, and what was appended since.

Only files under settings.ADT_HOME or the run's project's registered path
are ever read, and never ADT's own (settings.ADT_PRIVATE_PATHS: the secret
key, the databases, the backups). The path is resolved first (symlinks followed, `..` folded),
and the real path must lie inside one of those roots, themselves resolved.
Every refusal is a LogUnavailable with a one-line reason for the page.

Bytes become text that is safe to show: invalid UTF-8 and control characters
become U+FFFD, colour escapes are dropped, and a file that looks binary says so.
"""

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from projects.models import Project

TAIL_BYTES = 64 * 1024
# One poll brings at most this much; the next poll brings the rest.
POLL_BYTES = 256 * 1024
REPLACEMENT = "\ufffd"
# ANSI colour and cursor sequences (CSI), common in agents' output.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Every control character but tab and newline, C1 included.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class LogUnavailable(Exception):
    """The log cannot be shown; str() says why, in one line."""


@dataclass
class Chunk:
    text: str
    start: int  # offset of the first byte shown
    end: int  # offset after the last byte read: where the next poll starts
    size: int  # the file's size when read
    binary: bool = False
    restarted: bool = False  # the file shrank below the offset asked for (truncated, rotated)

    @property
    def cut(self):
        """Bytes before the ones shown."""
        return self.start


def roots(run):
    """The directories a run's log may live in, resolved."""
    found = [Path(settings.ADT_HOME).resolve()]
    path = Project.objects.filter(pk=run.project).values_list("path", flat=True).first()
    if path and Path(path).is_absolute():
        found.append(Path(path).resolve())
    return found


def locate(run):
    """The real path of the run's log, inside one of its roots, or LogUnavailable."""
    if not run.log_path:
        raise LogUnavailable("This run has no log file (no log_path was given when it started).")
    path = Path(run.log_path)
    if not path.is_absolute():
        raise LogUnavailable(f"The log path {run.log_path} is not absolute, so it is not read.")
    try:
        real = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        raise LogUnavailable(f"The log path {run.log_path} cannot be resolved (a symlink loop?).") from None
    allowed = roots(run)
    if not any(real.is_relative_to(root) for root in allowed):
        where = " or ".join(str(root) for root in allowed)
        shown = run.log_path if str(real) == run.log_path else f"{run.log_path} (really {real})"
        raise LogUnavailable(f"The log {shown} is outside {where}, so it is not read.")
    for private in settings.ADT_PRIVATE_PATHS:
        if real.is_relative_to(Path(private).resolve()):
            raise LogUnavailable(f"The log {run.log_path} is one of ADT's own files (key, databases, backups), so it is not read.")
    return real


def _open(run):
    """(file descriptor, size) of the run's log, a regular file inside its roots."""
    real = locate(run)
    try:
        # O_NOFOLLOW: the real path has no symlink now, and refuses one put there since;
        # O_NONBLOCK: a FIFO does not hang the request (it is refused below).
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise LogUnavailable(f"The log file {run.log_path} does not exist (yet, or any more).") from None
    except IsADirectoryError:
        raise LogUnavailable(f"The log path {run.log_path} is a directory, not a file.") from None
    except PermissionError:
        raise LogUnavailable(f"The log file {run.log_path} cannot be read: permission denied.") from None
    except OSError as e:
        raise LogUnavailable(f"The log file {run.log_path} cannot be read: {e.strerror}.") from None
    info = os.fstat(fd)
    if stat.S_ISDIR(info.st_mode):
        os.close(fd)
        raise LogUnavailable(f"The log path {run.log_path} is a directory, not a file.")
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise LogUnavailable(f"The log path {run.log_path} is not a regular file.")
    return fd, info.st_size


def _read(fd, start, end):
    try:
        return os.pread(fd, end - start, start) if end > start else b""
    except OSError as e:
        raise LogUnavailable(f"The log file cannot be read: {e.strerror}.") from None
    finally:
        os.close(fd)


def _whole_characters(data):
    """How many bytes of `data` end on a whole UTF-8 character: a character cut
    by the end of the read waits for the next poll instead of showing as U+FFFD."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # the lead byte of the last character
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= needed else len(data) - back
    return len(data)


def looks_binary(data):
    """A NUL byte, or more than a tenth of the bytes neither text nor UTF-8."""
    if b"\0" in data:
        return True
    sample = data[:8192]
    if not sample:
        return False
    text = sample.decode("utf-8", errors="replace")
    odd = text.count(REPLACEMENT) + len(_CONTROL.findall(text))
    return odd > len(text) / 10


def as_text(data):
    """Bytes as text safe to show: undecodable bytes and control characters become U+FFFD."""
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    return _CONTROL.sub(REPLACEMENT, _ANSI.sub("", text))


def tail(run, max_bytes=TAIL_BYTES):
    """The last `max_bytes` of the run's log (from the start of a line when cut)."""
    fd, size = _open(run)
    start = max(0, size - max_bytes)
    data = _read(fd, start, size)
    if start:
        # Start at a whole line: the bytes before the first newline are a piece of one.
        newline = data.find(b"\n", 0, 4096)
        if newline >= 0:
            start += newline + 1
            data = data[newline + 1:]
    keep = _whole_characters(data)
    return Chunk(as_text(data[:keep]), start, start + keep, size, looks_binary(data))


def since(run, offset, max_bytes=POLL_BYTES):
    """What was appended after `offset` (at most `max_bytes`); the tail again if the file shrank."""
    fd, size = _open(run)
    if offset > size:
        os.close(fd)
        chunk = tail(run)
        chunk.restarted = True
        return chunk
    end = min(size, offset + max_bytes)
    data = _read(fd, offset, end)
    keep = _whole_characters(data)
    return Chunk(as_text(data[:keep]), offset, offset + keep, size, looks_binary(data))
