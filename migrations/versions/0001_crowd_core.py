"""crowd core: projects, examples, gold, workers, assignments, answers, exports, admin tokens

Revision ID: 0001_crowd_core
Revises: (none)
Create Date: 2026-11-26 18:56:05.922316
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_crowd_core"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "admin_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_admin_tokens_token_hash")),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("scale_labels", sa.JSON(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("max_answers", sa.Integer(), nullable=False),
        sa.Column("questions_per_hit", sa.Integer(), nullable=False),
        sa.Column(
            "reward_per_answer", sa.Numeric(precision=10, scale=4, asdecimal=False), nullable=False
        ),
        sa.Column("gold_per_hit", sa.Integer(), nullable=False),
        sa.Column("quiz_per_hit", sa.Integer(), nullable=False),
        sa.Column("worker_filter", sa.JSON(), nullable=False),
        sa.Column("visible_columns", sa.JSON(), nullable=True),
        sa.Column("sensitive_column", sa.String(length=200), nullable=True),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("allow_live", sa.Boolean(), nullable=False),
        sa.Column("budget_cap", sa.Numeric(precision=12, scale=2, asdecimal=False), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "provider IN ('mturk', 'link')", name=op.f("ck_projects_provider_known")
        ),
        sa.CheckConstraint(
            "gold_per_hit >= 0 AND quiz_per_hit >= 0", name=op.f("ck_projects_gold_nonnegative")
        ),
        sa.CheckConstraint("max_answers >= 1", name=op.f("ck_projects_max_answers_positive")),
        sa.CheckConstraint(
            "questions_per_hit >= 1", name=op.f("ck_projects_questions_per_hit_positive")
        ),
        sa.CheckConstraint("reward_per_answer >= 0", name=op.f("ck_projects_reward_nonnegative")),
        sa.CheckConstraint(
            "threshold > 1 AND threshold < 4", name=op.f("ck_projects_threshold_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("blocked_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
        sa.UniqueConstraint("external_id", name=op.f("uq_workers_external_id")),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('accepted', 'submitted', 'approved', 'rejected')",
            name=op.f("ck_assignments_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_assignments_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["workers.id"], name=op.f("fk_assignments_worker_id_workers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("external_id", name=op.f("uq_assignments_external_id")),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assignments_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_assignments_worker_id"), ["worker_id"], unique=False)

    op.create_table(
        "examples",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("sensitive_value", sa.String(length=200), nullable=True),
        sa.Column("known_label", sa.SmallInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("known_label IN (-1, 1)", name=op.f("ck_examples_known_label_pm1")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_examples_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_examples")),
        sa.UniqueConstraint(
            "project_id", "external_id", name=op.f("uq_examples_project_id_external_id")
        ),
    )
    with op.batch_alter_table("examples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_examples_project_id"), ["project_id"], unique=False)

    op.create_table(
        "export_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("n_max", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("filter_rule", sa.JSON(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_export_snapshots_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_snapshots")),
        sa.UniqueConstraint(
            "project_id", "version", name=op.f("uq_export_snapshots_project_id_version")
        ),
    )
    with op.batch_alter_table("export_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_export_snapshots_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "answers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column(
            "example_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("worker_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("value", sa.SmallInteger(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("value >= 1 AND value <= 4", name=op.f("ck_answers_value_1_4")),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignments.id"],
            name=op.f("fk_answers_assignment_id_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["example_id"],
            ["examples.id"],
            name=op.f("fk_answers_example_id_examples"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_answers_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["workers.id"], name=op.f("fk_answers_worker_id_workers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answers")),
        sa.UniqueConstraint(
            "assignment_id", "example_id", name=op.f("uq_answers_assignment_id_example_id")
        ),
    )
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_answers_project_example", ["project_id", "example_id"], unique=False
        )
        batch_op.create_index(
            "ix_answers_project_worker", ["project_id", "worker_id"], unique=False
        )

    op.create_table(
        "gold_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column(
            "example_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("label", sa.SmallInteger(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('training_quiz', 'hidden_check')", name=op.f("ck_gold_questions_kind_known")
        ),
        sa.CheckConstraint("label IN (-1, 1)", name=op.f("ck_gold_questions_label_pm1")),
        sa.ForeignKeyConstraint(
            ["example_id"],
            ["examples.id"],
            name=op.f("fk_gold_questions_example_id_examples"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_gold_questions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gold_questions")),
        sa.UniqueConstraint(
            "project_id", "example_id", name=op.f("uq_gold_questions_project_id_example_id")
        ),
    )
    with op.batch_alter_table("gold_questions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gold_questions_project_id"), ["project_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("gold_questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gold_questions_project_id"))

    op.drop_table("gold_questions")
    with op.batch_alter_table("answers", schema=None) as batch_op:
        batch_op.drop_index("ix_answers_project_worker")
        batch_op.drop_index("ix_answers_project_example")

    op.drop_table("answers")
    with op.batch_alter_table("export_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_export_snapshots_project_id"))

    op.drop_table("export_snapshots")
    with op.batch_alter_table("examples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_examples_project_id"))

    op.drop_table("examples")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignments_worker_id"))
        batch_op.drop_index(batch_op.f("ix_assignments_project_id"))

    op.drop_table("assignments")
    op.drop_table("workers")
    op.drop_table("projects")
    op.drop_table("admin_tokens")
