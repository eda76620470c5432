"""Accounts can be disabled, and their tokens revoked before they expire.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("users", sa.Column("token_generation", sa.Integer(), server_default="0", nullable=False))
    op.create_check_constraint(op.f("ck_users_token_generation_nonnegative"), "users", "token_generation >= 0")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_users_token_generation_nonnegative"), "users", type_="check")
    op.drop_column("users", "token_generation")
    op.drop_column("users", "disabled_at")
