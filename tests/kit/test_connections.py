"""Slow, idle and greedy HTTP clients cannot deny service: real sockets against the server as `soundtime serve` runs it.

Deadlines are shortened so that the tests are quick; each wait for the server to act is bounded by a generous
timeout (never an assertion on how long something took).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
import uvicorn
from fastapi import FastAPI

from soundtime.config import Settings
from soundtime.kit import slow_body
from soundtime.kit.http_protocol import ConnectionLimits
from soundtime.runtime import server_config

Server = Callable[..., "contextlib.AbstractAsyncContextManager[tuple[str, int]]"]
BOUND = 20.0  # the longest any server reaction may take before the test fails


@pytest.fixture
def serve(app: FastAPI, settings: Settings) -> Server:
    """Serve the app with the production protocol and some limits changed."""

    @contextlib.asynccontextmanager
    async def running(**changes: object) -> AsyncIterator[tuple[str, int]]:
        limits = replace(ConnectionLimits(trusted_proxies=settings.forwarded_allow_ips), **changes)  # type: ignore[arg-type]
        config = server_config(app, settings, host="127.0.0.1", port=0, limits=limits)
        config.lifespan = "off"
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        try:
            yield "127.0.0.1", server.servers[0].sockets[0].getsockname()[1]
        finally:
            server.should_exit = True
            await task

    return running


async def connect(port: int, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection from ``source`` (any 127.x.y.z: loopback lets a test be many clients)."""
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def request(port: int, raw: bytes, source: str = "127.0.0.1") -> tuple[int, bytes]:
    """Send ``raw`` on a new connection; the status and body of the answer."""
    reader, writer = await connect(port, source)
    try:
        writer.write(raw)
        async with asyncio.timeout(BOUND):
            return await read_response(reader)
    finally:
        writer.close()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    return status, await reader.readexactly(length)


def cut_off(answer: bytes) -> bool:
    """The server ended a connection whose client kept sending: with a 408, or (the 408 lost) a bare close.

    A socket closed while the peer's bytes wait unread is reset, and a reset may overtake the 408 written just
    before; what matters is that the server let go of the connection at all.
    """
    return answer == b"" or answer.startswith(b"HTTP/1.1 408 ")


