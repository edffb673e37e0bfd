"""/api/v1 and /metrics, in process on the real database files (tests/web/test_api_server.py runs gunicorn)."""

import json

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from agents import tokens
from agents.models import Token
from events.models import Event
from tasks import queue
from tasks.models import Task
from tests import factories
from tests.support import InProcess

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture(autouse=True)
def projects():
    factories.project("web")
    factories.project("api")


@pytest.fixture
def web():
    return tokens.create("web", "laptop")[1]


@pytest.fixture
def other():
    return tokens.create("api")[1]


def call(method, path, token=None, body=None, raw=None, **headers):
    client = Client(headers={"X-Forwarded-Proto": "https", "Host": "testserver", **headers})
    if token:
        client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    send = getattr(client, method)
    response = send(path, data=data, content_type="application/json") if method == "post" else send(path)
    return response


def payload(response):
    return json.loads(response.content) if response.content else None


class TestAgentLoop:
    def test_claim_complete_and_nothing_left(self, web):
        task = factories.task(project="web", description="fix the build")
        claimed = call("post", "/api/v1/claim", web, {})
        assert claimed.status_code == 200
        body = payload(claimed)
        assert (body["id"], body["status"], body["assigned_to"]) == (task.id, "in_progress", "web")
        assert body["lease"] and "deadline" in body
        done = call("post", f"/api/v1/tasks/{task.id}/complete", web, {"result": "merged", "lease": body["lease"]})
        assert (done.status_code, payload(done)["status"], payload(done)["result"]) == (200, "completed", "merged")
        assert call("post", "/api/v1/claim", web, {}).status_code == 204
        types = list(Event.objects.for_task(task.id).order_by("id").values_list("type", flat=True))
        assert types == ["task.created", "task.claimed", "task.completed"]

    def test_another_agents_token_is_refused_on_a_held_task(self, web, other):
        task = factories.task(project="web")
        call("post", "/api/v1/claim", web, {})
        refused = call("post", f"/api/v1/tasks/{task.id}/complete", other, {})
        assert refused.status_code == 403
        assert payload(refused) == {"error": f"task {task.id} is held by 'web', not 'api' (it was probably requeued and claimed again)"}
        assert Task.objects.get(pk=task.id).status == "in_progress"

    def test_a_token_claims_for_another_project_as_claim_task_project_does(self, web):
        task = factories.task(project="api")
        claimed = call("post", "/api/v1/claim", web, {"project": "api"})
        assert payload(claimed)["id"] == task.id and payload(claimed)["assigned_to"] == "web"

    def test_fail_extend_heartbeat_and_runs(self, web, other):
        task = factories.task(project="web", timeout=60)
        call("post", "/api/v1/claim", web, {})
        extended = call("post", f"/api/v1/tasks/{task.id}/extend", web, {"seconds": 600})
        assert extended.status_code == 200
        failed = call("post", f"/api/v1/tasks/{task.id}/fail", web, {"error": "tests red"})
        assert (payload(failed)["status"], payload(failed)["retry_count"]) == ("pending", 1)
        beat = call("post", "/api/v1/heartbeat", web, {"status": "idle"})
        assert payload(beat)["agent"] == "web" and payload(beat)["status"] == "idle"
        run = call("post", "/api/v1/runs", web, {"task": task.id, "log_path": "/tmp/web.log"})
        assert run.status_code == 201
        run_id = payload(run)["id"]
        assert call("post", f"/api/v1/runs/{run_id}/end", other, {"exit_code": 0}).status_code == 403
        ended = call("post", f"/api/v1/runs/{run_id}/end", web, {"exit_code": 0})
        assert payload(ended)["status"] == "completed"
        assert call("post", f"/api/v1/runs/{run_id}/end", web, {"exit_code": 0}).status_code == 409

    def test_a_paused_project_gives_204(self, web):
        from tasks import pausing

        factories.task(project="web")
        pausing.pause("web")
        assert call("post", "/api/v1/claim", web, {}).status_code == 204


