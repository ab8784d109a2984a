"""The worker task page's logic (issue 4 §4, §6): who is asking, what they see, what is stored.

The page shows the features the project chose, the question and four labelled options per
example. Gold labels, known labels, which questions are gold checks and other workers' data
never reach the browser; a training quiz's right answers are shown only after it is answered.

Identity: MTurk passes ``assignmentId``, ``hitId``, ``workerId`` and ``turkSubmitTo``; the link
provider passes a signed ``invite`` or the panel's ``pid`` with the HIT's link key ``k``. The
first non-preview visit binds the assignment to that worker and HIT; the form carries an HMAC over
(HIT, assignment, provider HIT id, worker, turkSubmitTo), so a forged or altered post, another
worker's assignment, an unknown or expired HIT, a second submit or a value outside 1-4 is refused
with a 4xx and stores nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, DomainError, InvalidInput, NotFound
from app.models import Answer, Assignment, Example, GoldQuestion, Hit, HitAssignment, Project
from app.models import Worker as WorkerRow
from app.services import providers

if TYPE_CHECKING:
    from app.services.recruiting import RecruitingProvider

ANSWER_FIELD = "ex_{}"
QUIZ_FIELD = "quiz_{}"
_FIELD = re.compile(r"^(ex|quiz)_(\d{1,12})$")
_WORKER_ID = re.compile(r"^[A-Za-z0-9_.:@-]{1,120}$")
_ASSIGNMENT_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class Gone(DomainError):
    status_code = 410
    code = "expired"


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
    hit = session.get(Hit, hit_id)
    if hit is None or hit.state not in ("published",):
        raise NotFound(f"task {hit_id} does not exist or is not open")
    project = session.get(Project, hit.project_id)
    assert project is not None  # FK
    return hit, project


def _check_open(hit: Hit) -> None:
    if hit.expires_at is not None:
        expires = hit.expires_at if hit.expires_at.tzinfo else hit.expires_at.replace(tzinfo=UTC)
        if expires <= datetime.now(UTC):
            raise Gone(f"task {hit.id} has expired; it no longer takes answers")


def _features(example: Example, project: Project) -> list[tuple[str, str]]:
    names = project.visible_columns or list(example.features)
    return [(n, _fmt(example.features.get(n))) for n in names if n in example.features]


def _fmt(value: Any) -> str:
    if value is None:
        return "(unknown)"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _questions(
    session: Session, hit: Hit, project: Project, roles: tuple[str, ...], pattern: str
) -> list[Question]:
    ids = [int(i["example_id"]) for i in hit.items if i["role"] in roles]
    examples = {e.id: e for e in session.scalars(select(Example).where(Example.id.in_(ids))) if ids}
    return [
        Question(field=pattern.format(ex), number=n + 1, features=_features(examples[ex], project))
        for n, ex in enumerate(ids)
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
    if not _WORKER_ID.match(worker):
        raise InvalidInput("workerId is missing or malformed")
    submit_to = providers.check_submit_to(hit, params.get("turkSubmitTo") or "")
    assert hit.mturk_hit_id is not None
    return Identity(hit.mturk_hit_id, aid, worker, submit_to)


def _identity_link(settings: Settings, hit: Hit, params: dict[str, str]) -> Identity | None:
    if hit.provider != "link":
        raise NotFound(f"task {hit.id} is not a link task")
    worker: str | None = None
    if params.get("invite"):
        worker = providers.read_invite(settings, hit.project_id, params["invite"])
        if worker is None:
            raise Forbidden("this invite link is not valid (altered or for another project)")
    else:
        if not providers.verify_plain(params.get("k"), providers.link_key(settings, hit.id)):
            raise Forbidden("open this task through your invite or panel link")
        worker = params.get("pid") or None
        if worker is None:
            return None  # a panel link without a worker id yet: preview
    if not _WORKER_ID.match(worker):
        raise InvalidInput("the worker id is malformed")
    ext_worker = providers.LINK_WORKER_PREFIX + worker
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
    row = session.scalar(select(WorkerRow).where(WorkerRow.external_id == external_id))
    if row is None:
        row = WorkerRow(external_id=external_id)
        session.add(row)
        session.flush()
    return row


def _task_example_ids(hit: Hit) -> list[int]:
    return [int(i["example_id"]) for i in hit.items if i["role"] in ("task", "gold")]


def _bind(session: Session, hit: Hit, ident: Identity) -> tuple[Assignment, HitAssignment]:
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
        return assignment, ha
    _recruiter(hit).admit(session, hit, ident)
    worker = worker_row(session, ident.worker_id)
    if worker.blocked:
        raise Forbidden("this worker may not work on this project's tasks")
    if hit.provider == "link":
        taken = session.scalar(
            select(func.count()).select_from(HitAssignment).where(HitAssignment.hit_id == hit.id)
        )
        if int(taken or 0) >= hit.max_assignments:
            raise Conflict("this task has all the answers it needs; thank you")
    already = session.scalar(
        select(Answer.id)
        .where(
            Answer.project_id == hit.project_id,
            Answer.worker_id == worker.id,
            Answer.example_id.in_(_task_example_ids(hit)),
        )
        .limit(1)
    )
    if already is not None:
        raise Conflict(
            "you have already answered questions of this task in another HIT; please return it"
        )
    assignment = Assignment(
        project_id=hit.project_id,
        worker_id=worker.id,
        external_id=ident.assignment_id,
        status="accepted",
        source=hit.provider,
    )
    session.add(assignment)
    session.flush()
    ha = HitAssignment(
        assignment_id=assignment.id,
        hit_id=hit.id,
        worker_external_id=ident.worker_id,
        review="pending",
    )
    session.add(ha)
    try:
        session.commit()
    except IntegrityError:  # the same assignment opened twice at once
        session.rollback()
        return _bind(session, hit, ident)
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
    quiz = _questions(session, hit, project, ("quiz",), QUIZ_FIELD)
    questions = _questions(session, hit, project, ("task", "gold"), ANSWER_FIELD)
    if ident is None:
        return TaskView(
            hit=hit,
            project=project,
            mode="preview",
            quiz=quiz,
            questions=questions,
            message="Preview: accept the HIT to answer these questions.",
        )
    assignment, ha = _bind(session, hit, ident)
    view = TaskView(hit=hit, project=project, mode="work", hidden=_hidden(settings, hit, ident))
    if assignment.status != "accepted":
        view.mode = "done"
        view.message = "You have already submitted this task. Thank you!"
        if hit.provider == "link":
            view.completion_code = providers.completion_code(settings, ident.assignment_id)
        else:
            view.completion_url = _recruiter(hit).finish(session, settings, hit, ident)
        return view
    if quiz and ha.quiz is None:
        view.mode = "quiz"
        view.quiz = quiz
        return view
    view.feedback = _feedback(session, hit, project, ha)
    view.questions = questions
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
    assignment = session.scalar(
        select(Assignment).where(Assignment.external_id == ident.assignment_id)
    )
    if assignment is None:
        raise NotFound(f"assignment {ident.assignment_id} was never opened on this task")
    ha = session.get(HitAssignment, assignment.id)
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


def _check_fields(form: dict[str, str], allowed: set[str], kind: str) -> None:
    for name in form:
        match = _FIELD.match(name)
        if (match and match.group(1) == kind and name not in allowed) or (
            name.startswith(f"{kind}_") and not match
        ):
            raise InvalidInput(f"{name} is not a question of this task")


def _correct(value: int, label: int, threshold: float) -> bool:
    return (value > threshold) == (label == 1)


def _feedback(
    session: Session, hit: Hit, project: Project, ha: HitAssignment
) -> list[QuizFeedback]:
    if not ha.quiz:
        return []
    ids = [int(q["example_id"]) for q in ha.quiz]
    examples = {e.id: e for e in session.scalars(select(Example).where(Example.id.in_(ids)))}
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
        _check_fields(form, {QUIZ_FIELD.format(e) for e in quiz_ids}, "quiz")
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
        questions=_questions(session, hit, project, ("task", "gold"), ANSWER_FIELD),
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
    ids = _task_example_ids(hit)
    _check_fields(form, {ANSWER_FIELD.format(e) for e in ids}, "ex")
    values = {e: _value(form, ANSWER_FIELD.format(e)) for e in ids}
    now = datetime.now(UTC)
    recruiter = _recruiter(hit)
    if recruiter.holds_answers:
        # The marketplace must confirm this submission before its answers count.
        recruiter.hold(session, hit, assignment, ha, values)
        assignment.status = "submitted"
        assignment.submitted_at = now
        session.commit()
        return SubmitOutcome(
            hit=hit,
            project=project,
            provider=hit.provider,
            redirect_url=recruiter.finish(session, settings, hit, ident),
        )
    answered = set(
        session.scalars(
            select(Answer.example_id).where(
                Answer.project_id == hit.project_id,
                Answer.worker_id == assignment.worker_id,
                Answer.example_id.in_(ids),
            )
        )
    )
    gold = dict(
        session.execute(
            select(GoldQuestion.example_id, GoldQuestion.label).where(
                GoldQuestion.project_id == project.id,
                GoldQuestion.kind == "hidden_check",
                GoldQuestion.example_id.in_(ids),
            )
        ).all()
    )
    rows = [
        Answer(
            project_id=hit.project_id,
            example_id=e,
            worker_id=assignment.worker_id,
            assignment_id=assignment.id,
            value=v,
            source=hit.provider,
            submitted_at=now,
        )
        for e, v in values.items()
        if e not in answered  # one answer per worker and example, the first one
    ]
    session.add_all(rows)
    assignment.status = "submitted"
    assignment.submitted_at = now
    ha.submitted_via = "page"
    ha.gold_total = len(gold)
    ha.gold_correct = sum(
        _correct(values[e], int(lbl), project.threshold) for e, lbl in gold.items()
    )
    try:
        session.commit()
    except IntegrityError:  # a concurrent second submit of the same assignment
        session.rollback()
        raise Conflict("this assignment was already submitted; nothing was changed") from None
    out = SubmitOutcome(hit=hit, project=project, provider=hit.provider, n_answers=len(rows))
    if hit.provider == "mturk":
        out.post_to = f"{ident.submit_to}/mturk/externalSubmit"
        out.fields = [("assignmentId", ident.assignment_id)] + [
            (ANSWER_FIELD.format(e), str(v)) for e, v in values.items()
        ]
    else:
        out.completion_code = providers.completion_code(settings, ident.assignment_id)
    return out
