"""answer integrity: marketplace confirmation of assignments and answers, per-assignment
questions, a bound-assignment counter on HITs (caps that hold under concurrency), opaque link invites

Revision ID: 0004_answer_integrity
Revises: 0003_jobs
Create Date: 2026-12-01 07:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_answer_integrity"
down_revision: str | Sequence[str] | None = "0003_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(
            sa.Column(
                "confirmation", sa.String(length=16), nullable=False, server_default="confirmed"
            )
        )
        batch.create_check_constraint(
            "confirmation_known", "confirmation IN ('confirmed', 'unconfirmed', 'discarded')"
        )
    with op.batch_alter_table("answers") as batch:
        batch.add_column(
            sa.Column("confirmed", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    with op.batch_alter_table("hit_assignments") as batch:
        batch.add_column(sa.Column("questions", sa.JSON(), nullable=True))
    with op.batch_alter_table("hits") as batch:
        batch.add_column(sa.Column("n_bound", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "link_invites",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_link_invites_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_link_invites")),
        sa.UniqueConstraint("project_id", "worker", name=op.f("uq_link_invites_project_id_worker")),
    )
    op.execute(
        "UPDATE hits SET n_bound = (SELECT COUNT(*) FROM hit_assignments"
        " WHERE hit_assignments.hit_id = hits.id)"
    )


def downgrade() -> None:
    op.drop_table("link_invites")
    with op.batch_alter_table("hits") as batch:
        batch.drop_column("n_bound")
    with op.batch_alter_table("hit_assignments") as batch:
        batch.drop_column("questions")
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("confirmed")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_constraint("confirmation_known", type_="check")
        batch.drop_column("confirmation")
