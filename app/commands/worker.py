"""frtrain CLI commands: `frtrain worker` and `frtrain jobs ...` (issue 5)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy.orm import Session

from app.commands import jobs_app, root


@root.command("worker")
def worker(
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1, help="Jobs run at once."),
    database_url: str | None = typer.Option(None, help="Database URL (default: DATABASE_URL)."),
    exit_when_idle: bool = typer.Option(False, help="Stop once the queue is empty."),
    threads: int = typer.Option(1, min=1, help="torch threads per job (1 is fastest here)."),
) -> None:
    """Run a training worker: claim queued jobs, train, store results and artifacts.

    Start as many as you like, on one or many machines sharing the database."""
    import logging

    from app.core.config import get_settings
    from app.worker import run_workers

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    run_workers(concurrency, settings=settings, exit_when_idle=exit_when_idle, threads=threads)


@contextmanager
def _service(exit_code: int = 1) -> Iterator[Session]:
    """A session on DATABASE_URL; a domain error becomes its message and an exit code."""
    from app.core.config import get_settings
    from app.core.db import make_engine, make_session_factory
    from app.core.errors import DomainError

    engine = make_engine(get_settings().database_url)
    session = make_session_factory(engine)()
    try:
        yield session
    except DomainError as exc:
        typer.echo(exc.detail, err=True)
        raise typer.Exit(exit_code) from exc
    finally:
        session.close()
        engine.dispose()


@jobs_app.command("submit")
def submit(
    spec_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON job request."),
) -> None:
    """Queue a training job from a JSON file shaped like POST /api/v1/training-jobs."""
    from app.core.config import get_settings
    from app.schemas.jobs import JobCreate
    from app.services import jobs as svc

    try:
        body = JobCreate.model_validate(json.loads(spec_file.read_text()))
    except (ValueError, json.JSONDecodeError) as exc:
        typer.echo(f"invalid job request: {exc}", err=True)
        raise typer.Exit(2) from exc
    with _service(exit_code=2) as session:
        job = svc.create_job(session=session, settings=get_settings(), body=body)
    typer.echo(f"queued job {job.id} ({job.method} on {job.dataset})")


@jobs_app.command("list")
def list_jobs(status: str | None = typer.Option(None, help="Only this status.")) -> None:
    """List training jobs, newest first."""
    from app.services import jobs as svc

    with _service() as session:
        rows, count = svc.list_jobs(session=session, status=status, limit=1000)
    typer.echo(f"{count} job(s)")
    for j in rows:
        typer.echo(
            f"{j.id:>5}  {j.status:<10} {j.method:<9} {j.dataset:<10} "
            f"{j.progress.percent:5.1f}%  attempts {j.attempts}/{j.max_attempts}  {j.name}"
        )


@jobs_app.command("show")
def show(job_id: int = typer.Argument(...)) -> None:
    """Print one job as JSON (status, progress, results)."""
    from app.services import jobs as svc

    with _service() as session:
        job = svc.read_job(session=session, job_id=job_id)
    typer.echo(job.model_dump_json(indent=2))


@jobs_app.command("cancel")
def cancel(job_id: int = typer.Argument(...)) -> None:
    """Cancel a queued or running job."""
    from app.services import jobs as svc

    with _service() as session:
        job = svc.cancel_job(session=session, job_id=job_id)
    typer.echo(f"job {job.id}: {job.status} (cancel requested)")
