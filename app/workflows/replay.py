"""End-to-end replay of a released crowd CSV through MTurk's wire protocol (docs/MTURK.md §1-§4).

The examples answered by one set of workers formed one HIT (COMPAS: 15 HITs of up to 30
examples, 11 workers each). The replay rebuilds those HITs, publishes them with boto3 to the local
MTurk emulator (or ``MTURK_ENDPOINT_URL``), serves the task page with uvicorn on a free port, and
lets every simulated worker (its anonymised id mapped to an MTurk-shaped WorkerId) accept the HIT,
open the task page over HTTP, post its real answers and post the page's form to the emulator's
``/mturk/externalSubmit``. Then it syncs, reviews (approve), aggregates and computes Table 6 from
the answers the service stored, exactly as ``frtrain crowd table6`` does from a direct import.

With ``provider="prolific"`` each original HIT becomes one Prolific study published with httpx to
the local Prolific emulator (or ``PROLIFIC_API_URL``); each participant (a 24-hex id derived
from the anonymised id) joins on the emulator, is redirected to the study URL and the task page,
submits and follows the redirect to the completion URL; the sync then confirms the submissions
Prolific lists and stores their answers.

Workers of one HIT submit in the order of their ``worker_id_k`` columns, so "the first N answers"
(paper §4.4) are the same answers as in the file (the released files keep one worker order per
HIT; where a file does not, the order of the HIT's first example is used).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pandas as pd
import uvicorn
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_session_factory
from app.core.migrate import upgrade
from app.crowd import parse_wide
from app.main import create_app
from app.models import ProlificStudy
from app.mturk.emulator import run_emulator, synthetic_worker_id
from app.prolific.emulator import run_prolific_emulator
from app.schemas.crowd import ProjectCreate
from app.services import publishing
from app.services.crowd.examples import existing_ids, upload_examples
from app.services.crowd.labels import compute_labels, load_answer_table
from app.services.crowd.truth import known_labels, read_crowd_csv
from app.services.projects import create_project
from app.services.recruiting import mturk, prolific, sync
from app.services.task import page as task_page
from app.services.task import questions as task_questions
from app.workflows.table6 import (
    QUESTION,
    Table6Config,
    Table6Result,
    compute_table6,
)

SCALE = ["Very unlikely", "Unlikely", "Likely", "Very likely"]


@dataclass(frozen=True)
class ReplayHit:
    example_ids: list[str]  # external ids, file order
    workers: list[str]  # anonymised ids, submission order


@dataclass
class ReplayResult:
    """What the replay did; the project stays in ``database_url`` ready for export."""

    project_id: int
    database_url: str
    n_hits: int
    n_assignments: int
    n_answers: int
    seconds: float
    timings: dict[str, float]
    labels: pd.DataFrame
    table6: Table6Result | None
    worker_ids: dict[str, str]
    sync: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: attempts refused before the accept (qualification) and after it (wasted accepts)
    refusals: dict[str, int] = field(default_factory=dict)


def rebuild_hits(wide_answers: pd.DataFrame) -> list[ReplayHit]:
    """Group examples by their set of workers (one HIT each), in order of first appearance."""
    ordered = wide_answers.sort_values(["example_id", "submitted_at"], kind="stable")
    first_seen: dict[frozenset[str], ReplayHit] = {}
    for example, group in ordered.groupby("example_id", sort=False):
        workers = [str(w) for w in group["worker_id"]]
        key = frozenset(workers)
        if key not in first_seen:
            first_seen[key] = ReplayHit(example_ids=[], workers=workers)
        first_seen[key].example_ids.append(str(example))
    return list(first_seen.values())


@contextlib.contextmanager
def serve_app(settings: Settings) -> Iterator[str]:
    """Serve ``create_app(settings)`` with uvicorn on a free port in a thread; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    app = create_app(settings.model_copy(update={"public_base_url": url}))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the task-page server did not start")
        time.sleep(0.02)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextlib.contextmanager
def _emulator(endpoint: str | None) -> Iterator[str]:
    if endpoint:
        yield endpoint.rstrip("/")
        return
    with run_emulator(allow_http_questions=True) as emu:
        yield emu.url


