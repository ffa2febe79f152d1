"""The async clients' keep-alive pool against a real local server: reuse, closed and broken connections,
timeouts, and the errors the service turns into degraded answers."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from musicrec.client import AsyncEventsClient, AsyncFeaturesClient, ServiceError, ServiceUnavailable
from musicrec.client.pool import ConnectFailed, ConnectionPool
from musicrec.services.common.testing import free_port

OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{"events":[3,1]}'


class Server:
    """A tiny HTTP server: ``answer(request_head, body) -> bytes | None`` (None: close without answering)."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = free_port()
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), 0)
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                reply = await self.answer(head, body)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
        writer.close()

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()


async def ok(head: bytes, body: bytes) -> bytes:
    return OK


def test_connections_are_kept_alive_and_reused():
    async def scenario():
        async with Server(ok) as server:
            client = AsyncEventsClient(f"http://127.0.0.1:{server.port}", retries=0)
            answers = [(await client.get(7, k=3)).events for _ in range(3)]
            await client.aclose()
        return answers, server

    answers, server = asyncio.run(scenario())
    assert answers == [[3, 1]] * 3
    assert server.connections == 1
    assert server.requests[0].startswith(b"POST /get?user_id=7&k=3 HTTP/1.1\r\n")


def test_json_body_and_headers_are_sent():
    async def batch(head: bytes, body: bytes) -> bytes:
        payload = b'{"items":{"5":{"item_id_2":[6],"score":[0.5]}}}'
        return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(payload), payload)

    async def scenario():
        async with Server(batch) as server:
            client = AsyncFeaturesClient(f"http://127.0.0.1:{server.port}", retries=0)
            answer = await client.similar_items_batch([5], k=2)
            await client.aclose()
        return answer, server

    answer, server = asyncio.run(scenario())
    assert answer.items[5].item_id_2 == [6]
    head, body = server.requests[0].split(b"\r\n\r\n")
    assert head.startswith(b"POST /similar_items/batch HTTP/1.1")
    assert b"Content-Type: application/json" in head
    assert body == b'{"item_ids":[5],"k":2}'


def test_a_connection_the_server_closed_while_idle_is_replaced():
    async def close_after_answer(head: bytes, body: bytes) -> bytes:
        return OK.replace(b"200 OK\r\n", b"200 OK\r\nconnection: close\r\n")

    async def scenario():
        async with Server(close_after_answer) as server:
            pool = ConnectionPool("127.0.0.1", server.port)
            answers = [await pool.request("POST", "/get") for _ in range(2)]
            await pool.aclose()
        return answers, server

    answers, server = asyncio.run(scenario())
    assert [status for status, _ in answers] == [200, 200]
    assert server.connections == 2


def test_chunked_answers_are_read_whole():
    async def chunked(head: bytes, body: bytes) -> bytes:
        return (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                b"5\r\n{\"eve\r\n9\r\nnts\":[2]}\r\n0\r\n\r\n")

    async def scenario():
        async with Server(chunked) as server:
            client = AsyncEventsClient(f"http://127.0.0.1:{server.port}", retries=0)
            events = (await client.get(1)).events
            await client.aclose()
        return events

    assert asyncio.run(scenario()) == [2]


def test_nothing_listening_is_cannot_connect():
    async def scenario():
        port = free_port()
        with pytest.raises(ConnectFailed):
            await ConnectionPool("127.0.0.1", port).request("POST", "/get")
        client = AsyncEventsClient(f"http://127.0.0.1:{port}", retries=0)
        with pytest.raises(ServiceUnavailable, match=r"cannot connect \(ConnectError\)"):
            await client.get(1)

    asyncio.run(scenario())


def test_a_slow_answer_times_out_and_its_connection_is_not_reused():
    calls = []

    async def slow_first(head: bytes, body: bytes) -> bytes:
        calls.append(head)
        if len(calls) == 1:
            await asyncio.sleep(0.5)
        return OK

    async def scenario():
        async with Server(slow_first) as server:
            client = AsyncEventsClient(f"http://127.0.0.1:{server.port}", retries=0, timeout_s=0.1)
            with pytest.raises(ServiceUnavailable, match=r"timed out \(ReadTimeout\)"):
                await client.get(1)
            events = (await client.get(1)).events  # a new connection: the late answer is not read as this one
            await client.aclose()
        return events, server

    events, server = asyncio.run(scenario())
    assert events == [3, 1]
    assert server.connections == 2


def test_closed_without_an_answer_and_error_answers():
    async def hang_up(head: bytes, body: bytes) -> bytes | None:
        return None

    async def unavailable(head: bytes, body: bytes) -> bytes:
        payload = b'{"error":{"key":"storage_unavailable","message":"down","param":null}}'
        return b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: %d\r\n\r\n%s" % (len(payload), payload)

    async def scenario():
        async with Server(hang_up) as server:
            client = AsyncEventsClient(f"http://127.0.0.1:{server.port}", retries=0)
            with pytest.raises(ServiceUnavailable, match=r"RemoteProtocolError"):
                await client.get(1)
            await client.aclose()
        async with Server(unavailable) as server:
            client = AsyncEventsClient(f"http://127.0.0.1:{server.port}", retries=0)
            with pytest.raises(ServiceError) as raised:
                await client.get(1)
            await client.aclose()
        return raised.value

    error = asyncio.run(scenario())
    assert (error.status_code, error.key, error.message) == (503, "storage_unavailable", "down")
