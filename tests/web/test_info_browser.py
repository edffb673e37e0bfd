"""In a real Chromium: adding a task from the queue page, asking before bulk cancel and requeue, reading events."""

import getpass

import pytest

from tests.web.test_browser import add_task, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def test_a_task_added_with_the_form_shows_in_the_queue_and_a_bad_one_is_refused_inline(page, site):  # noqa: F811
    from playwright.sync_api import expect

    page.goto(site.url + "/tasks/")
    page.click("#add-task summary")
    page.fill("#add_description", "Fix the login test")
    page.select_option("#add_priority", "high")
    page.fill("#add_metadata", "{ticket: 42}")
    page.click("#add-task button[type=submit]")
    expect(page.locator("#add-task")).to_contain_text("Metadata is not valid JSON")
    assert site.adt.scalar("tasks", "SELECT COUNT(*) FROM tasks") == 0

    page.fill("#add_metadata", '{"ticket": 42}')
    page.click("#add-task button[type=submit]")
    expect(page.locator("#messages")).to_contain_text("Added task ")
    task_id = site.adt.scalar("tasks", "SELECT id FROM tasks")
    expect(page.locator(f"#task-{task_id}")).to_contain_text("Fix the login test")
    expect(page.locator(".tabs .tab.pending .n")).to_have_text("1")


def test_bulk_cancel_asks_first_and_cancels_only_once_confirmed(page, site):  # noqa: F811
    from playwright.sync_api import expect

    ids = [add_task(site, f"cancel me {i}") for i in range(2)]
    page.goto(site.url + "/tasks/")
    page.check("input.select-all")
    page.select_option("#bulk select[name=action]", "cancel")
    page.click("#bulk button[type=submit]")
    expect(page.locator("#bulk-confirm")).to_contain_text("Cancel 2 tasks?")
    assert site.adt.sql("tasks", "SELECT DISTINCT status FROM tasks") == [("pending",)]

    page.click("#bulk-confirm button[type=submit]")
    expect(page.locator("#messages")).to_contain_text("Cancelled 2 tasks.")
    # The list keeps its filter (active tasks), so the cancelled ones leave it.
    for task_id in ids:
        expect(page.locator(f"#task-{task_id}")).to_have_count(0)
    assert site.adt.sql("tasks", "SELECT DISTINCT status FROM tasks") == [("cancelled",)]
    expect(page.locator(".tabs .tab.cancelled .n")).to_have_text("2")


def test_requeuing_a_held_task_asks_the_browser_first(page, site):  # noqa: F811
    from playwright.sync_api import expect

    task_id = add_task(site, "held one")
    assert site.adt.manage("claim_task", "--agent", "demo").returncode == 0
    page.goto(site.url + "/tasks/")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.locator(f"#task-{task_id} button", has_text="Requeue").click()
    page.wait_for_timeout(500)
    assert asked == [f"Requeue task {task_id}? Agent demo holds it now and loses it; a retry is counted."]
    assert site.adt.scalar("tasks", "SELECT status FROM tasks") == "in_progress"

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#task-{task_id} button", has_text="Requeue").click()
    expect(page.locator("#messages")).to_contain_text(f"Requeued task {task_id}.")


def test_events_read_as_sentences_with_their_data_folded(page, site):  # noqa: F811
    from playwright.sync_api import expect

    add_task(site, "Read me as a sentence")
    page.goto(site.url + "/events/?type=task.")
    row = page.locator("#feed-rows .event").first
    # add_task records who ran it: this login.
    expect(row.locator(".sentence")).to_have_text(f"{getpass.getuser()} added Read me as a sentence to project demo")
    data = row.locator("details.data pre")
    expect(data).to_be_hidden()
    row.locator("summary").click()
    expect(data).to_be_visible()
