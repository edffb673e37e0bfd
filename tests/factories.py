"""Small builders for in-process tests; they go through the domain modules like users do."""

from projects import agents
from tasks import queue


def project(name="demo", path="/srv/demo", **kwargs):
    return agents.register(name, path, **kwargs)[0]


def task(project="demo", description="do the thing", priority="normal", **kwargs):
    return queue.enqueue(project, description, priority, **kwargs)
