"""Read queries of the admin list pages, one statement per table whatever the number of rows
(the projects and jobs pages once ran a query, or a whole worker-quality scoring, per row).

They read what the services' own functions would (the worker count of
``labels.worker_quality``, the job of ``jobs.read_job``) in aggregate; the pages' statement
counts are test-checked (tests/app/admin/test_admin_queries.py).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import Answer, TrainingJob
from app.schemas.jobs import JobPublic
from app.services import jobs as job_service


def workers_per_project(session: Session, project_ids: list[int]) -> dict[int, int]:
    """Workers with a counted (confirmed) answer in each project: the number of rows that
    ``labels.worker_quality`` reports for it, counted in one grouped query."""
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


def newest_jobs(session: Session, *, limit: int) -> tuple[list[JobPublic], int]:
    """The `limit` newest training jobs in full (what ``jobs.read_job`` gives for each) and the
    number of jobs: two queries, the order of ``jobs.list_jobs``."""
    rows = session.scalars(select(TrainingJob).order_by(TrainingJob.id.desc()).limit(limit))
    jobs = [job_service.to_public(row) for row in rows]
    total = int(session.scalar(select(func.count()).select_from(TrainingJob)) or 0)
    return jobs, total
