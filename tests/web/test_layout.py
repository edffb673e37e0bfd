"""Every page in a real Chromium against gunicorn, with long text in the data:
at 1280×900 and 390×844 no page scrolls sideways, and axe-core finds nothing
serious or critical (light and dark)."""

import json
import shutil
import subprocess

import pytest

from tests.support import ADT, PYTHON, ROOT
from tests.web.servers import ADMIN_PASSWORD, Server, get, log_in

pytestmark = pytest.mark.browser

WIDTHS = {"wide": (1280, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def demo_site(migrated_home, static_root, tmp_path_factory):
    """One server for the module, over tools/demo.py's data with --long (a
    100-character URL and a 5,000-character token in descriptions)."""
    home = tmp_path_factory.mktemp("layout") / "adt"
    shutil.copytree(migrated_home, home)
    adt = ADT(home, env={"DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD})
    made = subprocess.run([PYTHON, "tools/demo.py", "--long"], cwd=ROOT, env=adt.env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    result = adt.manage("createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com")
    assert result.returncode == 0, result.stderr
    with Server(adt, static_root) as server:
        server.ids = json.loads(made.stdout)
        yield server


def pages(site):
    """(name, path) of every page, the logged-in ones."""
    ids = site.ids
    return [
        ("dashboard", "/"),
        ("queue", "/tasks/"),
        ("queue, every status", "/tasks/?status=all"),
        ("task with a long token", f"/tasks/{ids['long_task']}/"),
        ("task with a long URL", f"/tasks/{ids['url_task']}/"),
        ("feed", "/events/"),
        ("agents", "/agents/"),
        ("runs", "/runs/"),
        ("run with its log", f"/runs/{ids['run']}/"),
        ("projects", "/projects/"),
        ("schedules", "/schedules/"),
        ("admin index", "/admin/"),
        ("admin events", "/admin/events/event/"),
        ("admin tasks", "/admin/tasks/task/"),
        ("admin task", f"/admin/tasks/task/{ids['url_task']}/change/"),
        ("missing task", "/tasks/0000000000000000/"),
    ]


def new_page(browser, site, width, scheme="light", login=True):
    w, h = WIDTHS[width]
    context = browser.new_context(viewport={"width": w, "height": h}, color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(15_000)
    if login:
        log_in(page, site.url)
    return page


def sideways(page):
    """How many pixels the page scrolls sideways (0 when it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def serious_violations(page):
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page).response
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results["violations"] if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways(browser, demo_site, width):
    page = new_page(browser, demo_site, width)
    wider = {}
    for name, path in pages(demo_site):
        page.goto(demo_site.url + path)
        if (extra := sideways(page)) > 0:
            wider[name] = extra
    login = new_page(browser, demo_site, width, login=False)
    login.goto(demo_site.url + "/admin/login/")
    if (extra := sideways(login)) > 0:
        wider["login"] = extra
    assert wider == {}, f"pages wider than {WIDTHS[width][0]} px, by px"


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", WIDTHS)
def test_axe_finds_no_serious_or_critical_violation(browser, demo_site, width, scheme):
    page = new_page(browser, demo_site, width, scheme)
    found = {}
    for name, path in pages(demo_site):
        page.goto(demo_site.url + path)
        if violations := serious_violations(page):
            found[name] = violations
    login = new_page(browser, demo_site, width, scheme, login=False)
    login.goto(demo_site.url + "/admin/login/")
    if violations := serious_violations(login):
        found["login"] = violations
    assert found == {}


def test_the_navigation_collapses_into_a_menu_on_a_phone(browser, demo_site):
    from playwright.sync_api import expect

    page = new_page(browser, demo_site, "phone")
    queue_link = page.locator("#site-nav a", has_text="Queue")
    toggle = page.locator("button.menu-toggle")
    expect(queue_link).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    queue_link.click()
    page.wait_for_url(demo_site.url + "/tasks/")

    wide = new_page(browser, demo_site, "wide")
    expect(wide.locator("#site-nav a", has_text="Queue")).to_be_visible()
    expect(wide.locator("button.menu-toggle")).to_be_hidden()


def test_the_admins_links_fold_into_the_same_menu_on_a_phone(browser, demo_site):
    from playwright.sync_api import expect

    page = new_page(browser, demo_site, "phone")
    page.goto(demo_site.url + "/admin/tasks/task/")
    toggle = page.locator("#header button.menu-toggle")
    events_link = page.locator("#site-nav a", has_text="Events")
    expect(events_link).to_be_hidden()
    expect(page.locator("#user-tools")).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#user-tools")).to_be_visible()
    page.keyboard.press("Escape")
    expect(events_link).to_be_hidden()
    expect(toggle).to_be_focused()
    toggle.click()
    events_link.click()
    page.wait_for_url(demo_site.url + "/events/")

    wide = new_page(browser, demo_site, "wide")
    wide.goto(demo_site.url + "/admin/tasks/task/")
    expect(wide.locator("#site-nav a", has_text="Events")).to_be_visible()
    expect(wide.locator("#header button.menu-toggle")).to_be_hidden()


def test_a_long_description_is_clipped_in_the_queue_and_whole_on_the_task_page(browser, demo_site):
    task_id = demo_site.ids["long_task"]
    page = new_page(browser, demo_site, "phone")
    page.goto(demo_site.url + "/tasks/?status=all")
    cell = page.locator(f"#task-{task_id} .description")
    line = page.evaluate("parseFloat(getComputedStyle(document.body).lineHeight)")
    assert cell.bounding_box()["height"] <= 5 * line  # at most a few lines
    page.goto(demo_site.url + f"/tasks/{task_id}/")
    text = page.locator("#task-summary .description").inner_text()
    assert len(text) > 5000  # the whole token, wrapped
    assert sideways(page) <= 0


def test_favicon_and_styled_error_pages(demo_site):
    status, headers, body = get(demo_site.url + "/favicon.ico")
    assert status == 200 and headers["Content-Type"].startswith("image/svg+xml"), (status, headers)
    status, _, body = get(demo_site.url + "/no/such/page")
    assert status == 404
    assert b"adt" in body and b'rel="icon"' in body and b"Page not found" in body
