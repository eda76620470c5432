"""P2P benchmark: blob throughput of the iroh transport and catalog ingest, between processes on loopback.

Run from the repository root with the project's environment:  .venv/bin/python bench/p2p_bench.py

- A child process runs a serving :class:`IrohTransport` that answers a FetchTrack-like request (one JSON frame, FIN)
  with a 4-byte length and N bytes written in 512 KiB chunks, like the real FetchTrack handler.
- Blob throughput with the send patch, and without it (the child disables the patch; a smaller payload, since
  the unpatched path copies ~5-7 MB/s). The CPU time the sending process spends per GB is reported for both.
- Ceiling: the same bytes over a plain asyncio TCP connection on loopback between the same two processes.
- Catalog ingest (bench/catalog_sync.py): a node whose database holds 20,000 tracks pushes its catalog to a
  second node in another process after that node pings it; tracks/s until every row is committed in the receiver.

Targets (2 cores): patched >= 150 MB/s, patched/unpatched >= 20x, catalog ingest >= 10,000 tracks/s (issue 9:
the 20,000-track figure measured here, and bench/catalog_sync.py 250000).
The last line printed is one JSON object with the figures (MB = 10^6 bytes).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import statistics
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
sys.path.insert(0, str(ROOT))

from soundtime.p2p.transport import (  # noqa: E402
    IrohTransport,
    PeerAddress,
    PeerConnection,
    Stream,
    set_send_patch,
)

CHUNK = 512 * 1024
SEED = 20240601
PATCHED_SIZE = 128 * 1024 * 1024
UNPATCHED_SIZE = 6 * 1024 * 1024
TCP_SIZE = PATCHED_SIZE
VERIFY_SIZE = 16 * 1024 * 1024
RUNS = 3
MB = 1_000_000


def payload_chunks() -> list[bytes]:
    """The eight distinct chunks a payload cycles through (the same in both processes)."""
    rng = random.Random(SEED)
    return [rng.randbytes(CHUNK) for _ in range(8)]


def payload_digest(size: int) -> str:
    digest = hashlib.blake2b()
    for piece in _pieces(payload_chunks(), size):
        digest.update(piece)
    return digest.hexdigest()


def _pieces(chunks: list[bytes], size: int) -> list[bytes]:
    pieces, sent = [], 0
    while sent < size:
        chunk = chunks[(sent // CHUNK) % len(chunks)][: size - sent]
        pieces.append(chunk)
        sent += len(chunk)
    return pieces


# --- the serving child ----------------------------------------------------------------------------------------


async def serve(patch: bool) -> None:
    """Child process: serve blobs over iroh and TCP until stdin closes."""
    set_send_patch(patch)
    chunks = payload_chunks()

    async def on_stream(_: PeerConnection, stream: Stream) -> None:
        request = json.loads(await stream.read_frame(1 << 20, timeout=10))
        size = int(request["FetchTrack"]["hash"])
        await stream.write(struct.pack(">I", size), timeout=30)
        for piece in _pieces(chunks, size):
            await stream.write(piece, timeout=30)

    async def on_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (size,) = struct.unpack(">Q", await reader.readexactly(8))
        for piece in _pieces(chunks, size):
            writer.write(piece)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def admit(_: str) -> bool:
        return True

    transport = await IrohTransport.start(
        secret_key=os.urandom(32), port=0, relay=False, on_stream=on_stream, admit=admit
    )
    tcp = await asyncio.start_server(on_tcp, "127.0.0.1", 0)
    tcp_port = tcp.sockets[0].getsockname()[1]
    ready = {"node_id": transport.node_id, "port": transport.bound_ports()[0], "tcp_port": tcp_port}
    print(json.dumps(ready), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    tcp.close()
    await transport.close()


# --- the measuring parent -------------------------------------------------------------------------------------


class Child:
    """A serving child process."""

    def __init__(self, process: asyncio.subprocess.Process, ready: dict[str, Any]) -> None:
        self.process = process
        self.address = PeerAddress(ready["node_id"], (f"127.0.0.1:{ready['port']}",))
        self.tcp_port: int = ready["tcp_port"]
        self.cpu = psutil.Process(process.pid)

    @classmethod
    async def start(cls, *, patch: bool) -> Child:
        arguments = [sys.executable, str(SCRIPT), "--serve"] + ([] if patch else ["--no-patch"])
        process = await asyncio.create_subprocess_exec(
            *arguments, cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert process.stdout is not None
        ready = json.loads(await asyncio.wait_for(process.stdout.readline(), 60))
        return cls(process, ready)

    def cpu_seconds(self) -> float:
        times = self.cpu.cpu_times()
        return float(times.user + times.system)

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


async def fetch_blob(conn: PeerConnection, size: int, digest: Any = None) -> int:
    """One FetchTrack-like request; returns the number of body bytes received."""
    stream = await conn.open_stream(timeout=10)
    await stream.write_frame(json.dumps({"FetchTrack": {"hash": str(size)}}).encode(), timeout=10)
    await stream.finish(ack_timeout=10)
    (announced,) = struct.unpack(">I", await stream.read_exact(4, timeout=10))
    received = 0
    while chunk := await stream.read_chunk(1024 * 1024, stall_timeout=15):
        received += len(chunk)
        if digest is not None:
            digest.update(chunk)
    if received != announced:
        raise RuntimeError(f"received {received} of {announced} bytes")
    return received


async def fetch_tcp(port: int, size: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(struct.pack(">Q", size))
    received = 0
    while chunk := await reader.read(1024 * 1024):
        received += len(chunk)
    writer.close()
    await writer.wait_closed()
    return received


async def timed(child: Child, runs: int, transfer: Callable[[], Awaitable[int]]) -> tuple[float, float]:
    """Median MB/s over ``runs`` transfers, and the child's CPU seconds per GB sent."""
    rates, cpu, sent = [], 0.0, 0
    for _ in range(runs):
        cpu_before, started = child.cpu_seconds(), time.perf_counter()
        size = await transfer()
        elapsed = time.perf_counter() - started
        cpu += child.cpu_seconds() - cpu_before
        sent += size
        rates.append(size / elapsed / MB)
    return statistics.median(rates), cpu / (sent / 1e9)


