"""Search and browsing at 250,000 tracks: stored search vectors for albums and artists, an exact-word query,
and indexes that keep every page and every search's candidate set bounded.

The indexes are built with ``CREATE INDEX CONCURRENTLY`` (writers go on while they build), see
:func:`soundtime.kit.migrations.replace_indexes_concurrently`. The two stored columns are ``GENERATED … STORED``:
adding one rewrites its table under an exclusive lock, short because albums and artists are the small tables
(20,000 albums and 5,000 artists: well under a second). Every step can run again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 04:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

from soundtime.kit.migrations import replace_indexes_concurrently

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The search box's words as whole words (no prefix matching), tokenised exactly as prefix_tsquery does: ranks
# whole-word matches before prefix matches of equal relevance.
EXACT_TSQUERY_FUNCTION = r"""
CREATE OR REPLACE FUNCTION exact_tsquery(query text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(
        (SELECT string_agg('''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || '''', ' & ')
         FROM (SELECT lexeme FROM unnest(search_document(query)) LIMIT 16) AS words),
        ''
    )::tsquery
$$
"""

#: (name, definition) of the indexes this revision adds.
NEW_INDEXES = [
    ("ix_albums_search", "ON albums USING gin (search_vector)"),
    ("ix_artists_search", "ON artists USING gin (search_vector)"),
    ("ix_albums_created", "ON albums (created_at, id)"),
    ("ix_artists_created", "ON artists (created_at, id)"),
    ("ix_tracks_artist_title", "ON tracks (artist_id, lower(title), id)"),
    ("ix_tracks_remote", "ON tracks (id) WHERE origin_node IS NOT NULL"),
    # the changes since a peer's watermark (catalog delta pushes): a range, not a scan of every track
    ("ix_tracks_local_updated", "ON tracks (updated_at, id) WHERE origin_node IS NULL"),
]
#: (name, definition) of the indexes they replace (the new ones serve their queries too).
OLD_INDEXES = [
    ("ix_albums_fts", "ON albums USING gin (search_document(title))"),
    ("ix_artists_fts", "ON artists USING gin (search_document(name))"),
    ("ix_tracks_artist_id", "ON tracks (artist_id)"),
]


def upgrade() -> None:
    op.execute(EXACT_TSQUERY_FUNCTION)
    for table, column in (("albums", "title"), ("artists", "name")):
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS search_vector tsvector "
            f"GENERATED ALWAYS AS (search_document({column})) STORED"
        )
    replace_indexes_concurrently(NEW_INDEXES, OLD_INDEXES)


def downgrade() -> None:
    replace_indexes_concurrently(OLD_INDEXES, NEW_INDEXES)
    op.execute("ALTER TABLE artists DROP COLUMN IF EXISTS search_vector")
    op.execute("ALTER TABLE albums DROP COLUMN IF EXISTS search_vector")
    op.execute("DROP FUNCTION IF EXISTS exact_tsquery(text)")
