"""`make screenshots`: every page of ADT admin, full-page, at 1280 and 390 px,
into docs/screenshots/ (the README shows dashboard-1280.png).

A temporary ADT_HOME gets tools/demo.py's data and a superuser; gunicorn
serves it (DEBUG off, collected static files, as `make serve` does) on a free
loopback port; Debian's Chromium, headless, logs in and photographs each page.
A script rather than a management command: it drives a server and a browser
from outside, as a user does, and the app never imports Playwright.

    python tools/screenshots.py [--out DIR] [--scheme light|dark]
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
PASSWORD = "screenshots-password"
WIDTHS = {1280: 900, 390: 844}
MAX_HEIGHT = 1300


def pages(ids):
    """(file name, path, widths) of each page; the narrow width where it shows something new."""
    both = tuple(WIDTHS)
    return [
        ("dashboard", "/", both),
        ("queue", "/tasks/?status=all", both),
        ("task", f"/tasks/{ids['url_task']}/", both),
        ("events", "/events/", both),
        ("agents", "/agents/", both),
        ("runs", "/runs/", both),
        ("run", f"/runs/{ids['run']}/", both),
        ("projects", "/projects/", both),
        ("schedules", "/schedules/", both),
        ("admin", "/admin/", both),
        ("admin-events", "/admin/events/event/", both),
        ("not-found", "/tasks/0000000000000000/", (1280,)),
    ]


def run(env, *args):
    result = subprocess.run([PYTHON, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env, port):
    server = subprocess.Popen(
        [PYTHON, "-m", "gunicorn", "adt_admin.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1",
         "--threads", "4", "--config", os.devnull],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    sys.exit("gunicorn did not answer within 30 s")


def photograph(url, ids, out, scheme):
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for width, height in WIDTHS.items():
            context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
            page = context.new_page()
            page.goto(url + "/admin/login/?next=/")
            shot(page, out / f"login-{width}.png", written)
            page.fill("#id_username", "admin")
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(url + "/")
            for name, path, widths in pages(ids):
                if width in widths:
                    page.goto(url + path)
                    shot(page, out / f"{name}-{width}.png", written)
            if width == 1280 and scheme == "light":  # and the dark scheme, once
                page.emulate_media(color_scheme="dark")
                for name, path in (("dashboard", "/"), ("admin-events", "/admin/events/event/")):
                    page.goto(url + path)
                    shot(page, out / f"{name}-{width}-dark.png", written)
            context.close()
        browser.close()
    return written


def shot(page, path, written):
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)  # htmx settles
    # The whole page, up to MAX_HEIGHT (a long list's first screens say enough, and keep the PNG small).
    width, height = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    page.screenshot(path=path, full_page=True, animations="disabled",
                    clip={"x": 0, "y": 0, "width": width, "height": min(height, MAX_HEIGHT)})
    written.append(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--scheme", choices=["light", "dark"], default="light")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing (apt-get install -y chromium): screenshots need it")
    args.out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="adt-screenshots-"))
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ADT_", "DJANGO_"))}
        env.update({"ADT_HOME": str(home), "DJANGO_SETTINGS_MODULE": "adt_admin.settings", "DJANGO_HTTPS": "0",
                    "ADT_STATIC_ROOT": str(home / "static"), "DJANGO_SUPERUSER_PASSWORD": PASSWORD})
        run(env, "manage.py", "migrate", "-v0")
        run(env, "manage.py", "collectstatic", "--noinput", "-v0")
        ids = json.loads(run(env, "tools/demo.py"))
        run(env, "manage.py", "createsuperuser", "--noinput", "--username", "admin", "--email", "admin@example.com")
        port = free_port()
        server = start_server(env, port)
        try:
            written = photograph(f"http://127.0.0.1:{port}", ids, args.out, args.scheme)
        finally:
            server.terminate()
            server.wait(10)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    for path in written:
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
