"""A small HTTP/1.1 keep-alive connection pool on asyncio, for the recommendations service's neighbour calls.

httpx builds request and URL objects, header models and a connection-pool state machine for every
request: most of a blended request's time in the recommendations service went there. The two calls
to the events and features services need none of it: one host, ``POST`` with a query string or a JSON
body, a ``Content-Length`` answer. This pool keeps idle connections per host and parses answers with
``httptools`` (uvicorn's own parser, so chunked or close-delimited answers are understood too).

Errors: :class:`ConnectFailed` when no connection could be opened (nothing was sent), another
``OSError`` when one breaks (``ConnectionError`` when the server closed it before answering),
``httptools.HttpParserError`` for a malformed answer. The caller puts the
timeout around :meth:`ConnectionPool.request`; a connection interrupted mid-answer (timeout,
cancellation, error) is closed, never reused. Nothing is retried here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import httptools


class ConnectFailed(ConnectionError):
    """No connection could be opened: the request was not sent."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; ``exchange`` sends a request and waits for its whole answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.reusable = True
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._body: list[bytes] = []

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.reusable = False
            self._fail(exc)

    def eof_received(self) -> bool | None:
        self.reusable = False
        self._fail(ConnectionError("the server closed the connection before answering"))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self._fail(exc or ConnectionError("the server closed the connection before answering"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.reusable = False
        if self._answer is not None and not self._answer.done():
            self._answer.set_result((self.parser.get_status_code(), b"".join(self._body)))

    def _fail(self, exc: BaseException) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self._body = []
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self._answer
        finally:
            self._answer = None

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()


class ConnectionPool:
    """Keep-alive connections to ``host:port``, at most ``max_connections`` open at once."""

    def __init__(self, host: str, port: int, max_connections: int = 100) -> None:
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self._idle: list[_Connection] = []
        self._slots: asyncio.Semaphore | None = None  # made in the running loop on first use
        self._host_header = f"Host: {host}:{port}\r\n"

    async def request(
        self, method: str, target: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send ``method target`` (path and query) with ``body``: ``(status, body)`` of the answer."""
        head = [f"{method} {target} HTTP/1.1\r\n", self._host_header, f"Content-Length: {len(body)}\r\n"]
        if headers:
            head.extend(f"{name}: {value}\r\n" for name, value in headers.items())
        head.append("\r\n")
        request = "".join(head).encode("latin-1") + body
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        async with self._slots:
            connection = self._take_idle() or await self._connect()
            try:
                answer = await connection.exchange(request)
            except BaseException:
                connection.close()  # a half-read answer must not meet the next request
                raise
            if connection.reusable:
                self._idle.append(connection)
            else:
                connection.close()
            return answer

    def _take_idle(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable:  # the server may have closed it while idle (keep-alive timeout)
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(_Connection, self.host, self.port)
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return connection

    async def aclose(self) -> None:
        """Close the idle connections (those in use close when their request ends)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
