"""Admin for projects and agents (main.db). Saving goes through agents.lifecycle.register,
which writes the project.registered/updated event."""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from agents import lifecycle, tokens
from agents.models import Agent, Token
from common.errors import ADTError
from common.web import OperatorActions, by
from projects.models import Project


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "path", "config"]

    def clean_name(self):
        return _checked(lifecycle.check_name, self.cleaned_data["name"])

    def clean_path(self):
        return _checked(lifecycle.check_path, self.cleaned_data["path"])

    def clean_config(self):
        config = self.cleaned_data["config"]
        if config is not None and not isinstance(config, dict):
            raise forms.ValidationError("The config is a JSON object.")
        return config if config is None else _checked(lifecycle.check_config, config)


def _checked(check, value):
    """What register checks, said on the form rather than as an error page."""
    try:
        return check(value)
    except ADTError as e:
        raise forms.ValidationError(str(e)) from None


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectForm
    list_display = ["name", "path", "created_at"]
    search_fields = ["name", "path"]
    ordering = ["name"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request, obj=None):
        # The name is the key tasks and events refer to.
        return ["name", "created_at"] if obj else ["created_at"]

    def save_model(self, request, obj, form, change):
        agent = Agent.objects.filter(pk=obj.name).first()
        # The form has checked what register checks.
        project, _ = lifecycle.register(
            obj.name,
            obj.path,
            provider=agent.provider if agent else "cursor",
            worktree=agent.preferred_worktree if agent else None,
            config=obj.config,
            by=by(request),
        )
        obj.created_at = project.created_at
        obj._state.adding = False

    def has_delete_permission(self, request, obj=None):
        # No domain operation removes a project: its tasks, events and runs name it.
        return False


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = ["name", "provider", "status", "last_heartbeat", "heartbeat"]
    list_filter = ["status"]
    search_fields = ["project__name", "preferred_worktree"]
    ordering = ["project"]
    fields = ["project", "provider", "preferred_worktree", "config", "status", "last_heartbeat"]
    # The state is the agent's own (heartbeats, claims, the reaper); the
    # config has no domain operation to change it.
    readonly_fields = ["project", "config", "status", "last_heartbeat"]

    @admin.display(description="heartbeat age")
    def heartbeat(self, agent):
        age = agent.heartbeat_age(timezone.now())
        return "never" if age is None else f"{age:.0f} s"

    def save_model(self, request, obj, form, change):
        lifecycle.register(obj.name, obj.project.path, provider=obj.provider, worktree=obj.preferred_worktree or None,
                           by=by(request))

    def has_add_permission(self, request):
        # Agents come with their project (register_project, or a new Project here).
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TokenForm(forms.ModelForm):
    class Meta:
        model = Token
        fields = ["agent", "name"]


@admin.register(Token)
class TokenAdmin(OperatorActions, admin.ModelAdmin):
    """API tokens. Adding one shows it once, in the message; revoking is the action. Only hashes are kept."""

    list_display = ["id", "agent", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["agent"]
    actions = ["revoke"]
    form = TokenForm

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        token, text = tokens.create(obj.agent_id, obj.name, by=by(request))
        for field in Token._meta.concrete_fields:
            setattr(obj, field.attname, getattr(token, field.attname))
        obj._state.adding, obj._state.db = False, token._state.db
        self.message_user(request, f"Token for {token.agent_id} (shown only now, copy it): {text}", messages.WARNING)

    @admin.action(description="Revoke the selected tokens", permissions=["act"])
    def revoke(self, request, queryset):
        for token_id in list(queryset.filter(revoked_at__isnull=True).values_list("pk", flat=True)):
            tokens.revoke(token_id, by=by(request))
        self.message_user(request, "Revoked.")
