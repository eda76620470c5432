"""Real `soundtime serve` instances on a :class:`~tests.support.netns.Network`, each with its own database in the
session's PostgreSQL (reached over its Unix socket, which works across network namespaces), every one seeded
with all the others, so they form a full mesh as soon as they start."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from soundtime.p2p.transport import node_id_of_secret
from tests.support.netns import Network
from tests.support.serve import Server, configured_server, free_udp_port, register, sigkill

#: The UDP port every instance listens on in its own namespace (the production default).
P2P_PORT = 11204


@dataclass
class Instance:
    """One instance: its server, database and node id; ``token`` is its administrator's."""

    index: int
    server: Server
    database: str
    node_id: str
    udp_port: int
    token: str = ""

    def client(self, timeout: float = 60) -> httpx.AsyncClient:
        """An HTTP client signed in as the instance's administrator."""
        return httpx.AsyncClient(
            base_url=self.server.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=timeout
        )


class Cluster:
    """``len(network.hosts)`` instances, one per host of ``network``."""

    def __init__(self, network: Network, home: Path, make_database: Callable[[str], str], tag: str) -> None:
        self.network = network
        self.instances: list[Instance] = []
        keys = [secrets.token_bytes(32) for _ in network.hosts]
        ports = [P2P_PORT if network.kind == "netns" else free_udp_port() for _ in network.hosts]
        for index, (host, key) in enumerate(zip(network.hosts, keys, strict=True)):
            workdir = home / f"instance{index}"
            workdir.mkdir(parents=True, exist_ok=True)
            key_file = workdir / "node.key"
            key_file.write_text(key.hex())
            key_file.chmod(0o600)
            seeds = [
                f"{node_id_of_secret(other)}@{peer.ip}:{port}"
                for other, peer, port in zip(keys, network.hosts, ports, strict=True)
                if other is not key
            ]
            database = make_database(f"soundtime_{tag}_{index}")
            server = configured_server(
                workdir,
                database,
                prefix=host.prefix,
                host=host.ip,
                P2P_ENABLED="true",
                P2P_BIND_PORT=str(ports[index]),
                P2P_SECRET_KEY_PATH=str(key_file),
                P2P_SEED_PEERS=",".join(seeds),
                LOG_LEVEL="info",
            )
            self.instances.append(Instance(index, server, database, node_id_of_secret(key), ports[index]))

    def start(self) -> None:
        """Start every instance side by side, wait until all are healthy, register an administrator on each."""
        for instance in self.instances:
            instance.server.launch()
        for instance in self.instances:
            instance.server.wait_healthy(within=120)
            instance.token = register(instance.server)

    async def restart(self, instance: Instance, down: float) -> None:
        """SIGKILL the instance, leave it down ``down`` seconds, start it again and wait until it is healthy."""
        sigkill(instance.server)
        await asyncio.sleep(down)
        await asyncio.to_thread(instance.server.start, within=120)

    def kill(self) -> None:
        """Stop every instance still running (teardown)."""
        for instance in self.instances:
            instance.server.kill()
