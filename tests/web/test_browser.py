"""End to end in a real headless Chromium against gunicorn: log in, watch the feed, steer the queue."""

import json

import pytest

from tests.web.servers import ADMIN_PASSWORD, log_in

pytestmark = pytest.mark.browser

WAIT = 15_000  # ms: the feed polls every 2 s; the machine may be busy.


@pytest.fixture
def page(browser, site):
    """A logged-in page, landing on /events/ after the login form."""
    page = browser.new_page()
    page.set_default_timeout(WAIT)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, site.url, "/events/")
    yield page
    assert errors == []


def add_task(site, description, priority="normal"):
    result = site.adt.manage("add_task", "--project", "demo", "--description", description, "--priority", priority, "--json")
    assert result.returncode == 0, result.stderr
    return result.json()["id"]


def test_a_task_added_on_the_command_line_appears_in_the_feed_and_is_cancelled_on_the_queue_page(page, site):
    from playwright.sync_api import expect

    page.evaluate("window.notReloaded = true")
    task_id = add_task(site, "watch me in the browser")

    row = page.locator("#feed-rows .event", has_text=task_id)
    expect(row).to_be_visible()
    expect(row).to_contain_text("task.created")
    assert page.evaluate("window.notReloaded") is True  # appended, not reloaded
    assert page.locator("#feed-rows .event").first.get_attribute("id") == row.get_attribute("id")
    # The cursor moved on: later polls do not bring the same event again.
    page.wait_for_timeout(4500)
    assert row.count() == 1

    page.click("nav >> text=Queue")
    task_row = page.locator(f"#task-{task_id}")
    expect(task_row.locator(".badge.status")).to_have_text("Pending")
    page.once("dialog", lambda dialog: dialog.accept())
    task_row.locator("button", has_text="Cancel").click()

    expect(task_row.locator(".badge.status")).to_have_text("Cancelled")
    expect(page.locator("#messages")).to_contain_text(f"Cancelled task {task_id}.")
    assert site.adt.scalar("tasks", "SELECT status FROM tasks WHERE id = ?", (task_id,)) == "cancelled"
    data = site.adt.scalar("logs", "SELECT data FROM events WHERE task_id = ? AND type = 'task.cancelled'", (task_id,))
    assert json.loads(data)["by"] == "web:admin"


