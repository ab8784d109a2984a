"""Fixtures for the training-job tests: committed data on the suite's per-process database
(``db_url`` from tests/app/conftest.py), real worker subprocesses, and clean-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import make_engine, make_session_factory
from app.models import TrainingFile, TrainingJob, TrainingJobRun
from app.schemas.jobs import JobCreate
from app.services import jobs as svc

ROOT = Path(__file__).resolve().parents[3]

#: Lease settings for the worker subprocesses: short, so a killed worker's job is retaken fast.
LEASE_ENV = {
    "WORKER_LEASE_SECONDS": "3",
    "WORKER_HEARTBEAT_SECONDS": "0.3",
    "WORKER_POLL_SECONDS": "0.1",
    "WORKER_MAX_ATTEMPTS": "3",
}


def _clean(factory: Any) -> None:
    with factory() as s:
        s.execute(delete(TrainingJobRun))
        s.execute(delete(TrainingJob))
        s.execute(delete(TrainingFile))
        s.commit()


@pytest.fixture
def queue_settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        environment="test",
        database_url=db_url,
        artifact_dir=tmp_path / "artifacts",
        worker_lease_seconds=float(LEASE_ENV["WORKER_LEASE_SECONDS"]),
        worker_heartbeat_seconds=float(LEASE_ENV["WORKER_HEARTBEAT_SECONDS"]),
        worker_poll_seconds=float(LEASE_ENV["WORKER_POLL_SECONDS"]),
        worker_max_attempts=int(LEASE_ENV["WORKER_MAX_ATTEMPTS"]),
    )


@pytest.fixture
def committed(queue_settings: Settings) -> Iterator[Callable[[], Session]]:
    """Sessions that really commit (seen by worker processes); job tables emptied around."""
    engine = make_engine(queue_settings.database_url)
    factory = make_session_factory(engine)
    _clean(factory)
    try:
        yield factory
    finally:
        _clean(factory)
        engine.dispose()


def queue_job(factory: Callable[[], Session], settings: Settings, body: dict[str, Any]) -> int:
    with factory() as s:
        return svc.create_job(session=s, settings=settings, body=JobCreate(**body)).id


class WorkerProcs:
    """Start `python -m app.worker` subprocesses against the test database; stop them all."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            **LEASE_ENV,
            "DATABASE_URL": self.settings.database_url,
            "ARTIFACT_DIR": str(self.settings.artifact_dir),
            "ENVIRONMENT": "test",
        }
        log = (self.log_dir / f"worker{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.worker", *extra],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.log_dir.glob("worker*.log")))

    def stop_all(self) -> None:
        # SIGKILL: the tests are done with them, and a graceful exit (interpreter teardown with
        # torch loaded) costs seconds per process.
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in self.procs:
            p.wait(timeout=15)


@pytest.fixture
def workers(queue_settings: Settings, tmp_path: Path) -> Iterator[WorkerProcs]:
    procs = WorkerProcs(queue_settings, tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()


def wait_for(
    predicate: Callable[[], Any], timeout: float, what: str, logs: Callable[[], str] | None = None
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs() if logs else ''}")


def job_row(factory: Callable[[], Session], job_id: int) -> TrainingJob:
    with factory() as s:
        job = s.get(TrainingJob, job_id)
        assert job is not None
        s.expunge(job)
        return job
