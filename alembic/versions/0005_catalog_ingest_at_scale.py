"""Catalog ingest at 250,000 tracks: one definition of a track's search document, computed for a whole page by
the INSERT instead of row by row by the trigger; no index entries for tracks without an uploader.

The partial index is built with ``CREATE INDEX CONCURRENTLY`` (writers go on while it builds), see
:func:`soundtime.kit.migrations.replace_indexes_concurrently`. Every step can run again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 04:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from soundtime.kit.migrations import replace_indexes_concurrently

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A track's search document: title (weight A), artist (B), album (C). The trigger, catalog ingest and the
# ranking of peers' hits use it.
TRACK_DOCUMENT_FUNCTION = """
CREATE OR REPLACE FUNCTION track_document(title text, artist text, album text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(search_document(coalesce(title, '')), 'A')
        || setweight(search_document(coalesce(artist, '')), 'B')
        || setweight(search_document(coalesce(album, '')), 'C')
$$
"""
SEARCH_VECTOR_FUNCTION = """
CREATE OR REPLACE FUNCTION tracks_search_vector_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := track_document(
        NEW.title,
        (SELECT name FROM artists WHERE id = NEW.artist_id),
        (SELECT title FROM albums WHERE id = NEW.album_id));
    RETURN NEW;
END
$$
"""
# An INSERT that brings its vectors (catalog ingest) skips the per-row trigger; changes always recompute.
SEARCH_VECTOR_TRIGGERS = [
    "DROP TRIGGER IF EXISTS tracks_search_vector ON tracks",
    "DROP TRIGGER IF EXISTS tracks_search_vector_insert ON tracks",
    "CREATE TRIGGER tracks_search_vector_insert BEFORE INSERT ON tracks FOR EACH ROW "
    "WHEN (NEW.search_vector IS NULL) EXECUTE FUNCTION tracks_search_vector_update()",
    "CREATE TRIGGER tracks_search_vector BEFORE UPDATE OF title, artist_id, album_id ON tracks FOR EACH ROW "
    "EXECUTE FUNCTION tracks_search_vector_update()",
]
# What 0001 had.
OLD_SEARCH_VECTOR_FUNCTION = """
CREATE OR REPLACE FUNCTION tracks_search_vector_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector :=
        setweight(search_document(coalesce(NEW.title, '')), 'A')
        || setweight(search_document(coalesce((SELECT name FROM artists WHERE id = NEW.artist_id), '')), 'B')
        || setweight(search_document(coalesce((SELECT title FROM albums WHERE id = NEW.album_id), '')), 'C');
    RETURN NEW;
END
$$
"""
OLD_SEARCH_VECTOR_TRIGGERS = [
    "DROP TRIGGER IF EXISTS tracks_search_vector ON tracks",
    "DROP TRIGGER IF EXISTS tracks_search_vector_insert ON tracks",
    "CREATE TRIGGER tracks_search_vector BEFORE INSERT OR UPDATE OF title, artist_id, album_id ON tracks "
    "FOR EACH ROW EXECUTE FUNCTION tracks_search_vector_update()",
]
# Replicated tracks have no uploader: their NULLs need no index entries (the uploader's foreign key and the
# import's look-ups only ever ask for one user).
NEW_INDEXES = [("ix_tracks_uploader", "ON tracks (uploaded_by) WHERE uploaded_by IS NOT NULL")]
OLD_INDEXES = [("ix_tracks_uploaded_by", "ON tracks (uploaded_by)")]


def upgrade() -> None:
    op.execute(TRACK_DOCUMENT_FUNCTION)
    op.execute(SEARCH_VECTOR_FUNCTION)
    for statement in SEARCH_VECTOR_TRIGGERS:
        op.execute(statement)
    replace_indexes_concurrently(NEW_INDEXES, OLD_INDEXES)


def downgrade() -> None:
    replace_indexes_concurrently(OLD_INDEXES, NEW_INDEXES)
    for statement in OLD_SEARCH_VECTOR_TRIGGERS:
        op.execute(statement)
    op.execute(OLD_SEARCH_VECTOR_FUNCTION)
    op.execute("DROP FUNCTION track_document(text, text, text)")