def test_the_feed_stops_polling_while_the_tab_is_hidden_and_catches_up_when_shown(page, site):
    from playwright.sync_api import expect

    polls = []
    page.on("request", lambda request: polls.append(request.url) if "/events/feed" in request.url else None)
    page.wait_for_timeout(2500)
    assert polls, "the feed polls while visible"

    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    page.wait_for_timeout(500)
    polls.clear()
    task_id = add_task(site, "arrives while hidden")
    page.wait_for_timeout(5000)
    assert polls == []
    assert page.locator("#feed-rows .event", has_text=task_id).count() == 0

    page.evaluate(
        "Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    expect(page.locator("#feed-rows .event", has_text=task_id)).to_be_visible(timeout=1500)


def test_bulk_reprioritize_of_every_row_on_the_queue_page(page, site):
    from playwright.sync_api import expect

    ids = [add_task(site, f"bulk {i}", "low") for i in range(3)]
    page.goto(site.url + "/tasks/")
    page.check("input.select-all")
    page.select_option("#bulk select[name=action]", "reprioritize")
    page.select_option("#bulk select[name=priority]", "urgent")
    page.click("#bulk button[type=submit]")

    expect(page.locator("#messages")).to_contain_text("Reprioritized 3 tasks.")
    for task_id in ids:
        expect(page.locator(f"#task-{task_id} .badge.priority")).to_have_text("urgent")
    assert site.adt.sql("tasks", "SELECT DISTINCT priority FROM tasks") == [("urgent",)]



def test_a_rows_priority_select_changes_that_task_alone(page, site):
    from playwright.sync_api import expect

    chosen, other = add_task(site, "raise me", "low"), add_task(site, "leave me", "low")
    page.goto(site.url + "/tasks/")
    page.select_option(f"#task-{chosen} select[name=priority]", "high")

    expect(page.locator(f"#task-{chosen} .badge.priority")).to_have_text("high")
    expect(page.locator("#messages")).to_contain_text(f"Reprioritized task {chosen}.")
    assert dict(site.adt.sql("tasks", "SELECT id, priority FROM tasks")) == {chosen: "high", other: "low"}


def test_the_row_buttons_work_without_javascript(browser, site):
    from playwright.sync_api import expect

    task_id = add_task(site, "no script here")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(WAIT)
    log_in(page, site.url, "/tasks/")

    # A plain form post to the button's own action, then back to the page.
    page.locator(f"#task-{task_id} button", has_text="Cancel").click()
    page.wait_for_url(site.url + "/tasks/")
    expect(page.locator("#messages")).to_contain_text(f"Cancelled task {task_id}.")
    page.goto(site.url + "/tasks/?status=all")
    page.locator(f"#task-{task_id} button", has_text="Retry").click()
    expect(page.locator("#messages")).to_contain_text(f"Retried task {task_id}.")
    assert site.adt.scalar("tasks", "SELECT status FROM tasks WHERE id = ?", (task_id,)) == "pending"
    context.close()

def test_filters_update_the_list_and_the_address_bar(page, site):
    from playwright.sync_api import expect

    keep = add_task(site, "find the needle")
    add_task(site, "something else")
    page.goto(site.url + "/tasks/")
    page.fill("input[name=q]", "needle")
    page.press("input[name=q]", "Enter")
    expect(page.locator("#queue-rows tr")).to_have_count(1)
    expect(page.locator(f"#task-{keep}")).to_be_visible()
    assert page.url.endswith("q=needle")


def test_pausing_a_project_on_its_row_stops_claims_until_it_is_resumed(page, site):
    from playwright.sync_api import expect

    add_task(site, "wait for the rebase")
    page.goto(site.url + "/projects/")
    page.evaluate("window.notReloaded = true")
    row = page.locator("#project-demo")
    row.locator("input[name=reason]").fill("rebasing")
    row.locator("button", has_text="Pause").click()

    expect(row.locator(".badge.paused")).to_be_visible()
    expect(row).to_contain_text("rebasing")
    expect(page.locator("#messages")).to_contain_text("Paused demo: 1 pending task(s) held back.")
    assert page.evaluate("window.notReloaded") is True  # the row was swapped, not the page
    claim = site.adt.manage("claim_task", "--agent", "demo")
    assert claim.returncode == 3 and "project demo is paused (by web:admin: rebasing)" in claim.stderr

    row.locator("button", has_text="Resume").click()
    expect(row.locator("button", has_text="Pause")).to_be_visible()
    assert site.adt.manage("claim_task", "--agent", "demo").returncode == 0


def test_run_now_on_the_schedules_page_adds_a_task(page, site):
    from playwright.sync_api import expect

    added = site.adt.manage("add_schedule", "nightly", "--project", "demo", "--cron", "0 3 * * *", "--description", "update deps")
    assert added.returncode == 0, added.stderr
    page.click("nav >> text=Schedules")
    row = page.locator("#schedule-nightly")
    expect(row).to_contain_text("At 03:00")
    row.locator("button", has_text="Run now").click()
    expect(page.locator("#messages")).to_contain_text("Added task ")
    task_id = site.adt.scalar("tasks", "SELECT id FROM tasks")
    expect(row.locator(f"a[href='/tasks/{task_id}/']")).to_be_visible()


@pytest.fixture
def clickhouse_site(adt, static_root, clickhouse_url):
    """The site, shipping its events to a ClickHouse database of this test."""
    from tests.support import ADT
    from tests.web.servers import Server

    assert adt.manage("register_project", "demo", "/srv/demo").returncode == 0
    configured = ADT(adt.home, env={"ADT_CLICKHOUSE_URL": clickhouse_url, "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD})
    result = configured.manage("createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com")
    assert result.returncode == 0, result.stderr
    with Server(configured, static_root) as server:
        yield server


@pytest.mark.parametrize("width", [1280, 390])
def test_a_search_over_90_days_finds_events_logs_db_no_longer_has(browser, clickhouse_site, width):
    import sqlite3
    from datetime import UTC, datetime, timedelta

    from playwright.sync_api import expect

    adt = clickhouse_site.adt
    old = (datetime.now(UTC) - timedelta(days=40)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(adt.path("logs")) as conn:
        conn.executemany("INSERT INTO events (timestamp, type, project, data, level) VALUES (?, 'test.old', 'demo', ?, 'info')",
                         [(old, json.dumps({"note": "a long note " * 20, "i": i})) for i in range(3)])
    assert adt.manage("ship_events").returncode == 0
    assert adt.manage("prune_logs", "--older-than", "30").returncode == 0
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.set_default_timeout(WAIT)
    log_in(page, clickhouse_site.url, "/events/")
    expect(page.locator("#feed-rows .row.event.level-info >> text=test.old")).to_have_count(0)

    # The type select offers the known types; another type comes from the address, and stays chosen.
    page.goto(clickhouse_site.url + "/events/?type=test.old")
    page.select_option("#feed-filters select[name=days]", "90")

    expect(page.locator("#feed-rows .event")).to_have_count(3)
    expect(page.locator(".counts")).to_contain_text("test.old 3")
    assert "days=90" in page.url and "type=test.old" in page.url
    assert page.locator(".message.warning").count() == 0
    # The filters (with the time range) and the counts wrap within the window.
    # (At 390 px the site's header and an event row's columns are wider than the window already.)
    for part in ("#feed-filters", ".counts"):
        assert page.evaluate(f"document.querySelector('{part}').getBoundingClientRect().right <= window.innerWidth"), part
