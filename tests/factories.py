"""Small builders for in-process tests; they go through the domain modules like users do."""

from agents import lifecycle
from tasks import queue


def project(name="demo", path="/srv/demo", **kwargs):
    return lifecycle.register(name, path, **kwargs)[0]


def task(project="demo", description="do the thing", priority="normal", **kwargs):
    return queue.enqueue(project, description, priority, **kwargs)
