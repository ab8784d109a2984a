"""The admin pages issue a fixed number of SQL statements whatever the number of rows they list
(both databases): the projects list (2 vs 12 projects), the jobs list (2 vs 12 jobs), a project's
page and review queue (more workers, exports, HITs and submissions). Counted with SQLAlchemy's
``before_cursor_execute`` event; the identity map is emptied before each request, as a fresh
request session would be."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import Answer, Worker
from app.mturk.emulator import Emulator
from app.schemas.jobs import BuiltinData, JobCreate
from app.services import jobs as job_service
from app.services import publishing
from app.services.crowd import answers, exports, labels
from app.services.recruiting import sync
from tests.app.admin.test_admin_pages import NEW, sign_in, toy_project
from tests.app.hits.conftest import Worker as SimWorker
from tests.app.hits.conftest import make_project, project_hits


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def count_get(client: TestClient, session: Session, engine: Engine, path: str) -> int:
    session.expunge_all()  # a fresh request session: nothing is served from the identity map
    with statements(engine) as sent:
        r = client.get(path)
    assert r.status_code == 200, (path, r.text[:500])
    return len(sent)


def test_projects_page_statements_do_not_grow_with_projects(
    client: TestClient, session: Session, engine: Engine, admin_token: str
) -> None:
    sign_in(client, admin_token)
    ids = [toy_project(session, name=f"project {i}") for i in range(2)]
    few = count_get(client, session, engine, "/admin")
    ids += [toy_project(session, name=f"project {i}") for i in range(2, 12)]
    many = count_get(client, session, engine, "/admin")
    assert many == few
    # Every row still shows its 5 examples, 11 answers and 3 workers.
    html = client.get("/admin").text
    assert "<caption>12 projects</caption>" in html
    for pid in ids:
        row = html.split(f'href="/admin/projects/{pid}">')[1].split("</tr>")[0]
        assert re.findall(r'class="num">(\d+)</td>', row) == ["5", "11", "3"]


def test_worker_counts_match_the_quality_service(session: Session) -> None:
    """The projects page's worker count is the number of rows worker_quality reports: workers
    with a counted answer (an unconfirmed answer does not count)."""
    first, second = toy_project(session, name="a"), toy_project(session, name="b")
    empty = toy_project(session, name="c")
    new = session.query(Worker).filter_by(external_id=NEW).one()
    session.execute(
        update(Answer)
        .where(Answer.project_id == second, Answer.worker_id == new.id)
        .values(confirmed=False)
    )
    session.execute(update(Answer).where(Answer.project_id == empty).values(confirmed=False))
    session.commit()
    counts = labels.workers_per_project(session=session, project_ids=[first, second, empty])
    oracle = {
        pid: len(labels.worker_quality(session=session, project_id=pid))
        for pid in (first, second, empty)
    }
    assert counts == oracle == {first: 3, second: 2, empty: 0}
    assert labels.workers_per_project(session=session, project_ids=[]) == {}


def test_jobs_page_statements_do_not_grow_with_jobs(
    client: TestClient, session: Session, settings: Settings, engine: Engine, admin_token: str
) -> None:
    sign_in(client, admin_token)
    body = JobCreate(name="synthetic run", data=BuiltinData(builtin="synthetic"), method="lr")

    def add(n: int) -> list[int]:
        return [
            job_service.create_job(session=session, settings=settings, body=body).id
            for _ in range(n)
        ]

    ids = add(2)
    few = count_get(client, session, engine, "/admin/jobs")
    ids += add(10)
    many = count_get(client, session, engine, "/admin/jobs")
    assert many == few
    html = client.get("/admin/jobs").text
    assert all(f'<a href="/admin/jobs/{j}">#{j}</a>' in html for j in ids)
    # The same jobs, newest first, as the service's own list and read functions give them.
    jobs, total = job_service.newest_jobs(session=session, limit=5)
    summaries, expected_total = job_service.list_jobs(session=session, limit=5)
    assert total == expected_total == 12
    assert jobs == [job_service.read_job(session=session, job_id=s.id) for s in summaries]


def test_project_page_statements_do_not_grow_with_workers_and_exports(
    client: TestClient, session: Session, engine: Engine, admin_token: str
) -> None:
    sign_in(client, admin_token)
    pid = toy_project(session)
    paths = (f"/admin/projects/{pid}", f"/admin/projects/{pid}/review")

    def grow(start: int, stop: int) -> None:
        for i in range(start, stop):
            extra = f"example_id,worker_id,value\ne1,link:w{i},3\ng1,link:w{i},4\n".encode()
            answers.import_answers(session=session, project_id=pid, data=extra)
            exports.create_export(session=session, project_id=pid, method="mean", n=None)

    grow(0, 2)
    few = [count_get(client, session, engine, p) for p in paths]
    grow(2, 12)
    many = [count_get(client, session, engine, p) for p in paths]
    assert many == few
    assert "link:w11" in client.get(paths[0]).text


def test_project_pages_statements_do_not_grow_with_hits_and_submissions(
    session: Session,
    hsettings: Settings,
    web: TestClient,
    emu: Emulator,
    engine: Engine,
    admin_token: str,
) -> None:
    """A project with 2 HITs and 2 submissions against one with 11 HITs and 6 submissions."""
    paths = ("", "/review", "/review?show=all", "/publish")
    counts: list[list[int]] = []
    n_hits: list[int] = []
    for n_examples, n_workers in ((20, 2), (90, 6)):
        pid = make_project(session, n_examples=n_examples, n_quiz=0, quiz_per_hit=0)
        publishing.publish_batch(session=session, settings=hsettings, project_id=pid)
        hits = project_hits(session, pid)
        for i in range(n_workers):
            SimWorker(web, emu, f"w{n_examples}-{i}").complete(hits[i % len(hits)], "3")
        sync.sync_project(session=session, settings=hsettings, project_id=pid)
        web.cookies.clear()
        sign_in(web, admin_token)
        counts.append([count_get(web, session, engine, f"/admin/projects/{pid}{p}") for p in paths])
        n_hits.append(len(hits))
    assert n_hits == [2, 11]
    assert counts[1] == counts[0]
