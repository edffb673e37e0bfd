"""Fixtures for the web admin's tests: logged-in clients in process, and a real server."""

import pytest
from django.contrib.auth.models import User

from tests import factories
from tests.support import ADT
from tests.web.servers import ADMIN_PASSWORD, Server, https_client


@pytest.fixture
def staff(db):
    return User.objects.create_user("staff", password="pw", is_staff=True)


@pytest.fixture
def client(staff):
    """A staff user's client (the pages' audience)."""
    client = https_client()
    client.force_login(staff)
    return client


@pytest.fixture
def outsider_client(db):
    """Logged in, but not staff."""
    user = User.objects.create_user("outsider", password="pw")
    client = https_client()
    client.force_login(user)
    return client


@pytest.fixture
def demo(db):
    return factories.project("demo", "/srv/demo")


@pytest.fixture(scope="session")
def static_root(tmp_path_factory, migrated_home):
    """collectstatic once: hashed, compressed files as `make run` makes them."""
    root = tmp_path_factory.mktemp("static")
    result = ADT(migrated_home, env={"ADT_STATIC_ROOT": root}).manage("collectstatic", "--noinput", "-v0", timeout=300)
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture
def site(adt, static_root):
    """A running server with one project (demo) and a superuser admin / ADMIN_PASSWORD."""
    assert adt.manage("register_project", "demo", "/srv/demo").returncode == 0
    admin = ADT(adt.home, env={"DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD})
    result = admin.manage("createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com")
    assert result.returncode == 0, result.stderr
    with Server(adt, static_root) as server:
        yield server
