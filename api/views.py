"""/api/v1: the commands' operations over HTTP, for agents on other machines.

Thin: each endpoint checks who is asking and calls the same domain module
as the command (agents.lifecycle, tasks.queue, tasks.board), which owns the
change and its event. A token acts as its agent: it claims, heartbeats and
runs as that agent, and finishes only tasks that agent holds.
"""

from django.conf import settings
from ninja import Field, NinjaAPI, Query, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from agents import lifecycle
from api import errors
from api.auth import AgentToken, StaffSession
from api.schemas import (
    AddedOut,
    AddIn,
    AgentOut,
    ClaimIn,
    CompleteIn,
    ErrorOut,
    EventPage,
    ExtendIn,
    FailIn,
    HeartbeatIn,
    RunEndIn,
    RunIn,
    RunOut,
    TaskOut,
    TaskPage,
    TaskStatus,
)
from events.models import Event
from tasks import board, queue
from tasks.output import task_dict

api = NinjaAPI(
    title="ADT admin API",
    version="1",
    description="The queue for agents on other machines. Authenticate with `Authorization: Bearer <token>` "
    "(`manage.py create_token --agent NAME`).",
    urls_namespace="api",
    auth=AgentToken(),
    docs_url="/docs",
)
errors.install(api)
READ = [AgentToken(), StaffSession()]
FAILURES = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 413: ErrorOut, 422: ErrorOut}


def _agent(request):
    agent = getattr(request, "agent", None)
    if agent is None:
        raise HttpError(403, "this endpoint acts as an agent: use an agent's token, not a browser session")
    return agent


@api.post("/claim", response={200: TaskOut, 204: None, **FAILURES}, summary="Claim the next task")
def claim(request, body: ClaimIn):
    """The next pending task of the agent's project (or of `project`), or 204 when there is none
    (or the project is paused). `wait` holds the request until a task comes, up to that many seconds
    (capped by ADT_API_MAX_WAIT, 20 s by default)."""
    agent = _agent(request)
    task = lifecycle.claim_waiting(agent, body.project or agent, min(body.wait, settings.ADT_API_MAX_WAIT))
    if task is None:
        return Status(204, None)
    return Status(200, task_dict(task))


@api.post("/tasks/{task_id}/complete", response={200: TaskOut, **FAILURES}, summary="Complete a held task")
def complete(request, task_id: str, body: CompleteIn):
    return task_dict(queue.complete(task_id, _agent(request), body.result, lease=body.lease))


@api.post("/tasks/{task_id}/fail", response={200: TaskOut, **FAILURES}, summary="Report a held task failed")
def fail(request, task_id: str, body: FailIn):
    return task_dict(queue.fail(task_id, _agent(request), body.error, lease=body.lease))


@api.post("/tasks/{task_id}/extend", response={200: TaskOut, **FAILURES}, summary="Push a held task's deadline out")
def extend(request, task_id: str, body: ExtendIn):
    return task_dict(queue.extend(task_id, _agent(request), body.seconds, lease=body.lease))


@api.post("/heartbeat", response={200: AgentOut, **FAILURES}, summary="Beat")
def heartbeat(request, body: HeartbeatIn = None):
    agent = lifecycle.heartbeat(_agent(request), body.status if body else None)
    return {"agent": agent.name, "status": agent.status, "last_heartbeat": agent.last_heartbeat}


@api.post("/runs", response={201: RunOut, **FAILURES}, summary="Start a run")
def start_run(request, body: RunIn):
    run = lifecycle.start_run(_agent(request), body.task, body.log_path, body.provider)
    return Status(201, _run(run))


@api.post("/runs/{run_id}/end", response={200: RunOut, **FAILURES}, summary="End a run")
def end_run(request, run_id: int, body: RunEndIn):
    return _run(lifecycle.end_run(run_id, body.exit_code, body.error, body.status, agent=_agent(request)))


@api.post("/tasks", response={200: AddedOut, 201: AddedOut, **FAILURES}, summary="Add a task")
def add(request, body: AddIn):
    """Every option of `add_task`. With `unique`, an unfinished task of the project with that key
    comes back instead (200, `created` false)."""
    run_at = queue.start_time(body.at, body.in_, names=("at", "in"))
    task, created = queue.add(body.project, body.description, body.priority, body.metadata, timeout=body.timeout,
                              run_at=run_at, unique_key=body.unique, after=body.after, by=f"api:{_agent(request)}")
    return Status(201 if created else 200, {**task_dict(task), "created": created})


class TaskFilters(Schema):
    status: TaskStatus | None = None
    project: str | None = Field(None, max_length=200)
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(100, ge=1, le=500)


class EventFilters(Schema):
    after: int = Field(0, ge=0, description="The last event id seen (0: from the start).")
    limit: int = Field(100, ge=1, le=1000)


@api.get("/tasks", auth=READ, response={200: TaskPage, **FAILURES}, summary="List tasks")
def tasks(request, filters: Query[TaskFilters]):
    """With `status`, in claim order; without, oldest first. Follow `next_cursor` for more."""
    rows, cursor = board.page(filters.status, filters.project, filters.cursor, filters.limit)
    return {"tasks": [task_dict(t) for t in rows], "next_cursor": cursor}


@api.get("/tasks/{task_id}", auth=READ, response={200: TaskOut, **FAILURES}, summary="One task")
def task(request, task_id: str):
    return task_dict(queue.get(task_id))


@api.get("/events", auth=READ, response={200: EventPage, **FAILURES}, summary="Events after a cursor")
def events(request, filters: Query[EventFilters]):
    """The seed's cursor: events with id > `after`, oldest first; pass `last_id` back as `after`."""
    rows = list(Event.objects.filter(id__gt=filters.after).order_by("id")[: filters.limit])
    return {"events": [_event(e) for e in rows], "last_id": rows[-1].id if rows else filters.after}


def _run(run):
    return {"id": run.id, "agent": run.project, "task": run.task, "status": run.status,
            "started_at": run.started_at, "ended_at": run.ended_at, "exit_code": run.exit_code}


def _event(event):
    return {"id": event.id, "timestamp": event.timestamp, "type": event.kind, "level": event.level,
            "project": event.project, "agent": event.agent, "task_id": event.task_id, "data": event.data}


