"""Races with real concurrency: threads posting to a real server (uvicorn) with its own pooled
connections, on SQLite and Postgres. A link HIT's ``max_assignments`` holds under 16 concurrent
first visits, and of 8 concurrent submits of one assignment exactly one is stored, with the gold
score computed from the answers that were stored."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.db import make_engine, make_session_factory
from app.models import Answer, Assignment, GoldQuestion, Hit, HitAssignment, Project, Worker
from app.services import publishing
from app.services.recruiting import links as providers
from app.workflows.replay import serve_app
from tests.app.hits.conftest import hidden, make_project, project_hits, radios
from tests.app.html_forms import parse_forms

N_VISITS = 16
N_SUBMITS = 8
ROUNDS = 5  # HITs raced one after the other (the window is narrow; more rounds, more chances)


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[str, Settings, Session, int]]:
    """A committed link project served by a real server; everything it made is deleted after."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="test",
        database_url=db_url,
        secret_key="race-secret",
        artifact_dir=tmp_path / "artifacts",
    )
    engine = make_engine(db_url)
    session = make_session_factory(engine)()
    pid = make_project(session, provider="link", n_quiz=0, quiz_per_hit=0, max_answers=3)
    try:
        with serve_app(settings) as base:
            live = settings.model_copy(update={"public_base_url": base})
            publishing.publish_batch(session=session, settings=live, project_id=pid)
            session.commit()
            yield base, live, session, pid
    finally:
        session.rollback()
        workers = list(
            session.scalars(
                select(Assignment.worker_id).where(Assignment.project_id == pid).distinct()
            )
        )
        session.execute(delete(Project).where(Project.id == pid))
        if workers:
            session.execute(delete(Worker).where(Worker.id.in_(workers)))
        session.commit()
        session.close()
        engine.dispose()


def _together(n: int, fn: object) -> list[httpx.Response]:
    barrier = threading.Barrier(n)

    def run(k: int) -> httpx.Response:
        barrier.wait()
        return fn(k)  # type: ignore[operator, no-any-return]

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def test_link_cap_holds_under_concurrent_first_visits(
    served: tuple[str, Settings, Session, int],
) -> None:
    _base, settings, session, pid = served
    hit = project_hits(session, pid)[0]
    assert hit.max_assignments == 3
    panel = providers.panel_url(settings, hit)
    with httpx.Client(timeout=60) as http:
        responses = _together(N_VISITS, lambda k: http.get(f"{panel}P{k}"))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 3 + [409] * (N_VISITS - 3), codes
    session.expire_all()
    bound = session.scalars(select(HitAssignment).where(HitAssignment.hit_id == hit.id)).all()
    assert len(bound) == 3


def test_one_submission_per_assignment_under_concurrent_submits(
    served: tuple[str, Settings, Session, int],
) -> None:
    base, settings, session, pid = served
    for hit in project_hits(session, pid)[:ROUNDS]:
        _race_one_assignment(base, settings, session, pid, hit)


def _race_one_assignment(
    base: str, settings: Settings, session: Session, pid: int, hit: Hit
) -> None:
    panel = providers.panel_url(settings, hit)
    with httpx.Client(timeout=60) as http:
        page = http.get(f"{panel}RACER{hit.id}")
        assert page.status_code == 200
        form = next(f for f in parse_forms(page.text) if f["action"].endswith("/submit"))
        names = radios(form)
        posts = [hidden(form) | dict.fromkeys(names, "1" if k % 2 else "4") for k in range(8)]
        responses = _together(
            N_SUBMITS, lambda k: http.post(f"{base}{form['action']}", data=posts[k])
        )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [409] * (N_SUBMITS - 1), codes
    winner = next(r for r in responses if r.status_code == 200)
    assert f"Thank you: {len(names)} answers saved" in winner.text
    session.expire_all()
    assignment = session.scalar(
        select(Assignment)
        .join(HitAssignment, HitAssignment.assignment_id == Assignment.id)
        .where(HitAssignment.hit_id == hit.id)
    )
    assert assignment is not None and assignment.status == "submitted"
    stored = dict(
        session.execute(
            select(Answer.example_id, Answer.value).where(Answer.assignment_id == assignment.id)
        ).all()
    )
    assert len(stored) == len(names) and len(set(stored.values())) == 1  # one post, whole
    ha = session.get(HitAssignment, assignment.id)
    assert ha is not None
    gold = dict(
        session.execute(
            select(GoldQuestion.example_id, GoldQuestion.label).where(
                GoldQuestion.project_id == pid, GoldQuestion.kind == "hidden_check"
            )
        ).all()
    )
    scored = {e: lbl for e, lbl in gold.items() if e in stored}
    assert scored, "the HIT carries hidden gold"
    assert ha.gold_total == len(scored)
    assert ha.gold_correct == sum((stored[e] > 2.5) == (lbl == 1) for e, lbl in scored.items())