#: Outcomes of one simulated worker's attempt (counted in ``ReplayResult.refusals``).
SUBMITTED, REFUSED_BEFORE_ACCEPT, REFUSED_AFTER_ACCEPT = (
    "submitted",
    "refused_before_accept",
    "refused_after_accept",
)


@functools.cache
def _sessions(database_url: str) -> sessionmaker[Session]:
    """Sessions on the service's database (the requester side of a simulated worker)."""
    return make_session_factory(make_engine(database_url))


def _answer_form(
    settings: Settings,
    sessions: sessionmaker[Session] | None,
    hit_id: int,
    ident: task_page.Identity,
    answers: dict[int, int],
) -> tuple[dict[str, str], int]:
    """The task form a worker posts: the page's hidden fields and an answer to each question the
    assignment asks (``task_questions.assignment_questions``); and how many questions it asks."""
    with (sessions or _sessions(settings.database_url))() as session:
        questions = task_questions.assignment_questions(
            session=session, settings=settings, assignment_id=ident.assignment_id
        )
    missing = [name for name, e in questions.items() if e not in answers]
    if missing:
        raise RuntimeError(f"the task page asks {sorted(missing)[:3]} which have no answer")
    fields = task_page.form_fields(settings, hit_id, ident)
    fields.update({name: str(answers[e]) for name, e in questions.items()})
    return fields, len(questions)


def _task_id(url: str) -> int:
    """The HIT row id of a task page URL (``.../task/{id}``)."""
    return int(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])


def work_assignment(
    http: httpx.Client,
    settings: Settings,
    emulator_url: str,
    hit_id: str,
    worker_id: str,
    answers: dict[int, int],
    *,
    sessions: sessionmaker[Session] | None = None,
) -> tuple[int, str]:
    """One simulated worker: accept, open the task page, submit ``answers`` (example id ->
    value; the requester side knows each assignment's questions and field names,
    ``task_questions.assignment_questions``), post MTurk's externalSubmit form. Returns the number
    of answers posted and the outcome: refused before the accept (a qualification MTurk enforces),
    refused by the task page after the accept (a wasted accept: "already answered ... please
    return it"), or submitted."""
    accepted = http.post(f"{emulator_url}/_emu/workers/{worker_id}/accept", json={"hitId": hit_id})
    if accepted.status_code == 403 and "qualification" in accepted.text:
        return 0, REFUSED_BEFORE_ACCEPT
    accepted.raise_for_status()
    frame_url = accepted.json()["frameUrl"]
    aid = accepted.json()["assignmentId"]
    page = http.get(frame_url)
    if page.status_code == 409:
        return 0, REFUSED_AFTER_ACCEPT
    page.raise_for_status()
    params = dict(parse_qsl(urlsplit(frame_url).query))
    ident = task_page.Identity(hit_id, aid, worker_id, params["turkSubmitTo"].rstrip("/"))
    task_id = _task_id(frame_url)
    fields, n = _answer_form(settings, sessions, task_id, ident, answers)
    base = f"{urlsplit(frame_url).scheme}://{urlsplit(frame_url).netloc}"
    done = http.post(f"{base}/task/{task_id}/submit", data=fields)
    done.raise_for_status()
    post_to, posted = mturk.external_submit(
        ident, [(k, v) for k, v in fields.items() if k not in task_page.FORM_FIELDS]
    )
    submitted = http.post(post_to, data=dict(posted))
    submitted.raise_for_status()
    return n, SUBMITTED


def prolific_pid(anon: str) -> str:
    """A simulated participant's 24-hex Prolific id, stable per anonymised worker."""
    return hashlib.sha256(f"prolific-replay:{anon}".encode()).hexdigest()[:24]


def work_prolific_session(
    http: httpx.Client,
    settings: Settings,
    emulator_url: str,
    study_id: str,
    pid: str,
    answers: dict[int, int],
    *,
    sessions: sessionmaker[Session] | None = None,
) -> tuple[int, str]:
    """One simulated Prolific participant: join the study on the emulator (redirected to our
    study URL with the three parameters, then to the task page), answer ``answers`` (example id
    -> value, in the session's own field names), submit and follow the redirect to Prolific's
    completion URL. Returns the number of answers posted and the outcome (submitted)."""
    http.cookies.clear()
    page = http.get(f"{emulator_url}/_emu/join/{study_id}", params={"participant": pid})
    page.raise_for_status()
    session_id = page.url.params["SESSION_ID"]
    ident = task_page.Identity(study_id, session_id, prolific.worker_id(pid), "")
    task_id = _task_id(str(page.url))
    fields, n = _answer_form(settings, sessions, task_id, ident, answers)
    done = http.post(str(page.url.join(f"/task/{task_id}/submit")), data=fields)
    done.raise_for_status()
    if "/submissions/complete" not in str(done.url):
        raise RuntimeError(f"the task page did not send the participant to Prolific: {done.url}")
    return n, SUBMITTED


