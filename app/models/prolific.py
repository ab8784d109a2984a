"""Prolific data model (docs/PROLIFIC.md): one study per published batch, the participant sessions
bound to it, the money calls that must not repeat, and each project's Prolific account objects.

A batch's :class:`~app.models.Hit` rows are its question sets (provider ``prolific``); the study
row is written in state ``intent`` before Prolific is called and carries the ``internal_name``
that finds a draft again after a lost reply or a crash (docs/PROLIFIC.md §7 recipe).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base
from app.models.crowd import utcnow


class ProlificAccount(Base):
    """The workspace, Prolific project and blocklist group a project's studies use."""

    __tablename__ = "prolific_accounts"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    api_url: Mapped[str] = mapped_column(String(300))
    workspace_id: Mapped[str] = mapped_column(String(64))
    prolific_project_id: Mapped[str] = mapped_column(String(64))
    blocklist_group_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ProlificStudy(Base):
    """One study = one batch. States: intent → created (draft adopted or made) → published."""

    __tablename__ = "prolific_studies"
    __table_args__ = (
        UniqueConstraint("project_id", "batch"),
        CheckConstraint(
            "state IN ('intent', 'created', 'published', 'failed')", name="state_known"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    batch: Mapped[int] = mapped_column(Integer)
    internal_name: Mapped[str] = mapped_column(String(200), unique=True)
    api_url: Mapped[str | None] = mapped_column(String(300), nullable=True)
    study_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="intent")
    status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    completion_code: Mapped[str] = mapped_column(String(32))
    places: Mapped[int] = mapped_column(Integer)
    reward_minor: Mapped[int] = mapped_column(Integer)
    estimated_minutes: Mapped[int] = mapped_column(Integer)
    maximum_minutes: Mapped[int] = mapped_column(Integer)
    # The exclusion list sent as eligibility filters (participant ids), fixed at intent time.
    excluded: Mapped[list[str]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ProlificSession(Base):
    """A participant's session (Prolific submission) on one study, bound to one question set.

    ``answers`` holds what the page received until Prolific lists the submission as finished;
    only then are they stored as answers (states: open → held → confirmed; released when
    Prolific says the place was given up: returned, timed out, rejected).
    """

    __tablename__ = "prolific_sessions"
    __table_args__ = (
        UniqueConstraint("study_row_id", "participant_id"),
        CheckConstraint("state IN ('open', 'held', 'confirmed', 'released')", name="state_known"),
    )

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    study_row_id: Mapped[int] = mapped_column(
        ForeignKey("prolific_studies.id", ondelete="CASCADE"), index=True
    )
    hit_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="open")
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    prolific_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ProlificPayment(Base):
    """A bonus: created once (its Prolific id kept before pay), paid once (docs/PROLIFIC.md §7)."""

    __tablename__ = "prolific_payments"
    __table_args__ = (
        CheckConstraint("state IN ('created', 'paying', 'paid')", name="state_known"),
    )

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    session_id: Mapped[str] = mapped_column(String(64))
    bonus_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="created")
    amount_minor: Mapped[int] = mapped_column(Integer)
    fees_minor: Mapped[int] = mapped_column(Integer, default=0)
    vat_minor: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
