"""Initial schema: accounts, library, federation, instance settings and track health.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 05:46:24.810557
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The one normalisation of searchable text, shared by documents and queries: hyphens separate words (the
# default parser would read "Blink-182" as "blink" and the number "-182"), then the "simple" configuration
# (lower-casing, no stemming or stop words, which suits titles in any language).
SEARCH_DOCUMENT_FUNCTION = """
CREATE FUNCTION search_document(content text) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT to_tsvector('simple', translate(content, '-', ' '))
$$
"""
SEARCH_VECTOR_FUNCTION = """
CREATE FUNCTION tracks_search_vector_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector :=
        setweight(search_document(coalesce(NEW.title, '')), 'A')
        || setweight(search_document(coalesce((SELECT name FROM artists WHERE id = NEW.artist_id), '')), 'B')
        || setweight(search_document(coalesce((SELECT title FROM albums WHERE id = NEW.album_id), '')), 'C');
    RETURN NEW;
END
$$
"""
# The search box's text, tokenised by the same parser as the documents, as an AND of prefix matches: each
# lexeme is written 'lexeme':* with quotes doubled and backslashes escaped; at most 16 words; no words give an
# empty query (which matches nothing).
PREFIX_TSQUERY_FUNCTION = r"""
CREATE FUNCTION prefix_tsquery(query text) RETURNS tsquery
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(
        (SELECT string_agg(
                    '''' || replace(replace(lexeme, '\', '\\'), '''', '''''') || ''':*', ' & '
                )
         FROM (SELECT lexeme FROM unnest(search_document(query)) LIMIT 16) AS words),
        ''
    )::tsquery
