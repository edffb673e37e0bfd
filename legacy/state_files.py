"""agents/{project}.state.json: what an agent last said about itself.

ADT 0.x wrote `status` and `last_heartbeat` (epoch seconds); ADT 1.x wrote
`state`, `heartbeat` (ISO-8601) and its own name under `agent`. Any other key
is kept in the agent's config.
"""

from dataclasses import dataclass, field

from legacy import json_file
from legacy.values import AGENT_STATUS, Malformed, enum, jsonable, kind, take, text, when

SUFFIX = ".state.json"

ALIASES = {
    "name": ("project", "agent", "name"),
    "status": ("status", "state"),
    "last_heartbeat": ("last_heartbeat", "heartbeat", "last_seen"),
    "provider": ("provider",),
    "worktree": ("worktree", "preferred_worktree"),
}


@dataclass
class AgentState:
    name: str
    status: str = "idle"
    last_heartbeat: object = None
    provider: str | None = None
    worktree: str | None = None
    config: dict = field(default_factory=dict)


def project_of(path):
    return path.name[: -len(SUFFIX)]


def read(path, warn):
    doc = json_file.load(path)
    if not isinstance(doc, dict):
        raise Malformed(f"the top level must be an object, not {kind(doc)}")
    doc = dict(doc)
    state = AgentState(name=project_of(path))
    fields = {key: take(doc, aliases) for key, aliases in ALIASES.items()}
    named = text(fields["name"], "its name")
    if named is not None and named != state.name:
        raise Malformed(f"the file is named for project {state.name!r} but says it is {named!r}")
    state.status = enum(fields["status"], AGENT_STATUS, "status", "idle", warn) or "idle"
    state.last_heartbeat = when(fields["last_heartbeat"], "last heartbeat")
    state.provider = text(fields["provider"], "provider")
    state.worktree = text(fields["worktree"], "worktree")
    state.config = jsonable(doc, "agent state")
    return state

