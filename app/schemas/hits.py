"""Response models of the HIT and assignment views, shared by the JSON API and the
admin pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class HitPublic(BaseModel):
    id: int
    project_id: int
    batch: int
    seq: int
    provider: str
    state: str
    endpoint_url: str | None
    mturk_hit_id: str | None
    hit_type_id: str | None
    annotation: str
    max_assignments: int
    reward: float
    n_questions: int
    n_task: int
    n_gold: int
    n_quiz: int
    expires_at: datetime | None
    mturk_status: str | None
    n_pending: int
    n_available: int
    n_completed: int
    # Submitted and counted (for MTurk: confirmed by MTurk); submitted on the task page but not
    # yet confirmed by the marketplace (never counted; sync confirms or discards them).
    n_submitted: int
    n_unconfirmed: int = 0
    n_approved: int = 0  # of the counted ones, approved here
    n_rejected: int = 0  # of the counted ones, rejected here
    task_url: str
    panel_url: str | None
    error: str | None
    created_at: datetime
    published_at: datetime | None
    synced_at: datetime | None


class AssignmentPublic(BaseModel):
    assignment_id: str
    worker_id: str
    status: str
    mturk_status: str | None
    review: str
    feedback: str | None
    gold_correct: int | None
    gold_total: int | None
    bonus: float | None
    submitted_via: str | None
    # confirmed (counted) | unconfirmed (stored, not counted until the marketplace confirms the
    # assignment for this HIT and worker) | discarded (the marketplace never issued it).
    confirmation: str = "confirmed"
    n_answers: int
    n_unconfirmed_answers: int = 0
    submitted_at: datetime | None
    review_evidence: dict[str, Any] | None = None
