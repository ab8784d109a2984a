"""End-to-end crowd replay speed (target: 15 HITs, 4,840 answers in under 60 s).

Runs, in the same process and on the same kind of database (a temporary SQLite file each):

* baseline: the direct import path (`frtrain crowd table6`'s service path: import the CSV as
  wide answers, read labels and Table 6 back), and
* replay: `frtrain crowd replay` (publish through boto3 to the MTurk emulator, 165 simulated
  workers open the task page over HTTP, submit, post to externalSubmit; sync, review, Table 6),
  and the same through Prolific (`--provider prolific`: 15 studies through httpx to the Prolific
  emulator, each participant joins, is redirected to the study URL and the task page, submits
  and lands on the completion URL; the sync confirms the submissions and stores the answers).

Prints both times, the ratio, the replay's stage timings and whether it met the 60 s goal.

    .venv/bin/python benchmarks/replay_speed.py [--csv FILE] [--seeds 0,1,2,3,4]
        [--providers mturk,prolific]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from app.core.config import Settings
from app.core.db import make_engine, make_session_factory
from app.core.migrate import upgrade
from app.schemas.crowd import ProjectCreate
from app.services.crowd.answers import import_answers
from app.services.crowd.labels import compute_labels, load_answer_table
from app.services.crowd.truth import known_labels
from app.services.projects import create_project
from app.workflows.replay import run_replay
from app.workflows.table6 import QUESTION, Table6Config, compute_table6
from trainer.datasets import file_path

DEFAULT_CSV = file_path("compas-crowd", "COMPAS_crowdsourcing_data.csv")  # the packaged copy
GOAL_SECONDS = 60.0


def direct(csv: Path, config: Table6Config) -> float:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'direct.db'}")
        with engine.begin() as conn:
            upgrade(conn)
        with make_session_factory(engine)() as session:
            pid = create_project(
                session=session, data=ProjectCreate(name="direct", question=QUESTION)
            ).id
            import_answers(
                session=session, project_id=pid, data=csv.read_bytes(), filename=csv.name
            )
            compute_labels(session=session, project_id=pid)
            truth, _ = known_labels(session=session, project_id=pid)
            compute_table6(load_answer_table(session=session, project_id=pid), truth, config=config)
        engine.dispose()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--providers", default="mturk,prolific")
    args = parser.parse_args()
    config = Table6Config(seeds=tuple(int(s) for s in args.seeds.split(",")))
    baseline = direct(args.csv, config)
    print(f"direct import + labels + Table 6: {baseline:6.1f} s (baseline)")
    for provider in args.providers.split(","):
        result = run_replay(
            args.csv,
            provider=provider,
            config=config,
            settings=Settings(_env_file=None),  # type: ignore[call-arg]
        )
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
        print(
            f"{provider} replay ({result.n_hits} tasks, {result.n_assignments} assignments, "
            f"{result.n_answers} answers): {result.seconds:6.1f} s = "
            f"{result.seconds / baseline:.1f}x baseline  [{stages}]"
        )
        verdict = "met" if result.seconds < GOAL_SECONDS else "MISSED"
        print(f"goal: {provider} replay under {GOAL_SECONDS:.0f} s -> {verdict}")


if __name__ == "__main__":
    main()
