"""The training worker: claims queued jobs, runs them through ``trainer.api``,
heartbeats a lease, writes progress, stores results and artifacts, records failures.

Run it as ``frtrain worker [--concurrency K]`` or ``python -m app.worker``. Several workers, on
one or many machines sharing one database, drain one queue (claiming rules in
:mod:`app.services.jobs`). While a job runs, a heartbeat thread renews the lease about once a
second (at least every ``WORKER_HEARTBEAT_SECONDS``), writes the latest progress and reads the
job's cancel flag; the training loop polls that flag on every epoch, so a cancelled job stops
within about a second. A worker that loses its lease (it stalled longer than
``WORKER_LEASE_SECONDS`` and another worker took the job) stops and writes nothing.
SIGTERM/SIGINT: stop claiming, hand the running job back to the queue, exit.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import threading
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_session_factory
from app.services.jobs import queue
from trainer import api as trainer_api

log = logging.getLogger("frtrain.worker")

#: Longest error text stored on a failed job (the traceback tail is kept).
MAX_ERROR_CHARS = 4000
#: The heartbeat interval, clamped: often enough to renew a short test lease, never a busy loop
#: (WORKER_HEARTBEAT_SECONDS outside the range is brought into it).
HEARTBEAT_MIN_S, HEARTBEAT_MAX_S = 0.05, 1.0


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class _Heartbeat(threading.Thread):
    """Renews the lease, publishes progress, and raises the stop flag on cancel or loss."""

    def __init__(self, worker: Worker, claim: queue.Claim) -> None:
        super().__init__(name=f"heartbeat-{claim.job_id}", daemon=True)
        self.worker = worker
        self.claim = claim
        self.progress: dict[str, Any] | None = None
        self.cancel = threading.Event()
        self.lost = threading.Event()
        self.done = threading.Event()
        s = worker.settings
        self.interval = max(HEARTBEAT_MIN_S, min(HEARTBEAT_MAX_S, s.worker_heartbeat_seconds))

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.beat()

    def beat(self) -> None:
        try:
            with self.worker.sessions() as session:
                beat = queue.heartbeat(
                    session=session,
                    claim=self.claim,
                    lease_seconds=self.worker.settings.worker_lease_seconds,
                    progress=self.progress,
                )
        except Exception as exc:  # a database hiccup: try again next tick, the lease has slack
            log.warning("heartbeat for job %s failed: %s", self.claim.job_id, exc)
            return
        if not beat.owned:
            self.lost.set()
        if beat.cancel_requested:
            self.cancel.set()


class Worker:
    """One worker loop: claim, run, settle, repeat."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        worker_id: str | None = None,
        engine: Engine | None = None,
        threads: int = 1,
    ) -> None:
        self.settings = settings or get_settings()
        self.threads = threads
        self.worker_id = worker_id or new_worker_id()
        self.engine = engine or make_engine(self.settings.database_url)
        self._owns_engine = engine is None
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)
        self.stop = threading.Event()
        self.jobs_run = 0

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def run(
        self,
        *,
        max_jobs: int | None = None,
        exit_when_idle: bool = False,
        on_progress: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> int:
        """Drain the queue until stopped (or ``max_jobs`` ran, or idle with
        ``exit_when_idle``); returns the number of jobs this worker settled."""
        log.info("worker %s polling %s", self.worker_id, self._url())
        while not self.stop.is_set():
            if max_jobs is not None and self.jobs_run >= max_jobs:
                break
            try:
                ran = self.run_one(on_progress=on_progress)
            except Exception:  # never die on one bad poll (database restart, ...)
                log.exception("worker %s: poll failed", self.worker_id)
                ran = False
            if not ran:
                if exit_when_idle:
                    break
                self.stop.wait(self.settings.worker_poll_seconds)
        return self.jobs_run

    def _url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def run_one(self, *, on_progress: Callable[[int, dict[str, Any]], None] | None = None) -> bool:
        """Claim one job and run it to an outcome; False when the queue had nothing."""
        with self.sessions() as session:
            claim = queue.claim_next(
                session=session,
                worker_id=self.worker_id,
                lease_seconds=self.settings.worker_lease_seconds,
            )
        if claim is None:
            return False
        log.info("worker %s: job %s attempt %s", self.worker_id, claim.job_id, claim.attempt)
        self.execute(claim, on_progress=on_progress)
        self.jobs_run += 1
        return True

    def execute(
        self,
        claim: queue.Claim,
        *,
        on_progress: Callable[[int, dict[str, Any]], None] | None = None,
    ) -> str:
        """Run a claimed job; returns the outcome written (or ``lost`` / ``released``)."""
        folder = queue.job_folder(self.settings, claim.job_id)
        attempt_dir = folder / queue.attempt_folder_name(claim)
        hb = _Heartbeat(self, claim)
        hb.start()

        def progress(p: dict[str, Any]) -> None:
            hb.progress = p
            if on_progress is not None:
                on_progress(claim.job_id, p)

        def should_cancel() -> bool:
            return hb.cancel.is_set() or hb.lost.is_set() or self.stop.is_set()

        outcome = "failed"
        try:
            with self.sessions() as session:
                spec = queue.materialize_inputs(
                    session=session, claim=claim, folder=attempt_dir / "inputs"
                )
            results = trainer_api.run_training(
                spec,
                progress=progress,
                should_cancel=should_cancel,
                artifact_dir=attempt_dir,
                threads=self.threads,
            )
            names = [f"{attempt_dir.name}/{n}" for n in results.pop("artifacts", [])]
            outcome = self._settle(claim, hb, "succeeded", results=results, artifacts=names)
        except trainer_api.Cancelled:
            if hb.lost.is_set():
                outcome = "lost"
            elif hb.cancel.is_set():
                outcome = self._settle(claim, hb, "cancelled", error="cancelled on request")
            else:  # this worker is stopping: hand the job back
                hb.done.set()
                with self.sessions() as session:
                    queue.release(session=session, claim=claim)
                outcome = "released"
        except Exception as exc:
            tail = traceback.format_exc()[-MAX_ERROR_CHARS // 2 :]
            message = f"{type(exc).__name__}: {exc}"[: MAX_ERROR_CHARS // 2]
            outcome = self._settle(claim, hb, "failed", error=f"{message}\n\n{tail}")
            log.warning("job %s failed: %s", claim.job_id, message)
        finally:
            hb.done.set()
            hb.join(timeout=10)
            if outcome not in ("succeeded",):
                # Inputs and partial files of an unsuccessful attempt are of no use.
                queue.remove_attempt(self.settings, claim)
            else:
                _remove(attempt_dir / "inputs")
        log.info("job %s: %s", claim.job_id, outcome)
        return outcome

    def _settle(self, claim: queue.Claim, hb: _Heartbeat, status: str, **kw: Any) -> str:
        hb.done.set()
        with self.sessions() as session:
            owned = queue.finish(session=session, claim=claim, status=status, **kw)
        return status if owned else "lost"


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# -- process entry points ------------------------------------------------------------------------
def _install_signals(stop: Callable[[], None]) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping after handing back the running job", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _child_main(database_url: str | None, threads: int, parent: int, exit_when_idle: bool) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    worker = Worker(settings, threads=threads)
    _install_signals(worker.stop.set)

    def watch_parent() -> None:
        # A supervisor killed with SIGKILL cannot tell its children: they notice and stop.
        while not worker.stop.wait(1.0):
            if os.getppid() != parent:
                worker.stop.set()

    threading.Thread(target=watch_parent, daemon=True).start()
    try:
        worker.run(exit_when_idle=exit_when_idle)
    finally:
        worker.close()


def run_workers(
    concurrency: int = 1,
    *,
    settings: Settings | None = None,
    exit_when_idle: bool = False,
    max_jobs: int | None = None,
    threads: int = 1,
) -> int:
    """Run ``concurrency`` worker loops: in this process for 1, else as child processes (one
    per job at a time; training is CPU-bound Python, so threads would share one GIL).

    ``threads``: torch intra-op threads per worker. The models are tiny, so one thread is
    fastest: on a busy 2-core machine two threads made an FR-Train run six times slower."""
    settings = settings or get_settings()
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    if concurrency == 1:
        worker = Worker(settings, threads=threads)
        _install_signals(worker.stop.set)
        try:
            return worker.run(exit_when_idle=exit_when_idle, max_jobs=max_jobs)
        finally:
            worker.close()
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(
            target=_child_main,
            args=(settings.database_url, threads, os.getpid(), exit_when_idle),
            name=f"frtrain-worker-{i}",
        )
        for i in range(concurrency)
    ]
    for p in procs:
        p.start()

    def stop_children() -> None:
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGTERM)

    _install_signals(stop_children)
    for p in procs:
        p.join()
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description="frtrain training worker")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--exit-when-idle", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    if args.database_url:
        settings = settings.model_copy(update={"database_url": args.database_url})
    run_workers(
        args.concurrency,
        settings=settings,
        exit_when_idle=args.exit_when_idle,
        threads=args.threads,
    )


if __name__ == "__main__":
    main()
