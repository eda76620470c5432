"""A Unix-socket relay in front of the test PostgreSQL, to take the database away from a running app and back."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


class DatabaseRelay:
    """Relays connections from ``directory`` to the cluster's socket while up; down closes every one of them."""

    def __init__(self, url: str, directory: Path | None = None) -> None:
        # A short path of its own: a Unix socket's path is limited to ~100 bytes.
        directory = directory or Path(tempfile.mkdtemp(prefix="pgrelay-"))
        socket_dir = parse_qs(urlsplit(url).query)["host"][0]
        self._target = next(Path(socket_dir).glob(".s.PGSQL.*"))
        self._directory = directory
        self.url = url.replace(f"host={socket_dir}", f"host={directory}")
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        """Accept and relay connections."""
        self._directory.mkdir(parents=True, exist_ok=True)
        self._server = await asyncio.start_unix_server(self._relay, self._directory / self._target.name)

    async def down(self) -> None:
        """Stop accepting and cut every relayed connection, as a crashed database server would."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        await asyncio.sleep(0.05)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_unix_connection(self._target)
        self._writers.update((writer, upstream_writer))
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, url: str) -> AsyncIterator[DatabaseRelay]:
        """A relay that is up on entry and down on exit."""
        relay = cls(url)
        await relay.up()
        try:
            yield relay
        finally:
            await relay.down()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()
