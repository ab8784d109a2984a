"""Training jobs: creation with up-front validation, listing, cancellation, and the
queue operations a worker uses (claim with a lease, heartbeat, finish, release).

Claiming is safe with any number of workers on one database:

* Postgres: ``SELECT ... FOR UPDATE SKIP LOCKED`` picks a claimable row no other worker is
  claiming right now, and the UPDATE that takes it runs under that row lock.
* SQLite: a conditional ``UPDATE ... WHERE id = ? AND (claimable)``; SQLite serialises writers,
  so exactly one of two racing workers sees ``rowcount == 1``, the other tries the next row.

A claim writes a fresh ``lease_token``; heartbeats, progress and the final outcome are
conditional on that token, so a worker whose lease expired (and whose job was taken over) can
never overwrite the new owner's state: its next heartbeat reports the loss and it stops.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.tables import TableLimits, read_table, unit_of_work
from app.models import Example, ExportSnapshot, TrainingFile, TrainingJob, TrainingJobRun
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
from trainer import api as trainer_api

#: Where a job's artifacts live: <artifact_dir>/jobs/<job id>/<attempt folder>/<file>.
JOBS_FOLDER = "jobs"
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


def _export_frame(content: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(content))


def _known_label_map(session: Session, project_id: int) -> dict[str, int | None]:
    rows = session.execute(
        select(Example.external_id, Example.known_label).where(Example.project_id == project_id)
    )
    return {str(e): k for e, k in rows}


def _check_known_labels(session: Session, snapshot: ExportSnapshot, exclude_gold: bool) -> None:
    frame = _export_frame(snapshot.content)
    if exclude_gold:
        frame = frame.loc[~frame["is_gold"].astype(bool)]
    known = _known_label_map(session, snapshot.project_id)
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


def get_job_row(session: Session, job_id: int) -> TrainingJob:
    job = session.get(TrainingJob, job_id)
    if job is None:
        raise NotFound(f"training job {job_id} does not exist")
    return job


def read_job(*, session: Session, job_id: int) -> JobPublic:
    return to_public(get_job_row(session, job_id))


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
        job = get_job_row(session, job_id)
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
    job = get_job_row(session, job_id)
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


# -- queue operations (worker side) -------------------------------------------------------------
@dataclass(frozen=True)
class Claim:
    job_id: int
    token: str
    attempt: int
    spec: dict[str, Any]
    training_file_id: int | None
    export_id: int | None


def _claimable(now: float) -> Any:
    return or_(
        TrainingJob.status == "queued",
        and_(
            TrainingJob.status == "running",
            TrainingJob.lease_expires_at < now,
            TrainingJob.attempts < TrainingJob.max_attempts,
            TrainingJob.cancel_requested.is_(False),
        ),
    )


def _reap_expired(session: Session, now: float) -> None:
    """Lost workers' jobs that must not run again: cancelled if asked, else failed."""
    expired = and_(TrainingJob.status == "running", TrainingJob.lease_expires_at < now)
    final = or_(
        TrainingJob.cancel_requested.is_(True),
        TrainingJob.attempts >= TrainingJob.max_attempts,
    )
    tokens = [
        t for t in session.scalars(select(TrainingJob.lease_token).where(expired, final)) if t
    ]
    if not tokens:
        return
    session.execute(
        update(TrainingJobRun)
        .where(TrainingJobRun.lease_token.in_(tokens))
        .values(outcome="lost", finished_at=utcnow())
    )
    session.execute(
        update(TrainingJob)
        .where(expired, TrainingJob.cancel_requested.is_(True))
        .values(status="cancelled", finished_at=utcnow(), lease_token=None)
    )
    session.execute(
        update(TrainingJob)
        .where(expired, TrainingJob.attempts >= TrainingJob.max_attempts)
        .values(
            status="failed",
            finished_at=utcnow(),
            lease_token=None,
            error=(
                "the worker running this job stopped heartbeating (lease expired) on every "
                "attempt; giving up after max_attempts"
            ),
        )
        .execution_options(synchronize_session=False)
    )


