"""Benchmark: worker scoring + `mean` aggregation + CSV export over 1,000,000 answers.

100,000 examples x 10 workers (5% of the examples hidden gold) are bulk-loaded (COPY on
Postgres, executemany on SQLite) into a fresh, migrated database, then the three service calls
an admin makes are timed (loading excluded), on Postgres and on SQLite in the same run:

    worker scoring   app.services.crowd.labels.worker_quality     (GET /projects/{id}/workers)
    mean labels      app.services.crowd.labels.compute_labels     (GET /projects/{id}/labels)
    CSV export       app.services.crowd.exports.create_export + the streamed CSV download

Target: Postgres total under 10 s on 2 cores. Run:

    nice .venv/bin/python benchmarks/aggregate.py [--examples 100000] [--workers 10]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session
from tqdm import tqdm

from app.core.db import make_engine, make_session_factory
from app.core.migrate import upgrade
from app.schemas.crowd import ProjectCreate
from app.services import projects
from app.services.crowd import exports, labels

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def make_data(n_examples: int, n_workers: int, gold_fraction: float, seed: int) -> dict[str, Any]:
    """Synthetic crowd: worker accuracies 0.55-0.85, answers 3-4 for 'positive', 1-2 otherwise."""
    rng = np.random.default_rng(seed)
    truth = rng.choice(np.array([-1, 1]), size=n_examples)
    accuracy = np.linspace(0.55, 0.85, n_workers)
    correct = rng.random((n_examples, n_workers)) < accuracy[None, :]
    says_positive = np.where(correct, truth[:, None] > 0, truth[:, None] < 0)
    strong = rng.random((n_examples, n_workers)) < 0.5
    values = np.where(says_positive, 3 + strong, 2 - strong).astype(np.int64)
    features = {
        "age": rng.integers(18, 80, n_examples),
        "priors": rng.poisson(2.0, n_examples),
        "sex": rng.choice(np.array(["Female", "Male"]), n_examples),
    }
    gold = rng.choice(n_examples, size=round(gold_fraction * n_examples), replace=False)
    return {"truth": truth, "values": values, "features": features, "gold": np.sort(gold)}


def _feature_json(data: dict[str, Any]) -> list[str]:
    f = data["features"]
    return [
        json.dumps({"age": int(a), "priors": int(p), "sex": str(s)})
        for a, p, s in zip(f["age"], f["priors"], f["sex"], strict=True)
    ]


def load(engine: Engine, session: Session, pid: int, data: dict[str, Any]) -> None:
    """Bulk load examples, workers, answers and gold for project `pid` (not timed)."""
    n_ex, n_w = data["values"].shape
    feats = _feature_json(data)
    sex = data["features"]["sex"]
    now = "2026-01-01 00:00:00+00"
    conn = session.connection()
    raw: Any = conn.connection.driver_connection
    pg = engine.dialect.name == "postgresql"
    with tqdm(total=4, desc=f"load {engine.dialect.name}", unit="table") as bar:
        if pg:
            with (
                raw.cursor() as cur,
                cur.copy(
                    "COPY examples (project_id, external_id, features, sensitive_value, created_at)"
                    " FROM STDIN"
                ) as copy,
            ):
                for i in range(n_ex):
                    copy.write_row((pid, f"ex{i}", feats[i], sex[i], now))
        else:
            raw.executemany(
                "INSERT INTO examples (project_id, external_id, features, sensitive_value,"
                " created_at) VALUES (?, ?, ?, ?, ?)",
                ((pid, f"ex{i}", feats[i], str(sex[i]), now) for i in range(n_ex)),
            )
        bar.update()
        ex_ids = np.array(
            [
                r[0]
                for r in conn.execute(
                    text(f"SELECT id FROM examples WHERE project_id = {pid} ORDER BY id")
                )
            ],
            dtype=np.int64,
        )
        for w in range(n_w):
            conn.execute(
                text(
                    "INSERT INTO workers (external_id, blocked, created_at) VALUES (:e, false, :t)"
                ),
                {"e": f"bench-w{w}-{pid}", "t": now},
            )
        w_ids = np.array(
            [
                r[0]
                for r in conn.execute(
                    text(
                        "SELECT id FROM workers"
                        f" WHERE external_id LIKE 'bench-w%-{pid}' ORDER BY id"
                    )
                )
            ],
            dtype=np.int64,
        )
        bar.update()
        example_col = np.repeat(ex_ids, n_w)
        worker_col = np.tile(w_ids, n_ex)
        value_col = data["values"].ravel()
        # Answer k of every example was submitted k seconds after the first: "first N" = k < N.
        seconds = np.tile(np.arange(n_w), n_ex)
        stamps = [f"2026-01-01 00:00:{s:02d}+00" for s in range(n_w)]
        if pg:
            buf = io.StringIO()
            for e, w, v, s in zip(
                example_col.tolist(),
                worker_col.tolist(),
                value_col.tolist(),
                seconds.tolist(),
                strict=True,
            ):
                buf.write(f"{pid}\t{e}\t{w}\t{v}\timport\t{stamps[s]}\t{now}\n")
            with (
                raw.cursor() as cur,
                cur.copy(
                    "COPY answers (project_id, example_id, worker_id, value, source, submitted_at,"
                    " created_at) FROM STDIN"
                ) as copy,
            ):
                copy.write(buf.getvalue())
        else:
            sq_stamps = [f"2026-01-01 00:00:{s:02d}.000000" for s in range(n_w)]
            raw.executemany(
                "INSERT INTO answers (project_id, example_id, worker_id, value, source,"
                " submitted_at, created_at) VALUES (?, ?, ?, ?, 'import', ?, ?)",
                (
                    (pid, e, w, v, sq_stamps[s], now)
                    for e, w, v, s in zip(
                        example_col.tolist(),
                        worker_col.tolist(),
                        value_col.tolist(),
                        seconds.tolist(),
                        strict=True,
                    )
                ),
            )
        bar.update()
        gold_rows = [
            {"p": pid, "e": int(ex_ids[i]), "l": int(data["truth"][i]), "t": now}
            for i in data["gold"]
        ]
        conn.execute(
            text(
                "INSERT INTO gold_questions (project_id, example_id, label, kind, created_at)"
                " VALUES (:p, :e, :l, 'hidden_check', :t)"
            ),
            gold_rows,
        )
        bar.update()
    session.commit()
    if pg:
        with engine.connect() as c:
            c.execute(text("ANALYZE answers"))
            c.commit()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run_one(url: str, data: dict[str, Any]) -> dict[str, float]:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            upgrade(conn)
        factory = make_session_factory(engine)
        with factory() as session:
            project = projects.create_project(
                session=session,
                data=ProjectCreate.model_validate(
                    {
                        "name": "bench",
                        "question": "Positive?",
                        "sensitive_column": "sex",
                        "worker_filter": {
                            "min_gold": 5,
                            "min_accuracy": 0.6,
                            "credible_level": None,
                        },
                    }
                ),
            )
            load(engine, session, project.id, data)
        out: dict[str, float] = {}
        with factory() as session:
            out["worker scoring"], workers = timed(
                lambda: labels.worker_quality(session=session, project_id=project.id)
            )
            out["mean labels"], frame = timed(
                lambda: labels.compute_labels(session=session, project_id=project.id, method="mean")
            )

            def export_csv() -> int:
                snap = exports.create_export(session=session, project_id=project.id, method="mean")
                chunks, *_ = exports.export_stream(session=session, export_id=snap.id, fmt="csv")
                return sum(len(c) for c in chunks)

            out["CSV export"], size = timed(export_csv)
        out["total"] = sum(out.values())
        acc = float((frame["label"].to_numpy() == data["truth"][: len(frame)]).mean())
        statuses = {w.status for w in workers}
        print(
            f"  {engine.dialect.name}: {len(frame):,} labels (accuracy vs truth {acc:.3f}),"
            f" worker statuses {sorted(statuses)}, CSV {size / 1e6:.1f} MB"
        )
        return out
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=10)
    parser.add_argument("--gold-fraction", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres-url", default=os.environ.get("TEST_POSTGRES_URL", DEFAULT_PG))
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()

    data = make_data(args.examples, args.workers, args.gold_fraction, args.seed)
    print(
        f"{args.examples:,} examples x {args.workers} workers = {data['values'].size:,} answers,"
        f" {len(data['gold']):,} gold (seed {args.seed}); CPUs: {os.cpu_count()}"
    )
    results: dict[str, dict[str, float]] = {}

    schema = f"bench_{os.getpid()}"
    admin = make_engine(args.postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        pg_url = make_url(args.postgres_url).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        )
        results["postgres"] = run_one(pg_url.render_as_string(hide_password=False), data)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"] = run_one(f"sqlite:///{Path(tmp) / 'bench.db'}", data)

    stages = list(next(iter(results.values())))
    print(
        f"\n{'stage':<16}"
        + "".join(f"{k:>12}" for k in results)
        + ("   sqlite/postgres" if len(results) == 2 else "")
    )
    for stage in stages:
        row = f"{stage:<16}" + "".join(f"{results[k][stage]:>11.2f}s" for k in results)
        if len(results) == 2:
            row += f"   {results['sqlite'][stage] / results['postgres'][stage]:>8.2f}x"
        print(row)
    verdict = "meets" if results["postgres"]["total"] < 10 else "MISSES"
    print(f"\nPostgres total {results['postgres']['total']:.2f} s: {verdict} the 10 s target")


if __name__ == "__main__":
    main()
