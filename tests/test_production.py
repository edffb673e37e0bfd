"""Production settings: deploy checks, gunicorn's refusal without a secret key, bad input;
runserver on plain HTTP, gunicorn (`make serve`) on the secure defaults."""

import http.client
import subprocess
import time
from contextlib import contextmanager

import pytest

from tests.support import ADT
from tests.web.servers import free_port

PRODUCTION = {
    "DJANGO_SECRET_KEY": "x7Hq9-production-secret-key-for-the-tests-only-0123456789abcdefghijk",
    "DJANGO_ALLOWED_HOSTS": "adt.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://adt.example.com",
}


def test_check_deploy_reports_nothing_with_the_production_environment(tmp_path):
    result = ADT(tmp_path, env=PRODUCTION).manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_gunicorn_refuses_to_serve_without_a_secret_key_when_debug_is_off(tmp_path):
    adt = ADT(tmp_path)
    proc = adt.popen("-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:0", stderr=-1, text=True)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "error: set DJANGO_SECRET_KEY before serving with DEBUG off" in err


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG must be a boolean"),
        ("ADT_MAX_RETRIES", "three", "ADT_MAX_RETRIES must be an integer"),
        ("ADT_TASKS_DB", "postgres://host/", "no database name"),
    ],
)
def test_bad_settings_are_a_one_line_error(tmp_path, variable, value, message):
    result = ADT(tmp_path, env={variable: value}).manage("agent_status")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def fetch(port, path, headers=None):
    """(status, headers) of one request, redirects not followed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": f"localhost:{port}", **(headers or {})})
        response = conn.getresponse()
        response.read()
        return response.status, response.headers
    finally:
        conn.close()


@contextmanager
def serving(adt, args, port):
    proc = adt.popen(*args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                fetch(port, "/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.2)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_runserver_serves_plain_http_with_the_default_settings(adt):
    """No DJANGO_DEBUG, no DJANGO_HTTPS, no collectstatic: what a Django user types first."""
    port = free_port()
    with serving(adt, ["manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"], port):
        status, headers = fetch(port, "/admin/login/")
        assert status == 200
        assert "Strict-Transport-Security" not in headers
        cookie = headers["Set-Cookie"]
        assert "csrftoken=" in cookie and "Secure" not in cookie
        assert fetch(port, "/")[0] == 302  # to the login page, not to https
        assert fetch(port, "/static/adt.css")[0] == 200


def test_gunicorn_with_make_serves_config_keeps_the_secure_defaults(adt):
    port = free_port()
    env = {**PRODUCTION, "ADT_BIND": f"127.0.0.1:{port}", "ADT_WORKERS": "1", "DJANGO_ALLOWED_HOSTS": "localhost"}
    served = ADT(adt.home, env=env)
    with serving(served, ["-m", "gunicorn", "-c", "gunicorn.conf.py"], port):
        status, headers = fetch(port, "/admin/login/")
        assert status == 301 and headers["Location"] == f"https://localhost:{port}/admin/login/"
        # Through the TLS proxy (trusted from loopback): HSTS on every answer.
        status, headers = fetch(port, "/healthz", headers={"X-Forwarded-Proto": "https"})
        assert status == 200 and headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert fetch(port, "/healthz")[0] == 200  # load balancers probe over plain HTTP


def test_check_deploy_is_clean_for_gunicorn_and_would_not_be_for_runservers_defaults(tmp_path):
    assert "no issues" in ADT(tmp_path, env=PRODUCTION).manage("check", "--deploy", "--fail-level", "WARNING").stdout
    # DJANGO_HTTPS=0 is what runserver gets by default: check --deploy says so.
    plain = ADT(tmp_path, env={**PRODUCTION, "DJANGO_HTTPS": "0"}).manage("check", "--deploy", "--fail-level", "WARNING")
    assert plain.returncode != 0 and "SECURE_SSL_REDIRECT" in plain.stderr + plain.stdout
