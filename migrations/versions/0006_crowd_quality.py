"""review evidence on each assignment; exclusion qualifications (no wasted accepts)

Revision ID: 0006_crowd_quality
Revises: 0007_prolific
Create Date: 2026-12-01 07:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_crowd_quality"
down_revision: str | Sequence[str] | None = "0007_prolific"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hit_assignments") as batch:
        batch.add_column(sa.Column("review_evidence", sa.JSON(), nullable=True))
    op.create_table(
        "exclusion_qualifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("endpoint_url", sa.String(length=500), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("hit_id", sa.Integer(), nullable=True),
        sa.Column("qualification_type_id", sa.String(length=64), nullable=False),
        sa.Column("workers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_exclusion_qualifications_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["hit_id"],
            ["hits.id"],
            name=op.f("fk_exclusion_qualifications_hit_id_hits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exclusion_qualifications")),
        sa.UniqueConstraint(
            "qualification_type_id",
            name=op.f("uq_exclusion_qualifications_qualification_type_id"),
        ),
    )
    op.create_index(
        op.f("ix_exclusion_qualifications_project_id"),
        "exclusion_qualifications",
        ["project_id"],
    )
    op.create_index(
        op.f("ix_exclusion_qualifications_hit_id"), "exclusion_qualifications", ["hit_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_exclusion_qualifications_hit_id"), table_name="exclusion_qualifications")
    op.drop_index(
        op.f("ix_exclusion_qualifications_project_id"), table_name="exclusion_qualifications"
    )
    op.drop_table("exclusion_qualifications")
    with op.batch_alter_table("hit_assignments") as batch:
        batch.drop_column("review_evidence")