$$
"""
SEARCH_VECTOR_TRIGGER = """
CREATE TRIGGER tracks_search_vector BEFORE INSERT OR UPDATE OF title, artist_id, album_id ON tracks
FOR EACH ROW EXECUTE FUNCTION tracks_search_vector_update()
"""


def upgrade() -> None:
    op.execute(SEARCH_DOCUMENT_FUNCTION)
    op.create_table(
        "artists",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artists")),
        sa.UniqueConstraint("name", name=op.f("uq_artists_name")),
    )
    op.create_index(
        "ix_artists_fts",
        "artists",
        [sa.literal_column("search_document(name)")],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index("ix_artists_sort", "artists", [sa.literal_column("lower(name)"), "id"], unique=False)
    op.create_table(
        "covers",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("mime", sa.String(length=32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("hash ~ '^[0-9a-f]{64}$'", name=op.f("ck_covers_hash_hex")),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_covers")),
    )
    op.create_table(
        "imported_files",
        sa.Column("path", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_imported_files")),
    )
    op.create_index(op.f("ix_imported_files_content_hash"), "imported_files", ["content_hash"], unique=False)
    op.create_table(
        "instance_settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_instance_settings")),
    )
    op.create_table(
        "peers",
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("track_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("is_online", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("source", sa.String(length=16), server_default="manual", nullable=False),
        sa.Column(
            "addresses",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("relay_url", sa.String(length=255), nullable=True),
        sa.Column("sync_watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_catalog_push_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("node_id ~ '^[0-9a-f]{64}$'", name=op.f("ck_peers_node_id_hex")),
        sa.CheckConstraint(
            "source IN ('seed', 'manual', 'inbound', 'exchange', 'local')", name=op.f("ck_peers_source")
        ),
        sa.CheckConstraint("track_count >= 0", name=op.f("ck_peers_track_count_nonnegative")),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_peers")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('admin', 'user')", name=op.f("ck_users_role")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    op.create_index("uq_users_username_lower", "users", [sa.literal_column("lower(username)")], unique=True)
    op.create_table(
        "albums",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("artist_id", sa.Uuid(), nullable=False),
        sa.Column("year", sa.SmallInteger(), nullable=True),
        sa.Column("genre", sa.String(length=128), nullable=True),
        sa.Column("cover_hash", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["artist_id"], ["artists.id"], name=op.f("fk_albums_artist_id_artists"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["cover_hash"], ["covers.hash"], name=op.f("fk_albums_cover_hash_covers"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_albums")),
        sa.UniqueConstraint("title", "artist_id", name=op.f("uq_albums_title_artist_id")),
    )
    op.create_index(op.f("ix_albums_artist_id"), "albums", ["artist_id"], unique=False)
    op.create_index(op.f("ix_albums_cover_hash"), "albums", ["cover_hash"], unique=False)
    op.create_index(
        "ix_albums_fts",
        "albums",
        [sa.literal_column("search_document(title)")],
        unique=False,
        postgresql_using="gin",
    )
    op.create_index("ix_albums_sort", "albums", [sa.literal_column("lower(title)"), "id"], unique=False)
    op.create_table(
        "blocked_domains",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_blocked_domains_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocked_domains")),
        sa.UniqueConstraint("domain", name=op.f("uq_blocked_domains_domain")),
    )
    op.create_table(
        "peer_links",
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("neighbour_id", sa.String(length=64), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("neighbour_id ~ '^[0-9a-f]{64}$'", name=op.f("ck_peer_links_neighbour_id_hex")),
        sa.CheckConstraint("node_id <> neighbour_id", name=op.f("ck_peer_links_not_self")),
        sa.ForeignKeyConstraint(
            ["node_id"], ["peers.node_id"], name=op.f("fk_peer_links_node_id_peers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("node_id", "neighbour_id", name=op.f("pk_peer_links")),
    )
    op.create_index(op.f("ix_peer_links_neighbour_id"), "peer_links", ["neighbour_id"], unique=False)
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaced_by", sa.Uuid(), nullable=True),
        sa.Column("reissued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_refresh_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
    )
    op.create_index(op.f("ix_refresh_tokens_user_id"), "refresh_tokens", ["user_id"], unique=False)
    op.create_table(
        "tracks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("artist_id", sa.Uuid(), nullable=False),
        sa.Column("album_id", sa.Uuid(), nullable=True),
        sa.Column("track_number", sa.SmallInteger(), nullable=True),
        sa.Column("disc_number", sa.SmallInteger(), nullable=True),
        sa.Column("year", sa.SmallInteger(), nullable=True),
        sa.Column("genre", sa.String(length=128), nullable=True),
        sa.Column("duration_secs", sa.Float(), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("bitrate_kbps", sa.Integer(), nullable=True),
        sa.Column("sample_rate", sa.Integer(), nullable=True),
        sa.Column("channels", sa.SmallInteger(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("file_path", sa.String(length=1024), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), nullable=True),
        sa.Column("origin_node", sa.String(length=64), nullable=True),
        sa.Column("search_vector", postgresql.TSVECTOR(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("content_hash ~ '^[0-9a-f]{64}$'", name=op.f("ck_tracks_content_hash_hex")),
        sa.CheckConstraint(
            "origin_node IS NULL OR origin_node ~ '^[0-9a-f]{64}$'", name=op.f("ck_tracks_origin_node_hex")
        ),
        sa.CheckConstraint("duration_secs >= 0", name=op.f("ck_tracks_duration_nonnegative")),
        sa.CheckConstraint("file_size >= 0", name=op.f("ck_tracks_file_size_nonnegative")),
        sa.ForeignKeyConstraint(
            ["album_id"], ["albums.id"], name=op.f("fk_tracks_album_id_albums"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["artist_id"], ["artists.id"], name=op.f("fk_tracks_artist_id_artists"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["users.id"], name=op.f("fk_tracks_uploaded_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracks")),
        sa.UniqueConstraint("content_hash", name=op.f("uq_tracks_content_hash")),
    )
    op.create_index("ix_tracks_album_order", "tracks", ["album_id", "disc_number", "track_number"], unique=False)
    op.create_index(op.f("ix_tracks_artist_id"), "tracks", ["artist_id"], unique=False)
    op.create_index("ix_tracks_created", "tracks", ["created_at", "id"], unique=False)
    op.create_index(
        "ix_tracks_local_created",
        "tracks",
        ["created_at", "id"],
        unique=False,
        postgresql_where=sa.text("origin_node IS NULL"),
    )
    op.create_index("ix_tracks_search", "tracks", ["search_vector"], unique=False, postgresql_using="gin")
    op.create_index(op.f("ix_tracks_uploaded_by"), "tracks", ["uploaded_by"], unique=False)
    # The weighted search document of a track (title A, artist B, album C) is kept by a trigger, so every
    # path that writes tracks (upload, import, replication) indexes them the same way.
    op.execute(SEARCH_VECTOR_FUNCTION)
    op.execute(SEARCH_VECTOR_TRIGGER)
    op.execute(PREFIX_TSQUERY_FUNCTION)
    op.create_table(
        "remote_track_sources",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("track_id", sa.Uuid(), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("is_origin", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_count", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"],
            ["peers.node_id"],
            name=op.f("fk_remote_track_sources_node_id_peers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_remote_track_sources_track_id_tracks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remote_track_sources")),
        sa.UniqueConstraint("track_id", "node_id", name=op.f("uq_remote_track_sources_track_id_node_id")),
    )
    op.create_index(op.f("ix_remote_track_sources_node_id"), "remote_track_sources", ["node_id"], unique=False)
    op.create_table(
        "track_health",
        sa.Column("track_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="healthy", nullable=False),
        sa.Column("consecutive_failures", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("manually_dereferenced", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "state IN ('healthy', 'recovered', 'degraded', 'dereferenced')",
            name=op.f("ck_track_health_state"),
        ),
        sa.CheckConstraint("consecutive_failures >= 0", name=op.f("ck_track_health_failures_nonnegative")),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_track_health_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("track_id", name=op.f("pk_track_health")),
    )
    op.create_index(op.f("ix_track_health_state"), "track_health", ["state"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_track_health_state"), table_name="track_health")
    op.drop_table("track_health")
    op.drop_index(op.f("ix_remote_track_sources_node_id"), table_name="remote_track_sources")
    op.drop_table("remote_track_sources")
    op.execute("DROP FUNCTION prefix_tsquery(text)")
    op.execute("DROP TRIGGER tracks_search_vector ON tracks")
    op.execute("DROP FUNCTION tracks_search_vector_update()")
    op.drop_index(op.f("ix_tracks_uploaded_by"), table_name="tracks")
    op.drop_index("ix_tracks_search", table_name="tracks", postgresql_using="gin")
    op.drop_index("ix_tracks_local_created", table_name="tracks", postgresql_where=sa.text("origin_node IS NULL"))
    op.drop_index("ix_tracks_created", table_name="tracks")
    op.drop_index(op.f("ix_tracks_artist_id"), table_name="tracks")
    op.drop_index("ix_tracks_album_order", table_name="tracks")
    op.drop_table("tracks")
    op.drop_index(op.f("ix_refresh_tokens_user_id"), table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index(op.f("ix_peer_links_neighbour_id"), table_name="peer_links")
    op.drop_table("peer_links")
    op.drop_table("blocked_domains")
    op.drop_index("ix_albums_sort", table_name="albums")
    op.drop_index("ix_albums_fts", table_name="albums", postgresql_using="gin")
    op.drop_index(op.f("ix_albums_cover_hash"), table_name="albums")
    op.drop_index(op.f("ix_albums_artist_id"), table_name="albums")
    op.drop_table("albums")
    op.drop_index("uq_users_username_lower", table_name="users")
    op.drop_table("users")
    op.drop_table("peers")
    op.drop_table("instance_settings")
    op.drop_index(op.f("ix_imported_files_content_hash"), table_name="imported_files")
    op.drop_table("imported_files")
    op.drop_table("covers")
    op.drop_index("ix_artists_sort", table_name="artists")
    op.drop_index("ix_artists_fts", table_name="artists", postgresql_using="gin")
    op.drop_table("artists")
    op.execute("DROP FUNCTION search_document(text)")
