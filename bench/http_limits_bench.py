"""What the HTTP connection limits cost: requests per second through uvicorn's plain h11 protocol and through
ours (head deadlines, exact head limit, per-address caps, eviction when full, minimum body rate), same app.

Each server runs in its own process; the client alternates between them round by round (the machine is shared
and noisy, so the figure that matters is the ratio measured in the same run). Prints one JSON object last.

    .venv/bin/python bench/http_limits_bench.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import time
from typing import Any

GET = b"GET /ping HTTP/1.1\r\nHost: bench\r\n\r\n"
BODY = json.dumps({"text": "x" * 8000}).encode()
POST = b"POST /echo HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A trivial ASGI app: reads the body, answers its length."""
    if scope["type"] != "http":
        return
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(body))]})
    await send({"type": "http.response.body", "body": body})


def serve(kind: str, sock: socket.socket) -> None:
    import uvicorn

    from soundtime.kit.http_protocol import ConnectionLimits, protocol_class
    from soundtime.kit.slow_body import MinimumBodyRate

    if kind == "plain":
        config = uvicorn.Config(app, http="h11", loop="uvloop", log_level="error", limit_concurrency=1000)
    else:
        limits = ConnectionLimits()
        config = uvicorn.Config(
            MinimumBodyRate(app),
            http=protocol_class(limits),
            loop="uvloop",
            log_level="error",
            limit_concurrency=limits.max_connections + 1,
            h11_max_incomplete_event_size=limits.max_head,
        )
    uvicorn.Server(config).run(sockets=[sock])


async def _response(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    await reader.readexactly(length)


async def keep_alive(port: int, count: int, request: bytes) -> float:
    """Requests per second, one after another on one connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    for _ in range(count):
        writer.write(request)
        await _response(reader)
    elapsed = time.perf_counter() - started
    writer.close()
    return count / elapsed


async def new_connections(port: int, count: int) -> float:
    """Requests per second, each on a new connection."""
    started = time.perf_counter()
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(GET)
        await _response(reader)
        writer.close()
    return count / (time.perf_counter() - started)


async def concurrent(port: int, clients: int, each: int) -> float:
    """Requests per second with ``clients`` keep-alive connections at once."""
    started = time.perf_counter()
    await asyncio.gather(*(keep_alive(port, each, GET) for _ in range(clients)))
    return clients * each / (time.perf_counter() - started)


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    return sock


async def _ready(port: int) -> None:
    for _ in range(500):
        try:
            await keep_alive(port, 1, GET)
        except OSError:
            await asyncio.sleep(0.02)
        else:
            return
    raise RuntimeError("the server did not start")


async def main(rounds: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    servers, ports = [], {}
    for kind in ("plain", "guarded"):
        sock = _listening()
        ports[kind] = sock.getsockname()[1]
        process = context.Process(target=serve, args=(kind, sock), daemon=True)
        process.start()
        servers.append(process)
    try:
        for port in ports.values():
            await _ready(port)
        figures: dict[str, dict[str, list[float]]] = {k: {} for k in ports}
        for number in range(rounds):
            order = list(ports.items()) if number % 2 == 0 else list(reversed(ports.items()))
            for kind, port in order:
                runs = {
                    "keep_alive_get": await keep_alive(port, 2000, GET),
                    "keep_alive_post_8k": await keep_alive(port, 1000, POST + BODY),
                    "new_connection_get": await new_connections(port, 500),
                    "concurrent_50_get": await concurrent(port, 50, 40),
                }
                for name, value in runs.items():
                    figures[kind].setdefault(name, []).append(value)
    finally:
        for process in servers:
            process.terminate()
            process.join(5)
    result: dict[str, Any] = {"rounds": rounds}
    for name in figures["plain"]:
        plain = statistics.median(figures["plain"][name])
        guarded = statistics.median(figures["guarded"][name])
        result[name] = {"plain_rps": round(plain), "guarded_rps": round(guarded), "ratio": round(guarded / plain, 3)}
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    figures = asyncio.run(main(parser.parse_args().rounds))
    for name, value in figures.items():
        if isinstance(value, dict):
            print(f"{name:22} plain {value['plain_rps']:>7}/s  guarded {value['guarded_rps']:>7}/s  x{value['ratio']}")
    print(json.dumps(figures))
