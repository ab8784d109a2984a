"""The questions of a task page (docs/MTURK.md §4): which examples an assignment shows, in its own
order, under which field names, and how each example's facts are shown.

Each assignment gets its own questions (the HIT's task examples plus hidden gold this worker has
not seen yet), in its own order, under answer fields named by an HMAC of (assignment, example):
nothing in names, order or markup tells a gold check from a task question.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core import security
from app.core.config import Settings
from app.core.errors import NotFound
from app.models import Answer, Assignment, Example, GoldQuestion, Hit, HitAssignment, Project
from app.services.recruiting import links as providers
from app.services.recruiting.base import Identity

QUIZ_FIELD = "quiz_{}"


@dataclass(frozen=True)
class Question:
    field: str
    number: int
    features: list[tuple[str, str]]


@dataclass(frozen=True)
class ExampleFeatures:
    """What a page shows of an example."""

    id: int
    features: dict[str, Any]


def features(example: Example | ExampleFeatures, project: Project) -> list[tuple[str, str]]:
    names = project.visible_columns or list(example.features)
    return [(n, _fmt(example.features.get(n))) for n in names if n in example.features]


def _fmt(value: Any) -> str:
    if value is None:
        return "(unknown)"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _FeatureCache:
    """Example features already read, by (project id, project creation time, example id).

    Examples are written once and never updated (only deleted with their project, whose id and
    creation time never come back together, even where SQLite reuses ids), so a page need not
    read them again. Per process, bounded by the number of feature values held (an example may
    have many columns): emptied when full. Threads share it; dict operations are atomic."""

    def __init__(self, max_values: int) -> None:
        self.max_values = max_values
        self.n_values = 0
        self.data: dict[tuple[int, datetime, int], dict[str, Any]] = {}

    def get(self, key: tuple[int, datetime, int]) -> dict[str, Any] | None:
        return self.data.get(key)

    def put(self, key: tuple[int, datetime, int], features: dict[str, Any]) -> None:
        if self.n_values + len(features) > self.max_values:
            self.data.clear()
            self.n_values = 0
        self.data[key] = features
        self.n_values += len(features)


#: About 25 MB per process at most.
_FEATURES = _FeatureCache(max_values=250_000)


def examples_by_id(
    *, session: Session, project: Project, ids: list[int]
) -> dict[int, ExampleFeatures]:
    """The features of examples of ``project`` (read once per process, see ``_FeatureCache``)."""
    pkey = (project.id, project.created_at)
    out = {e: ExampleFeatures(e, f) for e in ids if (f := _FEATURES.get((*pkey, e))) is not None}
    missing = [e for e in ids if e not in out]
    if missing:
        rows = session.execute(select(Example.id, Example.features).where(Example.id.in_(missing)))
        for r in rows:
            out[int(r.id)] = ExampleFeatures(int(r.id), r.features)
            _FEATURES.put((*pkey, int(r.id)), r.features)
    return out


def quiz_questions(*, session: Session, hit: Hit, project: Project) -> list[Question]:
    ids = [int(i["example_id"]) for i in hit.items if i["role"] == "quiz"]
    examples = examples_by_id(session=session, project=project, ids=ids)
    return [
        Question(field=QUIZ_FIELD.format(e), number=n + 1, features=features(examples[e], project))
        for n, e in enumerate(ids)
    ]


def placeholders(n: int) -> list[Question]:
    """Preview questions: numbered slots with throw-away field names and no example shown."""
    return [
        Question(field="p" + secrets.token_urlsafe(12), number=k + 1, features=[]) for k in range(n)
    ]


def feature_names(*, session: Session, hit: Hit, project: Project) -> list[str]:
    """The facts every example of the project shows (the same for every question)."""
    if project.visible_columns:
        return list(project.visible_columns)
    first = next((int(i["example_id"]) for i in hit.items if i["role"] == "task"), None)
    example = session.get(Example, first) if first is not None else None
    return list(example.features) if example is not None else []


def question_rng(settings: Settings, assignment_id: str) -> random.Random:
    return random.Random(security.sign(settings, "question-order", assignment_id))


def default_questions(settings: Settings, hit: Hit, assignment_id: str) -> list[int]:
    """The HIT's task and gold examples in this assignment's own order (no gold substitution):
    for assignments first seen by sync, and for ones bound before per-assignment questions."""
    ids = task_example_ids(hit)
    question_rng(settings, assignment_id).shuffle(ids)
    return ids


def question_ids(settings: Settings, hit: Hit, assignment_id: str, ha: HitAssignment) -> list[int]:
    """The example ids this assignment shows, in its page order."""
    if ha.questions is not None:
        return [int(e) for e in ha.questions]
    return default_questions(settings, hit, assignment_id)


def answer_fields(
    settings: Settings, hit: Hit, assignment_id: str, ha: HitAssignment | None
) -> dict[str, int]:
    """Answer field name -> example id for one assignment (page order)."""
    ids = (
        question_ids(settings, hit, assignment_id, ha)
        if ha is not None
        else default_questions(settings, hit, assignment_id)
    )
    return {providers.answer_field(settings, assignment_id, e): e for e in ids}


def answered_by_worker(*, session: Session, project_id: int, worker_id: int) -> set[int]:
    """Every example this worker has answered in the project."""
    return {
        int(e)
        for e in session.scalars(
            select(Answer.example_id).where(
                Answer.project_id == project_id, Answer.worker_id == worker_id
            )
        )
    }


def seen_by_worker(
    *, session: Session, project_id: int, worker_id: int, answered: set[int] | None = None
) -> set[int]:
    """Every example this worker was shown or answered in the project (gold must not repeat).
    ``answered``: the worker's answered examples, when the caller has read them already."""
    seen: set[int] = set()
    rows = session.execute(
        select(HitAssignment.questions, Hit.items)
        .join(Assignment, Assignment.id == HitAssignment.assignment_id)
        .join(Hit, Hit.id == HitAssignment.hit_id)
        .where(Assignment.project_id == project_id, Assignment.worker_id == worker_id)
    ).all()
    for questions, items in rows:
        if questions is not None:
            seen.update(int(e) for e in questions)
        else:
            seen.update(int(i["example_id"]) for i in items)
    if answered is None:
        answered = answered_by_worker(session=session, project_id=project_id, worker_id=worker_id)
    return seen | answered


