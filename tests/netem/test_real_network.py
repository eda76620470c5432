"""Five real instances on a slow, lossy network (100 ms round trip, 2 % loss each way), killed with SIGKILL and
restarted at random while tracks are uploaded and while catalogues sync. Afterwards every catalogue is complete,
remote tracks play byte for byte from another instance, and the health states end right: a track played while
its only source was down is degraded, and recovered once the source is back and a sweep ran; nothing else is
degraded or dereferenced.

Each instance runs in its own network namespace (:mod:`tests.support.netns`). Where namespaces are unavailable
(not root, no CAP_NET_ADMIN) the same scenario runs on loopback without latency or loss, and the output says so.
Every random choice comes from one seed, printed with what happened; ``NETEM_SEED=n`` replays a run.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from blake3 import blake3

from tests.support.audio import AudioFactory, TrackSpec
from tests.support.cluster import Cluster, Instance
from tests.support.netns import Network
from tests.support.serve import scalar, scalar_text, sigkill, until

INSTANCES = 5
TRACKS_EACH = 2
RESTARTS_DURING_UPLOADS = 2
RESTARTS_DURING_SYNC = 2


@pytest.fixture
def seed() -> int:
    return int(os.environ.get("NETEM_SEED") or secrets.randbelow(1_000_000))


@pytest.fixture
def network(tmp_path: Path, seed: int) -> Iterator[Network]:
    """The hosts on the emulated network; torn down after the instances, also when the test fails."""
    built = Network(tmp_path / "network", INSTANCES, delay_ms=50, loss=0.02, seed=seed).open()
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def cluster(network: Network, tmp_path: Path, make_database: Callable[[str], str]) -> Iterator[Cluster]:
    instances = Cluster(network, tmp_path, make_database, f"netem_{secrets.token_hex(3)}")
    try:
        yield instances
    finally:
        instances.kill()


def say(request: pytest.FixtureRequest, line: str) -> None:
    """A line in pytest's output, also when the test passes: what the scenario ran on and what it did."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"[netem] {line}")


async def upload(instance: Instance, name: str, data: bytes, deadline: float) -> None:
    """Upload until the instance takes it: a restart may cut a try off (200: it had kept the file already)."""
    while True:
        try:
            async with instance.client() as http:
                answer = await http.post("/api/upload", files={"file": (name, data)})
            if answer.status_code in (200, 201):
                return
            assert answer.status_code >= 500, answer.text
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{name} could not be uploaded to instance {instance.index}"
        await asyncio.sleep(0.2)


async def holds(instance: Instance, digest: str) -> bool:
    """Whether the instance's catalogue has a row for the track."""
    return await scalar(instance.database, f"SELECT count(*) FROM tracks WHERE content_hash = '{digest}'") > 0


async def track_id(instance: Instance, digest: str) -> str:
    return await scalar_text(instance.database, f"SELECT id::text FROM tracks WHERE content_hash = '{digest}'")


async def health_of(instance: Instance, track: str) -> str:
    async with instance.client() as http:
        page = (await http.get("/api/admin/remote-tracks", params={"limit": 100})).json()
    states: dict[str, str] = {item["id"]: item["state"] for item in page["items"]}
    return states[track]


async def troubles(instance: Instance) -> list[tuple[str, str, str | None]]:
    """(title, state, last error) of the instance's replicated tracks that are not healthy."""
    async with instance.client() as http:
        page = (await http.get("/api/admin/remote-tracks", params={"limit": 100})).json()
    return [(t["title"], t["state"], t["last_error"]) for t in page["items"] if t["state"] != "healthy"]


def log_tail(instance: Instance, lines: int = 40) -> str:
    """The instance's last log lines about federation and fetches (its own log: each runs at LOG_LEVEL=info)."""
    text = instance.server.log.read_text(errors="replace").splitlines()
    kept = [line for line in text if "uvicorn.access" not in line and "alembic" not in line]
    return "\n".join(kept[-lines:])


async def sweep(instance: Instance) -> dict[str, int]:
    """Run a health sweep on the instance; its state counts (and total) once a sweep started now has finished."""
    since = datetime.now(UTC)
    async with instance.client() as http:
        started = await http.post("/api/admin/p2p/health/sweep")
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 60
        while True:
            summary = (await http.get("/api/admin/p2p/health")).json()
            last = summary["last_sweep"]
            if not summary["sweep_running"] and last and datetime.fromisoformat(last["started_at"]) >= since:
                counts: dict[str, int] = {**summary["counts"], "total": summary["total"]}
                return counts
            assert time.monotonic() < deadline, f"instance {instance.index}: the health sweep did not finish"
            await asyncio.sleep(0.2)


