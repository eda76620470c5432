"""Transcoding through a real `soundtime serve`: time to first byte, realtime factor, concurrent transcodes.

One 5-minute FLAC (44.1 kHz stereo: chords that change every second over quiet noise, about 55 % of the size of
white noise, as music) is uploaded to a server whose transcode cache is off (every request transcodes live). Then,
over HTTP on loopback:

- time to first byte of ``?format=opus&bitrate=128``, ``?format=mp3&bitrate=192`` and Opus from ``offset=150``
  (p50/p95 of sequential requests, each closed after its first byte), against the same figure for the stored file
  (``format`` absent) measured in the same run — the issue's target is p50 <= 150 ms;
- realtime factor of one transcode read as fast as possible (audio seconds / wall seconds), and the server's CPU
  seconds it cost (audio seconds per CPU second: what one core sustains);
- concurrent transcodes the machine sustains at >= 1x realtime: k streams read as fast as possible for a few
  seconds (k = 2, 4, 8, …), audio received per stream per wall second (Opus: the last Ogg page's granule
  position; MP3: bytes at the constant bitrate); the largest k whose slowest stream still got >= 1 s of audio
  per second.

The machine is shared (2 cores, other work running): the load average is reported with the figures.
Run from the repository root:  .venv/bin/python bench/transcode_bench.py
"""

from __future__ import annotations

import array
import asyncio
import json
import math
import os
import random
import struct
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import av  # noqa: E402
import httpx  # noqa: E402
from benchlib import Server, latency, migrated_database, private_cluster, process_cpu_seconds  # noqa: E402

TRACK_SECONDS = 300
RATE = 44100
TTFB_REQUESTS = 20
#: How long each concurrency step reads its streams (from the requests' start).
WINDOW = 6.0
STEPS = (2, 4, 8, 16, 32, 64, 128)
KBPS = {"opus": 128, "mp3": 192}


