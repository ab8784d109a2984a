"""The whole crowdsourcing lifecycle through the `frtrain` entry point (app.cli.main, as the
console script runs it), on SQLite and Postgres: projects, examples, gold, answers, labels,
exports, hits, review, jobs, and one bad argument per command giving one clear error line.

Each test gets its own fresh database (the CLI commits on DATABASE_URL, so the rolled-back
``session`` fixture of conftest.py is not used here)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from app.core.config import get_settings
from app.core.db import make_engine, make_session_factory
from app.mturk.client import make_mturk_client
from app.mturk.emulator import Emulator
from tests.app.conftest import DEFAULT_TEST_POSTGRES_URL, _postgres_url, _worker_tag
from tests.app.hits.conftest import make_project, mturk_blocks, mturk_bonuses
from tests.cli_helpers import CLI
from trainer.datasets import file_path

CROWD_CSV = file_path("compas-crowd", "COMPAS_crowdsourcing_data.csv")


@pytest.fixture(params=["sqlite", "postgres"])
def cli_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cli.db'}"
        return
    base = os.environ.get("TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    schema = f"frtrain_cli_{_worker_tag()}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_url(schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def cli(
    cli_db: str,
    emu: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[CLI]:
    for key, value in {
        "DATABASE_URL": cli_db,
        "ENVIRONMENT": "test",
        "SECRET_KEY": "cli-test",
        "MTURK_ENDPOINT_URL": emu.url,
        "PUBLIC_BASE_URL": "http://127.0.0.1:9",
        "ARTIFACT_DIR": str(tmp_path / "artifacts"),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    runner = CLI(capsys, monkeypatch)
    assert "database " in runner.ok("db", "upgrade")
    yield runner
    get_settings.cache_clear()


def test_projects_examples_gold_answers_labels_exports(cli: CLI, tmp_path: Path) -> None:
    # Not migrated yet is impossible here (the fixture ran `db upgrade`); a project:
    p = cli.json("projects", "create", "--name", "COMPAS", "--question", "Reoffend?")
    assert p["threshold"] == 2.5 and p["max_answers"] == 11 and p["n_examples"] == 0
    pid = str(p["id"])
    assert "COMPAS" in cli.ok("projects", "list")
    assert cli.json("projects", "list")["count"] == 1
    shown = cli.ok("projects", "show", pid)
    assert "questions_per_hit" in shown and "Reoffend?" in shown
    up = cli.json("projects", "update", pid, "--threshold", "2.6", "--visible-columns", "age,race")
    assert up["threshold"] == 2.6 and up["visible_columns"] == ["age", "race"]
    assert cli.json("projects", "show", pid)["threshold"] == 2.6

    # The released wide file creates the examples and the 11 answers each.
    res = cli.json("answers", "import", CROWD_CSV, "-p", pid)
    assert res == {
        "layout": "wide",
        "answers_created": 440 * 11,
        "workers_created": res["workers_created"],
        "examples_created": 440,
    }
    extra = tmp_path / "extra.csv"
    extra.write_text("example_id,age,race\nx1,30,A\nx2,40,B\n")
    assert "2 example(s) stored" in cli.ok("examples", "upload", extra, "-p", pid)
    listed = cli.json("examples", "list", "-p", pid, "--limit", "5")
    assert listed["count"] == 442 and len(listed["data"]) == 5

    # Gold from options and from a file.
    frame = pd.read_csv(CROWD_CSV)
    ids = [e["example_id"] for e in cli.json("examples", "list", "-p", pid, "--limit", "3")["data"]]
    first = ids[0]
    g = cli.json("gold", "add", "-p", pid, "--example", first, "--label", "1")
    assert g["count"] == 1 and g["data"][0]["example_id"] == first
    gold_csv = tmp_path / "gold.csv"
    gold_csv.write_text(f"example_id,label,kind\n{ids[1]},-1,hidden_check\n")
    assert "1 gold question(s) added" in cli.ok("gold", "add", "-p", pid, gold_csv)

    # Labels (mean rule) against an oracle computed here from the file: mean of the answers
    # compared with the project's threshold (2.6); one gold answer each filters no worker.
    labels = cli.json("labels", "-p", pid, "--method", "mean")
    assert labels["count"] == 440 and labels["n"] == 11 and labels["threshold"] == 2.6
    answers = frame[[f"ans_{i}" for i in range(1, 12)]].mean(axis=1)
    expected = int((answers > 2.6).sum())
    assert sum(1 for d in labels["data"] if d["label"] == 1) == expected
    table = cli.ok("labels", "-p", pid, "--limit", "3")
    assert f"+1: {expected}, -1: {440 - expected}" in table

    # Exports: create, list, download (the SHA-256 of the CSV matches the snapshot's).
    e = cli.json("exports", "create", "-p", pid, "--n", "5")
    assert e["version"] == 1 and e["n_max"] == 5 and e["row_count"] == 440
    assert cli.json("exports", "list", "-p", pid)["count"] == 1
    out = tmp_path / "val.csv"
    d = cli.json("exports", "download", str(e["id"]), "-o", out)
    assert d["rows"] == 440 and len(pd.read_csv(out)) == 440
    assert hashlib.sha256(out.read_bytes()).hexdigest() == d["checksum"] == e["checksum"]
    assert "wrote" in cli.ok("exports", "download", str(e["id"]), "--format", "jsonl", "-o", out)


def test_every_new_command_refuses_a_bad_argument_in_one_line(cli: CLI, tmp_path: Path) -> None:
    pid = str(cli.json("projects", "create", "--name", "P", "--question", "Q")["id"])
    assert "--threshold" in cli.bad("projects", "create", "--name", "x", "--question", "q",
                                    "--threshold", "5")  # fmt: skip
    assert "--threshold" in cli.bad("projects", "create", "--name", "x", "--question", "q",
                                    "--threshold", "abc")  # fmt: skip
    assert "--name" in cli.bad("projects", "create", "--question", "q")
    assert "project 99" in cli.bad("projects", "show", "99", code=1).lower()
    assert "--scale-labels" in cli.bad("projects", "update", pid, "--scale-labels", "a,b")
    assert "nothing to update" in cli.bad("projects", "update", pid)
    assert "--limit" in cli.bad("projects", "list", "--limit", "0")
    assert "file not found" in cli.bad("examples", "upload", tmp_path / "nope.csv", "-p", pid)
    assert "--format" in cli.bad("examples", "upload", CROWD_CSV, "-p", pid, "--format", "xls")
    assert "--project" in cli.bad("examples", "list")
    assert "--label" in cli.bad("gold", "add", "-p", pid, "--example", "e1")
    assert "label" in cli.bad("gold", "add", "-p", pid, "--example", "e1", "--label", "3")
    assert "--layout" in cli.bad("answers", "import", CROWD_CSV, "-p", pid, "--layout", "tall")
    assert "--method" in cli.bad("labels", "-p", pid, "--method", "median")
    assert "--n" in cli.bad("exports", "create", "-p", pid, "--n", "0")
    assert "--format" in cli.bad("exports", "download", "1", "--format", "xlsx")
    assert "export" in cli.bad("exports", "download", "7", code=1).lower()
    assert "exports list" in cli.bad("exports", "list")  # --project missing
    assert "--feedback" in cli.bad("review", "reject", "A1")
    assert "--feedback" in cli.bad("review", "reject", "A1", "--feedback", " ")
    assert "amount" in cli.bad("review", "bonus", "A1", "--amount", "lots", "--reason", "x", code=1)
    assert "assignment" in cli.bad("review", "approve", "NOPE", code=1).lower()
    assert "--reason" in cli.bad("review", "block", "W1")
    assert "review unblock" in cli.bad("review", "unblock")
    assert "NAME" in cli.bad("data", "fetch", "imagenet")
    assert "--project" in cli.bad("hits", "spend", "-p", "0")
    assert "hit_id" in cli.bad("hits", "expire", "0").lower()
    assert "SPEC_FILE" in cli.bad("jobs", "submit", tmp_path / "nope.json")


def _committed(url: str) -> Session:
    return make_session_factory(make_engine(url))()


def test_hits_and_review_through_the_cli(cli: CLI, cli_db: str, emu: Emulator) -> None:
    with _committed(cli_db) as s:
        pid = str(make_project(s, n_quiz=0, quiz_per_hit=0))
    dry = cli.ok("hits", "publish", "-p", pid, "--dry-run")
    assert "dry run" in dry and "HITs" in dry and "assignments" in dry and "{" not in dry
    plan = cli.json("hits", "publish", "-p", pid, "--dry-run")
    assert plan["dry_run"] and plan["plan"] and plan["hits"] == []
    published = cli.json("hits", "publish", "-p", pid)
    assert published["created"] == len(plan["plan"])
    hits = cli.json("hits", "list", "-p", pid)
    hit = hits[0]
    with _committed(cli_db) as s:
        from app.models import Hit

        items = s.get(Hit, hit["id"]).items  # type: ignore[union-attr]
    aids = []
    for worker in ("AWORKERONE0001", "AWORKERTWO0002"):
        acc = emu.worker_accept(hit["mturk_hit_id"], worker)
        emu.worker_submit(acc["assignmentId"], {f"ex_{i['example_id']}": "3" for i in items})
        aids.append(acc["assignmentId"])
    synced = cli.json("hits", "sync", "-p", pid, "--no-review")
    assert synced["assignments_new"] == 2
    assert "assignments_new" in cli.ok("hits", "sync", "-p", pid, "--no-review")

    a = cli.json("review", "approve", aids[0], "--feedback", "thanks")
    assert a["assignment_id"] == aids[0] and a["status"] == "approved"
    r = cli.json("review", "reject", aids[1], "--feedback", "answered at random")
    assert r["status"] == "rejected"
    b = cli.json("review", "bonus", aids[0], "--amount", "0.50", "--reason", "careful work")
    assert b["bonus"] == 0.5
    mt = make_mturk_client(get_settings())
    assert [x["BonusAmount"] for x in mturk_bonuses(mt, aids[0])] == ["0.50"]
    assert "blocked (spam)" in cli.ok("review", "block", "AWORKERTWO0002", "--reason", "spam")
    assert "AWORKERTWO0002" in mturk_blocks(mt)
    u = cli.json("review", "unblock", "AWORKERTWO0002")
    assert u == {"worker_id": "AWORKERTWO0002", "blocked": False, "reason": u["reason"]}
    assert "AWORKERTWO0002" not in mturk_blocks(mt)

    spend = cli.ok("hits", "spend", "-p", pid)
    assert "totals" in spend and "budget cap" in spend and "{'" not in spend
    kinds = {e["kind"] for e in cli.json("hits", "spend", "-p", pid)["entries"]}
    assert {"reserve", "paid", "bonus"} <= kinds
    expired = cli.ok("hits", "expire", str(hit["id"]))
    assert f"HIT {hit['id']} (MTurk HIT {hit['mturk_hit_id']}) expired at" in expired
    assert "None" not in expired
    assert cli.json("hits", "expire", str(hit["id"]))["expires_at"]
    # The emulator's state listing carries the assignments.
    state = emu.service.summary()
    assert {x["AssignmentId"] for x in state["assignments"]} >= set(aids)


def test_jobs_submit_with_a_local_training_table(cli: CLI, tmp_path: Path) -> None:
    table = tmp_path / "tables" / "train.csv"
    table.parent.mkdir()
    pd.DataFrame(
        {"x1": range(40), "x2": [i % 7 for i in range(40)], "z": [i % 2 for i in range(40)]}
        | {"y": [1 if i % 3 else 0 for i in range(40)]}
    ).to_csv(table, index=False)
    spec = tmp_path / "tables" / "job.json"
    spec.write_text(
        json.dumps({"data": {"path": "train.csv", "label": "y", "sensitive": "z"}, "method": "lr"})
    )
    job = cli.json("jobs", "submit", spec)
    assert job["training_file_id"] is not None and job["status"] == "queued"
    # --data gives the table on the command line instead.
    spec2 = tmp_path / "job2.json"
    spec2.write_text(json.dumps({"data": {"label": "y", "sensitive": "z"}, "method": "lr"}))
    assert "queued job" in cli.ok("jobs", "submit", spec2, "--data", table)
    assert cli.json("jobs", "list")["count"] == 2
    assert cli.json("jobs", "cancel", str(job["id"]))["cancel_requested"] is True
    assert "job_id" in cli.bad("jobs", "cancel", "0").lower()
    db = cli.json("db", "current")
    assert db["current"] == db["head"] and db["head"]
    token = cli.json("admin", "create-token", "--name", "ci")
    assert len(token["token"]) > 20
    assert [t["name"] for t in cli.json("admin", "list-tokens")] == ["ci"]
    # A data object matching no shape: one line saying what is expected, not 11 union errors.
    spec.write_text(json.dumps({"data": {"file_name": "x.csv"}}))
    line = cli.bad("jobs", "submit", spec)
    assert "data: expected" in line and "path" in line
    spec.write_text(json.dumps({"data": {"path": "missing.csv", "label": "y", "sensitive": "z"}}))
    assert "file not found" in cli.bad("jobs", "submit", spec)
    spec.write_text("{not json")
    assert "not JSON" in cli.bad("jobs", "submit", spec)
