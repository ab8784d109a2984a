"""Acceptance: replaying the released COMPAS crowd answers through boto3, the MTurk emulator, the
task page and externalSubmit gives the same labels as importing the CSV directly, and the same
Table 6 figures as the pure path of `frtrain crowd table6`."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import delete, func, select

from app.core.config import Settings
from app.core.db import make_engine, make_session_factory
from app.models import Answer, Hit, Project, Worker
from app.schemas.crowd import ProjectCreate
from app.services.crowd.answers import import_answers
from app.services.crowd.labels import compute_labels
from app.services.projects import create_project
from app.workflows.replay import rebuild_hits, run_replay
from app.workflows.table6 import QUESTION, Table6Config, compute_table6_from_csv
from trainer.datasets import file_path

CSV = file_path("compas-crowd", "COMPAS_crowdsourcing_data.csv")


def test_rebuild_hits_groups_examples_by_worker_set() -> None:
    answers = pd.DataFrame(
        {
            "example_id": [1, 1, 2, 2, 3, 3],
            "worker_id": ["a", "b", "c", "d", "b", "a"],
            "value": [1, 2, 3, 4, 1, 2],
            "submitted_at": [1, 2, 1, 2, 2, 1],
        }
    )
    hits = rebuild_hits(answers)
    assert [(h.example_ids, h.workers) for h in hits] == [
        (["1", "3"], ["a", "b"]),
        (["2"], ["c", "d"]),
    ]


@pytest.mark.slow
def test_replay_compas_matches_direct_import_and_table6(db_url: str) -> None:
    config = Table6Config(seeds=(0, 1))
    settings = Settings(_env_file=None, environment="test", secret_key="replay-test")  # type: ignore[call-arg]
    result = run_replay(CSV, database_url=db_url, config=config, settings=settings)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    direct_id = None
    try:
        timings = {k: round(v, 1) for k, v in result.timings.items()}
        print(f"\nreplay of {result.n_answers} answers: {result.seconds:.1f} s {timings}")
        assert (result.n_hits, result.n_assignments, result.n_answers) == (15, 165, 4840)
        assert result.sync["review"]["approved"] == 165 and result.sync["answers_new"] == 0
        with factory() as session:
            n_hits = session.scalar(
                select(func.count()).select_from(Hit).where(Hit.project_id == result.project_id)
            )
            assert n_hits == 15
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
                assert len(replayed) == 440
            sources = set(
                session.scalars(
                    select(Answer.source).where(Answer.project_id == result.project_id).distinct()
                )
            )
            assert sources == {"mturk"}  # every answer came through the task page
        assert result.table6 is not None
        assert result.table6.to_json() == compute_table6_from_csv(CSV, config=config).to_json()
    finally:
        with factory() as session:
            ids = [result.project_id] + ([direct_id] if direct_id else [])
            session.execute(delete(Project).where(Project.id.in_(ids)))
            names = list(result.worker_ids.values()) + [f"worker_{i}" for i in range(1000)]
            session.execute(delete(Worker).where(Worker.external_id.in_(names)))
            session.commit()
        engine.dispose()
