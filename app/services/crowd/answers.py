"""Bulk import of crowd answers: the long format and the released wide format.

Long: ``example_id, worker_id, value[, submitted_at]`` (examples must exist). Wide: the FR-Train
release (``example_idx``/``example_id``, ``true_label``, ``ans_1..ans_K``, ``worker_id_1..K``, every
other column a feature); examples are created from it. Without submission times the file order is
the submission order (``ans_1`` first), which is what "the first N answers" of §4.4 selects.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import insert, select, tuple_
from sqlalchemy.orm import Session

from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.tables import (
    TableLimits,
    read_table,
    require_columns,
    text_column,
    unit_of_work,
)
from app.crowd import CrowdInputError, parse_wide
from app.crowd._table import plain
from app.models import Answer, Example, Project, Worker
from app.schemas.crowd import AnswerImportResult
from app.services.crowd import submissions
from app.services.crowd.examples import example_rows, existing_ids
from app.services.projects import get_project

Layout = Literal["auto", "long", "wide"]
_WIDE = re.compile(r"^(ans|worker_id)_\d+$")
LONG_COLUMNS = ("example_id", "worker_id", "value")

ERR_VALUE = "row {row}, column 'value': {value!r} is not an answer on the 1-4 scale"
ERR_TIME = "row {row}, column 'submitted_at': {value!r} is not a date-time (use ISO 8601)"
ERR_UNKNOWN_EXAMPLE = (
    "row {row}, column 'example_id': example {example!r} does not exist in project {project_id}; "
    "upload it first"
)
ERR_UNKNOWN_WORKER = (
    "row {row}, column 'worker_id': worker {worker!r} is unknown (pass create_workers=true to "
    "register new workers)"
)
ERR_DUPLICATE = "row {row}: worker {worker!r} answers example {example!r} twice in the file"
ERR_EXISTING = (
    "row {row}: worker {worker!r} already has an answer for example {example!r} in this project"
)


def detect_layout(frame: pd.DataFrame) -> Literal["long", "wide"]:
    return "wide" if any(_WIDE.match(c) for c in frame.columns) else "long"


def _values(frame: pd.DataFrame) -> np.ndarray:
    raw = frame["value"]
    numeric = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isin(numeric, np.arange(1.0, 5.0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInput(
            ERR_VALUE.format(row=row, value=plain(raw.iloc[row])), row=row, column="value"
        )
    return numeric.astype(np.int64)


def _times(frame: pd.DataFrame, base: datetime) -> list[datetime]:
    if "submitted_at" not in frame.columns:
        # File order is submission order: one microsecond apart keeps it sortable and exact.
        return [base + timedelta(microseconds=i) for i in range(len(frame))]
    raw = frame["submitted_at"]
    parsed = pd.to_datetime(raw, errors="coerce", utc=True, format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidInput(
            ERR_TIME.format(row=row, value=plain(raw.iloc[row])), row=row, column="submitted_at"
        )
    return [t.to_pydatetime() for t in parsed]


def _workers(session: Session, external: list[str], *, create: bool) -> tuple[dict[str, int], int]:
    """external worker id -> internal id; registers new ones when `create`."""
    wanted = list(dict.fromkeys(external))
    found = _worker_ids(session, wanted)
    new = [w for w in wanted if w not in found]
    if new and not create:
        row = external.index(new[0])
        raise InvalidInput(
            ERR_UNKNOWN_WORKER.format(row=row, worker=new[0]), row=row, column="worker_id"
        )
    if new:
        session.execute(insert(Worker), [{"external_id": w} for w in new])
        found.update(_worker_ids(session, new))
    return found, len(new)


def _worker_ids(session: Session, external: list[str]) -> dict[str, int]:
    # Chunked so that the IN list stays within every driver's bound-parameter limit.
    found: dict[str, int] = {}
    for start in range(0, len(external), 5000):
        chunk = external[start : start + 5000]
        found.update(
            {
                ext: int(pk)
                for pk, ext in session.execute(
                    select(Worker.id, Worker.external_id).where(Worker.external_id.in_(chunk))
                ).all()
            }
        )
    return found


def _check_duplicates(
    session: Session,
    project_id: int,
    example_ids: list[int],
    worker_ids: list[int],
    ext_examples: list[str],
    ext_workers: list[str],
) -> None:
    pairs = pd.DataFrame({"e": example_ids, "w": worker_ids})
    dup = pairs.duplicated().to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise InvalidInput(
            ERR_DUPLICATE.format(row=row, worker=ext_workers[row], example=ext_examples[row]),
            row=row,
        )
    index = {(e, w): i for i, (e, w) in enumerate(zip(example_ids, worker_ids, strict=True))}
    keys = list(index)
    for start in range(0, len(keys), 2000):
        chunk = keys[start : start + 2000]
        hit = session.execute(
            select(Answer.example_id, Answer.worker_id)
            .where(
                Answer.project_id == project_id,
                tuple_(Answer.example_id, Answer.worker_id).in_(chunk),
            )
            .limit(1)
        ).first()
        if hit is not None:
            row = index[(int(hit[0]), int(hit[1]))]
            raise Conflict(
                ERR_EXISTING.format(row=row, worker=ext_workers[row], example=ext_examples[row]),
                row=row,
            )


def _import_long(
    session: Session, project: Project, frame: pd.DataFrame, *, create_workers: bool, source: str
) -> AnswerImportResult:
    require_columns(frame, *LONG_COLUMNS)
    ext_examples = text_column(frame, "example_id")
    ext_workers = text_column(frame, "worker_id")
    values = _values(frame)
    times = _times(frame, datetime.now(UTC))
    known = existing_ids(
        session=session, project_id=project.id, external_ids=list(dict.fromkeys(ext_examples))
    )
    for row, ext in enumerate(ext_examples):
        if ext not in known:
            raise NotFound(
                ERR_UNKNOWN_EXAMPLE.format(row=row, example=ext, project_id=project.id),
                row=row,
                column="example_id",
            )
    workers, n_new = _workers(session, ext_workers, create=create_workers)
    example_ids = [known[e] for e in ext_examples]
    worker_ids = [workers[w] for w in ext_workers]
    _check_duplicates(session, project.id, example_ids, worker_ids, ext_examples, ext_workers)
    n = submissions.record_imported(
        session=session,
        project_id=project.id,
        answers=zip(example_ids, worker_ids, values.tolist(), times, strict=True),
        source=source,
    )
    return AnswerImportResult(
        layout="long", answers_created=n, workers_created=n_new, examples_created=0
    )


def _import_wide(
    session: Session, project: Project, frame: pd.DataFrame, *, create_workers: bool, source: str
) -> AnswerImportResult:
    try:
        table = parse_wide(frame)
    except CrowdInputError as exc:
        raise InvalidInput(str(exc)) from None
    examples = table.examples
    id_column = "example_id"
    label_column = "true_label" if "true_label" in examples.columns else None
    # Ids as text ("7", not 7 or 7.0), the same way a long import or an upload spells them.
    examples = examples.assign(example_id=text_column(examples, id_column))
    rows = example_rows(project, examples, id_column=id_column, label_column=label_column)
    known = existing_ids(
        session=session, project_id=project.id, external_ids=[r["external_id"] for r in rows]
    )
    new_rows = [r for r in rows if r["external_id"] not in known]
    if new_rows:
        session.execute(insert(Example), new_rows)
        known.update(
            existing_ids(
                session=session,
                project_id=project.id,
                external_ids=[r["external_id"] for r in new_rows],
            )
        )
    # Examples that already exist keep their stored features and known label.
    answers = table.answers
    ext_examples = [
        str(v) if not isinstance(v, float) else str(int(v)) for v in answers["example_id"]
    ]
    ext_workers = [str(w) for w in answers["worker_id"]]
    workers, n_new = _workers(session, ext_workers, create=create_workers)
    example_ids = [known[e] for e in ext_examples]
    worker_ids = [workers[w] for w in ext_workers]
    _check_duplicates(session, project.id, example_ids, worker_ids, ext_examples, ext_workers)
    base = datetime.now(UTC)
    # ans_k was the k-th answer: its position orders the answers of one example (§4.4 "first N").
    positions = answers["submitted_at"].to_numpy(dtype=np.int64)
    times = [base + timedelta(microseconds=int(k)) for k in positions]
    n = submissions.record_imported(
        session=session,
        project_id=project.id,
        answers=zip(
            example_ids, worker_ids, answers["value"].to_numpy().tolist(), times, strict=True
        ),
        source=source,
    )
    return AnswerImportResult(
        layout="wide", answers_created=n, workers_created=n_new, examples_created=len(new_rows)
    )


def import_answers_frame(
    *,
    session: Session,
    project_id: int,
    frame: pd.DataFrame,
    layout: Layout = "auto",
    create_workers: bool = True,
    source: str = "import",
) -> AnswerImportResult:
    """Import a parsed table (see the module docstring); all rows or none."""
    with unit_of_work(session):
        project = get_project(session=session, project_id=project_id)
        chosen = detect_layout(frame) if layout == "auto" else layout
        if chosen == "wide":
            result = _import_wide(
                session, project, frame, create_workers=create_workers, source=source
            )
        else:
            result = _import_long(
                session, project, frame, create_workers=create_workers, source=source
            )
    return result


def import_answers(
    *,
    session: Session,
    project_id: int,
    data: bytes,
    filename: str | None = None,
    fmt: str | None = None,
    layout: Layout = "auto",
    create_workers: bool = True,
    source: str = "import",
    limits: TableLimits | None = None,
) -> AnswerImportResult:
    """Parse an uploaded file and import it (`import_answers_frame`)."""
    get_project(session=session, project_id=project_id)
    frame = read_table(
        data,
        filename=filename,
        fmt=fmt,
        text_columns=("example_id", "example_idx", "worker_id", *_worker_columns(data)),
        limits=limits,
    )
    return import_answers_frame(
        session=session,
        project_id=project_id,
        frame=frame,
        layout=layout,
        create_workers=create_workers,
        source=source,
    )


def _worker_columns(data: bytes) -> tuple[str, ...]:
    # worker_id_k columns hold ids; keep them text even when an id looks numeric.
    head = data[:65536].split(b"\n", 1)[0].decode("utf-8", "replace")
    return tuple(sorted(set(re.findall(r"worker_id_\d+", head))))
