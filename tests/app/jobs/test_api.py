"""Training-jobs API on both databases: validation at creation (4xx, nothing stored), list, get,
cancel, auth, artifacts; and the queue's lease rules in-process (fencing, retries)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.models import TrainingJob, TrainingJobRun
from app.services import jobs as svc
from app.worker import Worker

from .conftest import job_row, queue_job

JOBS = "/api/v1/training-jobs"
OK: dict[str, Any] = {
    "data": {"builtin": "compas"},
    "poisoning": {"attack": "top_margin", "fraction": 0.1},
    "method": "fr-train",
    "hyperparameters": {"l1": [0.2, 0.4], "l2": 0.2, "epochs": 50, "pretrain_epochs": 10},
    "seeds": [0, 1],
}


def _count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(TrainingJob)) or 0)


def test_create_get_list_cancel(
    client: TestClient, admin_headers: dict[str, str], session: Session
) -> None:
    r = client.post(JOBS, json=OK, headers=admin_headers)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] == "queued" and job["method"] == "fr-train" and job["dataset"] == "compas"
    assert job["spec"]["hyperparameters"]["l1"] == [0.2, 0.4]
    assert job["spec"]["hyperparameters"]["l2"] == [0.2]
    assert job["progress"] == {"epoch": 0, "total_epochs": 0, "percent": 0.0, "stage": ""}
    assert job["results"] is None and job["artifacts"] == []

    r = client.get(f"{JOBS}/{job['id']}", headers=admin_headers)
    assert r.status_code == 200 and r.json()["id"] == job["id"]
    lr = client.post(
        JOBS, json={**OK, "method": "lr", "hyperparameters": {}}, headers=admin_headers
    )
    assert lr.status_code == 201, lr.text
    listed = client.get(JOBS, headers=admin_headers).json()
    assert listed["count"] == 2 and [j["id"] for j in listed["data"]] == [
        lr.json()["id"],
        job["id"],
    ]
    assert "results" not in listed["data"][0]

    r = client.post(f"{JOBS}/{job['id']}/cancel", headers=admin_headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["cancel_requested"] is True
    again = client.post(f"{JOBS}/{job['id']}/cancel", headers=admin_headers)
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    only = client.get(JOBS, params={"status": "queued"}, headers=admin_headers).json()
    assert [j["id"] for j in only["data"]] == [lr.json()["id"]]
    assert client.get(f"{JOBS}/999999", headers=admin_headers).status_code == 404
    assert client.post(f"{JOBS}/999999/cancel", headers=admin_headers).status_code == 404
    r = client.get(f"{JOBS}/{job['id']}/artifacts/model.pt", headers=admin_headers)
    assert r.status_code == 404 and "none yet" in r.json()["detail"]


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"data": {"builtin": "compass"}}, "data"),
        ({"method": "svm"}, "unknown method 'svm'"),
        ({"hyperparameters": {"l1": [0.2, 1.5]}}, "hyperparameters.l1"),
        ({"hyperparameters": {"lr_x": 1}}, "unknown key(s) ['lr_x']"),
        ({"hyperparameters": {"epochs": 10, "pretrain_epochs": 10}}, "pretrain_epochs"),
        ({"hyperparameters": {"l1": [0.7], "l2": [0.4]}}, "l1 + l2"),
        ({"seeds": []}, "seeds"),
        ({"seeds": [1, 1]}, "seeds: must be distinct"),
        ({"poisoning": {"attack": "flip_all"}}, "poisoning.attack"),
        ({"poisoning": {"fraction": 0.9}}, "poisoning.fraction"),
        ({"device": "tpu"}, "device"),
        ({"validation": {"kind": "export", "export_id": 123456}}, "export 123456 does not exist"),
        ({"data": {"upload_id": 98765, "label": "y", "sensitive": "z"}}, "does not exist"),
        ({"method": "lr", "hyperparameters": {"l1": 0.3}}, "unknown key(s) ['l1']"),
        ({"method": "lr", "hyperparameters": {"l2": -1}}, "hyperparameters"),
        ({"extra_field": 1}, "extra_field"),
        ({"name": "a\x00b"}, "NUL"),
    ],
)
def test_bad_requests_are_4xx_and_store_nothing(
    client: TestClient,
    admin_headers: dict[str, str],
    session: Session,
    patch: dict[str, Any],
    needle: str,
) -> None:
    before = _count(session)
    r = client.post(JOBS, json={**OK, **patch}, headers=admin_headers)
    assert 400 <= r.status_code < 500, r.text
    assert needle in r.text, r.text
    assert _count(session) == before


def test_admin_token_required(client: TestClient) -> None:
    for method, url in [
        ("post", JOBS),
        ("get", JOBS),
        ("get", f"{JOBS}/1"),
        ("post", f"{JOBS}/1/cancel"),
    ]:
        r = client.request(method, url, json=OK if method == "post" else None)
        assert r.status_code == 401 and "results" not in r.text


def test_uploaded_file_roles_are_checked_at_creation(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    csv = b"id,a,grp,y\n1,0.5,F,1\n2,0.1,M,-1\n3,0.9,F,1\n"
    r = client.post(
        "/api/v1/training-files",
        files={"file": ("t.csv", csv, "text/csv")},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.text
    upload = r.json()
    assert upload["columns"] == ["id", "a", "grp", "y"] and upload["row_count"] == 3
    base = {"label": "y", "sensitive": "grp", "upload_id": upload["id"]}
    good = client.post(JOBS, json={**OK, "data": base}, headers=admin_headers)
    assert good.status_code == 201, good.text
    assert good.json()["dataset"] == "file" and good.json()["training_file_id"] == upload["id"]
    bad = client.post(JOBS, json={**OK, "data": {**base, "label": "nope"}}, headers=admin_headers)
    assert bad.status_code == 422 and "['nope'] are not in the file" in bad.json()["detail"]
    same = client.post(JOBS, json={**OK, "data": {**base, "sensitive": "y"}}, headers=admin_headers)
    assert same.status_code == 422 and "must differ" in same.json()["detail"]
    empty = client.post(
        "/api/v1/training-files", files={"file": ("e.csv", b"", "text/csv")}, headers=admin_headers
    )
    assert empty.status_code == 422


# -- queue rules, in-process (real commits) -------------------------------------------------------
FAST: dict[str, Any] = {"data": {"builtin": "synthetic"}, "method": "lr", "seeds": [0]}


def test_a_stale_lease_cannot_write_and_expired_jobs_are_retried_then_failed(
    committed: Callable[[], Session], queue_settings: Settings
) -> None:
    job_id = queue_job(committed, queue_settings, FAST)
    t = time.time()
    with committed() as s:
        first = svc.claim_next(session=s, worker_id="w1", lease_seconds=10, now=t)
        assert first is not None and first.job_id == job_id and first.attempt == 1
        # Nothing else is claimable while the lease is live.
        assert svc.claim_next(session=s, worker_id="w2", lease_seconds=10, now=t + 5) is None
        second = svc.claim_next(session=s, worker_id="w2", lease_seconds=10, now=t + 11)
        assert second is not None and second.attempt == 2 and second.token != first.token
        # The first worker's writes are fenced off by the token.
        assert svc.heartbeat(session=s, claim=first, lease_seconds=10).owned is False
        assert svc.finish(session=s, claim=first, status="succeeded", results={"x": 1}) is False
        assert svc.heartbeat(session=s, claim=second, lease_seconds=10).owned is True
    job = job_row(committed, job_id)
    assert (job.status, job.worker_id, job.results) == ("running", "w2", None)
    with committed() as s:
        third = svc.claim_next(session=s, worker_id="w3", lease_seconds=10, now=time.time() + 11)
        assert third is not None and third.attempt == 3  # max_attempts = 3
        # The third lease expires too: no more attempts, the job fails with a reason.
        assert (
            svc.claim_next(session=s, worker_id="w4", lease_seconds=10, now=time.time() + 22)
            is None
        )
    job = job_row(committed, job_id)
    assert job.status == "failed" and "lease expired" in (job.error or "")
    with committed() as s:
        outcomes = list(s.scalars(select(TrainingJobRun.outcome).order_by(TrainingJobRun.id)))
    assert outcomes == ["lost", "lost", "lost"]


def test_worker_in_process_writes_results_and_artifacts_served_by_the_api(
    committed: Callable[[], Session], queue_settings: Settings, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient as TC

    from app.main import create_app
    from app.services.auth import create_token

    job_id = queue_job(
        committed,
        queue_settings,
        {
            "data": {"builtin": "synthetic"},
            "method": "fr-train",
            "hyperparameters": {"epochs": 40, "pretrain_epochs": 10, "l1": [0.1, 0.5]},
            "seeds": [0, 1],
        },
    )
    seen: list[float] = []
    worker = Worker(queue_settings)
    try:
        assert (
            worker.run(exit_when_idle=True, on_progress=lambda _j, p: seen.append(p["percent"]))
            == 1
        )
    finally:
        worker.close()
    assert seen and seen[-1] == 100.0 and seen == sorted(seen)
    with committed() as s:
        token = create_token(session=s, name="jobs").token
    headers = {"Authorization": f"Bearer {token}"}
    with TC(create_app(queue_settings)) as client:
        job = client.get(f"{JOBS}/{job_id}", headers=headers).json()
        assert job["status"] == "succeeded" and job["progress"]["percent"] == 100.0
        res = job["results"]
        assert [s["seed"] for s in res["seeds"]] == [0, 1]
        for seed in res["seeds"]:
            # the clean synthetic regime's lambda_2 (trainer.defaults)
            assert [p["params"] for p in seed["grid"]] == [
                {"l1": 0.1, "l2": 0.2},
                {"l1": 0.5, "l2": 0.2},
            ]
            test = seed["test"]
            assert set(test["confusion"]) == {"0", "1"}
            cm = test["confusion"]["0"]
            assert sum(cm.values()) + sum(test["confusion"]["1"].values()) == 1000
            assert 0 <= test["disparate_impact"] <= 1 and 0 <= test["accuracy"] <= 1
        assert sorted(job["artifacts"]) == sorted(
            ["model.pt", "config.json", "predictions.csv", "tradeoff.png", "metrics.json"]
        )
        png = client.get(f"{JOBS}/{job_id}/artifacts/tradeoff.png", headers=headers)
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
        pred = client.get(f"{JOBS}/{job_id}/artifacts/predictions.csv", headers=headers)
        frame = pd.read_csv(io.StringIO(pred.text))
        # Test accuracy recomputed from the downloaded predictions equals the stored metric.
        for seed in res["seeds"]:
            rows = frame[frame["seed"] == seed["seed"]]
            assert len(rows) == 1000
            acc = float((rows["y_true"] == rows["y_pred"]).mean())
            assert acc == pytest.approx(seed["test"]["accuracy"])
        missing = client.get(f"{JOBS}/{job_id}/artifacts/secrets.txt", headers=headers)
        assert missing.status_code == 404
        _predict_reproduces_the_recorded_test_predictions(client, headers, job_id, frame)


def _predict_reproduces_the_recorded_test_predictions(
    client: Any, headers: dict[str, str], job_id: int, recorded: pd.DataFrame
) -> None:
    """POST /models/{id}/predict with the job's test rows gives its recorded predictions."""
    from trainer.data.synthetic import load_synthetic

    te = load_synthetic().test
    rows = pd.DataFrame({"x1": te.X[:, 0], "x2": te.X[:, 1], "z": te.z})
    url = f"/api/v1/models/{job_id}/predict"
    want = recorded[recorded["seed"] == 1]
    csv_body = rows.to_csv(index=False).encode()
    r = client.post(f"{url}?seed=1&format=csv", content=csv_body,
                    headers={**headers, "Content-Type": "text/csv"})  # fmt: skip
    assert r.status_code == 200, r.text
    got = pd.read_csv(io.StringIO(r.text), dtype=str)
    assert list(got.columns) == ["id", "score", "label"]
    want_txt = pd.read_csv(io.StringIO(want.to_csv(index=False)), dtype=str)
    assert got["score"].tolist() == want_txt["score"].tolist()
    assert got["label"].tolist() == want_txt["y_pred"].tolist()
    back = pd.read_csv(io.BytesIO(csv_body))
    r = client.post(url, json=back.to_dict("records")[:50], headers=headers)
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert r.json()["seed"] == 0 and len(preds) == 50 and set(preds[0]) == {"id", "score", "label"}
    seed0 = recorded[recorded["seed"] == 0]["score"].tolist()[:50]
    assert [p["score"] for p in preds] == pytest.approx(seed0, rel=0, abs=0)
    # bad rows: 422 naming the column; unknown model: 404
    for body, column in (
        (back.drop(columns=["x2"]).to_dict("records")[:3], "x2"),
        ([{**row, "x1": "lots"} for row in back.to_dict("records")[:3]], "x1"),
        ([{**row, "z": 7} for row in back.to_dict("records")[:3]], "z"),
    ):
        r = client.post(url, json=body, headers=headers)
        assert r.status_code == 422 and column in r.text, r.text
    nested = b"[" * 100_000 + b"]" * 100_000
    r = client.post(url, content=nested,
                    headers={**headers, "Content-Type": "application/json"})  # fmt: skip
    assert r.status_code == 422
    assert client.post(f"/api/v1/models/{job_id + 999}/predict", json=[{"x1": 1}],
                       headers=headers).status_code == 404  # fmt: skip
    assert client.post(url, json=[{"x1": 1}]).status_code == 401
