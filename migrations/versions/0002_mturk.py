"""mturk publishing: publish settings, HIT types, HITs, hit assignments, spend ledger

Revision ID: 0002_mturk
Revises: 0001_crowd_core
Create Date: 2026-11-26 19:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_mturk"
down_revision: str | Sequence[str] | None = "0001_crowd_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY = sa.Numeric(precision=12, scale=2, asdecimal=False)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "publish_settings",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("hit_options", sa.JSON(), nullable=False),
        sa.Column("review_policy", sa.JSON(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_publish_settings_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_publish_settings")),
    )
    op.create_table(
        "mturk_hit_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_url", sa.String(length=300), nullable=False),
        sa.Column("reward", MONEY, nullable=False),
        sa.Column("hit_type_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_mturk_hit_types_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mturk_hit_types")),
        sa.UniqueConstraint(
            "project_id",
            "endpoint_url",
            "reward",
            name=op.f("uq_mturk_hit_types_project_id_endpoint_url_reward"),
        ),
    )
    op.create_table(
        "hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("annotation", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("endpoint_url", sa.String(length=300), nullable=True),
        sa.Column("hit_type_id", sa.String(length=64), nullable=True),
        sa.Column("mturk_hit_id", sa.String(length=64), nullable=True),
        sa.Column("max_assignments", sa.Integer(), nullable=False),
        sa.Column("reward", MONEY, nullable=False),
        sa.Column("n_questions", sa.Integer(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("lifetime_seconds", sa.Integer(), nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("mturk_status", sa.String(length=32), nullable=True),
        sa.Column("n_pending", sa.Integer(), nullable=False),
        sa.Column("n_available", sa.Integer(), nullable=False),
        sa.Column("n_completed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("published_at", TS, nullable=True),
        sa.Column("synced_at", TS, nullable=True),
        sa.CheckConstraint("provider IN ('mturk', 'link')", name=op.f("ck_hits_provider_known")),
        sa.CheckConstraint(
            "state IN ('intent', 'published', 'failed', 'disposed')",
            name=op.f("ck_hits_state_known"),
        ),
        sa.CheckConstraint("max_assignments >= 1", name=op.f("ck_hits_max_assignments_positive")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_hits_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hits")),
        sa.UniqueConstraint("mturk_hit_id", name=op.f("uq_hits_mturk_hit_id")),
        sa.UniqueConstraint(
            "project_id", "batch", "seq", name=op.f("uq_hits_project_id_batch_seq")
        ),
        sa.UniqueConstraint("token", name=op.f("uq_hits_token")),
    )
    op.create_index("ix_hits_project_state", "hits", ["project_id", "state"], unique=False)
    op.create_table(
        "hit_assignments",
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("hit_id", sa.Integer(), nullable=False),
        sa.Column("worker_external_id", sa.String(length=200), nullable=False),
        sa.Column("mturk_status", sa.String(length=16), nullable=True),
        sa.Column("review", sa.String(length=16), nullable=False),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("gold_correct", sa.Integer(), nullable=True),
        sa.Column("gold_total", sa.Integer(), nullable=True),
        sa.Column("bonus", MONEY, nullable=True),
        sa.Column("quiz", sa.JSON(), nullable=True),
        sa.Column("submitted_via", sa.String(length=16), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("reviewed_at", TS, nullable=True),
        sa.CheckConstraint(
            "review IN ('pending', 'approved', 'rejected')",
            name=op.f("ck_hit_assignments_review_known"),
        ),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_hit_assignments_assignment_id_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["hit_id"],
            ["hits.id"],
            name=op.f("fk_hit_assignments_hit_id_hits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("assignment_id", name=op.f("pk_hit_assignments")),
    )
    op.create_index(op.f("ix_hit_assignments_hit_id"), "hit_assignments", ["hit_id"], unique=False)
    op.create_table(
        "spend_ledger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("hit_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["hit_id"], ["hits.id"], name=op.f("fk_spend_ledger_hit_id_hits"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_spend_ledger_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spend_ledger")),
        sa.UniqueConstraint("key", name=op.f("uq_spend_ledger_key")),
    )
    op.create_index(
        "ix_spend_ledger_project_kind", "spend_ledger", ["project_id", "kind"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_spend_ledger_project_kind", table_name="spend_ledger")
    op.drop_table("spend_ledger")
    op.drop_index(op.f("ix_hit_assignments_hit_id"), table_name="hit_assignments")
    op.drop_table("hit_assignments")
    op.drop_index("ix_hits_project_state", table_name="hits")
    op.drop_table("hits")
    op.drop_table("mturk_hit_types")
    op.drop_table("publish_settings")
