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
sync finds it on MTurk for the same HIT and worker (app.services.recruiting.mturk_sync confirms
or discards it).

Gold stays hidden: the preview shows how many questions there are and which facts each shows,
never the examples (the same hidden gold would appear in several HITs' previews). Which questions
an assignment asks, in which order and under which names: app.services.task.questions.

Concurrency: "one submission per assignment" is a conditional UPDATE of the assignment's status
and a link HIT's cap a conditional UPDATE of its bound counter, both atomic on Postgres and SQLite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core import security
from app.core.config import Settings
from app.core.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from app.models import Assignment, GoldQuestion, Hit, HitAssignment, Project
from app.models import Worker as WorkerRow
from app.services import recruiting
from app.services.crowd import submissions
from app.services.recruiting import links as providers
from app.services.recruiting.base import Identity, RecruitingProvider
from app.services.task import questions
from app.services.task.questions import QUIZ_FIELD, answer_fields

_QUIZ_FIELD = re.compile(r"^quiz_(\d{1,12})$")


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
    quiz: list[questions.Question] = field(default_factory=list)
    questions: list[questions.Question] = field(default_factory=list)
    feedback: list[QuizFeedback] = field(default_factory=list)
    completion_code: str | None = None
    completion_url: str | None = None
    message: str | None = None
    feature_names: list[str] = field(default_factory=list)


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


def form_fields(settings: Settings, hit_id: int, ident: Identity) -> dict[str, str]:
    """The hidden fields of the task form for this identity (what every post must carry back:
    the identity and the HMAC binding it to this HIT, checked by ``submit_task``)."""
    return {
        "assignmentId": ident.assignment_id,
        "hitId": ident.provider_hit_id,
        "workerId": ident.worker_id,
        "turkSubmitTo": ident.submit_to,
        "token": providers.form_token(
            settings,
            hit_id,
            ident.assignment_id,
            ident.provider_hit_id,
            ident.worker_id,
            ident.submit_to,
        ),
    }


def worker_row(*, session: Session, external_id: str) -> WorkerRow:
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
    recruiter = _recruiter(hit)
    recruiter.admit(session, hit, ident)
    # A worker row created just now (its insert not yet committed) has no answers and no
    # assignments anywhere: another transaction cannot reference it, so skip those queries.
    worker, new_worker = _worker_row_created(session, ident.worker_id)
    if worker.blocked:
        raise Forbidden("this worker may not work on this project's tasks")
    tasks = [int(i["example_id"]) for i in hit.items if i["role"] == "task"]
    # Read once: both the check below and the choice of gold need them.
    answered = (
        set()
        if new_worker
        else questions.answered_by_worker(
            session=session, project_id=hit.project_id, worker_id=worker.id
        )
    )
    if any(e in answered for e in tasks):
        raise Conflict(
            "you have already answered questions of this task in another HIT; please return it"
        )
    recruiter.take_place(session, hit)
    assignment = Assignment(
        project_id=hit.project_id,
        worker_id=worker.id,
        external_id=ident.assignment_id,
        status="accepted",
        source=hit.provider,
        # MTurk vouches for an assignment only once it is submitted there (see the docstring).
        confirmation="unconfirmed" if recruiter.confirms_later else "confirmed",
    )
    session.add(assignment)
    session.flush()
    ha = HitAssignment(
        assignment_id=assignment.id,
        hit_id=hit.id,
        worker_external_id=ident.worker_id,
        review="pending",
        questions=questions.choose_questions(
            session=session,
            settings=settings,
            hit=hit,
            assignment_id=ident.assignment_id,
            worker_id=worker.id,
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
    return recruiting.get(hit.provider)


def _identify(
    session: Session, settings: Settings, hit: Hit, params: dict[str, str]
) -> Identity | None:
    return _recruiter(hit).identify(session, settings, hit, params)


def open_task(
    *, session: Session, settings: Settings, hit_id: int, params: dict[str, str]
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
            quiz=questions.placeholders(n_quiz),
            questions=questions.placeholders(len(hit.items) - n_quiz),
            feature_names=questions.feature_names(session=session, hit=hit, project=project),
            message="Preview: accept the HIT to see and answer the questions.",
        )
    assignment, ha = _bind(session, settings, hit, ident)
    view = TaskView(
        hit=hit, project=project, mode="work", hidden=form_fields(settings, hit.id, ident)
    )
    if assignment.status != "accepted":
        view.mode = "done"
        view.message = "You have already submitted this task. Thank you!"
        recruiter = _recruiter(hit)
        view.completion_code = recruiter.completion_code(settings, ident)
        view.completion_url = recruiter.finish(session, settings, hit, ident)
        return view
    quiz = questions.quiz_questions(session=session, hit=hit, project=project)
    if quiz and ha.quiz is None:
        view.mode = "quiz"
        view.quiz = quiz
        return view
    view.feedback = _feedback(session, hit, project, ha)
    view.questions = questions.work_questions(
        session=session, settings=settings, hit=hit, project=project, ident=ident, ha=ha
    )
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
    if not security.verify_plain(form.get("token"), expected):
        raise Forbidden("this form was not issued for this assignment, HIT and worker")
    _check_open(hit)
    # One round trip for both.
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


FORM_FIELDS = frozenset(("assignmentId", "hitId", "workerId", "turkSubmitTo", "token"))


def _check_answer_fields(form: dict[str, str], allowed: dict[str, int]) -> None:
    for name in form:
        if name not in allowed and name not in FORM_FIELDS and not _QUIZ_FIELD.match(name):
            raise InvalidInput(f"{name[:40]} is not a question of this task")


def _check_quiz_fields(form: dict[str, str], allowed: set[str]) -> None:
    for name in form:
        if name.startswith("quiz_") and name not in allowed:
            raise InvalidInput(f"{name[:40]} is not a question of this task")


def _feedback(
    session: Session, hit: Hit, project: Project, ha: HitAssignment
) -> list[QuizFeedback]:
    if not ha.quiz:
        return []
    ids = [int(q["example_id"]) for q in ha.quiz]
    examples = questions.examples_by_id(session=session, project=project, ids=ids)
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
                features=questions.features(examples[ex], project),
                answer=int(q["value"]),
                answer_label=labels[int(q["value"]) - 1],
                correct=bool(q["correct"]),
                truth=truth,
                explanation=g.explanation if g is not None else None,
            )
        )
    return out


def submit_quiz(
    *, session: Session, settings: Settings, hit_id: int, form: dict[str, str]
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
                "correct": submissions.correct(values[e], int(labels.get(e, 0)), project.threshold),
            }
            for e in quiz_ids
        ]
        session.commit()
    return TaskView(
        hit=hit,
        project=project,
        mode="work",
        hidden=form_fields(settings, hit.id, ident),
        feedback=_feedback(session, hit, project, ha),
        questions=questions.work_questions(
            session=session, settings=settings, hit=hit, project=project, ident=ident, ha=ha
        ),
    )


def submit_task(
    *, session: Session, settings: Settings, hit_id: int, form: dict[str, str]
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
    try:
        # The answers' INSERT runs in here (not at the commit), so a conflict raises here too.
        n_answers = submissions.record_submission(
            session=session,
            project=project,
            hit=hit,
            assignment=assignment,
            ha=ha,
            values=values,
            submitted_at=now,
            via="page",
        )
        session.commit()
    except IntegrityError:  # a concurrent second submit of the same assignment
        session.rollback()
        raise Conflict("this assignment was already submitted; nothing was changed") from None
    out = SubmitOutcome(hit=hit, project=project, provider=hit.provider, n_answers=n_answers)
    out.post_to, out.fields = recruiter.return_form(
        ident, [(name, str(values[e])) for name, e in fields.items()]
    )
    out.completion_code = recruiter.completion_code(settings, ident)
    return out
