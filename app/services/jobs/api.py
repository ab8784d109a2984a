"""Training jobs, the API side: training-file uploads, job creation with up-front validation,
listing, cancellation and artifacts. The worker's side (claim, heartbeat, finish) is
:mod:`app.services.jobs.queue`.

"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.tables import TableLimits, read_table, unit_of_work
from app.models import ExportSnapshot, TrainingFile, TrainingJob
from app.models.crowd import utcnow
from app.models.jobs import TERMINAL_STATUSES
from app.schemas.jobs import (
    ExportValidation,
    JobCreate,
    JobProgress,
    JobPublic,
    JobSummary,
    TrainingFilePublic,
    UploadedData,
)
from app.services.jobs.queue import JOBS_FOLDER, export_frame, known_label_map
from trainer import api as trainer_api

ARTIFACT_MEDIA = {
    ".pt": "application/octet-stream",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".png": "image/png",
}


# -- uploads -----------------------------------------------------------------------------------
def upload_training_file(
    *, session: Session, data: bytes, filename: str | None, limits: TableLimits | None = None
) -> TrainingFilePublic:
    """Store a CSV/Parquet training table after checking that it parses."""
    frame = read_table(data, filename=filename, limits=limits)
    name = (filename or "upload").rsplit("/", 1)[-1][:255] or "upload"
    fmt = "parquet" if data[:4] == b"PAR1" else "csv"
    if fmt == "csv" and (name.lower().endswith((".json", ".jsonl", ".ndjson"))):
        raise InvalidInput("training files must be CSV or Parquet")
    with unit_of_work(session):
        row = TrainingFile(
            filename=name,
            format=fmt,
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            columns=[str(c) for c in frame.columns],
            row_count=len(frame),
            content=data,
        )
        session.add(row)
        session.flush()
        out = TrainingFilePublic.model_validate(row)
    return out


def read_training_file(*, session: Session, file_id: int) -> TrainingFilePublic:
    row = session.get(TrainingFile, file_id)
    if row is None:
        raise NotFound(f"training file {file_id} does not exist")
    return TrainingFilePublic.model_validate(row)


# -- creation / reading ------------------------------------------------------------------------
def build_spec(
    *, session: Session, body: JobCreate
) -> tuple[dict[str, Any], int | None, int | None]:
    """Turn an API request into a validated trainer spec; 422 naming the field on bad input."""
    raw = body.model_dump(exclude_none=True)
    file_id: int | None = None
    export_id: int | None = None
    columns: list[str] | None = None
    content: bytes | None = None
    data = dict(raw["data"])
    if isinstance(body.data, UploadedData):
        file_id = body.data.upload_id
        upload = session.get(TrainingFile, file_id)
        if upload is None:
            raise InvalidInput(f"data.upload_id: training file {file_id} does not exist")
        columns = list(upload.columns)
        content = upload.content
        data.pop("upload_id")
        data["file"] = None  # filled in by the worker from the stored upload
    raw["data"] = data
    if isinstance(body.validation, ExportValidation):
        export_id = body.validation.export_id
        snapshot = session.get(ExportSnapshot, export_id)
        if snapshot is None:
            raise InvalidInput(f"validation.export_id: export {export_id} does not exist")
        if snapshot.row_count == 0:
            raise InvalidInput(f"validation.export_id: export {export_id} has no rows")
        raw["validation"] = {
            "kind": "file",
            "path": None,
            "label_column": body.validation.label_column,
        }
        # How the worker derives the file from the snapshot (service-side; not a trainer key).
        export_options = {
            "exclude_gold": body.validation.exclude_gold,
            "labels": body.validation.labels,
        }
        if body.validation.labels == "known":
            _check_known_labels(session, snapshot, body.validation.exclude_gold)
        if body.validation.label_column and body.validation.label_column not in snapshot.columns:
            raise InvalidInput(
                f"validation.label_column: {body.validation.label_column!r} is not a column of "
                f"export {export_id} ({snapshot.columns})"
            )
    test_id = _check_test_file(session, body, columns)
    if test_id is not None:
        raw["test"] = {"file": None, "label_column": body.test.label_column if body.test else None}
    try:
        spec = trainer_api.validate_spec(raw, file_columns=columns, file_content=content)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    out = spec.to_dict()
    if export_id is not None:
        out["export_options"] = export_options
    if test_id is not None:
        out["test_upload_id"] = test_id  # service-side: the worker writes the file
    return out, file_id, export_id


def _check_test_file(session: Session, body: JobCreate, columns: list[str] | None) -> int | None:
    """The clean test file's id, once it is known to exist and to hold the columns the
    training file's model reads (422 naming ``test.upload_id`` otherwise)."""
    if body.test is None:
        return None
    test_id = body.test.upload_id
    if not isinstance(body.data, UploadedData) or columns is None:
        raise InvalidInput(
            "test.upload_id: a clean test file needs an uploaded training file "
            "(data.upload_id); the built-in data sets have their own test split"
        )
    upload = session.get(TrainingFile, test_id)
    if upload is None:
        raise InvalidInput(f"test.upload_id: training file {test_id} does not exist")
    if upload.row_count == 0:
        raise InvalidInput(f"test.upload_id: training file {test_id} has no rows")
    d = body.data
    roles = {d.label, d.sensitive, *([d.id_column] if d.id_column else [])}
    features = d.features if d.features is not None else [c for c in columns if c not in roles]
    label = body.test.label_column or d.label
    have = set(upload.columns)
    missing = [c for c in [*features, d.sensitive, label] if c not in have]
    if missing:
        raise InvalidInput(
            f"test.upload_id: training file {test_id} lacks column(s) {missing} that the job "
            f"reads (features, sensitive attribute, label); it has {sorted(have)[:50]}"
        )
    return test_id