@pytest.mark.timeout(300)
async def test_five_instances_on_a_lossy_network_converge_play_and_end_healthy(
    request: pytest.FixtureRequest, network: Network, cluster: Cluster, audio: AudioFactory, tmp_path: Path
) -> None:
    seed = network.seed
    rng = random.Random(seed)  # every random choice of the scenario
    say(request, f"seed {seed} (NETEM_SEED={seed} replays it) on {network.describe()}")
    began = time.monotonic()
    plan: list[tuple[Instance, str, bytes]] = []
    for instance in cluster.instances:
        for number in range(TRACKS_EACH):
            name = f"i{instance.index}-{number}.flac"
            spec = TrackSpec(
                title=f"Song {number} of {instance.index}",
                artist=f"Band {instance.index}",
                album=f"Album {instance.index}",
                track_number=number + 1,
                duration=3.0,
                frequency=220.0 + 40 * instance.index + 10 * number,
            )
            plan.append((instance, name, audio.make(tmp_path / "audio" / name, "flac", spec).read_bytes()))
    origins = {blake3(data).hexdigest(): (instance, data) for instance, _, data in plan}
    assert len(origins) == INSTANCES * TRACKS_EACH
    await asyncio.to_thread(cluster.start)
    events = [f"{INSTANCES} instances up in {time.monotonic() - began:.1f} s"]

    async def chaos(count: int, phase: str) -> None:
        for _ in range(count):
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            victim, down = cluster.instances[rng.randrange(INSTANCES)], rng.uniform(0.5, 2.0)
            events.append(f"{time.monotonic() - began:.1f}s kill -9 instance {victim.index} {phase}, {down:.1f}s down")
            await cluster.restart(victim, down)

    async def uploads() -> None:
        deadline = time.monotonic() + 120
        for instance, name, data in plan:
            await upload(instance, name, data, deadline)

    # 1. Uploads while instances are killed and restarted: each instance keeps its own, once.
    await asyncio.gather(uploads(), chaos(RESTARTS_DURING_UPLOADS, "during the uploads"))
    for instance in cluster.instances:
        assert await scalar(instance.database, "SELECT count(*) FROM tracks WHERE origin_node IS NULL") == TRACKS_EACH

    # 2. Catalogues sync while instances are killed and restarted: every one ends with every track.
    uploaded = time.monotonic()
    await chaos(RESTARTS_DURING_SYNC, "during the sync")

    async def missing() -> dict[int, list[str]]:
        absent: dict[int, list[str]] = {}
        for instance in cluster.instances:
            for digest, (origin, _) in origins.items():
                if not await holds(instance, digest):
                    absent.setdefault(instance.index, []).append(f"{digest[:12]} of {origin.index}")
        return absent

    async def converged() -> bool:
        return not await missing()

    try:
        await until(converged, "every catalogue complete", within=120)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; missing per instance: {await missing()}; seed {seed}; {events}") from None
    events.append(f"catalogues complete {time.monotonic() - uploaded:.1f} s after the last upload")

    # 3. A track whose only source is down cannot be played (503) and is degraded.
    source, listener = rng.sample(cluster.instances, 2)
    digest = next(d for d, (origin, _) in origins.items() if origin is source)
    remote = await track_id(listener, digest)
    events.append(
        f"{time.monotonic() - began:.1f}s kill -9 instance {source.index}; its track played on {listener.index}"
    )
    sigkill(source.server)
    async with listener.client() as http:
        refused = await http.get(f"/api/tracks/{remote}/stream")
    assert refused.status_code == 503, refused.text
    assert await health_of(listener, remote) == "degraded"
    restarted = datetime.now(UTC)
    await asyncio.to_thread(source.server.start, within=120)
    seen = (
        f"SELECT count(*) FROM peers WHERE node_id = '{source.node_id}' AND is_online "
        f"AND last_seen_at > '{restarted.isoformat()}'"
    )

    async def source_back() -> bool:  # it contacted the listener since its restart
        return await scalar(listener.database, seen) > 0

    await until(source_back, f"instance {source.index} back in contact with {listener.index}", within=60)

    # 4. With everyone back, a sweep: the played track recovered, nothing degraded or dereferenced anywhere. A
    # probe that fails in the first sweep (the source has just started) is said, and the sweep runs once more.
    counts = await asyncio.gather(*(sweep(instance) for instance in cluster.instances))
    if any(count["degraded"] for count in counts):
        events.extend(
            [
                f"after the first sweep, instance {instance.index}: {trouble}"
                for instance in cluster.instances
                if (trouble := await troubles(instance))
            ]
        )
        await asyncio.sleep(2)
        counts = await asyncio.gather(*(sweep(instance) for instance in cluster.instances))
    remote_tracks = len(origins) - TRACKS_EACH
    for instance, count in zip(cluster.instances, counts, strict=True):
        assert (count["degraded"], count["dereferenced"], count["total"]) == (0, 0, remote_tracks), (
            f"instance {instance.index}: {count}, {await troubles(instance)}; seed {seed}; {events}"
        )
    assert await health_of(listener, remote) == "recovered"

    # 5. Remote playback, byte for byte: the recovered track, and another chosen at random.
    other = rng.choice(cluster.instances)
    other_digest = rng.choice([d for d, (origin, _) in origins.items() if origin is not other])
    for instance, wanted in ((listener, digest), (other, other_digest)):
        async with instance.client() as http:
            played = await http.get(f"/api/tracks/{await track_id(instance, wanted)}/stream")
        assert (played.status_code, played.content) == (200, origins[wanted][1]), (
            f"instance {instance.index} playing a track of instance {origins[wanted][0].index}: "
            f"{played.status_code} {played.text[:300] if played.status_code != 200 else ''}; "
            f"{await troubles(instance)}; seed {seed}; {events}\n"
            f"log of instance {instance.index}:\n{log_tail(instance)}"
        )

    stats = network.stats()
    if network.kind == "netns":  # the network really was slow and lossy
        assert stats["delayed"] > 0, stats
        assert stats["dropped_loss"] > 0, stats
    for line in events:
        say(request, line)
    say(request, f"wire: {stats}; whole scenario {time.monotonic() - began:.1f} s")