async def closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (fails the test if it never does)."""
    async with asyncio.timeout(BOUND):
        try:
            return await reader.read()
        except ConnectionResetError:
            return b""


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
LOGIN = b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


# --- idle connections -------------------------------------------------------------------------------------------


async def test_idle_connections_beyond_the_limit_make_room_for_real_clients(serve: Server) -> None:
    """The report: ~1,000 idle sockets made /healthz answer 503. Now the longest-idle one makes room."""
    async with serve() as (_, port):
        idle = [await connect(port, f"127.0.{i // 200}.{i % 200 + 2}") for i in range(1100)]  # 5-6 per address
        try:
            for _ in range(20):
                status, body = await request(port, HEALTHZ)
                assert status == 200, body
                assert json.loads(body)["status"] == "ok"
        finally:
            for _, writer in idle:
                writer.close()


async def test_a_new_connection_that_sends_nothing_is_closed(serve: Server) -> None:
    async with serve(first_byte_timeout=0.3) as (_, port):
        reader, writer = await connect(port)
        assert await closed_by_server(reader) == b""
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed(serve: Server) -> None:
    async with serve(keep_alive_timeout=0.3) as (_, port):
        reader, writer = await connect(port)
        writer.write(HEALTHZ)
        assert (await read_response(reader))[0] == 200
        assert await closed_by_server(reader) == b""
        writer.close()


async def test_connections_per_address_are_capped_except_for_trusted_proxies(serve: Server) -> None:
    async with serve(per_address=4) as (_, port):
        greedy = [await connect(port, "127.0.9.9") for _ in range(4)]
        extra_reader, extra_writer = await connect(port, "127.0.9.9")
        assert await closed_by_server(extra_reader) == b""  # the fifth from one address
        extra_writer.close()
        assert (await request(port, HEALTHZ, "127.0.9.10"))[0] == 200  # another address is served
        for reader, writer in greedy:  # the first four still work
            writer.write(HEALTHZ)
            assert (await read_response(reader))[0] == 200
        proxied = [await connect(port, "127.0.0.1") for _ in range(10)]  # FORWARDED_ALLOW_IPS: not capped
        for reader, writer in proxied:
            writer.write(HEALTHZ)
            assert (await read_response(reader))[0] == 200
        for _, writer in [*greedy, *proxied]:
            writer.close()


async def test_an_ipv6_slash_64_counts_as_one_address() -> None:
    from soundtime.kit.http_protocol import address_key

    assert address_key("2001:db8::1") == address_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert address_key("2001:db8:0:1::1") != address_key("2001:db8::1")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("192.0.2.1") == "192.0.2.1"


# --- slow heads -------------------------------------------------------------------------------------------------


async def test_a_request_head_dripped_line_by_line_is_cut_off(serve: Server) -> None:
    async with serve(head_timeout=0.5) as (_, port):
        reader, writer = await connect(port)
        writer.write(b"GET /healthz HTTP/1.1\r\n")

        async def drip() -> None:
            with contextlib.suppress(ConnectionError):
                for number in range(10_000):
                    writer.write(f"X-Slow-{number}: a\r\n".encode())
                    await writer.drain()
                    await asyncio.sleep(0.05)

        dripping = asyncio.create_task(drip())
        answer = await closed_by_server(reader)
        dripping.cancel()
        assert cut_off(answer)
        writer.close()


@pytest.mark.parametrize("pieces", [1, 7])
async def test_the_request_head_limit_is_exact(serve: Server, pieces: int) -> None:
    """16 KiB of request line and headers is served; one byte more is refused, however the head is sent."""
    start = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fill: "
    end = b"\r\n\r\n"
    async with serve() as (_, port):
        for size, expected in ((16 * 1024, 200), (16 * 1024 + 1, 400)):
            head = start + b"a" * (size - len(start) - len(end)) + end
            assert len(head) == size
            reader, writer = await connect(port)
            step = -(-len(head) // pieces)
            for offset in range(0, len(head), step):
                writer.write(head[offset : offset + step])
                await writer.drain()
                if pieces > 1:
                    await asyncio.sleep(0.02)  # separate reads on the server
            async with asyncio.timeout(BOUND):
                assert (await read_response(reader))[0] == expected, size
            writer.close()


async def protocol_error(port: int, raw: bytes) -> tuple[int, str]:
    """Send ``raw``, read until the server closes; the status and the error code of its JSON answer."""
    reader, writer = await connect(port)
    writer.write(raw)
    answer = await closed_by_server(reader)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"\r\ncontent-type: application/json\r\n" in head
    return int(head.split(b" ", 2)[1]), json.loads(body)["error"]["code"]


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n",  # a space in a header name
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fill: " + b"a" * 16 * 1024 + b"\r\n\r\n",  # too large
        b"NOT A REQUEST LINE\r\n\r\n",
    ],
)
async def test_a_malformed_request_head_gets_a_400_in_the_error_shape(serve: Server, head: bytes) -> None:
    """The protocol answers before any route runs, but in the JSON error shape the OpenAPI promises for 400."""
    async with serve() as (_, port):
        assert await protocol_error(port, head) == (400, "bad_request")


async def test_a_request_head_too_slow_gets_a_408_in_the_error_shape(serve: Server) -> None:
    async with serve(head_timeout=0.3) as (_, port):  # a request line, and nothing more
        assert await protocol_error(port, b"GET /healthz HTTP/1.1\r\n") == (408, "request_timeout")


# --- slow bodies ------------------------------------------------------------------------------------------------


@pytest.fixture
def short_body_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slow_body, "BODY_RATE", slow_body.BodyRate(grace=0.5, min_rate=1000, max_gap=5.0))


async def drip_body(port: int, head: bytes, chunk: bytes, pause: float) -> bytes:
    """Send ``head``, then ``chunk`` every ``pause`` seconds until the server closes; what it answered."""
    reader, writer = await connect(port)
    writer.write(head)

    async def drip() -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(pause)

    dripping = asyncio.create_task(drip())
    try:
        return await closed_by_server(reader)
    finally:
        dripping.cancel()
        writer.close()


@pytest.mark.usefixtures("short_body_rate")
async def test_a_json_body_dripped_byte_by_byte_is_cut_off(serve: Server) -> None:
    async with serve() as (_, port):
        head = (
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 900\r\n\r\n"
        )
        answer = await drip_body(port, head, b" ", 0.1)
        assert cut_off(answer)
        assert not answer or b'"request_timeout"' in answer


@pytest.mark.usefixtures("short_body_rate")
async def test_an_upload_dripped_slowly_is_cut_off_although_no_gap_is_long(
    serve: Server, client: object, app: FastAPI
) -> None:
    from tests.support.api import register

    token = await register(client)  # type: ignore[arg-type]
    async with serve() as (_, port):
        head = (
            b"POST /api/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode() + b"\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000\r\n\r\n"
            b"--b\r\nContent-Disposition: form-data; name=file; filename=a.mp3\r\n\r\n"
        )
        answer = await drip_body(port, head, b"\xff" * 10, 0.1)  # 100 bytes/s, a piece every 0.1 s
        assert cut_off(answer)


@pytest.mark.usefixtures("short_body_rate")
async def test_a_body_that_stops_is_cut_off(serve: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slow_body, "BODY_RATE", slow_body.BodyRate(grace=60.0, min_rate=1, max_gap=0.3))
    async with serve() as (_, port):
        head = (
            b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 90\r\n\r\n{"
        )
        reader, writer = await connect(port)
        writer.write(head)
        answer = await closed_by_server(reader)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408 ")


@pytest.mark.usefixtures("short_body_rate")
async def test_a_body_sent_at_a_normal_pace_is_served(serve: Server) -> None:
    """Pauses shorter than the gap limit, at a rate above the minimum: the request is answered normally."""
    async with serve() as (_, port):
        body = b'{"username": "nobody",' + b" " * 3000 + b'"password": "not the password"}'
        reader, writer = await connect(port)
        try:
            writer.write(LOGIN + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
            for start in range(0, len(body), 500):  # 5,000 bytes/s in pieces 0.1 s apart
                writer.write(body[start : start + 500])
                await writer.drain()
                await asyncio.sleep(0.1)
            async with asyncio.timeout(BOUND):
                status, _ = await read_response(reader)
        finally:
            writer.close()
        assert status == 401  # read to the end and judged: wrong credentials


def test_loopback_aliases_work_here() -> None:
    """The tests above act as many clients through 127.x.y.z source addresses."""
    with socket.socket() as probe:
        probe.bind(("127.0.3.4", 0))