def make_flac(path: Path) -> None:
    """A 5-minute FLAC: ten seconds of chords over quiet noise (one chord a second), thirty times."""
    rng = random.Random(11)
    pcm = array.array("h")
    for _ in range(10):
        freqs = [110.0 * 2 ** (rng.randrange(36) / 12) for _ in range(3)]
        steps = [2 * math.pi * f / RATE for f in freqs]
        for n in range(RATE):
            value = sum(math.sin(step * n) for step in steps) * 6000 + rng.gauss(0, 600)
            sample = int(max(-32767, min(32767, value)))
            pcm.append(sample)
            pcm.append(sample // 2 + int(rng.gauss(0, 300)))
    block = pcm.tobytes() if sys.byteorder == "little" else _swapped(pcm)
    frame = av.AudioFrame(format="s16", layout="stereo", samples=10 * RATE)
    with av.open(str(path), "w", format="flac") as container:
        stream = container.add_stream("flac", rate=RATE)
        stream.codec_context.layout = "stereo"
        for repeat in range(TRACK_SECONDS // 10):
            frame.planes[0].update(block)
            frame.sample_rate = RATE
            frame.pts = repeat * 10 * RATE
            frame.time_base = Fraction(1, RATE)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _swapped(pcm: array.array[int]) -> bytes:
    copy = array.array("h", pcm)
    copy.byteswap()
    return copy.tobytes()


def upload(server: Server, token: str, path: Path) -> str:
    """The stream URL of the uploaded track."""
    with path.open("rb") as handle:
        reply = httpx.post(
            f"{server.base}/api/upload",
            files={"file": (path.name, handle, "application/octet-stream")},
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
    reply.raise_for_status()
    return f"{server.base}{reply.json()['track']['stream_url']}"


async def first_byte(client: httpx.AsyncClient, url: str) -> float:
    """Milliseconds from the request to the first body byte (the response is then closed)."""
    started = time.perf_counter()
    async with client.stream("GET", url) as response:
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            if chunk:
                break
    return (time.perf_counter() - started) * 1000


async def ttfb(client: httpx.AsyncClient, url: str) -> dict[str, float]:
    await first_byte(client, url)  # warm-up
    return latency([await first_byte(client, url) for _ in range(TTFB_REQUESTS)])


class Received:
    """Audio seconds in what a stream delivered so far."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.size = 0
        self.tail = b""

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.tail = (self.tail + chunk)[-65536:]

    def seconds(self) -> float:
        if self.fmt == "mp3":
            return self.size / (KBPS["mp3"] * 125)
        at = self.tail.rfind(b"OggS")
        while at >= 0 and len(self.tail) - at < 27:  # an incomplete page header
            at = self.tail.rfind(b"OggS", 0, at)
        if at < 0:
            return 0.0
        (granule,) = struct.unpack_from("<q", self.tail, at + 6)
        return max(0, granule - 312) / 48000 if granule > 0 else 0.0


async def read_for(client: httpx.AsyncClient, url: str, fmt: str, until: float) -> float:
    """Audio seconds received from ``url`` until the monotonic time ``until``."""
    received = Received(fmt)
    try:
        async with client.stream("GET", url) as response:
            response.raise_for_status()
            async for chunk in response.aiter_raw():
                received.add(chunk)
                if time.monotonic() >= until:
                    break
    except httpx.HTTPError:
        return 0.0
    return received.seconds()


async def whole(client: httpx.AsyncClient, url: str, pid: int) -> dict[str, float]:
    """Realtime factor of one transcode read as fast as possible, and audio seconds per server CPU second."""
    cpu = process_cpu_seconds(pid)
    started = time.perf_counter()
    async with client.stream("GET", url) as response:
        response.raise_for_status()
        async for _ in response.aiter_raw():
            pass
    wall = time.perf_counter() - started
    cpu = process_cpu_seconds(pid) - cpu
    return {"realtime_factor": round(TRACK_SECONDS / wall, 1), "per_cpu_second": round(TRACK_SECONDS / cpu, 1)}


async def concurrency(client: httpx.AsyncClient, url: str, fmt: str) -> dict[str, object]:
    """The largest k of :data:`STEPS` at which every one of k simultaneous streams got >= 1x realtime."""
    sustained = 0
    slowest: dict[str, float] = {}
    for k in STEPS:
        until = time.monotonic() + WINDOW
        seconds = await asyncio.gather(*(read_for(client, url, fmt, until) for _ in range(k)))
        rate = min(seconds) / WINDOW
        slowest[str(k)] = round(rate, 2)
        if rate < 1.0:
            break
        sustained = k
        await asyncio.sleep(0.5)  # let the stopped transcodes' threads end
    return {"sustained": sustained, "slowest_realtime_by_k": slowest}


async def measure(stream_url: str, token: str, pid: int) -> dict[str, object]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=120, limits=limits, headers=headers) as client:
        urls = {
            "opus": f"{stream_url}?format=opus&bitrate={KBPS['opus']}",
            "mp3": f"{stream_url}?format=mp3&bitrate={KBPS['mp3']}",
        }
        first = {
            "raw_baseline": await ttfb(client, stream_url),
            "opus": await ttfb(client, urls["opus"]),
            "mp3": await ttfb(client, urls["mp3"]),
            "opus_offset_150s": await ttfb(client, urls["opus"] + "&offset=150"),
        }
        base = first["raw_baseline"]["p50"] or 1.0
        kinds = ("opus", "mp3", "opus_offset_150s")
        ratios = {f"{key}_p50_vs_raw": round(first[key]["p50"] / base, 1) for key in kinds}
        single = {fmt: await whole(client, url, pid) for fmt, url in urls.items()}
        parallel = {fmt: await concurrency(client, url, fmt) for fmt, url in urls.items()}
    return {"ttfb_ms": first, "ttfb_ratios": ratios, "single_stream": single, "concurrent_at_1x": parallel}


def main() -> None:
    started = time.perf_counter()
    with private_cluster("transcode-bench-") as (cluster, work):
        url = migrated_database(cluster, "bench")
        flac = work / "five-minutes.flac"
        make_flac(flac)
        flac_mb = round(flac.stat().st_size / 1e6, 1)
        server = Server(url, work / "data", TRANSCODE_CACHE_MAX_SIZE="0", TRANSCODE_MAX_CONCURRENT="512")
        try:
            server.wait_ready()
            token = server.register()
            stream_url = upload(server, token, flac)
            figures = asyncio.run(measure(stream_url, token, server.process.pid))
        finally:
            server.stop()
    figures |= {
        "track": {"seconds": TRACK_SECONDS, "flac_mb": flac_mb},
        "kbps": KBPS,
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "bench_seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
