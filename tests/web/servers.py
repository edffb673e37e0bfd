"""A real ADT admin web server for tests: gunicorn on a free loopback port, over
an ADT_HOME of its own, with collected static files (DEBUG off, as deployed)."""

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.test import Client

from tests.support import PYTHON, ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]
ADMIN_PASSWORD = "e2e-password"


def log_in(page, base, path="/"):
    """Open `path` as the admin in a Playwright page: sent to the login form first, then back to `path`."""
    page.goto(base + path)
    assert "/admin/login/" in page.url  # anonymous: sent to log in first
    page.fill("#id_username", "admin")
    page.fill("#id_password", ADMIN_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(base + path)


def require_chromium():
    """Skip (say why) when Debian's chromium is missing, or fail under ADT_REQUIRE_SERVERS=1."""
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install -y chromium); browser tests need it"
    if os.environ.get("ADT_REQUIRE_SERVERS") == "1":
        pytest.fail(message + " and ADT_REQUIRE_SERVERS=1")
    pytest.skip(message)


def https_client(**kwargs):
    """A test client whose requests come through the TLS proxy, as in production
    (with DEBUG off the settings redirect plain HTTP to HTTPS). Like a browser
    it names the host, which Django otherwise takes as testserver:80."""
    return Client(headers={"X-Forwarded-Proto": "https", "Host": "testserver"}, **kwargs)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5, headers=None):
    """(status, headers, body) of a GET, errors included."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class Server:
    """gunicorn serving ADT admin for `adt` (an ADT with a migrated home)."""

    def __init__(self, adt, static_root, args=()):
        self.adt = adt
        self.args = list(args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.static_root = static_root
        self.log = adt.home / "server.log"
        self.proc = None

    def start(self, timeout=30):
        empty_config = self.adt.home / "gunicorn.empty.py"
        empty_config.write_text("")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [PYTHON, "-m", "gunicorn", "adt_admin.wsgi:application",
                 # Our own (empty) config, so a gunicorn.conf.py in the checkout does not apply.
                 "--config", str(empty_config),
                 "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--threads", "4", "--timeout", "60", *self.args],
                # Plain HTTP on loopback: no TLS proxy in front (DJANGO_HTTPS=0).
                cwd=ROOT, env={**self.adt.env, "ADT_STATIC_ROOT": str(self.static_root), "DJANGO_HTTPS": "0"},
                stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                get(self.url + "/healthz", timeout=1)
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer within {timeout} s:\n{self.log.read_text()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
