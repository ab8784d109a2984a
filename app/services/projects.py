"""Projects: create, list, get, update (keyword-only, own the transaction, raise domain errors)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.errors import NotFound
from app.models import Answer, Example, Project
from app.schemas.crowd import ProjectCreate, ProjectPublic, ProjectUpdate


def get_project(*, session: Session, project_id: int) -> Project:
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(f"project {project_id} does not exist", project_id=project_id)
    return project


def _counts(session: Session, project_ids: list[int]) -> dict[int, tuple[int, int]]:
    if not project_ids:
        return {}
    ex = dict(
        session.execute(
            select(Example.project_id, func.count())
            .where(Example.project_id.in_(project_ids))
            .group_by(Example.project_id)
        ).all()
    )
    ans = dict(
        session.execute(
            select(Answer.project_id, func.count())
            .where(Answer.project_id.in_(project_ids), Answer.confirmed.is_(True))
            .group_by(Answer.project_id)
        ).all()
    )
    return {pid: (int(ex.get(pid, 0)), int(ans.get(pid, 0))) for pid in project_ids}


def to_public(*, session: Session, project: Project) -> ProjectPublic:
    n_ex, n_ans = _counts(session, [project.id])[project.id]
    out = ProjectPublic.model_validate(project)
    return out.model_copy(update={"n_examples": n_ex, "n_answers": n_ans})


def create_project(*, session: Session, data: ProjectCreate) -> ProjectPublic:
    values: dict[str, Any] = data.model_dump()
    values["worker_filter"] = data.worker_filter.model_dump()
    project = Project(**values)
    session.add(project)
    session.commit()
    return to_public(session=session, project=project)


def read_project(*, session: Session, project_id: int) -> ProjectPublic:
    return to_public(session=session, project=get_project(session=session, project_id=project_id))


def list_projects(
    *, session: Session, offset: int = 0, limit: int = 100
) -> tuple[list[ProjectPublic], int]:
    total = int(session.scalar(select(func.count()).select_from(Project)) or 0)
    rows = list(session.scalars(select(Project).order_by(Project.id).offset(offset).limit(limit)))
    counts = _counts(session, [p.id for p in rows])
    out = [
        ProjectPublic.model_validate(p).model_copy(
            update={"n_examples": counts[p.id][0], "n_answers": counts[p.id][1]}
        )
        for p in rows
    ]
    return out, total


def update_project(*, session: Session, project_id: int, data: ProjectUpdate) -> ProjectPublic:
    project = get_project(session=session, project_id=project_id)
    # exclude_unset: an explicit null clears a nullable field (visible_columns, budget_cap, ...).
    changes = data.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None and key not in {"visible_columns", "sensitive_column", "budget_cap"}:
            continue  # a null for a required field means "unchanged"
        setattr(project, key, value)
    session.commit()
    return to_public(session=session, project=project)
