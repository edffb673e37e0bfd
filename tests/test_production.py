"""Production settings: deploy checks, gunicorn's refusal without a secret key, bad input."""

import pytest

from tests.support import ADT

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