def _check_known_labels(session: Session, snapshot: ExportSnapshot, exclude_gold: bool) -> None:
    frame = export_frame(snapshot.content)
    if exclude_gold:
        frame = frame.loc[~frame["is_gold"].astype(bool)]
    known = known_label_map(session=session, project_id=snapshot.project_id)
    missing = [e for e in frame["example_id"].astype(str) if known.get(e) is None]
    if missing:
        raise InvalidInput(
            f"validation.labels: 'known' needs a known label for every exported example; "
            f"{len(missing)} have none (e.g. {missing[:5]})"
        )


def create_job(*, session: Session, settings: Settings, body: JobCreate) -> JobPublic:
    spec, file_id, export_id = build_spec(session=session, body=body)
    with unit_of_work(session):
        job = TrainingJob(
            name=body.name,
            status="queued",
            method=spec["method"],
            dataset=str(spec["data"].get("builtin") or "file"),
            spec=spec,
            training_file_id=file_id,
            export_id=export_id,
            max_attempts=settings.worker_max_attempts,
        )
        session.add(job)
        session.flush()
        out = to_public(job)
    return out


def _progress(job: TrainingJob) -> JobProgress:
    return JobProgress(
        epoch=job.progress_epoch,
        total_epochs=job.progress_total,
        percent=job.progress_percent,
        stage=job.progress_stage,
    )


def to_summary(job: TrainingJob) -> JobSummary:
    return JobSummary(
        id=job.id,
        name=job.name,
        status=job.status,  # type: ignore[arg-type]
        method=job.method,
        dataset=job.dataset,
        progress=_progress(job),
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        cancel_requested=job.cancel_requested,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def to_public(job: TrainingJob) -> JobPublic:
    return JobPublic(
        **to_summary(job).model_dump(),
        spec=job.spec,
        worker_id=job.worker_id,
        training_file_id=job.training_file_id,
        export_id=job.export_id,
        results=job.results,
        artifacts=[Path(a).name for a in job.artifacts or []],
    )


def get_job_row(*, session: Session, job_id: int) -> TrainingJob:
    job = session.get(TrainingJob, job_id)
    if job is None:
        raise NotFound(f"training job {job_id} does not exist")
    return job


def read_job(*, session: Session, job_id: int) -> JobPublic:
    return to_public(get_job_row(session=session, job_id=job_id))


def list_jobs(
    *, session: Session, status: str | None = None, offset: int = 0, limit: int = 100
) -> tuple[list[JobSummary], int]:
    query = select(TrainingJob)
    count_query = select(func.count()).select_from(TrainingJob)
    if status is not None:
        query = query.where(TrainingJob.status == status)
        count_query = count_query.where(TrainingJob.status == status)
    rows = session.scalars(query.order_by(TrainingJob.id.desc()).offset(offset).limit(limit))
    return [to_summary(r) for r in rows], int(session.scalar(count_query) or 0)


def cancel_job(*, session: Session, job_id: int) -> JobPublic:
    """Queued: cancelled now. Running: flagged; the worker stops within about a second."""
    with unit_of_work(session):
        job = get_job_row(session=session, job_id=job_id)
        if job.status in TERMINAL_STATUSES:
            raise Conflict(
                f"training job {job_id} is already {job.status}; only queued or running jobs "
                "can be cancelled",
                job_status=job.status,
            )
        now = utcnow()
        # Conditional updates: the worker may claim or finish the job between our read and
        # our write; whichever state wins, the cancel request is recorded.
        session.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id, TrainingJob.status == "queued")
            .values(status="cancelled", cancel_requested=True, finished_at=now)
        )
        session.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id, TrainingJob.status == "running")
            .values(cancel_requested=True)
        )
        session.flush()
        session.refresh(job)
        out = to_public(job)
    return out


def artifact_file(*, session: Session, settings: Settings, job_id: int, name: str) -> Path:
    job = get_job_row(session=session, job_id=job_id)
    for rel in job.artifacts or []:
        if Path(rel).name == name:
            path = Path(settings.artifact_dir) / JOBS_FOLDER / str(job_id) / rel
            if not path.is_file():
                raise NotFound(
                    f"artifact {name!r} of job {job_id} is missing from the artifact store "
                    f"({settings.artifact_dir}); is ARTIFACT_DIR shared with the worker?"
                )
            return path
    have = [Path(a).name for a in job.artifacts or []]
    raise NotFound(f"job {job_id} has no artifact {name!r}; it has {have or 'none yet'}")


def newest_jobs(*, session: Session, limit: int) -> tuple[list[JobPublic], int]:
    """The `limit` newest training jobs in full (what :func:`read_job` gives for each) and the
    number of jobs: two queries whatever the number of jobs, in :func:`list_jobs`' order (the
    admin jobs page; its statement count is test-checked in
    tests/app/admin/test_admin_queries.py)."""
    rows = session.scalars(select(TrainingJob).order_by(TrainingJob.id.desc()).limit(limit))
    jobs = [to_public(row) for row in rows]
    total = int(session.scalar(select(func.count()).select_from(TrainingJob)) or 0)
    return jobs, total
