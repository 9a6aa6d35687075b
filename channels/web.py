"""Web chat: the embeddable widget's WebSocket. Replies reach the citizen's sockets through pub/sub, so it works
whichever replica holds the socket."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from channels import render
from channels.base import Button, OutFile
from crm.conversations import files as chat_files


def file_token(secret: str, message_id: int, index: int) -> str:
    """The signature in a file's link for the citizen (the widget cannot send a header with an <img>)."""
    return hmac.new(secret.encode(), f"chat-file:{message_id}:{index}".encode(), hashlib.sha256).hexdigest()[:40]


def file_url(app: Any, message_id: int, index: int) -> str:
    secret = app.ctx.settings.secret_key.get_secret_value()
    return f"/channels/web/files/{message_id}/{index}/{file_token(secret, message_id, index)}"


def files_of(app: Any, message_id: int, attachments: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """A message's files as the widget shows them: name, type, size, image or not, and the signed link."""
    return [
        {
            "name": a.get("name") or "allegato",
            "content_type": a.get("content_type") or "",
            "size": chat_files.human_size(int(a.get("size") or 0)),
            "image": chat_files.is_image(a),
            "url": file_url(app, message_id, i),
        }
        for i, a in chat_files.stored(attachments)
    ]


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
        files: list[OutFile] | None = None,
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
                "files": [{**f.public(), "size": chat_files.human_size(f.size)} for f in files or []],
            },
        )
        return f"web-{uuid.uuid4().hex}"  # one id per message: the same id twice would clash in the messages table
