"""API tokens: each acts as one agent (api/ checks them on every request).

create() returns the token once; only its SHA-256 is stored, so a copy of
main.db gives no one a working token. A revoked token stops working at once.
"""

import hashlib
import secrets
import time

from django.db import connections, transaction
from django.utils import timezone

from agents import lifecycle
from agents.models import Token
from common.errors import Conflict, InvalidInput, NotFound
from storage import statements

MAIN = "default"
PREFIX = "adt_"
# last_used_at is written at most this often per token and process, not on every request.
TOUCH_SECONDS = 60
_touched = {}
LOOKUP_SQL = "SELECT id, agent FROM agent_tokens WHERE digest = %s AND revoked_at IS NULL"


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def create(agent, name="", by=None):
    """A new token for `agent`. Returns (Token, the token text, shown this once)."""
    lifecycle.get_agent(agent)
    if len(name) > 200:
        raise InvalidInput("a token's name is at most 200 characters")
    text = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic(using=MAIN):
        token = Token.objects.create(agent_id=agent, name=name, digest=digest(text), prefix=text[:10])
        lifecycle.record("token.created", agent, data={"token": token.id, "name": name, "by": by})
    return token, text


def revoke(token_id, by=None):
    with transaction.atomic(using=MAIN):
        token = Token.objects.select_for_update().filter(pk=token_id).first()
        if token is None:
            raise NotFound(f"no token with id {token_id!r} (list_tokens shows them)")
        if token.revoked_at is not None:
            raise Conflict(f"token {token_id} is already revoked")
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        lifecycle.record("token.revoked", token.agent_id, data={"token": token.id, "name": token.name, "by": by})
    return token


def agent_of(text):
    """The agent a token acts as, or None for an unknown or revoked one."""
    if not text or not text.startswith(PREFIX):
        return None
    # Asked on every API request: a plain statement on the unique index, not an ORM query.
    found = statements.fetch_one(connections[MAIN], LOOKUP_SQL, [digest(text)])
    if found is None:
        return None
    token_id, agent = found
    if time.monotonic() - _touched.get(token_id, -TOUCH_SECONDS) >= TOUCH_SECONDS:
        _touched[token_id] = time.monotonic()
        Token.objects.filter(pk=token_id).update(last_used_at=timezone.now())
    return agent
