"""Fixtures for the web admin's tests: logged-in clients in process, and a real server."""

import pytest
from django.contrib.auth.models import Group, User

from tests import factories
from tests.support import ADT
from tests.web.servers import ADMIN_PASSWORD, CHROMIUM, CHROMIUM_ARGS, Server, https_client, require_chromium


def member(name, role):
    """A staff user in the group `role` (viewer or operator, made by dashboard's migration)."""
    user = User.objects.create_user(name, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def logged_in(user):
    """A test client (through the TLS proxy, as in production) with `user` logged in."""
    client = https_client()
    client.force_login(user)
    return client


@pytest.fixture
def staff(db):
    """An operator: the pages' tests look and act."""
    return member("staff", "operator")


@pytest.fixture
def client(staff):
    """An operator's client (the pages' audience)."""
    return logged_in(staff)


@pytest.fixture
def viewer(db):
    return member("vera", "viewer")


@pytest.fixture
def viewer_client(viewer):
    """A viewer's client: may look, may not act."""
    return logged_in(viewer)


@pytest.fixture
def outsider_client(db):
    """Logged in, but not staff."""
    user = User.objects.create_user("outsider", password="pw")
    return logged_in(user)


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


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright; one per test module."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
