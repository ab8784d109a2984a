"""Training jobs, the queue a worker uses: claim with a lease, heartbeat, finish, release, and the
inputs and folders of an attempt (app.worker runs them).

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

import io
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import Example, ExportSnapshot, TrainingFile, TrainingJob, TrainingJobRun
from app.models.crowd import utcnow
from app.models.jobs import TERMINAL_STATUSES

#: SQLite: how many claimable rows one claim tries before giving up (each lost race moves on to
#: the next row; another worker took the one it saw).
CLAIM_ATTEMPTS = 20
#: Where a job's artifacts live: <artifact_dir>/jobs/<job id>/<attempt folder>/<file>.
JOBS_FOLDER = "jobs"


def export_frame(content: bytes) -> pd.DataFrame:
    """An export snapshot's frozen table."""
    return pd.read_parquet(io.BytesIO(content))


def known_label_map(*, session: Session, project_id: int) -> dict[str, int | None]:
    """External example id -> the requester's known label (None where unknown)."""
    rows = session.execute(
        select(Example.external_id, Example.known_label).where(Example.project_id == project_id)
    )
    return {str(e): k for e, k in rows}


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
    *, session: Session, worker_id: str, lease_seconds: float, now: float | None = None
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
            for _ in range(CLAIM_ATTEMPTS):
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
    *,
    session: Session,
    claim: Claim,
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
    *,
    session: Session,
    claim: Claim,
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


def release(*, session: Session, claim: Claim) -> bool:
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


def materialize_inputs(*, session: Session, claim: Claim, folder: Path) -> dict[str, Any]:
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
            frame = export_frame(snapshot.content)
            if options.get("exclude_gold"):
                frame = frame.loc[~frame["is_gold"].astype(bool)].reset_index(drop=True)
            if options.get("labels") == "known":
                known = known_label_map(session=session, project_id=snapshot.project_id)
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
