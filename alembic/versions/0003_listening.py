"""Listeners' features: playlists, stars and ratings, play counts and history, the saved play queue.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 03:15:49.672713
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artist_annotations",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("artist_id", sa.Uuid(), nullable=False),
        sa.Column("starred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("play_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_played_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("play_count >= 0", name=op.f("ck_artist_annotations_play_count_nonnegative")),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name=op.f("ck_artist_annotations_rating_range")),
        sa.ForeignKeyConstraint(
            ["artist_id"], ["artists.id"], name=op.f("fk_artist_annotations_artist_id_artists"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_artist_annotations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "artist_id", name=op.f("pk_artist_annotations")),
    )
    op.create_index(op.f("ix_artist_annotations_artist_id"), "artist_annotations", ["artist_id"], unique=False)
    op.create_index(
        "ix_artist_annotations_starred",
        "artist_annotations",
        ["user_id", "starred_at"],
        unique=False,
        postgresql_where=sa.text("starred_at IS NOT NULL"),
    )
    op.create_table(
        "play_queues",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("current_position", sa.Integer(), nullable=True),
        sa.Column("position_ms", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("position_ms >= 0", name=op.f("ck_play_queues_position_nonnegative")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_play_queues_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_play_queues")),
    )
    op.create_table(
        "playlists",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("public", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 255", name=op.f("ck_playlists_name_length")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_playlists_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playlists")),
    )
    op.create_index(
        "ix_playlists_owner_name", "playlists", ["owner_id", sa.literal_column("lower(name)"), "id"], unique=False
    )
    op.create_index("ix_playlists_public", "playlists", ["public"], unique=False, postgresql_where=sa.text("public"))
    op.create_table(
        "album_annotations",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("album_id", sa.Uuid(), nullable=False),
        sa.Column("starred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("play_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_played_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("play_count >= 0", name=op.f("ck_album_annotations_play_count_nonnegative")),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name=op.f("ck_album_annotations_rating_range")),
        sa.ForeignKeyConstraint(
            ["album_id"], ["albums.id"], name=op.f("fk_album_annotations_album_id_albums"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_album_annotations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "album_id", name=op.f("pk_album_annotations")),
    )
    op.create_index(op.f("ix_album_annotations_album_id"), "album_annotations", ["album_id"], unique=False)
    op.create_index(
        "ix_album_annotations_played",
        "album_annotations",
        ["user_id", "last_played_at"],
        unique=False,
        postgresql_where=sa.text("play_count > 0"),
    )
    op.create_index(
        "ix_album_annotations_starred",
        "album_annotations",
        ["user_id", "starred_at"],
        unique=False,
        postgresql_where=sa.text("starred_at IS NOT NULL"),
    )
    op.create_table(
        "play_queue_entries",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("position >= 0", name=op.f("ck_play_queue_entries_position_nonnegative")),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_play_queue_entries_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["play_queues.user_id"],
            name=op.f("fk_play_queue_entries_user_id_play_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "position", name=op.f("pk_play_queue_entries")),
    )
    op.create_index(op.f("ix_play_queue_entries_track_id"), "play_queue_entries", ["track_id"], unique=False)
    op.create_table(
        "playlist_entries",
        sa.Column("playlist_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("position >= 0", name=op.f("ck_playlist_entries_position_nonnegative")),
        sa.ForeignKeyConstraint(
            ["playlist_id"],
            ["playlists.id"],
            name=op.f("fk_playlist_entries_playlist_id_playlists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_playlist_entries_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("playlist_id", "position", name=op.f("pk_playlist_entries")),
    )
    op.create_index(op.f("ix_playlist_entries_track_id"), "playlist_entries", ["track_id"], unique=False)
    op.create_table(
        "plays",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("track_id", sa.Uuid(), nullable=False),
        sa.Column("played_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["track_id"], ["tracks.id"], name=op.f("fk_plays_track_id_tracks"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_plays_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plays")),
    )
    op.create_index(op.f("ix_plays_track_id"), "plays", ["track_id"], unique=False)
    op.create_index("ix_plays_user_recent", "plays", ["user_id", "played_at", "id"], unique=False)
    op.create_table(
        "track_annotations",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("track_id", sa.Uuid(), nullable=False),
        sa.Column("starred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.SmallInteger(), nullable=True),
        sa.Column("play_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_played_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("play_count >= 0", name=op.f("ck_track_annotations_play_count_nonnegative")),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name=op.f("ck_track_annotations_rating_range")),
        sa.ForeignKeyConstraint(
            ["track_id"], ["tracks.id"], name=op.f("fk_track_annotations_track_id_tracks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_track_annotations_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "track_id", name=op.f("pk_track_annotations")),
    )
    op.create_index(
        "ix_track_annotations_played",
        "track_annotations",
        ["user_id", "play_count"],
        unique=False,
        postgresql_where=sa.text("play_count > 0"),
    )
    op.create_index(
        "ix_track_annotations_starred",
        "track_annotations",
        ["user_id", "starred_at"],
        unique=False,
        postgresql_where=sa.text("starred_at IS NOT NULL"),
    )
    op.create_index(op.f("ix_track_annotations_track_id"), "track_annotations", ["track_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_track_annotations_track_id"), table_name="track_annotations")
    op.drop_index(
        "ix_track_annotations_starred",
        table_name="track_annotations",
        postgresql_where=sa.text("starred_at IS NOT NULL"),
    )
    op.drop_index(
        "ix_track_annotations_played", table_name="track_annotations", postgresql_where=sa.text("play_count > 0")
    )
    op.drop_table("track_annotations")
    op.drop_index("ix_plays_user_recent", table_name="plays")
    op.drop_index(op.f("ix_plays_track_id"), table_name="plays")
    op.drop_table("plays")
    op.drop_index(op.f("ix_playlist_entries_track_id"), table_name="playlist_entries")
    op.drop_table("playlist_entries")
    op.drop_index(op.f("ix_play_queue_entries_track_id"), table_name="play_queue_entries")
    op.drop_table("play_queue_entries")
    op.drop_index(
        "ix_album_annotations_starred",
        table_name="album_annotations",
        postgresql_where=sa.text("starred_at IS NOT NULL"),
    )
    op.drop_index(
        "ix_album_annotations_played", table_name="album_annotations", postgresql_where=sa.text("play_count > 0")
    )
    op.drop_index(op.f("ix_album_annotations_album_id"), table_name="album_annotations")
    op.drop_table("album_annotations")
    op.drop_index("ix_playlists_public", table_name="playlists", postgresql_where=sa.text("public"))
    op.drop_index("ix_playlists_owner_name", table_name="playlists")
    op.drop_table("playlists")
    op.drop_table("play_queues")
    op.drop_index(
        "ix_artist_annotations_starred",
        table_name="artist_annotations",
        postgresql_where=sa.text("starred_at IS NOT NULL"),
    )
    op.drop_index(op.f("ix_artist_annotations_artist_id"), table_name="artist_annotations")
    op.drop_table("artist_annotations")
