"""Redis, when ADT_REDIS_URL is set: hints published after commits, and locks.

Redis never holds the truth. A message only says "look at the database
now": pub/sub delivers at most once, so every listener also looks on its
own at least every ADT_REDIS_SAFETY_POLL seconds. When Redis is absent,
down, slow or restarted, callers carry on as if it were not configured:
`publish` does nothing, a `Listener` is inactive (its owner polls), a lock
is granted. The first failure in a process prints one warning line; after
a failure Redis is left alone for a few seconds, so a command pays one
timeout at most, not one per call.

Keys and channels are ADT_REDIS_PREFIX + name, so several installs (and
the tests) share one server.
"""

import logging
import os
import socket
import threading
import time
import uuid
from contextlib import contextmanager
from functools import wraps

from django.conf import settings

from common.errors import Busy

log = logging.getLogger("adt.redis")

# A command that takes longer is treated as Redis being down.
TIMEOUT = 0.5
# After a failure, how long Redis is left alone before trying again.
RETRY_AFTER = 5.0

_client = None
_client_url = None
_down_until = 0.0
_warned = False


def configured():
    return bool(settings.ADT_REDIS_URL)


def key(name):
    return f"{settings.ADT_REDIS_PREFIX}{name}"


def client():
    """The process's Redis client, or None when unconfigured or recently down."""
    global _client, _client_url
    url = settings.ADT_REDIS_URL
    if not url or time.monotonic() < _down_until:
        return None
    if _client is None or _client_url != url:
        import redis

        _client = redis.Redis.from_url(
            url,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            # Named so an operator (or a test) can tell our connections apart in CLIENT LIST.
            client_name=f"{settings.ADT_REDIS_PREFIX}{os.getpid()}".replace(" ", "_"),
        )
        _client_url = url
    return _client


def failed(error):
    """Redis did not answer: warn once per process, and leave it alone for a while."""
    global _down_until, _warned
    _down_until = time.monotonic() + RETRY_AFTER
    if not _warned:
        _warned = True
        log.warning("warning: Redis at %s is unavailable (%s); polling the database instead", _safe_url(), _first_line(error))


def publish(name, message=""):
    """Publish a hint on channel `name`. Never raises: a lost hint costs a poll."""
    redis = client()
    if redis is None:
        return
    try:
        redis.publish(key(name), message)
    except Exception as e:  # noqa: BLE001 - any failure of a hint is the same: poll instead
        failed(e)


class Listener:
    """A subscription to channels (names ending in * are patterns).

    `active` is False when Redis is unconfigured or down: the owner then
    polls. `wait(seconds)` returns the messages that came (possibly none)
    within that time; if the connection breaks, the listener turns
    inactive for the rest of its life and `wait` sleeps instead.
    """

    def __init__(self, names):
        self.names = names
        self.pubsub = None
        self.revive()

    def revive(self):
        """Subscribe, if not subscribed and Redis is not known to be down; call before looking at the database."""
        if self.pubsub is not None or not self.names:
            return
        redis = client()
        if redis is None:
            return
        pubsub = None
        try:
            pubsub = redis.pubsub()
            plain = [key(n) for n in self.names if not n.endswith("*")]
            patterns = [key(n) for n in self.names if n.endswith("*")]
            if plain:
                pubsub.subscribe(*plain)
            if patterns:
                pubsub.psubscribe(*patterns)
            # Confirmed before the owner looks at the database: a change
            # committed after that look is published after this point, so it is heard.
            confirmed = 0
            deadline = time.monotonic() + TIMEOUT
            while confirmed < len(plain) + len(patterns):
                message = pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
                if message is None:
                    raise TimeoutError("no subscription confirmation")
                if message["type"] in ("subscribe", "psubscribe"):
                    confirmed += 1
            self.pubsub = pubsub
        except Exception as e:  # noqa: BLE001
            failed(e)
            self._close(pubsub)

    @property
    def active(self):
        return self.pubsub is not None

    def wait(self, seconds):
        """Messages (their data, as text) that arrive within `seconds`; returns at the first."""
        if self.pubsub is None:
            time.sleep(max(0.0, seconds))
            return []
        deadline = time.monotonic() + max(0.0, seconds)
        try:
            while True:
                message = self.pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
                if message is not None and message["type"] in ("message", "pmessage"):
                    found = [_text(message["data"])]
                    while (more := self.pubsub.get_message(timeout=0)) is not None:
                        if more["type"] in ("message", "pmessage"):
                            found.append(_text(more["data"]))
                    return found
                if time.monotonic() >= deadline:
                    return []
        except Exception as e:  # noqa: BLE001
            failed(e)
            self._close(self.pubsub)
            self.pubsub = None
            return []

    def close(self):
        self._close(self.pubsub)
        self.pubsub = None

    @staticmethod
    def _close(pubsub):
        if pubsub is None:
            return
        try:
            pubsub.close()
        except Exception:  # noqa: BLE001, S110 - closing a broken connection
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def holder_token():
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def single_runner(name, ttl=60.0):
    """Hold lock `name` while the block runs, renewed every ttl/3 so a long run keeps it.

    Yields None when it is ours (or Redis is unconfigured or down: then the
    run goes ahead, as without Redis), else the holder's token
    ("host:pid:…") and the block should do nothing. A holder killed
    mid-run frees the lock when its ttl runs out.
    """
    redis = client()
    if redis is None:
        yield None
        return
    lock = redis.lock(key(f"lock:{name}"), timeout=ttl, blocking=False, thread_local=False)
    token = holder_token()
    try:
        acquired = lock.acquire(token=token)
        holder = None if acquired else _text(redis.get(key(f"lock:{name}")) or b"another process")
    except Exception as e:  # noqa: BLE001
        failed(e)
        yield None
        return
    if not acquired:
        yield holder
        return
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(lock, ttl, stop), daemon=True)
    renewer.start()
    try:
        yield None
    finally:
        stop.set()
        renewer.join()
        try:
            lock.release()
        except Exception:  # noqa: BLE001, S110 - expired or Redis gone: it frees itself
            pass


def one_at_a_time(name, ttl=60.0, unless=None):
    """Decorate a run (archive, prune, the sweep) so one process across machines runs it at once.

    Another holder makes the call raise common.errors.Busy. `unless` names a
    keyword argument (dry_run) that, when true, skips the lock.
    """

    def decorate(run):
        @wraps(run)
        def locked(*args, **kwargs):
            if unless and kwargs.get(unless):
                return run(*args, **kwargs)
            with single_runner(name, ttl) as holder:
                if holder:
                    raise Busy(name, holder)
                return run(*args, **kwargs)

        return locked

    return decorate


def once_per(name, seconds):
    """True for the first caller across every machine in each `seconds` (and always without Redis)."""
    redis = client()
    if redis is None:
        return True
    try:
        return bool(redis.set(key(f"once:{name}"), holder_token(), nx=True, px=max(1, int(seconds * 1000))))
    except Exception as e:  # noqa: BLE001
        failed(e)
        return True


def _renew(lock, ttl, stop):
    while not stop.wait(ttl / 3):
        try:
            lock.reacquire()
        except Exception as e:  # noqa: BLE001
            log.warning("warning: lost the Redis lock %s (%s); carrying on", lock.name, _first_line(e))
            return


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _first_line(error):
    return (str(error) or type(error).__name__).splitlines()[0]


def _safe_url():
    url = settings.ADT_REDIS_URL or ""
    # Never print a password: redis://user:secret@host -> redis://host
    return url.split("://", 1)[0] + "://" + url.rsplit("@", 1)[-1].split("://", 1)[-1] if "@" in url else url