class TestAdding:
    def test_every_option_of_add_task(self, web):
        first = factories.task(project="web")
        added = call("post", "/api/v1/tasks", web, {
            "project": "web", "description": "migrate", "priority": "high", "metadata": {"pr": 12},
            "timeout": 600, "after": [first.id], "unique": "migrate",
        })
        assert added.status_code == 201
        body = payload(added)
        assert (body["status"], body["priority"], body["timeout"], body["created"]) == ("blocked", "high", 600, True)
        again = call("post", "/api/v1/tasks", web, {"project": "web", "description": "migrate", "unique": "migrate"})
        assert (again.status_code, payload(again)["id"], payload(again)["created"]) == (200, body["id"], False)
        later = call("post", "/api/v1/tasks", web, {"project": "web", "description": "later", "in": "2h"})
        assert payload(later)["status"] == "scheduled"

    def test_a_cycle_or_unknown_dependency_is_a_400_or_404(self, web):
        assert call("post", "/api/v1/tasks", web, {"project": "web", "description": "x", "after": ["nope"]}).status_code == 404
        assert call("post", "/api/v1/tasks", web, {"project": "ghost", "description": "x"}).status_code == 404
        both = call("post", "/api/v1/tasks", web, {"project": "web", "description": "x", "in": "1h", "at": "2999-01-01T00:00:00Z"})
        assert (both.status_code, payload(both)) == (400, {"error": "give at or in, not both"})


