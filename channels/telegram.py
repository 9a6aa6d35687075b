"""Telegram through python-telegram-bot: webhook with the secret-token header, or polling for development.

Buttons become inline keyboards; the "share phone number" keyboard links the Telegram user to an existing contact.
"""

from __future__ import annotations

import asyncio
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError, TimedOut

from channels import render
from channels.base import Button, Inbound, OutFile, SendFailed
from channels.config import ChannelSettings
from channels.telegram_transport import AiohttpRequest
from crm.core.errors import BadRequest as ApiBadRequest

SHARE_PHONE = "Condividi il mio numero"


class TelegramAdapter:
    name = "telegram"

    def __init__(self, settings: ChannelSettings) -> None:
        self.settings = settings
        self._bot: Bot | None = None
        self._ready = False
        self._ready_lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        return self.settings.telegram_bot_token is not None

    def bot(self) -> Bot:
        if self._bot is None:
            assert self.settings.telegram_bot_token is not None
            # one client for the process, with room for concurrent sends (the library's default pool is one connection)
            kwargs: dict[str, Any] = {
                "request": AiohttpRequest(connection_pool_size=32, pool_timeout=10, connect_timeout=5, read_timeout=15)
            }
            if self.settings.telegram_api_base:
                base = self.settings.telegram_api_base.rstrip("/")
                kwargs["base_url"] = base
                kwargs["base_file_url"] = base.removesuffix("/bot") + "/file/bot"  # where getFile's files are
            self._bot = Bot(self.settings.telegram_bot_token.get_secret_value(), **kwargs)
        return self._bot

    async def _open(self) -> Bot:
        """Initialise the shared bot once; closing it after each send broke the sends still in flight."""
        bot = self.bot()
        if not self._ready:
            async with self._ready_lock:
                if not self._ready:
                    await bot.initialize()
                    self._ready = True
        return bot

    async def close(self) -> None:
        if self._ready and self._bot is not None:
            await self._bot.shutdown()
            self._ready = False

    async def send(
        self, address: str, text: str, buttons: list[Button], *, files: list[OutFile] | None = None, **_: Any
    ) -> str:
        """A reply (the bot's or an operator's Markdown) in Telegram's HTML parse mode, then its files (photos as
        photos, PDFs as documents). Returns the first message's id."""
        ids = [await self._send_text(address, text, buttons)] if text.strip() or not files else []
        for f in files or []:
            ids.append(await self._send_file(address, f))
        return ids[0]

    async def _send_file(self, address: str, f: OutFile) -> str:
        try:
            bot = await self._open()
            body = f.path.read_bytes()
            if f.image and f.content_type != "image/webp":  # a WebP goes as a document: Telegram shows it as is
                msg = await bot.send_photo(chat_id=int(address), photo=body, filename=f.name)
            else:
                msg = await bot.send_document(chat_id=int(address), document=body, filename=f.name)
        except OSError:
            raise SendFailed("file no longer stored", permanent=True) from None
        except (BadRequest, Forbidden) as exc:
            raise SendFailed(f"telegram refused: {type(exc).__name__}", permanent=True) from None
        except (TimedOut, NetworkError, TelegramError) as exc:
            raise SendFailed(f"telegram unreachable: {type(exc).__name__}") from None
        return f"{address}:{msg.message_id}"

    async def download(self, file_id: str, max_bytes: int) -> bytes | None:
        """A file the citizen sent (getFile, then its download); None when it is larger than ``max_bytes``. Raises
        ``SendFailed`` when Telegram cannot give it."""
        try:
            bot = await self._open()
            tg_file = await bot.get_file(file_id)
            if tg_file.file_size and tg_file.file_size > max_bytes:
                return None
            body = bytes(await tg_file.download_as_bytearray())
        except (TelegramError, RuntimeError) as exc:  # RuntimeError: no file_path (too big for the Bot API)
            # a file Telegram refuses (an unknown file_id, too big) will not come later: only outages are retried
            permanent = isinstance(exc, (BadRequest, Forbidden, RuntimeError))
            raise SendFailed(f"telegram download failed: {type(exc).__name__}", permanent=permanent) from None
        return None if len(body) > max_bytes else body

    async def _send_text(self, address: str, text: str, buttons: list[Button]) -> str:
        markup: Any = None
        if buttons:
            markup = InlineKeyboardMarkup(
                [[InlineKeyboardButton(b.title, callback_data=b.payload[:64])] for b in buttons]
            )
        try:
            return await self._send(address, render.to_telegram(text), markup, ParseMode.HTML)
        except SendFailed as exc:
            if not exc.unparsed:
                raise
        # Telegram could not read the markup (a case the renderer missed): the words still reach the citizen
        return await self._send(address, render.to_plain(text), markup, None)

    async def _send(self, address: str, text: str, markup: Any, parse_mode: str | None) -> str:
        try:
            bot = await self._open()
            msg = await bot.send_message(chat_id=int(address), text=text, reply_markup=markup, parse_mode=parse_mode)
        except BadRequest as exc:
            failed = SendFailed(f"telegram refused: {type(exc).__name__}", permanent=True)
            failed.unparsed = parse_mode is not None and "parse entities" in str(exc).lower()
            raise failed from None
        except Forbidden as exc:  # blocked by the user, chat not found: retrying will not help
            raise SendFailed(f"telegram refused: {type(exc).__name__}", permanent=True) from None
        except (TimedOut, NetworkError, TelegramError) as exc:
            raise SendFailed(f"telegram unreachable: {type(exc).__name__}") from None
        return f"{address}:{msg.message_id}"  # Telegram numbers messages per chat: the chat makes the id unique

    async def typing(self, address: str) -> None:
        """Telegram's "typing…" under the chat's name for about five seconds (an operator writing a reply)."""
        bot = await self._open()
        await bot.send_chat_action(chat_id=int(address), action=ChatAction.TYPING)

    async def ask_phone(self, address: str, text: str) -> None:
        markup = ReplyKeyboardMarkup(
            [[KeyboardButton(SHARE_PHONE, request_contact=True)]], one_time_keyboard=True, resize_keyboard=True
        )
        bot = await self._open()
        await bot.send_message(chat_id=int(address), text=text, reply_markup=markup)

    async def send_notification(self, n: Any) -> str:
        return await self._send(n.address, n.text, None, None)  # a notification's template is plain text

    def parse(self, data: dict[str, Any]) -> Inbound | None:
        """A Telegram update -> our message shape (None for updates we ignore: edits, joins, stickers)."""
        try:  # python-telegram-bot's own parser decides what an update is: anything it cannot read is garbage (400)
            update = Update.de_json(data, self.bot()) if isinstance(data, dict) else None
        except (KeyError, TypeError, ValueError, AttributeError):
            update = None
        if update is None:
            raise ApiBadRequest("not a Telegram update", code="malformed_update")
        uid = str(update.update_id)
        if update.callback_query and update.callback_query.from_user:
            q = update.callback_query
            return Inbound(
                channel="telegram",
                address=str(q.from_user.id),
                text=q.data or "",
                channel_message_id=uid,
                display_name=q.from_user.first_name or "",
                payload={"intent_payload": q.data or "", "callback_query_id": q.id},
            )
        msg = update.message
        if msg is None or msg.from_user is None:
            return None
        if msg.contact is not None and msg.contact.user_id == msg.from_user.id:
            from crm.contacts.schemas import normalise_phone

            try:
                phone = normalise_phone(msg.contact.phone_number)
            except ValueError:
                phone = None
            return Inbound(
                channel="telegram",
                address=str(msg.from_user.id),
                text="[numero di telefono condiviso]",
                channel_message_id=uid,
                phone=phone,
                display_name=msg.from_user.first_name or "",
                payload={"shared_phone": phone},
            )
        files = _files_of(msg)
        if not msg.text and not files:
            return None
        return Inbound(
            channel="telegram",
            address=str(msg.from_user.id),
            text=msg.text or msg.caption or "",
            channel_message_id=uid,
            display_name=msg.from_user.first_name or "",
            attachments=files,
            payload={"files": len(files)} if files else {},
        )


def _files_of(msg: Any) -> list[dict[str, Any]]:
    """A photo (its largest size) or a document, to be downloaded (``channels.api``) before the message is stored."""
    if msg.photo:  # every size Telegram made, the largest first: the largest within the limit is kept
        sizes = sorted(msg.photo, key=lambda x: (x.file_size or 0, x.width * x.height), reverse=True)
        return [
            {
                "telegram_file_id": sizes[0].file_id,
                "candidates": [[x.file_id, x.file_size or 0] for x in sizes],
                "name": f"foto-{msg.message_id}.jpg",
                "size": sizes[0].file_size or 0,
            }
        ]
    if msg.document:
        d = msg.document
        return [{"telegram_file_id": d.file_id, "name": d.file_name or "documento", "size": d.file_size or 0}]
    return []
