"""Crowd labeling data model: projects, examples, gold questions, workers, assignments, answers,
export snapshots (docs/PAPER.md §4.4)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base

# BigInteger primary keys become INTEGER on SQLite so they stay rowid aliases (autoincrement).
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Project(Base):
    """A labeling task: what workers are asked, how answers become labels, and what they see."""

    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("threshold > 1 AND threshold < 4", name="threshold_range"),
        CheckConstraint("max_answers >= 1", name="max_answers_positive"),
        CheckConstraint("questions_per_hit >= 1", name="questions_per_hit_positive"),
        CheckConstraint("gold_per_hit >= 0 AND quiz_per_hit >= 0", name="gold_nonnegative"),
        CheckConstraint("reward_per_answer >= 0", name="reward_nonnegative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    question: Mapped[str] = mapped_column(Text)
    # The four labels of the 1-4 answer scale, lowest first (paper §4.4).
    scale_labels: Mapped[list[str]] = mapped_column(JSON)
    threshold: Mapped[float] = mapped_column(Float, default=2.5)
    # N: at most this many answers per example are averaged (paper Table 6).
    max_answers: Mapped[int] = mapped_column(Integer, default=11)
    questions_per_hit: Mapped[int] = mapped_column(Integer, default=30)
    reward_per_answer: Mapped[float] = mapped_column(Numeric(10, 4, asdecimal=False), default=0.03)
    gold_per_hit: Mapped[int] = mapped_column(Integer, default=3)
    quiz_per_hit: Mapped[int] = mapped_column(Integer, default=0)
    worker_filter: Mapped[dict[str, Any]] = mapped_column(JSON)
    # None: workers see every feature column.
    visible_columns: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    sensitive_column: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Publishing: recruiting provider, live-marketplace switch, hard spending cap in USD.
    provider: Mapped[str] = mapped_column(String(16), default="mturk")
    allow_live: Mapped[bool] = mapped_column(Boolean, default=False)
    budget_cap: Mapped[float | None] = mapped_column(Numeric(12, 2, asdecimal=False), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    examples: Mapped[list[Example]] = relationship(back_populates="project", lazy="raise")


class Example(Base):
    """One item to label; `external_id` is the uploader's id (stable across exports)."""

    __tablename__ = "examples"
    __table_args__ = (
        UniqueConstraint("project_id", "external_id"),
        CheckConstraint("known_label IN (-1, 1)", name="known_label_pm1"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    external_id: Mapped[str] = mapped_column(String(200))
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    sensitive_value: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Ground truth when the uploader knows it (e.g. `true_label` of the released crowd data).
    known_label: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    project: Mapped[Project] = relationship(back_populates="examples", lazy="raise")


class GoldQuestion(Base):
    """An example with a trusted label: a training quiz (feedback shown) or a hidden check."""

    __tablename__ = "gold_questions"
    __table_args__ = (
        UniqueConstraint("project_id", "example_id"),
        CheckConstraint("label IN (-1, 1)", name="label_pm1"),
        CheckConstraint("kind IN ('training_quiz', 'hidden_check')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    example_id: Mapped[int] = mapped_column(ForeignKey("examples.id", ondelete="CASCADE"))
    label: Mapped[int] = mapped_column(SmallInteger)
    explanation: Mapped[str | None] = mapped_column(Text, nullable=True)
    kind: Mapped[str] = mapped_column(String(16), default="hidden_check")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Worker(Base):
    """A crowd worker, identified by the provider's id (MTurk WorkerId, panel id, invite id)."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    # Manual block; blocked workers are excluded from aggregation.
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    blocked_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Assignment(Base):
    """One worker's pass over one task (an MTurk assignment or a link-provider session)."""

    __tablename__ = "assignments"
    __table_args__ = (
        CheckConstraint(
            "status IN ('accepted', 'submitted', 'approved', 'rejected')", name="status_known"
        ),
        CheckConstraint(
            "confirmation IN ('confirmed', 'unconfirmed', 'discarded')", name="confirmation_known"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), index=True)
    # Provider's id (MTurk AssignmentId); null for imported answers.
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    source: Mapped[str] = mapped_column(String(16), default="import")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Whether the marketplace vouches for this assignment (docs/MTURK.md: GetAssignment /
    # ListAssignmentsForHIT). An MTurk assignment first seen on the task page is ``unconfirmed``
    # until sync finds it on MTurk for the same HIT and worker (then ``confirmed``) or proves it
    # was never issued (``discarded``, its answers deleted). Link and imported ones are confirmed.
    confirmation: Mapped[str] = mapped_column(
        String(16), default="confirmed", server_default="confirmed"
    )


class Answer(Base):
    """One 1-4 answer (paper §4.4: 4 = most likely positive)."""

    __tablename__ = "answers"
    __table_args__ = (
        CheckConstraint("value >= 1 AND value <= 4", name="value_1_4"),
        # NULL assignments are distinct under UNIQUE on both Postgres and SQLite, so this is
        # exactly "unique (assignment, example) where assignment is not null".
        UniqueConstraint("assignment_id", "example_id"),
        Index("ix_answers_project_example", "project_id", "example_id"),
        Index("ix_answers_project_worker", "project_id", "worker_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # Denormalised from the example so per-project scans need no join (aggregation hot path).
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    example_id: Mapped[int] = mapped_column(ForeignKey("examples.id", ondelete="CASCADE"))
    worker_id: Mapped[int] = mapped_column(ForeignKey("workers.id"))
    assignment_id: Mapped[int | None] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), nullable=True
    )
    value: Mapped[int] = mapped_column(SmallInteger)
    source: Mapped[str] = mapped_column(String(16), default="import")
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # False while its assignment is unconfirmed: such answers are stored but never counted
    # (aggregation, worker quality, exports, review, payments all read confirmed answers only).
    confirmed: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class ExportSnapshot(Base):
    """An immutable, versioned validation-set export."""

    __tablename__ = "export_snapshots"
    __table_args__ = (UniqueConstraint("project_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(32))
    n_max: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float] = mapped_column(Float)
    filter_rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    row_count: Mapped[int] = mapped_column(Integer)
    columns: Mapped[list[str]] = mapped_column(JSON)
    # sha256 of the CSV rendering (what `?format=csv` downloads, byte for byte).
    checksum: Mapped[str] = mapped_column(String(64))
    # The frozen table as Parquet (typed, compact); every download format is rendered from it.
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
