"""Who is talking: only what the hub signed (channels/turn_token.py). Every action of this package derives from
``TurnAction`` or ``TurnFormValidation``, which run nothing for a turn the hub did not vouch for: a request posted
to the action server by anyone else gets no answer, no events and no call to the CRM."""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from channels.turn_token import METADATA_KEY, Turn, verify

log = logging.getLogger("urp.actions")


def _secret() -> str | None:
    return os.environ.get("URP_ACTIONS_SECRET") or None


def _latest_user_metadata(tracker: Tracker) -> dict[str, Any]:
    """The metadata of this turn's message (never an older one: its token may have expired, and it is not this
    turn's word)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            metadata = event.get("metadata")
            return metadata if isinstance(metadata, dict) else {}
    return {}


def turn_of(tracker: Tracker) -> Turn | None:
    """The conversation, contact, ente and channel the hub vouches for in this turn, or None."""
    return verify(_latest_user_metadata(tracker).get(METADATA_KEY), _secret(), sender=tracker.sender_id)


def _refused(action: str) -> list[EventType]:
    # no citizen data in the log: the action's name is enough to see a probe
    log.warning("action %s refused: the turn carries no valid hub token", action)
    return []


class TurnAction(Action, ABC):
    """An action that runs only in a turn the hub vouched for; subclasses implement ``act``."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        turn = turn_of(tracker)
        if turn is None:
            return _refused(self.name())
        return await self.act(dispatcher, tracker, domain, turn)

    @abstractmethod
    async def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], turn: Turn
    ) -> list[EventType]:
        """The action itself, for the turn the hub vouched for."""


class TurnFormValidation(FormValidationAction, ABC):
    """A form's validation action that runs only in a turn the hub vouched for."""

    @abstractmethod
    def name(self) -> str:
        """validate_<form>: abstract here, so rasa-sdk registers only the concrete forms' validators."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if turn_of(tracker) is None:
            return _refused(self.name())
        return await super().run(dispatcher, tracker, domain)
