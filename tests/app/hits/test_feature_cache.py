"""The task page reads an example's features once per process and keeps them: a page must still
never show another example's facts. Ids come back on SQLite (a deleted project's and examples'
row ids are reused by the next ones), so a cache keyed by ids alone would show the old facts."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import Example, Project
from app.schemas.crowd import ProjectCreate
from app.services import publishing
from app.services.crowd.examples import upload_examples
from app.services.projects import create_project
from app.services.recruiting import links
from app.services.task import page
from tests.app.hits.conftest import project_hits

N = 12


def _project(session: Session, settings: Settings, ages: list[int]) -> int:
    project = create_project(
        session=session,
        data=ProjectCreate(
            name="cache",
            question="How likely?",
            questions_per_hit=N,
            gold_per_hit=0,
            quiz_per_hit=0,
            max_answers=3,
            visible_columns=["age", "city"],
            provider="link",
        ),
    )
    frame = pd.DataFrame(
        {
            "example_id": [f"e{i}" for i in range(N)],
            "age": ages,
            "city": [f"town{a}" for a in ages],
        }
    )
    upload_examples(
        session=session,
        project_id=project.id,
        data=frame.to_csv(index=False).encode(),
        filename="examples.csv",
    )
    publishing.publish_batch(session=session, settings=settings, project_id=project.id)
    return int(project.id)


def _shown(session: Session, settings: Settings, pid: int, worker: str) -> list[Any]:
    """The facts the task page shows a panel worker, as a sorted list of (age, city)."""
    hit = project_hits(session, pid)[0]
    params = {"k": links.link_key(settings, hit.id), "pid": worker}
    view = page.open_task(session=session, settings=settings, hit_id=hit.id, params=params)
    assert view.mode == "work"
    return sorted((dict(q.features)["age"], dict(q.features)["city"]) for q in view.questions)


def _stored(session: Session, pid: int) -> list[Any]:
    rows = session.scalars(select(Example.features).where(Example.project_id == pid))
    return sorted((str(f["age"]), str(f["city"])) for f in rows)


def test_a_reused_example_id_never_shows_the_old_facts(
    session: Session, settings: Settings, db_kind: str
) -> None:
    first = _project(session, settings, ages=list(range(20, 20 + N)))
    old_ids = set(session.scalars(select(Example.id).where(Example.project_id == first)))
    assert _shown(session, settings, first, "alice") == _stored(session, first)

    session.execute(delete(Project).where(Project.id == first))
    session.flush()
    second = _project(session, settings, ages=list(range(70, 70 + N)))
    new_ids = set(session.scalars(select(Example.id).where(Example.project_id == second)))
    if db_kind == "sqlite":
        assert new_ids == old_ids  # the ids did come back: the case under test

    assert _shown(session, settings, second, "bob") == _stored(session, second)
    assert _shown(session, settings, second, "carol") == _stored(session, second)  # cached now
