"""Worker quality and aggregated labels of a project: loads the long answer table from the
database (vectorised; COPY on Postgres) and hands it to the pure functions of app.crowd (§4.4)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import crowd
from app.core.errors import DomainError, InvalidInput
from app.models import Answer, Project, Worker
from app.schemas.crowd import LabelPublic, WorkerQuality
from app.services.crowd.examples import gold_labels
from app.services.projects import get_project

ANSWER_COLUMNS = ["example_id", "worker_id", "value", "submitted_at"]


def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "example_id": pd.Series(dtype=np.int64),
            "worker_id": pd.Series(dtype=np.int64),
            "value": pd.Series(dtype=np.int64),
            "submitted_at": pd.Series(dtype=np.int64),
        }
    )


def raw_rows(*, session: Session, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a parameter-free query through the driver cursor, skipping SQLAlchemy's per-row
    processing (the hot paths read 10^5-10^6 rows). Callers interpolate only integers."""
    raw: Any = session.connection().connection.driver_connection
    cursor = raw.cursor()
    try:
        cursor.execute(sql)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    finally:
        cursor.close()
    return rows


def load_answer_table(*, session: Session, project_id: int) -> pd.DataFrame:
    """All counted answers of a project (confirmed ones: an MTurk answer counts once MTurk has
    confirmed its assignment, app.services.recruiting.sync) as the long table, with internal integer
    ids, in insert order.

    `submitted_at` is an integer on Postgres (epoch microseconds) and ISO text on SQLite: the
    aggregators only need it sortable, and skipping datetime parsing keeps 1M rows fast.
    """
    pid = int(project_id)  # interpolated below: an int cannot inject anything
    if session.connection().dialect.name == "postgresql":
        # One text value built server-side: 10^6 rows arrive as one message, not 10^6. No ORDER
        # BY (a server sort of 10^6 rows costs more than all the rest); the id column restores
        # insert order below. date_part gives float8 epoch seconds, exact to the microsecond
        # here and several times cheaper than EXTRACT's numeric.
        sql = (
            "SELECT string_agg(concat_ws(',', example_id, worker_id, value,"
            " (date_part('epoch', submitted_at) * 1000000)::bigint, id), E'\\n')"
            f" FROM answers WHERE project_id = {pid} AND confirmed"
        )
        blob = raw_rows(session=session, sql=sql)[0][0]
        if not blob:
            return _empty()
        frame = pd.read_csv(
            io.StringIO(blob), header=None, names=[*ANSWER_COLUMNS, "id"], dtype=np.int64
        )
        ids = frame["id"].to_numpy()
        if len(ids) > 1 and not bool((ids[1:] > ids[:-1]).all()):
            frame = frame.iloc[np.argsort(ids, kind="stable")]
        return frame[ANSWER_COLUMNS].reset_index(drop=True)
    rows = raw_rows(
        session=session,
        sql="SELECT example_id, worker_id, value, submitted_at FROM answers"
        f" WHERE project_id = {pid} AND confirmed ORDER BY id",
    )
    if not rows:
        return _empty()
    return pd.DataFrame.from_records(rows, columns=ANSWER_COLUMNS)


@dataclass(frozen=True)
class ProjectCrowd:
    """What quality and aggregation need, keyed by internal ids."""

    project: Project
    answers: pd.DataFrame
    gold: dict[int, int]
    scores: pd.DataFrame


