"""What every page of the web admin shares: who may see it, and page-or-fragment rendering."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django_htmx.http import HttpResponseClientRedirect

from common.errors import ADTError

# Pages never show more rows than this at once; "more" links fetch the next ones.
PAGE_ROWS = 100


def staff_required(view):
    """Anonymous users go to the login page; logged-in users who are not staff get 403.

    An htmx request whose session ran out gets HX-Redirect, so the login
    page replaces the whole page instead of being swapped into a fragment.
    """

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            if request.htmx:
                back = request.htmx.current_url_abs_path or "/"
                return HttpResponseClientRedirect(redirect_to_login(back)["Location"])
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied("staff only")
        return view(request, *args, **kwargs)

    return wrapped


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