def choose_questions(
    *,
    session: Session,
    settings: Settings,
    hit: Hit,
    assignment_id: str,
    worker_id: int,
    new_worker: bool = False,
    answered: set[int] | None = None,
) -> list[int]:
    """This assignment's questions: the HIT's task examples plus, for each gold slot, a hidden
    gold check this worker has never been shown (the HIT's own when fresh, else another from
    the project's pool, else none), shuffled in the assignment's own order. ``new_worker``: the
    worker row was created in this transaction, so nothing can have been shown to it yet;
    ``answered``: the worker's answered examples, when the caller has read them already."""
    rng = question_rng(settings, assignment_id)
    tasks = [int(i["example_id"]) for i in hit.items if i["role"] == "task"]
    slots = [int(i["example_id"]) for i in hit.items if i["role"] == "gold"]
    chosen: list[int] = []
    if slots:
        seen = (
            set()
            if new_worker
            else seen_by_worker(
                session=session, project_id=hit.project_id, worker_id=worker_id, answered=answered
            )
        )
        pool = list(
            session.scalars(
                select(GoldQuestion.example_id)
                .where(
                    GoldQuestion.project_id == hit.project_id,
                    GoldQuestion.kind == "hidden_check",
                )
                .order_by(GoldQuestion.id)
            )
        )
        fresh = [int(g) for g in pool if g not in seen and g not in slots and g not in tasks]
        rng.shuffle(fresh)
        for g in slots:
            if g not in seen and g not in chosen:
                chosen.append(g)
            elif fresh:
                chosen.append(fresh.pop())
    ids = tasks + chosen
    rng.shuffle(ids)
    return ids


def work_questions(
    *,
    session: Session,
    settings: Settings,
    hit: Hit,
    project: Project,
    ident: Identity,
    ha: HitAssignment,
) -> list[Question]:
    fields = answer_fields(settings, hit, ident.assignment_id, ha)
    examples = examples_by_id(session=session, project=project, ids=list(fields.values()))
    return [
        Question(field=name, number=n + 1, features=features(examples[e], project))
        for n, (name, e) in enumerate(fields.items())
    ]


def assignment_questions(
    *, session: Session, settings: Settings, assignment_id: str
) -> dict[str, int]:
    """The questions an opened assignment asks, as the requester knows them: answer field name ->
    example id, in page order (404 for an assignment never opened). A simulated worker (the
    replay) answers them without reading the page."""
    assignment = session.scalar(select(Assignment).where(Assignment.external_id == assignment_id))
    ha = session.get(HitAssignment, assignment.id) if assignment is not None else None
    hit = session.get(Hit, ha.hit_id) if ha is not None else None
    if ha is None or hit is None:
        raise NotFound(f"assignment {assignment_id} was never opened on a task page")
    return answer_fields(settings, hit, assignment_id, ha)


def task_example_ids(hit: Hit) -> list[int]:
    return [int(i["example_id"]) for i in hit.items if i["role"] in ("task", "gold")]