async def _client() -> IrohTransport:
    async def no_streams(_: PeerConnection, stream: Stream) -> None:
        await stream.stop()

    async def admit(_: str) -> bool:
        return True

    return await IrohTransport.start(secret_key=os.urandom(32), port=0, relay=False, on_stream=no_streams, admit=admit)


async def _measure_child(client: IrohTransport, *, patch: bool, size: int, runs: int) -> dict[str, float]:
    child = await Child.start(patch=patch)
    try:
        conn = await client.connect(child.address)
        digest = hashlib.blake2b()
        verify = min(size, VERIFY_SIZE)
        await fetch_blob(conn, verify, digest)
        if digest.hexdigest() != payload_digest(verify):
            raise RuntimeError("the received bytes differ from the bytes sent")
        label = "patched" if patch else "unpatched"
        rate, cpu = await timed(child, runs, lambda: fetch_blob(conn, size))
        figures = {f"blob_mb_s_{label}": rate, f"sender_cpu_s_per_gb_{label}": cpu, f"blob_bytes_{label}": size}
        if patch:
            tcp_rate, tcp_cpu = await timed(child, runs, lambda: fetch_tcp(child.tcp_port, TCP_SIZE))
            figures |= {"tcp_mb_s": tcp_rate, "sender_cpu_s_per_gb_tcp": tcp_cpu}
        client.close_peer(child.address.node_id)
        return figures
    finally:
        await child.stop()


async def measure_blob_throughput() -> dict[str, float]:
    """Blob throughput with and without the send patch, and the TCP ceiling, between two processes."""
    client = await _client()
    try:
        figures = await _measure_child(client, patch=True, size=PATCHED_SIZE, runs=RUNS)
        figures |= await _measure_child(client, patch=False, size=UNPATCHED_SIZE, runs=2)
    finally:
        await client.close()
    figures["patch_speedup"] = figures["blob_mb_s_patched"] / figures["blob_mb_s_unpatched"]
    figures["iroh_vs_tcp"] = figures["blob_mb_s_patched"] / figures["tcp_mb_s"]
    return {key: round(value, 3) if isinstance(value, float) else value for key, value in figures.items()}


async def measure_catalog_ingest() -> dict[str, float]:
    """Catalog ingest end to end (bench/catalog_sync.py, run in its own processes): 20,000 tracks A -> B."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT.with_name("catalog_sync.py")), "20000", stdout=asyncio.subprocess.PIPE
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"catalog_sync.py failed with exit code {process.returncode}")
    figures: dict[str, float] = json.loads(output.decode().strip().splitlines()[-1])
    return figures


SECTIONS: list[Callable[[], Awaitable[dict[str, float]]]] = [measure_blob_throughput, measure_catalog_ingest]


async def run_all() -> dict[str, float]:
    figures: dict[str, float] = {}
    for section in SECTIONS:
        started = time.perf_counter()
        result = await section()
        print(f"{section.__name__}: {result} ({time.perf_counter() - started:.1f} s)", flush=True)
        figures |= result
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-patch", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        asyncio.run(serve(patch=not arguments.no_patch))
        return
    print(json.dumps(asyncio.run(run_all())))


if __name__ == "__main__":
    main()
