"""A ClickHouse server for the tests: its own config, data and ports in a temporary folder.

Never the machine's service. The config is the 18.16 format (a <yandex>
root), which current servers still read. Without clickhouse-server on the
machine the tests that need it skip and say why (fail with ADT_REQUIRE_SERVERS=1).
"""

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from tests.servers import free_port, wait_for_port

BINARY_NAMES = ("clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server")

CONFIG = """<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{folder}/log/server.log</log>
        <errorlog>{folder}/log/server.err.log</errorlog>
        <size>100M</size>
        <count>1</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>{tcp_port}</tcp_port>
    <http_port>{http_port}</http_port>
    <max_connections>256</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <!-- Small caches: several test servers may share a small machine. -->
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>{folder}/data/</path>
    <tmp_path>{folder}/tmp/</tmp_path>
    <user_files_path>{folder}/user_files/</user_files_path>
    <format_schema_path>{folder}/format_schemas/</format_schema_path>
    <users_config>{folder}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
"""

USERS = """<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
"""


def find_binary():
    if path := os.environ.get("ADT_CLICKHOUSE_SERVER"):
        return path if Path(path).exists() else None
    for name in BINARY_NAMES:
        if found := shutil.which(name):
            return found
    return None


class ClickHouse:
    """One clickhouse-server process on free ports; `stop()` and `start()` again keep its data."""

    def __init__(self, binary, folder):
        self.binary = binary
        self.folder = Path(folder)
        self.tcp_port = free_port()
        self.http_port = free_port()
        for sub in ("log", "data", "tmp", "user_files", "format_schemas"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        (self.folder / "users.xml").write_text(USERS)
        self.config = self.folder / "config.xml"
        self.config.write_text(CONFIG.format(folder=self.folder, tcp_port=self.tcp_port, http_port=self.http_port))
        self.proc = None
        self.start()

    def url(self, database=None):
        """A URL for ADT_CLICKHOUSE_URL; a fresh database name unless one is given."""
        return f"clickhouse://127.0.0.1:{self.tcp_port}/{database or new_database()}"

    def start(self, timeout=60):
        self.output = open(self.folder / "log" / "stdout.log", "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [self.binary, f"--config-file={self.config}"],
            cwd=self.folder, stdout=self.output, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            wait_for_port(self.tcp_port, timeout=timeout)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"clickhouse-server did not start: {self.log_tail()}") from None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.proc is not None:
            self.output.close()
        self.proc = None
        # The port is closed once the process is gone; wait for it so a
        # client never reaches a server that is still shutting down.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _listening(self.tcp_port):
            time.sleep(0.05)

    def log_tail(self, lines=20):
        texts = []
        for name in ("stdout.log", "server.err.log"):
            path = self.folder / "log" / name
            if path.exists():
                texts.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(texts)


def _listening(port):
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def new_database():
    """A database name of its own for each test, so tests share one server under xdist."""
    return f"adt_test_{uuid.uuid4().hex[:12]}"


def execute(server, sql, params=None):
    """A statement on `server` through a client of the test's own, not storage.clickhouse:
    what the tests check is read independently of what they check."""
    from clickhouse_driver import Client

    client = Client("127.0.0.1", port=server.tcp_port, connect_timeout=5)
    try:
        return client.execute(sql, params)
    finally:
        client.disconnect()
