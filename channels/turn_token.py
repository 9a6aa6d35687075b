"""The hub's word to the action server: who is talking in this turn.

Rasa hands the message metadata to the action server as it got it, and anyone who can reach the action server can
post a tracker with whatever metadata they like (contact ids are sequential). So the hub signs what it knows, the
conversation, the contact, the ente and the channel, as a short-lived token (a JWT, HMAC-SHA256 with
``URP_ACTIONS_SECRET``, bound to Rasa's sender id), and the actions trust only what verifies: a request that did not
come through the hub gets nothing.

Light on purpose: the action server imports this module and nothing else of the CRM.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

import jwt

METADATA_KEY = "urp_turn"  # where the token travels in the Rasa message metadata
AUDIENCE = "urp-actions"
TTL_SECONDS = 300  # one turn: the message, Rasa's prediction and the actions it runs take seconds, not minutes


@dataclass(frozen=True)
class Turn:
    """What the hub vouches for in one turn."""

    conversation_id: int
    contact_id: int
    ente_id: int
    channel: str


def sender_of(conversation_id: int) -> str:
    """Rasa's sender id for a CRM conversation (the hub talks to Rasa with it; the token is bound to it)."""
    return f"conv-{conversation_id}"


def derive_secret(secret_key: str) -> str:
    """The turn secret of an install that sets only URP_SECRET_KEY: derived, so it is not the key itself (the action
    server must not be able to sign operators' tokens)."""
    return hmac.new(secret_key.encode(), b"urp-actions-turn-secret", hashlib.sha256).hexdigest()


def secret_of(settings: Any) -> str:
    """The hub's turn secret: URP_ACTIONS_SECRET, else derived from URP_SECRET_KEY."""
    if settings.actions_secret is not None:
        return str(settings.actions_secret.get_secret_value())
    return derive_secret(settings.secret_key.get_secret_value())


def sign(turn: Turn, secret: str, *, now: float | None = None, ttl: int = TTL_SECONDS) -> str:
    issued = int(now if now is not None else time.time())
    claims = {
        "aud": AUDIENCE,
        "sub": sender_of(turn.conversation_id),
        "iat": issued,
        "exp": issued + ttl,
        "conversation_id": turn.conversation_id,
        "contact_id": turn.contact_id,
        "ente_id": turn.ente_id,
        "channel": turn.channel,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def verify(token: object, secret: str | None, *, sender: str) -> Turn | None:
    """The turn the token vouches for, or None: missing, forged, expired, or minted for another conversation."""
    if not secret or not isinstance(token, str) or not token:
        return None
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], audience=AUDIENCE, options={"require": ["exp", "sub", "aud"]}
        )
    except jwt.PyJWTError:
        return None
    if claims.get("sub") != sender:
        return None
    try:
        return Turn(
            conversation_id=int(claims["conversation_id"]),
            contact_id=int(claims["contact_id"]),
            ente_id=int(claims["ente_id"]),
            channel=str(claims["channel"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
