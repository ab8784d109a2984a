"""Worker quality and aggregated labels (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import AdminDep, IdPath, SessionDep
from app.schemas.crowd import (
    AggregationMethod,
    AuditPublic,
    GroupAuditPublic,
    LabelsPublic,
    WorkerGroupPublic,
    WorkersPublic,
)
from app.services.crowd import labels as svc
from app.services.crowd import reports as crowd_reports
from app.services.projects import get_project

router = APIRouter(prefix="/projects/{project_id}", tags=["quality"])


@router.get("/workers", response_model=WorkersPublic)
def list_workers(project_id: IdPath, session: SessionDep, _: AdminDep) -> WorkersPublic:
    """Workers who answered in the project with gold accuracy (Beta posterior mean) and status."""
    data, warnings = svc.worker_report(session=session, project_id=project_id)
    return WorkersPublic(data=data, count=len(data), warnings=warnings)


@router.get("/labels", response_model=LabelsPublic)
def get_labels(
    project_id: IdPath,
    session: SessionDep,
    _: AdminDep,
    method: AggregationMethod = "peer_weighted",
    n: Annotated[int | None, Query(ge=1, le=1000, description="N; default: project")] = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> LabelsPublic:
    """Aggregated labels: the first N answers of non-filtered workers per example (§4.4)."""
    frame = svc.compute_labels(session=session, project_id=project_id, method=method, n=n)
    project = get_project(session=session, project_id=project_id)
    page = frame.iloc[offset : offset + limit]
    return LabelsPublic(
        method=method,
        n=n if n is not None else project.max_answers,
        threshold=project.threshold,
        data=svc.labels_public(page),
        count=len(frame),
    )


@router.get("/audit", response_model=AuditPublic)
def get_audit(
    project_id: IdPath,
    session: SessionDep,
    _: AdminDep,
    column: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="feature; default: sensitive_column"),
    ] = None,
    method: AggregationMethod = "peer_weighted",
) -> AuditPublic:
    """Crowd bias audit per group of a sensitive feature: label accuracy and positive rate of
    the crowd labels against the known labels, and per-worker answer distributions."""
    result = crowd_reports.audit_project(
        session=session, project_id=project_id, column=column, method=method
    )
    return AuditPublic(
        column=result.column,
        method=method,
        groups=[GroupAuditPublic(**g.__dict__) for g in result.groups],
        workers=[
            WorkerGroupPublic(**{**w.__dict__, "worker_id": str(w.worker_id)})
            for w in result.workers
        ],
        worker_gaps={str(k): v for k, v in result.worker_gaps.items()},
    )
