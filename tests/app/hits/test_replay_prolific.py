"""Acceptance: replaying the released COMPAS answers through Prolific (httpx, the Prolific
emulator, the study URL, the task page and the completion redirect) gives the labels of a direct
import of the CSV, and the Table 6 figures of the pure path; the MTurk replay's test checks the
same two oracles, so the providers agree with each other."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import delete, select

from app.core.config import Settings
from app.core.db import make_engine, make_session_factory
from app.models import Answer, Project, Worker
from app.schemas.crowd import ProjectCreate
from app.services.crowd.answers import import_answers
from app.services.crowd.labels import compute_labels
from app.services.projects import create_project
from app.workflows.replay import run_replay
from app.workflows.table6 import QUESTION, Table6Config, compute_table6_from_csv
from tests.app.hits.test_replay import CSV


@pytest.mark.slow
def test_prolific_replay_matches_direct_import_and_table6(db_url: str) -> None:
    config = Table6Config(seeds=(0, 1))
    settings = Settings(_env_file=None, environment="test", secret_key="replay-test")  # type: ignore[call-arg]
    result = run_replay(
        CSV, provider="prolific", database_url=db_url, config=config, settings=settings
    )
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    direct_id = None
    try:
        print(f"\nProlific replay of {result.n_answers} answers: {result.seconds:.1f} s")
        assert (result.n_hits, result.n_assignments, result.n_answers) == (15, 165, 4840)
        # Every answer waited for Prolific's confirmation, then was stored by the sync.
        assert result.sync["answers_new"] == 4840 and result.sync["review"]["approved"] == 165
        with factory() as session:
            direct_id = create_project(
                session=session, data=ProjectCreate(name="direct", question=QUESTION)
            ).id
            import_answers(
                session=session,
                project_id=direct_id,
                data=CSV.read_bytes(),
                filename=CSV.name,
                layout="wide",
            )
            for method in ("mean", "majority"):
                replayed = compute_labels(
                    session=session, project_id=result.project_id, method=method
                )
                direct = compute_labels(session=session, project_id=direct_id, method=method)
                cols = ["example_id", "label", "answers_used", "mean_score"]
                pd.testing.assert_frame_equal(
                    replayed[cols].sort_values("example_id").reset_index(drop=True),
                    direct[cols].sort_values("example_id").reset_index(drop=True),
                )
            sources = set(
                session.scalars(
                    select(Answer.source).where(Answer.project_id == result.project_id).distinct()
                )
            )
            assert sources == {"prolific"}
        assert result.table6 is not None
        assert result.table6.to_json() == compute_table6_from_csv(CSV, config=config).to_json()
    finally:
        with factory() as session:
            ids = [result.project_id] + ([direct_id] if direct_id else [])
            session.execute(delete(Project).where(Project.id.in_(ids)))
            names = ["prolific:" + p for p in result.worker_ids.values()]
            names += [f"worker_{i}" for i in range(1000)]
            session.execute(delete(Worker).where(Worker.external_id.in_(names)))
            session.commit()
        engine.dispose()
