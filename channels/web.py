"""Web chat: the embeddable widget's WebSocket. Replies reach the citizen's sockets through pub/sub, so it works
whichever replica holds the socket."""

from __future__ import annotations

import uuid
from typing import Any

from channels.base import Button


class WebAdapter:
    name = "web"

    def __init__(self, app: Any) -> None:
        self.app = app

    @property
    def configured(self) -> bool:
        return True

    async def send(self, address: str, text: str, buttons: list[Button]) -> str:
        await self.app.ctx.pubsub.publish(f"webchat:{address}", {
            "type": "message", "author": "comune", "text": text,
            "buttons": [{"title": b.title, "payload": b.payload} for b in buttons]})
        return f"web-{uuid.uuid4().hex}"  # one id per message: the same id twice would clash in the messages table
