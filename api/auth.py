"""Who a request acts as: an agent, by its bearer token; or, for reading, a staff session."""

from ninja.security import HttpBearer, SessionAuth

from agents import tokens
from common.web import can_view


class AgentToken(HttpBearer):
    """`Authorization: Bearer adt_…`: the request acts as the token's agent."""

    def authenticate(self, request, token):
        agent = tokens.agent_of(token)
        if agent is not None:
            request.agent = agent
        return agent


class StaffSession(SessionAuth):
    """A logged-in viewer or operator of the web admin, for the read endpoints."""

    def authenticate(self, request, key):
        user = request.user
        if can_view(user):
            request.agent = None
            return user
        return None
