"""Five instances on the emulated network (100 ms round trip, 2 % loss; tests/support/netns.py) against the same
five on loopback, in one run: how long until every catalogue holds the tracks uploaded to one instance, and the
time to the first byte of a remote track played cold on each of the others.

Needs root (network namespaces); without them only the loopback figures are printed, with the reason.
Run from the repository root:  .venv/bin/python bench/netem_bench.py
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import benchlib  # noqa: E402
from blake3 import blake3  # noqa: E402

from soundtime.kit.embedded_pg import EmbeddedPostgres  # noqa: E402
from tests.support.audio import AudioFactory, TrackSpec  # noqa: E402
from tests.support.cluster import Cluster  # noqa: E402
from tests.support.netns import Network, namespaces_unavailable  # noqa: E402
from tests.support.serve import scalar, scalar_text  # noqa: E402

INSTANCES = 5
TRACKS = 20


async def measure(network: Network, cluster: Cluster, files: list[bytes]) -> dict[str, float]:
    """Upload ``files`` to instance 0; seconds until all catalogues hold them; cold remote TTFB on the others."""
    origin, others = cluster.instances[0], cluster.instances[1:]
    digests = [blake3(data).hexdigest() for data in files]
    listed = ",".join(f"'{d}'" for d in digests)
    began = time.monotonic()
    async with origin.client() as http:
        for number, data in enumerate(files):
            answer = await http.post("/api/upload", files={"file": (f"{number}.flac", data)})
            assert answer.status_code == 201, answer.text
    uploaded = time.monotonic()
    while True:
        counts = [
            await scalar(i.database, f"SELECT count(*) FROM tracks WHERE content_hash IN ({listed})") for i in others
        ]
        if all(count == len(files) for count in counts):
            break
        assert time.monotonic() - uploaded < 180, f"catalogues incomplete: {counts}"
        await asyncio.sleep(0.05)
    converged = time.monotonic()
    ttfb = []
    for number, instance in enumerate(others):
        track = await scalar_text(
            instance.database, f"SELECT id::text FROM tracks WHERE content_hash = '{digests[number]}'"
        )
        async with instance.client() as http:
            started = time.monotonic()
            async with http.stream("GET", f"/api/tracks/{track}/stream") as response:
                assert response.status_code == 200
                first = None
                body = b""
                async for chunk in response.aiter_bytes():
                    first = first or time.monotonic()
                    body += chunk
            assert body == files[number]
            assert first is not None
            ttfb.append(first - started)
    return {
        "upload_s": round(uploaded - began, 2),
        "convergence_after_upload_s": round(converged - uploaded, 2),
        "remote_ttfb_median_ms": round(statistics.median(ttfb) * 1000, 1),
        "remote_ttfb_max_ms": round(max(ttfb) * 1000, 1),
        **({"wire": network.stats()} if network.kind == "netns" else {}),
    }


def run(kind: str, pg: EmbeddedPostgres, work: Path, files: list[bytes]) -> dict[str, float]:
    """The figures of five instances on ``kind`` (``netns`` or ``loopback``)."""
    network = Network(work / kind, INSTANCES, delay_ms=50, loss=0.02, seed=1).open(loopback=kind == "loopback")
    try:

        def make_database(name: str) -> str:
            pg.create_database(name)
            return pg.url(name)

        cluster = Cluster(network, work / f"{kind}-instances", make_database, f"bench_{kind}")
        try:
            cluster.start()
            return asyncio.run(measure(network, cluster, files))
        finally:
            cluster.kill()
    finally:
        network.close()


def main() -> None:
    reason = namespaces_unavailable()
    with benchlib.private_cluster("soundtime-netem-bench-") as (pg, work):
        audio = AudioFactory(work)
        files = [
            audio.make(
                work / "audio" / f"{n}.flac",
                "flac",
                TrackSpec(title=f"Bench {n}", duration=5.0, frequency=200.0 + 15 * n),
            ).read_bytes()
            for n in range(TRACKS)
        ]
        figures: dict[str, object] = {
            "instances": INSTANCES,
            "tracks": TRACKS,
            "loopback": run("loopback", pg, work, files),
        }
        print("loopback:", figures["loopback"], flush=True)
        if reason is None:
            netem = run("netns", pg, work, files)
            figures["netem_100ms_rtt_2pct_loss"] = netem
            loop = figures["loopback"]
            assert isinstance(loop, dict)
            figures["convergence_ratio"] = round(
                netem["convergence_after_upload_s"] / max(loop["convergence_after_upload_s"], 0.001), 2
            )
            figures["ttfb_ratio"] = round(netem["remote_ttfb_median_ms"] / max(loop["remote_ttfb_median_ms"], 0.001), 2)
        else:
            figures["netem_unavailable"] = reason
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
