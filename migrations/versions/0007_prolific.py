"""Prolific provider: studies, participant sessions, bonus payments, accounts; 'prolific' is a
known provider of projects and HITs.

Revision ID: 0007_prolific
Revises: 0004_answer_integrity
Create Date: 2026-12-01 07:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_prolific"
down_revision: str | Sequence[str] | None = "0004_answer_integrity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KNOWN = "provider IN ('mturk', 'link', 'prolific')"
_OLD = "provider IN ('mturk', 'link')"


def _providers(rule: str) -> None:
    for table in ("projects", "hits"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_provider_known"), type_="check")
            batch.create_check_constraint(op.f(f"ck_{table}_provider_known"), rule)


def upgrade() -> None:
    _providers(_KNOWN)
    op.create_table(
        "prolific_accounts",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("api_url", sa.String(length=300), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("prolific_project_id", sa.String(length=64), nullable=False),
        sa.Column("blocklist_group_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_prolific_accounts_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_prolific_accounts")),
    )
    op.create_table(
        "prolific_studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("internal_name", sa.String(length=200), nullable=False),
        sa.Column("api_url", sa.String(length=300), nullable=True),
        sa.Column("study_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.Column("completion_code", sa.String(length=32), nullable=False),
        sa.Column("places", sa.Integer(), nullable=False),
        sa.Column("reward_minor", sa.Integer(), nullable=False),
        sa.Column("estimated_minutes", sa.Integer(), nullable=False),
        sa.Column("maximum_minutes", sa.Integer(), nullable=False),
        sa.Column("excluded", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('intent', 'created', 'published', 'failed')",
            name=op.f("ck_prolific_studies_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_prolific_studies_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prolific_studies")),
        sa.UniqueConstraint("internal_name", name=op.f("uq_prolific_studies_internal_name")),
        sa.UniqueConstraint(
            "project_id", "batch", name=op.f("uq_prolific_studies_project_id_batch")
        ),
        sa.UniqueConstraint("study_id", name=op.f("uq_prolific_studies_study_id")),
    )
    op.create_table(
        "prolific_sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("study_row_id", sa.Integer(), nullable=False),
        sa.Column("hit_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=True),
        sa.Column("prolific_status", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('open', 'held', 'confirmed', 'released')",
            name=op.f("ck_prolific_sessions_state_known"),
        ),
        sa.ForeignKeyConstraint(
            ["hit_id"],
            ["hits.id"],
            name=op.f("fk_prolific_sessions_hit_id_hits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_row_id"],
            ["prolific_studies.id"],
            name=op.f("fk_prolific_sessions_study_row_id_prolific_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_prolific_sessions")),
        sa.UniqueConstraint(
            "study_row_id",
            "participant_id",
            name=op.f("uq_prolific_sessions_study_row_id_participant_id"),
        ),
    )
    op.create_index(
        op.f("ix_prolific_sessions_hit_id"), "prolific_sessions", ["hit_id"], unique=False
    )
    op.create_index(
        op.f("ix_prolific_sessions_study_row_id"),
        "prolific_sessions",
        ["study_row_id"],
        unique=False,
    )
    op.create_table(
        "prolific_payments",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("bonus_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("fees_minor", sa.Integer(), nullable=False),
        sa.Column("vat_minor", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('created', 'paying', 'paid')", name=op.f("ck_prolific_payments_state_known")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_prolific_payments_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_prolific_payments")),
    )


def downgrade() -> None:
    op.drop_table("prolific_payments")
    op.drop_index(op.f("ix_prolific_sessions_study_row_id"), table_name="prolific_sessions")
    op.drop_index(op.f("ix_prolific_sessions_hit_id"), table_name="prolific_sessions")
    op.drop_table("prolific_sessions")
    op.drop_table("prolific_studies")
    op.drop_table("prolific_accounts")
    _providers(_OLD)
