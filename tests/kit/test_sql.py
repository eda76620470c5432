"""``any_of``: one array parameter, so a list of any length is the same statement (prepared once per connection)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from soundtime.kit.db import Database
from soundtime.kit.sql import any_of
from soundtime.models import Peer

KNOWN = [f"{n:064x}" for n in range(1, 6)]


def _sql(count: int) -> str:
    stmt = select(Peer.node_id).where(any_of(Peer.node_id, [f"{n:064x}" for n in range(count)]))
    dialect = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]
    # as sent to the server: an IN list would be written out with one parameter per value
    return str(stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True}))


def test_lists_of_any_length_are_one_statement() -> None:
    assert _sql(1) == _sql(3) == _sql(1000)


@pytest.mark.parametrize("count", [0, 1, 5, 1000])
async def test_the_rows_whose_value_is_in_the_list_are_found(db: Database, count: int) -> None:
    async with db.transaction() as session:
        session.add_all(Peer(node_id=node_id, source="manual") for node_id in KNOWN)
    wanted = [*KNOWN[:count], *(f"{n:064x}" for n in range(1000, 1000 + max(count - len(KNOWN), 0)))]
    async with db.transaction() as session:
        found = set((await session.scalars(select(Peer.node_id).where(any_of(Peer.node_id, wanted)))).all())
    assert found == set(KNOWN[:count])
