"""python-telegram-bot's HTTP transport on aiohttp instead of its default httpx.

Why: every reply to a Telegram citizen is one Bot API request, and with several turns in flight a send through the
library cost 1.2-1.9 ms of CPU with its httpx transport and 0.37-0.48 ms with this one (bench/http_client_bench.py),
on the two cores the CRM shares with Rasa. python-telegram-bot supports a custom transport
(``telegram.request.BaseRequest``); this one keeps the library's contract: timeouts raise ``TimedOut``, every other
transport failure ``NetworkError``, and uploads go as multipart with their file names and types. aiohttp is already
installed for Twilio's async client.
"""

from __future__ import annotations

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    # an idle connection is let go before the Bot API (or a proxy in front of it) would close it under a request
    KEEPALIVE_SECONDS = 15.0

    def __init__(
        self,
        *,
        connection_pool_size: int = 32,
        connect_timeout: float | None = 5.0,
        read_timeout: float | None = 15.0,
        pool_timeout: float | None = 10.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=self.KEEPALIVE_SECONDS)
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | None | object = BaseRequest.DEFAULT_NONE,
        write_timeout: float | None | object = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | None | object = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | None | object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        read = self._read_timeout if read_timeout is BaseRequest.DEFAULT_NONE else read_timeout
        connect = self._connect_timeout if connect_timeout is BaseRequest.DEFAULT_NONE else connect_timeout
        pool = self._pool_timeout if pool_timeout is BaseRequest.DEFAULT_NONE else pool_timeout
        # aiohttp has no write timeout: a body is written within the read timeout's wait for the answer
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=(float(pool) + float(connect)) if pool is not None and connect is not None else None,  # type: ignore[arg-type]
            sock_connect=connect,  # type: ignore[arg-type]
            sock_read=read,  # type: ignore[arg-type]
        )
        body: aiohttp.FormData | dict[str, str] | None = None
        if request_data is not None:
            files = request_data.multipart_data
            if files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, (filename, content, mimetype) in files.items():
                    form.add_field(name, content, filename=filename, content_type=mimetype)
                body = form
            else:
                body = request_data.json_parameters or None
        try:
            async with self._session.request(
                method, url, data=body, headers={"User-Agent": self.USER_AGENT}, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as err:  # aiohttp's connect and read timeouts are TimeoutErrors too
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err
