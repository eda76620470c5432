"""Artists' sort key stored (their name lower-cased without a leading article, as Subsonic's index sorts them) and
indexed, so an album list sorted by artist walks artists in order instead of sorting every album.

Adding a stored generated column rewrites ``artists`` under an exclusive lock: short, artists are the smallest of
the library's tables (5,000 at 250,000 tracks: well under a second). The index is built with ``CREATE INDEX
CONCURRENTLY`` (writers go on while it builds), see :func:`soundtime.kit.migrations.replace_indexes_concurrently`.
Every step can run again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

from soundtime.kit.migrations import replace_indexes_concurrently

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# soundtime.models.library.ARTIST_INDEX_KEY, written out: a migration keeps what it created.
INDEX_KEY = "regexp_replace(lower(name), '^(the|el|la|los|las|le|les) +', '')"
NEW_INDEXES = [("ix_artists_index_key", "ON artists (index_key, id)")]


def upgrade() -> None:
    op.execute(f"ALTER TABLE artists ADD COLUMN IF NOT EXISTS index_key text GENERATED ALWAYS AS ({INDEX_KEY}) STORED")
    replace_indexes_concurrently(NEW_INDEXES, [])


def downgrade() -> None:
    replace_indexes_concurrently([], NEW_INDEXES)
    op.execute("ALTER TABLE artists DROP COLUMN IF EXISTS index_key")