def run_replay(
    csv_path: Path | str,
    *,
    provider: str = "mturk",
    database_url: str | None = None,
    mturk_endpoint_url: str | None = None,
    config: Table6Config | None = None,
    settings: Settings | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    workers_parallel: int = 4,
) -> ReplayResult:
    """Replay a released-format crowd CSV end to end (see the module docstring).

    Args:
        database_url: where the project is created (migrated to head first); default a temporary
            SQLite file that is deleted afterwards.
        mturk_endpoint_url: an MTurk endpoint (e.g. a running ``frtrain mturk-local``); default
            ``settings.mturk_endpoint_url``, else a fresh emulator on a free port.
        config: Table 6 settings (gold fraction, seeds, N values); computed when the file has
            ``true_label``.
        on_progress: ``(stage, done, total)`` callback for a progress bar.
        workers_parallel: HITs worked on at the same time (each HIT's workers stay in order).
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}
    base = settings or get_settings()
    wide = parse_wide(read_crowd_csv(Path(csv_path)))
    hits = rebuild_hits(wide.answers)
    value_of = {
        (str(e), str(w)): int(v)
        for e, w, v in zip(
            wide.answers["example_id"],
            wide.answers["worker_id"],
            wide.answers["value"],
            strict=True,
        )
    }
    with contextlib.ExitStack() as stack:
        if database_url is None:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="frtrain-replay-"))
            database_url = f"sqlite:///{Path(tmp) / 'replay.db'}"
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        with engine.begin() as connection:
            upgrade(connection)
        factory = make_session_factory(engine)
        if provider == "prolific":
            endpoint = stack.enter_context(_prolific_emulator(base.prolific_api_url))
            settings = base.model_copy(
                update={"database_url": database_url, "prolific_api_url": endpoint + "/api/v1"}
            )
        else:
            endpoint = stack.enter_context(
                _emulator(mturk_endpoint_url or base.mturk_endpoint_url or None)
            )
            settings = base.model_copy(
                update={"database_url": database_url, "mturk_endpoint_url": endpoint}
            )
        with factory() as session:
            project_id = _create_project(session, wide, Path(csv_path).name, hits, provider)
        timings["setup"] = time.perf_counter() - started
        service_url = stack.enter_context(serve_app(settings))
        settings = settings.model_copy(update={"public_base_url": service_url})
        t0 = time.perf_counter()
        with factory() as session:
            groups = [
                ([ids[e] for e in h.example_ids], len(h.workers))
                for h in hits
                for ids in [
                    existing_ids(session=session, project_id=project_id, external_ids=h.example_ids)
                ]
            ]
            if provider == "prolific":
                # One study per original task: each participant answers that task's examples.
                hit_rows, warnings = [], []
                for group in groups:
                    done = publishing.publish_batch(
                        session=session, settings=settings, project_id=project_id, groups=[group]
                    )
                    hit_rows += [(r.id, _study_id(session, r), r.items) for r in done.hits]
                    warnings += [
                        w for w in (done.plan.warnings if done.plan else []) if w not in warnings
                    ]
            else:
                published = publishing.publish_batch(
                    session=session, settings=settings, project_id=project_id, groups=groups
                )
                hit_rows = [(r.id, r.mturk_hit_id, r.items) for r in published.hits]
                warnings = list(published.plan.warnings if published.plan else [])
        timings["publish"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        make_id = prolific_pid if provider == "prolific" else synthetic_worker_id
        worker_ids = {anon: make_id(anon) for h in hits for anon in h.workers}
        jobs: list[tuple[str, list[tuple[str, dict[int, int]]]]] = []
        with factory() as session:
            for h, (row_id, mturk_id, items) in zip(hits, hit_rows, strict=True):
                assert mturk_id is not None, f"HIT row {row_id} was not published"
                by_internal = {
                    v: k
                    for k, v in existing_ids(
                        session=session, project_id=project_id, external_ids=h.example_ids
                    ).items()
                }
                jobs.append(
                    (
                        mturk_id,
                        [
                            (
                                worker_ids[anon],
                                {
                                    int(item["example_id"]): value_of[
                                        (by_internal[int(item["example_id"])], anon)
                                    ]
                                    for item in items
                                },
                            )
                            for anon in h.workers
                        ],
                    )
                )
        total = sum(len(w) for _, w in jobs)
        counts = {"assignments": 0, "answers": 0}
        refusals = {REFUSED_BEFORE_ACCEPT: 0, REFUSED_AFTER_ACCEPT: 0}
        lock = threading.Lock()

        def run_hit(job: tuple[str, list[tuple[str, dict[int, int]]]]) -> None:
            # One HIT's workers submit in file order (their order is "the first N" of §4.4);
            # different HITs share no example, so they run side by side.
            mturk_id, workers = job
            work = work_prolific_session if provider == "prolific" else work_assignment
            with httpx.Client(timeout=60, follow_redirects=provider == "prolific") as http:
                for wid, answers in workers:
                    n, outcome = work(
                        http, settings, endpoint, mturk_id, wid, answers, sessions=factory
                    )
                    with lock:
                        if outcome != SUBMITTED:
                            refusals[outcome] += 1
                        counts["assignments"] += outcome == SUBMITTED
                        counts["answers"] += n
                        if on_progress is not None:
                            on_progress("workers", counts["assignments"], total)

        with ThreadPoolExecutor(max_workers=workers_parallel) as pool:
            list(pool.map(run_hit, jobs))
        n_assignments, n_answers = counts["assignments"], counts["answers"]
        timings["workers"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with factory() as session:
            synced = sync.sync_project(session=session, settings=settings, project_id=project_id)
        timings["sync_review"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with factory() as session:
            labels = compute_labels(session=session, project_id=project_id)
            table6 = None
            if wide.true_labels is not None:
                answers_table = load_answer_table(session=session, project_id=project_id)
                truth, _ = known_labels(session=session, project_id=project_id)
                table6 = compute_table6(answers_table, truth, config=config)
        timings["aggregate_table6"] = time.perf_counter() - t0
    return ReplayResult(
        project_id=project_id,
        database_url=database_url,
        n_hits=len(hits),
        n_assignments=n_assignments,
        n_answers=n_answers,
        seconds=time.perf_counter() - started,
        timings=timings,
        labels=labels,
        table6=table6,
        worker_ids=worker_ids,
        sync=synced.to_json(),
        warnings=warnings,
        refusals=refusals,
    )


def _study_id(session: Session, hit: Any) -> str | None:
    return session.scalar(
        select(ProlificStudy.study_id).where(
            ProlificStudy.project_id == hit.project_id, ProlificStudy.batch == hit.batch
        )
    )


@contextlib.contextmanager
def _prolific_emulator(api_url: str | None) -> Iterator[str]:
    """The Prolific emulator's base URL: ``PROLIFIC_API_URL``'s origin, else a fresh one."""
    if api_url:
        parts = urlsplit(api_url)
        yield f"{parts.scheme}://{parts.netloc}"
        return
    with run_prolific_emulator() as emu:
        yield emu.url


def _create_project(
    session: Session, wide: Any, name: str, hits: list[ReplayHit], provider: str = "mturk"
) -> int:
    project = create_project(
        session=session,
        data=ProjectCreate(
            name=f"replay {name}"[:200],
            question=QUESTION,
            scale_labels=SCALE,
            max_answers=max(len(h.workers) for h in hits),
            questions_per_hit=max(len(h.example_ids) for h in hits),
            gold_per_hit=0,
            quiz_per_hit=0,
            reward_per_answer=0.03,  # paper §4.4: 3 cents per answer
            visible_columns=list(wide.feature_columns) or None,
            provider=provider,
        ),
    )
    examples = wide.examples
    examples = examples.assign(example_id=examples["example_id"].astype(str))
    upload_examples(
        session=session,
        project_id=project.id,
        data=examples.to_csv(index=False).encode(),
        filename="examples.csv",
        label_column="true_label" if "true_label" in examples.columns else None,
    )
    return project.id
