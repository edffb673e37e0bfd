"""A run's page in a real headless Chromium against gunicorn: the log follows a file another process appends to."""

import threading
import time

import pytest

from tests.web.servers import log_in

pytestmark = pytest.mark.browser

WAIT = 15_000  # ms: the page polls every 2 s; the machine may be busy.


class Writer(threading.Thread):
    """Appends a numbered line to `path` every 0.3 s until stopped, as an agent writes its log."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.written = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            with self.path.open("a") as f:
                f.write(f"step {self.written + 1} of the agent's work\n")
            self.written += 1
            time.sleep(0.3)


def test_a_running_runs_log_follows_the_file_as_it_grows_and_stops_when_the_run_ends(browser, site):
    from playwright.sync_api import expect

    log = site.adt.home / "logs" / "run-1.log"
    log.parent.mkdir(exist_ok=True)
    log.write_text("agent started\n")
    started = site.adt.manage("start_run", "--agent", "demo", "--log-path", str(log), "--json")
    assert started.returncode == 0, started.stderr
    run_id = started.json()["id"]

    page = browser.new_page()
    page.set_default_timeout(WAIT)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, site.url, f"/runs/{run_id}/")
    expect(page.locator("#log-text")).to_contain_text("agent started")
    expect(page.locator("#log-poller .live")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "/log?offset=" in request.url else None)

    writer = Writer(log)
    writer.start()
    try:
        expect(page.locator("#log-text")).to_contain_text("step 3 of the agent's work")
        expect(page.locator("#log-text")).to_contain_text("step 12 of the agent's work")
    finally:
        writer.stop.set()
        writer.join()
    assert page.evaluate("window.notReloaded") is True  # appended, not reloaded
    # Each poll asks only for the bytes after the ones it has: the offset moves on.
    offsets = [int(url.rsplit("offset=", 1)[1]) for url in polls]
    assert offsets == sorted(offsets) and len(set(offsets)) > 1

    ended = site.adt.manage("end_run", str(run_id), "--exit-code", "0")
    assert ended.returncode == 0, ended.stderr
    expect(page.locator("#log-poller")).to_have_text("The run has ended.")
    expect(page.locator("#run-status")).to_have_text("completed")
    # Every line once, in order: no poll brought the same bytes twice.
    assert page.locator("#log-text").text_content() == log.read_text()
    polls.clear()
    page.wait_for_timeout(4500)
    assert polls == []  # polling stopped with the run
    assert errors == []
