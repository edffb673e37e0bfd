"""config.yml: the projects and their agents.

Two shapes are accepted (see README, "Moving in"): `projects:` as a mapping of
name to settings (ADT 0.x; a bare string is the path), or as a list of
mappings with a `name` (ADT 1.x and later). A `defaults:` mapping fills in
whatever a project leaves out.
"""

from dataclasses import dataclass, field

import yaml

from legacy.values import Malformed, jsonable, keep_unknown, kind, text

KNOWN_TOP_LEVEL = {"projects", "defaults", "version"}


@dataclass
class ProjectEntry:
    name: str
    path: str
    provider: str | None = None
    worktree: str | None = None
    config: dict = field(default_factory=dict)
    agent_config: dict = field(default_factory=dict)


def read(path, warn):
    try:
        doc = yaml.safe_load(path.read_bytes())
    except yaml.YAMLError as e:
        raise Malformed(f"invalid YAML: {_yaml_reason(e)}") from None
    if doc is None:
        return []
    if not isinstance(doc, dict):
        raise Malformed(f"the top level must be a mapping with 'projects', not {kind(doc)}")
    if "projects" not in doc:
        raise Malformed("no 'projects' key at the top level")
    ignored = sorted(str(key) for key in doc if key not in KNOWN_TOP_LEVEL)
    if ignored:
        warn(f"top-level settings not imported (they are not per project): {', '.join(ignored)}")
    defaults = _settings(doc.get("defaults") or {}, "defaults", warn)
    entries = _entries(doc["projects"])
    names = [name for name, _ in entries]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise Malformed(f"project {twice[0]!r} is listed twice")
    return [_project(name, body, defaults, warn) for name, body in entries]


def _yaml_reason(e):
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return f"{problem} at line {mark.line + 1} column {mark.column + 1}" if mark else problem


def _entries(projects):
    """(name, body) pairs from either shape, names checked."""
    if projects is None:
        return []
    if isinstance(projects, dict):
        pairs = list(projects.items())
    elif isinstance(projects, list):
        pairs = []
        for index, item in enumerate(projects, 1):
            if not isinstance(item, dict):
                raise Malformed(f"projects item #{index} must be a mapping, not {kind(item)}")
            item = dict(item)
            pairs.append((item.pop("name", None), item))
    else:
        raise Malformed(f"'projects' must be a mapping or a list, not {kind(projects)}")
    return [(_name(name), body) for name, body in pairs]


def _name(name):
    if isinstance(name, int) and not isinstance(name, bool):
        name = str(name)
    if not isinstance(name, str) or not name.strip() or name != name.strip() or "/" in name:
        raise Malformed(f"project name {name!r} must be a non-empty string without slashes or surrounding spaces")
    return name


def _project(name, body, defaults, warn):
    if isinstance(body, str):
        body = {"path": body}
    where = f"project {name!r}"
    own = _settings(body if body is not None else {}, where, warn)
    path = text(own.pop("path", None) or defaults.get("path"), f"{where}: path", required=True)
    entry = ProjectEntry(name=name, path=path)
    entry.provider = own.pop("provider", None) or defaults.get("provider")
    entry.worktree = own.pop("worktree", None) or defaults.get("worktree")
    entry.agent_config = {**defaults.get("agent_config", {}), **own.pop("agent_config", {})}
    base = {k: v for k, v in defaults.items() if k not in {"path", "provider", "worktree", "agent_config"}}
    # A project's own settings override the defaults'.
    entry.config = {**base, **own}
    return entry


def _settings(body, where, warn):
    """One project's (or the defaults') settings, with the agent's fields lifted out.

    Returns a dict with path/provider/worktree/agent_config when given and
    every other setting (a nested `settings:` mapping flattened) as is.
    """
    if not isinstance(body, dict):
        raise Malformed(f"{where} must be a mapping, not {kind(body)}")
    body = jsonable(dict(body), where)
    out = {}
    agent = body.pop("agent", None)
    if isinstance(agent, str):
        agent = {"provider": agent}
    if agent is not None and not isinstance(agent, dict):
        raise Malformed(f"{where}: agent must be a provider name or a mapping, not {kind(agent)}")
    agent = dict(agent or {})
    for key, aliases in (("provider", ("provider",)), ("worktree", ("worktree", "preferred_worktree"))):
        values = {text(source.pop(alias), f"{where}: {alias}") for source in (body, agent) for alias in aliases if alias in source}
        values.discard(None)
        if len(values) > 1:
            raise Malformed(f"{where}: {key} is given twice with different values ({', '.join(sorted(values))})")
        if values:
            out[key] = values.pop()
    if "path" in body:
        out["path"] = text(body.pop("path"), f"{where}: path")
    if agent:
        out["agent_config"] = agent
    settings = body.pop("settings", None)
    if settings is not None and not isinstance(settings, dict):
        raise Malformed(f"{where}: settings must be a mapping, not {kind(settings)}")
    keep_unknown(out, settings or {}, warn, where)
    return keep_unknown(out, body, warn, where)
