"""The worker task page's logic (docs/MTURK.md §4): who is asking, what they see, what is stored.

The page shows the features the project chose, the question and four labelled options per
example. Gold labels, known labels, which questions are gold checks and other workers' data
never reach the browser; a training quiz's right answers are shown only after it is answered.

Identity: MTurk passes ``assignmentId``, ``hitId``, ``workerId`` and ``turkSubmitTo``; the link
provider passes an opaque ``invite`` or the panel's ``pid`` with the HIT's link key ``k``. The
first non-preview visit binds the assignment to that worker and HIT; the form carries an HMAC over
(HIT, assignment, provider HIT id, worker, turkSubmitTo), so a forged or altered post, another
worker's assignment, an unknown or expired HIT, a second submit or a value outside 1-4 is refused
with a 4xx and stores nothing.

Trust: MTurk's parameters arrive in a URL anyone can type, and MTurk hides an assignment from the
requester until it is submitted (docs/MTURK.md: GetAssignment, ListAssignmentsForHIT). So an
``mturk`` assignment opened here is stored ``unconfirmed`` and its answers are never counted until
sync finds it on MTurk for the same HIT and worker (app.services.sync confirms or discards it).

Gold stays hidden: the preview shows how many questions there are and which facts each shows,
never the examples (the same hidden gold would appear in several HITs' previews). Each assignment
gets its own questions (the HIT's task examples plus hidden gold this worker has not seen yet), in
its own order, under answer fields named by an HMAC of (assignment, example): nothing in names,
order or markup tells a gold check from a task question.

Concurrency: "one submission per assignment" is a conditional UPDATE of the assignment's status
and a link HIT's cap a conditional UPDATE of its bound counter, both atomic on Postgres and SQLite.
"""

from __future__ import annotations

import random
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, DomainError, InvalidInput, NotFound
from app.models import Answer, Assignment, Example, GoldQuestion, Hit, HitAssignment, Project
from app.models import Worker as WorkerRow
from app.services import providers

if TYPE_CHECKING:
    from app.services.recruiting import RecruitingProvider

QUIZ_FIELD = "quiz_{}"
_QUIZ_FIELD = re.compile(r"^quiz_(\d{1,12})$")
_WORKER_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,120}$")
# MTurk WorkerIds are "A" plus upper-case letters and digits (never ':', so never a link id).
_MTURK_WORKER_ID = re.compile(r"^A[A-Z0-9]{1,63}$")
_ASSIGNMENT_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class Gone(DomainError):
    status_code = 410
    code = "expired"


@dataclass(frozen=True)
class ExampleFeatures:
    """What a page shows of an example."""

    id: int
    features: dict[str, Any]


@dataclass(frozen=True)
class Question:
    field: str
    number: int
    features: list[tuple[str, str]]


@dataclass(frozen=True)
class QuizFeedback:
    number: int
    features: list[tuple[str, str]]
    answer: int
    answer_label: str
    correct: bool
    truth: str
    explanation: str | None


@dataclass
class TaskView:
    """Everything the template needs (and nothing secret)."""

    hit: Hit
    project: Project
    mode: str  # preview | quiz | work | done
    hidden: dict[str, str] = field(default_factory=dict)
    quiz: list[Question] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    feedback: list[QuizFeedback] = field(default_factory=list)
    completion_code: str | None = None
    completion_url: str | None = None
    message: str | None = None
    feature_names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Identity:
    provider_hit_id: str
    assignment_id: str
    worker_id: str
    submit_to: str


@dataclass
class SubmitOutcome:
    hit: Hit
    project: Project
    provider: str
    post_to: str | None = None
    fields: list[tuple[str, str]] = field(default_factory=list)
    completion_code: str | None = None
    n_answers: int = 0
    redirect_url: str | None = None  # the marketplace's completion step (Prolific)


def _hit(session: Session, hit_id: int) -> tuple[Hit, Project]:
    # One round trip for both (every page view and submit starts here).
    row = session.execute(
        select(Hit, Project).join(Project, Project.id == Hit.project_id).where(Hit.id == hit_id)
    ).first()
    if row is None or row[0].state not in ("published",):
        raise NotFound(f"task {hit_id} does not exist or is not open")
    return row[0], row[1]