class TestReading:
    def test_the_task_list_pages_by_cursor_in_claim_order(self, web):
        made = [factories.task(project="web", priority=["low", "urgent", "normal"][i % 3]) for i in range(25)]
        seen, cursor = [], None
        while True:
            query = "/api/v1/tasks?status=pending&limit=10" + (f"&cursor={cursor}" if cursor else "")
            page = payload(call("get", query, web))
            seen += [t["id"] for t in page["tasks"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(t.id for t in made) and len(seen) == 25
        ranks = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
        by_id = {t.id: t for t in Task.objects.all()}
        keys = [(ranks[by_id[i].priority], by_id[i].created_at, i) for i in seen]
        assert keys == sorted(keys)  # urgent first, oldest first within a priority

    def test_events_after_a_cursor(self, web):
        for i in range(3):
            factories.task(project="web", description=str(i))
        first = payload(call("get", "/api/v1/events?after=0&limit=2", web))
        rest = payload(call("get", f"/api/v1/events?after={first['last_id']}&limit=100", web))
        ids = [e["id"] for e in first["events"] + rest["events"]]
        assert ids == sorted(ids) and len(ids) == Event.objects.count()
        assert payload(call("get", f"/api/v1/events?after={rest['last_id']}", web)) == {"events": [], "last_id": rest["last_id"]}

    def test_a_task_added_over_the_api_names_the_agent_in_its_event(self, web):
        added = payload(call("post", "/api/v1/tasks", web, {"project": "api", "description": "from afar"}))
        assert Event.objects.get(type="task.created", task_id=added["id"]).data["by"] == "api:web"

    def test_a_viewers_session_reads_but_cannot_act_as_an_agent(self):
        task = factories.task(project="web")
        staff = User.objects.create_user("ana", password="pw", is_staff=True)
        staff.groups.add(Group.objects.get(name="viewer"))
        client = Client(headers={"X-Forwarded-Proto": "https", "Host": "testserver"})
        client.force_login(staff)
        assert client.get(f"/api/v1/tasks/{task.id}").status_code == 200
        assert client.post("/api/v1/claim", "{}", content_type="application/json").status_code == 401  # no token, no CSRF
        outsider = User.objects.create_user("bo", password="pw")
        client.force_login(outsider)
        assert client.get(f"/api/v1/tasks/{task.id}").status_code == 401
        no_role = User.objects.create_user("cy", password="pw", is_staff=True)
        client.force_login(no_role)
        assert client.get(f"/api/v1/tasks/{task.id}").status_code == 401


class TestRefused:
    @pytest.mark.parametrize("token", [None, "nope", "adt_forged"])
    def test_no_or_a_bad_token_is_401(self, token):
        response = call("post", "/api/v1/claim", token, {})
        assert response.status_code == 401 and payload(response)["error"].startswith("no valid token")

    def test_a_revoked_token_stops_working_at_once(self, web):
        assert call("post", "/api/v1/heartbeat", web, {}).status_code == 200
        tokens.revoke(Token.objects.get(agent_id="web").id)
        assert call("post", "/api/v1/heartbeat", web, {}).status_code == 401

    @pytest.mark.parametrize("raw, status", [
        ('{"result": "x"', 400),            # malformed JSON
        ('{"bogus": 1}', 422),              # unknown field
        ('{"result": 5}', 422),             # wrong type
        ('[1, 2]', 422),                    # not an object
        ('{"lease": "yesterday"}', 422),    # not a time
    ])
    def test_bad_bodies_are_4xx_with_an_error_and_change_nothing(self, web, raw, status):
        task = factories.task(project="web")
        call("post", "/api/v1/claim", web, {})
        response = call("post", f"/api/v1/tasks/{task.id}/complete", web, raw=raw)
        assert response.status_code == status and set(payload(response)) == {"error"}
        assert Task.objects.get(pk=task.id).status == "in_progress"

    def test_a_huge_body_is_413(self, web, settings):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
        response = call("post", "/api/v1/tasks", web, {"project": "web", "description": "x" * 5000})
        assert (response.status_code, payload(response)) == (413, {"error": "request body too large"})
        assert not Task.objects.exists()

    def test_booleans_are_not_numbers(self, web):
        assert call("post", "/api/v1/claim", web, {"wait": False}).status_code == 422

    def test_unknown_task_and_bad_cursor(self, web):
        assert payload(call("get", "/api/v1/tasks/nope", web)) == {"error": "no task with id 'nope'"}
        assert call("get", "/api/v1/tasks?status=pending&cursor=zzz", web).status_code == 400
        assert call("get", "/api/v1/tasks?limit=0", web).status_code == 422


class TestTokens:
    def test_create_prints_it_once_and_only_a_hash_is_kept(self):
        cli = InProcess()
        made = cli.manage("create_token", "--agent", "web", "--name", "ci runner", "--json").json()
        assert made["token"].startswith("adt_") and made["agent"] == "web"
        stored = Token.objects.get(pk=made["id"])
        assert made["token"] not in (stored.digest, stored.prefix) and stored.digest == tokens.digest(made["token"])
        listed = cli.manage("list_tokens", "--json").json()["tokens"]
        assert made["token"] not in json.dumps(listed) and listed[0]["name"] == "ci runner"
        assert cli.manage("revoke_token", str(made["id"])).returncode == 0
        again = cli.subprocess("revoke_token", str(made["id"]))
        assert (again.returncode, again.stderr) == (4, f"error: token {made['id']} is already revoked\n")
        unknown = cli.subprocess("create_token", "--agent", "ghost")
        assert unknown.returncode == 1 and unknown.stderr.startswith("error: unknown agent 'ghost'")


class TestMetrics:
    def test_metrics_count_from_the_databases(self, web):
        for _ in range(3):
            factories.task(project="web")
        task = payload(call("post", "/api/v1/claim", web, {}))
        call("post", f"/api/v1/tasks/{task['id']}/complete", web, {})
        queue.enqueue("web", "later", run_at=None)
        text = call("get", "/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
        assert 'adt_tasks{status="pending"} 3.0' in text and 'adt_tasks{status="completed"} 1.0' in text
        assert "adt_task_claims_total 1.0" in text and "adt_task_completions_total 1.0" in text
        assert 'adt_agents{status="working"} 1.0' in text
        assert "adt_oldest_pending_task_age_seconds" in text

    def test_metrics_need_a_token_from_elsewhere(self, settings):
        assert Client().get("/metrics", REMOTE_ADDR="10.0.0.8", headers={"X-Forwarded-Proto": "https"}).status_code == 401
        proxied = Client().get("/metrics", REMOTE_ADDR="127.0.0.1",
                               headers={"X-Forwarded-For": "10.0.0.8", "X-Forwarded-Proto": "https"})
        assert proxied.status_code == 401
        settings.ADT_METRICS_TOKEN = "s3cret"
        allowed = Client().get("/metrics", REMOTE_ADDR="10.0.0.8",
                               headers={"Authorization": "Bearer s3cret", "X-Forwarded-Proto": "https"})
        assert allowed.status_code == 200 and b"adt_tasks" in allowed.content


def test_a_token_is_made_on_the_admin_page_shown_once_and_revoked_there():
    staff = User.objects.create_superuser("root", "r@example.com", "pw")
    client = Client(headers={"X-Forwarded-Proto": "https", "Host": "testserver"})
    client.force_login(staff)
    page = client.post("/admin/agents/token/add/", {"agent": "web", "name": "ci"}, follow=True).content.decode()
    text = next(word for word in page.replace("<", " ").split() if word.startswith("adt_"))
    assert call("post", "/api/v1/heartbeat", text, {}).status_code == 200
    assert text not in client.get("/admin/agents/token/").content.decode()
    token = Token.objects.get()
    client.post("/admin/agents/token/", {"action": "revoke", "_selected_action": [token.id]})
    assert call("post", "/api/v1/heartbeat", text, {}).status_code == 401
