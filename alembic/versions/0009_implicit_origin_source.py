"""The peer that announced a replicated track is its source without a row of its own: ``track_sources`` is the
view every reader uses (the rows of ``remote_track_sources`` plus each track's origin, unless a row of the origin
says otherwise), and ``remote_track_sources.withdrawn`` marks an origin that is no source any more (it served
bytes that did not match the hash).

Measured at 250,000 replicated tracks (a page of 500 committed at a time, PostgreSQL CPU of the receiving backend):
the origin's row cost ~15-22 µs per track (its heap tuple, two btree entries, two foreign-key checks), against
~3 µs for the index on ``tracks.origin_node`` that counts what a peer offers.

Safe on a big database: the column is added with a constant default (no rewrite, a short exclusive lock); the
index is built ``CONCURRENTLY`` (writers go on, see :func:`soundtime.kit.migrations.replace_indexes_concurrently`);
the view is only a definition. Existing origin rows are kept: a row of the origin is allowed (it carries the
origin's failure count), so nothing is rewritten or deleted. Every step can run again. The downgrade gives every
track without one its origin's row back (one statement: a large table is written at once).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 19:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from soundtime.kit.migrations import replace_indexes_concurrently

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ORIGIN_INDEX = [("ix_tracks_origin", "ON tracks (origin_node) WHERE origin_node IS NOT NULL")]

# A track's origin is listed unless a row of the origin exists (the row speaks for it, withdrawn or not), and
# only while the origin is a peer of ours (forgetting a peer forgets it as a source, as the rows' cascade does).
TRACK_SOURCES_VIEW = """
CREATE OR REPLACE VIEW track_sources AS
SELECT s.track_id, s.node_id, s.is_origin, s.last_seen_at, s.failure_count
FROM remote_track_sources s
WHERE NOT s.withdrawn
UNION ALL
SELECT t.id, t.origin_node, true, t.created_at, 0
FROM tracks t
WHERE t.origin_node IS NOT NULL
  AND NOT EXISTS (SELECT FROM remote_track_sources s WHERE s.track_id = t.id AND s.node_id = t.origin_node)
  AND EXISTS (SELECT FROM peers p WHERE p.node_id = t.origin_node)
"""


def upgrade() -> None:
    op.execute("ALTER TABLE remote_track_sources ADD COLUMN IF NOT EXISTS withdrawn boolean NOT NULL DEFAULT false")
    replace_indexes_concurrently(ORIGIN_INDEX, [])
    op.execute(TRACK_SOURCES_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS track_sources")
    op.execute(
        "INSERT INTO remote_track_sources (track_id, node_id, is_origin) "
        "SELECT t.id, t.origin_node, true FROM tracks t JOIN peers p ON p.node_id = t.origin_node "
        "ON CONFLICT (track_id, node_id) DO NOTHING"
    )
    op.execute("DELETE FROM remote_track_sources WHERE withdrawn")
    replace_indexes_concurrently([], ORIGIN_INDEX)
    op.execute("ALTER TABLE remote_track_sources DROP COLUMN IF EXISTS withdrawn")
