"""What every page of the web admin shares: who may see it and who may act, and page-or-fragment rendering.

Two roles, Django groups made by dashboard/migrations/0001_roles.py: a
`viewer` holds the view permissions of every model of the apps, an
`operator` also their add, change and delete permissions. Superusers may do
everything. The pages, their buttons (`can_act` in every template) and the
admin's actions all ask the same two questions, can_view and can_act.
"""

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.functional import SimpleLazyObject
from django_htmx.http import HttpResponseClientRedirect

from common.errors import ADTError

# Pages never show more rows than this at once; "more" links fetch the next ones.
PAGE_ROWS = 100


VIEWER, OPERATOR = "viewer", "operator"
# The permission each role is known by: every viewer may view tasks, every
# operator may change them (the migration gives each role the whole set).
VIEW_PERMISSION = "tasks.view_task"
ACT_PERMISSION = "tasks.change_task"
FORBIDDEN = "Your role may look but not act: ask an administrator to make you an operator."


def can_view(user):
    """Staff (the admin's own rule) with the viewer's or the operator's permissions, or a superuser."""
    return user.is_authenticated and user.is_active and user.is_staff and user.has_perm(VIEW_PERMISSION)


def can_act(user):
    """An operator or a superuser (has_perm is always true for an active superuser)."""
    return user.is_authenticated and user.is_active and user.is_staff and user.has_perm(ACT_PERMISSION)


def roles(request):
    """Context processor: `can_act` for the templates, which show buttons only to those who may press them."""
    user = getattr(request, "user", None)
    # Lazy: a page without buttons never asks (has_perm reads the user's groups once per request).
    return {"can_act": SimpleLazyObject(lambda: bool(user and can_act(user)))}


def _login_first(request):
    """An htmx request whose session ran out gets HX-Redirect, so the login
    page replaces the whole page instead of being swapped into a fragment."""
    if request.htmx:
        back = request.htmx.current_url_abs_path or "/"
        return HttpResponseClientRedirect(redirect_to_login(back)["Location"])
    return redirect_to_login(request.get_full_path())


def _wants_json(request):
    return bool(request.htmx) or "application/json" in request.headers.get("Accept", "")


def forbidden(request, message):
    """403: {"error": …} for htmx and JSON requests, a page that says why for the rest."""
    if _wants_json(request):
        return JsonResponse({"error": message}, status=403)
    return render(request, "forbidden.html", {"message": message}, status=403)


def viewer_required(view):
    """Anonymous users go to the login page; users without a role get 403."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return _login_first(request)
        if not can_view(request.user):
            raise PermissionDenied("viewers and operators only")
        return view(request, *args, **kwargs)

    return wrapped


def operator_required(view):
    """For the views that change something: anonymous users log in first, anyone
    but an operator (or a superuser) gets 403 and nothing changes."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return _login_first(request)
        if not can_act(request.user):
            return forbidden(request, FORBIDDEN if can_view(request.user) else "Viewers and operators only.")
        return view(request, *args, **kwargs)

    return wrapped


# Kept for code written before the roles: every page is a viewer's page.
staff_required = viewer_required


# The reverse proxy runs on this machine (gunicorn.conf.py trusts X-Forwarded-* from loopback only).
PROXIES = {"127.0.0.1", "::1"}


def client_ip(request):
    """The browser's address, for django-axes (AXES_CLIENT_IP_CALLABLE): behind the TLS proxy
    (DJANGO_HTTPS) every request comes from loopback, so the address the proxy appended to
    X-Forwarded-For (the last one; earlier ones are the client's to invent); otherwise the peer."""
    peer = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.HTTPS and peer in PROXIES and forwarded.strip():
        return forwarded.split(",")[-1].strip()
    return peer


def lockout(request, original_response=None, credentials=None):
    """django-axes' answer to a locked-out login (AXES_LOCKOUT_CALLABLE): the lockout page, in plain words."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    wait = f"{seconds // 60} minute{'s' if seconds // 60 != 1 else ''}" if seconds >= 60 else f"{seconds} seconds"
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "username": username, "wait": wait}
    return render(request, "lockout.html", context, status=429)


class OperatorActions:
    """A ModelAdmin mixin: actions declared with allowed_permissions=("act",) are
    offered to operators (and superusers) only, whatever the model's own
    change permission says (most tables here are read-only in the admin)."""

    def has_act_permission(self, request):
        return can_act(request.user)


def render_page(request, template, fragment, context, status=200):
    """The whole page, or only its `fragment` partial when htmx asks (and does not
    boost a whole-page navigation)."""
    if request.htmx and not request.htmx.boosted and fragment:
        template = f"{template}#{fragment}"
    return render(request, template, context, status=status)


def attempt(request, change, done):
    """Run `change()` and say how it went as a message: `done(result)` on success, the
    domain's one-line refusal otherwise. Returns the result, or None when refused."""
    try:
        result = change()
    except ADTError as e:
        messages.error(request, str(e))
        return None
    messages.success(request, done(result))
    return result


def by(request):
    """Who made a change, for the event the domain module writes."""
    return f"web:{request.user.get_username()}"
