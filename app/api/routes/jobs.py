"""Training jobs (admin): create, list, get, cancel, artifacts; uploaded training files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import UPLOAD_BODY, AdminDep, IdPath, SessionDep, SettingsDep, read_file_upload
from app.core.tables import TableLimits
from app.schemas.jobs import JobCreate, JobPublic, JobsPublic, JobStatus, TrainingFilePublic
from app.services.jobs import api as svc

router = APIRouter(tags=["training jobs"])

ArtifactName = Annotated[str, Query(pattern=r"^[A-Za-z0-9_.-]{1,100}$")]


@router.post(
    "/training-files",
    status_code=201,
    response_model=TrainingFilePublic,
    openapi_extra=UPLOAD_BODY,
)
async def upload_training_file(
    request: Request, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> TrainingFilePublic:
    """Upload a training table (multipart field `file`: CSV or Parquet); reference it as
    `data.upload_id` with its column roles."""
    upload = await read_file_upload(request, settings)
    return await run_in_threadpool(
        svc.upload_training_file,
        session=session,
        data=upload.data,
        filename=upload.filename,
        limits=TableLimits.of(settings),
    )


@router.get("/training-files/{file_id}", response_model=TrainingFilePublic)
def get_training_file(file_id: IdPath, session: SessionDep, _: AdminDep) -> TrainingFilePublic:
    return svc.read_training_file(session=session, file_id=file_id)


@router.post("/training-jobs", status_code=201, response_model=JobPublic)
def create_job(
    body: JobCreate, session: SessionDep, settings: SettingsDep, _: AdminDep
) -> JobPublic:
    """Queue a training job. The request is validated now (422 naming the field); a worker
    (`frtrain worker`) runs it."""
    return svc.create_job(session=session, settings=settings, body=body)


@router.get("/training-jobs", response_model=JobsPublic)
def list_jobs(
    session: SessionDep,
    _: AdminDep,
    status: Annotated[JobStatus | None, Query()] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JobsPublic:
    """Newest first; summaries without the per-seed results."""
    data, count = svc.list_jobs(session=session, status=status, offset=offset, limit=limit)
    return JobsPublic(data=data, count=count)


@router.get("/training-jobs/{job_id}", response_model=JobPublic)
def get_job(job_id: IdPath, session: SessionDep, _: AdminDep) -> JobPublic:
    """Status, progress, and (once done) per-seed, per-grid-point metrics."""
    return svc.read_job(session=session, job_id=job_id)


@router.post("/training-jobs/{job_id}/cancel", response_model=JobPublic)
def cancel_job(job_id: IdPath, session: SessionDep, _: AdminDep) -> JobPublic:
    """A queued job is cancelled at once; a running one stops within about a second.
    Finished jobs answer 409."""
    return svc.cancel_job(session=session, job_id=job_id)


@router.get(
    "/training-jobs/{job_id}/artifacts/{name}",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download_artifact(
    job_id: IdPath,
    name: str,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminDep,
) -> FileResponse:
    """`model.pt` (weights + config), `config.json`, `predictions.csv`, `tradeoff.png`,
    `metrics.json`; the job's `artifacts` lists what exists."""
    path = svc.artifact_file(session=session, settings=settings, job_id=job_id, name=name)
    media = svc.ARTIFACT_MEDIA.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media, filename=f"job{job_id}-{path.name}")
