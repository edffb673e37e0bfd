"""Who a request acts as: an agent, by its bearer token; or, for reading, a staff session."""

from ninja.security import HttpBearer, SessionAuth

from agents import tokens


class AgentToken(HttpBearer):
    """`Authorization: Bearer adt_…`: the request acts as the token's agent."""

    def authenticate(self, request, token):
        agent = tokens.agent_of(token)
        if agent is not None:
            request.agent = agent
        return agent


class StaffSession(SessionAuth):
    """A logged-in staff user of the web admin, for the read endpoints."""

    def authenticate(self, request, key):
        user = request.user
        if user.is_authenticated and user.is_active and user.is_staff:
            request.agent = None
            return user
        return None
