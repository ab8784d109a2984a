"""Publishing data model: HIT types, HITs (MTurk or link), the assignment side-table,
per-project publishing options and the spend ledger.

A :class:`Hit` row is written *before* MTurk is called (state ``intent``) so a crashed publish can
be resumed: the row carries the deterministic ``UniqueRequestToken`` and the
``RequesterAnnotation`` used to find the HIT again with ``ListHITs``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.models.crowd import BigIntPK, utcnow

Money = Numeric(12, 2, asdecimal=False)


class PublishSettings(Base):
    """Per-project publishing options (HIT wording and timing) and the review policy."""

    __tablename__ = "publish_settings"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    # Title, description, keywords, lifetime/duration/auto-approval seconds (see services).
    hit_options: Mapped[dict[str, Any]] = mapped_column(JSON)
    # approve (default) / reject below a gold accuracy / block / bonus (see services.review).
    review_policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class HitType(Base):
    """One MTurk HITType per project, endpoint and reward, created once and reused."""

    __tablename__ = "mturk_hit_types"
    __table_args__ = (UniqueConstraint("project_id", "endpoint_url", "reward"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    endpoint_url: Mapped[str] = mapped_column(String(300))
    reward: Mapped[float] = mapped_column(Money)
    hit_type_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Hit(Base):
    """A published (or about-to-be-published) task of ~30 questions.

    ``items`` lists the questions in page order: ``{"example_id": int, "role": r}`` with role
    ``quiz`` (training, feedback shown), ``task`` (still needs answers) or ``gold`` (hidden check).
    """

    __tablename__ = "hits"
    __table_args__ = (
        UniqueConstraint("project_id", "batch", "seq"),
        CheckConstraint(
            "state IN ('intent', 'published', 'failed', 'disposed')", name="state_known"
        ),
        CheckConstraint("max_assignments >= 1", name="max_assignments_positive"),
        Index("ix_hits_project_state", "project_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    batch: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(16), default="mturk")
    token: Mapped[str] = mapped_column(String(64), unique=True)
    annotation: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="intent")
    # Where the HIT was published (requester endpoint); null for the link provider.
    endpoint_url: Mapped[str | None] = mapped_column(String(300), nullable=True)
    hit_type_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mturk_hit_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    max_assignments: Mapped[int] = mapped_column(Integer)
    reward: Mapped[float] = mapped_column(Money)
    n_questions: Mapped[int] = mapped_column(Integer)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    lifetime_seconds: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Last seen on MTurk (GetHIT / sync): HITStatus and assignment counts.
    mturk_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    n_pending: Mapped[int] = mapped_column(Integer, default=0)
    n_available: Mapped[int] = mapped_column(Integer, default=0)
    n_completed: Mapped[int] = mapped_column(Integer, default=0)
    # Link HITs: assignments bound on the task page, at most ``max_assignments``, enforced by one
    # conditional UPDATE (atomic under concurrency, never count-then-insert). MTurk caps its own.
    n_bound: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class HitAssignment(Base):
    """Publishing facts about one crowd assignment: its HIT, MTurk status and review."""

    __tablename__ = "hit_assignments"
    __table_args__ = (
        CheckConstraint("review IN ('pending', 'approved', 'rejected')", name="review_known"),
    )

    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), primary_key=True
    )
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), index=True)
    worker_external_id: Mapped[str] = mapped_column(String(200))
    mturk_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    review: Mapped[str] = mapped_column(String(16), default="pending")
    feedback: Mapped[str | None] = mapped_column(Text, nullable=True)
    gold_correct: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gold_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bonus: Mapped[float | None] = mapped_column(Money, nullable=True)
    # Training-quiz results shown to the worker: [{"example_id", "value", "correct"}].
    quiz: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    # The example ids this assignment shows, in its own page order (task questions and hidden
    # gold chosen for this worker); the answer fields are named per assignment from them.
    questions: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    submitted_via: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # The last review decision (approve / reject / hold), its reason and the worker's whole
    # record it was taken on (app.crowd.review_rules).
    review_evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SpendEntry(Base):
    """One money event. ``key`` makes each event idempotent (a retry adds nothing).

    Kinds: ``reserve`` (a HIT's worst-case cost when published), ``extend`` (more assignments),
    ``paid`` (reward+fee at approval), ``release`` (negative: a rejected assignment's reserve),
    ``bonus`` (bonus + fee).
    """

    __tablename__ = "spend_ledger"
    __table_args__ = (Index("ix_spend_ledger_project_kind", "project_id", "kind"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    hit_id: Mapped[int | None] = mapped_column(
        ForeignKey("hits.id", ondelete="SET NULL"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[float] = mapped_column(Money)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ExclusionQualification(Base):
    """A qualification the service maintains so that workers who must not take a HIT cannot
    accept it (MTurk ``QualificationRequirement`` with ``DoesNotExist``;
    app.services.recruiting.exclusion).

    ``purpose`` ``excluded``: one per project and endpoint, granted to filtered and blocked
    workers. ``purpose`` ``hit``: one per top-up HIT, granted to workers who already answered
    (or hold an assignment for) one of its examples. ``workers`` lists the workers it is granted
    to, so a refresh only sends the changes.
    """

    __tablename__ = "exclusion_qualifications"
    __table_args__ = (UniqueConstraint("qualification_type_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    endpoint_url: Mapped[str] = mapped_column(String(500))
    purpose: Mapped[str] = mapped_column(String(16))
    hit_id: Mapped[int | None] = mapped_column(
        ForeignKey("hits.id", ondelete="CASCADE"), nullable=True, index=True
    )
    qualification_type_id: Mapped[str] = mapped_column(String(64))
    workers: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LinkInvite(Base):
    """A per-worker invite of the link provider: the token is random (``secrets``), so it says
    nothing about the worker (an e-mail address, say); the worker is looked up here."""

    __tablename__ = "link_invites"
    __table_args__ = (UniqueConstraint("project_id", "worker"),)

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    worker: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