def _check_open(hit: Hit) -> None:
    if hit.expires_at is not None:
        expires = hit.expires_at if hit.expires_at.tzinfo else hit.expires_at.replace(tzinfo=UTC)
        if expires <= datetime.now(UTC):
            raise Gone(f"task {hit.id} has expired; it no longer takes answers")


def _features(example: Example | ExampleFeatures, project: Project) -> list[tuple[str, str]]:
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


def _examples(session: Session, project: Project, ids: list[int]) -> dict[int, ExampleFeatures]:
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


def _quiz_questions(session: Session, hit: Hit, project: Project) -> list[Question]:
    ids = [int(i["example_id"]) for i in hit.items if i["role"] == "quiz"]
    examples = _examples(session, project, ids)
    return [
        Question(field=QUIZ_FIELD.format(e), number=n + 1, features=_features(examples[e], project))
        for n, e in enumerate(ids)
    ]


def _placeholders(n: int) -> list[Question]:
    """Preview questions: numbered slots with throw-away field names and no example shown."""
    return [
        Question(field="p" + secrets.token_urlsafe(12), number=k + 1, features=[]) for k in range(n)
    ]


def _feature_names(session: Session, hit: Hit, project: Project) -> list[str]:
    """The facts every example of the project shows (the same for every question)."""
    if project.visible_columns:
        return list(project.visible_columns)
    first = next((int(i["example_id"]) for i in hit.items if i["role"] == "task"), None)
    example = session.get(Example, first) if first is not None else None
    return list(example.features) if example is not None else []


def _rng(settings: Settings, assignment_id: str) -> random.Random:
    return random.Random(providers.sign(settings, "question-order", assignment_id))


def default_questions(settings: Settings, hit: Hit, assignment_id: str) -> list[int]:
    """The HIT's task and gold examples in this assignment's own order (no gold substitution):
    for assignments first seen by sync, and for ones bound before per-assignment questions."""
    ids = _task_example_ids(hit)
    _rng(settings, assignment_id).shuffle(ids)
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


def _answered_by_worker(session: Session, project_id: int, worker_id: int) -> set[int]:
    """Every example this worker has answered in the project."""
    return {
        int(e)
        for e in session.scalars(
            select(Answer.example_id).where(
                Answer.project_id == project_id, Answer.worker_id == worker_id
            )
        )
    }


