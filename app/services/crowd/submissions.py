"""One write path per fact: a submission's answers, its hidden-gold score, a review decision.

Whoever delivers a submission (the task page, MTurk's ``ListAssignmentsForHIT`` in a sync, a
marketplace confirming held answers, a released CSV imported in bulk), its :class:`Answer` rows
are built here and nowhere else, with the same rules:

* one answer per worker and example in a project, the first one (a later delivery of the same
  answer adds nothing; a lost write is restored);
* an answer counts only once its assignment is ``confirmed`` (docs/MTURK.md §4 "Trust"), which
  :func:`confirm` decides for every provider from what the marketplace lists;
* the assignment's hidden-gold score is computed from the answers *stored for it* (never from a
  posted form or a delivered payload), by :func:`score_gold`.

A submission changes no money: the ledger moves when a decision is recorded
(:func:`record_decision`: approved pays reward + fees, rejected releases the reserve, an
overridden rejection reserves again), whether the decision was taken here or on the marketplace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from app.models import Answer, Assignment, GoldQuestion, Hit, HitAssignment, Project
from app.services import ledger, recruiting

Verdict = Literal["approved", "rejected"]


def correct(value: int, label: int, threshold: float) -> bool:
    """A 1-4 answer agrees with a 0/1 label: above the project's threshold means positive."""
    return (value > threshold) == (label == 1)


def score_gold(
    *, session: Session, project: Project, ha: HitAssignment, stored: dict[int, int]
) -> None:
    """The assignment's hidden-gold score from ``stored`` (example id -> value), the answers
    stored for it: how many hidden checks it answered and how many of those agree."""
    gold = dict(
        session.execute(
            select(GoldQuestion.example_id, GoldQuestion.label).where(
                GoldQuestion.project_id == project.id,
                GoldQuestion.kind == "hidden_check",
                GoldQuestion.example_id.in_(list(stored)),
            )
        ).all()
    )
    ha.gold_total = len(gold)
    ha.gold_correct = sum(
        correct(stored[e], int(lbl), project.threshold) for e, lbl in gold.items()
    )


def record_submission(
    *,
    session: Session,
    project: Project,
    hit: Hit,
    assignment: Assignment,
    ha: HitAssignment,
    values: dict[int, int],
    submitted_at: datetime,
    via: str | None,
    score: bool = True,
) -> int:
    """Store one assignment's answers (``values``: example id -> 1-4) and, with ``score``, its
    gold score; returns the number of answers added (nothing is committed).

    ``via`` (``page`` or ``sync``) records how the submission reached us; ``None`` leaves it as
    it is (a later delivery of an assignment already recorded).

    Round trips (every task page submit comes here): one read of the answers already there, the
    gold query, then the assignment's row in one UPDATE (score and ``via``) and the new answers
    in one multi-row INSERT, both executed here (an ``IntegrityError`` raises here, not at the
    commit)."""
    rows = session.execute(
        select(Answer.example_id, Answer.value, Answer.assignment_id).where(
            Answer.project_id == hit.project_id,
            Answer.worker_id == assignment.worker_id,
            or_(Answer.example_id.in_(list(values)), Answer.assignment_id == assignment.id),
        )
    ).all()
    have = {int(e) for e, _, _ in rows}
    stored = {int(e): int(v) for e, v, a in rows if a == assignment.id}
    # One answer per worker and example, the first one.
    new = {e: v for e, v in values.items() if e not in have}
    stored.update(new)
    # Score before anything of ours is pending: the gold query then flushes nothing, and the
    # assignment's row gets one UPDATE (score and via), flushed before the INSERT below.
    if score:
        score_gold(session=session, project=project, ha=ha, stored=stored)
    if via is not None:
        ha.submitted_via = via
    if new:
        # One multi-row INSERT, no ORM objects (nothing reads them back).
        confirmed = assignment.confirmation == "confirmed"
        session.execute(
            insert(Answer),
            [
                {
                    "project_id": hit.project_id,
                    "example_id": e,
                    "worker_id": assignment.worker_id,
                    "assignment_id": assignment.id,
                    "value": v,
                    "source": hit.provider,
                    "submitted_at": submitted_at,
                    "confirmed": confirmed,
                }
                for e, v in new.items()
            ],
        )
    return len(new)


