"""Projects (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import AdminDep, IdPath, SessionDep
from app.schemas.crowd import ProjectCreate, ProjectPublic, ProjectsPublic, ProjectUpdate
from app.services import projects as svc

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", status_code=201, response_model=ProjectPublic)
def create_project(body: ProjectCreate, session: SessionDep, _: AdminDep) -> ProjectPublic:
    """Create a labeling project (paper §4.4 defaults: threshold 2.5, 30 questions, $0.03)."""
    return svc.create_project(session=session, data=body)


@router.get("", response_model=ProjectsPublic)
def list_projects(
    session: SessionDep,
    _: AdminDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ProjectsPublic:
    data, count = svc.list_projects(session=session, offset=offset, limit=limit)
    return ProjectsPublic(data=data, count=count)


@router.get("/{project_id}", response_model=ProjectPublic)
def get_project(project_id: IdPath, session: SessionDep, _: AdminDep) -> ProjectPublic:
    return svc.read_project(session=session, project_id=project_id)


@router.patch("/{project_id}", response_model=ProjectPublic)
def update_project(
    project_id: IdPath, body: ProjectUpdate, session: SessionDep, _: AdminDep
) -> ProjectPublic:
    return svc.update_project(session=session, project_id=project_id, data=body)
