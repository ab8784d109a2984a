"""review evidence on each assignment (decisions on the worker's whole record)

Revision ID: 0006_crowd_quality
Revises: 0003_jobs
Create Date: 2026-12-01 07:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_crowd_quality"
down_revision: str | Sequence[str] | None = "0003_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hit_assignments") as batch:
        batch.add_column(sa.Column("review_evidence", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hit_assignments") as batch:
        batch.drop_column("review_evidence")