def _worker_names(session: Session, ids: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        out.update(
            {
                int(pk): ext
                for pk, ext in session.execute(
                    select(Worker.id, Worker.external_id).where(Worker.id.in_(chunk))
                ).all()
            }
        )
    return out


def _score(
    session: Session, project: Project, answers: pd.DataFrame, gold: dict[int, int]
) -> pd.DataFrame:
    worker_ids = [int(w) for w in pd.unique(answers["worker_id"])]
    blocked: set[Any] = set()
    for start in range(0, len(worker_ids), 5000):
        chunk = worker_ids[start : start + 5000]
        blocked |= {
            int(w)
            for w in session.scalars(
                select(Worker.id).where(Worker.blocked.is_(True), Worker.id.in_(chunk))
            )
        }
    try:
        return crowd.score_workers(
            answers, gold, project.worker_filter, blocked, threshold=project.threshold
        )
    except crowd.CrowdInputError as exc:
        raise InvalidInput(f"project {project.id}: {exc}") from None


def load_project_crowd(*, session: Session, project_id: int) -> ProjectCrowd:
    """Every answer of the project plus the worker scores aggregation needs."""
    project = get_project(session=session, project_id=project_id)
    answers = load_answer_table(session=session, project_id=project.id)
    gold = gold_labels(session=session, project_id=project.id)
    scores = _score(session, project, answers, gold)
    return ProjectCrowd(project=project, answers=answers, gold=gold, scores=scores)


def worker_quality(*, session: Session, project_id: int) -> list[WorkerQuality]:
    """One row per worker who answered in the project (see ``worker_report``)."""
    return worker_report(session=session, project_id=project_id)[0]


def worker_report(*, session: Session, project_id: int) -> tuple[list[WorkerQuality], list[str]]:
    """One row per worker who answered in the project (class-aware gold scores, answer-pattern
    checks, status and its reason; ``app.crowd.quality``), and warnings about the gold set.

    The answer-pattern checks read every answer, so this loads the whole answer table.
    """
    data = load_project_crowd(session=session, project_id=project_id)
    scores = data.scores
    if not len(scores):
        return [], crowd.gold_warnings(data.gold, scores)
    names = _worker_names(session, [int(w) for w in scores["worker_id"]])
    out = []
    for rec in scores.to_dict("records"):
        fields: dict[str, Any] = {
            str(key): (None if isinstance(val, float) and val != val else val)
            for key, val in rec.items()
        }
        fields["worker_id"] = names[int(rec["worker_id"])]
        out.append(WorkerQuality.model_validate(fields))
    out.sort(key=lambda q: q.worker_id)
    rule = crowd.as_rule(data.project.worker_filter)
    return out, crowd.gold_warnings(data.gold, scores, rule)


def aggregate_project(data: ProjectCrowd, *, method: str, n: int | None) -> pd.DataFrame:
    """Labels keyed by internal example id; filtered and blocked workers' answers left out."""
    n_max = n if n is not None else data.project.max_answers
    weights = crowd.accuracy_weights(data.scores) if method == "weighted" else None
    try:
        return crowd.aggregate(
            data.answers,
            method=method,
            n_max=n_max,
            threshold=data.project.threshold,
            worker_weights=weights,
            exclude_workers=crowd.excluded_workers(data.scores),
        )
    except crowd.CrowdInputError as exc:
        raise InvalidInput(str(exc)) from None


@dataclass(frozen=True)
class LabelSummary:
    """What one aggregation method makes of a project (the admin project page's table)."""

    method: str
    n: int
    labeled: int
    positive: int
    negative: int
    mean_confidence: float | None
    error: str | None = None


def label_summary(
    *, session: Session, project_id: int, n: int, methods: Sequence[str]
) -> list[LabelSummary]:
    """Per method, with the first ``n`` answers per example: labeled examples, +1 and -1 counts
    and mean confidence; a method that cannot label the project carries its error instead. The
    answers are read once and aggregated by every method."""
    try:
        data = load_project_crowd(session=session, project_id=project_id)
    except DomainError as exc:
        session.rollback()
        return [LabelSummary(m, n, 0, 0, 0, None, error=exc.detail) for m in methods]
    out = []
    for method in methods:
        try:
            frame = aggregate_project(data, method=method, n=n)
        except DomainError as exc:
            out.append(LabelSummary(method, n, 0, 0, 0, None, error=exc.detail))
            continue
        out.append(
            LabelSummary(
                method=method,
                n=n,
                labeled=len(frame),
                positive=int((frame["label"] == 1).sum()),
                negative=int((frame["label"] == -1).sum()),
                mean_confidence=float(frame["confidence"].mean()) if len(frame) else None,
            )
        )
    return out


def example_index(*, session: Session, project_id: int) -> pd.DataFrame:
    """internal id, external id and gold flag of every example of a project (upload order)."""
    pid = int(project_id)
    rows = raw_rows(
        session=session,
        sql=f"SELECT id, external_id FROM examples WHERE project_id = {pid} ORDER BY id",
    )
    frame = pd.DataFrame(rows, columns=["id", "external_id"])
    gold = [
        r[0]
        for r in raw_rows(
            session=session, sql=f"SELECT example_id FROM gold_questions WHERE project_id = {pid}"
        )
    ]
    frame["is_gold"] = frame["id"].isin(gold)
    return frame


def compute_labels(
    *, session: Session, project_id: int, method: str = crowd.DEFAULT_METHOD, n: int | None = None
) -> pd.DataFrame:
    """Aggregated labels with external ids: example_id, label, answers_used, mean_score,
    confidence, is_gold (only examples with at least one usable answer)."""
    data = load_project_crowd(session=session, project_id=project_id)
    labels = aggregate_project(data, method=method, n=n)
    index = example_index(session=session, project_id=project_id).set_index("id")
    ids = labels["example_id"].to_numpy(dtype=np.int64)
    out = labels.assign(
        example_id=index["external_id"].reindex(ids).to_numpy(),
        is_gold=index["is_gold"].reindex(ids).to_numpy(dtype=bool),
    )
    return out.reset_index(drop=True)


def labels_public(frame: pd.DataFrame) -> list[LabelPublic]:
    return [
        LabelPublic(
            example_id=str(r["example_id"]),
            label=int(r["label"]),  # type: ignore[arg-type]
            answers_used=int(r["answers_used"]),
            mean_score=float(r["mean_score"]),
            confidence=float(r["confidence"]),
            is_gold=bool(r["is_gold"]),
        )
        for r in frame.to_dict("records")
    ]


def workers_per_project(*, session: Session, project_ids: list[int]) -> dict[int, int]:
    """Workers with a counted (confirmed) answer in each project: the number of rows that
    :func:`worker_quality` reports for it, in one grouped query whatever the number of projects
    (the admin projects list; its statement count is test-checked in
    tests/app/admin/test_admin_queries.py)."""
    if not project_ids:
        return {}
    counts = dict(
        session.execute(
            select(Answer.project_id, func.count(Answer.worker_id.distinct()))
            .where(Answer.project_id.in_(project_ids), Answer.confirmed.is_(True))
            .group_by(Answer.project_id)
        ).all()
    )
    return {pid: int(counts.get(pid, 0)) for pid in project_ids}
