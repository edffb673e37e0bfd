"""/api/v1 over real HTTP against gunicorn: an agent's loop with a token, and schemathesis against the schema."""

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support import ADT, PYTHON, ROOT
from tests.web.servers import Server

# Enough examples per operation to find what a careless endpoint gets wrong,
# few enough that the run takes well under a minute here.
EXAMPLES = 10


@pytest.fixture
def api_site(adt, static_root):
    """gunicorn for a home with two agents; a waiting claim returns quickly so fuzzing stays bounded."""
    home = ADT(adt.home, env={"ADT_API_MAX_WAIT": "0.2"})
    for name in ("web", "api"):
        assert home.manage("register_project", name, f"/srv/{name}").returncode == 0
    # No limit on the request line: gunicorn's own 414 page for a huge query
    # string is gunicorn's answer, not the API's, and would hide what the API does.
    with Server(home, static_root, args=["--limit-request-line", "0"]) as server:
        yield server


def token(site, agent):
    made = site.adt.manage("create_token", "--agent", agent, "--json")
    assert made.returncode == 0, made.stderr
    return made.json()["token"]


def post(site, path, token, body):
    request = urllib.request.Request(
        site.url + path, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_a_token_claims_and_completes_over_http_and_another_agents_is_refused(api_site):
    web, other = token(api_site, "web"), token(api_site, "api")
    added = api_site.adt.manage("add_task", "--project", "web", "--description", "over http", "--json").json()
    status, task = post(api_site, "/api/v1/claim", web, {})
    assert (status, task["id"], task["assigned_to"]) == (200, added["id"], "web")
    status, refused = post(api_site, f"/api/v1/tasks/{task['id']}/complete", other, {})
    assert status == 403 and "held by 'web', not 'api'" in refused["error"]
    status, done = post(api_site, f"/api/v1/tasks/{task['id']}/complete", web, {"result": "ok", "lease": task["lease"]})
    assert (status, done["status"]) == (200, "completed")
    assert post(api_site, "/api/v1/claim", web, {"wait": 0.1}) == (204, None)
    assert api_site.adt.scalar("tasks", "SELECT status FROM tasks WHERE id = ?", (task["id"],)) == "completed"


def test_schemathesis_finds_no_server_error_and_every_response_matches_the_schema(api_site, tmp_path):
    """Every check but positive_data_acceptance: some valid-looking requests are refused for what a
    schema cannot say (an unknown project or task, `at` with `in`, a task without a time limit to extend)."""
    web = token(api_site, "web")
    for i in range(3):
        api_site.adt.manage("add_task", "--project", "web", "--description", f"fuzz {i}")
    schemathesis = Path(PYTHON).with_name("schemathesis")
    result = subprocess.run(
        [str(schemathesis), "run", f"{api_site.url}/api/v1/openapi.json", "-H", f"Authorization: Bearer {web}",
         "--max-examples", str(EXAMPLES), "--seed", "21", "--checks", "all",
         "--exclude-checks", "positive_data_acceptance", "--request-timeout", "20", "--no-color"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "", "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout[-12000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
    server_log = api_site.log.read_text()
    assert '" 500 ' not in server_log and "Traceback" not in server_log


def test_a_waiting_api_claim_is_woken_by_redis_the_moment_a_task_is_added(adt, static_root):
    import uuid

    from tests.servers import MACHINE_REDIS, machine_redis

    client, prefix = machine_redis(), f"test-{uuid.uuid4().hex[:10]}:"
    # Redis is trusted for a minute: only a wake-up brings the task before the claim's 15 s run out.
    home = ADT(adt.home, env={"ADT_REDIS_URL": MACHINE_REDIS, "ADT_REDIS_PREFIX": prefix, "ADT_REDIS_SAFETY_POLL": "60"})
    assert home.manage("register_project", "web", "/srv/web").returncode == 0
    try:
        with Server(home, static_root) as site:
            web = token(site, "web")
            late = home.popen("-c", "import subprocess, sys, time; time.sleep(1.5); subprocess.run([sys.executable, "
                                    "'manage.py', 'add_task', '--project', 'web', '--description', 'over http'], check=True)")
            started = time.monotonic()
            status, task = post(site, "/api/v1/claim", web, {"wait": 15})
            waited = time.monotonic() - started
            assert late.wait(timeout=30) == 0
            assert (status, task["description"]) == (200, "over http")
            assert waited < 1.5 + 5
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
