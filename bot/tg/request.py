"""Bot API requests over aiohttp: a python-telegram-bot BaseRequest, drop-in for HTTPXRequest.

PTB's HTTPXRequest spends most of the bot's CPU per answer in httpx and httpcore (their pool
bookkeeping, anyio, h11, cookie handling, urlencoding the form); aiohttp's C-accelerated HTTP
client does the same exchange in a fraction of that (`make bench-bot`). This class keeps
HTTPXRequest's contract: the same constructor defaults, timeouts with the same meaning and
DEFAULT_NONE handling, and the same errors - TimedOut for every timeout (with PTB's own message
for a full pool), NetworkError naming the client's exception for every other transport failure.
"""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Final
from urllib.parse import urlsplit

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# PTB's wording (HTTPXRequest), so that logs and error handlers read the same.
POOL_TIMEOUT_MESSAGE: Final = (
    "Pool timeout: All connections in the connection pool are occupied. Request was *not* sent "
    "to Telegram. Consider adjusting the connection pool size or the pool timeout."
)
# How long an idle connection is kept for reuse: httpx's default, so that the bot keeps
# connections to Telegram exactly as long as it did with HTTPXRequest.
KEEPALIVE_SECONDS: Final = 5.0
_JSON_HEADERS: Final = {"Content-Type": "application/json"}


class AiohttpRequest(BaseRequest):
    """A BaseRequest on one aiohttp ClientSession, with HTTPXRequest's defaults and errors.

    Timeouts (seconds; None waits for ever), per request or else the defaults given here:

    - pool_timeout: waiting for a free connection when all `connection_pool_size` are busy;
    - connect_timeout: resolving the host and opening a new connection;
    - read_timeout: at most this long between two pieces of the response;
    - write_timeout (media_write_timeout when files are uploaded): aiohttp cannot time single
      writes, so the whole exchange is bounded by connect + write + read once the connection is
      ours - a request body that will not go out still times out, a little later at most.

    Without files the parameters go out as one JSON body (RequestData.json_payload), which the
    Bot API accepts like a form and which costs less to build; with files, as multipart form.
    """

    __slots__ = (
        "_connect_timeout",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_proxies",
        "_read_timeout",
        "_session",
        "_shut_down",
        "_slots",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        # HTTP(S)_PROXY, ALL_PROXY and NO_PROXY, honoured as httpx (so HTTPXRequest) honours
        # them, but read once: aiohttp's trust_env would re-read them (and ~/.netrc) in a
        # worker thread for every request.
        self._proxies = _EnvironmentProxies()
        # Made on first use, inside the event loop (aiohttp needs a running loop for them).
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._shut_down = False

    @property
    def read_timeout(self) -> float | None:
        """See BaseRequest.read_timeout: the default read timeout."""
        return self._read_timeout

    async def initialize(self) -> None:
        """See BaseRequest.initialize; also after shutdown(), as HTTPXRequest allows."""
        self._shut_down = False
        self._open()

    async def shutdown(self) -> None:
        """See BaseRequest.shutdown: closes every connection."""
        self._shut_down = True
        session, self._session, self._slots = self._session, None, None
        if session is not None and not session.closed:
            await session.close()

    def _open(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        if self._session is None or self._slots is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, limit_per_host=0, keepalive_timeout=KEEPALIVE_SECONDS
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                # Telegram sets no cookies the bot needs; a jar would only cost time per answer.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            self._slots = asyncio.Semaphore(self._pool_size)
        return self._session, self._slots

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
        """See BaseRequest.do_request: (HTTP status, body); TimedOut or NetworkError."""
        if self._shut_down:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        session, slots = self._open()
        files = request_data is not None and request_data.contains_files
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (
            self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout
        )
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        if isinstance(write_timeout, DefaultValue):
            write = self._media_write_timeout if files else self._write_timeout
        else:
            write = write_timeout

        await _acquire(slots, pool)
        try:
            return await self._exchange(session, url, method, request_data, read, write, connect)
        except TimeoutError as error:  # aiohttp's ServerTimeoutError is one too
            raise TimedOut from error
        except aiohttp.ClientError as error:
            # The class name, as HTTPXRequest gives it: some messages are empty on their own.
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error
        finally:
            slots.release()

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        url: str,
        method: str,
        request_data: RequestData | None,
        read: float | None,
        write: float | None,
        connect: float | None,
    ) -> tuple[int, bytes]:
        budgets = (connect, write, read)
        total = None if None in budgets else sum(b for b in budgets if b is not None)
        timeout = aiohttp.ClientTimeout(
            total=total, connect=connect, sock_connect=connect, sock_read=read
        )
        if request_data is None:
            body: aiohttp.FormData | bytes | None = None
            headers = None
        elif request_data.contains_files:
            body = _multipart(request_data)
            headers = None
        else:
            body = request_data.json_payload
            headers = _JSON_HEADERS
        async with session.request(
            method,
            url,
            data=body,
            headers=headers,
            timeout=timeout,
            proxy=self._proxies.for_url(url),
        ) as response:
            return response.status, await response.read()


async def _acquire(slots: asyncio.Semaphore, timeout: float | None) -> None:
    """Take a connection slot, waiting at most `timeout`: TimedOut (PTB's message) if none."""
    if not slots.locked():
        await slots.acquire()  # free: no timer needed
        return
    try:
        async with asyncio.timeout(timeout):
            await slots.acquire()
    except TimeoutError as error:
        raise TimedOut(POOL_TIMEOUT_MESSAGE) from error


def _multipart(request_data: RequestData) -> aiohttp.FormData:
    """Parameters as form fields (JSON-encoded, as PTB encodes them) plus the files."""
    form = aiohttp.FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form


class _EnvironmentProxies:
    """The proxy for each URL from the environment at construction, as httpx would pick it."""

    def __init__(self) -> None:
        self._proxies = urllib.request.getproxies_environment()
        self._chosen: dict[tuple[str, str], str | None] = {}

    def for_url(self, url: str) -> str | None:
        if not self._proxies:
            return None
        parts = urlsplit(url)
        key = (parts.scheme.lower(), parts.hostname or "")
        if key not in self._chosen:
            scheme, host = key
            bypass = bool(host) and bool(urllib.request.proxy_bypass(host))
            proxy = None if bypass else self._proxies.get(scheme) or self._proxies.get("all")
            self._chosen[key] = proxy
        return self._chosen[key]
