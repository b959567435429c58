"""PTB's HTTP layer on aiohttp, for the outbox's Bot.

PTB's own HTTPXRequest spent nearly all of a sendMessage's CPU in httpx's connection pool: about 3 ms per
message in a worker sending a batch to many chats at once, more than the turn that wrote the reply. aiohttp
keeps the connections alive the same way at a fraction of the cost. The shape follows ptbcontrib's
AiohttpRequest (not on PyPI): Bot API calls go as form fields, files as multipart, errors as PTB's.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.telegram.send_by import SlotMissed, take_deadline


class _SlotKeepingConnector(aiohttp.TCPConnector):
    """A connector that gives a rate-limited send back (SlotMissed) when its connection came too late for its
    slot: a wait for a pooled connection, or a new one opened while the loop served the rest of the batch. The
    connection goes back to the pool, kept alive for the send's next try: dropping it would have every try after
    a quiet spell open a connection again, and over a real network that takes longer than a slot may wait."""

    async def connect(
        self, req: aiohttp.ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        connection = await super().connect(req, traces, timeout)
        deadline = take_deadline()  # the send's first request only: its later messages follow that one
        if deadline is not None and asyncio.get_running_loop().time() > deadline:
            connection.release()
            raise SlotMissed
        return connection


class AiohttpRequest(BaseRequest):
    """A BaseRequest over one aiohttp ClientSession, made on the loop that initializes it."""

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_read_timeout",
        "_session",
    )

    def __init__(
        self,
        *,
        connection_pool_size: int = 64,
        read_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        pool_timeout: float = 10.0,
        media_write_timeout: float = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._pool_timeout = pool_timeout
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=_SlotKeepingConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        if files and isinstance(write_timeout, DefaultValue):
            read = max(read or 0.0, self._media_write_timeout)  # aiohttp has no write timeout: the upload counts
        connect = self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        # aiohttp's `connect` covers the wait for a free pooled connection and the opening of a new one.
        whole_connect = None if pool is None or connect is None else pool + connect
        timeout = aiohttp.ClientTimeout(total=None, connect=whole_connect, sock_connect=connect, sock_read=read)
        fields = request_data.json_parameters if request_data else None
        data: aiohttp.FormData | dict[str, str] | None = fields
        if files:
            data = aiohttp.FormData(fields or {})
            for name, (filename, content, mimetype) in files.items():
                data.add_field(name, content, filename=filename, content_type=mimetype)
        try:
            async with self._session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc
