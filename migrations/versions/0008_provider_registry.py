"""the recruiting-provider registry is the one list of provider names: ``projects.provider`` and
``hits.provider`` lose their ``provider_known`` CHECK constraint (the API checks a name against
app.services.recruiting's registry; docs/ARCHITECTURE.md), so a new provider needs no migration.

Revision ID: 0008_provider_registry
Revises: 0006_crowd_quality
Create Date: 2026-12-07 23:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008_provider_registry"
down_revision: str | Sequence[str] | None = "0006_crowd_quality"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("projects", "hits")
#: The rule 0007_prolific left; a downgrade restores it (and fails while a row holds another name).
_KNOWN = "provider IN ('mturk', 'link', 'prolific')"


def upgrade() -> None:
    for table in _TABLES:  # batch: SQLite recreates the table without the constraint
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_provider_known"), type_="check")


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(op.f(f"ck_{table}_provider_known"), _KNOWN)