def _seen_by_worker(
    session: Session, project_id: int, worker_id: int, answered: set[int] | None = None
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
        answered = _answered_by_worker(session, project_id, worker_id)
    return seen | answered


def _choose_questions(
    session: Session,
    settings: Settings,
    hit: Hit,
    assignment_id: str,
    worker_id: int,
    *,
    new_worker: bool = False,
    answered: set[int] | None = None,
) -> list[int]:
    """This assignment's questions: the HIT's task examples plus, for each gold slot, a hidden
    gold check this worker has never been shown (the HIT's own when fresh, else another from
    the project's pool, else none), shuffled in the assignment's own order. ``new_worker``: the
    worker row was created in this transaction, so nothing can have been shown to it yet;
    ``answered``: the worker's answered examples, when the caller has read them already."""
    rng = _rng(settings, assignment_id)
    tasks = [int(i["example_id"]) for i in hit.items if i["role"] == "task"]
    slots = [int(i["example_id"]) for i in hit.items if i["role"] == "gold"]
    chosen: list[int] = []
    if slots:
        seen = (
            set()
            if new_worker
            else _seen_by_worker(session, hit.project_id, worker_id, answered=answered)
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


def _work_questions(
    session: Session,
    settings: Settings,
    hit: Hit,
    project: Project,
    ident: Identity,
    ha: HitAssignment,
) -> list[Question]:
    fields = answer_fields(settings, hit, ident.assignment_id, ha)
    examples = _examples(session, project, list(fields.values()))
    return [
        Question(field=name, number=n + 1, features=_features(examples[e], project))
        for n, (name, e) in enumerate(fields.items())
    ]


def _identity_mturk(settings: Settings, hit: Hit, params: dict[str, str]) -> Identity | None:
    """None in preview; else the checked MTurk identity."""
    if hit.provider != "mturk":
        raise NotFound(f"task {hit.id} is not an MTurk HIT")
    hit_param = params.get("hitId")
    if hit_param is not None and hit_param != hit.mturk_hit_id:
        raise NotFound(f"hitId {hit_param!r} is not task {hit.id}")
    aid = params.get("assignmentId") or providers.PREVIEW_ASSIGNMENT_ID
    if aid == providers.PREVIEW_ASSIGNMENT_ID:
        return None
    if not _ASSIGNMENT_ID.match(aid):
        raise InvalidInput("assignmentId is malformed")
    worker = params.get("workerId") or ""
    if not _MTURK_WORKER_ID.match(worker):
        raise InvalidInput("workerId is missing or is not an MTurk WorkerId (^A[A-Z0-9]+$)")
    submit_to = providers.check_submit_to(hit, params.get("turkSubmitTo") or "")
    assert hit.mturk_hit_id is not None
    return Identity(hit.mturk_hit_id, aid, worker, submit_to)


def _identity_link(
    session: Session, settings: Settings, hit: Hit, params: dict[str, str]
) -> Identity | None:
    if hit.provider != "link":
        raise NotFound(f"task {hit.id} is not a link task")
    if params.get("invite"):
        if params.get("pid"):
            raise InvalidInput("a task link carries an invite or a panel id, not both")
        name = providers.read_invite(session, hit.project_id, params["invite"])
        if name is None:
            raise Forbidden("this invite link is not valid (altered or for another project)")
        ext_worker = providers.invite_worker_id(name)
    else:
        if not providers.verify_plain(params.get("k"), providers.link_key(settings, hit.id)):
            raise Forbidden("open this task through your invite or panel link")
        pid = params.get("pid") or None
        if pid is None:
            return None  # a panel link without a worker id yet: preview
        if not _WORKER_ID.match(pid):
            raise InvalidInput("the worker id is malformed")
        ext_worker = providers.panel_worker_id(pid)
    aid = providers.link_assignment_id(settings, hit.id, ext_worker)
    return Identity(str(hit.id), aid, ext_worker, "")


def _hidden(settings: Settings, hit: Hit, ident: Identity) -> dict[str, str]:
    return {
        "assignmentId": ident.assignment_id,
        "hitId": ident.provider_hit_id,
        "workerId": ident.worker_id,
        "turkSubmitTo": ident.submit_to,
        "token": providers.form_token(
            settings,
            hit.id,
            ident.assignment_id,
            ident.provider_hit_id,
            ident.worker_id,
            ident.submit_to,
        ),
    }


def worker_row(session: Session, external_id: str) -> WorkerRow:
    """The worker with this marketplace (or link) id, created on first sight."""
    return _worker_row_created(session, external_id)[0]


def _worker_row_created(session: Session, external_id: str) -> tuple[WorkerRow, bool]:
    """:func:`worker_row`, and whether it was created now (in this transaction)."""
    row = session.scalar(select(WorkerRow).where(WorkerRow.external_id == external_id))
    if row is not None:
        return row, False
    row = WorkerRow(external_id=external_id)
    session.add(row)
    session.flush()
    return row, True


def _task_example_ids(hit: Hit) -> list[int]:
    return [int(i["example_id"]) for i in hit.items if i["role"] in ("task", "gold")]


def _take_slot(session: Session, hit: Hit) -> None:
    """Claim one of a link HIT's ``max_assignments`` slots: a single conditional UPDATE, so
    concurrent first visits can never bind more (the row lock serialises them)."""
    taken = session.execute(
        update(Hit)
        .where(Hit.id == hit.id, Hit.n_bound < Hit.max_assignments)
        .values(n_bound=Hit.n_bound + 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("this task has all the answers it needs; thank you")


def _bind(
    session: Session, settings: Settings, hit: Hit, ident: Identity
) -> tuple[Assignment, HitAssignment]:
    """The assignment of this worker on this HIT, created on the first visit."""
    assignment = session.scalar(
        select(Assignment).where(Assignment.external_id == ident.assignment_id)
    )
    if assignment is not None:
        ha = session.get(HitAssignment, assignment.id)
        worker = session.get(WorkerRow, assignment.worker_id)
        if ha is None or ha.hit_id != hit.id:
            raise Forbidden(f"assignment {ident.assignment_id} does not belong to this task")
        if worker is None or worker.external_id != ident.worker_id:
            raise Forbidden(f"assignment {ident.assignment_id} belongs to another worker")
        if assignment.confirmation == "discarded":
            raise Forbidden(
                f"assignment {ident.assignment_id} was not issued by the marketplace for this "
                "HIT and worker"
            )
        return assignment, ha
    _recruiter(hit).admit(session, hit, ident)
    # A worker row created just now (its insert not yet committed) has no answers and no
    # assignments anywhere: another transaction cannot reference it, so skip those queries.
    worker, new_worker = _worker_row_created(session, ident.worker_id)
    if worker.blocked:
        raise Forbidden("this worker may not work on this project's tasks")
    tasks = [int(i["example_id"]) for i in hit.items if i["role"] == "task"]
    # Read once: both the check below and the choice of gold need them.
    answered = set() if new_worker else _answered_by_worker(session, hit.project_id, worker.id)
    if any(e in answered for e in tasks):
        raise Conflict(
            "you have already answered questions of this task in another HIT; please return it"
        )
    if hit.provider == "link":
        _take_slot(session, hit)
    assignment = Assignment(
        project_id=hit.project_id,
        worker_id=worker.id,
        external_id=ident.assignment_id,
        status="accepted",
        source=hit.provider,
        # MTurk vouches for an assignment only once it is submitted there (see the docstring).
        confirmation="unconfirmed" if hit.provider == "mturk" else "confirmed",
    )
    session.add(assignment)
    session.flush()
    ha = HitAssignment(
        assignment_id=assignment.id,
        hit_id=hit.id,
        worker_external_id=ident.worker_id,
        review="pending",
        questions=_choose_questions(
            session,
            settings,
            hit,
            ident.assignment_id,
            worker.id,
            new_worker=new_worker,
            answered=answered,
        ),
    )
    session.add(ha)
    try:
        session.commit()
    except IntegrityError:  # the same assignment opened twice at once
        session.rollback()
        return _bind(session, settings, hit, ident)
    return assignment, ha


def _recruiter(hit: Hit) -> RecruitingProvider:
    """The hit's recruiting provider (identity, admission, holding answers, completion)."""
    from app.services import recruiting

    return recruiting.get(hit.provider)


def _identify(
    session: Session, settings: Settings, hit: Hit, params: dict[str, str]
) -> Identity | None:
    return _recruiter(hit).identify(session, settings, hit, params)


def open_task(
    session: Session, settings: Settings, hit_id: int, params: dict[str, str]
) -> TaskView:
    """GET: the preview, the quiz, the task, or (already submitted) the end page."""
    hit, project = _hit(session, hit_id)
    _check_open(hit)
    ident = _identify(session, settings, hit, params)
    if ident is None:
        n_quiz = sum(1 for i in hit.items if i["role"] == "quiz")
        return TaskView(
            hit=hit,
            project=project,
            mode="preview",
            quiz=_placeholders(n_quiz),
            questions=_placeholders(len(hit.items) - n_quiz),
            feature_names=_feature_names(session, hit, project),
            message="Preview: accept the HIT to see and answer the questions.",
        )
    assignment, ha = _bind(session, settings, hit, ident)
    view = TaskView(hit=hit, project=project, mode="work", hidden=_hidden(settings, hit, ident))
    if assignment.status != "accepted":
        view.mode = "done"
        view.message = "You have already submitted this task. Thank you!"
        if hit.provider == "link":
            view.completion_code = providers.completion_code(settings, ident.assignment_id)
        else:
            view.completion_url = _recruiter(hit).finish(session, settings, hit, ident)
        return view
    quiz = _quiz_questions(session, hit, project)
    if quiz and ha.quiz is None:
        view.mode = "quiz"
        view.quiz = quiz
        return view
    view.feedback = _feedback(session, hit, project, ha)
    view.questions = _work_questions(session, settings, hit, project, ident, ha)
    return view


def _verified(
    session: Session, settings: Settings, hit_id: int, form: dict[str, str]
) -> tuple[Hit, Project, Identity, Assignment, HitAssignment]:
    hit, project = _hit(session, hit_id)
    ident = Identity(
        provider_hit_id=form.get("hitId", ""),
        assignment_id=form.get("assignmentId", ""),
        worker_id=form.get("workerId", ""),
        submit_to=form.get("turkSubmitTo", ""),
    )
    if ident.assignment_id in ("", providers.PREVIEW_ASSIGNMENT_ID):
        raise InvalidInput("cannot submit a preview; accept the HIT first")
    expected = providers.form_token(
        settings,
        hit.id,
        ident.assignment_id,
        ident.provider_hit_id,
        ident.worker_id,
        ident.submit_to,
    )
    if not providers.verify_plain(form.get("token"), expected):
        raise Forbidden("this form was not issued for this assignment, HIT and worker")
    _check_open(hit)
    row = session.execute(
        select(Assignment, HitAssignment)
        .outerjoin(HitAssignment, HitAssignment.assignment_id == Assignment.id)
        .where(Assignment.external_id == ident.assignment_id)
    ).first()
    if row is None:
        raise NotFound(f"assignment {ident.assignment_id} was never opened on this task")
    assignment, ha = row[0], row[1]
    if ha is None or ha.hit_id != hit.id or ha.worker_external_id != ident.worker_id:
        raise Forbidden(f"assignment {ident.assignment_id} belongs to another worker or task")
    return hit, project, ident, assignment, ha


def _value(form: dict[str, str], name: str) -> int:
    raw = form.get(name)
    if raw is None or raw == "":
        raise InvalidInput(f"question {name} has no answer; answer every question")
    if raw not in ("1", "2", "3", "4"):
        raise InvalidInput(f"answer {raw[:20]!r} to {name} is not one of 1, 2, 3, 4")
    return int(raw)


_FORM_FIELDS = frozenset(("assignmentId", "hitId", "workerId", "turkSubmitTo", "token"))


def _check_answer_fields(form: dict[str, str], allowed: dict[str, int]) -> None:
    for name in form:
        if name not in allowed and name not in _FORM_FIELDS and not _QUIZ_FIELD.match(name):
            raise InvalidInput(f"{name[:40]} is not a question of this task")


def _check_quiz_fields(form: dict[str, str], allowed: set[str]) -> None:
    for name in form:
        if name.startswith("quiz_") and name not in allowed:
            raise InvalidInput(f"{name[:40]} is not a question of this task")


def _correct(value: int, label: int, threshold: float) -> bool:
    return (value > threshold) == (label == 1)


def _feedback(
    session: Session, hit: Hit, project: Project, ha: HitAssignment
) -> list[QuizFeedback]:
    if not ha.quiz:
        return []
    ids = [int(q["example_id"]) for q in ha.quiz]
    examples = _examples(session, project, ids)
    gold = {
        g.example_id: g
        for g in session.scalars(
            select(GoldQuestion).where(
                GoldQuestion.project_id == project.id, GoldQuestion.example_id.in_(ids)
            )
        )
    }
    labels = project.scale_labels
    out = []
    for n, q in enumerate(ha.quiz):
        ex = int(q["example_id"])
        g = gold.get(ex)
        truth = "likely (answers 3-4)" if g is not None and g.label == 1 else "unlikely (1-2)"
        out.append(
            QuizFeedback(
                number=n + 1,
                features=_features(examples[ex], project),
                answer=int(q["value"]),
                answer_label=labels[int(q["value"]) - 1],
                correct=bool(q["correct"]),
                truth=truth,
                explanation=g.explanation if g is not None else None,
            )
        )
    return out


def submit_quiz(
    session: Session, settings: Settings, hit_id: int, form: dict[str, str]
) -> TaskView:
    """POST the training quiz: store the answers once, then show feedback and the task."""
    hit, project, ident, assignment, ha = _verified(session, settings, hit_id, form)
    if assignment.status != "accepted":
        raise Conflict("this assignment was already submitted; nothing was changed")
    quiz_ids = [int(i["example_id"]) for i in hit.items if i["role"] == "quiz"]
    if not quiz_ids:
        raise Conflict("this task has no training quiz")
    if ha.quiz is None:
        _check_quiz_fields(form, {QUIZ_FIELD.format(e) for e in quiz_ids})
        values = {e: _value(form, QUIZ_FIELD.format(e)) for e in quiz_ids}
        labels = dict(
            session.execute(
                select(GoldQuestion.example_id, GoldQuestion.label).where(
                    GoldQuestion.project_id == project.id, GoldQuestion.example_id.in_(quiz_ids)
                )
            ).all()
        )
        ha.quiz = [
            {
                "example_id": e,
                "value": values[e],
                "correct": _correct(values[e], int(labels.get(e, 0)), project.threshold),
            }
            for e in quiz_ids
        ]
        session.commit()
    return TaskView(
        hit=hit,
        project=project,
        mode="work",
        hidden=_hidden(settings, hit, ident),
        feedback=_feedback(session, hit, project, ha),
        questions=_work_questions(session, settings, hit, project, ident, ha),
    )


def submit_task(
    session: Session, settings: Settings, hit_id: int, form: dict[str, str]
) -> SubmitOutcome:
    """POST the answers: validate all, store all (bound to assignment, HIT and worker) or none."""
    hit, project, ident, assignment, ha = _verified(session, settings, hit_id, form)
    if assignment.status != "accepted":
        raise Conflict("this assignment was already submitted; nothing was changed")
    if any(i["role"] == "quiz" for i in hit.items) and ha.quiz is None:
        raise Conflict("answer the training quiz first")
    fields = answer_fields(settings, hit, ident.assignment_id, ha)
    _check_answer_fields(form, fields)
    values = {e: _value(form, name) for name, e in fields.items()}
    now = datetime.now(UTC)
    # Claim the submission first: one conditional UPDATE, so of concurrent submits of the same
    # assignment exactly one proceeds (the others wait on the row lock, then match nothing).
    claimed = session.execute(
        update(Assignment)
        .where(Assignment.id == assignment.id, Assignment.status == "accepted")
        .values(status="submitted", submitted_at=now)
        .execution_options(synchronize_session="fetch")
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict("this assignment was already submitted; nothing was changed")
    recruiter = _recruiter(hit)
    if recruiter.holds_answers:
        # The marketplace must confirm this submission before its answers count.
        recruiter.hold(session, hit, assignment, ha, values)
        session.commit()
        return SubmitOutcome(
            hit=hit,
            project=project,
            provider=hit.provider,
            redirect_url=recruiter.finish(session, settings, hit, ident),
        )
    ids = list(values)
    answered = set(
        session.scalars(
            select(Answer.example_id).where(
                Answer.project_id == hit.project_id,
                Answer.worker_id == assignment.worker_id,
                Answer.example_id.in_(ids),
            )
        )
    )
    # One answer per worker and example, the first one.
    stored = {e: v for e, v in values.items() if e not in answered}
    # Score before anything is pending: the gold query then flushes nothing, and the
    # assignment's row gets one UPDATE (score and submitted_via), flushed before the INSERT.
    _score_gold(session, project, ha, stored)
    ha.submitted_via = "page"
    try:
        if stored:
            # One multi-row INSERT, no ORM objects (nothing reads them back).
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
                        "submitted_at": now,
                        "confirmed": assignment.confirmation == "confirmed",
                    }
                    for e, v in stored.items()
                ],
            )
        session.commit()
    except IntegrityError:  # a concurrent second submit of the same assignment
        session.rollback()
        raise Conflict("this assignment was already submitted; nothing was changed") from None
    out = SubmitOutcome(hit=hit, project=project, provider=hit.provider, n_answers=len(stored))
    if hit.provider == "mturk":
        out.post_to = f"{ident.submit_to}/mturk/externalSubmit"
        out.fields = [("assignmentId", ident.assignment_id)] + [
            (name, str(values[e])) for name, e in fields.items()
        ]
    else:
        out.completion_code = providers.completion_code(settings, ident.assignment_id)
    return out


def _score_gold(
    session: Session, project: Project, ha: HitAssignment, stored: dict[int, int]
) -> None:
    """The assignment's hidden-gold score, from the answers it stored (never the posted form)."""
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
        _correct(stored[e], int(lbl), project.threshold) for e, lbl in gold.items()
    )
