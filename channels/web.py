"""Web chat: the embeddable widget's WebSocket. Replies reach the citizen's sockets through pub/sub, so it works
whichever replica holds the socket."""

from __future__ import annotations

import uuid
from typing import Any

from channels import render
from channels.base import Button


class WebAdapter:
    name = "web"
    shows_authors = True  # the widget shows bot, operator (with their name) and system notices apart

    def __init__(self, app: Any) -> None:
        self.app = app

    @property
    def configured(self) -> bool:
        return True

    async def send(
        self,
        address: str,
        text: str,
        buttons: list[Button],
        *,
        message_id: int | None = None,
        author: str = "bot",
        name: str = "",
        notice: str = "",
        **_: Any,
    ) -> str:
        # the stored message's id travels with it: a reply published again after a crash is dropped by the widget
        await self.app.ctx.pubsub.publish(
            f"webchat:{address}",
            {
                "type": "message",
                "id": message_id,
                "author": author,
                "name": name,
                "notice": notice,
                "text": text,
                "html": render.to_web(text),
                "buttons": [{"title": b.title, "payload": b.payload} for b in buttons],
            },
        )
        return f"web-{uuid.uuid4().hex}"  # one id per message: the same id twice would clash in the messages table
