"""Repeated failed logins lock out that username from that address for a while (django-axes)."""

import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.db import connections
from django.test import override_settings

from tests.web.servers import https_client

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

LOGIN = "/admin/login/"


@pytest.fixture
def operator(db):
    return User.objects.create_superuser("ops", password="right-password")


def log_in(password, address="127.0.0.1", username="ops", forwarded=None):
    client = https_client()
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    response = client.post(LOGIN, {"username": username, "password": password, "next": "/"}, REMOTE_ADDR=address, **extra)
    return response, "_auth_user_id" in client.session


def fail(times, address="127.0.0.1", forwarded=None):
    return [log_in("wrong", address, forwarded=forwarded)[0].status_code for _ in range(times)]


def test_four_wrong_passwords_then_the_right_one_logs_in(operator):
    assert fail(4) == [200] * 4  # the login form again, with its error
    response, logged_in = log_in("right-password")
    assert response.status_code == 302 and logged_in


def test_the_fifth_wrong_password_locks_out_and_the_sixth_try_is_refused_even_when_right(operator):
    assert fail(5) == [200, 200, 200, 200, 429]
    response, logged_in = log_in("right-password")
    assert response.status_code == 429 and not logged_in
    page = response.content.decode()
    assert "Too many failed logins" in page
    assert "5 wrong passwords for <strong>ops</strong> from your address" in page
    assert "blocked for 5 minutes, even with the right password" in page


def test_the_lockout_is_for_the_username_from_that_address_only(operator):
    fail(5)
    response, logged_in = log_in("right-password", address="10.0.0.9")
    assert response.status_code == 302 and logged_in


@override_settings(AXES_COOLOFF_TIME=timedelta(seconds=1))
def test_the_lockout_lifts_after_the_cool_off(operator):
    fail(5)
    assert log_in("right-password")[0].status_code == 429
    time.sleep(1.5)
    response, logged_in = log_in("right-password")
    assert response.status_code == 302 and logged_in


def test_failed_logins_are_kept_in_main_db(operator):
    fail(2)
    assert AccessAttempt.objects.db == "default"
    assert AccessAttempt.objects.get().failures_since_start == 2
    for alias in ("tasks", "logs"):
        assert "axes_accessattempt" not in connections[alias].introspection.table_names()
    assert "axes_accessattempt" in connections["default"].introspection.table_names()


def test_behind_the_proxy_the_address_is_the_one_the_proxy_appended(operator):
    # The proxy (on loopback) appends the browser's address; what the browser sent before it is ignored.
    assert fail(5, forwarded="203.0.113.7")[-1] == 429
    assert log_in("right-password", forwarded="1.2.3.4, 203.0.113.7")[0].status_code == 429
    response, logged_in = log_in("right-password", forwarded="203.0.113.7, 198.51.100.2")
    assert response.status_code == 302 and logged_in


def test_x_forwarded_for_from_anywhere_but_the_proxy_is_ignored(operator):
    assert fail(5, address="192.0.2.10", forwarded="203.0.113.1")[-1] == 429
    assert log_in("right-password", address="192.0.2.10", forwarded="203.0.113.99")[0].status_code == 429
