"""Every failure as {"error": "…"} with the status the CLI's exit code means; never a 500 for bad input."""

from django.core.exceptions import RequestDataTooBig
from ninja.errors import AuthenticationError, HttpError, ValidationError

from common.errors import ADTError, Conflict, InvalidInput, NotFound, NotHolder

STATUS = [(NotHolder, 403), (Conflict, 409), (NotFound, 404), (InvalidInput, 400)]


def status_of(error):
    return next((status for kind, status in STATUS if isinstance(error, kind)), 400)


def install(api):
    def reply(request, message, status):
        return api.create_response(request, {"error": message}, status=status)

    @api.exception_handler(ADTError)
    def domain(request, exc):
        return reply(request, str(exc), status_of(exc))

    @api.exception_handler(ValidationError)
    def invalid(request, exc):
        return reply(request, describe(exc.errors), 422)

    @api.exception_handler(AuthenticationError)
    def unauthenticated(request, exc):
        return reply(request, "no valid token: send Authorization: Bearer <token> (create_token makes one)", 401)

    @api.exception_handler(HttpError)
    def http(request, exc):
        return reply(request, str(exc), exc.status_code)

    @api.exception_handler(RequestDataTooBig)
    def too_big(request, exc):
        return reply(request, "request body too large", 413)


def describe(errors):
    """One line from pydantic's errors: where, and what is wrong."""
    parts = []
    for error in errors[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "payload"))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else error.get("msg", "invalid"))
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more if parts else "invalid request"