def claim_next(
    session: Session, *, worker_id: str, lease_seconds: float, now: float | None = None
) -> Claim | None:
    """Claim the oldest claimable job (queued, or running with an expired lease)."""
    now = time.time() if now is None else now
    token = uuid.uuid4().hex
    values = {
        "status": "running",
        "worker_id": worker_id,
        "lease_token": token,
        "lease_expires_at": now + lease_seconds,
        "heartbeat_at": now,
        "attempts": TrainingJob.attempts + 1,
        "started_at": utcnow(),
        "progress_stage": "claimed",
    }
    try:
        _reap_expired(session, now)
        claimed_id: int | None = None
        old_token: str | None = None
        if session.get_bind().dialect.name == "postgresql":
            row = session.execute(
                select(TrainingJob.id, TrainingJob.lease_token)
                .where(_claimable(now))
                .order_by(TrainingJob.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is not None:
                claimed_id, old_token = row
                session.execute(
                    update(TrainingJob).where(TrainingJob.id == claimed_id).values(**values)
                )
        else:
            for _ in range(20):
                row = session.execute(
                    select(TrainingJob.id, TrainingJob.lease_token)
                    .where(_claimable(now))
                    .order_by(TrainingJob.id)
                    .limit(1)
                ).first()
                if row is None:
                    break
                result = session.execute(
                    update(TrainingJob)
                    .where(TrainingJob.id == row[0], _claimable(now))
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    claimed_id, old_token = row
                    break
        if claimed_id is None:
            session.commit()
            return None
        if old_token is not None:
            session.execute(
                update(TrainingJobRun)
                .where(TrainingJobRun.lease_token == old_token)
                .values(outcome="lost", finished_at=utcnow())
            )
        job = session.execute(
            select(
                TrainingJob.attempts,
                TrainingJob.spec,
                TrainingJob.training_file_id,
                TrainingJob.export_id,
            ).where(TrainingJob.id == claimed_id)
        ).one()
        session.add(
            TrainingJobRun(
                job_id=claimed_id, attempt=job[0], worker_id=worker_id, lease_token=token
            )
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return Claim(claimed_id, token, job[0], job[1], job[2], job[3])


@dataclass(frozen=True)
class Beat:
    owned: bool
    cancel_requested: bool


def heartbeat(
    session: Session,
    claim: Claim,
    *,
    lease_seconds: float,
    progress: dict[str, Any] | None = None,
) -> Beat:
    """Extend the lease and record progress; tells whether the job is still ours and whether
    someone asked to cancel it."""
    now = time.time()
    values: dict[str, Any] = {"lease_expires_at": now + lease_seconds, "heartbeat_at": now}
    if progress:
        values.update(
            progress_epoch=int(progress.get("epoch", 0)),
            progress_total=int(progress.get("total_epochs", 0)),
            progress_percent=float(progress.get("percent", 0.0)),
            progress_stage=str(progress.get("stage", ""))[:200],
        )
    try:
        owned = session.execute(
            update(TrainingJob)
            .where(
                TrainingJob.id == claim.job_id,
                TrainingJob.lease_token == claim.token,
                TrainingJob.status == "running",
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        cancel = bool(
            session.scalar(
                select(TrainingJob.cancel_requested).where(TrainingJob.id == claim.job_id)
            )
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return Beat(owned=owned == 1, cancel_requested=cancel)


def finish(
    session: Session,
    claim: Claim,
    *,
    status: str,
    results: dict[str, Any] | None = None,
    error: str | None = None,
    artifacts: list[str] | None = None,
) -> bool:
    """Record the outcome (succeeded / failed / cancelled) if the job is still ours."""
    assert status in TERMINAL_STATUSES
    values: dict[str, Any] = {
        "status": status,
        "finished_at": utcnow(),
        "lease_expires_at": None,
        "error": error,
    }
    if results is not None:
        values["results"] = results
    if artifacts is not None:
        values["artifacts"] = artifacts
    if status == "succeeded":
        values.update(progress_percent=100.0, progress_stage="done")
    return _settle(session, claim, values, outcome=status)


def release(session: Session, claim: Claim) -> bool:
    """Give a job back to the queue (worker shutting down); the attempt does not count."""
    values = {
        "status": "queued",
        "lease_token": None,
        "lease_expires_at": None,
        "worker_id": None,
        "attempts": TrainingJob.attempts - 1,
        "progress_stage": "released by a stopping worker",
    }
    return _settle(session, claim, values, outcome="released")


def _settle(session: Session, claim: Claim, values: dict[str, Any], *, outcome: str) -> bool:
    try:
        owned = session.execute(
            update(TrainingJob)
            .where(
                TrainingJob.id == claim.job_id,
                TrainingJob.lease_token == claim.token,
                TrainingJob.status == "running",
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        session.execute(
            update(TrainingJobRun)
            .where(TrainingJobRun.lease_token == claim.token)
            .values(outcome=outcome if owned == 1 else "lost", finished_at=utcnow())
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return owned == 1


def materialize_inputs(session: Session, claim: Claim, folder: Path) -> dict[str, Any]:
    """The job's spec with paths to its uploaded training file and validation export, written
    into ``folder`` (a worker may run on another machine than the API: files come from the
    database, not from a shared disk)."""
    spec = dict(claim.spec)
    folder.mkdir(parents=True, exist_ok=True)
    if claim.training_file_id is not None:
        upload = session.get(TrainingFile, claim.training_file_id)
        if upload is None:
            raise ValueError(f"training file {claim.training_file_id} no longer exists")
        suffix = ".parquet" if upload.format == "parquet" else ".csv"
        path = folder / f"train{suffix}"
        path.write_bytes(upload.content)
        spec["data"] = {**spec["data"], "file": str(path)}
    if claim.export_id is not None:
        snapshot = session.get(ExportSnapshot, claim.export_id)
        if snapshot is None:
            raise ValueError(f"export {claim.export_id} no longer exists")
        path = folder / f"validation-export-{claim.export_id}.parquet"
        options = spec.pop("export_options", None) or {}
        if not options.get("exclude_gold") and options.get("labels", "crowd") == "crowd":
            path.write_bytes(snapshot.content)
        else:
            frame = _export_frame(snapshot.content)
            if options.get("exclude_gold"):
                frame = frame.loc[~frame["is_gold"].astype(bool)].reset_index(drop=True)
            if options.get("labels") == "known":
                known = _known_label_map(session, snapshot.project_id)
                frame["label"] = [known[str(e)] for e in frame["example_id"]]
            if len(frame) == 0:
                raise ValueError(f"export {claim.export_id} has no rows left for validation")
            frame.to_parquet(path, index=False)
        spec["validation"] = {**spec["validation"], "path": str(path)}
    test_id = spec.pop("test_upload_id", None)
    if test_id is not None:
        test_upload = session.get(TrainingFile, test_id)
        if test_upload is None:
            raise ValueError(f"test file {test_id} no longer exists")
        suffix = ".parquet" if test_upload.format == "parquet" else ".csv"
        path = folder / f"test{suffix}"
        path.write_bytes(test_upload.content)
        spec["test"] = {**(spec.get("test") or {}), "file": str(path),
                        "name": f"upload {test_id} ({test_upload.filename})"}  # fmt: skip
    session.commit()
    return spec


def job_folder(settings: Settings, job_id: int) -> Path:
    return Path(settings.artifact_dir) / JOBS_FOLDER / str(job_id)


def attempt_folder_name(claim: Claim) -> str:
    # One folder per attempt: a stale worker can never overwrite the new owner's files.
    return f"attempt{claim.attempt}-{claim.token[:8]}"


def remove_attempt(settings: Settings, claim: Claim) -> None:
    shutil.rmtree(job_folder(settings, claim.job_id) / attempt_folder_name(claim), True)
