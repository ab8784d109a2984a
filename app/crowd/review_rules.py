"""Review decisions on a worker's whole record in a project (pure; no I/O).

One HIT carries a few gold items (3 by default): an 85%-accurate worker gets 1 of 3 right in
6% of HITs, and a random clicker 3 of 3 in 1 of 8. So the decision for a submitted assignment
reads the worker's **whole record** in the project:

* ``status``: the worker's status from ``app.crowd.score_workers`` over every answer of the
  project (class-aware gold scores and answer patterns), and its ``reason``;
* the record's gold answers (``gold_correct`` / ``gold_total`` summed over the worker's
  submitted assignments) and ``gold_hits``, the number of distinct HITs they came from.

Decisions, in order:

1. ``reject`` (and ``block`` with ``block_bad``): the record is bad, i.e. the worker is
   ``filtered`` or ``blocked``, or (with ``reject_below`` set) the record's gold accuracy is
   below ``reject_below`` after at least ``min_gold`` gold answers, **and** the evidence spans at
   least ``min_hits_to_reject`` (>= 2) HITs and rejection is enabled (``reject_bad`` or
   ``reject_below``). With evidence from a single HIT the assignment is held instead.
2. ``hold``: the evidence is insufficient (the worker is ``pending`` while the project has
   gold, or the bad record rests on one HIT) and the marketplace's auto-approval deadline
   (``submitted_at + auto_approval_delay``) is more than ``approve_margin`` away;
3. ``approve``: everything else, including a held assignment whose deadline is near: approved
   before MTurk would approve it anyway (after which no rejection is possible). ``bonus`` is
   added for a worker whose record is not bad when the record's gold accuracy is at least
   ``bonus_at``, or (``bonus_trusted``) when the worker is ``trusted``.

Every decision carries its evidence (``Decision.evidence``), which the service stores with the
assignment and returns from the API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.crowd.quality import BLOCKED, FILTERED, PENDING, TRUSTED

APPROVE, REJECT, HOLD = "approve", "reject", "hold"


@dataclass(frozen=True)
class RecordPolicy:
    """The review policy (the keys of ``app.schemas.review.ReviewPolicy``)."""

    reject_bad: bool = False
    reject_below: float | None = None
    block_bad: bool = False
    block_below: float | None = None
    min_gold: int = 3
    min_hits_to_reject: int = 2
    hold_pending: bool = True
    approve_margin_seconds: int = 6 * 3600
    bonus_at: float | None = None
    bonus_trusted: bool = False


@dataclass(frozen=True)
class WorkerRecord:
    worker_id: str
    status: str
    reason: str
    gold_correct: int
    gold_total: int
    gold_hits: int
    n_assignments: int

    @property
    def accuracy(self) -> float | None:
        return self.gold_correct / self.gold_total if self.gold_total else None


@dataclass
class Decision:
    action: str  # approve / reject / hold
    block: bool = False
    bonus: bool = False
    reason: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


def decide(
    record: WorkerRecord,
    policy: RecordPolicy,
    *,
    submitted_at: datetime,
    auto_approval_delay_seconds: int,
    now: datetime,
    project_has_gold: bool,
) -> Decision:
    """The decision for one submitted assignment of ``record``'s worker (module docstring)."""
    deadline = submitted_at + timedelta(seconds=auto_approval_delay_seconds)
    margin = min(policy.approve_margin_seconds, auto_approval_delay_seconds // 2)
    approve_by = deadline - timedelta(seconds=margin)
    acc = record.accuracy
    evidence: dict[str, Any] = {
        "scope": "the worker's whole record in this project",
        "worker_status": record.status,
        "worker_reason": record.reason,
        "gold_correct": record.gold_correct,
        "gold_total": record.gold_total,
        "gold_accuracy": acc,
        "gold_hits": record.gold_hits,
        "assignments": record.n_assignments,
        "auto_approval_deadline": deadline.isoformat(),
        "approve_by": approve_by.isoformat(),
    }
    below = (
        policy.reject_below is not None
        and acc is not None
        and record.gold_total >= policy.min_gold
        and acc < policy.reject_below
    )
    bad = record.status in (FILTERED, BLOCKED) or below
    enough_hits = record.gold_hits >= max(policy.min_hits_to_reject, 2)
    wants_reject = policy.reject_bad or policy.reject_below is not None
    block_below = (
        policy.block_below is not None
        and acc is not None
        and record.gold_total >= policy.min_gold
        and acc < policy.block_below
    )
    near_deadline = now >= approve_by
    if bad and wants_reject and enough_hits:
        why = (
            record.reason
            if record.status in (FILTERED, BLOCKED)
            else (
                f"gold accuracy {acc:.2f} < {policy.reject_below:g} over {record.gold_total} gold "
                f"answers in {record.gold_hits} HITs"
            )
        )
        block = (policy.block_bad and bad) or block_below
        return Decision(REJECT, block=block, reason=why, evidence=evidence)
    insufficient = (bad and wants_reject) or (
        policy.hold_pending and project_has_gold and record.status == PENDING
    )
    if insufficient and not near_deadline:
        why = (
            f"held: the bad record rests on {record.gold_hits} HIT(s); a rejection needs "
            f"{max(policy.min_hits_to_reject, 2)}"
            if bad
            else f"held: not enough evidence yet ({record.reason})"
        )
        return Decision(
            HOLD,
            reason=f"{why}; approved by {approve_by.isoformat()} at the latest",
            evidence=evidence,
        )
    bonus = not bad and (
        (policy.bonus_at is not None and acc is not None and acc >= policy.bonus_at)
        or (policy.bonus_trusted and record.status == TRUSTED)
    )
    why = (
        "approved before the auto-approval deadline while evidence was still insufficient"
        if insufficient
        else f"approved: worker {record.status} ({record.reason})"
    )
    return Decision(
        APPROVE, bonus=bonus, block=block_below and enough_hits, reason=why, evidence=evidence
    )
