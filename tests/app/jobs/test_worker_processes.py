"""Real worker subprocesses (`python -m app.worker`) against SQLite and Postgres:
exactly-once under two workers, takeover after SIGKILL, cancellation, failures."""

from __future__ import annotations

import io
import signal
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import TrainingJob, TrainingJobRun
from app.services import jobs as svc

from .conftest import WorkerProcs, job_row, queue_job, wait_for

FAST: dict[str, Any] = {"data": {"builtin": "synthetic"}, "method": "lr", "seeds": [0]}


def long_job(epochs: int) -> dict[str, Any]:
    return {
        "data": {"builtin": "synthetic"},
        "method": "fr-train",
        "hyperparameters": {"epochs": epochs, "pretrain_epochs": 10, "l1": [0.3], "l2": [0.2]},
        "seeds": [0],
    }


def runs_of(factory: Callable[[], Session]) -> list[TrainingJobRun]:
    with factory() as s:
        rows = list(s.scalars(select(TrainingJobRun).order_by(TrainingJobRun.id)))
        s.expunge_all()
        return rows


def statuses(factory: Callable[[], Session]) -> dict[int, str]:
    with factory() as s:
        return {int(i): str(st) for i, st in s.execute(select(TrainingJob.id, TrainingJob.status))}


pytestmark = pytest.mark.postgres


def test_two_workers_run_each_of_20_jobs_exactly_once(
    committed: Callable[[], Session], queue_settings: Settings, workers: WorkerProcs
) -> None:
    ids = [queue_job(committed, queue_settings, FAST) for _ in range(20)]
    a = workers.start("--exit-when-idle")
    b = workers.start("--exit-when-idle")
    assert a.wait(timeout=90) == 0, workers.logs()
    assert b.wait(timeout=90) == 0, workers.logs()

    assert statuses(committed) == dict.fromkeys(ids, "succeeded"), workers.logs()
    runs = runs_of(committed)
    per_job = Counter(r.job_id for r in runs)
    assert per_job == Counter(ids), f"runs per job: {per_job}"
    assert {r.outcome for r in runs} == {"succeeded"}
    for job_id in ids:
        job = job_row(committed, job_id)
        assert job.attempts == 1 and job.results is not None
        assert job.results["method"] == "lr"
        assert set(job.artifacts or []) and all(a.startswith("attempt1-") for a in job.artifacts)


def test_job_of_a_killed_worker_is_finished_by_another_after_the_lease_expires(
    committed: Callable[[], Session], queue_settings: Settings, workers: WorkerProcs
) -> None:
    # Long enough that the victim is still training when it is killed, however fast the
    # engine gets (1,500 epochs used to take ~10 s; now a run can end before the first poll).
    job_id = queue_job(committed, queue_settings, long_job(40_000))
    victim = workers.start()

    def running_with_progress() -> bool:
        job = job_row(committed, job_id)
        return job.status == "running" and job.progress_epoch > 0

    wait_for(running_with_progress, 60, "the first worker to report progress", workers.logs)
    workers.start()  # polls; the job is not claimable while the victim's lease is live
    first = job_row(committed, job_id)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    done = wait_for(
        lambda: job_row(committed, job_id).status in ("succeeded", "failed"),
        120,
        "the second worker to finish the job",
        workers.logs,
    )
    assert done
    job = job_row(committed, job_id)
    assert job.status == "succeeded", (job.error, workers.logs())
    assert job.attempts == 2
    assert job.worker_id != first.worker_id
    runs = runs_of(committed)
    assert [(r.attempt, r.outcome) for r in runs] == [(1, "lost"), (2, "succeeded")]
    assert runs[0].worker_id == first.worker_id and runs[1].worker_id == job.worker_id
    assert all(a.startswith("attempt2-") for a in job.artifacts or [])


def test_cancel_failure_and_sigterm_release(
    committed: Callable[[], Session], queue_settings: Settings, workers: WorkerProcs
) -> None:
    # A training file whose label column has three values: accepted at creation (the
    # columns exist) but the loader refuses it when the job runs.
    csv = "x1,x2,g,y\n" + "".join(f"{i % 7},{i % 3},{i % 2},{i % 3}\n" for i in range(60))
    with committed() as s:
        upload = svc.upload_training_file(session=s, data=csv.encode(), filename="bad.csv")
    failing = queue_job(
        committed,
        queue_settings,
        {
            "data": {"upload_id": upload.id, "label": "y", "sensitive": "g"},
            "method": "lr",
            "seeds": [0],
        },
    )
    endless = queue_job(committed, queue_settings, long_job(200_000))
    after = queue_job(committed, queue_settings, uploaded_job(committed))
    last = queue_job(committed, queue_settings, long_job(200_000))
    proc = workers.start()

    wait_for(
        lambda: job_row(committed, endless).progress_epoch > 0,
        60,
        "the long job to start training",
        workers.logs,
    )
    failed = job_row(committed, failing)
    assert failed.status == "failed"
    assert failed.error is not None and "label" in failed.error.lower(), failed.error

    with committed() as s:
        svc.cancel_job(session=s, job_id=endless)
    wait_for(
        lambda: job_row(committed, endless).status == "cancelled",
        15,
        "the running job to stop after cancel",
        workers.logs,
    )
    cancelled = job_row(committed, endless)
    assert cancelled.progress_epoch < 200_000 and cancelled.results is None
    wait_for(
        lambda: job_row(committed, after).status == "succeeded",
        60,
        "the worker to carry on with the next job",
        workers.logs,
    )
    # SIGTERM mid-job: the worker hands the job back to the queue (the attempt does not
    # count) and exits cleanly.
    wait_for(
        lambda: job_row(committed, last).progress_epoch > 0,
        60,
        "the last job to start training",
        workers.logs,
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, workers.logs()
    released = job_row(committed, last)
    assert (released.status, released.attempts, released.lease_token) == ("queued", 0, None)
    outcomes = {(r.job_id, r.outcome) for r in runs_of(committed)}
    assert outcomes == {
        (failing, "failed"),
        (endless, "cancelled"),
        (after, "succeeded"),
        (last, "released"),
    }
    # The job after them trained FR-Train on an uploaded file the worker read from the DB.
    results = job_row(committed, after).results
    assert results is not None
    assert [p["params"]["l1"] for p in results["seeds"][0]["grid"]] == [0.1, 0.5]
    assert 110 <= results["seeds"][0]["n_test"] <= 130  # 30% of 400, stratified


def uploaded_job(committed: Callable[[], Session]) -> dict[str, Any]:
    """An uploaded CSV with string labels, a named sensitive value and an id column."""
    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=(n, 2))
    g = rng.integers(0, 2, n)
    y = np.where(x[:, 0] + 0.5 * g + rng.normal(scale=0.5, size=n) > 0, "yes", "no")
    buf = io.StringIO()
    buf.write("id,a,b,grp,outcome\n")
    for i in range(n):
        buf.write(f"r{i},{x[i, 0]:.4f},{x[i, 1]:.4f},{'F' if g[i] else 'M'},{y[i]}\n")
    with committed() as s:
        upload = svc.upload_training_file(
            session=s, data=buf.getvalue().encode(), filename="mine.csv"
        )
    return {
        "data": {
            "upload_id": upload.id,
            "label": "outcome",
            "sensitive": "grp",
            "id_column": "id",
            "positive_label": "yes",
            "privileged": "F",
        },
        "method": "fr-train",
        "hyperparameters": {"epochs": 60, "pretrain_epochs": 20, "l1": [0.1, 0.5]},
        "seeds": [0],
    }
