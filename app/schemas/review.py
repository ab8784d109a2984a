"""The review policy and publishing options, typed (PATCH /projects/{id}/publish-settings).

Decisions are taken on the worker's whole record in the project (app.crowd.review_rules).
"""

from __future__ import annotations

from pydantic import Field

from app.schemas.common import RequestModel


class ReviewPolicy(RequestModel):
    """How submitted assignments are reviewed. Every key is optional in a PATCH."""

    reject_bad: bool = Field(
        default=False,
        description="reject assignments of workers whose whole record is bad (status filtered "
        "or blocked), once the evidence spans min_hits_to_reject HITs",
    )
    reject_below: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="also reject when the record's gold accuracy (all HITs) is below this, "
        "after min_gold gold answers over min_hits_to_reject HITs; null: off",
    )
    block_bad: bool = Field(default=False, description="block workers whose record is rejected")
    block_below: float | None = Field(
        default=None, ge=0.0, le=1.0, description="block below this record gold accuracy"
    )
    min_gold: int = Field(default=3, ge=0, le=100_000, description="gold answers before judging")
    min_hits_to_reject: int = Field(
        default=2, ge=2, le=1000, description="distinct HITs the evidence must span (>= 2)"
    )
    hold_pending: bool = Field(
        default=True,
        description="hold assignments of workers without enough evidence yet (project has "
        "gold), approving them approve_margin_seconds before the auto-approval deadline",
    )
    approve_margin_seconds: int = Field(default=6 * 3600, ge=0, le=30 * 86400)
    bonus_at: float | None = Field(
        default=None, ge=0.0, le=1.0, description="bonus when the record's gold accuracy >= this"
    )
    bonus_trusted: bool = Field(default=False, description="bonus every trusted worker")
    bonus_amount: str = Field(default="0.10", max_length=16, pattern=r"^\d{1,3}(\.\d{1,2})?$")
    reject_feedback: str = Field(
        default="Too many of the check questions in your HITs were answered far from the known "
        "answer.",
        min_length=1,
        max_length=1024,
    )
    bonus_reason: str = Field(
        default="Thank you: your answers to the check questions were excellent.",
        min_length=1,
        max_length=1024,
    )


class ReviewPolicyPatch(RequestModel):
    """A partial ``ReviewPolicy`` (only the given keys change)."""

    reject_bad: bool | None = None
    reject_below: float | None = Field(default=None, ge=0.0, le=1.0)
    block_bad: bool | None = None
    block_below: float | None = Field(default=None, ge=0.0, le=1.0)
    min_gold: int | None = Field(default=None, ge=0, le=100_000)
    min_hits_to_reject: int | None = Field(default=None, ge=2, le=1000)
    hold_pending: bool | None = None
    approve_margin_seconds: int | None = Field(default=None, ge=0, le=30 * 86400)
    bonus_at: float | None = Field(default=None, ge=0.0, le=1.0)
    bonus_trusted: bool | None = None
    bonus_amount: str | None = Field(default=None, max_length=16, pattern=r"^\d{1,3}(\.\d{1,2})?$")
    reject_feedback: str | None = Field(default=None, min_length=1, max_length=1024)
    bonus_reason: str | None = Field(default=None, min_length=1, max_length=1024)


#: Keys a PATCH may set to null ("off"); a null for any other key is ignored.
NULLABLE_KEYS = frozenset({"reject_below", "block_below", "bonus_at"})


def policy_changes(patch: ReviewPolicyPatch | None) -> dict[str, object] | None:
    """The keys a PATCH sets, as a plain dict (``None``: nothing to change)."""
    if patch is None:
        return None
    given = patch.model_dump(exclude_unset=True)
    return {k: v for k, v in given.items() if v is not None or k in NULLABLE_KEYS}
