"""frtrain CLI commands: `frtrain worker` and `frtrain jobs ...`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.commands import jobs_app, root
from app.commands._cli import (
    JsonOpt,
    fail,
    output,
    print_json,
    read_file,
    service,
    validation_line,
)


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


#: Keys of a `data` object that names a local table for the CLI to upload first.
_LOCAL_DATA_KEYS = ("path", "file")


def _job_request(spec_file: Path, data_file: Path | None) -> tuple[dict[str, Any], Path | None]:
    """The JSON request and the local training table it names (`data.path`, relative to the
    spec file's folder, or --data), if any."""
    try:
        raw = json.loads(spec_file.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"SPEC_FILE: cannot read {spec_file} ({exc})")
    except json.JSONDecodeError as exc:
        fail(f"SPEC_FILE: {spec_file} is not JSON (line {exc.lineno}: {exc.msg})")
    if not isinstance(raw, dict):
        fail(f"SPEC_FILE: {spec_file} must hold a JSON object shaped like the API's job request")
    data = raw.get("data")
    local: Path | None = data_file
    if isinstance(data, dict):
        key = next((k for k in _LOCAL_DATA_KEYS if k in data), None)
        if key is not None:
            data = dict(data)
            named = Path(str(data.pop(key)))
            local = local or (named if named.is_absolute() else spec_file.parent / named)
            raw["data"] = data
    if local is not None:
        if not isinstance(raw.get("data"), dict):
            raw["data"] = {}
        raw["data"]["upload_id"] = 1  # placeholder, replaced after the upload
    return raw, local


def _data_error(exc: ValidationError) -> str:
    """One line for an invalid `data` object instead of one error per union member."""
    data_errors = [e for e in exc.errors() if e.get("loc", ("",))[0] == "data"]
    if not data_errors or len(data_errors) == len(exc.errors()) == 1:
        return validation_line(exc)
    return (
        'data: expected {"builtin": "synthetic"|"compas"|"adult"}, '
        '{"upload_id": ID, "label": COLUMN, "sensitive": COLUMN} or a local table '
        '{"path": FILE, "label": COLUMN, "sensitive": COLUMN}'
    )


@jobs_app.command("submit")
def submit(
    spec_file: Path = typer.Argument(..., help="JSON job request (as POST /api/v1/training-jobs)."),
    data_file: Path | None = typer.Option(
        None, "--data", help="Local CSV/Parquet training table (uploaded first; sets data)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Queue a training job from a JSON file shaped like POST /api/v1/training-jobs.

    `data` may name a local table: {"path": "train.csv", "label": "y", "sensitive": "z"}
    (relative to the JSON file's folder) or come from --data; the CLI uploads it as a
    training file (POST /api/v1/training-files) and submits the job on it."""
    from app.schemas.jobs import JobCreate
    from app.services.jobs import api as svc

    raw, local = _job_request(spec_file, data_file)
    try:
        body = JobCreate.model_validate(raw)
    except ValidationError as exc:
        fail(f"SPEC_FILE: {_data_error(exc)}")
    content = read_file(local, "data.path") if local is not None else None
    with service() as (session, settings):
        if content is not None and local is not None:
            upload = svc.upload_training_file(session=session, data=content, filename=local.name)
            body = body.model_copy(
                update={"data": body.data.model_copy(update={"upload_id": upload.id})}
            )
        job = svc.create_job(session=session, settings=settings, body=body)
    output(
        job,
        as_json,
        lambda: typer.echo(f"queued job {job.id} ({job.method} on {job.dataset})"),
    )


@jobs_app.command("list")
def list_jobs(
    status: str | None = typer.Option(None, help="Only this status."), as_json: bool = JsonOpt
) -> None:
    """List training jobs, newest first."""
    from app.services.jobs import api as svc

    with _service() as session:
        rows, count = svc.list_jobs(session=session, status=status, limit=1000)
    if as_json:
        print_json({"data": rows, "count": count})
        return
    typer.echo(f"{count} job(s)")
    for j in rows:
        typer.echo(
            f"{j.id:>5}  {j.status:<10} {j.method:<9} {j.dataset:<10} "
            f"{j.progress.percent:5.1f}%  attempts {j.attempts}/{j.max_attempts}  {j.name}"
        )


@jobs_app.command("show")
def show(job_id: int = typer.Argument(...)) -> None:
    """Print one job as JSON (status, progress, results)."""
    from app.services.jobs import api as svc

    with _service() as session:
        job = svc.read_job(session=session, job_id=job_id)
    typer.echo(job.model_dump_json(indent=2))


@jobs_app.command("cancel")
def cancel(job_id: int = typer.Argument(..., min=1), as_json: bool = JsonOpt) -> None:
    """Cancel a queued or running job."""
    from app.services.jobs import api as svc

    with _service() as session:
        job = svc.cancel_job(session=session, job_id=job_id)
    output(job, as_json, lambda: typer.echo(f"job {job.id}: {job.status} (cancel requested)"))
