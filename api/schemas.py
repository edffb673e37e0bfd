"""What goes in and out of /api/v1: typed, so the OpenAPI schema comes from them."""

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

Priority = Literal["urgent", "high", "normal", "low"]
TaskStatus = Literal["scheduled", "blocked", "paused", "pending", "in_progress", "completed", "failed", "cancelled"]
# Long enough for a description or a result; a longer one is refused, not stored.
TEXT = 100_000
# Numbers as JSON numbers: true/false or "1" are refused, not read as 1.
Int = Annotated[int, Field(strict=True)]
Number = Annotated[float, Field(strict=True)]


class In(Schema):
    # An unknown field is a mistake of the caller's: refused (422), not ignored.
    model_config = ConfigDict(extra="forbid")


class ErrorOut(Schema):
    error: str


class TaskOut(Schema):
    """The fields of `claim_task --json`."""

    id: str
    project: str
    description: str
    priority: str | None
    status: str | None
    assigned_to: str | None
    created_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    retry_count: int | None
    metadata: Any = None
    result: str | None
    error: str | None
    timeout: int | None
    run_at: datetime | None
    unique_key: str | None
    deadline: datetime | None
    lease: str | None


class AddedOut(TaskOut):
    created: bool


class TaskPage(Schema):
    tasks: list[TaskOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last.")


class ClaimIn(In):
    project: str | None = Field(None, max_length=200, description="Claim from this project instead of the agent's own.")
    wait: Number = Field(0, ge=0, le=30, description="Seconds to hold the request until a task comes (at most 30).")


class CompleteIn(In):
    result: str | None = Field(None, max_length=TEXT)
    lease: datetime | None = Field(None, description="The claim's `lease`: refused if the task was claimed again since.")


class FailIn(In):
    error: str = Field(min_length=1, max_length=TEXT)
    lease: datetime | None = None


class ExtendIn(In):
    seconds: Int | None = Field(None, ge=1, le=10**7, description="New deadline: now + seconds (default: the task's limit).")
    lease: datetime | None = None


class AddIn(In):
    project: str = Field(max_length=200)
    description: str = Field(min_length=1, max_length=TEXT)
    priority: Priority = "normal"
    metadata: Any = None
    timeout: Int | None = Field(None, ge=1, le=10**7)
    at: datetime | None = Field(None, description="Scheduled for this time (UTC unless it has an offset).")
    in_: str | None = Field(None, alias="in", pattern=r"^[1-9][0-9]{0,8}[smhd]?$",
                            description="Scheduled after 90s, 10m, 2h, 1d…")
    after: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(default_factory=list, max_length=100, description="Blocked until these tasks complete.")
    unique: str | None = Field(None, min_length=1, max_length=200, description="One unfinished task per project and key.")


class HeartbeatIn(In):
    status: Literal["working", "idle"] | None = None


class AgentOut(Schema):
    agent: str
    status: str
    last_heartbeat: datetime | None


class RunIn(In):
    task: str | None = Field(None, max_length=100)
    log_path: str | None = Field(None, max_length=4096)
    provider: str | None = Field(None, max_length=100)


class RunEndIn(In):
    exit_code: Int | None = Field(None, ge=-(2**31), le=2**31 - 1)
    error: str | None = Field(None, max_length=TEXT)
    status: Literal["stopped"] | None = None


class RunOut(Schema):
    id: int
    agent: str
    task: str | None
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None


class EventOut(Schema):
    id: int
    timestamp: datetime | None
    type: str
    level: str | None
    project: str | None
    agent: str | None
    task_id: str | None
    data: Any = None


class EventPage(Schema):
    events: list[EventOut]
    last_id: int = Field(description="Pass as `after` to get the events that follow.")
