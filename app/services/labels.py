"""Worker quality and aggregated labels of a project: loads the long answer table from the
database (vectorised; COPY on Postgres) and hands it to the pure functions of app.crowd (§4.4)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import crowd
from app.core.errors import InvalidInput
from app.models import Example, GoldQuestion, Project, Worker
from app.schemas.crowd import LabelPublic, WorkerQuality
from app.services.examples import gold_labels
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


def load_answer_table(session: Session, project_id: int) -> pd.DataFrame:
    """All answers of a project as the long table, with internal integer ids, in insert order.

    `submitted_at` is an integer on Postgres (epoch microseconds) and ISO text on SQLite: the
    aggregators only need it sortable, and skipping datetime parsing keeps 1M rows fast.
    """
    connection = session.connection()
    pid = int(project_id)  # interpolated below: an int cannot inject anything
    raw: Any = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        buffer = io.BytesIO()
        sql = (
            "COPY (SELECT example_id, worker_id, value,"
            " (EXTRACT(EPOCH FROM submitted_at) * 1000000)::bigint"
            f" FROM answers WHERE project_id = {pid} ORDER BY id) TO STDOUT"
        )
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            for block in copy:
                buffer.write(block)
        if buffer.tell() == 0:
            return _empty()
        buffer.seek(0)
        return pd.read_csv(
            buffer, sep="\t", header=None, names=ANSWER_COLUMNS, dtype=np.int64, engine="c"
        )
    rows = raw.execute(
        "SELECT example_id, worker_id, value, submitted_at FROM answers"
        " WHERE project_id = ? ORDER BY id",
        (pid,),
    ).fetchall()
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


def load_project_crowd(session: Session, project_id: int) -> ProjectCrowd:
    project = get_project(session=session, project_id=project_id)
    answers = load_answer_table(session, project.id)
    gold = gold_labels(session, project.id)
    worker_ids = [int(w) for w in pd.unique(answers["worker_id"])]
    blocked: set[Any] = set()
    if worker_ids:
        blocked = {
            int(w)
            for w in session.scalars(
                select(Worker.id).where(Worker.blocked.is_(True), Worker.id.in_(worker_ids))
            )
        }
    try:
        scores = crowd.score_workers(
            answers, gold, project.worker_filter, blocked, threshold=project.threshold
        )
    except crowd.CrowdInputError as exc:
        raise InvalidInput(f"project {project.id}: {exc}") from None
    return ProjectCrowd(project=project, answers=answers, gold=gold, scores=scores)


def worker_quality(*, session: Session, project_id: int) -> list[WorkerQuality]:
    """One row per worker who answered in the project, with gold accuracy and status."""
    data = load_project_crowd(session, project_id)
    counts = data.answers.groupby("worker_id").size()
    names = _worker_names(session, [int(w) for w in data.scores["worker_id"]])
    out = []
    for rec in data.scores.to_dict("records"):
        wid = int(rec["worker_id"])
        n_gold = int(rec["n_gold"])
        out.append(
            WorkerQuality(
                worker_id=names[wid],
                n_answers=int(counts.get(wid, 0)),
                n_gold=n_gold,
                n_correct=int(rec["n_correct"]),
                accuracy=float(rec["accuracy"]),
                status=rec["status"],
            )
        )
    out.sort(key=lambda q: q.worker_id)
    return out


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


def example_index(session: Session, project_id: int) -> pd.DataFrame:
    """internal id, external id and gold flag of every example of a project (upload order)."""
    rows = session.execute(
        select(Example.id, Example.external_id)
        .where(Example.project_id == project_id)
        .order_by(Example.id)
    ).all()
    frame = pd.DataFrame(rows, columns=["id", "external_id"])
    gold = set(
        session.scalars(
            select(GoldQuestion.example_id).where(GoldQuestion.project_id == project_id)
        )
    )
    frame["is_gold"] = frame["id"].isin(list(gold))
    return frame


def compute_labels(
    *, session: Session, project_id: int, method: str = "mean", n: int | None = None
) -> pd.DataFrame:
    """Aggregated labels with external ids: example_id, label, answers_used, mean_score,
    confidence, is_gold (only examples with at least one usable answer)."""
    data = load_project_crowd(session, project_id)
    labels = aggregate_project(data, method=method, n=n)
    index = example_index(session, project_id).set_index("id")
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