#: What :func:`confirm` decided about a submission a marketplace lists.
Confirmation = Literal["confirmed", "contradicted", "waiting"]


@dataclass(frozen=True)
class Listed:
    """One submission as a marketplace's own listing shows it, in this service's terms (each
    provider's sync reads its marketplace's API and fills this in): what it is listed under
    (MTurk: the HIT's id here; Prolific: the study's row id here), the worker it names, and
    whether the worker finished it there (MTurk lists submitted assignments only; Prolific:
    AWAITING REVIEW or APPROVED)."""

    under: object
    worker: str
    finished: bool = True


def confirm(
    *,
    session: Session,
    assignment: Assignment | None,
    bound: tuple[object, str] | None,
    listed: Listed,
) -> Confirmation:
    """When a submission counts, for every provider (docs/MTURK.md §4 "Trust", docs/PROLIFIC.md
    §3): when the marketplace lists it under what it was bound to here and for the same worker
    (``bound``: ``(under, worker)`` as stored here; None when nothing is bound here), finished.

    * ``contradicted``: listed under something else or for another worker, or not bound here;
      it never counts (the provider discards what was stored, or asks for a return);
    * ``waiting``: the same binding, not finished on the marketplace yet;
    * ``confirmed``: the assignment (if one was opened here) becomes ``confirmed`` and the answers
      stored for it count; answers the marketplace delivers or the provider held are then stored
      by :func:`record_submission`."""
    if bound is None or bound != (listed.under, listed.worker):
        return "contradicted"
    if not listed.finished:
        return "waiting"
    if assignment is not None and assignment.confirmation != "confirmed":
        assignment.confirmation = "confirmed"
        session.execute(
            update(Answer).where(Answer.assignment_id == assignment.id).values(confirmed=True)
        )
    return "confirmed"


def record_imported(
    *,
    session: Session,
    project_id: int,
    answers: Iterable[tuple[int, int, int, datetime]],
    source: str,
) -> int:
    """Bulk-store answers that belong to no assignment (a released crowd file): ``answers`` are
    (example id, worker id, value, submitted at); the caller has checked them. Returns the
    number stored."""
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = [
        {
            "project_id": project_id,
            "example_id": e,
            "worker_id": w,
            "value": int(v),
            "submitted_at": t,
            "source": source,
            "created_at": now,
        }
        for e, w, v, t in answers
    ]
    if rows:
        session.execute(insert(Answer), rows)
    return len(rows)


def assignment_cost(hit: Hit) -> Decimal:
    """What one approved assignment of ``hit`` costs: reward plus the provider's fees."""
    return recruiting.get(hit.provider).place_cost(hit)


def record_decision(
    *,
    session: Session,
    hit: Hit,
    assignment: Assignment,
    ha: HitAssignment,
    verdict: Verdict,
    note: str,
    feedback: str | None = None,
) -> None:
    """Record an approval or a rejection, wherever it was decided (here, or on the marketplace
    and learnt by a sync): the assignment's status and review, and the ledger (keyed by the
    assignment, so recording the same decision again adds nothing). Nothing is committed."""
    aid = assignment.external_id
    was_rejected = assignment.status == "rejected"
    assignment.status = verdict
    ha.review = verdict
    if feedback:
        ha.feedback = feedback
    ha.reviewed_at = datetime.now(UTC)
    cost = assignment_cost(hit)
    if verdict == "approved" and was_rejected:  # the released reserve is needed again
        ledger.record(
            session=session,
            project_id=hit.project_id,
            hit_id=hit.id,
            kind="reserve",
            amount=cost,
            key=f"unrelease:{aid}",
            note="rejection overridden",
        )
    kind, amount = ("paid", cost) if verdict == "approved" else ("release", -cost)
    ledger.record(
        session=session,
        project_id=hit.project_id,
        hit_id=hit.id,
        kind=kind,
        amount=amount,
        key=f"{kind}:{aid}",
        note=note,
    )
