"""Agents (main.db): one per project, with the state their heartbeats and claims leave."""

from django.db import models
from django.utils import timezone

from projects.models import Project


class AgentStatus(models.TextChoices):
    IDLE = "idle"
    WORKING = "working"
    STALE = "stale"


class AgentQuerySet(models.QuerySet):
    def beat(self, status=None, now=None):
        """The seed's heartbeat: last_heartbeat = now. Returns how many agents beat.

        Without a status, a stale agent comes back as idle (its tasks were
        handed to others) and any other keeps its status.
        """
        if status is None:
            status = models.Case(
                models.When(status=AgentStatus.STALE, then=models.Value(AgentStatus.IDLE)),
                default=models.F("status"),
                output_field=models.TextField(),
            )
        return self.update(last_heartbeat=now or timezone.now(), status=status)

    def status_counts(self):
        """{status: agents}, every status present."""
        found = dict(self.order_by().values_list("status").annotate(n=models.Count("*")))
        return {status: found.get(status, 0) for status in AgentStatus.values}

    def silent_since(self, cutoff):
        return self.filter(models.Q(last_heartbeat__lt=cutoff) | models.Q(last_heartbeat__isnull=True))

    def stale_candidates(self, cutoff, holders=()):
        """The seed's stale query (working, no heartbeat since `cutoff`), widened
        to silent agents that still hold tasks whatever status they last gave."""
        return self.silent_since(cutoff).filter(
            models.Q(status=AgentStatus.WORKING) | models.Q(pk__in=list(holders))
        ).exclude(status=AgentStatus.STALE)


class Agent(models.Model):
    """A coding agent. The seed keys agents by project: an agent's name is its project's."""

    project = models.OneToOneField(
        Project,
        primary_key=True,
        db_column="project",
        to_field="name",
        on_delete=models.CASCADE,
        related_name="agent",
    )
    provider = models.TextField(null=True, default="cursor", db_default="cursor")
    preferred_worktree = models.TextField(null=True, blank=True)
    config = models.JSONField(null=True, blank=True)
    status = models.TextField(
        choices=AgentStatus.choices, default=AgentStatus.IDLE, db_default=AgentStatus.IDLE
    )
    last_heartbeat = models.DateTimeField(null=True, blank=True)

    objects = AgentQuerySet.as_manager()

    class Meta:
        db_table = "agents"
        ordering = ["project"]

    def __str__(self):
        return self.name

    @property
    def name(self):
        return self.project_id

    def heartbeat_age(self, now=None):
        """Seconds since the last heartbeat, or None if it never beat."""
        if self.last_heartbeat is None:
            return None
        return max(0.0, ((now or timezone.now()) - self.last_heartbeat).total_seconds())


class Token(models.Model):
    """An API token (api/): it acts as its agent and nothing more. Only a hash is kept."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="tokens", db_column="agent")
    name = models.TextField(blank=True, default="")
    # SHA-256 of the token, hex: a token is long and random, so no salt or slow hash is needed.
    digest = models.TextField(unique=True)
    # The first characters, to tell tokens apart in lists (never enough to use one).
    prefix = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "agent_tokens"
        ordering = ["id"]

    def __str__(self):
        return f"{self.prefix}… ({self.agent_id})"
